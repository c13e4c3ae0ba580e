package vendorsim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels"
)

// VendorOPPO is the vendor name of OPPO Push.
const VendorOPPO = "oppo"

// OPPO Push server API return codes the simulator answers with (the "code"
// field), from OPPO's "调用地址，公共参数和返回码" reference and its unicast
// reference (10000).
const (
	OPPOCodeServiceUnavailable       = -1
	OPPOCodeFlowControl              = -2
	OPPOCodeSuccess                  = 0
	OPPOCodeInvalidAuthToken         = 11
	OPPOCodeHTTPActionNotAllowed     = 12
	OPPOCodeAppCallLimited           = 13
	OPPOCodeInvalidAppKey            = 14
	OPPOCodeMissingAppKey            = 15
	OPPOCodeInvalidSignature         = 16
	OPPOCodeMissingSignature         = 17
	OPPOCodeMissingTimestamp         = 18
	OPPOCodeInvalidTimestamp         = 19
	OPPOCodeInvalidMethod            = 20
	OPPOCodeMissingAuthToken         = 29
	OPPOCodeMissingRequiredArguments = 40
	OPPOCodeInvalidArguments         = 41
	OPPOCodeCategoryError            = 67
	OPPOCodeInvalidRegistrationID    = 10000
)

// OPPO limits the simulator enforces: §8 of the mPaaS guide (title 32,
// content 200 characters), OPPO's batch unicast reference (1000 messages a
// call) and OPPO's server SDK checks (off_line_ttl at most 10 days,
// call_back_parameter at most 50 characters, call_back_url at most 200).
const (
	OPPOMaxTitleRunes       = 32
	OPPOMaxContentRunes     = 200
	OPPOMaxBatchMessages    = 1000
	OPPOMaxOffLineTTL       = 10 * 24 * time.Hour
	OPPOMaxCallBackParam    = 50
	OPPOMaxCallBackURLRunes = 200
	// OPPOAuthTimestampSkew is how far the auth timestamp may be from the
	// simulator's clock.
	OPPOAuthTimestampSkew = 10 * time.Minute
)

// Defaults of OPPOConfig.
const (
	// DefaultOPPOQuota is the simulator's call rate per app and region
	// (OPPO publishes daily message quotas, not a call rate).
	DefaultOPPOQuota = 1000.0
	// DefaultOPPOAuthTokenLifetime is the validity OPPO documents for an
	// auth_token.
	DefaultOPPOAuthTokenLifetime = 24 * time.Hour
	DefaultOPPOMaxBodyBytes      = 4 << 20
)

// OPPO endpoint paths below the base URL.
const (
	OPPOAuthPath         = "/server/v1/auth"
	OPPOUnicastPath      = "/server/v1/message/notification/unicast"
	OPPOUnicastBatchPath = "/server/v1/message/notification/unicast_batch"
)

// oppoCategories are the notification categories of OPPO's new message
// classification.
var oppoCategories = []string{"IM", "ACCOUNT", "DEVICE_REMINDER", "ORDER", "TODO", "SUBSCRIPTION", "NEWS", "CONTENT", "MARKETING", "SOCIAL"}

// OPPOConfig configures the simulated OPPO Push server API. One simulator
// serves every region under its own path prefix: the base URL of region R
// is http://ADDR/oppo/R.
type OPPOConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose AppKey and MasterSecret are accepted.
	Apps []OPPOApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: registration ids starting with one of them are
	// reported invalid (code 10000). Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are registration ids reported invalid in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// QuotaPerSecond and QuotaBurst are the token bucket of push calls per
	// app and region for apps without their own; default DefaultOPPOQuota
	// and the rate rounded up.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
	// AuthTokenLifetime is how long an issued auth_token is accepted;
	// default DefaultOPPOAuthTokenLifetime.
	AuthTokenLifetime Duration `json:"authTokenLifetime" yaml:"authTokenLifetime"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// OPPOApp is one simulated OPPO app.
type OPPOApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// AppKey is OPPO's AppKey, sent as app_key to the auth endpoint.
	AppKey string `json:"appKey" yaml:"appKey"`
	// MasterSecret signs the auth request.
	MasterSecret channels.Secret `json:"masterSecret" yaml:"masterSecret"`
	// QuotaPerSecond and QuotaBurst override the OPPOConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its secret.
func (a OPPOApp) String() string {
	return fmt.Sprintf("{appId=%s appKey=%s masterSecret=%s quota=%g/%d}", a.AppID, a.AppKey, a.MasterSecret, a.QuotaPerSecond, a.QuotaBurst)
}

func (c OPPOConfig) withDefaults() OPPOConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	if c.QuotaPerSecond == 0 {
		c.QuotaPerSecond = DefaultOPPOQuota
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = burstFor(c.QuotaPerSecond)
	}
	if c.AuthTokenLifetime == 0 {
		c.AuthTokenLifetime = Duration(DefaultOPPOAuthTokenLifetime)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultOPPOMaxBodyBytes
	}
	return c
}

func (c OPPOConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: oppo: "+format, args...))
	}
	for _, r := range c.Regions {
		if !slices.Contains(Regions(), r) {
			bad("unknown region %q", r)
		}
	}
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		switch {
		case a.AppID == "":
			bad("app %d has no appId", i)
		case ids[a.AppID]:
			bad("duplicate appId %q", a.AppID)
		}
		if a.AppKey == "" {
			bad("app %q has no appKey", a.AppID)
		} else if keys[a.AppKey] {
			bad("app %q shares its appKey with another app", a.AppID)
		}
		if a.MasterSecret == "" {
			bad("app %q has no masterSecret", a.AppID)
		}
		if a.QuotaPerSecond < 0 || a.QuotaBurst < 0 {
			bad("app %q has a negative quota", a.AppID)
		}
		ids[a.AppID], keys[a.AppKey] = true, true
	}
	if c.QuotaPerSecond < 0 || c.QuotaBurst < 0 {
		bad("negative quota")
	}
	if c.AuthTokenLifetime <= 0 {
		bad("authTokenLifetime must be positive")
	}
	if c.MaxBodyBytes <= 0 {
		bad("maxBodyBytes must be positive")
	}
	return errs
}

func (c OPPOConfig) appCount() int { return len(c.Apps) }

// OPPOBaseURL returns the OPPO base URL of region on this simulator (the
// client appends "/server/v1/...").
func (s *Server) OPPOBaseURL(region string) string { return s.URL() + "/oppo/" + region }

// oppoSim serves the OPPO endpoints. Its token store lives as long as the
// simulator (Reset does not forget issued auth tokens).
type oppoSim struct {
	s      *Simulator
	cfg    OPPOConfig
	tokens *issuedTokens
}

func newOPPOSim(s *Simulator) simVendor {
	return &oppoSim{s: s, cfg: s.cfg.OPPO, tokens: newIssuedTokens()}
}

func (o *oppoSim) name() string { return VendorOPPO }

func (o *oppoSim) appIDs() []string {
	ids := make([]string, len(o.cfg.Apps))
	for i, a := range o.cfg.Apps {
		ids[i] = a.AppID
	}
	return ids
}

func (o *oppoSim) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /oppo/{region}"+OPPOAuthPath, o.handleAuth)
	mux.HandleFunc("POST /oppo/{region}"+OPPOUnicastPath, func(w http.ResponseWriter, r *http.Request) { o.handlePush(w, r, false) })
	mux.HandleFunc("POST /oppo/{region}"+OPPOUnicastBatchPath, func(w http.ResponseWriter, r *http.Request) { o.handlePush(w, r, true) })
	mux.HandleFunc("/oppo/{region}/", o.handleOther)
}

func (o *oppoSim) serves(region string) bool { return slices.Contains(o.cfg.Regions, region) }

// oppoMessageText is the English description OPPO sends with a code.
func oppoMessageText(code int) string {
	switch code {
	case OPPOCodeServiceUnavailable:
		return "Service Currently Unavailable"
	case OPPOCodeFlowControl:
		return "Service in Flow Control"
	case OPPOCodeSuccess:
		return "Success"
	case OPPOCodeInvalidAuthToken:
		return "Invalid AuthToken"
	case OPPOCodeHTTPActionNotAllowed:
		return "Http Action Not Allowed"
	case OPPOCodeAppCallLimited:
		return "App Call Limited"
	case OPPOCodeInvalidAppKey:
		return "Invalid App Key"
	case OPPOCodeMissingAppKey:
		return "Missing App Key"
	case OPPOCodeInvalidSignature:
		return "Invalid Signature"
	case OPPOCodeMissingSignature:
		return "Missing Signature"
	case OPPOCodeMissingTimestamp:
		return "Missing Timestamp"
	case OPPOCodeInvalidTimestamp:
		return "Invalid Timestamp"
	case OPPOCodeInvalidMethod:
		return "Invalid Method"
	case OPPOCodeMissingAuthToken:
		return "Missing Auth Token"
	case OPPOCodeMissingRequiredArguments:
		return "Missing Required Arguments"
	case OPPOCodeInvalidArguments:
		return "Invalid Arguments"
	case OPPOCodeCategoryError:
		return "Category error"
	case OPPOCodeInvalidRegistrationID:
		return "Invalid RegistrationId"
	}
	return "Unknown Error"
}

// oppoAnswer is OPPO's JSON answer.
type oppoAnswer struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// oppoUnicastData is the data of a successful unicast.
type oppoUnicastData struct {
	MessageID string `json:"messageId"`
}

// oppoBatchEntry is one element of a unicast_batch answer's data.
type oppoBatchEntry struct {
	MessageID      string `json:"messageId,omitempty"`
	RegistrationID string `json:"registrationId"`
	ErrorCode      int    `json:"errorCode,omitempty"`
	ErrorMessage   string `json:"errorMessage,omitempty"`
}

// oppoMessage is one message of unicast / unicast_batch.
type oppoMessage struct {
	TargetType           int             `json:"target_type"`
	TargetValue          string          `json:"target_value"`
	Notification         json.RawMessage `json:"notification"`
	VerifyRegistrationID bool            `json:"verify_registration_id"`
}

// oppoNotification holds the notification fields the simulator checks.
type oppoNotification struct {
	Title             string `json:"title"`
	Content           string `json:"content"`
	ClickActionType   *int   `json:"click_action_type"`
	ClickActionURL    string `json:"click_action_url"`
	OffLineTTL        *int64 `json:"off_line_ttl"`
	CallBackURL       string `json:"call_back_url"`
	CallBackParameter string `json:"call_back_parameter"`
	Category          string `json:"category"`
	NotifyLevel       *int   `json:"notify_level"`
	Style             *int   `json:"style"`
	BigPictureID      string `json:"big_picture_id"`
}

func (o *oppoSim) write(w http.ResponseWriter, code int, message string, data any) string {
	if message == "" {
		message = oppoMessageText(code)
	}
	return writeJSON(w, http.StatusOK, oppoAnswer{Code: code, Message: message, Data: data})
}

func (o *oppoSim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !o.serves(r.PathValue("region")) {
		http.NotFound(w, r)
		return
	}
	for _, p := range []string{OPPOAuthPath, OPPOUnicastPath, OPPOUnicastBatchPath} {
		if strings.HasSuffix(r.URL.Path, p) {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, oppoAnswer{Code: OPPOCodeHTTPActionNotAllowed, Message: oppoMessageText(OPPOCodeHTTPActionNotAllowed)})
			return
		}
	}
	writeJSON(w, http.StatusNotFound, oppoAnswer{Code: OPPOCodeInvalidMethod, Message: oppoMessageText(OPPOCodeInvalidMethod)})
}

func (o *oppoSim) appByKey(key string) (OPPOApp, bool) {
	for _, a := range o.cfg.Apps {
		if a.AppKey == key {
			return a, true
		}
	}
	return OPPOApp{}, false
}

func (o *oppoSim) appByID(id string) (OPPOApp, bool) {
	for _, a := range o.cfg.Apps {
		if a.AppID == id {
			return a, true
		}
	}
	return OPPOApp{}, false
}

// OPPOSign returns the sign of an OPPO auth request: the lower-case hex
// SHA-256 of appKey + timestamp + masterSecret.
func OPPOSign(appKey, timestamp, masterSecret string) string {
	sum := sha256.Sum256([]byte(appKey + timestamp + masterSecret))
	return hex.EncodeToString(sum[:])
}

// handleAuth serves POST /oppo/{region}/server/v1/auth: app_key, sign and
// timestamp (form fields) for an auth_token. Injected faults, latency and
// quotas apply to push calls only.
func (o *oppoSim) handleAuth(w http.ResponseWriter, r *http.Request) {
	region := r.PathValue("region")
	if !o.serves(region) {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	form := r.PostForm
	if form == nil {
		form = url.Values{}
	}
	app, known := o.appByKey(form.Get("app_key"))
	appID := UnknownApp
	if known {
		appID = app.AppID
	}
	rec := o.s.begin(VendorOPPO, region, appID, r, form, nil)
	refuse := func(code int) {
		body := o.write(w, code, "", nil)
		o.s.finish(rec, http.StatusOK, code, body, outRejected, nil, nil)
	}
	now := time.Now()
	switch {
	case form.Get("app_key") == "":
		refuse(OPPOCodeMissingAppKey)
		return
	case !known:
		refuse(OPPOCodeInvalidAppKey)
		return
	case form.Get("timestamp") == "":
		refuse(OPPOCodeMissingTimestamp)
		return
	}
	ms, err := strconv.ParseInt(form.Get("timestamp"), 10, 64)
	if err != nil || absDuration(now.Sub(time.UnixMilli(ms))) > OPPOAuthTimestampSkew {
		refuse(OPPOCodeInvalidTimestamp)
		return
	}
	switch {
	case form.Get("sign") == "":
		refuse(OPPOCodeMissingSignature)
		return
	case !strings.EqualFold(form.Get("sign"), OPPOSign(app.AppKey, form.Get("timestamp"), app.MasterSecret.Reveal())):
		refuse(OPPOCodeInvalidSignature)
		return
	}
	n, letters := o.s.nextID()
	tok := fmt.Sprintf("oppo-at-%08d%s%s", n, letters, randomHex(o.s, 8))
	o.tokens.issue(tok, app.AppID, now.Add(time.Duration(o.cfg.AuthTokenLifetime)), now)
	body := o.write(w, OPPOCodeSuccess, "", map[string]any{"auth_token": tok, "create_time": now.UnixMilli()})
	o.s.finish(rec, http.StatusOK, OPPOCodeSuccess, body, outAccepted, nil, nil)
}

// handlePush serves unicast (one form field "message") and unicast_batch
// (form field "messages", a JSON array of at most 1000 messages, each
// answered in data with its own messageId or errorCode).
func (o *oppoSim) handlePush(w http.ResponseWriter, r *http.Request, batch bool) {
	region := r.PathValue("region")
	if !o.serves(region) {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, o.cfg.MaxBodyBytes)
	parseErr := r.ParseForm()
	form := r.PostForm
	if form == nil {
		form = url.Values{}
	}
	tok := r.Header.Get("auth_token")
	if tok == "" {
		tok = form.Get("auth_token")
	}
	now := time.Now()
	appID, tokenState := o.tokens.lookup(tok, now)
	msgs, decodeErr := decodeOPPOMessages(form, batch)
	targets := make([]string, len(msgs))
	for i, m := range msgs {
		targets[i] = m.TargetValue
	}
	recApp := UnknownApp
	if tokenState == tokenValid {
		recApp = appID
	}
	rec := o.s.begin(VendorOPPO, region, recApp, r, form, targets)
	o.s.setAuth(rec, tok)

	if !o.s.wait(r, o.s.delay(VendorOPPO, region)) {
		o.s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler)
	}
	if f, ok := o.s.failure(VendorOPPO, region); ok {
		o.s.writeInjected(w, rec, f, func(w http.ResponseWriter, f Failure) string {
			return writeJSON(w, f.Status, oppoAnswer{Code: f.Code, Message: "Injected failure: " + oppoMessageText(f.Code)})
		})
		return
	}
	refuse := func(out outcome, code int, message string) {
		body := o.write(w, code, message, nil)
		o.s.finish(rec, http.StatusOK, code, body, out, nil, nil)
	}
	switch tokenState {
	case tokenMissing:
		refuse(outRejected, OPPOCodeMissingAuthToken, "")
		return
	case tokenUnknown, tokenExpired:
		refuse(outRejected, OPPOCodeInvalidAuthToken, "")
		return
	}
	app, _ := o.appByID(appID)
	perSecond, burst := o.cfg.QuotaPerSecond, o.cfg.QuotaBurst
	if app.QuotaPerSecond > 0 {
		perSecond, burst = app.QuotaPerSecond, app.QuotaBurst
	}
	if !o.s.Allow(VendorOPPO, region, appID, perSecond, burst) {
		refuse(outThrottled, OPPOCodeAppCallLimited, "App Call Limited: call frequency exceeds the app's limit")
		return
	}
	if parseErr != nil {
		refuse(outRejected, OPPOCodeInvalidArguments, "Invalid Arguments: request body unreadable or too long")
		return
	}
	if decodeErr != nil {
		refuse(outRejected, decodeErr.code, decodeErr.message)
		return
	}

	n, letters := o.s.nextID()
	msgID := func(i int) string { return fmt.Sprintf("%s-1-1-%016x%s%02d", app.AppKey, n, letters, i%100) }
	if !batch {
		m := msgs[0]
		if e := o.validate(m); e != nil {
			var invalid []string
			if e.code == OPPOCodeInvalidRegistrationID {
				invalid = targets
			}
			body := o.write(w, e.code, e.message, nil)
			o.s.finish(rec, http.StatusOK, e.code, body, outRejected, nil, invalid)
			return
		}
		body := o.write(w, OPPOCodeSuccess, "", oppoUnicastData{MessageID: msgID(0)})
		o.s.finish(rec, http.StatusOK, OPPOCodeSuccess, body, outAccepted, targets, nil)
		o.queueReceipts(region, app, msgs[:1], []string{msgID(0)})
		return
	}
	var accepted, invalid, acceptedIDs []string
	var acceptedMsgs []oppoMessage
	entries := make([]oppoBatchEntry, len(msgs))
	for i, m := range msgs {
		entries[i] = oppoBatchEntry{RegistrationID: m.TargetValue}
		if e := o.validate(m); e != nil {
			entries[i].ErrorCode, entries[i].ErrorMessage = e.code, e.message
			if e.code == OPPOCodeInvalidRegistrationID {
				invalid = append(invalid, m.TargetValue)
			}
			continue
		}
		entries[i].MessageID = msgID(i)
		accepted = append(accepted, m.TargetValue)
		acceptedMsgs, acceptedIDs = append(acceptedMsgs, m), append(acceptedIDs, entries[i].MessageID)
	}
	out := outAccepted
	if len(accepted) == 0 {
		out = outRejected
	}
	body := o.write(w, OPPOCodeSuccess, "", entries)
	o.s.finish(rec, http.StatusOK, OPPOCodeSuccess, body, out, accepted, invalid)
	o.queueReceipts(region, app, acceptedMsgs, acceptedIDs)
}

// queueReceipts queues the receipts of accepted messages (ids[i] is the
// messageId of msgs[i]): OPPO receipts carry each message's
// call_back_parameter as param.
func (o *oppoSim) queueReceipts(region string, app OPPOApp, msgs []oppoMessage, ids []string) {
	if !o.s.wantsReceipts(region) {
		return
	}
	sent := make([]sentToken, len(msgs))
	for i, m := range msgs {
		var n oppoNotification
		_ = json.Unmarshal(m.Notification, &n)
		sent[i] = sentToken{token: m.TargetValue, correlation: n.CallBackParameter, vendorMsgID: ids[i], vendorAppID: app.AppKey,
			callbackURL: n.CallBackURL}
	}
	o.s.queueReceipts(VendorOPPO, region, app.AppID, sent)
}

// oppoError is a refusal: the code and OPPO's message.
type oppoError struct {
	code    int
	message string
}

func decodeOPPOMessages(form url.Values, batch bool) ([]oppoMessage, *oppoError) {
	field := "message"
	if batch {
		field = "messages"
	}
	raw := form.Get(field)
	if strings.TrimSpace(raw) == "" {
		return nil, &oppoError{OPPOCodeMissingRequiredArguments, "Missing Required Arguments: " + field}
	}
	if !batch {
		var m oppoMessage
		if err := json.Unmarshal([]byte(raw), &m); err != nil {
			return nil, &oppoError{OPPOCodeInvalidArguments, "Invalid Arguments: message is not a JSON object"}
		}
		return []oppoMessage{m}, nil
	}
	var ms []oppoMessage
	if err := json.Unmarshal([]byte(raw), &ms); err != nil {
		return nil, &oppoError{OPPOCodeInvalidArguments, "Invalid Arguments: messages is not a JSON array"}
	}
	if len(ms) == 0 {
		return nil, &oppoError{OPPOCodeMissingRequiredArguments, "Missing Required Arguments: messages is empty"}
	}
	if len(ms) > OPPOMaxBatchMessages {
		return ms, &oppoError{OPPOCodeInvalidArguments, fmt.Sprintf("Invalid Arguments: %d messages, at most %d", len(ms), OPPOMaxBatchMessages)}
	}
	return ms, nil
}

// validate checks one message as OPPO does.
func (o *oppoSim) validate(m oppoMessage) *oppoError {
	bad := func(code int, format string, args ...any) *oppoError {
		return &oppoError{code, oppoMessageText(code) + ": " + fmt.Sprintf(format, args...)}
	}
	if m.TargetType != 2 {
		return bad(OPPOCodeInvalidArguments, "target_type %d, the simulator serves 2 (registration_id)", m.TargetType)
	}
	if m.TargetValue == "" {
		return bad(OPPOCodeMissingRequiredArguments, "target_value")
	}
	if len(m.Notification) == 0 {
		return bad(OPPOCodeMissingRequiredArguments, "notification")
	}
	var n oppoNotification
	if err := json.Unmarshal(m.Notification, &n); err != nil {
		return bad(OPPOCodeInvalidArguments, "notification is not a JSON object")
	}
	switch {
	case strings.TrimSpace(n.Title) == "":
		return bad(OPPOCodeMissingRequiredArguments, "title")
	case strings.TrimSpace(n.Content) == "":
		return bad(OPPOCodeMissingRequiredArguments, "content")
	case utf8.RuneCountInString(n.Title) > OPPOMaxTitleRunes:
		return bad(OPPOCodeInvalidArguments, "title longer than %d characters", OPPOMaxTitleRunes)
	case utf8.RuneCountInString(n.Content) > OPPOMaxContentRunes:
		return bad(OPPOCodeInvalidArguments, "content longer than %d characters", OPPOMaxContentRunes)
	case n.OffLineTTL != nil && (*n.OffLineTTL < 0 || *n.OffLineTTL > int64(OPPOMaxOffLineTTL/time.Second)):
		return bad(OPPOCodeInvalidArguments, "off_line_ttl %d out of range", *n.OffLineTTL)
	case utf8.RuneCountInString(n.CallBackParameter) > OPPOMaxCallBackParam:
		return bad(OPPOCodeInvalidArguments, "call_back_parameter longer than %d characters", OPPOMaxCallBackParam)
	case n.CallBackURL != "" && (!isHTTPURL(n.CallBackURL) || utf8.RuneCountInString(n.CallBackURL) > OPPOMaxCallBackURLRunes):
		return bad(OPPOCodeInvalidArguments, "call_back_url %q", n.CallBackURL)
	case n.Category != "" && !slices.Contains(oppoCategories, n.Category):
		return bad(OPPOCodeCategoryError, "unknown category %q", n.Category)
	case n.NotifyLevel != nil && n.Category == "":
		return bad(OPPOCodeCategoryError, "notify_level needs a category")
	case n.NotifyLevel != nil && *n.NotifyLevel != 1 && *n.NotifyLevel != 2 && *n.NotifyLevel != 16:
		return bad(OPPOCodeCategoryError, "notify_level %d (want 1, 2 or 16)", *n.NotifyLevel)
	case n.Style != nil && (*n.Style < 1 || *n.Style > 3):
		return bad(OPPOCodeInvalidArguments, "style %d (want 1 standard, 2 long text or 3 big picture)", *n.Style)
	case n.Style != nil && *n.Style == 3 && n.BigPictureID == "":
		return bad(OPPOCodeMissingRequiredArguments, "big_picture_id for style 3")
	}
	if n.ClickActionType != nil {
		switch *n.ClickActionType {
		case 0, 1, 4:
		case 2, 5:
			if n.ClickActionURL == "" {
				return bad(OPPOCodeMissingRequiredArguments, "click_action_url for click_action_type %d", *n.ClickActionType)
			}
		default:
			return bad(OPPOCodeInvalidArguments, "click_action_type %d", *n.ClickActionType)
		}
	}
	if tokenInvalid(m.TargetValue, o.cfg.InvalidTokenPrefixes, o.cfg.InvalidTokens) {
		return &oppoError{OPPOCodeInvalidRegistrationID, "registration_id格式不正确"}
	}
	return nil
}

// --- helpers shared by the OPPO, vivo and Honor simulations ---

// tokenState is what an auth token presented to a push endpoint is.
type tokenState int

const (
	tokenMissing tokenState = iota
	tokenUnknown
	tokenExpired
	tokenValid
)

// issuedTokens remembers the auth tokens a simulated vendor issued, with
// the app and the expiry of each. Safe for concurrent use.
type issuedTokens struct {
	mu      sync.Mutex
	byToken map[string]issuedToken
}

type issuedToken struct {
	appID   string
	expires time.Time
}

func newIssuedTokens() *issuedTokens { return &issuedTokens{byToken: map[string]issuedToken{}} }

// issue records tok for appID until expires, forgetting tokens expired for
// a day or more.
func (t *issuedTokens) issue(tok, appID string, expires, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.byToken {
		if now.Sub(v.expires) > 24*time.Hour {
			delete(t.byToken, k)
		}
	}
	t.byToken[tok] = issuedToken{appID: appID, expires: expires}
}

// lookup returns the app of tok and its state at now.
func (t *issuedTokens) lookup(tok string, now time.Time) (string, tokenState) {
	if tok == "" {
		return "", tokenMissing
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	it, ok := t.byToken[tok]
	switch {
	case !ok:
		return "", tokenUnknown
	case !now.Before(it.expires):
		return it.appID, tokenExpired
	}
	return it.appID, tokenValid
}

// setAuth stores the credential a request presented in its record (for
// vendors that do not use the Authorization header).
func (s *Simulator) setAuth(rec *Request, auth string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec.Auth = auth
}

// writeInjected answers a request with an injected failure: the vendor's
// JSON error (vendorJSON) when the rule has a code, else a bare HTML
// gateway error; Retry-After is set when the rule asks for it.
func (s *Simulator) writeInjected(w http.ResponseWriter, rec *Request, f Failure, vendorJSON func(http.ResponseWriter, Failure) string) {
	if f.RetryAfter > 0 {
		secs := max(int64(time.Duration(f.RetryAfter)/time.Second), 1)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	var body string
	if f.Code != 0 {
		body = vendorJSON(w, f)
	} else {
		body = fmt.Sprintf("<html><body><h1>%d %s</h1></body></html>", f.Status, http.StatusText(f.Status))
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(body))
	}
	s.finish(rec, f.Status, f.Code, body, outInjected, nil, nil)
}

// randomHex returns n random bytes in hex from the simulator's generator.
func randomHex(s *Simulator, n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rng.IntN(256))
	}
	return hex.EncodeToString(b)
}

func tokenInvalid(t string, prefixes, tokens []string) bool {
	for _, p := range prefixes {
		if p != "" && strings.HasPrefix(t, p) {
			return true
		}
	}
	return slices.Contains(tokens, t)
}

func defaultRegions(r []string) []string {
	if len(r) == 0 {
		return Regions()
	}
	return slices.Clone(r)
}

func defaultPrefixes(p []string) []string {
	if p == nil {
		return []string{DefaultInvalidTokenPrefix}
	}
	return slices.Clone(p)
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// errTooBig reports whether err comes from a body over its limit.
func errTooBig(err error) bool {
	var tooBig *http.MaxBytesError
	return errors.As(err, &tooBig)
}
