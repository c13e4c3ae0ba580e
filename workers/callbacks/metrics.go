package callbacks

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"

	"github.com/pushpipe/pushpipe/pipeline"
)

// Reasons a callback went to a delay tier (label reason of
// pushpipe_callbacks_retries_total).
const (
	retryError       = "error"        // no answer, a timeout or a 5xx
	retryThrottled   = "throttled"    // the receiver answered 429
	retryBreakerOpen = "breaker_open" // the host's circuit breaker is open: not attempted
	retryHostBusy    = "host_busy"    // every concurrency slot of the host (or the batch) stayed taken: not attempted
)

// metrics are the series of the callbacks worker of one region.
type metrics struct {
	posted       *prometheus.CounterVec
	attempts     *prometheus.CounterVec
	seconds      prometheus.Histogram
	superseded   prometheus.Counter
	blocked      *prometheus.CounterVec
	retries      *prometheus.CounterVec
	breakerTrips prometheus.Counter
}

// newMetrics creates, and registers on reg when it is not nil:
//
//	pushpipe_callbacks_posted_total{result}     callbacks by final outcome: delivered, refused, blocked, gave_up, invalid_url, sign_error
//	pushpipe_callbacks_attempts_total{code}     HTTP attempts by answer class: 2xx, 3xx, 4xx, 5xx, or error (no answer)
//	pushpipe_callbacks_request_seconds          latency of one HTTP attempt
//	pushpipe_callbacks_superseded_total         endings not posted: their delivery had already ended another way
//	pushpipe_callbacks_blocked_total{reason}    callbacks refused by policy: ssrf, scheme, allowlist
//	pushpipe_callbacks_retries_total{reason}    callbacks put on a delay tier: error, throttled, breaker_open, host_busy
//	pushpipe_callbacks_breaker_trips_total      times a host's circuit breaker opened
//	pushpipe_callbacks_breakers{state}          hosts by breaker state (closed, half_open, open), read at scrape time
//
// posted_total{result="gave_up"} counts the callbacks dropped after their
// last attempt. Every series carries the constant label region.
// Registering a second handler of the same region on reg shares the
// series (and the breaker gauge reads the first handler's hosts).
func newMetrics(reg prometheus.Registerer, region string, hosts *hostTable) *metrics {
	labels := prometheus.Labels{"region": region}
	counter := func(name, help string, label ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "callbacks", Name: name,
			Help: help, ConstLabels: labels}, label)
	}
	m := &metrics{
		posted: counter("posted_total",
			"Business callbacks by final outcome: delivered, refused, blocked, gave_up, invalid_url, sign_error.", "result"),
		attempts: counter("attempts_total",
			"HTTP attempts of business callbacks by answer class (2xx, 3xx, 4xx, 5xx) or error when there was no answer.", "code"),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "pushpipe", Subsystem: "callbacks", Name: "request_seconds",
			Help: "Latency of one HTTP attempt of a business callback, in seconds.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		superseded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "callbacks", Name: "superseded_total",
			Help: "Terminal events not posted as callbacks because their delivery had already ended another way (a replay).", ConstLabels: labels}),
		blocked: counter("blocked_total",
			"Business callbacks not posted because the callback policy refused them: ssrf (an address that is not public), scheme (http for an https-only app), allowlist (a host not on the app's list).", "reason"),
		retries: counter("retries_total",
			"Business callbacks put on a delay tier for another attempt: error (no answer, timeout, 5xx), throttled (429), breaker_open and host_busy (not attempted).", "reason"),
		breakerTrips: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "callbacks", Name: "breaker_trips_total",
			Help: "Times the circuit breaker of a callback host opened.", ConstLabels: labels}),
	}
	// Export zeros so that rate() works from the start.
	for _, r := range []string{resultDelivered, resultRefused, resultBlocked, resultGaveUp, resultInvalidURL, resultSignError} {
		m.posted.WithLabelValues(r)
	}
	for _, r := range []string{ReasonSSRF, ReasonScheme, ReasonAllowlist} {
		m.blocked.WithLabelValues(r)
	}
	for _, r := range []string{retryError, retryThrottled, retryBreakerOpen, retryHostBusy} {
		m.retries.WithLabelValues(r)
	}
	if reg == nil {
		return m
	}
	m.posted = pipeline.Register(reg, m.posted)
	m.attempts = pipeline.Register(reg, m.attempts)
	m.seconds = pipeline.Register(reg, m.seconds)
	m.superseded = pipeline.Register(reg, m.superseded)
	m.blocked = pipeline.Register(reg, m.blocked)
	m.retries = pipeline.Register(reg, m.retries)
	m.breakerTrips = pipeline.Register(reg, m.breakerTrips)
	pipeline.Register(reg, &breakerGauge{hosts: hosts,
		desc: prometheus.NewDesc("pushpipe_callbacks_breakers", "Callback hosts by the state of their circuit breaker: closed, half_open, open.",
			[]string{"state"}, labels)})
	return m
}

// breakerGauge exports the number of hosts in each breaker state.
type breakerGauge struct {
	hosts *hostTable
	desc  *prometheus.Desc
}

// Describe implements prometheus.Collector.
func (g *breakerGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector.
func (g *breakerGauge) Collect(ch chan<- prometheus.Metric) {
	for state, n := range g.hosts.states() {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(n), stateLabel(state))
	}
}

// stateLabel is the value of label state for a breaker state.
func stateLabel(s gobreaker.State) string {
	switch s {
	case gobreaker.StateOpen:
		return "open"
	case gobreaker.StateHalfOpen:
		return "half_open"
	}
	return "closed"
}
