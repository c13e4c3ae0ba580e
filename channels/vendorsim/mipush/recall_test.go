package mipush_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
	mipushsim "github.com/pushpipe/pushpipe/channels/vendorsim/mipush"
)

// revoke posts a revoke-by-regId call and returns MiPush's answer code.
func revoke(t *testing.T, baseURL, auth string, f url.Values) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+mipushsim.RevokePath, strings.NewReader(f.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var a simtest.MiPushAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("decoding the answer: %v", err)
	}
	return a.Code
}

func revokeForm(regIDs, notifyID string) url.Values {
	f := url.Values{"registration_ids": {regIDs}, "restricted_package_name": {pkg}}
	if notifyID != "" {
		f.Set("notify_id", notifyID)
	}
	return f
}

func TestMiPushRevokeAnswers(t *testing.T) {
	srv := simtest.StartMiPush(t, nil)
	base := srv.MiPushBaseURL(region)
	notification := simtest.MiPushForm("a1,a2,bad-1")
	notification.Set("notify_id", "7")
	passThrough := simtest.MiPushForm("a3")
	passThrough.Set("notify_id", "8")
	passThrough.Set("pass_through", "1")
	for _, f := range []url.Values{notification, passThrough} {
		if status, a, _ := simtest.PushMiPush(t, base, "key="+secret, f); status != http.StatusOK || a.Code != 0 {
			t.Fatalf("push: %d %+v", status, a)
		}
	}
	tests := []struct {
		scenario string
		auth     string
		form     url.Values
		wantCode int
	}{
		{"notification sent to the regIds", "key=" + secret, revokeForm("a1,a2", "7"), mipushsim.CodeSuccess},
		{"notify_id never sent", "key=" + secret, revokeForm("a1", "9"), mipushsim.CodeInvalidParameterValue},
		{"regId the notification was refused for", "key=" + secret, revokeForm("bad-1", "7"), mipushsim.CodeInvalidParameterValue},
		{"pass-through message", "key=" + secret, revokeForm("a3", "8"), mipushsim.CodeInvalidParameterValue},
		{"notify_id not a number", "key=" + secret, revokeForm("a1", "x"), mipushsim.CodeInvalidParameterValue},
		{"missing notify_id", "key=" + secret, revokeForm("a1", ""), mipushsim.CodeMissRequiredParameter},
		{"missing regIds", "key=" + secret, revokeForm("", "7"), mipushsim.CodeMissRequiredParameter},
		{"other package", "key=" + secret, url.Values{"registration_ids": {"a1"}, "notify_id": {"7"}, "restricted_package_name": {"com.other"}},
			mipushsim.CodeInvalidPackageName},
		{"wrong secret", "key=wrong", revokeForm("a1,a2", "7"), mipushsim.CodeAuthenticationFailed},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			if got := revoke(t, base, tc.auth, tc.form); got != tc.wantCode {
				t.Errorf("code %d, want %d", got, tc.wantCode)
			}
		})
	}
	if got := srv.RecallRequests(vendorsim.VendorMiPush, region); len(got) != len(tests) {
		t.Errorf("%d recall calls recorded, want %d (the pushes excluded)", len(got), len(tests))
	}
	want := map[string]int64{"a1": 1, "a2": 1}
	if got := srv.Recalls(vendorsim.VendorMiPush, region, appID); !maps.Equal(got, want) {
		t.Errorf("Recalls = %v, want %v", got, want)
	}
	if got := srv.Recalls(vendorsim.VendorMiPush, "eu", appID); len(got) != 0 {
		t.Errorf("Recalls of another region = %v, want none", got)
	}
}

func TestRecallsAreForgottenOnReset(t *testing.T) {
	srv := simtest.StartMiPush(t, nil)
	base := srv.MiPushBaseURL(region)
	f := simtest.MiPushForm("a1")
	f.Set("notify_id", "7")
	simtest.PushMiPush(t, base, "key="+secret, f)
	if code := revoke(t, base, "key="+secret, revokeForm("a1", "7")); code != mipushsim.CodeSuccess {
		t.Fatalf("revoke before Reset: code %d", code)
	}
	srv.Reset()
	if got := srv.Recalls(vendorsim.VendorMiPush, region, appID); len(got) != 0 {
		t.Errorf("Recalls after Reset = %v, want none", got)
	}
	if code := revoke(t, base, "key="+secret, revokeForm("a1", "7")); code != mipushsim.CodeInvalidParameterValue {
		t.Errorf("revoke after Reset: code %d, want %d (unknown message)", code, mipushsim.CodeInvalidParameterValue)
	}
}
