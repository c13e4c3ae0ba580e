package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestLiveActivities follows iOS Live Activity pushes through Kafka: two
// devices bind push tokens of the activity "order-42" (op
// activity_token); an update with its content state by activity id
// (deliverType 6) reaches both tokens, an end with a dismissal date and an
// alert by one token (deliverType 5) reaches that token, and after the
// other device removed its token (activity_token_remove) an update
// reaches only the first. Every delivery is acked, and the simulated APNs
// recorded ActivityKit pushes: apns-push-type liveactivity to
// <bundle id>.push-type.liveactivity with aps timestamp, event,
// content-state and dismissal-date, never the devices' own tokens.
func TestLiveActivities(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	bundle := config.AppCredentials[apns.App](&e.cfg.Apps[0]).BundleID
	now := time.Now()

	ownToken := func(i int) string { return fmt.Sprintf("%062x%02d", 7, i) }
	laToken := func(i int) string { return fmt.Sprintf("%060x%04d", 42, i) }
	var reports []schema.Binding
	for i := 1; i <= 2; i++ {
		reports = append(reports, schema.Binding{Op: schema.OpReport, Region: "sg", AppID: testApp, WorkspaceID: "default",
			DeviceID: fmt.Sprintf("la-dev-%d", i), Platform: schema.PlatformIOS, Vendor: "apns", VendorToken: ownToken(i),
			AppVersion: "3.1", Model: "iPhone"})
	}
	e.registerDevices("sg", reports...)
	var binds []pipeline.Output
	for i := 1; i <= 2; i++ {
		b := schema.Binding{Op: schema.OpActivityToken, Region: "sg", AppID: testApp, DeviceID: fmt.Sprintf("la-dev-%d", i),
			ActivityID: "order-42", ActivityToken: laToken(i), TS: now.UnixMilli()}
		binds = append(binds, jsonOut(pipeline.BindingsTopic("sg"), b.DeviceID, b))
	}
	e.publish(binds...)
	devices := store.NewDevices(e.conn, e.db("sg"))
	waitTokens := func(want int) {
		e.waitFor(fmt.Sprintf("%d Live Activity tokens of order-42", want), time.Minute, func() (bool, string) {
			got, err := devices.ByActivity(context.Background(), testApp, []string{"order-42"})
			return err == nil && len(got["order-42"]) == want, fmt.Sprintf("%d tokens, err %v", len(got["order-42"]), err)
		})
	}
	waitTokens(2)

	live := func(task string, deliverType int, target, event string, acceptedAt time.Time, extra map[string]any) map[string]any {
		r := map[string]any{
			"type": "SIMPLE", "region": "sg", "appId": testApp, "workspaceId": "default", "taskId": task, "taskName": "order 42",
			"deliverType": deliverType, "targetMsgkey": map[string]string{target: task + "-msg"}, "expiredSeconds": 300,
			"activityEvent": event, "activityContentState": map[string]any{"driverName": "Tim", "eta": 15},
			"acceptedAt": acceptedAt.UnixMilli(),
		}
		for k, v := range extra {
			r[k] = v
		}
		return r
	}
	dismissal := now.Add(time.Hour).Unix()
	e.publish(
		jsonOut(pipeline.RequestsTopic("sg"), "la-update", live("la-update", schema.DeliverActivityID, "order-42", "update", now, nil)),
		jsonOut(pipeline.RequestsTopic("sg"), "la-end", live("la-end", schema.DeliverActivityToken, laToken(1), "end", now.Add(time.Second), map[string]any{
			"activityContentState": `{"driverName":"Tim","eta":0}`, "dismissalDate": dismissal,
			"title": "Delivered", "content": "Enjoy your pizza"})),
	)
	for task, n := range map[string]uint64{"la-update": 2, "la-end": 1} {
		want := map[string]uint64{"accepted": 1, "planned": 1, "valid": n, "sent": n, "acked": n}
		e.waitFor("the events of "+task, time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = ?", task)
			return equalCounts(got, want), fmt.Sprint(got)
		})
	}

	// The second device's activity ended: its token is removed, and the
	// next update of order-42 reaches the first device only.
	rm := schema.Binding{Op: schema.OpActivityTokenRemove, Region: "sg", AppID: testApp, DeviceID: "la-dev-2", ActivityID: "order-42",
		TS: now.Add(2 * time.Second).UnixMilli()}
	e.publish(jsonOut(pipeline.BindingsTopic("sg"), rm.DeviceID, rm))
	waitTokens(1)
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), "la-update-2",
		live("la-update-2", schema.DeliverActivityID, "order-42", "update", now.Add(3*time.Second), map[string]any{"activityContentState": map[string]any{"driverName": "Tim", "eta": 2}})))
	e.waitFor("the events of la-update-2", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", "la-update-2")
		want := map[string]uint64{"accepted": 1, "planned": 1, "valid": 1, "sent": 1, "acked": 1}
		return equalCounts(got, want), fmt.Sprint(got)
	})

	// What APNs received, by token: one ActivityKit push per delivery.
	type push struct {
		header  map[string]string
		aps     map[string]json.RawMessage
		payload string
	}
	got := map[string][]push{}
	for _, r := range e.sim.Requests(vendorsim.VendorAPNs, "sg") {
		if r.Status != 200 {
			t.Errorf("APNs answered %d to %s", r.Status, r.Form.Get("payload"))
			continue
		}
		var body struct {
			APS map[string]json.RawMessage `json:"aps"`
		}
		if err := json.Unmarshal([]byte(r.Form.Get("payload")), &body); err != nil {
			t.Fatalf("payload %q: %v", r.Form.Get("payload"), err)
		}
		p := push{header: map[string]string{}, aps: body.APS, payload: r.Form.Get("payload")}
		for _, h := range []string{"apns-push-type", "apns-topic", "apns-priority"} {
			p.header[h] = r.Form.Get(h)
		}
		got[r.Form.Get("token")] = append(got[r.Form.Get("token")], p)
	}
	if len(got[ownToken(1)])+len(got[ownToken(2)]) != 0 {
		t.Errorf("a Live Activity push went to a device's own APNs token")
	}
	if len(got[laToken(1)]) != 3 || len(got[laToken(2)]) != 1 {
		t.Fatalf("APNs got %d pushes for token 1 and %d for token 2, want 3 and 1", len(got[laToken(1)]), len(got[laToken(2)]))
	}
	// Each token's pushes in the order of their timestamps (seconds of
	// acceptance, which iOS needs increasing).
	for _, ps := range got {
		sort.Slice(ps, func(i, j int) bool { return string(ps[i].aps["timestamp"]) < string(ps[j].aps["timestamp"]) })
	}
	wantAPS := []struct {
		token string
		index int
		aps   map[string]string // key -> its JSON
	}{
		{laToken(1), 0, map[string]string{"event": `"update"`, "timestamp": fmt.Sprint(now.Unix()), "content-state": `{"driverName":"Tim","eta":15}`}},
		{laToken(2), 0, map[string]string{"event": `"update"`, "timestamp": fmt.Sprint(now.Unix()), "content-state": `{"driverName":"Tim","eta":15}`}},
		{laToken(1), 1, map[string]string{"event": `"end"`, "timestamp": fmt.Sprint(now.Add(time.Second).Unix()),
			"content-state": `{"driverName":"Tim","eta":0}`, "dismissal-date": fmt.Sprint(dismissal),
			"alert": `{"body":"Enjoy your pizza","title":"Delivered"}`}},
		{laToken(1), 2, map[string]string{"event": `"update"`, "timestamp": fmt.Sprint(now.Add(3 * time.Second).Unix()), "content-state": `{"driverName":"Tim","eta":2}`}},
	}
	for _, w := range wantAPS {
		p := got[w.token][w.index]
		if p.header["apns-push-type"] != "liveactivity" || p.header["apns-topic"] != bundle+".push-type.liveactivity" || p.header["apns-priority"] != "10" {
			t.Errorf("push %d to %s: headers %v, want liveactivity to %s.push-type.liveactivity at priority 10", w.index, w.token, p.header, bundle)
		}
		for k, want := range w.aps {
			if string(p.aps[k]) != want {
				t.Errorf("push %d to %s: aps.%s = %s, want %s (payload %s)", w.index, w.token, k, p.aps[k], want, p.payload)
			}
		}
		for k := range p.aps {
			if _, ok := w.aps[k]; !ok {
				t.Errorf("push %d to %s: unexpected aps.%s in %s", w.index, w.token, k, p.payload)
			}
		}
		if strings.Contains(p.payload, `"uri"`) {
			t.Errorf("push %d to %s carries a uri: %s", w.index, w.token, p.payload)
		}
	}
}
