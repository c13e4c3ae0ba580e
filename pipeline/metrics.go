package pipeline

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Error kinds counted by Metrics (label "kind" of
// pushpipe_stage_errors_total).
const (
	ErrorKindFetch   = "fetch"   // reading from the consumer group failed
	ErrorKindHandler = "handler" // HandleBatch returned an error; the batch is retried
	ErrorKindPanic   = "panic"   // the handler panicked or broke its contract
	ErrorKindProduce = "produce" // writing outputs failed; they are retried
	ErrorKindCommit  = "commit"  // committing offsets failed
)

// Metrics are the Prometheus series of one stage in one region. All series
// carry the constant labels stage and region. Methods are safe for
// concurrent use; a nil *Metrics is not valid (use NewMetrics(nil, ...) for
// unregistered metrics).
type Metrics struct {
	consumed      prometheus.Counter
	produced      prometheus.Counter
	committed     prometheus.Counter
	rejected      *prometheus.CounterVec
	errors        *prometheus.CounterVec
	rebalances    prometheus.Counter
	handleSeconds prometheus.Histogram
	batchSize     prometheus.Histogram
	lag           prometheus.Gauge
}

// NewMetrics creates the series of one stage and registers them with reg:
//
//	pushpipe_stage_records_consumed_total   records fetched
//	pushpipe_stage_records_produced_total   records acknowledged by the brokers (outputs, DLQ, events)
//	pushpipe_stage_records_committed_total  records whose offsets were committed
//	                                        (with a CommitInterval: handed to the periodic commit)
//	pushpipe_stage_records_rejected_total   records rejected, by result code (label "code")
//	pushpipe_stage_errors_total             failures, by kind (label "kind", see ErrorKind*)
//	pushpipe_stage_rebalances_total         consumer group generations joined
//	pushpipe_stage_handle_seconds           HandleBatch latency per batch, retries included
//	pushpipe_stage_batch_size               records per handled batch
//	pushpipe_stage_consumer_lag             records behind the high watermark, as last seen by the reader
//
// reg may be nil: the metrics then work but are not exported. Registering
// the same stage and region twice on one registry is allowed: the second
// call shares the series of the first. NewMetrics panics only if reg holds
// different, conflicting collectors under these names.
func NewMetrics(reg prometheus.Registerer, stage, region string) *Metrics {
	labels := prometheus.Labels{"stage": stage, "region": region}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "stage", Name: name, Help: help, ConstLabels: labels})
	}
	m := &Metrics{
		consumed:   counter("records_consumed_total", "Records fetched from the input topic."),
		produced:   counter("records_produced_total", "Records acknowledged by the brokers: outputs, dead-letter records and rejected events."),
		committed:  counter("records_committed_total", "Records whose offsets were committed."),
		rebalances: counter("rebalances_total", "Consumer group generations joined."),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushpipe", Subsystem: "stage", Name: "records_rejected_total",
			Help: "Records rejected to the dead-letter topic, by result code.", ConstLabels: labels,
		}, []string{"code"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "pushpipe", Subsystem: "stage", Name: "errors_total",
			Help: "Failures by kind: fetch, handler, panic, produce, commit.", ConstLabels: labels,
		}, []string{"kind"}),
		handleSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "pushpipe", Subsystem: "stage", Name: "handle_seconds",
			Help: "HandleBatch latency per batch in seconds, retries included.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "pushpipe", Subsystem: "stage", Name: "batch_size",
			Help: "Records per handled batch.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "pushpipe", Subsystem: "stage", Name: "consumer_lag",
			Help: "Records behind the high watermark, as last reported by the reader.", ConstLabels: labels,
		}),
	}
	for _, k := range []string{ErrorKindFetch, ErrorKindHandler, ErrorKindPanic, ErrorKindProduce, ErrorKindCommit} {
		m.errors.WithLabelValues(k) // export zeros so rate() works from the start
	}
	if reg == nil {
		return m
	}
	m.consumed = Register(reg, m.consumed)
	m.produced = Register(reg, m.produced)
	m.committed = Register(reg, m.committed)
	m.rebalances = Register(reg, m.rebalances)
	m.rejected = Register(reg, m.rejected)
	m.errors = Register(reg, m.errors)
	m.handleSeconds = Register(reg, m.handleSeconds)
	m.batchSize = Register(reg, m.batchSize)
	m.lag = Register(reg, m.lag)
	return m
}

// Register registers c on reg and returns it (a nil reg leaves c
// unregistered), or returns the identical collector registered before (so
// that several workers of one process, e.g. two stages of a region, share
// their series). It panics on any other registration error, which is a
// programming error such as two different metrics with the same name.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	err := reg.Register(c)
	if err == nil {
		return c
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing
		}
	}
	panic("pushpipe: registering metrics: " + err.Error())
}

func (m *Metrics) addConsumed(n int)  { m.consumed.Add(float64(n)) }
func (m *Metrics) addProduced(n int)  { m.produced.Add(float64(n)) }
func (m *Metrics) addCommitted(n int) { m.committed.Add(float64(n)) }
func (m *Metrics) addRebalances(n int64) {
	if n > 0 {
		m.rebalances.Add(float64(n))
	}
}
func (m *Metrics) incRejected(code int)    { m.rejected.WithLabelValues(strconv.Itoa(code)).Inc() }
func (m *Metrics) incError(kind string)    { m.errors.WithLabelValues(kind).Inc() }
func (m *Metrics) observeHandle(s float64) { m.handleSeconds.Observe(s) }
func (m *Metrics) observeBatch(n int)      { m.batchSize.Observe(float64(n)) }
func (m *Metrics) setLag(n int64)          { m.lag.Set(float64(n)) }
