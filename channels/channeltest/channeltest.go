// Package channeltest holds the assertions the tests of the vendor channel
// packages share about what Channel.Send answered. It is imported by tests
// only.
package channeltest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// WantCallError fails t unless err is a whole-call error of class
// (channels.ErrTransient or channels.ErrPermanent) carrying a
// *channels.VendorError with the vendor code code and the retry delay
// retry, whose text does not show secret ("" skips that check). It stops
// the test when err is not of class or has no *channels.VendorError, and
// otherwise returns that VendorError for further checks.
func WantCallError(t testing.TB, err, class error, code int, retry time.Duration, secret string) *channels.VendorError {
	t.Helper()
	if err == nil || !errors.Is(err, class) {
		t.Fatalf("err = %v, want class %v", err, class)
	}
	var ve *channels.VendorError
	if !errors.As(err, &ve) {
		t.Fatalf("err %v has no *VendorError", err)
	}
	if ve.Code != code {
		t.Errorf("vendor error %+v, want code %d", ve, code)
	}
	if got := channels.RetryAfterOf(err); got != retry {
		t.Errorf("RetryAfter %s, want %s", got, retry)
	}
	if secret != "" && strings.Contains(err.Error(), secret) {
		t.Errorf("error leaks the secret: %v", err)
	}
	return ve
}

// WantRefused fails t unless a Send of one message refused it without a
// vendor call: no error, a result with outcome, status code code and a
// description, and calls (the vendor calls the test observed) zero. It
// stops the test on an error.
func WantRefused(t testing.TB, res []channels.Result, err error, outcome channels.Outcome, code, calls int) {
	t.Helper()
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res[0].Outcome != outcome || res[0].StatusCode != code || res[0].StatusDesc == "" {
		t.Errorf("result %+v, want %s/%d with a description", res[0], outcome, code)
	}
	if calls != 0 {
		t.Errorf("%d requests, want none", calls)
	}
}
