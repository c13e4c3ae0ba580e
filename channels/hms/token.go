package hms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/internal/pushkit"
)

// tokenRequest makes the app-level access token request of one app
// (OAuth 2.0 client credentials); a channels.TokenSource caches what it
// returns.
type tokenRequest struct {
	tokenURL string
	app      App
	client   *http.Client
	now      func() time.Time
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

// request makes one token request, returning the token and its lifetime
// or a *channels.VendorError (permanent when the credentials are refused).
func (ts *tokenRequest) request(ctx context.Context) (string, time.Duration, error) {
	vendorErr := func(status, code int, reason string, transient bool, cause error) *channels.VendorError {
		return &channels.VendorError{Channel: Name, Op: "POST " + ts.tokenURL, HTTPStatus: status, Code: code,
			Reason: reason, Transient: transient, Cause: cause}
	}
	form := url.Values{
		"grant_type":    {"client_credentials"},
		"client_id":     {ts.app.AppID},
		"client_secret": {ts.app.AppSecret.Reveal()},
	}
	rep, err := channels.Post(ctx, ts.client, channels.PostRequest{
		Channel: Name, URL: ts.tokenURL, Body: []byte(form.Encode()), MaxAnswerBytes: pushkit.MaxAnswerBytes, Purpose: "token", Now: ts.now,
		Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded;charset=utf-8"}, "Accept": {"application/json"}},
	})
	if err != nil {
		return "", 0, err
	}
	var a tokenAnswer
	decodeErr := json.Unmarshal(bytes.TrimSpace(rep.Body), &a)
	code, _ := strconv.Atoi(strings.Trim(string(a.Error), `"`))
	reason := a.ErrorDescription
	if len(a.SubError) > 0 {
		reason = strings.TrimSpace(reason + " (sub_error " + strings.Trim(string(a.SubError), `"`) + ")")
	}
	switch st := rep.Status; {
	case st == http.StatusTooManyRequests || st >= 500:
		ve := vendorErr(st, code, reason, true, nil)
		ve.RetryAfter = rep.RetryAfter
		return "", 0, ve
	case st/100 != 2:
		// Wrong App ID or App Secret, or a malformed request: the
		// credentials are refused.
		return "", 0, vendorErr(st, code, reason, false, nil)
	case decodeErr != nil:
		return "", 0, vendorErr(st, 0, "", true, fmt.Errorf("decoding token answer: %w", decodeErr))
	case a.AccessToken == "":
		return "", 0, vendorErr(st, code, "token answer without access_token: "+reason, false, nil)
	}
	return a.AccessToken, time.Duration(max(a.ExpiresIn, 0)) * time.Second, nil
}
