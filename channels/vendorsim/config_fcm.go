package vendorsim

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of FCMConfig.
const (
	// DefaultFCMQuotaPerMinute is FCM's default send quota: 600,000
	// messages a minute per project.
	DefaultFCMQuotaPerMinute = 600_000.0
	// DefaultFCMTokenLifetime is the expires_in of issued access tokens.
	DefaultFCMTokenLifetime = 3599 * time.Second
	// DefaultFCMMaxBodyBytes bounds a request body.
	DefaultFCMMaxBodyBytes = 64 << 10
)

// FCMConfig configures the simulated FCM HTTP v1 API. One simulator serves
// every region under its own prefix on the TLS listener (HTTP/2, as
// Google serves fcm.googleapis.com): the base URL of region R is
// https://TLSADDR/fcm/R (Server.FCMBaseURL); the token endpoint (a service
// account's token_uri) is https://TLSADDR/fcm/R/token (Server.FCMTokenURL),
// and a signed assertion's audience must be that URL as the client reached
// it, or Google's token URI. The plain listener answers the same paths
// (http://ADDR/fcm/R, audience http://ADDR/fcm/R/token) for clients that
// cannot be given the simulator's CA, such as the Firebase Admin SDK.
type FCMConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the service accounts whose signed assertions are accepted.
	Apps []FCMApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: tokens (registration tokens and installation
	// ids, FIDs) starting with one of them are answered 404 UNREGISTERED.
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are tokens answered UNREGISTERED in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// SenderMismatchTokenPrefixes: tokens starting with one of them belong
	// to another Firebase project and are answered 403 SENDER_ID_MISMATCH.
	SenderMismatchTokenPrefixes []string `json:"senderMismatchTokenPrefixes" yaml:"senderMismatchTokenPrefixes"`
	// ThirdPartyAuthTokenPrefixes: tokens starting with one of them are of
	// an iOS or web app whose APNs or Web Push credentials FCM cannot use,
	// and are answered 401 THIRD_PARTY_AUTH_ERROR.
	ThirdPartyAuthTokenPrefixes []string `json:"thirdPartyAuthTokenPrefixes" yaml:"thirdPartyAuthTokenPrefixes"`
	// MalformedTokenPrefixes: tokens (and FIDs) starting with one of them
	// are answered 400 INVALID_ARGUMENT ("not a valid FCM registration
	// token").
	MalformedTokenPrefixes []string `json:"malformedTokenPrefixes" yaml:"malformedTokenPrefixes"`
	// QuotaPerMinute is the send quota of an app (a project) per region for
	// apps without their own; default DefaultFCMQuotaPerMinute.
	QuotaPerMinute float64 `json:"quotaPerMinute" yaml:"quotaPerMinute"`
	// QuotaBurst is the token-bucket size; default a second of quota.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
	// TokenLifetime is the expires_in of issued access tokens; default
	// DefaultFCMTokenLifetime.
	TokenLifetime Duration `json:"tokenLifetime" yaml:"tokenLifetime"`
	// MaxBodyBytes bounds a request body; default DefaultFCMMaxBodyBytes.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// FCMApp is one simulated Firebase project with its service account.
type FCMApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// ProjectID is the Firebase project id of the send URL.
	ProjectID string `json:"projectId" yaml:"projectId"`
	// ClientEmail is the service account (the assertion's iss).
	ClientEmail string `json:"clientEmail" yaml:"clientEmail"`
	// PublicKey is the PEM public key (PKIX "PUBLIC KEY", PKCS#1 "RSA
	// PUBLIC KEY" or a "CERTIFICATE") that verifies assertions.
	PublicKey string `json:"publicKey" yaml:"publicKey"`
	// PrivateKey, used when PublicKey is empty, is the service account's
	// PEM private key; its public half verifies assertions (for tests).
	PrivateKey channels.Secret `json:"privateKey" yaml:"privateKey"`
	// QuotaPerMinute and QuotaBurst override the FCMConfig defaults when
	// positive.
	QuotaPerMinute float64 `json:"quotaPerMinute" yaml:"quotaPerMinute"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its private key.
func (a FCMApp) String() string {
	return fmt.Sprintf("{appId=%s project=%s clientEmail=%s privateKey=%s quota=%g/min}",
		a.AppID, a.ProjectID, a.ClientEmail, a.PrivateKey, a.QuotaPerMinute)
}

func (c FCMConfig) withDefaults() FCMConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	c.MalformedTokenPrefixes = slices.Clone(c.MalformedTokenPrefixes)
	c.SenderMismatchTokenPrefixes = slices.Clone(c.SenderMismatchTokenPrefixes)
	c.ThirdPartyAuthTokenPrefixes = slices.Clone(c.ThirdPartyAuthTokenPrefixes)
	if c.QuotaPerMinute == 0 {
		c.QuotaPerMinute = DefaultFCMQuotaPerMinute
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = burstFor(c.QuotaPerMinute / 60)
	}
	if c.TokenLifetime == 0 {
		c.TokenLifetime = Duration(DefaultFCMTokenLifetime)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultFCMMaxBodyBytes
	}
	return c
}

func (c FCMConfig) validate() []error {
	p := configProblems{vendor: VendorFCM}
	bad := p.bad
	p.regions(c.Regions)
	ids, emails := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		if a.AppID == "" {
			bad("app %d has no appId", i)
		}
		if ids[a.AppID] {
			bad("duplicate appId %q", a.AppID)
		}
		if a.ProjectID == "" {
			bad("app %q has no projectId", a.AppID)
		}
		if a.ClientEmail == "" {
			bad("app %q has no clientEmail", a.AppID)
		}
		if emails[a.ClientEmail] {
			bad("app %q shares its clientEmail with another app", a.AppID)
		}
		ids[a.AppID], emails[a.ClientEmail] = true, true
		if _, err := a.VerifyKey(); err != nil {
			bad("app %q: %v", a.AppID, err)
		}
		p.appQuota(a.AppID, a.QuotaPerMinute, a.QuotaBurst)
	}
	if c.QuotaPerMinute < 0 || c.QuotaBurst < 0 {
		bad("negative quota")
	}
	if c.TokenLifetime < 0 {
		bad("negative tokenLifetime")
	}
	p.maxBody(c.MaxBodyBytes)
	return p.errs
}

func (c FCMConfig) appIDs() []string {
	return appIDsOf(c.Apps, func(a FCMApp) string { return a.AppID })
}

// VerifyKey returns the public key that verifies the app's assertions;
// an error says what is wrong with PublicKey or PrivateKey (Validate
// reports it).
func (a FCMApp) VerifyKey() (*rsa.PublicKey, error) { return rsaVerifyKey(a.PublicKey, a.PrivateKey) }

// rsaVerifyKey returns the RSA public key that verifies a simulated app's
// signed JWTs: publicKey (PEM: PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY"
// or a "CERTIFICATE"), or, when it is empty, the public half of
// privateKey (PEM, for tests).
func rsaVerifyKey(publicKey string, privateKey channels.Secret) (*rsa.PublicKey, error) {
	if publicKey == "" && privateKey == "" {
		return nil, errors.New("needs a publicKey or a privateKey (PEM)")
	}
	if publicKey == "" {
		k, err := channels.ParseRSAPrivateKey(privateKey.Reveal())
		if err != nil {
			return nil, fmt.Errorf("privateKey: %w", err)
		}
		return &k.PublicKey, nil
	}
	block, _ := pem.Decode([]byte(publicKey))
	if block == nil {
		return nil, errors.New("publicKey: no PEM block")
	}
	var k any
	var err error
	switch block.Type {
	case "RSA PUBLIC KEY":
		k, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			k = cert.PublicKey
		}
	default:
		k, err = x509.ParsePKIXPublicKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("publicKey: %w", err)
	}
	pk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("publicKey is a %T, want RSA", k)
	}
	return pk, nil
}
