package gateway

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's series, all with the constant label region:
//
//	pushpipe_gateway_requests_total   requests by route and result code (100 success, -1, 3019, ...; the
//	                                  Alibaba Cloud code of a refused RPC call; Throttling.User for a
//	                                  call over its app's rate limit in either protocol)
//	pushpipe_gateway_request_seconds  request latency by route, Kafka acknowledgement included
//	pushpipe_gateway_throttled_total  calls refused by the app's rate limit (HTTP 429), by app
type metrics struct {
	requests  *prometheus.CounterVec
	seconds   *prometheus.HistogramVec
	throttled *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, region string) (*metrics, error) {
	labels := prometheus.Labels{"region": region}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "gateway", Name: "requests_total",
			Help: "Gateway requests by route and mPaaS result code.", ConstLabels: labels}, []string{"route", "code"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "pushpipe", Subsystem: "gateway", Name: "request_seconds",
			Help: "Gateway request latency in seconds, Kafka acknowledgement and ClickHouse queries included.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16)}, []string{"route"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "gateway", Name: "throttled_total",
			Help: "Gateway calls refused with HTTP 429 because the app's rate limit (gateway.rateLimit) was spent, by app.", ConstLabels: labels}, []string{"app"}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.requests, err = registerOnce(reg, m.requests); err != nil {
		return nil, err
	}
	if m.seconds, err = registerOnce(reg, m.seconds); err != nil {
		return nil, err
	}
	if m.throttled, err = registerOnce(reg, m.throttled); err != nil {
		return nil, err
	}
	return m, nil
}

// registerOnce registers c, or returns the collector a gateway of the
// same region registered before on reg, so that both share the series.
func registerOnce[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("gateway: registering metrics: %w", err)
}
