package pipeline

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestStageHandlesNextBatchWhileDelivering checks that the stage handles
// the next batch while the previous one is still being committed, and that
// the outputs and commits still follow the order of the batches.
func TestStageHandlesNextBatchWhileDelivering(t *testing.T) {
	for _, tc := range []struct {
		scenario  string
		records   int
		batchSize int
	}{
		{scenario: "three batches on one partition", records: 30, batchSize: 10},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			want := produceInputs(t, ctx, p, in, tc.records, 5, "v")

			// Every record is produced at once, so the first fetch fills
			// a whole batch and the second batch is ready behind it.
			secondHandled := make(chan struct{})
			var once sync.Once
			var mu sync.Mutex
			calls := 0
			h := &recorder{out: out, hook: func(context.Context, []kafka.Message) error {
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				if n == 2 {
					once.Do(func() { close(secondHandled) })
				}
				return nil
			}}
			cfg := testStageConfig(t, in, group)
			cfg.BatchSize = tc.batchSize
			cfg.BatchWait = time.Second
			s, err := NewStage(cfg, h, p)
			if err != nil {
				t.Fatal(err)
			}
			overlapped := make(chan bool, 1)
			first := true
			s.beforeCommit = func([]kafka.Message) {
				if !first {
					return
				}
				first = false
				// The first batch is produced but not committed: the
				// second must be handled meanwhile.
				select {
				case <-secondHandled:
					overlapped <- true
				case <-time.After(10 * time.Second):
					overlapped <- false
				}
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- s.Run(runCtx) }()
			if !<-overlapped {
				t.Fatal("the second batch was not handled while the first was waiting to be committed")
			}
			waitCommitted(t, ctx, group, in)
			stop()
			if err := <-done; err != nil {
				t.Fatalf("Run() = %v", err)
			}
			if got := values(readTopic(t, ctx, out)); !slices.Equal(got, want) {
				t.Fatalf("outputs = %v, want the inputs in order %v", got, want)
			}
		})
	}
}

// TestStageHandlesBatchesConcurrently checks that with ConcurrentBatches
// the stage handles later batches while an earlier one still waits in the
// handler (for its slowest vendor answer), and that the outputs and
// commits still follow the order of the batches.
func TestStageHandlesBatchesConcurrently(t *testing.T) {
	for _, tc := range []struct {
		scenario   string
		concurrent int
		records    int
		batchSize  int
	}{
		{scenario: "two batches at once on one partition", concurrent: 2, records: 40, batchSize: 10},
		{scenario: "three batches at once on one partition", concurrent: 3, records: 60, batchSize: 10},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			want := produceInputs(t, ctx, p, in, tc.records, 5, "v")

			// The first batch waits in the handler until the next
			// concurrent-1 batches were handled.
			others := make(chan struct{}, tc.records)
			var mu sync.Mutex
			calls := 0
			h := &recorder{out: out, hook: func(ctx context.Context, _ []kafka.Message) error {
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				if n > 1 {
					others <- struct{}{}
					return nil
				}
				for range tc.concurrent - 1 {
					select {
					case <-others:
					case <-time.After(10 * time.Second):
						t.Errorf("the first batch waited 10s in the handler and fewer than %d later batches were handled meanwhile", tc.concurrent-1)
						return nil
					}
				}
				return nil
			}}
			cfg := testStageConfig(t, in, group)
			cfg.BatchSize = tc.batchSize
			cfg.BatchWait = time.Second
			cfg.ConcurrentBatches = tc.concurrent
			s, err := NewStage(cfg, h, p)
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- s.Run(runCtx) }()
			waitCommitted(t, ctx, group, in)
			stop()
			if err := <-done; err != nil {
				t.Fatalf("Run() = %v", err)
			}
			if got := values(readTopic(t, ctx, out)); !slices.Equal(got, want) {
				t.Fatalf("outputs = %v, want the inputs in order %v", got, want)
			}
		})
	}
}
