package schema

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Schedule is a scheduled (strategyType 1) or loop (strategyType 2) push:
// the value of its record on the compacted topic push.schedules.R, keyed
// by ScheduleID. Times are Unix milliseconds.
//
// Several writers publish records for one schedule: fanout creates it,
// the scheduler admits or refuses it and records the occurrences it
// handled, `pushpipe schedules cancel` cancels it. Every field that changes
// only grows (flags are set once, Through only rises, Missed and Skipped
// only gain members), so the state of a schedule is the Merge of all its
// records, whatever their order; the scheduler that owns the schedule's
// partition re-publishes the merged state whenever the latest record lacks
// something, so the record compaction keeps is the whole state.
type Schedule struct {
	// ScheduleID is the scheduled push task id (mPaaS parentId), see
	// NewScheduleID.
	ScheduleID  string `json:"scheduleId"`
	Region      string `json:"region"`
	AppID       string `json:"appId"`
	WorkspaceID string `json:"workspaceId,omitempty"`
	// StrategyType and Strategy repeat the request's strategy.
	StrategyType int             `json:"strategyType"`
	Strategy     StrategyContent `json:"strategyContent"`
	// CreatedAt is when the request was accepted (mPaaS gmtCreate);
	// occurrences before it are not part of the schedule.
	CreatedAt int64 `json:"createdAt"`
	// Request is the push sent at every occurrence, as accepted.
	Request *Request `json:"request,omitempty"`

	// TimeZone is the IANA name of the zone the loop's dates and times are
	// in, fixed by the scheduler when it admits the schedule.
	TimeZone string `json:"timeZone,omitempty"`
	// Admitted is set by the scheduler once the schedule passed its checks
	// and the per-app limit; only admitted schedules fire.
	Admitted bool `json:"admitted,omitempty"`
	// Refused is set by the scheduler instead of Admitted, with the result
	// code and the reason (also sent as a rejected event).
	Refused       bool   `json:"refused,omitempty"`
	RefusedCode   int    `json:"refusedCode,omitempty"`
	RefusedReason string `json:"refusedReason,omitempty"`
	RefusedAt     int64  `json:"refusedAt,omitempty"`
	// Cancelled stops every occurrence not yet fired.
	Cancelled   bool  `json:"cancelled,omitempty"`
	CancelledAt int64 `json:"cancelledAt,omitempty"`

	// Through is the last occurrence handled: every occurrence at or before
	// it was fired, missed or skipped.
	Through int64 `json:"through,omitempty"`
	// Missed are occurrences that were not fired because the scheduler
	// reached them too late (see the scheduler's MaxLateness).
	Missed []int64 `json:"missed,omitempty"`
	// Skipped are occurrences cancelled one by one (by occurrence id).
	Skipped []int64 `json:"skipped,omitempty"`
	// Firing is the occurrence being fired: recorded before its request is
	// published and cleared once Through reaches it. A scheduler that finds
	// it set looks for the request on push.requests.R before publishing it.
	Firing *Firing `json:"firing,omitempty"`
	// ABDecision is the decision of an A/B test's schedule (IsABTest),
	// recorded before its rest part is published.
	ABDecision *ABDecision `json:"abDecision,omitempty"`

	// UpdatedAt is when this record was written.
	UpdatedAt int64 `json:"updatedAt,omitempty"`
}

// Firing records where the request of an occurrence goes, before it is
// published: the partition of push.requests.R its task id hashes to and
// that partition's end offset just before, so the request can be found
// again by reading from there.
type Firing struct {
	Occurrence int64 `json:"occurrence"`
	Partition  int   `json:"partition"`
	Offset     int64 `json:"offset"`
	// WrittenAt is the wall-clock time (Unix ms) the intent was recorded;
	// the request, if published, was published soon after.
	WrittenAt int64 `json:"writtenAt"`
}

// Schedule statuses, as ScheduleStatus reports them.
const (
	ScheduleWaiting   = "waiting"   // not yet admitted by the scheduler
	ScheduleActive    = "active"    // admitted, occurrences left to fire
	ScheduleDone      = "done"      // every occurrence handled
	ScheduleCancelled = "cancelled" // cancelled before its last occurrence
	ScheduleRefused   = "refused"   // refused by the scheduler
)

// NewScheduleID derives the id of the schedule a request creates from the
// app, its task id (DeriveTaskID) and its strategy, so that a replayed or
// re-published request names the same schedule: "s" and 24 hex digits.
func NewScheduleID(r *Request) string {
	var sc StrategyContent
	if r.StrategyContent != nil {
		sc = *r.StrategyContent
	}
	b, _ := json.Marshal(sc) // plain fields; cannot fail
	return "s" + hashID("schedule", r.AppID, r.DeriveTaskID(), strconv.Itoa(r.StrategyType), string(b))[:24]
}

// NewSchedule returns the record that creates the schedule of a scheduled
// or loop request accepted at acceptedAt (Unix ms).
func NewSchedule(r *Request, acceptedAt int64) Schedule {
	req := *r
	req.AcceptedAt = acceptedAt
	s := Schedule{
		ScheduleID: NewScheduleID(r), Region: r.Region, AppID: r.AppID, WorkspaceID: r.WorkspaceID,
		StrategyType: r.StrategyType, CreatedAt: acceptedAt, Request: &req, UpdatedAt: acceptedAt,
	}
	if r.StrategyContent != nil {
		s.Strategy = *r.StrategyContent
	}
	return s
}

// DecodeSchedule parses a record of push.schedules.R.
func DecodeSchedule(b []byte) (Schedule, error) {
	var s Schedule
	if err := json.Unmarshal(b, &s); err != nil {
		return Schedule{}, invalid(CodeInvalidParam, "schedule record is not valid JSON: %v", err)
	}
	if s.ScheduleID == "" {
		return Schedule{}, invalid(CodeInvalidParam, "schedule record has no scheduleId")
	}
	return s, nil
}

// Merge returns the state that holds everything s and o know: descriptive
// fields from s where set, else from o; flags set in either; the later
// Through; the union of Missed and Skipped; the later Firing unless
// Through reached it. Merge is commutative and idempotent in everything
// SameState compares.
func (s Schedule) Merge(o Schedule) Schedule {
	m := s
	if m.ScheduleID == "" {
		m.ScheduleID = o.ScheduleID
	}
	if m.Request == nil {
		m.Request, m.Region, m.AppID, m.WorkspaceID = o.Request, o.Region, o.AppID, o.WorkspaceID
		m.StrategyType, m.Strategy, m.CreatedAt = o.StrategyType, o.Strategy, o.CreatedAt
	}
	if m.AppID == "" {
		m.AppID, m.Region, m.WorkspaceID = o.AppID, o.Region, o.WorkspaceID
	}
	if m.TimeZone == "" {
		m.TimeZone = o.TimeZone
	}
	m.Admitted = s.Admitted || o.Admitted
	if !s.Refused && o.Refused {
		m.Refused, m.RefusedCode, m.RefusedReason, m.RefusedAt = true, o.RefusedCode, o.RefusedReason, o.RefusedAt
	}
	m.Cancelled = s.Cancelled || o.Cancelled
	if o.CancelledAt > 0 && (m.CancelledAt == 0 || o.CancelledAt < m.CancelledAt) {
		m.CancelledAt = o.CancelledAt
	}
	m.Through = max(s.Through, o.Through)
	m.Missed = sortedUnion(slices.Clone(s.Missed), o.Missed)
	m.Skipped = sortedUnion(slices.Clone(s.Skipped), o.Skipped)
	m.Firing = s.Firing
	if o.Firing != nil && (m.Firing == nil || o.Firing.Occurrence > m.Firing.Occurrence) {
		f := *o.Firing
		m.Firing = &f
	}
	if m.Firing != nil && m.Firing.Occurrence <= m.Through {
		m.Firing = nil
	}
	m.ABDecision = mergeABDecision(s.ABDecision, o.ABDecision)
	m.UpdatedAt = max(s.UpdatedAt, o.UpdatedAt)
	return m
}

// SameState reports whether s and o hold the same state: the fields that
// Merge grows (not UpdatedAt, not the descriptive fields).
func (s Schedule) SameState(o Schedule) bool {
	sameFiring := (s.Firing == nil) == (o.Firing == nil) && (s.Firing == nil || *s.Firing == *o.Firing)
	return s.Admitted == o.Admitted && s.Refused == o.Refused && s.Cancelled == o.Cancelled &&
		s.CancelledAt == o.CancelledAt && s.Through == o.Through && s.TimeZone == o.TimeZone &&
		slices.Equal(s.Missed, o.Missed) && slices.Equal(s.Skipped, o.Skipped) && sameFiring &&
		(s.Request == nil) == (o.Request == nil) && sameABDecision(s.ABDecision, o.ABDecision)
}

// Location returns the schedule's time zone: TimeZone, or def when it is
// not fixed yet (nil def means UTC).
func (s *Schedule) Location(def *time.Location) (*time.Location, error) {
	if s.TimeZone == "" {
		if def == nil {
			return time.UTC, nil
		}
		return def, nil
	}
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("schedule %s: time zone %q: %w", s.ScheduleID, s.TimeZone, err)
	}
	return loc, nil
}

// Plan returns the schedule's timetable in its time zone (def when not
// fixed yet).
func (s *Schedule) Plan(def *time.Location) (*Plan, error) {
	loc, err := s.Location(def)
	if err != nil {
		return nil, err
	}
	return NewPlan(s.StrategyType, s.Strategy, time.UnixMilli(s.CreatedAt), loc)
}

// NextDue returns the first occurrence after Through that was not skipped,
// or false when every occurrence was handled.
func (s *Schedule) NextDue(p *Plan) (time.Time, bool) {
	t, ok := p.Next(time.UnixMilli(s.Through))
	for ok && slices.Contains(s.Skipped, t.UnixMilli()) {
		t, ok = p.Next(t)
	}
	return t, ok
}

// Status is one of ScheduleWaiting, ScheduleActive, ScheduleDone,
// ScheduleCancelled and ScheduleRefused. p is the schedule's Plan; nil
// (no valid plan) counts as done once admitted.
func (s *Schedule) Status(p *Plan) string {
	switch {
	case s.Refused:
		return ScheduleRefused
	case s.Cancelled:
		return ScheduleCancelled
	case !s.Admitted:
		return ScheduleWaiting
	case p == nil:
		return ScheduleDone
	}
	if _, ok := s.NextDue(p); ok || s.Firing != nil {
		return ScheduleActive
	}
	return ScheduleDone
}

// Pending reports whether the schedule counts against the per-app limit of
// unexecuted schedules (MaxPendingSchedules): admitted, neither cancelled
// nor refused, with occurrences left.
func (s *Schedule) Pending(p *Plan) bool { return s.Status(p) == ScheduleActive }

// FinishedAt returns when a schedule that will never fire again ended (its
// last occurrence, its cancellation or its refusal), or false while it may
// still fire.
func (s *Schedule) FinishedAt(p *Plan) (time.Time, bool) {
	switch s.Status(p) {
	case ScheduleRefused:
		return time.UnixMilli(max(s.RefusedAt, s.CreatedAt)), true
	case ScheduleCancelled:
		return time.UnixMilli(max(s.CancelledAt, s.CreatedAt)), true
	case ScheduleDone:
		return time.UnixMilli(max(s.Through, s.CreatedAt)), true
	}
	return time.Time{}, false
}

// Describe summarises the strategy for people.
func (s *Schedule) Describe(loc *time.Location) string {
	return fmtStrategy(s.StrategyType, s.Strategy, loc)
}

// occurrenceLayout formats an occurrence's wall-clock time in an id.
const occurrenceLayout = "20060102150405"

// OccurrenceID is the id of one occurrence (mPaaS uniqueId of a sub-task):
// the schedule id, "-" and the occurrence's local time as yyyyMMddHHmmss,
// e.g. "s0123...-20260301094511". The pushes an occurrence sends use it as
// their task id.
func OccurrenceID(scheduleID string, at time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return scheduleID + "-" + at.In(loc).Format(occurrenceLayout)
}

// ParseOccurrenceID splits an occurrence id into its schedule id and the
// local time stamp; ok is false when id is not of that form (e.g. a
// schedule id).
func ParseOccurrenceID(id string) (scheduleID, stamp string, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 || len(id)-i-1 != len(occurrenceLayout) {
		return "", "", false
	}
	for _, c := range id[i+1:] {
		if c < '0' || c > '9' {
			return "", "", false
		}
	}
	return id[:i], id[i+1:], true
}

// OccurrenceTime returns the instant of the occurrence whose id carries
// stamp, in loc.
func OccurrenceTime(stamp string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	t, err := time.ParseInLocation(occurrenceLayout, stamp, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("occurrence time %q: %w", stamp, err)
	}
	return t, nil
}

// OccurrenceRequest returns the immediate push one occurrence sends: the
// schedule's request with strategyType 0, ScheduleID set, TaskID the
// occurrence id and AcceptedAt the occurrence instant, so that the same
// occurrence always yields the same request and the same ids downstream.
// A loop's occurrences suffix every msgKey with "-yyyyMMddHHmmss" so that
// each occurrence is a message of its own (fanout does not deliver a msgKey
// twice to a device); a scheduled push keeps its msgKeys.
func (s *Schedule) OccurrenceRequest(at time.Time, loc *time.Location) *Request {
	if s.Request == nil {
		return nil
	}
	if s.IsABTest() {
		return s.abRestRequest()
	}
	r := *s.Request
	r.StrategyType, r.StrategyContent = StrategyImmediate, nil
	r.ScheduleID = s.ScheduleID
	r.TaskID = OccurrenceID(s.ScheduleID, at, loc)
	r.AcceptedAt = at.UnixMilli()
	if s.StrategyType == StrategyLoop {
		suffix := "-" + at.In(loc).Format(occurrenceLayout)
		if r.TargetMsgkey != nil {
			m := make(StringMap, len(r.TargetMsgkey))
			for k, v := range r.TargetMsgkey {
				m[k] = v + suffix
			}
			r.TargetMsgkey = m
		}
		if r.TargetMsgs != nil {
			ts := slices.Clone(r.TargetMsgs)
			for i := range ts {
				ts[i].MsgKey += suffix
			}
			r.TargetMsgs = ts
		}
		if r.MsgKey != "" {
			r.MsgKey += suffix
		}
	}
	return &r
}

// ScheduledTask is one row of the scheduled push task list (mPaaS §7.2.9
// QueryPushSchedulerList): one occurrence of a schedule.
type ScheduledTask struct {
	// UniqueID is the occurrence id (OccurrenceID); ParentID the schedule id.
	UniqueID string `json:"uniqueId"`
	ParentID string `json:"parentId"`
	// PushTime is the occurrence instant (Unix ms).
	PushTime    int64    `json:"pushTime"`
	AppID       string   `json:"appId"`
	WorkspaceID string   `json:"workspaceId,omitempty"`
	TaskName    string   `json:"taskName,omitempty"`
	PushTitle   string   `json:"pushTitle,omitempty"`
	PushContent string   `json:"pushContent,omitempty"`
	Type        PushType `json:"type"`
	// DeliveryType is the request's deliverType.
	DeliveryType int `json:"deliveryType"`
	StrategyType int `json:"strategyType"`
	// Status is executed, pending, missed, cancelled or refused;
	// ExecutedStatus is the mPaaS flag: 1 executed, 0 not executed.
	Status         string `json:"status"`
	ExecutedStatus int    `json:"executedStatus"`
	GmtCreate      int64  `json:"gmtCreate"`
}

// Occurrence statuses in ScheduledTask.Status.
const (
	TaskExecuted  = "executed"
	TaskPending   = "pending"
	TaskMissed    = "missed"
	TaskCancelled = "cancelled"
	TaskRefused   = "refused"
)

// Tasks lists the schedule's occurrences: every one handled so far
// (executed, missed or skipped) and up to next of those still to come, in
// time order.
func (s *Schedule) Tasks(p *Plan, next int) []ScheduledTask {
	if p == nil {
		return nil
	}
	base := ScheduledTask{ParentID: s.ScheduleID, AppID: s.AppID, WorkspaceID: s.WorkspaceID,
		StrategyType: s.StrategyType, GmtCreate: s.CreatedAt}
	if r := s.Request; r != nil {
		base.TaskName, base.PushTitle, base.PushContent, base.Type, base.DeliveryType = r.TaskName, r.Title, r.Content, r.Type, r.DeliverType
	}
	var out []ScheduledTask
	upcoming := 0
	for t, ok := p.Next(time.Time{}); ok; t, ok = p.Next(t) {
		ms := t.UnixMilli()
		row := base
		row.UniqueID, row.PushTime = OccurrenceID(s.ScheduleID, t, p.Location()), ms
		switch {
		case slices.Contains(s.Skipped, ms):
			row.Status = TaskCancelled
		case slices.Contains(s.Missed, ms):
			row.Status = TaskMissed
		case ms <= s.Through:
			row.Status, row.ExecutedStatus = TaskExecuted, 1
		case upcoming >= next:
			return out
		default:
			upcoming++
			row.Status = TaskPending
			if s.Cancelled {
				row.Status = TaskCancelled
			} else if s.Refused {
				row.Status = TaskRefused
			}
		}
		out = append(out, row)
	}
	return out
}
