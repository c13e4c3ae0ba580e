package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// ABTestStats gives the scheduler the figures an A/B test is decided on.
// Implementations must be safe for use from the scheduler's goroutine;
// internal/app builds the ClickHouse one.
type ABTestStats interface {
	// Settled returns once every event written to push.events.R before
	// the call is stored (the event sink caught up), or an error.
	Settled(ctx context.Context) error
	// TaskStats returns the statistics of each task id of app over
	// [from, to), as /v1/stats with that task id gives them.
	TaskStats(ctx context.Context, appID string, taskIDs []string, from, to time.Time) (map[string]schema.StatsPoint, error)
}

// errNoABTestStats is returned when an A/B test is due and the scheduler
// has no ABTestStats: the test waits (it is never decided blind).
var errNoABTestStats = errors.New("scheduler: Config.ABTests is nil: A/B tests cannot be decided; configure the scheduler with the region's statistics")

// decideABTest records the decision of the A/B test e holds: once the
// event sink has stored every event written until now, the statistics of
// each variant's task, the winner by the test's metric
// (schema.DecideABTest) and the numbers it was made on, written to the
// schedule before the rest part is published (fire). A decision already
// recorded is never taken again, so a restart sends the rest part with the
// same copy.
func (l *stateLoop) decideABTest(ctx context.Context, e *entry) error {
	st := &e.state
	if l.cfg.ABTests == nil {
		return errNoABTestStats
	}
	req := st.Request
	test := req.ABTest
	testID := req.DeriveTaskID()
	sctx, cancel := context.WithTimeout(ctx, 10*l.cfg.ActionTimeout)
	defer cancel()
	if err := l.cfg.ABTests.Settled(sctx); err != nil {
		return fmt.Errorf("waiting for the event sink before deciding A/B test %s: %w", testID, err)
	}
	now := l.cfg.Clock.Now()
	split := test.Split(testID, req.TargetMsgkey.SortedKeys())
	counts := map[string]int{}
	for _, p := range split {
		counts[p]++
	}
	ids := make([]string, len(test.Variants))
	for i := range test.Variants {
		ids[i] = schema.ABPartTaskID(testID, schema.ABVariantName(i))
	}
	from, to := ABTestRange(st.CreatedAt, now)
	figures, err := l.cfg.ABTests.TaskStats(sctx, st.AppID, ids, from, to)
	if err != nil {
		return fmt.Errorf("reading the statistics of A/B test %s: %w", testID, err)
	}
	stats := make([]schema.ABVariantStats, len(ids))
	for i, id := range ids {
		p := schema.ABVariantName(i)
		stats[i] = schema.ABVariantStats{Part: p, TaskID: id, Targets: counts[p], StatsPoint: figures[id]}
	}
	d := schema.DecideABTest(test, stats, now.UnixMilli())
	st.ABDecision = &d
	if err := l.publish(ctx, e); err != nil {
		st.ABDecision = nil
		return fmt.Errorf("recording the decision of A/B test %s: %w", testID, err)
	}
	l.log.Info().Str("schedule", st.ScheduleID).Str("app", st.AppID).Str("test", testID).Str("winner", d.Winner).
		Str("metric", d.Metric).Str("reason", d.Reason).Msg("A/B test decided")
	return nil
}

// ABTestRange is the range of the statistics of an A/B test accepted at
// createdAt (Unix ms) read at now: from the minute of its acceptance to
// the minute after now (the statistics count whole minutes).
func ABTestRange(createdAt int64, now time.Time) (from, to time.Time) {
	return time.UnixMilli(createdAt).UTC().Truncate(time.Minute), now.UTC().Truncate(time.Minute).Add(time.Minute)
}

// abTestWaits is what fire returns when an A/B test could not be decided:
// err, retried after a backoff, or nil (the test waits, logged) when the
// scheduler has no statistics at all, so that other schedules still fire.
func abTestWaits(l *stateLoop, st *schema.Schedule, err error) error {
	if errors.Is(err, errNoABTestStats) {
		l.log.Error().Err(err).Str("schedule", st.ScheduleID).Msg("A/B test due but not decided")
		return nil
	}
	return err
}
