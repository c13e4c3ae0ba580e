package callbacks

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/pushpipe/pushpipe/pipeline"
)

// metrics are the series of the callbacks worker of one region.
type metrics struct {
	posted     *prometheus.CounterVec
	attempts   *prometheus.CounterVec
	seconds    prometheus.Histogram
	superseded prometheus.Counter
}

// newMetrics creates, and registers on reg when it is not nil:
//
//	pushpipe_callbacks_posted_total{result}   callbacks by outcome: delivered, refused, gave_up, invalid_url, sign_error
//	pushpipe_callbacks_attempts_total{code}   HTTP attempts by answer class: 2xx, 3xx, 4xx, 5xx, or error (no answer)
//	pushpipe_callbacks_request_seconds        latency of one HTTP attempt
//	pushpipe_callbacks_superseded_total       endings not posted: their delivery had already ended another way
//
// Every series carries the constant label region. Registering a second
// handler of the same region on reg shares the series.
func newMetrics(reg prometheus.Registerer, region string) *metrics {
	labels := prometheus.Labels{"region": region}
	m := &metrics{
		posted: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "callbacks", Name: "posted_total",
			Help: "Business callbacks by outcome: delivered, refused, gave_up, invalid_url, sign_error.", ConstLabels: labels}, []string{"result"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "callbacks", Name: "attempts_total",
			Help: "HTTP attempts of business callbacks by answer class (2xx, 3xx, 4xx, 5xx) or error when there was no answer.", ConstLabels: labels}, []string{"code"}),
		seconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "pushpipe", Subsystem: "callbacks", Name: "request_seconds",
			Help: "Latency of one HTTP attempt of a business callback, in seconds.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
		superseded: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "callbacks", Name: "superseded_total",
			Help: "Terminal events not posted as callbacks because their delivery had already ended another way (a replay).", ConstLabels: labels}),
	}
	for _, r := range []string{resultDelivered, resultRefused, resultGaveUp, resultInvalidURL, resultSignError} {
		m.posted.WithLabelValues(r) // export zeros so rate() works from the start
	}
	if reg == nil {
		return m
	}
	m.posted = pipeline.Register(reg, m.posted)
	m.attempts = pipeline.Register(reg, m.attempts)
	m.seconds = pipeline.Register(reg, m.seconds)
	m.superseded = pipeline.Register(reg, m.superseded)
	return m
}
