package fcm_test

import (
	"context"
	"crypto"
	"crypto/rand"
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
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/channeltest"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/fcm"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
)

const (
	testApp     = "app-1"
	testProject = "pushpipe-test"
	testEmail   = "push@pushpipe-test.iam.gserviceaccount.com"
	testKeyID   = "kid-1"
	testRegion  = "eu"
)

// testKeys are the service-account key and a key the simulator does not
// know, generated once per test binary.
var testKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
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

func keyPEM(k *rsa.PrivateKey) string {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func startSim(t *testing.T, mutate func(*vendorsim.FCMConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 1, FCM: vendorsim.FCMConfig{
		Apps: []vendorsim.FCMApp{{AppID: testApp, ProjectID: testProject, ClientEmail: testEmail,
			PrivateKey: channels.Secret(keyPEM(testKeys()[0]))}},
		MalformedTokenPrefixes: []string{"malformed-"},
	}}
	if mutate != nil {
		mutate(&cfg.FCM)
	}
	srv, err := allvendors.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("starting simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing simulator: %v", err)
		}
	})
	return srv
}

// newChannel returns a channel whose base URL is baseURL and token URI
// tokenURI, signing with key.
func newChannel(t *testing.T, baseURL, tokenURI string, key *rsa.PrivateKey, timeout time.Duration, opts ...fcm.Option) *fcm.Channel {
	t.Helper()
	cfg := fcm.Config{
		Region:  testRegion,
		BaseURL: baseURL,
		Apps: map[string]fcm.App{testApp: {ProjectID: testProject, ClientEmail: testEmail, PrivateKeyID: testKeyID,
			PrivateKey: channels.Secret(keyPEM(key)), TokenURI: tokenURI}},
		Timeout: timeout,
	}
	if overTLS.Load() {
		cfg.RootCAs = tlsRoots.Load()
	}
	ch, err := fcm.New(cfg, opts...)
	if err != nil {
		t.Fatalf("fcm.New: %v", err)
	}
	return ch
}

// overTLS makes the fakes and the simulator serve HTTP/2 over TLS, and
// the channels use it (so the lean HTTP/2 client), while
// TestLeanHTTP2Client runs; tlsRoots is then the CA of the last server
// started. The tests of this package do not run in parallel.
var (
	overTLS  atomic.Bool
	tlsRoots atomic.Pointer[x509.CertPool]
)

// simBase is the FCM base URL of testRegion on srv: on its TLS listener
// (where Server.FCMBaseURL is) while overTLS is set, else on its plain
// one, which answers the same paths.
func simBase(srv *vendorsim.Server) string {
	if overTLS.Load() {
		tlsRoots.Store(srv.CertPool())
		return srv.FCMBaseURL(testRegion)
	}
	return srv.URL() + "/fcm/" + testRegion
}

// simTokenURI is the token endpoint on the same listener as simBase (the
// simulator checks the assertion's audience against the URL it was
// reached at).
func simTokenURI(srv *vendorsim.Server) string {
	if overTLS.Load() {
		return srv.FCMTokenURL(testRegion)
	}
	return srv.URL() + "/fcm/" + testRegion + "/token"
}

func simChannel(t *testing.T, srv *vendorsim.Server, opts ...fcm.Option) *fcm.Channel {
	t.Helper()
	return newChannel(t, simBase(srv), simTokenURI(srv), testKeys()[0], 0, opts...)
}

// requests returns the recorded requests whose path ends with suffix.
func requests(srv *vendorsim.Server, suffix string) []vendorsim.Request {
	var out []vendorsim.Request
	for _, r := range srv.Requests(vendorsim.VendorFCM, testRegion) {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	srv := startSim(t, nil)
	conformance.Run(t, conformance.SimHooks(conformance.Harness{
		NewChannel: func(t *testing.T, o conformance.ChannelOptions) channels.Channel {
			key := testKeys()[0]
			if o.BadCredentials {
				key = testKeys()[1]
			}
			return newChannel(t, simBase(srv), simTokenURI(srv), key, o.Timeout)
		},
		AppID:             testApp,
		Token:             func(i int) string { return fmt.Sprintf("fcm-token-%04d", i) },
		InvalidToken:      func(i int) string { return fmt.Sprintf("bad-fcm-token-%04d", i) },
		Calls:             func(t *testing.T) int { return len(requests(srv, ":send")) },
		Limits:            conformance.Limits{MaxPayloadBytes: fcm.MaxPayloadBytes},
		OneCallPerMessage: true,
	}, srv, vendorsim.VendorFCM))
}

// captured is one request a fake FCM received.
type captured struct {
	method, path, auth, contentType string
	form                            url.Values
	body                            []byte
}

// fakeFCM is an httptest server that answers token requests with a token
// and sends with answer (nil: a success).
type fakeFCM struct {
	*httptest.Server
	mu        sync.Mutex
	reqs      []captured
	tokenHits atomic.Int32
	tokenWait time.Duration
	token     func(w http.ResponseWriter, n int32)
	answer    func(w http.ResponseWriter)
}

func newFake(t *testing.T, configure func(f *fakeFCM)) *fakeFCM {
	t.Helper()
	f := &fakeFCM{}
	if configure != nil {
		configure(f)
	}
	f.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := captured{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"),
			contentType: r.Header.Get("Content-Type"), body: body}
		if r.URL.Path == "/token" {
			c.form, _ = url.ParseQuery(string(body))
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, c)
		f.mu.Unlock()
		if r.URL.Path == "/token" {
			n := f.tokenHits.Add(1)
			if f.tokenWait > 0 {
				select {
				case <-time.After(f.tokenWait):
				case <-r.Context().Done():
					return
				}
			}
			if f.token != nil {
				f.token(w, n)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = fmt.Fprintf(w, `{"access_token":"ya29.fake-%d","expires_in":3599,"token_type":"Bearer"}`, n)
			return
		}
		if f.answer != nil {
			f.answer(w)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name":"projects/pushpipe-test/messages/0:1500415314455276%31bd1c9631bd1c96"}`)
	}))
	if overTLS.Load() {
		f.EnableHTTP2 = true
		f.StartTLS()
		pool := x509.NewCertPool()
		pool.AddCert(f.Certificate())
		tlsRoots.Store(pool)
	} else {
		f.Start()
	}
	t.Cleanup(f.Close)
	return f
}

func (f *fakeFCM) captured(path string) []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []captured
	for _, c := range f.reqs {
		if c.path == path {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeFCM) channel(t *testing.T, opts ...fcm.Option) *fcm.Channel {
	return newChannel(t, f.URL, f.URL+"/token", testKeys()[0], 0, opts...)
}

func sendPath() string { return "/v1/projects/" + testProject + "/messages:send" }

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

// TestRequestOnTheWire checks the exact requests FCM receives: the token
// request with its signed assertion and the send request.
func TestRequestOnTheWire(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	base := channels.Message{
		DeliveryID: "d-1", MsgID: "msg-1", TaskID: "task-1", AppID: testApp, Token: "tok-a",
		Title: "标题 Title", Body: "Body text", Payload: `{"order":42}`, ExpireAt: now.Add(90 * time.Minute),
	}
	tests := []struct {
		scenario string
		mutate   func(m *channels.Message)
		want     string
	}{
		{"notification with every extra", func(m *channels.Message) {
			m.Extras = map[string]string{
				fcm.ExtraChannelID: "orders", fcm.ExtraImage: "https://img.example.com/x.png", fcm.ExtraPriority: "normal",
				fcm.ExtraCollapseKey: "ck", fcm.ExtraTag: "t1", fcm.ExtraSound: "ding", fcm.ExtraBadge: "3",
				channels.ExtraNotifyType: "1", channels.ExtraURI: "https://example.com/o/42",
				channels.ExtraCustomPrefix + "orderId": "42", channels.ExtraCustomPrefix + "from": "reserved",
				channels.ExtraCustomPrefix + "payload":    "must-not-override",
				channels.ExtraCustomPrefix + "deliveryId": "must-not-override",
			}
		}, `{"message":{"token":"tok-a",
			"notification":{"title":"标题 Title","body":"Body text","image":"https://img.example.com/x.png"},
			"data":{"payload":"{\"order\":42}","orderId":"42","uri":"https://example.com/o/42","deliveryId":"d-1"},
			"android":{"collapse_key":"ck","priority":"NORMAL","ttl":"5400s",
				"notification":{"channel_id":"orders","sound":"ding","tag":"t1","notification_count":3,"default_sound":true}},
			"apns":{"payload":{"aps":{"badge":3,"sound":"ding"}}},
			"fcm_options":{"analytics_label":"msg-1"}}}`},
		{"intent uri becomes the click action", func(m *channels.Message) {
			m.Payload = ""
			m.ExpireAt = time.Time{}
			m.Extras = map[string]string{channels.ExtraURI: "com.example.OPEN_ORDER", channels.ExtraNotifyType: "-1"}
		}, `{"message":{"token":"tok-a","notification":{"title":"标题 Title","body":"Body text"},
			"data":{"deliveryId":"d-1"},
			"android":{"priority":"HIGH","notification":{"click_action":"com.example.OPEN_ORDER",
				"default_sound":true,"default_vibrate_timings":true,"default_light_settings":true}},
			"fcm_options":{"analytics_label":"msg-1"}}}`},
		{"pass-through carries data only and a capped ttl", func(m *channels.Message) {
			m.PassThrough, m.Title, m.Body = true, "", ""
			m.MsgID = "msg with spaces"
			m.ExpireAt = now.Add(60 * 24 * time.Hour)
		}, `{"message":{"token":"tok-a","data":{"payload":"{\"order\":42}","deliveryId":"d-1"},
			"android":{"priority":"HIGH","ttl":"2419200s"}}}`},
		{"no delivery id, no deliveryId key", func(m *channels.Message) {
			m.DeliveryID = ""
			m.Payload, m.ExpireAt = "", time.Time{}
		}, `{"message":{"token":"tok-a","notification":{"title":"标题 Title","body":"Body text"},
			"android":{"priority":"HIGH","notification":{}},
			"fcm_options":{"analytics_label":"msg-1"}}}`},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, nil)
			ch := f.channel(t, fcm.WithClock(func() time.Time { return now }))
			m := base
			tc.mutate(&m)
			res, err := ch.Send(context.Background(), []channels.Message{m})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res[0].Outcome != channels.Success || res[0].StatusCode != channels.StatusAcked ||
				res[0].VendorMsgID != "projects/pushpipe-test/messages/0:1500415314455276%31bd1c9631bd1c96" {
				t.Errorf("result %+v", res[0])
			}
			sends := f.captured(sendPath())
			if len(sends) != 1 {
				t.Fatalf("%d send requests, want 1", len(sends))
			}
			s := sends[0]
			if s.method != http.MethodPost || s.auth != "Bearer ya29.fake-1" || !strings.HasPrefix(s.contentType, "application/json") {
				t.Errorf("send request %s auth %q content-type %q", s.method, s.auth, s.contentType)
			}
			jsonEqual(t, s.body, tc.want)

			toks := f.captured("/token")
			if len(toks) != 1 {
				t.Fatalf("%d token requests, want 1", len(toks))
			}
			checkAssertion(t, toks[0], f.URL+"/token", now)
		})
	}
}

// checkAssertion verifies the JWT-bearer token request.
func checkAssertion(t *testing.T, c captured, aud string, now time.Time) {
	t.Helper()
	if c.method != http.MethodPost || c.contentType != "application/x-www-form-urlencoded" {
		t.Errorf("token request %s %q", c.method, c.contentType)
	}
	if got := c.form.Get("grant_type"); got != fcm.GrantType {
		t.Errorf("grant_type %q", got)
	}
	parts := strings.Split(c.form.Get("assertion"), ".")
	if len(parts) != 3 {
		t.Fatalf("assertion is not a JWT: %q", c.form.Get("assertion"))
	}
	enc := base64.RawURLEncoding
	hb, _ := enc.DecodeString(parts[0])
	cb, _ := enc.DecodeString(parts[1])
	sig, _ := enc.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(&testKeys()[0].PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Errorf("assertion signature: %v", err)
	}
	var header map[string]string
	var claims map[string]any
	if json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		t.Fatalf("assertion header %s claims %s", hb, cb)
	}
	wantHeader := map[string]string{"alg": "RS256", "typ": "JWT", "kid": testKeyID}
	if !reflect.DeepEqual(header, wantHeader) {
		t.Errorf("jwt header %v, want %v", header, wantHeader)
	}
	wantClaims := map[string]any{"iss": testEmail, "scope": fcm.Scope, "aud": aud,
		"iat": float64(now.Unix()), "exp": float64(now.Add(time.Hour).Unix())}
	if !reflect.DeepEqual(claims, wantClaims) {
		t.Errorf("jwt claims %v, want %v", claims, wantClaims)
	}
}

// TestSimulatorSeesTheMessage checks the request as the simulator records
// it (flattened body) and the per-message outcomes of a mixed batch.
func TestSimulatorSeesTheMessage(t *testing.T) {
	srv := startSim(t, func(c *vendorsim.FCMConfig) {
		c.SenderMismatchTokenPrefixes = []string{"other-sender-"}
		c.ThirdPartyAuthTokenPrefixes = []string{"apns-refused-"}
	})
	ch := simChannel(t, srv)
	msgs := []channels.Message{
		{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "tok-1", Title: "T", Body: "B", Payload: "p",
			Extras: map[string]string{fcm.ExtraChannelID: "orders"}},
		{DeliveryID: "d2", MsgID: "m1", AppID: testApp, Token: "bad-tok-2", Title: "T", Body: "B"},
		{DeliveryID: "d3", MsgID: "m1", AppID: testApp, Token: "malformed-tok-3", Title: "T", Body: "B"},
		{DeliveryID: "d4", MsgID: "m1", AppID: testApp, Token: "", Title: "T", Body: "B"},
		{DeliveryID: "d5", MsgID: "m1", AppID: testApp, Token: "tok has space", Title: "T", Body: "B"},
		{DeliveryID: "d6", MsgID: "m1", AppID: testApp, Token: "other-sender-tok-6", Title: "T", Body: "B"},
		{DeliveryID: "d7", MsgID: "m1", AppID: testApp, Token: "apns-refused-tok-7", Title: "T", Body: "B"},
	}
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := []struct {
		outcome channels.Outcome
		code    int
	}{
		{channels.Success, channels.StatusAcked},
		{channels.InvalidToken, channels.StatusBadDeviceToken},
		{channels.InvalidToken, channels.StatusBadDeviceToken},
		{channels.Permanent, channels.StatusMissingDeviceToken},
		{channels.InvalidToken, channels.StatusBadDeviceToken},
		{channels.Permanent, fcm.StatusAuthentication}, // SENDER_ID_MISMATCH
		{channels.Permanent, fcm.StatusAuthentication}, // THIRD_PARTY_AUTH_ERROR
	}
	for i, w := range want {
		if res[i].Outcome != w.outcome || res[i].StatusCode != w.code {
			t.Errorf("result %d: %s/%d (%s), want %s/%d", i, res[i].Outcome, res[i].StatusCode, res[i].StatusDesc, w.outcome, w.code)
		}
	}
	if !strings.HasPrefix(res[0].VendorMsgID, "projects/"+testProject+"/messages/0:") {
		t.Errorf("vendor msg id %q", res[0].VendorMsgID)
	}
	sends := requests(srv, ":send")
	if len(sends) != 5 {
		t.Fatalf("%d sends, want 5 (one per sendable message)", len(sends))
	}
	for _, r := range sends {
		if r.Path != "/fcm/eu/v1/projects/"+testProject+"/messages:send" || !strings.HasPrefix(r.Auth, "Bearer ya29.sim-") || r.AppID != testApp {
			t.Errorf("send %s auth %q app %q", r.Path, r.Auth, r.AppID)
		}
		if r.Form.Get("message.token") == "tok-1" {
			if r.Form.Get("message.android.notification.channel_id") != "orders" || r.Form.Get("message.data.payload") != "p" ||
				r.Form.Get("message.notification.title") != "T" || r.Form.Get("message.fcm_options.analytics_label") != "m1" {
				t.Errorf("recorded form %v", r.Form)
			}
		}
	}
	if n := len(requests(srv, "/token")); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// TestTokenFlow checks that the access token is fetched once, reused,
// refreshed before expiry and after a refusal, and fetched once for
// concurrent callers.
func TestTokenFlow(t *testing.T) {
	msg := func(i int) []channels.Message {
		return []channels.Message{{DeliveryID: fmt.Sprint("d", i), MsgID: "m", AppID: testApp, Token: fmt.Sprint("tok-", i), Title: "T", Body: "B"}}
	}
	t.Run("fetched once, reused, refreshed before expiry and after a refusal", func(t *testing.T) {
		srv := startSim(t, func(c *vendorsim.FCMConfig) { c.TokenLifetime = vendorsim.Duration(20 * time.Second) })
		var clock atomic.Int64
		clock.Store(time.Now().UnixNano())
		ch := simChannel(t, srv, fcm.WithClock(func() time.Time { return time.Unix(0, clock.Load()) }))
		steps := []struct {
			scenario   string
			before     func()
			wantTokens int
		}{
			{"first send fetches", func() {}, 1},
			{"second send reuses", func() {}, 1},
			{"within the lifetime it is reused", func() { clock.Add(int64(10 * time.Second)) }, 1},
			{"in the last tenth of the lifetime it is refreshed", func() { clock.Add(int64(9 * time.Second)) }, 2},
			{"a token the vendor refuses is replaced once", func() { srv.ExpireFCMAccessTokens() }, 3},
		}
		for i, st := range steps {
			st.before()
			res, err := ch.Send(context.Background(), msg(i))
			if err != nil || res[0].Outcome != channels.Success {
				t.Fatalf("%s: Send = %v, %v", st.scenario, res, err)
			}
			if got := len(requests(srv, "/token")); got != st.wantTokens {
				t.Errorf("%s: %d token requests, want %d", st.scenario, got, st.wantTokens)
			}
		}
		if got := len(requests(srv, ":send")); got != len(steps)+1 {
			t.Errorf("%d sends, want %d (one retried)", got, len(steps)+1)
		}
	})
	t.Run("concurrent callers share one fetch", func(t *testing.T) {
		f := newFake(t, func(f *fakeFCM) { f.tokenWait = 150 * time.Millisecond })
		ch := f.channel(t)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				res, err := ch.Send(context.Background(), msg(i))
				if err != nil || res[0].Outcome != channels.Success {
					t.Errorf("Send %d = %v, %v", i, res, err)
				}
			})
		}
		wg.Wait()
		if n := f.tokenHits.Load(); n != 1 {
			t.Errorf("%d token requests for 16 concurrent sends, want 1", n)
		}
	})
	t.Run("a waiting caller leaves when its context ends", func(t *testing.T) {
		f := newFake(t, func(f *fakeFCM) { f.tokenWait = 2 * time.Second })
		ch := f.channel(t)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := ch.Send(ctx, msg(0))
		if !errors.Is(err, channels.ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want transient wrapping DeadlineExceeded", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("Send took %s", el)
		}
	})
	t.Run("refused credentials are permanent, an unavailable token endpoint transient", func(t *testing.T) {
		for _, tc := range []struct {
			scenario string
			status   int
			body     string
			class    error
		}{
			{"invalid_grant", 400, `{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`, channels.ErrPermanent},
			{"unavailable", 503, `{"error":"temporarily_unavailable"}`, channels.ErrTransient},
		} {
			f := newFake(t, func(f *fakeFCM) {
				f.token = func(w http.ResponseWriter, _ int32) {
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
				}
			})
			_, err := f.channel(t).Send(context.Background(), msg(0))
			if !errors.Is(err, tc.class) {
				t.Errorf("%s: err = %v, want %v", tc.scenario, err, tc.class)
			}
			if strings.Contains(fmt.Sprint(err), "PRIVATE KEY") {
				t.Errorf("%s: error leaks the key", tc.scenario)
			}
			if n := len(f.captured(sendPath())); n != 0 {
				t.Errorf("%s: %d sends without a token", tc.scenario, n)
			}
		}
	})
}

// TestAnswerClassification maps canned FCM answers to outcomes.
func TestAnswerClassification(t *testing.T) {
	fcmErr := func(code int, status, errorCode, extra string) string {
		details := ""
		if errorCode != "" {
			details = `{"@type":"type.googleapis.com/google.firebase.fcm.v1.FcmError","errorCode":"` + errorCode + `"}`
		}
		if extra != "" {
			if details != "" {
				details += ","
			}
			details += `{"@type":"type.googleapis.com/google.rpc.BadRequest","fieldViolations":[{"field":"` + extra + `","description":"x"}]}`
		}
		return fmt.Sprintf(`{"error":{"code":%d,"message":"m","status":"%s","details":[%s]}}`, code, status, details)
	}
	tests := []struct {
		scenario    string
		status      int
		header      map[string]string
		body        string
		wantErr     error
		wantCode    int
		wantOutcome channels.Outcome
		wantRetry   time.Duration
		wantSends   int
	}{
		{scenario: "success", status: 200, body: `{"name":"projects/p/messages/1"}`,
			wantOutcome: channels.Success, wantCode: channels.StatusAcked, wantSends: 1},
		{scenario: "unregistered", status: 404, body: fcmErr(404, "NOT_FOUND", "UNREGISTERED", ""),
			wantOutcome: channels.InvalidToken, wantCode: channels.StatusBadDeviceToken, wantSends: 1},
		{scenario: "invalid registration token", status: 400, body: fcmErr(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", ""),
			wantOutcome: channels.InvalidToken, wantCode: channels.StatusBadDeviceToken, wantSends: 1},
		{scenario: "bad request on message.token", status: 400, body: fcmErr(400, "INVALID_ARGUMENT", "", "message.token"),
			wantOutcome: channels.InvalidToken, wantCode: channels.StatusBadDeviceToken, wantSends: 1},
		{scenario: "invalid ttl", status: 400, body: fcmErr(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "message.android.ttl"),
			wantOutcome: channels.Permanent, wantCode: fcm.StatusInvalidTTL, wantSends: 1},
		{scenario: "invalid data", status: 400, body: fcmErr(400, "INVALID_ARGUMENT", "", "message.data[0].value"),
			wantOutcome: channels.Permanent, wantCode: channels.StatusNone, wantSends: 1},
		{scenario: "sender id mismatch", status: 403, body: fcmErr(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH", ""),
			wantOutcome: channels.Permanent, wantCode: fcm.StatusAuthentication, wantSends: 1},
		{scenario: "third party auth error", status: 401, body: fcmErr(401, "UNAUTHENTICATED", "THIRD_PARTY_AUTH_ERROR", ""),
			wantOutcome: channels.Permanent, wantCode: fcm.StatusAuthentication, wantSends: 1},
		{scenario: "quota exceeded", status: 429, header: map[string]string{"Retry-After": "7"},
			body:    fcmErr(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", ""),
			wantErr: channels.ErrTransient, wantRetry: 7 * time.Second, wantSends: 1},
		{scenario: "unavailable", status: 503, header: map[string]string{"Retry-After": "2"},
			body:    fcmErr(503, "UNAVAILABLE", "UNAVAILABLE", ""),
			wantErr: channels.ErrTransient, wantCode: fcm.StatusInternalServerError, wantRetry: 2 * time.Second, wantSends: 1},
		{scenario: "internal", status: 500, body: fcmErr(500, "INTERNAL", "INTERNAL", ""),
			wantErr: channels.ErrTransient, wantCode: fcm.StatusInternalServerError, wantSends: 1},
		{scenario: "bad gateway without json", status: 502, body: `<html>bad gateway</html>`,
			wantErr: channels.ErrTransient, wantSends: 1},
		{scenario: "access token refused twice", status: 401, body: fcmErr(401, "UNAUTHENTICATED", "", ""),
			wantErr: channels.ErrPermanent, wantSends: 2},
		{scenario: "permission denied on the project", status: 403, body: fcmErr(403, "PERMISSION_DENIED", "", ""),
			wantErr: channels.ErrPermanent, wantSends: 1},
		{scenario: "unknown project", status: 404, body: fcmErr(404, "NOT_FOUND", "", ""),
			wantErr: channels.ErrPermanent, wantSends: 1},
		{scenario: "garbled success", status: 200, body: `<html>`, wantErr: channels.ErrTransient, wantSends: 1},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, func(f *fakeFCM) {
				f.answer = func(w http.ResponseWriter) {
					for k, v := range tc.header {
						w.Header().Set(k, v)
					}
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
				}
			})
			res, err := f.channel(t).Send(context.Background(), []channels.Message{
				{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "t1", Title: "t", Body: "b"},
			})
			if n := len(f.captured(sendPath())); n != tc.wantSends {
				t.Errorf("%d sends, want %d", n, tc.wantSends)
			}
			if tc.wantErr != nil {
				if ve := channeltest.WantCallError(t, err, tc.wantErr, tc.wantCode, tc.wantRetry, ""); ve.Channel != fcm.Name {
					t.Errorf("vendor error %+v, want channel %s", ve, fcm.Name)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res[0].Outcome != tc.wantOutcome || res[0].StatusCode != tc.wantCode {
				t.Errorf("result %s/%d (%s), want %s/%d", res[0].Outcome, res[0].StatusCode, res[0].StatusDesc, tc.wantOutcome, tc.wantCode)
			}
		})
	}
}

// TestPartialFailureIsReportedPerMessage: when one call of a batch fails,
// the others keep their results.
func TestPartialFailureIsReportedPerMessage(t *testing.T) {
	var n atomic.Int32
	f := newFake(t, func(f *fakeFCM) {
		f.answer = func(w http.ResponseWriter) {
			if n.Add(1) == 1 {
				w.Header().Set("Retry-After", "5")
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			_, _ = io.WriteString(w, `{"name":"projects/p/messages/2"}`)
		}
	})
	ch := newChannel(t, f.URL, f.URL+"/token", testKeys()[0], 0)
	cfg := ch.Config()
	cfg.MaxConcurrentCalls = 1
	ch, err := fcm.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := ch.Send(context.Background(), []channels.Message{
		{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "t1", Title: "t", Body: "b"},
		{DeliveryID: "d2", MsgID: "m1", AppID: testApp, Token: "t2", Title: "t", Body: "b"},
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res[0].Outcome != channels.Transient || res[0].RetryAfter != 5*time.Second || res[1].Outcome != channels.Success {
		t.Errorf("results %+v", res)
	}
}

// TestContentChecks: messages that cannot be sent get a Permanent result
// without a call.
func TestContentChecks(t *testing.T) {
	now := time.Now()
	ok := channels.Message{DeliveryID: "d", MsgID: "m", AppID: testApp, Token: "t", Title: "T", Body: "B"}
	tests := []struct {
		scenario string
		mutate   func(m *channels.Message)
		wantCode int
	}{
		{"payload over 2 KB", func(m *channels.Message) { m.Payload = strings.Repeat("p", fcm.MaxPayloadBytes+1) }, fcm.StatusMessageTooBig},
		{"data over 4 KB", func(m *channels.Message) {
			m.Payload = strings.Repeat("p", 2000)
			m.Extras = map[string]string{"ext.a": strings.Repeat("a", 1500), "ext.b": strings.Repeat("b", 1000)}
		}, fcm.StatusMessageTooBig},
		{"expired", func(m *channels.Message) { m.ExpireAt = now.Add(-time.Minute) }, channels.StatusNone},
		{"empty body", func(m *channels.Message) { m.Body = "" }, channels.StatusNone},
		{"bad priority", func(m *channels.Message) { m.Extras = map[string]string{fcm.ExtraPriority: "urgent"} }, channels.StatusNone},
		{"bad badge", func(m *channels.Message) { m.Extras = map[string]string{fcm.ExtraBadge: "-1"} }, channels.StatusNone},
		{"bad notify type", func(m *channels.Message) { m.Extras = map[string]string{channels.ExtraNotifyType: "all"} }, channels.StatusNone},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, nil)
			m := ok
			tc.mutate(&m)
			res, err := f.channel(t).Send(context.Background(), []channels.Message{m})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res[0].Outcome != channels.Permanent || res[0].StatusCode != tc.wantCode || res[0].StatusDesc == "" {
				t.Errorf("result %+v, want permanent %d", res[0], tc.wantCode)
			}
			if n := f.tokenHits.Load() + int32(len(f.captured(sendPath()))); n != 0 {
				t.Errorf("%d requests for a message that is not sent", n)
			}
		})
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL
	ts.Close()
	ch := newChannel(t, base, base+"/token", testKeys()[0], time.Second)
	_, err := ch.Send(context.Background(), []channels.Message{{DeliveryID: "d", MsgID: "m", AppID: testApp, Token: "t", Title: "T", Body: "B"}})
	if !errors.Is(err, channels.ErrTransient) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestConfig(t *testing.T) {
	secretKey := keyPEM(testKeys()[0])
	valid := fcm.Config{Region: "sg", Apps: map[string]fcm.App{testApp: {ProjectID: testProject, ClientEmail: testEmail, PrivateKey: channels.Secret(secretKey)}}}
	tests := []struct {
		scenario string
		mutate   func(c *fcm.Config)
		wantErr  string
	}{
		{"valid with defaults", func(c *fcm.Config) {}, ""},
		{"unknown region", func(c *fcm.Config) { c.Region = "us" }, "unknown region"},
		{"no apps", func(c *fcm.Config) { c.Apps = nil }, "no apps"},
		{"bad project id", func(c *fcm.Config) {
			c.Apps = map[string]fcm.App{"a": {ProjectID: "X", ClientEmail: testEmail, PrivateKey: channels.Secret(secretKey)}}
		}, "projectId"},
		{"bad client email", func(c *fcm.Config) {
			c.Apps = map[string]fcm.App{"a": {ProjectID: testProject, PrivateKey: channels.Secret(secretKey)}}
		}, "clientEmail"},
		{"missing key", func(c *fcm.Config) {
			c.Apps = map[string]fcm.App{"a": {ProjectID: testProject, ClientEmail: testEmail}}
		}, "empty privateKey"},
		{"garbage key", func(c *fcm.Config) {
			c.Apps = map[string]fcm.App{"a": {ProjectID: testProject, ClientEmail: testEmail, PrivateKey: "not a pem"}}
		}, "privateKey"},
		{"bad token uri", func(c *fcm.Config) {
			c.Apps = map[string]fcm.App{"a": {ProjectID: testProject, ClientEmail: testEmail, PrivateKey: channels.Secret(secretKey), TokenURI: "ftp://x"}}
		}, "tokenUri"},
		{"batch too large", func(c *fcm.Config) { c.MaxBatch = fcm.MaxMaxBatch + 1 }, "maxBatch"},
		{"bad priority", func(c *fcm.Config) { c.Priority = "urgent" }, "priority"},
		{"reserved payload key", func(c *fcm.Config) { c.PayloadKey = "google.x" }, "payloadKey"},
		{"payload key of the delivery id", func(c *fcm.Config) { c.PayloadKey = fcm.DeliveryIDDataKey }, "payloadKey"},
		{"data limit over FCM's", func(c *fcm.Config) { c.Limits.MaxDataBytes = 5000 }, "limits"},
		{"too many connections", func(c *fcm.Config) { c.Connections = fcm.MaxConnections + 1 }, "connections must be in 1..64"},
		{"negative connections", func(c *fcm.Config) { c.Connections = -1 }, "connections must be in 1..64"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := valid
			tc.mutate(&c)
			err := c.WithDefaults().Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tc.wantErr)
			}
		})
	}

	d := valid.WithDefaults()
	if d.BaseURL != fcm.DefaultBaseURL || d.MaxBatch != fcm.DefaultMaxBatch || d.Priority != "HIGH" || d.Connections != fcm.DefaultConnections ||
		d.PayloadKey != "payload" || d.Limits.MaxPayloadBytes != 2048 || d.Limits.MaxDataBytes != 4096 {
		t.Errorf("defaults not applied: %v", d)
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{d.String(), fmt.Sprintf("%v", d), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", d), string(js)} {
		if strings.Contains(s, "PRIVATE KEY") {
			t.Errorf("private key printed: %s", s)
		}
		if !strings.Contains(s, channels.Redacted) {
			t.Errorf("no redaction marker: %s", s)
		}
	}
}

func TestParseServiceAccount(t *testing.T) {
	key := keyPEM(testKeys()[0])
	file, _ := json.Marshal(map[string]string{
		"type": "service_account", "project_id": testProject, "private_key_id": testKeyID, "private_key": key,
		"client_email": testEmail, "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token",
	})
	a, err := fcm.ParseServiceAccount(file)
	if err != nil {
		t.Fatalf("ParseServiceAccount: %v", err)
	}
	if a.ProjectID != testProject || a.ClientEmail != testEmail || a.PrivateKeyID != testKeyID ||
		a.PrivateKey.Reveal() != key || a.TokenURI != "https://oauth2.googleapis.com/token" {
		t.Errorf("app %v", a)
	}
	if strings.Contains(a.String(), "PRIVATE KEY") {
		t.Errorf("App.String leaks the key")
	}
	for _, bad := range []string{`{}`, `{"type":"authorized_user"}`, `{"type":"service_account","project_id":"p"}`, `nope`} {
		if _, err := fcm.ParseServiceAccount([]byte(bad)); err == nil {
			t.Errorf("ParseServiceAccount(%s) succeeded", bad)
		}
	}
}

// TestLeanHTTP2Client runs the tests of the wire, the tokens and the
// answers again over HTTP/2 with TLS, where the channel sends through the
// lean client of channels/h2 (the other tests use plain HTTP, so
// net/http).
func TestLeanHTTP2Client(t *testing.T) {
	overTLS.Store(true)
	defer overTLS.Store(false)
	for name, test := range map[string]func(*testing.T){
		"Conformance":                        TestConformance,
		"RequestOnTheWire":                   TestRequestOnTheWire,
		"SimulatorSeesTheMessage":            TestSimulatorSeesTheMessage,
		"TokenFlow":                          TestTokenFlow,
		"AnswerClassification":               TestAnswerClassification,
		"PartialFailureIsReportedPerMessage": TestPartialFailureIsReportedPerMessage,
	} {
		t.Run(name, test)
	}
}

// TestSimulatorSetupOverTLS builds the channel as pushpipe does on the
// vendor simulator (Vendor().Build with the simulator's base URL, token
// endpoint and CA file): messages:send and the token request both go to
// the simulator's TLS listener, the channel trusting the CA file; a CA
// file that cannot be read is an error naming caFile.
func TestSimulatorSetupOverTLS(t *testing.T) {
	srv := startSim(t, nil)
	caFile := filepath.Join(t.TempDir(), "vendorsim-ca.pem")
	if err := os.WriteFile(caFile, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	v := fcm.Vendor()
	if !v.SimulatorTLS {
		t.Fatal("fcm.Vendor().SimulatorTLS is false: the simulator's FCM would be addressed on its plain listener")
	}
	setup := func(caFile string) channels.Setup {
		return channels.Setup{Region: testRegion, BaseURL: srv.FCMBaseURL(testRegion), AuthURL: srv.FCMTokenURL(testRegion),
			Simulator: true, SimulatorCAFile: caFile,
			Apps: map[string]any{testApp: fcm.App{ProjectID: testProject, ClientEmail: testEmail, PrivateKey: channels.Secret(keyPEM(testKeys()[0]))}}}
	}
	ch, err := v.Build(setup(caFile))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	t.Cleanup(func() { _ = ch.(io.Closer).Close() })
	res, err := ch.Send(t.Context(), []channels.Message{{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "tok-1", Title: "T", Body: "B"}})
	if err != nil || res[0].Outcome != channels.Success {
		t.Fatalf("Send = %+v, %v; want success", res, err)
	}
	if n := len(requests(srv, "/token")); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
	if n := len(requests(srv, ":send")); n != 1 {
		t.Errorf("%d sends, want 1", n)
	}
	if _, err := v.Build(setup(caFile + ".missing")); err == nil || !strings.Contains(err.Error(), "caFile") {
		t.Errorf("Build with a missing CA file = %v, want an error about caFile", err)
	}
}

// TestMaxConcurrentCallsBoundsCallsInFlight: however the calls go (net/http
// over plain HTTP, or the lean HTTP/2 client over TLS on one or more
// connections), at most MaxConcurrentCalls are with FCM at once, and that
// many are.
func TestMaxConcurrentCallsBoundsCallsInFlight(t *testing.T) {
	tests := []struct {
		name             string
		tls              bool
		calls, conns, in int
	}{
		{"net/http", false, 3, 1, 20},
		{"lean, one connection", true, 3, 1, 20},
		{"lean, calls shared unevenly by connections", true, 5, 2, 30},
		{"lean, fewer calls than connections", true, 2, 4, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			overTLS.Store(tt.tls)
			defer overTLS.Store(false)
			var inFlight, most atomic.Int32
			arrived := make(chan struct{}, tt.in)
			release := make(chan struct{})
			f := newFake(t, func(f *fakeFCM) {
				f.answer = func(w http.ResponseWriter) {
					n := inFlight.Add(1)
					for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
					}
					arrived <- struct{}{}
					<-release // every call is held until the test lets them go
					inFlight.Add(-1)
					_, _ = io.WriteString(w, `{"name":"projects/p/messages/1"}`)
				}
			})
			cfg := newChannel(t, f.URL, f.URL+"/token", testKeys()[0], 0).Config()
			cfg.MaxConcurrentCalls, cfg.Connections = tt.calls, tt.conns
			ch, err := fcm.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = ch.Close() })
			msgs := make([]channels.Message, tt.in)
			for i := range msgs {
				msgs[i] = channels.Message{DeliveryID: fmt.Sprint("d", i), MsgID: "m1", AppID: testApp, Token: fmt.Sprint("t", i), Title: "t", Body: "b"}
			}
			type sent struct {
				res []channels.Result
				err error
			}
			done := make(chan sent, 1)
			go func() {
				res, err := ch.Send(t.Context(), msgs)
				done <- sent{res, err}
			}()
			for range tt.calls {
				select {
				case <-arrived:
				case <-time.After(10 * time.Second):
					t.Fatalf("%d calls in flight after 10 s, want %d (MaxConcurrentCalls)", inFlight.Load(), tt.calls)
				}
			}
			// Calls beyond the bound, if the channel let any go, arrive
			// in this time; none may.
			time.Sleep(200 * time.Millisecond)
			close(release)
			got := <-done
			if got.err != nil {
				t.Fatalf("Send: %v", got.err)
			}
			for i, r := range got.res {
				if r.Outcome != channels.Success {
					t.Errorf("message %d: %+v", i, r)
				}
			}
			if n := most.Load(); int(n) != tt.calls {
				t.Errorf("%d calls in flight at once, want at most and at least %d (MaxConcurrentCalls)", n, tt.calls)
			}
		})
	}
}
