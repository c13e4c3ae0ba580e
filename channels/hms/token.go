package hms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// maxRefreshMargin is how long before expiry an access token is replaced
// at the latest; shorter-lived tokens are replaced after 90% of their life.
const maxRefreshMargin = 5 * time.Minute

// tokenSource obtains and caches the app-level access token of one app
// (OAuth 2.0 client credentials). Safe for concurrent use: callers that
// need a token while one is being fetched wait for that fetch (one fetch at
// a time), each returning when its own ctx is done.
type tokenSource struct {
	tokenURL string
	app      App
	client   *http.Client
	timeout  time.Duration
	now      func() time.Time

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	inflight  *tokenFetch
}

// tokenFetch is one token request that several callers may wait for.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

// Token returns a valid access token, fetching one if none is cached or the
// cached one is about to expire. Errors are *channels.VendorError
// (permanent when the credentials are refused, transient otherwise); a
// done ctx gives a transient *channels.VendorError wrapping ctx.Err().
func (ts *tokenSource) Token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	if ts.token != "" && ts.now().Before(ts.refreshAt) {
		tok := ts.token
		ts.mu.Unlock()
		return tok, nil
	}
	f := ts.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		ts.inflight = f
		// The fetch outlives the caller that started it, so that callers
		// still waiting get its result; it is bounded by the timeout.
		go ts.fetch(context.WithoutCancel(ctx), f)
	}
	ts.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", &channels.VendorError{Channel: Name, Op: "POST " + ts.tokenURL, Transient: true, Cause: ctx.Err()}
	}
}

// invalidate forgets tok if it is the cached token (Push Kit refused it),
// so that the next Token call fetches a new one.
func (ts *tokenSource) invalidate(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == tok {
		ts.token = ""
	}
}

func (ts *tokenSource) fetch(ctx context.Context, f *tokenFetch) {
	ctx, cancel := context.WithTimeout(ctx, ts.timeout)
	defer cancel()
	issued := ts.now()
	tok, lifetime, err := ts.request(ctx)
	ts.mu.Lock()
	if err == nil {
		ts.token = tok
		margin := min(lifetime/10, maxRefreshMargin)
		ts.refreshAt = issued.Add(lifetime - margin)
	}
	ts.inflight = nil
	ts.mu.Unlock()
	f.token, f.err = tok, err
	close(f.done)
}

// tokenAnswer is the OAuth server's answer: a token, or an error with a
// numeric "error" and "sub_error".
type tokenAnswer struct {
	AccessToken      string          `json:"access_token"`
	ExpiresIn        int64           `json:"expires_in"`
	TokenType        string          `json:"token_type"`
	Error            json.RawMessage `json:"error"`
	SubError         json.RawMessage `json:"sub_error"`
	ErrorDescription string          `json:"error_description"`
}

// request makes one token request.
func (ts *tokenSource) request(ctx context.Context) (string, time.Duration, error) {
	vendorErr := func(status, code int, reason string, transient bool, cause error) *channels.VendorError {
		return &channels.VendorError{Channel: Name, Op: "POST " + ts.tokenURL, HTTPStatus: status, Code: code,
			Reason: reason, Transient: transient, Cause: cause}
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {ts.app.AppID},
		"client_secret": {ts.app.AppSecret.Reveal()},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, vendorErr(0, 0, "", false, fmt.Errorf("building token request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("Accept", "application/json")
	resp, err := ts.client.Do(req)
	if err != nil {
		return "", 0, vendorErr(0, 0, "", true, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return "", 0, vendorErr(resp.StatusCode, 0, "", true, fmt.Errorf("reading token answer: %w", err))
	}
	var a tokenAnswer
	decodeErr := json.Unmarshal(bytes.TrimSpace(raw), &a)
	code, _ := strconv.Atoi(strings.Trim(string(a.Error), `"`))
	reason := a.ErrorDescription
	if len(a.SubError) > 0 {
		reason = strings.TrimSpace(reason + " (sub_error " + strings.Trim(string(a.SubError), `"`) + ")")
	}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		ve := vendorErr(resp.StatusCode, code, reason, true, nil)
		ve.RetryAfter = channels.ParseRetryAfter(resp.Header.Get("Retry-After"), ts.now())
		return "", 0, ve
	case resp.StatusCode/100 != 2:
		// Wrong App ID or App Secret, or a malformed request: the
		// credentials are refused.
		return "", 0, vendorErr(resp.StatusCode, code, reason, false, nil)
	case decodeErr != nil:
		return "", 0, vendorErr(resp.StatusCode, 0, "", true, fmt.Errorf("decoding token answer: %w", decodeErr))
	case a.AccessToken == "":
		return "", 0, vendorErr(resp.StatusCode, code, "token answer without access_token: "+reason, false, nil)
	}
	return a.AccessToken, time.Duration(max(a.ExpiresIn, 0)) * time.Second, nil
}
