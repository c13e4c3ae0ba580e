package channels

import (
	"fmt"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// Vendor describes one channel package to the rest of pushpipe: every
// fact that configuration, app wiring, the sender's guards, fanout's
// content limits, the receipts worker and the gateway need about it. Each
// channel package exports one (its Vendor function) and channels/registry
// lists them. A Vendor is a plain value, safe to copy and to share between
// goroutines; its functions are pure or build a new channel.
type Vendor struct {
	// Name is the channel's name as deliveries, events, metrics and the
	// configuration keys (apps[].<Name>, vendors.<Name>) spell it.
	Name string
	// NewApp returns a pointer to an empty app credentials section of the
	// vendor (what apps[].<Name> decodes into), such as *mipush.App.
	NewApp func() any
	// CheckApp returns nil when app (the vendor's App, by value or
	// pointer) is complete, else an error saying what it needs, such as
	// "needs appKey and masterSecret".
	CheckApp func(app any) error
	// Build returns the vendor's channel of one region serving s.Apps. An
	// error names what to fix.
	Build func(s Setup) (Channel, error)
	// ContentLimit is what the vendor accepts of a notification (mPaaS
	// guide §8), which fanout checks before planning a delivery.
	ContentLimit schema.ContentLimit
	// ThrottleCodes are the codes of whole-call errors (VendorError.Code)
	// that mean "you are sending too fast" rather than "the endpoint is
	// unwell"; the circuit breaker leaves them out of its counts.
	ThrottleCodes []int
	// DeadToken reports whether a failed receipt status code of the vendor
	// says the device token is dead (nil: none does).
	DeadToken func(code int64) bool
	// Receipts is the receipt format the vendor posts to the receipts
	// worker (/receipts/<Name>); ReceiptsNone when it posts none.
	Receipts ReceiptFormat
	// Recall reports whether the vendor has a recall API (the channel
	// implements Recaller).
	Recall bool
	// DefaultRate is the per-app send rate the vendor documents, applied
	// when the configuration sets none; nil when it documents none.
	DefaultRate *Quota
	// MPaaSChannel is the name mPaaS gives the channel in statistics
	// queries ("MIUI", "IOS", ...), "" when it has none.
	MPaaSChannel string
	// ThirdChannel is the mPaaS thirdChannel number of the vendor in a
	// client report (2 Apple, 4 Xiaomi, ...), 0 when it has none.
	ThirdChannel int
	// AuthPath is where the vendor simulator serves the vendor's token
	// endpoint, below the vendor's simulated base URL ("" : the base URL
	// itself).
	AuthPath string
	// SimulatorTLS is set for a vendor the simulator serves on its TLS
	// (HTTP/2) address (APNs, FCM): its base URL and token endpoint on
	// the simulator are https, and its channel trusts
	// Setup.SimulatorCAFile.
	SimulatorTLS bool
	// RegionBaseURL returns the vendor's API host of a pushpipe region and
	// whether the region has one, for a vendor that has one host per
	// region and no global default (MiPush); nil when the channel knows
	// its production hosts itself. The configuration fills
	// vendors.<Name>.baseUrls from it and requires a URL for every served
	// region unless the vendor simulator is used.
	RegionBaseURL func(region string) (string, bool)
	// AuthURLs is set when the configuration's section vendors.<Name>
	// takes authUrls, the token endpoint per region (Setup.AuthURL).
	AuthURLs bool
	// Demo is a device of the vendor for `pushpipe dev`'s demo data
	// (device demo-<Name>); nil for SMS, which has no devices, and for
	// MiPush, the demo app's own vendor, whose demo devices are
	// demo-device-1..3 (the ones configs/examples address).
	Demo *DemoDevice
}

// DemoDevice is a made-up device of one vendor, which the vendor
// simulator accepts.
type DemoDevice struct {
	// Platform is the device's platform (schema.PlatformAndroid, ...).
	Platform string
	// Model is the device model the console shows.
	Model string
	// Token is a token of the vendor's form: the device's vendor token,
	// or its self-built channel token when SelfToken is set.
	Token     string
	SelfToken bool
}

// Quota is a documented send rate: Rate units per second, where Unit is
// "calls" (vendor calls) or "messages" (tokens), and Source names the
// document that states it.
type Quota struct {
	Rate   float64
	Unit   string
	Source string
}

// Units of Quota.
const (
	QuotaCalls    = "calls"
	QuotaMessages = "messages"
)

// ReceiptFormat names how a vendor's delivery receipts are authenticated
// and read by the receipts worker.
type ReceiptFormat uint8

// Receipt formats.
const (
	// ReceiptsNone: the vendor posts no receipts.
	ReceiptsNone ReceiptFormat = iota
	// ReceiptsHuawei: Huawei's status list, authenticated by the
	// X-HUAWEI-CALLBACK-ID header (Push Kit).
	ReceiptsHuawei
	// ReceiptsHarmony: Huawei's status list in the HarmonyOS Push Kit
	// form, authenticated as ReceiptsHuawei.
	ReceiptsHarmony
	// ReceiptsHonor: Huawei's status list, authenticated by a token in the
	// receipt address.
	ReceiptsHonor
	// ReceiptsMiPush, ReceiptsOPPO, ReceiptsVivo: the vendor's own body,
	// authenticated by the tagged callback parameter it echoes.
	ReceiptsMiPush
	ReceiptsOPPO
	ReceiptsVivo
)

// SignedByHuawei reports whether receipts of the format are authenticated
// by Huawei's X-HUAWEI-CALLBACK-ID header, which needs the callback user
// name and key of each app (ReceiptsHuawei, ReceiptsHarmony).
func (f ReceiptFormat) SignedByHuawei() bool {
	return f == ReceiptsHuawei || f == ReceiptsHarmony
}

// Setup is what Vendor.Build gets: the region, the vendor's endpoints in
// it (empty: the vendor's production default) and the apps with
// credentials for it.
type Setup struct {
	Region  string
	BaseURL string
	// AuthURL is the token endpoint, for vendors whose OAuth is a host of
	// its own ("" : the vendor's default).
	AuthURL string
	// Timeout is the HTTP timeout of a call (0: the channel's default).
	Timeout time.Duration
	// Apps maps an app id to its credentials: the vendor's App, by value
	// or pointer.
	Apps map[string]any
	// ReceiptSigner and CallbackURL are given to vendors that echo a
	// tagged callback parameter in their receipts (MiPush, OPPO, vivo).
	ReceiptSigner ReceiptSigner
	CallbackURL   string
	// Simulator is set when the endpoints are the vendor simulator's;
	// SimulatorCAFile is then its CA certificate (the vendors of
	// Vendor.SimulatorTLS).
	Simulator       bool
	SimulatorCAFile string
	// RegionID and NumbersPerCall configure the SMS channel (vendors.sms).
	RegionID       string
	NumbersPerCall int
}

// Describe returns the Vendor named name whose credentials section is an
// A: NewApp returns a *A, CheckApp runs check on an A (given by value or
// pointer; another type is refused), and Build gives build the apps of
// Setup as A (credentials of another type are an error naming the app)
// and returns its channel, or a nil Channel with its error. The caller
// sets the other fields.
func Describe[A any, C Channel](name string, check func(A) error, build func(Setup, map[string]A) (C, error)) Vendor {
	return Vendor{
		Name:   name,
		NewApp: func() any { return new(A) },
		CheckApp: func(app any) error {
			a, ok := AppAs[A](app)
			if !ok {
				return fmt.Errorf("%s credentials of type %T", name, app)
			}
			return check(a)
		},
		Build: func(s Setup) (Channel, error) {
			apps, err := SetupApps[A](name, s.Apps)
			if err != nil {
				return nil, err
			}
			ch, err := build(s, apps)
			if err != nil {
				return nil, err
			}
			return ch, nil
		},
	}
}

// Require returns Needs(what) when any of values is empty, else nil: the
// usual CheckApp of a credentials section.
func Require(what string, values ...string) error {
	for _, v := range values {
		if v == "" {
			return Needs(what)
		}
	}
	return nil
}

// SetupApps returns s.Apps as the vendor's App type A, or an error naming
// the app whose credentials are of another type.
func SetupApps[A any](vendor string, apps map[string]any) (map[string]A, error) {
	out := make(map[string]A, len(apps))
	for id, a := range apps {
		switch v := a.(type) {
		case A:
			out[id] = v
		case *A:
			out[id] = *v
		default:
			return nil, fmt.Errorf("app %s: %s credentials of type %T", id, vendor, a)
		}
	}
	return out, nil
}

// AppAs returns app (A by value or pointer) as A; ok is false for another
// type.
func AppAs[A any](app any) (A, bool) {
	switch v := app.(type) {
	case A:
		return v, true
	case *A:
		if v != nil {
			return *v, true
		}
	}
	var zero A
	return zero, false
}

// NeedsError is the error of Vendor.CheckApp for an app section that lacks
// credentials: What lists the fields to set ("appKey and masterSecret").
type NeedsError struct{ What string }

func (e *NeedsError) Error() string { return "needs " + e.What }

// Needs returns a *NeedsError naming what an app section must set.
func Needs(what string) error { return &NeedsError{What: what} }
