package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/schema"
)

// Headers on every dead-letter record. Values are UTF-8 strings; numbers are
// decimal.
const (
	HeaderReason          = "pushpipe-reason"           // why the record was rejected
	HeaderResultCode      = "pushpipe-result-code"      // the result code, e.g. "3019" or "9000"
	HeaderSourceTopic     = "pushpipe-source-topic"     // topic the record was read from
	HeaderSourcePartition = "pushpipe-source-partition" // its partition
	HeaderSourceOffset    = "pushpipe-source-offset"    // its offset
	HeaderStage           = "pushpipe-stage"            // name of the stage that rejected it
)

// headerPrefix marks the headers the runtime owns; a dead-letter record
// keeps the original record's other headers.
const headerPrefix = "pushpipe-"

// maxReasonLen caps the reason stored in headers and events.
const maxReasonLen = 1024

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

// StageConfig configures a Stage. Zero durations and sizes mean the
// documented defaults.
type StageConfig struct {
	// Name names the stage in logs, metrics and dead-letter headers, e.g.
	// "fanout". Required.
	Name string
	// Region is the region the stage serves (see Regions). Required.
	Region string
	// Brokers are the bootstrap host:port addresses. Required.
	Brokers []string
	// Security secures every connection of the stage's reader, consumer
	// group and probes (SASL, TLS). The zero value is plaintext without
	// authentication.
	Security KafkaSecurity
	// Topic is the input topic. It must belong to Region (end in
	// ".<region>"). Required.
	Topic string
	// GroupID is the consumer group shared by the stage's replicas, e.g.
	// "pushpipe.fanout.eu". Required.
	GroupID string

	// BatchSize is the most records handed to one HandleBatch call.
	// Default 500.
	BatchSize int
	// BatchWait is how long to wait for more records after the first
	// record of a batch arrived. Default 10ms.
	BatchWait time.Duration
	// BatchLinger, when positive, hands a batch over early once no record
	// has arrived for that long: a lone request is handled at once, while
	// records that stream in closer together still fill a batch for up to
	// BatchWait. 0 waits BatchWait (or BatchSize records) every time.
	BatchLinger time.Duration
	// FetchMaxWait bounds one fetch of the consumer: the broker answers as
	// soon as a record arrives, or after waiting FetchMaxWait less the
	// client's allowance for the round trip (1s, or a quarter below 1s),
	// and the client gives up on the answer at FetchMaxWait. Default 2s,
	// which gives a busy broker 1s to answer an empty fetch; a short value
	// leaves it so little that fetches time out under load and the reader
	// backs off for 100ms or more. New records are returned at once either
	// way.
	FetchMaxWait time.Duration
	// FetchMaxBytes is the most bytes one fetch returns; it must exceed the
	// largest record. Default 10 MiB.
	FetchMaxBytes int
	// ConcurrentBatches is how many batches the handler works on at once.
	// Default 1: the next batch is fetched and handled once the previous
	// one was handled (its outputs are produced and its offsets committed
	// in the background meanwhile). With more, the next batches are
	// fetched and handled while earlier ones still wait for their slowest
	// records (a sender's slowest vendor answers); the handler must then be
	// safe for concurrent use, and keeps what must see the batches in order
	// in an InTurn call. Either way outputs are produced and offsets
	// committed in the order of the batches, one batch at a time.
	ConcurrentBatches int

	// SessionTimeout is how long the group coordinator waits for a
	// heartbeat before it declares a replica dead and moves its
	// partitions. It must be within the broker's
	// group.min/max.session.timeout.ms. Default 6s, so that a replacement
	// replica takes over a killed replica's partitions within about 8s.
	SessionTimeout time.Duration
	// HeartbeatInterval is how often the replica heartbeats; rebalances
	// are noticed at this pace. Default 1s; at most SessionTimeout/3.
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long the coordinator waits for every member
	// to rejoin during a rebalance. Default 10s.
	RebalanceTimeout time.Duration

	// MinRetryBackoff and MaxRetryBackoff bound the exponential backoff
	// between attempts of a failed handle, produce, commit or fetch.
	// Defaults 100ms and 5s.
	MinRetryBackoff time.Duration
	MaxRetryBackoff time.Duration
	// ShutdownTimeout bounds how long Run keeps working on the in-flight
	// batch after its context is cancelled. Default 15s.
	ShutdownTimeout time.Duration
	// StatsInterval is how often consumer lag and rebalances are read from
	// the reader into Metrics. Default 5s.
	StatsInterval time.Duration
	// ProbeInterval is how often an idle stage checks that the broker
	// answers, for Ready. At least 500ms. Default 2s.
	ProbeInterval time.Duration

	// Logger receives the stage's logs; every line carries stage, region
	// and topic. The zero Logger discards them.
	Logger zerolog.Logger
	// Metrics receives the stage's metrics. nil creates unregistered ones.
	Metrics *Metrics
	// Prepare, when set, runs in Run once the input topic exists and
	// before the first fetch: it starts what the handler depends on (e.g.
	// a reader of the revokes that must be caught up before anything is
	// sent). An error ends Run with that error; otherwise the returned
	// stop (may be nil) runs when Run returns.
	Prepare func(ctx context.Context) (stop func(), err error)
}

func (c StageConfig) withDefaults() StageConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.BatchSize == 0 {
		c.BatchSize = 500
	}
	if c.FetchMaxBytes == 0 {
		c.FetchMaxBytes = 10 << 20
	}
	if c.ConcurrentBatches == 0 {
		c.ConcurrentBatches = 1
	}
	def(&c.BatchWait, 10*time.Millisecond)
	def(&c.FetchMaxWait, 2*time.Second)
	def(&c.SessionTimeout, 6*time.Second)
	def(&c.HeartbeatInterval, time.Second)
	def(&c.RebalanceTimeout, 10*time.Second)
	def(&c.MinRetryBackoff, 100*time.Millisecond)
	def(&c.MaxRetryBackoff, 5*time.Second)
	def(&c.ShutdownTimeout, 15*time.Second)
	def(&c.StatsInterval, 5*time.Second)
	def(&c.ProbeInterval, 2*time.Second)
	return c
}

// Validate reports the first setting that cannot work, saying what to fix.
// Zero values are valid where a default is documented.
func (c StageConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Name == "":
		return errors.New("pipeline: StageConfig.Name is empty: name the stage, e.g. \"fanout\"")
	case strings.ContainsAny(c.Name, " \t\n"):
		return fmt.Errorf("pipeline: StageConfig.Name %q contains whitespace: use a single word", c.Name)
	case !ValidRegion(c.Region):
		return fmt.Errorf("pipeline: StageConfig.Region %q is not a region: use one of %v", c.Region, Regions())
	case len(c.Brokers) == 0:
		return errors.New("pipeline: StageConfig.Brokers is empty: give at least one host:port")
	case c.Topic == "":
		return errors.New("pipeline: StageConfig.Topic is empty: set the input topic, e.g. RequestsTopic(region)")
	case c.GroupID == "":
		return errors.New("pipeline: StageConfig.GroupID is empty: set the consumer group shared by the replicas")
	case c.BatchSize < 1:
		return fmt.Errorf("pipeline: StageConfig.BatchSize %d is not positive: use 0 for the default 500", c.BatchSize)
	case c.FetchMaxBytes < 1<<10:
		return fmt.Errorf("pipeline: StageConfig.FetchMaxBytes %d is too small: use at least 1 KiB (0 for the default 10 MiB)", c.FetchMaxBytes)
	case c.ConcurrentBatches < 0 || c.ConcurrentBatches > 64:
		return fmt.Errorf("pipeline: StageConfig.ConcurrentBatches %d is not in 1..64: use 0 for the default 1", c.ConcurrentBatches)
	}
	if r, _ := TopicRegion(c.Topic); r != c.Region {
		return fmt.Errorf("pipeline: StageConfig.Topic %q does not belong to region %q: read a topic ending in .%s", c.Topic, c.Region, c.Region)
	}
	for _, b := range c.Brokers {
		if b == "" {
			return errors.New("pipeline: StageConfig.Brokers contains an empty address")
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"BatchWait", c.BatchWait}, {"BatchLinger", c.BatchLinger}, {"FetchMaxWait", c.FetchMaxWait}, {"SessionTimeout", c.SessionTimeout},
		{"HeartbeatInterval", c.HeartbeatInterval}, {"RebalanceTimeout", c.RebalanceTimeout},
		{"MinRetryBackoff", c.MinRetryBackoff}, {"MaxRetryBackoff", c.MaxRetryBackoff},
		{"ShutdownTimeout", c.ShutdownTimeout}, {"StatsInterval", c.StatsInterval}, {"ProbeInterval", c.ProbeInterval},
	} {
		if d.v < 0 {
			return fmt.Errorf("pipeline: StageConfig.%s %s is negative: use 0 for the default", d.name, d.v)
		}
	}
	switch {
	case c.HeartbeatInterval*3 > c.SessionTimeout:
		return fmt.Errorf("pipeline: StageConfig.HeartbeatInterval %s is more than a third of SessionTimeout %s: lower it or raise SessionTimeout", c.HeartbeatInterval, c.SessionTimeout)
	case c.MinRetryBackoff > c.MaxRetryBackoff:
		return fmt.Errorf("pipeline: StageConfig.MinRetryBackoff %s exceeds MaxRetryBackoff %s", c.MinRetryBackoff, c.MaxRetryBackoff)
	case c.ProbeInterval < 500*time.Millisecond:
		return fmt.Errorf("pipeline: StageConfig.ProbeInterval %s is below 500ms: use 0 for the default 2s", c.ProbeInterval)
	case c.BatchWait > time.Minute:
		return fmt.Errorf("pipeline: StageConfig.BatchWait %s holds records too long: use milliseconds", c.BatchWait)
	}
	return nil
}

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
		Brokers:                c.Brokers,
		GroupID:                c.GroupID,
		Topic:                  c.Topic,
		Dialer:                 c.Security.Dialer("pushpipe-"+c.Name, 10*time.Second),
		QueueCapacity:          c.BatchSize,
		MinBytes:               1,
		MaxBytes:               c.FetchMaxBytes,
		MaxWait:                c.FetchMaxWait,
		ReadLagInterval:        -1,
		HeartbeatInterval:      c.HeartbeatInterval,
		CommitInterval:         0, // synchronous: CommitMessages returns once the broker stored the offsets
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

// Ready reports whether Run is running and, within the last three probe
// intervals, either fetched a record or got an answer from the broker about
// the input topic. It is safe to call from any goroutine.
func (s *Stage) Ready() bool {
	if !s.running.Load() {
		return false
	}
	last := s.lastOK.Load()
	return last != 0 && time.Since(time.Unix(0, last)) < 3*s.cfg.ProbeInterval
}

func (s *Stage) markOK() { s.lastOK.Store(time.Now().UnixNano()) }

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

// stoppingKey carries Run's ctx.Done() in the handler's context.
type stoppingKey struct{}

// Stopping returns a channel that is closed once the stage running the
// handler has been asked to stop (nil for a context that does not come
// from a stage). The handler's own context stays alive for
// ShutdownTimeout so that an in-flight batch can finish; a handler that is
// only waiting (holding a batch until it is due) can give up at once
// instead, returning an error so the batch stays uncommitted.
func Stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	return ch
}

// Sleep waits d, returning nil, or returns an error as soon as ctx ends or
// the stage running the handler is asked to stop (see Stopping). Handlers
// that hold batches use it as their wait.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-Stopping(ctx):
		return ErrStopping
	case <-t.C:
		return nil
	}
}

// ErrStopping is returned by Sleep when the stage is stopping.
var ErrStopping = errors.New("pipeline: the stage is stopping")

// waitForTopic returns true once the input topic exists, or false when ctx
// ends first. kafka-go's consumer group rejoins in a tight loop while its
// topic is missing (its partition watcher fails at every generation), and
// its metadata calls ask the broker to auto-create the topic; so the reader
// is only created once the topic is there.
func (s *Stage) waitForTopic(ctx context.Context) bool {
	logged := false
	for {
		err := s.probeTopic(ctx)
		if err == nil {
			s.markOK()
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if !logged {
			s.log.Warn().Err(err).Msg("waiting for the input topic; create it (EnsureTopics) before the stage can consume")
			logged = true
		}
		if !sleep(ctx, s.cfg.ProbeInterval) {
			return false
		}
	}
}

// probeTopic asks the brokers for the input topic's metadata over a fresh
// connection, without auto-creation. A fresh transport is used each time
// because kafka-go's transport keeps serving the last metadata it had once
// the brokers stop answering.
func (s *Stage) probeTopic(ctx context.Context) error {
	transport := s.cfg.Security.Transport("pushpipe-" + s.cfg.Name + "-probe")
	transport.DialTimeout = s.cfg.ProbeInterval
	transport.MetadataTTL = time.Hour // one request per probe
	transport.MetadataTopics = []string{s.cfg.Topic}
	defer transport.CloseIdleConnections()
	client := &kafka.Client{Addr: kafka.TCP(s.cfg.Brokers...), Transport: transport, Timeout: s.cfg.ProbeInterval}
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ProbeInterval)
	defer cancel()
	md, err := client.Metadata(pctx, &kafka.MetadataRequest{Topics: []string{s.cfg.Topic}})
	if err != nil {
		return fmt.Errorf("asking %v for topic %s: %w", s.cfg.Brokers, s.cfg.Topic, s.cfg.Security.Explain(err))
	}
	for _, t := range md.Topics {
		if t.Name != s.cfg.Topic {
			continue
		}
		if t.Error != nil {
			return fmt.Errorf("topic %s: %w", s.cfg.Topic, t.Error)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("topic %s has no partitions", s.cfg.Topic)
		}
		return nil
	}
	return fmt.Errorf("topic %s: %w", s.cfg.Topic, kafka.UnknownTopicOrPartition)
}

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
		if !sleep(ctx, d) {
			return nil
		}
	}
}

// flight is one batch being handled, then produced and committed.
type flight struct {
	batch []kafka.Message
	done  chan struct{}
	// turn orders the handler's InTurn part after the previous flight's.
	turn *turn
	// err is what stopped the flight, errBatch the batch it concerns:
	// this one's, or an earlier flight's whose error this one passes on.
	err      error
	errBatch []kafka.Message
}

// wait returns once the batch is produced and committed (or left
// uncommitted), with the error that stopped it.
func (f *flight) wait() error {
	<-f.done
	return f.err
}

// startFlight handles batch, waits for prev (nil: none), calls release,
// then produces the outputs and commits the batch, in a goroutine. A
// flight whose handling or predecessor failed is done, with that error,
// before release is called.
func (s *Stage) startFlight(ctx context.Context, reader *kafka.Reader, batch []kafka.Message, prev *flight, release func()) *flight {
	var prevTurn *turn
	if prev != nil {
		prevTurn = prev.turn
	}
	f := &flight{batch: batch, done: make(chan struct{}), turn: newTurn(prevTurn)}
	go func() {
		results, herr := s.handleBatch(context.WithValue(ctx, turnKey{}, f.turn), batch)
		f.turn.pass()
		if prev != nil && prev.wait() != nil {
			f.err, f.errBatch = prev.err, prev.errBatch
		} else if herr != nil {
			f.err, f.errBatch = herr, batch
		}
		if f.err != nil {
			close(f.done)
			release()
			return
		}
		release()
		defer close(f.done)
		if err := s.deliver(ctx, batch, results); err != nil {
			f.err, f.errBatch = err, batch
			return
		}
		if s.beforeCommit != nil {
			s.beforeCommit(batch)
		}
		s.commit(ctx, reader, batch)
	}()
	return f
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
			return nil, fmt.Errorf("handling batch at partition %d offset %d: %w (last handler error: %v)", msgs[0].Partition, msgs[0].Offset, ctx.Err(), err)
		}
		d := s.backoff(attempt)
		s.log.Warn().Err(err).Int("partition", msgs[0].Partition).Int64("offset", msgs[0].Offset).Int("records", len(msgs)).
			Int("attempt", attempt).Dur("retry_in", d).Msg("handler could not handle the batch; retrying")
		if !sleep(ctx, d) {
			return nil, fmt.Errorf("handling batch at partition %d offset %d: %w (last handler error: %v)", msgs[0].Partition, msgs[0].Offset, ctx.Err(), err)
		}
	}
}

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
			return fmt.Errorf("producing %d records: %w (last error: %v)", len(pending), ctx.Err(), err)
		}
		d := s.backoff(attempt)
		s.log.Warn().Err(err).Int("records", len(pending)).Int("attempt", attempt).Dur("retry_in", d).Msg("producing failed; retrying the records not acknowledged")
		if !sleep(ctx, d) {
			return fmt.Errorf("producing %d records: %w (last error: %v)", len(pending), ctx.Err(), err)
		}
	}
	return nil
}

// truncatedDLQ drops the value of a dead-letter record that is too large,
// recording its size in a header.
func truncatedDLQ(o Output) Output {
	h := make([]kafka.Header, 0, len(o.Headers)+1)
	h = append(h, o.Headers...)
	h = append(h, kafka.Header{Key: headerPrefix + "value-dropped-bytes", Value: []byte(strconv.Itoa(len(o.Value)))})
	return Output{Topic: o.Topic, Key: o.Key, Headers: h}
}

// rejectionRecords builds the dead-letter record and the rejected event for
// a rejected record.
func (s *Stage) rejectionRecords(m kafka.Message, rej *Rejection) (dlq, event Output) {
	reason := rej.Reason
	if len(reason) > maxReasonLen {
		reason = reason[:maxReasonLen]
	}
	part, off := strconv.Itoa(m.Partition), strconv.FormatInt(m.Offset, 10)

	headers := make([]kafka.Header, 0, len(m.Headers)+6)
	for _, h := range m.Headers {
		if !strings.HasPrefix(h.Key, headerPrefix) {
			headers = append(headers, h)
		}
	}
	headers = append(headers,
		kafka.Header{Key: HeaderReason, Value: []byte(reason)},
		kafka.Header{Key: HeaderResultCode, Value: []byte(strconv.Itoa(rej.Code))},
		kafka.Header{Key: HeaderSourceTopic, Value: []byte(m.Topic)},
		kafka.Header{Key: HeaderSourcePartition, Value: []byte(part)},
		kafka.Header{Key: HeaderSourceOffset, Value: []byte(off)},
		kafka.Header{Key: HeaderStage, Value: []byte(s.cfg.Name)},
	)
	dlq = Output{Topic: DLQTopic(s.cfg.Region), Key: m.Key, Value: m.Value, Headers: headers}

	ev := rej.Event
	ev.EventID = schema.NewEventID(schema.EventRejected, m.Topic, part, off)
	ev.TS = m.Time.UnixMilli()
	if m.Time.IsZero() {
		ev.TS = time.Now().UnixMilli()
	}
	ev.Event = schema.EventRejected
	ev.StatusCode = int64(rej.Code)
	ev.StatusDesc = reason
	ev.Region = s.cfg.Region
	value, err := json.Marshal(ev)
	if err != nil { // schema.Event has only plain fields; this cannot happen
		panic(fmt.Sprintf("pipeline: encoding rejected event: %v", err))
	}
	key := []byte(ev.Key())
	if len(key) == 0 {
		key = m.Key
	}
	event = Output{Topic: EventsTopic(s.cfg.Region), Key: key, Value: value}
	return dlq, event
}

// commit commits the batch's offsets. A failure is logged and counted but
// not retried forever: the next successful commit covers these offsets,
// and until then they are delivered again after a restart or rebalance.
func (s *Stage) commit(ctx context.Context, reader *kafka.Reader, batch []kafka.Message) {
	// Commit only the last record per partition: offsets are cumulative.
	last := map[int]kafka.Message{}
	for _, m := range batch {
		if prev, ok := last[m.Partition]; !ok || m.Offset > prev.Offset {
			last[m.Partition] = m
		}
	}
	msgs := make([]kafka.Message, 0, len(last))
	for _, m := range last {
		msgs = append(msgs, m)
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err := reader.CommitMessages(ctx, msgs...)
		if err == nil {
			s.m.addCommitted(len(batch))
			return
		}
		s.m.incError(ErrorKindCommit)
		if attempt == attempts || ctx.Err() != nil {
			s.log.Error().Err(err).Int("records", len(batch)).Int("partition", batch[0].Partition).Int64("offset", batch[0].Offset).
				Msg("committing offsets failed; the records will be delivered again unless a later commit covers them")
			return
		}
		d := s.backoff(attempt)
		s.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", d).Msg("committing offsets failed; retrying")
		if !sleep(ctx, d) {
			return
		}
	}
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

// statsLoop copies the reader's lag and rebalance count into Metrics.
func (s *Stage) statsLoop(runDone <-chan struct{}, reader *kafka.Reader) {
	update := func() {
		st := reader.Stats()
		s.m.setLag(st.Lag)
		s.m.addRebalances(st.Rebalances)
	}
	t := time.NewTicker(s.cfg.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-runDone:
			update()
			return
		case <-t.C:
			update()
		}
	}
}

// probeLoop checks every ProbeInterval that the brokers answer about the
// input topic and marks the stage alive when they do.
func (s *Stage) probeLoop(ctx context.Context, runDone <-chan struct{}) {
	t := time.NewTicker(s.cfg.ProbeInterval)
	defer t.Stop()
	for {
		select {
		case <-runDone:
			return
		case <-t.C:
		}
		if err := s.probeTopic(ctx); err != nil {
			s.log.Debug().Err(err).Msg("broker probe failed")
			continue
		}
		s.markOK()
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

// sleep waits for d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
