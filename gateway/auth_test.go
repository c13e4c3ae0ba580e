package gateway

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func TestSignVerify(t *testing.T) {
	keys := testKeys()
	body := []byte(`{"appId":"A","taskName":"t"}`)
	const ts = int64(1763856000000)
	good, err := Sign(keys[0], ts, body)
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(good, "+/") {
		t.Fatalf("signature %q still holds '+' or '/' (§6.9 replaces them)", good)
	}
	std := strings.NewReplacer("-", "+", "_", "/").Replace(good)
	for _, tc := range []struct {
		scenario string
		pub      *rsa.PublicKey
		ts       int64
		body     []byte
		sign     string
		want     error
	}{
		{scenario: "as signed", pub: &keys[0].PublicKey, ts: ts, body: body, sign: good},
		{scenario: "without padding", pub: &keys[0].PublicKey, ts: ts, body: body, sign: strings.TrimRight(good, "=")},
		{scenario: "body changed", pub: &keys[0].PublicKey, ts: ts, body: []byte(`{"appId":"A","taskName":"u"}`), sign: good, want: ErrSignatureMismatch},
		{scenario: "timestamp changed", pub: &keys[0].PublicKey, ts: ts + 1, body: body, sign: good, want: ErrSignatureMismatch},
		{scenario: "other key", pub: &keys[1].PublicKey, ts: ts, body: body, sign: good, want: ErrSignatureMismatch},
		{scenario: "standard base64 is accepted too", pub: &keys[0].PublicKey, ts: ts, body: body, sign: std},
		{scenario: "stray character", pub: &keys[0].PublicKey, ts: ts, body: body, sign: good + "*", want: ErrSignatureMalformed},
		{scenario: "not base64", pub: &keys[0].PublicKey, ts: ts, body: body, sign: "%%%not base64%%%", want: ErrSignatureMalformed},
		{scenario: "too short", pub: &keys[0].PublicKey, ts: ts, body: body, sign: base64.StdEncoding.EncodeToString([]byte("short")), want: ErrSignatureMalformed},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			err := Verify(tc.pub, tc.ts, tc.body, tc.sign)
			if tc.want == nil && err != nil {
				t.Fatalf("Verify = %v, want nil", err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSigningStringIsTimestampNewlineBody(t *testing.T) {
	if got := string(SigningString(1763856000000, []byte(`{"a":1}`))); got != "1763856000000\n{\"a\":1}" {
		t.Fatalf("SigningString = %q", got)
	}
}

func TestParseKeys(t *testing.T) {
	priv, pub, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pkcs1Pub := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)})
	pkcs1Priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	block, _ := pem.Decode(pub)
	bare := base64.StdEncoding.EncodeToString(block.Bytes)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallDER, _ := x509.MarshalPKIXPublicKey(&small.PublicKey)
	smallPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: smallDER})

	for _, tc := range []struct {
		scenario string
		text     []byte
		wantErr  string
	}{
		{scenario: "PKIX PEM", text: pub},
		{scenario: "PKCS #1 PEM", text: pkcs1Pub},
		{scenario: "bare base64 as the mPaaS console shows it", text: []byte(bare)},
		{scenario: "1024-bit key", text: smallPub, wantErr: "use at least 2048"},
		{scenario: "garbage", text: []byte("hello"), wantErr: "neither a PEM block nor base64"},
		{scenario: "private key given as public", text: priv, wantErr: "reading RSA public key"},
	} {
		t.Run("public "+tc.scenario, func(t *testing.T) {
			got, err := ParsePublicKey(tc.text)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParsePublicKey = %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(&k.PublicKey) {
				t.Fatalf("ParsePublicKey = %v, %v; want the key", got, err)
			}
		})
	}
	for _, tc := range []struct {
		scenario string
		text     []byte
		ok       bool
	}{
		{"PKCS #8", priv, true}, {"PKCS #1", pkcs1Priv, true}, {"public key", pub, false}, {"no PEM", []byte("x"), false},
	} {
		t.Run("private "+tc.scenario, func(t *testing.T) {
			got, err := ParsePrivateKey(tc.text)
			if tc.ok != (err == nil) || (tc.ok && !got.Equal(k)) {
				t.Fatalf("ParsePrivateKey = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
