package scheduler

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// maxIdle is the longest the state loop sleeps without looking at its schedules.
const maxIdle = time.Minute

// entry is what the state loop knows of one schedule.
type entry struct {
	// state is the Merge of every record read or written for the schedule.
	state schema.Schedule
	// latest is the last record of the schedule on the topic as far as
	// this replica knows (read, or written by it); the zero Schedule when
	// that record could not be decoded.
	latest schema.Schedule
	// src is the last record read for the schedule (for dead-letter
	// headers).
	src       record
	partition int

	// plan caches state.Plan for the zone it was built for.
	plan     *schema.Plan
	planZone string
	planErr  error
}

// stateLoop owns the scheduler's state (every schedule read from
// push.schedules.R; not to be confused with loop pushes, strategyType 2);
// one goroutine runs it, and every decision (admit, refuse, fire,
// re-publish, delete) is taken there, one at a time.
type stateLoop struct {
	s    *Scheduler
	cfg  Config
	log  zerolog.Logger
	logs *pipeline.LogReader

	records   chan record
	events    chan groupEvent
	done      chan struct{}
	startTail func(p int)
	tailing   map[int]bool
	// settled is set once the replica first caught up: its assignments
	// and catch-ups are logged at info level from then on (rebalances),
	// at debug level while it starts (the process's "region up" line
	// tells that).
	settled bool

	entries map[string]*entry
	bad     map[string]record // undecodable records not yet dead-lettered, by key
	applied map[int]int64     // next offset to apply, per partition

	gen    int32
	active bool // a generation is running and gave this replica its partitions
	// ended is the id of the last generation whose end the group has
	// signalled (written by the membership goroutine); the loop stops
	// acting for a generation as soon as it sees it ended, between steps,
	// so that it acknowledges the end promptly.
	ended    atomic.Int64
	owned    map[int]bool
	ends     map[int]int64 // offsets to have applied before acting in this generation
	caughtUp bool

	gaugesAt time.Time
}

func newStateLoop(s *Scheduler, logs *pipeline.LogReader) *stateLoop {
	l := &stateLoop{
		s: s, cfg: s.cfg, log: s.log, logs: logs,
		records: make(chan record, 1024),
		events:  make(chan groupEvent),
		done:    make(chan struct{}),
		tailing: map[int]bool{},
		entries: map[string]*entry{},
		bad:     map[string]record{},
		applied: map[int]int64{},
		owned:   map[int]bool{},
	}
	l.ended.Store(-1)
	return l
}

// run processes records, group events and timers until ctx ends.
func (l *stateLoop) run(ctx context.Context) {
	var retry *time.Timer
	var retryC <-chan time.Time
	failures := 0
	for {
		if retryC == nil {
			if err := l.act(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				failures++
				l.s.m.errors.Inc()
				d := backoff(failures)
				l.log.Warn().Err(err).Int("attempt", failures).Dur("retry_in", d).Msg("scheduling work failed; retrying")
				retry = time.NewTimer(d)
				retryC = retry.C
			} else {
				failures = 0
			}
		}
		l.updateGauges()

		now := l.cfg.Clock.Now()
		wake := now.Add(maxIdle)
		if retryC == nil {
			if w, ok := l.nextWake(now); ok && w.Before(wake) {
				wake = w
			}
		}
		timer := l.cfg.Clock.NewTimer(wake.Sub(now))
		select {
		case <-ctx.Done():
			timer.Stop()
			if retry != nil {
				retry.Stop()
			}
			return
		case r := <-l.records:
			l.apply(r)
		drain:
			for range cap(l.records) {
				select {
				case r := <-l.records:
					l.apply(r)
				default:
					break drain
				}
			}
			l.checkCaughtUp()
		case ev := <-l.events:
			l.handleGroup(ev)
		case <-timer.C():
		case <-retryC:
			retryC = nil
		}
		timer.Stop()
	}
}

// handleGroup applies a generation's start or end.
func (l *stateLoop) handleGroup(ev groupEvent) {
	if ev.revoke != nil {
		if ev.gen == l.gen {
			l.active, l.caughtUp = false, false
			l.owned = map[int]bool{}
			l.s.m.owned.Set(0)
			l.log.Info().Int32("generation", ev.gen).Msg("partitions revoked")
		}
		close(ev.revoke)
		return
	}
	l.gen, l.active = ev.gen, true
	l.owned = map[int]bool{}
	for _, p := range ev.assign.owned {
		l.owned[p] = true
	}
	l.ends = ev.assign.ends
	for p := range l.ends {
		l.startTail(p)
	}
	l.caughtUp = false
	l.s.m.owned.Set(float64(len(l.owned)))
	l.log.WithLevel(l.rebalanceLevel()).Int32("generation", ev.gen).Ints("partitions", ev.assign.owned).Msg("partitions assigned; reading up to the current end before acting")
	l.checkCaughtUp()
}

// checkCaughtUp marks the generation ready to act once every partition
// has been applied up to the snapshot taken when it started.
func (l *stateLoop) checkCaughtUp() {
	if !l.active || l.caughtUp {
		return
	}
	for p, end := range l.ends {
		if l.applied[p] < end {
			return
		}
	}
	l.caughtUp = true
	l.s.ready.Store(true)
	l.log.WithLevel(l.rebalanceLevel()).Int32("generation", l.gen).Int("schedules", len(l.entries)).Msg("caught up with the schedules topic")
	l.settled = true
}

// rebalanceLevel is the level of the assignment and catch-up lines: debug
// until the replica first caught up, info afterwards.
func (l *stateLoop) rebalanceLevel() zerolog.Level {
	if l.settled {
		return zerolog.InfoLevel
	}
	return zerolog.DebugLevel
}

// apply merges one record into the state.
func (l *stateLoop) apply(r record) {
	l.applied[r.partition] = max(l.applied[r.partition], r.offset+1)
	if len(r.value) == 0 {
		delete(l.entries, r.key)
		delete(l.bad, r.key)
		return
	}
	s, err := schema.DecodeSchedule(r.value)
	if err == nil && s.ScheduleID != r.key {
		err = fmt.Errorf("record keyed %q holds schedule %q", r.key, s.ScheduleID)
	}
	if err != nil {
		l.bad[r.key] = r
		if e, ok := l.entries[r.key]; ok {
			e.latest = schema.Schedule{} // the state must be written again
			e.src = r
		}
		return
	}
	delete(l.bad, r.key)
	e, ok := l.entries[r.key]
	if !ok {
		e = &entry{partition: r.partition}
		l.entries[r.key] = e
	}
	e.state = e.state.Merge(s)
	e.latest, e.src, e.partition = s, r, r.partition
	e.plan, e.planErr = nil, nil // the strategy may have arrived with this record
}

// planOf returns the entry's timetable (nil when its strategy is invalid).
func (l *stateLoop) planOf(e *entry) *schema.Plan {
	zone := e.state.TimeZone
	if (e.plan != nil || e.planErr != nil) && e.planZone == zone {
		return e.plan
	}
	e.plan, e.planErr = e.state.Plan(l.cfg.Location)
	e.planZone = zone
	if e.planErr != nil && e.state.Admitted {
		l.log.Error().Err(e.planErr).Str("schedule", e.state.ScheduleID).Msg("admitted schedule has no valid timetable; it will not fire")
	}
	return e.plan
}

// nextWake returns when something of this replica's schedules is next
// due: an occurrence or a deletion after Retention.
func (l *stateLoop) nextWake(now time.Time) (time.Time, bool) {
	if !l.active || !l.caughtUp {
		return time.Time{}, false
	}
	var next time.Time
	consider := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	for _, e := range l.entries {
		if !l.owned[e.partition] {
			continue
		}
		p := l.planOf(e)
		if p == nil {
			continue
		}
		st := &e.state
		if st.Admitted && !st.Cancelled && !st.Refused {
			if t, ok := st.NextDue(p); ok {
				consider(t)
			}
		}
		if fin, ok := st.FinishedAt(p); ok {
			consider(fin.Add(l.cfg.Retention))
		}
	}
	if next.IsZero() {
		return time.Time{}, false
	}
	if !next.After(now) {
		// Due yet not handled (the round that should have handled it
		// failed or skipped it): look again in a second, not in a loop.
		next = now.Add(time.Second)
	}
	return next, true
}

// mayAct reports whether this replica may act: it owns partitions in a
// generation that has not ended and has read the topic up to where it
// stood when the generation started.
func (l *stateLoop) mayAct() bool {
	return l.active && l.caughtUp && l.ended.Load() != int64(l.gen)
}

// act does every piece of work that is due, as long as mayAct holds. It
// returns the first error; the work is retried later and is idempotent.
// It stops between steps when the generation ends: every step leaves the
// schedule in a state the next owner completes (see fire).
func (l *stateLoop) act(ctx context.Context) error {
	if !l.mayAct() {
		return nil
	}
	if l.owned[0] {
		if err := l.admit(ctx); err != nil {
			return err
		}
	}
	if err := l.rejectBad(ctx); err != nil {
		return err
	}
	ids := make([]string, 0, len(l.entries))
	for id, e := range l.entries {
		if l.owned[e.partition] {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	for _, id := range ids {
		e, ok := l.entries[id]
		if !ok || !l.mayAct() {
			continue
		}
		if err := l.work(ctx, e); err != nil {
			if pipeline.IsPermanentProduceError(err) {
				// Retrying cannot help; do not hold up the other schedules.
				l.s.m.errors.Inc()
				l.log.Error().Err(err).Str("schedule", id).Msg("a record of this schedule can never be written; skipping it")
				continue
			}
			return fmt.Errorf("schedule %s: %w", id, err)
		}
	}
	return nil
}

// admit decides, for every schedule not yet admitted, whether it runs:
// its strategy must be valid in the scheduler's time zone and its app must
// have fewer than MaxPending unexecuted schedules. Only the owner of
// partition 0 decides, for every partition, so that the per-app count is
// exact however many replicas run and wherever the schedules' keys land.
// Decisions are taken in creation order; a refusal is sent as a rejected
// event and a dead-letter record before the refused state is recorded.
func (l *stateLoop) admit(ctx context.Context) error {
	var waiting []*entry
	pending := map[string]int{}
	for _, e := range l.entries {
		st := &e.state
		switch {
		case st.Request == nil || st.Refused || st.Cancelled:
		case !st.Admitted:
			waiting = append(waiting, e)
		case st.Pending(l.planOf(e)):
			pending[st.AppID]++
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	sort.Slice(waiting, func(i, j int) bool {
		a, b := &waiting[i].state, &waiting[j].state
		if a.CreatedAt != b.CreatedAt {
			return a.CreatedAt < b.CreatedAt
		}
		return a.ScheduleID < b.ScheduleID
	})
	now := l.cfg.Clock.Now()
	zone := l.cfg.Location.String()
	var rejections, records []pipeline.Output
	decided := make([]schema.Schedule, len(waiting))
	for i, e := range waiting {
		st := e.state
		code, reason := l.check(&st, pending[st.AppID])
		if code != 0 {
			st.Refused, st.RefusedCode, st.RefusedReason, st.RefusedAt = true, int(code), reason, now.UnixMilli()
			rejections = append(rejections, l.deadLetter(e.src, int(code), reason), l.rejectedEvent(&st, e.src, int(code), reason))
		} else {
			st.Admitted, st.TimeZone = true, zone
			if p, err := st.Plan(l.cfg.Location); err == nil && st.Pending(p) {
				pending[st.AppID]++
			}
		}
		st.UpdatedAt = now.UnixMilli()
		decided[i] = st
		records = append(records, l.stateOutput(st))
	}
	if err := l.produce(ctx, rejections...); err != nil {
		return fmt.Errorf("sending the rejections of refused schedules: %w", err)
	}
	if err := l.produce(ctx, records...); err != nil {
		return fmt.Errorf("recording the admission of %d schedules: %w", len(records), err)
	}
	for i, e := range waiting {
		e.state, e.latest = decided[i], decided[i]
		if decided[i].Refused {
			l.s.m.decisions.WithLabelValues("refused").Inc()
			l.log.Warn().Str("schedule", decided[i].ScheduleID).Str("app", decided[i].AppID).Int("code", decided[i].RefusedCode).
				Str("reason", decided[i].RefusedReason).Msg("schedule refused")
		} else {
			l.s.m.decisions.WithLabelValues("admitted").Inc()
			l.log.Info().Str("schedule", decided[i].ScheduleID).Str("app", decided[i].AppID).Msg("schedule admitted")
		}
	}
	return nil
}

// check returns the result code and reason refusing a schedule, or 0.
func (l *stateLoop) check(st *schema.Schedule, pendingOfApp int) (schema.ResultCode, string) {
	if st.Region != l.cfg.Region {
		return schema.CodeInvalidParam, fmt.Sprintf("schedule %s names region %q but is on %s of region %q", st.ScheduleID, st.Region, l.s.topic, l.cfg.Region)
	}
	if st.AppID == "" {
		return schema.CodeNeedAppIDWorkspaceID, fmt.Sprintf("schedule %s has no appId", st.ScheduleID)
	}
	loc := l.cfg.Location
	if err := schema.ValidateStrategy(st.StrategyType, &st.Strategy, time.UnixMilli(st.CreatedAt), loc); err != nil {
		return schema.CodeInvalidParam, fmt.Sprintf("schedule %s in time zone %s: %v", st.ScheduleID, loc, err)
	}
	if st.StrategyType != schema.StrategyFixedTime && st.StrategyType != schema.StrategyLoop {
		return schema.CodeInvalidParam, fmt.Sprintf("schedule %s has strategyType %d: only 1 (scheduled) and 2 (loop) are scheduled", st.ScheduleID, st.StrategyType)
	}
	if pendingOfApp >= l.cfg.MaxPending && !st.IsABTest() { // an A/B test's rest is part of a push already sent
		return schema.CodeInvalidParam, fmt.Sprintf("app %s already has %d unexecuted scheduled or loop pushes, the most allowed: "+
			"cancel one (pushpipe schedules cancel) or wait until one has run, then push again", st.AppID, pendingOfApp)
	}
	return 0, ""
}

// rejectBad dead-letters the undecodable records of this replica's
// partitions, with a rejected event, and deletes them from the topic (a
// tombstone) unless a valid state of the key is known, which is then
// written again.
func (l *stateLoop) rejectBad(ctx context.Context) error {
	keys := make([]string, 0, len(l.bad))
	for k, r := range l.bad {
		if l.owned[r.partition] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		r := l.bad[k]
		_, err := schema.DecodeSchedule(r.value)
		reason := "undecodable schedule record"
		if err != nil {
			reason = err.Error()
		}
		rej := &pipeline.Rejection{Code: int(schema.CodeInvalidParam), Reason: reason, Event: schema.Event{TaskID: k}}
		outs := []pipeline.Output{l.deadLetter(r, rej.Code, reason), pipeline.RejectedEvent(l.cfg.Region, r.message(l.s.topic), rej)}
		if err := l.produce(ctx, outs...); err != nil {
			return fmt.Errorf("dead-lettering the record at partition %d offset %d: %w", r.partition, r.offset, err)
		}
		if _, known := l.entries[k]; !known && k != "" {
			if err := l.produce(ctx, pipeline.Output{Topic: l.s.topic, Key: []byte(k)}); err != nil {
				return fmt.Errorf("deleting the undecodable record keyed %q: %w", k, err)
			}
		}
		delete(l.bad, k)
		l.log.Warn().Int("partition", r.partition).Int64("offset", r.offset).Str("reason", reason).Msg("schedule record rejected to the dead-letter topic")
	}
	return nil
}

// work does what is due for one schedule of this replica's partitions:
// fire its due occurrences, write its state again if the latest record
// lacks part of it, delete it once it has been finished for Retention.
func (l *stateLoop) work(ctx context.Context, e *entry) error {
	p := l.planOf(e)
	st := &e.state
	if st.Admitted && !st.Cancelled && !st.Refused && p != nil {
		if err := l.fire(ctx, e, p); err != nil {
			return err
		}
	}
	if !l.mayAct() {
		return nil
	}
	if !e.state.SameState(e.latest) {
		if err := l.publish(ctx, e); err != nil {
			return fmt.Errorf("writing its merged state: %w", err)
		}
	}
	if fin, ok := st.FinishedAt(p); ok && l.cfg.Clock.Now().Sub(fin) > l.cfg.Retention {
		if err := l.produce(ctx, pipeline.Output{Topic: l.s.topic, Key: []byte(st.ScheduleID)}); err != nil {
			return fmt.Errorf("deleting it after retention: %w", err)
		}
		delete(l.entries, st.ScheduleID)
		l.log.Info().Str("schedule", st.ScheduleID).Time("finished", fin).Msg("schedule deleted after its retention")
	}
	return nil
}

// fire publishes the schedule's due occurrences, oldest first. Each one is
// recorded in three steps, each acknowledged before the next:
//
//  1. the schedule with Firing set: the occurrence, and the partition and
//     end offset of push.requests.R where its request will land;
//  2. the occurrence's request on push.requests.R;
//  3. the schedule with Through at the occurrence and Firing cleared.
//
// A replica that finds Firing set (the firing was interrupted between 1
// and 3) reads push.requests.R from the recorded offset and publishes the
// request only if it is not there. Occurrences later than MaxLateness are
// recorded as missed instead.
func (l *stateLoop) fire(ctx context.Context, e *entry, p *schema.Plan) error {
	st := &e.state
	now := l.cfg.Clock.Now()
	loc := p.Location()
	if f := st.Firing; f != nil {
		occ := time.UnixMilli(f.Occurrence)
		taskID := st.OccurrenceTaskID(occ, loc)
		found, err := l.findRequest(ctx, *f, schema.AppKey(st.AppID, taskID), taskID)
		if err != nil {
			return fmt.Errorf("looking for occurrence %s on %s after an interrupted firing: %w", taskID, pipeline.RequestsTopic(l.cfg.Region), err)
		}
		if found || slices.Contains(st.Skipped, f.Occurrence) {
			st.Through, st.Firing = max(st.Through, f.Occurrence), nil
			if err := l.publish(ctx, e); err != nil {
				return fmt.Errorf("recording occurrence %s: %w", taskID, err)
			}
			if found {
				l.s.m.occurrences.WithLabelValues("recovered").Inc()
				l.log.Info().Str("schedule", st.ScheduleID).Str("occurrence", taskID).Msg("interrupted firing had published the occurrence; recorded it")
			}
		} else {
			l.log.Info().Str("schedule", st.ScheduleID).Str("occurrence", taskID).Msg("interrupted firing had not published the occurrence; firing it")
		}
	}
	dirty := false
	for l.mayAct() {
		occ, ok := st.NextDue(p)
		if !ok || occ.After(now) {
			break
		}
		taskID := st.OccurrenceTaskID(occ, loc)
		if late := now.Sub(occ); late > l.cfg.MaxLateness && !st.IsABTest() { // an A/B test's rest is sent however late
			st.Missed = insertSorted(st.Missed, occ.UnixMilli())
			st.Through = max(st.Through, occ.UnixMilli())
			dirty = true
			l.s.m.occurrences.WithLabelValues("missed").Inc()
			l.log.Warn().Str("schedule", st.ScheduleID).Str("occurrence", taskID).Dur("late", late).Dur("max_lateness", l.cfg.MaxLateness).
				Msg("occurrence missed: found later than the allowed lateness; not sent")
			continue
		}
		if st.IsABTest() && st.ABDecision == nil {
			if err := l.decideABTest(ctx, e); err != nil {
				return abTestWaits(l, st, err)
			}
			if !l.mayAct() {
				return nil // the next owner fires the rest with the recorded decision
			}
		}
		req := st.OccurrenceRequest(occ, loc)
		value, err := json.Marshal(req)
		if err != nil { // plain fields only; cannot happen
			return fmt.Errorf("encoding occurrence %s: %w", taskID, err)
		}
		key := schema.AppKey(st.AppID, taskID)
		part, off, err := l.requestPosition(ctx, key)
		if err != nil {
			return fmt.Errorf("locating occurrence %s on %s: %w", taskID, pipeline.RequestsTopic(l.cfg.Region), err)
		}
		st.Firing = &schema.Firing{Occurrence: occ.UnixMilli(), Partition: part, Offset: off, WrittenAt: time.Now().UnixMilli()}
		if err := l.publish(ctx, e); err != nil {
			return fmt.Errorf("recording the firing of %s: %w", taskID, err)
		}
		dirty = false
		if !l.mayAct() {
			return nil // the next owner finds Firing set and completes it
		}
		out := pipeline.Output{Topic: pipeline.RequestsTopic(l.cfg.Region), Key: []byte(key), Value: value}
		if err := l.produce(ctx, out); err != nil {
			return fmt.Errorf("publishing occurrence %s: %w", taskID, err)
		}
		if !l.mayAct() {
			return nil // the next owner finds the request and records it
		}
		st.Through, st.Firing = occ.UnixMilli(), nil
		if err := l.publish(ctx, e); err != nil {
			return fmt.Errorf("recording occurrence %s as fired: %w", taskID, err)
		}
		l.s.m.occurrences.WithLabelValues("fired").Inc()
		l.log.Info().Str("schedule", st.ScheduleID).Str("app", st.AppID).Str("occurrence", taskID).Time("due", occ).
			Dur("late", now.Sub(occ)).Msg("occurrence fired")
	}
	if dirty {
		if err := l.publish(ctx, e); err != nil {
			return fmt.Errorf("recording missed occurrences: %w", err)
		}
	}
	return nil
}

// requestPosition returns the partition of push.requests.R a request keyed
// key goes to and that partition's current end offset.
func (l *stateLoop) requestPosition(ctx context.Context, key string) (int, int64, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ActionTimeout)
	defer cancel()
	topic := pipeline.RequestsTopic(l.cfg.Region)
	parts, err := l.logs.Partitions(ctx, topic)
	if err != nil {
		return 0, 0, err
	}
	p := pipeline.KeyPartition([]byte(key), parts)
	sp, err := l.logs.Spans(ctx, topic, []int{p})
	if err != nil {
		return 0, 0, err
	}
	return p, sp[p].End, nil
}

// findRequest reports whether a request keyed key ("<appId>/<task id>") or
// legacyKey (the task id alone, as requests were keyed before keys carried
// the app) was written to push.requests.R after the position f recorded,
// reading until the end of the partition or records written ScanWindow
// after f was recorded.
func (l *stateLoop) findRequest(ctx context.Context, f schema.Firing, key, legacyKey string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ActionTimeout)
	defer cancel()
	topic := pipeline.RequestsTopic(l.cfg.Region)
	sp, err := l.logs.Spans(ctx, topic, []int{f.Partition})
	if err != nil {
		return false, err
	}
	deadline := time.UnixMilli(f.WrittenAt).Add(l.cfg.ScanWindow)
	found := false
	err = l.logs.ReadRange(ctx, topic, f.Partition, max(f.Offset, sp[f.Partition].First), sp[f.Partition].End, func(m kafka.Message) error {
		if k := string(m.Key); k == key || k == legacyKey {
			found = true
			return pipeline.ErrStopReading
		}
		if m.Time.After(deadline) {
			return pipeline.ErrStopReading
		}
		return nil
	})
	return found, err
}

// publish writes the entry's state as its latest record.
func (l *stateLoop) publish(ctx context.Context, e *entry) error {
	e.state.UpdatedAt = l.cfg.Clock.Now().UnixMilli()
	if err := l.produce(ctx, l.stateOutput(e.state)); err != nil {
		return err
	}
	e.latest = e.state
	return nil
}

func (l *stateLoop) stateOutput(s schema.Schedule) pipeline.Output {
	b, err := json.Marshal(s)
	if err != nil { // plain fields only; cannot happen
		panic(fmt.Sprintf("scheduler: encoding schedule %s: %v", s.ScheduleID, err))
	}
	return pipeline.Output{Topic: l.s.topic, Key: []byte(s.ScheduleID), Value: b}
}

// produce writes outs within ActionTimeout.
func (l *stateLoop) produce(ctx context.Context, outs ...pipeline.Output) error {
	if len(outs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, l.cfg.ActionTimeout)
	defer cancel()
	return l.cfg.Producer.Produce(ctx, outs)
}

// deadLetter is the dead-letter record of a refused or undecodable
// schedule record, built as the stage runtime builds its own.
func (l *stateLoop) deadLetter(r record, code int, reason string) pipeline.Output {
	return pipeline.DeadLetter("scheduler", l.cfg.Region, r.message(l.s.topic), code, reason)
}

// rejectedEvent is the rejected event of a refused schedule. Its id
// depends on the schedule only, so a decision taken again (after a crash)
// yields the same event.
func (l *stateLoop) rejectedEvent(st *schema.Schedule, src record, code int, reason string) pipeline.Output {
	ev := schema.Event{EventID: schema.NewEventID(schema.EventRejected, "schedule", st.ScheduleID), TS: recordMillis(src, time.UnixMilli(st.CreatedAt)),
		Region: l.cfg.Region, AppID: st.AppID, WorkspaceID: st.WorkspaceID, TaskID: st.ScheduleID,
		Event: schema.EventRejected, StatusCode: int64(code), StatusDesc: reason}
	if st.Request != nil {
		ev.PushType = st.Request.Type
	}
	return workers.EventOutput(l.cfg.Region, ev)
}

// recordMillis is the record's timestamp in Unix ms, or def's when the
// record has none.
func recordMillis(r record, def time.Time) int64 {
	if r.time.IsZero() {
		return def.UnixMilli()
	}
	return r.time.UnixMilli()
}

// insertSorted adds v to the sorted set s.
func insertSorted(s []int64, v int64) []int64 {
	i, found := slices.BinarySearch(s, v)
	if found {
		return s
	}
	return slices.Insert(slices.Clone(s), i, v)
}

// updateGauges refreshes the schedules-by-status gauge at most once a
// second.
func (l *stateLoop) updateGauges() {
	if time.Since(l.gaugesAt) < time.Second {
		return
	}
	l.gaugesAt = time.Now()
	counts := map[string]float64{schema.ScheduleWaiting: 0, schema.ScheduleActive: 0, schema.ScheduleDone: 0, schema.ScheduleCancelled: 0, schema.ScheduleRefused: 0}
	for _, e := range l.entries {
		counts[e.state.Status(l.planOf(e))]++
	}
	for status, n := range counts {
		l.s.m.schedules.WithLabelValues(status).Set(n)
	}
}
