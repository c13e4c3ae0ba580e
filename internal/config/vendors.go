package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/channels/sms"
	"github.com/pushpipe/pushpipe/schema"
)

// VendorEndpoint is where one vendor's API is, per region (YAML
// vendors.<vendor>). Empty maps mean the vendor's own production hosts
// (each channel package knows them); AuthURLs is for vendors whose token
// endpoint is a separate host (FCM's token_uri, Huawei and Honor OAuth),
// and only those with channels.Vendor.AuthURLs take it.
type VendorEndpoint struct {
	BaseURLs map[string]string `yaml:"baseUrls"`
	AuthURLs map[string]string `yaml:"authUrls"`
	Timeout  time.Duration     `yaml:"timeout"`
}

// BaseEndpoint is the section vendors.<vendor> of a vendor without a
// token host of its own (MiPush): a VendorEndpoint without authUrls.
type BaseEndpoint struct {
	BaseURLs map[string]string `yaml:"baseUrls"`
	Timeout  time.Duration     `yaml:"timeout"`
}

// VendorNames lists every vendor channel, in the registry's order
// (channels/registry).
func VendorNames() []string { return registry.Names() }

// appSections is the YAML form of AppConfig: its fields with one
// credentials section per vendor after workspaceId.
var appSections = sync.OnceValue(func() *sectioned {
	var secs []section
	for _, v := range registry.Vendors() {
		secs = append(secs, section{key: v.Name, typ: reflect.TypeOf(v.NewApp()).Elem()})
	}
	return newSectioned(reflect.TypeFor[AppConfig](), "workspaceId", secs)
})

// UnmarshalYAML decodes an app with its credentials sections
// apps[].<vendor> into Credentials; an unknown key is an error.
func (a *AppConfig) UnmarshalYAML(unmarshal func(any) error) error {
	creds, err := appSections().decode(unmarshal, a)
	if err != nil {
		return err
	}
	a.Credentials = creds
	return nil
}

// MarshalYAML encodes the app with its credentials sections (secrets
// redacted, as channels.Secret always is).
func (a AppConfig) MarshalYAML() (any, error) {
	return appSections().encode(a, a.Credentials), nil
}

// AppCredentials returns the app's credentials of the vendor whose App
// type is A (AppCredentials[mipush.App](a)), or nil when it has none. The
// result is the entry of a.Credentials itself: changing it changes a.
func AppCredentials[A any](a *AppConfig) *A {
	for _, c := range a.Credentials {
		if p, ok := c.(*A); ok {
			return p
		}
	}
	return nil
}

// SetCredentials sets the app's credentials of the vendor named vendor:
// app is a pointer to the vendor's App.
func (a *AppConfig) SetCredentials(vendor string, app any) {
	if a.Credentials == nil {
		a.Credentials = map[string]any{}
	}
	a.Credentials[vendor] = app
}

// vendorSections is the YAML form of VendorsConfig: its fields with one
// endpoint section per vendor of the registry that has no field of its
// own (every vendor but SMS), first.
var vendorSections = sync.OnceValue(func() *sectioned {
	own := map[string]bool{}
	t := reflect.TypeFor[VendorsConfig]()
	for i := range t.NumField() {
		own[yamlKey(t.Field(i))] = true
	}
	var secs []section
	for _, v := range registry.Vendors() {
		switch {
		case own[v.Name]:
		case v.AuthURLs:
			secs = append(secs, section{key: v.Name, typ: reflect.TypeFor[VendorEndpoint]()})
		default:
			secs = append(secs, section{key: v.Name, typ: reflect.TypeFor[BaseEndpoint]()})
		}
	}
	return newSectioned(t, "", secs)
})

// UnmarshalYAML decodes the vendors section, each vendor's endpoints
// vendors.<vendor> into Endpoints; an unknown key is an error.
func (v *VendorsConfig) UnmarshalYAML(unmarshal func(any) error) error {
	secs, err := vendorSections().decode(unmarshal, v)
	if err != nil {
		return err
	}
	v.Endpoints = map[string]VendorEndpoint{}
	for name, s := range secs {
		switch e := s.(type) {
		case *VendorEndpoint:
			v.Endpoints[name] = *e
		case *BaseEndpoint:
			v.Endpoints[name] = VendorEndpoint{BaseURLs: e.BaseURLs, Timeout: e.Timeout}
		}
	}
	return nil
}

// MarshalYAML encodes the vendors section with each vendor's endpoints.
func (v VendorsConfig) MarshalYAML() (any, error) {
	secs := map[string]any{}
	for name, e := range v.Endpoints {
		secs[name] = &e
		if d, _ := registry.Lookup(name); !d.AuthURLs {
			secs[name] = &BaseEndpoint{BaseURLs: e.BaseURLs, Timeout: e.Timeout}
		}
	}
	return vendorSections().encode(v, secs), nil
}

// defaults fills the base URLs of the vendors with one host per region
// (channels.Vendor.RegionBaseURL) that the configuration leaves unset.
func (v *VendorsConfig) defaults() {
	if v.Endpoints == nil {
		v.Endpoints = map[string]VendorEndpoint{}
	}
	for _, d := range registry.Vendors() {
		if d.RegionBaseURL == nil {
			continue
		}
		e := v.Endpoints[d.Name]
		if e.BaseURLs == nil {
			e.BaseURLs = map[string]string{}
		}
		for _, r := range schema.Regions() {
			if host, ok := d.RegionBaseURL(r); ok && e.BaseURLs[r] == "" {
				e.BaseURLs[r] = host
			}
		}
		v.Endpoints[d.Name] = e
	}
}

// validateEndpoints checks that every vendor with one host per region
// (channels.Vendor.RegionBaseURL) has a URL for every served region,
// unless the simulator serves them all.
func (c *Config) validateEndpoints() error {
	if c.Vendors.Simulator {
		return nil
	}
	for _, d := range registry.Vendors() {
		if d.RegionBaseURL == nil {
			continue
		}
		for _, r := range c.Regions {
			if c.Vendors.Endpoints[d.Name].BaseURLs[r] == "" {
				return fmt.Errorf("vendors.%s.baseUrls has no URL for region %q (or set vendors.simulator: true)", d.Name, r)
			}
		}
	}
	return nil
}

// endpoint returns the configured endpoints of a vendor: its section
// vendors.<vendor> (SMS's base URLs and timeout for SMS).
func (v *VendorsConfig) endpoint(vendor string) VendorEndpoint {
	if vendor == sms.Name {
		return VendorEndpoint{BaseURLs: v.SMS.BaseURLs, Timeout: v.SMS.Timeout}
	}
	return v.Endpoints[vendor]
}

// VendorApps returns the app's credentials per vendor name: the sections
// apps[].<vendor> that are set (a pointer to the vendor's App).
func (a *AppConfig) VendorApps() map[string]any {
	out := make(map[string]any, len(a.Credentials))
	for name, app := range a.Credentials {
		if app != nil {
			out[name] = app
		}
	}
	return out
}

// VendorBaseURL is the base URL of a vendor's API in a region: the
// simulator's per-region prefix when Vendors.Simulator is set (APNs and
// FCM, the vendors of channels.Vendor.SimulatorTLS, on the simulator's TLS
// address), else the configured URL, else "" (the
// channel's production default).
func (c *Config) VendorBaseURL(vendor, region string) string {
	if c.Vendors.Simulator {
		if v, _ := registry.Lookup(vendor); v.SimulatorTLS {
			return "https://" + c.Vendors.SimulatorTLSAddr + "/" + vendor + "/" + region
		}
		return "http://" + c.Vendors.SimulatorAddr + "/" + vendor + "/" + region
	}
	return c.Vendors.endpoint(vendor).BaseURLs[region]
}

// VendorAuthURL is the token endpoint of a vendor in a region, or "" for
// the vendor's default. On the simulator it is the vendor's base URL
// followed by its Vendor.AuthPath (FCM's token URI is <base>/token,
// Honor's token URL <base>/auth/token; Huawei serves OAuth under its base
// URL).
func (c *Config) VendorAuthURL(vendor, region string) string {
	if c.Vendors.Simulator {
		v, _ := registry.Lookup(vendor)
		return c.VendorBaseURL(vendor, region) + v.AuthPath
	}
	return c.Vendors.endpoint(vendor).AuthURLs[region]
}

// VendorTimeout is the HTTP timeout of a vendor (0: the channel default).
func (c *Config) VendorTimeout(vendor string) time.Duration {
	return c.Vendors.endpoint(vendor).Timeout
}

// validateVendorApps checks that each app's vendor sections are complete
// (each vendor's Vendor.CheckApp, in the registry's order).
func (a AppConfig) validateVendorApps(i int) error {
	apps := a.VendorApps()
	for _, v := range registry.Vendors() {
		app, ok := apps[v.Name]
		if !ok {
			continue
		}
		var needs *channels.NeedsError
		switch err := v.CheckApp(app); {
		case errors.As(err, &needs):
			return fmt.Errorf("apps[%d] (%s).%s %w", i, a.AppID, v.Name, err)
		case err != nil:
			return fmt.Errorf("apps[%d] (%s).%s: %w", i, a.AppID, v.Name, err)
		}
	}
	return nil
}

// SMSVendor is Alibaba Cloud SMS, the channel of the SMS supplement
// (YAML vendors.sms). Every field is optional: cn, sg and eu default to
// Alibaba Cloud's endpoints in the region; ru and in have none, so an app
// with SMS credentials needs baseUrls and regionIds there.
type SMSVendor struct {
	// BaseURLs and RegionIDs are the SendSms endpoint and the Alibaba
	// Cloud region id of each pushpipe region.
	BaseURLs  map[string]string `yaml:"baseUrls"`
	RegionIDs map[string]string `yaml:"regionIds"`
	Timeout   time.Duration     `yaml:"timeout"`
	// NumbersPerCall is how many phone numbers one SendSms call carries,
	// 1..1000 (default 1: each SMS alone, with its delivery id as OutId).
	NumbersPerCall int `yaml:"numbersPerCall"`
}

// validateSMS checks that every served region can send the SMS of the
// apps that have SMS credentials: an endpoint and a region id of its own
// (cn, sg and eu have defaults), and a valid numbersPerCall.
func (c *Config) validateSMS() error {
	s := c.Vendors.SMS
	if s.NumbersPerCall < 0 || s.NumbersPerCall > sms.MaxNumbersPerCall {
		return fmt.Errorf("vendors.sms.numbersPerCall must be within 1..%d (0: the default 1), got %d", sms.MaxNumbersPerCall, s.NumbersPerCall)
	}
	if s.Timeout < 0 {
		return fmt.Errorf("vendors.sms.timeout must not be negative, got %s", s.Timeout)
	}
	used := false
	for _, a := range c.Apps {
		used = used || a.Credentials[sms.Name] != nil
	}
	if !used || c.Vendors.Simulator {
		return nil
	}
	for _, r := range c.Regions {
		if _, _, known := sms.RegionEndpoint(r); !known && (s.BaseURLs[r] == "" || s.RegionIDs[r] == "") {
			return fmt.Errorf("vendors.sms: region %s has no Alibaba Cloud SMS endpoint of its own: set vendors.sms.baseUrls.%s and vendors.sms.regionIds.%s to the endpoint its users' numbers may be sent to", r, r, r)
		}
	}
	return nil
}

// Demo rates of the receipts the simulator posts (SimulatorReceipts).
const (
	DefaultSimulatorArrivalRate = 0.9
	DefaultSimulatorOpenRate    = 0.3
	DefaultSimulatorIgnoreRate  = 0.5
)

// SimulatorReceipts configures the delivery receipts and app events the
// vendor simulator posts back to pushpipe's receipts workers, as the
// vendors and the app SDK would (YAML vendors.simulatorReceipts). Every
// field is optional.
type SimulatorReceipts struct {
	// Enabled switches the receipts off when false; default on.
	Enabled *bool `yaml:"enabled"`
	// URLs maps a region to the base URL of its receipts worker. Default,
	// when vendors.simulator is true: the addresses `pushpipe dev` gives
	// its receipts workers (receipts.addr, its port plus i for the i-th
	// region); none for port 0, whose address is known only once the
	// worker listens.
	URLs map[string]string `yaml:"urls"`
	// ArrivalRate is the fraction of accepted messages that arrive,
	// 0..1; default DefaultSimulatorArrivalRate.
	ArrivalRate *float64 `yaml:"arrivalRate"`
	// OpenRate is the fraction of arrivals opened, 0..1; default
	// DefaultSimulatorOpenRate.
	OpenRate *float64 `yaml:"openRate"`
	// IgnoreRate is the fraction of the arrivals not opened that are
	// ignored, 0..1; default DefaultSimulatorIgnoreRate.
	IgnoreRate *float64 `yaml:"ignoreRate"`
	// Delay is the time between a message's acceptance and its receipts;
	// 0 means the simulator's default (100ms).
	Delay time.Duration `yaml:"delay"`
}

// Rates returns the arrival, open and ignore rates, defaults applied.
func (s SimulatorReceipts) Rates() (arrival, open, ignore float64) {
	get := func(v *float64, def float64) float64 {
		if v == nil {
			return def
		}
		return *v
	}
	return get(s.ArrivalRate, DefaultSimulatorArrivalRate), get(s.OpenRate, DefaultSimulatorOpenRate),
		get(s.IgnoreRate, DefaultSimulatorIgnoreRate)
}

// validate reports the first setting of s that cannot work.
func (s SimulatorReceipts) validate() error {
	arrival, open, ignore := s.Rates()
	for _, r := range []struct {
		name string
		v    float64
	}{{"arrivalRate", arrival}, {"openRate", open}, {"ignoreRate", ignore}} {
		if !(r.v >= 0 && r.v <= 1) {
			return fmt.Errorf("vendors.simulatorReceipts.%s must be a fraction within 0..1, got %g", r.name, r.v)
		}
	}
	if s.Delay < 0 {
		return fmt.Errorf("vendors.simulatorReceipts.delay must not be negative, got %s", s.Delay)
	}
	for _, region := range slices.Sorted(maps.Keys(s.URLs)) {
		if !schema.ValidRegion(region) {
			return fmt.Errorf("vendors.simulatorReceipts.urls: %q is not a region; use one of %v", region, schema.Regions())
		}
		u, err := url.Parse(s.URLs[region])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("vendors.simulatorReceipts.urls.%s: want the receipts worker's base URL, such as http://127.0.0.1:18100, got %q", region, s.URLs[region])
		}
	}
	return nil
}

// SimulatorReceiptURLs is where the vendor simulator posts the receipts of
// each region: nil when Vendors.SimulatorReceipts.Enabled is false, else
// its URLs when set, else (with Vendors.Simulator) the receipts worker
// addresses of `pushpipe dev` (ReceiptsAddr), skipping port 0; an
// unspecified host (":18100", "0.0.0.0") is reached on 127.0.0.1.
func (c *Config) SimulatorReceiptURLs() map[string]string {
	r := c.Vendors.SimulatorReceipts
	switch {
	case r.Enabled != nil && !*r.Enabled:
		return nil
	case len(r.URLs) > 0:
		return maps.Clone(r.URLs)
	case !c.Vendors.Simulator:
		return nil
	}
	urls := map[string]string{}
	for i, region := range c.Regions {
		host, port, err := net.SplitHostPort(c.ReceiptsAddr(i))
		if err != nil || port == "0" {
			continue
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "127.0.0.1"
		}
		urls[region] = "http://" + net.JoinHostPort(host, port)
	}
	return urls
}
