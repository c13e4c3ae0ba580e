package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// TestRecallUsesTheRequestsNotifyID: a push that sets notifyId is shown
// under that id on MiPush and Huawei, and revoking it withdraws the
// notifications by that id: the vendors confirm every recall (the
// simulator refuses a recall naming an id it never received).
func TestRecallUsesTheRequestsNotifyID(t *testing.T) {
	e := newEnvWith(t, func(c *config.Config) { c.Recall.Settle = 2 * time.Second }, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	targets := map[string]string{}
	var devs []schema.Binding
	for _, v := range []string{"mipush", "hms"} {
		for i := range 2 {
			id := fmt.Sprintf("nid-%s-%d", v, i)
			d := device("sg", id, id+"-token")
			d.Vendor = v
			devs = append(devs, d)
			targets[id] = "nid-msg-" + id
		}
	}
	e.registerDevices("sg", devs...)
	const task = "nid-task"
	req := simpleRequest("sg", task, targets)
	req["notifyId"] = 4242
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), task, req))
	e.waitFor("4 acked", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", task)
		return got["acked"] == 4, fmt.Sprint(got)
	})
	for _, r := range e.sim.Requests("mipush", "sg") {
		if r.Status == 200 && r.Form.Get("notify_id") != "4242" && len(r.RegIDs) > 0 {
			t.Errorf("MiPush call for %v carried notify_id %q, want 4242", r.RegIDs, r.Form.Get("notify_id"))
		}
	}
	revoke := schema.Control{Op: schema.ControlRevoke, Region: "sg", AppID: testApp, TaskID: task, TS: time.Now().UnixMilli()}
	e.publish(jsonOut(pipeline.ControlTopic("sg"), revoke.ControlKey(), revoke))
	e.waitFor("4 confirmed recalls", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ? AND event = 'recalled' AND status_code = 2", task)
		all := e.eventCounts("sg", "task_id = ? AND event = 'recalled'", task)
		return got["recalled"] == 4, fmt.Sprintf("confirmed %v of %v", got, all)
	})
	for _, v := range []string{vendorsim.VendorMiPush, vendorsim.VendorHMS} {
		var n int64
		for _, c := range e.sim.Recalls(v, "sg", testApp) {
			n += c
		}
		if n != 2 {
			t.Errorf("%s recalled %d notifications, want 2", v, n)
		}
	}
}
