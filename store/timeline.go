package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pushpipe/pushpipe/schema"
)

// TimelineCount is how many distinct events of one type a task has in
// one period of its timeline.
type TimelineCount struct {
	// Start is the period's start (UTC): a multiple of the step since the
	// Unix epoch.
	Start time.Time
	Event schema.EventType
	Count uint64
}

// MaxTimelineRows bounds the rows TaskTimeline returns (periods × event
// types); a step that would need more is refused.
const MaxTimelineRows = 20_000

// TaskTimeline returns the events of task taskID of app appID in database
// db over time: per period of length step (at least a second, whole
// seconds) and event type, the number of distinct event ids, in time then
// event order; periods without events are absent. Each event id is
// counted once, in the period of its earliest row, so the counts of one
// event type add up to the task's funnel figure for it (QueryFunnel counts
// distinct event ids too). A step under a second, or one that yields more
// than MaxTimelineRows rows, is a *schema.ValidationError; another error is
// ClickHouse's, wrapped.
func TaskTimeline(ctx context.Context, conn driver.Conn, db, appID, taskID string, step time.Duration) ([]TimelineCount, error) {
	if step < time.Second || step%time.Second != 0 {
		return nil, invalid(schema.CodeInvalidParam, "a timeline step is whole seconds, at least one (got %s)", step)
	}
	if taskID == "" {
		return nil, invalid(schema.CodeInvalidParam, "give a task id")
	}
	ms := step.Milliseconds()
	rows, err := conn.Query(ctx, "SELECT intDiv(toUnixTimestamp64Milli(first), ?) * ? AS t, event, count() FROM ("+
		"SELECT event_id, any(event) AS event, min(ts) AS first FROM "+db+".events WHERE app_id = ? AND task_id = ? GROUP BY event_id"+
		") GROUP BY t, event ORDER BY t, event LIMIT ?", ms, ms, appID, taskID, MaxTimelineRows+1)
	if err != nil {
		return nil, fmt.Errorf("querying the timeline of task %s: %w", taskID, err)
	}
	defer func() { _ = rows.Close() }()
	var out []TimelineCount
	for rows.Next() {
		var t int64
		var ev string
		var n uint64
		if err := rows.Scan(&t, &ev, &n); err != nil {
			return nil, fmt.Errorf("reading a timeline row of task %s: %w", taskID, err)
		}
		out = append(out, TimelineCount{Start: time.UnixMilli(t).UTC(), Event: schema.EventType(ev), Count: n})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the timeline of task %s: %w", taskID, err)
	}
	if len(out) > MaxTimelineRows {
		return nil, invalid(schema.CodeInvalidParam, "the timeline of task %s by %s has more than %d periods and event types: choose a longer step", taskID, step, MaxTimelineRows)
	}
	return out, nil
}
