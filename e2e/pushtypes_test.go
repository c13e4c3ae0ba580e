package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestEveryPushTypeAndTargetKind runs SIMPLE, TEMPLATE, MULTIPLE and
// BROADCAST pushes and each target kind (device, user, alias, user account,
// tag) through the real stack and counts the exact funnel events and
// vendor calls of each.
func TestEveryPushTypeAndTargetKind(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	ctx := context.Background()
	tpl := store.NewTemplates(e.conn, e.db("sg"))
	if err := tpl.Create(ctx, schema.Template{AppID: testApp, Name: "promo", Title: "Hi #name#", Content: "You won #amount# points"}); err != nil {
		t.Fatal(err)
	}

	// Devices: d1..d4 Android on MiPush; d1, d2 bound to user u1; d3 has
	// alias "vip"; d2, d3, d4 share user account "acct"; u1 carries tag
	// "gold".
	var devs []schema.Binding
	for i := 1; i <= 4; i++ {
		devs = append(devs, device("sg", fmt.Sprintf("d%d", i), fmt.Sprintf("r%d", i)))
	}
	e.registerDevices("sg", devs...)
	now := time.Now().UnixMilli()
	e.publish(
		jsonOut(pipeline.BindingsTopic("sg"), "d1", schema.Binding{Op: schema.OpBind, AppID: testApp, DeviceID: "d1", UserID: "u1", TS: now}),
		jsonOut(pipeline.BindingsTopic("sg"), "d2", schema.Binding{Op: schema.OpBind, AppID: testApp, DeviceID: "d2", UserID: "u1", TS: now}),
		jsonOut(pipeline.BindingsTopic("sg"), "d3", schema.Binding{Op: schema.OpSetAlias, AppID: testApp, DeviceID: "d3", Alias: "vip", TS: now}),
		jsonOut(pipeline.BindingsTopic("sg"), "d2", schema.Binding{Op: schema.OpSetAccount, AppID: testApp, DeviceID: "d2", UserAccount: "acct", TS: now + 1}),
		jsonOut(pipeline.BindingsTopic("sg"), "d3", schema.Binding{Op: schema.OpSetAccount, AppID: testApp, DeviceID: "d3", UserAccount: "acct", TS: now + 1}),
		jsonOut(pipeline.BindingsTopic("sg"), "d4", schema.Binding{Op: schema.OpSetAccount, AppID: testApp, DeviceID: "d4", UserAccount: "acct", TS: now + 1}),
		jsonOut(pipeline.BindingsTopic("sg"), "u1", schema.Binding{Op: schema.OpTagAdd, AppID: testApp, UserID: "u1", Tags: []string{"gold"}, TS: now}),
	)
	devices := store.NewDevices(e.conn, e.db("sg"))
	e.waitFor("binds, alias, accounts and tags applied", time.Minute, func() (bool, string) {
		byUser, _ := devices.ByUser(ctx, testApp, []string{"u1"})
		byAlias, _ := devices.ByAlias(ctx, testApp, []string{"vip"})
		byAcct, _ := devices.ByAccount(ctx, testApp, []string{"acct"})
		n := 0
		_ = devices.Stream(ctx, store.Audience{AppID: testApp, Tag: "gold"}, func(schema.Device) error { n++; return nil })
		return len(byUser) == 2 && len(byAlias) == 1 && len(byAcct["acct"]) == 3 && n == 2,
			fmt.Sprintf("users %d alias %d account %d tag %d", len(byUser), len(byAlias), len(byAcct["acct"]), n)
	})

	base := func(task string, typ schema.PushType, deliverType int) map[string]any {
		return map[string]any{"type": typ, "region": "sg", "appId": testApp, "workspaceId": "default", "taskId": task,
			"taskName": task, "deliverType": deliverType, "expiredSeconds": 300, "acceptedAt": time.Now().UnixMilli()}
	}
	simple := func(task string, deliverType int, targets map[string]string) map[string]any {
		r := base(task, schema.PushSimple, deliverType)
		r["targetMsgkey"], r["title"], r["content"] = targets, "T", "C"
		return r
	}
	tmpl := base("t-template", schema.PushTemplate, schema.DeliverAndroid)
	tmpl["targetMsgkey"] = map[string]string{"d1": "tm1", "d2": "tm2"}
	tmpl["templateName"], tmpl["templateKeyValue"] = "promo", map[string]string{"name": "Ann", "amount": "10"}
	multi := base("t-multiple", schema.PushMultiple, schema.DeliverAndroid)
	multi["templateName"] = "promo"
	multi["targetMsgs"] = []map[string]any{
		{"target": "d1", "msgKey": "mm1", "templateKeyValue": map[string]string{"name": "Bo", "amount": "1"}},
		{"target": "d4", "msgKey": "mm4", "templateKeyValue": map[string]string{"name": "Di", "amount": "4"}},
	}
	bc := base("t-broadcast", schema.PushBroadcast, schema.DeliverAndroid)
	bc["msgkey"], bc["templateName"], bc["templateKeyValue"] = "bm1", "promo", map[string]string{"name": "all", "amount": "2"}
	bc["pushStatus"], bc["unBindPeriod"] = schema.PushStatusAll, 4

	cases := []struct {
		task   string
		req    map[string]any
		want   map[string]uint64
		titles map[string]string // device -> expected rendered title at the vendor
	}{
		{"t-device", simple("t-device", schema.DeliverAndroid, map[string]string{"d1": "s1", "nobody": "s2"}),
			map[string]uint64{"accepted": 1, "planned": 2, "invalid_device": 1, "valid": 1, "sent": 1, "acked": 1}, nil},
		{"t-user", simple("t-user", schema.DeliverUser, map[string]string{"u1": "s3"}),
			map[string]uint64{"accepted": 1, "planned": 1, "valid": 2, "sent": 2, "acked": 2}, nil},
		{"t-alias", simple("t-alias", schema.DeliverAlias, map[string]string{"vip": "s4"}),
			map[string]uint64{"accepted": 1, "planned": 1, "valid": 1, "sent": 1, "acked": 1}, nil},
		{"t-account", simple("t-account", schema.DeliverUserAccount, map[string]string{"acct": "s5"}),
			map[string]uint64{"accepted": 1, "planned": 1, "valid": 3, "sent": 3, "acked": 3}, nil},
		{"t-tag", simple("t-tag", schema.DeliverTag, map[string]string{"gold": "s6"}),
			map[string]uint64{"accepted": 1, "planned": 2, "valid": 2, "sent": 2, "acked": 2}, nil},
		{"t-template", tmpl, map[string]uint64{"accepted": 1, "planned": 2, "valid": 2, "sent": 2, "acked": 2},
			map[string]string{"r1": "Hi Ann", "r2": "Hi Ann"}},
		{"t-multiple", multi, map[string]uint64{"accepted": 1, "planned": 2, "valid": 2, "sent": 2, "acked": 2},
			map[string]string{"r1": "Hi Bo", "r4": "Hi Di"}},
		{"t-broadcast", bc, map[string]uint64{"accepted": 1, "planned": 4, "valid": 4, "sent": 4, "acked": 4}, nil},
	}
	for _, c := range cases {
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), c.task, c.req))
	}
	for _, c := range cases {
		t.Run(c.task, func(t *testing.T) {
			e.waitFor("events of "+c.task, time.Minute, func() (bool, string) {
				got := e.eventCounts("sg", "task_id = ?", c.task)
				return equalCounts(got, c.want), fmt.Sprint(got)
			})
		})
	}
	// The template is in use: deleting it is refused with the tasks that
	// used it, unless forced.
	err := tpl.Delete(ctx, testApp, "promo", false)
	var inUse *store.InUseError
	if !errors.As(err, &inUse) || !slices.Contains(inUse.Tasks, "t-template") || !slices.Contains(inUse.Tasks, "t-multiple") {
		t.Fatalf("deleting a template in use: %v, want an InUseError naming t-template and t-multiple", err)
	}
	if err := tpl.Delete(ctx, testApp, "promo", true); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := tpl.Get(ctx, testApp, "promo"); ok {
		t.Fatal("forced deletion left the template")
	}
	// Rendered titles as the vendor received them.
	for _, c := range cases {
		for token, title := range c.titles {
			found := false
			for _, r := range e.sim.Requests("mipush", "sg") {
				for _, id := range r.RegIDs {
					if id == token && r.Form.Get("title") == title {
						found = true
					}
				}
			}
			if !found {
				t.Errorf("%s: no MiPush call to %s with title %q", c.task, token, title)
			}
		}
	}
}
