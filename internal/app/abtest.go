package app

import (
	"context"
	"time"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/scheduler"
)

// chABTestStats is the scheduler's scheduler.ABTestStats of one region:
// the event sink's catch-up and the region's statistics in ClickHouse.
type chABTestStats struct {
	d      Deps
	region string
}

// abTestStats returns the statistics A/B tests of region are decided on,
// or nil without ClickHouse (only in tests: every scheduler process
// connects to ClickHouse, Kind.NeedsClickHouse).
func abTestStats(d Deps, region string) scheduler.ABTestStats {
	if d.CH == nil {
		return nil
	}
	return chABTestStats{d: d, region: region}
}

// Settled returns once the event sink of the region has stored every
// event written to push.events.R before the call.
func (s chABTestStats) Settled(ctx context.Context) error { return eventsStored(s.d, s.region)(ctx) }

// TaskStats returns the statistics of each task (store.TaskStats).
func (s chABTestStats) TaskStats(ctx context.Context, appID string, taskIDs []string, from, to time.Time) (map[string]schema.StatsPoint, error) {
	return store.TaskStats(ctx, s.d.CH, s.d.Cfg.Database(s.region), appID, taskIDs, from, to)
}
