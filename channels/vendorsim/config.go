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

	"github.com/pushpipe/pushpipe/schema"
)

// Regions are the pushpipe regions the simulator serves by default.
func Regions() []string { return schema.Regions() }

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultAddr                = "127.0.0.1:0"
	DefaultMaxRecordedRequests = 100_000
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
	// Each vendor's section (config_<vendor>.go); a vendor without apps
	// is not served.
	MiPush MiPushConfig `json:"mipush" yaml:"mipush"`
	APNs   APNsConfig   `json:"apns" yaml:"apns"`
	FCM    FCMConfig    `json:"fcm" yaml:"fcm"`
	HMS    HMSConfig    `json:"hms" yaml:"hms"`
	Honor  HonorConfig  `json:"honor" yaml:"honor"`
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
	return c.withVendorDefaults()
}

// defaultQuota is a section's default quota: rate, or def when it is 0,
// and burst, or the rate rounded up when it is 0.
func defaultQuota(rate float64, burst int, def float64) (float64, int) {
	if rate == 0 {
		rate = def
	}
	if burst == 0 {
		burst = burstFor(rate)
	}
	return rate, burst
}

// burstFor is the bucket size of a rate: the rate rounded up, at least 1.
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
	if !c.hasApps() {
		bad("no apps configured for any vendor: configure at least one app")
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

// defaultRegions is regions, or every region when it is empty.
func defaultRegions(regions []string) []string {
	if len(regions) == 0 {
		return Regions()
	}
	return slices.Clone(regions)
}

// defaultPrefixes is prefixes, or the one DefaultInvalidTokenPrefix when
// it is nil (an empty list keeps every token valid).
func defaultPrefixes(prefixes []string) []string {
	if prefixes == nil {
		return []string{DefaultInvalidTokenPrefix}
	}
	return slices.Clone(prefixes)
}

// configProblems collects the problems of one vendor's section, each
// prefixed "vendorsim config: <vendor>: ".
type configProblems struct {
	vendor string
	errs   []error
}

func (p *configProblems) bad(format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("vendorsim config: "+p.vendor+": "+format, args...))
}

// regions reports the regions that are not pushpipe's.
func (p *configProblems) regions(regions []string) {
	for _, r := range regions {
		if !slices.Contains(Regions(), r) {
			p.bad("unknown region %q", r)
		}
	}
}

// quota reports a negative default quota of the section.
func (p *configProblems) quota(perSecond float64, burst int) {
	if perSecond < 0 || burst < 0 {
		p.bad("negative quota")
	}
}

// appQuota reports a negative quota of the app appID.
func (p *configProblems) appQuota(appID string, rate float64, burst int) {
	if rate < 0 || burst < 0 {
		p.bad("app %q has a negative quota", appID)
	}
}

// appID reports the i-th app's missing or duplicate appId (ids holds
// those seen so far; the caller adds it).
func (p *configProblems) appID(i int, appID string, ids map[string]bool) {
	switch {
	case appID == "":
		p.bad("app %d has no appId", i)
	case ids[appID]:
		p.bad("duplicate appId %q", appID)
	}
}

// maxBody reports a maxBodyBytes that is not positive.
func (p *configProblems) maxBody(n int64) {
	if n <= 0 {
		p.bad("maxBodyBytes must be positive")
	}
}

// appIDsOf returns the AppID of each app.
func appIDsOf[A any](apps []A, id func(A) string) []string {
	ids := make([]string, len(apps))
	for i, a := range apps {
		ids[i] = id(a)
	}
	return ids
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
