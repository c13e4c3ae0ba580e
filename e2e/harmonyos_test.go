package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestHarmonyOSDevices registers HarmonyOS devices (platform harmony,
// vendor harmonyos) and Android devices through push.bindings, then
// pushes with deliverType 7 while the simulator posts HarmonyOS receipts
// (every message arrives) to the region's receipts worker:
//
//   - a SIMPLE push to three HarmonyOS devices and one Android device:
//     each HarmonyOS delivery ends acked and then arrived (its receipt
//     correlated by the delivery id sent as biTag), the Android device is
//     an invalid_device, and the simulated Push Kit received exactly the
//     three HarmonyOS tokens, once each, as notifications (push-type 0);
//   - a BROADCAST with deliverType 7: only the HarmonyOS devices get a
//     delivery, acked and arrived (correlated by msg id and token), and
//     the simulator counts each of their tokens once more and no Android
//     token at all.
func TestHarmonyOSDevices(t *testing.T) {
	e := newEnvOpts(t, envOptions{simReceipts: &vendorsim.ReceiptsConfig{ArrivalRate: 1}}, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	ctx := context.Background()
	if err := store.NewTemplates(e.conn, e.db("sg")).Create(ctx, schema.Template{AppID: testApp, Name: "hos-news", Title: "News", Content: "#text#"}); err != nil {
		t.Fatal(err)
	}
	var devs []schema.Binding
	harmony := map[string]string{} // device id -> token
	for i := 1; i <= 5; i++ {
		id := fmt.Sprintf("hos-dev-%d", i)
		harmony[id] = fmt.Sprintf("MAMzLgIkEUIGTTuAstOIywAAAGQ-%d", i)
		devs = append(devs, schema.Binding{Op: schema.OpReport, Region: "sg", AppID: testApp, WorkspaceID: "default", DeviceID: id,
			Platform: schema.PlatformHarmony, Vendor: "harmonyos", VendorToken: harmony[id], AppVersion: "5.0", Model: "HUAWEI Mate 70"})
	}
	for i := 1; i <= 3; i++ {
		devs = append(devs, device("sg", fmt.Sprintf("and-dev-%d", i), fmt.Sprintf("and-token-%d", i)))
	}
	e.registerDevices("sg", devs...)

	hosStats := func() map[string]int64 {
		a := e.sim.Stats().Vendors["harmonyos"].Regions["sg"].Apps[testApp]
		if a == nil {
			return map[string]int64{}
		}
		return a.Tokens
	}
	waitEvents := func(task string, want map[string]uint64) {
		t.Helper()
		e.waitFor(task+" events", 2*time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = ?", task)
			for ev, n := range want {
				if got[ev] != n {
					return false, fmt.Sprint(got)
				}
			}
			return true, ""
		})
	}
	// perDevice returns, for the task, the devices with an event ev on
	// channel harmonyos and how many distinct events each has.
	perDevice := func(task, ev string) map[string]uint64 {
		t.Helper()
		rows, err := e.conn.Query(ctx, "SELECT device_id, uniqExact(event_id) FROM "+e.db("sg")+".events WHERE task_id = ? AND event = ? AND channel = 'harmonyos' GROUP BY device_id", task, ev)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = rows.Close() }()
		out := map[string]uint64{}
		for rows.Next() {
			var d string
			var n uint64
			if err := rows.Scan(&d, &n); err != nil {
				t.Fatal(err)
			}
			out[d] = n
		}
		return out
	}
	one := func(ids ...string) map[string]uint64 {
		out := map[string]uint64{}
		for _, id := range ids {
			out[id] = 1
		}
		return out
	}

	// The env's helpers fail the test itself, so the two pushes are steps,
	// not subtests.
	{ // a SIMPLE push to HarmonyOS devices
		const task = "task-hos-simple"
		targets := map[string]string{"hos-dev-1": "hos-msg-1", "hos-dev-2": "hos-msg-2", "hos-dev-3": "hos-msg-3", "and-dev-1": "hos-msg-4"}
		req := simpleRequest("sg", task, targets)
		req["deliverType"] = schema.DeliverHarmony
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), task, req))
		waitEvents(task, map[string]uint64{"planned": 4, "invalid_device": 1, "valid": 3, "sent": 3, "acked": 3, "arrived": 3})
		for _, ev := range []string{"acked", "arrived"} {
			if got, want := perDevice(task, ev), one("hos-dev-1", "hos-dev-2", "hos-dev-3"); !maps.Equal(got, want) {
				t.Errorf("%s events per device %v, want %v", ev, got, want)
			}
		}
		want := map[string]int64{harmony["hos-dev-1"]: 1, harmony["hos-dev-2"]: 1, harmony["hos-dev-3"]: 1}
		if got := hosStats(); !maps.Equal(got, want) {
			t.Errorf("simulator counted %v, want %v", got, want)
		}
		for _, r := range e.sim.Requests("harmonyos", "sg") {
			var body struct {
				Payload struct {
					Notification struct {
						Title, Body string
					} `json:"notification"`
				} `json:"payload"`
				PushOptions struct {
					BiTag string `json:"biTag"`
					TTL   int64  `json:"ttl"`
				} `json:"pushOptions"`
			}
			if err := json.Unmarshal([]byte(r.Form.Get("body")), &body); err != nil {
				t.Fatal(err)
			}
			n := body.Payload.Notification
			if r.Form.Get("header.push-type") != "0" || n.Title != "Flash sale" || n.Body != "Everything half price until midnight" ||
				!schema.IsDeliveryID(body.PushOptions.BiTag) || body.PushOptions.TTL < 1 || body.PushOptions.TTL > 300 {
				t.Errorf("recorded push-type %q body %s", r.Form.Get("header.push-type"), r.Form.Get("body"))
			}
		}
	}

	{ // a BROADCAST that reaches only the HarmonyOS devices
		const task = "task-hos-broadcast"
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), task, map[string]any{"type": "BROADCAST", "region": "sg", "appId": testApp,
			"workspaceId": "default", "taskId": task, "taskName": task, "deliverType": schema.DeliverHarmony, "msgkey": task + "-msg",
			"templateName": "hos-news", "templateKeyValue": map[string]string{"text": "hello"}, "expiredSeconds": 3600,
			"pushStatus": schema.PushStatusAll, "bindPeriod": 4, "unBindPeriod": 4, "acceptedAt": time.Now().UnixMilli()}))
		waitEvents(task, map[string]uint64{"valid": 5, "sent": 5, "acked": 5, "arrived": 5})
		ids := slices.Sorted(maps.Keys(harmony))
		for _, ev := range []string{"valid", "acked", "arrived"} {
			if got, want := perDevice(task, ev), one(ids...); !maps.Equal(got, want) {
				t.Errorf("%s events per device %v, want %v", ev, got, want)
			}
		}
		if got := e.eventCounts("sg", "task_id = ? AND channel != 'harmonyos' AND event IN ('valid','sent','acked')", task); len(got) != 0 {
			t.Errorf("the broadcast reached other channels: %v", got)
		}
		want := map[string]int64{}
		for id, tok := range harmony {
			want[tok] = 1
			if slices.Contains([]string{"hos-dev-1", "hos-dev-2", "hos-dev-3"}, id) {
				want[tok] = 2 // the simple push reached them too
			}
		}
		if got := hosStats(); !maps.Equal(got, want) {
			t.Errorf("simulator counted %v, want %v", got, want)
		}
		if mi := e.sim.Stats().Vendors["mipush"]; mi != nil {
			t.Errorf("the broadcast reached MiPush: %+v", mi)
		}
	}
}
