// Package simtest starts the vendor simulator for the simulator's own
// tests (core and vendor subpackages alike).
package simtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
)

// Start starts a simulator of every vendor for cfg, failing t when it
// cannot, and closes it when t ends, reporting a Close error as a test
// error.
func Start(t testing.TB, cfg vendorsim.Config) *vendorsim.Server {
	t.Helper()
	srv, err := allvendors.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return srv
}

// The MiPush app StartMiPush configures; the core tests push with it.
const (
	MiPushAppID   = "app-1"
	MiPushSecret  = "secret-1"
	MiPushPackage = "com.example.app"
)

// StartMiPush starts a simulator (Start) with seed 7 and the MiPush app
// MiPushAppID, after mutate (if not nil) changed the configuration.
func StartMiPush(t testing.TB, mutate func(*vendorsim.Config)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{
		Seed: 7,
		MiPush: vendorsim.MiPushConfig{
			Apps: []vendorsim.MiPushApp{{AppID: MiPushAppID, Secret: MiPushSecret, PackageName: MiPushPackage}},
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	return Start(t, cfg)
}

// MiPushAnswer is MiPush's JSON answer as a client reads it.
type MiPushAnswer struct {
	Result      string `json:"result"`
	TraceID     string `json:"trace_id"`
	Code        int    `json:"code"`
	Description string `json:"description"`
	Reason      string `json:"reason"`
	Info        string `json:"info"`
	Data        struct {
		ID        string `json:"id"`
		BadRegIDs string `json:"bad_regids"`
	} `json:"data"`
}

// PushMiPush posts form to the push-by-regId API below baseURL with the
// Authorization header auth (none when ""), and returns the HTTP status,
// the answer (zero when it is not JSON) and the headers.
func PushMiPush(t testing.TB, baseURL, auth string, form url.Values) (int, MiPushAnswer, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, baseURL+"/v3/message/regid", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var a MiPushAnswer
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("decoding %s: %v", body, err)
		}
	}
	return resp.StatusCode, a, resp.Header
}

// MiPushForm is a valid notification to regIDs (joined by commas) of the
// MiPushPackage app.
func MiPushForm(regIDs string) url.Values {
	return url.Values{
		"registration_id":         {regIDs},
		"restricted_package_name": {MiPushPackage},
		"title":                   {"Title"},
		"description":             {"Description"},
		"pass_through":            {"0"},
		"payload":                 {`{"a":1}`},
	}
}

// Keys are a P-256 (APNs) and an RSA 2048 (FCM, HarmonyOS) private key,
// PEM, generated once per test binary and never changed.
var Keys = sync.OnceValues(func() (ecPEM, rsaPEM string) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	enc := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	}
	return enc(ec), enc(rk)
})
