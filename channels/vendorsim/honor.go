package vendorsim

import (
	"bytes"
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

	"github.com/pushpipe/pushpipe/channels"
)

// VendorHonor is the vendor name of Honor Push.
const VendorHonor = "honor"

// Honor Push answer codes the simulator uses. Success is 200 (Honor's
// sendMessage answer); the error codes are those of the Push Kit family
// Honor's API derives from (Huawei Push Kit's 80xxxxxx codes: 80100003
// illegal payload, 80200001 OAuth authentication error, 80200003 OAuth
// token expired, 80300007 all tokens invalid, 80300008 message body too
// large, 80300010 too many tokens). HonorCodeFlowControl (503) is the
// simulator's throttling answer, sent with HTTP 503 as the Push Kit family
// documents for traffic control.
const (
	HonorCodeSuccess          = 200
	HonorCodeFlowControl      = 503
	HonorCodeParameterError   = 80100001
	HonorCodeIllegalPayload   = 80100003
	HonorCodeInvalidTTL       = 80100004
	HonorCodeOAuthError       = 80200001
	HonorCodeOAuthExpired     = 80200003
	HonorCodeAllTokensInvalid = 80300007
	HonorCodeMessageTooLarge  = 80300008
	HonorCodeTooManyTokens    = 80300010
	HonorCodeInternalError    = 81000001
)

// Honor limits the simulator enforces: 1000 tokens a call, a ttl of at
// most 15 days ("1296000s"), a data payload of at most 4096 bytes, a
// notification title of 40 and body of 1024 characters (§8's Huawei row,
// the Push Kit family Honor's API derives from), a biTag of at most 64
// characters.
const (
	HonorMaxTokens      = 1000
	HonorMaxTTL         = 15 * 24 * time.Hour
	HonorMaxDataBytes   = 4096
	HonorMaxTitleRunes  = 40
	HonorMaxBodyRunes   = 1024
	HonorMaxBiTagRunes  = 64
	DefaultHonorQuota   = 1000.0
	DefaultHonorMaxBody = 1 << 20
	// DefaultHonorAccessTokenLifetime is the expires_in Honor's OAuth
	// endpoint answers (one hour).
	DefaultHonorAccessTokenLifetime = time.Hour
)

// Honor endpoint paths. The token endpoint is served under both Honor's
// IAM path and the Push Kit family's OAuth path.
const (
	HonorAuthPath        = "/auth/token"
	HonorOAuthV3Path     = "/oauth2/v3/token"
	HonorSendPathPattern = "/api/v1/{appId}/sendMessage"
)

// HonorSendPath returns the sendMessage path of a Honor app id.
func HonorSendPath(honorAppID string) string { return "/api/v1/" + honorAppID + "/sendMessage" }

var honorTTL = regexp.MustCompile(`^([0-9]+)(\.[0-9]+)?s$`)

// HonorConfig configures the simulated Honor Push server API. One simulator
// serves every region under its own path prefix: the base URL (and token
// endpoint prefix) of region R is http://ADDR/honor/R.
type HonorConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose client credentials are accepted.
	Apps []HonorApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: tokens starting with one of them are reported
	// in data.failTokens (or, when every token is, with code 80300007).
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are tokens reported invalid in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// ExpiredTokenPrefixes: tokens starting with one of them are reported
	// in data.expireTokens. Default none.
	ExpiredTokenPrefixes []string `json:"expiredTokenPrefixes" yaml:"expiredTokenPrefixes"`
	// QuotaPerSecond and QuotaBurst are the token bucket of sendMessage
	// calls per app and region for apps without their own; default
	// DefaultHonorQuota and the rate rounded up.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
	// AccessTokenLifetime is the expires_in of issued access tokens;
	// default DefaultHonorAccessTokenLifetime.
	AccessTokenLifetime Duration `json:"accessTokenLifetime" yaml:"accessTokenLifetime"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// HonorApp is one simulated Honor app.
type HonorApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// HonorAppID is Honor's app id, the {appId} of the sendMessage path.
	HonorAppID string `json:"honorAppId" yaml:"honorAppId"`
	// ClientID and ClientSecret are the OAuth client credentials.
	ClientID     string          `json:"clientId" yaml:"clientId"`
	ClientSecret channels.Secret `json:"clientSecret" yaml:"clientSecret"`
	// QuotaPerSecond and QuotaBurst override the HonorConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its secret.
func (a HonorApp) String() string {
	return fmt.Sprintf("{appId=%s honorAppId=%s clientId=%s clientSecret=%s quota=%g/%d}", a.AppID, a.HonorAppID, a.ClientID, a.ClientSecret, a.QuotaPerSecond, a.QuotaBurst)
}

func (c HonorConfig) withDefaults() HonorConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	c.ExpiredTokenPrefixes = slices.Clone(c.ExpiredTokenPrefixes)
	if c.QuotaPerSecond == 0 {
		c.QuotaPerSecond = DefaultHonorQuota
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = burstFor(c.QuotaPerSecond)
	}
	if c.AccessTokenLifetime == 0 {
		c.AccessTokenLifetime = Duration(DefaultHonorAccessTokenLifetime)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultHonorMaxBody
	}
	return c
}

func (c HonorConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: honor: "+format, args...))
	}
	for _, r := range c.Regions {
		if !slices.Contains(Regions(), r) {
			bad("unknown region %q", r)
		}
	}
	ids, clients, honorIDs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		switch {
		case a.AppID == "":
			bad("app %d has no appId", i)
		case ids[a.AppID]:
			bad("duplicate appId %q", a.AppID)
		}
		switch {
		case a.HonorAppID == "":
			bad("app %q has no honorAppId", a.AppID)
		case strings.ContainsAny(a.HonorAppID, "/?# "):
			bad("app %q: honorAppId %q cannot be a path segment", a.AppID, a.HonorAppID)
		case honorIDs[a.HonorAppID]:
			bad("app %q shares its honorAppId with another app", a.AppID)
		}
		if a.ClientID == "" {
			bad("app %q has no clientId", a.AppID)
		} else if clients[a.ClientID] {
			bad("app %q shares its clientId with another app", a.AppID)
		}
		if a.ClientSecret == "" {
			bad("app %q has no clientSecret", a.AppID)
		}
		if a.QuotaPerSecond < 0 || a.QuotaBurst < 0 {
			bad("app %q has a negative quota", a.AppID)
		}
		ids[a.AppID], clients[a.ClientID], honorIDs[a.HonorAppID] = true, true, true
	}
	if c.QuotaPerSecond < 0 || c.QuotaBurst < 0 {
		bad("negative quota")
	}
	if c.AccessTokenLifetime < Duration(time.Second) {
		bad("accessTokenLifetime must be at least one second")
	}
	if c.MaxBodyBytes <= 0 {
		bad("maxBodyBytes must be positive")
	}
	return errs
}

func (c HonorConfig) appCount() int { return len(c.Apps) }

// HonorBaseURL returns the Honor base URL of region on this simulator: the
// push client appends "/api/v1/{appId}/sendMessage", the token endpoint is
// HonorBaseURL + HonorAuthPath.
func (s *Server) HonorBaseURL(region string) string { return s.URL() + "/honor/" + region }

// honorSim serves the Honor endpoints. Its token store lives as long as
// the simulator (Reset does not forget issued access tokens).
type honorSim struct {
	s      *Simulator
	cfg    HonorConfig
	tokens *issuedTokens
}

func newHonorSim(s *Simulator) simVendor {
	return &honorSim{s: s, cfg: s.cfg.Honor, tokens: newIssuedTokens()}
}

func (h *honorSim) name() string { return VendorHonor }

func (h *honorSim) appIDs() []string {
	ids := make([]string, len(h.cfg.Apps))
	for i, a := range h.cfg.Apps {
		ids[i] = a.AppID
	}
	return ids
}

func (h *honorSim) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /honor/{region}"+HonorAuthPath, h.handleToken)
	mux.HandleFunc("POST /honor/{region}"+HonorOAuthV3Path, h.handleToken)
	mux.HandleFunc("POST /honor/{region}"+HonorSendPathPattern, h.handleSend)
	mux.HandleFunc("/honor/{region}/", h.handleOther)
}

func (h *honorSim) serves(region string) bool { return slices.Contains(h.cfg.Regions, region) }

// honorAnswer is Honor's sendMessage answer.
type honorAnswer struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Data    *honorSendData `json:"data,omitempty"`
}

type honorSendData struct {
	SendResult   bool     `json:"sendResult"`
	RequestID    string   `json:"requestId"`
	FailTokens   []string `json:"failTokens"`
	ExpireTokens []string `json:"expireTokens"`
}

// honorOAuthError is the OAuth endpoint's error answer.
type honorOAuthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func honorMessage(code int) string {
	switch code {
	case HonorCodeSuccess:
		return "success"
	case HonorCodeFlowControl:
		return "Flow control: the request rate exceeds the app's quota"
	case HonorCodeParameterError:
		return "Some request parameters are incorrect"
	case HonorCodeIllegalPayload:
		return "Illegal payload"
	case HonorCodeInvalidTTL:
		return "Invalid TTL"
	case HonorCodeOAuthError:
		return "Oauth authentication error"
	case HonorCodeOAuthExpired:
		return "Oauth Token expired"
	case HonorCodeAllTokensInvalid:
		return "All the tokens are invalid"
	case HonorCodeMessageTooLarge:
		return "The message body size exceeds the default value"
	case HonorCodeTooManyTokens:
		return "The number of tokens in the message body exceeds the default value"
	case HonorCodeInternalError:
		return "Internal error"
	}
	return "Unknown error"
}

func (h *honorSim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !h.serves(r.PathValue("region")) {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/sendMessage") || strings.HasSuffix(r.URL.Path, HonorAuthPath) || strings.HasSuffix(r.URL.Path, HonorOAuthV3Path) {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, honorAnswer{Code: http.StatusMethodNotAllowed, Message: "Method Not Allowed"})
		return
	}
	writeJSON(w, http.StatusNotFound, honorAnswer{Code: http.StatusNotFound, Message: "Not Found"})
}

// handleToken serves the OAuth 2.0 client-credentials token endpoint:
// form grant_type=client_credentials, client_id, client_secret. Injected
// faults, latency and quotas apply to sendMessage only.
func (h *honorSim) handleToken(w http.ResponseWriter, r *http.Request) {
	region := r.PathValue("region")
	if !h.serves(region) {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	form := r.PostForm
	if form == nil {
		form = url.Values{}
	}
	var app HonorApp
	known := false
	for _, a := range h.cfg.Apps {
		if a.ClientID == form.Get("client_id") && form.Get("client_id") != "" {
			app, known = a, true
		}
	}
	appID := UnknownApp
	if known && app.ClientSecret.Reveal() == form.Get("client_secret") {
		appID = app.AppID
	}
	rec := h.s.begin(VendorHonor, region, appID, r, form, nil)
	refuse := func(status int, e honorOAuthError) {
		body := writeJSON(w, status, e)
		h.s.finish(rec, status, 0, body, outRejected, nil, nil)
	}
	switch {
	case form.Get("grant_type") != "client_credentials":
		refuse(http.StatusBadRequest, honorOAuthError{"unsupported_grant_type", "grant_type must be client_credentials"})
		return
	case appID == UnknownApp:
		refuse(http.StatusUnauthorized, honorOAuthError{"invalid_client", "Invalid client or Invalid client credentials"})
		return
	}
	n, letters := h.s.nextID()
	tok := fmt.Sprintf("DQEBA%08d%s%s", n, letters, randomHex(h.s, 16))
	now := time.Now()
	lifetime := time.Duration(h.cfg.AccessTokenLifetime)
	h.tokens.issue(tok, app.AppID, now.Add(lifetime), now)
	body := writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "expires_in": int64(lifetime / time.Second), "token_type": "Bearer",
	})
	h.s.finish(rec, http.StatusOK, 0, body, outAccepted, nil, nil)
}

// honorRequest holds the sendMessage fields the simulator checks.
type honorRequest struct {
	Data         string `json:"data"`
	Notification *struct {
		Title string `json:"title"`
		Body  string `json:"body"`
	} `json:"notification"`
	Android *struct {
		TTL            string `json:"ttl"`
		BiTag          string `json:"biTag"`
		Data           string `json:"data"`
		TargetUserType int    `json:"targetUserType"`
		Notification   *struct {
			Title       string `json:"title"`
			Body        string `json:"body"`
			Importance  string `json:"importance"`
			Style       int    `json:"style"`
			ClickAction *struct {
				Type   int    `json:"type"`
				Intent string `json:"intent"`
				URL    string `json:"url"`
				Action string `json:"action"`
			} `json:"clickAction"`
		} `json:"notification"`
	} `json:"android"`
	Token []string `json:"token"`
}

// handleSend serves POST /honor/{region}/api/v1/{appId}/sendMessage.
func (h *honorSim) handleSend(w http.ResponseWriter, r *http.Request) {
	region := r.PathValue("region")
	if !h.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := readJSONBody(w, r, h.cfg.MaxBodyBytes)
	var req honorRequest
	decodeErr := json.Unmarshal(bytes.TrimSpace(raw), &req)
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	now := time.Now()
	appID, state := h.tokens.lookup(tok, now)
	recApp := UnknownApp
	if state == tokenValid {
		recApp = appID
	}
	rec := h.s.begin(VendorHonor, region, recApp, r, url.Values{"body": {string(raw)}, "header.timestamp": {r.Header.Get("timestamp")}}, req.Token)

	if !h.s.wait(r, h.s.delay(VendorHonor, region)) {
		h.s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler)
	}
	if f, ok := h.s.failure(VendorHonor, region); ok {
		h.s.writeInjected(w, rec, f, func(w http.ResponseWriter, f Failure) string {
			return writeJSON(w, f.Status, honorAnswer{Code: f.Code, Message: "Injected failure: " + honorMessage(f.Code)})
		})
		return
	}
	refuse := func(status int, out outcome, code int, detail string, data *honorSendData, invalid []string) {
		msg := honorMessage(code)
		if detail != "" {
			msg += ": " + detail
		}
		body := writeJSON(w, status, honorAnswer{Code: code, Message: msg, Data: data})
		h.s.finish(rec, status, code, body, out, nil, invalid)
	}
	var app HonorApp
	for _, a := range h.cfg.Apps {
		if a.AppID == appID {
			app = a
		}
	}
	switch {
	case state == tokenExpired:
		refuse(http.StatusUnauthorized, outRejected, HonorCodeOAuthExpired, "", nil, nil)
		return
	case state != tokenValid || app.HonorAppID != r.PathValue("appId"):
		refuse(http.StatusUnauthorized, outRejected, HonorCodeOAuthError, "", nil, nil)
		return
	}
	perSecond, burst := h.cfg.QuotaPerSecond, h.cfg.QuotaBurst
	if app.QuotaPerSecond > 0 {
		perSecond, burst = app.QuotaPerSecond, app.QuotaBurst
	}
	if !h.s.Allow(VendorHonor, region, appID, perSecond, burst) {
		refuse(http.StatusServiceUnavailable, outThrottled, HonorCodeFlowControl, "", nil, nil)
		return
	}
	if readErr != nil || decodeErr != nil {
		if errTooBig(readErr) {
			refuse(http.StatusBadRequest, outRejected, HonorCodeMessageTooLarge, "", nil, nil)
			return
		}
		refuse(http.StatusBadRequest, outRejected, HonorCodeParameterError, "the body is not a JSON message", nil, nil)
		return
	}
	if _, err := strconv.ParseInt(r.Header.Get("timestamp"), 10, 64); err != nil {
		refuse(http.StatusBadRequest, outRejected, HonorCodeParameterError, "the timestamp header is missing or not milliseconds", nil, nil)
		return
	}
	if code, detail := validateHonor(req); code != 0 {
		refuse(http.StatusBadRequest, outRejected, code, detail, nil, nil)
		return
	}

	var accepted, invalid []string
	data := &honorSendData{FailTokens: []string{}, ExpireTokens: []string{}}
	for _, t := range req.Token {
		switch {
		case tokenInvalid(t, h.cfg.InvalidTokenPrefixes, h.cfg.InvalidTokens):
			data.FailTokens = append(data.FailTokens, t)
			invalid = append(invalid, t)
		case tokenInvalid(t, h.cfg.ExpiredTokenPrefixes, nil):
			data.ExpireTokens = append(data.ExpireTokens, t)
			invalid = append(invalid, t)
		default:
			accepted = append(accepted, t)
		}
	}
	if len(accepted) == 0 {
		body := writeJSON(w, http.StatusOK, honorAnswer{Code: HonorCodeAllTokensInvalid, Message: honorMessage(HonorCodeAllTokensInvalid), Data: data})
		h.s.finish(rec, http.StatusOK, HonorCodeAllTokensInvalid, body, outRejected, nil, invalid)
		return
	}
	data.SendResult = true
	data.RequestID = app.HonorAppID + "-" + randomHex(h.s, 16)
	body := writeJSON(w, http.StatusOK, honorAnswer{Code: HonorCodeSuccess, Message: honorMessage(HonorCodeSuccess), Data: data})
	h.s.finish(rec, http.StatusOK, HonorCodeSuccess, body, outAccepted, accepted, invalid)
	// Honor receipts echo android.biTag with the send's requestId.
	if req.Android != nil {
		h.s.queueReceipts(VendorHonor, region, appID, sentTokens(accepted, req.Android.BiTag, data.RequestID, app.HonorAppID))
	}
}

// validateHonor checks a sendMessage body as Honor does.
func validateHonor(req honorRequest) (int, string) {
	switch {
	case len(req.Token) == 0:
		return HonorCodeTooManyTokens, "no token"
	case len(req.Token) > HonorMaxTokens:
		return HonorCodeTooManyTokens, fmt.Sprintf("%d tokens, at most %d", len(req.Token), HonorMaxTokens)
	case len(req.Data) > HonorMaxDataBytes:
		return HonorCodeMessageTooLarge, fmt.Sprintf("data has %d bytes, at most %d", len(req.Data), HonorMaxDataBytes)
	}
	var title, body string
	notification := req.Notification != nil
	if req.Notification != nil {
		title, body = req.Notification.Title, req.Notification.Body
	}
	if a := req.Android; a != nil {
		if a.TTL != "" {
			m := honorTTL.FindStringSubmatch(a.TTL)
			secs, err := strconv.ParseInt(valueOr(m, 1), 10, 64)
			if m == nil || err != nil || secs > int64(HonorMaxTTL/time.Second) {
				return HonorCodeInvalidTTL, fmt.Sprintf("ttl %q", a.TTL)
			}
		}
		if utf8.RuneCountInString(a.BiTag) > HonorMaxBiTagRunes {
			return HonorCodeParameterError, fmt.Sprintf("biTag longer than %d characters", HonorMaxBiTagRunes)
		}
		if a.TargetUserType != 0 && a.TargetUserType != 1 {
			return HonorCodeParameterError, fmt.Sprintf("targetUserType %d", a.TargetUserType)
		}
		if n := a.Notification; n != nil {
			notification = true
			if n.Title != "" {
				title = n.Title
			}
			if n.Body != "" {
				body = n.Body
			}
			switch {
			case n.ClickAction == nil:
				return HonorCodeIllegalPayload, "android.notification.clickAction is required"
			case n.ClickAction.Type < 1 || n.ClickAction.Type > 3:
				return HonorCodeIllegalPayload, fmt.Sprintf("clickAction.type %d", n.ClickAction.Type)
			case n.ClickAction.Type == 1 && n.ClickAction.Intent == "" && n.ClickAction.Action == "":
				return HonorCodeIllegalPayload, "clickAction type 1 needs intent or action"
			case n.ClickAction.Type == 2 && !strings.HasPrefix(n.ClickAction.URL, "https://"):
				return HonorCodeIllegalPayload, "clickAction type 2 needs an https url"
			case n.Importance != "" && n.Importance != "LOW" && n.Importance != "NORMAL":
				return HonorCodeIllegalPayload, fmt.Sprintf("importance %q", n.Importance)
			case n.Style != 0 && n.Style != 1:
				return HonorCodeIllegalPayload, fmt.Sprintf("style %d", n.Style)
			}
		}
	}
	if !notification {
		if req.Data == "" && (req.Android == nil || req.Android.Data == "") {
			return HonorCodeIllegalPayload, "a data message needs data"
		}
		return 0, ""
	}
	switch {
	case strings.TrimSpace(title) == "" || strings.TrimSpace(body) == "":
		return HonorCodeIllegalPayload, "a notification needs a title and a body"
	case utf8.RuneCountInString(title) > HonorMaxTitleRunes:
		return HonorCodeIllegalPayload, fmt.Sprintf("title longer than %d characters", HonorMaxTitleRunes)
	case utf8.RuneCountInString(body) > HonorMaxBodyRunes:
		return HonorCodeIllegalPayload, fmt.Sprintf("body longer than %d characters", HonorMaxBodyRunes)
	}
	return 0, ""
}

func valueOr(m []string, i int) string {
	if len(m) > i {
		return m[i]
	}
	return ""
}
