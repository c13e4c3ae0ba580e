package mipush_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

// TestRecallOnTheWire checks the revoke calls MiPush receives: one per
// notify_id, with the regIds, package and notify_id of the sent messages.
func TestRecallOnTheWire(t *testing.T) {
	srv := startSim(t)
	ch := newChannel(t, srv.MiPushBaseURL("eu"), testSecret, 0)
	msg := func(token, msgID string, extras map[string]string) channels.Message {
		return channels.Message{DeliveryID: "d-" + token, MsgID: msgID, AppID: testApp, Token: token,
			Title: "T", Body: "B", Extras: extras}
	}
	msgs := []channels.Message{
		msg("regid-a", "msg-1", nil),
		msg("regid-b", "msg-1", nil),
		msg("regid-c", "msg-2", map[string]string{channels.ExtraMiPushNotifyID: "42"}),
	}
	ids := conformance.SendForRecall(t, ch, msgs)
	conformance.WantRecalled(t, ch, msgs, ids)
	want := []url.Values{
		{"registration_ids": {"regid-a,regid-b"}, "restricted_package_name": {testPackage},
			"notify_id": {strconv.Itoa(channels.NotifyID("msg-1"))}},
		{"registration_ids": {"regid-c"}, "restricted_package_name": {testPackage}, "notify_id": {"42"}},
	}
	reqs := srv.RecallRequests(vendorsim.VendorMiPush, "eu")
	if len(reqs) != len(want) {
		t.Fatalf("%d revoke calls, want %d", len(reqs), len(want))
	}
	slices.SortFunc(reqs, func(a, b vendorsim.Request) int {
		return strings.Compare(a.Form.Get("registration_ids"), b.Form.Get("registration_ids"))
	})
	for i, r := range reqs {
		if r.Method != http.MethodPost || r.Path != "/mipush/eu"+mipush.RevokePath || r.Auth != "key="+testSecret {
			t.Errorf("call %d: %s %s auth %q", i, r.Method, r.Path, r.Auth)
		}
		if !equalForms(r.Form, want[i]) {
			t.Errorf("call %d form\n got %v\nwant %v", i, r.Form, want[i])
		}
	}
	wantCounts := map[string]int64{"regid-a": 1, "regid-b": 1, "regid-c": 1}
	if got := srv.Recalls(vendorsim.VendorMiPush, "eu", testApp); !maps.Equal(got, wantCounts) {
		t.Errorf("simulator counted %v, want %v", got, wantCounts)
	}
}

// TestRecallWithoutCall: messages MiPush cannot revoke get a Permanent
// result without a call.
func TestRecallWithoutCall(t *testing.T) {
	srv := startSim(t)
	ch := newChannel(t, srv.MiPushBaseURL(testRegion), testSecret, 0)
	tests := []struct {
		scenario string
		mutate   func(m *channels.Message)
		wantCode int
	}{
		{"pass-through", func(m *channels.Message) { m.PassThrough = true }, channels.StatusNone},
		{"empty token", func(m *channels.Message) { m.Token = "" }, channels.StatusMissingDeviceToken},
		{"malformed token", func(m *channels.Message) { m.Token = "a,b" }, channels.StatusBadDeviceToken},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			m := channels.Message{MsgID: "msg-1", AppID: testApp, Token: "regid-a", Title: "T", Body: "B"}
			tc.mutate(&m)
			res, err := ch.Recall(context.Background(), []channels.Message{m}, []string{"sdm1"})
			if err != nil {
				t.Fatalf("Recall: %v", err)
			}
			if res[0].Outcome != channels.Permanent || res[0].StatusCode != tc.wantCode {
				t.Errorf("result %+v, want permanent with status %d", res[0], tc.wantCode)
			}
			if n := len(srv.RecallRequests(vendorsim.VendorMiPush, testRegion)); n != 0 {
				t.Errorf("%d revoke calls, want none", n)
			}
		})
	}
}

// TestRecallAnswerClassification maps canned revoke answers to outcomes.
func TestRecallAnswerClassification(t *testing.T) {
	tests := []struct {
		scenario    string
		status      int
		header      map[string]string
		body        string
		wantErr     error // class of the whole-call error, nil for results
		wantCode    int   // VendorError.Code or result status code
		wantOutcome channels.Outcome
		wantRetry   time.Duration
	}{
		{scenario: "revoked", status: 200, body: `{"result":"ok","code":0,"description":"成功"}`,
			wantOutcome: channels.Success, wantCode: channels.StatusAcked},
		{scenario: "unknown message", status: 200,
			body:        `{"result":"error","code":10017,"description":"参数值非法","reason":"No message with notify_id 1 was sent to these regIds"}`,
			wantOutcome: channels.Permanent, wantCode: mipush.CodeInvalidParameterValue},
		{scenario: "authentication failed", status: 200,
			body:    `{"result":"error","code":21301,"description":"认证失败","reason":"Invalid application secret."}`,
			wantErr: channels.ErrPermanent, wantCode: mipush.CodeAuthenticationFailed},
		{scenario: "api called too often", status: 200, header: map[string]string{"Retry-After": "4"},
			body:    `{"result":"error","code":10027,"description":"应用的API调用太频繁"}`,
			wantErr: channels.ErrTransient, wantCode: mipush.CodeApplicationAPICallTooOften, wantRetry: 4 * time.Second},
		{scenario: "http 503", status: 503, body: `<html>unavailable</html>`, wantErr: channels.ErrTransient},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient},
		{scenario: "http 404 without json", status: 404, body: `not found`, wantErr: channels.ErrPermanent},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != mipush.RevokePath {
					t.Errorf("request to %s, want %s", r.URL.Path, mipush.RevokePath)
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			ch := newChannel(t, ts.URL, testSecret, 0)
			msgs := []channels.Message{
				{MsgID: "m1", AppID: testApp, Token: "r1", Title: "A", Body: "a"},
				{MsgID: "m1", AppID: testApp, Token: "r2", Title: "A", Body: "a"},
			}
			res, err := ch.Recall(context.Background(), msgs, []string{"", ""})
			conformance.WantAnswer(t, res, err, tc.wantErr, tc.wantCode, tc.wantOutcome, tc.wantRetry)
		})
	}
}
