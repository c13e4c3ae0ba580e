package scheduler

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

	"github.com/pushpipe/pushpipe/pipeline"
)

// Scheduler is one replica of the scheduler worker of a region. Create it
// with New and call Run once; Ready may be called from any goroutine.
type Scheduler struct {
	cfg   Config
	topic string
	log   zerolog.Logger
	m     *metrics

	started atomic.Bool
	running atomic.Bool
	ready   atomic.Bool
}

// New returns a Scheduler for cfg. It does not contact the brokers.
func New(cfg Config) (*Scheduler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	topic := pipeline.SchedulesTopic(cfg.Region)
	return &Scheduler{
		cfg:   cfg,
		topic: topic,
		log:   cfg.Logger.With().Str("stage", "scheduler").Str("region", cfg.Region).Str("topic", topic).Logger(),
		m:     newMetrics(cfg.Metrics, cfg.Region),
	}, nil
}

// Ready reports, as pipeline.Service requires, whether this replica may
// act: nil once Run is running and the replica has read push.schedules.R
// up to where it stood when the replica last joined the consumer group,
// i.e. it knows every schedule and may act for its partitions; else an
// error saying which is not the case. It does not block and is safe to
// call from any goroutine.
func (s *Scheduler) Ready(context.Context) error {
	switch {
	case !s.running.Load():
		return fmt.Errorf("scheduler of region %s is not running", s.cfg.Region)
	case !s.ready.Load():
		return fmt.Errorf("scheduler of region %s has not yet read %s up to its end", s.cfg.Region, s.topic)
	}
	return nil
}

var _ pipeline.Service = (*Scheduler)(nil)

// Run reads push.schedules.R, joins the scheduler's consumer group and
// fires the occurrences of the schedules on the partitions this replica is
// assigned, until ctx is cancelled. It blocks, and returns once every
// goroutine it started has ended: nil after cancellation, or an error if
// it was called twice or the consumer group could not be created.
//
// The round of work in progress when ctx is cancelled is abandoned
// (produce calls are cancelled); what it leaves unrecorded is recovered by
// the replica that next owns the partition (see the package documentation).
func (s *Scheduler) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("scheduler: Run called twice: create a new Scheduler for each run")
	}
	s.running.Store(true)
	defer s.running.Store(false)

	logs, err := newLogReader(s.cfg.Brokers, s.cfg.Security, "pushpipe-scheduler")
	if err != nil {
		return err
	}
	defer func() { _ = logs.Close() }()
	parts, ok := s.waitForTopic(ctx, logs)
	if !ok {
		return nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	l := newStateLoop(s, logs)
	l.startTail = func(p int) {
		if l.tailing[p] {
			return
		}
		l.tailing[p] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.tail(ctx, logs, p, l.records)
		}()
	}
	for _, p := range parts {
		l.startTail(p)
	}

	cg, err := kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     s.cfg.GroupID,
		Brokers:                s.cfg.Brokers,
		Dialer:                 s.cfg.Security.Dialer("pushpipe-scheduler", 10*time.Second),
		Topics:                 []string{s.topic},
		HeartbeatInterval:      s.cfg.HeartbeatInterval,
		SessionTimeout:         s.cfg.SessionTimeout,
		RebalanceTimeout:       s.cfg.RebalanceTimeout,
		JoinGroupBackoff:       500 * time.Millisecond,
		PartitionWatchInterval: 5 * time.Second,
		WatchPartitionChanges:  true,
		StartOffset:            kafka.FirstOffset,
		Logger: kafka.LoggerFunc(func(msg string, args ...any) {
			s.log.Trace().Msgf(msg, args...)
		}),
		ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
			s.log.Warn().Str("source", "kafka-go").Msgf(msg, args...)
		}),
	})
	if err != nil {
		cancel()
		wg.Wait()
		return fmt.Errorf("scheduler: joining consumer group %s: %w", s.cfg.GroupID, err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.membership(ctx, cg, logs, l.events, &l.ended, l.done)
	}()

	s.log.Debug().Str("group", s.cfg.GroupID).Str("time_zone", s.cfg.Location.String()).Msg("scheduler started")
	l.run(ctx)
	close(l.done)
	cancel()
	if err := cg.Close(); err != nil {
		s.log.Warn().Err(err).Msg("leaving the consumer group")
	}
	wg.Wait()
	s.log.Debug().Msg("scheduler stopped")
	return nil
}

// waitForTopic returns the partitions of push.schedules.R once it exists,
// or false when ctx ends first.
func (s *Scheduler) waitForTopic(ctx context.Context, logs *pipeline.LogReader) ([]int, bool) {
	logged := false
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		parts, err := logs.Partitions(pctx, s.topic)
		cancel()
		if err == nil {
			return parts, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		if !logged {
			s.log.Warn().Err(err).Msg("waiting for the schedules topic; create it (EnsureTopics) before the scheduler can start")
			logged = true
		}
		if !pipeline.Pause(ctx, 2*time.Second) {
			return nil, false
		}
	}
}

// record is one record of push.schedules.R as read.
type record struct {
	partition int
	offset    int64
	key       string
	value     []byte // empty for a tombstone
	time      time.Time
	headers   []kafka.Header
}

// message is r as the kafka.Message read from topic, for the dead-letter
// helpers of pipeline.
func (r record) message(topic string) kafka.Message {
	return kafka.Message{Topic: topic, Partition: r.partition, Offset: r.offset, Key: []byte(r.key), Value: r.value, Time: r.time, Headers: r.headers}
}

// tail reads one partition of push.schedules.R from its start, forever,
// and hands every record to the state loop.
func (s *Scheduler) tail(ctx context.Context, logs *pipeline.LogReader, p int, out chan<- record) {
	failed := func(attempt int, err error) time.Duration {
		s.m.errors.Inc()
		d := backoff(attempt)
		s.log.Warn().Err(err).Int("partition", p).Dur("retry_in", d).Msg("reading the schedules topic failed")
		return d
	}
	send := func(m kafka.Message) {
		rec := record{partition: p, offset: m.Offset, key: string(m.Key), value: m.Value, time: m.Time, headers: m.Headers}
		select {
		case out <- rec:
		case <-ctx.Done():
		}
	}
	// From the start: Follow fails only positioning at an offset.
	_ = logs.Follow(ctx, s.topic, p, kafka.FirstOffset, send, failed)
}

// groupEvent tells the state loop that a consumer group generation gave this
// replica partitions (assign) or ended (revoke: the state loop acknowledges on
// done once it has stopped acting for the generation).
type groupEvent struct {
	assign *assignment
	revoke chan struct{}
	gen    int32
}

// assignment is what one generation gave this replica: the partitions it
// owns, and the end offsets of every partition at the start of the
// generation, which the replica must have read before it acts.
type assignment struct {
	owned []int
	ends  map[int]int64
}

// membership follows the consumer group's generations. Within each, it
// takes a snapshot of the topic's end offsets (the previous owners have
// stopped writing by then: a generation starts only once every member
// left the previous one), hands the assignment to the state loop, and when the
// generation ends marks it ended (the state loop stops between steps) and waits
// until the state loop has stopped acting for it, so that this replica rejoins
// only once it writes no more for those partitions.
func (s *Scheduler) membership(ctx context.Context, cg *kafka.ConsumerGroup, logs *pipeline.LogReader, events chan<- groupEvent, ended *atomic.Int64, loopDone <-chan struct{}) {
	for {
		gen, err := cg.Next(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
				return
			}
			s.log.Warn().Err(err).Msg("consumer group generation failed; rejoining")
			continue
		}
		var owned []int
		for _, pa := range gen.Assignments[s.topic] {
			owned = append(owned, pa.ID)
		}
		id := gen.ID
		gen.Start(func(gctx context.Context) {
			if gctx.Err() != nil {
				return // the generation ended before it started here
			}
			ends, ok := s.snapshot(gctx, logs)
			if !ok {
				return
			}
			select {
			case events <- groupEvent{gen: id, assign: &assignment{owned: owned, ends: ends}}:
			case <-gctx.Done():
				return
			case <-loopDone:
				return
			}
			<-gctx.Done()
			ended.Store(int64(id))
			done := make(chan struct{})
			select {
			case events <- groupEvent{gen: id, revoke: done}:
				select {
				case <-done:
				case <-loopDone:
				}
			case <-loopDone:
			}
		})
	}
}

// snapshot returns the end offsets of every partition of push.schedules.R,
// retrying until it succeeds or ctx ends.
func (s *Scheduler) snapshot(ctx context.Context, logs *pipeline.LogReader) (map[int]int64, bool) {
	for attempt := 1; ; attempt++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		parts, err := logs.Partitions(pctx, s.topic)
		var sp map[int]pipeline.Span
		if err == nil {
			sp, err = logs.Spans(pctx, s.topic, parts)
		}
		cancel()
		if err == nil {
			ends := make(map[int]int64, len(sp))
			for p, x := range sp {
				ends[p] = x.End
			}
			return ends, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		s.m.errors.Inc()
		d := backoff(attempt)
		s.log.Warn().Err(err).Dur("retry_in", d).Msg("reading the end offsets of the schedules topic failed")
		if !pipeline.Pause(ctx, d) {
			return nil, false
		}
	}
}

// backoff is the delay before retry number attempt (1-based): exponential
// from 100ms, capped at 5s, with jitter.
func backoff(attempt int) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < attempt && d < 5*time.Second; i++ {
		d *= 2
	}
	d = min(d, 5*time.Second)
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}
