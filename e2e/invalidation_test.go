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

// TestDeadTokenIsInvalidatedAndSkipped pushes to a device whose token the
// vendor calls invalid: the delivery fails, the sender reports the token,
// the registry marks it dead, and the next push counts the device as an
// invalid device (2009 BadDeviceToken) without calling the vendor.
func TestDeadTokenIsInvalidatedAndSkipped(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	e.registerDevices("sg", device("sg", "dev-dead", "bad-regid"))
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), "task-dead-1", simpleRequest("sg", "task-dead-1", map[string]string{"dev-dead": "msg-d1"})))
	e.waitFor("the failed delivery", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = 'task-dead-1'")
		return got["failed"] == 1, fmt.Sprint(got)
	})
	devices := store.NewDevices(e.conn, e.db("sg"))
	e.waitFor("the token marked dead", time.Minute, func() (bool, string) {
		got, err := devices.Lookup(context.Background(), testApp, []string{"dev-dead"})
		return err == nil && !got["dev-dead"].TokenValid, fmt.Sprintf("%+v %v", got["dev-dead"], err)
	})
	calls := len(e.sim.Requests("mipush", "sg"))
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), "task-dead-2", simpleRequest("sg", "task-dead-2", map[string]string{"dev-dead": "msg-d2"})))
	e.waitFor("the second push skipping the device", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = 'task-dead-2' AND event = 'invalid_device' AND status_code = ?", schema.StatusBadDeviceToken)
		return got["invalid_device"] == 1, fmt.Sprint(got)
	})
	if n := len(e.sim.Requests("mipush", "sg")); n != calls {
		t.Fatalf("vendor called %d more times for a dead token", n-calls)
	}
}
