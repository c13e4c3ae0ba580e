// Package honor simulates Honor Push's server API for the vendor
// simulator (channels/vendorsim): the OAuth client-credentials token
// endpoint and sendMessage, checked and answered with Honor's codes. Its
// configuration is vendorsim.HonorConfig.
package honor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// Honor Push answer codes the simulator uses. Success is 200 (Honor's
// sendMessage answer); the error codes are those of the Push Kit family
// Honor's API derives from (Huawei Push Kit's 80xxxxxx codes: 80100003
// illegal payload, 80200001 OAuth authentication error, 80200003 OAuth
// token expired, 80300007 all tokens invalid, 80300008 message body too
// large, 80300010 too many tokens). CodeFlowControl (503) is the
// simulator's throttling answer, sent with HTTP 503 as the Push Kit family
// documents for traffic control.
const (
	CodeSuccess          = 200
	CodeFlowControl      = 503
	CodeParameterError   = 80100001
	CodeIllegalPayload   = 80100003
	CodeInvalidTTL       = 80100004
	CodeOAuthError       = 80200001
	CodeOAuthExpired     = 80200003
	CodeAllTokensInvalid = 80300007
	CodeMessageTooLarge  = 80300008
	CodeTooManyTokens    = 80300010
	CodeInternalError    = 81000001
)

// Honor limits the simulator enforces: 1000 tokens a call, a ttl of at
// most 15 days ("1296000s"), a data payload of at most 4096 bytes, a
// notification title of 40 and body of 1024 characters (§8's Huawei row,
// the Push Kit family Honor's API derives from), a biTag of at most 64
// characters.
const (
	MaxTokens     = 1000
	MaxTTL        = 15 * 24 * time.Hour
	MaxDataBytes  = 4096
	MaxTitleRunes = 40
	MaxBodyRunes  = 1024
	MaxBiTagRunes = 64
)

// Honor endpoint paths. The token endpoint is served under both Honor's
// IAM path and the Push Kit family's OAuth path.
const (
	AuthPath        = "/auth/token"
	OAuthV3Path     = "/oauth2/v3/token"
	SendPathPattern = "/api/v1/{appId}/sendMessage"
)

// SendPath returns the sendMessage path of a Honor app id.
func SendPath(honorAppID string) string { return "/api/v1/" + honorAppID + "/sendMessage" }

var honorTTL = regexp.MustCompile(`^([0-9]+)(\.[0-9]+)?s$`)

// sim serves the Honor endpoints. Its token store lives as long as
// the simulator (Reset does not forget issued access tokens).
type sim struct {
	s      *vendorsim.Simulator
	cfg    vendorsim.HonorConfig
	tokens *simkit.TokenStore
}

// New returns the simulated Honor Push of s (vendorsim.NewVendor).
func New(s *vendorsim.Simulator) vendorsim.Vendor {
	return &sim{s: s, cfg: s.Config().Honor, tokens: simkit.NewTokenStore()}
}

// Name is vendorsim.VendorHonor.
func (h *sim) Name() string { return vendorsim.VendorHonor }

// Register serves the token endpoint (at AuthPath and OAuthV3Path),
// sendMessage and, for other paths, Honor's 404 and 405 answers.
func (h *sim) Register(mux *http.ServeMux) {
	token := vendorsim.Endpoint[*grant]{Sim: h.s, Vendor: vendorsim.VendorHonor, Regions: h.cfg.Regions, Read: h.readToken, Answer: h.answerToken}
	mux.Handle("POST /honor/{region}"+AuthPath, token)
	mux.Handle("POST /honor/{region}"+OAuthV3Path, token)
	mux.Handle("POST /honor/{region}"+SendPathPattern, vendorsim.Endpoint[*send]{
		Sim: h.s, Vendor: vendorsim.VendorHonor, Regions: h.cfg.Regions,
		Read: h.readSend, Injected: h.injected, Authenticate: h.authenticate, Quota: h.quota, Throttled: h.throttled, Answer: h.answerSend,
	})
	mux.HandleFunc("/honor/{region}/", h.handleOther)
}

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
	case CodeSuccess:
		return "success"
	case CodeFlowControl:
		return "Flow control: the request rate exceeds the app's quota"
	case CodeParameterError:
		return "Some request parameters are incorrect"
	case CodeIllegalPayload:
		return "Illegal payload"
	case CodeInvalidTTL:
		return "Invalid TTL"
	case CodeOAuthError:
		return "Oauth authentication error"
	case CodeOAuthExpired:
		return "Oauth Token expired"
	case CodeAllTokensInvalid:
		return "All the tokens are invalid"
	case CodeMessageTooLarge:
		return "The message body size exceeds the default value"
	case CodeTooManyTokens:
		return "The number of tokens in the message body exceeds the default value"
	case CodeInternalError:
		return "Internal error"
	}
	return "Unknown error"
}

func (h *sim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !vendorsim.ServesRegion(w, r, h.cfg.Regions) {
		return
	}
	if strings.HasSuffix(r.URL.Path, "/sendMessage") || strings.HasSuffix(r.URL.Path, AuthPath) || strings.HasSuffix(r.URL.Path, OAuthV3Path) {
		vendorsim.JSON(http.StatusMethodNotAllowed, honorAnswer{Code: http.StatusMethodNotAllowed, Message: "Method Not Allowed"}).
			With("Allow", http.MethodPost).Write(w)
		return
	}
	vendorsim.JSON(http.StatusNotFound, honorAnswer{Code: http.StatusNotFound, Message: "Not Found"}).Write(w)
}

// grant is a token request as read.
type grant struct {
	form url.Values
	app  vendorsim.HonorApp
}

// readToken reads the OAuth 2.0 client-credentials token endpoint: form
// grant_type=client_credentials, client_id, client_secret. Injected
// faults, latency and quotas apply to sendMessage only.
func (h *sim) readToken(w http.ResponseWriter, r *http.Request, _ string) (*grant, vendorsim.Arrival) {
	g := &grant{}
	g.form, _ = simkit.ReadForm(w, r, 64<<10)
	known := false
	for _, a := range h.cfg.Apps {
		if a.ClientID == g.form.Get("client_id") && g.form.Get("client_id") != "" {
			g.app, known = a, true
		}
	}
	appID := vendorsim.AppOf(g.app.AppID, known && g.app.ClientSecret.Reveal() == g.form.Get("client_secret"))
	return g, vendorsim.Arrival{AppID: appID, Form: g.form}
}

func (h *sim) answerToken(_ *http.Request, g *grant) vendorsim.Answer {
	refuse := func(status int, e honorOAuthError) vendorsim.Answer {
		a := vendorsim.JSON(status, e)
		a.Outcome = vendorsim.Rejected
		return a
	}
	switch {
	case g.form.Get("grant_type") != "client_credentials":
		return refuse(http.StatusBadRequest, honorOAuthError{"unsupported_grant_type", "grant_type must be client_credentials"})
	case g.app.AppID == "" || g.app.ClientSecret.Reveal() != g.form.Get("client_secret"):
		return refuse(http.StatusUnauthorized, honorOAuthError{"invalid_client", "Invalid client or Invalid client credentials"})
	}
	n, letters := h.s.NextID()
	tok := fmt.Sprintf("DQEBA%08d%s%s", n, letters, h.s.RandomHex(16))
	now := time.Now()
	lifetime := time.Duration(h.cfg.AccessTokenLifetime)
	h.tokens.Issue(tok, g.app.AppID, now.Add(lifetime), now)
	return vendorsim.JSON(http.StatusOK, simkit.BearerToken(tok, lifetime))
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

// send is a sendMessage request as read.
type send struct {
	region    string
	req       honorRequest
	readErr   error
	decodeErr error
	state     simkit.TokenState
	app       vendorsim.HonorApp // the access token's app
}

// readSend reads POST /honor/{region}/api/v1/{appId}/sendMessage; it is
// recorded with Form holding "body" and "header.timestamp".
func (h *sim) readSend(w http.ResponseWriter, r *http.Request, region string) (*send, vendorsim.Arrival) {
	c := &send{region: region}
	raw, readErr := simkit.ReadBody(w, r, h.cfg.MaxBodyBytes)
	c.readErr = readErr
	c.decodeErr = json.Unmarshal(bytes.TrimSpace(raw), &c.req)
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var appID string
	appID, c.state = h.tokens.Lookup(tok, time.Now())
	for _, a := range h.cfg.Apps {
		if a.AppID == appID {
			c.app = a
		}
	}
	recApp := vendorsim.AppOf(appID, c.state == simkit.TokenValid)
	return c, vendorsim.Arrival{AppID: recApp, Form: url.Values{"body": {string(raw)}, "header.timestamp": {r.Header.Get("timestamp")}}, Targets: c.req.Token}
}

// refuse answers code (its message, with detail) with status, counted as
// out.
func refuse(status int, out vendorsim.Outcome, code int, detail string) vendorsim.Answer {
	msg := honorMessage(code)
	if detail != "" {
		msg += ": " + detail
	}
	a := vendorsim.JSON(status, honorAnswer{Code: code, Message: msg})
	a.Code, a.Outcome = code, out
	return a
}

func (h *sim) injected(f vendorsim.Failure) vendorsim.Answer {
	return vendorsim.InjectedAnswer(f, func(f vendorsim.Failure) vendorsim.Answer {
		return vendorsim.JSON(f.Status, honorAnswer{Code: f.Code, Message: "Injected failure: " + honorMessage(f.Code)})
	})
}

func (h *sim) authenticate(r *http.Request, c *send) *vendorsim.Answer {
	var a vendorsim.Answer
	switch {
	case c.state == simkit.TokenExpired:
		a = refuse(http.StatusUnauthorized, vendorsim.Rejected, CodeOAuthExpired, "")
	case c.state != simkit.TokenValid || c.app.HonorAppID != r.PathValue("appId"):
		a = refuse(http.StatusUnauthorized, vendorsim.Rejected, CodeOAuthError, "")
	default:
		return nil
	}
	return &a
}

func (h *sim) quota(c *send) vendorsim.Bucket {
	return vendorsim.AppBucket(h.cfg.QuotaPerSecond, h.cfg.QuotaBurst, c.app.QuotaPerSecond, c.app.QuotaBurst)
}

// throttled is the answer over the quota.
func (h *sim) throttled(_ *send) vendorsim.Answer {
	return refuse(http.StatusServiceUnavailable, vendorsim.Throttled, CodeFlowControl, "")
}

func (h *sim) answerSend(r *http.Request, c *send) vendorsim.Answer {
	if c.readErr != nil || c.decodeErr != nil {
		if simkit.TooBig(c.readErr) {
			return refuse(http.StatusBadRequest, vendorsim.Rejected, CodeMessageTooLarge, "")
		}
		return refuse(http.StatusBadRequest, vendorsim.Rejected, CodeParameterError, "the body is not a JSON message")
	}
	if _, err := strconv.ParseInt(r.Header.Get("timestamp"), 10, 64); err != nil {
		return refuse(http.StatusBadRequest, vendorsim.Rejected, CodeParameterError, "the timestamp header is missing or not milliseconds")
	}
	if code, detail := validateHonor(c.req); code != 0 {
		return refuse(http.StatusBadRequest, vendorsim.Rejected, code, detail)
	}
	var accepted, invalid []string
	data := &honorSendData{FailTokens: []string{}, ExpireTokens: []string{}}
	for _, t := range c.req.Token {
		switch {
		case simkit.Matches(t, h.cfg.InvalidTokenPrefixes, h.cfg.InvalidTokens):
			data.FailTokens = append(data.FailTokens, t)
			invalid = append(invalid, t)
		case simkit.Matches(t, h.cfg.ExpiredTokenPrefixes, nil):
			data.ExpireTokens = append(data.ExpireTokens, t)
			invalid = append(invalid, t)
		default:
			accepted = append(accepted, t)
		}
	}
	if len(accepted) == 0 {
		a := vendorsim.JSON(http.StatusOK, honorAnswer{Code: CodeAllTokensInvalid, Message: honorMessage(CodeAllTokensInvalid), Data: data})
		a.Code, a.Outcome, a.Invalid = CodeAllTokensInvalid, vendorsim.Rejected, invalid
		return a
	}
	data.SendResult = true
	data.RequestID = c.app.HonorAppID + "-" + h.s.RandomHex(16)
	a := vendorsim.JSON(http.StatusOK, honorAnswer{Code: CodeSuccess, Message: honorMessage(CodeSuccess), Data: data})
	a.Code, a.Accepted, a.Invalid = CodeSuccess, accepted, invalid
	// Honor receipts echo android.biTag with the send's requestId.
	if c.req.Android != nil {
		a.Receipts = vendorsim.SentTokens(accepted, c.req.Android.BiTag, data.RequestID, c.app.HonorAppID)
	}
	return a
}

// validateHonor checks a sendMessage body as Honor does.
func validateHonor(req honorRequest) (int, string) {
	switch {
	case len(req.Token) == 0:
		return CodeTooManyTokens, "no token"
	case len(req.Token) > MaxTokens:
		return CodeTooManyTokens, fmt.Sprintf("%d tokens, at most %d", len(req.Token), MaxTokens)
	case len(req.Data) > MaxDataBytes:
		return CodeMessageTooLarge, fmt.Sprintf("data has %d bytes, at most %d", len(req.Data), MaxDataBytes)
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
			if m == nil || err != nil || secs > int64(MaxTTL/time.Second) {
				return CodeInvalidTTL, fmt.Sprintf("ttl %q", a.TTL)
			}
		}
		if utf8.RuneCountInString(a.BiTag) > MaxBiTagRunes {
			return CodeParameterError, fmt.Sprintf("biTag longer than %d characters", MaxBiTagRunes)
		}
		if a.TargetUserType != 0 && a.TargetUserType != 1 {
			return CodeParameterError, fmt.Sprintf("targetUserType %d", a.TargetUserType)
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
				return CodeIllegalPayload, "android.notification.clickAction is required"
			case n.ClickAction.Type < 1 || n.ClickAction.Type > 3:
				return CodeIllegalPayload, fmt.Sprintf("clickAction.type %d", n.ClickAction.Type)
			case n.ClickAction.Type == 1 && n.ClickAction.Intent == "" && n.ClickAction.Action == "":
				return CodeIllegalPayload, "clickAction type 1 needs intent or action"
			case n.ClickAction.Type == 2 && !strings.HasPrefix(n.ClickAction.URL, "https://"):
				return CodeIllegalPayload, "clickAction type 2 needs an https url"
			case n.Importance != "" && n.Importance != "LOW" && n.Importance != "NORMAL":
				return CodeIllegalPayload, fmt.Sprintf("importance %q", n.Importance)
			case n.Style != 0 && n.Style != 1:
				return CodeIllegalPayload, fmt.Sprintf("style %d", n.Style)
			}
		}
	}
	if !notification {
		if req.Data == "" && (req.Android == nil || req.Android.Data == "") {
			return CodeIllegalPayload, "a data message needs data"
		}
		return 0, ""
	}
	switch {
	case strings.TrimSpace(title) == "" || strings.TrimSpace(body) == "":
		return CodeIllegalPayload, "a notification needs a title and a body"
	case utf8.RuneCountInString(title) > MaxTitleRunes:
		return CodeIllegalPayload, fmt.Sprintf("title longer than %d characters", MaxTitleRunes)
	case utf8.RuneCountInString(body) > MaxBodyRunes:
		return CodeIllegalPayload, fmt.Sprintf("body longer than %d characters", MaxBodyRunes)
	}
	return 0, ""
}

func valueOr(m []string, i int) string {
	if len(m) > i {
		return m[i]
	}
	return ""
}
