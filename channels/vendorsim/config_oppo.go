package vendorsim

import (
	"fmt"
	"slices"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of OPPOConfig.
const (
	// DefaultOPPOQuota is the simulator's call rate per app and region
	// (OPPO publishes daily message quotas, not a call rate).
	DefaultOPPOQuota = 1000.0
	// DefaultOPPOAuthTokenLifetime is the validity OPPO documents for an
	// auth_token.
	DefaultOPPOAuthTokenLifetime = 24 * time.Hour
	DefaultOPPOMaxBodyBytes      = 4 << 20
)

// OPPOConfig configures the simulated OPPO Push server API. One simulator
// serves every region under its own path prefix: the base URL of region R
// is http://ADDR/oppo/R.
type OPPOConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose AppKey and MasterSecret are accepted.
	Apps []OPPOApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: registration ids starting with one of them are
	// reported invalid (code 10000). Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are registration ids reported invalid in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// QuotaPerSecond and QuotaBurst are the token bucket of push calls per
	// app and region for apps without their own; default DefaultOPPOQuota
	// and the rate rounded up.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
	// AuthTokenLifetime is how long an issued auth_token is accepted;
	// default DefaultOPPOAuthTokenLifetime.
	AuthTokenLifetime Duration `json:"authTokenLifetime" yaml:"authTokenLifetime"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// OPPOApp is one simulated OPPO app.
type OPPOApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// AppKey is OPPO's AppKey, sent as app_key to the auth endpoint.
	AppKey string `json:"appKey" yaml:"appKey"`
	// MasterSecret signs the auth request.
	MasterSecret channels.Secret `json:"masterSecret" yaml:"masterSecret"`
	// QuotaPerSecond and QuotaBurst override the OPPOConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its secret.
func (a OPPOApp) String() string {
	return fmt.Sprintf("{appId=%s appKey=%s masterSecret=%s quota=%g/%d}", a.AppID, a.AppKey, a.MasterSecret, a.QuotaPerSecond, a.QuotaBurst)
}

func (c OPPOConfig) withDefaults() OPPOConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	c.QuotaPerSecond, c.QuotaBurst = defaultQuota(c.QuotaPerSecond, c.QuotaBurst, DefaultOPPOQuota)
	if c.AuthTokenLifetime == 0 {
		c.AuthTokenLifetime = Duration(DefaultOPPOAuthTokenLifetime)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultOPPOMaxBodyBytes
	}
	return c
}

func (c OPPOConfig) validate() []error {
	p := configProblems{vendor: VendorOPPO}
	bad := p.bad
	p.regions(c.Regions)
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		p.appID(i, a.AppID, ids)
		if a.AppKey == "" {
			bad("app %q has no appKey", a.AppID)
		} else if keys[a.AppKey] {
			bad("app %q shares its appKey with another app", a.AppID)
		}
		if a.MasterSecret == "" {
			bad("app %q has no masterSecret", a.AppID)
		}
		p.appQuota(a.AppID, a.QuotaPerSecond, a.QuotaBurst)
		ids[a.AppID], keys[a.AppKey] = true, true
	}
	p.quota(c.QuotaPerSecond, c.QuotaBurst)
	if c.AuthTokenLifetime <= 0 {
		bad("authTokenLifetime must be positive")
	}
	p.maxBody(c.MaxBodyBytes)
	return p.errs
}

func (c OPPOConfig) appIDs() []string {
	return appIDsOf(c.Apps, func(a OPPOApp) string { return a.AppID })
}
