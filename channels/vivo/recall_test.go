package vivo_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vivo"
)

// TestRecallOnTheWire checks the recall calls vivo receives: one per
// taskId, with the authToken header; a list push is recalled as a whole.
func TestRecallOnTheWire(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.VivoBaseURL(testRegion), testSecret, 0, nil)
	single := msg("v2-a", "d-recall-a")
	single.MsgID = "m-single"
	msgs := []channels.Message{single, msg("v2-b", "d-recall-b"), msg("v2-c", "d-recall-c")}
	ids := conformance.SendForRecall(t, ch, msgs)
	if ids[0] == "" || ids[1] == "" || ids[1] != ids[2] || ids[0] == ids[1] {
		t.Fatalf("vendor ids %q: want one taskId for the single send and one for the list push", ids)
	}
	// Recalling one message of the list push withdraws the whole task.
	conformance.WantRecalled(t, ch, msgs[:2], ids[:2])
	reqs := srv.RecallRequests(vendorsim.VendorVivo, testRegion)
	if len(reqs) != 2 {
		t.Fatalf("%d recall calls, want 2", len(reqs))
	}
	var got []string
	for _, r := range reqs {
		if r.Method != http.MethodPost || r.Path != "/vivo/"+testRegion+vivo.RecallPath || r.Auth == "" {
			t.Errorf("recall call %s %s authToken %q", r.Method, r.Path, r.Auth)
		}
		got = append(got, body[vivo.RecallRequest](t, r).TaskID)
	}
	slices.Sort(got)
	want := slices.Sorted(slices.Values(ids[:2]))
	if !slices.Equal(got, want) {
		t.Errorf("recalled taskIds %v, want %v", got, want)
	}
	wantCounts := map[string]int64{"v2-a": 1, "v2-b": 1, "v2-c": 1}
	if got := srv.Recalls(vendorsim.VendorVivo, testRegion, testApp); !maps.Equal(got, wantCounts) {
		t.Errorf("simulator counted %v, want %v", got, wantCounts)
	}
}

// TestRecallWithoutTaskID: a message without a taskId gets a Permanent
// result without a call.
func TestRecallWithoutTaskID(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.VivoBaseURL(testRegion), testSecret, 0, nil)
	res, err := ch.Recall(context.Background(), []channels.Message{msg("v2-a", "d1")}, []string{""})
	if err != nil {
		t.Fatalf("Recall: %v", err)
	}
	if res[0].Outcome != channels.Permanent {
		t.Errorf("result %+v, want permanent", res[0])
	}
	if n := len(srv.Requests(vendorsim.VendorVivo, "")); n != 0 {
		t.Errorf("%d calls (auth included), want none", n)
	}
}

// TestRecallAnswerClassification maps canned recall answers to outcomes.
func TestRecallAnswerClassification(t *testing.T) {
	tests := []struct {
		scenario    string
		status      int
		header      map[string]string
		body        string
		wantErr     error
		wantCode    int
		wantOutcome channels.Outcome
		wantRetry   time.Duration
		wantAuth    int
	}{
		{scenario: "recalled", status: 200, body: `{"result":0,"desc":"请求成功"}`,
			wantOutcome: channels.Success, wantCode: channels.StatusAcked, wantAuth: 1},
		{scenario: "unknown task", status: 200, body: `{"result":10099,"desc":"taskId不合法"}`,
			wantOutcome: channels.Permanent, wantCode: 10099, wantAuth: 1},
		{scenario: "auth refused twice", status: 200, body: `{"result":10000,"desc":"权限认证失败"}`,
			wantErr: channels.ErrPermanent, wantCode: vivo.CodeAuthFailed, wantAuth: 2},
		{scenario: "too fast with retry-after", status: 200, header: map[string]string{"Retry-After": "2"},
			body: `{"result":10072,"desc":"推送速度过快"}`, wantErr: channels.ErrTransient, wantCode: vivo.CodePushTooFast,
			wantRetry: 2 * time.Second, wantAuth: 1},
		{scenario: "http 500", status: 500, body: `oops`, wantErr: channels.ErrTransient, wantAuth: 1},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient, wantAuth: 1},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var auths atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == vivo.AuthPath {
					n := auths.Add(1)
					_, _ = fmt.Fprintf(w, `{"result":0,"desc":"请求成功","authToken":"tok-%d"}`, n)
					return
				}
				if r.URL.Path != vivo.RecallPath || r.Header.Get("authToken") == "" {
					t.Errorf("call to %s with authToken %q", r.URL.Path, r.Header.Get("authToken"))
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			ch := newChannel(t, ts.URL, testSecret, 0, nil)
			res, err := ch.Recall(context.Background(), []channels.Message{msg("v2-a", "d1"), msg("v2-b", "d2")}, []string{"1301", "1301"})
			if got := int(auths.Load()); got != tc.wantAuth {
				t.Errorf("%d auth requests, want %d", got, tc.wantAuth)
			}
			conformance.WantAnswer(t, res, err, tc.wantErr, tc.wantCode, tc.wantOutcome, tc.wantRetry)
		})
	}
}
