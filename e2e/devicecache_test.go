package e2e

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestPushFollowsTheRegistryThroughTheDeviceCache pushes to a device
// fanout has already looked up (and cached), then changes the device
// through push.bindings.sg — a new token, then an invalidated token — and
// pushes again after each change once the registry has written it: each
// push uses what the registry wrote, never the row fanout had cached.
func TestPushFollowsTheRegistryThroughTheDeviceCache(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	dev := "dev-cached"
	e.registerDevices("sg", device("sg", dev, "regid-c1"))
	devices := store.NewDevices(e.conn, e.db("sg"))
	push := func(task string) {
		t.Helper()
		e.publish(jsonOut(pipeline.RequestsTopic("sg"), task, simpleRequest("sg", task, map[string]string{dev: "msg-" + task})))
	}
	calledWith := func(regID string) int {
		n := 0
		for _, r := range e.sim.Requests("mipush", "sg") {
			if slices.Contains(r.RegIDs, regID) {
				n++
			}
		}
		return n
	}
	waitCalls := func(what, regID string, want int) {
		t.Helper()
		e.waitFor(what, time.Minute, func() (bool, string) {
			n := calledWith(regID)
			return n == want, fmt.Sprintf("%d calls for %s", n, regID)
		})
	}
	// Two pushes: the first looks the device up, the second may be served
	// from the cache.
	push("cache-1")
	waitCalls("the first push", "regid-c1", 1)
	push("cache-2")
	waitCalls("the second push", "regid-c1", 2)

	report := device("sg", dev, "regid-c2")
	report.TS = time.Now().UnixMilli()
	e.publish(jsonOut(pipeline.BindingsTopic("sg"), report.KafkaKey(), report))
	e.waitFor("the new token stored", time.Minute, func() (bool, string) {
		got, err := devices.Lookup(context.Background(), testApp, []string{dev})
		return err == nil && got[dev].VendorToken == "regid-c2", fmt.Sprintf("%+v %v", got[dev], err)
	})
	push("cache-3")
	waitCalls("the push after the new token", "regid-c2", 1)
	if n := calledWith("regid-c1"); n != 2 {
		t.Fatalf("the old token was called %d times, want 2 (none after the new token)", n)
	}

	dead := schema.Binding{Op: schema.OpInvalidate, Region: "sg", AppID: testApp, DeviceID: dev, VendorToken: "regid-c2", TS: time.Now().UnixMilli()}
	e.publish(jsonOut(pipeline.BindingsTopic("sg"), dead.KafkaKey(), dead))
	e.waitFor("the token marked dead", time.Minute, func() (bool, string) {
		got, err := devices.Lookup(context.Background(), testApp, []string{dev})
		return err == nil && !got[dev].TokenValid, fmt.Sprintf("%+v %v", got[dev], err)
	})
	calls := len(e.sim.Requests("mipush", "sg"))
	push("cache-4")
	e.waitFor("the push after the invalidation skipping the device", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = 'cache-4' AND event = 'invalid_device' AND status_code = ?", schema.StatusBadDeviceToken)
		return got["invalid_device"] == 1, fmt.Sprint(got)
	})
	if n := len(e.sim.Requests("mipush", "sg")); n != calls {
		t.Fatalf("vendor called %d more times for a dead token", n-calls)
	}
}
