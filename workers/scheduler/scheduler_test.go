package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

func TestConfigValidate(t *testing.T) {
	prod := &pipeline.Producer{}
	for _, tc := range []struct {
		scenario string
		mutate   func(*Config)
		wantErr  string
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad region", func(c *Config) { c.Region = "us" }, `Region "us"`},
		{"no brokers", func(c *Config) { c.Brokers = nil }, "Brokers is empty"},
		{"no producer", func(c *Config) { c.Producer = nil }, "Producer is nil"},
		{"negative limit", func(c *Config) { c.MaxPending = -1 }, "MaxPending -1"},
		{"negative lateness", func(c *Config) { c.MaxLateness = -time.Second }, "MaxLateness -1s is negative"},
		{"unnamed zone", func(c *Config) { c.Location = time.FixedZone("X", 3600) }, `Location "X" cannot be recorded`},
		{"heartbeat too slow", func(c *Config) { c.HeartbeatInterval = 3 * time.Second }, "HeartbeatInterval 3s"},
		{"action outlives a rebalance", func(c *Config) { c.ActionTimeout = 9 * time.Second }, "must be below RebalanceTimeout"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := Config{Region: region, Brokers: []string{"127.0.0.1:1"}, Producer: prod}
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestManualClock(t *testing.T) {
	c := NewManualClock(utc("2026-03-01 00:00:00"))
	a, b := c.NewTimer(time.Minute), c.NewTimer(time.Hour)
	now := c.NewTimer(0)
	select {
	case <-now.C():
	default:
		t.Fatal("a timer of 0 did not fire at once")
	}
	c.Advance(59 * time.Second)
	select {
	case <-a.C():
		t.Fatal("fired early")
	default:
	}
	c.Advance(time.Second)
	if got := <-a.C(); !got.Equal(utc("2026-03-01 00:01:00")) {
		t.Fatalf("fired at %v", got)
	}
	if !b.Stop() || b.Stop() || c.Waiters() != 0 {
		t.Fatal("Stop did not remove the timer exactly once")
	}
	c.Set(utc("2026-02-01 00:00:00"))
	if !c.Now().Equal(utc("2026-03-01 00:01:00")) {
		t.Fatal("Set moved the clock backwards")
	}
}

// TestOccurrencesFireAtTheirInstants moves a manual clock to one second
// before and then to each occurrence and checks that each occurrence is
// published exactly at its instant, once, as an immediate request carrying
// its schedule.
func TestOccurrencesFireAtTheirInstants(t *testing.T) {
	created := utc("2026-01-01 00:00:00")
	for _, tc := range []struct {
		scenario string
		typ      int
		sc       schema.StrategyContent
		want     []string // occurrence instants, UTC
		end      string   // a time after the last occurrence
	}{
		{"fixed time", schema.StrategyFixedTime, schema.StrategyContent{FixedTime: ms("2026-01-05 08:00:00")},
			[]string{"2026-01-05 08:00:00"}, "2026-01-10 00:00:00"},
		{"daily", schema.StrategyLoop,
			schema.StrategyContent{StartTime: ms("2026-01-02 00:00:00"), EndTime: ms("2026-01-04 00:00:00"), CircleType: schema.CircleDaily, Time: "09:30:00"},
			[]string{"2026-01-02 09:30:00", "2026-01-03 09:30:00", "2026-01-04 09:30:00"}, "2026-01-10 00:00:00"},
		{"weekly on Monday and Friday", schema.StrategyLoop,
			schema.StrategyContent{StartTime: ms("2026-01-01 00:00:00"), EndTime: ms("2026-01-12 00:00:00"), CircleType: schema.CircleWeekly, CircleValue: []int{1, 5}, Time: "18:00:00"},
			[]string{"2026-01-02 18:00:00", "2026-01-05 18:00:00", "2026-01-09 18:00:00", "2026-01-12 18:00:00"}, "2026-01-20 00:00:00"},
		{"monthly on the 31st", schema.StrategyLoop,
			schema.StrategyContent{StartTime: ms("2026-01-01 00:00:00"), EndTime: ms("2026-05-31 00:00:00"), CircleType: schema.CircleMonthly, CircleValue: []int{31}, Time: "07:00:00"},
			[]string{"2026-01-31 07:00:00", "2026-03-31 07:00:00", "2026-05-31 07:00:00"}, "2026-06-05 00:00:00"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			e := newEnv(t, 2)
			clock := NewManualClock(created)
			s := schedule("app", tc.scenario, tc.typ, tc.sc, created)
			e.publishSchedules(s)
			e.start(e.config(clock))
			e.waitDecided(s.ScheduleID)

			want := map[string]int{}
			for _, at := range tc.want {
				clock.Set(utc(at).Add(-time.Second))
				e.assertStaysFired(want)
				clock.Set(utc(at))
				want[occ(s, at)] = 1
				e.waitFired(want)
			}
			clock.Set(utc(tc.end))
			e.assertStaysFired(want)

			reqs := e.requests()
			sort.Slice(reqs, func(i, j int) bool { return reqs[i].AcceptedAt < reqs[j].AcceptedAt })
			for i, r := range reqs {
				at := utc(tc.want[i])
				if r.ScheduleID != s.ScheduleID || r.AcceptedAt != at.UnixMilli() || r.StrategyType != 0 || r.IsScheduled() {
					t.Errorf("request %d: schedule %q acceptedAt %d strategy %d", i, r.ScheduleID, r.AcceptedAt, r.StrategyType)
				}
				wantKey := "msg-" + tc.scenario
				if tc.typ == schema.StrategyLoop {
					wantKey += "-" + at.Format("20060102150405")
				}
				if r.TargetMsgkey["dev-1"] != wantKey {
					t.Errorf("request %d msgKey %q, want %q", i, r.TargetMsgkey["dev-1"], wantKey)
				}
				if err := r.Validate(); err != nil {
					t.Errorf("request %d is invalid: %v", i, err)
				}
			}
			e.waitFor("schedule done", 30*time.Second, func() (bool, string) {
				st := e.schedules()[s.ScheduleID]
				p, _ := st.Plan(nil)
				return st.Status(p) == schema.ScheduleDone && st.Firing == nil, fmt.Sprintf("%+v", st)
			})
		})
	}
}

// TestRestartBetweenOccurrences stops the scheduler after the first
// occurrence of a daily loop, moves the clock while it is down and starts
// a new one: nothing fired before is fired again, and what fell due while
// it was down is fired late, or recorded as missed when too late.
func TestRestartBetweenOccurrences(t *testing.T) {
	created := utc("2026-01-01 00:00:00")
	sc := schema.StrategyContent{StartTime: ms("2026-01-01 00:00:00"), EndTime: ms("2026-01-03 00:00:00"), CircleType: schema.CircleDaily, Time: "09:00:00"}
	for _, tc := range []struct {
		scenario   string
		downUntil  string // clock when the second scheduler starts
		wantFired  []string
		wantMissed []string
	}{
		{"restart before the next occurrence", "2026-01-02 08:00:00", []string{"2026-01-01 09:00:00", "2026-01-02 09:00:00", "2026-01-03 09:00:00"}, nil},
		{"next occurrence fell due while down, within the lateness", "2026-01-02 09:30:00", []string{"2026-01-01 09:00:00", "2026-01-02 09:00:00", "2026-01-03 09:00:00"}, nil},
		{"next occurrence fell due too long ago", "2026-01-02 11:00:00", []string{"2026-01-01 09:00:00", "2026-01-03 09:00:00"}, []string{"2026-01-02 09:00:00"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			e := newEnv(t, 2)
			clock := NewManualClock(created)
			s := schedule("app", "daily", schema.StrategyLoop, sc, created)
			e.publishSchedules(s)
			first := e.start(e.config(clock))
			e.waitDecided(s.ScheduleID)
			clock.Set(utc("2026-01-01 09:00:00"))
			e.waitFired(map[string]int{occ(s, "2026-01-01 09:00:00"): 1})
			first.stop()

			clock.Set(utc(tc.downUntil))
			second := e.start(e.config(clock))
			e.waitFor("second scheduler ready", time.Minute, func() (bool, string) { return second.s.Ready(context.Background()) == nil, "not ready" })
			want := map[string]int{}
			for _, at := range tc.wantFired {
				clock.Set(utc(at)) // no move when already past
				for _, w := range tc.wantFired {
					if !utc(w).After(clock.Now()) {
						want[occ(s, w)] = 1
					}
				}
				e.waitFired(want)
			}
			clock.Set(utc("2026-01-05 00:00:00"))
			e.assertStaysFired(want)
			e.waitFor("missed occurrences recorded", 30*time.Second, func() (bool, string) {
				st := e.schedules()[s.ScheduleID]
				var missed []string
				for _, m := range st.Missed {
					missed = append(missed, time.UnixMilli(m).UTC().Format(time.DateTime))
				}
				return fmt.Sprint(missed) == fmt.Sprint(tc.wantMissed) && st.Through == ms("2026-01-03 09:00:00"), fmt.Sprintf("missed %v through %d", missed, st.Through)
			})
		})
	}
}

// crashingProducer passes records through until crash says a record is
// the point to fail at: it then fails that call without writing it (or
// after writing it, when after is set) and kills the scheduler.
type crashingProducer struct {
	next  Producer
	crash func(o pipeline.Output) bool
	after bool
	kill  func()
	mu    sync.Mutex
	dead  bool
}

func (c *crashingProducer) Produce(ctx context.Context, outs []pipeline.Output) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return errors.New("crashed")
	}
	for _, o := range outs {
		if c.crash(o) {
			c.dead = true
			if c.after {
				if err := c.next.Produce(ctx, outs); err != nil {
					return err
				}
			}
			c.kill()
			return errors.New("crashed")
		}
	}
	return c.next.Produce(ctx, outs)
}

// TestInterruptedFiringIsCompletedOnce kills the scheduler at each step of
// firing an occurrence; the next scheduler publishes the occurrence if and
// only if it was not published, so it is published exactly once.
func TestInterruptedFiringIsCompletedOnce(t *testing.T) {
	created := utc("2026-01-01 00:00:00")
	s := schedule("app", "fixed", schema.StrategyFixedTime, schema.StrategyContent{FixedTime: ms("2026-01-01 10:00:00")}, created)
	isRequest := func(o pipeline.Output) bool { return o.Topic == pipeline.RequestsTopic(region) }
	isFiring := func(o pipeline.Output) bool {
		var st schema.Schedule
		return o.Topic == pipeline.SchedulesTopic(region) && json.Unmarshal(o.Value, &st) == nil && st.Firing != nil
	}
	isFired := func(o pipeline.Output) bool {
		var st schema.Schedule
		return o.Topic == pipeline.SchedulesTopic(region) && json.Unmarshal(o.Value, &st) == nil && st.Firing == nil && st.Through > 0
	}
	for _, tc := range []struct {
		scenario string
		crash    func(pipeline.Output) bool
		after    bool
	}{
		{"crash before recording the firing", isFiring, false},
		{"crash after recording the firing, before the request", isRequest, false},
		{"crash after the request, before recording it", isRequest, true},
		{"crash while recording the occurrence as fired", isFired, false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			e := newEnv(t, 3)
			clock := NewManualClock(created)
			e.publishSchedules(s)
			var first *running
			killed := make(chan struct{})
			cp := &crashingProducer{next: e.prod, crash: tc.crash, after: tc.after, kill: func() { close(killed) }}
			cfg := e.config(clock)
			cfg.Producer = cp
			first = e.start(cfg)
			e.waitDecided(s.ScheduleID)
			clock.Set(utc("2026-01-01 10:00:00"))
			select {
			case <-killed:
			case <-time.After(time.Minute):
				t.Fatal("the scheduler never reached the crash point")
			}
			first.stop()

			second := e.start(e.config(clock))
			want := map[string]int{occ(s, "2026-01-01 10:00:00"): 1}
			e.waitFired(want)
			e.waitFor("occurrence recorded", 30*time.Second, func() (bool, string) {
				st := e.schedules()[s.ScheduleID]
				return st.Through == ms("2026-01-01 10:00:00") && st.Firing == nil, fmt.Sprintf("through %d firing %+v", st.Through, st.Firing)
			})
			clock.Set(utc("2026-01-01 10:30:00"))
			e.assertStaysFired(want)
			recovered := value(second.s.m.occurrences.WithLabelValues("recovered"))
			fired := value(second.s.m.occurrences.WithLabelValues("fired"))
			wantRecovered := tc.after || tc.scenario == "crash while recording the occurrence as fired"
			if (recovered == 1) != wantRecovered || recovered+fired != 1 {
				t.Errorf("second scheduler recovered %v and fired %v; want recovered=%v", recovered, fired, wantRecovered)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	created := utc("2026-01-01 00:00:00")
	daily := schema.StrategyContent{StartTime: ms("2026-01-01 00:00:00"), EndTime: ms("2026-01-03 00:00:00"), CircleType: schema.CircleDaily, Time: "09:00:00"}
	for _, tc := range []struct {
		scenario string
		// cancel runs once the first occurrence has fired; ids are the
		// schedule's; it returns the ids to cancel.
		cancel    func(s schema.Schedule) []string
		wantErr   error
		wantFired []string
	}{
		{"cancel the schedule", func(s schema.Schedule) []string { return []string{s.ScheduleID} }, nil,
			[]string{"2026-01-01 09:00:00"}},
		{"cancel it twice", func(s schema.Schedule) []string { return []string{s.ScheduleID, s.ScheduleID} }, nil,
			[]string{"2026-01-01 09:00:00"}},
		{"cancel one occurrence", func(s schema.Schedule) []string { return []string{occ(s, "2026-01-02 09:00:00")} }, nil,
			[]string{"2026-01-01 09:00:00", "2026-01-03 09:00:00"}},
		{"cancel an occurrence that has run", func(s schema.Schedule) []string { return []string{occ(s, "2026-01-01 09:00:00")} }, ErrNotCancellable,
			[]string{"2026-01-01 09:00:00", "2026-01-02 09:00:00", "2026-01-03 09:00:00"}},
		{"cancel a time that is no occurrence", func(s schema.Schedule) []string { return []string{occ(s, "2026-01-02 10:00:00")} }, ErrUnknownTask,
			[]string{"2026-01-01 09:00:00", "2026-01-02 09:00:00", "2026-01-03 09:00:00"}},
		{"cancel an unknown schedule", func(s schema.Schedule) []string { return []string{"s000000000000000000000000"} }, ErrUnknownTask,
			[]string{"2026-01-01 09:00:00", "2026-01-02 09:00:00", "2026-01-03 09:00:00"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			e := newEnv(t, 2)
			clock := NewManualClock(created)
			s := schedule("app", "daily", schema.StrategyLoop, daily, created)
			e.publishSchedules(s)
			e.start(e.config(clock))
			e.waitDecided(s.ScheduleID)
			clock.Set(utc("2026-01-01 09:00:00"))
			e.waitFired(map[string]int{occ(s, "2026-01-01 09:00:00"): 1})

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for i, id := range tc.cancel(s) {
				res, err := Cancel(ctx, e.brokers, pipeline.KafkaSecurity{}, e.prod, region, "app", id, clock.Now(), nil)
				if tc.wantErr != nil {
					if !errors.Is(err, tc.wantErr) {
						t.Fatalf("Cancel(%s) = %v, want %v", id, err, tc.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if res.AlreadyCancelled != (i > 0) {
					t.Errorf("cancellation %d: AlreadyCancelled = %v", i, res.AlreadyCancelled)
				}
			}
			// The scheduler applies the cancellation when it reads it;
			// wait until its replica of the state has it.
			e.waitFor("cancellation applied", 30*time.Second, func() (bool, string) {
				st := e.schedules()[s.ScheduleID]
				return st.Admitted, ""
			})
			time.Sleep(300 * time.Millisecond)
			want := map[string]int{}
			for _, at := range []string{"2026-01-02 09:00:00", "2026-01-03 09:00:00"} {
				clock.Set(utc(at))
				for _, w := range tc.wantFired {
					if !utc(w).After(utc(at)) {
						want[occ(s, w)] = 1
					}
				}
				e.waitFired(want)
				e.assertStaysFired(want)
			}
			if len(want) != len(tc.wantFired) {
				t.Fatalf("fired %v, want %v", sortedCounts(want), tc.wantFired)
			}
		})
	}
	t.Run("another app's schedule", func(t *testing.T) {
		e := newEnv(t, 1)
		s := schedule("app", "daily", schema.StrategyLoop, daily, created)
		e.publishSchedules(s)
		_, err := Cancel(context.Background(), e.brokers, pipeline.KafkaSecurity{}, e.prod, region, "other-app", s.ScheduleID, created, nil)
		if !errors.Is(err, ErrUnknownTask) {
			t.Fatalf("err = %v, want ErrUnknownTask", err)
		}
	})
}

// TestPendingLimit publishes 101 schedules of one app: the 101st is
// refused with a rejected event and a dead-letter record and never fires;
// another app is not affected; once one is cancelled a new one is
// admitted; a restart does not change the decisions.
func TestPendingLimit(t *testing.T) {
	created := utc("2026-01-01 00:00:00")
	e := newEnv(t, 4)
	clock := NewManualClock(created)
	var ss []schema.Schedule
	var ids []string
	for i := range schema.MaxPendingSchedules + 1 {
		s := schedule("app", fmt.Sprintf("task-%03d", i), schema.StrategyFixedTime,
			schema.StrategyContent{FixedTime: ms("2026-02-01 00:00:00")}, created.Add(time.Duration(i)*time.Second))
		ss = append(ss, s)
		ids = append(ids, s.ScheduleID)
	}
	other := schedule("other-app", "task", schema.StrategyFixedTime, schema.StrategyContent{FixedTime: ms("2026-02-01 00:00:00")}, created.Add(time.Hour))
	e.publishSchedules(append(ss, other)...)
	first := e.start(e.config(clock))
	e.waitDecided(append(ids, other.ScheduleID)...)

	refusedID := ss[len(ss)-1].ScheduleID
	check := func() {
		t.Helper()
		all := e.schedules()
		admitted := 0
		for _, id := range ids {
			if all[id].Admitted {
				admitted++
			}
		}
		if admitted != schema.MaxPendingSchedules || !all[refusedID].Refused || !all[other.ScheduleID].Admitted {
			t.Fatalf("admitted %d of the app's schedules (want 100), last refused=%v, other app admitted=%v",
				admitted, all[refusedID].Refused, all[other.ScheduleID].Admitted)
		}
		if r := all[refusedID]; r.RefusedCode != int(schema.CodeInvalidParam) || !strings.Contains(r.RefusedReason, "app app already has 100 unexecuted scheduled or loop pushes") {
			t.Fatalf("refusal %d %q", r.RefusedCode, r.RefusedReason)
		}
	}
	check()
	e.waitFor("rejected event and dead-letter record", 30*time.Second, func() (bool, string) {
		var rejected []schema.Event
		for _, m := range e.records(pipeline.EventsTopic(region)) {
			var ev schema.Event
			if json.Unmarshal(m.Value, &ev) == nil && ev.Event == schema.EventRejected {
				rejected = append(rejected, ev)
			}
		}
		dlq := e.records(pipeline.DLQTopic(region))
		ok := len(rejected) == 1 && rejected[0].TaskID == refusedID && rejected[0].StatusCode == int64(schema.CodeInvalidParam) &&
			strings.Contains(rejected[0].StatusDesc, "already has 100") && len(dlq) == 1 && string(dlq[0].Key) == refusedID
		return ok, fmt.Sprintf("rejected %+v, %d dead letters", rejected, len(dlq))
	})

	// A restart keeps every decision.
	first.stop()
	e.start(e.config(clock))
	time.Sleep(time.Second)
	check()

	// Cancelling one makes room for a new schedule.
	if _, err := Cancel(context.Background(), e.brokers, pipeline.KafkaSecurity{}, e.prod, region, "app", ids[0], clock.Now(), nil); err != nil {
		t.Fatal(err)
	}
	next := schedule("app", "task-next", schema.StrategyFixedTime, schema.StrategyContent{FixedTime: ms("2026-02-01 00:00:00")}, created.Add(2*time.Hour))
	e.publishSchedules(next)
	e.waitDecided(next.ScheduleID)
	if st := e.schedules()[next.ScheduleID]; !st.Admitted {
		t.Fatalf("a schedule after a cancellation was refused: %s", st.RefusedReason)
	}

	// Only admitted, not cancelled schedules fire.
	clock.Set(utc("2026-02-01 00:00:00"))
	want := map[string]int{}
	for _, s := range append(ss[1:len(ss)-1], other, next) {
		want[occ(s, "2026-02-01 00:00:00")] = 1
	}
	e.waitFired(want)
	e.assertStaysFired(want)
}

// TestTwoReplicasFireEachOccurrenceOnce runs two schedulers that share a
// clock and a consumer group over eight daily loops on four partitions:
// every occurrence is fired once, both replicas fire, and when one stops
// the other takes its partitions over without losing or repeating one.
func TestTwoReplicasFireEachOccurrenceOnce(t *testing.T) {
	created := utc("2026-01-01 00:00:00")
	e := newEnv(t, 4)
	clock := NewManualClock(created)
	sc := schema.StrategyContent{StartTime: ms("2026-01-01 00:00:00"), EndTime: ms("2026-01-04 00:00:00"), CircleType: schema.CircleDaily, Time: "09:00:00"}
	var ss []schema.Schedule
	var ids []string
	for i := range 8 {
		s := schedule("app", fmt.Sprintf("loop-%d", i), schema.StrategyLoop, sc, created)
		ss = append(ss, s)
		ids = append(ids, s.ScheduleID)
	}
	e.publishSchedules(ss...)
	a := e.start(e.config(clock))
	b := e.start(e.config(clock))
	e.waitDecided(ids...)
	e.waitFor("both replicas own partitions and are caught up", time.Minute, func() (bool, string) {
		oa, ob := value(a.s.m.owned), value(b.s.m.owned)
		return a.s.Ready(context.Background()) == nil && b.s.Ready(context.Background()) == nil && oa == 2 && ob == 2, fmt.Sprintf("owned %v and %v", oa, ob)
	})

	want := map[string]int{}
	day := func(at string) {
		t.Helper()
		clock.Set(utc(at))
		for _, s := range ss {
			want[occ(s, at)] = 1
		}
		e.waitFired(want)
	}
	day("2026-01-01 09:00:00")
	fa := value(a.s.m.occurrences.WithLabelValues("fired"))
	fb := value(b.s.m.occurrences.WithLabelValues("fired"))
	if fa == 0 || fb == 0 || fa+fb != 8 {
		t.Errorf("replicas fired %v and %v occurrences; want both to fire, 8 in all", fa, fb)
	}
	day("2026-01-02 09:00:00")

	a.stop()
	e.waitFor("the remaining replica owns every partition", time.Minute, func() (bool, string) {
		o := value(b.s.m.owned)
		return o == 4 && b.s.Ready(context.Background()) == nil, fmt.Sprintf("owned %v", o)
	})
	day("2026-01-03 09:00:00")
	day("2026-01-04 09:00:00")
	clock.Set(utc("2026-01-06 00:00:00"))
	e.assertStaysFired(want)
	if len(want) != 32 {
		t.Fatalf("expected 32 occurrences, counted %d", len(want))
	}
}

// TestRejectsUndecodableRecords: a record that is not a schedule goes to
// the dead-letter topic with a rejected event and is deleted from the
// compacted topic.
func TestRejectsUndecodableRecords(t *testing.T) {
	e := newEnv(t, 1)
	e.publish(pipeline.Output{Topic: pipeline.SchedulesTopic(region), Key: []byte("junk"), Value: []byte("{not json")})
	e.start(e.config(NewManualClock(utc("2026-01-01 00:00:00"))))
	e.waitFor("dead letter, rejected event and tombstone", time.Minute, func() (bool, string) {
		dlq := e.records(pipeline.DLQTopic(region))
		evs := e.records(pipeline.EventsTopic(region))
		recs := e.records(pipeline.SchedulesTopic(region))
		tomb := len(recs) == 2 && len(recs[1].Value) == 0
		return len(dlq) == 1 && string(dlq[0].Value) == "{not json" && len(evs) == 1 && tomb,
			fmt.Sprintf("%d dead letters, %d events, %d schedule records", len(dlq), len(evs), len(recs))
	})
}

// value reads the current value of a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// TestTimeZone runs a scheduler configured for Asia/Shanghai: a daily
// loop at 09:00:00 fires at 09:00 Shanghai time (01:00 UTC), its
// occurrence id carries the local time, and the zone is recorded on the
// schedule.
func TestTimeZone(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, 1)
	created := utc("2026-01-01 00:00:00")
	clock := NewManualClock(created)
	// 2026-01-01 17:00 UTC is already 2 January in Shanghai: the loop
	// runs on 2 January only.
	s := schedule("app", "tz", schema.StrategyLoop, schema.StrategyContent{StartTime: ms("2026-01-01 17:00:00"), EndTime: ms("2026-01-01 17:00:00"),
		CircleType: schema.CircleDaily, Time: "09:00:00"}, created)
	e.publishSchedules(s)
	cfg := e.config(clock)
	cfg.Location = shanghai
	e.start(cfg)
	e.waitDecided(s.ScheduleID)
	if tz := e.schedules()[s.ScheduleID].TimeZone; tz != "Asia/Shanghai" {
		t.Fatalf("recorded time zone %q", tz)
	}
	clock.Set(utc("2026-01-02 00:59:59"))
	e.assertStaysFired(map[string]int{})
	clock.Set(utc("2026-01-02 01:00:00"))
	want := map[string]int{s.ScheduleID + "-20260102090000": 1}
	e.waitFired(want)
	clock.Set(utc("2026-01-04 00:00:00"))
	e.assertStaysFired(want)
}
