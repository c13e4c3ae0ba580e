package receipts

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pushpipe/pushpipe/workers/callbacks"
)

func TestCallbackPublicKeyEndpoint(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, callbacks.KeyBits)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := callbacks.NewSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scenario   string
		key        []byte
		method     string
		wantStatus int
		wantKey    bool
	}{
		{"published key", signer.PublicKeyPEM(), http.MethodGet, http.StatusOK, true},
		{"no key configured", nil, http.MethodGet, http.StatusNotFound, false},
		{"only GET", signer.PublicKeyPEM(), http.MethodPost, http.StatusMethodNotAllowed, false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			s, err := New(testConfig(Config{Region: "sg", Producer: &fakeProducer{}, CallbackPublicKey: tc.key}))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, httptest.NewRequest(tc.method, "/callbacks/public-key", nil))
			if rec.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", rec.Code, tc.wantStatus)
			}
			if !tc.wantKey {
				return
			}
			if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Fatalf("Content-Type %q, want text/plain", ct)
			}
			block, _ := pem.Decode(rec.Body.Bytes())
			if block == nil || block.Type != "PUBLIC KEY" {
				t.Fatalf("body is not a PUBLIC KEY PEM: %q", rec.Body.String())
			}
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !key.PublicKey.Equal(pub) {
				t.Fatal("the published key is not the signing key's public half")
			}
		})
	}
}

func TestCallbackPublicKeyMustBePEM(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		key      []byte
	}{
		{"not pem", []byte("ssh-rsa AAAA")},
		{"private key block", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := New(testConfig(Config{Region: "sg", Producer: &fakeProducer{}, CallbackPublicKey: tc.key}))
			if err == nil || !strings.Contains(err.Error(), "CallbackPublicKey") {
				t.Fatalf("New = %v, want an error about CallbackPublicKey", err)
			}
		})
	}
}
