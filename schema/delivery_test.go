package schema

import "testing"

func TestEventForCarriesTheCallbackOnTerminalEventsOnly(t *testing.T) {
	withURL := Delivery{DeliveryID: "d1", MsgID: "m1", TaskID: "t1", AppID: "a", Region: "sg", DeviceID: "dev",
		Platform: PlatformIOS, Channel: "apns", Token: "tok-1", CallbackURL: "https://biz.example.com/push/callback"}
	withoutURL := withURL
	withoutURL.CallbackURL = ""
	for _, tc := range []struct {
		scenario  string
		d         Delivery
		step      EventType
		wantURL   string
		wantToken string
	}{
		{"acked with a callback", withURL, EventAcked, withURL.CallbackURL, "tok-1"},
		{"failed with a callback", withURL, EventFailed, withURL.CallbackURL, "tok-1"},
		{"expired with a callback", withURL, EventExpired, withURL.CallbackURL, "tok-1"},
		{"revoked with a callback", withURL, EventRevoked, withURL.CallbackURL, "tok-1"},
		{"sent is not terminal", withURL, EventSent, "", ""},
		{"retried is not terminal", withURL, EventRetried, "", ""},
		{"valid keeps its token for the index, no callback", withURL, EventValid, "", "tok-1"},
		{"acked without a callback carries no token", withoutURL, EventAcked, "", ""},
		{"failed without a callback", withoutURL, EventFailed, "", ""},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			e := tc.d.EventFor(tc.step, 1)
			if e.CallbackURL != tc.wantURL || e.Token != tc.wantToken {
				t.Fatalf("EventFor(%s): callbackUrl %q token %q, want %q and %q", tc.step, e.CallbackURL, e.Token, tc.wantURL, tc.wantToken)
			}
			if e.DeliveryID != tc.d.DeliveryID || e.Event != tc.step {
				t.Fatalf("EventFor(%s) = %+v: identifying fields not copied", tc.step, e)
			}
		})
	}
}

func TestEventForIDsAcrossAttempts(t *testing.T) {
	first := Delivery{DeliveryID: "d1", MsgID: "m1", AppID: "a", Region: "sg", DeviceID: "dev"}
	later := first
	later.Attempt = 3
	for _, tc := range []struct {
		scenario string
		step     EventType
		sameID   bool
	}{
		{"acked at another attempt is the same outcome", EventAcked, true},
		{"failed at another attempt is the same outcome", EventFailed, true},
		{"expired at another attempt is the same outcome", EventExpired, true},
		{"revoked at another attempt is the same outcome", EventRevoked, true},
		{"each attempt is sent on its own", EventSent, false},
		{"each attempt is retried on its own", EventRetried, false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			a, b := first.EventFor(tc.step, 1), later.EventFor(tc.step, 2)
			if (a.EventID == b.EventID) != tc.sameID {
				t.Fatalf("%s ids at attempts 0 and 3: %q and %q, want equal %v", tc.step, a.EventID, b.EventID, tc.sameID)
			}
			if a.Attempt != 0 || b.Attempt != 3 {
				t.Fatalf("attempts %d and %d not carried", a.Attempt, b.Attempt)
			}
		})
	}
	if first.EventFor(EventAcked, 1).EventID == first.EventFor(EventFailed, 1).EventID {
		t.Fatal("acked and failed share an id")
	}
}
