package harmonyos

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// SignJWT returns the service-account JWT that authorizes Push Kit calls
// (push-jwt-token of Huawei's guide): header {"kid": keyID, "typ": "JWT",
// "alg": "PS256"}, claims {"aud": Audience, "iss": subAccount, "iat": now,
// "exp": now + lifetime}, signed with RSASSA-PSS over SHA-256 (salt length
// equal to the hash, as JWT's PS256 prescribes). It is a pure function of
// its arguments and the randomness of the PSS salt.
func SignJWT(key *rsa.PrivateKey, keyID, subAccount string, now time.Time, lifetime time.Duration) (string, error) {
	header := map[string]string{"kid": keyID, "typ": "JWT", "alg": "PS256"}
	claims := map[string]any{"aud": Audience, "iss": subAccount, "iat": now.Unix(), "exp": now.Add(lifetime).Unix()}
	hb, err := json.Marshal(header)
	if err != nil {
		return "", fmt.Errorf("encoding jwt header: %w", err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding jwt claims: %w", err)
	}
	enc := base64.RawURLEncoding
	signed := enc.EncodeToString(hb) + "." + enc.EncodeToString(cb)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	if err != nil {
		return "", fmt.Errorf("signing jwt: %w", err)
	}
	return signed + "." + enc.EncodeToString(sig), nil
}

// jwtSigner makes the JWTs of one app; a channels.TokenSource caches them
// for JWTLifetime less its refresh margin, so that one JWT serves the
// calls of most of an hour, as Huawei advises.
type jwtSigner struct {
	app      App
	key      *rsa.PrivateKey
	endpoint string // for the VendorError of a failed signature
	now      func() time.Time
}

// fetch is the channels.TokenSource Fetch of the app: it signs locally and
// makes no call. A signing failure is a permanent *channels.VendorError.
func (s *jwtSigner) fetch(context.Context) (string, time.Duration, error) {
	tok, err := SignJWT(s.key, s.app.KeyID, s.app.SubAccount, s.now(), JWTLifetime)
	if err != nil {
		return "", 0, &channels.VendorError{Channel: Name, Op: "signing the JWT for " + s.endpoint, Cause: err}
	}
	return tok, JWTLifetime, nil
}
