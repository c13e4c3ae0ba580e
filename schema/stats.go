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

// MaxStatsAppVersions is how many app versions one statistics or task
// query may name.
const MaxStatsAppVersions = 20

// StatsQuery asks for the core push metrics of an app over [From, To),
// optionally filtered. Empty filters do not filter. AppVersions keeps the
// events of devices reporting one of these app versions (the version the
// registry knew when the message was fanned out, or the one the app SDK
// reported with a receipt); a version no device reported gives zeros.
type StatsQuery struct {
	AppID       string
	From, To    time.Time
	Granularity string
	Platform    string
	Channel     string
	PushType    string
	TaskID      string
	AppVersions []string
}

// Validate says what is wrong with the query: a *ValidationError with
// CodeNeedAppIDWorkspaceID or CodeInvalidParam.
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
	return ValidateAppVersions(q.AppVersions)
}

// SplitAppVersions splits a comma-separated list of app versions (the
// gateway's appVersion, the CLI's --app-version), trimming spaces around
// each. Empty items are kept, so that ValidateAppVersions refuses them.
func SplitAppVersions(s string) []string {
	out := strings.Split(s, ",")
	for i := range out {
		out[i] = strings.TrimSpace(out[i])
	}
	return out
}

// ValidateAppVersions says what is wrong with an app-version filter: a
// *ValidationError with CodeInvalidParam for an empty version (which
// would not select the devices that reported none: leave the filter out
// to count every version) or more than MaxStatsAppVersions versions. No
// versions at all is a valid filter that does not filter.
func ValidateAppVersions(vs []string) error {
	if len(vs) > MaxStatsAppVersions {
		return invalid(CodeInvalidParam, "the app version filter names %d versions; at most %d are allowed", len(vs), MaxStatsAppVersions)
	}
	for i, v := range vs {
		if strings.TrimSpace(v) == "" {
			return invalid(CodeInvalidParam, "the app version filter's item %d of %d is empty: name versions such as 2.1.0, comma-separated, or leave the filter out to count every version", i+1, len(vs))
		}
	}
	return nil
}

// StatsPoint holds the core metrics (mPaaS §6.1, §7.2.8) of one period:
//   - Pushed (pushTotalNum, "pushed messages"): the messages the backend
//     had to push, one per (message, device) — every delivery emitted
//     (valid) and every target or device found invalid (invalid_device: no
//     binding, or a token known dead), counted when the request was fanned
//     out. Devices the request's own conditions or the channel's content
//     limits left out (filtered) are not messages of the push.
//   - Succeeded (pushNum, "successfully pushed messages"): deliveries the
//     vendor's push gateway or the self-built channel accepted (acked,
//     status 2 Acked), counted when accepted; never a message to an invalid
//     target, one that failed, expired or was revoked before it was sent,
//     nor a second ending of a delivery (superseded). A recall after the
//     acceptance does not undo it.
//   - Arrived, Opened, Ignored: receipts and app SDK events, counted when
//     they happened, whenever the message was pushed.
//
// Rates are fractions (0..1): arrivals / pushed, opens / arrivals,
// ignores / arrivals; a rate whose denominator is 0 is 0.
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
	case EventValid, EventInvalidDevice:
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

// QueryStats answers q from the per-minute aggregates (events_minute,
// never the events table), counting distinct event ids, so replayed
// events are never counted twice. An invalid q gives a *ValidationError.
func QueryStats(ctx context.Context, conn driver.Conn, db string, q StatsQuery) (*StatsResult, error) {
	if err := q.Validate(); err != nil {
		return nil, err
	}
	bucket := map[string]string{GranularityMinute: "minute", GranularityHour: "toStartOfHour(minute)", GranularityDay: "toStartOfDay(minute)"}[q.Granularity]
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
// PushNum, PushSuccessNum and PushArrivalNum count as StatsPoint's Pushed,
// Succeeded and Arrived do. TaskName and Template come from the task's
// accepted event: empty when that event is outside the range asked for (or
// predates the name column).
// AudienceEmpty is true for a broadcast whose audience was empty: its
// accepted event's status_desc starts with AudienceEmptyDesc.
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
	AudienceEmpty  bool          `json:"audienceEmpty,omitempty"`
}

// TaskQuery asks for the tasks of an app with events in [From, To), at
// most Limit of them; TaskID and TaskName, when set, keep only the tasks
// with that id or that exact name. AppVersions, when set, keeps the tasks
// with an event of a device reporting one of these versions and counts
// only such events; a task's name, start and end stay the task's own.
type TaskQuery struct {
	AppID       string
	From, To    time.Time
	TaskID      string
	TaskName    string
	AppVersions []string
	Limit       int
}

// ListTasks returns the tasks q asks for, newest first. An invalid app
// version filter gives a *ValidationError.
func ListTasks(ctx context.Context, conn driver.Conn, db string, q TaskQuery) ([]TaskSummary, error) {
	if err := ValidateAppVersions(q.AppVersions); err != nil {
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
	args = append(args, AudienceEmptyDesc)
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
	defer rows.Close()
	var out []TaskSummary
	for rows.Next() {
		var t TaskSummary
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
