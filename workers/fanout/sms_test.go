package fanout

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels/sms"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// smsRequest is a request with smsStrategy strategy to the given targets.
func smsRequest(strategy, deliverType int, targets map[string]string) kafka.Message {
	return request(func(r map[string]any) {
		r["deliverType"], r["targetMsgkey"] = deliverType, targets
		r["smsStrategy"], r["smsSignName"], r["smsTemplateCode"], r["smsTemplateParam"] = strategy, "pushpipe", "SMS_216070269", `{"code": 1234}`
	})
}

// smsOutputs splits a request's outputs: its events by step and channel,
// its deliveries, and the deliveries held on the retry tiers.
type smsOutputs struct {
	events     map[string]int // "step/channel"
	descs      map[string]string
	deliveries []schema.Delivery
	held       []schema.Delivery
}

func splitSMS(t *testing.T, outs []pipeline.Output) smsOutputs {
	t.Helper()
	o := smsOutputs{events: map[string]int{}, descs: map[string]string{}}
	for _, out := range outs {
		switch out.Topic {
		case pipeline.EventsTopic("sg"):
			var e schema.Event
			if err := json.Unmarshal(out.Value, &e); err != nil {
				t.Fatal(err)
			}
			o.events[string(e.Event)+"/"+e.Channel]++
			o.descs[string(e.Event)+"/"+e.DeviceID] = e.StatusDesc
		case pipeline.DeliveriesTopic("sg"):
			var d schema.Delivery
			_ = json.Unmarshal(out.Value, &d)
			o.deliveries = append(o.deliveries, d)
		default:
			var d schema.Delivery
			if err := json.Unmarshal(out.Value, &d); err != nil {
				t.Fatal(err)
			}
			if out.Topic != pipeline.RetryTierTopic("sg", time.Minute*2) || string(out.Key) != d.KafkaKey() {
				t.Fatalf("held SMS on %s keyed %s, want the 2m tier (a minute to wait) keyed by %s", out.Topic, out.Key, d.KafkaKey())
			}
			o.held = append(o.held, d)
		}
	}
	return o
}

// TestSMSSupplementAtFanOut: smsStrategy 2 emits one SMS delivery per user next
// to the push deliveries; smsStrategy 1 holds it until the push expires;
// a user without a phone number and a device bound to no user get an
// invalid_device event on the sms channel.
func TestSMSSupplementAtFanOut(t *testing.T) {
	phones := func(_ context.Context, app string, users []string) (map[string]string, error) {
		out := map[string]string{}
		for _, u := range users {
			if app == "app" && u == "u1" {
				out[u] = "+6591234567"
			}
		}
		return out, nil
	}
	now := func() time.Time { return time.UnixMilli(1000) }
	for _, tc := range []struct {
		scenario   string
		msg        kafka.Message
		events     map[string]int
		deliveries int // on push.deliveries.R, SMS included
		held       int
		check      func(t *testing.T, o smsOutputs)
	}{
		{"concurrent SMS to a user with two devices", smsRequest(2, schema.DeliverUser, map[string]string{"u1": "m1"}),
			map[string]int{"valid/mipush": 2, "valid/sms": 1}, 3, 0, func(t *testing.T, o smsOutputs) {
				var d schema.Delivery
				for _, x := range o.deliveries {
					if x.Channel == "sms" {
						d = x
					}
				}
				if d.Channel != "sms" || d.Token != "+6591234567" || d.DeviceID != "sms:u1" || d.Target != "u1" ||
					d.DeliveryID != testinfra.IDKey().DeliveryID("app", "m1", "sms:u1") || d.ExpireAt != 1000+60_000 || d.SMSResend != nil {
					t.Errorf("SMS delivery %+v", d)
				}
				want := map[string]string{sms.ExtraSignName: "pushpipe", sms.ExtraTemplateCode: "SMS_216070269", sms.ExtraTemplateParam: `{"code":"1234"}`}
				for k, v := range want {
					if d.Extras[k] != v {
						t.Errorf("extra %s = %q, want %q", k, d.Extras[k], v)
					}
				}
			}},
		{"two devices of one user get one SMS", smsRequest(2, schema.DeliverAndroid, map[string]string{"a1": "m1", "a2": "m1"}),
			map[string]int{"valid/mipush": 2, "valid/sms": 1}, 3, 0, nil},
		{"resend SMS is held until the push expires", smsRequest(1, schema.DeliverUser, map[string]string{"u1": "m1"}),
			map[string]int{"valid/mipush": 2}, 2, 1, func(t *testing.T, o smsOutputs) {
				d := o.held[0]
				want := schema.SortedDeliveryIDs(testinfra.IDKey(), "app", "m1", []string{"a1", "a2"})
				if d.SMSResend == nil || d.NotBefore != 61_000 || d.ExpireAt != 121_000 || d.SMSResend.PushExpireAt != 61_000 ||
					len(d.SMSResend.PushDeliveries) != 2 || d.SMSResend.PushDeliveries[0] != want[0] || d.SMSResend.PushDeliveries[1] != want[1] {
					t.Errorf("held SMS %+v (resend %+v), want push deliveries %v", d, d.SMSResend, want)
				}
			}},
		{"user without devices still gets the SMS", smsRequest(2, schema.DeliverUser, map[string]string{"u1": "m1", "u9": "m9"}),
			map[string]int{"valid/mipush": 2, "valid/sms": 1, "invalid_device/": 1, "invalid_device/sms": 1}, 3, 0, func(t *testing.T, o smsOutputs) {
				if o.descs["invalid_device/sms:u9"] == "" {
					t.Errorf("no invalid_device event for the SMS of u9: %v", o.descs)
				}
			}},
		{"device bound to no user", smsRequest(2, schema.DeliverAndroid, map[string]string{"a3": "m3"}),
			map[string]int{"valid/self": 1, "invalid_device/sms": 1}, 1, 0, nil},
		{"user with no device of the targeted app versions", request(func(r map[string]any) {
			r["deliverType"], r["targetMsgkey"], r["appVersions"] = 3, map[string]string{"u1": "m1"}, []string{"9.9"}
			r["smsStrategy"], r["smsSignName"], r["smsTemplateCode"], r["smsTemplateParam"] = 2, "pushpipe", "SMS_216070269", `{"code":"1"}`
		}), map[string]int{"filtered/mipush": 2, "filtered/sms": 1}, 0, 0, nil},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			d := devices()
			h, err := New(Config{Region: "sg", IDKey: testinfra.IDKey(), Devices: d, Now: now, Templates: memTemplates{}, Phones: phones,
				Emit: func(context.Context, []pipeline.Output) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			res, err := h.HandleBatch(context.Background(), []kafka.Message{tc.msg})
			if err != nil || res[0].Reject != nil {
				t.Fatalf("HandleBatch: %v %+v", err, res[0].Reject)
			}
			o := splitSMS(t, res[0].Outputs)
			for k, n := range tc.events {
				if o.events[k] != n {
					t.Errorf("%s events = %d, want %d (all %v)", k, o.events[k], n, o.events)
				}
			}
			if len(o.deliveries) != tc.deliveries || len(o.held) != tc.held {
				t.Fatalf("%d deliveries and %d held, want %d and %d", len(o.deliveries), len(o.held), tc.deliveries, tc.held)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

// TestSMSSupplementReplayAtFanOut: an SMS whose valid event is stored is not
// emitted again when the request comes again, and a fanout without a
// phone directory refuses smsStrategy.
func TestSMSSupplementReplayAtFanOut(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	seen := func(_ context.Context, _ string, ids []string) (map[string]bool, error) {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, ids...)
		return map[string]bool{testinfra.IDKey().DeliveryID("app", "m1", "sms:u1"): true}, nil
	}
	phones := func(context.Context, string, []string) (map[string]string, error) {
		return map[string]string{"u1": "+6591234567"}, nil
	}
	h, _ := New(Config{Region: "sg", IDKey: testinfra.IDKey(), Devices: devices(), Templates: memTemplates{}, Phones: phones, Seen: seen,
		Emit: func(context.Context, []pipeline.Output) error { return nil }})
	res, _ := h.HandleBatch(context.Background(), []kafka.Message{smsRequest(2, schema.DeliverUser, map[string]string{"u1": "m1"})})
	o := splitSMS(t, res[0].Outputs)
	if o.events["valid/sms"] != 0 || len(o.deliveries) != 2 {
		t.Errorf("replayed request: events %v, %d deliveries; want the two push deliveries only", o.events, len(o.deliveries))
	}
	found := false
	for _, id := range asked {
		found = found || id == testinfra.IDKey().DeliveryID("app", "m1", "sms:u1")
	}
	if !found {
		t.Errorf("the replay check did not ask about the SMS delivery: %v", asked)
	}

	noPhones, _ := New(Config{Region: "sg", IDKey: testinfra.IDKey(), Devices: devices(), Templates: memTemplates{}, Emit: func(context.Context, []pipeline.Output) error { return nil }})
	res, _ = noPhones.HandleBatch(context.Background(), []kafka.Message{smsRequest(2, schema.DeliverUser, map[string]string{"u1": "m1"})})
	if res[0].Reject == nil || res[0].Reject.Code != int(schema.CodeInvalidParam) {
		t.Errorf("fanout without phones: %+v, want a 3028 rejection", res[0])
	}
}
