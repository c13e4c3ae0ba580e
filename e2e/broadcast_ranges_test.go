package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestBroadcastTimeRanges broadcasts with timeMode 1: the audience is the
// devices bound (pushStatus 0) or unbound (pushStatus 2) within the given
// bindStartTime..bindEndTime or unBindStartTime..unBindEndTime, and
// the simulator receives exactly those devices' tokens.
func TestBroadcastTimeRanges(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	ctx := context.Background()
	if err := store.NewTemplates(e.conn, e.db("sg")).Create(ctx, schema.Template{AppID: testApp, Name: "news", Title: "News", Content: "#text#"}); err != nil {
		t.Fatal(err)
	}
	day := func(n int) time.Time { return time.Now().UTC().Truncate(time.Hour).AddDate(0, 0, -n) }
	// Ten devices a group: bound 3 days ago, bound 20 days ago, unbound 3
	// days ago, unbound 20 days ago.
	groups := []struct {
		name           string
		bound, unbound time.Time
	}{
		{"b3", day(3), time.Time{}}, {"b20", day(20), time.Time{}},
		{"u3", time.Time{}, day(3)}, {"u20", time.Time{}, day(20)},
	}
	var rows []schema.Device
	tokens := map[string][]string{}
	for _, g := range groups {
		for i := range 10 {
			d := schema.Device{AppID: testApp, DeviceID: fmt.Sprintf("tr-%s-%d", g.name, i), Platform: schema.PlatformAndroid,
				Vendor: "mipush", VendorToken: fmt.Sprintf("tr-%s-%d-tok", g.name, i), TokenValid: true,
				BoundAt: g.bound, UnboundAt: g.unbound, UpdatedAt: day(30)}
			if !g.bound.IsZero() {
				d.UserID = "tr-user-" + d.DeviceID
			}
			rows = append(rows, d)
			tokens[g.name] = append(tokens[g.name], d.VendorToken)
		}
	}
	if err := store.NewDevices(e.conn, e.db("sg")).Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	bcast := func(task string, status int, rng map[string]any) map[string]any {
		r := map[string]any{"type": "BROADCAST", "region": "sg", "appId": testApp, "workspaceId": "default",
			"taskId": task, "taskName": task, "deliverType": schema.DeliverAndroid, "msgkey": task + "-msg",
			"templateName": "news", "templateKeyValue": map[string]string{"text": "hello"}, "expiredSeconds": 3600,
			"pushStatus": status, "timeMode": schema.TimeModeRange, "acceptedAt": time.Now().UnixMilli()}
		for k, v := range rng {
			r[k] = v
		}
		return r
	}
	ms := func(t time.Time) int64 { return t.UnixMilli() }
	cases := []struct {
		task string
		req  map[string]any
		want []string // groups reached
	}{
		{"tr-bound-last-week", bcast("tr-bound-last-week", schema.PushStatusBound,
			map[string]any{"bindStartTime": ms(day(7)), "bindEndTime": ms(day(0))}), []string{"b3"}},
		{"tr-bound-weeks-ago", bcast("tr-bound-weeks-ago", schema.PushStatusBound,
			map[string]any{"bindStartTime": ms(day(30)), "bindEndTime": ms(day(10))}), []string{"b20"}},
		{"tr-unbound-last-week", bcast("tr-unbound-last-week", schema.PushStatusUnbound,
			map[string]any{"unBindStartTime": ms(day(7)), "unBindEndTime": ms(day(0))}), []string{"u3"}},
	}
	for _, c := range cases {
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), c.task, c.req))
	}
	for _, c := range cases {
		want := 0
		for _, g := range c.want {
			want += len(tokens[g])
		}
		e.waitFor("deliveries of "+c.task, 2*time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = ?", c.task)
			return got["acked"] == uint64(want) && got["valid"] == uint64(want), fmt.Sprint(got)
		})
	}
	// The simulator got exactly the tokens of the groups in range, once.
	seen := map[string]int{}
	for _, r := range e.sim.Requests("mipush", "sg") {
		if r.Status == 200 {
			for _, tok := range r.RegIDs {
				seen[tok]++
			}
		}
	}
	for _, g := range groups {
		for _, tok := range tokens[g.name] {
			want := 0
			if g.name != "u20" {
				want = 1
			}
			if seen[tok] != want {
				t.Errorf("token %s of group %s received %d times, want %d", tok, g.name, seen[tok], want)
			}
		}
	}
}
