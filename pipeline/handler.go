package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/schema"
)

// Rejection marks a record that cannot be handled as sent: it is never
// retried; the runtime writes its raw bytes to the region's dead-letter
// topic and a rejected event to the region's events topic.
//
// The handler fills Code (a schema.ResultCode such as 3019
// TASKNAME_NULL), Reason (what is wrong, for people) and whatever it knows
// of Event (app, workspace, task, msg id, target...). The runtime fills
// Event.EventID (deterministic from the source topic, partition and offset,
// so a replay produces the same id), Event.TS (the record's timestamp),
// Event.Event (rejected), Event.StatusCode (Code), Event.StatusDesc
// (Reason) and Event.Region (always the stage's region: the record arrived
// there, whatever region it claims).
type Rejection struct {
	Code   int
	Reason string
	Event  schema.Event
}

// Result is what handling one record caused. Outputs are produced whether
// or not Reject is set (a rejecting handler usually returns none); every
// output must go to a topic of the stage's region, or the record is
// rejected with code 9000 instead.
type Result struct {
	Outputs []Output
	Reject  *Rejection
}

// BatchHandler handles the records of one batch, in order, and returns
// results index-aligned with msgs (len(results) == len(msgs)).
//
// A returned error means the batch as a whole could not be handled now (a
// database is down, a dependency times out): the runtime calls HandleBatch
// again with the same records after a capped exponential backoff and never
// commits past them, so the handler must be idempotent. A record that can
// never be handled must be rejected through its Result instead.
//
// A panic, or a result count that does not match, is treated as a bug
// triggered by some record: the runtime re-runs the batch one record at a
// time and rejects each record that still panics with code 9000
// (SYSTEM_ERROR).
//
// ctx is cancelled only when the stage's shutdown deadline passes. The
// handler must not keep msgs or the slices inside them after returning.
// HandleBatch is called from one goroutine at a time per Stage.
type BatchHandler interface {
	HandleBatch(ctx context.Context, msgs []kafka.Message) ([]Result, error)
}

// BatchHandlerFunc adapts a function to BatchHandler.
type BatchHandlerFunc func(ctx context.Context, msgs []kafka.Message) ([]Result, error)

// HandleBatch calls f.
func (f BatchHandlerFunc) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]Result, error) {
	return f(ctx, msgs)
}

// handleBatch runs the handler on one batch. It returns an error only if
// ctx (the work context) ended first; the batch is then not committed.
func (s *Stage) handleBatch(ctx context.Context, batch []kafka.Message) ([]Result, error) {
	s.m.addConsumed(len(batch))
	s.m.observeBatch(len(batch))
	start := time.Now()
	results, err := s.handle(ctx, batch)
	s.m.observeHandle(time.Since(start).Seconds())
	return results, err
}

// handlerBug is a panic or a broken result contract inside HandleBatch.
type handlerBug struct {
	reason string
	stack  []byte
}

func (b *handlerBug) Error() string { return b.reason }

// call runs the handler once, turning a panic or a wrong result count into
// a *handlerBug.
func (s *Stage) call(ctx context.Context, msgs []kafka.Message) (res []Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, &handlerBug{reason: fmt.Sprintf("handler panicked: %v", p), stack: debug.Stack()}
		}
	}()
	res, err = s.h.HandleBatch(ctx, msgs)
	if err == nil && len(res) != len(msgs) {
		return nil, &handlerBug{reason: fmt.Sprintf("handler returned %d results for %d records", len(res), len(msgs))}
	}
	return res, err
}

// handle returns index-aligned results for msgs, retrying handler errors
// with backoff until ctx ends and isolating records that make the handler
// panic.
func (s *Stage) handle(ctx context.Context, msgs []kafka.Message) ([]Result, error) {
	for attempt := 1; ; attempt++ {
		res, err := s.call(ctx, msgs)
		if err == nil {
			return res, nil
		}
		var bug *handlerBug
		if errors.As(err, &bug) {
			s.m.incError(ErrorKindPanic)
			if len(msgs) == 1 {
				s.log.Error().Int("partition", msgs[0].Partition).Int64("offset", msgs[0].Offset).
					Str("reason", bug.reason).Bytes("stack", bug.stack).Msg("handler failed on this record; rejecting it")
				return []Result{{Reject: &Rejection{Code: int(schema.CodeSystemError), Reason: bug.reason}}}, nil
			}
			s.log.Warn().Int("partition", msgs[0].Partition).Int64("offset", msgs[0].Offset).Int("records", len(msgs)).
				Str("reason", bug.reason).Msg("handler failed on a batch; re-running its records one by one")
			out := make([]Result, 0, len(msgs))
			for i := range msgs {
				r, err := s.handle(ctx, msgs[i:i+1])
				if err != nil {
					return nil, err
				}
				out = append(out, r[0])
			}
			return out, nil
		}
		if errors.Is(err, ErrStopping) {
			return nil, fmt.Errorf("handling batch at partition %d offset %d: %w", msgs[0].Partition, msgs[0].Offset, err)
		}
		s.m.incError(ErrorKindHandler)
		if ctx.Err() != nil {
			return nil, fmt.Errorf("handling batch at partition %d offset %d: %w (last handler error: %v)", msgs[0].Partition, msgs[0].Offset, ctx.Err(), err) //nolint:errorlint // callers classify by the context's error; the last attempt's error is context only, not wrapped
		}
		d := s.backoff(attempt)
		s.log.Warn().Err(err).Int("partition", msgs[0].Partition).Int64("offset", msgs[0].Offset).Int("records", len(msgs)).
			Int("attempt", attempt).Dur("retry_in", d).Msg("handler could not handle the batch; retrying")
		if !Pause(ctx, d) {
			return nil, fmt.Errorf("handling batch at partition %d offset %d: %w (last handler error: %v)", msgs[0].Partition, msgs[0].Offset, ctx.Err(), err) //nolint:errorlint // callers classify by the context's error; the last attempt's error is context only, not wrapped
		}
	}
}
