package control_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/control"
)

func publish(t *testing.T, p *pipeline.Producer, region string, recs ...any) {
	t.Helper()
	var outs []pipeline.Output
	for _, r := range recs {
		var b []byte
		key := "junk"
		switch v := r.(type) {
		case schema.Control:
			b, _ = json.Marshal(v)
			key = v.ControlKey()
		case string:
			b = []byte(v)
		}
		outs = append(outs, pipeline.Output{Topic: pipeline.ControlTopic(region), Key: []byte(key), Value: b})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Produce(ctx, outs); err != nil {
		t.Fatal(err)
	}
}

func TestRevokeReaderSeesRevokesBeforeAndAfterStart(t *testing.T) {
	const region = "eu"
	broker := testinfra.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := pipeline.EnsureTopics(ctx, []string{broker}, pipeline.KafkaSecurity{}, pipeline.RegionTopics(region), 3); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: []string{broker}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	rev := func(c schema.Control) schema.Control {
		c.Op, c.Region, c.TS = schema.ControlRevoke, region, time.Now().UnixMilli()
		return c
	}
	// Written before the revoke reader starts: Start returns only once read.
	publish(t, p, region,
		rev(schema.Control{AppID: "A", MsgID: "m1"}),
		rev(schema.Control{AppID: "A", TaskID: "t1"}),
		rev(schema.Control{AppID: "A", MsgID: "m2", Target: "user-7"}),
		"not json",
		schema.Control{Op: schema.ControlRevoke, Region: "sg", AppID: "A", MsgID: "foreign"},
	)
	w, err := control.NewRevokeReader(control.RevokeReaderConfig{Brokers: []string{broker}, Region: region})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()

	for _, tc := range []struct {
		scenario string
		d        schema.Delivery
		revoked  bool
	}{
		{"message revoked by msg id", schema.Delivery{AppID: "A", MsgID: "m1", TaskID: "x", Target: "u"}, true},
		{"delivery of a revoked task", schema.Delivery{AppID: "A", MsgID: "other", TaskID: "t1"}, true},
		{"the revoked target of a message", schema.Delivery{AppID: "A", MsgID: "m2", TaskID: "x", Target: "user-7"}, true},
		{"another target of that message", schema.Delivery{AppID: "A", MsgID: "m2", TaskID: "x", Target: "user-8"}, false},
		{"same msg id, other app", schema.Delivery{AppID: "B", MsgID: "m1", TaskID: "x"}, false},
		{"revoke of another region", schema.Delivery{AppID: "A", MsgID: "foreign", TaskID: "x"}, false},
		{"not revoked", schema.Delivery{AppID: "A", MsgID: "m9", TaskID: "t9"}, false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if _, got := w.Revoked(&tc.d); got != tc.revoked {
				t.Fatalf("Revoked(%+v) = %v, want %v", tc.d, got, tc.revoked)
			}
		})
	}
	if w.Len() != 3 {
		t.Fatalf("Len = %d, want the 3 revokes of region %s", w.Len(), region)
	}

	// Written while it runs: seen shortly after.
	publish(t, p, region, rev(schema.Control{AppID: "A", TaskID: "t2", Reason: "wrong price"}))
	late := schema.Delivery{AppID: "A", MsgID: "m", TaskID: "t2"}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, ok := w.Revoked(&late); ok {
			if c.Reason != "wrong price" {
				t.Fatalf("revoke read back as %+v", c)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a revoke published after Start was not seen within 20s")
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestRevokeReaderConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		cfg      control.RevokeReaderConfig
		ok       bool
	}{
		{"valid", control.RevokeReaderConfig{Brokers: []string{"127.0.0.1:9092"}, Region: "sg"}, true},
		{"no brokers", control.RevokeReaderConfig{Region: "sg"}, false},
		{"bad region", control.RevokeReaderConfig{Brokers: []string{"b"}, Region: "xx"}, false},
		{"negative wait", control.RevokeReaderConfig{Brokers: []string{"b"}, Region: "sg", MaxWait: -time.Second}, false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if err := tc.cfg.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestRevokeReaderSharedByStages(t *testing.T) {
	const region = "sg"
	broker := testinfra.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := pipeline.EnsureTopics(ctx, []string{broker}, pipeline.KafkaSecurity{}, pipeline.RegionTopics(region), 2); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: []string{broker}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	publish(t, p, region, schema.Control{Op: schema.ControlRevoke, Region: region, AppID: "A", TaskID: "t1"})
	w, err := control.NewRevokeReader(control.RevokeReaderConfig{Brokers: []string{broker}, Region: region})
	if err != nil {
		t.Fatal(err)
	}
	d := schema.Delivery{AppID: "A", TaskID: "t1"}
	if _, ok := w.Revoked(&d); ok {
		t.Fatal("revoked before the revoke reader started")
	}
	for i := range 2 {
		if err := w.Acquire(ctx); err != nil {
			t.Fatalf("Acquire %d: %v", i+1, err)
		}
		if _, ok := w.Revoked(&d); !ok {
			t.Fatalf("after Acquire %d the revoke written before is not known", i+1)
		}
	}
	w.Release()
	if err := w.Acquire(ctx); err != nil {
		t.Fatalf("Acquire while another stage holds the revoke reader: %v", err)
	}
	w.Release()
	w.Release()
	if err := w.Acquire(ctx); err == nil {
		t.Fatal("Acquire after the last Release succeeded; the revoke reader is closed")
	}
}

// TestRevokesAgeOutAndStayPerApp: a revoke older than
// schema.ControlRetention is not held (no delivery of its push is left),
// one that ages while held is dropped, and two apps' revokes of the same
// msg id have different keys and both hold.
func TestRevokesAgeOutAndStayPerApp(t *testing.T) {
	const region = "eu"
	broker := testinfra.Kafka(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := pipeline.EnsureTopics(ctx, []string{broker}, pipeline.KafkaSecurity{}, pipeline.RegionTopics(region), 1); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: []string{broker}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	now := time.Now()
	var clock atomic.Int64
	clock.Store(now.UnixNano())
	old := schema.Control{Op: schema.ControlRevoke, Region: region, AppID: "A", MsgID: "m-old", TS: now.Add(-schema.ControlRetention - time.Hour).UnixMilli()}
	a := schema.Control{Op: schema.ControlRevoke, Region: region, AppID: "A", MsgID: "m1", TS: now.UnixMilli()}
	b := schema.Control{Op: schema.ControlRevoke, Region: region, AppID: "B", MsgID: "m1", TS: now.UnixMilli()}
	if a.ControlKey() == b.ControlKey() {
		t.Fatalf("two apps' revokes share the key %q", a.ControlKey())
	}
	publish(t, p, region, old, a, b)
	w, err := control.NewRevokeReader(control.RevokeReaderConfig{Brokers: []string{broker}, Region: region,
		Now: func() time.Time { return time.Unix(0, clock.Load()) }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if w.Len() != 2 {
		t.Fatalf("holding %d revokes, want 2 (the aged one dropped)", w.Len())
	}
	for _, app := range []string{"A", "B"} {
		if _, ok := w.Revoked(&schema.Delivery{AppID: app, MsgID: "m1"}); !ok {
			t.Errorf("app %s's revoke of m1 is not held", app)
		}
	}
	// Later, both age out when the next record arrives.
	clock.Store(now.Add(schema.ControlRetention + 2*time.Hour).UnixNano())
	late := schema.Control{Op: schema.ControlRevoke, Region: region, AppID: "A", MsgID: "m2", TS: now.Add(schema.ControlRetention + 2*time.Hour).UnixMilli()}
	publish(t, p, region, late)
	deadline := time.Now().Add(20 * time.Second)
	for w.Len() != 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if w.Len() != 1 {
		t.Fatalf("holding %d revokes after the retention, want 1", w.Len())
	}
	if _, ok := w.Revoked(&schema.Delivery{AppID: "A", MsgID: "m1"}); ok {
		t.Error("an aged revoke is still held")
	}
}
