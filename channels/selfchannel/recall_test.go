package selfchannel_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/selfchannel"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

// TestRecallOnTheWire checks the recall call the gateway receives and the
// mapping of its per-message answers.
func TestRecallOnTheWire(t *testing.T) {
	srv := startSim(t)
	ch := newChannel(t, srv.SelfBaseURL("eu"), testKey, 0)
	msg := func(token, deliveryID string) channels.Message {
		return channels.Message{DeliveryID: deliveryID, MsgID: "m1", AppID: testApp, Token: token, Title: "T", Body: "B"}
	}
	sent := []channels.Message{msg("tok-a", "d-a"), msg("tok-b", "d-b")}
	sentIDs := conformance.SendForRecall(t, ch, sent)
	msgs := []channels.Message{sent[0], msg("tok-c", "d-c"), sent[1], msg("tok-d", "d-d")}
	ids := []string{sentIDs[0], "sgw-never-issued", sentIDs[1], ""}
	recalled, err := ch.Recall(context.Background(), msgs, ids)
	if err != nil {
		t.Fatalf("Recall: %v", err)
	}
	want := []channels.Outcome{channels.Success, channels.Permanent, channels.Success, channels.Permanent}
	for i, r := range recalled {
		if r.Outcome != want[i] {
			t.Errorf("result %d: %+v, want %s", i, r, want[i])
		}
	}
	reqs := srv.RecallRequests(vendorsim.VendorSelf, "eu")
	if len(reqs) != 1 {
		t.Fatalf("%d recall calls, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != http.MethodPost || r.Path != "/self/eu"+selfchannel.RecallPath || r.Auth != "Bearer "+testKey {
		t.Errorf("recall call %s %s auth %q", r.Method, r.Path, r.Auth)
	}
	var got selfchannel.RecallRequest
	if err := json.Unmarshal([]byte(r.Form.Get("body")), &got); err != nil {
		t.Fatalf("recall body: %v", err)
	}
	wantBody := selfchannel.RecallRequest{AppID: testApp, Messages: []selfchannel.RecallMessage{
		{MessageID: ids[0], Token: "tok-a", DeliveryID: "d-a"},
		{MessageID: "sgw-never-issued", Token: "tok-c", DeliveryID: "d-c"},
		{MessageID: ids[2], Token: "tok-b", DeliveryID: "d-b"},
	}}
	if !reflect.DeepEqual(got, wantBody) {
		t.Errorf("recall body\n got %+v\nwant %+v", got, wantBody)
	}
	wantCounts := map[string]int64{"tok-a": 1, "tok-b": 1}
	if got := srv.Recalls(vendorsim.VendorSelf, "eu", testApp); !maps.Equal(got, wantCounts) {
		t.Errorf("simulator counted %v, want %v", got, wantCounts)
	}
}

// TestRecallAnswerMapping maps canned gateway answers to outcomes.
func TestRecallAnswerMapping(t *testing.T) {
	tests := []struct {
		scenario    string
		status      int
		header      map[string]string
		body        string
		wantErr     error
		wantOutcome channels.Outcome
		wantCode    int
		wantRetry   time.Duration
	}{
		{scenario: "recalled", status: 200, body: `{"requestId":"r","results":[{"status":"recalled"},{"status":"recalled"}]}`,
			wantOutcome: channels.Success, wantCode: channels.StatusAcked},
		{scenario: "unknown", status: 200, body: `{"requestId":"r","results":[{"status":"unknown","reason":"x"},{"status":"unknown"}]}`,
			wantOutcome: channels.Permanent, wantCode: channels.StatusNone},
		{scenario: "unknown status is not retried", status: 200, body: `{"results":[{"status":"later"},{"status":"later"}]}`,
			wantOutcome: channels.Permanent, wantCode: channels.StatusNone},
		{scenario: "unauthorized", status: 401, body: `{"error":"unauthorized"}`, wantErr: channels.ErrPermanent},
		{scenario: "rate limited", status: 429, header: map[string]string{"Retry-After": "5"}, body: `{"error":"rate_limited"}`,
			wantErr: channels.ErrTransient, wantRetry: 5 * time.Second},
		{scenario: "results not aligned", status: 200, body: `{"results":[{"status":"recalled"}]}`, wantErr: channels.ErrTransient},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != selfchannel.RecallPath {
					t.Errorf("call to %s, want %s", r.URL.Path, selfchannel.RecallPath)
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			ch := newChannel(t, ts.URL, testKey, 0)
			msgs := []channels.Message{
				{MsgID: "m1", AppID: testApp, Token: "t1"},
				{MsgID: "m1", AppID: testApp, Token: "t2"},
			}
			res, err := ch.Recall(context.Background(), msgs, []string{"g1", "g2"})
			conformance.WantAnswer(t, res, err, tc.wantErr, tc.wantCode, tc.wantOutcome, tc.wantRetry)
		})
	}
}

// TestRecallPartialCallFailure: when the call fails but a message was
// settled without it, the failure is each called message's result.
func TestRecallPartialCallFailure(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer ts.Close()
	ch := newChannel(t, ts.URL, testKey, 0)
	msgs := []channels.Message{{MsgID: "m1", AppID: testApp, Token: "t1"}, {MsgID: "m1", AppID: testApp, Token: "t2"}}
	res, err := ch.Recall(context.Background(), msgs, []string{"g1", ""})
	if err != nil {
		t.Fatalf("Recall: %v", err)
	}
	if res[0].Outcome != channels.Transient || res[1].Outcome != channels.Permanent {
		t.Errorf("outcomes %s, %s; want transient, permanent", res[0].Outcome, res[1].Outcome)
	}
}
