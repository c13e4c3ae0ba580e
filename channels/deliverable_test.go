package channels_test

import (
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

func TestCheckDeliverable(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	tests := []struct {
		scenario    string
		msg         channels.Message
		wantOK      bool
		wantOutcome channels.Outcome
		wantCode    int
		wantDesc    string
	}{
		{"deliverable", channels.Message{Token: "tok", ExpireAt: now.Add(time.Second)}, true, 0, 0, ""},
		{"no expiry", channels.Message{Token: "tok"}, true, 0, 0, ""},
		{"no token", channels.Message{}, false, channels.Permanent, channels.StatusMissingDeviceToken, "MissingDeviceToken"},
		{"malformed token", channels.Message{Token: "a,b"}, false, channels.InvalidToken, channels.StatusBadDeviceToken, "BadDeviceToken: malformed regId"},
		{"expired", channels.Message{Token: "tok", ExpireAt: now}, false, channels.Permanent, channels.StatusNone, "MessageExpired: validity ended before sending"},
		{"a malformed token goes before expiry", channels.Message{Token: "a b", ExpireAt: now}, false, channels.InvalidToken, channels.StatusBadDeviceToken, "BadDeviceToken: malformed regId"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			r, ok := channels.CheckDeliverable(&tc.msg, now, ", \t", "regId")
			if ok != tc.wantOK || r.Outcome != tc.wantOutcome || r.StatusCode != tc.wantCode || r.StatusDesc != tc.wantDesc {
				t.Errorf("CheckDeliverable = %+v, %t; want %s/%d %q, %t", r, ok, tc.wantOutcome, tc.wantCode, tc.wantDesc, tc.wantOK)
			}
		})
	}
}
