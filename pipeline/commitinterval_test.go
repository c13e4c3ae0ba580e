package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestStageCommitInterval checks the periodic commits of a stage with a
// CommitInterval: the offsets of handled batches reach the broker at the
// interval, and, with an interval far longer than the test, when the
// stage stops and when a rebalance revokes its partitions, so that nothing
// committed-for-good is handled twice.
func TestStageCommitInterval(t *testing.T) {
	tests := []struct {
		scenario string
		interval time.Duration
		// then is what happens once the records are handled: "wait" for
		// the periodic commit, "stop" the stage, or "join" a second
		// replica to the group.
		then string
	}{
		{scenario: "offsets are committed at the interval", interval: 100 * time.Millisecond, then: "wait"},
		{scenario: "the last offsets are committed when the stage stops", interval: 10 * time.Second, then: "stop"},
		{scenario: "the offsets are committed when a rebalance revokes the partitions", interval: 10 * time.Second, then: "join"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 4)
			out := testTopic(t, ctx, "out", 4)
			group := "g." + testName(t)
			p := testProducer(t)
			first := produceInputs(t, ctx, p, in, 40, 13, "first")

			cfg := testStageConfig(t, in, group)
			cfg.CommitInterval = tt.interval
			cfg.Metrics = NewMetrics(prometheus.NewRegistry(), cfg.Name, cfg.Region)
			ha := &recorder{out: out}
			a := startStage(t, cfg, ha, p)
			// Every batch's outputs were acknowledged and its offsets
			// handed to the periodic commit.
			for metricValue(t, cfg.Metrics.committed) < float64(len(first)) {
				if !Pause(ctx, 20*time.Millisecond) {
					t.Fatalf("%v of %d records handed to the commit", metricValue(t, cfg.Metrics.committed), len(first))
				}
			}

			switch tt.then {
			case "wait":
				waitCommitted(t, ctx, group, in)
			case "stop":
				if err := a.stop(t); err != nil {
					t.Fatalf("Run() = %v, want nil", err)
				}
				end, got := endOffsets(t, ctx, in), committedOffsets(t, ctx, group, in)
				for part, e := range end {
					if got[part] != e {
						t.Fatalf("committed offsets after Run returned = %v, want the end offsets %v", got, end)
					}
				}
			case "join":
				cfgB := cfg
				cfgB.Metrics = nil
				hb := &recorder{out: out}
				startStage(t, cfgB, hb, p)
				// Records keep coming until the second replica handles
				// some: it then owns partitions the first one had.
				for i := 0; len(hb.seen()) == 0; i++ {
					produceInputs(t, ctx, p, in, 13, 13, "second-"+string(rune('a'+i%26)))
					if !Pause(ctx, 200*time.Millisecond) {
						t.Fatal("the second replica never handled a record")
					}
				}
				for _, v := range values(hb.seen()) {
					for _, f := range first {
						if v == f {
							t.Fatalf("the second replica handled %s again: the first replica's offsets were not committed when its partitions were revoked", v)
						}
					}
				}
			}
			if got := len(ha.seen()); got < len(first) {
				t.Fatalf("first replica handled %d records, want at least %d", got, len(first))
			}
		})
	}
}
