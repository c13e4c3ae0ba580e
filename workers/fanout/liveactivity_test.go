package fanout

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

func (m memDevices) ByActivity(_ context.Context, app string, ids []string) (map[string][]schema.Device, error) {
	out := map[string][]schema.Device{}
	for _, id := range ids {
		for _, t := range m.activities[id] {
			if t.AppID == app {
				out[id] = append(out[id], store.ActivityDevice(m.rows[t.DeviceID], t))
			}
		}
	}
	return out, m.err
}

func (m memDevices) ByActivityToken(_ context.Context, app string, tokens []string) (map[string]schema.Device, error) {
	out := map[string]schema.Device{}
	for _, ts := range m.activities {
		for _, t := range ts {
			for _, tok := range tokens {
				if t.AppID == app && t.Token == tok {
					out[tok] = store.ActivityDevice(m.rows[t.DeviceID], t)
				}
			}
		}
	}
	return out, m.err
}

// activityDevices are devices() with Live Activity tokens: order-42 on the
// iOS device i1 and on an iOS device that never reported, order-7 bound
// (wrongly) from an Android device.
func activityDevices() memDevices {
	d := devices()
	d.activities = map[string][]store.ActivityToken{
		"order-42": {{AppID: "app", ActivityID: "order-42", DeviceID: "i1", Token: "la-1"},
			{AppID: "app", ActivityID: "order-42", DeviceID: "i9", Token: "la-2"}},
		"order-7": {{AppID: "app", ActivityID: "order-7", DeviceID: "a1", Token: "la-3"}},
	}
	return d
}

// liveRequest is a Live Activity update of order-42 by activity id,
// without an alert; mut changes it.
func liveRequest(mut func(r map[string]any)) kafka.Message {
	return request(func(r map[string]any) {
		r["deliverType"] = schema.DeliverActivityID
		r["targetMsgkey"] = map[string]string{"order-42": "m1"}
		r["title"], r["content"] = "", ""
		r["activityEvent"] = "update"
		r["activityContentState"] = map[string]any{"driverName": "Tim", "eta": 15}
		if mut != nil {
			mut(r)
		}
	})
}

// TestLiveActivityFanOut: a Live Activity push reaches the tokens of its
// activity id or the token it names, each as an APNs delivery carrying the
// ActivityKit extras, and nothing else.
func TestLiveActivityFanOut(t *testing.T) {
	for _, tc := range []struct {
		scenario   string
		msg        kafka.Message
		wantEvents map[schema.EventType]int
		// wantDeliveries are device:token:title of each delivery.
		wantDeliveries []string
		wantExtras     map[string]string // every delivery's; "" = absent
		wantCode       int               // rejection code, 0 = accepted
	}{
		{
			scenario:       "update by activity id reaches every token of the activity",
			msg:            liveRequest(nil),
			wantEvents:     map[schema.EventType]int{"accepted": 1, "planned": 1, "valid": 2},
			wantDeliveries: []string{"i1:la-1:", "i9:la-2:"},
			wantExtras: map[string]string{apns.ExtraPushType: "liveactivity", apns.ExtraActivityEvent: "update",
				apns.ExtraContentState: `{"driverName":"Tim","eta":15}`, apns.ExtraActivityTimestamp: "1", apns.ExtraDismissalDate: ""},
		},
		{
			scenario: "end by token with a dismissal date and an alert",
			msg: liveRequest(func(r map[string]any) {
				r["deliverType"] = schema.DeliverActivityToken
				r["targetMsgkey"] = map[string]string{"la-1": "m1"}
				r["activityEvent"], r["dismissalDate"] = "end", 100
				r["title"], r["content"] = "Delivered", "Enjoy your meal"
			}),
			wantEvents:     map[schema.EventType]int{"accepted": 1, "planned": 1, "valid": 1},
			wantDeliveries: []string{"i1:la-1:Delivered"},
			wantExtras: map[string]string{apns.ExtraPushType: "liveactivity", apns.ExtraActivityEvent: "end",
				apns.ExtraDismissalDate: "100", apns.ExtraImageURL: ""},
		},
		{
			scenario:   "an activity id nobody bound",
			msg:        liveRequest(func(r map[string]any) { r["targetMsgkey"] = map[string]string{"order-0": "m1"} }),
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 1, "invalid_device": 1},
		},
		{
			scenario: "a device's own APNs token is not a Live Activity token",
			msg: liveRequest(func(r map[string]any) {
				r["deliverType"] = schema.DeliverActivityToken
				r["targetMsgkey"] = map[string]string{"apns1": "m1"}
			}),
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 1, "invalid_device": 1},
		},
		{
			scenario:   "a token bound from an Android device never leaves APNs",
			msg:        liveRequest(func(r map[string]any) { r["targetMsgkey"] = map[string]string{"order-7": "m1"} }),
			wantEvents: map[schema.EventType]int{"accepted": 1, "planned": 1, "invalid_device": 1},
		},
		{
			scenario: "TEMPLATE renders the alert",
			msg: liveRequest(func(r map[string]any) {
				r["type"], r["templateName"] = "TEMPLATE", "promo"
				r["templateKeyValue"] = map[string]string{"name": "Ann", "amount": "5"}
			}),
			wantEvents:     map[schema.EventType]int{"accepted": 1, "planned": 1, "valid": 2},
			wantDeliveries: []string{"i1:la-1:Hi Ann", "i9:la-2:Hi Ann"},
			wantExtras:     map[string]string{apns.ExtraPushType: "liveactivity", apns.ExtraActivityEvent: "update"},
		},
		{scenario: "no activityEvent", msg: liveRequest(func(r map[string]any) { delete(r, "activityEvent") }), wantCode: int(schema.CodeInvalidParam)},
		{scenario: "Live Activity fields on a user target", msg: liveRequest(func(r map[string]any) {
			r["deliverType"], r["title"], r["content"] = schema.DeliverUser, "T", "C"
		}), wantCode: int(schema.CodeInvalidParam)},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			s, ok := fanOutOne(t, newHandler(t, activityDevices(), nil, nil), tc.msg, tc.wantCode, tc.wantEvents)
			if !ok {
				return
			}
			var got []string
			for _, d := range s.deliveries {
				got = append(got, fmt.Sprintf("%s:%s:%s", d.DeviceID, d.Token, d.Title))
				if d.Channel != apns.Name || d.Platform != schema.PlatformIOS {
					t.Errorf("delivery to %s on %s (%s), want apns (ios)", d.DeviceID, d.Channel, d.Platform)
				}
				for k, want := range tc.wantExtras {
					if v, ok := d.Extras[k]; v != want || (want == "" && ok) {
						t.Errorf("delivery to %s: extra %s = %q, want %q", d.DeviceID, k, v, want)
					}
				}
			}
			if strings.Join(got, " ") != strings.Join(tc.wantDeliveries, " ") {
				t.Errorf("deliveries %v, want %v", got, tc.wantDeliveries)
			}
		})
	}
}
