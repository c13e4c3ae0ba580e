// Package simkit holds the small helpers several simulated vendors share:
// matching tokens against configured lists, reading bounded bodies and
// forms, the store of access tokens a vendor issued, the flattened form
// view of a JSON body, and the answer shape of the Push Kit family
// (Huawei, HarmonyOS). The simulator's core (channels/vendorsim) does not
// import it.
package simkit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

// Matches reports whether token starts with one of prefixes (empty
// prefixes never match) or is one of tokens.
func Matches(token string, prefixes, tokens []string) bool {
	for _, p := range prefixes {
		if p != "" && strings.HasPrefix(token, p) {
			return true
		}
	}
	return slices.Contains(tokens, token)
}

// ReadBody reads a request body of at most limit bytes; past it the error
// is an *http.MaxBytesError (see TooBig) and the body read so far is
// returned.
func ReadBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
}

// ReadForm parses the form body of a request of at most limit bytes and
// returns its fields (empty, never nil, when there are none) and the
// parse error (an *http.MaxBytesError past the limit).
func ReadForm(w http.ResponseWriter, r *http.Request, limit int64) (url.Values, error) {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	err := r.ParseForm()
	if r.PostForm == nil {
		return url.Values{}, err
	}
	return r.PostForm, err
}

// TooBig reports whether err comes from a body over its limit.
func TooBig(err error) bool {
	var tooBig *http.MaxBytesError
	return errors.As(err, &tooBig)
}

// IsHTTPURL reports whether raw is an absolute http or https URL with a
// host.
func IsHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// AbsDuration is |d|.
func AbsDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

// Flatten records a decoded JSON value (decoded with UseNumber) as form
// values: nested object keys are joined with dots, array elements repeat
// their key, scalars are written as JSON text (strings unquoted). The
// recorded Request.Form of FCM and Huawei sends is this view of the body.
func Flatten(prefix string, v any, out url.Values) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			Flatten(key, x, out)
		}
	case []any:
		for _, x := range t {
			Flatten(prefix, x, out)
		}
	case string:
		out.Add(prefix, t)
	case json.Number:
		out.Add(prefix, t.String())
	case bool:
		out.Add(prefix, strconv.FormatBool(t))
	case nil:
		out.Add(prefix, "")
	}
}

// TokenState is what an access token presented to a vendor endpoint is.
type TokenState int

// The states of a presented access token.
const (
	TokenMissing TokenState = iota // none presented
	TokenUnknown                   // never issued (or forgotten)
	TokenExpired                   // issued, past its expiry
	TokenValid                     // issued and not expired
)

// TokenStore remembers the access tokens a simulated vendor issued, with
// the app and the expiry of each. The zero value is not usable; use
// NewTokenStore. Safe for concurrent use.
type TokenStore struct {
	mu      sync.Mutex
	byToken map[string]issued
}

type issued struct {
	appID   string
	expires time.Time
}

// NewTokenStore returns an empty store.
func NewTokenStore() *TokenStore { return &TokenStore{byToken: map[string]issued{}} }

// Issue records tok for appID until expires, forgetting tokens expired
// for a day or more at now.
func (t *TokenStore) Issue(tok, appID string, expires, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.byToken {
		if now.Sub(v.expires) > 24*time.Hour {
			delete(t.byToken, k)
		}
	}
	t.byToken[tok] = issued{appID: appID, expires: expires}
}

// Lookup returns the app of tok (also of an expired one) and its state at
// now.
func (t *TokenStore) Lookup(tok string, now time.Time) (string, TokenState) {
	if tok == "" {
		return "", TokenMissing
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	it, ok := t.byToken[tok]
	switch {
	case !ok:
		return "", TokenUnknown
	case !now.Before(it.expires):
		return it.appID, TokenExpired
	}
	return it.appID, TokenValid
}

// ExpireAll makes every token issued so far expired now (Lookup reports
// them expired, not unknown, for a day).
func (t *TokenStore) ExpireAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	for k, v := range t.byToken {
		if v.expires.After(now) {
			v.expires = now
			t.byToken[k] = v
		}
	}
}

// BearerToken is the body of an OAuth 2.0 token answer: access_token,
// expires_in (whole seconds of lifetime) and token_type "Bearer".
func BearerToken(tok string, lifetime time.Duration) map[string]any {
	return map[string]any{"access_token": tok, "expires_in": int64(lifetime / time.Second), "token_type": "Bearer"}
}

// PushKitSuccess is the "code" of a success answer of Huawei Push Kit and
// HarmonyOS Push Kit.
const PushKitSuccess = "80000000"

// PushKitAnswer is an answer of Huawei Push Kit or HarmonyOS Push Kit,
// {"code","msg","requestId"} with a new request id of s, recording code
// as a number (0 for PushKitSuccess).
func PushKitAnswer(s *vendorsim.Simulator, status int, code, msg string) vendorsim.Answer {
	n, _ := s.NextID()
	a := vendorsim.JSON(status, map[string]string{
		"code": code, "msg": msg, "requestId": fmt.Sprintf("%013d%011d", time.Now().UnixMilli(), n),
	})
	if code != PushKitSuccess {
		a.Code, _ = strconv.Atoi(code)
	}
	return a
}
