package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// fixedStats is an ABTestStats whose every variant has 10 arrivals and
// whose variant best has all of them opened, the others none.
type fixedStats struct{ best string }

func (fixedStats) Settled(context.Context) error { return nil }

func (f fixedStats) TaskStats(_ context.Context, _ string, ids []string, _, _ time.Time) (map[string]schema.StatsPoint, error) {
	out := map[string]schema.StatsPoint{}
	for _, id := range ids {
		p := schema.StatsPoint{Pushed: 10, Succeeded: 10, Arrived: 10}
		if id == "ab-task-"+f.best {
			p.Opened = 10
		}
		p.SetRates()
		out[id] = p
	}
	return out, nil
}

// abSchedule is the schedule fanout writes for an A/B test of three
// variants to 100 devices, accepted at created, decided 60s later.
func abSchedule(created time.Time) schema.Schedule {
	targets := schema.StringMap{}
	for i := range 100 {
		targets[fmt.Sprintf("dev-%03d", i)] = fmt.Sprintf("msg-%03d", i)
	}
	r := &schema.Request{Type: schema.PushSimple, Region: region, AppID: "app", WorkspaceID: "ws", TaskID: "ab-task", TaskName: "ab",
		DeliverType: schema.DeliverAndroid, TargetMsgkey: targets, ExpiredSeconds: 600,
		ABTest: &schema.ABTest{SamplePercent: 30, DecisionSeconds: 60, Variants: []schema.ABVariant{{Title: "A", Content: "a"}, {Title: "B", Content: "b"}, {Title: "C", Content: "c"}}}}
	return schema.NewABTestSchedule(r, created.UnixMilli())
}

// TestABTestDecidedAndSentOnce kills the scheduler at each step of an A/B
// test's decision and rest; the next scheduler, whose statistics would
// choose another winner, keeps a decision already recorded, and the rest
// part is published exactly once, to the targets outside the sample, with
// the recorded winner's copy.
func TestABTestDecidedAndSentOnce(t *testing.T) {
	created := utc("2026-01-01 00:00:00")
	s := abSchedule(created)
	onSchedules := func(o pipeline.Output, cond func(schema.Schedule) bool) bool {
		var st schema.Schedule
		return o.Topic == pipeline.SchedulesTopic(region) && json.Unmarshal(o.Value, &st) == nil && cond(st)
	}
	isDecision := func(o pipeline.Output) bool {
		return onSchedules(o, func(st schema.Schedule) bool { return st.ABDecision != nil && st.Firing == nil && st.Through == 0 })
	}
	isFiring := func(o pipeline.Output) bool {
		return onSchedules(o, func(st schema.Schedule) bool { return st.Firing != nil })
	}
	isRest := func(o pipeline.Output) bool { return o.Topic == pipeline.RequestsTopic(region) }
	for _, tc := range []struct {
		scenario   string
		crash      func(pipeline.Output) bool
		after      bool
		wantWinner string // first scheduler's figures say b, the second's c
	}{
		{"crash before recording the decision", isDecision, false, "c"},
		{"crash after recording the decision", isFiring, false, "b"},
		{"crash after the rest, before recording it", isRest, true, "b"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			e := newEnv(t, 3)
			clock := NewManualClock(created)
			e.publishSchedules(s)
			killed := make(chan struct{})
			cfg := e.config(clock)
			cfg.Producer = &crashingProducer{next: e.prod, crash: tc.crash, after: tc.after, kill: func() { close(killed) }}
			cfg.ABTests = fixedStats{best: "b"}
			first := e.start(cfg)
			e.waitDecided(s.ScheduleID)
			clock.Set(created.Add(61 * time.Second))
			select {
			case <-killed:
			case <-time.After(time.Minute):
				t.Fatal("the scheduler never reached the crash point")
			}
			first.stop()

			cfg = e.config(clock)
			cfg.ABTests = fixedStats{best: "c"}
			e.start(cfg)
			want := map[string]int{"ab-task-rest": 1}
			e.waitFired(want)
			e.waitFor("the rest recorded", 30*time.Second, func() (bool, string) {
				st := e.schedules()[s.ScheduleID]
				return st.ABTestStatus() == "sent", st.ABTestStatus()
			})
			e.assertStaysFired(want)
			st := e.schedules()[s.ScheduleID]
			if st.ABDecision.Winner != tc.wantWinner || len(st.ABDecision.Variants) != 3 || st.ABDecision.Variants[1].Targets != 10 {
				t.Fatalf("decision %+v, want winner %s over 3 variants of 10 targets", st.ABDecision, tc.wantWinner)
			}
			rest := e.requests()[0]
			if rest.ABTest.Part != schema.ABRestPart || rest.ABTest.Winner != tc.wantWinner || len(rest.PartTargets()) != 70 {
				t.Fatalf("rest request %+v with %d targets, want the 70 outside the sample with winner %s", rest.ABTest, len(rest.PartTargets()), tc.wantWinner)
			}
			if err := rest.Validate(); err != nil {
				t.Fatalf("the rest request would be refused by fanout: %v", err)
			}
		})
	}
}
