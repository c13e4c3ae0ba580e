package hms_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

// TestRecallOnTheWire checks the revocations Push Kit receives: one per
// notify_id, with the push-type header and the sent messages' tokens.
func TestRecallOnTheWire(t *testing.T) {
	srv := startSim(t, nil)
	ch := simChannel(t, srv)
	msg := func(token, msgID string, extras map[string]string) channels.Message {
		return channels.Message{DeliveryID: "d-" + token, MsgID: msgID, AppID: testApp, Token: token,
			Title: "T", Body: "B", Extras: extras}
	}
	msgs := []channels.Message{
		msg("tok-a", "msg-1", nil),
		msg("tok-b", "msg-1", nil),
		msg("tok-c", "msg-2", map[string]string{hms.ExtraNotifyID: "42"}),
	}
	ids := conformance.SendForRecall(t, ch, msgs)
	conformance.WantRecalled(t, ch, msgs, ids)
	want := map[string][]string{
		strconv.Itoa(channels.NotifyID("msg-1")): {"tok-a", "tok-b"},
		"42":                                     {"tok-c"},
	}
	reqs := srv.RecallRequests(vendorsim.VendorHMS, testRegion)
	if len(reqs) != len(want) {
		t.Fatalf("%d revocations, want %d", len(reqs), len(want))
	}
	for _, r := range reqs {
		if r.Path != "/hms/"+testRegion+"/v1/"+testClientID+hms.RevokePath || !strings.HasPrefix(r.Auth, "Bearer ") {
			t.Errorf("revocation %s auth %q", r.Path, r.Auth)
		}
		if r.Form.Get("push-type") != hms.PushTypeNotification {
			t.Errorf("push-type %q, want %q", r.Form.Get("push-type"), hms.PushTypeNotification)
		}
		if tokens := want[r.Form.Get("notifyId")]; !slices.Equal(r.RegIDs, tokens) {
			t.Errorf("notifyId %s revoked for %v, want %v", r.Form.Get("notifyId"), r.RegIDs, tokens)
		}
	}
	wantCounts := map[string]int64{"tok-a": 1, "tok-b": 1, "tok-c": 1}
	if got := srv.Recalls(vendorsim.VendorHMS, testRegion, testApp); !maps.Equal(got, wantCounts) {
		t.Errorf("simulator counted %v, want %v", got, wantCounts)
	}
}

// TestRecallWithoutCall: messages Push Kit cannot revoke get a Permanent
// result without a call.
func TestRecallWithoutCall(t *testing.T) {
	tests := []struct {
		scenario string
		mutate   func(m *channels.Message)
		wantCode int
	}{
		{"pass-through", func(m *channels.Message) { m.PassThrough = true }, channels.StatusNone},
		{"empty token", func(m *channels.Message) { m.Token = "" }, channels.StatusMissingDeviceToken},
		{"malformed token", func(m *channels.Message) { m.Token = "a b" }, channels.StatusBadDeviceToken},
		{"notify id not an integer", func(m *channels.Message) { m.Extras = map[string]string{hms.ExtraNotifyID: "x"} }, hms.CodeIllegalPayload},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, nil)
			m := channels.Message{MsgID: "msg-1", AppID: testApp, Token: "tok-a", Title: "T", Body: "B"}
			tc.mutate(&m)
			res, err := f.channel(t).Recall(context.Background(), []channels.Message{m}, []string{""})
			if err != nil {
				t.Fatalf("Recall: %v", err)
			}
			if res[0].Outcome != channels.Permanent || res[0].StatusCode != tc.wantCode {
				t.Errorf("result %+v, want permanent with status %d", res[0], tc.wantCode)
			}
			if n := f.sends.Load(); n != 0 {
				t.Errorf("%d revocations, want none", n)
			}
		})
	}
}

// TestRecallAnswerClassification maps canned revocation answers to
// outcomes.
func TestRecallAnswerClassification(t *testing.T) {
	answer := func(code, msg string) string {
		b, _ := json.Marshal(map[string]string{"code": code, "msg": msg, "requestId": "req-1"})
		return string(b)
	}
	tests := []struct {
		scenario    string
		status      int
		header      map[string]string
		body        string
		wantErr     error
		wantCode    int
		wantOutcome channels.Outcome
		wantRetry   time.Duration
		wantCalls   int32
	}{
		{scenario: "revoked", status: 200, body: answer("80000000", "Success"),
			wantOutcome: channels.Success, wantCode: channels.StatusAcked, wantCalls: 1},
		{scenario: "unknown notify id", status: 400, body: answer("80100001", "No message with notifyId 1 was sent to these tokens"),
			wantOutcome: channels.Permanent, wantCode: hms.CodeParameterError, wantCalls: 1},
		{scenario: "token expired twice", status: 401, body: answer("80200003", "Oauth Token expired"),
			wantErr: channels.ErrPermanent, wantCode: hms.CodeOAuthTokenExpired, wantCalls: 2},
		{scenario: "no permission", status: 403, body: answer("80300002", "No permission"),
			wantErr: channels.ErrPermanent, wantCode: hms.CodeNoPermission, wantCalls: 1},
		{scenario: "traffic control", status: 503, header: map[string]string{"Retry-After": "3"}, body: answer("81000001", "Traffic control"),
			wantErr: channels.ErrTransient, wantCode: hms.CodeInternalError, wantRetry: 3 * time.Second, wantCalls: 1},
		{scenario: "internal error in a 200", status: 200, body: answer("81000001", "System internal error"),
			wantErr: channels.ErrTransient, wantCode: hms.CodeInternalError, wantCalls: 1},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient, wantCalls: 1},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, func(f *fakeHMS) {
				f.answer = func(w http.ResponseWriter, _ int32) {
					for k, v := range tc.header {
						w.Header().Set(k, v)
					}
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
				}
			})
			msgs := []channels.Message{
				{MsgID: "m1", AppID: testApp, Token: "t1", Title: "A", Body: "a"},
				{MsgID: "m1", AppID: testApp, Token: "t2", Title: "A", Body: "a"},
			}
			res, err := f.channel(t).Recall(context.Background(), msgs, []string{"", ""})
			if n := f.sends.Load(); n != tc.wantCalls {
				t.Errorf("%d revocations, want %d", n, tc.wantCalls)
			}
			if got := f.captured("/v1/" + testClientID + hms.RevokePath); int32(len(got)) != tc.wantCalls {
				t.Errorf("%d calls to the revocation path, want %d", len(got), tc.wantCalls)
			}
			conformance.WantAnswer(t, res, err, tc.wantErr, tc.wantCode, tc.wantOutcome, tc.wantRetry)
		})
	}
}
