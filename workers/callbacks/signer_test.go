package callbacks

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// newTestSigner creates a signer over a fresh 2048-bit key.
func newTestSigner(t *testing.T) *Signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publicKeyOf parses the published PEM the way a receiver does.
func publicKeyOf(t *testing.T, pemBytes []byte) *rsa.PublicKey {
	t.Helper()
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PUBLIC KEY" {
		t.Fatalf("published key is not a PUBLIC KEY PEM block: %q", pemBytes)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := k.(*rsa.PublicKey)
	if !ok {
		t.Fatalf("published key is a %T", k)
	}
	return pub
}

func TestSignVerifyRoundTripAndEncoding(t *testing.T) {
	s := newTestSigner(t)
	pub := publicKeyOf(t, s.PublicKeyPEM())
	sawReplaced := false
	for i, body := range [][]byte{
		nil,
		[]byte(`{"extInfo":{"adToken":"da64bc9d","osType":"ios"},"msgId":"console_1584853300103","pushSuccess":true,"statusCode":"2","statusDesc":"Acked","targetId":"da64bc9d"}`),
		[]byte("推送成功 ✓"),
		{0, 0xff, '\n', 0x80},
	} {
		for j := range 8 { // several bodies so that '+' and '/' certainly occur in standard base64
			b := append(append([]byte{}, body...), []byte(fmt.Sprint(j))...)
			t.Run(fmt.Sprintf("body %d variant %d", i, j), func(t *testing.T) {
				sign, err := s.Sign(b)
				if err != nil {
					t.Fatal(err)
				}
				if strings.ContainsAny(sign, "+/") {
					t.Fatalf("signature %q holds '+' or '/'", sign)
				}
				raw, err := base64.URLEncoding.DecodeString(sign)
				if err != nil || len(raw) != KeyBits/8 {
					t.Fatalf("signature is not padded URL-safe base64 of %d bytes: %v (%d bytes)", KeyBits/8, err, len(raw))
				}
				if std := base64.StdEncoding.EncodeToString(raw); strings.ContainsAny(std, "+/") {
					sawReplaced = true
				}
				if err := Verify(pub, b, sign); err != nil {
					t.Fatalf("Verify of its own signature: %v", err)
				}
			})
		}
	}
	if !sawReplaced {
		t.Fatal("no signature needed a replacement: the test did not exercise the encoding")
	}
}

func TestVerifyAcceptsTheJavaSampleEncodingsAndRefusesForgeries(t *testing.T) {
	s := newTestSigner(t)
	other := newTestSigner(t)
	body := []byte(`{"msgId":"m1","pushSuccess":false}`)
	sign, err := s.Sign(body)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.URLEncoding.DecodeString(sign)
	otherSign, _ := other.Sign(body)
	for _, tc := range []struct {
		scenario string
		pub      *rsa.PublicKey
		body     []byte
		sign     string
		wantBad  bool // ErrBadSignature
		wantErr  bool // any error
	}{
		{"url-safe with padding", s.PublicKey(), body, sign, false, false},
		{"standard alphabet", s.PublicKey(), body, base64.StdEncoding.EncodeToString(raw), false, false},
		{"url-safe without padding", s.PublicKey(), body, base64.RawURLEncoding.EncodeToString(raw), false, false},
		{"body changed by one byte", s.PublicKey(), []byte(`{"msgId":"m1","pushSuccess":true}`), sign, true, true},
		{"signed by another key", s.PublicKey(), body, otherSign, true, true},
		{"verified with another key", other.PublicKey(), body, sign, true, true},
		{"not base64", s.PublicKey(), body, "not*base64!", false, true},
		{"empty", s.PublicKey(), body, "", true, true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			err := Verify(tc.pub, tc.body, tc.sign)
			if (err != nil) != tc.wantErr || errors.Is(err, ErrBadSignature) != tc.wantBad {
				t.Fatalf("Verify = %v, want error %t (bad signature %t)", err, tc.wantErr, tc.wantBad)
			}
		})
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "callbacks", "private_key.pem")
	k1, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if k1.N.BitLen() != KeyBits {
		t.Fatalf("created a %d-bit key, want %d", k1.N.BitLen(), KeyBits)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if block, _ := pem.Decode(b); block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("key file is not a PKCS #8 PEM: %q", b)
	}
	k2, err := LoadOrCreateKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Equal(k2) {
		t.Fatal("a second LoadOrCreateKey created a new key instead of reading the stored one")
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "callbacks", ".key-*")); len(left) != 0 {
		t.Fatalf("temporary files left behind: %v", left)
	}
}

func TestLoadOrCreateKeyConcurrentCreatorsAgree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "private_key.pem")
	keys := make([]*rsa.PrivateKey, 3)
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i := range keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			keys[i], errs[i] = LoadOrCreateKey(path)
		}()
	}
	wg.Wait()
	stored, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, k := range keys {
		if errs[i] != nil || !k.Equal(stored) {
			t.Fatalf("creator %d: err %v, same key as stored %t", i, errs[i], errs[i] == nil && k.Equal(stored))
		}
	}
}

func TestParsePrivateKeyPEM(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(rsaKey)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ecKey)
	enc := func(typ string, der []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}) }
	for _, tc := range []struct {
		scenario string
		in       []byte
		wantErr  string
	}{
		{"pkcs8 as openssl genpkey writes it", enc("PRIVATE KEY", pkcs8), ""},
		{"pkcs1", enc("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), ""},
		{"ec key", enc("PRIVATE KEY", ecDER), "want an RSA key"},
		{"public key instead", enc("PUBLIC KEY", pkcs8), `want "PRIVATE KEY"`},
		{"encrypted", enc("ENCRYPTED PRIVATE KEY", pkcs8), "encrypted"},
		{"no pem", []byte("hello"), "no PEM block"},
		{"broken der", enc("PRIVATE KEY", []byte{1, 2, 3}), "PKCS#8"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			k, err := ParsePrivateKeyPEM(tc.in)
			if tc.wantErr == "" {
				if err != nil || !k.Equal(rsaKey) {
					t.Fatalf("ParsePrivateKeyPEM = %v, same key %t", err, err == nil && k.Equal(rsaKey))
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tc.wantErr)
			}
		})
	}
}

func TestNewSignerRefusesShortKeys(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSigner(k); err == nil || !strings.Contains(err.Error(), "at least 2048") {
		t.Fatalf("NewSigner(1024-bit key) = %v, want a refusal naming 2048 bits", err)
	}
}
