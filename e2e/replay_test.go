package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
)

// TestReplayedRequestIsNotDeliveredTwice publishes a request, waits until
// it is acked, publishes it again (same appId, msgKeys and targets) and
// checks that the vendor is not called again and no statistic moves.
func TestReplayedRequestIsNotDeliveredTwice(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	e.registerDevices("sg", device("sg", "dev-1", "regid-1"), device("sg", "dev-2", "regid-2"))
	req := simpleRequest("sg", "task-replay", map[string]string{"dev-1": "msg-r1", "dev-2": "msg-r2"})
	want := map[string]uint64{"accepted": 1, "planned": 2, "valid": 2, "sent": 2, "acked": 2}
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), "task-replay", req))
	e.waitFor("the first delivery", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = 'task-replay'")
		return equalCounts(got, want), fmt.Sprint(got)
	})
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), "task-replay", req))
	// The replay is consumed when the fan-out group's lag is back to zero;
	// give the chain time to (wrongly) act on it.
	time.Sleep(3 * time.Second)
	if got := e.eventCounts("sg", "task_id = 'task-replay'"); !equalCounts(got, want) {
		t.Fatalf("statistics changed after the replay: %v", got)
	}
	if n := len(e.sim.Requests("mipush", "sg")); n != 2 {
		t.Fatalf("vendor called %d times, want 2 (no second delivery)", n)
	}
}
