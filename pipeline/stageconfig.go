package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// NoBatchWait as StageConfig.BatchWait hands each batch over as soon as
// the handler can take it, with the records that have arrived by then.
const NoBatchWait time.Duration = -1

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
	// BatchWait is how long a batch waits for more records after its
	// first record. A batch always takes every record that has already
	// arrived behind its first one (up to BatchSize) without waiting;
	// BatchWait then waits for more, which fills batches at moderate
	// rates at the cost of that much latency. Default 10ms.
	// NoBatchWait (any negative value) does not wait: a batch is handed
	// to the handler as soon as a handling slot is free, with what has
	// arrived by then, so records accumulate only while the handler is
	// busy (large batches under load, no added latency at low rates).
	BatchWait time.Duration
	// BatchLinger, when positive, hands a batch over early once no record
	// has arrived for that long: a lone request is handled at once, while
	// records that stream in closer together still fill a batch for up to
	// BatchWait. 0 waits BatchWait (or BatchSize records) every time.
	// With NoBatchWait it applies only to the batches of a burst (see
	// BurstRecords).
	BatchLinger time.Duration
	// BurstRecords and BurstWait fill the batches of a burst: a batch
	// that already holds at least BurstRecords records once it took what
	// had arrived (fewer than BatchSize) waits up to BurstWait for more
	// (or BatchWait, if that is longer), handed over at BatchSize or once
	// no record came for BatchLinger. A broadcast's deliveries, which
	// arrive by the thousand, then fill the sender's vendor calls, while
	// a trickle of unicast requests waits no longer than BatchWait (with
	// NoBatchWait: not at all). 0 (the default) adds no wait.
	BurstRecords int
	BurstWait    time.Duration
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
	// CommitInterval is how often the offsets of produced batches are
	// committed. 0 (the default) commits each batch's offsets, and waits
	// for the broker to store them, once its outputs are acknowledged.
	// A positive value hands each acknowledged batch's offsets to the
	// consumer group, which commits the latest per partition every
	// CommitInterval, and once more when the group's partitions are
	// revoked (a rebalance) and when the stage stops: one OffsetCommit
	// request per interval instead of one per batch. At-least-once holds
	// either way (an offset is handed over only after its batch's outputs
	// are acknowledged), but a crash hands up to CommitInterval more
	// records to the next owner again, and a failed periodic commit is
	// logged by the reader and covered by the next one rather than counted
	// as ErrorKindCommit. At most 10s.
	CommitInterval time.Duration

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
	case c.BurstRecords < 0:
		return fmt.Errorf("pipeline: StageConfig.BurstRecords %d is negative: use 0 to never wait for a burst", c.BurstRecords)
	case c.BurstRecords > 0 && c.BurstWait <= 0:
		return fmt.Errorf("pipeline: StageConfig.BurstWait %s must be positive with BurstRecords %d: say how long a burst's batch waits to fill", c.BurstWait, c.BurstRecords)
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
		{"BatchLinger", c.BatchLinger}, {"CommitInterval", c.CommitInterval}, {"FetchMaxWait", c.FetchMaxWait}, {"SessionTimeout", c.SessionTimeout},
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
	case c.CommitInterval > 10*time.Second:
		return fmt.Errorf("pipeline: StageConfig.CommitInterval %s would replay too much after a crash: use at most 10s (0 commits every batch)", c.CommitInterval)
	case c.BatchWait > time.Minute:
		return fmt.Errorf("pipeline: StageConfig.BatchWait %s holds records too long: use milliseconds", c.BatchWait)
	}
	return nil
}
