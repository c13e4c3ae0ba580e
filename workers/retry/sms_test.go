package retry

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// heldSMS is the resend SMS of user, due at base, supplementing the push
// deliveries pushes.
func heldSMS(user string, pushes ...string) kafka.Message {
	d := schema.Delivery{DeliveryID: "d-sms-" + user, MsgID: "m1", TaskID: "t1", AppID: "a", Region: "sg", DeviceID: "sms:" + user,
		Channel: schema.ChannelSMS, Token: "+6591234567", NotBefore: base.UnixMilli(), ExpireAt: base.Add(time.Hour).UnixMilli(),
		SMSResend: &schema.SMSResend{PushDeliveries: pushes, PushExpireAt: base.UnixMilli()}}
	b, _ := json.Marshal(d)
	return kafka.Message{Value: b}
}

// fakeEvents is an events table for the resend decision.
type fakeEvents struct {
	stored  map[string]map[schema.EventType]bool
	settled int
	err     error
}

func (f *fakeEvents) config() *SMSResendConfig {
	return &SMSResendConfig{
		Settled: func(context.Context) error { f.settled++; return f.err },
		Events: func(_ context.Context, app string, tasks, msgs, ids []string, steps []schema.EventType) (map[string]map[schema.EventType]bool, error) {
			out := map[string]map[schema.EventType]bool{}
			for _, id := range ids {
				for _, s := range steps {
					if f.stored[id][s] {
						if out[id] == nil {
							out[id] = map[schema.EventType]bool{}
						}
						out[id][s] = true
					}
				}
			}
			return out, nil
		},
	}
}

func smsHandler(t *testing.T, tier time.Duration, f *fakeEvents, revoked bool) *Handler {
	t.Helper()
	clk := &fakeClock{now: base}
	cfg := Config{Region: "sg", Tier: tier, Now: clk.Now, Sleep: clk.Sleep, SMSResend: f.config()}
	if revoked {
		cfg.Revoked = func(*schema.Delivery) (schema.Control, bool) { return schema.Control{TS: base.UnixMilli()}, true }
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestResendSMSDecision: a due resend SMS is sent when none of its push
// deliveries arrived, filtered when one did or the push was revoked, and
// decided once whatever the copies.
func TestResendSMSDecision(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		tier     time.Duration
		stored   map[string]map[schema.EventType]bool
		revoked  bool
		batch    []kafka.Message
		want     []string // per record: "sent", "filtered", "reentered" or "" (no output)
	}{
		{"no push arrived: sent", time.Second, nil, false, []kafka.Message{heldSMS("u1", "p1", "p2")}, []string{"sent"}},
		{"a push arrived: filtered", time.Second, map[string]map[schema.EventType]bool{"p2": {schema.EventArrived: true}}, false,
			[]kafka.Message{heldSMS("u1", "p1", "p2")}, []string{"filtered"}},
		{"a receipt of another step does not count", time.Second, map[string]map[schema.EventType]bool{"p1": {schema.EventAcked: true}}, false,
			[]kafka.Message{heldSMS("u1", "p1")}, []string{"sent"}},
		{"the push was revoked: filtered, not revoked", time.Second, nil, true, []kafka.Message{heldSMS("u1", "p1")}, []string{"filtered"}},
		{"two copies in one batch: decided once", time.Second, nil, false, []kafka.Message{heldSMS("u1", "p1"), heldSMS("u1", "p1")}, []string{"sent", ""}},
		{"decided before: nothing", time.Second, map[string]map[schema.EventType]bool{"d-sms-u1": {schema.EventValid: true}}, false,
			[]kafka.Message{heldSMS("u1", "p1")}, []string{""}},
		{"filtered before: nothing", time.Second, map[string]map[schema.EventType]bool{"d-sms-u1": {schema.EventFiltered: true}}, false,
			[]kafka.Message{heldSMS("u1", "p1")}, []string{""}},
		{"due on a larger tier: onto the smallest", 30 * time.Second, nil, false, []kafka.Message{heldSMS("u1", "p1")}, []string{"reentered"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			f := &fakeEvents{stored: tc.stored}
			h := smsHandler(t, tc.tier, f, tc.revoked)
			res, err := h.HandleBatch(context.Background(), tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				o := outcomeOf(t, r)
				got := ""
				switch {
				case o.redelivery != nil && o.event != nil && o.event.Event == schema.EventValid:
					got = "sent"
					if o.redelivery.SMSResend != nil || o.redelivery.Channel != schema.ChannelSMS || o.event.Channel != schema.ChannelSMS {
						t.Errorf("sent SMS %+v, event %+v", o.redelivery, o.event)
					}
				case o.event != nil && o.event.Event == schema.EventFiltered:
					got = "filtered"
					if o.event.StatusDesc == "" || o.event.DeliveryID != "d-sms-u1" {
						t.Errorf("filtered event %+v", o.event)
					}
				case o.reentered != "":
					got = "reentered"
					if o.reentered != pipeline.RetryTierTopic("sg", time.Second) {
						t.Errorf("re-entered onto %s, want the 1s tier", o.reentered)
					}
				case len(r.Outputs) != 0:
					got = "other"
				}
				if got != tc.want[i] {
					t.Errorf("record %d: %s (%+v), want %q", i, got, r.Outputs, tc.want[i])
				}
			}
		})
	}
}

// TestResendSMSCopiesAcrossBatches: a copy in the next batch, whose
// decision ClickHouse does not have yet, is not sent again; a decision
// that cannot be made leaves the batch to be handled again, and it is
// decided then.
func TestResendSMSCopiesAcrossBatches(t *testing.T) {
	f := &fakeEvents{}
	h := smsHandler(t, time.Second, f, false)
	for i, want := range []int{2, 0} {
		res, err := h.HandleBatch(context.Background(), []kafka.Message{heldSMS("u1", "p1")})
		if err != nil {
			t.Fatal(err)
		}
		if len(res[0].Outputs) != want {
			t.Fatalf("batch %d: %d outputs, want %d", i, len(res[0].Outputs), want)
		}
	}
	f.err = errors.New("event sink unreachable")
	if _, err := h.HandleBatch(context.Background(), []kafka.Message{heldSMS("u2", "p9")}); err == nil {
		t.Fatal("a decision without the event sink succeeded")
	}
	f.err = nil // the batch handled again once the event sink answers
	if res, err := h.HandleBatch(context.Background(), []kafka.Message{heldSMS("u2", "p9")}); err != nil || len(res[0].Outputs) != 2 {
		t.Fatalf("the batch handled again: %v, %d outputs, want the SMS sent", err, len(res[0].Outputs))
	}
	plain := smsHandler(t, time.Second, &fakeEvents{}, false)
	plain.cfg.SMSResend = nil
	res, _ := plain.HandleBatch(context.Background(), []kafka.Message{heldSMS("u3", "p1")})
	if o := outcomeOf(t, res[0]); o.event == nil || o.event.Event != schema.EventFailed || o.redelivery != nil {
		t.Errorf("without SMSResend: %+v, want a failed event", res[0].Outputs)
	}
}

// TestSMSRetryIsNeverRevoked: a waiting SMS retry of a revoked push is re-sent,
// not ended revoked.
func TestSMSRetryIsNeverRevoked(t *testing.T) {
	h := smsHandler(t, time.Second, &fakeEvents{}, true)
	d := schema.Delivery{DeliveryID: "d-sms", MsgID: "m1", TaskID: "t1", AppID: "a", Region: "sg", DeviceID: "sms:u1",
		Channel: schema.ChannelSMS, Attempt: 1, NotBefore: base.UnixMilli()}
	b, _ := json.Marshal(d)
	res, err := h.HandleBatch(context.Background(), []kafka.Message{{Value: b}})
	if err != nil {
		t.Fatal(err)
	}
	if o := outcomeOf(t, res[0]); o.redelivery == nil || o.event == nil || o.event.Event != schema.EventRetried {
		t.Errorf("SMS of a revoked push: %+v, want retried", res[0].Outputs)
	}
}
