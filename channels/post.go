package channels

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// PostRequest is one POST to a vendor API, as Post makes it.
type PostRequest struct {
	// Channel names the vendor in the *VendorError of a failed call.
	Channel string
	// URL is where the request goes; the VendorError's Op is
	// "POST " + URL.
	URL string
	// Body is the request body, sent as is.
	Body []byte
	// Header holds the request headers (Content-Type, Accept,
	// credentials...); Post does not change it.
	Header http.Header
	// Timeout bounds the call, reading the answer included; zero leaves
	// the bound to ctx.
	Timeout time.Duration
	// MaxAnswerBytes is how much of the answer is read at most; the rest
	// is dropped.
	MaxAnswerBytes int64
	// Purpose, if set, names the kind of request in the causes of errors:
	// "token" gives "building token request" and "reading token answer"
	// instead of "building request" and "reading answer".
	Purpose string
	// Now is the clock Reply.RetryAfter is computed with; nil means
	// time.Now.
	Now func() time.Time
}

// Reply is the HTTP answer of a vendor to a PostRequest, read whole (up to
// MaxAnswerBytes).
type Reply struct {
	// Status is the HTTP status code.
	Status int
	// Header is the answer's header.
	Header http.Header
	// Body is the answer's body.
	Body []byte
	// RetryAfter is the delay the Retry-After header asks for, zero if
	// none (see ParseRetryAfter).
	RetryAfter time.Duration

	channel, url string
}

// Post makes one POST and reads the whole answer, whatever its status. It
// fails only when no answer was read, with a *VendorError for "POST " +
// r.URL: permanent when the request cannot be built, transient when the
// request or the reading of the answer failed (network error, timeout, ctx
// done; ctx's error is the Cause then). Safe for concurrent use as far as
// client is.
func Post(ctx context.Context, client *http.Client, r PostRequest) (Reply, error) {
	rep := Reply{channel: r.Channel, url: r.URL}
	request, answer := "request", "answer"
	if r.Purpose != "" {
		request, answer = r.Purpose+" request", r.Purpose+" answer"
	}
	if r.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return Reply{}, rep.Err(0, 0, "", false, fmt.Errorf("building %s: %w", request, err))
	}
	for k, v := range r.Header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		return Reply{}, rep.Err(0, 0, "", true, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, r.MaxAnswerBytes))
	if err != nil {
		return Reply{}, rep.Err(resp.StatusCode, 0, "", true, fmt.Errorf("reading %s: %w", answer, err))
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	rep.Status, rep.Header, rep.Body = resp.StatusCode, resp.Header, raw
	rep.RetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), now())
	return rep, nil
}

// Err returns a *VendorError about the call rep answers (Channel and Op
// "POST " + URL of its request) with the given fields. It does not set
// RetryAfter.
func (rep Reply) Err(httpStatus, code int, reason string, transient bool, cause error) *VendorError {
	return &VendorError{Channel: rep.channel, Op: "POST " + rep.url, HTTPStatus: httpStatus, Code: code,
		Reason: reason, Transient: transient, Cause: cause}
}

// DecodeJSON decodes the body of rep (surrounding white space ignored)
// into answer, then judges the call by its HTTP status. A 429 or 5xx
// answer is a transient *VendorError with the status and RetryAfter and,
// when the body decoded, the code and reason describe reads from answer.
// A body that is not JSON is a *VendorError with the cause "decoding
// answer: ...": transient for a 2xx status (a garbled answer), permanent
// otherwise (a wrong endpoint or a refused request). Any other answer
// gives nil and is for the caller to read by its vendor code.
func (rep Reply) DecodeJSON(answer any, describe func() (code int, reason string)) error {
	decodeErr := json.Unmarshal(bytes.TrimSpace(rep.Body), answer)
	if rep.Status == http.StatusTooManyRequests || rep.Status >= 500 {
		ve := rep.Err(rep.Status, 0, "", true, nil)
		if decodeErr == nil {
			ve.Code, ve.Reason = describe()
		}
		ve.RetryAfter = rep.RetryAfter
		return ve
	}
	if decodeErr != nil {
		return rep.Err(rep.Status, 0, "", rep.Status/100 == 2, fmt.Errorf("decoding answer: %w", decodeErr))
	}
	return nil
}
