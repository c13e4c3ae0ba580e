package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// maxGathered bounds how many records the gatherer holds beyond the
// reader's own queue (BatchSize records): enough for a full batch at the
// default BatchSize, without doubling the read-ahead of stages with very
// large batches.
const maxGathered = 1024

// loop fetches and processes batches until ctx ends.
//
// A gatherer goroutine reads records from the consumer group as they come
// and queues them for the loop, which takes the first record waiting (or
// the next to come), every record already queued behind it (up to
// BatchSize), and then, unless BatchWait is NoBatchWait, waits for more
// as BatchWait and BatchLinger say. With NoBatchWait a batch is handed to
// the handler as soon as a handling slot is free: records accumulate only
// while the handler is busy, so batches are large under load and cost no
// added wait at low rates.
//
// Each batch is a flight: handled, then (once the previous flight is
// produced and committed) produced and committed, in a goroutine of its
// own. A handling slot (ConcurrentBatches of them) is taken before a batch
// is gathered and given back once the batch is handled and the previous
// flight is done, so at most ConcurrentBatches batches are being handled
// and one more is being produced and committed; with one slot, the next
// batch is gathered and handled while the previous one is produced and
// committed. Outputs and commits follow the order of the batches.
func (s *Stage) loop(ctx, workCtx context.Context, reader *kafka.Reader) error {
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
	// The gatherer stops before the flights are waited for, so that it
	// does not read ahead meanwhile. Records it queued are not committed
	// and are delivered again to the partitions' next owner.
	gctx, stopGather := context.WithCancel(ctx)
	gathered := make(chan kafka.Message, min(s.cfg.BatchSize, maxGathered))
	var gatherer sync.WaitGroup
	gatherer.Add(1)
	go func() {
		defer gatherer.Done()
		s.gather(gctx, reader, gathered)
	}()
	defer func() {
		stopGather()
		gatherer.Wait()
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
		batch := s.fetchBatch(ctx, gathered)
		if len(batch) == 0 {
			<-slots
			return nil // only when ctx ended
		}
		var prev *flight
		if len(flights) > 0 {
			prev = flights[len(flights)-1]
		}
		flights = append(flights, s.startFlight(workCtx, reader, batch, prev, func() { <-slots }))
		if ctx.Err() != nil {
			return nil
		}
	}
}

// gather reads records from the consumer group into out, in the order the
// reader returns them, until ctx ends. Fetch failures are counted, logged
// and retried with backoff.
func (s *Stage) gather(ctx context.Context, r *kafka.Reader, out chan<- kafka.Message) {
	failures := 0
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			s.m.incError(ErrorKindFetch)
			d := s.backoff(failures)
			s.log.Warn().Err(fmt.Errorf("fetching from %s: %w", s.cfg.Topic, err)).Int("attempt", failures).Dur("retry_in", d).
				Msg("fetching from the consumer group failed")
			if !Pause(ctx, d) {
				return
			}
			continue
		}
		failures = 0
		select {
		case out <- m:
		case <-ctx.Done():
			return
		}
	}
}

// fetchBatch returns the next batch from in: the first record (waiting
// for it until ctx ends; nil then), every record already queued behind it,
// and, unless BatchWait is NoBatchWait, those that come within BatchWait
// of the first (handed over early once none came for BatchLinger), at
// most BatchSize in all. If ctx ends while it waits for more, the records
// gathered so far are returned.
func (s *Stage) fetchBatch(ctx context.Context, in <-chan kafka.Message) []kafka.Message {
	var m kafka.Message
	select {
	case m = <-in:
	case <-ctx.Done():
		return nil
	}
	start := time.Now()
	s.markOK()
	// Room for a quarter more records than the previous batch held (at
	// least 16), not BatchSize: a kafka.Message is about 150 bytes, at low
	// rates most batches hold one record, and under load they hold about
	// as many as the one before, give or take (growing a full slice
	// copies it).
	last := int(s.lastBatch.Load())
	batch := make([]kafka.Message, 1, min(s.cfg.BatchSize, max(16, last+last/4)))
	batch[0] = m
	if s.cfg.BatchSize == 1 {
		return batch
	}
	defer func() { s.lastBatch.Store(int64(len(batch))) }()
	// What has already arrived is taken without waiting.
drain:
	for len(batch) < s.cfg.BatchSize {
		select {
		case m := <-in:
			batch = append(batch, m)
		default:
			break drain
		}
	}
	if len(batch) == s.cfg.BatchSize {
		return batch
	}
	// Without a BatchWait only a burst's batch waits to fill; with one, a
	// burst's batch waits the longer of the two.
	full := s.cfg.BatchWait
	if s.cfg.BurstRecords > 0 && len(batch) >= s.cfg.BurstRecords {
		full = max(full, s.cfg.BurstWait)
	}
	if full < 0 {
		return batch
	}
	wait := full - time.Since(start)
	if wait <= 0 {
		return batch
	}
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	// The linger timer is not reset for every record (a Reset a record
	// was a fifth of this function's CPU in a busy event sink): records
	// that come while others are queued are taken without a select on
	// the timers, lastAt notes when the queue ran empty after a record,
	// and a linger timer that fires earlier than BatchLinger after lastAt
	// is set again for the rest.
	var linger *time.Timer
	var lingered <-chan time.Time
	var lastAt time.Time
	if s.cfg.BatchLinger > 0 && s.cfg.BatchLinger < full {
		linger = time.NewTimer(s.cfg.BatchLinger)
		defer linger.Stop()
		lingered, lastAt = linger.C, time.Now()
	}
	took := false // a record came since lastAt was noted
	for len(batch) < s.cfg.BatchSize {
		select {
		case m := <-in:
			batch, took = append(batch, m), true
			continue
		default:
		}
		if took && linger != nil {
			lastAt, took = time.Now(), false
		}
		select {
		case m := <-in:
			batch, took = append(batch, m), true
		case <-deadline.C:
			return batch
		case <-lingered:
			if idle := time.Since(lastAt); idle < s.cfg.BatchLinger {
				linger.Reset(s.cfg.BatchLinger - idle)
				continue
			}
			return batch
		case <-ctx.Done():
			return batch
		}
	}
	return batch
}
