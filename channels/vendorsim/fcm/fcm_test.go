package fcm_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/fcm"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	fcmsim "github.com/pushpipe/pushpipe/channels/vendorsim/fcm"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
)

const (
	fcmAppID   = "fcm-app"
	fcmProject = "pushpipe-sim"
	fcmEmail   = "sender@pushpipe-sim.iam.gserviceaccount.com"
	fcmRegion  = "sg"
)

var fcmKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

func fcmPublicPEM(k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func fcmStart(t *testing.T, mutate func(*vendorsim.FCMConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 3, FCM: vendorsim.FCMConfig{
		Apps: []vendorsim.FCMApp{{AppID: fcmAppID, ProjectID: fcmProject, ClientEmail: fcmEmail,
			PublicKey: fcmPublicPEM(fcmKeys()[0])}},
		MalformedTokenPrefixes: []string{"malformed-"},
	}}
	if mutate != nil {
		mutate(&cfg.FCM)
	}
	return simtest.Start(t, cfg)
}

// fcmClient returns a client of srv's TLS listener (HTTP/2, trusting the
// simulator's CA) and of its plain one; its idle connections are closed
// when the test ends.
func fcmClient(t *testing.T, srv *vendorsim.Server) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool(), MinVersion: tls.VersionTLS12}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// fcmPlainTokenURL is the token endpoint of fcmRegion on srv's plain
// listener.
func fcmPlainTokenURL(srv *vendorsim.Server) string {
	return srv.URL() + "/fcm/" + fcmRegion + "/token"
}

// fcmTokenRequest posts a token request and decodes the JSON answer.
func fcmTokenRequest(t *testing.T, srv *vendorsim.Server, tokenURL string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := fcmClient(t, srv).PostForm(tokenURL, form)
	if err != nil {
		t.Fatalf("token request: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var a map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("decoding token answer: %v", err)
	}
	return resp.StatusCode, a
}

// fcmAccessToken obtains an access token from the simulator.
func fcmAccessToken(t *testing.T, srv *vendorsim.Server) string {
	t.Helper()
	tokenURL := srv.FCMTokenURL(fcmRegion)
	assertion, err := fcm.SignAssertion(fcmKeys()[0], "", fcmEmail, tokenURL, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	status, a := fcmTokenRequest(t, srv, tokenURL, url.Values{"grant_type": {fcmsim.GrantType}, "assertion": {assertion}})
	tok, _ := a["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("token answer %d %v", status, a)
	}
	return tok
}

// fcmAnswer is FCM's answer: a message name or a Google API error.
type fcmAnswer struct {
	Name  string `json:"name"`
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field string `json:"field"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

func (a fcmAnswer) errorCode() string {
	for _, d := range a.Error.Details {
		if d.Type == "type.googleapis.com/google.firebase.fcm.v1.FcmError" {
			return d.ErrorCode
		}
	}
	return ""
}

func (a fcmAnswer) field() string {
	for _, d := range a.Error.Details {
		for _, v := range d.FieldViolations {
			return v.Field
		}
	}
	return ""
}

func fcmSend(t *testing.T, srv *vendorsim.Server, project, auth, body string) (int, fcmAnswer, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.FCMBaseURL(fcmRegion)+"/v1/projects/"+project+"/messages:send", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := fcmClient(t, srv).Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var a fcmAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return resp.StatusCode, a, resp.Header
}

func TestFCMTokenEndpoint(t *testing.T) {
	srv := fcmStart(t, func(c *vendorsim.FCMConfig) { c.TokenLifetime = vendorsim.Duration(90 * time.Second) })
	tokenURL, plainURL := srv.FCMTokenURL(fcmRegion), fcmPlainTokenURL(srv)
	now := time.Now()
	sign := func(key *rsa.PrivateKey, email, aud string, at time.Time) string {
		a, err := fcm.SignAssertion(key, "kid", email, aud, at)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// forge builds an assertion with arbitrary claims signed by the app key.
	forge := func(claims map[string]any) string {
		good := sign(fcmKeys()[0], fcmEmail, tokenURL, now)
		parts := strings.Split(good, ".")
		cb, _ := json.Marshal(claims)
		parts[1] = base64.RawURLEncoding.EncodeToString(cb)
		return strings.Join(parts, ".") // signature no longer matches
	}
	tests := []struct {
		scenario  string
		grant     string
		assertion string
		wantCode  int
		wantError string
		to        string // the token endpoint posted to; "": tokenURL (TLS)
	}{
		{"valid assertion", fcmsim.GrantType, sign(fcmKeys()[0], fcmEmail, tokenURL, now), 200, "", ""},
		{"google's audience is accepted", fcmsim.GrantType, sign(fcmKeys()[0], fcmEmail, fcm.DefaultTokenURI, now), 200, "", ""},
		{"wrong grant type", "client_credentials", sign(fcmKeys()[0], fcmEmail, tokenURL, now), 400, "unsupported_grant_type", ""},
		{"signed by another key", fcmsim.GrantType, sign(fcmKeys()[1], fcmEmail, tokenURL, now), 400, "invalid_grant", ""},
		{"unknown service account", fcmsim.GrantType, sign(fcmKeys()[0], "x@y.iam.gserviceaccount.com", tokenURL, now), 400, "invalid_grant", ""},
		{"wrong audience", fcmsim.GrantType, sign(fcmKeys()[0], fcmEmail, "https://example.com/token", now), 400, "invalid_grant", ""},
		{"issued in the future", fcmsim.GrantType, sign(fcmKeys()[0], fcmEmail, tokenURL, now.Add(time.Hour)), 400, "invalid_grant", ""},
		{"expired", fcmsim.GrantType, sign(fcmKeys()[0], fcmEmail, tokenURL, now.Add(-2*time.Hour)), 400, "invalid_grant", ""},
		{"tampered claims", fcmsim.GrantType, forge(map[string]any{"iss": fcmEmail, "scope": fcm.Scope, "aud": tokenURL,
			"iat": now.Unix(), "exp": now.Add(24 * time.Hour).Unix()}), 400, "invalid_grant", ""},
		{"not a jwt", fcmsim.GrantType, "abc", 400, "invalid_grant", ""},
		{"the plain listener's audience is refused over TLS", fcmsim.GrantType, sign(fcmKeys()[0], fcmEmail, plainURL, now), 400, "invalid_grant", ""},
		{"the plain listener checks its own audience", fcmsim.GrantType, sign(fcmKeys()[0], fcmEmail, plainURL, now), 200, "", plainURL},
		{"the TLS audience is refused on the plain listener", fcmsim.GrantType, sign(fcmKeys()[0], fcmEmail, tokenURL, now), 400, "invalid_grant", plainURL},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			to := cmp.Or(tc.to, tokenURL)
			status, a := fcmTokenRequest(t, srv, to, url.Values{"grant_type": {tc.grant}, "assertion": {tc.assertion}})
			if status != tc.wantCode {
				t.Fatalf("HTTP %d %v, want %d", status, a, tc.wantCode)
			}
			if tc.wantError != "" {
				if a["error"] != tc.wantError || a["error_description"] == "" {
					t.Errorf("answer %v, want error %q with a description", a, tc.wantError)
				}
				return
			}
			if tok, _ := a["access_token"].(string); tok == "" || a["expires_in"] != float64(90) || a["token_type"] != "Bearer" {
				t.Errorf("answer %v", a)
			}
		})
	}
	for _, r := range srv.Requests(vendorsim.VendorFCM, fcmRegion) {
		if a := r.Form.Get("assertion"); a != "" && !strings.HasSuffix(a, channels.Redacted) {
			t.Errorf("the assertion signature is recorded: %q", a)
		}
	}
	accepted := 0
	for _, tc := range tests {
		if tc.wantCode == http.StatusOK {
			accepted++
		}
	}
	st := srv.Stats().Vendors[vendorsim.VendorFCM].Regions[fcmRegion]
	if st.Apps[fcmAppID].Accepted != int64(accepted) || st.Apps[vendorsim.UnknownApp].Rejected+st.Apps[fcmAppID].Rejected != int64(len(tests)-accepted) {
		t.Errorf("stats %+v %+v", st.Apps[fcmAppID], st.Apps[vendorsim.UnknownApp])
	}
}

func TestFCMSendAnswers(t *testing.T) {
	srv := fcmStart(t, func(c *vendorsim.FCMConfig) {
		c.SenderMismatchTokenPrefixes = []string{"other-sender-"}
		c.ThirdPartyAuthTokenPrefixes = []string{"apns-refused-"}
	})
	tok := fcmAccessToken(t, srv)
	auth := "Bearer " + tok
	msg := func(fields string) string { return `{"message":{` + fields + `}}` }
	tests := []struct {
		scenario   string
		project    string
		auth       string
		body       string
		wantStatus int
		wantCode   string // FcmError errorCode
		wantField  string
	}{
		{"success", fcmProject, auth, msg(`"token":"t1","notification":{"title":"T","body":"B"},"data":{"k":"v"},"android":{"priority":"HIGH","ttl":"3600s","notification":{"channel_id":"c"}},"fcm_options":{"analytics_label":"m1"}`), 200, "", ""},
		{"validate only", fcmProject, auth, `{"validate_only":true,"message":{"token":"t2"}}`, 200, "", ""},
		{"unregistered token", fcmProject, auth, msg(`"token":"bad-t3"`), 404, "UNREGISTERED", ""},
		{"malformed token", fcmProject, auth, msg(`"token":"malformed-t4"`), 400, "INVALID_ARGUMENT", ""},
		{"installation id", fcmProject, auth, msg(`"fid":"fid-5","android":{"direct_boot_ok":true,"bandwidth_constrained_ok":true,"restricted_satellite_ok":true}`), 200, "", ""},
		{"unregistered installation id", fcmProject, auth, msg(`"fid":"bad-fid-6"`), 404, "UNREGISTERED", ""},
		{"token of another sender", fcmProject, auth, msg(`"token":"other-sender-t7"`), 403, "SENDER_ID_MISMATCH", ""},
		{"APNs credentials refused", fcmProject, auth, msg(`"token":"apns-refused-t8"`), 401, "THIRD_PARTY_AUTH_ERROR", ""},
		{"no credentials", fcmProject, "", msg(`"token":"t1"`), 401, "", ""},
		{"unknown access token", fcmProject, "Bearer ya29.nope", msg(`"token":"t1"`), 401, "", ""},
		{"another project", "other-project", auth, msg(`"token":"t1"`), 403, "", ""},
		{"no target", fcmProject, auth, msg(`"data":{"k":"v"}`), 400, "INVALID_ARGUMENT", "message"},
		{"two targets", fcmProject, auth, msg(`"token":"t1","topic":"news"`), 400, "INVALID_ARGUMENT", "message"},
		{"token and installation id", fcmProject, auth, msg(`"token":"t1","fid":"fid-1"`), 400, "INVALID_ARGUMENT", "message"},
		{"reserved data key", fcmProject, auth, msg(`"token":"t1","data":{"google.x":"v"}`), 400, "INVALID_ARGUMENT", "message.data"},
		{"data over 4 KB", fcmProject, auth, msg(`"token":"t1","data":{"k":"` + strings.Repeat("v", 4096) + `"}`), 400, "INVALID_ARGUMENT", "message.data"},
		{"data value not a string", fcmProject, auth, msg(`"token":"t1","data":{"k":12}`), 400, "", "message"},
		{"unknown field", fcmProject, auth, msg(`"token":"t1","priority":"high"`), 400, "", "message"},
		{"ttl without unit", fcmProject, auth, msg(`"token":"t1","android":{"ttl":"3600"}`), 400, "INVALID_ARGUMENT", "message.android.ttl"},
		{"ttl over four weeks", fcmProject, auth, msg(`"token":"t1","android":{"ttl":"2419201s"}`), 400, "INVALID_ARGUMENT", "message.android.ttl"},
		{"bad priority", fcmProject, auth, msg(`"token":"t1","android":{"priority":"URGENT"}`), 400, "INVALID_ARGUMENT", "message.android.priority"},
		{"bad analytics label", fcmProject, auth, msg(`"token":"t1","fcm_options":{"analytics_label":"a b"}`), 400, "INVALID_ARGUMENT", "message.fcm_options.analytics_label"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a, _ := fcmSend(t, srv, tc.project, tc.auth, tc.body)
			if status != tc.wantStatus {
				t.Fatalf("HTTP %d %+v, want %d", status, a, tc.wantStatus)
			}
			if status == 200 {
				if !strings.HasPrefix(a.Name, "projects/"+fcmProject+"/messages/") {
					t.Errorf("name %q", a.Name)
				}
				return
			}
			if a.Error.Code != status || a.Error.Status == "" || a.Error.Message == "" {
				t.Errorf("error %+v", a.Error)
			}
			if a.errorCode() != tc.wantCode || a.field() != tc.wantField {
				t.Errorf("errorCode %q field %q, want %q %q", a.errorCode(), a.field(), tc.wantCode, tc.wantField)
			}
		})
	}
	reqs := srv.Requests(vendorsim.VendorFCM, fcmRegion)
	var first vendorsim.Request
	for _, r := range reqs {
		if strings.HasSuffix(r.Path, ":send") {
			first = r
			break
		}
	}
	if first.Form.Get("message.android.notification.channel_id") != "c" || first.Form.Get("message.data.k") != "v" ||
		first.Auth != auth || len(first.RegIDs) != 1 || first.RegIDs[0] != "t1" || first.AppID != fcmAppID {
		t.Errorf("recorded request %+v", first)
	}
	app := srv.Stats().Vendors[vendorsim.VendorFCM].Regions[fcmRegion].Apps[fcmAppID]
	if app.Messages != 2 || app.Tokens["t1"] != 1 || app.Tokens["fid-5"] != 1 || app.InvalidTokens != 3 {
		t.Errorf("stats %+v: want 2 messages (validate_only does not count) and 3 invalid tokens", app)
	}
}

func TestFCMQuotaFailuresAndExpiry(t *testing.T) {
	srv := fcmStart(t, func(c *vendorsim.FCMConfig) { c.QuotaPerMinute = 120 }) // 2/s, burst 2
	auth := "Bearer " + fcmAccessToken(t, srv)
	body := `{"message":{"token":"t1"}}`
	for i := range 2 {
		if status, a, _ := fcmSend(t, srv, fcmProject, auth, body); status != 200 {
			t.Fatalf("call %d: HTTP %d %+v", i, status, a)
		}
	}
	status, a, hdr := fcmSend(t, srv, fcmProject, auth, body)
	if status != 429 || a.errorCode() != "QUOTA_EXCEEDED" || a.Error.Status != "RESOURCE_EXHAUSTED" || hdr.Get("Retry-After") == "" {
		t.Errorf("over quota: HTTP %d %+v Retry-After %q", status, a, hdr.Get("Retry-After"))
	}

	srv.Reset()
	if err := srv.InjectFailures(
		vendorsim.Failure{Vendor: vendorsim.VendorFCM, Next: 1, RetryAfter: vendorsim.Duration(3 * time.Second)},
		vendorsim.Failure{Vendor: vendorsim.VendorFCM, Next: 1, Status: 500},
	); err != nil {
		t.Fatal(err)
	}
	status, a, hdr = fcmSend(t, srv, fcmProject, auth, body)
	if status != 503 || a.errorCode() != "UNAVAILABLE" || hdr.Get("Retry-After") != "3" {
		t.Errorf("injected 503: HTTP %d %+v %v", status, a, hdr)
	}
	status, a, _ = fcmSend(t, srv, fcmProject, auth, body)
	if status != 500 || a.errorCode() != "INTERNAL" || a.Error.Status != "INTERNAL" {
		t.Errorf("injected 500: HTTP %d %+v", status, a)
	}
	if status, _, _ = fcmSend(t, srv, fcmProject, auth, body); status != 200 {
		t.Errorf("after the storm: HTTP %d", status)
	}

	srv.ExpireFCMAccessTokens()
	if status, a, _ = fcmSend(t, srv, fcmProject, auth, body); status != 401 || a.Error.Status != "UNAUTHENTICATED" {
		t.Errorf("expired token: HTTP %d %+v", status, a)
	}
}

// TestFCMOverHTTP2WithTLS: the simulator serves FCM's send endpoint and
// its token endpoint on the TLS listener, over HTTP/2, as Google serves
// fcm.googleapis.com and oauth2.googleapis.com.
func TestFCMOverHTTP2WithTLS(t *testing.T) {
	srv := fcmStart(t, nil)
	auth := "Bearer " + fcmAccessToken(t, srv)
	for _, tc := range []struct {
		scenario, url, body string
		header              map[string]string
	}{
		{"token endpoint", srv.FCMTokenURL(fcmRegion), "grant_type=x", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
		{"messages:send", srv.FCMBaseURL(fcmRegion) + "/v1/projects/" + fcmProject + "/messages:send", `{"message":{"token":"t1"}}`,
			map[string]string{"Content-Type": "application/json", "Authorization": auth}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if !strings.HasPrefix(tc.url, srv.TLSURL()+"/") {
				t.Fatalf("%s is not on the TLS listener %s", tc.url, srv.TLSURL())
			}
			req, err := http.NewRequest(http.MethodPost, tc.url, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := fcmClient(t, srv).Do(req)
			if err != nil {
				t.Fatalf("POST: %v", err)
			}
			defer func() { _ = resp.Body.Close() }()
			if resp.ProtoMajor != 2 || resp.TLS == nil {
				t.Errorf("answered over %s (TLS %t), want HTTP/2 over TLS", resp.Proto, resp.TLS != nil)
			}
			if resp.StatusCode == http.StatusNotFound {
				t.Errorf("HTTP %d: the endpoint is not served on the TLS listener", resp.StatusCode)
			}
		})
	}
	if st := srv.Stats().Vendors[vendorsim.VendorFCM].Regions[fcmRegion].Apps[fcmAppID]; st.Messages != 1 {
		t.Errorf("the simulator accepted %d messages over TLS, want 1", st.Messages)
	}
}

func TestFCMLatencyAndAbandon(t *testing.T) {
	srv := fcmStart(t, nil)
	auth := "Bearer " + fcmAccessToken(t, srv)
	if err := srv.InjectLatency(vendorsim.Latency{Vendor: vendorsim.VendorFCM, Fixed: vendorsim.Duration(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.FCMBaseURL(fcmRegion)+"/v1/projects/"+fcmProject+"/messages:send",
		strings.NewReader(`{"message":{"token":"t1"}}`))
	req.Header.Set("Authorization", auth)
	if _, err := fcmClient(t, srv).Do(req); err == nil {
		t.Fatal("request succeeded despite the latency")
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if srv.Stats().Vendors[vendorsim.VendorFCM].Regions[fcmRegion].Apps[fcmAppID].Abandoned == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("abandoned request not counted")
}

func TestFCMOtherPathsAndConfig(t *testing.T) {
	srv := fcmStart(t, func(c *vendorsim.FCMConfig) { c.Regions = []string{"sg"} })
	for _, tc := range []struct {
		scenario, method, path string
		want                   int
	}{
		{"get on send", http.MethodGet, "/fcm/sg/v1/projects/" + fcmProject + "/messages:send", 404},
		{"legacy api", http.MethodPost, "/fcm/sg/fcm/send", 404},
		{"unserved region", http.MethodPost, "/fcm/ru/v1/projects/" + fcmProject + "/messages:send", 404},
		{"unserved region token", http.MethodPost, "/fcm/ru/token", 404},
	} {
		req, _ := http.NewRequest(tc.method, srv.TLSURL()+tc.path, nil)
		resp, err := fcmClient(t, srv).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.scenario, resp.StatusCode, tc.want)
		}
	}

	key := channels.Secret(func() string {
		der, _ := x509.MarshalPKCS8PrivateKey(fcmKeys()[0])
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}())
	good := vendorsim.FCMApp{AppID: "a", ProjectID: "p", ClientEmail: "e@x", PrivateKey: key}
	for _, tc := range []struct {
		scenario string
		cfg      vendorsim.FCMConfig
		wantErr  string
	}{
		{"private key only", vendorsim.FCMConfig{Apps: []vendorsim.FCMApp{good}}, ""},
		{"no key", vendorsim.FCMConfig{Apps: []vendorsim.FCMApp{{AppID: "a", ProjectID: "p", ClientEmail: "e@x"}}}, "publicKey or a privateKey"},
		{"bad public key", vendorsim.FCMConfig{Apps: []vendorsim.FCMApp{{AppID: "a", ProjectID: "p", ClientEmail: "e@x", PublicKey: "x"}}}, "publicKey"},
		{"no project", vendorsim.FCMConfig{Apps: []vendorsim.FCMApp{{AppID: "a", ClientEmail: "e@x", PrivateKey: key}}}, "projectId"},
		{"shared email", vendorsim.FCMConfig{Apps: []vendorsim.FCMApp{good, {AppID: "b", ProjectID: "q", ClientEmail: "e@x", PrivateKey: key}}}, "clientEmail"},
		{"unknown region", vendorsim.FCMConfig{Regions: []string{"us"}, Apps: []vendorsim.FCMApp{good}}, "unknown region"},
	} {
		err := vendorsim.Config{FCM: tc.cfg}.WithDefaults().Validate()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: Validate = %v, want %q", tc.scenario, err, tc.wantErr)
		}
	}
	if s := fmt.Sprintf("%v %+v", good, good); strings.Contains(s, "PRIVATE KEY") {
		t.Errorf("FCMApp prints its key: %s", s)
	}
	d := vendorsim.Config{FCM: vendorsim.FCMConfig{Apps: []vendorsim.FCMApp{good}}}.WithDefaults().FCM
	if d.QuotaPerMinute != vendorsim.DefaultFCMQuotaPerMinute || d.QuotaBurst != 10000 ||
		time.Duration(d.TokenLifetime) != vendorsim.DefaultFCMTokenLifetime || len(d.InvalidTokenPrefixes) != 1 {
		t.Errorf("defaults %+v", d)
	}
}
