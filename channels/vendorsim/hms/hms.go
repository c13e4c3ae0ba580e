// Package hms simulates Huawei Push Kit for the vendor simulator
// (channels/vendorsim): the OAuth client-credentials token endpoint,
// messages:send and messages:revoke, checked and answered with Push Kit's
// codes. Its configuration is vendorsim.HMSConfig.
package hms

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// Huawei Push Kit answer codes the simulator uses (the "code" string of
// every answer), from Huawei's server API reference and server SDKs.
const (
	CodeSuccess           = "80000000"
	CodePartialSuccess    = "80100000" // msg: {"success":n,"failure":m,"illegal_tokens":[...]}
	CodeParameterError    = "80100001"
	CodeIllegalPayload    = "80100003"
	CodeInvalidTTL        = "80100004"
	CodeOAuthError        = "80200001"
	CodeOAuthTokenExpired = "80200003"
	CodeNoPermission      = "80300002"
	CodeAllTokensInvalid  = "80300007"
	CodeBodyTooLarge      = "80300008"
	CodeTooManyTokens     = "80300010"
	CodeInternalError     = "81000001"
)

// Huawei Push Kit limits the simulator enforces.
const (
	// MaxTokens is the most tokens of one call.
	MaxTokens = 1000
	// MaxMessageBytes bounds the message body, tokens excluded.
	MaxMessageBytes = 4096
	// MaxTitleRunes and MaxBodyRunes are §8's Huawei limits.
	MaxTitleRunes = 40
	MaxBodyRunes  = 1024
	// MaxTTL is the longest android.ttl (15 days).
	MaxTTL = 15 * 24 * time.Hour
)

// Categories are the android.category values (the mPaaS
// thirdChannelCategory.hms enumeration 1..14, in order).
var Categories = []string{"IM", "VOIP", "SUBSCRIPTION", "TRAVEL", "HEALTH", "WORK", "ACCOUNT",
	"EXPRESS", "FINANCE", "DEVICE_REMINDER", "SYSTEM_REMINDER", "MAIL", "PLAY_VOICE", "MARKETING"}

// sim serves the Push Kit endpoints.
type sim struct {
	s      *vendorsim.Simulator
	cfg    vendorsim.HMSConfig
	tokens *simkit.TokenStore // issued access tokens
}

// New returns the simulated Huawei Push Kit of s (vendorsim.NewVendor).
func New(s *vendorsim.Simulator) vendorsim.Vendor {
	return &sim{s: s, cfg: s.Config().HMS, tokens: simkit.NewTokenStore()}
}

// Name is vendorsim.VendorHMS.
func (h *sim) Name() string { return vendorsim.VendorHMS }

// RecallPath is RevokePath.
func (h *sim) RecallPath() string { return RevokePath }

// ExpireCredentials makes every access token issued so far expired:
// sends with one are answered 80200003 (OAuth token expired).
func (h *sim) ExpireCredentials() { h.tokens.ExpireAll() }

// Register serves the OAuth token endpoint, messages:send,
// messages:revoke and, for other paths, Push Kit's "Service not found".
func (h *sim) Register(mux *http.ServeMux) {
	mux.Handle("POST /hms/{region}/oauth2/v3/token", vendorsim.Endpoint[*grant]{
		Sim: h.s, Vendor: vendorsim.VendorHMS, Regions: h.cfg.Regions, Read: h.readToken, Answer: h.answerToken,
	})
	mux.Handle("POST /hms/{region}/v1/{appId}/messages:send", vendorsim.Endpoint[*send]{
		Sim: h.s, Vendor: vendorsim.VendorHMS, Regions: h.cfg.Regions,
		Read: h.readSend, Injected: h.injected, Authenticate: h.authenticate, Quota: h.quota, Throttled: h.throttled, Answer: h.answerSend,
	})
	mux.Handle("POST /hms/{region}/v1/{appId}"+RevokePath, vendorsim.Endpoint[*revoke]{
		Sim: h.s, Vendor: vendorsim.VendorHMS, Regions: h.cfg.Regions,
		Read: h.readRevoke, Injected: h.injectedRevoke, Authenticate: h.authenticateRevoke, Answer: h.answerRevoke,
	})
	mux.HandleFunc("/hms/{region}/", h.handleOther)
}

// grant is a token request as read.
type grant struct {
	form     url.Values
	parseErr error
	app      vendorsim.HMSApp
	found    bool
}

// readToken reads POST /hms/{region}/oauth2/v3/token: the client
// credentials grant. The client secret is not recorded.
func (h *sim) readToken(w http.ResponseWriter, r *http.Request, _ string) (*grant, vendorsim.Arrival) {
	g := &grant{}
	g.form, g.parseErr = simkit.ReadForm(w, r, 64<<10)
	recorded := url.Values{}
	for k, v := range g.form {
		if k != "client_secret" {
			recorded[k] = slices.Clone(v)
		}
	}
	for _, a := range h.cfg.Apps {
		if a.ClientID == g.form.Get("client_id") && a.ClientSecret.Reveal() == g.form.Get("client_secret") {
			g.app, g.found = a, true
			break
		}
	}
	appID := vendorsim.AppOf(g.app.AppID, g.found)
	return g, vendorsim.Arrival{AppID: appID, Form: recorded}
}

// answerToken answers a token request; refusals use the OAuth server's
// error shape {"error":N,"sub_error":M,"error_description":"..."}.
func (h *sim) answerToken(_ *http.Request, g *grant) vendorsim.Answer {
	refuse := func(status, code, sub int, desc string) vendorsim.Answer {
		a := vendorsim.JSON(status, map[string]any{"error": code, "sub_error": sub, "error_description": desc})
		a.Code, a.Outcome = code, vendorsim.Rejected
		return a
	}
	switch {
	case g.parseErr != nil:
		return refuse(http.StatusBadRequest, 1101, 20000, "invalid request")
	case g.form.Get("grant_type") != "client_credentials":
		return refuse(http.StatusBadRequest, 1101, 20003, "unsupported grant_type: "+g.form.Get("grant_type"))
	case g.form.Get("client_id") == "" || g.form.Get("client_secret") == "":
		return refuse(http.StatusBadRequest, 1102, 20001, "missing required parameter: client_id or client_secret")
	case !g.found:
		return refuse(http.StatusUnauthorized, 1101, 20068, "invalid client_id or client_secret")
	}
	n, letters := h.s.NextID()
	tok := fmt.Sprintf("DQEDAsim%s%d%s==", letters, n, strings.ReplaceAll(g.app.ClientID, "-", ""))
	lifetime := time.Duration(h.cfg.TokenLifetime)
	now := time.Now()
	h.tokens.Issue(tok, g.app.AppID, now.Add(lifetime), now)
	return vendorsim.JSON(http.StatusOK, simkit.BearerToken(tok, lifetime))
}

// hmsMsg is the "msg" Push Kit sends with a code.
func hmsMsg(code string) string {
	switch code {
	case CodeSuccess:
		return "Success"
	case CodeParameterError:
		return "The request parameters are incorrect"
	case CodeIllegalPayload:
		return "Illegal payload"
	case CodeInvalidTTL:
		return "Invalid ttl"
	case CodeOAuthError:
		return "Oauth authentication error"
	case CodeOAuthTokenExpired:
		return "Oauth Token expired"
	case CodeNoPermission:
		return "No permission to send message to these tokens"
	case CodeAllTokensInvalid:
		return "All the tokens are invalid"
	case CodeBodyTooLarge:
		return "The message body size exceeds the default value"
	case CodeTooManyTokens:
		return "The number of tokens in the message body exceeds the default value"
	case CodeInternalError:
		return "System internal error"
	}
	return "Unknown error"
}

// answer is {"code","msg","requestId"} with a new request id (msg ""
// is the code's), recording the code.
func (h *sim) answer(status int, code, msg string) vendorsim.Answer {
	if msg == "" {
		msg = hmsMsg(code)
	}
	return simkit.PushKitAnswer(h.s, status, code, msg)
}

// refuse is a refusal answered with status, counted as out.
func (h *sim) refuse(out vendorsim.Outcome, status int, e hmsRefusal, invalid []string) vendorsim.Answer {
	a := h.answer(status, e.code, e.msg)
	a.Outcome, a.Invalid = out, invalid
	return a
}

// handleOther answers paths of the Push Kit API the simulator does not
// serve.
func (h *sim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !vendorsim.ServesRegion(w, r, h.cfg.Regions) {
		return
	}
	h.answer(http.StatusNotFound, CodeParameterError, "Service not found: "+r.Method+" "+r.URL.Path).Write(w)
}

// Request body of Push Kit's messages:send; fields outside it are refused.
type (
	hmsSendRequest struct {
		ValidateOnly bool        `json:"validate_only"`
		Message      *hmsMessage `json:"message"`
	}
	hmsMessage struct {
		Data         string `json:"data"`
		Notification *struct {
			Title string `json:"title"`
			Body  string `json:"body"`
			Image string `json:"image"`
		} `json:"notification"`
		Android   *hmsAndroid     `json:"android"`
		APNs      json.RawMessage `json:"apns"`
		Webpush   json.RawMessage `json:"webpush"`
		Token     []string        `json:"token"`
		Topic     string          `json:"topic"`
		Condition string          `json:"condition"`
	}
	hmsAndroid struct {
		CollapseKey   *int                    `json:"collapse_key"`
		Urgency       string                  `json:"urgency"`
		Category      string                  `json:"category"`
		TTL           string                  `json:"ttl"`
		BiTag         string                  `json:"bi_tag"`
		ReceiptID     string                  `json:"receipt_id"`
		FastAppTarget int                     `json:"fast_app_target"`
		Data          string                  `json:"data"`
		Notification  *hmsAndroidNotification `json:"notification"`
	}
	hmsAndroidNotification struct {
		Title             string          `json:"title"`
		Body              string          `json:"body"`
		Icon              string          `json:"icon"`
		Color             string          `json:"color"`
		Sound             string          `json:"sound"`
		DefaultSound      bool            `json:"default_sound"`
		Tag               string          `json:"tag"`
		ClickAction       *hmsClickAction `json:"click_action"`
		BodyLocKey        string          `json:"body_loc_key"`
		BodyLocArgs       []string        `json:"body_loc_args"`
		TitleLocKey       string          `json:"title_loc_key"`
		TitleLocArgs      []string        `json:"title_loc_args"`
		MultiLangKey      json.RawMessage `json:"multi_lang_key"`
		ChannelID         string          `json:"channel_id"`
		NotifySummary     string          `json:"notify_summary"`
		Image             string          `json:"image"`
		Style             int             `json:"style"`
		BigTitle          string          `json:"big_title"`
		BigBody           string          `json:"big_body"`
		AutoClear         int             `json:"auto_clear"`
		NotifyID          *int            `json:"notify_id"`
		Group             string          `json:"group"`
		Badge             *hmsBadge       `json:"badge"`
		Ticker            string          `json:"ticker"`
		When              string          `json:"when"`
		Importance        string          `json:"importance"`
		UseDefaultVibrate bool            `json:"use_default_vibrate"`
		UseDefaultLight   bool            `json:"use_default_light"`
		VibrateConfig     []string        `json:"vibrate_config"`
		Visibility        string          `json:"visibility"`
		LightSettings     json.RawMessage `json:"light_settings"`
		ForegroundShow    *bool           `json:"foreground_show"`
		InboxContent      []string        `json:"inbox_content"`
		Buttons           json.RawMessage `json:"buttons"`
	}
	hmsClickAction struct {
		Type         int    `json:"type"`
		Intent       string `json:"intent"`
		Action       string `json:"action"`
		URL          string `json:"url"`
		RichResource string `json:"rich_resource"`
	}
	hmsBadge struct {
		AddNum int    `json:"add_num"`
		Class  string `json:"class"`
		SetNum *int   `json:"set_num"`
	}
)

var hmsTTLPattern = regexp.MustCompile(`^\d+(\.\d{1,9})?s?$`)

// hmsRefusal is an answer code with its msg.
type hmsRefusal struct {
	code, msg string
}

// send is a messages:send request as read.
type send struct {
	region    string
	form      url.Values
	req       hmsSendRequest
	generic   any // the body decoded without a schema
	readErr   error
	decodeErr error
	tokens    []string
	app       vendorsim.HMSApp
	authCode  string // the refusal code of the credentials, "" when they hold
}

// readSend reads POST /hms/{region}/v1/{appId}/messages:send; it is
// recorded with Form holding the flattened body.
func (h *sim) readSend(w http.ResponseWriter, r *http.Request, region string) (*send, vendorsim.Arrival) {
	c := &send{region: region, form: url.Values{}}
	var raw []byte
	raw, c.readErr = simkit.ReadBody(w, r, h.cfg.MaxBodyBytes)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	c.decodeErr = dec.Decode(&c.req)
	gdec := json.NewDecoder(bytes.NewReader(raw))
	gdec.UseNumber()
	if gdec.Decode(&c.generic) == nil {
		simkit.Flatten("", c.generic, c.form)
	}
	if c.req.Message != nil {
		c.tokens = slices.Clone(c.req.Message.Token)
	}
	c.app, c.authCode = h.access(r.Header.Get("Authorization"), r.PathValue("appId"))
	appID := vendorsim.AppOf(c.app.AppID, c.authCode == "")
	return c, vendorsim.Arrival{AppID: appID, Form: c.form, Targets: c.tokens}
}

// injected answers a failure rule with its code (default 81000001).
func (h *sim) injected(f vendorsim.Failure) vendorsim.Answer {
	code := CodeInternalError
	if f.Code != 0 {
		code = strconv.Itoa(f.Code)
	}
	return h.answer(f.Status, code, "")
}

func (h *sim) authenticate(_ *http.Request, c *send) *vendorsim.Answer {
	if c.authCode == "" {
		return nil
	}
	return vendorsim.Refusal(h.refuse(vendorsim.Rejected, http.StatusUnauthorized, hmsRefusal{code: c.authCode}, nil))
}

func (h *sim) quota(c *send) vendorsim.Bucket {
	return vendorsim.AppBucket(h.cfg.QuotaPerSecond, h.cfg.QuotaBurst, c.app.QuotaPerSecond, c.app.QuotaBurst)
}

// throttled is the answer over the quota.
func (h *sim) throttled(_ *send) vendorsim.Answer {
	return h.refuse(vendorsim.Throttled, http.StatusServiceUnavailable,
		hmsRefusal{CodeInternalError, "Traffic control: distribute the sending speed evenly"}, nil)
}

func (h *sim) answerSend(_ *http.Request, c *send) vendorsim.Answer {
	if c.readErr != nil {
		return h.refuse(vendorsim.Rejected, http.StatusBadRequest, hmsRefusal{code: CodeBodyTooLarge}, nil)
	}
	if c.decodeErr != nil {
		return h.refuse(vendorsim.Rejected, http.StatusBadRequest, hmsRefusal{CodeParameterError, "Illegal request body: " + c.decodeErr.Error()}, nil)
	}
	if e, ok := validateHMS(c.req.Message, hmsMessageSize(c.generic)); !ok {
		return h.refuse(vendorsim.Rejected, http.StatusBadRequest, e, nil)
	}
	var accepted, invalid []string
	for _, t := range c.tokens {
		if simkit.Matches(t, h.cfg.InvalidTokenPrefixes, h.cfg.InvalidTokens) {
			invalid = append(invalid, t)
		} else {
			accepted = append(accepted, t)
		}
	}
	if c.req.ValidateOnly {
		accepted = nil
	}
	var a vendorsim.Answer
	switch {
	case len(c.tokens) > 0 && len(invalid) == len(c.tokens):
		return h.refuse(vendorsim.Rejected, http.StatusBadRequest, hmsRefusal{code: CodeAllTokensInvalid}, invalid)
	case len(invalid) > 0:
		msg, _ := json.Marshal(map[string]any{"success": len(c.tokens) - len(invalid), "failure": len(invalid), "illegal_tokens": invalid})
		a = h.answer(http.StatusOK, CodePartialSuccess, string(msg))
	default:
		a = h.answer(http.StatusOK, CodeSuccess, "")
	}
	a.Accepted, a.Invalid = accepted, invalid
	// A notification can be revoked by its notify_id.
	if id := c.form.Get("message.android.notification.notify_id"); id != "" {
		a.Recallable = vendorsim.SameID(id, accepted)
	}
	a.Receipts = h.receipts(c, accepted, a.Body)
	return a
}

// receipts are the receipts of the tokens a send accepted: Huawei echoes
// android.bi_tag as biTag, with the send's requestId.
func (h *sim) receipts(c *send, accepted []string, answer string) []vendorsim.Sent {
	if !h.s.WantsReceipts(c.region) || len(accepted) == 0 {
		return nil
	}
	var biTag string
	if c.req.Message.Android != nil {
		biTag = c.req.Message.Android.BiTag
	}
	var a struct {
		RequestID string `json:"requestId"`
	}
	_ = json.Unmarshal([]byte(answer), &a)
	return vendorsim.SentTokens(accepted, biTag, a.RequestID, c.app.ClientID)
}

// hmsMessageSize returns the length of the request's message object
// without its token list (Push Kit's 4 KB limit excludes the tokens).
func hmsMessageSize(body any) int {
	req, _ := body.(map[string]any)
	msg, _ := req["message"].(map[string]any)
	if msg == nil {
		return 0
	}
	without := make(map[string]any, len(msg))
	for k, v := range msg {
		if k != "token" {
			without[k] = v
		}
	}
	b, _ := json.Marshal(without)
	return len(b)
}

// access checks "Bearer <token>" for the app of the URL; it returns the
// app, or the refusal code (80200001 or 80200003).
func (h *sim) access(auth, urlAppID string) (vendorsim.HMSApp, string) {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return vendorsim.HMSApp{}, CodeOAuthError
	}
	appID, state := h.tokens.Lookup(tok, time.Now())
	var app vendorsim.HMSApp
	for _, a := range h.cfg.Apps {
		if a.AppID == appID {
			app = a
		}
	}
	switch {
	case state == simkit.TokenMissing || state == simkit.TokenUnknown:
		return vendorsim.HMSApp{}, CodeOAuthError
	case app.ClientID != urlAppID:
		// A token of app A used to push for app B.
		return vendorsim.HMSApp{}, CodeOAuthError
	case state == simkit.TokenExpired:
		return vendorsim.HMSApp{}, CodeOAuthTokenExpired
	}
	return app, ""
}

// validateHMS checks a message as Push Kit does; size is the length of the
// message as sent, tokens excluded.
func validateHMS(m *hmsMessage, size int) (hmsRefusal, bool) {
	bad := func(code, format string, args ...any) (hmsRefusal, bool) {
		return hmsRefusal{code, fmt.Sprintf(format, args...)}, false
	}
	if m == nil {
		return bad(CodeParameterError, "message is mandatory")
	}
	targets := 0
	if m.Token != nil {
		targets++
	}
	if m.Topic != "" {
		targets++
	}
	if m.Condition != "" {
		targets++
	}
	if targets != 1 {
		return bad(CodeParameterError, "token, topic or condition must be choice one")
	}
	if m.Token != nil && (len(m.Token) == 0 || len(m.Token) > MaxTokens) {
		return bad(CodeTooManyTokens, "The number of tokens must be 1..%d, got %d", MaxTokens, len(m.Token))
	}
	if size > MaxMessageBytes {
		return bad(CodeBodyTooLarge, "The message body size %d exceeds the default value %d", size, MaxMessageBytes)
	}
	a := m.Android
	if a == nil {
		return hmsRefusal{}, true
	}
	if a.TTL != "" {
		if !hmsTTLPattern.MatchString(a.TTL) {
			return bad(CodeInvalidTTL, "Invalid ttl %q", a.TTL)
		}
		secs, _ := strconv.ParseFloat(strings.TrimSuffix(a.TTL, "s"), 64)
		if secs <= 0 || time.Duration(secs*float64(time.Second)) > MaxTTL {
			return bad(CodeInvalidTTL, "Invalid ttl %q: must be in (0, 15 days]", a.TTL)
		}
	}
	switch a.Urgency {
	case "", "HIGH", "NORMAL":
	default:
		return bad(CodeIllegalPayload, "Illegal payload, urgency must be HIGH or NORMAL")
	}
	if a.Category != "" && !slices.Contains(Categories, a.Category) {
		return bad(CodeIllegalPayload, "Illegal payload, unknown category %q", a.Category)
	}
	n := a.Notification
	if n == nil {
		return hmsRefusal{}, true
	}
	title, body := n.Title, n.Body
	if m.Notification != nil {
		title, body = cmp.Or(title, m.Notification.Title), cmp.Or(body, m.Notification.Body)
	}
	if strings.TrimSpace(title) == "" || strings.TrimSpace(body) == "" {
		return bad(CodeIllegalPayload, "Illegal payload, title and body are mandatory for notification messages")
	}
	if c := utf8.RuneCountInString(title); c > MaxTitleRunes {
		return bad(CodeIllegalPayload, "Illegal payload, title has %d characters, at most %d", c, MaxTitleRunes)
	}
	if c := utf8.RuneCountInString(body); c > MaxBodyRunes {
		return bad(CodeIllegalPayload, "Illegal payload, body has %d characters, at most %d", c, MaxBodyRunes)
	}
	ca := n.ClickAction
	if ca == nil {
		return bad(CodeIllegalPayload, "Illegal payload, click_action is mandatory")
	}
	switch ca.Type {
	case 1:
		if ca.Intent == "" && ca.Action == "" {
			return bad(CodeIllegalPayload, "Illegal payload, click_action type 1 needs intent or action")
		}
	case 2:
		if !strings.HasPrefix(ca.URL, "https://") && !strings.HasPrefix(ca.URL, "http://") {
			return bad(CodeIllegalPayload, "Illegal payload, click_action type 2 needs an http(s) url")
		}
	case 3:
	case 4:
		if ca.RichResource == "" {
			return bad(CodeIllegalPayload, "Illegal payload, click_action type 4 needs rich_resource")
		}
	default:
		return bad(CodeIllegalPayload, "Illegal payload, click_action type must be 1, 2, 3 or 4")
	}
	switch n.Importance {
	case "", "LOW", "NORMAL", "HIGH":
	default:
		return bad(CodeIllegalPayload, "Illegal payload, importance must be LOW, NORMAL or HIGH")
	}
	if n.Style == 1 && n.BigBody == "" {
		return bad(CodeIllegalPayload, "Illegal payload, big_body is mandatory for style 1")
	}
	if b := n.Badge; b != nil {
		if b.AddNum != 0 && (b.AddNum < 1 || b.AddNum > 99) {
			return bad(CodeIllegalPayload, "Illegal payload, badge addNum value ranges from 1 to 99")
		}
		if b.Class == "" {
			return bad(CodeIllegalPayload, "Illegal payload, badge class is mandatory")
		}
	}
	return hmsRefusal{}, true
}
