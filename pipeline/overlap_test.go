package pipeline

import (
	"context"
	"errors"
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

// TestInTurnKeepsBatchOrder checks that the InTurn part of concurrently
// handled batches runs in the order the batches were read, even when later
// batches reach it first and when an earlier batch's part fails once.
func TestInTurnKeepsBatchOrder(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	in := testTopic(t, ctx, "in", 1)
	out := testTopic(t, ctx, "out", 1)
	group := "g." + testName(t)
	p := testProducer(t)
	want := produceInputs(t, ctx, p, in, 60, 5, "v")

	var mu sync.Mutex
	var order []int64 // first offset of each batch, as its InTurn part ran
	inflight := 0     // handlers running
	overlapped := false
	failed := map[int64]bool{}
	h := &recorder{out: out, hook: func(ctx context.Context, msgs []kafka.Message) error {
		first := msgs[0].Offset
		mu.Lock()
		inflight++
		overlapped = overlapped || inflight > 1
		mu.Unlock()
		defer func() {
			mu.Lock()
			inflight--
			mu.Unlock()
		}()
		// Earlier batches dawdle, so later ones reach InTurn first.
		time.Sleep(time.Duration(max(0, 60-first)) * time.Millisecond)
		return InTurn(ctx, func() error {
			mu.Lock()
			defer mu.Unlock()
			if first == 20 && !failed[first] {
				// The batch at offset 20 fails its part once: the batches
				// after it must wait for its retry.
				failed[first] = true
				return errors.New("failing once")
			}
			order = append(order, first)
			return nil
		})
	}}
	cfg := testStageConfig(t, in, group)
	cfg.BatchSize = 10
	cfg.BatchWait = time.Second
	cfg.ConcurrentBatches = 3
	cfg.MinRetryBackoff = 10 * time.Millisecond
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
	mu.Lock()
	defer mu.Unlock()
	if !overlapped {
		t.Fatal("no two batches were handled at once: the test did not run them concurrently")
	}
	if !slices.IsSorted(order) || len(order) == 0 || order[0] != 0 {
		t.Fatalf("InTurn parts ran for the batches at offsets %v, want them in order from 0", order)
	}
	if !slices.Contains(order, 20) {
		t.Fatalf("the batch at offset 20 never ran its part after failing once: %v", order)
	}
	if got := values(readTopic(t, ctx, out)); !slices.Equal(got, want) {
		t.Fatalf("outputs = %v, want the inputs in order %v", got, want)
	}
}

func TestInTurnOutsideAStageRunsAtOnce(t *testing.T) {
	ran := false
	if err := InTurn(context.Background(), func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("InTurn outside a stage: ran %v, err %v", ran, err)
	}
	want := errors.New("part failed")
	if err := InTurn(context.Background(), func() error { return want }); !errors.Is(err, want) {
		t.Fatalf("InTurn returned %v, want the part's error", err)
	}
}
