package vendorsim

import (
	"fmt"
	"slices"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of MiPushConfig.
const (
	// DefaultMiPushQuota is MiPush's documented unicast limit: 1000 calls
	// a second per app.
	DefaultMiPushQuota        = 1000.0
	DefaultMiPushMaxBodyBytes = 1 << 20
)

// MiPushConfig configures the simulated MiPush API. One simulator serves
// every region under its own path prefix: the base URL of region R is
// http://ADDR/mipush/R.
type MiPushConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose AppSecret is accepted.
	Apps []MiPushApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: regIds starting with one of them are reported
	// invalid (data.bad_regids, or "No valid targets!" when all are).
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are regIds reported invalid in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// QuotaPerSecond is the token-bucket rate of calls per app and region
	// for apps without their own; default DefaultMiPushQuota.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	// QuotaBurst is the bucket size for apps without their own; default
	// the rate rounded up.
	QuotaBurst int `json:"quotaBurst" yaml:"quotaBurst"`
	// MaxBodyBytes bounds a request body; larger ones are refused with
	// MiPush's "request too long" answer.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// MiPushApp is one simulated MiPush app.
type MiPushApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// Secret is the AppSecret expected as "Authorization: key=<secret>".
	Secret channels.Secret `json:"secret" yaml:"secret"`
	// PackageName is the app's package; restricted_package_name must name
	// it when present.
	PackageName string `json:"packageName" yaml:"packageName"`
	// QuotaPerSecond and QuotaBurst override the MiPushConfig defaults
	// when positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

func (m MiPushConfig) withDefaults() MiPushConfig {
	m.Regions = defaultRegions(m.Regions)
	m.Apps = slices.Clone(m.Apps)
	m.InvalidTokenPrefixes = defaultPrefixes(m.InvalidTokenPrefixes)
	m.InvalidTokens = slices.Clone(m.InvalidTokens)
	m.QuotaPerSecond, m.QuotaBurst = defaultQuota(m.QuotaPerSecond, m.QuotaBurst, DefaultMiPushQuota)
	if m.MaxBodyBytes == 0 {
		m.MaxBodyBytes = DefaultMiPushMaxBodyBytes
	}
	return m
}

func (m MiPushConfig) validate() []error {
	p := configProblems{vendor: VendorMiPush}
	p.regions(m.Regions)
	ids, secrets := map[string]bool{}, map[string]bool{}
	for i, a := range m.Apps {
		if a.AppID == "" {
			p.bad("app %d has no appId", i)
		}
		if a.Secret == "" {
			p.bad("app %q has no secret", a.AppID)
		}
		if a.PackageName == "" {
			p.bad("app %q has no packageName", a.AppID)
		}
		if ids[a.AppID] {
			p.bad("duplicate appId %q", a.AppID)
		}
		if secrets[a.Secret.Reveal()] {
			p.bad("app %q shares its secret with another app", a.AppID)
		}
		ids[a.AppID], secrets[a.Secret.Reveal()] = true, true
		p.appQuota(a.AppID, a.QuotaPerSecond, a.QuotaBurst)
	}
	p.quota(m.QuotaPerSecond, m.QuotaBurst)
	p.maxBody(m.MaxBodyBytes)
	return p.errs
}

func (m MiPushConfig) appIDs() []string {
	return appIDsOf(m.Apps, func(a MiPushApp) string { return a.AppID })
}

// String prints the app without its secret.
func (a MiPushApp) String() string {
	return fmt.Sprintf("{appId=%s package=%s secret=%s quota=%g/%d}", a.AppID, a.PackageName, a.Secret, a.QuotaPerSecond, a.QuotaBurst)
}
