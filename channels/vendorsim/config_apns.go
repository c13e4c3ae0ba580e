package vendorsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of APNsConfig.
const (
	// DefaultAPNsQuota is the simulated request rate per app and region.
	// Apple publishes no rate; APNs takes one device per request, so the
	// default is generous.
	DefaultAPNsQuota = 10_000.0
	// DefaultAPNsTLSAddr is where Server listens for TLS (HTTP/2).
	DefaultAPNsTLSAddr = "127.0.0.1:0"
	// DefaultAPNsUnregisteredTokenPrefix marks tokens answered 410
	// Unregistered.
	DefaultAPNsUnregisteredTokenPrefix = "gone-"
)

// APNsConfig configures the simulated APNs provider API. One simulator
// serves every region under its own prefix on the TLS listener: the base
// URL of region R is https://TLSADDR/apns/R (Server.APNsBaseURL), and a
// notification is posted to {base}/3/device/<token> over HTTP/2.
//
// The simulator checks the ES256 provider token (signature with the app's
// key, kid, iss, an iat at most an hour old), the topic (the bundle id, or
// for apns-push-type liveactivity the bundle id followed by
// the suffix ".push-type.liveactivity"), the apns-* headers and the
// payload (for a Live Activity push also its aps keys), and answers with
// APNs' HTTP statuses and reasons; every answer to a notification request, accepted or refused,
// carries apns-id (the request's, else a new UUID). Requests are recorded with Request.Form holding "token", the
// apns-* headers sent and "payload" (the JSON body).
type APNsConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// TLSAddr is the loopback address of Server's TLS listener (which
	// serves every vendor's endpoints); default DefaultAPNsTLSAddr.
	TLSAddr string `json:"tlsAddr" yaml:"tlsAddr"`
	// Apps are the apps whose provider tokens and topics are accepted.
	Apps []APNsApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: device tokens starting with one of them are
	// answered 400 BadDeviceToken. Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are device tokens answered BadDeviceToken in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// UnregisteredTokenPrefixes: device tokens starting with one of them
	// are answered 410 Unregistered. Default
	// [DefaultAPNsUnregisteredTokenPrefix].
	UnregisteredTokenPrefixes []string `json:"unregisteredTokenPrefixes" yaml:"unregisteredTokenPrefixes"`
	// UnregisteredTokens are device tokens answered 410 in addition.
	UnregisteredTokens []string `json:"unregisteredTokens" yaml:"unregisteredTokens"`
	// QuotaPerSecond is the token-bucket rate of requests per app and
	// region for apps without their own; default DefaultAPNsQuota. Over
	// it, requests are answered 429 TooManyRequests.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	// QuotaBurst is the bucket size; default the rate rounded up.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
}

// APNsApp is one simulated app: a bundle id of a team, signed for with a
// key.
type APNsApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// TeamID is the expected "iss" of provider tokens.
	TeamID string `json:"teamId" yaml:"teamId"`
	// KeyID is the expected "kid" of provider tokens.
	KeyID string `json:"keyId" yaml:"keyId"`
	// BundleID is the topic (apns-topic) of the app.
	BundleID string `json:"bundleId" yaml:"bundleId"`
	// PublicKey is the PEM ("PUBLIC KEY") of the key that signs provider
	// tokens. If empty, it is derived from PrivateKey.
	PublicKey string `json:"publicKey" yaml:"publicKey"`
	// PrivateKey, for tests, is the PEM of the signing key (the .p8
	// content); only its public half is used.
	PrivateKey channels.Secret `json:"privateKey" yaml:"privateKey"`
	// QuotaPerSecond and QuotaBurst override the APNsConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its private key.
func (a APNsApp) String() string {
	return fmt.Sprintf("{appId=%s team=%s key=%s bundle=%s privateKey=%s quota=%g/%d}",
		a.AppID, a.TeamID, a.KeyID, a.BundleID, a.PrivateKey, a.QuotaPerSecond, a.QuotaBurst)
}

func (c APNsConfig) withDefaults() APNsConfig {
	c.Regions = defaultRegions(c.Regions)
	if c.TLSAddr == "" {
		c.TLSAddr = DefaultAPNsTLSAddr
	}
	c.Apps = slices.Clone(c.Apps)
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	if c.UnregisteredTokenPrefixes == nil {
		c.UnregisteredTokenPrefixes = []string{DefaultAPNsUnregisteredTokenPrefix}
	} else {
		c.UnregisteredTokenPrefixes = slices.Clone(c.UnregisteredTokenPrefixes)
	}
	c.UnregisteredTokens = slices.Clone(c.UnregisteredTokens)
	c.QuotaPerSecond, c.QuotaBurst = defaultQuota(c.QuotaPerSecond, c.QuotaBurst, DefaultAPNsQuota)
	return c
}

func (c APNsConfig) validate() []error {
	p := configProblems{vendor: VendorAPNs}
	bad := p.bad
	p.regions(c.Regions)
	if err := checkLoopback(c.TLSAddr); err != nil {
		bad("tlsAddr: %v", err)
	}
	ids, bundles := map[string]bool{}, map[string]bool{}
	type keyUse struct {
		app, team string
		pub       *ecdsa.PublicKey
	}
	keys := map[string]keyUse{}
	for i, a := range c.Apps {
		if a.AppID == "" {
			bad("app %d has no appId", i)
		}
		if ids[a.AppID] {
			bad("duplicate appId %q", a.AppID)
		}
		ids[a.AppID] = true
		if a.TeamID == "" || a.KeyID == "" || a.BundleID == "" {
			bad("app %q needs teamId, keyId and bundleId", a.AppID)
		}
		if bundles[a.BundleID] {
			bad("app %q: bundleId %q is another app's", a.AppID, a.BundleID)
		}
		bundles[a.BundleID] = true
		p.appQuota(a.AppID, a.QuotaPerSecond, a.QuotaBurst)
		pub, err := a.VerifyKey()
		if err != nil {
			bad("app %q: %v", a.AppID, err)
			continue
		}
		if prev, ok := keys[a.KeyID]; ok {
			if prev.team != a.TeamID || !prev.pub.Equal(pub) {
				bad("apps %q and %q use keyId %s with a different teamId or key", prev.app, a.AppID, a.KeyID)
			}
			continue
		}
		keys[a.KeyID] = keyUse{a.AppID, a.TeamID, pub}
	}
	p.quota(c.QuotaPerSecond, c.QuotaBurst)
	return p.errs
}

func (c APNsConfig) appIDs() []string {
	return appIDsOf(c.Apps, func(a APNsApp) string { return a.AppID })
}

// VerifyKey returns the public key the app's provider tokens are checked
// with: PublicKey, or the public half of PrivateKey; an error says what
// is wrong with them (Validate reports it).
func (a APNsApp) VerifyKey() (*ecdsa.PublicKey, error) {
	if a.PublicKey != "" {
		block, _ := pem.Decode([]byte(a.PublicKey))
		if block == nil {
			return nil, errors.New("publicKey is not PEM")
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("publicKey: %w", err)
		}
		ec, ok := k.(*ecdsa.PublicKey)
		if !ok || ec.Curve != elliptic.P256() {
			return nil, errors.New("publicKey is not an ECDSA P-256 key")
		}
		return ec, nil
	}
	if a.PrivateKey == "" {
		return nil, errors.New("needs publicKey or privateKey")
	}
	block, _ := pem.Decode([]byte(a.PrivateKey.Reveal()))
	if block == nil {
		return nil, errors.New("privateKey is not PEM")
	}
	var k any
	var err error
	if block.Type == "EC PRIVATE KEY" {
		k, err = x509.ParseECPrivateKey(block.Bytes)
	} else {
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, errors.New("privateKey is malformed")
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("privateKey is not an ECDSA P-256 key")
	}
	return &ec.PublicKey, nil
}
