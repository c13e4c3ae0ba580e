package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// Stage is one consumer-group member running the loop
//
//	fetch → batch → HandleBatch → produce outputs, DLQ records, events → commit
//
// for one input topic. Offsets are committed only after everything the
// batch caused was acknowledged. Run it once; Ready may be called from any
// goroutine.
type Stage struct {
	cfg StageConfig
	h   BatchHandler
	p   *Producer
	log zerolog.Logger
	m   *Metrics

	started atomic.Bool
	running atomic.Bool
	lastOK  atomic.Int64 // unix nanoseconds of the last successful fetch or probe
	// lastBatch is how many records the previous fetched batch held.
	lastBatch atomic.Int64

	// beforeCommit, when set (tests only), runs in the delivery goroutine
	// after a batch's outputs are produced and before it is committed.
	beforeCommit func(batch []kafka.Message)
}

// NewStage returns a Stage that reads cfg.Topic in group cfg.GroupID, hands
// batches to h and writes through p. p may be shared with other stages; the
// Stage does not close it. NewStage does not contact the brokers.
func NewStage(cfg StageConfig, h BatchHandler, p *Producer) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, errors.New("pipeline: NewStage: handler is nil")
	}
	if p == nil {
		return nil, errors.New("pipeline: NewStage: producer is nil: create one with NewProducer")
	}
	cfg = cfg.withDefaults()
	s := &Stage{
		cfg: cfg,
		h:   h,
		p:   p,
		log: cfg.Logger.With().Str("stage", cfg.Name).Str("region", cfg.Region).Str("topic", cfg.Topic).Logger(),
		m:   cfg.Metrics,
	}
	if s.m == nil {
		s.m = NewMetrics(nil, cfg.Name, cfg.Region)
	}
	rc := s.readerConfig()
	if err := rc.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline: NewStage: reader configuration: %w", err)
	}
	return s, nil
}

func (s *Stage) readerConfig() kafka.ReaderConfig {
	c := s.cfg
	return kafka.ReaderConfig{
		Brokers:           c.Brokers,
		GroupID:           c.GroupID,
		Topic:             c.Topic,
		Dialer:            c.Security.Dialer("pushpipe-"+c.Name, 10*time.Second),
		QueueCapacity:     c.BatchSize,
		MinBytes:          1,
		MaxBytes:          c.FetchMaxBytes,
		MaxWait:           c.FetchMaxWait,
		ReadLagInterval:   -1,
		HeartbeatInterval: c.HeartbeatInterval,
		// 0: synchronous, CommitMessages returns once the broker stored the
		// offsets. Positive: CommitMessages hands them to the group's
		// periodic commit, which also commits on revocation and Close.
		CommitInterval:         c.CommitInterval,
		PartitionWatchInterval: 5 * time.Second,
		WatchPartitionChanges:  true,
		SessionTimeout:         c.SessionTimeout,
		RebalanceTimeout:       c.RebalanceTimeout,
		JoinGroupBackoff:       500 * time.Millisecond,
		StartOffset:            kafka.FirstOffset,
		ReadBackoffMin:         100 * time.Millisecond,
		ReadBackoffMax:         time.Second,
		IsolationLevel:         kafka.ReadCommitted,
		MaxAttempts:            3,
		Logger: kafka.LoggerFunc(func(msg string, args ...any) {
			s.log.Trace().Msgf(msg, args...)
		}),
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			s.log.Warn().Str("source", "kafka-go").Msgf(msg, args...)
		}),
	}
}

// Run joins the consumer group and processes batches until ctx is
// cancelled. It blocks.
//
// On cancellation Run stops fetching, finishes the in-flight batch (handle,
// produce, commit) within ShutdownTimeout, leaves the group and returns nil.
// If the deadline passes first, the batch stays uncommitted and is
// delivered again to whichever replica next owns its partitions.
//
// Failures are retried, never skipped: handler errors and produce errors
// are retried with backoff without committing past the batch; fetch errors
// are logged and retried; a failed commit is logged and left to the next
// commit (offsets are cumulative). Run returns an error only if it was
// called before, or if the producer was closed under it (the batch is then
// left uncommitted).
func (s *Stage) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("pipeline: Stage.Run called twice: create a new Stage for each run")
	}
	s.running.Store(true)
	defer s.running.Store(false)
	if !s.waitForTopic(ctx) {
		s.log.Info().Msg("stage stopped before its input topic existed")
		return nil
	}
	if s.cfg.Prepare != nil {
		stop, err := s.cfg.Prepare(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("pipeline: stage %s: preparing: %w", s.cfg.Name, err)
		}
		if stop != nil {
			defer stop()
		}
	}
	reader := kafka.NewReader(s.readerConfig())

	// workCtx outlives ctx by ShutdownTimeout so the in-flight batch can
	// finish after cancellation.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	workCtx = context.WithValue(workCtx, stoppingKey{}, ctx.Done())
	runDone := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() {
		defer wg.Done()
		s.shutdownTimer(ctx, runDone, cancelWork)
	}()
	go func() {
		defer wg.Done()
		s.statsLoop(runDone, reader)
	}()
	go func() {
		defer wg.Done()
		s.probeLoop(workCtx, runDone)
	}()

	s.log.Debug().Str("group", s.cfg.GroupID).Int("batch_size", s.cfg.BatchSize).Msg("stage started")
	runErr := s.loop(ctx, workCtx, reader)

	s.running.Store(false)
	if err := reader.Close(); err != nil {
		s.log.Warn().Err(err).Msg("closing the consumer group reader")
	}
	close(runDone)
	wg.Wait()
	cancelWork()
	if runErr != nil {
		s.log.Error().Err(runErr).Msg("stage stopped")
		return runErr
	}
	s.log.Debug().Msg("stage stopped")
	return nil
}

// shutdownTimer cancels the work context ShutdownTimeout after ctx ends,
// unless Run finished first.
func (s *Stage) shutdownTimer(ctx context.Context, runDone <-chan struct{}, cancelWork context.CancelFunc) {
	select {
	case <-runDone:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(s.cfg.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-runDone:
	case <-t.C:
		cancelWork()
	}
}

// backoff returns the delay before the given attempt (1-based): exponential
// from MinRetryBackoff, capped at MaxRetryBackoff, with ±20% jitter.
func (s *Stage) backoff(attempt int) time.Duration {
	d := s.cfg.MinRetryBackoff
	for i := 1; i < attempt && d < s.cfg.MaxRetryBackoff; i++ {
		d *= 2
	}
	d = min(d, s.cfg.MaxRetryBackoff)
	jitter := time.Duration(rand.Int64N(int64(d)/5 + 1))
	if rand.IntN(2) == 0 {
		return d - jitter
	}
	return min(d+jitter, s.cfg.MaxRetryBackoff)
}
