package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// ErrUnknownTask marks an id that names no schedule and no occurrence of
// one. Test with errors.Is.
var ErrUnknownTask = errors.New("no such scheduled push task")

// ErrNotCancellable marks a task that can no longer be cancelled: it has
// run, is running, or was refused. Test with errors.Is.
var ErrNotCancellable = errors.New("the scheduled push task cannot be cancelled")

// ReadSchedules reads push.schedules.R of region from its start up to its
// end at the time of the call and returns the state of every schedule on
// it (the Merge of its records; deleted schedules are left out), oldest
// first. It is what `pushpipe schedules list` shows: the topic is the one
// source of truth of the scheduler, so the list is exactly what the
// scheduler works from. Every connection is secured with sec.
func ReadSchedules(ctx context.Context, brokers []string, sec pipeline.KafkaSecurity, region string) ([]schema.Schedule, error) {
	if !schema.ValidRegion(region) {
		return nil, fmt.Errorf("scheduler: region %q is not one of %v", region, schema.Regions())
	}
	byID := map[string]schema.Schedule{}
	topic := pipeline.SchedulesTopic(region)
	err := readTopic(ctx, brokers, sec, topic, func(m kafka.Message) error {
		key := string(m.Key)
		if len(m.Value) == 0 {
			delete(byID, key)
			return nil
		}
		s, err := schema.DecodeSchedule(m.Value)
		if err != nil || s.ScheduleID != key {
			return nil // undecodable: the scheduler dead-letters it
		}
		byID[key] = byID[key].Merge(s)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scheduler: reading %s: %w", topic, err)
	}
	out := make([]schema.Schedule, 0, len(byID))
	for _, s := range byID {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt < out[j].CreatedAt
		}
		return out[i].ScheduleID < out[j].ScheduleID
	})
	return out, nil
}

// Cancellation is what Cancel did.
type Cancellation struct {
	// Schedule is the schedule's state with the cancellation.
	Schedule schema.Schedule
	// Occurrence is the occurrence id when one occurrence was cancelled,
	// empty when the whole schedule was.
	Occurrence string
	// AlreadyCancelled is set when nothing had to be written.
	AlreadyCancelled bool
}

// Cancel cancels a scheduled push task of region: with a schedule id
// (mPaaS parentId), every occurrence not yet fired; with an occurrence id
// (uniqueId, as `schedules list` shows), that occurrence only. If appID is
// not empty the task must belong to that app. It writes the schedule's
// state with the cancellation to push.schedules.R through p and returns
// once the record is acknowledged; the scheduler owning the schedule
// applies it as soon as it reads it, so an occurrence already being fired
// at that moment is still sent. now stamps the cancellation; def is the
// time zone of schedules the scheduler has not admitted yet (nil: UTC).
// The schedules are read over connections secured with sec.
//
// Errors: ErrUnknownTask when id names nothing, ErrNotCancellable when the
// task has run (or is running, or was refused); cancelling twice is not an
// error (AlreadyCancelled).
func Cancel(ctx context.Context, brokers []string, sec pipeline.KafkaSecurity, p Producer, region, appID, id string, now time.Time, def *time.Location) (Cancellation, error) {
	all, err := ReadSchedules(ctx, brokers, sec, region)
	if err != nil {
		return Cancellation{}, err
	}
	scheduleID, stamp, isOccurrence := id, "", false
	if sid, st, ok := schema.ParseOccurrenceID(id); ok {
		scheduleID, stamp, isOccurrence = sid, st, true
	}
	i := slices.IndexFunc(all, func(s schema.Schedule) bool { return s.ScheduleID == scheduleID })
	if i < 0 || (appID != "" && all[i].AppID != appID) {
		where := ""
		if appID != "" {
			where = " of app " + appID
		}
		return Cancellation{}, fmt.Errorf("scheduler: cancelling %s: %w%s in region %s", id, ErrUnknownTask, where, region)
	}
	s := all[i]
	plan, err := s.Plan(def)
	if err != nil {
		return Cancellation{}, fmt.Errorf("scheduler: cancelling %s: %w", id, err)
	}
	res := Cancellation{Schedule: s}
	switch {
	case s.Refused:
		return res, fmt.Errorf("scheduler: cancelling %s: %w: it was refused (%d %s)", id, ErrNotCancellable, s.RefusedCode, s.RefusedReason)
	case s.Cancelled:
		res.AlreadyCancelled = true
		return res, nil
	}
	if isOccurrence {
		loc := plan.Location()
		at, err := schema.OccurrenceTime(stamp, loc)
		if err != nil {
			return res, fmt.Errorf("scheduler: cancelling %s: %w: %w", id, ErrUnknownTask, err)
		}
		if next, ok := plan.Next(at.Add(-time.Nanosecond)); !ok || !next.Equal(at) {
			return res, fmt.Errorf("scheduler: cancelling %s: %w: schedule %s (%s) has no occurrence at %s", id, ErrUnknownTask, s.ScheduleID, s.Describe(loc), at.Format(time.DateTime))
		}
		ms := at.UnixMilli()
		res.Occurrence = schema.OccurrenceID(s.ScheduleID, at, loc)
		switch {
		case slices.Contains(s.Skipped, ms):
			res.AlreadyCancelled = true
			return res, nil
		case ms <= s.Through:
			return res, fmt.Errorf("scheduler: cancelling %s: %w: it has already run", id, ErrNotCancellable)
		case s.Firing != nil && s.Firing.Occurrence == ms:
			return res, fmt.Errorf("scheduler: cancelling %s: %w: it is being sent", id, ErrNotCancellable)
		}
		s.Skipped = insertSorted(s.Skipped, ms)
	} else {
		if s.Status(plan) == schema.ScheduleDone {
			return res, fmt.Errorf("scheduler: cancelling %s: %w: every occurrence has run", id, ErrNotCancellable)
		}
		s.Cancelled, s.CancelledAt = true, now.UnixMilli()
	}
	s.UpdatedAt = now.UnixMilli()
	b, err := json.Marshal(s)
	if err != nil { // plain fields only; cannot happen
		return res, fmt.Errorf("scheduler: encoding schedule %s: %w", s.ScheduleID, err)
	}
	out := pipeline.Output{Topic: pipeline.SchedulesTopic(region), Key: []byte(s.ScheduleID), Value: b}
	if err := p.Produce(ctx, []pipeline.Output{out}); err != nil {
		return res, fmt.Errorf("scheduler: writing the cancellation of %s: %w", id, err)
	}
	res.Schedule = s
	return res, nil
}
