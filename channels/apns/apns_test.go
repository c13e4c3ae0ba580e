package apns_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/apns"
	"github.com/pushpipe/pushpipe/channels/channeltest"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
)

const (
	testApp    = "app-1"
	testTeam   = "TEAM123456"
	testKeyID  = "KEY1234567"
	testBundle = "com.example.app"
	testRegion = "sg"
)

// newKey returns a P-256 key and its PKCS #8 PEM (the .p8 format).
func newKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return k, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func startSim(t *testing.T, keyPEM string) *vendorsim.Server {
	t.Helper()
	srv, err := allvendors.Start(t.Context(), vendorsim.Config{
		Seed: 1,
		APNs: vendorsim.APNsConfig{Apps: []vendorsim.APNsApp{{
			AppID: testApp, TeamID: testTeam, KeyID: testKeyID, BundleID: testBundle,
			PrivateKey: channels.Secret(keyPEM),
		}}},
	})
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

func testConfig(baseURL, keyPEM string) apns.Config {
	return apns.Config{
		Region:  testRegion,
		BaseURL: baseURL,
		Apps: map[string]apns.App{testApp: {
			TeamID: testTeam, KeyID: testKeyID, BundleID: testBundle, PrivateKey: channels.Secret(keyPEM),
		}},
	}
}

// standardHTTP2 makes newChannel build channels on net/http's client
// (Config.StandardHTTP2) while TestStandardHTTP2Client runs; the tests of
// this package do not run in parallel.
var standardHTTP2 atomic.Bool

func newChannel(t *testing.T, cfg apns.Config, opts ...apns.Option) *apns.Channel {
	t.Helper()
	cfg.StandardHTTP2 = standardHTTP2.Load()
	ch, err := apns.New(cfg, opts...)
	if err != nil {
		t.Fatalf("apns.New: %v", err)
	}
	t.Cleanup(func() { _ = ch.Close() })
	return ch
}

// simChannel returns a channel talking to srv's APNs in region.
func simChannel(t *testing.T, srv *vendorsim.Server, region, keyPEM string, timeout time.Duration, opts ...apns.Option) *apns.Channel {
	t.Helper()
	cfg := testConfig(srv.APNsBaseURL(region), keyPEM)
	cfg.RootCAs = srv.CertPool()
	cfg.Timeout = timeout
	return newChannel(t, cfg, opts...)
}

// hexToken returns the i-th well-formed device token (64 hex digits).
func hexToken(i int) string { return fmt.Sprintf("%064x", i+1) }

func TestConformance(t *testing.T) {
	_, keyPEM := newKey(t)
	_, otherPEM := newKey(t)
	srv := startSim(t, keyPEM)
	conformance.Run(t, conformance.SimHooks(conformance.Harness{
		NewChannel: func(t *testing.T, o conformance.ChannelOptions) channels.Channel {
			key := keyPEM
			if o.BadCredentials {
				key = otherPEM // same team and key id, wrong signature
			}
			return simChannel(t, srv, testRegion, key, o.Timeout)
		},
		AppID:             testApp,
		Token:             hexToken,
		InvalidToken:      func(i int) string { return fmt.Sprintf("bad-%04d", i) },
		Calls:             func(t *testing.T) int { return len(srv.Requests(vendorsim.VendorAPNs, testRegion)) },
		Limits:            conformance.Limits{MaxPayloadBytes: apns.MaxAppPayloadBytes},
		OneCallPerMessage: true,
	}, srv, vendorsim.VendorAPNs))
}

// jwtParts decodes a provider token and checks its ES256 signature.
func jwtParts(t *testing.T, auth string, pub *ecdsa.PublicKey) (header map[string]any, claims map[string]any) {
	t.Helper()
	tok, ok := strings.CutPrefix(auth, "bearer ")
	if !ok {
		t.Fatalf("authorization %q is not a bearer token", auth)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("provider token has %d parts", len(parts))
	}
	enc := base64.RawURLEncoding
	for i, dst := range []*map[string]any{&header, &claims} {
		b, err := enc.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		if err := json.Unmarshal(b, dst); err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
	}
	sig, err := enc.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %d bytes, %v", len(sig), err)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, sum[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("provider token signature does not verify")
	}
	return header, claims
}

// TestRequestOnTheWire checks the exact HTTP/2 request APNs receives.
func TestRequestOnTheWire(t *testing.T) {
	key, keyPEM := newKey(t)
	srv := startSim(t, keyPEM)
	now := time.Now().Truncate(time.Second)
	ch := simChannel(t, srv, "eu", keyPEM, 0, apns.WithClock(func() time.Time { return now }))
	tok := hexToken(7)

	tests := []struct {
		scenario    string
		msg         channels.Message
		wantHeaders map[string]string // "" = must be absent
		wantPayload string
	}{
		{
			scenario: "alert with apns extras, custom keys and a JSON payload",
			msg: channels.Message{
				DeliveryID: "d-1", MsgID: "m-1", AppID: testApp, Token: tok,
				Title: "标题 Title", Body: "Body text", Payload: `{"order":42,"aps":"ignored"}`,
				ExpireAt: now.Add(90 * time.Minute),
				Extras: map[string]string{
					apns.ExtraBadge: "3", apns.ExtraSound: "chime.caf", apns.ExtraMutableContent: "1",
					apns.ExtraSubtitle: "Sub", apns.ExtraCollapseID: "order-42", apns.ExtraAlertCategory: "ORDER",
					apns.ExtraThreadID: "orders", apns.ExtraInterruptionLevel: "time-sensitive",
					channels.ExtraURI:                      "https://example.com/o/42",
					channels.ExtraCustomPrefix + "orderId": "42",
					channels.ExtraCustomPrefix + "sound":   "overridden-by-apns.sound",
				},
			},
			wantHeaders: map[string]string{
				"apns-topic": testBundle, "apns-push-type": "alert", "apns-priority": "10",
				"apns-expiration": fmt.Sprint(now.Add(90 * time.Minute).Unix()), "apns-collapse-id": "order-42",
				"apns-id": apns.MessageID("d-1"),
			},
			wantPayload: `{"aps":{"alert":{"body":"Body text","subtitle":"Sub","title":"标题 Title"},"badge":3,` +
				`"category":"ORDER","interruption-level":"time-sensitive","mutable-content":1,"sound":"chime.caf","thread-id":"orders"},` +
				`"deliveryId":"d-1","order":42,"orderId":"42","sound":"overridden-by-apns.sound","uri":"https://example.com/o/42"}`,
		},
		{
			scenario: "mPaaS extension parameters set the aps fields",
			msg: channels.Message{
				DeliveryID: "d-2", MsgID: "m-2", AppID: testApp, Token: tok, Title: "T", Body: "B",
				Payload: "plain text",
				Extras: map[string]string{
					channels.ExtraCustomPrefix + "badge": "5", channels.ExtraCustomPrefix + "sound": "default",
					channels.ExtraCustomPrefix + "mutable-content": "1",
				},
			},
			wantHeaders: map[string]string{
				"apns-topic": testBundle, "apns-push-type": "alert", "apns-priority": "10",
				"apns-expiration": "", "apns-collapse-id": "", "apns-id": apns.MessageID("d-2"),
			},
			wantPayload: `{"aps":{"alert":{"body":"B","title":"T"},"badge":5,"mutable-content":1,"sound":"default"},` +
				`"badge":"5","deliveryId":"d-2","mutable-content":"1","payload":"plain text","sound":"default"}`,
		},
		{
			scenario: "pass-through is a background push with priority 5",
			msg: channels.Message{
				DeliveryID: "d-3", MsgID: "m-3", AppID: testApp, Token: tok, PassThrough: true,
				Payload: `{"sync":true}`, Extras: map[string]string{apns.ExtraBadge: "9"},
			},
			wantHeaders: map[string]string{
				"apns-topic": testBundle, "apns-push-type": "background", "apns-priority": "5", "apns-id": apns.MessageID("d-3"),
			},
			wantPayload: `{"aps":{"content-available":1},"deliveryId":"d-3","sync":true}`,
		},
		{
			scenario: "the delivery id is a reserved payload key",
			msg: channels.Message{
				DeliveryID: "d-4", MsgID: "m-4", AppID: testApp, Token: tok, Title: "T", Body: "B",
				Payload: `{"deliveryId":"from-payload"}`,
				Extras:  map[string]string{channels.ExtraCustomPrefix + "deliveryId": "from-extras"},
			},
			wantHeaders: map[string]string{"apns-push-type": "alert", "apns-id": apns.MessageID("d-4")},
			wantPayload: `{"aps":{"alert":{"body":"B","title":"T"}},"deliveryId":"d-4"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			res, err := ch.Send(context.Background(), []channels.Message{tc.msg})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res[0].Outcome != channels.Success || res[0].StatusCode != channels.StatusAcked {
				t.Fatalf("result %+v, want success/Acked", res[0])
			}
			if res[0].VendorMsgID != apns.MessageID(tc.msg.DeliveryID) {
				t.Errorf("VendorMsgID %q, want the echoed apns-id %q", res[0].VendorMsgID, apns.MessageID(tc.msg.DeliveryID))
			}
			reqs := srv.Requests(vendorsim.VendorAPNs, "eu")
			if len(reqs) != 1 {
				t.Fatalf("%d requests recorded, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/apns/eu/3/device/"+tok {
				t.Errorf("request %s %s, want POST /apns/eu/3/device/%s", r.Method, r.Path, tok)
			}
			header, claims := jwtParts(t, r.Auth, &key.PublicKey)
			if header["alg"] != "ES256" || header["kid"] != testKeyID || len(header) != 2 {
				t.Errorf("token header %v, want alg ES256 and kid %s only", header, testKeyID)
			}
			if claims["iss"] != testTeam || claims["iat"] != float64(now.Unix()) || len(claims) != 2 {
				t.Errorf("token claims %v, want iss %s and iat %d only", claims, testTeam, now.Unix())
			}
			for h, want := range tc.wantHeaders {
				if got := r.Form.Get(h); got != want {
					t.Errorf("header %s = %q, want %q", h, got, want)
				}
			}
			if got := r.Form.Get("payload"); got != tc.wantPayload {
				t.Errorf("payload\n got %s\nwant %s", got, tc.wantPayload)
			}
		})
	}
}

// recorder is a TLS HTTP/2 server that records provider tokens and
// answers with answer (200 when nil).
type recorder struct {
	ts     *httptest.Server
	mu     sync.Mutex
	auths  []string
	protos []string
	answer func(n int, auth string, w http.ResponseWriter)
}

func newRecorder(t *testing.T, answer func(n int, auth string, w http.ResponseWriter)) *recorder {
	t.Helper()
	rec := &recorder{answer: answer}
	rec.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		rec.mu.Lock()
		rec.auths = append(rec.auths, r.Header.Get("Authorization"))
		rec.protos = append(rec.protos, r.Proto)
		n := len(rec.auths)
		rec.mu.Unlock()
		if rec.answer != nil {
			rec.answer(n, r.Header.Get("Authorization"), w)
			return
		}
		w.Header().Set("apns-id", r.Header.Get("apns-id"))
		w.WriteHeader(http.StatusOK)
	}))
	rec.ts.EnableHTTP2 = true
	rec.ts.StartTLS()
	t.Cleanup(rec.ts.Close)
	return rec
}

func (r *recorder) config(keyPEM string) apns.Config {
	cfg := testConfig(r.ts.URL, keyPEM)
	pool := x509.NewCertPool()
	pool.AddCert(r.ts.Certificate())
	cfg.RootCAs = pool
	return cfg
}

func (r *recorder) tokens() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.auths...)
}

func distinct(ss []string) int {
	m := map[string]bool{}
	for _, s := range ss {
		m[s] = true
	}
	return len(m)
}

func msg(i int) channels.Message {
	return channels.Message{DeliveryID: fmt.Sprintf("d-%d", i), MsgID: "m", AppID: testApp, Token: hexToken(i), Title: "t", Body: "b"}
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// TestProviderTokenFlow checks the provider token cache: signed once,
// reused, renewed after TokenRefresh, shared by concurrent callers and by
// apps of one key, renewed once on ExpiredProviderToken.
func TestProviderTokenFlow(t *testing.T) {
	key, keyPEM := newKey(t)
	send := func(t *testing.T, ch *apns.Channel, msgs ...channels.Message) []channels.Result {
		t.Helper()
		res, err := ch.Send(context.Background(), msgs)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		return res
	}
	tests := []struct {
		scenario string
		run      func(t *testing.T)
	}{
		{"signed once and reused, renewed only after TokenRefresh", func(t *testing.T) {
			rec := newRecorder(t, nil)
			clk := &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)}
			ch := newChannel(t, rec.config(keyPEM), apns.WithClock(clk.now))
			send(t, ch, msg(0), msg(1), msg(2))
			clk.add(apns.DefaultTokenRefresh - time.Second)
			send(t, ch, msg(3))
			toks := rec.tokens()
			if distinct(toks) != 1 || ch.ProviderTokensSigned(testApp) != 1 {
				t.Fatalf("%d distinct tokens, %d signed before TokenRefresh; want 1", distinct(toks), ch.ProviderTokensSigned(testApp))
			}
			first := clk.now().Add(-(apns.DefaultTokenRefresh - time.Second))
			if _, c := jwtParts(t, toks[0], &key.PublicKey); c["iat"] != float64(first.Unix()) {
				t.Errorf("iat %v, want %d", c["iat"], first.Unix())
			}
			clk.add(time.Second)
			send(t, ch, msg(4))
			toks = rec.tokens()
			last := toks[len(toks)-1]
			if last == toks[0] || ch.ProviderTokensSigned(testApp) != 2 {
				t.Fatalf("token not renewed at TokenRefresh (%d signed)", ch.ProviderTokensSigned(testApp))
			}
			if _, c := jwtParts(t, last, &key.PublicKey); c["iat"] != float64(clk.now().Unix()) {
				t.Errorf("renewed iat %v, want %d", c["iat"], clk.now().Unix())
			}
			for _, p := range rec.protos {
				if p != "HTTP/2.0" {
					t.Fatalf("request over %s, want HTTP/2.0", p)
				}
			}
		}},
		{"concurrent callers share one token", func(t *testing.T) {
			rec := newRecorder(t, nil)
			ch := newChannel(t, rec.config(keyPEM))
			var wg sync.WaitGroup
			for i := range 32 {
				wg.Go(func() { send(t, ch, msg(i), msg(i+100)) })
			}
			wg.Wait()
			if n := distinct(rec.tokens()); n != 1 || ch.ProviderTokensSigned(testApp) != 1 {
				t.Fatalf("%d distinct tokens, %d signed; want 1", n, ch.ProviderTokensSigned(testApp))
			}
		}},
		{"apps of one key share its token", func(t *testing.T) {
			rec := newRecorder(t, nil)
			cfg := rec.config(keyPEM)
			other := cfg.Apps[testApp]
			other.BundleID = "com.example.other"
			cfg.Apps["app-2"] = other
			ch := newChannel(t, cfg)
			send(t, ch, msg(0))
			m := msg(1)
			m.AppID = "app-2"
			send(t, ch, m)
			if n := distinct(rec.tokens()); n != 1 {
				t.Fatalf("%d distinct tokens for two apps of one key, want 1", n)
			}
		}},
		{"ExpiredProviderToken renews the token and retries once", func(t *testing.T) {
			var stale atomic.Value
			rec := newRecorder(t, func(n int, auth string, w http.ResponseWriter) {
				if n == 1 {
					stale.Store(auth)
				}
				if auth == stale.Load() {
					w.WriteHeader(http.StatusForbidden)
					_, _ = io.WriteString(w, `{"reason":"ExpiredProviderToken"}`)
					return
				}
				w.WriteHeader(http.StatusOK)
			})
			clk := &clock{t: time.Now()}
			ch := newChannel(t, rec.config(keyPEM), apns.WithClock(clk.now))
			res := send(t, ch, msg(0))
			if res[0].Outcome != channels.Success {
				t.Fatalf("result %+v, want success after renewal", res[0])
			}
			if toks := rec.tokens(); len(toks) != 2 || distinct(toks) != 2 || ch.ProviderTokensSigned(testApp) != 2 {
				t.Fatalf("%d requests with %d distinct tokens (%d signed), want 2 and 2", len(toks), distinct(toks), ch.ProviderTokensSigned(testApp))
			}
			send(t, ch, msg(1))
			if ch.ProviderTokensSigned(testApp) != 2 {
				t.Errorf("renewed token not reused: %d signed", ch.ProviderTokensSigned(testApp))
			}
		}},
		{"ExpiredProviderToken for the renewed token is a permanent error", func(t *testing.T) {
			rec := newRecorder(t, func(n int, auth string, w http.ResponseWriter) {
				w.WriteHeader(http.StatusForbidden)
				_, _ = io.WriteString(w, `{"reason":"ExpiredProviderToken"}`)
			})
			ch := newChannel(t, rec.config(keyPEM))
			_, err := ch.Send(context.Background(), []channels.Message{msg(0)})
			if !errors.Is(err, channels.ErrPermanent) || errors.Is(err, channels.ErrTransient) {
				t.Fatalf("err = %v, want permanent", err)
			}
			if n := len(rec.tokens()); n != 2 {
				t.Errorf("%d requests, want 2 (one retry)", n)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, tc.run)
	}
}

// TestSimulatorTokenChecks runs the token flow against the simulator: a
// stale token is refused with ExpiredProviderToken, renewed and accepted.
func TestSimulatorTokenChecks(t *testing.T) {
	_, keyPEM := newKey(t)
	srv := startSim(t, keyPEM)
	// The clock is two hours late until the simulator has answered once.
	stale := func() time.Time {
		if len(srv.Requests(vendorsim.VendorAPNs, testRegion)) == 0 {
			return time.Now().Add(-2 * time.Hour)
		}
		return time.Now()
	}
	ch := simChannel(t, srv, testRegion, keyPEM, 0, apns.WithClock(stale))
	res, err := ch.Send(context.Background(), []channels.Message{msg(0)})
	if err != nil || res[0].Outcome != channels.Success {
		t.Fatalf("Send = %+v, %v; want success after renewal", res, err)
	}
	reqs := srv.Requests(vendorsim.VendorAPNs, testRegion)
	if len(reqs) != 2 || !strings.Contains(reqs[0].Body, "ExpiredProviderToken") || reqs[1].Status != http.StatusOK {
		t.Fatalf("requests %+v, want ExpiredProviderToken then 200", reqs)
	}
}

// TestAnswerClassification maps canned APNs answers to outcomes.
func TestAnswerClassification(t *testing.T) {
	_, keyPEM := newKey(t)
	tests := []struct {
		scenario    string
		status      int
		header      map[string]string
		body        string
		wantErr     error // class of the whole-call error, nil for a result
		wantCode    int   // result status code or VendorError.Code
		wantOutcome channels.Outcome
		wantRetry   time.Duration
	}{
		{scenario: "success", status: 200, header: map[string]string{"apns-id": "3f1a0b2c-0000-4000-8000-000000000001"},
			wantOutcome: channels.Success, wantCode: channels.StatusAcked},
		{scenario: "bad device token", status: 400, body: `{"reason":"BadDeviceToken"}`,
			wantOutcome: channels.InvalidToken, wantCode: channels.StatusBadDeviceToken},
		{scenario: "unregistered", status: 410, body: `{"reason":"Unregistered","timestamp":1767225600000}`,
			wantOutcome: channels.InvalidToken, wantCode: apns.StatusUnregistered},
		{scenario: "expired device token", status: 410, body: `{"reason":"ExpiredToken"}`,
			wantOutcome: channels.InvalidToken, wantCode: apns.StatusUnregistered},
		{scenario: "token of another topic", status: 400, body: `{"reason":"DeviceTokenNotForTopic"}`,
			wantOutcome: channels.InvalidToken, wantCode: apns.StatusDeviceTokenNotForTopic},
		{scenario: "payload too large", status: 413, body: `{"reason":"PayloadTooLarge"}`,
			wantOutcome: channels.Permanent, wantCode: apns.StatusPayloadTooLarge},
		{scenario: "bad priority", status: 400, body: `{"reason":"BadPriority"}`,
			wantOutcome: channels.Permanent, wantCode: apns.StatusBadPriority},
		{scenario: "unknown 400 reason", status: 400, body: `{"reason":"SomethingNew"}`,
			wantOutcome: channels.Permanent, wantCode: channels.StatusNone},
		{scenario: "410 without body", status: 410,
			wantOutcome: channels.InvalidToken, wantCode: apns.StatusUnregistered},
		{scenario: "invalid provider token", status: 403, body: `{"reason":"InvalidProviderToken"}`,
			wantErr: channels.ErrPermanent},
		{scenario: "topic disallowed", status: 400, body: `{"reason":"TopicDisallowed"}`,
			wantErr: channels.ErrPermanent, wantCode: apns.StatusTopicDisallowed},
		{scenario: "too many requests", status: 429, body: `{"reason":"TooManyRequests"}`,
			wantErr: channels.ErrTransient},
		{scenario: "too many provider token updates", status: 429, body: `{"reason":"TooManyProviderTokenUpdates"}`,
			wantErr: channels.ErrTransient},
		{scenario: "service unavailable with retry-after", status: 503, header: map[string]string{"Retry-After": "4"},
			body: `{"reason":"ServiceUnavailable"}`, wantErr: channels.ErrTransient, wantCode: apns.StatusConnUnavailable, wantRetry: 4 * time.Second},
		{scenario: "500 without body", status: 500, wantErr: channels.ErrTransient, wantCode: apns.StatusConnUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			rec := newRecorder(t, func(n int, auth string, w http.ResponseWriter) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			ch := newChannel(t, rec.config(keyPEM))
			res, err := ch.Send(context.Background(), []channels.Message{msg(0)})
			if tc.wantErr != nil {
				if ve := channeltest.WantCallError(t, err, tc.wantErr, tc.wantCode, tc.wantRetry, "PRIVATE KEY"); ve.HTTPStatus != tc.status {
					t.Errorf("vendor error http %d, want %d", ve.HTTPStatus, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res[0].Outcome != tc.wantOutcome || res[0].StatusCode != tc.wantCode {
				t.Errorf("result %s/%d (%s), want %s/%d", res[0].Outcome, res[0].StatusCode, res[0].StatusDesc, tc.wantOutcome, tc.wantCode)
			}
			if id := tc.header["apns-id"]; id != "" && res[0].VendorMsgID != id {
				t.Errorf("VendorMsgID %q, want %q", res[0].VendorMsgID, id)
			}
		})
	}
}

// TestPartialFailureIsReportedPerMessage: one request of a batch fails,
// the others succeed.
func TestPartialFailureIsReportedPerMessage(t *testing.T) {
	_, keyPEM := newKey(t)
	failing := "/3/device/" + hexToken(1)
	rec := &recorder{}
	rec.ts = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == failing {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = io.WriteString(w, `{"reason":"ServiceUnavailable"}`)
			return
		}
		w.WriteHeader(http.StatusOK)
	}))
	rec.ts.EnableHTTP2 = true
	rec.ts.StartTLS()
	t.Cleanup(rec.ts.Close)
	ch := newChannel(t, rec.config(keyPEM))
	res, err := ch.Send(context.Background(), []channels.Message{msg(0), msg(1), msg(2)})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := []channels.Outcome{channels.Success, channels.Transient, channels.Success}
	for i := range want {
		if res[i].Outcome != want[i] {
			t.Errorf("result %d: %s, want %s", i, res[i].Outcome, want[i])
		}
	}
	if res[1].RetryAfter != 7*time.Second || res[1].StatusCode != apns.StatusConnUnavailable {
		t.Errorf("transient result %+v, want RetryAfter 7s and status %d", res[1], apns.StatusConnUnavailable)
	}
}

// TestChecksBeforeSending covers the messages refused without a request.
func TestChecksBeforeSending(t *testing.T) {
	_, keyPEM := newKey(t)
	now := time.Now()
	ch := newChannel(t, testConfig("https://127.0.0.1:1", keyPEM))
	app := apns.App{TeamID: testTeam, KeyID: testKeyID, BundleID: testBundle}
	withExtras := func(x map[string]string) channels.Message {
		m := msg(0)
		m.Extras = x
		return m
	}
	tests := []struct {
		scenario    string
		msg         channels.Message
		wantOutcome channels.Outcome
		wantCode    int
	}{
		{"empty token", channels.Message{Title: "t", Body: "b"}, channels.Permanent, channels.StatusMissingDeviceToken},
		{"token with a slash", channels.Message{Token: "ab/cd", Title: "t", Body: "b"}, channels.InvalidToken, channels.StatusBadDeviceToken},
		{"expired", channels.Message{Token: "ab", Title: "t", Body: "b", ExpireAt: now.Add(-time.Second)}, channels.Permanent, channels.StatusNone},
		{"no body", channels.Message{Token: "ab", Title: "t"}, channels.Permanent, apns.StatusPayloadEmpty},
		{"payload over the iOS limit", channels.Message{Token: "ab", Title: "t", Body: "b", Payload: strings.Repeat("x", apns.MaxAppPayloadBytes+1)},
			channels.Permanent, apns.StatusPayloadTooLarge},
		{"notification over 4 KB", channels.Message{Token: "ab", Title: strings.Repeat("t", 2100), Body: strings.Repeat("b", 2100)},
			channels.Permanent, apns.StatusPayloadTooLarge},
		{"collapse id over 64 bytes", withExtras(map[string]string{apns.ExtraCollapseID: strings.Repeat("c", 65)}), channels.Permanent, channels.StatusNone},
		{"bad priority", withExtras(map[string]string{apns.ExtraPriority: "7"}), channels.Permanent, apns.StatusBadPriority},
		{"background with priority 10", withExtras(map[string]string{apns.ExtraPushType: "background", apns.ExtraPriority: "10"}),
			channels.Permanent, apns.StatusBadPriority},
		{"unsupported push type", withExtras(map[string]string{apns.ExtraPushType: "voip"}), channels.Permanent, channels.StatusNone},
		{"badge not a number", withExtras(map[string]string{apns.ExtraBadge: "many"}), channels.Permanent, channels.StatusNone},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			_, r, ok := ch.Build(app, tc.msg, now)
			if ok {
				t.Fatal("Build accepted the message")
			}
			if r.Outcome != tc.wantOutcome || r.StatusCode != tc.wantCode || r.StatusDesc == "" {
				t.Errorf("result %+v, want %s/%d with a description", r, tc.wantOutcome, tc.wantCode)
			}
		})
	}
	// Nothing above reached the (unreachable) server: a batch of them
	// gets results, not a network error.
	res, err := ch.Send(context.Background(), []channels.Message{{AppID: testApp, Title: "t", Body: "b"}})
	if err != nil || res[0].Outcome != channels.Permanent {
		t.Fatalf("Send = %+v, %v; want a permanent result", res, err)
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	_, keyPEM := newKey(t)
	rec := newRecorder(t, nil)
	cfg := rec.config(keyPEM)
	cfg.Timeout = time.Second
	rec.ts.Close() // nothing listens any more
	ch := newChannel(t, cfg)
	_, err := ch.Send(context.Background(), []channels.Message{msg(0), msg(1)})
	if !errors.Is(err, channels.ErrTransient) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestMessageID(t *testing.T) {
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	a, b := apns.MessageID("d0123456789abcdef01234567"), apns.MessageID("d0123456789abcdef01234568")
	if !uuid.MatchString(a) || !uuid.MatchString(b) {
		t.Fatalf("%q or %q is not a canonical version 8 UUID", a, b)
	}
	if a == b || a != apns.MessageID("d0123456789abcdef01234567") {
		t.Error("MessageID is not a deterministic function of the delivery id")
	}
	if apns.MessageID("") != "" {
		t.Error(`MessageID("") is not empty`)
	}
}

func TestConfig(t *testing.T) {
	_, keyPEM := newKey(t)
	_, otherPEM := newKey(t)
	valid := func() apns.Config { return testConfig("", keyPEM) }
	tests := []struct {
		scenario string
		mutate   func(c *apns.Config)
		wantErr  string // substring; "" = valid
	}{
		{"valid with defaults", func(c *apns.Config) {}, ""},
		{"unknown region", func(c *apns.Config) { c.Region = "mars" }, "unknown region"},
		{"plain http base URL", func(c *apns.Config) { c.BaseURL = "http://127.0.0.1:1" }, "not an https URL"},
		{"no apps", func(c *apns.Config) { c.Apps = nil }, "no apps"},
		{"missing team", func(c *apns.Config) { a := c.Apps[testApp]; a.TeamID = ""; c.Apps[testApp] = a }, "empty teamId"},
		{"key not PEM", func(c *apns.Config) { a := c.Apps[testApp]; a.PrivateKey = "MIGTAgEA"; c.Apps[testApp] = a }, "not PEM"},
		{"one key id, two keys", func(c *apns.Config) {
			a := c.Apps[testApp]
			a.PrivateKey, a.BundleID = channels.Secret(otherPEM), "com.example.b"
			c.Apps["app-2"] = a
		}, "different teamId or privateKey"},
		{"token refresh under 20 minutes", func(c *apns.Config) { c.TokenRefresh = 10 * time.Minute }, "tokenRefresh"},
		{"token refresh of an hour", func(c *apns.Config) { c.TokenRefresh = time.Hour }, "tokenRefresh"},
		{"notification limit over 5 KB", func(c *apns.Config) { c.Limits.MaxNotificationBytes = 6000 }, "maxNotificationBytes"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			err := c.WithDefaults().Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tc.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
				t.Errorf("error leaks key material: %v", err)
			}
		})
	}
	c := valid().WithDefaults()
	if c.BaseURL != apns.ProductionURL || (apns.Config{Sandbox: true}).WithDefaults().BaseURL != apns.SandboxURL {
		t.Errorf("default base URLs %q / sandbox wrong", c.BaseURL)
	}
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
		if strings.Contains(s, "PRIVATE KEY") || !strings.Contains(s, channels.Redacted) {
			t.Errorf("printed config leaks the key or hides that it is set: %s", s)
		}
	}
	b, _ := json.Marshal(c)
	if strings.Contains(string(b), "PRIVATE KEY") {
		t.Errorf("JSON config leaks the key: %s", b)
	}
}

// TestCAFile trusts the simulator through a CA file, as a YAML
// configuration does.
func TestCAFile(t *testing.T) {
	_, keyPEM := newKey(t)
	srv := startSim(t, keyPEM)
	caFile := t.TempDir() + "/vendorsim-ca.pem"
	if err := os.WriteFile(caFile, srv.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(srv.APNsBaseURL(testRegion), keyPEM)
	cfg.CAFile = caFile
	ch := newChannel(t, cfg)
	res, err := ch.Send(context.Background(), []channels.Message{msg(0)})
	if err != nil || res[0].Outcome != channels.Success {
		t.Fatalf("Send = %+v, %v; want success", res, err)
	}
	cfg.CAFile = caFile + ".missing"
	if _, err := apns.New(cfg); err == nil || !strings.Contains(err.Error(), "caFile") {
		t.Errorf("New with a missing CA file = %v, want an error about caFile", err)
	}
}

// TestBatchOfOneContentCarriesEachMessagesOwnRequest checks that a Send of
// several messages with one content (a broadcast's batch), whose payload
// the channel builds once, still sends each message exactly the request
// Build makes for it alone: its token, apns-id, apns-expiration and
// delivery id, in the same bytes.
func TestBatchOfOneContentCarriesEachMessagesOwnRequest(t *testing.T) {
	_, keyPEM := newKey(t)
	srv := startSim(t, keyPEM)
	now := time.Now().Truncate(time.Second)
	ch := simChannel(t, srv, "eu", keyPEM, 0, apns.WithClock(func() time.Time { return now }))
	shared := map[string]string{apns.ExtraSound: "default", channels.ExtraCustomPrefix + "k": "v"}
	msg := func(i int, id string, extras map[string]string, title string) channels.Message {
		return channels.Message{DeliveryID: id, MsgID: "m-1", AppID: testApp, Token: hexToken(i), Title: title, Body: "B",
			Payload: `{"order":42}`, ExpireAt: now.Add(time.Duration(i+1) * time.Hour), Extras: maps.Clone(extras)}
	}
	msgs := []channels.Message{
		msg(0, "d-0", shared, "T"),
		msg(1, "d-1-with-a-longer-id", shared, "T"),
		msg(2, `d-2 <"escaped">&`, shared, "T"),
		msg(3, "d-3", map[string]string{apns.ExtraSound: "other"}, "T"),
		msg(4, "d-4", shared, "T"),
		msg(5, "d-5", shared, "Another title"),
		msg(6, "d-6", map[string]string{apns.ExtraPriority: "7"}, "T"), // refused content
		msg(7, "d-7", map[string]string{apns.ExtraPriority: "7"}, "T"),
		msg(8, "", shared, "T"),
	}
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	app := ch.Config().Apps[testApp]
	byPath := map[string]vendorsim.Request{}
	for _, r := range srv.Requests(vendorsim.VendorAPNs, "eu") {
		byPath[r.Path] = r
	}
	for i, m := range msgs {
		want, wantRes, ok := ch.Build(app, m, now)
		if !ok {
			if res[i] != wantRes {
				t.Errorf("message %d: result %+v, want Build's refusal %+v", i, res[i], wantRes)
			}
			continue
		}
		r, sent := byPath["/apns/eu/3/device/"+m.Token]
		if !sent {
			t.Errorf("message %d was not sent", i)
			continue
		}
		if got := r.Form.Get("payload"); got != string(want.Payload) {
			t.Errorf("message %d: payload\n got %s\nwant %s", i, got, want.Payload)
		}
		for h, v := range map[string]string{"apns-id": want.ID, "apns-expiration": want.Expiration, "apns-topic": want.Topic,
			"apns-priority": want.Priority, "apns-push-type": want.PushType} {
			if got := r.Form.Get(h); got != v {
				t.Errorf("message %d: header %s = %q, want %q", i, h, got, v)
			}
		}
	}
}

// TestRequestsSpreadOverTheConnections checks that a channel sends over
// Config.Connections HTTP/2 connections, never more than
// MaxConcurrentStreams requests at once on one of them. The server holds
// the first requests until one is in flight on every connection, which
// only happens when each connection carries one (APNs allows one stream
// on a connection until a request with a valid token was answered).
func TestRequestsSpreadOverTheConnections(t *testing.T) {
	for _, tc := range []struct {
		scenario             string
		connections, streams int
	}{
		{scenario: "one connection", connections: 1, streams: 5},
		{scenario: "three connections", connections: 3, streams: 5},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			_, keyPEM := newKey(t)
			var mu sync.Mutex
			inFlight, most := map[string]int{}, map[string]int{}
			total := 0
			everyConn := make(chan struct{})
			var once sync.Once
			ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				mu.Lock()
				inFlight[r.RemoteAddr]++
				most[r.RemoteAddr] = max(most[r.RemoteAddr], inFlight[r.RemoteAddr])
				total++
				if total >= tc.connections {
					once.Do(func() { close(everyConn) })
				}
				mu.Unlock()
				select {
				case <-everyConn:
				case <-time.After(10 * time.Second):
					t.Errorf("fewer than %d requests were in flight at once", tc.connections)
				}
				mu.Lock()
				inFlight[r.RemoteAddr]--
				mu.Unlock()
				w.WriteHeader(http.StatusOK)
			}))
			ts.EnableHTTP2 = true
			ts.StartTLS()
			t.Cleanup(ts.Close)
			cfg := testConfig(ts.URL, keyPEM)
			cfg.RootCAs = x509.NewCertPool()
			cfg.RootCAs.AddCert(ts.Certificate())
			cfg.Connections, cfg.MaxConcurrentStreams = tc.connections, tc.streams
			ch := newChannel(t, cfg)
			msgs := make([]channels.Message, 60)
			for i := range msgs {
				msgs[i] = msg(i)
			}
			res, err := ch.Send(context.Background(), msgs)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			for i, r := range res {
				if r.Outcome != channels.Success {
					t.Fatalf("message %d: %+v, want success", i, r)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(most) != tc.connections {
				t.Errorf("requests came over %d connections, want %d", len(most), tc.connections)
			}
			for addr, n := range most {
				if n > tc.streams {
					t.Errorf("connection %s carried %d requests at once, want at most %d", addr, n, tc.streams)
				}
			}
		})
	}
}

// TestStandardHTTP2Client runs the tests of the wire, the answers and the
// connections again with Config.StandardHTTP2 (net/http's client); the
// other tests use the default lean client.
func TestStandardHTTP2Client(t *testing.T) {
	standardHTTP2.Store(true)
	defer standardHTTP2.Store(false)
	for name, test := range map[string]func(*testing.T){
		"Conformance":                        TestConformance,
		"RequestOnTheWire":                   TestRequestOnTheWire,
		"ProviderTokenFlow":                  TestProviderTokenFlow,
		"AnswerClassification":               TestAnswerClassification,
		"PartialFailureIsReportedPerMessage": TestPartialFailureIsReportedPerMessage,
		"NetworkErrorIsTransient":            TestNetworkErrorIsTransient,
		"RequestsSpreadOverTheConnections":   TestRequestsSpreadOverTheConnections,
		"LiveActivityOnTheWire":              TestLiveActivityOnTheWire,
	} {
		t.Run(name, test)
	}
}
