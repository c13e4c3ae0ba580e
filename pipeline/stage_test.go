package pipeline

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

// TestStageProducesThenCommits checks the main loop: every record's output
// is written, offsets are committed to the end, outputs keep the key's
// partition, and the metrics count what happened.
func TestStageProducesThenCommits(t *testing.T) {
	tests := []struct {
		scenario  string
		records   int
		batchSize int
	}{
		{scenario: "records fill several batches", records: 230, batchSize: 50},
		{scenario: "one record per batch", records: 20, batchSize: 1},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 3)
			out := testTopic(t, ctx, "out", 4)
			group := "g." + testName(t)
			p := testProducer(t)
			want := produceInputs(t, ctx, p, in, tt.records, 7, "v")

			reg := prometheus.NewRegistry()
			cfg := testStageConfig(t, in, group)
			cfg.BatchSize = tt.batchSize
			cfg.Metrics = NewMetrics(reg, cfg.Name, cfg.Region)
			h := &recorder{out: out}
			rs := startStage(t, cfg, h, p)
			waitCommitted(t, ctx, group, in)

			got := readTopic(t, ctx, out)
			if !slices.Equal(values(got), want) {
				t.Fatalf("outputs = %d records, want %d: %v", len(got), len(want), values(got))
			}
			partOfKey := map[string]int{}
			for _, m := range got {
				if p, ok := partOfKey[string(m.Key)]; ok && p != m.Partition {
					t.Fatalf("key %s written to partitions %d and %d", m.Key, p, m.Partition)
				}
				partOfKey[string(m.Key)] = m.Partition
			}
			if err := rs.stop(t); err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			m := cfg.Metrics
			for name, c := range map[string]prometheus.Metric{"consumed": m.consumed, "produced": m.produced, "committed": m.committed} {
				if v := metricValue(t, c); v != float64(tt.records) {
					t.Errorf("%s counter = %v, want %d", name, v, tt.records)
				}
			}
			if n := metricValue(t, m.batchSize); n < 1 {
				t.Errorf("batch size histogram has %v samples, want at least 1", n)
			}
			if n := metricValue(t, m.handleSeconds); n < 1 {
				t.Errorf("handle latency histogram has %v samples, want at least 1", n)
			}
			if v := metricValue(t, m.rebalances); v < 1 {
				t.Errorf("rebalances = %v, want at least the first join", v)
			}
		})
	}
}

// TestStageRestart checks at-least-once across restarts of a stage with the
// same group: committed records are not handled again, uncommitted ones
// are.
func TestStageRestart(t *testing.T) {
	tests := []struct {
		scenario string
		// firstHook runs in the first stage's handler; blocking makes the
		// batch miss the shutdown deadline.
		blockFirst bool
		// wantRehandled is whether the second stage sees the first batch
		// again.
		wantRehandled bool
	}{
		{scenario: "committed records are not handled again", blockFirst: false, wantRehandled: false},
		{scenario: "a batch cut off by the shutdown deadline is handled again", blockFirst: true, wantRehandled: true},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			first := produceInputs(t, ctx, p, in, 10, 3, "first")

			cfg := testStageConfig(t, in, group)
			cfg.ShutdownTimeout = 300 * time.Millisecond
			entered := make(chan struct{}, 100)
			h1 := &recorder{out: out}
			if tt.blockFirst {
				h1.hook = func(ctx context.Context, _ []kafka.Message) error {
					entered <- struct{}{}
					<-ctx.Done() // only the shutdown deadline ends this
					return ctx.Err()
				}
			}
			rs := startStage(t, cfg, h1, p)
			if tt.blockFirst {
				select {
				case <-entered:
				case <-ctx.Done():
					t.Fatal("handler never called")
				}
			} else {
				waitCommitted(t, ctx, group, in)
			}
			if err := rs.stop(t); err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			committed := committedOffsets(t, ctx, group, in)[0]
			if tt.blockFirst && committed >= 0 {
				t.Fatalf("committed offset after a cut-off batch = %d, want none", committed)
			}

			second := produceInputs(t, ctx, p, in, 5, 3, "second")
			h2 := &recorder{out: out}
			rs2 := startStage(t, cfg, h2, p)
			waitCommitted(t, ctx, group, in)
			if err := rs2.stop(t); err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			want := second
			if tt.wantRehandled {
				want = append(append([]string(nil), first...), second...)
			}
			slices.Sort(want)
			if got := values(h2.seen()); !slices.Equal(got, want) {
				t.Fatalf("second stage handled %v, want %v", got, want)
			}
		})
	}
}

// TestStageGracefulShutdown cancels a stage while a batch is being handled
// and checks that the batch is still produced and committed and Run
// returns nil.
func TestStageGracefulShutdown(t *testing.T) {
	tests := []struct {
		scenario string
		records  int
	}{
		{scenario: "cancel while the handler works on a batch", records: 40},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			produceInputs(t, ctx, p, in, tt.records, 3, "v")

			entered := make(chan struct{}, 100)
			release := make(chan struct{})
			h := &recorder{out: out, hook: func(context.Context, []kafka.Message) error {
				entered <- struct{}{}
				<-release
				return nil
			}}
			cfg := testStageConfig(t, in, group)
			cfg.BatchSize = 10
			rs := startStage(t, cfg, h, p)
			if rs.stage.Ready(context.Background()) != nil {
				deadline := time.Now().Add(5 * time.Second)
				for rs.stage.Ready(context.Background()) != nil && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if rs.stage.Ready(context.Background()) != nil {
				t.Fatal("stage not ready while running")
			}
			<-entered
			stopped := make(chan error, 1)
			go func() { stopped <- rs.stop(t) }()
			time.Sleep(50 * time.Millisecond) // cancellation reaches the stage while the batch is in flight
			close(release)
			var err error
			select {
			case err = <-stopped:
			case <-ctx.Done():
				t.Fatal("Run did not return")
			}
			if err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			if rs.stage.Ready(context.Background()) == nil {
				t.Error("stage still ready after Run returned")
			}
			handled := h.seen()
			if len(handled) == 0 || len(handled) >= tt.records {
				t.Fatalf("handled %d records, want the in-flight batch only", len(handled))
			}
			last := handled[len(handled)-1].Offset
			if c := committedOffsets(t, ctx, group, in)[0]; c != last+1 {
				t.Fatalf("committed offset = %d, want %d (just past the in-flight batch)", c, last+1)
			}
			if got := values(readTopic(t, ctx, out)); !slices.Equal(got, values(handled)) {
				t.Fatalf("outputs = %v, want the handled records %v", got, values(handled))
			}
		})
	}
}

func TestStageRunTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in := testTopic(t, ctx, "in", 1)
	s, err := NewStage(testStageConfig(t, in, "g."+testName(t)), &recorder{out: in}, testProducer(t))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	for s.Ready(context.Background()) != nil {
		select {
		case <-ctx.Done():
			t.Fatal("stage never became ready")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := s.Run(ctx); err == nil || !strings.Contains(err.Error(), "called twice") {
		t.Fatalf("second Run() = %v, want an error", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v", err)
	}
}

// TestStageWaitsForInputTopic starts a stage before its input topic exists:
// it must wait (not ready) and consume once the topic is created.
func TestStageWaitsForInputTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := fmt.Sprintf("test.%s.in.%s", testName(t), testRegion)
	out := testTopic(t, ctx, "out", 1)
	p := testProducer(t)
	cfg := testStageConfig(t, in, "g."+testName(t))
	h := &recorder{out: out}
	rs := startStage(t, cfg, h, p)
	time.Sleep(time.Second)
	if rs.stage.Ready(context.Background()) == nil {
		t.Fatal("stage ready although its input topic does not exist")
	}
	if err := EnsureTopics(ctx, testBrokers, KafkaSecurity{}, []TopicSpec{{Name: in}}, 2); err != nil {
		t.Fatal(err)
	}
	want := produceInputs(t, ctx, p, in, 10, 3, "v")
	waitCommitted(t, ctx, cfg.GroupID, in)
	if rs.stage.Ready(context.Background()) != nil {
		t.Error("stage not ready after consuming")
	}
	if err := rs.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if got := values(h.seen()); !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
}

// TestStageReplicasSharePartitions runs two replicas in one group and
// stops one: the other takes over its partitions.
func TestStageReplicasSharePartitions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	in := testTopic(t, ctx, "in", 4)
	out := testTopic(t, ctx, "out", 4)
	group := "g." + testName(t)
	p := testProducer(t)
	cfg := testStageConfig(t, in, group)
	ha, hb := &recorder{out: out}, &recorder{out: out}
	a := startStage(t, cfg, ha, p)
	b := startStage(t, cfg, hb, p)
	for a.stage.Ready(context.Background()) != nil || b.stage.Ready(context.Background()) != nil {
		if !Pause(ctx, 20*time.Millisecond) {
			t.Fatal("replicas never became ready")
		}
	}
	time.Sleep(2 * time.Second) // let both join one generation
	first := produceInputs(t, ctx, p, in, 40, 13, "first")
	waitCommitted(t, ctx, group, in)
	if len(ha.seen()) == 0 || len(hb.seen()) == 0 {
		t.Errorf("replica A handled %d, B handled %d: want both to share the partitions", len(ha.seen()), len(hb.seen()))
	}
	handled := map[string]bool{}
	for _, m := range append(ha.seen(), hb.seen()...) {
		handled[string(m.Value)] = true
	}
	for _, v := range first {
		if !handled[v] {
			t.Fatalf("record %s never handled", v)
		}
	}

	if err := a.stop(t); err != nil {
		t.Fatalf("replica A Run() = %v", err)
	}
	stopped := time.Now()
	before := len(hb.seen())
	second := produceInputs(t, ctx, p, in, 40, 13, "second")
	waitCommitted(t, ctx, group, in)
	t.Logf("replica B handled the records after A left within %s", time.Since(stopped).Round(time.Millisecond))
	got := map[string]bool{}
	for _, m := range hb.seen()[before:] {
		got[string(m.Value)] = true
	}
	for _, v := range second {
		if !got[v] {
			t.Fatalf("record %s not handled by the remaining replica", v)
		}
	}
}
