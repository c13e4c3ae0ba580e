package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/pushpipe/pushpipe/schema"
)

// QueryStats answers q from the per-minute aggregates (events_minute,
// never the events table), counting distinct event ids, so replayed
// events are never counted twice. An invalid q gives a *schema.ValidationError.
func QueryStats(ctx context.Context, conn driver.Conn, db string, q schema.StatsQuery) (*schema.StatsResult, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	bucket := map[string]string{schema.GranularityMinute: "minute", schema.GranularityHour: "toStartOfHour(minute)", schema.GranularityDay: "toStartOfDay(minute)"}[q.Granularity]
	where := []string{"app_id = ?", "minute >= ?", "minute < ?", "event IN ('valid','invalid_device','acked','arrived','opened','ignored')"}
	args := []any{q.AppID, q.From.UTC(), q.To.UTC()}
	for col, v := range map[string]string{"platform": q.Platform, "channel": q.Channel, "push_type": q.PushType, "task_id": q.TaskID} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	if len(q.AppVersions) > 0 {
		where, args = append(where, "app_version IN (?)"), append(args, q.AppVersions)
	}
	rows, err := conn.Query(ctx, "SELECT "+bucket+" AS t, event, uniqExactMerge(events) FROM "+db+".events_minute WHERE "+
		strings.Join(where, " AND ")+" GROUP BY t, event ORDER BY t", args...)
	if err != nil {
		return nil, fmt.Errorf("querying statistics of app %s: %w", q.AppID, err)
	}
	defer func() { _ = rows.Close() }()
	res := &schema.StatsResult{}
	for rows.Next() {
		var t time.Time
		var ev string
		var n uint64
		if err := rows.Scan(&t, &ev, &n); err != nil {
			return nil, fmt.Errorf("reading statistics row: %w", err)
		}
		if len(res.Series) == 0 || !res.Series[len(res.Series)-1].Time.Equal(t) {
			res.Series = append(res.Series, schema.StatsPoint{Time: t})
		}
		res.Series[len(res.Series)-1].Add(schema.EventType(ev), n)
		res.Total.Add(schema.EventType(ev), n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading statistics of app %s: %w", q.AppID, err)
	}
	for i := range res.Series {
		res.Series[i].SetRates()
	}
	res.Total.SetRates()
	return res, nil
}

// QueryFunnel returns the funnel of a task (msgID empty) or of one message.
func QueryFunnel(ctx context.Context, conn driver.Conn, db, appID, taskID, msgID string) (*schema.Funnel, error) {
	col, val := "task_id", taskID
	if msgID != "" {
		col, val = "msg_id", msgID
	}
	if val == "" {
		return nil, invalid(schema.CodeInvalidParam, "give a task id or a msg id")
	}
	rows, err := conn.Query(ctx, "SELECT event, uniqExact(event_id) FROM "+db+".events WHERE app_id = ? AND "+col+" = ? GROUP BY event", appID, val)
	if err != nil {
		return nil, fmt.Errorf("querying the funnel of %s %s: %w", col, val, err)
	}
	defer func() { _ = rows.Close() }()
	f := &schema.Funnel{}
	for rows.Next() {
		var ev string
		var n uint64
		if err := rows.Scan(&ev, &n); err != nil {
			return nil, fmt.Errorf("reading funnel row: %w", err)
		}
		switch schema.EventType(ev) {
		case schema.EventPlanned:
			f.Planned = n
		case schema.EventInvalidDevice:
			f.InvalidDevice = n
		case schema.EventFiltered:
			f.Filtered = n
		case schema.EventValid:
			f.Valid = n
		case schema.EventAcked:
			f.Acked = n
		case schema.EventArrived:
			f.Arrived = n
		case schema.EventOpened:
			f.Opened = n
		}
	}
	return f, rows.Err()
}

// ListTasks returns the tasks q asks for, newest first. An invalid app
// version filter gives a *schema.ValidationError.
func ListTasks(ctx context.Context, conn driver.Conn, db string, q schema.TaskQuery) ([]schema.TaskSummary, error) {
	if err := schema.ValidateAppVersions(q.AppVersions); err != nil {
		return nil, err
	}
	// Only the events of the asked versions are counted; the ? of each
	// version condition takes the versions in the order they appear.
	version, vargs := "1", []any{}
	if len(q.AppVersions) > 0 {
		version, vargs = "app_version IN (?)", []any{q.AppVersions}
	}
	var args []any
	count := func(events string) string {
		args = append(args, vargs...)
		return "uniqExactIf(event_id, event IN (" + events + ") AND " + version + ")"
	}
	cols := "task_id, anyIf(task_name, event = 'accepted') AS name, anyIf(template, event = 'accepted'), any(push_type), " +
		count("'valid','invalid_device'") + ", " + count("'acked'") + ", " + count("'arrived'") + ", min(ts), max(ts), " +
		"maxIf(startsWith(status_desc, ?), event = 'accepted')"
	args = append(args, schema.AudienceEmptyDesc)
	// Bound with millisecond precision: a time.Time parameter is sent as
	// whole seconds, which would drop events of the range's last second.
	where := "app_id = ? AND ts >= fromUnixTimestamp64Milli(?) AND ts < fromUnixTimestamp64Milli(?)"
	args = append(args, q.AppID, q.From.UnixMilli(), q.To.UnixMilli())
	if q.TaskID != "" {
		where, args = where+" AND task_id = ?", append(args, q.TaskID)
	}
	having := []string{}
	if q.TaskName != "" {
		having, args = append(having, "name = ?"), append(args, q.TaskName)
	}
	if len(q.AppVersions) > 0 {
		having, args = append(having, "countIf("+version+") > 0"), append(args, vargs...)
	}
	sql := "SELECT " + cols + " FROM " + db + ".events WHERE " + where + " AND task_id != '' GROUP BY task_id"
	if len(having) > 0 {
		sql += " HAVING " + strings.Join(having, " AND ")
	}
	rows, err := conn.Query(ctx, sql+" ORDER BY min(ts) DESC LIMIT ?", append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("listing tasks of app %s: %w", q.AppID, err)
	}
	defer func() { _ = rows.Close() }()
	var out []schema.TaskSummary
	for rows.Next() {
		var t schema.TaskSummary
		var empty uint8
		if err := rows.Scan(&t.TaskID, &t.TaskName, &t.Template, &t.PushType, &t.PushNum, &t.PushSuccessNum, &t.PushArrivalNum, &t.Start, &t.End, &empty); err != nil {
			return nil, fmt.Errorf("reading task row: %w", err)
		}
		t.Duration = t.End.Sub(t.Start)
		t.AudienceEmpty = empty == 1
		out = append(out, t)
	}
	return out, rows.Err()
}
