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
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

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

// tokenRequest makes the OAuth 2.0 access token request of one service
// account (a signed JWT assertion); a channels.TokenSource caches what it
// returns.
type tokenRequest struct {
	app      App
	key      *rsa.PrivateKey
	tokenURI string
	client   *http.Client
	now      func() time.Time
}

// fetch is the channels.TokenSource Fetch of the service account.
func (ts *tokenRequest) fetch(ctx context.Context) (string, time.Duration, error) {
	return ts.request(ctx, ts.now())
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
func (ts *tokenRequest) request(ctx context.Context, now time.Time) (string, time.Duration, error) {
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
	defer func() { _ = resp.Body.Close() }()
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
