package mipush

import (
	"fmt"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
)

// Limits of the MiPush v3 API, from Xiaomi's server API documentation and
// product guide: a notification title shorter than 50 characters, a
// description shorter than 128 characters (a Chinese or Latin character
// counts 1), a payload of at most 4 KB, 1000 regIds a call, a validity of at
// most 14 days, a receipt parameter of at most 64 bytes.
const (
	MaxTitleRunes       = 50
	MaxDescriptionRunes = 128
	MaxPayloadBytes     = 4096
	MaxRegIDsPerCall    = 1000
	MaxTimeToLive       = 14 * 24 * time.Hour
	MaxCallbackParam    = 64
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultTimeout            = 5 * time.Second
	DefaultMaxConcurrentCalls = 4
	DefaultNotifyType         = -1 // DEFAULT_ALL: sound, vibration and lights
	// DefaultCallbackType asks for receipts of arrival (1), click (2) and
	// invalid target (16).
	DefaultCallbackType = 19
)

// RegionBaseURL returns the MiPush API host of a pushpipe region (cn, ru,
// in, eu, sg), as Xiaomi's privacy upgrade assigns them, and whether the
// region is known.
func RegionBaseURL(region string) (string, bool) {
	switch region {
	case "cn":
		return "https://api.xmpush.xiaomi.com", true
	case "ru":
		return "https://ru-api.xmpush.global.xiaomi.com", true
	case "in":
		return "https://idmb-api.xmpush.global.xiaomi.com", true
	case "eu":
		return "https://fr-api.xmpush.global.xiaomi.com", true
	case "sg":
		return "https://sgp-api.xmpush.global.xiaomi.com", true
	}
	return "", false
}

// App is the MiPush credentials of one pushpipe app.
type App struct {
	// AppSecret is sent as "Authorization: key=<AppSecret>".
	AppSecret channels.Secret `json:"appSecret" yaml:"appSecret"`
	// PackageName is the app's main package, sent as
	// restricted_package_name.
	PackageName string `json:"packageName" yaml:"packageName"`
}

// String prints the app without its secret.
func (a App) String() string {
	return fmt.Sprintf("{package=%s secret=%s}", a.PackageName, a.AppSecret)
}

// Limits are the content limits checked before a message is sent. Messages
// over a limit get a Permanent result and are not sent.
type Limits struct {
	MaxTitleRunes       int `json:"maxTitleRunes" yaml:"maxTitleRunes"`             // characters of the title
	MaxDescriptionRunes int `json:"maxDescriptionRunes" yaml:"maxDescriptionRunes"` // characters of the description
	MaxPayloadBytes     int `json:"maxPayloadBytes" yaml:"maxPayloadBytes"`         // bytes of the payload
}

// Config configures one MiPush channel, which serves one region. Printing
// a Config (String, %v, %+v, %#v, JSON) never shows secrets.
type Config struct {
	// Endpoint holds the region, which selects the default BaseURL, the
	// MiPush host (BaseURL: e.g. the simulator's
	// "http://127.0.0.1:PORT/mipush/sg"; the client appends
	// "/v3/message/regid"), the apps' MiPush credentials, the timeout of one
	// HTTP call (connect to last response byte) and MaxBatch, 1..1000.
	Endpoint `yaml:",inline"`
	// MaxConcurrentCalls bounds the vendor calls one Send makes at once
	// when its messages need more than one call (different contents).
	MaxConcurrentCalls int `json:"maxConcurrentCalls" yaml:"maxConcurrentCalls"`
	// NotifyType is the notify_type sent when a message has no
	// channels.ExtraNotifyType.
	NotifyType int `json:"notifyType" yaml:"notifyType"`
	// CallbackURL, if set, is sent as extra.callback: the receipt endpoint
	// MiPush posts delivery receipts to (with ?app=<appId> added).
	CallbackURL string `json:"callbackUrl" yaml:"callbackUrl"`
	// CallbackType is extra.callback.type, sent with CallbackURL.
	CallbackType int `json:"callbackType" yaml:"callbackType"`
	// ReceiptSigner, if set, tags extra.callback.param (see
	// CallbackParam), which receipts worker requires; CallbackURL is
	// sent with the call's app in its query (channels.AppReceiptURL).
	ReceiptSigner channels.ReceiptSigner `json:"-" yaml:"-"`
	// Limits are the content limits; zero fields take MiPush's limits.
	Limits Limits `json:"limits" yaml:"limits"`
}

// Endpoint is the configuration MiPush shares with the other HTTP vendors
// (see httpvendor.Endpoint), with MiPush credentials.
type Endpoint = httpvendor.Endpoint[App]

// endpointDefaults are MiPush's defaults and bounds of an Endpoint.
func endpointDefaults() httpvendor.Defaults {
	return httpvendor.Defaults{Vendor: Name, RegionBaseURL: RegionBaseURL, Timeout: DefaultTimeout, MaxBatch: MaxRegIDsPerCall}
}

// DefaultConfig returns the configuration of a channel for region with
// every default set and no apps.
func DefaultConfig(region string) Config {
	return Config{Endpoint: Endpoint{Region: region}}.WithDefaults()
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
// The Apps map is shared with c.
func (c Config) WithDefaults() Config {
	c.Endpoint = c.Endpoint.WithDefaults(endpointDefaults())
	if c.MaxConcurrentCalls == 0 {
		c.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	if c.NotifyType == 0 {
		c.NotifyType = DefaultNotifyType
	}
	if c.CallbackURL != "" && c.CallbackType == 0 {
		c.CallbackType = DefaultCallbackType
	}
	if c.Limits.MaxTitleRunes == 0 {
		c.Limits.MaxTitleRunes = MaxTitleRunes
	}
	if c.Limits.MaxDescriptionRunes == 0 {
		c.Limits.MaxDescriptionRunes = MaxDescriptionRunes
	}
	if c.Limits.MaxPayloadBytes == 0 {
		c.Limits.MaxPayloadBytes = MaxPayloadBytes
	}
	return c
}

// Validate reports every problem of c (after defaults) at once, joined.
func (c Config) Validate() error {
	chk := channels.NewConfigCheck("mipush")
	bad := chk.Bad
	c.Endpoint.Check(chk, endpointDefaults(), func(id string, a App) {
		if strings.TrimSpace(a.AppSecret.Reveal()) == "" {
			bad("app %q: empty appSecret", id)
		}
		if strings.TrimSpace(a.PackageName) == "" {
			bad("app %q: empty packageName", id)
		}
	})
	chk.Concurrency(c.MaxConcurrentCalls)
	if c.CallbackURL != "" {
		if err := channels.CheckHTTPURL(c.CallbackURL); err != nil {
			bad("callbackUrl: %v", err)
		}
	}
	if c.Limits.MaxTitleRunes < 1 || c.Limits.MaxDescriptionRunes < 1 || c.Limits.MaxPayloadBytes < 1 {
		bad("limits must be positive, got %+v", c.Limits)
	}
	return chk.Err()
}

// String prints the configuration with secrets redacted, for logs.
func (c Config) String() string {
	return fmt.Sprintf("mipush.Config{%s MaxConcurrentCalls:%d NotifyType:%d CallbackURL:%s CallbackType:%d Limits:%+v}",
		c.Endpoint, c.MaxConcurrentCalls, c.NotifyType, c.CallbackURL, c.CallbackType, c.Limits)
}

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return c.String() }
