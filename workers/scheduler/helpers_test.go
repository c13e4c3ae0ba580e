package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

const region = "sg"

// env is one test's broker with the region's topics and a producer.
type env struct {
	t       *testing.T
	brokers []string
	prod    *pipeline.Producer
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	brokers := []string{testinfra.Kafka(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics(region), partitions); err != nil {
		t.Fatal(err)
	}
	prod, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	return &env{t: t, brokers: brokers, prod: prod}
}

// config is a scheduler configuration with test timings.
func (e *env) config(clock Clock) Config {
	return Config{Region: region, Brokers: e.brokers, Producer: e.prod, Clock: clock,
		SessionTimeout: 3 * time.Second, HeartbeatInterval: 500 * time.Millisecond, RebalanceTimeout: 4 * time.Second,
		ActionTimeout: 3 * time.Second,
		Logger:        zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.WarnLevel)}
}

// running is a scheduler started by start.
type running struct {
	s    *Scheduler
	stop func()
}

// start runs a scheduler with cfg until stop is called or the test ends.
func (e *env) start(cfg Config) *running {
	e.t.Helper()
	s, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					e.t.Errorf("Run: %v", err)
				}
			case <-time.After(30 * time.Second):
				e.t.Error("Run did not return within 30s of cancellation")
			}
		})
	}
	e.t.Cleanup(stop)
	return &running{s: s, stop: stop}
}

// schedule builds the record fanout writes for a request of app with the
// given strategy, accepted at created.
func schedule(app, task string, strategyType int, sc schema.StrategyContent, created time.Time) schema.Schedule {
	r := &schema.Request{Type: schema.PushSimple, Region: region, AppID: app, WorkspaceID: "ws", TaskName: task,
		DeliverType: schema.DeliverAndroid, TargetMsgkey: schema.StringMap{"dev-1": "msg-" + task}, Title: "T", Content: "C",
		ExpiredSeconds: 600, StrategyType: strategyType, StrategyContent: &sc}
	return schema.NewSchedule(r, created.UnixMilli())
}

func (e *env) publish(outs ...pipeline.Output) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.prod.Produce(ctx, outs); err != nil {
		e.t.Fatal(err)
	}
}

func scheduleOutput(s schema.Schedule) pipeline.Output {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return pipeline.Output{Topic: pipeline.SchedulesTopic(region), Key: []byte(s.ScheduleID), Value: b}
}

func (e *env) publishSchedules(ss ...schema.Schedule) {
	e.t.Helper()
	outs := make([]pipeline.Output, len(ss))
	for i, s := range ss {
		outs[i] = scheduleOutput(s)
	}
	e.publish(outs...)
}

// requests returns every request on push.requests.R.
func (e *env) requests() []*schema.Request {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*schema.Request
	err := readTopic(ctx, e.brokers, pipeline.KafkaSecurity{}, pipeline.RequestsTopic(region), func(m kafka.Message) error {
		r, err := schema.DecodeRequest(m.Value)
		if err != nil {
			return err
		}
		if string(m.Key) != r.AppID+"/"+r.TaskID {
			return fmt.Errorf("request keyed %q has app %q and task id %q", m.Key, r.AppID, r.TaskID)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

// fired returns how many requests each occurrence (task id) has.
func (e *env) fired() map[string]int {
	out := map[string]int{}
	for _, r := range e.requests() {
		out[r.TaskID]++
	}
	return out
}

// records returns every record of topic.
func (e *env) records(topic string) []kafka.Message {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []kafka.Message
	if err := readTopic(ctx, e.brokers, pipeline.KafkaSecurity{}, topic, func(m kafka.Message) error { out = append(out, m); return nil }); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// schedules returns the state of every schedule by id.
func (e *env) schedules() map[string]schema.Schedule {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	all, err := ReadSchedules(ctx, e.brokers, pipeline.KafkaSecurity{}, region)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]schema.Schedule{}
	for _, s := range all {
		out[s.ScheduleID] = s
	}
	return out
}

// waitFor polls cond until it holds or timeout passes.
func (e *env) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	e.t.Fatalf("timed out after %s waiting for %s; last state: %s", timeout, what, last)
}

// waitDecided waits until every schedule in ids is admitted or refused.
func (e *env) waitDecided(ids ...string) {
	e.t.Helper()
	e.waitFor("schedules decided", time.Minute, func() (bool, string) {
		all := e.schedules()
		var open []string
		for _, id := range ids {
			if s := all[id]; !s.Admitted && !s.Refused {
				open = append(open, id)
			}
		}
		return len(open) == 0, fmt.Sprintf("undecided: %v", open)
	})
}

// waitFired waits until the occurrences are exactly want (task id ->
// count).
func (e *env) waitFired(want map[string]int) {
	e.t.Helper()
	e.waitFor("occurrences fired", time.Minute, func() (bool, string) {
		got := e.fired()
		return equalCounts(got, want), fmt.Sprintf("fired %v, want %v", sortedCounts(got), sortedCounts(want))
	})
}

// assertStaysFired checks that the occurrences stay exactly want for a
// while (nothing early, nothing twice).
func (e *env) assertStaysFired(want map[string]int) {
	e.t.Helper()
	time.Sleep(400 * time.Millisecond)
	if got := e.fired(); !equalCounts(got, want) {
		e.t.Fatalf("fired %v, want %v", sortedCounts(got), sortedCounts(want))
	}
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func sortedCounts(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s=%d", k, v))
	}
	sort.Strings(out)
	return out
}

func utc(s string) time.Time {
	t, err := time.Parse(time.DateTime, s)
	if err != nil {
		panic(err)
	}
	return t
}

func ms(s string) int64 { return utc(s).UnixMilli() }

// occ returns the occurrence id of schedule s at the UTC time at.
func occ(s schema.Schedule, at string) string {
	return schema.OccurrenceID(s.ScheduleID, utc(at), time.UTC)
}
