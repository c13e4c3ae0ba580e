// Package approval keeps the approval flow's state: the requests that an
// app's policy (apps[].approval) holds for a second operator's approval,
// on the compacted topic push.approvals.R keyed "<appId>/<taskId>".
//
// # Flow
//
// Fanout holds a request its app's policy names (every BROADCAST, or more
// targets than maxTargets): instead of fanning it out it writes the
// request's approval record (schema.Approval: the request, its digest,
// who submitted it, when it expires) and an accepted event saying it
// awaits approval. An operator or admin of the app other than the
// submitter approves or rejects it in the console (Decide): the decision
// is written to the record, then the held request is published again on
// push.requests.R. Nobody deciding in time, the Sweeper writes the
// decision expired and publishes the request the same way.
//
// Fanout, reading push.approvals.R up to its end before it decides
// (Reader.Sync), fans a held request out only when the record of its key
// is approved, not yet Done, and the request's digest equals the held
// one; it rejects a rejected or expired one (rejected event with 3901 or
// 3902 and a dead-letter record), and in both cases writes the record
// again with Done set. A request of a key whose record is Done is a replay
// and is dropped, so a decision acts once however often the request comes
// back. Nothing in a request can claim an approval: the state is only in
// the records the pipeline wrote.
//
// # Recovery
//
// Decide writes the decision before the request, each acknowledged. A
// console that dies between the two leaves a decided record that is not
// Done: the Sweeper publishes its request again after RepublishAfter, and
// keeps doing so until fanout marks it Done. Copies are harmless: fanout
// acts on the first and drops the others.
package approval

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// Producer writes records and returns once Kafka acknowledged every one;
// *pipeline.Producer is the real one.
type Producer interface {
	Produce(ctx context.Context, outs []pipeline.Output) error
}

// ErrUnknown is returned by Decide for a key with no held request.
var ErrUnknown = errors.New("approval: no request is held under this id")

// ErrNotDecidable wraps why Decide refused a decision (already decided,
// expired, the submitter approving its own request).
var ErrNotDecidable = errors.New("approval: the request cannot be decided")

// Apply merges one record of push.approvals.R into state: a tombstone
// deletes its key, an undecodable record or one keyed other than its
// content is ignored (reported as the error).
func Apply(state map[string]schema.Approval, m kafka.Message) error {
	key := string(m.Key)
	if len(m.Value) == 0 {
		delete(state, key)
		return nil
	}
	a, err := schema.DecodeApproval(m.Value)
	if err != nil {
		return fmt.Errorf("record at partition %d offset %d: %w", m.Partition, m.Offset, err)
	}
	if a.Key() != key {
		return fmt.Errorf("record at partition %d offset %d is keyed %q but holds %q", m.Partition, m.Offset, key, a.Key())
	}
	state[key] = state[key].Merge(a)
	return nil
}

// ReadAll reads push.approvals.<region> from its start up to its current
// end and returns the merged state of every key.
func ReadAll(ctx context.Context, logs *pipeline.LogReader, region string) (map[string]schema.Approval, error) {
	state := map[string]schema.Approval{}
	err := logs.ReadTopic(ctx, pipeline.ApprovalsTopic(region), func(m kafka.Message) error {
		_ = Apply(state, m) // a bad record is skipped; the reader logs nothing here
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", pipeline.ApprovalsTopic(region), err)
	}
	return state, nil
}

// Output is the record of a for push.approvals.<region>.
func Output(region string, a schema.Approval) pipeline.Output {
	b, err := schema.EncodeRecord(a)
	if err != nil { // plain fields only; cannot happen
		panic(fmt.Sprintf("approval: encoding the record of %s: %v", a.Key(), err))
	}
	return pipeline.Output{Topic: pipeline.ApprovalsTopic(region), Key: []byte(a.Key()), Value: b}
}

// release writes a's decision, then its request on push.requests.R, each
// acknowledged before the next.
func release(ctx context.Context, prod Producer, region string, a schema.Approval) error {
	if err := prod.Produce(ctx, []pipeline.Output{Output(region, a)}); err != nil {
		return fmt.Errorf("recording the decision on task %s: %w", a.TaskID, err)
	}
	return republish(ctx, prod, region, a)
}

// republish writes a's request (schema.Approval.Released) on
// push.requests.<region> under its key.
func republish(ctx context.Context, prod Producer, region string, a schema.Approval) error {
	b, err := a.Released()
	if err != nil {
		return err
	}
	out := pipeline.Output{Topic: pipeline.RequestsTopic(region), Key: []byte(a.Key()), Value: b}
	if err := prod.Produce(ctx, []pipeline.Output{out}); err != nil {
		return fmt.Errorf("publishing the decided request of task %s: %w", a.TaskID, err)
	}
	return nil
}

// Decide records decision d (approved or rejected) on the held request of
// app appID and task taskID by who at now (note: the reason of a
// rejection), then publishes the request again for fanout to act on. It
// returns the decided record, ErrUnknown, an error wrapping
// ErrNotDecidable with the reason (already decided, expired, an approval
// by its submitter), or a Kafka error. It is safe for concurrent use; two
// operators deciding at once both write, and the first decision on the
// topic stands (schema.Approval.Merge).
func Decide(ctx context.Context, logs *pipeline.LogReader, prod Producer, region, appID, taskID string, d schema.ApprovalDecision, who, note string, now time.Time) (schema.Approval, error) {
	state, err := ReadAll(ctx, logs, region)
	if err != nil {
		return schema.Approval{}, err
	}
	a, ok := state[schema.ApprovalKey(appID, taskID)]
	if !ok {
		return schema.Approval{}, ErrUnknown
	}
	decided, err := a.Decide(d, who, note, now)
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrNotDecidable, err)
	}
	if err := release(ctx, prod, region, decided); err != nil {
		return decided, err
	}
	return decided, nil
}

// Waiting returns the records of app appID (every app when empty) in
// state, newest held first.
func Waiting(state map[string]schema.Approval, appID string) []schema.Approval {
	var out []schema.Approval
	for _, a := range state {
		if appID == "" || a.AppID == appID {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].HeldAt != out[j].HeldAt {
			return out[i].HeldAt > out[j].HeldAt
		}
		return out[i].TaskID < out[j].TaskID
	})
	return out
}

// ReaderConfig configures a Reader.
type ReaderConfig struct {
	// Brokers are the Kafka bootstrap addresses. Required.
	Brokers []string
	// Security secures every connection; the zero value is plaintext.
	Security pipeline.KafkaSecurity
	// Region selects push.approvals.<Region>.
	Region string
	// Logger receives read errors and skipped records.
	Logger zerolog.Logger
}

// Validate reports what to fix in the configuration.
func (c ReaderConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("approval: ReaderConfig.Brokers is empty: give at least one host:port")
	case !schema.ValidRegion(c.Region):
		return fmt.Errorf("approval: ReaderConfig.Region %q is not one of %v", c.Region, schema.Regions())
	}
	return nil
}

// Reader follows every partition of push.approvals.<region> from its
// start, without a consumer group, and keeps the merged state of every
// key in memory (held requests are few: one per broadcast or large push
// waiting or recently decided). Get and Sync are safe for concurrent use;
// Start is called once, Close is idempotent.
type Reader struct {
	cfg   ReaderConfig
	topic string
	logs  *pipeline.LogReader

	mu    sync.RWMutex
	state map[string]schema.Approval

	startOnce sync.Once
	follower  atomic.Pointer[pipeline.TopicFollower]
	closeOnce sync.Once
}

// NewReader returns a Reader; it reads nothing until Start.
func NewReader(cfg ReaderConfig) (*Reader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logs, err := pipeline.NewLogReader(pipeline.LogReaderConfig{Brokers: cfg.Brokers, Security: cfg.Security,
		ClientID: "pushpipe-approvals", What: "approvals", MaxWait: 200 * time.Millisecond, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("approval: %w", err)
	}
	return &Reader{cfg: cfg, topic: pipeline.ApprovalsTopic(cfg.Region), logs: logs, state: map[string]schema.Approval{}}, nil
}

// Start starts following every partition and returns once every record
// written before the call has been read (Sync). ctx bounds that wait, not
// the following; it goes on until Close. A second Start does nothing but
// Sync.
func (r *Reader) Start(ctx context.Context) error {
	var err error
	r.startOnce.Do(func() {
		var f *pipeline.TopicFollower
		if f, err = r.logs.FollowTopic(ctx, r.topic, r.add); err == nil {
			r.follower.Store(f)
		}
	})
	if err != nil {
		return fmt.Errorf("approval: %w", err)
	}
	return r.Sync(ctx)
}

func (r *Reader) add(m kafka.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := Apply(r.state, m); err != nil {
		r.cfg.Logger.Warn().Err(err).Str("topic", r.topic).Msg("approval record skipped")
	}
}

// Sync returns once the reader has read every record written to the topic
// before the call, or with ctx's error (or a Kafka error) wrapped: what
// Get answers afterwards knows every decision taken before Sync. It fails
// before Start succeeded.
func (r *Reader) Sync(ctx context.Context) error {
	f := r.follower.Load()
	if f == nil {
		return fmt.Errorf("approval: reading %s: the reader was not started", r.topic)
	}
	if err := f.Sync(ctx); err != nil {
		return fmt.Errorf("approval: %w", err)
	}
	return nil
}

// Get returns the state of key ("<appId>/<taskId>") as read so far.
func (r *Reader) Get(key string) (schema.Approval, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	a, ok := r.state[key]
	return a, ok
}

// Snapshot returns a copy of the state as read so far.
func (r *Reader) Snapshot() map[string]schema.Approval {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]schema.Approval, len(r.state))
	for k, a := range r.state {
		out[k] = a
	}
	return out
}

// Close stops the followers and waits for them. It is idempotent and safe
// on a reader never started.
func (r *Reader) Close() error {
	r.closeOnce.Do(func() {
		if f := r.follower.Load(); f != nil {
			_ = f.Close()
		}
		_ = r.logs.Close()
	})
	return nil
}
