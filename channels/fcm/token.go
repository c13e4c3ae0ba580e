package fcm

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// maxRefreshMargin is how long before expiry an access token is replaced
// at the latest; shorter-lived tokens are replaced after 90% of their life.
const maxRefreshMargin = 5 * time.Minute

// SignAssertion returns the RS256-signed JWT that the service account
// clientEmail presents to tokenURI at time now to obtain an access token
// for Scope, valid for MaxAssertionLifetime. keyID, if set, is sent as
// "kid".
func SignAssertion(key *rsa.PrivateKey, keyID, clientEmail, tokenURI string, now time.Time) (string, error) {
	header := map[string]string{"alg": "RS256", "typ": "JWT"}
	if keyID != "" {
		header["kid"] = keyID
	}
	claims := map[string]any{
		"iss":   clientEmail,
		"scope": Scope,
		"aud":   tokenURI,
		"iat":   now.Unix(),
		"exp":   now.Add(MaxAssertionLifetime).Unix(),
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("encoding jwt header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding jwt claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing jwt: %w", err)
	}
	return signed + "." + enc.EncodeToString(sig), nil
}

// tokenSource obtains and caches the OAuth 2.0 access token of one service
// account. Safe for concurrent use: callers that need a token while one is
// being fetched wait for that fetch (one fetch at a time), each returning
// when its own ctx is done.
type tokenSource struct {
	app      App
	key      *rsa.PrivateKey
	tokenURI string
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
// (permanent when the token endpoint refused the credentials, transient
// otherwise) or the ctx error wrapped in a transient *channels.VendorError.
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
		return "", &channels.VendorError{Channel: Name, Op: "POST " + ts.tokenURI, Transient: true, Cause: ctx.Err()}
	}
}

// invalidate forgets tok if it is the cached token (the vendor refused
// it), so that the next Token call fetches a new one.
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
	tok, lifetime, err := ts.request(ctx, issued)
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

// tokenAnswer is the token endpoint's JSON answer (success or error).
type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int64  `json:"expires_in"`
	TokenType        string `json:"token_type"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// request makes one token request.
func (ts *tokenSource) request(ctx context.Context, now time.Time) (string, time.Duration, error) {
	vendorErr := func(status int, reason string, transient bool, cause error) *channels.VendorError {
		return &channels.VendorError{Channel: Name, Op: "POST " + ts.tokenURI, HTTPStatus: status,
			Reason: reason, Transient: transient, Cause: cause}
	}
	assertion, err := SignAssertion(ts.key, ts.app.PrivateKeyID, ts.app.ClientEmail, ts.tokenURI, now)
	if err != nil {
		return "", 0, vendorErr(0, "", false, err)
	}
	form := url.Values{"grant_type": {GrantType}, "assertion": {assertion}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.tokenURI, strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, vendorErr(0, "", false, fmt.Errorf("building token request: %w", err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := ts.client.Do(req)
	if err != nil {
		return "", 0, vendorErr(0, "", true, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return "", 0, vendorErr(resp.StatusCode, "", true, fmt.Errorf("reading token answer: %w", err))
	}
	var a tokenAnswer
	decodeErr := json.Unmarshal(bytes.TrimSpace(raw), &a)
	reason := strings.Trim(a.Error+": "+a.ErrorDescription, ": ")
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		ve := vendorErr(resp.StatusCode, reason, true, nil)
		ve.RetryAfter = channels.ParseRetryAfter(resp.Header.Get("Retry-After"), ts.now())
		return "", 0, ve
	case resp.StatusCode/100 != 2:
		// invalid_grant (bad signature, unknown key, clock skew),
		// invalid_client, unauthorized_client...: the credentials are
		// refused.
		return "", 0, vendorErr(resp.StatusCode, reason, false, nil)
	case decodeErr != nil:
		return "", 0, vendorErr(resp.StatusCode, "", true, fmt.Errorf("decoding token answer: %w", decodeErr))
	case a.AccessToken == "":
		return "", 0, vendorErr(resp.StatusCode, "token answer without access_token "+reason, false, nil)
	}
	return a.AccessToken, time.Duration(max(a.ExpiresIn, 0)) * time.Second, nil
}
