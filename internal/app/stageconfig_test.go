package app

import (
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
)

// TestEventsinkBatchesAreItsOwn checks that the eventsink stage takes its
// batch size, wait and linger from the eventsink section and every other
// stage from the stage section; a negative linger is off. Only the sender
// fills the batches of a burst (sender.burstRecords, burstWait).
func TestEventsinkBatchesAreItsOwn(t *testing.T) {
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stage = config.StageConfig{BatchSize: 700, BatchWait: 7 * time.Millisecond, BatchLinger: 2 * time.Millisecond}
	for _, tc := range []struct {
		scenario     string
		kind         Kind
		sinkLinger   time.Duration
		size         int
		wait, linger time.Duration
		burst        int
		burstWait    time.Duration
	}{
		{"eventsink", Eventsink, 30 * time.Millisecond, 30000, 250 * time.Millisecond, 30 * time.Millisecond, 0, 0},
		{"eventsink without linger", Eventsink, -time.Millisecond, 30000, 250 * time.Millisecond, 0, 0, 0},
		{"fanout", Fanout, 30 * time.Millisecond, 700, 7 * time.Millisecond, 2 * time.Millisecond, 0, 0},
		{"sender", Sender, 30 * time.Millisecond, 700, 7 * time.Millisecond, 2 * time.Millisecond, 64, 5 * time.Millisecond},
		{"callbacks", Callbacks, 30 * time.Millisecond, 700, 7 * time.Millisecond, 2 * time.Millisecond, 0, 0},
		{"fanout without a wait", Fanout, 30 * time.Millisecond, 700, pipeline.NoBatchWait, 2 * time.Millisecond, 0, 0},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			cfg.Stage.BatchWait = 7 * time.Millisecond
			if tc.wait == pipeline.NoBatchWait {
				cfg.Stage.BatchWait = -time.Millisecond
			}
			cfg.Eventsink = config.EventsinkConfig{BatchSize: 30000, BatchWait: 250 * time.Millisecond, BatchLinger: tc.sinkLinger}
			sc := stageConfig(string(tc.kind), "sg", pipeline.EventsTopic("sg"), Deps{Cfg: cfg})
			if sc.BatchSize != tc.size || sc.BatchWait != tc.wait || sc.BatchLinger != tc.linger {
				t.Fatalf("batch size %d, wait %s, linger %s; want %d, %s, %s", sc.BatchSize, sc.BatchWait, sc.BatchLinger, tc.size, tc.wait, tc.linger)
			}
			if sc.BurstRecords != tc.burst || sc.BurstWait != tc.burstWait {
				t.Fatalf("burst %d records, wait %s; want %d, %s", sc.BurstRecords, sc.BurstWait, tc.burst, tc.burstWait)
			}
		})
	}
}
