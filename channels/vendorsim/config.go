package vendorsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Regions are the pushpipe regions the simulator serves by default.
func Regions() []string { return schema.Regions() }

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultAddr                = "127.0.0.1:0"
	DefaultMaxRecordedRequests = 100_000
	// DefaultMiPushQuota is MiPush's documented unicast limit: 1000 calls
	// a second per app.
	DefaultMiPushQuota        = 1000.0
	DefaultMiPushMaxBodyBytes = 1 << 20
	// DefaultInvalidTokenPrefix marks tokens the simulator reports as
	// invalid.
	DefaultInvalidTokenPrefix = "bad-"
)

// Config configures a Simulator (and the Server that runs one). Printing it
// never shows secrets.
type Config struct {
	// Addr is the listen address of Server; the host must be a loopback
	// address. Port 0 picks a free port.
	Addr string `json:"addr" yaml:"addr"`
	// Seed seeds the randomness of fault probabilities and latency
	// distributions; 0 picks a random seed.
	Seed uint64 `json:"seed" yaml:"seed"`
	// MaxRecordedRequests bounds the requests kept for Requests (oldest
	// dropped first); counters in Stats are exact regardless.
	MaxRecordedRequests int `json:"maxRecordedRequests" yaml:"maxRecordedRequests"`
	// MiPush configures the MiPush endpoints.
	MiPush MiPushConfig `json:"mipush" yaml:"mipush"`
	// The other vendors, one file each.
	APNs  APNsConfig  `json:"apns" yaml:"apns"`
	FCM   FCMConfig   `json:"fcm" yaml:"fcm"`
	HMS   HMSConfig   `json:"hms" yaml:"hms"`
	Honor HonorConfig `json:"honor" yaml:"honor"`
	// HarmonyOS configures the HarmonyOS Push Kit (v3) endpoints.
	HarmonyOS HarmonyOSConfig `json:"harmonyos" yaml:"harmonyos"`
	OPPO      OPPOConfig      `json:"oppo" yaml:"oppo"`
	Vivo      VivoConfig      `json:"vivo" yaml:"vivo"`
	Self      SelfConfig      `json:"self" yaml:"self"`
	// SMS is Alibaba Cloud SMS, the SMS supplement's channel.
	SMS SMSConfig `json:"sms" yaml:"sms"`
	// Receipts makes the simulator post delivery receipts and app events
	// back to pushpipe's receipts workers; off unless it names a URL.
	Receipts ReceiptsConfig `json:"receipts" yaml:"receipts"`
}

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

// DefaultConfig returns a configuration with every default set and no
// apps.
func DefaultConfig() Config { return Config{}.WithDefaults() }

// WithDefaults returns a copy of c with zero fields set to defaults.
func (c Config) WithDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxRecordedRequests == 0 {
		c.MaxRecordedRequests = DefaultMaxRecordedRequests
	}
	m := &c.MiPush
	if len(m.Regions) == 0 {
		m.Regions = Regions()
	} else {
		m.Regions = slices.Clone(m.Regions)
	}
	m.Apps = slices.Clone(m.Apps)
	if m.InvalidTokenPrefixes == nil {
		m.InvalidTokenPrefixes = []string{DefaultInvalidTokenPrefix}
	} else {
		m.InvalidTokenPrefixes = slices.Clone(m.InvalidTokenPrefixes)
	}
	m.InvalidTokens = slices.Clone(m.InvalidTokens)
	if m.QuotaPerSecond == 0 {
		m.QuotaPerSecond = DefaultMiPushQuota
	}
	if m.QuotaBurst == 0 {
		m.QuotaBurst = burstFor(m.QuotaPerSecond)
	}
	if m.MaxBodyBytes == 0 {
		m.MaxBodyBytes = DefaultMiPushMaxBodyBytes
	}
	return c.withVendorDefaults()
}

func burstFor(rate float64) int {
	b := int(rate)
	if float64(b) < rate {
		b++
	}
	return max(b, 1)
}

// Validate reports every problem of c (after defaults) at once, joined.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: "+format, args...))
	}
	if err := checkLoopback(c.Addr); err != nil {
		bad("addr: %v", err)
	}
	if c.MaxRecordedRequests < 0 {
		bad("maxRecordedRequests must not be negative, got %d", c.MaxRecordedRequests)
	}
	m := c.MiPush
	for _, r := range m.Regions {
		if !slices.Contains(Regions(), r) {
			bad("mipush: unknown region %q", r)
		}
	}
	if !c.hasApps() {
		bad("no apps configured for any vendor: configure at least one app")
	}
	ids, secrets := map[string]bool{}, map[string]bool{}
	for i, a := range m.Apps {
		if a.AppID == "" {
			bad("mipush: app %d has no appId", i)
		}
		if a.Secret == "" {
			bad("mipush: app %q has no secret", a.AppID)
		}
		if a.PackageName == "" {
			bad("mipush: app %q has no packageName", a.AppID)
		}
		if ids[a.AppID] {
			bad("mipush: duplicate appId %q", a.AppID)
		}
		if secrets[a.Secret.Reveal()] {
			bad("mipush: app %q shares its secret with another app", a.AppID)
		}
		ids[a.AppID], secrets[a.Secret.Reveal()] = true, true
		if a.QuotaPerSecond < 0 || a.QuotaBurst < 0 {
			bad("mipush: app %q has a negative quota", a.AppID)
		}
	}
	if m.QuotaPerSecond < 0 || m.QuotaBurst < 0 {
		bad("mipush: negative quota")
	}
	if m.MaxBodyBytes <= 0 {
		bad("mipush: maxBodyBytes must be positive")
	}
	errs = append(errs, c.vendorErrors()...)
	return errors.Join(errs...)
}

// String prints the configuration without secrets.
func (c Config) String() string {
	apps := make([]string, len(c.MiPush.Apps))
	for i, a := range c.MiPush.Apps {
		apps[i] = a.String()
	}
	return fmt.Sprintf("vendorsim.Config{Addr:%s Seed:%d MaxRecordedRequests:%d MiPush:{Regions:%v Apps:[%s] InvalidTokenPrefixes:%q InvalidTokens:%d QuotaPerSecond:%g QuotaBurst:%d MaxBodyBytes:%d}}",
		c.Addr, c.Seed, c.MaxRecordedRequests, c.MiPush.Regions, strings.Join(apps, " "),
		c.MiPush.InvalidTokenPrefixes, len(c.MiPush.InvalidTokens), c.MiPush.QuotaPerSecond,
		c.MiPush.QuotaBurst, c.MiPush.MaxBodyBytes)
}

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return c.String() }

// String prints the app without its secret.
func (a MiPushApp) String() string {
	return fmt.Sprintf("{appId=%s package=%s secret=%s quota=%g/%d}", a.AppID, a.PackageName, a.Secret, a.QuotaPerSecond, a.QuotaBurst)
}

func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("bad port %q", port)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q is not a loopback address", host)
	}
	return nil
}

// Duration is a time.Duration that reads from JSON as a Go duration string
// ("250ms", "2s") or a number of milliseconds, and writes as a string.
type Duration time.Duration

// MarshalJSON writes the duration as a string such as "250ms".
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads "250ms"-style strings or milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("reading duration: %w", err)
		}
		*d = Duration(v)
		return nil
	}
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return fmt.Errorf("reading duration: want a string like \"250ms\" or milliseconds: %w", err)
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}
