package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// Output is one record a handler wants written. Topic is required; Key
// chooses the partition (the same key always lands on the same partition of
// a topic, using the murmur2 hash of the Java client, so other producers
// agree); a nil Key spreads records randomly. Headers are copied as given.
type Output struct {
	Topic   string
	Key     []byte
	Value   []byte
	Headers []kafka.Header
}

// ErrProducerClosed is returned by Produce after Close.
var ErrProducerClosed = errors.New("pipeline: producer is closed")

// ErrRecordTooLarge marks an output that is larger than the producer's
// BatchBytes and therefore can never be written. It wraps
// kafka.MessageSizeTooLarge.
var ErrRecordTooLarge = fmt.Errorf("pipeline: record larger than the producer's BatchBytes: %w", kafka.MessageSizeTooLarge)

// ErrNoTopic marks an output without a Topic.
var ErrNoTopic = errors.New("pipeline: output has no topic")

// ProducerConfig configures a Producer. Zero values mean the documented
// defaults.
type ProducerConfig struct {
	// Brokers are the bootstrap host:port addresses. Required.
	Brokers []string
	// Security secures every connection (SASL, TLS). The zero value is
	// plaintext without authentication.
	Security KafkaSecurity
	// ClientID names the producer to the brokers. Default "pushpipe".
	ClientID string
	// BatchTimeout is how long a partition's partial batch waits for the
	// records of other Produce calls before it is sent (the records one
	// call gives for a partition always go together). Produce waits at
	// least this long for its last batch, so keep it small. Default 1ms;
	// see StageBatchTimeout for stages. At or below StageBatchTimeout a
	// call of up to 128 records waits for no other: its records go out at
	// once, one produce request per partition leader holding every topic
	// and partition of the call that the leader leads.
	BatchTimeout time.Duration
	// BatchSize is the most records of one partition in one produce
	// request. Default 1000.
	BatchSize int
	// BatchBytes is the most bytes in one produce request per partition; a
	// single record larger than this fails with ErrRecordTooLarge. Keep it
	// at or below the broker's message.max.bytes. Default 1 MiB.
	BatchBytes int64
	// MaxAttempts is how many times a failed produce request is sent before
	// its records are reported as failed. Default 5.
	MaxAttempts int
	// WriteTimeout bounds one produce request. Default 10s.
	WriteTimeout time.Duration
	// MetadataTTL is how often the topic list is refreshed. A topic created
	// after the producer started is unknown to it for up to this long
	// (Produce fails with kafka.UnknownTopicOrPartition meanwhile; Stage
	// retries). kafka-go also uses it as the timeout of the metadata
	// request itself, so it must be at least 500ms. Default 2s.
	MetadataTTL time.Duration
	// Compression is the codec of the record batches written (Kafka's
	// compression.type), except batches of at most UncompressedRecords
	// records, which are written as they are. Empty means
	// DefaultCompression; CompressionNone writes every batch as it is.
	Compression Compression
	// Logger receives the writer's error messages. The zero Logger discards
	// them.
	Logger zerolog.Logger
}

// StageBatchTimeout is the ProducerConfig.BatchTimeout for a Producer
// that stages write through. A stage produces a batch's outputs in one
// Produce call and produces one batch at a time, so a longer timeout
// would find no other call's records to wait for and only add its length
// to every batch's latency. A Producer with a BatchTimeout of at most
// StageBatchTimeout sends each call of up to 128 records on its own as one
// produce request per partition leader (kafka.Writer, used above it and
// for larger calls, sends one per partition), which is what a batch of a
// few records to several topics costs at unicast rates.
const StageBatchTimeout = 10 * time.Microsecond

func (c ProducerConfig) withDefaults() ProducerConfig {
	if c.ClientID == "" {
		c.ClientID = "pushpipe"
	}
	if c.BatchTimeout == 0 {
		c.BatchTimeout = time.Millisecond
	}
	if c.BatchSize == 0 {
		c.BatchSize = 1000
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = 1 << 20
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 5
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.MetadataTTL == 0 {
		c.MetadataTTL = 2 * time.Second
	}
	return c
}

// Validate reports the first setting that cannot work, saying what to fix.
func (c ProducerConfig) Validate() error {
	c = c.withDefaults()
	if err := c.Compression.Validate(); err != nil {
		return fmt.Errorf("pipeline: ProducerConfig.Compression %w", err)
	}
	switch {
	case len(c.Brokers) == 0:
		return errors.New("pipeline: ProducerConfig.Brokers is empty: give at least one host:port")
	case c.BatchTimeout < 0:
		return fmt.Errorf("pipeline: ProducerConfig.BatchTimeout %s is negative: use 0 for the default 1ms", c.BatchTimeout)
	case c.BatchTimeout > time.Second:
		return fmt.Errorf("pipeline: ProducerConfig.BatchTimeout %s makes every synchronous Produce wait that long: use a few milliseconds", c.BatchTimeout)
	case c.BatchSize < 0:
		return fmt.Errorf("pipeline: ProducerConfig.BatchSize %d is negative: use 0 for the default 1000", c.BatchSize)
	case c.BatchBytes < 0:
		return fmt.Errorf("pipeline: ProducerConfig.BatchBytes %d is negative: use 0 for the default 1 MiB", c.BatchBytes)
	case c.MaxAttempts < 0:
		return fmt.Errorf("pipeline: ProducerConfig.MaxAttempts %d is negative: use 0 for the default 5", c.MaxAttempts)
	case c.WriteTimeout < 0:
		return fmt.Errorf("pipeline: ProducerConfig.WriteTimeout %s is negative: use 0 for the default 10s", c.WriteTimeout)
	case c.MetadataTTL < 500*time.Millisecond:
		return fmt.Errorf("pipeline: ProducerConfig.MetadataTTL %s is below 500ms: kafka-go also uses it as the metadata request timeout; use 0 for the default 2s", c.MetadataTTL)
	}
	for _, b := range c.Brokers {
		if b == "" {
			return errors.New("pipeline: ProducerConfig.Brokers contains an empty address")
		}
	}
	return nil
}

// Producer writes records to any topic, in batches compressed with
// ProducerConfig.Compression when they hold more than UncompressedRecords
// records, and waits for every in-sync replica to acknowledge them
// (acks=all). It never creates topics. A
// Producer is safe for concurrent use; several stages of one process may
// share one. Failed produce requests are sent again (MaxAttempts in all,
// with a backoff of 50ms to 1s) while the error is retriable: temporary
// Kafka errors such as a leader change, dropped connections.
type Producer struct {
	// writers differ only in BatchSize, smallest first (see smallBatch);
	// the last has ProducerConfig.BatchSize.
	writers    []*kafka.Writer
	requests   *requestProducer // for calls of at most requestCallRecords when BatchTimeout ≤ StageBatchTimeout
	transport  *kafka.Transport
	batchBytes int64
	security   KafkaSecurity // explains refused connections in errors

	mu     sync.RWMutex
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// NewProducer returns a Producer for cfg. It does not contact the brokers;
// the first Produce does.
func NewProducer(cfg ProducerConfig) (*Producer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	log := cfg.Logger.With().Str("component", "producer").Logger()
	codec, _ := cfg.Compression.codec() // Validate refused an unknown one
	transport := cfg.Security.Transport(cfg.ClientID)
	transport.MetadataTTL = cfg.MetadataTTL
	newWriter := func(batchSize int) *kafka.Writer {
		return &kafka.Writer{
			Addr:                   kafka.TCP(cfg.Brokers...),
			Balancer:               &kafka.Murmur2Balancer{},
			MaxAttempts:            cfg.MaxAttempts,
			WriteBackoffMin:        50 * time.Millisecond,
			WriteBackoffMax:        time.Second,
			BatchSize:              batchSize,
			BatchBytes:             cfg.BatchBytes,
			BatchTimeout:           cfg.BatchTimeout,
			WriteTimeout:           cfg.WriteTimeout,
			ReadTimeout:            cfg.WriteTimeout,
			RequiredAcks:           kafka.RequireAll,
			Compression:            compressionFor(codec, batchSize),
			AllowAutoTopicCreation: false,
			Transport:              transport,
			ErrorLogger: kafka.LoggerFunc(func(msg string, args ...any) {
				log.Warn().Msgf(msg, args...)
			}),
		}
	}
	p := &Producer{transport: transport, batchBytes: cfg.BatchBytes, security: cfg.Security}
	if cfg.BatchTimeout <= StageBatchTimeout {
		p.requests = &requestProducer{
			addr: kafka.TCP(cfg.Brokers...), addrs: cfg.Brokers, transport: transport,
			batchSize: cfg.BatchSize, batchBytes: cfg.BatchBytes, maxAttempts: cfg.MaxAttempts, timeout: cfg.WriteTimeout,
			backoffMin: 50 * time.Millisecond, backoffMax: time.Second, compression: codec,
		}
	}
	for _, n := range [...]int{smallBatch, mediumBatch} {
		if n < cfg.BatchSize {
			p.writers = append(p.writers, newWriter(n))
		}
	}
	p.writers = append(p.writers, newWriter(cfg.BatchSize))
	return p, nil
}

// UncompressedRecords is the most records of a batch that a Producer
// writes uncompressed whatever its Compression: a unicast request's few
// records shrink little, and compressing them cost more than it saved
// (unicast at 5,000 requests/s with every batch snappy-compressed: 16 µs
// more CPU a request, 211 against 196, and the sender hop's p99 at 74-77
// against 24 ms in the same day's bench runs). A Produce call that goes
// out as one request per partition leader applies it to each partition's
// chunk; kafka.Writer, which batches across calls, to the writer for
// calls of this many records or fewer (smallBatch).
const UncompressedRecords = smallBatch

// compressionFor returns codec for batches of up to n records, none when n
// is at most UncompressedRecords.
func compressionFor(codec kafka.Compression, n int) kafka.Compression {
	if n <= UncompressedRecords {
		return 0
	}
	return codec
}

// smallBatch and mediumBatch are the batch sizes of the Producer's
// writers for small Produce calls. kafka-go's Writer allocates room for BatchSize records
// each time it opens a partition's batch, about 150 KiB at the default
// 1,000; a stage handling one request at a time opens a batch per
// partition per call, so its allocations (and garbage collection) were
// set by BatchSize rather than by the records. A call goes to the first
// writer whose BatchSize holds all its records, so each of its partitions
// still gets one produce request.
const (
	smallBatch  = 16
	mediumBatch = 128
)

// requestCallRecords is the most records of a Produce call that a
// Producer with StageBatchTimeout sends as one request per partition
// leader. Larger calls (a broadcast's batches) go through the writers,
// whose concurrent requests per partition moved a 1M-device fan-out
// broadcast about a quarter faster than one large request per leader.
const requestCallRecords = mediumBatch

// writerFor returns the writer for a call of n records: the smallest
// whose BatchSize is at least n, else the largest.
func (p *Producer) writerFor(n int) *kafka.Writer {
	for _, w := range p.writers {
		if w.BatchSize >= n {
			return w
		}
	}
	return p.writers[len(p.writers)-1]
}

// Produce writes outs and returns once the brokers acknowledged every one of
// them (acks=all), or with an error. Records with the same topic and key are
// written in the order given.
//
// On failure the error is a *ProduceError whose Errs are index-aligned with
// outs: nil for records that were acknowledged, the cause for records that
// were not (or, when ctx ended, may not have been) written. errors.As with
// *kafka.WriteErrors and errors.Is with kafka error codes see through it.
// Records that failed may be sent again; consumers must tolerate duplicates.
//
// ctx bounds the wait; cancelling it does not recall records already sent.
// Produce returns ErrProducerClosed after Close.
func (p *Producer) Produce(ctx context.Context, outs []Output) error {
	if len(outs) == 0 {
		return nil
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrProducerClosed
	}

	errs := make([]error, len(outs))
	msgs := make([]kafka.Message, 0, len(outs))
	idx := make([]int, 0, len(outs))
	failed := false
	for i, o := range outs {
		switch {
		case o.Topic == "":
			errs[i], failed = ErrNoTopic, true
			continue
		case recordSize(o) > p.batchBytes:
			errs[i], failed = ErrRecordTooLarge, true
			continue
		}
		msgs = append(msgs, kafka.Message{Topic: o.Topic, Key: o.Key, Value: o.Value, Headers: o.Headers})
		idx = append(idx, i)
	}

	var wrapped error
	if len(msgs) > 0 {
		var err error
		if p.requests != nil && len(msgs) <= requestCallRecords {
			if werrs, failed := p.requests.produce(ctx, msgs); failed {
				err = kafka.WriteErrors(werrs)
			}
		} else {
			err = p.writerFor(len(msgs)).WriteMessages(ctx, msgs...)
		}
		var werrs kafka.WriteErrors
		// One explanation per distinct cause (refused credentials, SASL
		// or TLS mismatch, ACLs), shared by the records it failed.
		explained := map[error]error{}
		explain := func(e error) error {
			x, ok := explained[e]
			if !ok {
				x = p.security.Explain(e)
				explained[e] = x
			}
			return x
		}
		switch {
		case err == nil:
		case errors.As(err, &werrs) && len(werrs) == len(msgs):
			wrapped = err
			for j, e := range werrs {
				if e != nil {
					errs[idx[j]], failed = explain(e), true
				}
			}
		default:
			if errors.Is(err, io.ErrClosedPipe) {
				err = fmt.Errorf("%w: %w", ErrProducerClosed, err)
			}
			wrapped = err
			err = explain(err)
			for _, i := range idx {
				errs[i], failed = err, true
			}
		}
	}
	if !failed {
		return nil
	}
	return &ProduceError{Errs: errs, outs: outs, cause: wrapped}
}

// recordSize is the size kafka-go's Writer accounts a record at when it
// checks BatchBytes, rounded up (varints counted at their widest), so that
// Produce reports an oversized record before kafka-go refuses the whole
// call.
func recordSize(o Output) int64 {
	const maxVarint = 5
	n := int64(4+1+1+8) + int64(4+len(o.Key)) + int64(4+len(o.Value)) + maxVarint
	for _, h := range o.Headers {
		n += int64(maxVarint + len(h.Key) + maxVarint + len(h.Value))
	}
	return n
}

// Close flushes nothing (Produce is synchronous), waits for in-flight
// Produce calls to return and closes the connections. Close is idempotent;
// every call returns the result of the first.
func (p *Producer) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		for _, w := range p.writers {
			if err := w.Close(); err != nil && p.closeErr == nil {
				p.closeErr = fmt.Errorf("pipeline: closing producer: %w", err)
			}
		}
		p.transport.CloseIdleConnections()
	})
	return p.closeErr
}

// ProduceError reports the outputs of one Produce call that were not
// acknowledged.
type ProduceError struct {
	// Errs is index-aligned with the outputs given to Produce: nil where
	// the record was acknowledged.
	Errs []error

	outs  []Output
	cause error // what WriteMessages returned, if it was called and failed
}

// Failed returns the indexes of the outputs that were not acknowledged.
func (e *ProduceError) Failed() []int {
	var f []int
	for i, err := range e.Errs {
		if err != nil {
			f = append(f, i)
		}
	}
	return f
}

// Error summarises the failures by topic and cause.
func (e *ProduceError) Error() string {
	type key struct{ topic, err string }
	counts := map[key]int{}
	var order []key
	n := 0
	for i, err := range e.Errs {
		if err == nil {
			continue
		}
		n++
		k := key{e.outs[i].Topic, err.Error()}
		if counts[k] == 0 {
			order = append(order, k)
		}
		counts[k]++
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pipeline: producing %d records: %d not acknowledged", len(e.Errs), n)
	for i, k := range order {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more causes", len(order)-i)
			break
		}
		fmt.Fprintf(&b, "; %d to topic %q: %s", counts[k], k.topic, k.err)
	}
	return b.String()
}

// Unwrap returns what WriteMessages returned (a kafka.WriteErrors for
// partial failures) followed by each distinct per-record cause, so that
// errors.Is and errors.As see every one of them.
func (e *ProduceError) Unwrap() []error {
	var out []error
	if e.cause != nil {
		out = append(out, e.cause)
	}
	seen := map[error]bool{}
	for _, err := range e.Errs {
		if err != nil && !seen[err] {
			seen[err] = true
			out = append(out, err)
		}
	}
	return out
}

// IsPermanentProduceError reports whether err means the record itself can
// never be written (too large, invalid topic name, no topic, invalid
// record), so retrying it is pointless. Unknown topics, timeouts, leader
// changes and authorization failures are not permanent: the cluster or its
// configuration can change.
func IsPermanentProduceError(err error) bool {
	return errors.Is(err, ErrNoTopic) ||
		errors.Is(err, kafka.MessageSizeTooLarge) ||
		errors.Is(err, kafka.RecordListTooLarge) ||
		errors.Is(err, kafka.InvalidTopic) ||
		errors.Is(err, kafka.InvalidRecord)
}
