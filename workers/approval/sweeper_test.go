package approval

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// recorder is a Producer that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	outs []pipeline.Output
}

func (r *recorder) Produce(_ context.Context, outs []pipeline.Output) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.outs = append(r.outs, outs...)
	return nil
}

func (r *recorder) take() []pipeline.Output {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.outs
	r.outs = nil
	return out
}

// TestSweeper seeds push.approvals.sg of a real broker with records in
// every state and checks what one sweep writes: a waiting request past
// its expiry and the grace is recorded expired and its request published
// for fanout to reject; one still in its window is left; a decision fanout
// has not acted on after RepublishAfter has its request published again,
// once per RepublishAfter; a Done record older than Retention is deleted
// (a tombstone); a recent Done record is left.
func TestSweeper(t *testing.T) {
	ctx := context.Background()
	brokers := []string{testinfra.Kafka(t)}
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics("sg"), 1); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	held := func(task string, heldAgo time.Duration) schema.Approval {
		req := &schema.Request{Type: schema.PushBroadcast, Region: "sg", AppID: "app", WorkspaceID: "ws", TaskID: task, TaskName: task,
			DeliverType: schema.DeliverAndroid, Title: "T", Content: "C", ExpiredSeconds: 600}
		a, err := schema.NewApproval(req, schema.ApprovalPolicy{Broadcast: true, Expiry: time.Hour}, "why", "console:alice", now.Add(-heldAgo).UnixMilli())
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	decided := func(a schema.Approval, ago time.Duration) schema.Approval {
		d, err := a.Decide(schema.ApprovalApproved, "console:bob", "", now.Add(-ago))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	done := func(a schema.Approval, ago time.Duration) schema.Approval {
		a.Done, a.DoneAt = true, now.Add(-ago).UnixMilli()
		return a
	}
	records := map[string]schema.Approval{
		"expired":       held("expired", time.Hour+DefaultGrace+time.Second),
		"in grace":      held("in grace", time.Hour+DefaultGrace/2),
		"waiting":       held("waiting", time.Minute),
		"decided, late": decided(held("decided, late", 2*time.Minute), time.Minute),
		"decided, now":  decided(held("decided, now", 2*time.Minute), time.Second),
		"done, old":     done(decided(held("done, old", 8*24*time.Hour), 8*24*time.Hour), DefaultRetention+time.Hour),
		"done, recent":  done(decided(held("done, recent", 2*time.Hour), 2*time.Hour), time.Hour),
	}
	seed, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = seed.Close() }()
	var outs []pipeline.Output
	for _, a := range records {
		outs = append(outs, Output("sg", a))
	}
	if err := seed.Produce(ctx, outs); err != nil {
		t.Fatal(err)
	}

	rec := &recorder{}
	s, err := NewSweeper(SweeperConfig{Reader: ReaderConfig{Brokers: brokers, Region: "sg"}, Producer: rec, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.reader.Close() }()
	if err := s.reader.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	type write struct{ expired, request, tombstone int }
	got := map[string]write{}
	for _, o := range rec.take() {
		var key string
		w := write{}
		switch {
		case o.Topic == pipeline.RequestsTopic("sg"):
			key, w.request = string(o.Key), 1
		case o.Topic == pipeline.ApprovalsTopic("sg") && o.Value == nil:
			key, w.tombstone = string(o.Key), 1
		case o.Topic == pipeline.ApprovalsTopic("sg"):
			a, err := schema.DecodeApproval(o.Value)
			if err != nil {
				t.Fatal(err)
			}
			if a.Decision == schema.ApprovalExpired && a.DecidedBy == schema.ApprovalSystem {
				w.expired = 1
			}
			key = string(o.Key)
		default:
			t.Fatalf("the sweeper wrote to %s", o.Topic)
		}
		g := got[key]
		g.expired, g.request, g.tombstone = g.expired+w.expired, g.request+w.request, g.tombstone+w.tombstone
		got[key] = g
	}
	want := map[string]write{
		records["expired"].Key():       {expired: 1, request: 1},
		records["decided, late"].Key(): {request: 1},
		records["done, old"].Key():     {tombstone: 1},
	}
	for task, a := range records {
		if got[a.Key()] != want[a.Key()] {
			t.Errorf("%s: the sweep wrote %+v, want %+v", task, got[a.Key()], want[a.Key()])
		}
	}
	// A second sweep at the same time publishes the late decision's
	// request no more (once per RepublishAfter).
	if err := s.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	for _, o := range rec.take() {
		if string(o.Key) == records["decided, late"].Key() {
			t.Errorf("the second sweep published the late decision again")
		}
	}
}
