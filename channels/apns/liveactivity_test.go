package apns_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

// liveExtras are the extras of a Live Activity update; kv (key, value...)
// are set over them ("" deletes).
func liveExtras(kv ...string) map[string]string {
	x := map[string]string{
		apns.ExtraPushType: apns.PushTypeLiveActivity, apns.ExtraActivityEvent: "update",
		apns.ExtraContentState: `{"driverName":"Tim","eta":15}`, apns.ExtraActivityTimestamp: "1700000000",
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(x, kv[i])
		} else {
			x[kv[i]] = kv[i+1]
		}
	}
	return x
}

// TestLiveActivityOnTheWire sends Live Activity pushes to the simulator,
// which accepts them only as APNs documents them, and checks the recorded
// headers and payload.
func TestLiveActivityOnTheWire(t *testing.T) {
	_, keyPEM := newKey(t)
	srv := startSim(t, keyPEM)
	now := time.Now().Truncate(time.Second)
	ch := simChannel(t, srv, "sg", keyPEM, 0, apns.WithClock(func() time.Time { return now }))
	tok := hexToken(3)
	for _, tc := range []struct {
		scenario    string
		msg         channels.Message
		wantHeaders map[string]string // "" = absent
		wantPayload string
	}{
		{
			scenario: "update without an alert",
			msg:      channels.Message{DeliveryID: "d-1", AppID: testApp, Token: tok, Extras: liveExtras(), ExpireAt: now.Add(time.Hour)},
			wantHeaders: map[string]string{"apns-topic": testBundle + ".push-type.liveactivity", "apns-push-type": "liveactivity",
				"apns-priority": "10", "apns-expiration": fmt.Sprint(now.Add(time.Hour).Unix()), "apns-id": apns.MessageID("d-1")},
			wantPayload: `{"aps":{"content-state":{"driverName":"Tim","eta":15},"event":"update","timestamp":1700000000},"deliveryId":"d-1"}`,
		},
		{
			scenario: "end with a dismissal date and an alert with its sound, at priority 5",
			msg: channels.Message{DeliveryID: "d-2", AppID: testApp, Token: tok, Title: "Delivered", Body: "Enjoy",
				Extras: liveExtras(apns.ExtraActivityEvent, "end", apns.ExtraDismissalDate, "1700003600", apns.ExtraPriority, "5",
					channels.ExtraCustomPrefix+"sound", "chime.caf")},
			wantHeaders: map[string]string{"apns-topic": testBundle + ".push-type.liveactivity", "apns-push-type": "liveactivity",
				"apns-priority": "5", "apns-expiration": ""},
			wantPayload: `{"aps":{"alert":{"body":"Enjoy","sound":"chime.caf","title":"Delivered"},"content-state":{"driverName":"Tim","eta":15},` +
				`"dismissal-date":1700003600,"event":"end","timestamp":1700000000},"deliveryId":"d-2"}`,
		},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			res, err := ch.Send(context.Background(), []channels.Message{tc.msg})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res[0].Outcome != channels.Success {
				t.Fatalf("result %+v, want success", res[0])
			}
			reqs := srv.Requests(vendorsim.VendorAPNs, "sg")
			if len(reqs) != 1 || reqs[0].Status != 200 {
				t.Fatalf("recorded %+v, want one accepted request", reqs)
			}
			for h, want := range tc.wantHeaders {
				if got := reqs[0].Form.Get(h); got != want {
					t.Errorf("header %s = %q, want %q", h, got, want)
				}
			}
			if got := reqs[0].Form.Get("payload"); got != tc.wantPayload {
				t.Errorf("payload\n got %s\nwant %s", got, tc.wantPayload)
			}
		})
	}
}

// TestLiveActivityChecksBeforeSending: a Live Activity message APNs or iOS
// would refuse or drop is failed before any request.
func TestLiveActivityChecksBeforeSending(t *testing.T) {
	_, keyPEM := newKey(t)
	ch := newChannel(t, testConfig("https://127.0.0.1:1", keyPEM))
	app := apns.App{TeamID: testTeam, KeyID: testKeyID, BundleID: testBundle}
	live := func(title, body string, kv ...string) channels.Message {
		return channels.Message{DeliveryID: "d", AppID: testApp, Token: hexToken(0), Title: title, Body: body, Extras: liveExtras(kv...)}
	}
	for _, tc := range []struct {
		scenario string
		msg      channels.Message
		wantCode int
	}{
		{"no event", live("", "", apns.ExtraActivityEvent, ""), channels.StatusNone},
		{"start (needs attributes pushpipe does not send)", live("", "", apns.ExtraActivityEvent, "start"), channels.StatusNone},
		{"no timestamp", live("", "", apns.ExtraActivityTimestamp, ""), channels.StatusNone},
		{"timestamp in milliseconds text", live("", "", apns.ExtraActivityTimestamp, "1.7e12"), channels.StatusNone},
		{"no content state", live("", "", apns.ExtraContentState, ""), apns.StatusPayloadEmpty},
		{"content state not an object", live("", "", apns.ExtraContentState, `[1]`), apns.StatusPayloadEmpty},
		{"dismissal date with update", live("", "", apns.ExtraDismissalDate, "1700003600"), channels.StatusNone},
		{"dismissal date not a number", live("", "", apns.ExtraActivityEvent, "end", apns.ExtraDismissalDate, "soon"), channels.StatusNone},
		{"alert without body", live("Title", ""), apns.StatusPayloadEmpty},
		{"priority 1", live("", "", apns.ExtraPriority, "1"), apns.StatusBadPriority},
		{"over 4 KB", live("", "", apns.ExtraContentState, `{"note":"`+strings.Repeat("x", apns.MaxNotificationBytes)+`"}`), apns.StatusPayloadTooLarge},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			_, r, ok := ch.Build(app, tc.msg, time.Now())
			if ok {
				t.Fatal("Build accepted the message")
			}
			if r.Outcome != channels.Permanent || r.StatusCode != tc.wantCode || r.StatusDesc == "" {
				t.Errorf("result %+v, want permanent/%d with a description", r, tc.wantCode)
			}
		})
	}
	// The same message without the fault is sent.
	if _, r, ok := ch.Build(app, live("", ""), time.Now()); !ok {
		t.Fatalf("a valid Live Activity update was refused: %+v", r)
	}
}
