// Package fcm simulates FCM's HTTP v1 API for the vendor simulator
// (channels/vendorsim): the OAuth 2.0 JWT-bearer token endpoint of a
// service account and projects.messages.send, checked and answered as FCM
// does. Its configuration is vendorsim.FCMConfig.
package fcm

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// FCM behaviour the simulator reproduces (Firebase's HTTP v1 reference and
// Google's OAuth 2.0 service-account flow).
const (
	// MaxDataBytes is FCM's limit of a message's data (keys and values).
	MaxDataBytes = 4096
	// MaxTTL is the longest android.ttl FCM accepts.
	MaxTTL = 28 * 24 * time.Hour
	// MaxAssertionLifetime is the longest exp - iat of an assertion.
	MaxAssertionLifetime = time.Hour
	// Scope is the OAuth scope that allows sending; the broader
	// cloud-platform scope is accepted too.
	Scope = "https://www.googleapis.com/auth/firebase.messaging"
	// GrantType is the JWT-bearer grant type.
	GrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// fcmClockSkew is the clock difference tolerated on iat and exp.
	fcmClockSkew = 5 * time.Minute
)

// sim serves the FCM endpoints.
type sim struct {
	s      *vendorsim.Simulator
	cfg    vendorsim.FCMConfig
	keys   map[string]*rsa.PublicKey // app id -> assertion key
	tokens *simkit.TokenStore        // issued access tokens
}

// New returns the simulated FCM of s (vendorsim.NewVendor).
func New(s *vendorsim.Simulator) vendorsim.Vendor {
	f := &sim{s: s, cfg: s.Config().FCM, keys: map[string]*rsa.PublicKey{}, tokens: simkit.NewTokenStore()}
	for _, a := range f.cfg.Apps {
		if k, err := a.VerifyKey(); err == nil { // Validate checked it
			f.keys[a.AppID] = k
		}
	}
	return f
}

// Name is vendorsim.VendorFCM.
func (f *sim) Name() string { return vendorsim.VendorFCM }

// ExpireCredentials makes every access token issued so far invalid:
// sends with one are answered 401 UNAUTHENTICATED.
func (f *sim) ExpireCredentials() { f.tokens.ExpireAll() }

// Register serves the token endpoint, messages:send and, for other paths,
// Google's "Method not found".
func (f *sim) Register(mux *http.ServeMux) {
	mux.Handle("POST /fcm/{region}/token", vendorsim.Endpoint[*grant]{
		Sim: f.s, Vendor: vendorsim.VendorFCM, Regions: f.cfg.Regions, Read: f.readToken, Answer: f.answerToken,
	})
	mux.Handle("POST /fcm/{region}/v1/projects/{project}/messages:send", vendorsim.Endpoint[*send]{
		Sim: f.s, Vendor: vendorsim.VendorFCM, Regions: f.cfg.Regions,
		Read: f.readSend, Injected: f.injected, Authenticate: f.authenticate, Quota: f.quota, Throttled: f.throttled, Answer: f.answerSend,
	})
	mux.HandleFunc("/fcm/{region}/", f.handleOther)
}

// oauthError is a token request's refusal in Google's OAuth error shape.
func oauthError(status int, code, desc string) vendorsim.Answer {
	a := vendorsim.JSON(status, map[string]string{"error": code, "error_description": desc})
	a.Outcome = vendorsim.Rejected
	return a
}

// grant is a token request as read.
type grant struct {
	form      url.Values
	parseErr  error
	app       vendorsim.FCMApp
	claimsErr error
}

// readToken reads POST /fcm/{region}/token: the JWT-bearer grant. The
// signed assertion is a credential: only its header and claims are
// recorded.
func (f *sim) readToken(w http.ResponseWriter, r *http.Request, _ string) (*grant, vendorsim.Arrival) {
	g := &grant{}
	g.form, g.parseErr = simkit.ReadForm(w, r, 64<<10)
	g.app, g.claimsErr = f.verifyAssertion(r, g.form.Get("assertion"))
	appID := vendorsim.AppOf(g.app.AppID, g.claimsErr == nil)
	recorded := url.Values{}
	for k, v := range g.form {
		recorded[k] = slices.Clone(v)
	}
	if a := g.form.Get("assertion"); a != "" {
		redacted := channels.Redacted
		if i := strings.LastIndexByte(a, '.'); i >= 0 {
			redacted = a[:i] + "." + channels.Redacted
		}
		recorded.Set("assertion", redacted)
	}
	return g, vendorsim.Arrival{AppID: appID, Form: recorded}
}

func (f *sim) answerToken(_ *http.Request, g *grant) vendorsim.Answer {
	switch {
	case g.parseErr != nil:
		return oauthError(http.StatusBadRequest, "invalid_request", "Malformed request body")
	case g.form.Get("grant_type") != GrantType:
		return oauthError(http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+g.form.Get("grant_type"))
	case g.claimsErr != nil:
		var oe fcmOAuthError
		if errors.As(g.claimsErr, &oe) {
			return oauthError(http.StatusBadRequest, oe.code, oe.desc)
		}
		return oauthError(http.StatusBadRequest, "invalid_grant", g.claimsErr.Error())
	}
	n, letters := f.s.NextID()
	tok := fmt.Sprintf("ya29.sim-%s-%d%s", g.app.AppID, n, letters)
	lifetime := time.Duration(f.cfg.TokenLifetime)
	now := time.Now()
	f.tokens.Issue(tok, g.app.AppID, now.Add(lifetime), now)
	return vendorsim.JSON(http.StatusOK, simkit.BearerToken(tok, lifetime))
}

// fcmOAuthError is a refusal of an assertion with its OAuth error code.
type fcmOAuthError struct{ code, desc string }

func (e fcmOAuthError) Error() string { return e.code + ": " + e.desc }

// verifyAssertion checks a signed JWT as Google's token endpoint does and
// returns the app of its issuer.
func (f *sim) verifyAssertion(r *http.Request, assertion string) (vendorsim.FCMApp, error) {
	invalid := func(desc string) (vendorsim.FCMApp, error) {
		return vendorsim.FCMApp{}, fcmOAuthError{"invalid_grant", desc}
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return invalid("Invalid JWT: the assertion is not a signed JWT.")
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	cb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return invalid("Invalid JWT: bad base64url encoding.")
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss   string `json:"iss"`
		Scope string `json:"scope"`
		Aud   string `json:"aud"`
		Iat   int64  `json:"iat"`
		Exp   int64  `json:"exp"`
	}
	if json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		return invalid("Invalid JWT: header or claims are not JSON.")
	}
	if header.Alg != "RS256" {
		return invalid("Invalid JWT: alg must be RS256.")
	}
	var app vendorsim.FCMApp
	found := false
	for _, a := range f.cfg.Apps {
		if a.ClientEmail == claims.Iss {
			app, found = a, true
			break
		}
	}
	if !found {
		return invalid("Invalid grant: account not found")
	}
	key := f.keys[app.AppID]
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if key == nil || rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig) != nil {
		return invalid("Invalid JWT Signature.")
	}
	// The audience is the token endpoint's URL as the client reached it:
	// https on the simulator's TLS listener, http on the plain one.
	scheme := "http://"
	if r.TLS != nil {
		scheme = "https://"
	}
	self := scheme + r.Host + r.URL.Path
	if claims.Aud != self && claims.Aud != "https://oauth2.googleapis.com/token" {
		return invalid("Invalid JWT: Failed audience check. The right audience is " + self)
	}
	now := time.Now()
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	if claims.Iat == 0 || claims.Exp == 0 || exp.Sub(iat) > MaxAssertionLifetime || exp.Sub(iat) <= 0 ||
		iat.After(now.Add(fcmClockSkew)) || !exp.After(now.Add(-fcmClockSkew)) {
		return invalid("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
	}
	scopes := strings.Fields(claims.Scope)
	if !slices.Contains(scopes, Scope) && !slices.Contains(scopes, "https://www.googleapis.com/auth/cloud-platform") {
		return vendorsim.FCMApp{}, fcmOAuthError{"invalid_scope", "Invalid OAuth scope or ID token audience provided."}
	}
	return app, nil
}

// fcmErrorDetail is one entry of error.details.
type fcmErrorDetail struct {
	Type            string              `json:"@type"`
	ErrorCode       string              `json:"errorCode,omitempty"`
	FieldViolations []fcmFieldViolation `json:"fieldViolations,omitempty"`
}

type fcmFieldViolation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
}

// fcmStatusName is the Google API status of an HTTP status.
func fcmStatusName(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	}
	if status >= 500 {
		return "INTERNAL"
	}
	return "FAILED_PRECONDITION"
}

// fcmErrorCodeOf is the FcmError errorCode FCM sends with an HTTP status
// ("" for statuses answered without one).
func fcmErrorCodeOf(status int) string {
	switch status {
	case http.StatusTooManyRequests:
		return "QUOTA_EXCEEDED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusInternalServerError:
		return "INTERNAL"
	}
	return ""
}

// errorAnswer is an answer in the Google API error shape. errorCode adds an
// FcmError detail; violations add a BadRequest detail.
func errorAnswer(status int, message, errorCode string, violations ...fcmFieldViolation) vendorsim.Answer {
	var details []fcmErrorDetail
	if errorCode != "" {
		details = append(details, fcmErrorDetail{Type: "type.googleapis.com/google.firebase.fcm.v1.FcmError", ErrorCode: errorCode})
	}
	if len(violations) > 0 {
		details = append(details, fcmErrorDetail{Type: "type.googleapis.com/google.rpc.BadRequest", FieldViolations: violations})
	}
	e := map[string]any{"code": status, "message": message, "status": fcmStatusName(status)}
	if len(details) > 0 {
		e["details"] = details
	}
	return vendorsim.JSON(status, map[string]any{"error": e})
}

// handleOther answers paths of the FCM API the simulator does not serve.
func (f *sim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !vendorsim.ServesRegion(w, r, f.cfg.Regions) {
		return
	}
	errorAnswer(http.StatusNotFound, "Method not found: "+r.Method+" "+r.URL.Path, "").Write(w)
}

// Request body of projects.messages.send: every field of the v1 Message
// that the simulator accepts; others are refused as unknown names.
type (
	fcmSendRequest struct {
		ValidateOnly bool        `json:"validate_only"`
		Message      *fcmMessage `json:"message"`
	}
	fcmMessage struct {
		Name         string            `json:"name"`
		Token        string            `json:"token"`
		FID          string            `json:"fid"` // Firebase installation id, the successor of token
		Topic        string            `json:"topic"`
		Condition    string            `json:"condition"`
		Data         map[string]string `json:"data"`
		Notification *struct {
			Title string `json:"title"`
			Body  string `json:"body"`
			Image string `json:"image"`
		} `json:"notification"`
		Android    *fcmAndroid     `json:"android"`
		Webpush    json.RawMessage `json:"webpush"`
		APNs       json.RawMessage `json:"apns"`
		FCMOptions *struct {
			AnalyticsLabel string `json:"analytics_label"`
		} `json:"fcm_options"`
	}
	fcmAndroid struct {
		CollapseKey            string                  `json:"collapse_key"`
		Priority               string                  `json:"priority"`
		TTL                    string                  `json:"ttl"`
		RestrictedPackageName  string                  `json:"restricted_package_name"`
		Data                   map[string]string       `json:"data"`
		Notification           *fcmAndroidNotification `json:"notification"`
		FCMOptions             json.RawMessage         `json:"fcm_options"`
		DirectBootOK           bool                    `json:"direct_boot_ok"`
		BandwidthConstrainedOK bool                    `json:"bandwidth_constrained_ok"`
		RestrictedSatelliteOK  bool                    `json:"restricted_satellite_ok"`
	}
	fcmAndroidNotification struct {
		Title                   string          `json:"title"`
		Body                    string          `json:"body"`
		Icon                    string          `json:"icon"`
		Color                   string          `json:"color"`
		Sound                   string          `json:"sound"`
		Tag                     string          `json:"tag"`
		ClickAction             string          `json:"click_action"`
		BodyLocKey              string          `json:"body_loc_key"`
		BodyLocArgs             []string        `json:"body_loc_args"`
		TitleLocKey             string          `json:"title_loc_key"`
		TitleLocArgs            []string        `json:"title_loc_args"`
		ChannelID               string          `json:"channel_id"`
		Ticker                  string          `json:"ticker"`
		Sticky                  bool            `json:"sticky"`
		EventTime               string          `json:"event_time"`
		LocalOnly               bool            `json:"local_only"`
		NotificationPriority    string          `json:"notification_priority"`
		DefaultSound            bool            `json:"default_sound"`
		DefaultVibrateTimings   bool            `json:"default_vibrate_timings"`
		DefaultLightSettings    bool            `json:"default_light_settings"`
		VibrateTimings          []string        `json:"vibrate_timings"`
		Visibility              string          `json:"visibility"`
		NotificationCount       *int            `json:"notification_count"`
		LightSettings           json.RawMessage `json:"light_settings"`
		Image                   string          `json:"image"`
		BypassProxyNotification bool            `json:"bypass_proxy_notification"`
		Proxy                   string          `json:"proxy"`
	}
)

var (
	fcmTTLPattern   = regexp.MustCompile(`^\d+(\.\d{1,9})?s$`)
	fcmLabelPattern = regexp.MustCompile(`^[a-zA-Z0-9\-_.~%]{1,50}$`)
)

// fcmReservedDataKey reports whether FCM refuses name as a data key.
func fcmReservedDataKey(name string) bool {
	n := strings.ToLower(name)
	return n == "from" || n == "notification" || n == "message_type" ||
		strings.HasPrefix(n, "google") || strings.HasPrefix(n, "gcm")
}

// send is a messages:send request as read.
type send struct {
	region, project string
	req             fcmSendRequest
	readErr         error
	decodeErr       error
	// token is the device the message goes to: its registration token
	// or its FID.
	token  string
	app    vendorsim.FCMApp
	authOK bool
}

// readSend reads POST /fcm/{region}/v1/projects/{project}/messages:send;
// it is recorded with Form holding the flattened body.
func (f *sim) readSend(w http.ResponseWriter, r *http.Request, region string) (*send, vendorsim.Arrival) {
	c := &send{region: region, project: r.PathValue("project")}
	var raw []byte
	raw, c.readErr = simkit.ReadBody(w, r, f.cfg.MaxBodyBytes)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	c.decodeErr = dec.Decode(&c.req)
	form := url.Values{}
	var generic any
	gdec := json.NewDecoder(bytes.NewReader(raw))
	gdec.UseNumber()
	if gdec.Decode(&generic) == nil {
		simkit.Flatten("", generic, form)
	}
	if c.req.Message != nil {
		c.token = cmp.Or(c.req.Message.Token, c.req.Message.FID)
	}
	var tokens []string
	if c.token != "" {
		tokens = []string{c.token}
	}
	c.app, c.authOK = f.access(r.Header.Get("Authorization"))
	appID := vendorsim.AppOf(c.app.AppID, c.authOK)
	return c, vendorsim.Arrival{AppID: appID, Form: form, Targets: tokens}
}

// refuse is a send refusal in Google's error shape, counted as out.
func refuse(out vendorsim.Outcome, status int, message, errorCode string, violations ...fcmFieldViolation) vendorsim.Answer {
	a := errorAnswer(status, message, errorCode, violations...)
	a.Outcome = out
	return a
}

// injected answers a failure rule as UNAVAILABLE (a status under 400
// becomes 503).
func (f *sim) injected(fl vendorsim.Failure) vendorsim.Answer {
	status := fl.Status
	if status < 400 {
		status = http.StatusServiceUnavailable
	}
	return errorAnswer(status, "Injected failure: the service is currently unavailable.", fcmErrorCodeOf(status))
}

func (f *sim) authenticate(_ *http.Request, c *send) *vendorsim.Answer {
	var a vendorsim.Answer
	switch {
	case !c.authOK:
		a = refuse(vendorsim.Rejected, http.StatusUnauthorized, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "")
	case c.app.ProjectID != c.project:
		a = refuse(vendorsim.Rejected, http.StatusForbidden, fmt.Sprintf("Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/%s' (or it may not exist).", c.project), "")
	default:
		return nil
	}
	return &a
}

func (f *sim) quota(c *send) vendorsim.Bucket {
	b := vendorsim.AppBucket(f.cfg.QuotaPerMinute, f.cfg.QuotaBurst, c.app.QuotaPerMinute, c.app.QuotaBurst)
	b.PerSecond /= 60 // the quota is per minute
	return b
}

// throttled is the answer over the quota.
func (f *sim) throttled(_ *send) vendorsim.Answer {
	return refuse(vendorsim.Throttled, http.StatusTooManyRequests,
		"Quota exceeded for quota metric 'Send messages' and limit 'Send messages per minute' of service 'fcm.googleapis.com'.", "QUOTA_EXCEEDED").
		With("Retry-After", "1")
}

func (f *sim) answerSend(_ *http.Request, c *send) vendorsim.Answer {
	if c.readErr != nil {
		return refuse(vendorsim.Rejected, http.StatusBadRequest, "Request payload size exceeds the limit.", "INVALID_ARGUMENT",
			fcmFieldViolation{Field: "message", Description: "Request payload size exceeds the limit."})
	}
	if c.decodeErr != nil {
		return refuse(vendorsim.Rejected, http.StatusBadRequest, "Invalid JSON payload received. "+c.decodeErr.Error(), "",
			fcmFieldViolation{Field: "message", Description: "Invalid JSON payload received. " + c.decodeErr.Error()})
	}
	if v, ok := validateFCM(c.req.Message); !ok {
		return refuse(vendorsim.Rejected, http.StatusBadRequest, v.Description, "INVALID_ARGUMENT", v)
	}
	tok := c.token
	switch {
	case simkit.Matches(tok, f.cfg.MalformedTokenPrefixes, nil):
		a := refuse(vendorsim.Rejected, http.StatusBadRequest, "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT")
		a.Invalid = []string{tok}
		return a
	case simkit.Matches(tok, f.cfg.InvalidTokenPrefixes, f.cfg.InvalidTokens):
		a := refuse(vendorsim.Rejected, http.StatusNotFound, "Requested entity was not found.", "UNREGISTERED")
		a.Invalid = []string{tok}
		return a
	case simkit.Matches(tok, f.cfg.SenderMismatchTokenPrefixes, nil):
		return refuse(vendorsim.Rejected, http.StatusForbidden, "SenderId mismatch", "SENDER_ID_MISMATCH")
	case simkit.Matches(tok, f.cfg.ThirdPartyAuthTokenPrefixes, nil):
		return refuse(vendorsim.Rejected, http.StatusUnauthorized, "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR")
	}
	n, letters := f.s.NextID()
	name := fmt.Sprintf("projects/%s/messages/0:%d%%%x%s", c.project, time.Now().UnixMicro(), n, letters)
	if c.req.ValidateOnly {
		name = fmt.Sprintf("projects/%s/messages/fake_message_id", c.project)
	}
	a := vendorsim.JSON(http.StatusOK, map[string]string{"name": name})
	if !c.req.ValidateOnly && c.token != "" {
		a.Accepted = []string{c.token}
	}
	// The app SDK reports with the deliveryId of message.data.
	a.Receipts = vendorsim.SentTokens(a.Accepted, c.req.Message.Data[vendorsim.DeliveryIDKey], name, "")
	return a
}

// access returns the app of a "Bearer <token>" header whose token is
// valid.
func (f *sim) access(auth string) (vendorsim.FCMApp, bool) {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return vendorsim.FCMApp{}, false
	}
	appID, state := f.tokens.Lookup(tok, time.Now())
	if state != simkit.TokenValid {
		return vendorsim.FCMApp{}, false
	}
	for _, a := range f.cfg.Apps {
		if a.AppID == appID {
			return a, true
		}
	}
	return vendorsim.FCMApp{}, false
}

// validateFCM checks a message as FCM does; the violation names the field.
func validateFCM(m *fcmMessage) (fcmFieldViolation, bool) {
	bad := func(field, format string, args ...any) (fcmFieldViolation, bool) {
		return fcmFieldViolation{Field: field, Description: fmt.Sprintf(format, args...)}, false
	}
	if m == nil {
		return bad("message", "Recipient of the message is not set.")
	}
	targets := 0
	for _, t := range []string{m.Token, m.FID, m.Topic, m.Condition} {
		if t != "" {
			targets++
		}
	}
	if targets != 1 {
		return bad("message", "Exactly one of token, fid, topic or condition must be set.")
	}
	size := 0
	for k, v := range m.Data {
		if fcmReservedDataKey(k) {
			return bad("message.data", "Invalid data payload key: %s", k)
		}
		size += len(k) + len(v)
	}
	if size > MaxDataBytes {
		return bad("message.data", "Message is too big: data has %d bytes, at most %d", size, MaxDataBytes)
	}
	if a := m.Android; a != nil {
		if a.TTL != "" {
			if !fcmTTLPattern.MatchString(a.TTL) {
				return bad("message.android.ttl", "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), Field 'ttl', Illegal duration format; duration must end with 's'")
			}
			secs, _ := strconv.ParseFloat(strings.TrimSuffix(a.TTL, "s"), 64)
			if time.Duration(secs*float64(time.Second)) > MaxTTL {
				return bad("message.android.ttl", "The TTL %s is longer than the maximum of 4 weeks", a.TTL)
			}
		}
		switch strings.ToUpper(a.Priority) {
		case "", "HIGH", "NORMAL":
		default:
			return bad("message.android.priority", "Invalid value at 'message.android.priority' (type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), %q", a.Priority)
		}
		if n := a.Notification; n != nil && n.NotificationCount != nil && *n.NotificationCount < 0 {
			return bad("message.android.notification.notification_count", "notification_count must not be negative")
		}
	}
	if o := m.FCMOptions; o != nil && o.AnalyticsLabel != "" && !fcmLabelPattern.MatchString(o.AnalyticsLabel) {
		return bad("message.fcm_options.analytics_label", "Invalid analytics_label: %q", o.AnalyticsLabel)
	}
	return fcmFieldViolation{}, true
}
