package apns_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
)

const (
	apnsApp    = "ios-app"
	apnsTeam   = "TEAM123456"
	apnsKeyID  = "KEY1234567"
	apnsBundle = "com.example.ios"
	apnsToken  = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
)

func apnsKey(t *testing.T) (*ecdsa.PrivateKey, string) {
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

func apnsPublicPEM(t *testing.T, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// apnsJWT signs a provider token with arbitrary header fields.
func apnsJWT(t *testing.T, k *ecdsa.PrivateKey, alg, kid, iss string, iat time.Time) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": alg, "kid": kid})
	c, _ := json.Marshal(map[string]any{"iss": iss, "iat": iat.Unix()})
	signed := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, k, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig[:])
}

func apnsStart(t *testing.T, key *ecdsa.PrivateKey, mutate func(*vendorsim.APNsConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 3, APNs: vendorsim.APNsConfig{Apps: []vendorsim.APNsApp{{
		AppID: apnsApp, TeamID: apnsTeam, KeyID: apnsKeyID, BundleID: apnsBundle, PublicKey: apnsPublicPEM(t, key),
	}}}}
	if mutate != nil {
		mutate(&cfg.APNs)
	}
	return simtest.Start(t, cfg)
}

// apnsClient returns an HTTP/2 client trusting srv (or HTTP/1.1 with h1).
func apnsClient(t *testing.T, srv *vendorsim.Server, h1 bool) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}
	tr.Protocols = new(http.Protocols)
	if h1 {
		tr.Protocols.SetHTTP1(true)
	} else {
		tr.Protocols.SetHTTP2(true)
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type apnsReply struct {
	status    int
	reason    string
	timestamp int64
	header    http.Header
}

func apnsPost(t *testing.T, c *http.Client, method, u string, header map[string]string, body string) apnsReply {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var a struct {
		Reason    string `json:"reason"`
		Timestamp int64  `json:"timestamp"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("answer %q is not JSON: %v", raw, err)
		}
	}
	return apnsReply{resp.StatusCode, a.Reason, a.Timestamp, resp.Header}
}

const apnsBody = `{"aps":{"alert":{"title":"T","body":"B"}},"k":"v"}`

// TestAPNsAnswers checks provider-token, topic, header and payload checks.
func TestAPNsAnswers(t *testing.T) {
	key, _ := apnsKey(t)
	other, _ := apnsKey(t)
	srv := apnsStart(t, key, nil)
	c := apnsClient(t, srv, false)
	now := time.Now()
	good := "bearer " + apnsJWT(t, key, "ES256", apnsKeyID, apnsTeam, now)
	base := func() map[string]string {
		return map[string]string{"authorization": good, "apns-topic": apnsBundle, "apns-push-type": "alert",
			"apns-priority": "10", "apns-id": "3f1a0b2c-0000-4000-8000-000000000001"}
	}
	with := func(k, v string) map[string]string {
		h := base()
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return h
	}
	// live is a Live Activity push's headers with kv (key, value...) set.
	live := func(kv ...string) map[string]string {
		h := with("apns-push-type", "liveactivity")
		h["apns-topic"] = apnsBundle + ".push-type.liveactivity"
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	liveBody := func(aps string) string { return `{"aps":{` + aps + `},"deliveryId":"d1"}` }
	const update = `"timestamp":1700000000,"event":"update","content-state":{"eta":15}`
	url := srv.APNsBaseURL("sg") + "/3/device/"
	tests := []struct {
		scenario   string
		token      string
		header     map[string]string
		body       string
		wantStatus int
		wantReason string
		wantApp    string
	}{
		{"valid notification", apnsToken, base(), apnsBody, 200, "", apnsApp},
		{"no provider token", apnsToken, with("authorization", ""), apnsBody, 403, "MissingProviderToken", vendorsim.UnknownApp},
		{"token signed with another key", apnsToken, with("authorization", "bearer "+apnsJWT(t, other, "ES256", apnsKeyID, apnsTeam, now)),
			apnsBody, 403, "InvalidProviderToken", vendorsim.UnknownApp},
		{"token of another team", apnsToken, with("authorization", "bearer "+apnsJWT(t, key, "ES256", apnsKeyID, "OTHERTEAM1", now)),
			apnsBody, 403, "InvalidProviderToken", vendorsim.UnknownApp},
		{"unknown key id", apnsToken, with("authorization", "bearer "+apnsJWT(t, key, "ES256", "NOKEY00000", apnsTeam, now)),
			apnsBody, 403, "InvalidProviderToken", vendorsim.UnknownApp},
		{"not ES256", apnsToken, with("authorization", "bearer "+apnsJWT(t, key, "HS256", apnsKeyID, apnsTeam, now)),
			apnsBody, 403, "InvalidProviderToken", vendorsim.UnknownApp},
		{"token older than an hour", apnsToken, with("authorization", "bearer "+apnsJWT(t, key, "ES256", apnsKeyID, apnsTeam, now.Add(-61*time.Minute))),
			apnsBody, 403, "ExpiredProviderToken", vendorsim.UnknownApp},
		{"token from the future", apnsToken, with("authorization", "bearer "+apnsJWT(t, key, "ES256", apnsKeyID, apnsTeam, now.Add(time.Hour))),
			apnsBody, 403, "InvalidProviderToken", vendorsim.UnknownApp},
		{"no topic", apnsToken, with("apns-topic", ""), apnsBody, 400, "MissingTopic", vendorsim.UnknownApp},
		{"another app's topic", apnsToken, with("apns-topic", "com.other.app"), apnsBody, 400, "TopicDisallowed", vendorsim.UnknownApp},
		{"invalid device token", "bad-" + apnsToken, base(), apnsBody, 400, "BadDeviceToken", apnsApp},
		{"unregistered device token", "gone-" + apnsToken, base(), apnsBody, 410, "Unregistered", apnsApp},
		{"bad priority", apnsToken, with("apns-priority", "7"), apnsBody, 400, "BadPriority", apnsApp},
		{"background push with priority 10", apnsToken, with("apns-push-type", "background"), `{"aps":{"content-available":1}}`,
			400, "BadPriority", apnsApp},
		{"unknown push type", apnsToken, with("apns-push-type", "banner"), apnsBody, 400, "InvalidPushType", apnsApp},
		{"apns-id not a UUID", apnsToken, with("apns-id", "d-123"), apnsBody, 400, "BadMessageId", apnsApp},
		{"collapse id over 64 bytes", apnsToken, with("apns-collapse-id", strings.Repeat("c", 65)), apnsBody, 400, "BadCollapseId", apnsApp},
		{"expiration not a number", apnsToken, with("apns-expiration", "soon"), apnsBody, 400, "BadExpirationDate", apnsApp},
		{"empty payload", apnsToken, base(), "", 400, "PayloadEmpty", apnsApp},
		{"payload over 4 KB", apnsToken, base(), `{"aps":{},"x":"` + strings.Repeat("x", 4096) + `"}`, 413, "PayloadTooLarge", apnsApp},
		{"VoIP payload up to 5 KB", apnsToken, with("apns-push-type", "voip"), `{"aps":{},"x":"` + strings.Repeat("x", 4500) + `"}`, 200, "", apnsApp},
		{"payload without aps", apnsToken, base(), `{"k":"v"}`, 400, "BadPayload", apnsApp},

		{"Live Activity update", apnsToken, live(), liveBody(update), 200, "", apnsApp},
		{"Live Activity end with dismissal date and alert at priority 5", apnsToken, live("apns-priority", "5"),
			liveBody(`"timestamp":1700000000,"event":"end","content-state":{"eta":0},"dismissal-date":1700003600,"alert":{"title":"T","body":"B","sound":"s.caf"}`),
			200, "", apnsApp},
		{"Live Activity start with attributes", apnsToken, live(),
			liveBody(`"timestamp":1700000000,"event":"start","content-state":{"eta":15},"attributes-type":"Order","attributes":{"id":1},"alert":{"title":"T","body":"B"}`),
			200, "", apnsApp},
		{"Live Activity push to the bundle id alone", apnsToken, live("apns-topic", apnsBundle), liveBody(update), 400, "DeviceTokenNotForTopic", apnsApp},
		{"alert to the Live Activity topic", apnsToken, with("apns-topic", apnsBundle+".push-type.liveactivity"), apnsBody, 400, "DeviceTokenNotForTopic", apnsApp},
		{"Live Activity at priority 1", apnsToken, live("apns-priority", "1"), liveBody(update), 400, "BadPriority", apnsApp},
		{"Live Activity without timestamp", apnsToken, live(), liveBody(`"event":"update","content-state":{"eta":15}`), 400, "BadPayload", apnsApp},
		{"Live Activity timestamp not a number", apnsToken, live(), liveBody(`"timestamp":"now","event":"update","content-state":{}`), 400, "BadPayload", apnsApp},
		{"Live Activity without event", apnsToken, live(), liveBody(`"timestamp":1700000000,"content-state":{}`), 400, "BadPayload", apnsApp},
		{"Live Activity event pause", apnsToken, live(), liveBody(`"timestamp":1700000000,"event":"pause","content-state":{}`), 400, "BadPayload", apnsApp},
		{"Live Activity without content state", apnsToken, live(), liveBody(`"timestamp":1700000000,"event":"update"`), 400, "BadPayload", apnsApp},
		{"Live Activity content state not an object", apnsToken, live(), liveBody(`"timestamp":1700000000,"event":"update","content-state":[1]`), 400, "BadPayload", apnsApp},
		{"Live Activity update with a dismissal date", apnsToken, live(), liveBody(update + `,"dismissal-date":1700003600`), 400, "BadPayload", apnsApp},
		{"Live Activity start without attributes", apnsToken, live(),
			liveBody(`"timestamp":1700000000,"event":"start","content-state":{},"alert":{"title":"T","body":"B"}`), 400, "BadPayload", apnsApp},
		{"Live Activity alert without body", apnsToken, live(), liveBody(update + `,"alert":{"title":"T"}`), 400, "BadPayload", apnsApp},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			got := apnsPost(t, c, http.MethodPost, url+tc.token, tc.header, tc.body)
			if got.status != tc.wantStatus || got.reason != tc.wantReason {
				t.Fatalf("answer %d %q, want %d %q", got.status, got.reason, tc.wantStatus, tc.wantReason)
			}
			// Every answer carries apns-id: the request's, or a new UUID
			// for a request whose apns-id is not one.
			if id := got.header.Get("apns-id"); tc.wantReason == "BadMessageId" {
				if !uuidPattern.MatchString(id) {
					t.Errorf("apns-id %q, want a new UUID", id)
				}
			} else if id != tc.header["apns-id"] {
				t.Errorf("apns-id %q, want the request's %q", id, tc.header["apns-id"])
			}
			if tc.wantStatus == 410 && got.timestamp <= 0 {
				t.Error("410 without timestamp")
			}
			reqs := srv.Requests(vendorsim.VendorAPNs, "sg")
			if len(reqs) != 1 {
				t.Fatalf("%d requests recorded, want 1", len(reqs))
			}
			r := reqs[0]
			if r.AppID != tc.wantApp || r.Status != tc.wantStatus || r.Form.Get("token") != tc.token ||
				r.Form.Get("payload") != tc.body || r.Form.Get("apns-topic") != tc.header["apns-topic"] {
				t.Errorf("record %+v does not match the request", r)
			}
			st := srv.Stats().Vendors[vendorsim.VendorAPNs].Regions["sg"].Apps[tc.wantApp]
			switch {
			case tc.wantStatus == 200 && (st.Accepted != 1 || st.Messages != 1 || st.Tokens[tc.token] != 1):
				t.Errorf("stats %+v, want one accepted message", st)
			case tc.wantStatus == 410 || tc.wantReason == "BadDeviceToken":
				if st.Rejected != 1 || st.InvalidTokens != 1 {
					t.Errorf("stats %+v, want one rejected call with an invalid token", st)
				}
			case tc.wantStatus != 200 && st.Rejected != 1:
				t.Errorf("stats %+v, want one rejected call", st)
			}
		})
	}
}

func TestAPNsOtherPathsAndProtocol(t *testing.T) {
	key, _ := apnsKey(t)
	srv := apnsStart(t, key, func(c *vendorsim.APNsConfig) { c.Regions = []string{"sg"} })
	c := apnsClient(t, srv, false)
	tests := []struct {
		scenario, method, path string
		wantStatus             int
		wantReason             string
	}{
		{"GET is not allowed", http.MethodGet, "/apns/sg/3/device/" + apnsToken, 405, "MethodNotAllowed"},
		{"no device token", http.MethodPost, "/apns/sg/3/device/", 400, "MissingDeviceToken"},
		{"unknown path", http.MethodPost, "/apns/sg/2/device/" + apnsToken, 404, "BadPath"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			got := apnsPost(t, c, tc.method, srv.TLSURL()+tc.path, nil, apnsBody)
			if got.status != tc.wantStatus || got.reason != tc.wantReason {
				t.Errorf("answer %d %q, want %d %q", got.status, got.reason, tc.wantStatus, tc.wantReason)
			}
			if id := got.header.Get("apns-id"); !uuidPattern.MatchString(id) {
				t.Errorf("apns-id %q, want a UUID made up by APNs", id)
			}
		})
	}
	req, _ := http.NewRequest(http.MethodPost, srv.TLSURL()+"/apns/eu/3/device/"+apnsToken, strings.NewReader(apnsBody))
	if resp, err := c.Do(req); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Errorf("region not served: %v %v, want 404", resp, err)
	}
	t.Run("HTTP/1.1 is refused", func(t *testing.T) {
		got := apnsPost(t, apnsClient(t, srv, true), http.MethodPost, srv.APNsBaseURL("sg")+"/3/device/"+apnsToken,
			map[string]string{"authorization": "bearer " + apnsJWT(t, key, "ES256", apnsKeyID, apnsTeam, time.Now()), "apns-topic": apnsBundle}, apnsBody)
		if got.status != http.StatusHTTPVersionNotSupported {
			t.Errorf("HTTP/1.1 answered %d, want 505", got.status)
		}
	})
}

// TestAPNsTokenUpdatesPerConnection: a connection may change its provider
// token at most once every 20 minutes (the first token is no change).
func TestAPNsTokenUpdatesPerConnection(t *testing.T) {
	key, _ := apnsKey(t)
	srv := apnsStart(t, key, nil)
	c := apnsClient(t, srv, false)
	now := time.Now()
	send := func(iat time.Time) apnsReply {
		return apnsPost(t, c, http.MethodPost, srv.APNsBaseURL("sg")+"/3/device/"+apnsToken, map[string]string{
			"authorization": "bearer " + apnsJWT(t, key, "ES256", apnsKeyID, apnsTeam, iat), "apns-topic": apnsBundle,
		}, apnsBody)
	}
	steps := []struct {
		scenario   string
		iat        time.Time
		wantStatus int
		wantReason string
	}{
		{"first token", now.Add(-50 * time.Minute), 200, ""},
		{"same token again", now.Add(-50 * time.Minute), 200, ""},
		{"first change", now.Add(-time.Minute), 200, ""},
		{"second change within 20 minutes", now, 429, "TooManyProviderTokenUpdates"},
		{"the current token still works", now.Add(-time.Minute), 200, ""},
	}
	for _, st := range steps {
		if got := send(st.iat); got.status != st.wantStatus || got.reason != st.wantReason {
			t.Errorf("%s: answer %d %q, want %d %q", st.scenario, got.status, got.reason, st.wantStatus, st.wantReason)
		}
	}
	// Another connection starts with a clean slate.
	other := apnsClient(t, srv, false)
	got := apnsPost(t, other, http.MethodPost, srv.APNsBaseURL("sg")+"/3/device/"+apnsToken, map[string]string{
		"authorization": "bearer " + apnsJWT(t, key, "ES256", apnsKeyID, apnsTeam, now), "apns-topic": apnsBundle,
	}, apnsBody)
	if got.status != 200 {
		t.Errorf("new connection: %d %q, want 200", got.status, got.reason)
	}
}

func TestAPNsQuotaFailuresAndLatency(t *testing.T) {
	key, _ := apnsKey(t)
	srv := apnsStart(t, key, nil)
	c := apnsClient(t, srv, false)
	header := map[string]string{"authorization": "bearer " + apnsJWT(t, key, "ES256", apnsKeyID, apnsTeam, time.Now()), "apns-topic": apnsBundle}
	u := srv.APNsBaseURL("sg") + "/3/device/" + apnsToken
	post := func() apnsReply { return apnsPost(t, c, http.MethodPost, u, header, apnsBody) }

	t.Run("quota exceeded is 429 TooManyRequests", func(t *testing.T) {
		srv.Reset()
		if err := srv.SetQuota(vendorsim.Quota{Vendor: vendorsim.VendorAPNs, AppID: apnsApp, PerSecond: 0, Burst: 1}); err != nil {
			t.Fatal(err)
		}
		if got := post(); got.status != 200 {
			t.Fatalf("first call %d %q, want 200", got.status, got.reason)
		}
		if got := post(); got.status != 429 || got.reason != "TooManyRequests" {
			t.Fatalf("second call %d %q, want 429 TooManyRequests", got.status, got.reason)
		}
		if st := srv.Stats().Vendors[vendorsim.VendorAPNs].Regions["sg"].Apps[apnsApp]; st.Throttled != 1 {
			t.Errorf("throttled %d, want 1", st.Throttled)
		}
	})
	t.Run("injected failures answer APNs reasons", func(t *testing.T) {
		srv.Reset()
		if err := srv.InjectFailures(
			vendorsim.Failure{Vendor: vendorsim.VendorAPNs, Next: 1, RetryAfter: vendorsim.Duration(3 * time.Second)},
			vendorsim.Failure{Vendor: vendorsim.VendorAPNs, Next: 1, Status: 500},
		); err != nil {
			t.Fatal(err)
		}
		got := post()
		if got.status != 503 || got.reason != "ServiceUnavailable" || got.header.Get("Retry-After") != "3" {
			t.Errorf("first failure %d %q retry-after %q, want 503 ServiceUnavailable 3", got.status, got.reason, got.header.Get("Retry-After"))
		}
		if got := post(); got.status != 500 || got.reason != "InternalServerError" {
			t.Errorf("second failure %d %q, want 500 InternalServerError", got.status, got.reason)
		}
		if got := post(); got.status != 200 {
			t.Errorf("after the storm %d %q, want 200", got.status, got.reason)
		}
	})
	t.Run("client leaving during latency is recorded", func(t *testing.T) {
		srv.Reset()
		if err := srv.InjectLatency(vendorsim.Latency{Vendor: vendorsim.VendorAPNs, Fixed: vendorsim.Duration(5 * time.Second)}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(apnsBody))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if _, err := c.Do(req); err == nil {
			t.Fatal("request succeeded through 5s of latency with a 100ms deadline")
		}
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			if st := srv.Stats().Vendors[vendorsim.VendorAPNs].Regions["sg"].Apps[apnsApp]; st != nil && st.Abandoned == 1 {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Error("abandoned request not counted")
	})
}

func TestAPNsConfig(t *testing.T) {
	key, keyPEM := apnsKey(t)
	other, _ := apnsKey(t)
	app := vendorsim.APNsApp{AppID: apnsApp, TeamID: apnsTeam, KeyID: apnsKeyID, BundleID: apnsBundle, PrivateKey: channels.Secret(keyPEM)}
	tests := []struct {
		scenario string
		apns     vendorsim.APNsConfig
		wantErr  string
	}{
		{"private key", vendorsim.APNsConfig{Apps: []vendorsim.APNsApp{app}}, ""},
		{"public key", vendorsim.APNsConfig{Apps: []vendorsim.APNsApp{{AppID: "a", TeamID: "T", KeyID: "K", BundleID: "b", PublicKey: apnsPublicPEM(t, key)}}}, ""},
		{"no key", vendorsim.APNsConfig{Apps: []vendorsim.APNsApp{{AppID: "a", TeamID: "T", KeyID: "K", BundleID: "b"}}}, "needs publicKey or privateKey"},
		{"bad PEM", vendorsim.APNsConfig{Apps: []vendorsim.APNsApp{{AppID: "a", TeamID: "T", KeyID: "K", BundleID: "b", PublicKey: "nope"}}}, "not PEM"},
		{"missing bundle", vendorsim.APNsConfig{Apps: []vendorsim.APNsApp{{AppID: "a", TeamID: "T", KeyID: "K", PrivateKey: channels.Secret(keyPEM)}}}, "bundleId"},
		{"duplicate bundle", vendorsim.APNsConfig{Apps: []vendorsim.APNsApp{app, {AppID: "b", TeamID: apnsTeam, KeyID: apnsKeyID, BundleID: apnsBundle, PrivateKey: channels.Secret(keyPEM)}}},
			"another app's"},
		{"one key id, two keys", vendorsim.APNsConfig{Apps: []vendorsim.APNsApp{app, {AppID: "b", TeamID: apnsTeam, KeyID: apnsKeyID, BundleID: "com.b", PublicKey: apnsPublicPEM(t, other)}}},
			"different teamId or key"},
		{"TLS address not loopback", vendorsim.APNsConfig{TLSAddr: "0.0.0.0:0", Apps: []vendorsim.APNsApp{app}}, "tlsAddr"},
		{"unknown region", vendorsim.APNsConfig{Regions: []string{"mars"}, Apps: []vendorsim.APNsApp{app}}, "unknown region"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			err := vendorsim.Config{APNs: tc.apns}.WithDefaults().Validate()
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
	if s := fmt.Sprintf("%v %+v", app, app); strings.Contains(s, "PRIVATE KEY") {
		t.Errorf("app prints its key: %s", s)
	}
}
