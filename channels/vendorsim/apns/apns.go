// Package apns simulates the APNs provider API for the vendor simulator
// (channels/vendorsim): HTTP/2 over TLS on the simulator's TLS listener,
// ES256 provider tokens, topics, the apns-* headers and the payload
// checked as APNs does, answered with APNs' statuses and reasons. Its
// configuration is vendorsim.APNsConfig.
package apns

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// APNs behaviour the simulator reproduces (Apple's "Sending notification
// requests to APNs", "Establishing a token-based connection to APNs" and
// "Handling error responses from APNs").
const (
	// MaxPayloadBytes is the limit of a notification's JSON payload;
	// MaxVoIPPayloadBytes that of a VoIP notification.
	MaxPayloadBytes     = 4096
	MaxVoIPPayloadBytes = 5120
	// ProviderTokenMaxAge is how old (iat) a provider token may be.
	ProviderTokenMaxAge = time.Hour
	// MinTokenUpdateInterval is the shortest interval between two
	// changes of provider token on one connection; a faster change is
	// answered 429 TooManyProviderTokenUpdates.
	MinTokenUpdateInterval = 20 * time.Minute
	// MaxCollapseIDBytes is the limit of apns-collapse-id.
	MaxCollapseIDBytes = 64
	// apnsFutureSkew is how far in the future a token's iat may be.
	apnsFutureSkew = 10 * time.Minute
	// apnsMaxBodyBytes bounds how much of a request body is read.
	apnsMaxBodyBytes = 64 << 10
)

// APNs error reasons the simulator answers with. BadPayload (a body that
// is not a JSON object with an "aps" dictionary) is the simulator's own:
// Apple documents no reason for it.
const (
	BadCollapseID               = "BadCollapseId"
	BadDeviceToken              = "BadDeviceToken"
	BadExpirationDate           = "BadExpirationDate"
	BadMessageID                = "BadMessageId"
	BadPayload                  = "BadPayload"
	BadPriority                 = "BadPriority"
	BadTopic                    = "BadTopic"
	DeviceTokenNotForTopic      = "DeviceTokenNotForTopic"
	DuplicateHeaders            = "DuplicateHeaders"
	InvalidPushType             = "InvalidPushType"
	MissingDeviceToken          = "MissingDeviceToken"
	MissingTopic                = "MissingTopic"
	PayloadEmpty                = "PayloadEmpty"
	TopicDisallowed             = "TopicDisallowed"
	ExpiredProviderToken        = "ExpiredProviderToken"
	InvalidProviderToken        = "InvalidProviderToken"
	MissingProviderToken        = "MissingProviderToken"
	BadPath                     = "BadPath"
	MethodNotAllowed            = "MethodNotAllowed"
	Unregistered                = "Unregistered"
	PayloadTooLarge             = "PayloadTooLarge"
	TooManyProviderTokenUpdates = "TooManyProviderTokenUpdates"
	TooManyRequests             = "TooManyRequests"
	InternalServerError         = "InternalServerError"
	ServiceUnavailable          = "ServiceUnavailable"
)

// sim serves the APNs endpoints.
type sim struct {
	s    *vendorsim.Simulator
	cfg  vendorsim.APNsConfig
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

// apnsSignedTokens bounds sim.signed.
const apnsSignedTokens = 1024

// apnsConnToken is the provider token a connection uses for one key.
type apnsConnToken struct {
	iat       int64     // issue time of the token in use
	changedAt time.Time // last change of token; zero before the first change
	lastUse   time.Time
}

// New returns the simulated APNs of s (vendorsim.NewVendor).
func New(s *vendorsim.Simulator) vendorsim.Vendor {
	a := &sim{s: s, cfg: s.Config().APNs, keys: map[string]*ecdsa.PublicKey{}, conns: map[string]*apnsConnToken{}, signed: map[string]bool{}}
	for _, app := range a.cfg.Apps {
		if pub, err := app.VerifyKey(); err == nil { // Validate checked every key
			a.keys[app.KeyID] = pub
		}
	}
	return a
}

// Name is vendorsim.VendorAPNs.
func (a *sim) Name() string { return vendorsim.VendorAPNs }

// Register serves notification requests and, for other paths and methods,
// APNs' BadPath, MissingDeviceToken and MethodNotAllowed answers.
func (a *sim) Register(mux *http.ServeMux) {
	mux.Handle("POST /apns/{region}/3/device/{token}", vendorsim.Endpoint[*push]{
		Sim: a.s, Vendor: vendorsim.VendorAPNs, Regions: a.cfg.Regions,
		Read: a.read, Injected: a.injected, Authenticate: a.authorize, Quota: a.quota, Throttled: a.throttled, Answer: a.answer,
	})
	mux.HandleFunc("/apns/{region}/", a.handleOther)
}

// errorAnswer is an APNs error: {"reason": ...} (and "timestamp" for
// 410), recorded without a code.
func errorAnswer(status int, reason string, timestamp int64) vendorsim.Answer {
	body := struct {
		Reason    string `json:"reason"`
		Timestamp int64  `json:"timestamp,omitempty"`
	}{reason, timestamp}
	b, _ := json.Marshal(body)
	return vendorsim.Answer{Status: status, ContentType: "application/json", Body: string(b)}
}

// refusal answers e, counted as out; a 410 carries the time the token
// was found unregistered.
func refusal(out vendorsim.Outcome, e apnsError, invalid []string) vendorsim.Answer {
	var ts int64
	if e.status == http.StatusGone {
		ts = time.Now().UnixMilli()
	}
	a := errorAnswer(e.status, e.reason, ts)
	a.Outcome, a.Invalid = out, invalid
	return a
}

// apnsReasonOf is the reason an injected failure answers with.
func apnsReasonOf(status int) string {
	switch status {
	case http.StatusServiceUnavailable:
		return ServiceUnavailable
	case http.StatusTooManyRequests:
		return TooManyRequests
	case http.StatusForbidden:
		return InvalidProviderToken
	case http.StatusGone:
		return Unregistered
	case http.StatusRequestEntityTooLarge:
		return PayloadTooLarge
	case http.StatusNotFound:
		return BadPath
	case http.StatusMethodNotAllowed:
		return MethodNotAllowed
	case http.StatusBadRequest:
		return BadDeviceToken
	}
	return InternalServerError
}

// handleOther answers paths and methods the simulated APNs does not serve.
func (a *sim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !vendorsim.ServesRegion(w, r, a.cfg.Regions) {
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, "/apns/"+r.PathValue("region"))
	w.Header().Set("apns-id", a.answerID(r))
	switch {
	case strings.HasPrefix(rest, "/3/device/") && r.Method != http.MethodPost:
		errorAnswer(http.StatusMethodNotAllowed, MethodNotAllowed, 0).With("Allow", http.MethodPost).Write(w)
	case rest == "/3/device/" || rest == "/3/device":
		errorAnswer(http.StatusBadRequest, MissingDeviceToken, 0).Write(w)
	default:
		errorAnswer(http.StatusNotFound, BadPath, 0).Write(w)
	}
}

// apnsError is a refusal: HTTP status and reason.
type apnsError struct {
	status int
	reason string
}

// push is one notification request as read.
type push struct {
	region, token, id string
	body              []byte
	readErr           error
	now               time.Time
	// app, key and iat are the provider token's, unless authErr refuses
	// it.
	app     vendorsim.APNsApp
	key     string
	iat     int64
	authErr *apnsError
}

// read reads POST /apns/{region}/3/device/{token}: one notification for
// one device. Every answer, accepted or refused, carries apns-id. It is
// recorded with Form holding "token", the apns-* headers sent and
// "payload" (the JSON body).
func (a *sim) read(w http.ResponseWriter, r *http.Request, region string) (*push, vendorsim.Arrival) {
	p := &push{region: region, token: r.PathValue("token"), id: a.answerID(r)}
	w.Header().Set("apns-id", p.id)
	p.body, p.readErr = io.ReadAll(http.MaxBytesReader(w, r.Body, apnsMaxBodyBytes))
	form := url.Values{"token": {p.token}, "payload": {string(p.body)}}
	for k, v := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "apns-") {
			form[lk] = slices.Clone(v)
		}
	}
	p.now = time.Now()
	p.app, p.key, p.iat, p.authErr = a.authenticate(r, p.now)
	arr := vendorsim.Arrival{AppID: vendorsim.UnknownApp, Form: form, Targets: []string{p.token}}
	if p.authErr == nil {
		arr.AppID = p.app.AppID
	}
	if r.ProtoMajor != 2 {
		// APNs speaks HTTP/2 only.
		ref := refusal(vendorsim.Rejected, apnsError{http.StatusHTTPVersionNotSupported, "HTTP/2 required"}, nil)
		arr.Refusal = &ref
	}
	return p, arr
}

// injected answers with the reason APNs gives the rule's status (APNs has
// no error with a 2xx status: those become 500).
func (a *sim) injected(f vendorsim.Failure) vendorsim.Answer {
	status := f.Status
	if status < 400 {
		status = http.StatusInternalServerError
	}
	ans := errorAnswer(status, apnsReasonOf(status), 0)
	ans.Code = f.Code
	return ans
}

func (a *sim) authorize(_ *http.Request, p *push) *vendorsim.Answer {
	if p.authErr != nil {
		return vendorsim.Refusal(refusal(vendorsim.Rejected, *p.authErr, nil))
	}
	return nil
}

func (a *sim) quota(p *push) vendorsim.Bucket {
	return vendorsim.AppBucket(a.cfg.QuotaPerSecond, a.cfg.QuotaBurst, p.app.QuotaPerSecond, p.app.QuotaBurst)
}

// throttled is the answer over the quota.
func (a *sim) throttled(_ *push) vendorsim.Answer {
	return refusal(vendorsim.Throttled, apnsError{http.StatusTooManyRequests, TooManyRequests}, nil)
}

// answer checks the change of provider token, the headers and the payload
// and answers for the device.
func (a *sim) answer(r *http.Request, p *push) vendorsim.Answer {
	if !a.useToken(r.RemoteAddr, p.key, p.iat, p.now) {
		return refusal(vendorsim.Throttled, apnsError{http.StatusTooManyRequests, TooManyProviderTokenUpdates}, nil)
	}
	if p.readErr != nil {
		if simkit.TooBig(p.readErr) {
			return refusal(vendorsim.Rejected, apnsError{http.StatusRequestEntityTooLarge, PayloadTooLarge}, nil)
		}
		return refusal(vendorsim.Rejected, apnsError{http.StatusBadRequest, BadPayload}, nil)
	}
	if e, ok := validateAPNs(r.Header, p.body); !ok {
		return refusal(vendorsim.Rejected, e, nil)
	}
	switch {
	case simkit.Matches(p.token, a.cfg.InvalidTokenPrefixes, a.cfg.InvalidTokens):
		return refusal(vendorsim.Rejected, apnsError{http.StatusBadRequest, BadDeviceToken}, []string{p.token})
	case simkit.Matches(p.token, a.cfg.UnregisteredTokenPrefixes, a.cfg.UnregisteredTokens):
		return refusal(vendorsim.Rejected, apnsError{http.StatusGone, Unregistered}, []string{p.token})
	}
	ans := vendorsim.Answer{Status: http.StatusOK, Outcome: vendorsim.Accepted, Accepted: []string{p.token}}
	if a.s.WantsReceipts(p.region) {
		// The app SDK reports with the deliveryId of the payload.
		var payload map[string]json.RawMessage
		var deliveryID string
		if json.Unmarshal(p.body, &payload) == nil {
			_ = json.Unmarshal(payload[vendorsim.DeliveryIDKey], &deliveryID)
		}
		ans.Receipts = vendorsim.SentTokens([]string{p.token}, deliveryID, p.id, "")
	}
	return ans
}

// answerID returns the apns-id of the answer to r: the request's apns-id,
// or a new UUID when the request has none or one that is not a UUID (Apple,
// "Handling notification responses from APNs": every answer carries the
// header, and APNs makes up a UUID when the request names none).
func (a *sim) answerID(r *http.Request) string {
	if id := r.Header.Get("apns-id"); apnsUUIDPattern.MatchString(id) {
		return id
	}
	n, _ := a.s.NextID()
	sum := sha256.Sum256([]byte("vendorsim apns-id " + strconv.FormatInt(n, 10)))
	return apnsUUID(sum[:16])
}

// authenticate checks the provider token and the topic as APNs does. It
// returns the app, the key id and iat of the token, or the refusal.
// verified reports whether the ES256 signature sig of signed (the provider
// token jwt's header and claims) verifies with pub, remembering tokens
// that did.
func (a *sim) verified(jwt string, pub *ecdsa.PublicKey, signed string, sig []byte) bool {
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

func (a *sim) authenticate(r *http.Request, now time.Time) (vendorsim.APNsApp, string, int64, *apnsError) {
	forbidden := func(reason string) (vendorsim.APNsApp, string, int64, *apnsError) {
		return vendorsim.APNsApp{}, "", 0, &apnsError{http.StatusForbidden, reason}
	}
	auth := r.Header.Get("Authorization")
	scheme, jwt, ok := strings.Cut(auth, " ")
	if auth == "" || !ok || !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(jwt) == "" {
		return forbidden(MissingProviderToken)
	}
	parts := strings.Split(strings.TrimSpace(jwt), ".")
	if len(parts) != 3 {
		return forbidden(InvalidProviderToken)
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
		return forbidden(InvalidProviderToken)
	}
	pub := a.keys[header.Kid]
	if header.Alg != "ES256" || pub == nil || len(sig) != 64 {
		return forbidden(InvalidProviderToken)
	}
	if !a.verified(strings.TrimSpace(jwt), pub, parts[0]+"."+parts[1], sig) {
		return forbidden(InvalidProviderToken)
	}
	var team []vendorsim.APNsApp
	for _, app := range a.cfg.Apps {
		if app.KeyID == header.Kid {
			team = append(team, app)
		}
	}
	if len(team) == 0 || claims.Iss != team[0].TeamID || claims.Iat <= 0 {
		return forbidden(InvalidProviderToken)
	}
	iat := time.Unix(claims.Iat, 0)
	if iat.After(now.Add(apnsFutureSkew)) {
		return forbidden(InvalidProviderToken)
	}
	if now.Sub(iat) > ProviderTokenMaxAge {
		return forbidden(ExpiredProviderToken)
	}
	topics := r.Header.Values("apns-topic")
	switch {
	case len(topics) == 0 || topics[0] == "":
		return vendorsim.APNsApp{}, "", 0, &apnsError{http.StatusBadRequest, MissingTopic}
	case len(topics) > 1:
		return vendorsim.APNsApp{}, "", 0, &apnsError{http.StatusBadRequest, DuplicateHeaders}
	case strings.ContainsAny(topics[0], " \t/"):
		return vendorsim.APNsApp{}, "", 0, &apnsError{http.StatusBadRequest, BadTopic}
	}
	// A Live Activity push goes to <bundle id>.push-type.liveactivity;
	// validateAPNs checks that the push type matches the topic.
	bundle := strings.TrimSuffix(topics[0], LiveActivityTopicSuffix)
	for _, app := range team {
		if app.BundleID == bundle {
			return app, header.Kid, claims.Iat, nil
		}
	}
	return vendorsim.APNsApp{}, "", 0, &apnsError{http.StatusBadRequest, TopicDisallowed}
}

// useToken records that the connection remoteAddr used the token of key
// issued at iat and reports whether the change of token (if it is one) is
// allowed: at most one change every MinTokenUpdateInterval per
// connection. Tokens are told apart by iat: ECDSA signatures differ each
// time a token is signed.
func (a *sim) useToken(remoteAddr, key string, iat int64, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	id := remoteAddr + "|" + key
	c := a.conns[id]
	if c == nil {
		if len(a.conns) >= 4096 {
			for k, old := range a.conns {
				if now.Sub(old.lastUse) > ProviderTokenMaxAge {
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
	if !c.changedAt.IsZero() && now.Sub(c.changedAt) < MinTokenUpdateInterval {
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
			return bad(DuplicateHeaders)
		}
	}
	pushType := h.Get("apns-push-type")
	if pushType != "" && !slices.Contains(apnsPushTypes, pushType) {
		return bad(InvalidPushType)
	}
	live := pushType == PushTypeLiveActivity
	if live != strings.HasSuffix(h.Get("apns-topic"), LiveActivityTopicSuffix) {
		// A Live Activity token belongs to the topic with the suffix, a
		// device token to the bundle id alone.
		return bad(DeviceTokenNotForTopic)
	}
	switch p := h.Get("apns-priority"); p {
	case "", "5":
	case "1":
		if live {
			return bad(BadPriority) // Live Activities take 5 or 10
		}
	case "10":
		if pushType == "background" {
			return bad(BadPriority) // background pushes must use 5 (or 1)
		}
	default:
		return bad(BadPriority)
	}
	if v := h.Get("apns-expiration"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err != nil || n < 0 {
			return bad(BadExpirationDate)
		}
	}
	if v := h.Get("apns-id"); v != "" && !apnsUUIDPattern.MatchString(v) {
		return bad(BadMessageID)
	}
	if v := h.Get("apns-collapse-id"); len(v) > MaxCollapseIDBytes {
		return bad(BadCollapseID)
	}
	limit := MaxPayloadBytes
	if pushType == "voip" {
		limit = MaxVoIPPayloadBytes
	}
	switch {
	case len(bytes.TrimSpace(body)) == 0:
		return bad(PayloadEmpty)
	case len(body) > limit:
		return apnsError{http.StatusRequestEntityTooLarge, PayloadTooLarge}, false
	}
	var payload map[string]json.RawMessage
	if json.Unmarshal(body, &payload) != nil {
		return bad(BadPayload)
	}
	var aps map[string]json.RawMessage
	if raw, ok := payload["aps"]; !ok || json.Unmarshal(raw, &aps) != nil || aps == nil {
		return bad(BadPayload)
	}
	if live && !validLiveActivity(aps) {
		return bad(BadPayload)
	}
	return apnsError{}, true
}

// APNs Live Activity pushes (ActivityKit push notifications).
const (
	PushTypeLiveActivity        = "liveactivity"
	LiveActivityTopicSuffix     = ".push-type.liveactivity"
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
