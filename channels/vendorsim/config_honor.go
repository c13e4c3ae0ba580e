package vendorsim

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of HonorConfig.
const (
	DefaultHonorQuota   = 1000.0
	DefaultHonorMaxBody = 1 << 20
	// DefaultHonorAccessTokenLifetime is the expires_in Honor's OAuth
	// endpoint answers (one hour).
	DefaultHonorAccessTokenLifetime = time.Hour
)

// HonorConfig configures the simulated Honor Push server API. One simulator
// serves every region under its own path prefix: the base URL (and token
// endpoint prefix) of region R is http://ADDR/honor/R.
type HonorConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose client credentials are accepted.
	Apps []HonorApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: tokens starting with one of them are reported
	// in data.failTokens (or, when every token is, with code 80300007).
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are tokens reported invalid in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// ExpiredTokenPrefixes: tokens starting with one of them are reported
	// in data.expireTokens. Default none.
	ExpiredTokenPrefixes []string `json:"expiredTokenPrefixes" yaml:"expiredTokenPrefixes"`
	// QuotaPerSecond and QuotaBurst are the token bucket of sendMessage
	// calls per app and region for apps without their own; default
	// DefaultHonorQuota and the rate rounded up.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
	// AccessTokenLifetime is the expires_in of issued access tokens;
	// default DefaultHonorAccessTokenLifetime.
	AccessTokenLifetime Duration `json:"accessTokenLifetime" yaml:"accessTokenLifetime"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// HonorApp is one simulated Honor app.
type HonorApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// HonorAppID is Honor's app id, the {appId} of the sendMessage path.
	HonorAppID string `json:"honorAppId" yaml:"honorAppId"`
	// ClientID and ClientSecret are the OAuth client credentials.
	ClientID     string          `json:"clientId" yaml:"clientId"`
	ClientSecret channels.Secret `json:"clientSecret" yaml:"clientSecret"`
	// QuotaPerSecond and QuotaBurst override the HonorConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its secret.
func (a HonorApp) String() string {
	return fmt.Sprintf("{appId=%s honorAppId=%s clientId=%s clientSecret=%s quota=%g/%d}", a.AppID, a.HonorAppID, a.ClientID, a.ClientSecret, a.QuotaPerSecond, a.QuotaBurst)
}

func (c HonorConfig) withDefaults() HonorConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	c.ExpiredTokenPrefixes = slices.Clone(c.ExpiredTokenPrefixes)
	c.QuotaPerSecond, c.QuotaBurst = defaultQuota(c.QuotaPerSecond, c.QuotaBurst, DefaultHonorQuota)
	if c.AccessTokenLifetime == 0 {
		c.AccessTokenLifetime = Duration(DefaultHonorAccessTokenLifetime)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultHonorMaxBody
	}
	return c
}

func (c HonorConfig) validate() []error {
	p := configProblems{vendor: VendorHonor}
	bad := p.bad
	p.regions(c.Regions)
	ids, clients, honorIDs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		p.appID(i, a.AppID, ids)
		switch {
		case a.HonorAppID == "":
			bad("app %q has no honorAppId", a.AppID)
		case strings.ContainsAny(a.HonorAppID, "/?# "):
			bad("app %q: honorAppId %q cannot be a path segment", a.AppID, a.HonorAppID)
		case honorIDs[a.HonorAppID]:
			bad("app %q shares its honorAppId with another app", a.AppID)
		}
		if a.ClientID == "" {
			bad("app %q has no clientId", a.AppID)
		} else if clients[a.ClientID] {
			bad("app %q shares its clientId with another app", a.AppID)
		}
		if a.ClientSecret == "" {
			bad("app %q has no clientSecret", a.AppID)
		}
		p.appQuota(a.AppID, a.QuotaPerSecond, a.QuotaBurst)
		ids[a.AppID], clients[a.ClientID], honorIDs[a.HonorAppID] = true, true, true
	}
	p.quota(c.QuotaPerSecond, c.QuotaBurst)
	if c.AccessTokenLifetime < Duration(time.Second) {
		bad("accessTokenLifetime must be at least one second")
	}
	p.maxBody(c.MaxBodyBytes)
	return p.errs
}

func (c HonorConfig) appIDs() []string {
	return appIDsOf(c.Apps, func(a HonorApp) string { return a.AppID })
}
