package middleware

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/sony/gobreaker/v2"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of BreakerConfig.
const (
	DefaultConsecutiveFailures = 5
	DefaultFailureRatio        = 0.5
	DefaultMinRequests         = 20
	DefaultFailureWindow       = 10 * time.Second
	DefaultOpenTimeout         = 10 * time.Second
	DefaultHalfOpenRequests    = 1
)

// BreakerConfig configures the circuit breaker of each vendor endpoint
// (vendor + region). The breaker opens when ConsecutiveFailures vendor
// calls in a row fail, or when at least MinRequests calls were judged in
// the last FailureWindow and FailureRatio of them failed. While open, Send
// fails at once with a transient error; after OpenTimeout it lets
// HalfOpenRequests calls through as probes: if they all succeed it closes,
// if one fails it opens again. Zero values mean the defaults. It is the
// configuration key sender.breaker.
type BreakerConfig struct {
	// Disabled turns the breakers off.
	Disabled bool `yaml:"disabled" json:"disabled"`
	// ConsecutiveFailures trips the breaker; default 5, -1 disables this
	// trigger.
	ConsecutiveFailures int `yaml:"consecutiveFailures" json:"consecutiveFailures"`
	// FailureRatio (0..1] trips the breaker together with MinRequests;
	// default 0.5, -1 disables this trigger.
	FailureRatio float64 `yaml:"failureRatio" json:"failureRatio"`
	// MinRequests is the fewest judged calls in FailureWindow for
	// FailureRatio to apply; default 20.
	MinRequests int `yaml:"minRequests" json:"minRequests"`
	// FailureWindow is the rolling window of the counts in the closed
	// state (kept in one-second buckets, or tenths for windows under 10s);
	// default 10s.
	FailureWindow time.Duration `yaml:"failureWindow" json:"failureWindow"`
	// OpenTimeout is how long the breaker stays open before probing;
	// default 10s.
	OpenTimeout time.Duration `yaml:"openTimeout" json:"openTimeout"`
	// HalfOpenRequests is how many probe calls the half-open breaker lets
	// through, and how many must succeed to close it; default 1.
	HalfOpenRequests int `yaml:"halfOpenRequests" json:"halfOpenRequests"`
}

// WithDefaults returns a copy with zero fields set to their defaults.
func (c BreakerConfig) WithDefaults() BreakerConfig {
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if c.FailureRatio == 0 {
		c.FailureRatio = DefaultFailureRatio
	}
	if c.MinRequests == 0 {
		c.MinRequests = DefaultMinRequests
	}
	if c.FailureWindow == 0 {
		c.FailureWindow = DefaultFailureWindow
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = DefaultOpenTimeout
	}
	if c.HalfOpenRequests == 0 {
		c.HalfOpenRequests = DefaultHalfOpenRequests
	}
	return c
}

// Validate reports the first setting that cannot work, saying what to fix.
// Zero values are valid and mean the defaults.
func (c BreakerConfig) Validate() error {
	switch {
	case c.ConsecutiveFailures < -1:
		return fmt.Errorf("sender breaker: consecutiveFailures %d: use a positive count, 0 for the default %d or -1 to disable", c.ConsecutiveFailures, DefaultConsecutiveFailures)
	case c.FailureRatio != -1 && (c.FailureRatio < 0 || c.FailureRatio > 1):
		return fmt.Errorf("sender breaker: failureRatio %v: use a ratio in (0, 1], 0 for the default %v or -1 to disable", c.FailureRatio, DefaultFailureRatio)
	case c.ConsecutiveFailures == -1 && c.FailureRatio == -1:
		return errors.New("sender breaker: both triggers are disabled; set disabled: true to turn the breaker off")
	case c.MinRequests < 0:
		return fmt.Errorf("sender breaker: minRequests %d is negative (0 = default %d)", c.MinRequests, DefaultMinRequests)
	case c.FailureWindow < 0:
		return fmt.Errorf("sender breaker: failureWindow %s is negative (0 = default %s)", c.FailureWindow, DefaultFailureWindow)
	case c.OpenTimeout < 0:
		return fmt.Errorf("sender breaker: openTimeout %s is negative (0 = default %s)", c.OpenTimeout, DefaultOpenTimeout)
	case c.HalfOpenRequests < 0:
		return fmt.Errorf("sender breaker: halfOpenRequests %d is negative (0 = default %d)", c.HalfOpenRequests, DefaultHalfOpenRequests)
	}
	return nil
}

// readyToTrip is the trip rule of the configuration (defaults applied).
func (c BreakerConfig) readyToTrip(n gobreaker.Counts) bool {
	if c.ConsecutiveFailures > 0 && n.ConsecutiveFailures >= uint32(c.ConsecutiveFailures) {
		return true
	}
	judged := n.TotalSuccesses + n.TotalFailures
	return c.FailureRatio > 0 && judged >= uint32(c.MinRequests) && judged > 0 &&
		float64(n.TotalFailures)/float64(judged) >= c.FailureRatio
}

// Breaker state values of the gauge pushpipe_vendor_breaker_state.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)

func stateValue(s gobreaker.State) float64 {
	switch s {
	case gobreaker.StateHalfOpen:
		return BreakerHalfOpen
	case gobreaker.StateOpen:
		return BreakerOpen
	}
	return BreakerClosed
}

// verdict is how one Send counts for the breaker.
type verdict int

const (
	verdictSuccess  verdict = iota // the endpoint answered
	verdictFailure                 // the endpoint is unwell
	verdictExcluded                // says nothing about the endpoint
)

// judge classifies the outcome of one Send:
//
//   - success: no whole-call error (per-message results, including
//     Transient, Permanent and InvalidToken ones, never count against the
//     endpoint), or a permanent whole-call error the vendor answered
//     (credentials rejected...): the endpoint is up;
//   - failure: a transient whole-call error — 5xx, timeouts, connection
//     errors, garbled answers, vendor-coded "busy";
//   - excluded: throttling (HTTP 429 or one of throttleCodes, the
//     vendor's codes in a whole-call error that mean "you are sending too
//     fast" rather than "the endpoint is unwell"), this
//     sender's own rate limit (ErrRateLimited), the caller's context
//     ending (shutdown), and caller errors that never reached the vendor
//     (batch too large, mixed apps, unknown app). Throttling is transient
//     for the delivery — it goes to the retry path — but the endpoint is
//     healthy, so it neither trips nor closes the breaker.
func judge(ctx context.Context, throttleCodes []int, err error) verdict {
	var ve *channels.VendorError
	switch {
	case err == nil:
		return verdictSuccess
	case errors.Is(err, ErrRateLimited), ctx.Err() != nil,
		errors.Is(err, channels.ErrBatchTooLarge), errors.Is(err, channels.ErrMixedApps), errors.Is(err, channels.ErrUnknownApp):
		return verdictExcluded
	case errors.As(err, &ve) && (ve.HTTPStatus == http.StatusTooManyRequests || slices.Contains(throttleCodes, ve.Code)):
		return verdictExcluded
	case errors.Is(err, channels.ErrTransient):
		return verdictFailure
	}
	return verdictSuccess
}

// Sentinels handed to gobreaker to report a verdict.
var (
	errBreakerFailure  = errors.New("vendor endpoint failure")
	errBreakerExcluded = errors.New("outcome excluded from the breaker counts")
)

// Breaker is a channel that guards the vendor endpoint of another channel
// (one vendor in one region) with a circuit breaker. Safe for concurrent
// use.
type Breaker struct {
	wrapped
	region   string
	cfg      BreakerConfig
	throttle []int
	cb       *gobreaker.TwoStepCircuitBreaker[struct{}]
	m        *BreakerMetrics
	log      zerolog.Logger
	// openedAt is the unix nanoseconds of the last change to open.
	openedAt atomic.Int64
}

// Breakers returns the Middleware that wraps each channel of region in its
// own Breaker configured by cfg; throttleCodes (may be nil) names a
// vendor's codes that mean throttling (see NewBreaker). It fails when cfg
// does not validate.
func Breakers(region string, cfg BreakerConfig, throttleCodes func(vendor string) []int, m *BreakerMetrics, log zerolog.Logger) (Middleware, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return func(ch channels.Channel) channels.Channel {
		var codes []int
		if throttleCodes != nil {
			codes = throttleCodes(ch.Name())
		}
		return newBreaker(ch, region, cfg, codes, m, log)
	}, nil
}

// NewBreaker wraps ch, the channel of one vendor in region, with a circuit
// breaker configured by cfg (defaults applied). throttleCodes are the
// vendor's codes in a whole-call error that mean "you are sending too
// fast": such an error leaves the breaker's counts alone, like HTTP 429.
// m (may be nil) exports its state; log receives one line per state
// change, with keys vendor and region. It fails when cfg does not
// validate.
func NewBreaker(ch channels.Channel, region string, cfg BreakerConfig, throttleCodes []int, m *BreakerMetrics, log zerolog.Logger) (*Breaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return newBreaker(ch, region, cfg, throttleCodes, m, log), nil
}

// newBreaker is NewBreaker for a validated cfg.
func newBreaker(ch channels.Channel, region string, cfg BreakerConfig, throttleCodes []int, m *BreakerMetrics, log zerolog.Logger) *Breaker {
	cfg = cfg.WithDefaults()
	b := &Breaker{wrapped: wrapped{ch}, region: region, cfg: cfg, throttle: throttleCodes, m: m,
		log: log.With().Str("vendor", ch.Name()).Str("region", region).Logger()}
	bucket := time.Second
	if cfg.FailureWindow < 10*time.Second {
		bucket = cfg.FailureWindow / 10
	}
	b.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         ch.Name() + "/" + region,
		MaxRequests:  uint32(cfg.HalfOpenRequests),
		Interval:     cfg.FailureWindow,
		BucketPeriod: bucket,
		Timeout:      cfg.OpenTimeout,
		ReadyToTrip:  cfg.readyToTrip,
		IsExcluded:   func(err error) bool { return errors.Is(err, errBreakerExcluded) },
		IsSuccessful: func(err error) bool { return err == nil },
		// Called with the breaker's lock held: record and log only.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				b.openedAt.Store(time.Now().UnixNano())
			}
			ev := b.log.Info()
			if to == gobreaker.StateOpen {
				ev = b.log.Warn()
			}
			ev.Str("from", from.String()).Str("to", to.String()).Msg("vendor circuit breaker state changed")
		},
	})
	if m != nil {
		m.add(b)
	}
	return b
}

// Region is the region of the guarded endpoint.
func (b *Breaker) Region() string { return b.region }

// State returns the breaker's state. Reading it also moves an open
// breaker whose OpenTimeout passed to half-open.
func (b *Breaker) State() gobreaker.State { return b.cb.State() }

// Send implements channels.Channel. While the breaker is open (or
// half-open with every probe slot taken) it returns at once, without
// calling the vendor, a *channels.VendorError that matches
// channels.ErrTransient and gobreaker.ErrOpenState (or
// gobreaker.ErrTooManyRequests); when open, its RetryAfter is the time
// left until the breaker probes again. Otherwise it calls the wrapped
// channel and counts the outcome as described at judge.
func (b *Breaker) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	done, err := b.cb.Allow()
	if err != nil {
		ve := &channels.VendorError{Channel: b.inner.Name(), Op: "calling the " + b.region + " endpoint", Transient: true, Cause: err,
			Reason: "circuit breaker " + b.cb.State().String()}
		if errors.Is(err, gobreaker.ErrOpenState) {
			ve.RetryAfter = max(0, time.Until(time.Unix(0, b.openedAt.Load()).Add(b.cfg.OpenTimeout)))
		}
		if b.m != nil {
			b.m.rejected.WithLabelValues(b.region, b.inner.Name()).Add(float64(len(msgs)))
		}
		return nil, ve
	}
	res, err := b.inner.Send(ctx, msgs)
	switch judge(ctx, b.throttle, err) {
	case verdictFailure:
		done(errBreakerFailure)
	case verdictExcluded:
		done(errBreakerExcluded)
	default:
		done(nil)
	}
	return res, err
}

// BreakerMetrics exports the state of every breaker registered with it as
// the gauge pushpipe_vendor_breaker_state{region,vendor} (0 closed, 1
// half-open, 2 open; read at scrape time) and counts the messages refused
// while open or half-open as pushpipe_vendor_breaker_rejected_total.
// Safe for concurrent use.
type BreakerMetrics struct {
	state    *prometheus.Desc
	rejected *prometheus.CounterVec

	mu       sync.Mutex
	breakers map[[2]string]*Breaker // region, vendor
}

// NewBreakerMetrics returns the breaker metrics, unregistered: the caller
// registers them once per registry, and every Breaker of that registry
// shares them.
func NewBreakerMetrics() *BreakerMetrics {
	return &BreakerMetrics{
		state: prometheus.NewDesc("pushpipe_vendor_breaker_state",
			"State of the circuit breaker of a vendor endpoint: 0 closed, 1 half-open, 2 open.", []string{"region", "vendor"}, nil),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pushpipe_vendor_breaker_rejected_total",
			Help: "Messages not sent because the vendor endpoint's circuit breaker was open or half-open."}, []string{"region", "vendor"}),
		breakers: map[[2]string]*Breaker{},
	}
}

// add makes b's state exported; a later breaker of the same endpoint
// replaces an earlier one.
func (m *BreakerMetrics) add(b *Breaker) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.breakers[[2]string{b.region, b.inner.Name()}] = b
	m.rejected.WithLabelValues(b.region, b.inner.Name())
}

// Describe implements prometheus.Collector.
func (m *BreakerMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.state
	m.rejected.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *BreakerMetrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	bs := make([]*Breaker, 0, len(m.breakers))
	for _, b := range m.breakers {
		bs = append(bs, b)
	}
	m.mu.Unlock()
	for _, b := range bs {
		ch <- prometheus.MustNewConstMetric(m.state, prometheus.GaugeValue, stateValue(b.State()), b.region, b.inner.Name())
	}
	m.rejected.Collect(ch)
}
