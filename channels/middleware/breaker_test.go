package middleware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/sony/gobreaker/v2"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

func TestJudge(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	ve := func(status, code int, transient bool, cause error) error {
		return fmt.Errorf("sending: %w", &channels.VendorError{Channel: "mipush", Op: "POST", HTTPStatus: status, Code: code, Transient: transient, Cause: cause})
	}
	for _, c := range []struct {
		scenario string
		ctx      context.Context
		err      error
		want     verdict
	}{
		{scenario: "per-message results only", ctx: live, err: nil, want: verdictSuccess},
		{scenario: "vendor 503", ctx: live, err: ve(503, 0, true, nil), want: verdictFailure},
		{scenario: "vendor 500 with a busy code", ctx: live, err: ve(500, mipush.CodeSystemIsBusy, true, nil), want: verdictFailure},
		{scenario: "connection refused", ctx: live, err: ve(0, 0, true, &net.OpError{Op: "dial", Err: errors.New("connection refused")}), want: verdictFailure},
		{scenario: "vendor call timed out", ctx: live, err: ve(0, 0, true, context.DeadlineExceeded), want: verdictFailure},
		{scenario: "HTTP 429", ctx: live, err: ve(429, 0, true, nil), want: verdictExcluded},
		{scenario: "MiPush quota code", ctx: live, err: ve(200, mipush.CodeApplicationAPICallTooOften, true, nil), want: verdictExcluded},
		{scenario: "our own rate limit", ctx: live, err: &channels.VendorError{Channel: "mipush", Transient: true, Cause: ErrRateLimited}, want: verdictExcluded},
		{scenario: "caller cancelled (shutdown)", ctx: done, err: ve(0, 0, true, context.Canceled), want: verdictExcluded},
		{scenario: "unknown app never reached the vendor", ctx: live, err: fmt.Errorf("x: %w", channels.ErrUnknownApp), want: verdictExcluded},
		{scenario: "credentials rejected: the endpoint answered", ctx: live, err: ve(200, mipush.CodeAuthenticationFailed, false, nil), want: verdictSuccess},
	} {
		if got := judge(c.ctx, mipush.ThrottleCodes(), c.err); got != c.want {
			t.Errorf("%s: judge = %v, want %v", c.scenario, got, c.want)
		}
	}
}

func TestBreakerConfigValidate(t *testing.T) {
	for _, c := range []struct {
		scenario string
		cfg      BreakerConfig
		ok       bool
	}{
		{scenario: "zero value", ok: true},
		{scenario: "ratio only", cfg: BreakerConfig{ConsecutiveFailures: -1, FailureRatio: 0.3}, ok: true},
		{scenario: "both triggers off", cfg: BreakerConfig{ConsecutiveFailures: -1, FailureRatio: -1}},
		{scenario: "ratio above 1", cfg: BreakerConfig{FailureRatio: 1.5}},
		{scenario: "negative open timeout", cfg: BreakerConfig{OpenTimeout: -time.Second}},
		{scenario: "negative probes", cfg: BreakerConfig{HalfOpenRequests: -1}},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", c.scenario, err, c.ok)
		}
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// gaugeValue reads pushpipe_vendor_breaker_state{region,vendor} from reg.
func gaugeValue(t *testing.T, reg *prometheus.Registry, region, vendor string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "pushpipe_vendor_breaker_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["region"] == region && labels["vendor"] == vendor {
				return m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no pushpipe_vendor_breaker_state{region=%q,vendor=%q}", region, vendor)
	return 0
}

// TestBreakerStormOpensProbesAndCloses drives the breaker of the real
// MiPush channel through a 5xx storm of the simulator.
func TestBreakerStormOpensProbesAndCloses(t *testing.T) {
	mp, sim := startMiPush(t)
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	const open = 300 * time.Millisecond
	m := NewBreakerMetrics()
	reg.MustRegister(m)
	b, err := NewBreaker(mp, "sg", BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: open, HalfOpenRequests: 2},
		mipush.ThrottleCodes(), m, zerolog.New(&logs))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	calls := func() int { return len(sim.Requests("mipush", "sg")) }
	send := func() error {
		_, err := b.Send(ctx, messages(3, "t1", 0, nil, time.Time{}))
		return err
	}
	state := func(want float64) {
		t.Helper()
		if got := gaugeValue(t, reg, "sg", "mipush"); got != want {
			t.Fatalf("breaker gauge = %v, want %v", got, want)
		}
	}

	state(BreakerClosed)
	if err := sim.InjectFailures(vendorsim.Failure{Vendor: "mipush", Status: 503, Probability: 1}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := send(); !errors.Is(err, channels.ErrTransient) || errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("call %d in the storm: err = %v, want the vendor's transient error", i, err)
		}
	}
	state(BreakerOpen)
	if n := calls(); n != 3 {
		t.Fatalf("simulator saw %d calls before the breaker opened, want 3", n)
	}

	// Open: refused at once, without a vendor call, as a transient error.
	start := time.Now()
	for range 50 {
		err := send()
		if !errors.Is(err, channels.ErrTransient) || !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("open breaker: err = %v, want transient ErrOpenState", err)
		}
		if ra := channels.RetryAfterOf(err); ra <= 0 || ra > open {
			t.Fatalf("open breaker: RetryAfter = %s, want the rest of %s", ra, open)
		}
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Fatalf("50 refused calls took %s; an open breaker must answer at once", took)
	}
	if n := calls(); n != 3 {
		t.Fatalf("simulator saw %d calls while the breaker was open, want none", n)
	}

	// Half-open while the storm goes on: exactly the configured probes
	// reach the vendor, even with many calls at once; they fail and the
	// breaker opens again.
	time.Sleep(open + 50*time.Millisecond)
	state(BreakerHalfOpen)
	if err := sim.InjectLatency(vendorsim.Latency{Vendor: "mipush", Fixed: vendorsim.Duration(100 * time.Millisecond)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for range 10 {
		wg.Go(func() {
			if err := send(); errors.Is(err, gobreaker.ErrTooManyRequests) || errors.Is(err, gobreaker.ErrOpenState) {
				mu.Lock()
				refused++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	sim.ClearLatency()
	if n := calls(); n != 3+2 {
		t.Fatalf("simulator saw %d probes in the half-open state, want 2", n-3)
	}
	if refused != 8 {
		t.Fatalf("%d calls refused in the half-open state, want 8", refused)
	}
	state(BreakerOpen)

	// After the storm: the probes succeed and the breaker closes.
	sim.ClearFailures()
	time.Sleep(open + 50*time.Millisecond)
	for i := range 2 {
		if err := send(); err != nil {
			t.Fatalf("probe %d after the storm: %v", i, err)
		}
	}
	state(BreakerClosed)
	for range 5 {
		if err := send(); err != nil {
			t.Fatal(err)
		}
	}

	var changes []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(line, "vendor circuit breaker state changed") {
			continue
		}
		if !strings.Contains(line, `"vendor":"mipush"`) || !strings.Contains(line, `"region":"sg"`) {
			t.Fatalf("state change logged without vendor and region: %s", line)
		}
		changes = append(changes, line[strings.Index(line, `"from"`):strings.Index(line, `,"message"`)])
	}
	want := []string{
		`"from":"closed","to":"open"`, `"from":"open","to":"half-open"`, `"from":"half-open","to":"open"`,
		`"from":"open","to":"half-open"`, `"from":"half-open","to":"closed"`,
	}
	if strings.Join(changes, " ") != strings.Join(want, " ") {
		t.Fatalf("logged state changes:\n%s\nwant each once:\n%s", strings.Join(changes, "\n"), strings.Join(want, "\n"))
	}
}

// TestBreakerStaysClosed checks outcomes that must not open the breaker.
func TestBreakerStaysClosed(t *testing.T) {
	for _, c := range []struct {
		scenario string
		setup    func(sim *vendorsim.Server) error
		token    string
		wantErr  bool
	}{
		{scenario: "every token invalid (per-message results)", token: "bad-1"},
		{scenario: "vendor throttling code (app quota exceeded)", wantErr: true,
			setup: func(sim *vendorsim.Server) error {
				return sim.SetQuota(vendorsim.Quota{Vendor: "mipush", AppID: appID, PerSecond: 0, Burst: 0})
			}},
		{scenario: "HTTP 429", wantErr: true,
			setup: func(sim *vendorsim.Server) error {
				return sim.InjectFailures(vendorsim.Failure{Vendor: "mipush", Status: 429, Probability: 1})
			}},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			mp, sim := startMiPush(t)
			if c.setup != nil {
				if err := c.setup(sim); err != nil {
					t.Fatal(err)
				}
			}
			b, err := NewBreaker(mp, "sg", BreakerConfig{ConsecutiveFailures: 2, FailureRatio: 0.1, MinRequests: 2}, mipush.ThrottleCodes(), nil, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			msgs := messages(2, "t1", 0, nil, time.Time{})
			if c.token != "" {
				for i := range msgs {
					msgs[i].Token = c.token + fmt.Sprint(i)
				}
			}
			for i := range 10 {
				_, err := b.Send(context.Background(), msgs)
				if (err != nil) != c.wantErr || err != nil && !errors.Is(err, channels.ErrTransient) {
					t.Fatalf("call %d: err = %v, want error %v (transient)", i, err, c.wantErr)
				}
			}
			if s := b.State(); s != gobreaker.StateClosed {
				t.Fatalf("breaker %s, want closed", s)
			}
			if n := len(sim.Requests("mipush", "sg")); n != 10 {
				t.Fatalf("simulator saw %d calls, want 10", n)
			}
		})
	}
}

// TestBreakerIgnoresRateLimitRefusals checks that the limiter's refusals
// (tokens too late) inside the breaker never trip it, and that an open
// breaker takes no token.
func TestBreakerIgnoresRateLimitRefusals(t *testing.T) {
	mp, sim := startMiPush(t)
	clock := newFakeClock()
	l, err := NewLimiter("sg", RateLimitConfig{Apps: []AppLimit{{AppID: appID, Vendor: "mipush", Limit: Limit{Rate: 10}}}, MaxWait: time.Millisecond}, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBreaker(l.Wrap(mp), "sg", BreakerConfig{ConsecutiveFailures: 2}, mipush.ThrottleCodes(), nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := b.Send(context.Background(), messages(1, "t1", 0, nil, time.Time{})); !errors.Is(err, ErrRateLimited) {
			t.Fatalf("err = %v, want ErrRateLimited", err)
		}
	}
	if s := b.State(); s != gobreaker.StateClosed {
		t.Fatalf("breaker %s after rate limit refusals, want closed", s)
	}
	if n := len(sim.Requests("mipush", "sg")); n != 0 {
		t.Fatalf("simulator saw %d calls, want none", n)
	}

	// Open the breaker with a storm, then check an open breaker takes no
	// token: the bucket is as full after 100 refused calls as before.
	if err := sim.InjectFailures(vendorsim.Failure{Vendor: "mipush", Status: 503, Probability: 1}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		_ = clock.Sleep(context.Background(), time.Second) // tokens for the next call
		if _, err := b.Send(context.Background(), messages(1, "t1", 0, nil, time.Time{})); err == nil {
			t.Fatal("storm call succeeded")
		}
	}
	if s := b.State(); s != gobreaker.StateOpen {
		t.Fatalf("breaker %s after the storm, want open", s)
	}
	_ = clock.Sleep(context.Background(), time.Second)
	before := l.apps[[2]string{"mipush", appID}].lim.TokensAt(clock.Now())
	for range 100 {
		if _, err := b.Send(context.Background(), messages(1, "t1", 0, nil, time.Time{})); !errors.Is(err, gobreaker.ErrOpenState) {
			t.Fatalf("err = %v, want ErrOpenState", err)
		}
	}
	if after := l.apps[[2]string{"mipush", appID}].lim.TokensAt(clock.Now()); after != before {
		t.Fatalf("tokens %v before and %v after 100 refused calls; an open breaker must take none", before, after)
	}
}

// TestBreakersMiddleware checks the middleware form: a config that cannot
// work is refused up front, and each wrapped channel gets its own breaker
// of the region with its vendor's throttle codes.
func TestBreakersMiddleware(t *testing.T) {
	if _, err := Breakers("sg", BreakerConfig{ConsecutiveFailures: -1, FailureRatio: -1}, nil, nil, zerolog.Nop()); err == nil {
		t.Fatal("Breakers accepted a config with both triggers disabled")
	}
	asked := map[string]bool{}
	mw, err := Breakers("sg", BreakerConfig{}, func(vendor string) []int {
		asked[vendor] = true
		if vendor == mipush.Name {
			return mipush.ThrottleCodes()
		}
		return nil
	}, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	for _, c := range []struct {
		vendor   string
		throttle bool
	}{{vendor: mipush.Name, throttle: true}, {vendor: "fcm"}} {
		b, ok := mw(stub{name: c.vendor, log: &log}).(*Breaker)
		if !ok {
			t.Fatalf("%s: Breakers did not wrap the channel in a *Breaker", c.vendor)
		}
		if b.Region() != "sg" || !asked[c.vendor] {
			t.Errorf("%s: region %q, throttle codes asked %v; want sg and asked", c.vendor, b.Region(), asked[c.vendor])
		}
		if got := len(b.throttle) > 0; got != c.throttle {
			t.Errorf("%s: has throttle codes %v, want %v", c.vendor, got, c.throttle)
		}
	}
}
