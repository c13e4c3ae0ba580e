package channels_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

func TestPost(t *testing.T) {
	var gotBody, gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotBody, gotAuth = string(b), r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/slow":
			time.Sleep(200 * time.Millisecond)
		case "/busy":
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, `{"answer":"0123456789"}`)
	}))
	defer srv.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		scenario      string
		url           string
		purpose       string
		timeout       time.Duration
		maxAnswer     int64
		wantStatus    int
		wantBody      string
		wantRetry     time.Duration
		wantErr       error  // class of the error, nil for an answer
		wantErrSubstr string // in the error text
	}{
		{scenario: "answer read whole", url: srv.URL + "/send", maxAnswer: 1 << 10, wantStatus: 200, wantBody: `{"answer":"0123456789"}`},
		{scenario: "answer cut at MaxAnswerBytes", url: srv.URL + "/send", maxAnswer: 5, wantStatus: 200, wantBody: `{"ans`},
		{scenario: "any status is an answer, with Retry-After", url: srv.URL + "/busy", maxAnswer: 1 << 10, wantStatus: 503, wantBody: `{"answer":"0123456789"}`, wantRetry: 7 * time.Second},
		{scenario: "no server is transient", url: closed.URL + "/send", maxAnswer: 1 << 10, wantErr: channels.ErrTransient, wantErrSubstr: "POST " + closed.URL + "/send"},
		{scenario: "timeout is transient", url: srv.URL + "/slow", timeout: 20 * time.Millisecond, maxAnswer: 1 << 10, wantErr: context.DeadlineExceeded},
		{scenario: "unbuildable request is permanent", url: "http://a b/", maxAnswer: 1 << 10, wantErr: channels.ErrPermanent, wantErrSubstr: "building request"},
		{scenario: "purpose names the request", url: "http://a b/", purpose: "token", maxAnswer: 1 << 10, wantErr: channels.ErrPermanent, wantErrSubstr: "building token request"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			rep, err := channels.Post(context.Background(), srv.Client(), channels.PostRequest{
				Channel: "stub", URL: tc.url, Body: []byte("a=1"), Header: http.Header{"Authorization": {"key=k"}},
				Timeout: tc.timeout, MaxAnswerBytes: tc.maxAnswer, Purpose: tc.purpose,
			})
			if tc.wantErr != nil {
				var ve *channels.VendorError
				if !errors.Is(err, tc.wantErr) || !errors.As(err, &ve) || ve.Channel != "stub" {
					t.Fatalf("Post error %v, want a stub *VendorError matching %v", err, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErrSubstr) {
					t.Errorf("Post error %q does not say %q", err, tc.wantErrSubstr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Post: %v", err)
			}
			if rep.Status != tc.wantStatus || string(rep.Body) != tc.wantBody || rep.RetryAfter != tc.wantRetry {
				t.Errorf("reply %d %q retry %s, want %d %q retry %s", rep.Status, rep.Body, rep.RetryAfter, tc.wantStatus, tc.wantBody, tc.wantRetry)
			}
			if gotBody != "a=1" || gotAuth != "key=k" {
				t.Errorf("server got body %q and Authorization %q", gotBody, gotAuth)
			}
		})
	}
}

func TestReplyDecodeJSON(t *testing.T) {
	type answer struct {
		Code int    `json:"code"`
		Msg  string `json:"msg"`
	}
	tests := []struct {
		scenario      string
		status        int
		body          string
		wantErr       error // class, nil when the answer is for the caller
		wantCode      int
		wantReason    string
		wantRetry     time.Duration
		wantAnswerMsg string
	}{
		{scenario: "2xx JSON is for the caller", status: 200, body: ` {"code":7,"msg":"m"} `, wantAnswerMsg: "m"},
		{scenario: "4xx JSON is for the caller", status: 400, body: `{"code":7,"msg":"m"}`, wantAnswerMsg: "m"},
		{scenario: "5xx with a vendor code", status: 503, body: `{"code":7,"msg":"busy"}`, wantErr: channels.ErrTransient, wantCode: 7, wantReason: "busy", wantRetry: 3 * time.Second},
		{scenario: "429 without JSON", status: 429, body: `slow down`, wantErr: channels.ErrTransient, wantRetry: 3 * time.Second},
		{scenario: "garbled 2xx is transient", status: 200, body: `<html>`, wantErr: channels.ErrTransient},
		{scenario: "non-JSON 4xx is permanent", status: 404, body: `not found`, wantErr: channels.ErrPermanent},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "3")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			rep, err := channels.Post(context.Background(), srv.Client(), channels.PostRequest{Channel: "stub", URL: srv.URL, MaxAnswerBytes: 1 << 10})
			if err != nil {
				t.Fatalf("Post: %v", err)
			}
			var a answer
			err = rep.DecodeJSON(&a, func() (int, string) { return a.Code, a.Msg })
			if tc.wantErr == nil {
				if err != nil || a.Msg != tc.wantAnswerMsg {
					t.Fatalf("DecodeJSON = %v, answer %+v; want nil and msg %q", err, a, tc.wantAnswerMsg)
				}
				return
			}
			var ve *channels.VendorError
			if !errors.Is(err, tc.wantErr) || !errors.As(err, &ve) {
				t.Fatalf("DecodeJSON = %v, want a *VendorError matching %v", err, tc.wantErr)
			}
			if ve.HTTPStatus != tc.status || ve.Code != tc.wantCode || ve.Reason != tc.wantReason || ve.RetryAfter != tc.wantRetry || ve.Op != "POST "+srv.URL {
				t.Errorf("vendor error %+v, want status %d code %d reason %q retry %s", ve, tc.status, tc.wantCode, tc.wantReason, tc.wantRetry)
			}
		})
	}
}
