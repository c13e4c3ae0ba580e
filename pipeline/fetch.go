package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// loop fetches and processes batches until ctx ends.
//
// Each batch is a flight: handled, then (once the previous flight is
// produced and committed) produced and committed, in a goroutine of its
// own. A handling slot (ConcurrentBatches of them) is taken before a batch
// is fetched and given back once the batch is handled and the previous
// flight is done, so at most ConcurrentBatches batches are being handled
// and one more is being produced and committed; with one slot, the next
// batch is fetched and handled while the previous one is produced and
// committed. Outputs and commits follow the order of the batches.
func (s *Stage) loop(ctx, workCtx context.Context, reader *kafka.Reader) error {
	fetchFailures := 0
	slots := make(chan struct{}, s.cfg.ConcurrentBatches)
	var flights []*flight // started and not yet seen done, in batch order
	stop := func(err error, batch []kafka.Message) error {
		if errors.Is(err, ErrProducerClosed) {
			return fmt.Errorf("pipeline: stage %s: %w", s.cfg.Name, err)
		}
		msg := "shutdown deadline passed; batch left uncommitted and will be delivered again"
		if errors.Is(err, ErrStopping) {
			msg = "stopping while the handler waited; batch left uncommitted and will be delivered again"
		}
		s.log.Warn().Err(err).Int("partition", batch[0].Partition).Int64("offset", batch[0].Offset).
			Int("records", len(batch)).Msg(msg)
		return nil
	}
	// settled pops the flights that are done from the front, returning
	// the error that stopped one (and its batch); later flights pass the
	// same error on, so it is reported once.
	var reported []kafka.Message
	settled := func() ([]kafka.Message, error) {
		for len(flights) > 0 {
			select {
			case <-flights[0].done:
			default:
				return nil, nil
			}
			f := flights[0]
			flights = flights[1:]
			if f.err != nil {
				reported = f.errBatch
				return f.errBatch, f.err
			}
		}
		return nil, nil
	}
	defer func() {
		for _, f := range flights {
			if f.wait() != nil {
				if reported == nil || &f.errBatch[0] != &reported[0] {
					_ = stop(f.err, f.errBatch)
				}
				return
			}
		}
	}()
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		if batch, err := settled(); err != nil {
			return stop(err, batch)
		}
		batch, err := s.fetchBatch(ctx, reader)
		if len(batch) > 0 {
			var prev *flight
			if len(flights) > 0 {
				prev = flights[len(flights)-1]
			}
			flights = append(flights, s.startFlight(workCtx, reader, batch, prev, func() { <-slots }))
		} else {
			<-slots
		}
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			fetchFailures = 0
			continue
		}
		fetchFailures++
		s.m.incError(ErrorKindFetch)
		d := s.backoff(fetchFailures)
		s.log.Warn().Err(err).Int("attempt", fetchFailures).Dur("retry_in", d).Msg("fetching from the consumer group failed")
		if !Pause(ctx, d) {
			return nil
		}
	}
}

func (s *Stage) fetchBatch(ctx context.Context, r *kafka.Reader) ([]kafka.Message, error) {
	m, err := r.FetchMessage(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil
		}
		return nil, fmt.Errorf("fetching from %s: %w", s.cfg.Topic, err)
	}
	s.markOK()
	// Room for as many records as the previous batch held (at least 16),
	// not BatchSize: a kafka.Message is about 150 bytes, at low rates most
	// batches hold one record, and under load they hold about as many as
	// the one before.
	batch := make([]kafka.Message, 1, min(s.cfg.BatchSize, max(16, int(s.lastBatch.Load()))))
	batch[0] = m
	if s.cfg.BatchSize == 1 {
		return batch, nil
	}
	defer func() { s.lastBatch.Store(int64(len(batch))) }()
	// One context ends the gathering: at BatchWait after the first record,
	// or once no record came for BatchLinger (a timer reset at each
	// record), so that a record costs no context and timer of its own.
	bctx, cancel := context.WithTimeout(ctx, s.cfg.BatchWait)
	defer cancel()
	var linger *time.Timer
	if s.cfg.BatchLinger > 0 && s.cfg.BatchLinger < s.cfg.BatchWait {
		linger = time.AfterFunc(s.cfg.BatchLinger, cancel)
		defer linger.Stop()
	}
	for len(batch) < s.cfg.BatchSize {
		m, err := r.FetchMessage(bctx)
		if err != nil {
			if bctx.Err() != nil {
				return batch, nil
			}
			return batch, fmt.Errorf("fetching from %s: %w", s.cfg.Topic, err)
		}
		batch = append(batch, m)
		if linger != nil && !linger.Reset(s.cfg.BatchLinger) {
			// The linger ran out while this record arrived.
			return batch, nil
		}
	}
	return batch, nil
}
