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

// TestBroadcastOver200kDevices registers 200,000 devices in five groups and
// broadcasts with the bind/unbind filters; fan-out streams the audience and
// the exact number of deliveries (valid events) per filter is asserted.
func TestBroadcastOver200kDevices(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000-device broadcast skipped in -short mode")
	}
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Fanout, app.Eventsink)
	ctx := context.Background()
	if err := store.NewTemplates(e.conn, e.db("sg")).Create(ctx, schema.Template{AppID: testApp, Name: "news", Title: "News", Content: "#text#"}); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	groups := []struct {
		n        int
		platform string
		user     string
		bound    time.Time
		unbound  time.Time
	}{
		{80_000, schema.PlatformAndroid, "u", now.AddDate(0, 0, -1), time.Time{}},  // bound this week
		{40_000, schema.PlatformAndroid, "u", now.AddDate(0, 0, -30), time.Time{}}, // bound a month ago
		{50_000, schema.PlatformAndroid, "", time.Time{}, now.AddDate(0, 0, -2)},   // unbound this week
		{20_000, schema.PlatformAndroid, "", time.Time{}, now.AddDate(0, 0, -90)},  // unbound long ago
		{10_000, schema.PlatformIOS, "u", now.AddDate(0, 0, -1), time.Time{}},      // iOS, bound this week
	}
	devices := store.NewDevices(e.conn, e.db("sg"))
	id := 0
	for gi, g := range groups {
		rows := make([]schema.Device, 0, g.n)
		for i := 0; i < g.n; i++ {
			id++
			d := schema.Device{AppID: testApp, DeviceID: fmt.Sprintf("bd-%06d", id), Platform: g.platform, Vendor: "mipush",
				VendorToken: fmt.Sprintf("tok-%06d", id), TokenValid: true, BoundAt: g.bound, UnboundAt: g.unbound,
				UpdatedAt: now.AddDate(0, 0, -100)}
			if g.user != "" {
				d.UserID = fmt.Sprintf("user-%d-%d", gi, i)
			}
			rows = append(rows, d)
		}
		if err := devices.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
	}
	bcast := func(task string, status, bindPeriod, unbindPeriod int) map[string]any {
		return map[string]any{"type": "BROADCAST", "region": "sg", "appId": testApp, "workspaceId": "default",
			"taskId": task, "taskName": task, "deliverType": schema.DeliverAndroid, "msgkey": task + "-msg",
			"templateName": "news", "templateKeyValue": map[string]string{"text": "hello"}, "expiredSeconds": 3600,
			"pushStatus": status, "bindPeriod": bindPeriod, "unBindPeriod": unbindPeriod, "acceptedAt": time.Now().UnixMilli()}
	}
	cases := []struct {
		task string
		req  map[string]any
		want uint64
	}{
		{"bc-bound-7d", bcast("bc-bound-7d", schema.PushStatusBound, 1, 0), 80_000},
		{"bc-unbound-15d", bcast("bc-unbound-15d", schema.PushStatusUnbound, 0, 2), 50_000},
		{"bc-all-permanent", bcast("bc-all-permanent", schema.PushStatusAll, 4, 4), 190_000},
	}
	start := time.Now()
	for _, c := range cases {
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), c.task, c.req))
	}
	for _, c := range cases {
		e.waitFor("deliveries of "+c.task, 4*time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = ? AND event IN ('planned','valid')", c.task)
			return got["valid"] == c.want && got["planned"] == c.want, fmt.Sprint(got)
		})
	}
	t.Logf("320,000 broadcast deliveries over a 200,000-device registry fanned out and recorded in %s", time.Since(start).Round(time.Millisecond))
}
