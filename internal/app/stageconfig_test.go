package app

import (
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
)

// TestEventsinkBatchesAreItsOwn checks that the eventsink stage takes its
// batch size and wait from the eventsink section and every other stage
// from the stage section, whose linger applies to all.
func TestEventsinkBatchesAreItsOwn(t *testing.T) {
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Stage = config.StageConfig{BatchSize: 700, BatchWait: 7 * time.Millisecond, BatchLinger: 2 * time.Millisecond}
	cfg.Eventsink = config.EventsinkConfig{BatchSize: 30000, BatchWait: 250 * time.Millisecond}
	d := Deps{Cfg: cfg}
	for _, tc := range []struct {
		kind Kind
		size int
		wait time.Duration
	}{
		{Eventsink, 30000, 250 * time.Millisecond},
		{Fanout, 700, 7 * time.Millisecond},
		{Sender, 700, 7 * time.Millisecond},
		{Callbacks, 700, 7 * time.Millisecond},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			sc := stageConfig(string(tc.kind), "sg", pipeline.EventsTopic("sg"), d)
			if sc.BatchSize != tc.size || sc.BatchWait != tc.wait || sc.BatchLinger != 2*time.Millisecond {
				t.Fatalf("batch size %d, wait %s, linger %s; want %d, %s, 2ms", sc.BatchSize, sc.BatchWait, sc.BatchLinger, tc.size, tc.wait)
			}
		})
	}
}
