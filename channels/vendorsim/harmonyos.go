package vendorsim

import (
	"bytes"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// VendorHarmonyOS is the vendor name of HarmonyOS Push Kit (the v3
// scenario-based message API of HarmonyOS NEXT, service-account JWTs), and
// the receipts endpoint its arrivals are posted to (/receipts/harmonyos).
const VendorHarmonyOS = "harmonyos"

// HarmonyOS Push Kit answer codes the simulator uses (the "code" string of
// every answer), from Huawei's Push Kit REST API reference
// (push-scenariozed-api-response).
const (
	HarmonyOSCodeSuccess              = "80000000"
	HarmonyOSCodePartialSuccess       = "80100000" // msg: {"success":n,"failure":m,"illegalTokens":{"<reason>":[...]}}
	HarmonyOSCodeParameterError       = "80100001"
	HarmonyOSCodeIllegalPayload       = "80100003"
	HarmonyOSCodeIllegalExpire        = "80100004"
	HarmonyOSCodeAuthError            = "80200001"
	HarmonyOSCodeJWTExpired           = "80200005"
	HarmonyOSCodeAllTokensInvalid     = "80300007" // msg as for 80100000
	HarmonyOSCodeBodyTooLarge         = "80300008"
	HarmonyOSCodeTooManyTokens        = "80300010"
	HarmonyOSCodeTestMessageThrottled = "80300029"
	HarmonyOSCodeTestMessageTooMany   = "80300030"
	HarmonyOSCodeJWTLifetimeTooLong   = "80300036"
	HarmonyOSCodeInternalError        = "81000001"
)

// HarmonyOS Push Kit limits and fixed values the simulator enforces.
const (
	// HarmonyOSAudience is the "aud" every JWT must carry.
	HarmonyOSAudience = "https://oauth-login.cloud.huawei.com/oauth2/v3/token"
	// HarmonyOSMaxTokens is the most tokens of one call;
	// HarmonyOSMaxTestTokens of one call of test messages.
	HarmonyOSMaxTokens     = 1000
	HarmonyOSMaxTestTokens = 10
	// HarmonyOSMaxMessageBytes bounds the body, the token list excluded.
	HarmonyOSMaxMessageBytes = 4096
	// HarmonyOSMaxTTL is the longest pushOptions.ttl in seconds (15 days).
	HarmonyOSMaxTTL = 1_296_000
	// HarmonyOSMaxBiTagBytes is the longest pushOptions.biTag.
	HarmonyOSMaxBiTagBytes = 64
	// HarmonyOSMaxJWTLifetime is the longest exp - iat of a JWT.
	HarmonyOSMaxJWTLifetime = 24 * time.Hour
	// HarmonyOSTestMessagesPerDay is the test messages one project may
	// send a day.
	HarmonyOSTestMessagesPerDay = 1000
	// DefaultHarmonyOSQuotaPerSecond is the default push rate of an app:
	// Push Kit's QPS counts the devices pushed to a second and answers HTTP
	// 503 above it.
	DefaultHarmonyOSQuotaPerSecond = 3000.0
	// DefaultHarmonyOSMaxBodyBytes bounds a request body.
	DefaultHarmonyOSMaxBodyBytes = 1 << 20
	// harmonyOSClockSkew is the clock difference tolerated on iat.
	harmonyOSClockSkew = 5 * time.Minute
)

// HarmonyOSRevokePath is the path of Push Kit's message revocation below
// /v1/{clientId}: POST {base}/v1/{clientId}/messages:revoke with the JWT,
// the header push-type (0 notification, 2 voice broadcast) and the body
// {"notifyId": N, "token": [...]} (1..1000 tokens). The simulator confirms
// the revocation for the tokens it accepted a notification with that
// notifyId for and counts them (Recalls); when none had one it answers
// HTTP 400 with 80100001.
const HarmonyOSRevokePath = "/messages:revoke"

// HarmonyOSCategories are the categories of a notification (push-type 0).
// PLAY_VOICE, the category of voice broadcast messages (push-type 2), is
// refused with push-type 0 like Push Kit does (80300007, reason
// notSupportPlayVoice).
var HarmonyOSCategories = []string{"IM", "VOIP", "MISS_CALL", "SUBSCRIPTION", "TRAVEL", "HEALTH", "WORK", "ACCOUNT",
	"EXPRESS", "FINANCE", "DEVICE_REMINDER", "MAIL", "MARKETING"}

// HarmonyOSConfig configures the simulated HarmonyOS Push Kit. One
// simulator serves every region under its own prefix: the base URL of
// region R is http://ADDR/harmonyos/R; sends go to
// http://ADDR/harmonyos/R/v3/{projectId}/messages:send and recalls to
// http://ADDR/harmonyos/R/v1/{clientId}/messages:revoke.
//
// The simulator serves push-type 0 (notification) and 6 (background
// message); the other scenarios (widget updates, voice broadcast, live
// views, in-app calls) are answered 80100003 naming the push-type.
type HarmonyOSConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose service-account JWTs are accepted.
	Apps []HarmonyOSApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: tokens starting with one of them are refused
	// (reason tokenFormatError in 80100000, or 80300007 when all are).
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are tokens refused in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// QuotaPerSecond is the devices an app may push to a second per
	// region for apps without their own; default
	// DefaultHarmonyOSQuotaPerSecond. Calls over it are answered HTTP 503.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	// QuotaBurst is the token-bucket size; default the rate rounded up.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
	// MaxBodyBytes bounds a request body; default
	// DefaultHarmonyOSMaxBodyBytes.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// HarmonyOSApp is one simulated HarmonyOS app with its project's service
// account.
type HarmonyOSApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// ProjectID is the project id of the send URL.
	ProjectID string `json:"projectId" yaml:"projectId"`
	// ClientID is the app's Client ID of the revoke URL.
	ClientID string `json:"clientId" yaml:"clientId"`
	// KeyID is the service-account key id, the JWT "kid".
	KeyID string `json:"keyId" yaml:"keyId"`
	// SubAccount is the service account, the JWT "iss".
	SubAccount string `json:"subAccount" yaml:"subAccount"`
	// PublicKey is the PEM public key that verifies the JWTs (PKIX
	// "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a "CERTIFICATE").
	PublicKey string `json:"publicKey" yaml:"publicKey"`
	// PrivateKey, used when PublicKey is empty, is the service account's
	// PEM private key; its public half verifies the JWTs (for tests).
	PrivateKey channels.Secret `json:"privateKey" yaml:"privateKey"`
	// PackageName is the app's bundle name, sent as appPackageName in
	// receipts; default "com.example.<appId>".
	PackageName string `json:"packageName" yaml:"packageName"`
	// QuotaPerSecond and QuotaBurst override the HarmonyOSConfig defaults
	// when positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its private key.
func (a HarmonyOSApp) String() string {
	return fmt.Sprintf("{appId=%s projectId=%s clientId=%s keyId=%s subAccount=%s privateKey=%s quota=%g/%d}",
		a.AppID, a.ProjectID, a.ClientID, a.KeyID, a.SubAccount, a.PrivateKey, a.QuotaPerSecond, a.QuotaBurst)
}

func (c HarmonyOSConfig) withDefaults() HarmonyOSConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	for i := range c.Apps {
		if c.Apps[i].PackageName == "" {
			c.Apps[i].PackageName = "com.example." + c.Apps[i].AppID
		}
	}
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	if c.QuotaPerSecond == 0 {
		c.QuotaPerSecond = DefaultHarmonyOSQuotaPerSecond
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = burstFor(c.QuotaPerSecond)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultHarmonyOSMaxBodyBytes
	}
	return c
}

func (c HarmonyOSConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: harmonyos: "+format, args...))
	}
	for _, r := range c.Regions {
		if !slices.Contains(Regions(), r) {
			bad("unknown region %q", r)
		}
	}
	ids, subs, clients := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		switch {
		case a.AppID == "":
			bad("app %d has no appId", i)
		case ids[a.AppID]:
			bad("duplicate appId %q", a.AppID)
		}
		if a.ProjectID == "" || a.ClientID == "" || a.KeyID == "" || a.SubAccount == "" {
			bad("app %q needs projectId, clientId, keyId and subAccount", a.AppID)
		}
		if subs[a.SubAccount] || clients[a.ClientID] {
			bad("app %q shares its subAccount or clientId with another app", a.AppID)
		}
		ids[a.AppID], subs[a.SubAccount], clients[a.ClientID] = true, true, true
		if _, err := rsaVerifyKey(a.PublicKey, a.PrivateKey); err != nil {
			bad("app %q: %v", a.AppID, err)
		}
		if a.QuotaPerSecond < 0 || a.QuotaBurst < 0 {
			bad("app %q has a negative quota", a.AppID)
		}
	}
	if c.QuotaPerSecond < 0 || c.QuotaBurst < 0 {
		bad("negative quota")
	}
	if c.MaxBodyBytes <= 0 {
		bad("maxBodyBytes must be positive")
	}
	return errs
}

func (c HarmonyOSConfig) appCount() int { return len(c.Apps) }

// HarmonyOSBaseURL returns the Push Kit base URL of region on this
// simulator (the client appends "/v3/{projectId}/messages:send").
func (s *Server) HarmonyOSBaseURL(region string) string { return s.URL() + "/harmonyos/" + region }

// ExpireHarmonyOSJWTs makes every JWT presented so far expired: calls with
// one are answered 80200005 (JWT expired); a newly signed JWT is accepted.
func (s *Simulator) ExpireHarmonyOSJWTs() {
	for _, v := range s.vendors {
		if h, ok := v.(*harmonyOSSim); ok {
			h.mu.Lock()
			for tok := range h.seen {
				h.expired[tok] = true
			}
			clear(h.seen)
			h.mu.Unlock()
		}
	}
}

// harmonyOSSim serves the Push Kit endpoints.
type harmonyOSSim struct {
	s    *Simulator
	cfg  HarmonyOSConfig
	keys map[string]*rsa.PublicKey // app id -> JWT key

	mu      sync.Mutex
	seen    map[string]bool // JWTs accepted since the last ExpireHarmonyOSJWTs
	expired map[string]bool // JWTs ExpireHarmonyOSJWTs expired
}

// newHarmonyOSSim returns the simulated Push Kit, or nil without apps.
func newHarmonyOSSim(s *Simulator) simVendor {
	cfg := s.cfg.HarmonyOS
	if len(cfg.Apps) == 0 {
		return nil
	}
	h := &harmonyOSSim{s: s, cfg: cfg, keys: map[string]*rsa.PublicKey{}, seen: map[string]bool{}, expired: map[string]bool{}}
	for _, a := range cfg.Apps {
		if k, err := rsaVerifyKey(a.PublicKey, a.PrivateKey); err == nil { // validate checked it
			h.keys[a.AppID] = k
		}
	}
	return h
}

func (h *harmonyOSSim) name() string { return VendorHarmonyOS }

func (h *harmonyOSSim) appIDs() []string {
	ids := make([]string, len(h.cfg.Apps))
	for i, a := range h.cfg.Apps {
		ids[i] = a.AppID
	}
	return ids
}

func (h *harmonyOSSim) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /harmonyos/{region}/v3/{projectId}/messages:send", h.handleSend)
	mux.HandleFunc("POST /harmonyos/{region}/v1/{clientId}"+HarmonyOSRevokePath, h.handleRevoke)
	mux.HandleFunc("/harmonyos/{region}/", h.handleOther)
}

func (h *harmonyOSSim) serves(region string) bool { return slices.Contains(h.cfg.Regions, region) }

// harmonyOSMsg is the "msg" Push Kit sends with a code.
func harmonyOSMsg(code string) string {
	switch code {
	case HarmonyOSCodeSuccess:
		return "Success"
	case HarmonyOSCodePartialSuccess:
		return "Check Parameter Partial Success"
	case HarmonyOSCodeParameterError:
		return "Check Parameter Error"
	case HarmonyOSCodeIllegalPayload:
		return "Illegal payload"
	case HarmonyOSCodeIllegalExpire:
		return "Illegal expire time"
	case HarmonyOSCodeAuthError:
		return "Authentication Error"
	case HarmonyOSCodeJWTExpired:
		return "Jwt token expired"
	case HarmonyOSCodeAllTokensInvalid:
		return "All the tokens are invalid"
	case HarmonyOSCodeBodyTooLarge:
		return "Push message size is too long"
	case HarmonyOSCodeTooManyTokens:
		return "token count should within 1 and 1000"
	case HarmonyOSCodeTestMessageThrottled:
		return "When send test message, the api request exceed limit"
	case HarmonyOSCodeTestMessageTooMany:
		return "When send test message, token count exceed limit"
	case HarmonyOSCodeJWTLifetimeTooLong:
		return "JWT expire period over threshold"
	case HarmonyOSCodeInternalError:
		return "Inner Error"
	}
	return "Unknown error"
}

// write answers {"code","msg","requestId"}.
func (h *harmonyOSSim) write(w http.ResponseWriter, status int, code, msg string) string {
	n, _ := h.s.nextID()
	if msg == "" {
		msg = harmonyOSMsg(code)
	}
	return writeJSON(w, status, map[string]string{
		"code": code, "msg": msg, "requestId": fmt.Sprintf("%013d%011d", time.Now().UnixMilli(), n),
	})
}

// handleOther answers paths of the Push Kit API the simulator does not
// serve (e.g. the v1 and v2 send URLs, which HarmonyOS NEXT tokens do not
// take).
func (h *harmonyOSSim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !h.serves(r.PathValue("region")) {
		http.NotFound(w, r)
		return
	}
	h.write(w, http.StatusNotFound, HarmonyOSCodeParameterError, "Service not found: "+r.Method+" "+r.URL.Path)
}

// harmonyOSRefusal is an answer code with its HTTP status and msg.
type harmonyOSRefusal struct {
	status    int
	code, msg string
}

// verifyJWT checks "Bearer <JWT>" as Push Kit does and returns the app of
// its issuer, or the refusal (80200001 authentication error, 80200005
// expired, 80300036 valid for more than a day).
func (h *harmonyOSSim) verifyJWT(auth string) (HarmonyOSApp, *harmonyOSRefusal) {
	refuse := func(code, msg string) (HarmonyOSApp, *harmonyOSRefusal) {
		return HarmonyOSApp{}, &harmonyOSRefusal{http.StatusUnauthorized, code, msg}
	}
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || len(parts) != 3 {
		return refuse(HarmonyOSCodeAuthError, "Authentication Error: the Authorization header is not Bearer <JWT>")
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	var header struct {
		Kid string `json:"kid"`
		Typ string `json:"typ"`
		Alg string `json:"alg"`
	}
	var claims struct {
		Aud string `json:"aud"`
		Iss string `json:"iss"`
		Iat int64  `json:"iat"`
		Exp int64  `json:"exp"`
	}
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return refuse(HarmonyOSCodeAuthError, "Authentication Error: the JWT is not base64url JSON")
	}
	if header.Alg != "PS256" || header.Typ != "JWT" {
		return refuse(HarmonyOSCodeAuthError, "Authentication Error: the JWT header must be typ JWT, alg PS256")
	}
	var app HarmonyOSApp
	found := false
	for _, a := range h.cfg.Apps {
		if a.SubAccount == claims.Iss && a.KeyID == header.Kid {
			app, found = a, true
			break
		}
	}
	if !found {
		return refuse(HarmonyOSCodeAuthError, "Authentication Error: no service account with this iss and kid")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if k := h.keys[app.AppID]; k == nil || rsa.VerifyPSS(k, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) != nil {
		return refuse(HarmonyOSCodeAuthError, "Authentication Error: the JWT signature does not verify")
	}
	now := time.Now()
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	switch {
	case claims.Aud != HarmonyOSAudience:
		return refuse(HarmonyOSCodeAuthError, "Authentication Error: aud must be "+HarmonyOSAudience)
	case claims.Iat == 0 || claims.Exp == 0 || !exp.After(iat) || iat.After(now.Add(harmonyOSClockSkew)):
		return refuse(HarmonyOSCodeAuthError, "Authentication Error: iat and exp must be the issue and expiry times")
	case exp.Sub(iat) > HarmonyOSMaxJWTLifetime:
		return HarmonyOSApp{}, &harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeJWTLifetimeTooLong, ""}
	case !exp.After(now):
		return refuse(HarmonyOSCodeJWTExpired, "")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.expired[tok] {
		return refuse(HarmonyOSCodeJWTExpired, "")
	}
	h.seen[tok] = true
	return app, nil
}

// Request body of messages:send (push-type 0 and 6); fields outside it
// are refused.
type (
	harmonyOSSendRequest struct {
		Payload     *harmonyOSPayload `json:"payload"`
		Target      *harmonyOSTarget  `json:"target"`
		PushOptions *harmonyOSOptions `json:"pushOptions"`
	}
	harmonyOSTarget struct {
		Token []string `json:"token"`
	}
	harmonyOSPayload struct {
		Notification *harmonyOSNotification `json:"notification"`
		ExtraData    *string                `json:"extraData"`
		ProxyData    string                 `json:"proxyData"`
	}
	harmonyOSNotification struct {
		Category       string          `json:"category"`
		Title          string          `json:"title"`
		Body           string          `json:"body"`
		Image          string          `json:"image"`
		Style          int             `json:"style"`
		BigTitle       string          `json:"bigTitle"`
		BigBody        string          `json:"bigBody"`
		InboxContent   []string        `json:"inboxContent"`
		NotifyID       *int            `json:"notifyId"`
		AppMessageID   string          `json:"appMessageId"`
		ProfileID      string          `json:"profileId"`
		ClickAction    *harmonyOSClick `json:"clickAction"`
		Badge          *harmonyOSBadge `json:"badge"`
		Sound          string          `json:"sound"`
		SoundDuration  int             `json:"soundDuration"`
		ForegroundShow *bool           `json:"foregroundShow"`
	}
	harmonyOSClick struct {
		ActionType *int           `json:"actionType"`
		Action     string         `json:"action"`
		URI        string         `json:"uri"`
		Data       map[string]any `json:"data"`
	}
	harmonyOSBadge struct {
		AddNum *int `json:"addNum"`
		SetNum *int `json:"setNum"`
	}
	harmonyOSOptions struct {
		TestMessage bool   `json:"testMessage"`
		TTL         *int64 `json:"ttl"`
		BiTag       string `json:"biTag"`
		ReceiptID   string `json:"receiptId"`
		CollapseKey *int   `json:"collapseKey"`
	}
)

// handleSend serves POST /harmonyos/{region}/v3/{projectId}/messages:send.
func (h *harmonyOSSim) handleSend(w http.ResponseWriter, r *http.Request) {
	s := h.s
	region := r.PathValue("region")
	if !h.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := readJSONBody(w, r, h.cfg.MaxBodyBytes)
	var req harmonyOSSendRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	decodeErr := dec.Decode(&req)
	var tokens []string
	if req.Target != nil {
		tokens = slices.Clone(req.Target.Token)
	}
	pushType := r.Header.Get("push-type")
	app, authErr := h.verifyJWT(r.Header.Get("Authorization"))
	if authErr == nil && app.ProjectID != r.PathValue("projectId") {
		// A JWT of project A used to push to project B.
		authErr = &harmonyOSRefusal{http.StatusUnauthorized, HarmonyOSCodeAuthError, "Authentication Error: the JWT is not of project " + r.PathValue("projectId")}
	}
	recApp := UnknownApp
	if authErr == nil {
		recApp = app.AppID
	}
	rec := s.begin(VendorHarmonyOS, region, recApp, r, url.Values{"body": {string(raw)}, "header.push-type": {pushType}}, tokens)

	if !s.wait(r, s.delay(VendorHarmonyOS, region)) {
		s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler) // drop the connection without an answer
	}
	if f, ok := s.failure(VendorHarmonyOS, region); ok {
		s.writeInjected(w, rec, f, func(w http.ResponseWriter, f Failure) string {
			return h.write(w, f.Status, strconv.Itoa(f.Code), "")
		})
		return
	}
	refuse := func(out outcome, e harmonyOSRefusal, invalid []string) {
		body := h.write(w, e.status, e.code, e.msg)
		s.finish(rec, e.status, harmonyOSCodeInt(e.code), body, out, nil, invalid)
	}
	if authErr != nil {
		refuse(outRejected, *authErr, nil)
		return
	}
	perSecond, burst := h.cfg.QuotaPerSecond, h.cfg.QuotaBurst
	if app.QuotaPerSecond > 0 {
		perSecond, burst = app.QuotaPerSecond, app.QuotaBurst
	}
	if !s.AllowN(VendorHarmonyOS, region, app.AppID, perSecond, burst, max(len(tokens), 1)) {
		// Push Kit answers an app over its QPS (devices a second) with
		// HTTP 503.
		refuse(outThrottled, harmonyOSRefusal{http.StatusServiceUnavailable, HarmonyOSCodeInternalError,
			"Flow control: the app exceeds its QPS, distribute the sending speed evenly"}, nil)
		return
	}
	switch {
	case readErr != nil:
		refuse(outRejected, harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeBodyTooLarge, ""}, nil)
		return
	case decodeErr != nil:
		refuse(outRejected, harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeParameterError, "Check Parameter Error: " + decodeErr.Error()}, nil)
		return
	}
	if e, ok := validateHarmonyOS(pushType, &req, harmonyOSMessageSize(raw)); !ok {
		refuse(outRejected, e, nil)
		return
	}
	if req.PushOptions != nil && req.PushOptions.TestMessage &&
		!s.AllowN(VendorHarmonyOS+".test", region, app.AppID, HarmonyOSTestMessagesPerDay/86400.0, HarmonyOSTestMessagesPerDay, len(tokens)) {
		refuse(outThrottled, harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeTestMessageThrottled, ""}, nil)
		return
	}

	reason := map[string]string{}
	var accepted, invalid []string
	for _, t := range tokens {
		switch {
		case tokenInvalid(t, h.cfg.InvalidTokenPrefixes, h.cfg.InvalidTokens):
			reason[t] = "tokenFormatError"
		case pushType == "0" && req.Payload.Notification.Category == "PLAY_VOICE":
			reason[t] = "notSupportPlayVoice"
		default:
			accepted = append(accepted, t)
			continue
		}
		invalid = append(invalid, t)
	}
	detail := func() string {
		byReason := map[string][]string{}
		for _, t := range invalid {
			byReason[reason[t]] = append(byReason[reason[t]], t)
		}
		b, _ := json.Marshal(map[string]any{"success": len(accepted), "failure": len(invalid), "illegalTokens": byReason})
		return string(b)
	}
	switch {
	case len(accepted) == 0:
		refuse(outRejected, harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeAllTokensInvalid, detail()}, invalid)
	case len(invalid) > 0:
		body := h.write(w, http.StatusOK, HarmonyOSCodePartialSuccess, detail())
		s.finish(rec, http.StatusOK, harmonyOSCodeInt(HarmonyOSCodePartialSuccess), body, outAccepted, accepted, invalid)
		h.queueReceipts(region, app, pushType, &req, accepted, body)
	default:
		body := h.write(w, http.StatusOK, HarmonyOSCodeSuccess, "")
		s.finish(rec, http.StatusOK, 0, body, outAccepted, accepted, nil)
		h.queueReceipts(region, app, pushType, &req, accepted, body)
	}
}

// queueReceipts queues the receipts of the tokens a send accepted: Push
// Kit echoes pushOptions.biTag as biTag, with the send's requestId and the
// push-type.
func (h *harmonyOSSim) queueReceipts(region string, app HarmonyOSApp, pushType string, req *harmonyOSSendRequest, accepted []string, answer string) {
	if !h.s.wantsReceipts(region) {
		return
	}
	var a struct {
		RequestID string `json:"requestId"`
	}
	_ = json.Unmarshal([]byte(answer), &a)
	sent := sentTokens(accepted, req.PushOptions.biTag(), a.RequestID, app.PackageName)
	pt, _ := strconv.Atoi(pushType)
	for i := range sent {
		sent[i].pushType = pt
	}
	h.s.queueReceipts(VendorHarmonyOS, region, app.AppID, sent)
}

func (o *harmonyOSOptions) biTag() string {
	if o == nil {
		return ""
	}
	return o.BiTag
}

// harmonyOSMessageSize returns the length of the body without its token
// list (Push Kit's 4096 bytes exclude the tokens): the body re-encoded
// with target.token removed.
func harmonyOSMessageSize(raw []byte) int {
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&body) != nil {
		return len(raw)
	}
	if t, ok := body["target"].(map[string]any); ok {
		delete(t, "token")
	}
	b, _ := json.Marshal(body)
	return len(b)
}

// harmonyOSCodeInt is the numeric answer code for records (0 for success).
func harmonyOSCodeInt(code string) int {
	if code == HarmonyOSCodeSuccess {
		return 0
	}
	n, _ := strconv.Atoi(code)
	return n
}

// validateHarmonyOS checks a send as Push Kit does; size is the length of
// the body without the token list.
func validateHarmonyOS(pushType string, req *harmonyOSSendRequest, size int) (harmonyOSRefusal, bool) {
	bad := func(code, format string, args ...any) (harmonyOSRefusal, bool) {
		return harmonyOSRefusal{http.StatusBadRequest, code, fmt.Sprintf(format, args...)}, false
	}
	illegal := func(format string, args ...any) (harmonyOSRefusal, bool) {
		return bad(HarmonyOSCodeIllegalPayload, "Illegal payload, "+format, args...)
	}
	switch pushType {
	case "0", "6":
	case "1", "2", "7", "10":
		return illegal("push-type %s is a scenario the simulator does not serve (it serves 0 and 6)", pushType)
	default:
		return illegal("The header does not contain valid push-type: %q", pushType)
	}
	if req.Payload == nil || req.Target == nil {
		return bad(HarmonyOSCodeParameterError, "Check Parameter Error: payload and target are mandatory")
	}
	opts := req.PushOptions
	if opts == nil {
		opts = &harmonyOSOptions{}
	}
	n := len(req.Target.Token)
	switch {
	case n == 0 || n > HarmonyOSMaxTokens:
		return bad(HarmonyOSCodeTooManyTokens, "token count should within 1 and %d, got %d", HarmonyOSMaxTokens, n)
	case opts.TestMessage && n > HarmonyOSMaxTestTokens:
		return bad(HarmonyOSCodeTestMessageTooMany, "When send test message, token count exceed limit: %d tokens, at most %d", n, HarmonyOSMaxTestTokens)
	case size > HarmonyOSMaxMessageBytes:
		return bad(HarmonyOSCodeBodyTooLarge, "Push message size is too long: %d bytes without the tokens, at most %d", size, HarmonyOSMaxMessageBytes)
	case opts.TTL != nil && *opts.TTL <= 0:
		return bad(HarmonyOSCodeIllegalExpire, "Illegal expire time: ttl %d", *opts.TTL)
	case opts.TTL != nil && *opts.TTL > HarmonyOSMaxTTL:
		return bad(HarmonyOSCodeParameterError, "Check Parameter Error: ttl %d is over %d seconds", *opts.TTL, HarmonyOSMaxTTL)
	case len(opts.BiTag) > HarmonyOSMaxBiTagBytes:
		return bad(HarmonyOSCodeParameterError, "Check Parameter Error: biTag has %d bytes, at most %d", len(opts.BiTag), HarmonyOSMaxBiTagBytes)
	case opts.CollapseKey != nil && (*opts.CollapseKey < -1 || *opts.CollapseKey > 100):
		return bad(HarmonyOSCodeParameterError, "Check Parameter Error: collapseKey must be -1..100")
	}
	p := req.Payload
	if pushType == "6" {
		switch {
		case p.Notification != nil:
			return illegal("a background message (push-type 6) has no notification")
		case p.ExtraData == nil || *p.ExtraData == "":
			return illegal("extraData is mandatory for background messages")
		case p.ProxyData != "" && p.ProxyData != "ENABLE":
			return illegal("proxyData must be ENABLE")
		}
		return harmonyOSRefusal{}, true
	}
	m := p.Notification
	switch {
	case m == nil:
		return illegal("notification is mandatory for push-type 0")
	case p.ExtraData != nil:
		return illegal("extraData is for background messages (push-type 6)")
	case m.Category == "":
		return illegal("category is mandatory")
	case m.Category != "PLAY_VOICE" && !slices.Contains(HarmonyOSCategories, m.Category):
		return illegal("unknown category %q", m.Category)
	case strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == "":
		return illegal("title and body are mandatory for notification messages")
	case m.Image != "" && !strings.HasPrefix(m.Image, "https://"):
		return illegal("image must be an https URL")
	case m.NotifyID != nil && *m.NotifyID < -1:
		return illegal("notifyId must be -1 or more")
	case m.ClickAction == nil || m.ClickAction.ActionType == nil:
		return illegal("clickAction.actionType is mandatory")
	}
	switch m.Style {
	case 0:
	case 1:
		if m.BigTitle == "" || m.BigBody == "" {
			return illegal("bigTitle and bigBody are mandatory for style 1")
		}
	case 3:
		if len(m.InboxContent) == 0 || len(m.InboxContent) > 5 {
			return illegal("inboxContent must have 1..5 lines for style 3")
		}
	default:
		return illegal("style must be 0, 1 or 3")
	}
	switch ca := m.ClickAction; *ca.ActionType {
	case 0:
	case 1:
		if ca.Action == "" && ca.URI == "" {
			return illegal("clickAction of actionType 1 needs action or uri")
		}
	default:
		return illegal("clickAction.actionType must be 0 or 1")
	}
	if b := m.Badge; b != nil {
		if (b.AddNum != nil && (*b.AddNum < 1 || *b.AddNum > 99)) || (b.SetNum != nil && (*b.SetNum < 0 || *b.SetNum > 99)) {
			return illegal("badge addNum must be 1..99 and setNum 0..99")
		}
	}
	return harmonyOSRefusal{}, true
}

// harmonyOSRecallable returns the tokens an accepted notification
// (push-type 0) was delivered to, under its notifyId.
func harmonyOSRecallable(rec *Request, accepted []string) []recallable {
	if !strings.HasSuffix(rec.Path, "/messages:send") || rec.Form.Get("header.push-type") != "0" {
		return nil
	}
	var body struct {
		Payload struct {
			Notification struct {
				NotifyID *int `json:"notifyId"`
			} `json:"notification"`
		} `json:"payload"`
	}
	if json.Unmarshal([]byte(rec.Form.Get("body")), &body) != nil || body.Payload.Notification.NotifyID == nil {
		return nil
	}
	return sameID(strconv.Itoa(*body.Payload.Notification.NotifyID), accepted)
}

// handleRevoke serves POST /harmonyos/{region}/v1/{clientId}/messages:revoke.
func (h *harmonyOSSim) handleRevoke(w http.ResponseWriter, r *http.Request) {
	s := h.s
	region := r.PathValue("region")
	if !h.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := readJSONBody(w, r, h.cfg.MaxBodyBytes)
	var req struct {
		NotifyID *int     `json:"notifyId"`
		Token    []string `json:"token"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	decodeErr := dec.Decode(&req)
	pushType := r.Header.Get("push-type")
	app, authErr := h.verifyJWT(r.Header.Get("Authorization"))
	if authErr == nil && app.ClientID != r.PathValue("clientId") {
		authErr = &harmonyOSRefusal{http.StatusUnauthorized, HarmonyOSCodeAuthError, "Authentication Error: the JWT is not of the app " + r.PathValue("clientId")}
	}
	recApp := UnknownApp
	if authErr == nil {
		recApp = app.AppID
	}
	rec, ok := s.beginRecall(w, r, VendorHarmonyOS, region, recApp, "", url.Values{"body": {string(raw)}, "header.push-type": {pushType}}, req.Token,
		func(w http.ResponseWriter, f Failure) string { return h.write(w, f.Status, strconv.Itoa(f.Code), "") })
	if !ok {
		return
	}
	refuse := func(e harmonyOSRefusal) {
		body := h.write(w, e.status, e.code, e.msg)
		s.finish(rec, e.status, harmonyOSCodeInt(e.code), body, outRejected, nil, nil)
	}
	switch {
	case authErr != nil:
		refuse(*authErr)
		return
	case readErr != nil:
		refuse(harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeBodyTooLarge, ""})
		return
	case decodeErr != nil:
		refuse(harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeParameterError, "Check Parameter Error: " + decodeErr.Error()})
		return
	case pushType != "0" && pushType != "2":
		refuse(harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeIllegalPayload, "Illegal payload, The header does not contain valid push-type"})
		return
	case req.NotifyID == nil:
		refuse(harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeParameterError, "Check Parameter Error: notifyId is mandatory"})
		return
	case len(req.Token) == 0 || len(req.Token) > HarmonyOSMaxTokens:
		refuse(harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeTooManyTokens, ""})
		return
	}
	if recalled := s.recall(VendorHarmonyOS, region, app.AppID, strconv.Itoa(*req.NotifyID), req.Token); len(recalled) == 0 {
		refuse(harmonyOSRefusal{http.StatusBadRequest, HarmonyOSCodeParameterError,
			fmt.Sprintf("Check Parameter Error: no message with notifyId %d was sent to these tokens", *req.NotifyID)})
		return
	}
	body := h.write(w, http.StatusOK, HarmonyOSCodeSuccess, "")
	s.finish(rec, http.StatusOK, 0, body, outAccepted, nil, nil)
}
