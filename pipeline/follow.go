package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// Partitions returns the partition ids of topic in ascending order, read
// through c; sec explains a refused connection. A topic that is missing or
// has no partitions is an error saying to create the region's topics.
func Partitions(ctx context.Context, c *kafka.Client, sec KafkaSecurity, topic string) ([]int, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("reading the partitions of %s: %w", topic, sec.Explain(err))
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions: create the region's topics first", topic)
	}
	slices.Sort(parts)
	return parts, nil
}

// Offsets returns, per partition of topic, its first offset, or with end
// its end offset (the high watermark: where the next record goes). A
// partition the broker's answer leaves out is an error.
func Offsets(ctx context.Context, c *kafka.Client, topic string, parts []int, end bool) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = kafka.FirstOffsetOf(p)
		if end {
			reqs[i] = kafka.LastOffsetOf(p)
		}
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("reading the offsets of %s: %w", topic, err)
	}
	out := make(map[int]int64, len(parts))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offset of %s[%d]: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.FirstOffset
		if end {
			out[po.Partition] = po.LastOffset
		}
	}
	for _, p := range parts {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("offset of %s[%d]: missing from the broker's answer", topic, p)
		}
	}
	return out, nil
}

// ReadPartition reads r, a reader of one partition without a consumer
// group, until ctx ends, handing every record to fn in offset order. A
// failed read is logged (once per streak of failures, naming what is
// read) and tried again a second later. It closes r before returning.
func ReadPartition(ctx context.Context, r *kafka.Reader, log zerolog.Logger, what string, fn func(kafka.Message)) {
	defer func() { _ = r.Close() }()
	follow(ctx, r, fn, logOncePerStreak(r, log, what))
}

// logOncePerStreak is the failure policy of ReadPartition: log the first
// failure of a streak at warn, naming what is read, and wait a second.
func logOncePerStreak(r *kafka.Reader, log zerolog.Logger, what string) func(attempt int, err error) time.Duration {
	return func(attempt int, err error) time.Duration {
		if attempt == 1 {
			log.Warn().Err(err).Str("topic", r.Config().Topic).Int("partition", r.Config().Partition).Msg("reading " + what + " failed; retrying")
		}
		return time.Second
	}
}

// follow reads r until ctx ends, handing every record to fn; a failed read
// is reported to failed (attempt counts the failures in a row, from 1),
// which says how long to wait before reading again.
func follow(ctx context.Context, r *kafka.Reader, fn func(kafka.Message), failed func(attempt int, err error) time.Duration) {
	failures := 0
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if !Pause(ctx, failed(failures, err)) {
				return
			}
			continue
		}
		failures = 0
		fn(m)
	}
}

// LogReaderConfig configures a LogReader. Zero durations and sizes mean
// the documented defaults.
type LogReaderConfig struct {
	// Brokers are the bootstrap host:port addresses. Required.
	Brokers []string
	// Security secures every connection (SASL, TLS); the zero value is
	// plaintext without authentication.
	Security KafkaSecurity
	// ClientID names the reader's connections to the brokers, e.g.
	// "pushpipe-revokes". Required.
	ClientID string
	// What names what is read in log lines, e.g. "revokes". Default
	// "records".
	What string
	// MaxWait bounds how long one fetch long-polls the broker when there
	// is nothing new; a new record is returned as soon as it is written.
	// Default 1s.
	MaxWait time.Duration
	// MaxBytes is the most bytes one fetch returns; it must exceed the
	// largest record. Default 10 MiB.
	MaxBytes int
	// ReadBackoffMin is the first wait of a reader after a failed fetch
	// (doubling up to 1s). Default 100ms.
	ReadBackoffMin time.Duration
	// MetadataTTL is how long the partitions of a topic are cached for
	// Partitions and Offsets. Default 6s.
	MetadataTTL time.Duration
	// Logger receives failed reads of Follow when it is given no failure
	// policy. The zero Logger discards them.
	Logger zerolog.Logger
}

// Validate reports what to fix in the configuration.
func (c LogReaderConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("pipeline: LogReaderConfig.Brokers is empty: give at least one host:port")
	case slices.Contains(c.Brokers, ""):
		return errors.New("pipeline: LogReaderConfig.Brokers contains an empty address")
	case c.ClientID == "":
		return errors.New("pipeline: LogReaderConfig.ClientID is empty: name the reader, e.g. \"pushpipe-revokes\"")
	case c.MaxWait < 0 || c.ReadBackoffMin < 0 || c.MetadataTTL < 0:
		return errors.New("pipeline: LogReaderConfig has a negative duration: use 0 for the default")
	case c.MaxBytes < 0 || c.MaxBytes > 0 && c.MaxBytes < 1<<10:
		return fmt.Errorf("pipeline: LogReaderConfig.MaxBytes %d is too small: use at least 1 KiB (0 for the default 10 MiB)", c.MaxBytes)
	}
	return nil
}

// LogReader reads topics partition by partition, without a consumer group:
// the compacted topics a worker keeps in memory (push.control.R for the
// revokes, push.schedules.R for the scheduler) and ranges of other topics.
// It holds one admin connection pool for Partitions, Offsets and Spans;
// every ReadRange and Follow opens a reader of its own. Its methods are
// safe for concurrent use; Close is idempotent.
type LogReader struct {
	cfg       LogReaderConfig
	transport *kafka.Transport
	client    *kafka.Client
}

// NewLogReader returns a LogReader for cfg. It does not contact the
// brokers.
func NewLogReader(cfg LogReaderConfig) (*LogReader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.What == "" {
		cfg.What = "records"
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = time.Second
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 10 << 20
	}
	if cfg.ReadBackoffMin == 0 {
		cfg.ReadBackoffMin = 100 * time.Millisecond
	}
	t := cfg.Security.Transport(cfg.ClientID)
	if cfg.MetadataTTL > 0 {
		t.MetadataTTL = cfg.MetadataTTL
	}
	return &LogReader{cfg: cfg, transport: t,
		client: &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: t, Timeout: 10 * time.Second}}, nil
}

// Close closes the idle admin connections. The LogReader stays usable (a
// later call opens new ones); readers started by Follow end with their
// context, not with Close.
func (l *LogReader) Close() error {
	l.transport.CloseIdleConnections()
	return nil
}

// Partitions returns the partition ids of topic in ascending order (see
// the function Partitions).
func (l *LogReader) Partitions(ctx context.Context, topic string) ([]int, error) {
	return Partitions(ctx, l.client, l.cfg.Security, topic)
}

// Offsets returns, per partition of topic, its first offset or with end its
// end offset (see the function Offsets).
func (l *LogReader) Offsets(ctx context.Context, topic string, parts []int, end bool) (map[int]int64, error) {
	return Offsets(ctx, l.client, topic, parts, end)
}

// Span is the offsets a partition holds: [First, End). End is the high
// watermark, the offset the next record will get: a reader has seen
// everything written so far once it has read up to it.
type Span struct{ First, End int64 }

// Spans returns the span of each partition in parts of topic.
func (l *LogReader) Spans(ctx context.Context, topic string, parts []int) (map[int]Span, error) {
	first, err := l.Offsets(ctx, topic, parts, false)
	if err != nil {
		return nil, err
	}
	end, err := l.Offsets(ctx, topic, parts, true)
	if err != nil {
		return nil, err
	}
	out := make(map[int]Span, len(parts))
	for _, p := range parts {
		out[p] = Span{First: max(first[p], 0), End: end[p]}
	}
	return out, nil
}

// newReader reads one partition of topic, starting at offset from (the
// start for kafka.FirstOffset or an offset <= 0).
func (l *LogReader) newReader(topic string, partition int, from int64) (*kafka.Reader, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         l.cfg.Brokers,
		Topic:           topic,
		Partition:       partition,
		Dialer:          l.cfg.Security.Dialer(l.cfg.ClientID, 10*time.Second),
		MinBytes:        1,
		MaxBytes:        l.cfg.MaxBytes,
		MaxWait:         l.cfg.MaxWait,
		ReadLagInterval: -1,
		StartOffset:     kafka.FirstOffset,
		ReadBackoffMin:  l.cfg.ReadBackoffMin,
		ReadBackoffMax:  time.Second,
		MaxAttempts:     3,
	})
	if from > 0 {
		if err := r.SetOffset(from); err != nil {
			_ = r.Close()
			return nil, fmt.Errorf("positioning the reader of %s partition %d at offset %d: %w", topic, partition, from, err)
		}
	}
	return r, nil
}

// ErrStopReading is the error that the function given to ReadRange or
// ReadTopic returns to end the reading early without an error.
var ErrStopReading = errors.New("pipeline: stop reading")

// ReadRange calls fn with every record of one partition of topic from
// offset from up to (not including) offset to, in offset order, and
// returns fn's first error (nil for ErrStopReading, which ends early) or a
// read error naming the range. A range with from >= to reads nothing.
func (l *LogReader) ReadRange(ctx context.Context, topic string, partition int, from, to int64, fn func(kafka.Message) error) error {
	if from >= to {
		return nil
	}
	r, err := l.newReader(topic, partition, from)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("reading %s partition %d at offsets %d..%d: %w", topic, partition, from, to, err)
		}
		if m.Offset >= to {
			return nil
		}
		if err := fn(m); err != nil {
			if errors.Is(err, ErrStopReading) {
				return nil
			}
			return err
		}
		if m.Offset+1 >= to {
			return nil
		}
	}
}

// ReadTopic calls fn with every record of every partition of topic written
// before the call, partition by partition, each in offset order. Errors
// are as ReadRange's; ErrStopReading ends the partition being read.
func (l *LogReader) ReadTopic(ctx context.Context, topic string, fn func(kafka.Message) error) error {
	parts, err := l.Partitions(ctx, topic)
	if err != nil {
		return err
	}
	sp, err := l.Spans(ctx, topic, parts)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := l.ReadRange(ctx, topic, p, sp[p].First, sp[p].End, fn); err != nil {
			return err
		}
	}
	return nil
}

// Follow reads one partition of topic from offset from (the start for
// kafka.FirstOffset or an offset <= 0) until ctx ends, handing every
// record to fn in offset order; it blocks. A failed read is reported to
// failed (attempt counts the failures in a row, from 1), which returns how
// long to wait before reading again; nil logs the first failure of each
// streak at warn on the configured Logger and waits a second. Follow
// returns an error only if the reader cannot be positioned at from, and
// nil once ctx ends.
func (l *LogReader) Follow(ctx context.Context, topic string, partition int, from int64, fn func(kafka.Message), failed func(attempt int, err error) time.Duration) error {
	r, err := l.newReader(topic, partition, from)
	if err != nil {
		return err
	}
	defer func() { _ = r.Close() }()
	if failed == nil {
		failed = logOncePerStreak(r, l.cfg.Logger, l.cfg.What)
	}
	follow(ctx, r, fn, failed)
	return nil
}

// KeyPartition returns the partition, among parts (a topic's partition
// ids), that a Producer writes a record keyed key to: kafka-go's murmur2
// balancer, as the Java client.
func KeyPartition(key []byte, parts []int) int {
	return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: key}, parts...)
}
