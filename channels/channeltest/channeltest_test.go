package channeltest_test

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/channeltest"
)

// recorder is a testing.TB that records failures instead of reporting
// them; Fatalf ends the calling goroutine as testing.T's does.
type recorder struct {
	testing.TB
	failed, stopped bool
}

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(string, ...any)     { r.failed = true }
func (r *recorder) Fatalf(f string, a ...any) { r.failed, r.stopped = true, true; runtime.Goexit() }

// run calls check with a recorder in a goroutine of its own, so that
// Fatalf can end it.
func run(check func(tb testing.TB)) *recorder {
	r := &recorder{}
	var wg sync.WaitGroup
	wg.Go(func() { check(r) })
	wg.Wait()
	return r
}

func TestWantCallError(t *testing.T) {
	ve := &channels.VendorError{Channel: "stub", Op: "POST /x", Code: 7, RetryAfter: time.Second, Transient: true, Reason: "key sec-1 refused"}
	tests := []struct {
		scenario             string
		err                  error
		secret               string
		wantFailed, wantStop bool
	}{
		{scenario: "matching error", err: fmt.Errorf("sending: %w", ve)},
		{scenario: "no error", err: nil, wantFailed: true, wantStop: true},
		{scenario: "other class", err: channels.ErrPermanent, wantFailed: true, wantStop: true},
		{scenario: "no VendorError", err: fmt.Errorf("x: %w", channels.ErrTransient), wantFailed: true, wantStop: true},
		{scenario: "error shows the secret", err: ve, secret: "sec-1", wantFailed: true},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			r := run(func(tb testing.TB) {
				_ = channeltest.WantCallError(tb, tc.err, channels.ErrTransient, 7, time.Second, tc.secret)
			})
			if r.failed != tc.wantFailed || r.stopped != tc.wantStop {
				t.Errorf("failed %t stopped %t, want %t and %t", r.failed, r.stopped, tc.wantFailed, tc.wantStop)
			}
		})
	}
}

func TestWantRefused(t *testing.T) {
	refused := []channels.Result{{Outcome: channels.Permanent, StatusCode: 5, StatusDesc: "Bad"}}
	tests := []struct {
		scenario             string
		res                  []channels.Result
		err                  error
		calls                int
		wantFailed, wantStop bool
	}{
		{scenario: "refused without a call", res: refused},
		{scenario: "Send failed", err: channels.ErrTransient, wantFailed: true, wantStop: true},
		{scenario: "a call was made", res: refused, calls: 1, wantFailed: true},
		{scenario: "no description", res: []channels.Result{{Outcome: channels.Permanent, StatusCode: 5}}, wantFailed: true},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			r := run(func(tb testing.TB) { channeltest.WantRefused(tb, tc.res, tc.err, channels.Permanent, 5, tc.calls) })
			if r.failed != tc.wantFailed || r.stopped != tc.wantStop {
				t.Errorf("failed %t stopped %t, want %t and %t", r.failed, r.stopped, tc.wantFailed, tc.wantStop)
			}
		})
	}
}
