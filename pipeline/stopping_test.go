package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestStopInterruptsAWaitingHandler checks that a handler waiting with
// Sleep gives up as soon as the stage is asked to stop, instead of holding
// the stage for its whole ShutdownTimeout, and that its batch stays
// uncommitted.
func TestStopInterruptsAWaitingHandler(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		records  int
	}{
		{scenario: "handler holding a batch for an hour", records: 5},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			produceInputs(t, ctx, p, in, tc.records, 1, "v")
			entered := make(chan struct{}, 10)
			slept := make(chan error, 10)
			h := &recorder{out: out, hook: func(ctx context.Context, _ []kafka.Message) error {
				entered <- struct{}{}
				err := Sleep(ctx, time.Hour)
				slept <- err
				return err
			}}
			cfg := testStageConfig(t, in, group)
			// Longer than rs.stop waits: Run must not wait for it.
			cfg.ShutdownTimeout = 10 * time.Minute
			rs := startStage(t, cfg, h, p)
			<-entered
			if err := rs.stop(t); err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			if err := <-slept; !errors.Is(err, ErrStopping) {
				t.Fatalf("Sleep returned %v, want ErrStopping", err)
			}
			if c := committedOffsets(t, ctx, group, in); c[0] > 0 {
				t.Fatalf("committed offset %d: the interrupted batch must stay uncommitted", c[0])
			}
			if got := readTopic(t, ctx, out); len(got) != 0 {
				t.Fatalf("%d outputs of the interrupted batch were produced", len(got))
			}
		})
	}
}
