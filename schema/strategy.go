package schema

import (
	"fmt"
	"slices"
	"time"
)

// Push strategy types (strategyType of the mPaaS push APIs).
const (
	StrategyImmediate = 0 // push at once (the default)
	StrategyFixedTime = 1 // push once at StrategyContent.fixedTime
	StrategyLoop      = 2 // push at StrategyContent.time on the days of a loop
)

// Loop types (StrategyContent.circleType).
const (
	CircleDaily   = 1 // every day of the loop window
	CircleWeekly  = 2 // the weekdays in circleValue: 1 Monday ... 7 Sunday
	CircleMonthly = 3 // the days of the month in circleValue: 1 ... 31
)

// Limits of scheduled and loop pushes (mPaaS §7.2.3, StrategyContent field
// description).
const (
	// MaxLoopDays is how many days after the current day a loop may end.
	MaxLoopDays = 180
	// MaxPendingSchedules is how many scheduled or loop pushes of one app
	// may be unexecuted at once.
	MaxPendingSchedules = 100
)

// ValidateStrategy checks the push strategy of a request as mPaaS does
// (§7.2.3, StrategyContent field description) and returns a
// *ValidationError (3028 INVALID_PARAM, the code mPaaS documents for
// invalid parameters) for the first rule broken, or nil:
//
//   - strategyType is 0 (immediate), 1 (scheduled) or 2 (loop); for 0 the
//     content is ignored;
//   - 1 and 2 need StrategyContent;
//   - 1 needs fixedTime, not in the past (compared to the second);
//   - 2 needs startTime, endTime, circleType (1 daily, 2 weekly, 3
//     monthly) and time (HH:mm:ss); circleValue is needed unless daily
//     (weekdays 1–7 from Monday, or days of the month 1–31) and ignored
//     when daily;
//   - the loop runs from 00:00 of the start date to 24:00 of the end date;
//     the start may not be before 00:00 of the current day, the end not
//     before the start, and the end date not more than MaxLoopDays after
//     the current day;
//   - a loop must have at least one occurrence at or after now.
//
// now is when the request was accepted; loc is the time zone whose dates
// and wall-clock times the loop uses (nil means UTC).
func ValidateStrategy(strategyType int, sc *StrategyContent, now time.Time, loc *time.Location) error {
	if loc == nil {
		loc = time.UTC
	}
	switch strategyType {
	case StrategyImmediate:
		return nil
	case StrategyFixedTime, StrategyLoop:
	default:
		return invalid(CodeInvalidParam, "strategyType %d is not 0 (immediate), 1 (scheduled) or 2 (loop)", strategyType)
	}
	if sc == nil {
		return invalid(CodeInvalidParam, "StrategyContent is required when strategyType is %d", strategyType)
	}
	p, err := NewPlan(strategyType, *sc, now, loc)
	if err != nil {
		return err
	}
	if strategyType == StrategyFixedTime {
		if p.fixed.Before(now.Truncate(time.Second)) {
			return invalid(CodeInvalidParam, "StrategyContent.fixedTime %s is in the past (now is %s)", fmtTime(p.fixed, loc), fmtTime(now, loc))
		}
		return nil
	}
	today := midnight(now.In(loc))
	if p.windowStart.Before(today) {
		return invalid(CodeInvalidParam, "StrategyContent.startTime %s is before 00:00 of the current day (%s)", fmtTime(time.UnixMilli(sc.StartTime), loc), today.Format(time.DateOnly))
	}
	if sc.EndTime < sc.StartTime {
		return invalid(CodeInvalidParam, "StrategyContent.endTime %s is before startTime %s", fmtTime(time.UnixMilli(sc.EndTime), loc), fmtTime(time.UnixMilli(sc.StartTime), loc))
	}
	last := addDays(today, MaxLoopDays)
	if endDate := addDays(p.windowEnd, -1); endDate.After(last) {
		return invalid(CodeInvalidParam, "StrategyContent.endTime %s is more than %d days after the current day: the loop may end on %s at the latest",
			endDate.Format(time.DateOnly), MaxLoopDays, last.Format(time.DateOnly))
	}
	if _, ok := p.Next(now.Add(-time.Nanosecond)); !ok {
		return invalid(CodeInvalidParam, "the loop has no occurrence at %s between now (%s) and the end of %s: check circleType, circleValue and time",
			sc.Time, fmtTime(now, loc), addDays(p.windowEnd, -1).Format(time.DateOnly))
	}
	return nil
}

// validateStrategy is the strategy part of Request.Validate. An occurrence
// (ScheduleID set) is an immediate push whatever it carries; for a new
// scheduled or loop push "now" is AcceptedAt when set, so that a replayed
// request is judged as it was the first time, and dates are in UTC. The
// scheduler checks the strategy again in its own time zone.
func (r *Request) validateStrategy() error {
	if r.ScheduleID != "" && r.StrategyType >= StrategyImmediate && r.StrategyType <= StrategyLoop {
		return nil
	}
	now := time.Now()
	if r.AcceptedAt > 0 {
		now = time.UnixMilli(r.AcceptedAt)
	}
	return ValidateStrategy(r.StrategyType, r.StrategyContent, now, time.UTC)
}

// IsScheduled reports whether the request creates a scheduled or loop push
// (strategyType 1 or 2) rather than being pushed at once. An occurrence
// published by the scheduler carries its ScheduleID and is pushed at once.
func (r *Request) IsScheduled() bool {
	return r.ScheduleID == "" && (r.StrategyType == StrategyFixedTime || r.StrategyType == StrategyLoop)
}

// Plan is the occurrence timetable of a scheduled or loop push in one time
// zone. It is immutable and safe for concurrent use.
type Plan struct {
	strategyType int
	loc          *time.Location
	notBefore    time.Time

	fixed time.Time // strategyType 1: the one occurrence

	// strategyType 2: [windowStart, windowEnd) is 00:00 of the start date
	// to 24:00 of the end date; occurrences are at hh:mm:ss of the days
	// that match the circle.
	windowStart, windowEnd time.Time
	circleType             int
	days                   [32]bool // weekdays 1–7 or days of the month 1–31
	hh, mm, ss             int
}

// NewPlan builds the timetable of a scheduled (strategyType 1) or loop (2)
// push from its StrategyContent. Occurrences before notBefore (the
// schedule's creation) are not part of it. loc is the time zone of the
// loop's dates and wall-clock time (nil means UTC). Only the rules that do
// not depend on the current time are checked here (required fields,
// circleType, circleValue, time format); errors are *ValidationError.
func NewPlan(strategyType int, sc StrategyContent, notBefore time.Time, loc *time.Location) (*Plan, error) {
	if loc == nil {
		loc = time.UTC
	}
	p := &Plan{strategyType: strategyType, loc: loc, notBefore: notBefore}
	switch strategyType {
	case StrategyFixedTime:
		if sc.FixedTime <= 0 {
			return nil, invalid(CodeInvalidParam, "StrategyContent.fixedTime is required for a scheduled push (strategyType 1): a Unix time in milliseconds")
		}
		p.fixed = time.UnixMilli(sc.FixedTime).Truncate(time.Second)
		p.notBefore = notBefore.Truncate(time.Second)
		return p, nil
	case StrategyLoop:
	default:
		return nil, invalid(CodeInvalidParam, "strategyType %d has no timetable: use 1 (scheduled) or 2 (loop)", strategyType)
	}
	switch {
	case sc.StartTime <= 0:
		return nil, invalid(CodeInvalidParam, "StrategyContent.startTime is required for a loop push (strategyType 2): a Unix time in milliseconds")
	case sc.EndTime <= 0:
		return nil, invalid(CodeInvalidParam, "StrategyContent.endTime is required for a loop push (strategyType 2): a Unix time in milliseconds")
	case sc.CircleType == 0:
		return nil, invalid(CodeInvalidParam, "StrategyContent.circleType is required for a loop push (strategyType 2): 1 daily, 2 weekly or 3 monthly")
	case sc.Time == "":
		return nil, invalid(CodeInvalidParam, "StrategyContent.time is required for a loop push (strategyType 2), as HH:mm:ss")
	}
	var ok bool
	if p.hh, p.mm, p.ss, ok = parseClock(sc.Time); !ok {
		return nil, invalid(CodeInvalidParam, "StrategyContent.time %q is not a time of day as HH:mm:ss (00:00:00 to 23:59:59)", sc.Time)
	}
	p.circleType = sc.CircleType
	switch sc.CircleType {
	case CircleDaily:
		// circleValue is documented as empty for a daily loop; values
		// sent anyway are ignored.
	case CircleWeekly, CircleMonthly:
		maxV, unit := 7, "weekdays 1 (Monday) to 7 (Sunday)"
		if sc.CircleType == CircleMonthly {
			maxV, unit = 31, "days of the month 1 to 31"
		}
		if len(sc.CircleValue) == 0 {
			return nil, invalid(CodeInvalidParam, "StrategyContent.circleValue is required for circleType %d: list %s", sc.CircleType, unit)
		}
		for _, v := range sc.CircleValue {
			if v < 1 || v > maxV {
				return nil, invalid(CodeInvalidParam, "StrategyContent.circleValue %d is out of range for circleType %d: use %s", v, sc.CircleType, unit)
			}
			p.days[v] = true
		}
	default:
		return nil, invalid(CodeInvalidParam, "StrategyContent.circleType %d is not 1 (daily), 2 (weekly) or 3 (monthly)", sc.CircleType)
	}
	p.windowStart = midnight(time.UnixMilli(sc.StartTime).In(loc))
	p.windowEnd = addDays(midnight(time.UnixMilli(sc.EndTime).In(loc)), 1)
	return p, nil
}

// Location is the plan's time zone.
func (p *Plan) Location() *time.Location { return p.loc }

// Window returns when the plan may have occurrences: [start, end). For a
// loop that is 00:00 of the start date to 24:00 of the end date; for a
// scheduled push it is the one instant (end = start + 1s).
func (p *Plan) Window() (start, end time.Time) {
	if p.strategyType == StrategyFixedTime {
		return p.fixed, p.fixed.Add(time.Second)
	}
	return p.windowStart, p.windowEnd
}

// Next returns the first occurrence strictly after after (and not before
// the plan's notBefore), or false when there is none.
func (p *Plan) Next(after time.Time) (time.Time, bool) {
	if p.strategyType == StrategyFixedTime {
		if p.fixed.After(after) && !p.fixed.Before(p.notBefore) {
			return p.fixed, true
		}
		return time.Time{}, false
	}
	from := p.windowStart
	if p.notBefore.After(from) {
		from = p.notBefore
	}
	if after.After(from) {
		from = after
	}
	for day := midnight(from.In(p.loc)); day.Before(p.windowEnd); day = addDays(day, 1) {
		if !p.matches(day) {
			continue
		}
		t := time.Date(day.Year(), day.Month(), day.Day(), p.hh, p.mm, p.ss, 0, p.loc)
		if t.After(after) && !t.Before(p.notBefore) && !t.Before(p.windowStart) && t.Before(p.windowEnd) {
			return t, true
		}
	}
	return time.Time{}, false
}

// All returns every occurrence in order (at most one per day of the
// window).
func (p *Plan) All() []time.Time {
	var out []time.Time
	for t, ok := p.Next(time.Time{}); ok; t, ok = p.Next(t) {
		out = append(out, t)
	}
	return out
}

// matches reports whether the loop pushes on the date of day (00:00 in the
// plan's zone). A monthly loop skips months without the day (no 31st in
// April, no 30th in February).
func (p *Plan) matches(day time.Time) bool {
	switch p.circleType {
	case CircleDaily:
		return true
	case CircleWeekly:
		return p.days[isoWeekday(day.Weekday())]
	case CircleMonthly:
		return p.days[day.Day()]
	}
	return false
}

// isoWeekday numbers weekdays as circleValue does: 1 Monday ... 7 Sunday.
func isoWeekday(d time.Weekday) int { return (int(d)+6)%7 + 1 }

// midnight returns 00:00 of t's date in t's location.
func midnight(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
}

// addDays returns 00:00 of the date n days after day's date (day is a
// midnight); calendar arithmetic, so a day with a DST change still counts
// as one.
func addDays(day time.Time, n int) time.Time {
	return time.Date(day.Year(), day.Month(), day.Day()+n, 0, 0, 0, 0, day.Location())
}

// parseClock parses HH:mm:ss strictly (two digits each).
func parseClock(s string) (h, m, sec int, ok bool) {
	if len(s) != 8 || s[2] != ':' || s[5] != ':' {
		return 0, 0, 0, false
	}
	num := func(a, b byte) (int, bool) {
		if a < '0' || a > '9' || b < '0' || b > '9' {
			return 0, false
		}
		return int(a-'0')*10 + int(b-'0'), true
	}
	var ok1, ok2, ok3 bool
	h, ok1 = num(s[0], s[1])
	m, ok2 = num(s[3], s[4])
	sec, ok3 = num(s[6], s[7])
	if !ok1 || !ok2 || !ok3 || h > 23 || m > 59 || sec > 59 {
		return 0, 0, 0, false
	}
	return h, m, sec, true
}

func fmtTime(t time.Time, loc *time.Location) string {
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

// sortedUnion returns the sorted set union of two sorted sets.
func sortedUnion(a, b []int64) []int64 {
	if len(b) == 0 {
		return a
	}
	if len(a) == 0 {
		return b
	}
	out := make([]int64, 0, len(a)+len(b))
	out = append(out, a...)
	out = append(out, b...)
	slices.Sort(out)
	return slices.Compact(out)
}

// fmtStrategy describes a strategy for people, e.g. "weekly on [1 3] at
// 09:45:11 from 2026-03-01 to 2026-04-30".
func fmtStrategy(strategyType int, sc StrategyContent, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	switch strategyType {
	case StrategyFixedTime:
		return "once at " + fmtTime(time.UnixMilli(sc.FixedTime), loc)
	case StrategyLoop:
		kind := map[int]string{CircleDaily: "daily", CircleWeekly: "weekly on", CircleMonthly: "monthly on"}[sc.CircleType]
		vals := ""
		if sc.CircleType != CircleDaily {
			vals = fmt.Sprintf(" %v", sc.CircleValue)
		}
		return fmt.Sprintf("%s%s at %s from %s to %s (%s)", kind, vals, sc.Time,
			time.UnixMilli(sc.StartTime).In(loc).Format(time.DateOnly), time.UnixMilli(sc.EndTime).In(loc).Format(time.DateOnly), loc)
	}
	return "immediate"
}
