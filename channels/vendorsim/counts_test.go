package vendorsim_test

import (
	"testing"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

func TestAppCountsMatchStatsWithoutTokens(t *testing.T) {
	srv := start(t, nil)
	push(t, srv.MiPushBaseURL("sg"), "key="+secret, form("a1,a2,bad-1"))
	push(t, srv.MiPushBaseURL("sg"), "key="+secret, form("a3"))
	push(t, srv.MiPushBaseURL("sg"), "key=wrong", form("a4"))

	for _, tc := range []struct {
		scenario      string
		vendor, reg   string
		app           string
		found         bool
		messages, inv int64
	}{
		{scenario: "app with traffic", vendor: vendorsim.VendorMiPush, reg: "sg", app: appID, found: true, messages: 3, inv: 1},
		{scenario: "region without traffic", vendor: vendorsim.VendorMiPush, reg: "eu", app: appID},
		{scenario: "vendor without traffic", vendor: vendorsim.VendorHMS, reg: "sg", app: appID},
		{scenario: "unknown app", vendor: vendorsim.VendorMiPush, reg: "sg", app: "nobody"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			got, ok := srv.AppCounts(tc.vendor, tc.reg, tc.app)
			if ok != tc.found || got.Messages != tc.messages || got.InvalidTokens != tc.inv || got.Tokens != nil {
				t.Fatalf("AppCounts = %+v, %v; want found %v, %d messages, %d invalid, no tokens", got, ok, tc.found, tc.messages, tc.inv)
			}
			if !ok {
				return
			}
			want := *srv.Stats().Vendors[tc.vendor].Regions[tc.reg].Apps[tc.app]
			if got.Requests != want.Requests || got.Accepted != want.Accepted || got.Rejected != want.Rejected {
				t.Errorf("AppCounts = %+v, Stats has %+v", got, want)
			}
		})
	}
}
