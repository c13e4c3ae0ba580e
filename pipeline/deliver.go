package pipeline

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/schema"
)

// Kinds of records a batch produces.
const (
	refOutput = iota // a handler output
	refDLQ           // a dead-letter record built by the runtime
	refEvent         // a rejected event built by the runtime
)

// outRef ties a record to be produced to the batch record that caused it.
type outRef struct {
	rec  int
	kind int
}

// deliver produces everything the batch caused and returns once all of it
// was acknowledged. Transient failures are retried with backoff; a handler
// output that can never be written rejects the record that caused it.
func (s *Stage) deliver(ctx context.Context, batch []kafka.Message, results []Result) error {
	var pending []Output
	var refs []outRef
	rejected := make([]bool, len(batch))
	reject := func(i int, rej *Rejection) {
		rejected[i] = true
		dlq, ev := s.rejectionRecords(batch[i], rej)
		pending = append(pending, dlq, ev)
		refs = append(refs, outRef{i, refDLQ}, outRef{i, refEvent})
		s.m.incRejected(rej.Code)
		s.log.Warn().Int("partition", batch[i].Partition).Int64("offset", batch[i].Offset).
			Int("code", rej.Code).Str("reason", rej.Reason).Msg("record rejected to the dead-letter topic")
	}

	for i, r := range results {
		var bad string
		for _, o := range r.Outputs {
			if o.Topic == "" {
				bad = "handler output has no topic"
				break
			}
			if reg, _ := TopicRegion(o.Topic); reg != s.cfg.Region {
				bad = fmt.Sprintf("handler output to topic %q is outside region %s", o.Topic, s.cfg.Region)
				break
			}
		}
		if bad != "" {
			s.m.incError(ErrorKindPanic)
			ev := schema.Event{}
			if r.Reject != nil {
				ev = r.Reject.Event
			}
			reject(i, &Rejection{Code: int(schema.CodeSystemError), Reason: bad, Event: ev})
			continue
		}
		for _, o := range r.Outputs {
			pending = append(pending, o)
			refs = append(refs, outRef{i, refOutput})
		}
		if r.Reject != nil {
			reject(i, r.Reject)
		}
	}

	for attempt := 1; len(pending) > 0; attempt++ {
		err := s.p.Produce(ctx, pending)
		if err == nil {
			s.m.addProduced(len(pending))
			return nil
		}
		s.m.incError(ErrorKindProduce)
		if errors.Is(err, ErrProducerClosed) {
			return err
		}
		var pe *ProduceError
		if !errors.As(err, &pe) || len(pe.Errs) != len(pending) {
			pe = &ProduceError{Errs: make([]error, len(pending))}
			for i := range pe.Errs {
				pe.Errs[i] = err
			}
		}
		failed := pe.Failed()
		s.m.addProduced(len(pending) - len(failed))

		var next []Output
		var nextRefs []outRef
		transient := false
		var newlyRejected []int
		causes := map[int]error{}
		for _, i := range failed {
			ref, e := refs[i], pe.Errs[i]
			switch {
			case rejected[ref.rec] && ref.kind == refOutput:
				// The record was rejected meanwhile; its outputs are moot.
			case IsPermanentProduceError(e) && ref.kind == refOutput:
				rejected[ref.rec] = true
				newlyRejected = append(newlyRejected, ref.rec)
				causes[ref.rec] = fmt.Errorf("output to topic %q: %w", pending[i].Topic, e)
			case IsPermanentProduceError(e) && ref.kind == refDLQ && len(pending[i].Value) > 0:
				o := truncatedDLQ(pending[i])
				s.log.Error().Err(e).Int("partition", batch[ref.rec].Partition).Int64("offset", batch[ref.rec].Offset).
					Msg("dead-letter record cannot be written; writing it without its value")
				next, nextRefs = append(next, o), append(nextRefs, ref)
			case IsPermanentProduceError(e):
				s.log.Error().Err(e).Str("to_topic", pending[i].Topic).Int("partition", batch[ref.rec].Partition).
					Int64("offset", batch[ref.rec].Offset).Msg("record built by the runtime can never be written; dropping it")
			default:
				transient = true
				next, nextRefs = append(next, pending[i]), append(nextRefs, ref)
			}
		}
		// Outputs of newly rejected records still waiting are moot too.
		if len(newlyRejected) > 0 {
			keep, keepRefs := next[:0:0], nextRefs[:0:0]
			for j, o := range next {
				if rejected[nextRefs[j].rec] && nextRefs[j].kind == refOutput {
					continue
				}
				keep, keepRefs = append(keep, o), append(keepRefs, nextRefs[j])
			}
			next, nextRefs = keep, keepRefs
		}
		pending, refs = next, nextRefs
		for _, rec := range newlyRejected {
			var ev schema.Event
			if results[rec].Reject != nil {
				ev = results[rec].Reject.Event
			}
			reject(rec, &Rejection{
				Code: int(schema.CodeSystemError), Event: ev,
				Reason: fmt.Sprintf("an output of this record can never be written: %v", causes[rec]),
			})
		}
		if !transient {
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("producing %d records: %w (last error: %v)", len(pending), ctx.Err(), err) //nolint:errorlint // callers classify by the context's error; the last attempt's error is context only, not wrapped
		}
		d := s.backoff(attempt)
		s.log.Warn().Err(err).Int("records", len(pending)).Int("attempt", attempt).Dur("retry_in", d).Msg("producing failed; retrying the records not acknowledged")
		if !Pause(ctx, d) {
			return fmt.Errorf("producing %d records: %w (last error: %v)", len(pending), ctx.Err(), err) //nolint:errorlint // callers classify by the context's error; the last attempt's error is context only, not wrapped
		}
	}
	return nil
}
