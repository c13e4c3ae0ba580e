package scheduler

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/pushpipe/pushpipe/pipeline"
)

// metrics are the scheduler's Prometheus series, all with the constant
// label region:
//
//	pushpipe_scheduler_occurrences_total{outcome}  occurrences handled: fired, missed, recovered (found already published after an interrupted firing)
//	pushpipe_scheduler_schedules_total{decision}   schedules admitted or refused
//	pushpipe_scheduler_schedules                   schedules known, by status (waiting, active, done, cancelled, refused)
//	pushpipe_scheduler_owned_partitions            partitions of push.schedules.R this replica fires for
//	pushpipe_scheduler_errors_total                rounds of work that failed and will be retried
type metrics struct {
	occurrences *prometheus.CounterVec
	decisions   *prometheus.CounterVec
	schedules   *prometheus.GaugeVec
	owned       prometheus.Gauge
	errors      prometheus.Counter
}

// newMetrics creates the series and registers them with reg (nil leaves
// them unregistered). Registering twice on one registry shares the series
// of the first registration.
func newMetrics(reg prometheus.Registerer, region string) *metrics {
	labels := prometheus.Labels{"region": region}
	m := &metrics{
		occurrences: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "scheduler", Name: "occurrences_total",
			Help: "Occurrences handled, by outcome: fired, missed (too late), recovered (found already published after an interrupted firing).", ConstLabels: labels}, []string{"outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "scheduler", Name: "schedules_total",
			Help: "Schedules admitted or refused, by decision.", ConstLabels: labels}, []string{"decision"}),
		schedules: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "pushpipe", Subsystem: "scheduler", Name: "schedules",
			Help: "Schedules known to this replica, by status.", ConstLabels: labels}, []string{"status"}),
		owned: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "pushpipe", Subsystem: "scheduler", Name: "owned_partitions",
			Help: "Partitions of push.schedules.R whose schedules this replica fires.", ConstLabels: labels}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "scheduler", Name: "errors_total",
			Help: "Rounds of work that failed (Kafka unavailable...) and will be retried.", ConstLabels: labels}),
	}
	if reg == nil {
		return m
	}
	m.occurrences = pipeline.Register(reg, m.occurrences)
	m.decisions = pipeline.Register(reg, m.decisions)
	m.schedules = pipeline.Register(reg, m.schedules)
	m.owned = pipeline.Register(reg, m.owned)
	m.errors = pipeline.Register(reg, m.errors)
	return m
}
