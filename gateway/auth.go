package gateway

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels/fcm"
	"github.com/pushpipe/pushpipe/schema"
)

// Request signature (mPaaS §6.9, with a timestamp against replays). The
// caller signs the bytes
//
//	<timestamp> "\n" <exact request body>
//
// with its app's RSA private key using SHA256withRSA (RSASSA-PKCS1-v1_5
// over SHA-256), encodes the signature in standard base64 and replaces
// '+' with '-' and '/' with '_'. It sends:
//
//	X-Pushpipe-App-Id     the app id (the body's appId must match)
//	X-Pushpipe-Timestamp  the timestamp signed, Unix milliseconds
//	X-Pushpipe-Sign       the signature (or the query parameter sign)
//	X-Pushpipe-Sign-Type  optional: SHA256withRSA (alias RSA2)
//
// The gateway refuses a timestamp more than MaxClockSkew (default 5
// minutes) away from its clock, so a captured request cannot be replayed
// later. Sign and SignRequest implement the caller's side.
const (
	HeaderAppID     = "X-Pushpipe-App-Id"
	HeaderTimestamp = "X-Pushpipe-Timestamp"
	HeaderSign      = "X-Pushpipe-Sign"
	HeaderSignType  = "X-Pushpipe-Sign-Type"
	// QuerySign is the query parameter that may carry the signature
	// instead of HeaderSign.
	QuerySign = "sign"
	// SignType is the one signature algorithm supported.
	SignType = "SHA256withRSA"
	// MinKeyBits is the smallest RSA key accepted (mPaaS: 2048-bit keys).
	MinKeyBits = 2048
)

// Errors of Verify, told apart with errors.Is.
var (
	// ErrSignatureMalformed marks a signature that is not the §6.9
	// encoding of an RSA signature of the key's size (3033).
	ErrSignatureMalformed = errors.New("signature is not base64 (with - and _) of an RSA signature of the key's size")
	// ErrSignatureMismatch marks a well-formed signature that the app's
	// key does not verify over the timestamp and body (-1).
	ErrSignatureMismatch = errors.New("signature does not match the timestamp and body for the app's public key")
)

// SigningString returns the bytes that are signed: the timestamp in
// decimal, a newline, and the body exactly as sent.
func SigningString(timestamp int64, body []byte) []byte {
	ts := strconv.FormatInt(timestamp, 10)
	out := make([]byte, 0, len(ts)+1+len(body))
	out = append(out, ts...)
	out = append(out, '\n')
	return append(out, body...)
}

// Sign returns the §6.9 signature of timestamp (Unix ms) and body with
// key: SHA256withRSA, base64 with '+' replaced by '-' and '/' by '_'. It
// fails only if key cannot sign.
func Sign(key *rsa.PrivateKey, timestamp int64, body []byte) (string, error) {
	sum := sha256.Sum256(SigningString(timestamp, body))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing request body: %w", err)
	}
	// The URL-safe alphabet is the standard one with '+' → '-', '/' → '_'.
	return base64.URLEncoding.EncodeToString(sig), nil
}

// Verify checks sign (the §6.9 encoding, with or without '=' padding)
// over timestamp and body with pub. It returns nil, or an error matching
// ErrSignatureMalformed or ErrSignatureMismatch.
func Verify(pub *rsa.PublicKey, timestamp int64, body []byte, sign string) error {
	std := strings.NewReplacer("-", "+", "_", "/").Replace(strings.TrimRight(strings.TrimSpace(sign), "="))
	sig, err := base64.RawStdEncoding.DecodeString(std)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSignatureMalformed, err)
	}
	if len(sig) != pub.Size() {
		return fmt.Errorf("%w: %d bytes, the key's signatures have %d", ErrSignatureMalformed, len(sig), pub.Size())
	}
	sum := sha256.Sum256(SigningString(timestamp, body))
	if rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) != nil {
		return ErrSignatureMismatch
	}
	return nil
}

// SignRequest signs body for appID with key at now and sets the
// X-Pushpipe-App-Id, -Timestamp, -Sign and -Sign-Type headers of r. body
// must be exactly the bytes r sends.
func SignRequest(r *http.Request, appID string, key *rsa.PrivateKey, body []byte, now time.Time) error {
	ts := now.UnixMilli()
	sig, err := Sign(key, ts, body)
	if err != nil {
		return err
	}
	r.Header.Set(HeaderAppID, appID)
	r.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	r.Header.Set(HeaderSign, sig)
	r.Header.Set(HeaderSignType, SignType)
	return nil
}

// ParsePublicKey reads an RSA public key of at least MinKeyBits: PEM
// "PUBLIC KEY" (PKIX, what `openssl rsa -pubout` writes) or "RSA PUBLIC
// KEY" (PKCS #1), or the bare base64 of a PKIX key on one line as the
// mPaaS console takes it.
func ParsePublicKey(text []byte) (*rsa.PublicKey, error) {
	der, blockType, err := pemOrBase64(text)
	if err != nil {
		return nil, fmt.Errorf("reading RSA public key: %w", err)
	}
	var pub *rsa.PublicKey
	if blockType == "RSA PUBLIC KEY" {
		pub, err = x509.ParsePKCS1PublicKey(der)
	} else {
		var k any
		if k, err = x509.ParsePKIXPublicKey(der); err == nil {
			var ok bool
			if pub, ok = k.(*rsa.PublicKey); !ok {
				err = fmt.Errorf("the key is a %T, not an RSA key", k)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading RSA public key: %w", err)
	}
	if pub.N.BitLen() < MinKeyBits {
		return nil, fmt.Errorf("reading RSA public key: it has %d bits; use at least %d (openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048)", pub.N.BitLen(), MinKeyBits)
	}
	return pub, nil
}

// ParsePrivateKey reads an RSA private key in PEM: "PRIVATE KEY" (PKCS #8,
// what `openssl genpkey` writes) or "RSA PRIVATE KEY" (PKCS #1).
func ParsePrivateKey(text []byte) (*rsa.PrivateKey, error) {
	k, err := fcm.ParsePrivateKey(string(text)) // the same PEM forms as service-account keys
	if err != nil {
		return nil, fmt.Errorf("reading RSA private key: %w", err)
	}
	return k, nil
}

// GenerateKey creates a 2048-bit RSA key pair and returns the private key
// as PKCS #8 PEM and the public key as PKIX PEM.
func GenerateKey() (privatePEM, publicPEM []byte, err error) {
	k, err := rsa.GenerateKey(rand.Reader, MinKeyBits)
	if err != nil {
		return nil, nil, fmt.Errorf("generating an RSA key: %w", err)
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the private key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding the public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), nil
}

// pemOrBase64 returns the DER bytes of a PEM block, or of bare base64.
func pemOrBase64(text []byte) (der []byte, blockType string, err error) {
	if block, _ := pem.Decode(text); block != nil {
		return block.Bytes, block.Type, nil
	}
	der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(text)), ""))
	if err != nil || len(der) == 0 {
		return nil, "", errors.New("neither a PEM block nor base64 of a DER key")
	}
	return der, "", nil
}

// authenticate checks the signature headers of r over body and returns
// the app id it was signed for.
func (s *Server) authenticate(r *http.Request, body []byte) (string, *reply) {
	appID := strings.TrimSpace(r.Header.Get(HeaderAppID))
	if appID == "" {
		return "", unauthorized(schema.CodeNeedAppIDWorkspaceID, "header "+HeaderAppID+" is missing: name the app the request is signed for")
	}
	app, ok := s.apps[appID]
	if !ok {
		return "", forbidden(schema.CodeAppIDWrong, fmt.Sprintf("app %q has no public key configured on this gateway (gateway.appKeys)", appID))
	}
	if t := r.Header.Get(HeaderSignType); t != "" && t != SignType && t != "RSA2" {
		return "", unauthorized(schema.CodeUnknownRestSignType, fmt.Sprintf("%s %q is not supported: sign with %s", HeaderSignType, t, SignType))
	}
	sign := r.Header.Get(HeaderSign)
	if sign == "" {
		sign = r.URL.Query().Get(QuerySign)
	}
	if sign == "" {
		return "", unauthorized(schema.CodeSignatureMismatch, "the request is not signed: send the signature in "+HeaderSign+" (or the query parameter sign)")
	}
	raw := r.Header.Get(HeaderTimestamp)
	ts, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		return "", unauthorized(schema.CodeSignatureMismatch, fmt.Sprintf("header %s %q is not a Unix time in milliseconds", HeaderTimestamp, raw))
	}
	if off := s.cfg.Now().Sub(time.UnixMilli(ts)); off > s.cfg.MaxClockSkew || off < -s.cfg.MaxClockSkew {
		return "", unauthorized(schema.CodeSignatureMismatch, fmt.Sprintf("header %s is %s away from the gateway's clock; at most %s is accepted: sign each request when sending it",
			HeaderTimestamp, off.Abs().Round(time.Second), s.cfg.MaxClockSkew))
	}
	if err := Verify(app.PublicKey, ts, body, sign); err != nil {
		if errors.Is(err, ErrSignatureMalformed) {
			return "", unauthorized(schema.CodeUnknownRestSignType, err.Error())
		}
		return "", unauthorized(schema.CodeSignatureMismatch, fmt.Sprintf("%v: sign \"<%s>\\n<body>\" with SHA256withRSA and the key of app %s", err, HeaderTimestamp, appID))
	}
	return appID, nil
}
