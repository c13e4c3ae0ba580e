package middleware

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/internal/vendortest"
)

// The MiPush app the tests send for, known to the simulator.
const (
	appID  = "app-1"
	secret = "s3cret"
	pkg    = "com.example.app"
)

// fakeClock is a Clock whose Sleep moves time forward at once.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

// newFakeClock starts a day ahead of the wall clock, so a context deadline
// set on its timeline lies in the real future and does not end the
// context while the test runs.
func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().Add(24 * time.Hour)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(max(d, 0))
	return nil
}

// call is one Send seen by a recorder: when (on its clock), how many
// messages and how many vendor calls (distinct contents).
type call struct {
	at          time.Time
	msgs, calls int
}

// recorder forwards to a real channel and records when each call is made.
type recorder struct {
	channels.Channel
	clock Clock
	mu    sync.Mutex
	calls []call
}

func (r *recorder) BatchKey(m channels.Message) string {
	return r.Channel.(channels.BatchKeyer).BatchKey(m)
}

func (r *recorder) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	keys := map[string]bool{}
	for _, m := range msgs {
		keys[r.BatchKey(m)] = true
	}
	r.mu.Lock()
	r.calls = append(r.calls, call{r.clock.Now(), len(msgs), len(keys)})
	r.mu.Unlock()
	return r.Channel.Send(ctx, msgs)
}

// rate returns messages (or vendor calls) a second between the first and
// the last Send, not counting the first Send's.
func (r *recorder) rate(calls bool) float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.calls) < 2 {
		return 0
	}
	n := 0
	for _, c := range r.calls[1:] {
		if calls {
			n += c.calls
		} else {
			n += c.msgs
		}
	}
	return float64(n) / r.calls[len(r.calls)-1].at.Sub(r.calls[0].at).Seconds()
}

// startMiPush starts a simulator without a quota that matters and the real
// MiPush channel of region sg pointed at it.
func startMiPush(t *testing.T) (*mipush.Channel, *vendorsim.Server) {
	t.Helper()
	return vendortest.StartMiPush(t, appID, secret, pkg)
}

// messages returns n messages of app for task, with one content per
// contents messages (contents 0 means all share one content).
func messages(n int, task string, contents int, extras map[string]string, expireAt time.Time) []channels.Message {
	out := make([]channels.Message, n)
	for i := range out {
		msg := "m-" + task
		if contents > 0 {
			msg = fmt.Sprintf("m-%s-%d", task, i%contents)
		}
		out[i] = channels.Message{DeliveryID: fmt.Sprintf("d-%s-%d", task, i), MsgID: msg, TaskID: task, AppID: appID,
			DeviceID: fmt.Sprintf("dev-%d", i), Token: fmt.Sprintf("reg-%d", i), Title: "Hi", Body: "there",
			Extras: extras, ExpireAt: expireAt}
	}
	return out
}

func TestLimitFor(t *testing.T) {
	cfg := RateLimitConfig{
		Vendors: map[string]Limit{"fcm": {Rate: 500}},
		Apps: []AppLimit{
			{AppID: "a1", Vendor: "mipush", Limit: Limit{Rate: 200, Unit: UnitMessages}},
			{AppID: "a1", Vendor: "mipush", Region: "eu", Limit: Limit{Rate: 50, Unit: UnitCalls}},
		},
	}.WithDefaults()
	for _, c := range []struct {
		scenario, region, vendor, app string
		want                          Limit
	}{
		{scenario: "documented MiPush default counts calls", region: "sg", vendor: "mipush", app: "a2", want: Limit{Rate: 1000, Unit: UnitCalls}},
		{scenario: "documented FCM default replaced by config", region: "sg", vendor: "fcm", app: "a2", want: Limit{Rate: 500, Unit: UnitMessages}},
		{scenario: "app override for every region", region: "sg", vendor: "mipush", app: "a1", want: Limit{Rate: 200, Unit: UnitMessages}},
		{scenario: "region-specific app override wins", region: "eu", vendor: "mipush", app: "a1", want: Limit{Rate: 50, Unit: UnitCalls}},
		{scenario: "documented OPPO default counts messages", region: "sg", vendor: "oppo", app: "a1", want: Limit{Rate: 5000, Unit: UnitMessages}},
		{scenario: "no default where the vendor publishes no rate (APNs)", region: "sg", vendor: "apns", app: "a1", want: Limit{Unit: UnitMessages}},
		{scenario: "no default where the vendor publishes no rate (vivo)", region: "sg", vendor: "vivo", app: "a1", want: Limit{Unit: UnitMessages}},
		{scenario: "no default where the vendor publishes no rate (HarmonyOS)", region: "sg", vendor: "harmonyos", app: "a1", want: Limit{Unit: UnitMessages}},
		{scenario: "unknown channel is not limited", region: "sg", vendor: "self", app: "a1", want: Limit{Unit: UnitMessages}},
	} {
		if got := cfg.LimitFor(c.region, c.vendor, c.app); got != c.want {
			t.Errorf("%s: LimitFor = %+v, want %+v", c.scenario, got, c.want)
		}
	}
}

func TestRateLimitConfigValidate(t *testing.T) {
	for _, c := range []struct {
		scenario string
		cfg      RateLimitConfig
		ok       bool
	}{
		{scenario: "zero value", ok: true},
		{scenario: "negative rate", cfg: RateLimitConfig{Vendors: map[string]Limit{"mipush": {Rate: -1}}}},
		{scenario: "unknown unit", cfg: RateLimitConfig{Vendors: map[string]Limit{"mipush": {Rate: 1, Unit: "bytes"}}}},
		{scenario: "app without vendor", cfg: RateLimitConfig{Apps: []AppLimit{{AppID: "a", Limit: Limit{Rate: 1}}}}},
		{scenario: "app listed twice", cfg: RateLimitConfig{Apps: []AppLimit{{AppID: "a", Vendor: "v"}, {AppID: "a", Vendor: "v"}}}},
		{scenario: "negative max wait", cfg: RateLimitConfig{MaxWait: -time.Second}},
		{scenario: "share refresh too fast", cfg: RateLimitConfig{ShareRefresh: time.Millisecond}},
	} {
		if err := c.cfg.Validate(); (err == nil) != c.ok {
			t.Errorf("%s: Validate() = %v, want ok=%v", c.scenario, err, c.ok)
		}
	}
}

// TestLimiterHoldsRate sends through the real MiPush channel and
// simulator with a fake clock and checks the rate of the calls made.
func TestLimiterHoldsRate(t *testing.T) {
	for _, c := range []struct {
		scenario  string
		limits    RateLimitConfig
		share     float64
		batches   int
		batch     []channels.Message
		countCall bool
		want      float64
	}{
		{
			scenario: "messages a second of one app",
			limits:   RateLimitConfig{Apps: []AppLimit{{AppID: appID, Vendor: "mipush", Limit: Limit{Rate: 200}}}},
			share:    1, batches: 10, batch: messages(200, "t1", 0, nil, time.Time{}), want: 200,
		},
		{
			scenario: "MiPush calls a second: one call per content whatever its size",
			limits:   RateLimitConfig{Apps: []AppLimit{{AppID: appID, Vendor: "mipush", Limit: Limit{Rate: 50, Unit: UnitCalls}}}},
			share:    1, batches: 100, batch: messages(300, "t1", 0, nil, time.Time{}), countCall: true, want: 50,
		},
		{
			scenario: "calls a second with several contents in one batch",
			limits:   RateLimitConfig{Apps: []AppLimit{{AppID: appID, Vendor: "mipush", Limit: Limit{Rate: 40, Unit: UnitCalls, Burst: 2}}}},
			share:    1, batches: 30, batch: messages(6, "t1", 6, nil, time.Time{}), countCall: true, want: 40,
		},
		{
			scenario: "a third of the region's budget",
			limits:   RateLimitConfig{Apps: []AppLimit{{AppID: appID, Vendor: "mipush", Limit: Limit{Rate: 300}}}},
			share:    1.0 / 3, batches: 10, batch: messages(100, "t1", 0, nil, time.Time{}), want: 100,
		},
		{
			scenario: "smooth push caps a task below the app's limit",
			limits:   RateLimitConfig{Apps: []AppLimit{{AppID: appID, Vendor: "mipush", Limit: Limit{Rate: 1000}}}},
			share:    1, batches: 10, batch: messages(150, "t1", 0, map[string]string{ExtraSmoothRate: "150"}, time.Time{}), want: 150,
		},
		{
			scenario: "smooth push alone when the app is not limited",
			limits:   RateLimitConfig{Vendors: map[string]Limit{"mipush": {}}},
			share:    1, batches: 10, batch: messages(100, "t1", 0, map[string]string{ExtraSmoothRate: "3000"}, time.Time{}), want: 3000,
		},
		{
			scenario: "the app's limit caps a smooth push faster than it",
			limits:   RateLimitConfig{Apps: []AppLimit{{AppID: appID, Vendor: "mipush", Limit: Limit{Rate: 100}}}},
			share:    1, batches: 10, batch: messages(100, "t1", 0, map[string]string{ExtraSmoothRate: "3000"}, time.Time{}), want: 100,
		},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			mp, sim := startMiPush(t)
			clock := newFakeClock()
			rec := &recorder{Channel: mp, clock: clock}
			l, err := NewLimiter("sg", c.limits, nil, clock)
			if err != nil {
				t.Fatal(err)
			}
			l.SetShare(c.share)
			ch := l.Wrap(rec)
			for range c.batches {
				res, err := ch.Send(context.Background(), c.batch)
				if err != nil {
					t.Fatal(err)
				}
				for i, r := range res {
					if r.Outcome != channels.Success {
						t.Fatalf("message %d: %+v", i, r)
					}
				}
			}
			got := rec.rate(c.countCall)
			if math.Abs(got-c.want) > 0.02*c.want {
				t.Fatalf("rate = %.1f/s, want %.1f/s ±2%%", got, c.want)
			}
			msgs := 0
			for _, r := range sim.Requests("mipush", "sg") {
				msgs += len(r.RegIDs)
			}
			if want := c.batches * len(c.batch); msgs != want {
				t.Fatalf("simulator saw %d messages, want %d", msgs, want)
			}
			t.Logf("%.1f/s over %d calls", got, len(rec.calls))
		})
	}
}

// TestLimiterShareChangesAtOnce checks that a new share applies to the
// very next call.
func TestLimiterShareChangesAtOnce(t *testing.T) {
	mp, _ := startMiPush(t)
	clock := newFakeClock()
	l, err := NewLimiter("sg", RateLimitConfig{Apps: []AppLimit{{AppID: appID, Vendor: "mipush", Limit: Limit{Rate: 400}}}}, nil, clock)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		share float64
		want  float64
	}{{1, 400}, {0.5, 200}, {0.25, 100}, {1, 400}} {
		rec := &recorder{Channel: mp, clock: clock}
		l.SetShare(step.share)
		ch := l.Wrap(rec)
		for range 5 {
			if _, err := ch.Send(context.Background(), messages(200, "t1", 0, nil, time.Time{})); err != nil {
				t.Fatal(err)
			}
		}
		if got := rec.rate(false); math.Abs(got-step.want) > 0.03*step.want {
			t.Fatalf("share %v: rate = %.1f/s, want %.1f/s", step.share, got, step.want)
		}
	}
}

// TestLimiterDefersWhatCannotWait checks that messages whose tokens would
// come too late are not sent and go to the retry path with RetryAfter,
// instead of blocking.
func TestLimiterDefersWhatCannotWait(t *testing.T) {
	for _, c := range []struct {
		scenario     string
		maxWait      time.Duration
		n            int
		validity     time.Duration
		deadline     time.Duration
		share        float64
		wantSentMax  int
		wantSentMin  int
		wantWholeErr bool
	}{
		{scenario: "validity ends before the tokens come", n: 50, validity: 2 * time.Second, share: 1, wantSentMin: 19, wantSentMax: 21},
		{scenario: "longer than the longest wait", maxWait: 50 * time.Millisecond, n: 5, share: 1, wantWholeErr: true},
		{scenario: "past the caller's deadline", n: 50, deadline: time.Second, share: 1, wantSentMin: 9, wantSentMax: 11},
		{scenario: "this replica holds no share of the budget", n: 5, share: 0, wantWholeErr: true},
		{scenario: "the first message cannot wait at all", n: 5, validity: time.Millisecond, share: 1, wantWholeErr: true},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			mp, sim := startMiPush(t)
			clock := newFakeClock()
			l, err := NewLimiter("sg", RateLimitConfig{Apps: []AppLimit{{AppID: appID, Vendor: "mipush", Limit: Limit{Rate: 10}}},
				MaxWait: c.maxWait}, nil, clock)
			if err != nil {
				t.Fatal(err)
			}
			l.SetShare(c.share)
			ctx := context.Background()
			if c.deadline > 0 {
				var cancel context.CancelFunc
				// The deadline is on the fake clock's timeline: far in
				// the real future, so only the limiter's arithmetic sees it.
				ctx, cancel = context.WithDeadline(ctx, clock.Now().Add(c.deadline))
				defer cancel()
			}
			var exp time.Time
			if c.validity > 0 {
				exp = clock.Now().Add(c.validity)
			}
			res, err := l.Wrap(mp).Send(ctx, messages(c.n, "t1", 0, nil, exp))
			if c.wantWholeErr {
				if !errors.Is(err, ErrRateLimited) || !errors.Is(err, channels.ErrTransient) || channels.RetryAfterOf(err) <= 0 {
					t.Fatalf("err = %v, want ErrRateLimited (transient) with a RetryAfter", err)
				}
				if n := len(sim.Requests("mipush", "sg")); n != 0 {
					t.Fatalf("%d vendor calls, want none", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			sent := 0
			for i, r := range res {
				switch r.Outcome {
				case channels.Success:
					sent++
				case channels.Transient:
					if r.RetryAfter <= 0 {
						t.Fatalf("message %d deferred without RetryAfter: %+v", i, r)
					}
				default:
					t.Fatalf("message %d: %+v", i, r)
				}
			}
			if sent < c.wantSentMin || sent > c.wantSentMax {
				t.Fatalf("sent %d, want %d..%d", sent, c.wantSentMin, c.wantSentMax)
			}
			simMsgs := 0
			for _, r := range sim.Requests("mipush", "sg") {
				simMsgs += len(r.RegIDs)
			}
			if simMsgs != sent {
				t.Fatalf("simulator saw %d messages, %d reported sent", simMsgs, sent)
			}
		})
	}
}

// TestLimiterWaitEndsWithContext checks a wait on the real clock ends as
// soon as ctx is cancelled and gives the tokens back.
func TestLimiterWaitEndsWithContext(t *testing.T) {
	mp, sim := startMiPush(t)
	l, err := NewLimiter("sg", RateLimitConfig{Apps: []AppLimit{{AppID: appID, Vendor: "mipush", Limit: Limit{Rate: 1}}}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err = l.Wrap(mp).Send(ctx, messages(3, "t1", 0, nil, time.Time{}))
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Fatalf("Send took %s after its context was cancelled at 200ms", took)
	}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, channels.ErrTransient) {
		t.Fatalf("err = %v, want a transient error wrapping context.Canceled", err)
	}
	if n := len(sim.Requests("mipush", "sg")); n != 0 {
		t.Fatalf("%d vendor calls, want none", n)
	}
}

func TestDefaultVendorLimitsAreTheDocumentedQuotas(t *testing.T) {
	want := map[string]Limit{
		"mipush": {Rate: 1000, Unit: UnitCalls},
		"fcm":    {Rate: 10000, Unit: UnitMessages},
		"oppo":   {Rate: 5000, Unit: UnitMessages},
		"sms":    {Rate: 5000, Unit: UnitCalls},
	}
	got := DefaultVendorLimits()
	if len(got) != len(want) {
		t.Fatalf("DefaultVendorLimits() = %v, want %v", got, want)
	}
	for v, l := range want {
		if got[v] != l {
			t.Errorf("DefaultVendorLimits()[%s] = %+v, want %+v", v, got[v], l)
		}
	}
}
