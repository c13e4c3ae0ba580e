package middleware

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/registry"
)

// ExtraSmoothRate is channels.ExtraSmoothRate: the key of
// schema.Delivery.Extras that asks for smooth push. The value is a decimal
// number of messages a second; a missing, unparsable or non-positive value
// means no cap.
const ExtraSmoothRate = channels.ExtraSmoothRate

// Unit is what a rate limit counts.
type Unit string

// Units of a Limit.
const (
	// UnitMessages counts one token per message (device token) sent.
	UnitMessages Unit = "messages"
	// UnitCalls counts one token per vendor call. For a channel that
	// implements channels.BatchKeyer (MiPush) a Send makes one call per
	// distinct BatchKey; for any other channel one Send is one call.
	UnitCalls Unit = "calls"
)

// Limit is one rate budget of a whole region: Rate tokens a second shared
// by every sender replica of the region (see Limiter.SetShare).
type Limit struct {
	// Rate is the tokens a second of the whole region. 0 means no limit.
	Rate float64 `yaml:"rate" json:"rate"`
	// Unit is what a token is; default UnitMessages.
	Unit Unit `yaml:"unit" json:"unit"`
	// Burst is the region's bucket size in tokens; 0 means a tenth of a
	// second of Rate, rounded up. It also caps how many messages (or
	// calls) go out together, so a small burst keeps the rate smooth.
	Burst int `yaml:"burst" json:"burst"`
}

// Unlimited reports whether the limit lets everything through.
func (l Limit) Unlimited() bool { return l.Rate == 0 }

// burst returns the region's bucket size.
func (l Limit) burst() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return max(1, int(math.Ceil(l.Rate/10)))
}

func (l Limit) validate(what string) error {
	switch {
	case l.Rate < 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0):
		return fmt.Errorf("%s: rate %v must be a finite number >= 0 (0 = no limit)", what, l.Rate)
	case l.Unit != "" && l.Unit != UnitMessages && l.Unit != UnitCalls:
		return fmt.Errorf("%s: unit %q must be %q or %q", what, l.Unit, UnitMessages, UnitCalls)
	case l.Burst < 0:
		return fmt.Errorf("%s: burst %d must not be negative (0 = a tenth of a second of rate)", what, l.Burst)
	}
	return nil
}

// AppLimit overrides the limit of one app on one vendor channel, in one
// region or in all.
type AppLimit struct {
	// AppID is the pushpipe app id. Required.
	AppID string `yaml:"appId" json:"appId"`
	// Vendor is the channel name ("mipush", "fcm", ...). Required.
	Vendor string `yaml:"vendor" json:"vendor"`
	// Region restricts the override to one region; empty means every
	// region.
	Region string `yaml:"region,omitempty" json:"region,omitempty"`
	// Limit replaces the vendor's default for this app.
	Limit `yaml:",inline"`
}

// DefaultVendorLimits returns the per-app limits used for a vendor that
// RateLimitConfig.Vendors does not name: the DefaultRate of each vendor in
// channels/registry. A vendor has a default only where its own
// documentation states a per-second (or per-minute) quota, which its
// descriptor names (mipush 1000 calls/s, fcm 10,000 messages/s, oppo 5000
// messages/s, sms 5000 calls/s); every other channel is not limited by
// default and is throttled by the vendor's own answer (429, a throttling
// code or 503 with Retry-After: the delivery goes to the retry path, and a
// storm of them opens the circuit breaker). Set such an app's figure in
// RateLimitConfig.Apps once it is known. A new map on every call.
func DefaultVendorLimits() map[string]Limit {
	out := map[string]Limit{}
	for _, v := range registry.Vendors() {
		if q := v.DefaultRate; q != nil {
			out[v.Name] = Limit{Rate: q.Rate, Unit: Unit(q.Unit)}
		}
	}
	return out
}

// Defaults of RateLimitConfig.
const (
	DefaultMaxWait       = time.Minute
	DefaultShareRefresh  = time.Second
	DefaultSmoothTaskTTL = 5 * time.Minute
)

// RateLimitConfig configures the sender's token buckets: one per (vendor,
// app) in the sender's region, and one per task that asks for smooth push.
// Every limit is a budget of the whole region; each replica applies its
// share (see Limiter.SetShare). The zero value is the vendors' default
// quotas. It is the configuration key sender.rateLimit.
type RateLimitConfig struct {
	// Disabled turns every limit off.
	Disabled bool `yaml:"disabled" json:"disabled"`
	// Vendors sets the per-app default of a vendor, replacing its entry
	// in DefaultVendorLimits.
	Vendors map[string]Limit `yaml:"vendors" json:"vendors"`
	// Apps override the vendor default for single apps. A region-specific
	// entry wins over one for every region.
	Apps []AppLimit `yaml:"apps" json:"apps"`
	// MaxWait is the longest a vendor call waits for tokens; a delivery
	// that would wait longer (or past its validity, or past the caller's
	// deadline) is not sent now but goes to the retry path. Default 1m.
	MaxWait time.Duration `yaml:"maxWait" json:"maxWait"`
	// ShareRefresh is how often a busy replica asks Kafka how the region's
	// budget is shared among the replicas. Default 1s.
	ShareRefresh time.Duration `yaml:"shareRefresh" json:"shareRefresh"`
	// SmoothTaskTTL is how long the bucket of a smooth-push task is kept
	// after its last message. Default 5m.
	SmoothTaskTTL time.Duration `yaml:"smoothTaskTtl" json:"smoothTaskTtl"`
}

// WithDefaults returns a copy with zero fields set to their defaults and
// the vendor defaults merged under Vendors.
func (c RateLimitConfig) WithDefaults() RateLimitConfig {
	vendors := DefaultVendorLimits()
	for v, l := range c.Vendors {
		vendors[v] = l
	}
	c.Vendors = vendors
	c.Apps = append([]AppLimit(nil), c.Apps...)
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.ShareRefresh == 0 {
		c.ShareRefresh = DefaultShareRefresh
	}
	if c.SmoothTaskTTL == 0 {
		c.SmoothTaskTTL = DefaultSmoothTaskTTL
	}
	return c
}

// Validate reports the first setting that cannot work, saying what to fix.
// Zero values are valid where a default is documented.
func (c RateLimitConfig) Validate() error {
	names := make([]string, 0, len(c.Vendors))
	for v := range c.Vendors {
		names = append(names, v)
	}
	sort.Strings(names)
	for _, v := range names {
		if v == "" {
			return errors.New("sender rate limits: vendors has an entry with an empty name")
		}
		if err := c.Vendors[v].validate("sender rate limits: vendors." + v); err != nil {
			return err
		}
	}
	seen := map[[3]string]bool{}
	for i, a := range c.Apps {
		what := fmt.Sprintf("sender rate limits: apps[%d]", i)
		if a.AppID == "" || a.Vendor == "" {
			return fmt.Errorf("%s needs both appId and vendor", what)
		}
		k := [3]string{a.AppID, a.Vendor, a.Region}
		if seen[k] {
			return fmt.Errorf("%s: app %q on %q in region %q is listed twice", what, a.AppID, a.Vendor, a.Region)
		}
		seen[k] = true
		if err := a.Limit.validate(what); err != nil {
			return err
		}
	}
	switch {
	case c.MaxWait < 0:
		return fmt.Errorf("sender rate limits: maxWait %s is negative (0 = default %s)", c.MaxWait, DefaultMaxWait)
	case c.ShareRefresh < 0:
		return fmt.Errorf("sender rate limits: shareRefresh %s is negative (0 = default %s)", c.ShareRefresh, DefaultShareRefresh)
	case c.ShareRefresh > 0 && c.ShareRefresh < 100*time.Millisecond:
		return fmt.Errorf("sender rate limits: shareRefresh %s is below 100ms; that asks Kafka too often", c.ShareRefresh)
	case c.SmoothTaskTTL < 0:
		return fmt.Errorf("sender rate limits: smoothTaskTtl %s is negative (0 = default %s)", c.SmoothTaskTTL, DefaultSmoothTaskTTL)
	}
	return nil
}

// LimitFor returns the region-wide limit of app on vendor in region: the
// region-specific app override, else the app override for every region,
// else the vendor default, else no limit. Call it on a config with
// defaults applied.
func (c RateLimitConfig) LimitFor(region, vendor, app string) Limit {
	var any *Limit
	for i := range c.Apps {
		a := &c.Apps[i]
		if a.AppID != app || a.Vendor != vendor {
			continue
		}
		if a.Region == region {
			return a.Limit.normalized()
		}
		if a.Region == "" {
			any = &a.Limit
		}
	}
	if any != nil {
		return any.normalized()
	}
	return c.Vendors[vendor].normalized()
}

func (l Limit) normalized() Limit {
	if l.Unit == "" {
		l.Unit = UnitMessages
	}
	return l
}

// ErrRateLimited is the class of the error a rate-limited channel returns
// (or reports per message) when the tokens for a delivery would come later
// than it may wait: past Limiter's MaxWait, past the message validity, or
// past the caller's deadline. It matches channels.ErrTransient, so the
// delivery goes to the retry path; the error's RetryAfter (see
// channels.RetryAfterOf) is when the tokens would have been there.
var ErrRateLimited = fmt.Errorf("sender rate limit: no tokens in time: %w", channels.ErrTransient)

// errNoBudget is the cause when this replica holds no share of the budget.
var errNoBudget = errors.New("this replica holds no share of the region's rate budget")

// Clock is the time source of a Limiter. Tests use a fake one.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// Sleep waits for d, or returns ctx.Err() when ctx ends first.
	Sleep(ctx context.Context, d time.Duration) error
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// bucket is one token bucket with its region-wide limit.
type bucket struct {
	lim      *rate.Limiter
	base     Limit
	lastUsed time.Time
}

// Limiter holds the token buckets of one sender region: one per (vendor,
// app) and one per smooth-push task. Each bucket runs at its region-wide
// limit times this replica's share (SetShare). Safe for concurrent use.
type Limiter struct {
	cfg    RateLimitConfig
	region string
	clock  Clock
	m      *LimiterMetrics

	mu        sync.Mutex
	share     float64
	apps      map[[2]string]*bucket // vendor, app
	tasks     map[string]*bucket    // task id
	lastSweep time.Time
}

// NewLimiter returns the limiter of one region. m receives its series
// (nil: series of its own, which nobody reads; m must be of the same
// region); clock nil means the wall clock. The share starts at 1 (this
// replica has the whole budget). It fails when cfg does not validate.
func NewLimiter(region string, cfg RateLimitConfig, m *LimiterMetrics, clock Clock) (*Limiter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = realClock{}
	}
	if m == nil {
		m = NewLimiterMetrics(region)
	}
	l := &Limiter{
		cfg: cfg.WithDefaults(), region: region, clock: clock, m: m,
		share: 1, apps: map[[2]string]*bucket{}, tasks: map[string]*bucket{},
	}
	l.m.share.Set(1)
	return l, nil
}

// Share returns this replica's share of every region-wide limit.
func (l *Limiter) Share() float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.share
}

// SetShare sets this replica's share of the region's budgets (0..1) and
// applies it at once to every bucket: rate = limit × share, burst =
// burst × share rounded up (at least 1). A share of 0 stops sending:
// deliveries go to the retry path. Calls already waiting keep their
// reservation.
func (l *Limiter) SetShare(share float64) {
	if math.IsNaN(share) || share < 0 {
		share = 0
	}
	share = min(share, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if share == l.share {
		return
	}
	l.share = share
	now := l.clock.Now()
	for _, b := range l.apps {
		l.applyLocked(b, now)
	}
	for _, b := range l.tasks {
		l.applyLocked(b, now)
	}
	l.m.share.Set(share)
}

// applyLocked sets b's limiter to its base limit times the share.
func (l *Limiter) applyLocked(b *bucket, now time.Time) {
	r, burst := l.scaledLocked(b.base)
	b.lim.SetLimitAt(now, r)
	b.lim.SetBurstAt(now, burst)
}

func (l *Limiter) scaledLocked(base Limit) (rate.Limit, int) {
	if l.share == 0 {
		return 0, 0
	}
	return rate.Limit(base.Rate * l.share), max(1, int(math.Ceil(float64(base.burst())*l.share)))
}

func (l *Limiter) newBucketLocked(base Limit, now time.Time) *bucket {
	r, burst := l.scaledLocked(base)
	lim := rate.NewLimiter(r, burst)
	// A new bucket starts empty rather than full, so a replica that
	// (re)starts cannot add a burst on top of the others' rate.
	lim.ReserveN(now, burst)
	return &bucket{lim: lim, base: base, lastUsed: now}
}

// Wrap returns ch limited by l, a *LimitedChannel; it is l's Middleware.
func (l *Limiter) Wrap(ch channels.Channel) channels.Channel {
	return &LimitedChannel{wrapped: wrapped{ch}, l: l}
}

// LimitedChannel is a channel whose Send waits for tokens of its Limiter
// before each vendor call. Safe for concurrent use.
type LimitedChannel struct {
	wrapped
	l *Limiter
}

// piece is the part of a batch sent in one inner Send, msgs[start:end];
// called tells whether that Send was made.
type piece struct {
	start, end int
	called     bool
}

// Send implements channels.Channel. It sends msgs in pieces small enough
// for the buckets' bursts (a whole Send when it fits), waiting before each
// piece until the tokens of the app's bucket and of every smooth-push task
// in the piece are there. A piece whose tokens would come too late (see
// ErrRateLimited) is not sent: its messages get Transient results with the
// wait as RetryAfter. After a whole-call failure of a piece the remaining
// pieces are not sent and share that failure; results of messages that
// were not sent carry the status channels.StatusWaitingForVerify. As for
// any channel, a whole-call error is returned only when every message
// failed alike; otherwise failures are reported per message.
func (c *LimitedChannel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	if len(msgs) == 0 || !c.l.limits(c.inner.Name(), msgs) {
		return c.inner.Send(ctx, msgs)
	}
	if _, err := channels.CheckBatch(msgs, c.inner.MaxBatch()); err != nil {
		return c.inner.Send(ctx, msgs) // the channel reports the caller error
	}
	results := make([]channels.Result, len(msgs))
	errs := make([]error, 0, 1)
	var failed []piece
	var stop error
	sent := false
	for start := 0; start < len(msgs); {
		if stop != nil {
			failed, errs = append(failed, piece{start: start, end: len(msgs)}), append(errs, stop)
			break
		}
		p, err := c.l.acquire(ctx, c.inner, msgs, start)
		if err != nil {
			failed, errs = append(failed, p), append(errs, err)
			if ctx.Err() != nil {
				stop = err
			}
			start = p.end
			continue
		}
		res, err := c.inner.Send(ctx, msgs[p.start:p.end])
		p.called = true
		if err != nil {
			failed, errs = append(failed, p), append(errs, err)
			stop = err
			start = p.end
			continue
		}
		copy(results[p.start:p.end], res)
		sent = true
		start = p.end
	}
	if len(failed) == 0 {
		return results, nil
	}
	if !sent && alike(errs) {
		// Prefer the vendor's error, which the breaker judges, over this
		// limiter's own refusals, which it ignores.
		for _, e := range errs {
			if !errors.Is(e, ErrRateLimited) {
				return nil, e
			}
		}
		return nil, errs[0]
	}
	for i, p := range failed {
		settle(results[p.start:p.end], errs[i], p.called)
	}
	return results, nil
}

// alike reports whether every error is of the same class.
func alike(errs []error) bool {
	for _, e := range errs[1:] {
		if errors.Is(e, channels.ErrTransient) != errors.Is(errs[0], channels.ErrTransient) {
			return false
		}
	}
	return true
}

// settle fills the results of messages whose Send failed with err, or
// (called false) that were not sent because of err. Messages not sent get
// the status channels.StatusWaitingForVerify: no vendor has seen them.
func settle(results []channels.Result, err error, called bool) {
	r := channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone, StatusDesc: err.Error(),
		RetryAfter: channels.RetryAfterOf(err)}
	var ve *channels.VendorError
	if errors.As(err, &ve) && ve.Code != 0 {
		r.StatusCode = ve.Code
	}
	if errors.Is(err, channels.ErrTransient) {
		r.Outcome = channels.Transient
	}
	if !called {
		r.StatusCode = channels.StatusWaitingForVerify
	}
	for i := range results {
		results[i] = r
	}
}

// limits reports whether any bucket applies to msgs (all of one app).
func (l *Limiter) limits(vendor string, msgs []channels.Message) bool {
	if l.cfg.Disabled {
		return false
	}
	if !l.cfg.LimitFor(l.region, vendor, msgs[0].AppID).Unlimited() {
		return true
	}
	for i := range msgs {
		if _, ok := smoothRate(&msgs[i]); ok {
			return true
		}
	}
	return false
}

// smoothRate returns the smooth-push cap a message asks for.
func smoothRate(m *channels.Message) (float64, bool) {
	v, ok := m.Extras[ExtraSmoothRate]
	if !ok {
		return 0, false
	}
	r, err := strconv.ParseFloat(v, 64)
	if err != nil || r <= 0 || math.IsInf(r, 0) || math.IsNaN(r) {
		return 0, false
	}
	return r, true
}

func taskKey(m *channels.Message) string {
	if m.TaskID != "" {
		return m.TaskID
	}
	return "msg:" + m.MsgID
}

// claim is the tokens one piece takes from one bucket.
type claim struct {
	b *bucket
	n int
}

// acquire takes the next piece of msgs from start, as large as the
// buckets' bursts allow, reserves its tokens and waits for them. It
// returns the piece, and an error when the piece must not be sent now:
// ErrRateLimited (with the wait as RetryAfter) when the tokens come too
// late, or the ctx error when ctx ended while waiting. Reservations of a
// piece that is not sent are given back.
func (l *Limiter) acquire(ctx context.Context, ch channels.Channel, msgs []channels.Message, start int) (piece, error) {
	vendor := ch.Name()
	bk, _ := ch.(channels.BatchKeyer)
	now := l.clock.Now()

	l.mu.Lock()
	l.sweepLocked(now)
	base := l.cfg.LimitFor(l.region, vendor, msgs[start].AppID)
	var app *bucket
	if !base.Unlimited() {
		k := [2]string{vendor, msgs[start].AppID}
		app = l.apps[k]
		if app == nil || app.base != base {
			app = l.newBucketLocked(base, now)
			l.apps[k] = app
		}
		app.lastUsed = now
	}
	// Grow the piece while every bucket's burst allows it.
	appCost := 0
	keys := map[string]bool{}
	taskCost := map[*bucket]int{}
	end := start
	for end < len(msgs) {
		m := &msgs[end]
		addApp, key := 0, ""
		if app != nil {
			addApp = 1
			if base.Unit == UnitCalls {
				if bk != nil {
					key = bk.BatchKey(*m)
				}
				if keys[key] {
					addApp = 0
				}
			}
		}
		var tb *bucket
		if r, ok := smoothRate(m); ok {
			tb = l.taskBucketLocked(taskKey(m), r, now)
		}
		fits := (app == nil || appCost+addApp <= app.lim.Burst()) && (tb == nil || taskCost[tb]+1 <= tb.lim.Burst())
		if !fits && end > start {
			break
		}
		keys[key] = true
		appCost += addApp
		if tb != nil {
			taskCost[tb]++
		}
		end++
		if !fits { // a single message no bucket can hold: this replica has no budget
			break
		}
	}
	p := piece{start: start, end: end}
	claims := make([]claim, 0, 1+len(taskCost))
	if app != nil {
		claims = append(claims, claim{app, appCost})
	}
	for b, n := range taskCost {
		claims = append(claims, claim{b, n})
	}
	reservations := make([]*rate.Reservation, 0, len(claims))
	var delay time.Duration
	ok := true
	for _, c := range claims {
		r := c.b.lim.ReserveN(now, c.n)
		if !r.OK() {
			ok = false
			break
		}
		reservations = append(reservations, r)
		delay = max(delay, r.DelayFrom(now))
	}
	l.mu.Unlock()

	giveBack := func() {
		at := l.clock.Now()
		for _, r := range reservations {
			r.CancelAt(at)
		}
	}
	if !ok {
		giveBack()
		l.m.deferred.WithLabelValues(vendor).Add(float64(end - start))
		return p, &channels.VendorError{Channel: vendor, Op: "waiting for rate limit tokens", Transient: true,
			RetryAfter: l.cfg.ShareRefresh, Reason: errNoBudget.Error(), Cause: ErrRateLimited}
	}
	if allowed, why := l.allowedWait(ctx, msgs[start:end], now); delay > allowed {
		giveBack()
		l.m.deferred.WithLabelValues(vendor).Add(float64(end - start))
		return p, &channels.VendorError{Channel: vendor, Op: "waiting for rate limit tokens", Transient: true,
			RetryAfter: delay, Reason: fmt.Sprintf("tokens in %s, later than %s", delay.Round(time.Millisecond), why),
			Cause: ErrRateLimited}
	}
	l.m.wait.WithLabelValues(vendor).Observe(delay.Seconds())
	if err := l.clock.Sleep(ctx, delay); err != nil {
		giveBack()
		return p, &channels.VendorError{Channel: vendor, Op: "waiting for rate limit tokens", Transient: true, Cause: err}
	}
	return p, nil
}

// allowedWait is how long a piece may wait for tokens: MaxWait, the
// validity left of its earliest-expiring message, and the time left before
// ctx's deadline, whichever is least; why names it.
func (l *Limiter) allowedWait(ctx context.Context, msgs []channels.Message, now time.Time) (time.Duration, string) {
	allowed, why := l.cfg.MaxWait, fmt.Sprintf("the longest wait %s", l.cfg.MaxWait)
	for i := range msgs {
		if exp := msgs[i].ExpireAt; !exp.IsZero() && exp.Sub(now) < allowed {
			allowed, why = exp.Sub(now), "the message validity"
		}
	}
	if dl, ok := ctx.Deadline(); ok && dl.Sub(now) < allowed {
		allowed, why = dl.Sub(now), "the caller's deadline"
	}
	return max(allowed, 0), why
}

// taskBucketLocked returns the bucket of a smooth-push task, creating it
// or updating its rate.
func (l *Limiter) taskBucketLocked(key string, perSecond float64, now time.Time) *bucket {
	base := Limit{Rate: perSecond, Unit: UnitMessages}
	b := l.tasks[key]
	switch {
	case b == nil:
		b = l.newBucketLocked(base, now)
		l.tasks[key] = b
	case b.base != base:
		b.base = base
		l.applyLocked(b, now)
	}
	b.lastUsed = now
	return b
}

// sweepLocked forgets smooth-push tasks idle for SmoothTaskTTL, at most
// once a TTL.
func (l *Limiter) sweepLocked(now time.Time) {
	if now.Sub(l.lastSweep) < l.cfg.SmoothTaskTTL {
		return
	}
	l.lastSweep = now
	for k, b := range l.tasks {
		if now.Sub(b.lastUsed) >= l.cfg.SmoothTaskTTL {
			delete(l.tasks, k)
		}
	}
}

// LimiterMetrics are the series of the limiter of one region, a
// prometheus.Collector the caller registers:
//
//	pushpipe_sender_rate_budget_share{region}               this replica's share of the region's budgets
//	pushpipe_sender_rate_limit_wait_seconds{region,vendor}  wait for tokens per vendor call
//	pushpipe_sender_rate_limit_deferred_total{region,vendor} messages sent to the retry path because tokens came too late
//
// Safe for concurrent use.
type LimiterMetrics struct {
	share    prometheus.Gauge
	wait     *prometheus.HistogramVec
	deferred *prometheus.CounterVec
}

// NewLimiterMetrics returns the unregistered series of region's limiter.
func NewLimiterMetrics(region string) *LimiterMetrics {
	labels := prometheus.Labels{"region": region}
	return &LimiterMetrics{
		share: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "pushpipe", Subsystem: "sender", Name: "rate_budget_share",
			Help: "This replica's share (0..1) of the region's rate budgets.", ConstLabels: labels}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "pushpipe", Subsystem: "sender", Name: "rate_limit_wait_seconds",
			Help: "Time a vendor call waited for rate limit tokens.", ConstLabels: labels,
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}, []string{"vendor"}),
		deferred: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "pushpipe", Subsystem: "sender", Name: "rate_limit_deferred_total",
			Help: "Messages sent to the retry path because their rate limit tokens would come too late.", ConstLabels: labels}, []string{"vendor"}),
	}
}

// Describe implements prometheus.Collector.
func (m *LimiterMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.share.Describe(ch)
	m.wait.Describe(ch)
	m.deferred.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *LimiterMetrics) Collect(ch chan<- prometheus.Metric) {
	m.share.Collect(ch)
	m.wait.Collect(ch)
	m.deferred.Collect(ch)
}
