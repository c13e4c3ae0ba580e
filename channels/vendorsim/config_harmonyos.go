package vendorsim

import (
	"crypto/rsa"
	"fmt"
	"slices"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of HarmonyOSConfig.
const (
	// DefaultHarmonyOSQuotaPerSecond is the default push rate of an app:
	// Push Kit's QPS counts the devices pushed to a second and answers HTTP
	// 503 above it.
	DefaultHarmonyOSQuotaPerSecond = 3000.0
	// DefaultHarmonyOSMaxBodyBytes bounds a request body.
	DefaultHarmonyOSMaxBodyBytes = 1 << 20
)

// HarmonyOSConfig configures the simulated HarmonyOS Push Kit. One
// simulator serves every region under its own prefix: the base URL of
// region R is http://ADDR/harmonyos/R; sends go to
// http://ADDR/harmonyos/R/v3/{projectId}/messages:send and recalls to
// http://ADDR/harmonyos/R/v1/{clientId}/messages:revoke.
//
// The simulator serves push-type 0 (notification) and 6 (background
// message); the other scenarios (widget updates, voice broadcast, live
// views, in-app calls) are answered 80100003 naming the push-type.
type HarmonyOSConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose service-account JWTs are accepted.
	Apps []HarmonyOSApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: tokens starting with one of them are refused
	// (reason tokenFormatError in 80100000, or 80300007 when all are).
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are tokens refused in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// QuotaPerSecond is the devices an app may push to a second per
	// region for apps without their own; default
	// DefaultHarmonyOSQuotaPerSecond. Calls over it are answered HTTP 503.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	// QuotaBurst is the token-bucket size; default the rate rounded up.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
	// MaxBodyBytes bounds a request body; default
	// DefaultHarmonyOSMaxBodyBytes.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// HarmonyOSApp is one simulated HarmonyOS app with its project's service
// account.
type HarmonyOSApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// ProjectID is the project id of the send URL.
	ProjectID string `json:"projectId" yaml:"projectId"`
	// ClientID is the app's Client ID of the revoke URL.
	ClientID string `json:"clientId" yaml:"clientId"`
	// KeyID is the service-account key id, the JWT "kid".
	KeyID string `json:"keyId" yaml:"keyId"`
	// SubAccount is the service account, the JWT "iss".
	SubAccount string `json:"subAccount" yaml:"subAccount"`
	// PublicKey is the PEM public key that verifies the JWTs (PKIX
	// "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY" or a "CERTIFICATE").
	PublicKey string `json:"publicKey" yaml:"publicKey"`
	// PrivateKey, used when PublicKey is empty, is the service account's
	// PEM private key; its public half verifies the JWTs (for tests).
	PrivateKey channels.Secret `json:"privateKey" yaml:"privateKey"`
	// PackageName is the app's bundle name, sent as appPackageName in
	// receipts; default "com.example.<appId>".
	PackageName string `json:"packageName" yaml:"packageName"`
	// QuotaPerSecond and QuotaBurst override the HarmonyOSConfig defaults
	// when positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// VerifyKey returns the public key that verifies the app's JWTs; an error
// says what is wrong with PublicKey or PrivateKey (Validate reports it).
func (a HarmonyOSApp) VerifyKey() (*rsa.PublicKey, error) {
	return rsaVerifyKey(a.PublicKey, a.PrivateKey)
}

// String prints the app without its private key.
func (a HarmonyOSApp) String() string {
	return fmt.Sprintf("{appId=%s projectId=%s clientId=%s keyId=%s subAccount=%s privateKey=%s quota=%g/%d}",
		a.AppID, a.ProjectID, a.ClientID, a.KeyID, a.SubAccount, a.PrivateKey, a.QuotaPerSecond, a.QuotaBurst)
}

func (c HarmonyOSConfig) withDefaults() HarmonyOSConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	for i := range c.Apps {
		if c.Apps[i].PackageName == "" {
			c.Apps[i].PackageName = "com.example." + c.Apps[i].AppID
		}
	}
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	c.QuotaPerSecond, c.QuotaBurst = defaultQuota(c.QuotaPerSecond, c.QuotaBurst, DefaultHarmonyOSQuotaPerSecond)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultHarmonyOSMaxBodyBytes
	}
	return c
}

func (c HarmonyOSConfig) validate() []error {
	p := configProblems{vendor: VendorHarmonyOS}
	bad := p.bad
	p.regions(c.Regions)
	ids, subs, clients := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		p.appID(i, a.AppID, ids)
		if a.ProjectID == "" || a.ClientID == "" || a.KeyID == "" || a.SubAccount == "" {
			bad("app %q needs projectId, clientId, keyId and subAccount", a.AppID)
		}
		if subs[a.SubAccount] || clients[a.ClientID] {
			bad("app %q shares its subAccount or clientId with another app", a.AppID)
		}
		ids[a.AppID], subs[a.SubAccount], clients[a.ClientID] = true, true, true
		if _, err := a.VerifyKey(); err != nil {
			bad("app %q: %v", a.AppID, err)
		}
		p.appQuota(a.AppID, a.QuotaPerSecond, a.QuotaBurst)
	}
	p.quota(c.QuotaPerSecond, c.QuotaBurst)
	p.maxBody(c.MaxBodyBytes)
	return p.errs
}

func (c HarmonyOSConfig) appIDs() []string {
	return appIDsOf(c.Apps, func(a HarmonyOSApp) string { return a.AppID })
}
