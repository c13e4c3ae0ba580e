package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// runScheduler starts the scheduler of region in-process and stops it
// when the test ends.
func (e *env) runScheduler(region string) {
	e.t.Helper()
	s, err := app.NewScheduler(region, e.deps())
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	e.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			e.t.Errorf("scheduler stopped with an error: %v", err)
		}
	})
}

// TestScheduledPushEndToEnd publishes a scheduled push (strategyType 1,
// StrategyContent as the JSON string mPaaS sends) a few seconds ahead:
// fanout records the schedule and accepts it, the scheduler fires it at
// its time, and the occurrence runs through fanout, sender and eventsink
// under its own task id, once.
func TestScheduledPushEndToEnd(t *testing.T) {
	e := newEnv(t, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	e.runScheduler("sg")
	e.registerDevices("sg", device("sg", "dev-1", "regid-1"))

	fixed := time.Now().Add(4 * time.Second).Truncate(time.Second)
	req := simpleRequest("sg", "task-sched-1", map[string]string{"dev-1": "msg-sched-1"})
	req["strategyType"] = schema.StrategyFixedTime
	req["StrategyContent"] = fmt.Sprintf(`{"fixedTime":%d}`, fixed.UnixMilli())
	b, _ := json.Marshal(req)
	decoded, err := schema.DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	scheduleID := schema.NewScheduleID(decoded)
	occurrence := schema.OccurrenceID(scheduleID, fixed, time.UTC)
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), "task-sched-1", req))

	e.waitFor("the schedule accepted", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", scheduleID)
		return equalCounts(got, map[string]uint64{"accepted": 1}), fmt.Sprint(got)
	})
	want := map[string]uint64{"accepted": 1, "planned": 1, "valid": 1, "sent": 1, "acked": 1}
	e.waitFor("the occurrence delivered", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ?", occurrence)
		return equalCounts(got, want), fmt.Sprint(got)
	})
	var first time.Time
	if err := e.conn.QueryRow(context.Background(), "SELECT min(ts) FROM "+e.db("sg")+".events WHERE event = 'sent' AND task_id = ?", occurrence).Scan(&first); err != nil {
		t.Fatal(err)
	}
	if first.Before(fixed) {
		t.Fatalf("sent at %s, before its fixedTime %s", first, fixed)
	}
	if n := len(e.sim.Requests("mipush", "sg")); n != 1 {
		t.Fatalf("simulator got %d MiPush calls, want 1", n)
	}
	time.Sleep(2 * time.Second) // nothing more may come
	if got := e.eventCounts("sg", "task_id = ?", occurrence); !equalCounts(got, want) {
		t.Fatalf("occurrence events changed: %v", got)
	}
}
