package vendorsim

import (
	"bytes"
	"cmp"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
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

	"github.com/pushpipe/pushpipe/channels"
)

// VendorFCM is the vendor name of FCM HTTP v1 (OAuth2 service-account JWT
// grant).
const VendorFCM = "fcm"

// FCM behaviour the simulator reproduces (Firebase's HTTP v1 reference and
// Google's OAuth 2.0 service-account flow).
const (
	// DefaultFCMQuotaPerMinute is FCM's default send quota: 600,000
	// messages a minute per project.
	DefaultFCMQuotaPerMinute = 600_000.0
	// DefaultFCMTokenLifetime is the expires_in of issued access tokens.
	DefaultFCMTokenLifetime = 3599 * time.Second
	// DefaultFCMMaxBodyBytes bounds a request body.
	DefaultFCMMaxBodyBytes = 64 << 10
	// FCMMaxDataBytes is FCM's limit of a message's data (keys and values).
	FCMMaxDataBytes = 4096
	// FCMMaxTTL is the longest android.ttl FCM accepts.
	FCMMaxTTL = 28 * 24 * time.Hour
	// FCMMaxAssertionLifetime is the longest exp - iat of an assertion.
	FCMMaxAssertionLifetime = time.Hour
	// FCMScope is the OAuth scope that allows sending; the broader
	// cloud-platform scope is accepted too.
	FCMScope = "https://www.googleapis.com/auth/firebase.messaging"
	// FCMGrantType is the JWT-bearer grant type.
	FCMGrantType = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	// fcmClockSkew is the clock difference tolerated on iat and exp.
	fcmClockSkew = 5 * time.Minute
)

// FCMConfig configures the simulated FCM HTTP v1 API. One simulator serves
// every region under its own prefix: the base URL of region R is
// http://ADDR/fcm/R; the token endpoint (a service account's token_uri) is
// http://ADDR/fcm/R/token.
type FCMConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the service accounts whose signed assertions are accepted.
	Apps []FCMApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: tokens (registration tokens and installation
	// ids, FIDs) starting with one of them are answered 404 UNREGISTERED.
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are tokens answered UNREGISTERED in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// SenderMismatchTokenPrefixes: tokens starting with one of them belong
	// to another Firebase project and are answered 403 SENDER_ID_MISMATCH.
	SenderMismatchTokenPrefixes []string `json:"senderMismatchTokenPrefixes" yaml:"senderMismatchTokenPrefixes"`
	// ThirdPartyAuthTokenPrefixes: tokens starting with one of them are of
	// an iOS or web app whose APNs or Web Push credentials FCM cannot use,
	// and are answered 401 THIRD_PARTY_AUTH_ERROR.
	ThirdPartyAuthTokenPrefixes []string `json:"thirdPartyAuthTokenPrefixes" yaml:"thirdPartyAuthTokenPrefixes"`
	// MalformedTokenPrefixes: tokens (and FIDs) starting with one of them
	// are answered 400 INVALID_ARGUMENT ("not a valid FCM registration
	// token").
	MalformedTokenPrefixes []string `json:"malformedTokenPrefixes" yaml:"malformedTokenPrefixes"`
	// QuotaPerMinute is the send quota of an app (a project) per region for
	// apps without their own; default DefaultFCMQuotaPerMinute.
	QuotaPerMinute float64 `json:"quotaPerMinute" yaml:"quotaPerMinute"`
	// QuotaBurst is the token-bucket size; default a second of quota.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
	// TokenLifetime is the expires_in of issued access tokens; default
	// DefaultFCMTokenLifetime.
	TokenLifetime Duration `json:"tokenLifetime" yaml:"tokenLifetime"`
	// MaxBodyBytes bounds a request body; default DefaultFCMMaxBodyBytes.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// FCMApp is one simulated Firebase project with its service account.
type FCMApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// ProjectID is the Firebase project id of the send URL.
	ProjectID string `json:"projectId" yaml:"projectId"`
	// ClientEmail is the service account (the assertion's iss).
	ClientEmail string `json:"clientEmail" yaml:"clientEmail"`
	// PublicKey is the PEM public key (PKIX "PUBLIC KEY", PKCS#1 "RSA
	// PUBLIC KEY" or a "CERTIFICATE") that verifies assertions.
	PublicKey string `json:"publicKey" yaml:"publicKey"`
	// PrivateKey, used when PublicKey is empty, is the service account's
	// PEM private key; its public half verifies assertions (for tests).
	PrivateKey channels.Secret `json:"privateKey" yaml:"privateKey"`
	// QuotaPerMinute and QuotaBurst override the FCMConfig defaults when
	// positive.
	QuotaPerMinute float64 `json:"quotaPerMinute" yaml:"quotaPerMinute"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its private key.
func (a FCMApp) String() string {
	return fmt.Sprintf("{appId=%s project=%s clientEmail=%s privateKey=%s quota=%g/min}",
		a.AppID, a.ProjectID, a.ClientEmail, a.PrivateKey, a.QuotaPerMinute)
}

func (c FCMConfig) withDefaults() FCMConfig {
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
	c.MalformedTokenPrefixes = slices.Clone(c.MalformedTokenPrefixes)
	c.SenderMismatchTokenPrefixes = slices.Clone(c.SenderMismatchTokenPrefixes)
	c.ThirdPartyAuthTokenPrefixes = slices.Clone(c.ThirdPartyAuthTokenPrefixes)
	if c.QuotaPerMinute == 0 {
		c.QuotaPerMinute = DefaultFCMQuotaPerMinute
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = burstFor(c.QuotaPerMinute / 60)
	}
	if c.TokenLifetime == 0 {
		c.TokenLifetime = Duration(DefaultFCMTokenLifetime)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultFCMMaxBodyBytes
	}
	return c
}

func (c FCMConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: fcm: "+format, args...))
	}
	for _, r := range c.Regions {
		if !slices.Contains(Regions(), r) {
			bad("unknown region %q", r)
		}
	}
	ids, emails := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		if a.AppID == "" {
			bad("app %d has no appId", i)
		}
		if ids[a.AppID] {
			bad("duplicate appId %q", a.AppID)
		}
		if a.ProjectID == "" {
			bad("app %q has no projectId", a.AppID)
		}
		if a.ClientEmail == "" {
			bad("app %q has no clientEmail", a.AppID)
		}
		if emails[a.ClientEmail] {
			bad("app %q shares its clientEmail with another app", a.AppID)
		}
		ids[a.AppID], emails[a.ClientEmail] = true, true
		if _, err := a.verifyKey(); err != nil {
			bad("app %q: %v", a.AppID, err)
		}
		if a.QuotaPerMinute < 0 || a.QuotaBurst < 0 {
			bad("app %q has a negative quota", a.AppID)
		}
	}
	if c.QuotaPerMinute < 0 || c.QuotaBurst < 0 {
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

func (c FCMConfig) appCount() int { return len(c.Apps) }

// verifyKey returns the public key that verifies the app's assertions.
func (a FCMApp) verifyKey() (*rsa.PublicKey, error) { return rsaVerifyKey(a.PublicKey, a.PrivateKey) }

// rsaVerifyKey returns the RSA public key that verifies a simulated app's
// signed JWTs: publicKey (PEM: PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY"
// or a "CERTIFICATE"), or, when it is empty, the public half of
// privateKey (PEM, for tests).
func rsaVerifyKey(publicKey string, privateKey channels.Secret) (*rsa.PublicKey, error) {
	if publicKey == "" && privateKey == "" {
		return nil, errors.New("needs a publicKey or a privateKey (PEM)")
	}
	if publicKey == "" {
		k, err := channels.ParseRSAPrivateKey(privateKey.Reveal())
		if err != nil {
			return nil, fmt.Errorf("privateKey: %w", err)
		}
		return &k.PublicKey, nil
	}
	block, _ := pem.Decode([]byte(publicKey))
	if block == nil {
		return nil, errors.New("publicKey: no PEM block")
	}
	var k any
	var err error
	switch block.Type {
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			k = cert.PublicKey
		}
	default:
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("publicKey: %w", err)
	}
	pk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("publicKey is a %T, want RSA", k)
	}
	return pk, nil
}

// FCMBaseURL returns the FCM base URL of region on this simulator (the
// client appends "/v1/projects/{project_id}/messages:send").
func (s *Server) FCMBaseURL(region string) string { return s.URL() + "/fcm/" + region }

// FCMTokenURL returns the OAuth 2.0 token endpoint (token_uri) of region on
// this simulator.
func (s *Server) FCMTokenURL(region string) string { return s.FCMBaseURL(region) + "/token" }

// ExpireFCMAccessTokens makes every access token issued so far invalid, as
// if it had expired: sends with one are answered 401 UNAUTHENTICATED.
func (s *Simulator) ExpireFCMAccessTokens() {
	for _, v := range s.vendors {
		if f, ok := v.(*fcmSim); ok {
			f.mu.Lock()
			clear(f.tokens)
			f.mu.Unlock()
		}
	}
}

// fcmSim serves the FCM endpoints.
type fcmSim struct {
	s    *Simulator
	cfg  FCMConfig
	keys map[string]*rsa.PublicKey // app id -> assertion key

	mu     sync.Mutex
	tokens map[string]fcmAccess // access token -> grant
}

// fcmAccess is an issued access token.
type fcmAccess struct {
	app     FCMApp
	expires time.Time
}

// newFCMSim returns the simulated FCM, or nil without apps.
func newFCMSim(s *Simulator) simVendor {
	cfg := s.cfg.FCM
	if len(cfg.Apps) == 0 {
		return nil
	}
	f := &fcmSim{s: s, cfg: cfg, keys: map[string]*rsa.PublicKey{}, tokens: map[string]fcmAccess{}}
	for _, a := range cfg.Apps {
		if k, err := a.verifyKey(); err == nil { // validate checked it
			f.keys[a.AppID] = k
		}
	}
	return f
}

func (f *fcmSim) name() string { return VendorFCM }

func (f *fcmSim) appIDs() []string {
	ids := make([]string, len(f.cfg.Apps))
	for i, a := range f.cfg.Apps {
		ids[i] = a.AppID
	}
	return ids
}

func (f *fcmSim) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /fcm/{region}/token", f.handleToken)
	mux.HandleFunc("POST /fcm/{region}/v1/projects/{project}/messages:send", f.handleSend)
	mux.HandleFunc("/fcm/{region}/", f.handleOther)
}

func (f *fcmSim) serves(region string) bool { return slices.Contains(f.cfg.Regions, region) }

// writeOAuthError answers a token request with Google's OAuth error shape.
func (f *fcmSim) writeOAuthError(w http.ResponseWriter, status int, code, desc string) string {
	return writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

// handleToken serves POST /fcm/{region}/token: the JWT-bearer grant.
func (f *fcmSim) handleToken(w http.ResponseWriter, r *http.Request) {
	region := r.PathValue("region")
	if !f.serves(region) {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	parseErr := r.ParseForm()
	form := r.PostForm
	if form == nil {
		form = url.Values{}
	}
	app, claimsErr := f.verifyAssertion(r, form.Get("assertion"))
	appID := UnknownApp
	if claimsErr == nil {
		appID = app.AppID
	}
	// The signed assertion is a credential: record its header and claims
	// only.
	recorded := url.Values{}
	for k, v := range form {
		recorded[k] = slices.Clone(v)
	}
	if a := form.Get("assertion"); a != "" {
		redacted := channels.Redacted
		if i := strings.LastIndexByte(a, '.'); i >= 0 {
			redacted = a[:i] + "." + channels.Redacted
		}
		recorded.Set("assertion", redacted)
	}
	rec := f.s.begin(VendorFCM, region, appID, r, recorded, nil)
	refuse := func(status int, code, desc string) {
		body := f.writeOAuthError(w, status, code, desc)
		f.s.finish(rec, status, 0, body, outRejected, nil, nil)
	}
	switch {
	case parseErr != nil:
		refuse(http.StatusBadRequest, "invalid_request", "Malformed request body")
		return
	case form.Get("grant_type") != FCMGrantType:
		refuse(http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+form.Get("grant_type"))
		return
	case claimsErr != nil:
		var oe fcmOAuthError
		if errors.As(claimsErr, &oe) {
			refuse(http.StatusBadRequest, oe.code, oe.desc)
			return
		}
		refuse(http.StatusBadRequest, "invalid_grant", claimsErr.Error())
		return
	}
	n, letters := f.s.nextID()
	tok := fmt.Sprintf("ya29.sim-%s-%d%s", app.AppID, n, letters)
	lifetime := time.Duration(f.cfg.TokenLifetime)
	f.mu.Lock()
	f.tokens[tok] = fcmAccess{app: app, expires: time.Now().Add(lifetime)}
	f.mu.Unlock()
	body := writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "expires_in": int64(lifetime / time.Second), "token_type": "Bearer",
	})
	f.s.finish(rec, http.StatusOK, 0, body, outAccepted, nil, nil)
}

// fcmOAuthError is a refusal of an assertion with its OAuth error code.
type fcmOAuthError struct{ code, desc string }

func (e fcmOAuthError) Error() string { return e.code + ": " + e.desc }

// verifyAssertion checks a signed JWT as Google's token endpoint does and
// returns the app of its issuer.
func (f *fcmSim) verifyAssertion(r *http.Request, assertion string) (FCMApp, error) {
	invalid := func(desc string) (FCMApp, error) { return FCMApp{}, fcmOAuthError{"invalid_grant", desc} }
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
	var app FCMApp
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
	self := "http://" + r.Host + r.URL.Path
	if claims.Aud != self && claims.Aud != "https://oauth2.googleapis.com/token" {
		return invalid("Invalid JWT: Failed audience check. The right audience is " + self)
	}
	now := time.Now()
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	if claims.Iat == 0 || claims.Exp == 0 || exp.Sub(iat) > FCMMaxAssertionLifetime || exp.Sub(iat) <= 0 ||
		iat.After(now.Add(fcmClockSkew)) || !exp.After(now.Add(-fcmClockSkew)) {
		return invalid("Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
	}
	scopes := strings.Fields(claims.Scope)
	if !slices.Contains(scopes, FCMScope) && !slices.Contains(scopes, "https://www.googleapis.com/auth/cloud-platform") {
		return FCMApp{}, fcmOAuthError{"invalid_scope", "Invalid OAuth scope or ID token audience provided."}
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

// writeFCMError answers with the Google API error shape. errorCode adds an
// FcmError detail; violations add a BadRequest detail.
func writeFCMError(w http.ResponseWriter, status int, message, errorCode string, violations ...fcmFieldViolation) string {
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
	return writeJSON(w, status, map[string]any{"error": e})
}

// handleOther answers paths of the FCM API the simulator does not serve.
func (f *fcmSim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !f.serves(r.PathValue("region")) {
		http.NotFound(w, r)
		return
	}
	writeFCMError(w, http.StatusNotFound, "Method not found: "+r.Method+" "+r.URL.Path, "")
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

// handleSend serves POST /fcm/{region}/v1/projects/{project}/messages:send.
func (f *fcmSim) handleSend(w http.ResponseWriter, r *http.Request) {
	s := f.s
	region, project := r.PathValue("region"), r.PathValue("project")
	if !f.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := io.ReadAll(http.MaxBytesReader(w, r.Body, f.cfg.MaxBodyBytes))
	var req fcmSendRequest
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
	// The device a message goes to: its registration token or its FID.
	var tok string
	if req.Message != nil {
		tok = cmp.Or(req.Message.Token, req.Message.FID)
	}
	var tokens []string
	if tok != "" {
		tokens = []string{tok}
	}

	auth := r.Header.Get("Authorization")
	access, authOK := f.access(auth)
	appID := UnknownApp
	if authOK {
		appID = access.app.AppID
	}
	rec := s.begin(VendorFCM, region, appID, r, form, tokens)

	if !s.wait(r, s.delay(VendorFCM, region)) {
		s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler) // drop the connection without an answer
	}
	if fl, ok := s.failure(VendorFCM, region); ok {
		if fl.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(max(int64(time.Duration(fl.RetryAfter)/time.Second), 1), 10))
		}
		status := fl.Status
		if status < 400 {
			status = http.StatusServiceUnavailable
		}
		body := writeFCMError(w, status, "Injected failure: the service is currently unavailable.", fcmErrorCodeOf(status))
		s.finish(rec, status, 0, body, outInjected, nil, nil)
		return
	}
	refuse := func(out outcome, status int, message, errorCode string, violations ...fcmFieldViolation) {
		body := writeFCMError(w, status, message, errorCode, violations...)
		s.finish(rec, status, 0, body, out, nil, nil)
	}
	if !authOK {
		refuse(outRejected, http.StatusUnauthorized, "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.", "")
		return
	}
	if access.app.ProjectID != project {
		refuse(outRejected, http.StatusForbidden, fmt.Sprintf("Permission 'cloudmessaging.messages.create' denied on resource '//cloudresourcemanager.googleapis.com/projects/%s' (or it may not exist).", project), "")
		return
	}
	app := access.app
	perMinute, burst := f.cfg.QuotaPerMinute, f.cfg.QuotaBurst
	if app.QuotaPerMinute > 0 {
		perMinute, burst = app.QuotaPerMinute, app.QuotaBurst
	}
	if !s.Allow(VendorFCM, region, app.AppID, perMinute/60, burst) {
		w.Header().Set("Retry-After", "1")
		refuse(outThrottled, http.StatusTooManyRequests,
			"Quota exceeded for quota metric 'Send messages' and limit 'Send messages per minute' of service 'fcm.googleapis.com'.", "QUOTA_EXCEEDED")
		return
	}
	if readErr != nil {
		refuse(outRejected, http.StatusBadRequest, "Request payload size exceeds the limit.", "INVALID_ARGUMENT",
			fcmFieldViolation{Field: "message", Description: "Request payload size exceeds the limit."})
		return
	}
	if decodeErr != nil {
		refuse(outRejected, http.StatusBadRequest, "Invalid JSON payload received. "+decodeErr.Error(), "",
			fcmFieldViolation{Field: "message", Description: "Invalid JSON payload received. " + decodeErr.Error()})
		return
	}
	if v, ok := validateFCM(req.Message); !ok {
		refuse(outRejected, http.StatusBadRequest, v.Description, "INVALID_ARGUMENT", v)
		return
	}
	switch {
	case tokenInvalid(tok, f.cfg.MalformedTokenPrefixes, nil):
		body := writeFCMError(w, http.StatusBadRequest, "The registration token is not a valid FCM registration token", "INVALID_ARGUMENT")
		s.finish(rec, http.StatusBadRequest, 0, body, outRejected, nil, []string{tok})
		return
	case tokenInvalid(tok, f.cfg.InvalidTokenPrefixes, f.cfg.InvalidTokens):
		body := writeFCMError(w, http.StatusNotFound, "Requested entity was not found.", "UNREGISTERED")
		s.finish(rec, http.StatusNotFound, 0, body, outRejected, nil, []string{tok})
		return
	case tokenInvalid(tok, f.cfg.SenderMismatchTokenPrefixes, nil):
		refuse(outRejected, http.StatusForbidden, "SenderId mismatch", "SENDER_ID_MISMATCH")
		return
	case tokenInvalid(tok, f.cfg.ThirdPartyAuthTokenPrefixes, nil):
		refuse(outRejected, http.StatusUnauthorized, "Auth error from APNS or Web Push Service", "THIRD_PARTY_AUTH_ERROR")
		return
	}
	n, letters := s.nextID()
	name := fmt.Sprintf("projects/%s/messages/0:%d%%%x%s", project, time.Now().UnixMicro(), n, letters)
	if req.ValidateOnly {
		name = fmt.Sprintf("projects/%s/messages/fake_message_id", project)
	}
	body := writeJSON(w, http.StatusOK, map[string]string{"name": name})
	var accepted []string
	if !req.ValidateOnly {
		accepted = tokens
	}
	s.finish(rec, http.StatusOK, 0, body, outAccepted, accepted, nil)
	// The app SDK reports with the deliveryId of message.data.
	s.queueReceipts(VendorFCM, region, app.AppID, sentTokens(accepted, req.Message.Data[DeliveryIDKey], name, ""))
}

// access returns the grant of a "Bearer <token>" header, if valid.
func (f *fcmSim) access(auth string) (fcmAccess, bool) {
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok || tok == "" {
		return fcmAccess{}, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.tokens[tok]
	if !ok {
		return fcmAccess{}, false
	}
	if !time.Now().Before(a.expires) {
		delete(f.tokens, tok)
		return fcmAccess{}, false
	}
	return a, true
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
	if size > FCMMaxDataBytes {
		return bad("message.data", "Message is too big: data has %d bytes, at most %d", size, FCMMaxDataBytes)
	}
	if a := m.Android; a != nil {
		if a.TTL != "" {
			if !fcmTTLPattern.MatchString(a.TTL) {
				return bad("message.android.ttl", "Invalid value at 'message.android.ttl' (type.googleapis.com/google.protobuf.Duration), Field 'ttl', Illegal duration format; duration must end with 's'")
			}
			secs, _ := strconv.ParseFloat(strings.TrimSuffix(a.TTL, "s"), 64)
			if time.Duration(secs*float64(time.Second)) > FCMMaxTTL {
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

// fcmFlatten records a decoded JSON body as form values: nested object
// keys are joined with dots, array elements repeat their key, scalars are
// written as JSON text (strings unquoted). Request.Form of FCM and HMS
// requests is this view of the body.
func fcmFlatten(prefix string, v any, out url.Values) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			fcmFlatten(key, x, out)
		}
	case []any:
		for _, x := range t {
			fcmFlatten(prefix, x, out)
		}
	case string:
		out.Add(prefix, t)
	case json.Number:
		out.Add(prefix, t.String())
	case bool:
		out.Add(prefix, strconv.FormatBool(t))
	case nil:
		out.Add(prefix, "")
	}
}
