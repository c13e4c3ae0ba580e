package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestReplayedDeliveryMeetingAnotherAnswerEndsOnce pushes to three devices
// with a 2-second validity and waits until they are acked, then hands the
// sender their delivery records again, as a replay after a sender crash
// would, once the validity has passed: the sender now answers expired. Each
// delivery keeps its one outcome (acked), the late endings are stored as
// superseded and no statistic counts them.
func TestReplayedDeliveryMeetingAnotherAnswerEndsOnce(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Registry, app.Fanout, app.Sender, app.Retry, app.Eventsink)
	targets := map[string]string{}
	for _, id := range []string{"once-1", "once-2", "once-3"} {
		e.registerDevices("sg", device("sg", id, "regid-"+id))
		targets[id] = "msg-" + id
	}
	req := simpleRequest("sg", "task-once", targets)
	req["expiredSeconds"] = 2
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), "task-once", req))
	where := "task_id = 'task-once'"
	e.waitFor("three acked deliveries", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", where)
		return got["acked"] == 3, fmt.Sprint(got)
	})
	var replay []pipeline.Output
	for _, m := range e.readAll(pipeline.DeliveriesTopic("sg")) {
		replay = append(replay, pipeline.Output{Topic: m.Topic, Key: m.Key, Value: m.Value})
	}
	if len(replay) != 3 {
		t.Fatalf("push.deliveries.sg holds %d records, want the 3 deliveries", len(replay))
	}
	time.Sleep(time.Until(time.UnixMilli(req["acceptedAt"].(int64)).Add(2500 * time.Millisecond)))
	e.publish(replay...)
	e.waitFor("three superseded endings", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", where)
		return got["superseded"] == 3, fmt.Sprint(got)
	})
	// Give a wrongly counted ending time to land too.
	time.Sleep(2 * time.Second)

	got := e.eventCounts("sg", where)
	if got["acked"] != 3 || got["expired"] != 0 || got["failed"] != 0 || got["superseded"] != 3 {
		t.Fatalf("events %v, want 3 acked, 3 superseded and no other ending", got)
	}
	var desc string
	if err := e.conn.QueryRow(context.Background(), "SELECT any(status_desc) FROM "+e.db("sg")+".events WHERE "+where+" AND event = 'superseded'").Scan(&desc); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(desc, "already ended acked") || !strings.Contains(desc, "this expired") {
		t.Fatalf("superseded status %q does not name the outcome that stands and the late ending", desc)
	}
	now := time.Now().UTC()
	st, err := store.QueryStats(context.Background(), e.conn, e.db("sg"), schema.StatsQuery{AppID: testApp, TaskID: "task-once",
		From: now.Add(-time.Hour), To: now.Add(time.Minute), Granularity: schema.GranularityHour})
	if err != nil {
		t.Fatal(err)
	}
	if st.Total.Pushed != 3 || st.Total.Succeeded != 3 {
		t.Fatalf("statistics: pushed %d succeeded %d, want 3 and 3", st.Total.Pushed, st.Total.Succeeded)
	}
	if n := len(e.sim.Requests("mipush", "sg")); n != 3 {
		t.Fatalf("the vendor got %d calls, want the 3 of the first handling (one per message) and none for the expired replay", n)
	}
}
