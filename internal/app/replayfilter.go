package app

import (
	"context"
	"fmt"

	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/fanout/replayfilter"
)

// fanoutReplay returns fanout's replay check (Config.Seen) and what it is
// told of the ids fanned out (Config.Fanned) over the region's delivery
// index. With fanout.replayFilter on (the default), the check goes through
// a replayfilter.Filter, with prepare extended to start it (built in the
// background; the stage does not wait) and to stop it when the stage ends;
// else every id is checked in ClickHouse and prepare is returned unchanged.
func fanoutReplay(region string, d Deps, prepare func(context.Context) (func(), error)) (
	func(context.Context, string, []string) (map[string]bool, error), func([]string), func(context.Context) (func(), error), error) {
	index := store.NewDeliveryIndex(d.CH, d.Cfg.Database(region))
	rc := d.Cfg.Fanout.ReplayFilter
	if rc.Disabled {
		return index.Existing, nil, prepare, nil
	}
	f, err := replayfilter.New(replayfilter.Config{Index: index, Capacity: rc.Capacity, FalsePositiveRate: rc.FalsePositiveRate,
		Refresh: rc.Refresh, MaxStaleness: rc.MaxStaleness,
		Logger: d.Log.With().Str("region", region).Str("component", "replay-filter").Logger()})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("building fanout's replay filter: %w", err)
	}
	both := func(ctx context.Context) (func(), error) {
		var stop func()
		if prepare != nil {
			var err error
			if stop, err = prepare(ctx); err != nil {
				return nil, err
			}
		}
		f.Start(context.WithoutCancel(ctx))
		return func() {
			_ = f.Close()
			if stop != nil {
				stop()
			}
		}, nil
	}
	return f.Seen, f.Add, both, nil
}
