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
