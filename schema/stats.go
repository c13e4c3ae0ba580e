package schema

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Granularities of a statistics series.
const (
	GranularityMinute = "minute"
	GranularityHour   = "hour"
	GranularityDay    = "day"
)

// MaxStatsRange is the longest range a statistics query may cover (mPaaS
// §6.1); minute and hour series are limited to one day.
const MaxStatsRange = 90 * 24 * time.Hour

// StatsQuery asks for the core push metrics of an app over [From, To),
// optionally filtered. Empty filters do not filter.
type StatsQuery struct {
	AppID       string
	From, To    time.Time
	Granularity string
	Platform    string
	Channel     string
	PushType    string
	TaskID      string
}

// Validate says what is wrong with the query.
func (q StatsQuery) Validate() error {
	switch {
	case q.AppID == "":
		return invalid(CodeNeedAppIDWorkspaceID, "appId is empty")
	case !q.To.After(q.From):
		return invalid(CodeInvalidParam, "the range end %s is not after its start %s", q.To.Format(time.RFC3339), q.From.Format(time.RFC3339))
	case q.To.Sub(q.From) > MaxStatsRange:
		return invalid(CodeInvalidParam, "the range covers %s; at most 90 days are allowed", q.To.Sub(q.From).Round(time.Hour))
	}
	switch q.Granularity {
	case GranularityDay:
	case GranularityMinute, GranularityHour:
		if q.To.Sub(q.From) > 24*time.Hour {
			return invalid(CodeInvalidParam, "%s granularity is only available for ranges of at most one day; use day", q.Granularity)
		}
	default:
		return invalid(CodeInvalidParam, "granularity %q is not minute, hour or day", q.Granularity)
	}
	return nil
}

// StatsPoint holds the core metrics (mPaaS §6.1) of one period: Pushed
// counts deliveries the backend emitted (valid), Succeeded those a vendor
// or the self-built channel accepted (acked), Arrived, Opened and Ignored
// come from receipts and the client SDK. Rates are fractions (0..1); a
// rate whose denominator is 0 is 0.
type StatsPoint struct {
	Time        time.Time `json:"time"`
	Pushed      uint64    `json:"pushed"`
	Succeeded   uint64    `json:"succeeded"`
	Arrived     uint64    `json:"arrived"`
	Opened      uint64    `json:"opened"`
	Ignored     uint64    `json:"ignored"`
	ArrivalRate float64   `json:"arrivalRate"`
	OpenRate    float64   `json:"openRate"`
	IgnoreRate  float64   `json:"ignoreRate"`
}

func (p *StatsPoint) add(event string, n uint64) {
	switch EventType(event) {
	case EventValid:
		p.Pushed += n
	case EventAcked:
		p.Succeeded += n
	case EventArrived:
		p.Arrived += n
	case EventOpened:
		p.Opened += n
	case EventIgnored:
		p.Ignored += n
	}
}

func (p *StatsPoint) rates() {
	ratio := func(a, b uint64) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	p.ArrivalRate, p.OpenRate, p.IgnoreRate = ratio(p.Arrived, p.Pushed), ratio(p.Opened, p.Arrived), ratio(p.Ignored, p.Arrived)
}

// StatsResult is the total over the range and the series per period.
type StatsResult struct {
	Total  StatsPoint   `json:"total"`
	Series []StatsPoint `json:"series"`
}

// QueryStats answers q from the per-minute aggregates, counting distinct
// event ids, so replayed events are never counted twice.
func QueryStats(ctx context.Context, conn driver.Conn, db string, q StatsQuery) (*StatsResult, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	bucket := map[string]string{GranularityMinute: "minute", GranularityHour: "toStartOfHour(minute)", GranularityDay: "toStartOfDay(minute)"}[q.Granularity]
	where := []string{"app_id = ?", "minute >= ?", "minute < ?", "event IN ('valid','acked','arrived','opened','ignored')"}
	args := []any{q.AppID, q.From.UTC(), q.To.UTC()}
	for col, v := range map[string]string{"platform": q.Platform, "channel": q.Channel, "push_type": q.PushType, "task_id": q.TaskID} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	rows, err := conn.Query(ctx, "SELECT "+bucket+" AS t, event, uniqExactMerge(events) FROM "+db+".events_minute WHERE "+
		strings.Join(where, " AND ")+" GROUP BY t, event ORDER BY t", args...)
	if err != nil {
		return nil, fmt.Errorf("querying statistics of app %s: %w", q.AppID, err)
	}
	defer rows.Close()
	res := &StatsResult{}
	for rows.Next() {
		var t time.Time
		var ev string
		var n uint64
		if err := rows.Scan(&t, &ev, &n); err != nil {
			return nil, fmt.Errorf("reading statistics row: %w", err)
		}
		if len(res.Series) == 0 || !res.Series[len(res.Series)-1].Time.Equal(t) {
			res.Series = append(res.Series, StatsPoint{Time: t})
		}
		res.Series[len(res.Series)-1].add(ev, n)
		res.Total.add(ev, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading statistics of app %s: %w", q.AppID, err)
	}
	for i := range res.Series {
		res.Series[i].rates()
	}
	res.Total.rates()
	return res, nil
}

// Funnel is the per-message or per-task funnel (MiPush 数据漏斗): planned
// targets, invalid devices, filtered, valid (deliveries), arrived, opened.
type Funnel struct {
	Planned       uint64 `json:"planned"`
	InvalidDevice uint64 `json:"invalidDevice"`
	Filtered      uint64 `json:"filtered"`
	Valid         uint64 `json:"valid"`
	Acked         uint64 `json:"acked"`
	Arrived       uint64 `json:"arrived"`
	Opened        uint64 `json:"opened"`
}

// QueryFunnel returns the funnel of a task (msgID empty) or of one message.
func QueryFunnel(ctx context.Context, conn driver.Conn, db, appID, taskID, msgID string) (*Funnel, error) {
	col, val := "task_id", taskID
	if msgID != "" {
		col, val = "msg_id", msgID
	}
	if val == "" {
		return nil, invalid(CodeInvalidParam, "give a task id or a msg id")
	}
	rows, err := conn.Query(ctx, "SELECT event, uniqExact(event_id) FROM "+db+".events WHERE app_id = ? AND "+col+" = ? GROUP BY event", appID, val)
	if err != nil {
		return nil, fmt.Errorf("querying the funnel of %s %s: %w", col, val, err)
	}
	defer rows.Close()
	f := &Funnel{}
	for rows.Next() {
		var ev string
		var n uint64
		if err := rows.Scan(&ev, &n); err != nil {
			return nil, fmt.Errorf("reading funnel row: %w", err)
		}
		switch EventType(ev) {
		case EventPlanned:
			f.Planned = n
		case EventInvalidDevice:
			f.InvalidDevice = n
		case EventFiltered:
			f.Filtered = n
		case EventValid:
			f.Valid = n
		case EventAcked:
			f.Acked = n
		case EventArrived:
			f.Arrived = n
		case EventOpened:
			f.Opened = n
		}
	}
	return f, rows.Err()
}

// TaskSummary is one task as in the mPaaS task list and details (§7.2.8).
// TaskName and Template come from the task's accepted event: empty when
// that event is outside the range asked for (or predates the name column).
type TaskSummary struct {
	TaskID         string        `json:"taskId"`
	TaskName       string        `json:"taskName"`
	Template       string        `json:"template,omitempty"`
	PushType       string        `json:"pushType"`
	PushNum        uint64        `json:"pushNum"`
	PushSuccessNum uint64        `json:"pushSuccessNum"`
	PushArrivalNum uint64        `json:"pushArrivalNum"`
	Start          time.Time     `json:"start"`
	End            time.Time     `json:"end"`
	Duration       time.Duration `json:"duration"`
}

// TaskQuery asks for the tasks of an app with events in [From, To), at
// most Limit of them; TaskID and TaskName, when set, keep only the tasks
// with that id or that exact name.
type TaskQuery struct {
	AppID    string
	From, To time.Time
	TaskID   string
	TaskName string
	Limit    int
}

// ListTasks returns the tasks q asks for, newest first.
func ListTasks(ctx context.Context, conn driver.Conn, db string, q TaskQuery) ([]TaskSummary, error) {
	// Bound with millisecond precision: a time.Time parameter is sent as
	// whole seconds, which would drop events of the range's last second.
	where, args := "app_id = ? AND ts >= fromUnixTimestamp64Milli(?) AND ts < fromUnixTimestamp64Milli(?)", []any{q.AppID, q.From.UnixMilli(), q.To.UnixMilli()}
	if q.TaskID != "" {
		where, args = where+" AND task_id = ?", append(args, q.TaskID)
	}
	having := ""
	if q.TaskName != "" {
		having, args = " HAVING name = ?", append(args, q.TaskName)
	}
	rows, err := conn.Query(ctx, `SELECT task_id, anyIf(task_name, event = 'accepted') AS name, anyIf(template, event = 'accepted'), any(push_type),
		uniqExactIf(event_id, event = 'valid'), uniqExactIf(event_id, event = 'acked'), uniqExactIf(event_id, event = 'arrived'),
		min(ts), max(ts)
		FROM `+db+`.events WHERE `+where+` AND task_id != '' GROUP BY task_id`+having+` ORDER BY min(ts) DESC LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, fmt.Errorf("listing tasks of app %s: %w", q.AppID, err)
	}
	defer rows.Close()
	var out []TaskSummary
	for rows.Next() {
		var t TaskSummary
		if err := rows.Scan(&t.TaskID, &t.TaskName, &t.Template, &t.PushType, &t.PushNum, &t.PushSuccessNum, &t.PushArrivalNum, &t.Start, &t.End); err != nil {
			return nil, fmt.Errorf("reading task row: %w", err)
		}
		t.Duration = t.End.Sub(t.Start)
		out = append(out, t)
	}
	return out, rows.Err()
}
