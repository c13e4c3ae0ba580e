package harmonyos

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
)

// Endpoints and limits of HarmonyOS Push Kit (the scenario-based message
// API v3 and its service-account JWT authentication), from Huawei's Push
// Kit REST API reference (push-scenariozed-api-*, push-msg-revoke,
// push-jwt-token).
const (
	// DefaultBaseURL is the Push Kit host; it serves every region (the
	// data location is a property of the app's project). The client
	// appends "/v3/{projectId}/messages:send" and, for recalls,
	// "/v1/{clientId}/messages:revoke".
	DefaultBaseURL = "https://push-api.cloud.huawei.com"
	// Audience is the "aud" claim every service-account JWT carries.
	Audience = "https://oauth-login.cloud.huawei.com/oauth2/v3/token"
	// JWTLifetime is the validity (exp - iat) of the JWTs the channel
	// signs; Huawei advises an hour and reuse within it.
	JWTLifetime = time.Hour
	// MaxJWTLifetime is the longest validity Push Kit accepts (80300036
	// beyond it).
	MaxJWTLifetime = 24 * time.Hour
	// MaxTokensPerCall is the most tokens of one messages:send call.
	MaxTokensPerCall = 1000
	// MaxTestTokensPerCall is the most tokens of one call of test
	// messages (pushOptions.testMessage, 80300030 beyond it).
	MaxTestTokensPerCall = 10
	// MaxMessageBytes is Push Kit's limit of the request body, tokens
	// excluded (80300008 beyond it).
	MaxMessageBytes = 4096
	// MaxPayloadBytes bounds Message.Payload: it travels inside the 4 KB
	// body, so no larger payload can ever be sent.
	MaxPayloadBytes = MaxMessageBytes
	// MaxTimeToLive is the longest pushOptions.ttl Push Kit accepts (15
	// days); DefaultTimeToLive is Push Kit's own default (1 day), used
	// when a message has no ExpireAt.
	MaxTimeToLive     = 15 * 24 * time.Hour
	DefaultTimeToLive = 24 * time.Hour
	// MaxBiTagBytes is the longest pushOptions.biTag.
	MaxBiTagBytes = 64
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultTimeout            = 5 * time.Second
	DefaultMaxConcurrentCalls = 4
	// DefaultCategory is the notification category of messages without
	// ExtraCategory: MARKETING is the one category an app may send
	// without Huawei granting it the self-classification right.
	DefaultCategory = "MARKETING"
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

// App is the HarmonyOS Push Kit credentials of one pushpipe app: the
// fields of the service-account key file of its AppGallery Connect project
// (see ParseServiceAccount) plus the app's Client ID.
type App struct {
	// ProjectID is the project id (project_id): messages are sent to
	// /v3/{ProjectID}/messages:send.
	ProjectID string `json:"projectId" yaml:"projectId"`
	// ClientID is the app's Client ID (AppGallery Connect > app
	// information): recalls go to /v1/{ClientID}/messages:revoke.
	ClientID string `json:"clientId" yaml:"clientId"`
	// KeyID is the service-account key id (key_id), sent as the JWT
	// "kid".
	KeyID string `json:"keyId" yaml:"keyId"`
	// SubAccount is the service account (sub_account), the JWT "iss".
	SubAccount string `json:"subAccount" yaml:"subAccount"`
	// PrivateKey is the PEM RSA private key (private_key; PKCS#8 or
	// PKCS#1) that signs the JWTs.
	PrivateKey channels.Secret `json:"privateKey" yaml:"privateKey"`
	// ReceiptID, if set, is sent as pushOptions.receiptId: the receipt
	// configuration whose URL gets the receipts.
	ReceiptID string `json:"receiptId" yaml:"receiptId"`
	// TestMessage sends every message as a test message
	// (pushOptions.testMessage: at most 1000 a day per project, at most
	// MaxTestTokensPerCall tokens a call), for apps still in testing.
	TestMessage bool `json:"testMessage" yaml:"testMessage"`
}

// String prints the app without its private key.
func (a App) String() string {
	return fmt.Sprintf("{projectId=%s clientId=%s keyId=%s subAccount=%s privateKey=%s receiptId=%s testMessage=%t}",
		a.ProjectID, a.ClientID, a.KeyID, a.SubAccount, a.PrivateKey, a.ReceiptID, a.TestMessage)
}

// tokensPerCall is the most tokens one call of the app may carry.
func (a App) tokensPerCall() int {
	if a.TestMessage {
		return MaxTestTokensPerCall
	}
	return MaxTokensPerCall
}

// ParseServiceAccount reads a Push Kit service-account key file (the JSON
// the API Console gives: project_id, key_id, private_key, sub_account...)
// into an App; the Client ID, which the file does not hold, is clientID.
// It fails, naming the missing fields, if the file is not such a key.
func ParseServiceAccount(keyFile []byte, clientID string) (App, error) {
	var f struct {
		ProjectID  string `json:"project_id"`
		KeyID      string `json:"key_id"`
		PrivateKey string `json:"private_key"`
		SubAccount string `json:"sub_account"`
	}
	if err := json.Unmarshal(keyFile, &f); err != nil {
		return App{}, fmt.Errorf("reading harmonyos service-account key: %w", err)
	}
	var missing []string
	for name, v := range map[string]string{"project_id": f.ProjectID, "key_id": f.KeyID, "private_key": f.PrivateKey, "sub_account": f.SubAccount} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return App{}, fmt.Errorf("reading harmonyos service-account key: missing %s", strings.Join(missing, ", "))
	}
	return App{ProjectID: f.ProjectID, ClientID: clientID, KeyID: f.KeyID, SubAccount: f.SubAccount,
		PrivateKey: channels.Secret(f.PrivateKey)}, nil
}

// Limits are the content limits checked before a message is sent. Messages
// over a limit get a Permanent result and are not sent.
type Limits struct {
	// MaxTitleRunes and MaxBodyRunes bound the notification texts; Push
	// Kit sets no limit of its own besides the body size, so 0 means
	// none.
	MaxTitleRunes int `json:"maxTitleRunes" yaml:"maxTitleRunes"`
	MaxBodyRunes  int `json:"maxBodyRunes" yaml:"maxBodyRunes"`
	// MaxPayloadBytes bounds Message.Payload; default and maximum
	// MaxPayloadBytes.
	MaxPayloadBytes int `json:"maxPayloadBytes" yaml:"maxPayloadBytes"`
	// MaxMessageBytes bounds the JSON body sent, tokens excluded; default
	// and maximum MaxMessageBytes.
	MaxMessageBytes int `json:"maxMessageBytes" yaml:"maxMessageBytes"`
}

// Config configures one HarmonyOS Push Kit channel, which serves one
// region. Printing a Config (String, %v, %+v, %#v, JSON) never shows
// private keys.
type Config struct {
	// Endpoint holds the region, the Push Kit host (BaseURL: e.g. the
	// simulator's "http://127.0.0.1:PORT/harmonyos/cn"), the apps' Push Kit
	// credentials, the timeout of one HTTP call and MaxBatch,
	// 1..MaxTokensPerCall.
	Endpoint `yaml:",inline"`
	// MaxConcurrentCalls bounds the calls one Send makes at once when its
	// messages need more than one call (different contents, or test
	// messages over MaxTestTokensPerCall).
	MaxConcurrentCalls int `json:"maxConcurrentCalls" yaml:"maxConcurrentCalls"`
	// DefaultCategory is payload.notification.category of messages
	// without ExtraCategory; default DefaultCategory.
	DefaultCategory string `json:"defaultCategory" yaml:"defaultCategory"`
	// Limits are the content limits; zero fields take the defaults.
	Limits Limits `json:"limits" yaml:"limits"`
}

// Endpoint is the configuration HarmonyOS shares with the other HTTP vendors
// (see httpvendor.Endpoint), with HarmonyOS credentials.
type Endpoint = httpvendor.Endpoint[App]

// endpointDefaults are HarmonyOS's defaults and bounds of an Endpoint.
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
	if c.MaxConcurrentCalls == 0 {
		c.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	if c.DefaultCategory == "" {
		c.DefaultCategory = DefaultCategory
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
	chk := channels.NewConfigCheck("harmonyos")
	bad := chk.Bad
	c.Endpoint.Check(chk, endpointDefaults(), func(id string, a App) {
		if err := a.Validate(); err != nil {
			bad("app %q: %v", id, err)
		}
	})
	chk.Concurrency(c.MaxConcurrentCalls)
	if _, err := category(c.DefaultCategory); err != nil {
		bad("defaultCategory: %v", err)
	}
	l := c.Limits
	if l.MaxTitleRunes < 0 || l.MaxBodyRunes < 0 || l.MaxPayloadBytes < 1 || l.MaxPayloadBytes > MaxPayloadBytes ||
		l.MaxMessageBytes < 1 || l.MaxMessageBytes > MaxMessageBytes {
		bad("limits: title and body limits must not be negative (0: none), maxPayloadBytes and maxMessageBytes must be in 1..%d, got %+v", MaxMessageBytes, l)
	}
	return chk.Err()
}

// Validate reports the first problem of an app's credentials (a missing
// field, a private key that is not a PEM RSA key), saying where to find
// the right value. It never shows the private key.
func (a App) Validate() error {
	switch {
	case strings.TrimSpace(a.ProjectID) == "" || strings.ContainsAny(a.ProjectID, "/?# "):
		return fmt.Errorf("projectId %q is not a project ID (project_id of the service-account key; AppGallery Connect > project settings)", a.ProjectID)
	case strings.TrimSpace(a.ClientID) == "" || strings.ContainsAny(a.ClientID, "/?# "):
		return fmt.Errorf("clientId %q is not a Client ID (AppGallery Connect > app information)", a.ClientID)
	case strings.TrimSpace(a.KeyID) == "":
		return errors.New("empty keyId (key_id of the service-account key file)")
	case strings.TrimSpace(a.SubAccount) == "":
		return errors.New("empty subAccount (sub_account of the service-account key file)")
	case strings.TrimSpace(a.PrivateKey.Reveal()) == "":
		return errors.New("empty privateKey (private_key of the service-account key file, PEM)")
	}
	if _, err := channels.ParseRSAPrivateKey(a.PrivateKey.Reveal()); err != nil {
		return fmt.Errorf("privateKey: %w", err)
	}
	return nil
}

// String prints the configuration with private keys redacted, for logs.
func (c Config) String() string {
	return fmt.Sprintf("harmonyos.Config{%s MaxConcurrentCalls:%d DefaultCategory:%s Limits:%+v}",
		c.Endpoint, c.MaxConcurrentCalls, c.DefaultCategory, c.Limits)
}

// GoString keeps %#v from printing private keys.
func (c Config) GoString() string { return c.String() }
