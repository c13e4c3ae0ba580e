package retry

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// base is the fake clock's start.
var base = time.UnixMilli(1_000_000_000)

// rec is a retry record of device dev: attempt n, due after notBefore and
// expiring after expireIn (0: no expiry), both from base.
func rec(dev string, n int, notBefore, expireIn time.Duration) kafka.Message {
	d := schema.Delivery{DeliveryID: "d-" + dev, MsgID: "m1", TaskID: "t1", AppID: "a", Region: "sg", DeviceID: dev,
		Channel: "mipush", Attempt: n, NotBefore: base.Add(notBefore).UnixMilli()}
	if expireIn != 0 {
		d.ExpireAt = base.Add(expireIn).UnixMilli()
	}
	b, _ := json.Marshal(d)
	return kafka.Message{Value: b}
}

// fakeClock is a clock that only moves when the handler sleeps.
type fakeClock struct {
	now   time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.slept += d
	c.now = c.now.Add(d)
	return nil
}

func newHandler(t *testing.T, tier time.Duration, maxAttempts int) (*Handler, *fakeClock) {
	t.Helper()
	clk := &fakeClock{now: base}
	h, err := New(Config{Region: "sg", Tier: tier, MaxAttempts: maxAttempts, Now: clk.Now, Sleep: clk.Sleep})
	if err != nil {
		t.Fatal(err)
	}
	return h, clk
}

// outcome is what one record's result holds.
type outcome struct {
	event      *schema.Event
	redelivery *schema.Delivery
	reentered  string // retry tier topic the record went back onto
}

func outcomeOf(t *testing.T, r pipeline.Result) outcome {
	t.Helper()
	var o outcome
	for _, out := range r.Outputs {
		switch {
		case out.Topic == pipeline.EventsTopic("sg"):
			o.event = &schema.Event{}
			if err := json.Unmarshal(out.Value, o.event); err != nil {
				t.Fatal(err)
			}
		case out.Topic == pipeline.DeliveriesTopic("sg"):
			o.redelivery = &schema.Delivery{}
			if err := json.Unmarshal(out.Value, o.redelivery); err != nil {
				t.Fatal(err)
			}
		case strings.HasPrefix(out.Topic, "push.retry."):
			o.reentered = out.Topic
		default:
			t.Fatalf("output to unexpected topic %s", out.Topic)
		}
		if string(out.Key) == "" {
			t.Fatalf("output to %s has no key", out.Topic)
		}
	}
	return o
}

func TestRetryDecisions(t *testing.T) {
	for _, tc := range []struct {
		scenario    string
		tier        time.Duration
		maxAttempts int
		msg         kafka.Message
		wantSlept   time.Duration
		wantEvent   schema.EventType // "" for none
		wantStatus  int64
		wantRedo    bool
		wantReenter string
	}{
		{scenario: "due within the tier: held until due, then re-sent with a retried event",
			tier: 5 * time.Second, msg: rec("dev", 2, 3*time.Second, time.Hour),
			wantSlept: 3 * time.Second, wantEvent: schema.EventRetried, wantRedo: true},
		{scenario: "already due: re-sent without holding",
			tier: time.Second, msg: rec("dev", 1, -time.Second, time.Hour),
			wantEvent: schema.EventRetried, wantRedo: true},
		{scenario: "no expiry: held until the not-before time",
			tier: time.Second, msg: rec("dev", 1, 800*time.Millisecond, 0),
			wantSlept: 800 * time.Millisecond, wantEvent: schema.EventRetried, wantRedo: true},
		{scenario: "validity ends before the not-before time: held until expiry, then expired with status 0",
			tier: 5 * time.Second, msg: rec("dev", 1, 4500*time.Millisecond, 2*time.Second),
			wantSlept: 2 * time.Second, wantEvent: schema.EventExpired, wantStatus: schema.StatusDeviceNotOnlineOrNoResponse},
		{scenario: "already expired: expired at once",
			tier: 30 * time.Second, msg: rec("dev", 1, 10*time.Second, -time.Millisecond),
			wantEvent: schema.EventExpired, wantStatus: schema.StatusDeviceNotOnlineOrNoResponse},
		{scenario: "attempt cap passed: failed at once, without holding",
			tier: 5 * time.Second, maxAttempts: 3, msg: rec("dev", 4, 3*time.Second, time.Hour),
			wantEvent: schema.EventFailed, wantStatus: schema.StatusNone},
		{scenario: "attempt at the cap: still re-sent",
			tier: 5 * time.Second, maxAttempts: 3, msg: rec("dev", 3, 0, time.Hour),
			wantEvent: schema.EventRetried, wantRedo: true},
		{scenario: "default cap: attempt DefaultMaxAttempts+1 fails",
			tier: time.Second, msg: rec("dev", DefaultMaxAttempts+1, 0, time.Hour),
			wantEvent: schema.EventFailed, wantStatus: schema.StatusNone},
		{scenario: "due after the tier's delay: held the delay, then onto the tier of the remaining wait",
			tier: time.Second, msg: rec("dev", 1, 40*time.Second, time.Hour),
			wantSlept: time.Second, wantReenter: "push.retry.2m.sg"},
		{scenario: "due after every tier: held an hour, then back onto the largest tier",
			tier: time.Hour, msg: rec("dev", 1, 3*time.Hour, 24*time.Hour),
			wantSlept: time.Hour, wantReenter: "push.retry.1h.sg"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			h, clk := newHandler(t, tc.tier, tc.maxAttempts)
			res, err := h.HandleBatch(context.Background(), []kafka.Message{tc.msg})
			if err != nil {
				t.Fatal(err)
			}
			if clk.slept != tc.wantSlept {
				t.Fatalf("held %s, want %s", clk.slept, tc.wantSlept)
			}
			if res[0].Reject != nil {
				t.Fatalf("rejected: %+v", res[0].Reject)
			}
			var in schema.Delivery
			if err := json.Unmarshal(tc.msg.Value, &in); err != nil {
				t.Fatal(err)
			}
			o := outcomeOf(t, res[0])
			switch {
			case tc.wantEvent == "" && o.event != nil:
				t.Fatalf("event %s, want none", o.event.Event)
			case tc.wantEvent != "" && o.event == nil:
				t.Fatalf("no event, want %s", tc.wantEvent)
			case o.event != nil:
				if o.event.Event != tc.wantEvent || o.event.StatusCode != tc.wantStatus {
					t.Fatalf("event %s status %d, want %s status %d", o.event.Event, o.event.StatusCode, tc.wantEvent, tc.wantStatus)
				}
				if o.event.Attempt != in.Attempt {
					t.Fatalf("event attempt %d, want the delivery's attempt %d", o.event.Attempt, in.Attempt)
				}
				if o.event.TS != clk.now.UnixMilli() {
					t.Fatalf("event ts %d, want the decision time %d", o.event.TS, clk.now.UnixMilli())
				}
				if o.event.Event == schema.EventRetried && o.event.StatusDesc != "attempt "+strconv.Itoa(in.Attempt) {
					t.Fatalf("retried status desc %q, want %q", o.event.StatusDesc, "attempt "+strconv.Itoa(in.Attempt))
				}
			}
			if (o.redelivery != nil) != tc.wantRedo {
				t.Fatalf("re-sent %v, want %v", o.redelivery != nil, tc.wantRedo)
			}
			if o.redelivery != nil && (o.redelivery.DeliveryID != in.DeliveryID || o.redelivery.Attempt != in.Attempt) {
				t.Fatalf("re-sent %s attempt %d, want %s attempt %d", o.redelivery.DeliveryID, o.redelivery.Attempt, in.DeliveryID, in.Attempt)
			}
			if o.reentered != tc.wantReenter {
				t.Fatalf("re-entered %q, want %q", o.reentered, tc.wantReenter)
			}
		})
	}
}

// TestBatchIsHeldAtMostTheTierDelay: a batch of a tier is held until its
// latest record is due, never longer than the tier's delay, so a record due
// soon does not wait behind a record due much later.
func TestBatchIsHeldAtMostTheTierDelay(t *testing.T) {
	for _, tc := range []struct {
		scenario  string
		tier      time.Duration
		msgs      []kafka.Message
		wantSlept time.Duration
		want      []string // per record: retried, expired, failed or the re-entered topic
	}{
		{scenario: "every record due within the tier: held until the latest is due",
			tier:      time.Second,
			msgs:      []kafka.Message{rec("a", 1, 200*time.Millisecond, time.Hour), rec("b", 1, 900*time.Millisecond, time.Hour), rec("c", 1, -time.Second, time.Hour)},
			wantSlept: 900 * time.Millisecond, want: []string{"retried", "retried", "retried"}},
		{scenario: "one record due in an hour on the 1s tier: the others wait only the tier's second",
			tier:      time.Second,
			msgs:      []kafka.Message{rec("late", 1, time.Hour, 2*time.Hour), rec("soon", 1, 500*time.Millisecond, time.Hour)},
			wantSlept: time.Second, want: []string{"push.retry.1h.sg", "retried"}},
		{scenario: "records decided at once do not extend the hold",
			tier:      30 * time.Second,
			msgs:      []kafka.Message{rec("exp", 1, 20*time.Second, -time.Second), rec("cap", DefaultMaxAttempts+1, 25*time.Second, time.Hour), rec("ok", 1, 3*time.Second, time.Hour)},
			wantSlept: 3 * time.Second, want: []string{"expired", "failed", "retried"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			h, clk := newHandler(t, tc.tier, 0)
			res, err := h.HandleBatch(context.Background(), tc.msgs)
			if err != nil {
				t.Fatal(err)
			}
			if clk.slept != tc.wantSlept {
				t.Fatalf("held %s, want %s", clk.slept, tc.wantSlept)
			}
			for i, r := range res {
				o := outcomeOf(t, r)
				got := o.reentered
				if o.event != nil {
					got = string(o.event.Event)
				}
				if got != tc.want[i] {
					t.Errorf("record %d: %q, want %q", i, got, tc.want[i])
				}
			}
		})
	}
}

func TestPoisonRecordsAreRejected(t *testing.T) {
	other, _ := json.Marshal(schema.Delivery{DeliveryID: "d-eu", MsgID: "m-eu", Region: "eu", DeviceID: "dev"})
	noID, _ := json.Marshal(schema.Delivery{MsgID: "m-x", Region: "sg", DeviceID: "dev"})
	for _, tc := range []struct {
		scenario string
		value    []byte
		wantMsg  string
	}{
		{scenario: "not JSON", value: []byte("{garbage"), wantMsg: ""},
		{scenario: "a delivery of another region", value: other, wantMsg: "m-eu"},
		{scenario: "no delivery id", value: noID, wantMsg: "m-x"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			h, clk := newHandler(t, time.Second, 0)
			res, err := h.HandleBatch(context.Background(), []kafka.Message{{Value: tc.value}, rec("good", 1, 100*time.Millisecond, time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			rej := res[0].Reject
			if rej == nil || rej.Code != int(schema.CodeInvalidParam) || len(res[0].Outputs) != 0 {
				t.Fatalf("poison record result %+v, want a rejection with code %d and no outputs", res[0], schema.CodeInvalidParam)
			}
			if rej.Event.MsgID != tc.wantMsg || rej.Event.Region != "sg" {
				t.Fatalf("rejected event %+v, want msg id %q in region sg", rej.Event, tc.wantMsg)
			}
			if o := outcomeOf(t, res[1]); o.event == nil || o.event.Event != schema.EventRetried || clk.slept != 100*time.Millisecond {
				t.Fatalf("the good record beside it: %+v after %s, want retried after 100ms", o, clk.slept)
			}
		})
	}
}

func TestShutdownWhileHoldingLeavesBatchUncommitted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	h, err := New(Config{Region: "sg", Tier: 2 * time.Minute, Now: func() time.Time { return base }})
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.HandleBatch(ctx, []kafka.Message{rec("dev", 1, 30*time.Second, time.Hour)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("HandleBatch = %v, want context.Canceled so the runtime does not commit", err)
	}
}

func TestOutputPicksTheTierOfTheTimeUntilDue(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		d        schema.Delivery
		want     string
	}{
		{scenario: "due in 3s: the 5s tier",
			d: schema.Delivery{Region: "eu", DeviceID: "x", NotBefore: base.Add(3 * time.Second).UnixMilli(), ExpireAt: base.Add(time.Hour).UnixMilli()}, want: "push.retry.5s.eu"},
		{scenario: "expires before its not-before time: the tier of the expiry",
			d: schema.Delivery{Region: "eu", DeviceID: "x", NotBefore: base.Add(time.Hour).UnixMilli(), ExpireAt: base.Add(20 * time.Second).UnixMilli()}, want: "push.retry.30s.eu"},
		{scenario: "no expiry: the tier of the not-before time",
			d: schema.Delivery{Region: "eu", DeviceID: "x", NotBefore: base.Add(5 * time.Minute).UnixMilli()}, want: "push.retry.10m.eu"},
		{scenario: "already due: the smallest tier",
			d: schema.Delivery{Region: "eu", DeviceID: "x", NotBefore: base.Add(-time.Minute).UnixMilli()}, want: "push.retry.1s.eu"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			o := workers.RetryOutput(tc.d, base)
			if o.Topic != tc.want || string(o.Key) != tc.d.DeviceID {
				t.Fatalf("Output to %s key %q, want %s key %q", o.Topic, o.Key, tc.want, tc.d.DeviceID)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		cfg      Config
		wantErr  string
	}{
		{scenario: "a tier of a region", cfg: Config{Region: "sg", Tier: 30 * time.Second}},
		{scenario: "unknown region", cfg: Config{Region: "us", Tier: time.Second}, wantErr: `region "us"`},
		{scenario: "no tier", cfg: Config{Region: "sg"}, wantErr: "tier 0s is not one of"},
		{scenario: "a delay that is no tier", cfg: Config{Region: "sg", Tier: 3 * time.Second}, wantErr: "tier 3s is not one of"},
		{scenario: "negative attempt cap", cfg: Config{Region: "sg", Tier: time.Second, MaxAttempts: -1}, wantErr: "MaxAttempts is -1"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New() = %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}
