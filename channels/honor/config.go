package honor

import (
	"fmt"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
)

// Limits of the Honor Push server API: at most 1000 tokens per
// sendMessage, an android.ttl of at most 15 days ("1296000s"), a biTag of
// at most 64 characters. §8 of the mPaaS guide has no Honor row; the title
// and body limits are its Huawei row (40 and 1024 characters), the Push Kit
// family Honor's API derives from, and the payload limit is §8's 2 KB for
// Android vendor channels.
const (
	MaxTokensPerCall = 1000
	MaxTitleRunes    = 40
	MaxBodyRunes     = 1024
	MaxPayloadBytes  = 2048
	MaxTTL           = 15 * 24 * time.Hour
	MaxBiTagRunes    = 64
	// DefaultAccessTokenLifetime is used when the token answer has no
	// expires_in.
	DefaultAccessTokenLifetime = time.Hour
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultTimeout            = 5 * time.Second
	DefaultMaxConcurrentCalls = 4
	// DefaultBaseURL is Honor's push API host.
	DefaultBaseURL = "https://push-api.cloud.honor.com"
	// DefaultAuthURL is Honor's OAuth 2.0 token endpoint.
	DefaultAuthURL = "https://iam.developer.honor.com/auth/token"
	// DefaultImportance is the importance of messages without
	// ExtraImportance: NORMAL (service and communication).
	DefaultImportance = ImportanceNormal
)

// Importance values (android.notification.importance).
const (
	ImportanceNormal = "NORMAL" // service and communication
	ImportanceLow    = "LOW"    // information and marketing
)

// Click actions (android.notification.clickAction.type).
const (
	ClickIntent  = 1 // open an app page by intent or action
	ClickURL     = 2 // open an https URL
	ClickOpenApp = 3 // open the app
)

// RegionBaseURL returns the Honor push host of a pushpipe region and whether
// the region is known. Honor documents one host for its push API.
func RegionBaseURL(region string) (string, bool) {
	switch region {
	case "cn", "ru", "in", "eu", "sg":
		return DefaultBaseURL, true
	}
	return "", false
}

// App is the Honor credentials of one pushpipe app.
type App struct {
	// AppID is Honor's app id, the {appId} of the sendMessage path.
	AppID string `json:"appId" yaml:"appId"`
	// ClientID and ClientSecret are the app's OAuth 2.0 client
	// credentials (Honor console, push service); the secret is only sent
	// to the token endpoint.
	ClientID     string          `json:"clientId" yaml:"clientId"`
	ClientSecret channels.Secret `json:"clientSecret" yaml:"clientSecret"`
}

// String prints the app without its secret.
func (a App) String() string {
	return fmt.Sprintf("{appId=%s clientId=%s clientSecret=%s}", a.AppID, a.ClientID, a.ClientSecret)
}

// Limits are the content limits checked before a message is sent. Messages
// over a limit get a Permanent result and are not sent.
type Limits struct {
	MaxTitleRunes   int `json:"maxTitleRunes" yaml:"maxTitleRunes"`
	MaxBodyRunes    int `json:"maxBodyRunes" yaml:"maxBodyRunes"`
	MaxPayloadBytes int `json:"maxPayloadBytes" yaml:"maxPayloadBytes"`
}

// Config configures one Honor channel, which serves one region. Printing a
// Config (String, %v, %+v, %#v, JSON) never shows secrets.
type Config struct {
	// Endpoint holds the region, the push host (BaseURL: e.g. the
	// simulator's "http://127.0.0.1:PORT/honor/sg"; the client appends
	// "/api/v1/{appId}/sendMessage"), the apps' Honor credentials, the timeout
	// of one HTTP call and MaxBatch, 1..1000.
	Endpoint `yaml:",inline"`
	// AuthURL overrides the full URL of the token endpoint, e.g. the
	// simulator's "http://127.0.0.1:PORT/honor/sg/auth/token".
	AuthURL string `json:"authUrl" yaml:"authUrl"`
	// MaxConcurrentCalls bounds the calls one Send makes at once when its
	// messages carry several contents.
	MaxConcurrentCalls int `json:"maxConcurrentCalls" yaml:"maxConcurrentCalls"`
	// Importance is the android.notification.importance of messages
	// without ExtraImportance: NORMAL or LOW.
	Importance string `json:"importance" yaml:"importance"`
	// TestMessages sends every message as a test message
	// (targetUserType 1): limited per day, exempt from device quotas.
	TestMessages bool `json:"testMessages" yaml:"testMessages"`
	// Limits are the content limits; zero fields take the defaults.
	Limits Limits `json:"limits" yaml:"limits"`
}

// Endpoint is the configuration honor shares with the other HTTP vendors
// (see httpvendor.Endpoint), with Honor credentials.
type Endpoint = httpvendor.Endpoint[App]

// endpointDefaults are Honor's defaults and bounds of an Endpoint.
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
	if c.Importance == "" {
		c.Importance = DefaultImportance
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
	return c
}

// Validate reports every problem of c (after defaults) at once, joined.
func (c Config) Validate() error {
	chk := channels.NewConfigCheck("honor")
	bad := chk.Bad
	chk.URL("authUrl", c.AuthURL)
	c.Endpoint.Check(chk, endpointDefaults(), func(id string, a App) {
		if strings.TrimSpace(a.AppID) == "" {
			bad("app %q: empty appId (Honor's app id)", id)
		} else if strings.ContainsAny(a.AppID, "/?#% ") {
			bad("app %q: appId %q cannot be a URL path segment", id, a.AppID)
		}
		if strings.TrimSpace(a.ClientID) == "" {
			bad("app %q: empty clientId", id)
		}
		if strings.TrimSpace(a.ClientSecret.Reveal()) == "" {
			bad("app %q: empty clientSecret", id)
		}
	})
	chk.Concurrency(c.MaxConcurrentCalls)
	if c.Importance != ImportanceNormal && c.Importance != ImportanceLow {
		bad("importance must be %s or %s, got %q", ImportanceNormal, ImportanceLow, c.Importance)
	}
	if c.Limits.MaxTitleRunes < 1 || c.Limits.MaxBodyRunes < 1 || c.Limits.MaxPayloadBytes < 1 {
		bad("limits must be positive, got %+v", c.Limits)
	}
	return chk.Err()
}

// String prints the configuration with secrets redacted, for logs.
func (c Config) String() string {
	return fmt.Sprintf("honor.Config{%s AuthURL:%s MaxConcurrentCalls:%d Importance:%s TestMessages:%t Limits:%+v}",
		c.Endpoint, c.AuthURL, c.MaxConcurrentCalls, c.Importance, c.TestMessages, c.Limits)
}

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return c.String() }
