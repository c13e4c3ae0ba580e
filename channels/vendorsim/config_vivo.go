package vendorsim

import (
	"fmt"
	"slices"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of VivoConfig.
const (
	// DefaultVivoQuota is the simulator's call rate per app and region
	// (vivo publishes daily quotas, not a call rate).
	DefaultVivoQuota = 1000.0
	// DefaultVivoAuthTokenLifetime is the validity vivo documents for an
	// authToken.
	DefaultVivoAuthTokenLifetime = 24 * time.Hour
	DefaultVivoMaxBodyBytes      = 1 << 20
)

// VivoConfig configures the simulated vivo Push server API. One simulator
// serves every region under its own path prefix: the base URL of region R
// is http://ADDR/vivo/R.
type VivoConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose appId, appKey and appSecret are accepted.
	Apps []VivoApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: regIds starting with one of them are reported
	// invalid (10302 for a single send, invalidUsers for pushToList).
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are regIds reported invalid in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// QuotaPerSecond and QuotaBurst are the token bucket of push calls
	// (send, saveListPayload, pushToList) per app and region for apps
	// without their own; default DefaultVivoQuota and the rate rounded up.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
	// AuthTokenLifetime is how long an issued authToken is accepted;
	// default DefaultVivoAuthTokenLifetime.
	AuthTokenLifetime Duration `json:"authTokenLifetime" yaml:"authTokenLifetime"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// VivoApp is one simulated vivo app.
type VivoApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// VivoAppID is vivo's appId.
	VivoAppID string `json:"vivoAppId" yaml:"vivoAppId"`
	// AppKey and AppSecret are the app's vivo credentials.
	AppKey    string          `json:"appKey" yaml:"appKey"`
	AppSecret channels.Secret `json:"appSecret" yaml:"appSecret"`
	// QuotaPerSecond and QuotaBurst override the VivoConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its secret.
func (a VivoApp) String() string {
	return fmt.Sprintf("{appId=%s vivoAppId=%s appKey=%s appSecret=%s quota=%g/%d}", a.AppID, a.VivoAppID, a.AppKey, a.AppSecret, a.QuotaPerSecond, a.QuotaBurst)
}

func (c VivoConfig) withDefaults() VivoConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	c.QuotaPerSecond, c.QuotaBurst = defaultQuota(c.QuotaPerSecond, c.QuotaBurst, DefaultVivoQuota)
	if c.AuthTokenLifetime == 0 {
		c.AuthTokenLifetime = Duration(DefaultVivoAuthTokenLifetime)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultVivoMaxBodyBytes
	}
	return c
}

func (c VivoConfig) validate() []error {
	p := configProblems{vendor: VendorVivo}
	bad := p.bad
	p.regions(c.Regions)
	ids, vivoIDs := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		p.appID(i, a.AppID, ids)
		if a.VivoAppID == "" {
			bad("app %q has no vivoAppId", a.AppID)
		} else if vivoIDs[a.VivoAppID] {
			bad("app %q shares its vivoAppId with another app", a.AppID)
		}
		if a.AppKey == "" {
			bad("app %q has no appKey", a.AppID)
		}
		if a.AppSecret == "" {
			bad("app %q has no appSecret", a.AppID)
		}
		p.appQuota(a.AppID, a.QuotaPerSecond, a.QuotaBurst)
		ids[a.AppID], vivoIDs[a.VivoAppID] = true, true
	}
	p.quota(c.QuotaPerSecond, c.QuotaBurst)
	if c.AuthTokenLifetime <= 0 {
		bad("authTokenLifetime must be positive")
	}
	p.maxBody(c.MaxBodyBytes)
	return p.errs
}

func (c VivoConfig) appIDs() []string {
	return appIDsOf(c.Apps, func(a VivoApp) string { return a.AppID })
}
