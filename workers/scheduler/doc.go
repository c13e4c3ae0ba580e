// Package scheduler is the scheduler worker: it fires the occurrences of
// scheduled (strategyType 1, fixedTime) and loop (strategyType 2, daily,
// weekly or monthly within a window of at most 180 days) pushes, and lists
// and cancels them.
//
// # Data flow
//
// Fanout turns a request with strategyType 1 or 2 into a schedule record
// (schema.Schedule) on the compacted topic push.schedules.R, keyed by the
// schedule id. Every scheduler replica reads every partition of that topic
// from its start and keeps the merged state of every schedule in memory,
// so the state survives restarts without any other store. At each due
// occurrence the replica that owns the schedule's partition publishes an
// ordinary immediate request on push.requests.R: the schedule's request
// with ScheduleID set, TaskID the occurrence id
// "<scheduleId>-<yyyyMMddHHmmss>" (its Kafka key), AcceptedAt the
// occurrence instant and, for loops, every msgKey suffixed the same way.
// The same occurrence always yields byte-for-byte the same request, so the
// ids derived downstream (task, messages, deliveries, events) are the same
// too.
//
// # Time zone
//
// Loop dates and times ("00:00 of the start date", time HH:mm:ss) and the
// time in occurrence ids are wall-clock times of Config.Location, UTC by
// default. The zone is recorded on each schedule when it is admitted, so
// changing the configuration later does not move existing schedules. In
// UTC daylight saving plays no part; in a zone with daylight saving a loop
// keeps its wall-clock time. Fanout checks a new schedule in UTC; the
// scheduler checks it again in its zone when it admits it.
//
// # Ownership
//
// Replicas share the consumer group "pushpipe.scheduler.<region>" on
// push.schedules.R but never commit offsets: the group serves only to give
// each partition one owner per generation. A replica acts for a
// generation only after reading every partition up to the end offsets
// taken when the generation started. When the generation ends it stops
// after the step in progress (one write or lookup, bounded by
// ActionTimeout) and only then acknowledges the end; kafka-go rejoins the
// group only after that acknowledgement, and the coordinator starts the
// next generation only once every member has rejoined, so the previous
// owner's last write is on the topic before the next owner takes its
// snapshot. Stopping between any two steps is safe: each leaves a state
// the next owner completes (see below).
//
// The owner of partition 0 also admits new schedules, for every
// partition, one at a time in creation order: it checks the strategy in
// its time zone and refuses the schedule if its app already has MaxPending
// (100) unexecuted ones. Deciding in one place makes the per-app count
// exact however many replicas run and wherever the schedules' keys hash.
// A refusal is a rejected event (result code 3028 INVALID_PARAM, the
// reason naming the limit) and a dead-letter record of the schedule
// record, then the refused state on the topic; a refused schedule never
// fires, and the decision is not taken again after a restart.
//
// # Exactly once
//
// Every record of a schedule holds its whole state, and every field only
// grows (flags are set once, Through only rises, sets only gain members),
// so the state is the Merge of all records in any order; whoever writes
// (fanout replaying the creation, `schedules cancel`, an old and a new
// owner), nothing written is lost, and the owner re-publishes the merged
// state whenever the latest record lacks part of it, so the record that
// compaction keeps is the whole state.
//
// An occurrence is fired in three acknowledged steps: (1) the schedule
// with Firing set, naming the occurrence and the partition and end offset
// of push.requests.R where its request will land; (2) the request; (3) the
// schedule with Through at the occurrence and Firing cleared. Only the
// partition's owner fires, and it fires only occurrences after Through:
//
//   - a restart, a rebalance or a second replica finds Through already
//     past every occurrence fired before (step 3 was acknowledged): none
//     is fired again, none is lost (occurrences that fell due meanwhile
//     are fired late, up to MaxLateness, else recorded as missed);
//   - a crash between steps 1 and 3 leaves Firing set: the next owner
//     reads push.requests.R from the recorded offset and publishes the
//     request only if it is not there, then records step 3;
//   - a crash before step 1 leaves no trace, and the occurrence is fired
//     by the next owner.
//
// What remains is a replica that keeps writing after it lost its
// partitions without noticing (a process frozen longer than the session
// timeout, or a produce acknowledged only after the next owner's search):
// it may publish an occurrence a second time. That request is identical to
// the first, with the same task id and msgKeys, so fanout's replay
// deduplication (a (msgKey, device) pair already fanned out is not
// delivered again) keeps devices from receiving it twice.
//
// # Listing and cancelling
//
// ReadSchedules reads the compacted topic from its start, which is what
// `pushpipe schedules list` shows (the scheduler's own source of truth; no
// second store to keep in step). Cancel writes the schedule's state with
// Cancelled set (a schedule id) or with the occurrence added to Skipped
// (an occurrence id), which the owner applies when it reads it. Schedules
// that will never fire again stay listed for Config.Retention, then their
// owner deletes them with a tombstone.
package scheduler
