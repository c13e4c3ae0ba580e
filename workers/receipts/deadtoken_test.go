package receipts

import (
	"net/url"
	"testing"

	"github.com/pushpipe/pushpipe/schema"
)

// TestTokenInvalidFollowsTheVendorMappings parses receipts as the vendors
// post them and checks which of the resulting events TokenInvalid reads
// as a dead token: exactly the vendor statuses that mean the token is
// invalid or gone.
func TestTokenInvalidFollowsTheVendorMappings(t *testing.T) {
	mipush := func(typ string) []byte {
		return []byte(url.Values{"data": {`{"m1":{"param":"` + ourDelivery + `","type":` + typ + `,"targets":"regid-1","timestamp":1730775368258}}`}}.Encode())
	}
	hms := func(status string) []byte {
		return []byte(`{"statuses":[{"biTag":"` + ourDelivery + `","token":"tok-1","status":` + status + `,"timestamp":1730792933696}]}`)
	}
	oppo := func(event string) []byte {
		return []byte(`[{"eventTime":"1730776852465","eventType":"` + event + `","param":"` + ourDelivery + `","registrationIds":"OPPO_1"}]`)
	}
	for _, tc := range []struct {
		scenario string
		channel  string
		parse    func([]byte) (Parsed, error)
		body     []byte
		dead     bool
	}{
		{"mipush type 16: the regId is invalid", "mipush", ParseMiPush, mipush("16"), true},
		{"mipush type 1: an arrival", "mipush", ParseMiPush, mipush("1"), false},
		{"mipush type 32: push disabled on the device", "mipush", ParseMiPush, mipush("32"), false},
		{"oppo regid_invalid", "oppo", ParseOPPO, oppo("regid_invalid"), true},
		{"oppo push_click", "oppo", ParseOPPO, oppo("push_click"), false},
		{"huawei status 5: the token does not exist", "hms", ParseHMS, hms("5"), true},
		{"huawei status 2: the app is uninstalled", "hms", ParseHMS, hms("2"), true},
		{"huawei status 0: an arrival", "hms", ParseHMS, hms("0"), false},
		{"huawei status 1: another failure", "hms", ParseHMS, hms("1"), false},
		{"honor status 5 keeps the vendor's number, not a dead token", "honor", ParseHonor, hms("5"), false},
		{"honor status 10000 is not oppo's regid_invalid", "honor", ParseHonor, hms("10000"), false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			p, err := tc.parse(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Receipts) != 1 {
				t.Fatalf("%d receipts, want 1 (skipped %v)", len(p.Receipts), p.Skipped)
			}
			r := p.Receipts[0]
			if got := TokenInvalid(r.Event, tc.channel, r.StatusCode); got != tc.dead {
				t.Fatalf("TokenInvalid(%s, %s, %d) = %v, want %v", r.Event, tc.channel, r.StatusCode, got, tc.dead)
			}
		})
	}
}

// TestInvalidatesTokenOnlyItsOwnDelivery checks that a dead-token receipt
// kills the token only of a delivery on the receipt's own channel whose
// token the receipt names.
func TestInvalidatesTokenOnlyItsOwnDelivery(t *testing.T) {
	for _, tc := range []struct {
		scenario                  string
		endpoint, token           string
		code                      int64
		deliveryChannel, delivTok string
		want                      bool
	}{
		{"huawei status 5 for its own hms delivery", "hms", "tok-1", 2009, "hms", "tok-1", true},
		{"huawei status 5 for a mipush delivery (the issue's attack)", "hms", "regid-1", 2009, "mipush", "regid-1", false},
		{"mipush type 16 naming another regId", "mipush", "regid-2", 20301, "mipush", "regid-1", false},
		{"mipush type 16 naming no regId", "mipush", "", 20301, "mipush", "regid-1", false},
		{"oppo regid_invalid for its own delivery", "oppo", "OPPO_1", 10000, "oppo", "OPPO_1", true},
		{"a status that is no dead token", "hms", "tok-1", 80000001, "hms", "tok-1", false},
	} {
		if got := InvalidatesToken(schema.EventFailed, tc.endpoint, tc.code, tc.token, tc.deliveryChannel, tc.delivTok); got != tc.want {
			t.Errorf("%s: InvalidatesToken = %t, want %t", tc.scenario, got, tc.want)
		}
	}
	if InvalidatesToken(schema.EventArrived, "hms", 2009, "tok-1", "hms", "tok-1") {
		t.Error("an arrival invalidated a token")
	}
}
