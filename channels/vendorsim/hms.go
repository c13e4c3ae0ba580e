package vendorsim

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels"
)

// VendorHMS is the vendor name of Huawei Push Kit (OAuth client
// credentials).
const VendorHMS = "hms"

// Huawei Push Kit answer codes the simulator uses (the "code" string of
// every answer), from Huawei's server API reference and server SDKs.
const (
	HMSCodeSuccess           = "80000000"
	HMSCodePartialSuccess    = "80100000" // msg: {"success":n,"failure":m,"illegal_tokens":[...]}
	HMSCodeParameterError    = "80100001"
	HMSCodeIllegalPayload    = "80100003"
	HMSCodeInvalidTTL        = "80100004"
	HMSCodeOAuthError        = "80200001"
	HMSCodeOAuthTokenExpired = "80200003"
	HMSCodeNoPermission      = "80300002"
	HMSCodeAllTokensInvalid  = "80300007"
	HMSCodeBodyTooLarge      = "80300008"
	HMSCodeTooManyTokens     = "80300010"
	HMSCodeInternalError     = "81000001"
)

// Huawei Push Kit limits the simulator enforces.
const (
	// HMSMaxTokens is the most tokens of one call.
	HMSMaxTokens = 1000
	// HMSMaxMessageBytes bounds the message body, tokens excluded.
	HMSMaxMessageBytes = 4096
	// HMSMaxTitleRunes and HMSMaxBodyRunes are §8's Huawei limits.
	HMSMaxTitleRunes = 40
	HMSMaxBodyRunes  = 1024
	// HMSMaxTTL is the longest android.ttl (15 days).
	HMSMaxTTL = 15 * 24 * time.Hour
	// DefaultHMSQuotaPerSecond is the default call rate of an app.
	DefaultHMSQuotaPerSecond = 3000.0
	// DefaultHMSTokenLifetime is the expires_in of issued access tokens
	// (Huawei's app-level tokens live one hour).
	DefaultHMSTokenLifetime = time.Hour
	// DefaultHMSMaxBodyBytes bounds a request body.
	DefaultHMSMaxBodyBytes = 1 << 20
)

// HMSCategories are the android.category values (the mPaaS
// thirdChannelCategory.hms enumeration 1..14, in order).
var HMSCategories = []string{"IM", "VOIP", "SUBSCRIPTION", "TRAVEL", "HEALTH", "WORK", "ACCOUNT",
	"EXPRESS", "FINANCE", "DEVICE_REMINDER", "SYSTEM_REMINDER", "MAIL", "PLAY_VOICE", "MARKETING"}

// HMSConfig configures the simulated Huawei Push Kit. One simulator serves
// every region under its own prefix: the base URL (and OAuth URL) of region
// R is http://ADDR/hms/R; the token endpoint is
// http://ADDR/hms/R/oauth2/v3/token and the send endpoint
// http://ADDR/hms/R/v1/{appId}/messages:send.
type HMSConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose client credentials are accepted.
	Apps []HMSApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: tokens starting with one of them are reported
	// illegal (illegal_tokens of 80100000, or 80300007 when all are).
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are tokens reported illegal in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// QuotaPerSecond is the call rate of an app per region for apps
	// without their own; default DefaultHMSQuotaPerSecond. Calls over it
	// are answered HTTP 503 (traffic control).
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	// QuotaBurst is the token-bucket size; default the rate rounded up.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
	// TokenLifetime is the expires_in of issued access tokens; default
	// DefaultHMSTokenLifetime.
	TokenLifetime Duration `json:"tokenLifetime" yaml:"tokenLifetime"`
	// MaxBodyBytes bounds a request body; default DefaultHMSMaxBodyBytes.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// HMSApp is one simulated Huawei app.
type HMSApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// ClientID is the Huawei App ID: the OAuth client_id and the {appId}
	// of the send URL.
	ClientID string `json:"clientId" yaml:"clientId"`
	// ClientSecret is the App Secret (OAuth client_secret).
	ClientSecret channels.Secret `json:"clientSecret" yaml:"clientSecret"`
	// QuotaPerSecond and QuotaBurst override the HMSConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its secret.
func (a HMSApp) String() string {
	return fmt.Sprintf("{appId=%s clientId=%s clientSecret=%s quota=%g/%d}", a.AppID, a.ClientID, a.ClientSecret, a.QuotaPerSecond, a.QuotaBurst)
}

func (c HMSConfig) withDefaults() HMSConfig {
	if len(c.Regions) == 0 {
		c.Regions = Regions()
	} else {
		c.Regions = slices.Clone(c.Regions)
	}
	c.Apps = slices.Clone(c.Apps)
	if c.InvalidTokenPrefixes == nil {
		c.InvalidTokenPrefixes = []string{DefaultInvalidTokenPrefix}
	} else {
		c.InvalidTokenPrefixes = slices.Clone(c.InvalidTokenPrefixes)
	}
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	if c.QuotaPerSecond == 0 {
		c.QuotaPerSecond = DefaultHMSQuotaPerSecond
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = burstFor(c.QuotaPerSecond)
	}
	if c.TokenLifetime == 0 {
		c.TokenLifetime = Duration(DefaultHMSTokenLifetime)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultHMSMaxBodyBytes
	}
	return c
}

func (c HMSConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: hms: "+format, args...))
	}
	for _, r := range c.Regions {
		if !slices.Contains(Regions(), r) {
			bad("unknown region %q", r)
		}
	}
	ids, clients := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		if a.AppID == "" {
			bad("app %d has no appId", i)
		}
		if ids[a.AppID] {
			bad("duplicate appId %q", a.AppID)
		}
		if a.ClientID == "" {
			bad("app %q has no clientId (Huawei App ID)", a.AppID)
		}
		if clients[a.ClientID] {
			bad("app %q shares its clientId with another app", a.AppID)
		}
		if a.ClientSecret == "" {
			bad("app %q has no clientSecret", a.AppID)
		}
		ids[a.AppID], clients[a.ClientID] = true, true
		if a.QuotaPerSecond < 0 || a.QuotaBurst < 0 {
			bad("app %q has a negative quota", a.AppID)
		}
	}
	if c.QuotaPerSecond < 0 || c.QuotaBurst < 0 {
		bad("negative quota")
	}
	if c.TokenLifetime < 0 {
		bad("negative tokenLifetime")
	}
	if c.MaxBodyBytes <= 0 {
		bad("maxBodyBytes must be positive")
	}
	return errs
}

func (c HMSConfig) appCount() int { return len(c.Apps) }

// HMSBaseURL returns the Push Kit base URL of region on this simulator (the
// client appends "/v1/{appId}/messages:send").
func (s *Server) HMSBaseURL(region string) string { return s.URL() + "/hms/" + region }

// HMSAuthURL returns the OAuth base URL of region on this simulator (the
// client appends "/oauth2/v3/token").
func (s *Server) HMSAuthURL(region string) string { return s.HMSBaseURL(region) }

// ExpireHMSAccessTokens makes every access token issued so far expired:
// sends with one are answered 80200003 (OAuth token expired).
func (s *Simulator) ExpireHMSAccessTokens() {
	for _, v := range s.vendors {
		if h, ok := v.(*hmsSim); ok {
			h.mu.Lock()
			for k, a := range h.tokens {
				a.expires = time.Time{}
				h.tokens[k] = a
			}
			h.mu.Unlock()
		}
	}
}

// hmsSim serves the Push Kit endpoints.
type hmsSim struct {
	s   *Simulator
	cfg HMSConfig

	mu     sync.Mutex
	tokens map[string]hmsAccess // access token -> grant
}

// hmsAccess is an issued access token.
type hmsAccess struct {
	app     HMSApp
	expires time.Time
}

// newHMSSim returns the simulated Push Kit, or nil without apps.
func newHMSSim(s *Simulator) simVendor {
	if len(s.cfg.HMS.Apps) == 0 {
		return nil
	}
	return &hmsSim{s: s, cfg: s.cfg.HMS, tokens: map[string]hmsAccess{}}
}

func (h *hmsSim) name() string { return VendorHMS }

func (h *hmsSim) appIDs() []string {
	ids := make([]string, len(h.cfg.Apps))
	for i, a := range h.cfg.Apps {
		ids[i] = a.AppID
	}
	return ids
}

func (h *hmsSim) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /hms/{region}/oauth2/v3/token", h.handleToken)
	mux.HandleFunc("POST /hms/{region}/v1/{appId}/messages:send", h.handleSend)
	mux.HandleFunc("POST /hms/{region}/v1/{appId}"+HMSRevokePath, h.handleRevoke)
	mux.HandleFunc("/hms/{region}/", h.handleOther)
}

func (h *hmsSim) serves(region string) bool { return slices.Contains(h.cfg.Regions, region) }

// handleToken serves POST /hms/{region}/oauth2/v3/token: the client
// credentials grant. Refusals use the OAuth server's error shape
// {"error":N,"sub_error":M,"error_description":"..."}.
func (h *hmsSim) handleToken(w http.ResponseWriter, r *http.Request) {
	region := r.PathValue("region")
	if !h.serves(region) {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	parseErr := r.ParseForm()
	form := r.PostForm
	if form == nil {
		form = url.Values{}
	}
	recorded := url.Values{}
	for k, v := range form {
		if k != "client_secret" {
			recorded[k] = slices.Clone(v)
		}
	}
	var app HMSApp
	found := false
	for _, a := range h.cfg.Apps {
		if a.ClientID == form.Get("client_id") && a.ClientSecret.Reveal() == form.Get("client_secret") {
			app, found = a, true
			break
		}
	}
	appID := UnknownApp
	if found {
		appID = app.AppID
	}
	rec := h.s.begin(VendorHMS, region, appID, r, recorded, nil)
	refuse := func(status, code, sub int, desc string) {
		body := writeJSON(w, status, map[string]any{"error": code, "sub_error": sub, "error_description": desc})
		h.s.finish(rec, status, code, body, outRejected, nil, nil)
	}
	switch {
	case parseErr != nil:
		refuse(http.StatusBadRequest, 1101, 20000, "invalid request")
		return
	case form.Get("grant_type") != "client_credentials":
		refuse(http.StatusBadRequest, 1101, 20003, "unsupported grant_type: "+form.Get("grant_type"))
		return
	case form.Get("client_id") == "" || form.Get("client_secret") == "":
		refuse(http.StatusBadRequest, 1102, 20001, "missing required parameter: client_id or client_secret")
		return
	case !found:
		refuse(http.StatusUnauthorized, 1101, 20068, "invalid client_id or client_secret")
		return
	}
	n, letters := h.s.nextID()
	tok := fmt.Sprintf("DQEDAsim%s%d%s==", letters, n, strings.ReplaceAll(app.ClientID, "-", ""))
	lifetime := time.Duration(h.cfg.TokenLifetime)
	h.mu.Lock()
	h.tokens[tok] = hmsAccess{app: app, expires: time.Now().Add(lifetime)}
	h.mu.Unlock()
	body := writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "expires_in": int64(lifetime / time.Second), "token_type": "Bearer",
	})
	h.s.finish(rec, http.StatusOK, 0, body, outAccepted, nil, nil)
}

// hmsMsg is the "msg" Push Kit sends with a code.
func hmsMsg(code string) string {
	switch code {
	case HMSCodeSuccess:
		return "Success"
	case HMSCodeParameterError:
		return "The request parameters are incorrect"
	case HMSCodeIllegalPayload:
		return "Illegal payload"
	case HMSCodeInvalidTTL:
		return "Invalid ttl"
	case HMSCodeOAuthError:
		return "Oauth authentication error"
	case HMSCodeOAuthTokenExpired:
		return "Oauth Token expired"
	case HMSCodeNoPermission:
		return "No permission to send message to these tokens"
	case HMSCodeAllTokensInvalid:
		return "All the tokens are invalid"
	case HMSCodeBodyTooLarge:
		return "The message body size exceeds the default value"
	case HMSCodeTooManyTokens:
		return "The number of tokens in the message body exceeds the default value"
	case HMSCodeInternalError:
		return "System internal error"
	}
	return "Unknown error"
}

// writeHMS answers {"code","msg","requestId"}.
func (h *hmsSim) writeHMS(w http.ResponseWriter, status int, code, msg string) string {
	n, _ := h.s.nextID()
	if msg == "" {
		msg = hmsMsg(code)
	}
	return writeJSON(w, status, map[string]string{
		"code": code, "msg": msg, "requestId": fmt.Sprintf("%013d%011d", time.Now().UnixMilli(), n),
	})
}

// handleOther answers paths of the Push Kit API the simulator does not
// serve.
func (h *hmsSim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !h.serves(r.PathValue("region")) {
		http.NotFound(w, r)
		return
	}
	h.writeHMS(w, http.StatusNotFound, HMSCodeParameterError, "Service not found: "+r.Method+" "+r.URL.Path)
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

// handleSend serves POST /hms/{region}/v1/{appId}/messages:send.
func (h *hmsSim) handleSend(w http.ResponseWriter, r *http.Request) {
	s := h.s
	region, urlAppID := r.PathValue("region"), r.PathValue("appId")
	if !h.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	var req hmsSendRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	decodeErr := dec.Decode(&req)
	form := url.Values{}
	var generic any
	gdec := json.NewDecoder(bytes.NewReader(raw))
	gdec.UseNumber()
	if gdec.Decode(&generic) == nil {
		fcmFlatten("", generic, form)
	}
	var tokens []string
	if req.Message != nil {
		tokens = slices.Clone(req.Message.Token)
	}
	access, authCode := h.access(r.Header.Get("Authorization"), urlAppID)
	appID := UnknownApp
	if authCode == "" {
		appID = access.app.AppID
	}
	rec := s.begin(VendorHMS, region, appID, r, form, tokens)

	if !s.wait(r, s.delay(VendorHMS, region)) {
		s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler) // drop the connection without an answer
	}
	if f, ok := s.failure(VendorHMS, region); ok {
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(max(int64(time.Duration(f.RetryAfter)/time.Second), 1), 10))
		}
		code := HMSCodeInternalError
		if f.Code != 0 {
			code = strconv.Itoa(f.Code)
		}
		body := h.writeHMS(w, f.Status, code, "")
		s.finish(rec, f.Status, hmsCodeInt(code), body, outInjected, nil, nil)
		return
	}
	refuse := func(out outcome, status int, e hmsRefusal, invalid []string) {
		body := h.writeHMS(w, status, e.code, e.msg)
		s.finish(rec, status, hmsCodeInt(e.code), body, out, nil, invalid)
	}
	if authCode != "" {
		refuse(outRejected, http.StatusUnauthorized, hmsRefusal{code: authCode}, nil)
		return
	}
	app := access.app
	perSecond, burst := h.cfg.QuotaPerSecond, h.cfg.QuotaBurst
	if app.QuotaPerSecond > 0 {
		perSecond, burst = app.QuotaPerSecond, app.QuotaBurst
	}
	if !s.Allow(VendorHMS, region, app.AppID, perSecond, burst) {
		// Push Kit answers traffic control with HTTP 503.
		refuse(outThrottled, http.StatusServiceUnavailable,
			hmsRefusal{HMSCodeInternalError, "Traffic control: distribute the sending speed evenly"}, nil)
		return
	}
	if readErr != nil {
		refuse(outRejected, http.StatusBadRequest, hmsRefusal{code: HMSCodeBodyTooLarge}, nil)
		return
	}
	if decodeErr != nil {
		refuse(outRejected, http.StatusBadRequest, hmsRefusal{HMSCodeParameterError, "Illegal request body: " + decodeErr.Error()}, nil)
		return
	}
	if e, ok := validateHMS(req.Message, hmsMessageSize(generic)); !ok {
		refuse(outRejected, http.StatusBadRequest, e, nil)
		return
	}

	var accepted, invalid []string
	for _, t := range tokens {
		if h.tokenInvalid(t) {
			invalid = append(invalid, t)
		} else {
			accepted = append(accepted, t)
		}
	}
	if req.ValidateOnly {
		accepted = nil
	}
	switch {
	case len(tokens) > 0 && len(invalid) == len(tokens):
		refuse(outRejected, http.StatusBadRequest, hmsRefusal{code: HMSCodeAllTokensInvalid}, invalid)
	case len(invalid) > 0:
		msg, _ := json.Marshal(map[string]any{"success": len(tokens) - len(invalid), "failure": len(invalid), "illegal_tokens": invalid})
		body := h.writeHMS(w, http.StatusOK, HMSCodePartialSuccess, string(msg))
		s.finish(rec, http.StatusOK, hmsCodeInt(HMSCodePartialSuccess), body, outAccepted, accepted, invalid)
		h.queueReceipts(region, app, req.Message, accepted, body)
	default:
		body := h.writeHMS(w, http.StatusOK, HMSCodeSuccess, "")
		s.finish(rec, http.StatusOK, 0, body, outAccepted, accepted, nil)
		h.queueReceipts(region, app, req.Message, accepted, body)
	}
}

// queueReceipts queues the receipts of the tokens a send accepted: Huawei
// echoes android.bi_tag as biTag, with the send's requestId.
func (h *hmsSim) queueReceipts(region string, app HMSApp, m *hmsMessage, accepted []string, answer string) {
	if !h.s.wantsReceipts(region) || len(accepted) == 0 {
		return
	}
	var biTag string
	if m.Android != nil {
		biTag = m.Android.BiTag
	}
	var a struct {
		RequestID string `json:"requestId"`
	}
	_ = json.Unmarshal([]byte(answer), &a)
	h.s.queueReceipts(VendorHMS, region, app.AppID, sentTokens(accepted, biTag, a.RequestID, app.ClientID))
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

// hmsCodeInt is the numeric answer code for records (0 for success).
func hmsCodeInt(code string) int {
	if code == HMSCodeSuccess {
		return 0
	}
	n, _ := strconv.Atoi(code)
	return n
}

// access checks "Bearer <token>" for the app of the URL; it returns the
// grant, or the refusal code (80200001 or 80200003).
func (h *hmsSim) access(auth, urlAppID string) (hmsAccess, string) {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return hmsAccess{}, HMSCodeOAuthError
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	a, ok := h.tokens[tok]
	switch {
	case !ok:
		return hmsAccess{}, HMSCodeOAuthError
	case a.app.ClientID != urlAppID:
		// A token of app A used to push for app B.
		return hmsAccess{}, HMSCodeOAuthError
	case !time.Now().Before(a.expires):
		return hmsAccess{}, HMSCodeOAuthTokenExpired
	}
	return a, ""
}

func (h *hmsSim) tokenInvalid(t string) bool {
	for _, p := range h.cfg.InvalidTokenPrefixes {
		if p != "" && strings.HasPrefix(t, p) {
			return true
		}
	}
	return slices.Contains(h.cfg.InvalidTokens, t)
}

// validateHMS checks a message as Push Kit does; size is the length of the
// message as sent, tokens excluded.
func validateHMS(m *hmsMessage, size int) (hmsRefusal, bool) {
	bad := func(code, format string, args ...any) (hmsRefusal, bool) {
		return hmsRefusal{code, fmt.Sprintf(format, args...)}, false
	}
	if m == nil {
		return bad(HMSCodeParameterError, "message is mandatory")
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
		return bad(HMSCodeParameterError, "token, topic or condition must be choice one")
	}
	if m.Token != nil && (len(m.Token) == 0 || len(m.Token) > HMSMaxTokens) {
		return bad(HMSCodeTooManyTokens, "The number of tokens must be 1..%d, got %d", HMSMaxTokens, len(m.Token))
	}
	if size > HMSMaxMessageBytes {
		return bad(HMSCodeBodyTooLarge, "The message body size %d exceeds the default value %d", size, HMSMaxMessageBytes)
	}
	a := m.Android
	if a == nil {
		return hmsRefusal{}, true
	}
	if a.TTL != "" {
		if !hmsTTLPattern.MatchString(a.TTL) {
			return bad(HMSCodeInvalidTTL, "Invalid ttl %q", a.TTL)
		}
		secs, _ := strconv.ParseFloat(strings.TrimSuffix(a.TTL, "s"), 64)
		if secs <= 0 || time.Duration(secs*float64(time.Second)) > HMSMaxTTL {
			return bad(HMSCodeInvalidTTL, "Invalid ttl %q: must be in (0, 15 days]", a.TTL)
		}
	}
	switch a.Urgency {
	case "", "HIGH", "NORMAL":
	default:
		return bad(HMSCodeIllegalPayload, "Illegal payload, urgency must be HIGH or NORMAL")
	}
	if a.Category != "" && !slices.Contains(HMSCategories, a.Category) {
		return bad(HMSCodeIllegalPayload, "Illegal payload, unknown category %q", a.Category)
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
		return bad(HMSCodeIllegalPayload, "Illegal payload, title and body are mandatory for notification messages")
	}
	if c := utf8.RuneCountInString(title); c > HMSMaxTitleRunes {
		return bad(HMSCodeIllegalPayload, "Illegal payload, title has %d characters, at most %d", c, HMSMaxTitleRunes)
	}
	if c := utf8.RuneCountInString(body); c > HMSMaxBodyRunes {
		return bad(HMSCodeIllegalPayload, "Illegal payload, body has %d characters, at most %d", c, HMSMaxBodyRunes)
	}
	ca := n.ClickAction
	if ca == nil {
		return bad(HMSCodeIllegalPayload, "Illegal payload, click_action is mandatory")
	}
	switch ca.Type {
	case 1:
		if ca.Intent == "" && ca.Action == "" {
			return bad(HMSCodeIllegalPayload, "Illegal payload, click_action type 1 needs intent or action")
		}
	case 2:
		if !strings.HasPrefix(ca.URL, "https://") && !strings.HasPrefix(ca.URL, "http://") {
			return bad(HMSCodeIllegalPayload, "Illegal payload, click_action type 2 needs an http(s) url")
		}
	case 3:
	case 4:
		if ca.RichResource == "" {
			return bad(HMSCodeIllegalPayload, "Illegal payload, click_action type 4 needs rich_resource")
		}
	default:
		return bad(HMSCodeIllegalPayload, "Illegal payload, click_action type must be 1, 2, 3 or 4")
	}
	switch n.Importance {
	case "", "LOW", "NORMAL", "HIGH":
	default:
		return bad(HMSCodeIllegalPayload, "Illegal payload, importance must be LOW, NORMAL or HIGH")
	}
	if n.Style == 1 && n.BigBody == "" {
		return bad(HMSCodeIllegalPayload, "Illegal payload, big_body is mandatory for style 1")
	}
	if b := n.Badge; b != nil {
		if b.AddNum != 0 && (b.AddNum < 1 || b.AddNum > 99) {
			return bad(HMSCodeIllegalPayload, "Illegal payload, badge addNum value ranges from 1 to 99")
		}
		if b.Class == "" {
			return bad(HMSCodeIllegalPayload, "Illegal payload, badge class is mandatory")
		}
	}
	return hmsRefusal{}, true
}
