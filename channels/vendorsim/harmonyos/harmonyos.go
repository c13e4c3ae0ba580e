// Package harmonyos simulates HarmonyOS Push Kit (the v3 scenario-based
// message API of HarmonyOS NEXT) for the vendor simulator
// (channels/vendorsim): service-account JWTs, messages:send and
// messages:revoke, checked and answered with Push Kit's codes. Its
// configuration is vendorsim.HarmonyOSConfig.
package harmonyos

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

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// HarmonyOS Push Kit answer codes the simulator uses (the "code" string of
// every answer), from Huawei's Push Kit REST API reference
// (push-scenariozed-api-response).
const (
	CodeSuccess              = "80000000"
	CodePartialSuccess       = "80100000" // msg: {"success":n,"failure":m,"illegalTokens":{"<reason>":[...]}}
	CodeParameterError       = "80100001"
	CodeIllegalPayload       = "80100003"
	CodeIllegalExpire        = "80100004"
	CodeAuthError            = "80200001"
	CodeJWTExpired           = "80200005"
	CodeAllTokensInvalid     = "80300007" // msg as for 80100000
	CodeBodyTooLarge         = "80300008"
	CodeTooManyTokens        = "80300010"
	CodeTestMessageThrottled = "80300029"
	CodeTestMessageTooMany   = "80300030"
	CodeJWTLifetimeTooLong   = "80300036"
	CodeInternalError        = "81000001"
)

// HarmonyOS Push Kit limits and fixed values the simulator enforces.
const (
	// Audience is the "aud" every JWT must carry.
	Audience = "https://oauth-login.cloud.huawei.com/oauth2/v3/token"
	// MaxTokens is the most tokens of one call;
	// MaxTestTokens of one call of test messages.
	MaxTokens     = 1000
	MaxTestTokens = 10
	// MaxMessageBytes bounds the body, the token list excluded.
	MaxMessageBytes = 4096
	// MaxTTL is the longest pushOptions.ttl in seconds (15 days).
	MaxTTL = 1_296_000
	// MaxBiTagBytes is the longest pushOptions.biTag.
	MaxBiTagBytes = 64
	// MaxJWTLifetime is the longest exp - iat of a JWT.
	MaxJWTLifetime = 24 * time.Hour
	// TestMessagesPerDay is the test messages one project may
	// send a day.
	TestMessagesPerDay = 1000
	// harmonyOSClockSkew is the clock difference tolerated on iat.
	harmonyOSClockSkew = 5 * time.Minute
)

// RevokePath is the path of Push Kit's message revocation below
// /v1/{clientId}: POST {base}/v1/{clientId}/messages:revoke with the JWT,
// the header push-type (0 notification, 2 voice broadcast) and the body
// {"notifyId": N, "token": [...]} (1..1000 tokens). The simulator confirms
// the revocation for the tokens it accepted a notification with that
// notifyId for and counts them (Recalls); when none had one it answers
// HTTP 400 with 80100001.
const RevokePath = "/messages:revoke"

// Categories are the categories of a notification (push-type 0).
// PLAY_VOICE, the category of voice broadcast messages (push-type 2), is
// refused with push-type 0 like Push Kit does (80300007, reason
// notSupportPlayVoice).
var Categories = []string{"IM", "VOIP", "MISS_CALL", "SUBSCRIPTION", "TRAVEL", "HEALTH", "WORK", "ACCOUNT",
	"EXPRESS", "FINANCE", "DEVICE_REMINDER", "MAIL", "MARKETING"}

// sim serves the Push Kit endpoints.
type sim struct {
	s    *vendorsim.Simulator
	cfg  vendorsim.HarmonyOSConfig
	keys map[string]*rsa.PublicKey // app id -> JWT key

	mu      sync.Mutex
	seen    map[string]bool // JWTs accepted since the last ExpireCredentials
	expired map[string]bool // JWTs ExpireCredentials expired
}

// New returns the simulated HarmonyOS Push Kit of s
// (vendorsim.NewVendor).
func New(s *vendorsim.Simulator) vendorsim.Vendor {
	h := &sim{s: s, cfg: s.Config().HarmonyOS, keys: map[string]*rsa.PublicKey{}, seen: map[string]bool{}, expired: map[string]bool{}}
	for _, a := range h.cfg.Apps {
		if k, err := a.VerifyKey(); err == nil { // Validate checked it
			h.keys[a.AppID] = k
		}
	}
	return h
}

// Name is vendorsim.VendorHarmonyOS.
func (h *sim) Name() string { return vendorsim.VendorHarmonyOS }

// RecallPath is RevokePath.
func (h *sim) RecallPath() string { return RevokePath }

// ExpireCredentials makes every JWT presented so far expired: calls with
// one are answered 80200005 (JWT expired); a newly signed JWT is accepted.
func (h *sim) ExpireCredentials() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for tok := range h.seen {
		h.expired[tok] = true
	}
	clear(h.seen)
}

// Register serves messages:send (v3), messages:revoke and, for other
// paths, Push Kit's "Service not found".
func (h *sim) Register(mux *http.ServeMux) {
	mux.Handle("POST /harmonyos/{region}/v3/{projectId}/messages:send", vendorsim.Endpoint[*send]{
		Sim: h.s, Vendor: vendorsim.VendorHarmonyOS, Regions: h.cfg.Regions,
		Read: h.readSend, Injected: h.injected, Authenticate: h.authenticate, Quota: h.quota, Throttled: h.throttled, Answer: h.answerSend,
	})
	mux.Handle("POST /harmonyos/{region}/v1/{clientId}"+RevokePath, vendorsim.Endpoint[*revoke]{
		Sim: h.s, Vendor: vendorsim.VendorHarmonyOS, Regions: h.cfg.Regions,
		Read: h.readRevoke, Injected: h.injected, Authenticate: h.authenticateRevoke, Answer: h.answerRevoke,
	})
	mux.HandleFunc("/harmonyos/{region}/", h.handleOther)
}

// harmonyOSMsg is the "msg" Push Kit sends with a code.
func harmonyOSMsg(code string) string {
	switch code {
	case CodeSuccess:
		return "Success"
	case CodePartialSuccess:
		return "Check Parameter Partial Success"
	case CodeParameterError:
		return "Check Parameter Error"
	case CodeIllegalPayload:
		return "Illegal payload"
	case CodeIllegalExpire:
		return "Illegal expire time"
	case CodeAuthError:
		return "Authentication Error"
	case CodeJWTExpired:
		return "Jwt token expired"
	case CodeAllTokensInvalid:
		return "All the tokens are invalid"
	case CodeBodyTooLarge:
		return "Push message size is too long"
	case CodeTooManyTokens:
		return "token count should within 1 and 1000"
	case CodeTestMessageThrottled:
		return "When send test message, the api request exceed limit"
	case CodeTestMessageTooMany:
		return "When send test message, token count exceed limit"
	case CodeJWTLifetimeTooLong:
		return "JWT expire period over threshold"
	case CodeInternalError:
		return "Inner Error"
	}
	return "Unknown error"
}

// answer is {"code","msg","requestId"} with a new request id (msg "" is
// the code's), recording the code.
func (h *sim) answer(status int, code, msg string) vendorsim.Answer {
	if msg == "" {
		msg = harmonyOSMsg(code)
	}
	return simkit.PushKitAnswer(h.s, status, code, msg)
}

// refuse answers e, counted as out.
func (h *sim) refuse(out vendorsim.Outcome, e harmonyOSRefusal, invalid []string) vendorsim.Answer {
	a := h.answer(e.status, e.code, e.msg)
	a.Outcome, a.Invalid = out, invalid
	return a
}

// injected answers a failure rule with a code as Push Kit, one without
// as the gateway's bare error.
func (h *sim) injected(f vendorsim.Failure) vendorsim.Answer {
	return vendorsim.InjectedAnswer(f, func(f vendorsim.Failure) vendorsim.Answer {
		return h.answer(f.Status, strconv.Itoa(f.Code), "")
	})
}

// handleOther answers paths of the Push Kit API the simulator does not
// serve (e.g. the v1 and v2 send URLs, which HarmonyOS NEXT tokens do not
// take).
func (h *sim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !vendorsim.ServesRegion(w, r, h.cfg.Regions) {
		return
	}
	h.answer(http.StatusNotFound, CodeParameterError, "Service not found: "+r.Method+" "+r.URL.Path).Write(w)
}

// harmonyOSRefusal is an answer code with its HTTP status and msg.
type harmonyOSRefusal struct {
	status    int
	code, msg string
}

// verifyJWT checks "Bearer <JWT>" as Push Kit does and returns the app of
// its issuer, or the refusal (80200001 authentication error, 80200005
// expired, 80300036 valid for more than a day).
func (h *sim) verifyJWT(auth string) (vendorsim.HarmonyOSApp, *harmonyOSRefusal) {
	refuse := func(code, msg string) (vendorsim.HarmonyOSApp, *harmonyOSRefusal) {
		return vendorsim.HarmonyOSApp{}, &harmonyOSRefusal{http.StatusUnauthorized, code, msg}
	}
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || len(parts) != 3 {
		return refuse(CodeAuthError, "Authentication Error: the Authorization header is not Bearer <JWT>")
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
		return refuse(CodeAuthError, "Authentication Error: the JWT is not base64url JSON")
	}
	if header.Alg != "PS256" || header.Typ != "JWT" {
		return refuse(CodeAuthError, "Authentication Error: the JWT header must be typ JWT, alg PS256")
	}
	var app vendorsim.HarmonyOSApp
	found := false
	for _, a := range h.cfg.Apps {
		if a.SubAccount == claims.Iss && a.KeyID == header.Kid {
			app, found = a, true
			break
		}
	}
	if !found {
		return refuse(CodeAuthError, "Authentication Error: no service account with this iss and kid")
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if k := h.keys[app.AppID]; k == nil || rsa.VerifyPSS(k, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthAuto}) != nil {
		return refuse(CodeAuthError, "Authentication Error: the JWT signature does not verify")
	}
	now := time.Now()
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	switch {
	case claims.Aud != Audience:
		return refuse(CodeAuthError, "Authentication Error: aud must be "+Audience)
	case claims.Iat == 0 || claims.Exp == 0 || !exp.After(iat) || iat.After(now.Add(harmonyOSClockSkew)):
		return refuse(CodeAuthError, "Authentication Error: iat and exp must be the issue and expiry times")
	case exp.Sub(iat) > MaxJWTLifetime:
		return vendorsim.HarmonyOSApp{}, &harmonyOSRefusal{http.StatusBadRequest, CodeJWTLifetimeTooLong, ""}
	case !exp.After(now):
		return refuse(CodeJWTExpired, "")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.expired[tok] {
		return refuse(CodeJWTExpired, "")
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

// send is a messages:send call as read.
type send struct {
	region, pushType string
	raw              []byte
	req              harmonyOSSendRequest
	readErr          error
	decodeErr        error
	tokens           []string
	app              vendorsim.HarmonyOSApp
	authErr          *harmonyOSRefusal
}

// readSend reads POST /harmonyos/{region}/v3/{projectId}/messages:send;
// it is recorded with Form holding "body" and "header.push-type".
func (h *sim) readSend(w http.ResponseWriter, r *http.Request, region string) (*send, vendorsim.Arrival) {
	c := &send{region: region, pushType: r.Header.Get("push-type")}
	c.raw, c.readErr = simkit.ReadBody(w, r, h.cfg.MaxBodyBytes)
	dec := json.NewDecoder(bytes.NewReader(c.raw))
	dec.DisallowUnknownFields()
	c.decodeErr = dec.Decode(&c.req)
	if c.req.Target != nil {
		c.tokens = slices.Clone(c.req.Target.Token)
	}
	c.app, c.authErr = h.verifyJWT(r.Header.Get("Authorization"))
	if c.authErr == nil && c.app.ProjectID != r.PathValue("projectId") {
		// A JWT of project A used to push to project B.
		c.authErr = &harmonyOSRefusal{http.StatusUnauthorized, CodeAuthError, "Authentication Error: the JWT is not of project " + r.PathValue("projectId")}
	}
	appID := vendorsim.AppOf(c.app.AppID, c.authErr == nil)
	return c, vendorsim.Arrival{AppID: appID, Form: url.Values{"body": {string(c.raw)}, "header.push-type": {c.pushType}}, Targets: c.tokens}
}

func (h *sim) authenticate(_ *http.Request, c *send) *vendorsim.Answer {
	if c.authErr == nil {
		return nil
	}
	return vendorsim.Refusal(h.refuse(vendorsim.Rejected, *c.authErr, nil))
}

// quota counts the call's devices: Push Kit answers an app over its QPS
// (devices a second) with HTTP 503.
func (h *sim) quota(c *send) vendorsim.Bucket {
	b := vendorsim.AppBucket(h.cfg.QuotaPerSecond, h.cfg.QuotaBurst, c.app.QuotaPerSecond, c.app.QuotaBurst)
	b.N = len(c.tokens) // Push Kit counts devices
	return b
}

// throttled is the answer over the quota.
func (h *sim) throttled(_ *send) vendorsim.Answer {
	return h.refuse(vendorsim.Throttled, harmonyOSRefusal{http.StatusServiceUnavailable, CodeInternalError,
		"Flow control: the app exceeds its QPS, distribute the sending speed evenly"}, nil)
}

func (h *sim) answerSend(_ *http.Request, c *send) vendorsim.Answer {
	switch {
	case c.readErr != nil:
		return h.refuse(vendorsim.Rejected, harmonyOSRefusal{http.StatusBadRequest, CodeBodyTooLarge, ""}, nil)
	case c.decodeErr != nil:
		return h.refuse(vendorsim.Rejected, harmonyOSRefusal{http.StatusBadRequest, CodeParameterError, "Check Parameter Error: " + c.decodeErr.Error()}, nil)
	}
	if e, ok := validateHarmonyOS(c.pushType, &c.req, harmonyOSMessageSize(c.raw)); !ok {
		return h.refuse(vendorsim.Rejected, e, nil)
	}
	if c.req.PushOptions != nil && c.req.PushOptions.TestMessage &&
		!h.s.AllowN(vendorsim.VendorHarmonyOS+".test", c.region, c.app.AppID, TestMessagesPerDay/86400.0, TestMessagesPerDay, len(c.tokens)) {
		return h.refuse(vendorsim.Throttled, harmonyOSRefusal{http.StatusBadRequest, CodeTestMessageThrottled, ""}, nil)
	}
	reason := map[string]string{}
	var accepted, invalid []string
	for _, t := range c.tokens {
		switch {
		case simkit.Matches(t, h.cfg.InvalidTokenPrefixes, h.cfg.InvalidTokens):
			reason[t] = "tokenFormatError"
		case c.pushType == "0" && c.req.Payload.Notification.Category == "PLAY_VOICE":
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
	var a vendorsim.Answer
	switch {
	case len(accepted) == 0:
		return h.refuse(vendorsim.Rejected, harmonyOSRefusal{http.StatusBadRequest, CodeAllTokensInvalid, detail()}, invalid)
	case len(invalid) > 0:
		a = h.answer(http.StatusOK, CodePartialSuccess, detail())
	default:
		a = h.answer(http.StatusOK, CodeSuccess, "")
	}
	a.Accepted, a.Invalid = accepted, invalid
	// A notification (push-type 0) can be revoked by its notifyId.
	if n := c.req.Payload.Notification; c.pushType == "0" && n != nil && n.NotifyID != nil {
		a.Recallable = vendorsim.SameID(strconv.Itoa(*n.NotifyID), accepted)
	}
	a.Receipts = h.receipts(c, accepted, a.Body)
	return a
}

// receipts are the receipts of the tokens a send accepted: Push Kit
// echoes pushOptions.biTag as biTag, with the send's requestId and the
// push-type.
func (h *sim) receipts(c *send, accepted []string, answer string) []vendorsim.Sent {
	if !h.s.WantsReceipts(c.region) {
		return nil
	}
	var a struct {
		RequestID string `json:"requestId"`
	}
	_ = json.Unmarshal([]byte(answer), &a)
	sent := vendorsim.SentTokens(accepted, c.req.PushOptions.biTag(), a.RequestID, c.app.PackageName)
	pt, _ := strconv.Atoi(c.pushType)
	for i := range sent {
		sent[i].PushType = pt
	}
	return sent
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

// validateHarmonyOS checks a send as Push Kit does; size is the length of
// the body without the token list.
func validateHarmonyOS(pushType string, req *harmonyOSSendRequest, size int) (harmonyOSRefusal, bool) {
	bad := func(code, format string, args ...any) (harmonyOSRefusal, bool) {
		return harmonyOSRefusal{http.StatusBadRequest, code, fmt.Sprintf(format, args...)}, false
	}
	illegal := func(format string, args ...any) (harmonyOSRefusal, bool) {
		return bad(CodeIllegalPayload, "Illegal payload, "+format, args...)
	}
	switch pushType {
	case "0", "6":
	case "1", "2", "7", "10":
		return illegal("push-type %s is a scenario the simulator does not serve (it serves 0 and 6)", pushType)
	default:
		return illegal("The header does not contain valid push-type: %q", pushType)
	}
	if req.Payload == nil || req.Target == nil {
		return bad(CodeParameterError, "Check Parameter Error: payload and target are mandatory")
	}
	opts := req.PushOptions
	if opts == nil {
		opts = &harmonyOSOptions{}
	}
	n := len(req.Target.Token)
	switch {
	case n == 0 || n > MaxTokens:
		return bad(CodeTooManyTokens, "token count should within 1 and %d, got %d", MaxTokens, n)
	case opts.TestMessage && n > MaxTestTokens:
		return bad(CodeTestMessageTooMany, "When send test message, token count exceed limit: %d tokens, at most %d", n, MaxTestTokens)
	case size > MaxMessageBytes:
		return bad(CodeBodyTooLarge, "Push message size is too long: %d bytes without the tokens, at most %d", size, MaxMessageBytes)
	case opts.TTL != nil && *opts.TTL <= 0:
		return bad(CodeIllegalExpire, "Illegal expire time: ttl %d", *opts.TTL)
	case opts.TTL != nil && *opts.TTL > MaxTTL:
		return bad(CodeParameterError, "Check Parameter Error: ttl %d is over %d seconds", *opts.TTL, MaxTTL)
	case len(opts.BiTag) > MaxBiTagBytes:
		return bad(CodeParameterError, "Check Parameter Error: biTag has %d bytes, at most %d", len(opts.BiTag), MaxBiTagBytes)
	case opts.CollapseKey != nil && (*opts.CollapseKey < -1 || *opts.CollapseKey > 100):
		return bad(CodeParameterError, "Check Parameter Error: collapseKey must be -1..100")
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
	case m.Category != "PLAY_VOICE" && !slices.Contains(Categories, m.Category):
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

// revoke is a messages:revoke call as read.
type revoke struct {
	region, pushType string
	req              struct {
		NotifyID *int     `json:"notifyId"`
		Token    []string `json:"token"`
	}
	readErr   error
	decodeErr error
	app       vendorsim.HarmonyOSApp
	authErr   *harmonyOSRefusal
}

// readRevoke reads POST /harmonyos/{region}/v1/{clientId}/messages:revoke;
// it is recorded like a send.
func (h *sim) readRevoke(w http.ResponseWriter, r *http.Request, region string) (*revoke, vendorsim.Arrival) {
	c := &revoke{region: region, pushType: r.Header.Get("push-type")}
	raw, readErr := simkit.ReadBody(w, r, h.cfg.MaxBodyBytes)
	c.readErr = readErr
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	c.decodeErr = dec.Decode(&c.req)
	c.app, c.authErr = h.verifyJWT(r.Header.Get("Authorization"))
	if c.authErr == nil && c.app.ClientID != r.PathValue("clientId") {
		c.authErr = &harmonyOSRefusal{http.StatusUnauthorized, CodeAuthError, "Authentication Error: the JWT is not of the app " + r.PathValue("clientId")}
	}
	appID := vendorsim.AppOf(c.app.AppID, c.authErr == nil)
	return c, vendorsim.Arrival{AppID: appID, Form: url.Values{"body": {string(raw)}, "header.push-type": {c.pushType}}, Targets: c.req.Token}
}

func (h *sim) authenticateRevoke(_ *http.Request, c *revoke) *vendorsim.Answer {
	if c.authErr == nil {
		return nil
	}
	return vendorsim.Refusal(h.refuse(vendorsim.Rejected, *c.authErr, nil))
}

// answerRevoke confirms the revocation of the tokens that had the
// notification.
func (h *sim) answerRevoke(_ *http.Request, c *revoke) vendorsim.Answer {
	refuse := func(e harmonyOSRefusal) vendorsim.Answer { return h.refuse(vendorsim.Rejected, e, nil) }
	switch {
	case c.readErr != nil:
		return refuse(harmonyOSRefusal{http.StatusBadRequest, CodeBodyTooLarge, ""})
	case c.decodeErr != nil:
		return refuse(harmonyOSRefusal{http.StatusBadRequest, CodeParameterError, "Check Parameter Error: " + c.decodeErr.Error()})
	case c.pushType != "0" && c.pushType != "2":
		return refuse(harmonyOSRefusal{http.StatusBadRequest, CodeIllegalPayload, "Illegal payload, The header does not contain valid push-type"})
	case c.req.NotifyID == nil:
		return refuse(harmonyOSRefusal{http.StatusBadRequest, CodeParameterError, "Check Parameter Error: notifyId is mandatory"})
	case len(c.req.Token) == 0 || len(c.req.Token) > MaxTokens:
		return refuse(harmonyOSRefusal{http.StatusBadRequest, CodeTooManyTokens, ""})
	}
	if recalled := h.s.Recall(vendorsim.VendorHarmonyOS, c.region, c.app.AppID, strconv.Itoa(*c.req.NotifyID), c.req.Token); len(recalled) == 0 {
		return refuse(harmonyOSRefusal{http.StatusBadRequest, CodeParameterError,
			fmt.Sprintf("Check Parameter Error: no message with notifyId %d was sent to these tokens", *c.req.NotifyID)})
	}
	return h.answer(http.StatusOK, CodeSuccess, "")
}
