package vendorsim

import (
	"fmt"
	"slices"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of SelfConfig.
const (
	// DefaultSelfQuota is the call rate per app and region.
	DefaultSelfQuota = 1000.0
	// DefaultSelfOfflineTokenPrefix marks tokens of devices that are not
	// connected (status "offline").
	DefaultSelfOfflineTokenPrefix = "offline-"
	// DefaultSelfMaxBodyBytes bounds a request body.
	DefaultSelfMaxBodyBytes = 8 << 20
)

// SelfConfig configures the simulated self-built connection gateway. One
// simulator serves every region under its own prefix: the base URL of
// region R is http://ADDR/self/R (Server.SelfBaseURL) and messages are
// posted to {base}/v1/push with "Authorization: Bearer <app key>".
// Requests are recorded with Request.Form["body"] holding the JSON body
// and Request.RegIDs the tokens.
type SelfConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose keys are accepted.
	Apps []SelfApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: tokens starting with one of them are answered
	// "invalid_token". Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are tokens answered "invalid_token" in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// OfflineTokenPrefixes: tokens starting with one of them are answered
	// "offline". Default [DefaultSelfOfflineTokenPrefix].
	OfflineTokenPrefixes []string `json:"offlineTokenPrefixes" yaml:"offlineTokenPrefixes"`
	// OfflineTokens are tokens answered "offline" in addition.
	OfflineTokens []string `json:"offlineTokens" yaml:"offlineTokens"`
	// QuotaPerSecond is the token-bucket rate of calls per app and region
	// for apps without their own; default DefaultSelfQuota. Over it, calls
	// are answered 429 rate_limited with Retry-After.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	// QuotaBurst is the bucket size; default the rate rounded up.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
	// MaxBodyBytes bounds a request body (413 payload_too_large);
	// default DefaultSelfMaxBodyBytes.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// SelfApp is one simulated app of the gateway.
type SelfApp struct {
	// AppID names the app in records and stats and is the appId the
	// request body must carry.
	AppID string `json:"appId" yaml:"appId"`
	// AppKey is expected as "Authorization: Bearer <AppKey>".
	AppKey channels.Secret `json:"appKey" yaml:"appKey"`
	// QuotaPerSecond and QuotaBurst override the SelfConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its key.
func (a SelfApp) String() string {
	return fmt.Sprintf("{appId=%s appKey=%s quota=%g/%d}", a.AppID, a.AppKey, a.QuotaPerSecond, a.QuotaBurst)
}

func (c SelfConfig) withDefaults() SelfConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	if c.OfflineTokenPrefixes == nil {
		c.OfflineTokenPrefixes = []string{DefaultSelfOfflineTokenPrefix}
	} else {
		c.OfflineTokenPrefixes = slices.Clone(c.OfflineTokenPrefixes)
	}
	c.OfflineTokens = slices.Clone(c.OfflineTokens)
	c.QuotaPerSecond, c.QuotaBurst = defaultQuota(c.QuotaPerSecond, c.QuotaBurst, DefaultSelfQuota)
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultSelfMaxBodyBytes
	}
	return c
}

func (c SelfConfig) validate() []error {
	p := configProblems{vendor: VendorSelf}
	bad := p.bad
	p.regions(c.Regions)
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		if a.AppID == "" {
			bad("app %d has no appId", i)
		}
		if a.AppKey == "" {
			bad("app %q has no appKey", a.AppID)
		}
		if ids[a.AppID] {
			bad("duplicate appId %q", a.AppID)
		}
		if keys[a.AppKey.Reveal()] {
			bad("app %q shares its appKey with another app", a.AppID)
		}
		ids[a.AppID], keys[a.AppKey.Reveal()] = true, true
		p.appQuota(a.AppID, a.QuotaPerSecond, a.QuotaBurst)
	}
	p.quota(c.QuotaPerSecond, c.QuotaBurst)
	p.maxBody(c.MaxBodyBytes)
	return p.errs
}

func (c SelfConfig) appIDs() []string {
	return appIDsOf(c.Apps, func(a SelfApp) string { return a.AppID })
}
