package apns

import (
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
	"sync"
	"time"
)

// ParsePrivateKey reads an APNs signing key: the PEM content of the .p8
// file Apple issues (PKCS #8 "PRIVATE KEY"; SEC 1 "EC PRIVATE KEY" is
// accepted too). It fails unless the key is an ECDSA P-256 key. Errors
// never contain key material.
func ParsePrivateKey(pemText string) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil, errors.New("not PEM: want the whole content of the .p8 file Apple issued")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, errors.New("malformed private key")
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("not an ECDSA P-256 key (APNs signs provider tokens with ES256)")
	}
	return ec, nil
}

// SignProviderToken returns the APNs provider token of team teamID signed
// with key (whose id is keyID) at iat: a JWT with header
// {"alg":"ES256","kid":keyID} and claims {"iss":teamID,"iat":<seconds>},
// signed with ECDSA P-256 / SHA-256 (signature r||s, 64 bytes, base64url
// without padding).
func SignProviderToken(key *ecdsa.PrivateKey, teamID, keyID string, iat time.Time) (string, error) {
	header, err := json.Marshal(struct {
		Alg string `json:"alg"`
		Kid string `json:"kid"`
	}{"ES256", keyID})
	if err != nil {
		return "", fmt.Errorf("encoding provider token header: %w", err)
	}
	claims, err := json.Marshal(struct {
		Iss string `json:"iss"`
		Iat int64  `json:"iat"`
	}{teamID, iat.Unix()})
	if err != nil {
		return "", fmt.Errorf("encoding provider token claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", fmt.Errorf("signing provider token: %w", err)
	}
	var sig [64]byte
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signed + "." + enc.EncodeToString(sig[:]), nil
}

// signer caches the provider token of one signing key (team and key id),
// as the authorization header value "bearer <token>" every request
// carries (built once per token, not once per request). Safe for concurrent use: the mutex makes one signing at a time, and every
// caller that finds the cached token stale while another renews it gets the
// renewed token.
type signer struct {
	teamID, keyID string
	key           *ecdsa.PrivateKey
	refresh       time.Duration

	mu       sync.Mutex
	token    string // "bearer " and the provider token
	issuedAt time.Time
	signed   int // tokens signed so far
}

// current returns the cached authorization value, signing a new one at now if there is
// none or the cached one is TokenRefresh old.
func (s *signer) current(now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && now.Sub(s.issuedAt) < s.refresh {
		return s.token, nil
	}
	return s.signLocked(now)
}

// renew replaces stale, the authorization value of the token APNs called
// expired, with a new one signed at now, unless another caller already
// replaced it; it returns the authorization value to retry with.
func (s *signer) renew(stale string, now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != stale && s.token != "" {
		return s.token, nil
	}
	return s.signLocked(now)
}

func (s *signer) signLocked(now time.Time) (string, error) {
	tok, err := SignProviderToken(s.key, s.teamID, s.keyID, now)
	if err != nil {
		return "", err
	}
	s.token, s.issuedAt = "bearer "+tok, now
	s.signed++
	return s.token, nil
}

// count returns how many tokens were signed.
func (s *signer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.signed
}
