package vendorsim

import (
	"fmt"
	"slices"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of HMSConfig.
const (
	// DefaultHMSQuotaPerSecond is the default call rate of an app.
	DefaultHMSQuotaPerSecond = 3000.0
	// DefaultHMSTokenLifetime is the expires_in of issued access tokens
	// (Huawei's app-level tokens live one hour).
	DefaultHMSTokenLifetime = time.Hour
	// DefaultHMSMaxBodyBytes bounds a request body.
	DefaultHMSMaxBodyBytes = 1 << 20
)

// HMSConfig configures the simulated Huawei Push Kit. One simulator serves
// every region under its own prefix: the base URL (and OAuth URL) of region
// R is http://ADDR/hms/R; the token endpoint is
// http://ADDR/hms/R/oauth2/v3/token and the send endpoint
// http://ADDR/hms/R/v1/{appId}/messages:send.
type HMSConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose client credentials are accepted.
	Apps []HMSApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: tokens starting with one of them are reported
	// illegal (illegal_tokens of 80100000, or 80300007 when all are).
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are tokens reported illegal in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// QuotaPerSecond is the call rate of an app per region for apps
	// without their own; default DefaultHMSQuotaPerSecond. Calls over it
	// are answered HTTP 503 (traffic control).
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	// QuotaBurst is the token-bucket size; default the rate rounded up.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
	// TokenLifetime is the expires_in of issued access tokens; default
	// DefaultHMSTokenLifetime.
	TokenLifetime Duration `json:"tokenLifetime" yaml:"tokenLifetime"`
	// MaxBodyBytes bounds a request body; default DefaultHMSMaxBodyBytes.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// HMSApp is one simulated Huawei app.
type HMSApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// ClientID is the Huawei App ID: the OAuth client_id and the {appId}
	// of the send URL.
	ClientID string `json:"clientId" yaml:"clientId"`
	// ClientSecret is the App Secret (OAuth client_secret).
	ClientSecret channels.Secret `json:"clientSecret" yaml:"clientSecret"`
	// QuotaPerSecond and QuotaBurst override the HMSConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its secret.
func (a HMSApp) String() string {
	return fmt.Sprintf("{appId=%s clientId=%s clientSecret=%s quota=%g/%d}", a.AppID, a.ClientID, a.ClientSecret, a.QuotaPerSecond, a.QuotaBurst)
}

func (c HMSConfig) withDefaults() HMSConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	c.QuotaPerSecond, c.QuotaBurst = defaultQuota(c.QuotaPerSecond, c.QuotaBurst, DefaultHMSQuotaPerSecond)
	if c.TokenLifetime == 0 {
		c.TokenLifetime = Duration(DefaultHMSTokenLifetime)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultHMSMaxBodyBytes
	}
	return c
}

func (c HMSConfig) validate() []error {
	p := configProblems{vendor: VendorHMS}
	bad := p.bad
	p.regions(c.Regions)
	ids, clients := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		if a.AppID == "" {
			bad("app %d has no appId", i)
		}
		if ids[a.AppID] {
			bad("duplicate appId %q", a.AppID)
		}
		if a.ClientID == "" {
			bad("app %q has no clientId (Huawei App ID)", a.AppID)
		}
		if clients[a.ClientID] {
			bad("app %q shares its clientId with another app", a.AppID)
		}
		if a.ClientSecret == "" {
			bad("app %q has no clientSecret", a.AppID)
		}
		ids[a.AppID], clients[a.ClientID] = true, true
		p.appQuota(a.AppID, a.QuotaPerSecond, a.QuotaBurst)
	}
	p.quota(c.QuotaPerSecond, c.QuotaBurst)
	if c.TokenLifetime < 0 {
		bad("negative tokenLifetime")
	}
	p.maxBody(c.MaxBodyBytes)
	return p.errs
}

func (c HMSConfig) appIDs() []string {
	return appIDsOf(c.Apps, func(a HMSApp) string { return a.AppID })
}
