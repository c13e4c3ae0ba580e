package fanout

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

func TestPushTypes(t *testing.T) {
	for _, tc := range []struct {
		scenario   string
		mut        func(r map[string]any)
		wantEvents map[schema.EventType]int
		wantTitles []string // titles of the deliveries, in order
		wantCode   int
		streamed   bool
	}{
		{
			scenario: "template renders title and content for every target",
			mut: func(r map[string]any) {
				r["type"], r["templateName"], r["templateKeyValue"] = "TEMPLATE", "promo", map[string]string{"name": "Ann", "amount": "5"}
				r["targetMsgkey"] = map[string]string{"a1": "m1", "a2": "m2"}
			},
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 2, "valid": 2},
			wantTitles: []string{"Hi Ann", "Hi Ann"},
		},
		{
			scenario: "template value missing",
			mut: func(r map[string]any) {
				r["type"], r["templateName"], r["templateKeyValue"] = "TEMPLATE", "promo", map[string]string{"name": "Ann"}
			},
			wantCode: int(schema.CodeTemplateKVNotEnough),
		},
		{
			scenario: "template does not exist",
			mut:      func(r map[string]any) { r["type"], r["templateName"] = "TEMPLATE", "nope" },
			wantCode: int(schema.CodeTemplateNotExist),
		},
		{
			scenario: "multiple: each target has its own template values",
			mut: func(r map[string]any) {
				r["type"], r["templateName"], r["templateKeyValue"] = "MULTIPLE", "promo", map[string]string{"amount": "1"}
				delete(r, "targetMsgkey")
				r["targetMsgs"] = []map[string]any{
					{"target": "a1", "msgKey": "m1", "templateKeyValue": map[string]string{"name": "Bo"}},
					{"target": "a2", "msgKey": "m2", "templateKeyValue": map[string]string{"name": "Cy", "amount": "9"}},
				}
			},
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 2, "valid": 2},
			wantTitles: []string{"Hi Bo", "Hi Cy"},
		},
		{
			scenario: "app version filter",
			mut: func(r map[string]any) {
				r["targetMsgkey"] = map[string]string{"a1": "m1", "a2": "m2"}
				r["appVersions"] = []string{"2.0"}
			},
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 2, "valid": 1, "filtered": 1},
			wantTitles: []string{"T"},
		},
		{
			scenario: "title too long for MiPush is filtered, self-built channel takes it",
			mut: func(r map[string]any) {
				r["title"] = strings.Repeat("x", 51)
				r["targetMsgkey"] = map[string]string{"a1": "m1", "a3": "m3"}
			},
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 2, "valid": 1, "filtered": 1},
			wantTitles: []string{strings.Repeat("x", 51)},
		},
		{
			scenario: "alias reaches the device that set it last",
			mut: func(r map[string]any) {
				r["deliverType"], r["targetMsgkey"] = schema.DeliverAlias, map[string]string{"vip": "m1"}
			},
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 1, "valid": 1},
			wantTitles: []string{"T"},
		},
		{
			scenario: "broadcast streams every Android device",
			mut: func(r map[string]any) {
				r["type"], r["templateName"], r["templateKeyValue"] = "BROADCAST", "promo", map[string]string{"name": "all", "amount": "0"}
				delete(r, "targetMsgkey")
				r["msgkey"] = "bc1"
			},
			// a1, a2 (mipush), a3 (self), dead (invalid token); i1 is iOS.
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 4, "valid": 3, "invalid_device": 1},
			streamed:   true,
		},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var emitted []pipeline.Output
			d := devices()
			a1 := d.rows["a1"]
			a1.Alias, a1.AppVersion = "vip", "2.0"
			d.rows["a1"] = a1
			h := newHandler(t, d, &emitted, nil)
			res, err := h.HandleBatch(context.Background(), []kafka.Message{request(tc.mut)})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantCode != 0 {
				if res[0].Reject == nil || res[0].Reject.Code != tc.wantCode {
					t.Fatalf("want rejection %d, got %+v", tc.wantCode, res[0])
				}
				return
			}
			if res[0].Reject != nil {
				t.Fatalf("rejected: %+v", res[0].Reject)
			}
			if tc.streamed && len(emitted) == 0 {
				t.Fatal("a broadcast should stream its outputs in chunks")
			}
			s := summarize(t, append(emitted, res[0].Outputs...))
			for ev, n := range tc.wantEvents {
				if s.events[ev] != n {
					t.Errorf("%s = %d, want %d (all %v)", ev, s.events[ev], n, s.events)
				}
			}
			if tc.wantTitles != nil {
				var titles []string
				for _, d := range s.deliveries {
					titles = append(titles, d.Title)
				}
				if strings.Join(titles, "|") != strings.Join(tc.wantTitles, "|") {
					t.Fatalf("titles %q, want %q", titles, tc.wantTitles)
				}
			}
		})
	}
}

func TestSmoothRateReachesTheDeliveries(t *testing.T) {
	h := newHandler(t, devices(), nil, nil)
	res, _ := h.HandleBatch(context.Background(), []kafka.Message{request(func(r map[string]any) { r["smoothRate"] = 3000 })})
	s := summarize(t, res[0].Outputs)
	if len(s.deliveries) != 1 || s.deliveries[0].Extras[channels.ExtraSmoothRate] != "3000" {
		t.Fatalf("deliveries %+v, want smooth_rate 3000", s.deliveries)
	}
}

func TestMultipleBodiesRendered(t *testing.T) {
	h := newHandler(t, devices(), nil, nil)
	res, _ := h.HandleBatch(context.Background(), []kafka.Message{request(func(r map[string]any) {
		r["type"], r["templateName"] = "MULTIPLE", "promo"
		delete(r, "targetMsgkey")
		r["targetMsgs"] = []map[string]any{{"target": "a1", "msgKey": "m1", "templateKeyValue": map[string]string{"name": "Bo", "amount": "7"}}}
	})})
	for _, o := range res[0].Outputs {
		if o.Topic == pipeline.DeliveriesTopic("sg") {
			var d schema.Delivery
			_ = json.Unmarshal(o.Value, &d)
			if d.Body != "You won 7" || d.MsgID != "m1" {
				t.Fatalf("delivery %+v", d)
			}
			return
		}
	}
	t.Fatal("no delivery")
}

// TestMultipleTargetsOwnExtendedParams: a MULTIPLE target's own
// extendedParams reach its deliveries over the request's, and other
// targets keep the request's.
func TestMultipleTargetsOwnExtendedParams(t *testing.T) {
	h := newHandler(t, devices(), nil, nil)
	res, _ := h.HandleBatch(context.Background(), []kafka.Message{request(func(r map[string]any) {
		r["type"], r["templateName"] = "MULTIPLE", "promo"
		r["templateKeyValue"] = map[string]string{"name": "Bo", "amount": "7"}
		r["extendedParams"] = map[string]string{"campaign": "winter", "orderId": "0"}
		delete(r, "targetMsgkey")
		r["targetMsgs"] = []map[string]any{
			{"target": "a1", "msgKey": "m1", "extendedParams": map[string]string{"orderId": "42"}},
			{"target": "a2", "msgKey": "m2"},
		}
	})})
	got := map[string]map[string]string{}
	for _, d := range summarize(t, res[0].Outputs).deliveries {
		got[d.MsgID] = d.Extras
	}
	for _, tc := range []struct {
		msg, key, want string
	}{
		{"m1", "orderId", "42"}, {"m1", "campaign", "winter"},
		{"m2", "orderId", "0"}, {"m2", "campaign", "winter"},
	} {
		if v := got[tc.msg][channels.ExtraCustomPrefix+tc.key]; v != tc.want {
			t.Errorf("delivery of %s: %s = %q, want %q (extras %v)", tc.msg, tc.key, v, tc.want, got[tc.msg])
		}
	}
}
