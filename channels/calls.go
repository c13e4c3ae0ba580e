package channels

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ParseRetryAfter reads a Retry-After header value (delay seconds or an
// HTTP date) as a delay from now; 0 when absent, unparseable or past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Settle fills results[i] for every i in idx with the outcome of a failed
// vendor call: Transient when err Is ErrTransient, else Permanent, with
// the vendor's code and Retry-After when err is a *VendorError.
func Settle(results []Result, idx []int, err error) {
	r := Result{Outcome: Permanent, StatusCode: StatusNone, StatusDesc: err.Error()}
	var ve *VendorError
	if errors.As(err, &ve) {
		if ve.Code != 0 {
			r.StatusCode = ve.Code
		}
		r.RetryAfter = ve.RetryAfter
	}
	if errors.Is(err, ErrTransient) {
		r.Outcome = Transient
	}
	for _, i := range idx {
		results[i] = r
	}
}

// WholeCallError decides whether a Send that made several vendor calls
// failed as a whole: it returns the first call error when every call
// failed (errs[i] != nil for all i), the calls covered all total messages
// (size(i) messages each) and all failures are of the same class;
// otherwise nil, and the failures are reported per message.
func WholeCallError(errs []error, size func(i int) int, total int) error {
	var first error
	covered := 0
	for i, err := range errs {
		if err == nil {
			return nil
		}
		if first == nil {
			first = err
		} else if errors.Is(err, ErrTransient) != errors.Is(first, ErrTransient) {
			return nil
		}
		covered += size(i)
	}
	if first == nil || covered != total {
		return nil
	}
	return first
}
