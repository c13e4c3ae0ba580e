package config

import (
	"fmt"
	"maps"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/receipts"
)

// ReceiptsConfig configures the receipts HTTP worker (vendor receipts and
// client events).
type ReceiptsConfig struct {
	// Addr is where `pushpipe receipts` listens by default. `pushpipe dev`
	// serves its regions on consecutive ports from it, in the order of
	// Regions (see ReceiptsAddr). Default 127.0.0.1:18100.
	Addr string `yaml:"addr"`
	// PublicURLs maps a region to the base URL the vendors reach its
	// receipts worker at (e.g. https://receipts-sg.example.com). MiPush,
	// OPPO and vivo calls then carry <url>/receipts/<vendor>?app=<appId>
	// as their receipt address. A region without one sends none: the
	// receipt address configured at the vendor is used, and it must end
	// in ?app=<appId> itself.
	PublicURLs map[string]string `yaml:"publicUrls"`
	// AllowedSources maps a receipt endpoint (hms, honor, harmonyos,
	// mipush, oppo, vivo, client) to the CIDRs it takes requests from
	// (e.g. the vendor's published callback addresses); an endpoint not
	// named takes them from anywhere. The peer of the TCP connection is
	// checked: behind a proxy, list the proxy.
	AllowedSources map[string][]string `yaml:"allowedSources"`
	// SignatureWindow is how far the timestamp of a Huawei or app SDK
	// signature may be from the worker's clock. Default 5m.
	SignatureWindow time.Duration `yaml:"signatureWindow"`
	// MaxEvents is the most events one receipt request may publish.
	// Default 5000.
	MaxEvents int `yaml:"maxEvents"`
}

// AppReceipts are the credentials one app's receipts are checked with.
// Secrets are never printed.
type AppReceipts struct {
	// Huawei holds, per vendor whose receipts Huawei signs (header
	// X-HUAWEI-CALLBACK-ID; channels.ReceiptFormat.SignedByHuawei), by
	// vendor name (the YAML section apps[].receipts.<name>), the callback
	// user name and key of the app's receipt configuration in AppGallery
	// Connect: hms for Huawei Push Kit, whose receipt address is
	// https://<receipts>/receipts/hms?app=<appId>, and harmonyos for
	// HarmonyOS Push Kit (/receipts/harmonyos?app=<appId>).
	Huawei map[string]*receipts.HuaweiCallback `yaml:"-" json:"huawei"`
	// HonorToken is a secret of at least 16 characters the app's Honor
	// receipt address carries:
	// https://<receipts>/receipts/honor?app=<appId>&token=<honorToken>.
	HonorToken channels.Secret `yaml:"honorToken"`
	// ClientKey is the key (at least 16 characters) the app SDK signs its
	// client events with (POST /receipts/client?app=<appId>, headers
	// X-Pushpipe-Timestamp and X-Pushpipe-Signature; see the README).
	ClientKey channels.Secret `yaml:"clientKey"`
}

// receiptSections is the YAML form of AppReceipts: its fields with one
// callback section per vendor whose receipts Huawei signs.
var receiptSections = sync.OnceValue(func() *sectioned {
	var secs []section
	for _, v := range registry.Vendors() {
		if v.Receipts.SignedByHuawei() {
			secs = append(secs, section{key: v.Name, typ: reflect.TypeFor[receipts.HuaweiCallback]()})
		}
	}
	return newSectioned(reflect.TypeFor[AppReceipts](), "", secs)
})

// UnmarshalYAML decodes an app's receipt credentials, the Huawei callback
// sections into Huawei; an unknown key is an error.
func (r *AppReceipts) UnmarshalYAML(unmarshal func(any) error) error {
	secs, err := receiptSections().decode(unmarshal, r)
	if err != nil {
		return err
	}
	r.Huawei = map[string]*receipts.HuaweiCallback{}
	for name, cb := range secs {
		r.Huawei[name] = cb.(*receipts.HuaweiCallback)
	}
	return nil
}

// MarshalYAML encodes the app's receipt credentials (secrets redacted).
func (r AppReceipts) MarshalYAML() (any, error) {
	secs := map[string]any{}
	for name, cb := range r.Huawei {
		secs[name] = cb
	}
	return receiptSections().encode(r, secs), nil
}

// minReceiptSecret is the shortest Honor token or client key taken.
const minReceiptSecret = 16

// validateReceipts checks the receipts section and the apps' receipt
// credentials.
func (c *Config) validateReceipts() error {
	r := c.Receipts
	for _, region := range slices.Sorted(maps.Keys(r.PublicURLs)) {
		u, err := url.Parse(r.PublicURLs[region])
		switch {
		case !schema.ValidRegion(region):
			return fmt.Errorf("receipts.publicUrls: %q is not a region", region)
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "":
			return fmt.Errorf("receipts.publicUrls.%s %q must be an http(s) base URL without a query, e.g. https://receipts-%s.example.com", region, r.PublicURLs[region], region)
		}
	}
	if _, err := r.sources(); err != nil {
		return err
	}
	if r.SignatureWindow < 0 || r.MaxEvents < 0 {
		return fmt.Errorf("receipts.signatureWindow %s and receipts.maxEvents %d must not be negative (0 means the default)", r.SignatureWindow, r.MaxEvents)
	}
	for i, a := range c.Apps {
		if a.Receipts == nil {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("apps[%d] (%s).receipts."+format, append([]any{i, a.AppID}, args...)...)
		}
		for _, v := range registry.Vendors() {
			if cb := a.Receipts.Huawei[v.Name]; v.Receipts.SignedByHuawei() && cb != nil && (cb.User == "" || cb.Key == "") {
				return bad("%s needs user and key: the callback user name and key of the app's receipt configuration in AppGallery Connect", v.Name)
			}
		}
		if t := a.Receipts.HonorToken; t != "" && len(t) < minReceiptSecret {
			return bad("honorToken is shorter than %d characters: use a random one", minReceiptSecret)
		}
		if k := a.Receipts.ClientKey; k != "" && len(k) < minReceiptSecret {
			return bad("clientKey is shorter than %d characters: use a random one", minReceiptSecret)
		}
	}
	return nil
}

// sources parses AllowedSources.
func (r ReceiptsConfig) sources() (map[string][]netip.Prefix, error) {
	out := map[string][]netip.Prefix{}
	for _, name := range slices.Sorted(maps.Keys(r.AllowedSources)) {
		if !slices.Contains(receipts.Endpoints(), name) {
			return nil, fmt.Errorf("receipts.allowedSources: %q is not a receipt endpoint: use one of %s", name, strings.Join(receipts.Endpoints(), ", "))
		}
		for _, s := range r.AllowedSources[name] {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return nil, fmt.Errorf("receipts.allowedSources.%s: %q is not a CIDR such as 203.0.113.0/24 or an address", name, s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			out[name] = append(out[name], p.Masked())
		}
	}
	return out, nil
}

// ReceiptsWorker returns the receipts worker settings the configuration
// gives: the id key, each app's credentials, the allowed sources, the
// signature window and the event cap. It assumes Validate passed (an
// unreadable secret file is still an error).
func (c *Config) ReceiptsWorker() (receipts.Config, error) {
	k, err := c.IDKey()
	if err != nil {
		return receipts.Config{}, err
	}
	src, err := c.Receipts.sources()
	if err != nil {
		return receipts.Config{}, err
	}
	apps := map[string]receipts.AppCredentials{}
	for _, a := range c.Apps {
		if a.Receipts == nil {
			continue
		}
		cr := receipts.AppCredentials{Huawei: map[string]receipts.HuaweiCallback{}}
		for name, cb := range a.Receipts.Huawei {
			if cb != nil {
				cr.Huawei[name] = *cb
			}
		}
		cr.HonorToken, cr.ClientKey = a.Receipts.HonorToken, a.Receipts.ClientKey
		apps[a.AppID] = cr
	}
	return receipts.Config{IDKey: k, Apps: apps, AllowedSources: src, SignatureWindow: c.Receipts.SignatureWindow,
		MaxEvents: c.Receipts.MaxEvents}, nil
}

// ReceiptCallbackURL is the receipt address the channels of vendor send in
// region (its app added by the channel): <publicUrl>/receipts/<vendor>,
// or "" when the region has no public URL.
func (c *Config) ReceiptCallbackURL(vendor, region string) string {
	base := strings.TrimRight(c.Receipts.PublicURLs[region], "/")
	if base == "" {
		return ""
	}
	return base + "/receipts/" + vendor
}
