package receipts

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// How a receipt request proves who sent it. Every endpoint names the app
// whose receipts it carries in the query parameter AppParam
// (/receipts/<vendor>?app=<appId>), part of the receipt address
// configured at the vendor (or sent in the call, for MiPush, OPPO and
// vivo); the proof depends on what the vendor offers:
//
//   - hms, harmonyos: Huawei signs every receipt with the callback user
//     name and key of the app's receipt configuration in AppGallery
//     Connect, in the header HeaderHuaweiCallbackID:
//     "timestamp=<ms>;nonce=<uuid>;value=<base64 HMAC-SHA256(key,
//     timestamp+nonce+user)>" (HuaweiCallbackID). The worker checks the
//     value, that the timestamp is within SignatureWindow of its clock,
//     and that the nonce was not used before (a replayed header is
//     refused, whatever body it comes with).
//   - honor: the app's receipt address carries a secret token,
//     ?app=<appId>&token=<token> (TokenParam), compared in constant time.
//   - mipush, oppo, vivo: these vendors echo the callback parameter the
//     call carried. Channels send "<correlation>.<tag>" where the tag is
//     schema.IDKey.ReceiptTag of the vendor, the app and the correlation
//     value; every item of a receipt must carry a valid tag, or the whole
//     request is refused.
//   - client (the app SDK): the body is signed with the app's client key,
//     HeaderClientTimestamp (Unix ms) and HeaderClientSignature =
//     base64(HMAC-SHA256(clientKey, appId + "\n" + timestamp + "\n" +
//     body)) (ClientSignature), the timestamp within SignatureWindow.
//     A replayed batch writes the same event ids again, which changes no
//     statistic.
//
// Optionally, Config.AllowedSources limits each endpoint to source
// addresses. A request that fails is answered 401 (403 for a source not
// allowed) in the vendor's error form, counted in
// pushpipe_receipts_auth_refused_total{vendor,reason}, and writes nothing.
const (
	// AppParam is the query parameter naming the app of a receipt request.
	AppParam = "app"
	// TokenParam is the query parameter carrying an Honor app's receipt
	// token.
	TokenParam = "token"
	// HeaderHuaweiCallbackID is the header of Huawei's receipt signature.
	HeaderHuaweiCallbackID = "X-HUAWEI-CALLBACK-ID"
	// HeaderClientTimestamp and HeaderClientSignature sign client events.
	HeaderClientTimestamp = "X-Pushpipe-Timestamp"
	HeaderClientSignature = "X-Pushpipe-Signature"
)

// DefaultSignatureWindow is how far a signature's timestamp may be from
// the worker's clock, either way.
const DefaultSignatureWindow = 5 * time.Minute

// DefaultNonceCacheSize bounds the Huawei nonces remembered.
const DefaultNonceCacheSize = 100_000

// maxAppIDLen bounds the app id of a receipt request.
const maxAppIDLen = 128

// HuaweiCallback is the callback user name and key of an app's receipt
// configuration in AppGallery Connect (Huawei Push Kit or HarmonyOS Push
// Kit).
type HuaweiCallback struct {
	User string          `json:"user" yaml:"user"`
	Key  channels.Secret `json:"key" yaml:"key"`
}

// set reports whether both the user name and the key are given.
func (h HuaweiCallback) set() bool { return h.User != "" && h.Key != "" }

// AppCredentials are what the receipts of one app are checked with. A
// vendor whose credentials are empty has every receipt of the app
// refused (reason no_credentials); MiPush, OPPO and vivo need none (their
// tags come from the IDKey).
type AppCredentials struct {
	// Huawei holds the app's receipt configuration of each vendor whose
	// receipts Huawei signs (channels.ReceiptFormat.SignedByHuawei: Huawei
	// and HarmonyOS Push Kit), by vendor name; a vendor without one takes
	// no receipts of the app.
	Huawei map[string]HuaweiCallback
	// HonorToken is the token the app's Honor receipt address carries.
	HonorToken channels.Secret
	// ClientKey is the key the app SDK signs client events with.
	ClientKey channels.Secret
}

// HuaweiCallbackID returns the X-HUAWEI-CALLBACK-ID header value Huawei
// sends with a receipt of the configuration (user, key), at ts with
// nonce: "timestamp=<ms>;nonce=<nonce>;value=<base64 HMAC-SHA256(key,
// timestamp+nonce+user)>".
func HuaweiCallbackID(user string, key channels.Secret, ts time.Time, nonce string) string {
	t := strconv.FormatInt(ts.UnixMilli(), 10)
	return "timestamp=" + t + ";nonce=" + nonce + ";value=" + huaweiValue(user, key, t, nonce)
}

func huaweiValue(user string, key channels.Secret, timestamp, nonce string) string {
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	m.Write([]byte(timestamp + nonce + user))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// ClientSignature returns the HeaderClientSignature of a client events
// body of app appID signed with key at ts (whose HeaderClientTimestamp is
// ts in Unix milliseconds): base64(HMAC-SHA256(key, appID + "\n" +
// timestamp + "\n" + body)).
func ClientSignature(appID string, key channels.Secret, ts time.Time, body []byte) string {
	return clientSignature(appID, key, strconv.FormatInt(ts.UnixMilli(), 10), body)
}

func clientSignature(appID string, key channels.Secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	m.Write([]byte(appID + "\n" + timestamp + "\n"))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// authError is a request that failed authentication: status 401 or 403,
// reason the metric label.
type authError struct {
	status int
	reason string
	detail string
}

func (e *authError) Error() string { return e.detail }

func unauthenticated(reason, format string, args ...any) *authError {
	return &authError{status: http.StatusUnauthorized, reason: reason, detail: fmt.Sprintf(format, args...)}
}

// appOf returns the app named by the request's query.
func appOf(r *http.Request, vendor string) (string, *authError) {
	app := r.URL.Query().Get(AppParam)
	switch {
	case app == "":
		return "", unauthenticated("no_app", "%s receipt address lacks ?%s=<appId>: configure the receipt address with the app id", vendor, AppParam)
	case len(app) > maxAppIDLen:
		return "", unauthenticated("unknown_app", "%s receipt: app id longer than %d bytes", vendor, maxAppIDLen)
	}
	return app, nil
}

// sourceAllowed reports whether the request's peer address is within one
// of prefixes (none: any address).
func sourceAllowed(r *http.Request, prefixes []netip.Prefix) bool {
	if len(prefixes) == 0 {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	ip = ip.Unmap()
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// parseCallbackID reads "timestamp=..;nonce=..;value=.." (spaces after the
// separators allowed).
func parseCallbackID(h string) (timestamp, nonce, value string, ok bool) {
	for part := range strings.SplitSeq(h, ";") {
		k, v, found := strings.Cut(strings.TrimSpace(part), "=")
		if !found {
			continue
		}
		switch k {
		case "timestamp":
			timestamp = v
		case "nonce":
			nonce = v
		case "value":
			value = v
		}
	}
	return timestamp, nonce, value, timestamp != "" && nonce != "" && value != "" && len(nonce) <= 128
}

// withinWindow reports whether the Unix-millisecond timestamp ts is within
// window of now.
func withinWindow(ts string, now time.Time, window time.Duration) bool {
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	d := now.Sub(time.UnixMilli(ms))
	return d <= window && d >= -window
}

// checkHuawei verifies X-HUAWEI-CALLBACK-ID against cb and reserves its
// nonce; the returned key is the reserved nonce.
func (s *Server) checkHuawei(r *http.Request, vendor, app string, cb HuaweiCallback) (string, *authError) {
	if !cb.set() {
		return "", unauthenticated("no_credentials", "%s receipts of app %s are not accepted: no callback user name and key are configured for it", vendor, app)
	}
	h := r.Header.Get(HeaderHuaweiCallbackID)
	if h == "" {
		return "", unauthenticated("no_signature", "%s receipt lacks the %s header", vendor, HeaderHuaweiCallbackID)
	}
	ts, nonce, value, ok := parseCallbackID(h)
	if !ok {
		return "", unauthenticated("bad_signature", "%s header is not timestamp=..;nonce=..;value=..", HeaderHuaweiCallbackID)
	}
	if !hmac.Equal([]byte(value), []byte(huaweiValue(cb.User, cb.Key, ts, nonce))) {
		return "", unauthenticated("bad_signature", "%s receipt signature does not match the callback key of app %s", vendor, app)
	}
	if !withinWindow(ts, s.cfg.Now(), s.cfg.SignatureWindow) {
		return "", unauthenticated("stale_timestamp", "%s receipt signed at %s ms, more than %s from now", vendor, ts, s.cfg.SignatureWindow)
	}
	key := vendor + "\x00" + app + "\x00" + nonce
	if !s.nonces.reserve(key, s.cfg.Now()) {
		return "", unauthenticated("replayed_nonce", "%s receipt nonce %q was used before", vendor, nonce)
	}
	return key, nil
}

// checkClient verifies the signature of a client events body.
func (s *Server) checkClient(r *http.Request, app string, creds AppCredentials, body []byte) *authError {
	if creds.ClientKey == "" {
		return unauthenticated("no_credentials", "client events of app %s are not accepted: no client key is configured for it", app)
	}
	ts, sig := r.Header.Get(HeaderClientTimestamp), r.Header.Get(HeaderClientSignature)
	if ts == "" || sig == "" {
		return unauthenticated("no_signature", "client events lack the %s and %s headers", HeaderClientTimestamp, HeaderClientSignature)
	}
	if !hmac.Equal([]byte(sig), []byte(clientSignature(app, creds.ClientKey, ts, body))) {
		return unauthenticated("bad_signature", "client events signature does not match the client key of app %s", app)
	}
	if !withinWindow(ts, s.cfg.Now(), s.cfg.SignatureWindow) {
		return unauthenticated("stale_timestamp", "client events signed at %s ms, more than %s from now", ts, s.cfg.SignatureWindow)
	}
	return nil
}

// checkToken verifies the receipt token of the request's query.
func checkToken(r *http.Request, vendor, app string, token channels.Secret) *authError {
	if token == "" {
		return unauthenticated("no_credentials", "%s receipts of app %s are not accepted: no receipt token is configured for it", vendor, app)
	}
	got := r.URL.Query().Get(TokenParam)
	if got == "" {
		return unauthenticated("no_signature", "%s receipt address lacks ?%s=<receipt token>", vendor, TokenParam)
	}
	if !hmac.Equal([]byte(got), []byte(token.Reveal())) {
		return unauthenticated("bad_token", "%s receipt token does not match the one of app %s", vendor, app)
	}
	return nil
}

// tagVerifier returns the function that checks and strips the tag of a
// callback parameter of vendor for app (see schema.IDKey.ReceiptParam).
func tagVerifier(k schema.IDKey, vendor, app string) func(string) (string, bool) {
	return func(param string) (string, bool) { return k.VerifyReceiptParam(vendor, app, param) }
}

// nonceCache remembers the Huawei nonces used within twice the signature
// window, at most size of them (the oldest are forgotten first). It is
// safe for concurrent use.
type nonceCache struct {
	mu    sync.Mutex
	ttl   time.Duration
	size  int
	seen  map[string]time.Time
	order []string // insertion order, for expiry
	head  int
}

func newNonceCache(ttl time.Duration, size int) *nonceCache {
	return &nonceCache{ttl: ttl, size: size, seen: map[string]time.Time{}}
}

// reserve records key and reports whether it was new.
func (c *nonceCache) reserve(key string, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evict(func(t time.Time) bool { return now.Sub(t) >= c.ttl })
	if _, ok := c.seen[key]; ok {
		return false
	}
	if len(c.seen) >= c.size {
		n := len(c.seen) - c.size + 1
		c.evict(func(time.Time) bool { n--; return n >= 0 })
	}
	c.seen[key] = now
	c.order = append(c.order, key)
	return true
}

// evict forgets the oldest nonces while old says so. The caller holds
// c.mu.
func (c *nonceCache) evict(old func(time.Time) bool) {
	for c.head < len(c.order) {
		k := c.order[c.head]
		if t, ok := c.seen[k]; ok {
			if !old(t) {
				break
			}
			delete(c.seen, k)
		}
		c.order[c.head] = ""
		c.head++
	}
	if c.head > len(c.order)/2 {
		c.order = append([]string(nil), c.order[c.head:]...)
		c.head = 0
	}
}

// release forgets key, so that a receipt that was not stored (the vendor
// will send it again) can come back with the same nonce.
func (c *nonceCache) release(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.seen, key)
}
