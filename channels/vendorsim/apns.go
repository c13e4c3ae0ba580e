package vendorsim

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// VendorAPNs is the vendor name of APNs (HTTP/2 over TLS, ES256 provider
// tokens).
const VendorAPNs = "apns"

// APNs behaviour the simulator reproduces (Apple's "Sending notification
// requests to APNs", "Establishing a token-based connection to APNs" and
// "Handling error responses from APNs").
const (
	// DefaultAPNsQuota is the simulated request rate per app and region.
	// Apple publishes no rate; APNs takes one device per request, so the
	// default is generous.
	DefaultAPNsQuota = 10_000.0
	// DefaultAPNsTLSAddr is where Server listens for TLS (HTTP/2).
	DefaultAPNsTLSAddr = "127.0.0.1:0"
	// DefaultAPNsUnregisteredTokenPrefix marks tokens answered 410
	// Unregistered.
	DefaultAPNsUnregisteredTokenPrefix = "gone-"
	// APNsMaxPayloadBytes is the limit of a notification's JSON payload;
	// APNsMaxVoIPPayloadBytes that of a VoIP notification.
	APNsMaxPayloadBytes     = 4096
	APNsMaxVoIPPayloadBytes = 5120
	// APNsProviderTokenMaxAge is how old (iat) a provider token may be.
	APNsProviderTokenMaxAge = time.Hour
	// APNsMinTokenUpdateInterval is the shortest interval between two
	// changes of provider token on one connection; a faster change is
	// answered 429 TooManyProviderTokenUpdates.
	APNsMinTokenUpdateInterval = 20 * time.Minute
	// APNsMaxCollapseIDBytes is the limit of apns-collapse-id.
	APNsMaxCollapseIDBytes = 64
	// apnsFutureSkew is how far in the future a token's iat may be.
	apnsFutureSkew = 10 * time.Minute
	// apnsMaxBodyBytes bounds how much of a request body is read.
	apnsMaxBodyBytes = 64 << 10
)

// APNs error reasons the simulator answers with. BadPayload (a body that
// is not a JSON object with an "aps" dictionary) is the simulator's own:
// Apple documents no reason for it.
const (
	APNsBadCollapseID               = "BadCollapseId"
	APNsBadDeviceToken              = "BadDeviceToken"
	APNsBadExpirationDate           = "BadExpirationDate"
	APNsBadMessageID                = "BadMessageId"
	APNsBadPayload                  = "BadPayload"
	APNsBadPriority                 = "BadPriority"
	APNsBadTopic                    = "BadTopic"
	APNsDeviceTokenNotForTopic      = "DeviceTokenNotForTopic"
	APNsDuplicateHeaders            = "DuplicateHeaders"
	APNsInvalidPushType             = "InvalidPushType"
	APNsMissingDeviceToken          = "MissingDeviceToken"
	APNsMissingTopic                = "MissingTopic"
	APNsPayloadEmpty                = "PayloadEmpty"
	APNsTopicDisallowed             = "TopicDisallowed"
	APNsExpiredProviderToken        = "ExpiredProviderToken"
	APNsInvalidProviderToken        = "InvalidProviderToken"
	APNsMissingProviderToken        = "MissingProviderToken"
	APNsBadPath                     = "BadPath"
	APNsMethodNotAllowed            = "MethodNotAllowed"
	APNsUnregistered                = "Unregistered"
	APNsPayloadTooLarge             = "PayloadTooLarge"
	APNsTooManyProviderTokenUpdates = "TooManyProviderTokenUpdates"
	APNsTooManyRequests             = "TooManyRequests"
	APNsInternalServerError         = "InternalServerError"
	APNsServiceUnavailable          = "ServiceUnavailable"
)

// APNsConfig configures the simulated APNs provider API. One simulator
// serves every region under its own prefix on the TLS listener: the base
// URL of region R is https://TLSADDR/apns/R (Server.APNsBaseURL), and a
// notification is posted to {base}/3/device/<token> over HTTP/2.
//
// The simulator checks the ES256 provider token (signature with the app's
// key, kid, iss, an iat at most an hour old), the topic (the bundle id, or
// for apns-push-type liveactivity the bundle id followed by
// APNsLiveActivityTopicSuffix), the apns-* headers and the payload (for a
// Live Activity push also its aps keys, see validLiveActivity), and answers with APNs' HTTP statuses and
// reasons; every answer to a notification request, accepted or refused,
// carries apns-id (the request's, else a new UUID). Requests are recorded with Request.Form holding "token", the
// apns-* headers sent and "payload" (the JSON body).
type APNsConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// TLSAddr is the loopback address of Server's TLS listener (which
	// serves every vendor's endpoints); default DefaultAPNsTLSAddr.
	TLSAddr string `json:"tlsAddr" yaml:"tlsAddr"`
	// Apps are the apps whose provider tokens and topics are accepted.
	Apps []APNsApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: device tokens starting with one of them are
	// answered 400 BadDeviceToken. Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are device tokens answered BadDeviceToken in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// UnregisteredTokenPrefixes: device tokens starting with one of them
	// are answered 410 Unregistered. Default
	// [DefaultAPNsUnregisteredTokenPrefix].
	UnregisteredTokenPrefixes []string `json:"unregisteredTokenPrefixes" yaml:"unregisteredTokenPrefixes"`
	// UnregisteredTokens are device tokens answered 410 in addition.
	UnregisteredTokens []string `json:"unregisteredTokens" yaml:"unregisteredTokens"`
	// QuotaPerSecond is the token-bucket rate of requests per app and
	// region for apps without their own; default DefaultAPNsQuota. Over
	// it, requests are answered 429 TooManyRequests.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	// QuotaBurst is the bucket size; default the rate rounded up.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
}

// APNsApp is one simulated app: a bundle id of a team, signed for with a
// key.
type APNsApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// TeamID is the expected "iss" of provider tokens.
	TeamID string `json:"teamId" yaml:"teamId"`
	// KeyID is the expected "kid" of provider tokens.
	KeyID string `json:"keyId" yaml:"keyId"`
	// BundleID is the topic (apns-topic) of the app.
	BundleID string `json:"bundleId" yaml:"bundleId"`
	// PublicKey is the PEM ("PUBLIC KEY") of the key that signs provider
	// tokens. If empty, it is derived from PrivateKey.
	PublicKey string `json:"publicKey" yaml:"publicKey"`
	// PrivateKey, for tests, is the PEM of the signing key (the .p8
	// content); only its public half is used.
	PrivateKey channels.Secret `json:"privateKey" yaml:"privateKey"`
	// QuotaPerSecond and QuotaBurst override the APNsConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its private key.
func (a APNsApp) String() string {
	return fmt.Sprintf("{appId=%s team=%s key=%s bundle=%s privateKey=%s quota=%g/%d}",
		a.AppID, a.TeamID, a.KeyID, a.BundleID, a.PrivateKey, a.QuotaPerSecond, a.QuotaBurst)
}

func (c APNsConfig) withDefaults() APNsConfig {
	if len(c.Regions) == 0 {
		c.Regions = Regions()
	} else {
		c.Regions = slices.Clone(c.Regions)
	}
	if c.TLSAddr == "" {
		c.TLSAddr = DefaultAPNsTLSAddr
	}
	c.Apps = slices.Clone(c.Apps)
	if c.InvalidTokenPrefixes == nil {
		c.InvalidTokenPrefixes = []string{DefaultInvalidTokenPrefix}
	} else {
		c.InvalidTokenPrefixes = slices.Clone(c.InvalidTokenPrefixes)
	}
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	if c.UnregisteredTokenPrefixes == nil {
		c.UnregisteredTokenPrefixes = []string{DefaultAPNsUnregisteredTokenPrefix}
	} else {
		c.UnregisteredTokenPrefixes = slices.Clone(c.UnregisteredTokenPrefixes)
	}
	c.UnregisteredTokens = slices.Clone(c.UnregisteredTokens)
	if c.QuotaPerSecond == 0 {
		c.QuotaPerSecond = DefaultAPNsQuota
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = burstFor(c.QuotaPerSecond)
	}
	return c
}

func (c APNsConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: apns: "+format, args...))
	}
	for _, r := range c.Regions {
		if !slices.Contains(Regions(), r) {
			bad("unknown region %q", r)
		}
	}
	if err := checkLoopback(c.TLSAddr); err != nil {
		bad("tlsAddr: %v", err)
	}
	ids, bundles := map[string]bool{}, map[string]bool{}
	type keyUse struct {
		app, team string
		pub       *ecdsa.PublicKey
	}
	keys := map[string]keyUse{}
	for i, a := range c.Apps {
		if a.AppID == "" {
			bad("app %d has no appId", i)
		}
		if ids[a.AppID] {
			bad("duplicate appId %q", a.AppID)
		}
		ids[a.AppID] = true
		if a.TeamID == "" || a.KeyID == "" || a.BundleID == "" {
			bad("app %q needs teamId, keyId and bundleId", a.AppID)
		}
		if bundles[a.BundleID] {
			bad("app %q: bundleId %q is another app's", a.AppID, a.BundleID)
		}
		bundles[a.BundleID] = true
		if a.QuotaPerSecond < 0 || a.QuotaBurst < 0 {
			bad("app %q has a negative quota", a.AppID)
		}
		pub, err := a.verifyKey()
		if err != nil {
			bad("app %q: %v", a.AppID, err)
			continue
		}
		if prev, ok := keys[a.KeyID]; ok {
			if prev.team != a.TeamID || !prev.pub.Equal(pub) {
				bad("apps %q and %q use keyId %s with a different teamId or key", prev.app, a.AppID, a.KeyID)
			}
			continue
		}
		keys[a.KeyID] = keyUse{a.AppID, a.TeamID, pub}
	}
	if c.QuotaPerSecond < 0 || c.QuotaBurst < 0 {
		bad("negative quota")
	}
	return errs
}

func (c APNsConfig) appCount() int { return len(c.Apps) }

// verifyKey returns the public key provider tokens of a are checked with.
func (a APNsApp) verifyKey() (*ecdsa.PublicKey, error) {
	if a.PublicKey != "" {
		block, _ := pem.Decode([]byte(a.PublicKey))
		if block == nil {
			return nil, errors.New("publicKey is not PEM")
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("publicKey: %w", err)
		}
		ec, ok := k.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, errors.New("publicKey is not an ECDSA P-256 key")
		}
		return ec, nil
	}
	if a.PrivateKey == "" {
		return nil, errors.New("needs publicKey or privateKey")
	}
	block, _ := pem.Decode([]byte(a.PrivateKey.Reveal()))
	if block == nil {
		return nil, errors.New("privateKey is not PEM")
	}
	var k any
	var err error
	if block.Type == "EC PRIVATE KEY" {
		k, err = x509.ParseECPrivateKey(block.Bytes)
	} else {
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, errors.New("privateKey is malformed")
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("privateKey is not an ECDSA P-256 key")
	}
	return &ec.PublicKey, nil
}

// APNsBaseURL returns the APNs base URL of region on this simulator's TLS
// listener (the client appends "/3/device/<token>").
func (s *Server) APNsBaseURL(region string) string { return s.TLSURL() + "/apns/" + region }

// apnsSim serves the APNs endpoints.
type apnsSim struct {
	s    *Simulator
	cfg  APNsConfig
	keys map[string]*ecdsa.PublicKey // by key id

	mu    sync.Mutex
	conns map[string]*apnsConnToken // by connection (remote address) and key id
	// signed holds provider tokens whose ES256 signature verified, so
	// that a token is verified once, not on every request (APNs caches a
	// provider token too: a provider reuses one for up to an hour). Its
	// claims are still checked on every request. At most
	// apnsSignedTokens entries; cleared when full.
	signed map[string]bool
}

// apnsSignedTokens bounds apnsSim.signed.
const apnsSignedTokens = 1024

// apnsConnToken is the provider token a connection uses for one key.
type apnsConnToken struct {
	iat       int64     // issue time of the token in use
	changedAt time.Time // last change of token; zero before the first change
	lastUse   time.Time
}

// newAPNsSim returns the simulated APNs.
func newAPNsSim(s *Simulator) simVendor {
	a := &apnsSim{s: s, cfg: s.cfg.APNs, keys: map[string]*ecdsa.PublicKey{}, conns: map[string]*apnsConnToken{}, signed: map[string]bool{}}
	for _, app := range a.cfg.Apps {
		if pub, err := app.verifyKey(); err == nil { // validate checked every key
			a.keys[app.KeyID] = pub
		}
	}
	return a
}

func (a *apnsSim) name() string { return VendorAPNs }

func (a *apnsSim) appIDs() []string {
	ids := make([]string, len(a.cfg.Apps))
	for i, app := range a.cfg.Apps {
		ids[i] = app.AppID
	}
	return ids
}

func (a *apnsSim) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /apns/{region}/3/device/{token}", a.handlePush)
	mux.HandleFunc("/apns/{region}/", a.handleOther)
}

func (a *apnsSim) serves(region string) bool { return slices.Contains(a.cfg.Regions, region) }

// writeAPNsError answers an APNs error: {"reason": ...} (and "timestamp"
// for 410).
func writeAPNsError(w http.ResponseWriter, status int, reason string, timestamp int64) string {
	body := struct {
		Reason    string `json:"reason"`
		Timestamp int64  `json:"timestamp,omitempty"`
	}{reason, timestamp}
	b, _ := json.Marshal(body)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
	return string(b)
}

// apnsReasonOf is the reason an injected failure answers with.
func apnsReasonOf(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return APNsServiceUnavailable
	case http.StatusTooManyRequests:
		return APNsTooManyRequests
	case http.StatusForbidden:
		return APNsInvalidProviderToken
	case http.StatusGone:
		return APNsUnregistered
	case http.StatusRequestEntityTooLarge:
		return APNsPayloadTooLarge
	case http.StatusNotFound:
		return APNsBadPath
	case http.StatusMethodNotAllowed:
		return APNsMethodNotAllowed
	case http.StatusBadRequest:
		return APNsBadDeviceToken
	}
	return APNsInternalServerError
}

// handleOther answers paths and methods the simulated APNs does not serve.
func (a *apnsSim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !a.serves(r.PathValue("region")) {
		http.NotFound(w, r)
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/apns/"+r.PathValue("region"))
	w.Header().Set("apns-id", a.answerID(r))
	switch {
	case strings.HasPrefix(rest, "/3/device/") && r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		writeAPNsError(w, http.StatusMethodNotAllowed, APNsMethodNotAllowed, 0)
	case rest == "/3/device/" || rest == "/3/device":
		writeAPNsError(w, http.StatusBadRequest, APNsMissingDeviceToken, 0)
	default:
		writeAPNsError(w, http.StatusNotFound, APNsBadPath, 0)
	}
}

// apnsError is a refusal: HTTP status and reason.
type apnsError struct {
	status int
	reason string
}

// handlePush serves POST /apns/{region}/3/device/{token}: one notification
// for one device.
func (a *apnsSim) handlePush(w http.ResponseWriter, r *http.Request) {
	s := a.s
	region := r.PathValue("region")
	if !a.serves(region) {
		http.NotFound(w, r)
		return
	}
	token := r.PathValue("token")
	// Every answer, accepted or refused, carries apns-id.
	id := a.answerID(r)
	w.Header().Set("apns-id", id)
	body, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, apnsMaxBodyBytes))
	form := url.Values{"token": {token}, "payload": {string(body)}}
	for k, v := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "apns-") {
			form[lk] = slices.Clone(v)
		}
	}
	now := time.Now()
	app, tokenKey, iat, authErr := a.authenticate(r, now)
	appID := UnknownApp
	if authErr == nil {
		appID = app.AppID
	}
	rec := s.begin(VendorAPNs, region, appID, r, form, []string{token})

	refuse := func(out outcome, e apnsError, invalid []string) {
		var ts int64
		if e.status == http.StatusGone {
			ts = time.Now().UnixMilli()
		}
		b := writeAPNsError(w, e.status, e.reason, ts)
		s.finish(rec, e.status, 0, b, out, nil, invalid)
	}
	if r.ProtoMajor != 2 {
		// APNs speaks HTTP/2 only.
		refuse(outRejected, apnsError{http.StatusHTTPVersionNotSupported, "HTTP/2 required"}, nil)
		return
	}
	if !s.wait(r, s.delay(VendorAPNs, region)) {
		s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler) // reset the stream without an answer
	}
	if f, ok := s.failure(VendorAPNs, region); ok {
		status := f.Status
		if status < 400 {
			status = http.StatusInternalServerError // APNs has no error with a 2xx status
		}
		if f.RetryAfter > 0 {
			secs := max(int64(time.Duration(f.RetryAfter)/time.Second), 1)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		b := writeAPNsError(w, status, apnsReasonOf(status), 0)
		s.finish(rec, status, f.Code, b, outInjected, nil, nil)
		return
	}
	if authErr != nil {
		refuse(outRejected, *authErr, nil)
		return
	}
	perSecond, burst := a.cfg.QuotaPerSecond, a.cfg.QuotaBurst
	if app.QuotaPerSecond > 0 {
		perSecond, burst = app.QuotaPerSecond, app.QuotaBurst
	}
	if !s.Allow(VendorAPNs, region, app.AppID, perSecond, burst) {
		refuse(outThrottled, apnsError{http.StatusTooManyRequests, APNsTooManyRequests}, nil)
		return
	}
	if !a.useToken(r.RemoteAddr, tokenKey, iat, now) {
		refuse(outThrottled, apnsError{http.StatusTooManyRequests, APNsTooManyProviderTokenUpdates}, nil)
		return
	}
	if readErr != nil {
		var tooBig *http.MaxBytesError
		if errors.As(readErr, &tooBig) {
			refuse(outRejected, apnsError{http.StatusRequestEntityTooLarge, APNsPayloadTooLarge}, nil)
			return
		}
		refuse(outRejected, apnsError{http.StatusBadRequest, APNsBadPayload}, nil)
		return
	}
	if e, ok := validateAPNs(r.Header, body); !ok {
		refuse(outRejected, e, nil)
		return
	}
	switch {
	case a.matches(token, a.cfg.InvalidTokenPrefixes, a.cfg.InvalidTokens):
		refuse(outRejected, apnsError{http.StatusBadRequest, APNsBadDeviceToken}, []string{token})
		return
	case a.matches(token, a.cfg.UnregisteredTokenPrefixes, a.cfg.UnregisteredTokens):
		refuse(outRejected, apnsError{http.StatusGone, APNsUnregistered}, []string{token})
		return
	}
	w.WriteHeader(http.StatusOK)
	s.finish(rec, http.StatusOK, 0, "", outAccepted, []string{token}, nil)
	if s.wantsReceipts(region) {
		// The app SDK reports with the deliveryId of the payload.
		var payload map[string]json.RawMessage
		var deliveryID string
		if json.Unmarshal(body, &payload) == nil {
			_ = json.Unmarshal(payload[DeliveryIDKey], &deliveryID)
		}
		s.queueReceipts(VendorAPNs, region, app.AppID, sentTokens([]string{token}, deliveryID, id, ""))
	}
}

// answerID returns the apns-id of the answer to r: the request's apns-id,
// or a new UUID when the request has none or one that is not a UUID (Apple,
// "Handling notification responses from APNs": every answer carries the
// header, and APNs makes up a UUID when the request names none).
func (a *apnsSim) answerID(r *http.Request) string {
	if id := r.Header.Get("apns-id"); apnsUUIDPattern.MatchString(id) {
		return id
	}
	n, _ := a.s.nextID()
	sum := sha256.Sum256([]byte("vendorsim apns-id " + strconv.FormatInt(n, 10)))
	return apnsUUID(sum[:16])
}

func (a *apnsSim) matches(token string, prefixes, tokens []string) bool {
	for _, p := range prefixes {
		if p != "" && strings.HasPrefix(token, p) {
			return true
		}
	}
	return slices.Contains(tokens, token)
}

// authenticate checks the provider token and the topic as APNs does. It
// returns the app, the key id and iat of the token, or the refusal.
// verified reports whether the ES256 signature sig of signed (the provider
// token jwt's header and claims) verifies with pub, remembering tokens
// that did.
func (a *apnsSim) verified(jwt string, pub *ecdsa.PublicKey, signed string, sig []byte) bool {
	a.mu.Lock()
	ok := a.signed[jwt]
	a.mu.Unlock()
	if ok {
		return true
	}
	sum := sha256.Sum256([]byte(signed))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return false
	}
	a.mu.Lock()
	if len(a.signed) >= apnsSignedTokens {
		clear(a.signed)
	}
	a.signed[jwt] = true
	a.mu.Unlock()
	return true
}

func (a *apnsSim) authenticate(r *http.Request, now time.Time) (APNsApp, string, int64, *apnsError) {
	forbidden := func(reason string) (APNsApp, string, int64, *apnsError) {
		return APNsApp{}, "", 0, &apnsError{http.StatusForbidden, reason}
	}
	auth := r.Header.Get("Authorization")
	scheme, jwt, ok := strings.Cut(auth, " ")
	if auth == "" || !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(jwt) == "" {
		return forbidden(APNsMissingProviderToken)
	}
	parts := strings.Split(strings.TrimSpace(jwt), ".")
	if len(parts) != 3 {
		return forbidden(APNsInvalidProviderToken)
	}
	enc := base64.RawURLEncoding
	var header struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}
	var claims struct {
		Iss string `json:"iss"`
		Iat int64  `json:"iat"`
	}
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return forbidden(APNsInvalidProviderToken)
	}
	pub := a.keys[header.Kid]
	if header.Alg != "ES256" || pub == nil || len(sig) != 64 {
		return forbidden(APNsInvalidProviderToken)
	}
	if !a.verified(strings.TrimSpace(jwt), pub, parts[0]+"."+parts[1], sig) {
		return forbidden(APNsInvalidProviderToken)
	}
	var team []APNsApp
	for _, app := range a.cfg.Apps {
		if app.KeyID == header.Kid {
			team = append(team, app)
		}
	}
	if len(team) == 0 || claims.Iss != team[0].TeamID || claims.Iat <= 0 {
		return forbidden(APNsInvalidProviderToken)
	}
	iat := time.Unix(claims.Iat, 0)
	if iat.After(now.Add(apnsFutureSkew)) {
		return forbidden(APNsInvalidProviderToken)
	}
	if now.Sub(iat) > APNsProviderTokenMaxAge {
		return forbidden(APNsExpiredProviderToken)
	}
	topics := r.Header.Values("apns-topic")
	switch {
	case len(topics) == 0 || topics[0] == "":
		return APNsApp{}, "", 0, &apnsError{http.StatusBadRequest, APNsMissingTopic}
	case len(topics) > 1:
		return APNsApp{}, "", 0, &apnsError{http.StatusBadRequest, APNsDuplicateHeaders}
	case strings.ContainsAny(topics[0], " \t/"):
		return APNsApp{}, "", 0, &apnsError{http.StatusBadRequest, APNsBadTopic}
	}
	// A Live Activity push goes to <bundle id>.push-type.liveactivity;
	// validateAPNs checks that the push type matches the topic.
	bundle := strings.TrimSuffix(topics[0], APNsLiveActivityTopicSuffix)
	for _, app := range team {
		if app.BundleID == bundle {
			return app, header.Kid, claims.Iat, nil
		}
	}
	return APNsApp{}, "", 0, &apnsError{http.StatusBadRequest, APNsTopicDisallowed}
}

// useToken records that the connection remoteAddr used the token of key
// issued at iat and reports whether the change of token (if it is one) is
// allowed: at most one change every APNsMinTokenUpdateInterval per
// connection. Tokens are told apart by iat: ECDSA signatures differ each
// time a token is signed.
func (a *apnsSim) useToken(remoteAddr, key string, iat int64, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := remoteAddr + "|" + key
	c := a.conns[id]
	if c == nil {
		if len(a.conns) >= 4096 {
			for k, old := range a.conns {
				if now.Sub(old.lastUse) > APNsProviderTokenMaxAge {
					delete(a.conns, k)
				}
			}
		}
		a.conns[id] = &apnsConnToken{iat: iat, lastUse: now}
		return true
	}
	c.lastUse = now
	if c.iat == iat {
		return true
	}
	if !c.changedAt.IsZero() && now.Sub(c.changedAt) < APNsMinTokenUpdateInterval {
		return false
	}
	c.iat, c.changedAt = iat, now
	return true
}

// apnsPushTypes are the apns-push-type values APNs accepts.
var apnsPushTypes = []string{"alert", "background", "location", "voip", "complication", "fileprovider",
	"mdm", "liveactivity", "pushtotalk", "widgets", "controls"}

var apnsUUIDPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// validateAPNs checks the apns-* headers and the payload as APNs does.
func validateAPNs(h http.Header, body []byte) (apnsError, bool) {
	bad := func(reason string) (apnsError, bool) { return apnsError{http.StatusBadRequest, reason}, false }
	for k, v := range h {
		if strings.HasPrefix(strings.ToLower(k), "apns-") && len(v) > 1 {
			return bad(APNsDuplicateHeaders)
		}
	}
	pushType := h.Get("apns-push-type")
	if pushType != "" && !slices.Contains(apnsPushTypes, pushType) {
		return bad(APNsInvalidPushType)
	}
	live := pushType == APNsPushTypeLiveActivity
	if live != strings.HasSuffix(h.Get("apns-topic"), APNsLiveActivityTopicSuffix) {
		// A Live Activity token belongs to the topic with the suffix, a
		// device token to the bundle id alone.
		return bad(APNsDeviceTokenNotForTopic)
	}
	switch p := h.Get("apns-priority"); p {
	case "", "5":
	case "1":
		if live {
			return bad(APNsBadPriority) // Live Activities take 5 or 10
		}
	case "10":
		if pushType == "background" {
			return bad(APNsBadPriority) // background pushes must use 5 (or 1)
		}
	default:
		return bad(APNsBadPriority)
	}
	if v := h.Get("apns-expiration"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return bad(APNsBadExpirationDate)
		}
	}
	if v := h.Get("apns-id"); v != "" && !apnsUUIDPattern.MatchString(v) {
		return bad(APNsBadMessageID)
	}
	if v := h.Get("apns-collapse-id"); len(v) > APNsMaxCollapseIDBytes {
		return bad(APNsBadCollapseID)
	}
	limit := APNsMaxPayloadBytes
	if pushType == "voip" {
		limit = APNsMaxVoIPPayloadBytes
	}
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return bad(APNsPayloadEmpty)
	case len(body) > limit:
		return apnsError{http.StatusRequestEntityTooLarge, APNsPayloadTooLarge}, false
	}
	var payload map[string]json.RawMessage
	if json.Unmarshal(body, &payload) != nil {
		return bad(APNsBadPayload)
	}
	var aps map[string]json.RawMessage
	if raw, ok := payload["aps"]; !ok || json.Unmarshal(raw, &aps) != nil || aps == nil {
		return bad(APNsBadPayload)
	}
	if live && !validLiveActivity(aps) {
		return bad(APNsBadPayload)
	}
	return apnsError{}, true
}

// APNs Live Activity pushes (ActivityKit push notifications).
const (
	APNsPushTypeLiveActivity    = "liveactivity"
	APNsLiveActivityTopicSuffix = ".push-type.liveactivity"
	apnsLiveActivityEventStart  = "start"
	apnsLiveActivityEventUpdate = "update"
	apnsLiveActivityEventEnd    = "end"
)

// validLiveActivity checks the aps dictionary of a Live Activity push as
// Apple documents it: a positive integer timestamp (seconds); an event,
// start, update or end; a content-state object; a start also names its
// attributes-type and attributes and shows an alert; dismissal-date and
// stale-date, if present, are positive integers, and dismissal-date goes
// with end; an alert is an object with a title and a body. APNs itself
// delivers a malformed one, which iOS then drops: the simulator refuses it
// (400 BadPayload, its own reason) so that such a push fails a test
// instead of vanishing.
func validLiveActivity(aps map[string]json.RawMessage) bool {
	positive := func(key string) bool {
		var n int64
		return json.Unmarshal(aps[key], &n) == nil && n > 0
	}
	object := func(key string) bool {
		var m map[string]json.RawMessage
		return json.Unmarshal(aps[key], &m) == nil && m != nil
	}
	var event string
	if !positive("timestamp") || json.Unmarshal(aps["event"], &event) != nil || !object("content-state") {
		return false
	}
	switch event {
	case apnsLiveActivityEventUpdate, apnsLiveActivityEventEnd:
	case apnsLiveActivityEventStart:
		var typ string
		if json.Unmarshal(aps["attributes-type"], &typ) != nil || typ == "" || !object("attributes") || aps["alert"] == nil {
			return false
		}
	default:
		return false
	}
	if _, ok := aps["dismissal-date"]; ok && (event != apnsLiveActivityEventEnd || !positive("dismissal-date")) {
		return false
	}
	if _, ok := aps["stale-date"]; ok && !positive("stale-date") {
		return false
	}
	if raw, ok := aps["alert"]; ok {
		var alert struct {
			Title, Body any
		}
		if json.Unmarshal(raw, &alert) != nil || alert.Title == nil || alert.Body == nil {
			return false
		}
	}
	return true
}

// apnsUUID formats 16 bytes as a canonical UUID (version 4 bits set).
func apnsUUID(b []byte) string {
	u := slices.Clone(b[:16])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	h := fmt.Sprintf("%x", u)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
