package schema

import (
	"strings"
	"time"
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

// Add counts n events of type event in the metric the event belongs to
// (see StatsPoint); events of other types are not counted. It does not
// update the rates: call SetRates once the counts are complete.
func (p *StatsPoint) Add(event EventType, n uint64) {
	switch event {
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

// SetRates sets ArrivalRate, OpenRate and IgnoreRate from the counts; a
// rate whose denominator is 0 is 0.
func (p *StatsPoint) SetRates() {
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
