package pipeline

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestStageBatchLinger publishes two bursts of three records a second
// apart and checks how the stage batches them: with BatchLinger each burst
// is handed over as soon as it stops, without it the first burst waits
// BatchWait and takes the second along.
func TestStageBatchLinger(t *testing.T) {
	for _, tc := range []struct {
		scenario  string
		linger    time.Duration
		batchWait time.Duration
		want      []int
	}{
		{scenario: "linger hands over each burst on its own", linger: 300 * time.Millisecond, batchWait: 20 * time.Second, want: []int{3, 3}},
		{scenario: "without linger the first burst waits for the second", batchWait: 3 * time.Second, want: []int{6}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			var mu sync.Mutex
			var sizes []int
			total := 0
			all := make(chan struct{})
			h := &recorder{out: out, hook: func(_ context.Context, msgs []kafka.Message) error {
				mu.Lock()
				defer mu.Unlock()
				sizes = append(sizes, len(msgs))
				if total += len(msgs); total == 6 {
					close(all)
				}
				return nil
			}}
			cfg := testStageConfig(t, in, group)
			cfg.BatchSize, cfg.BatchWait, cfg.BatchLinger = 100, tc.batchWait, tc.linger
			s, err := NewStage(cfg, h, p)
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- s.Run(runCtx) }()
			// The stage is consuming once a first record went through.
			produceInputs(t, ctx, p, in, 1, 1, "warm-up")
			waitCommitted(t, ctx, group, in)
			mu.Lock()
			sizes, total = nil, 0
			mu.Unlock()
			produceInputs(t, ctx, p, in, 3, 1, "first")
			time.Sleep(time.Second)
			produceInputs(t, ctx, p, in, 3, 1, "second")
			select {
			case <-all:
			case <-ctx.Done():
				t.Fatal("the six records were not handled")
			}
			stop()
			if err := <-done; err != nil {
				t.Fatalf("Run() = %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(sizes) != fmt.Sprint(tc.want) {
				t.Fatalf("batch sizes %v, want %v", sizes, tc.want)
			}
		})
	}
}
