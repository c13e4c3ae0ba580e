package vendorsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// VendorSelf is the vendor name of the self-built connection gateway.
const VendorSelf = "self"

// Behaviour of the simulated connection gateway (the API channels/selfchannel
// documents).
const (
	// DefaultSelfQuota is the call rate per app and region.
	DefaultSelfQuota = 1000.0
	// DefaultSelfOfflineTokenPrefix marks tokens of devices that are not
	// connected (status "offline").
	DefaultSelfOfflineTokenPrefix = "offline-"
	// DefaultSelfMaxBodyBytes bounds a request body.
	DefaultSelfMaxBodyBytes = 8 << 20
	// SelfMaxMessages is the most messages one call carries.
	SelfMaxMessages = 1000
	// SelfMaxPayloadBytes is the limit of a message's payload (mPaaS §8:
	// 2 KB on Android channels).
	SelfMaxPayloadBytes = 2048
)

// SelfConfig configures the simulated self-built connection gateway. One
// simulator serves every region under its own prefix: the base URL of
// region R is http://ADDR/self/R (Server.SelfBaseURL) and messages are
// posted to {base}/v1/push with "Authorization: Bearer <app key>".
// Requests are recorded with Request.Form["body"] holding the JSON body
// and Request.RegIDs the tokens.
type SelfConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose keys are accepted.
	Apps []SelfApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: tokens starting with one of them are answered
	// "invalid_token". Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are tokens answered "invalid_token" in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// OfflineTokenPrefixes: tokens starting with one of them are answered
	// "offline". Default [DefaultSelfOfflineTokenPrefix].
	OfflineTokenPrefixes []string `json:"offlineTokenPrefixes" yaml:"offlineTokenPrefixes"`
	// OfflineTokens are tokens answered "offline" in addition.
	OfflineTokens []string `json:"offlineTokens" yaml:"offlineTokens"`
	// QuotaPerSecond is the token-bucket rate of calls per app and region
	// for apps without their own; default DefaultSelfQuota. Over it, calls
	// are answered 429 rate_limited with Retry-After.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	// QuotaBurst is the bucket size; default the rate rounded up.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
	// MaxBodyBytes bounds a request body (413 payload_too_large);
	// default DefaultSelfMaxBodyBytes.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// SelfApp is one simulated app of the gateway.
type SelfApp struct {
	// AppID names the app in records and stats and is the appId the
	// request body must carry.
	AppID string `json:"appId" yaml:"appId"`
	// AppKey is expected as "Authorization: Bearer <AppKey>".
	AppKey channels.Secret `json:"appKey" yaml:"appKey"`
	// QuotaPerSecond and QuotaBurst override the SelfConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its key.
func (a SelfApp) String() string {
	return fmt.Sprintf("{appId=%s appKey=%s quota=%g/%d}", a.AppID, a.AppKey, a.QuotaPerSecond, a.QuotaBurst)
}

func (c SelfConfig) withDefaults() SelfConfig {
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
	if c.OfflineTokenPrefixes == nil {
		c.OfflineTokenPrefixes = []string{DefaultSelfOfflineTokenPrefix}
	} else {
		c.OfflineTokenPrefixes = slices.Clone(c.OfflineTokenPrefixes)
	}
	c.OfflineTokens = slices.Clone(c.OfflineTokens)
	if c.QuotaPerSecond == 0 {
		c.QuotaPerSecond = DefaultSelfQuota
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = burstFor(c.QuotaPerSecond)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultSelfMaxBodyBytes
	}
	return c
}

func (c SelfConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: self: "+format, args...))
	}
	for _, r := range c.Regions {
		if !slices.Contains(Regions(), r) {
			bad("unknown region %q", r)
		}
	}
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		if a.AppID == "" {
			bad("app %d has no appId", i)
		}
		if a.AppKey == "" {
			bad("app %q has no appKey", a.AppID)
		}
		if ids[a.AppID] {
			bad("duplicate appId %q", a.AppID)
		}
		if keys[a.AppKey.Reveal()] {
			bad("app %q shares its appKey with another app", a.AppID)
		}
		ids[a.AppID], keys[a.AppKey.Reveal()] = true, true
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

func (c SelfConfig) appCount() int { return len(c.Apps) }

// SelfBaseURL returns the gateway base URL of region on this simulator
// (the client appends "/v1/push").
func (s *Server) SelfBaseURL(region string) string { return s.URL() + "/self/" + region }

// selfSim serves the gateway endpoints.
type selfSim struct {
	s   *Simulator
	cfg SelfConfig
}

// newSelfSim returns the simulated gateway.
func newSelfSim(s *Simulator) simVendor { return &selfSim{s: s, cfg: s.cfg.Self} }

func (g *selfSim) name() string { return VendorSelf }

func (g *selfSim) appIDs() []string {
	ids := make([]string, len(g.cfg.Apps))
	for i, a := range g.cfg.Apps {
		ids[i] = a.AppID
	}
	return ids
}

func (g *selfSim) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /self/{region}/v1/push", g.handlePush)
	mux.HandleFunc("POST /self/{region}"+SelfRecallPath, g.handleRecall)
	mux.HandleFunc("/self/{region}/", g.handleOther)
}

func (g *selfSim) serves(region string) bool { return slices.Contains(g.cfg.Regions, region) }

// selfError is the gateway's error answer.
type selfError struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
	Code    int    `json:"code,omitempty"`
}

func writeSelfError(w http.ResponseWriter, status int, e selfError) string {
	return writeJSON(w, status, e)
}

func (g *selfSim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !g.serves(r.PathValue("region")) {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/v1/push") {
		w.Header().Set("Allow", http.MethodPost)
		writeSelfError(w, http.StatusMethodNotAllowed, selfError{Error: "method_not_allowed", Message: "use POST"})
		return
	}
	writeSelfError(w, http.StatusNotFound, selfError{Error: "not_found", Message: "no API at " + r.URL.Path})
}

func (g *selfSim) app(auth string) (SelfApp, bool) {
	scheme, key, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "bearer") || key == "" {
		return SelfApp{}, false
	}
	for _, a := range g.cfg.Apps {
		if a.AppKey.Reveal() == key {
			return a, true
		}
	}
	return SelfApp{}, false
}

// selfRequest is the body of POST /v1/push, as far as the gateway reads it.
type selfRequest struct {
	AppID    string `json:"appId"`
	Messages []struct {
		Token       string `json:"token"`
		DeliveryID  string `json:"deliveryId"`
		Title       string `json:"title"`
		Body        string `json:"body"`
		Payload     string `json:"payload"`
		PassThrough bool   `json:"passThrough"`
		ExpireAt    int64  `json:"expireAt"`
	} `json:"messages"`
}

type selfResult struct {
	DeliveryID string `json:"deliveryId,omitempty"`
	Status     string `json:"status"`
	MessageID  string `json:"messageId,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// handlePush serves POST /self/{region}/v1/push.
func (g *selfSim) handlePush(w http.ResponseWriter, r *http.Request) {
	s := g.s
	region := r.PathValue("region")
	if !g.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.MaxBodyBytes))
	var req selfRequest
	decodeErr := json.Unmarshal(raw, &req)
	tokens := make([]string, 0, len(req.Messages))
	for _, m := range req.Messages {
		tokens = append(tokens, m.Token)
	}
	app, authOK := g.app(r.Header.Get("Authorization"))
	appID := UnknownApp
	if authOK {
		appID = app.AppID
	}
	rec := s.begin(VendorSelf, region, appID, r, url.Values{"body": {string(raw)}}, tokens)

	if !s.wait(r, s.delay(VendorSelf, region)) {
		s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler) // drop the connection without an answer
	}
	if f, ok := s.failure(VendorSelf, region); ok {
		status := f.Status
		if status < 400 {
			status = http.StatusInternalServerError
		}
		if f.RetryAfter > 0 {
			secs := max(int64(time.Duration(f.RetryAfter)/time.Second), 1)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		code := "unavailable"
		if status != http.StatusServiceUnavailable {
			code = "internal"
		}
		body := writeSelfError(w, status, selfError{Error: code, Message: "Injected failure", Code: f.Code})
		s.finish(rec, status, f.Code, body, outInjected, nil, nil)
		return
	}
	refuse := func(out outcome, status int, e selfError) {
		body := writeSelfError(w, status, e)
		s.finish(rec, status, 0, body, out, nil, nil)
	}
	if !authOK {
		refuse(outRejected, http.StatusUnauthorized, selfError{Error: "unauthorized", Message: "unknown app key"})
		return
	}
	perSecond, burst := g.cfg.QuotaPerSecond, g.cfg.QuotaBurst
	if app.QuotaPerSecond > 0 {
		perSecond, burst = app.QuotaPerSecond, app.QuotaBurst
	}
	if !s.Allow(VendorSelf, region, app.AppID, perSecond, burst) {
		w.Header().Set("Retry-After", "1")
		refuse(outThrottled, http.StatusTooManyRequests, selfError{Error: "rate_limited", Message: "app quota exceeded"})
		return
	}
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(readErr, &tooBig):
		refuse(outRejected, http.StatusRequestEntityTooLarge, selfError{Error: "payload_too_large",
			Message: fmt.Sprintf("request body over %d bytes", g.cfg.MaxBodyBytes)})
		return
	case readErr != nil || decodeErr != nil:
		refuse(outRejected, http.StatusBadRequest, selfError{Error: "bad_request", Message: "body is not a JSON push request"})
		return
	case req.AppID != app.AppID:
		refuse(outRejected, http.StatusForbidden, selfError{Error: "forbidden", Message: fmt.Sprintf("appId %q is not the app of this key", req.AppID)})
		return
	case len(req.Messages) == 0 || len(req.Messages) > SelfMaxMessages:
		refuse(outRejected, http.StatusBadRequest, selfError{Error: "bad_request",
			Message: fmt.Sprintf("%d messages, want 1..%d", len(req.Messages), SelfMaxMessages)})
		return
	}

	nowMs := time.Now().UnixMilli()
	results := make([]selfResult, len(req.Messages))
	var accepted, invalid []string
	var sent []sentToken // the app SDK reports with the deliveryId it received
	for i, m := range req.Messages {
		res := selfResult{DeliveryID: m.DeliveryID}
		switch {
		case m.Token == "":
			res.Status, res.Reason = "rejected", "token is required"
		case g.matches(m.Token, g.cfg.InvalidTokenPrefixes, g.cfg.InvalidTokens):
			res.Status, res.Reason = "invalid_token", "token is not registered with the gateway"
			invalid = append(invalid, m.Token)
		case m.ExpireAt > 0 && m.ExpireAt <= nowMs:
			res.Status = "expired"
		case !m.PassThrough && (strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == ""):
			res.Status, res.Reason = "rejected", "a notification needs a title and a body"
		case len(m.Payload) > SelfMaxPayloadBytes:
			res.Status, res.Reason = "rejected", fmt.Sprintf("payload has %d bytes, at most %d", len(m.Payload), SelfMaxPayloadBytes)
		case g.matches(m.Token, g.cfg.OfflineTokenPrefixes, g.cfg.OfflineTokens):
			res.Status = "offline"
		default:
			n, letters := s.nextID()
			res.Status, res.MessageID = "delivered", fmt.Sprintf("sgw%017d%s", n, letters)
			accepted = append(accepted, m.Token)
			sent = append(sent, sentToken{token: m.Token, correlation: m.DeliveryID, vendorMsgID: res.MessageID})
		}
		results[i] = res
	}
	n, letters := s.nextID()
	body := writeJSON(w, http.StatusOK, struct {
		RequestID string       `json:"requestId"`
		Results   []selfResult `json:"results"`
	}{fmt.Sprintf("req%017d%s", n, letters), results})
	s.finish(rec, http.StatusOK, 0, body, outAccepted, accepted, invalid)
	s.queueReceipts(VendorSelf, region, app.AppID, sent)
}

func (g *selfSim) matches(token string, prefixes, tokens []string) bool {
	for _, p := range prefixes {
		if p != "" && strings.HasPrefix(token, p) {
			return true
		}
	}
	return slices.Contains(tokens, token)
}
