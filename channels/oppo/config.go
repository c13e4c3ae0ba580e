package oppo

import (
	"fmt"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
)

// Limits of the OPPO Push server API. The title and content limits are the
// ones of §8 of the mPaaS guide (OPPO: 32 and 200 characters); the others
// come from OPPO's batch unicast reference (at most 1000 messages a call),
// OPPO's server SDK checks (off_line_ttl at most 10 days,
// call_back_parameter at most 50 characters, call_back_url at most 200) and
// OPPO's common parameters (an auth_token is valid for 24 hours). The
// payload limit is §8's 2 KB for Android vendor channels.
const (
	MaxTitleRunes          = 32
	MaxContentRunes        = 200
	MaxPayloadBytes        = 2048
	MaxMessagesPerBatch    = 1000
	MaxOffLineTTL          = 10 * 24 * time.Hour
	MaxCallBackParamRunes  = 50
	MaxCallBackURLRunes    = 200
	MaxAppMessageIDRunes   = 64
	AuthTokenLifetime      = 24 * time.Hour
	DefaultTimeout         = 5 * time.Second
	DefaultClickActionType = ClickLaunchApp
)

// Click actions (notification.click_action_type).
const (
	ClickLaunchApp  = 0 // open the app's launch activity
	ClickOpenURL    = 2 // open click_action_url in a browser
	ClickIntentURI  = 5 // open click_action_url as an intent scheme URI
	TargetRegID     = 2 // target_type: registration_id
	oppoMaxNotifyID = 1<<31 - 1
)

// RegionBaseURL returns the OPPO Push host of a pushpipe region and whether
// the region is known: OPPO serves devices of mainland China from
// api.push.oppomobile.com and every other device from
// api-intl.push.oppomobile.com.
func RegionBaseURL(region string) (string, bool) {
	switch region {
	case "cn":
		return "https://api.push.oppomobile.com", true
	case "ru", "in", "eu", "sg":
		return "https://api-intl.push.oppomobile.com", true
	}
	return "", false
}

// App is the OPPO credentials of one pushpipe app.
type App struct {
	// AppKey is sent as app_key to the auth endpoint.
	AppKey string `json:"appKey" yaml:"appKey"`
	// MasterSecret signs the auth request; never sent.
	MasterSecret channels.Secret `json:"masterSecret" yaml:"masterSecret"`
}

// String prints the app without its secret.
func (a App) String() string {
	return fmt.Sprintf("{appKey=%s masterSecret=%s}", a.AppKey, a.MasterSecret)
}

// Limits are the content limits checked before a message is sent. Messages
// over a limit get a Permanent result and are not sent.
type Limits struct {
	MaxTitleRunes   int `json:"maxTitleRunes" yaml:"maxTitleRunes"`
	MaxContentRunes int `json:"maxContentRunes" yaml:"maxContentRunes"`
	MaxPayloadBytes int `json:"maxPayloadBytes" yaml:"maxPayloadBytes"`
}

// Config configures one OPPO channel, which serves one region. Printing a
// Config (String, %v, %+v, %#v, JSON) never shows secrets.
type Config struct {
	// Endpoint holds the region, which selects the default BaseURL, the
	// OPPO host (BaseURL: e.g. the simulator's
	// "http://127.0.0.1:PORT/oppo/sg"; the client appends "/server/v1/..."),
	// the apps' OPPO credentials, the timeout of one HTTP call (auth or push)
	// and MaxBatch, 1..1000.
	Endpoint `yaml:",inline"`
	// ChannelID is the notification channel_id sent when a message has no
	// ExtraChannelID (OPPO requires one on Android 8+; private channels
	// must be registered with OPPO).
	ChannelID string `json:"channelId" yaml:"channelId"`
	// CallbackURL, if set, is sent as call_back_url: where OPPO posts
	// receipts (with ?app=<appId> added).
	CallbackURL string `json:"callbackUrl" yaml:"callbackUrl"`
	// ReceiptSigner, if set, tags call_back_parameter (the delivery id;
	// see channels.ReceiptParam), which the receipts worker requires.
	ReceiptSigner channels.ReceiptSigner `json:"-" yaml:"-"`
	// VerifyRegistrationID asks the device to drop a message whose target
	// is not its current registration id (verify_registration_id).
	VerifyRegistrationID bool `json:"verifyRegistrationId" yaml:"verifyRegistrationId"`
	// Limits are the content limits; zero fields take OPPO's limits.
	Limits Limits `json:"limits" yaml:"limits"`
}

// Endpoint is the configuration OPPO shares with the other HTTP vendors
// (see httpvendor.Endpoint), with OPPO credentials.
type Endpoint = httpvendor.Endpoint[App]

// endpointDefaults are OPPO's defaults and bounds of an Endpoint.
func endpointDefaults() httpvendor.Defaults {
	return httpvendor.Defaults{Vendor: Name, RegionBaseURL: RegionBaseURL, Timeout: DefaultTimeout, MaxBatch: MaxMessagesPerBatch}
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
	if c.Limits.MaxTitleRunes == 0 {
		c.Limits.MaxTitleRunes = MaxTitleRunes
	}
	if c.Limits.MaxContentRunes == 0 {
		c.Limits.MaxContentRunes = MaxContentRunes
	}
	if c.Limits.MaxPayloadBytes == 0 {
		c.Limits.MaxPayloadBytes = MaxPayloadBytes
	}
	return c
}

// Validate reports every problem of c (after defaults) at once, joined.
func (c Config) Validate() error {
	chk := channels.NewConfigCheck("oppo")
	bad := chk.Bad
	c.Endpoint.Check(chk, endpointDefaults(), func(id string, a App) {
		if strings.TrimSpace(a.AppKey) == "" {
			bad("app %q: empty appKey", id)
		}
		if strings.TrimSpace(a.MasterSecret.Reveal()) == "" {
			bad("app %q: empty masterSecret", id)
		}
	})
	if c.CallbackURL != "" {
		if err := channels.CheckHTTPURL(c.CallbackURL); err != nil {
			bad("callbackUrl: %v", err)
		} else if n := len([]rune(c.CallbackURL)); n > MaxCallBackURLRunes {
			bad("callbackUrl has %d characters, OPPO allows %d", n, MaxCallBackURLRunes)
		}
	}
	if c.Limits.MaxTitleRunes < 1 || c.Limits.MaxContentRunes < 1 || c.Limits.MaxPayloadBytes < 1 {
		bad("limits must be positive, got %+v", c.Limits)
	}
	return chk.Err()
}

// String prints the configuration with secrets redacted, for logs.
func (c Config) String() string {
	return fmt.Sprintf("oppo.Config{%s ChannelID:%s CallbackURL:%s VerifyRegistrationID:%t Limits:%+v}",
		c.Endpoint, c.ChannelID, c.CallbackURL, c.VerifyRegistrationID, c.Limits)
}

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return c.String() }
