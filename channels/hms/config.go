package hms

import (
	"fmt"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
)

// Endpoints and limits of Huawei Push Kit (server API v1 and the OAuth 2.0
// client-credentials flow of the Huawei account server), plus the Huawei
// content limits of §8 of the mPaaS guide.
const (
	// DefaultBaseURL is the Push Kit host; it serves every region (the
	// data location is a property of the app's project). The client
	// appends "/v1/{appId}/messages:send".
	DefaultBaseURL = "https://push-api.cloud.huawei.com"
	// DefaultAuthURL is the OAuth 2.0 host; the client appends TokenPath.
	DefaultAuthURL = "https://oauth-login.cloud.huawei.com"
	// TokenPath is the client-credentials token endpoint below AuthURL.
	TokenPath = "/oauth2/v3/token"
	// MaxTokensPerCall is the most tokens of one messages:send call.
	MaxTokensPerCall = 1000
	// MaxMessageBytes is Push Kit's limit of the message body, tokens
	// excluded.
	MaxMessageBytes = 4096
	// MaxTitleRunes and MaxBodyRunes are §8's Huawei limits.
	MaxTitleRunes = 40
	MaxBodyRunes  = 1024
	// MaxPayloadBytes is §8's limit of a pushed Android message (2 KB),
	// applied to Message.Payload.
	MaxPayloadBytes = 2048
	// MaxTimeToLive is the longest android.ttl Push Kit accepts (15 days).
	MaxTimeToLive = 15 * 24 * time.Hour
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultTimeout            = 5 * time.Second
	DefaultMaxConcurrentCalls = 4
)

// RegionBaseURL returns the Push Kit host of a pushpipe region (cn, ru, in,
// eu, sg) and whether the region is known.
func RegionBaseURL(region string) (string, bool) {
	switch region {
	case "cn", "ru", "in", "eu", "sg":
		return DefaultBaseURL, true
	}
	return "", false
}

// App is the Huawei credentials of one pushpipe app, as AppGallery Connect
// shows them (the mPaaS console's "Huawei App ID" and "Huawei App Key (App
// Secret)").
type App struct {
	// AppID is the Huawei App ID: the OAuth client_id and the {appId} of
	// the send URL.
	AppID string `json:"appId" yaml:"appId"`
	// AppSecret is the App Secret (OAuth client_secret).
	AppSecret channels.Secret `json:"appSecret" yaml:"appSecret"`
	// ReceiptID, if set, is sent as android.receipt_id: the receipt
	// configuration (in AppGallery Connect) whose URL gets the receipts.
	ReceiptID string `json:"receiptId" yaml:"receiptId"`
}

// String prints the app without its secret.
func (a App) String() string {
	return fmt.Sprintf("{appId=%s appSecret=%s receiptId=%s}", a.AppID, a.AppSecret, a.ReceiptID)
}

// Limits are the content limits checked before a message is sent. Messages
// over a limit get a Permanent result and are not sent.
type Limits struct {
	MaxTitleRunes   int `json:"maxTitleRunes" yaml:"maxTitleRunes"`     // characters of the title
	MaxBodyRunes    int `json:"maxBodyRunes" yaml:"maxBodyRunes"`       // characters of the body
	MaxPayloadBytes int `json:"maxPayloadBytes" yaml:"maxPayloadBytes"` // bytes of Message.Payload
	// MaxMessageBytes bounds the JSON message sent, tokens excluded; at
	// most MaxMessageBytes.
	MaxMessageBytes int `json:"maxMessageBytes" yaml:"maxMessageBytes"`
}

// Config configures one Huawei Push Kit channel, which serves one region.
// Printing a Config (String, %v, %+v, %#v, JSON) never shows secrets.
type Config struct {
	// Endpoint holds the region, the Push Kit host (BaseURL: e.g. the
	// simulator's "http://127.0.0.1:PORT/hms/cn"), the apps' Huawei
	// credentials, the timeout of one HTTP call (a send or a token
	// request) and MaxBatch, 1..MaxTokensPerCall.
	Endpoint `yaml:",inline"`
	// AuthURL overrides the OAuth host (the client appends TokenPath).
	AuthURL string `json:"authUrl" yaml:"authUrl"`
	// MaxConcurrentCalls bounds the calls one Send makes at once when its
	// messages need more than one call (different contents).
	MaxConcurrentCalls int `json:"maxConcurrentCalls" yaml:"maxConcurrentCalls"`
	// Importance is android.notification.importance ("LOW" or "NORMAL")
	// of messages without ExtraNotifyLevel; empty leaves Huawei's default.
	Importance string `json:"importance" yaml:"importance"`
	// Limits are the content limits; zero fields take the defaults.
	Limits Limits `json:"limits" yaml:"limits"`
}

// Endpoint is the configuration hms shares with the other HTTP vendors
// (see httpvendor.Endpoint), with Huawei credentials.
type Endpoint = httpvendor.Endpoint[App]

// endpointDefaults are Push Kit's defaults and bounds of an Endpoint.
func endpointDefaults() httpvendor.Defaults {
	return httpvendor.Defaults{Vendor: Name, RegionBaseURL: RegionBaseURL, Timeout: DefaultTimeout, MaxBatch: MaxTokensPerCall}
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
	if c.AuthURL == "" {
		c.AuthURL = DefaultAuthURL
	}
	if c.MaxConcurrentCalls == 0 {
		c.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	if c.Limits.MaxTitleRunes == 0 {
		c.Limits.MaxTitleRunes = MaxTitleRunes
	}
	if c.Limits.MaxBodyRunes == 0 {
		c.Limits.MaxBodyRunes = MaxBodyRunes
	}
	if c.Limits.MaxPayloadBytes == 0 {
		c.Limits.MaxPayloadBytes = MaxPayloadBytes
	}
	if c.Limits.MaxMessageBytes == 0 {
		c.Limits.MaxMessageBytes = MaxMessageBytes
	}
	return c
}

// Validate reports every problem of c (after defaults) at once, joined.
func (c Config) Validate() error {
	chk := channels.NewConfigCheck("hms")
	bad := chk.Bad
	chk.URL("authUrl", c.AuthURL)
	c.Endpoint.Check(chk, endpointDefaults(), func(id string, a App) {
		if strings.TrimSpace(a.AppID) == "" || strings.ContainsAny(a.AppID, "/?# ") {
			bad("app %q: appId %q is not a Huawei App ID (AppGallery Connect > app information)", id, a.AppID)
		}
		if strings.TrimSpace(a.AppSecret.Reveal()) == "" {
			bad("app %q: empty appSecret (the App Secret of AppGallery Connect)", id)
		}
	})
	chk.Concurrency(c.MaxConcurrentCalls)
	if c.Importance != "" && c.Importance != "LOW" && c.Importance != "NORMAL" {
		bad("importance must be LOW, NORMAL or empty, got %q", c.Importance)
	}
	l := c.Limits
	if l.MaxTitleRunes < 1 || l.MaxBodyRunes < 1 || l.MaxPayloadBytes < 1 || l.MaxMessageBytes < 1 || l.MaxMessageBytes > MaxMessageBytes {
		bad("limits must be positive and maxMessageBytes at most %d, got %+v", MaxMessageBytes, l)
	}
	return chk.Err()
}

// String prints the configuration with secrets redacted, for logs.
func (c Config) String() string {
	return fmt.Sprintf("hms.Config{%s AuthURL:%s MaxConcurrentCalls:%d Importance:%s Limits:%+v}",
		c.Endpoint, c.AuthURL, c.MaxConcurrentCalls, c.Importance, c.Limits)
}

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return c.String() }
