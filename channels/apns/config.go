package apns

import (
	"crypto/x509"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// APNs hosts (Apple, "Sending notification requests to APNs"). APNs is one
// global service: every pushpipe region uses the same host unless BaseURL
// says otherwise.
const (
	ProductionURL = "https://api.push.apple.com"
	SandboxURL    = "https://api.sandbox.push.apple.com"
)

// Limits of APNs and of the mPaaS guide.
const (
	// MaxNotificationBytes is Apple's limit on the JSON payload of a
	// regular remote notification (4 KB); a larger one is answered 413
	// PayloadTooLarge.
	MaxNotificationBytes = 4096
	// MaxVoIPNotificationBytes is Apple's limit for VoIP notifications,
	// the largest value Limits.MaxNotificationBytes accepts.
	MaxVoIPNotificationBytes = 5120
	// MaxAppPayloadBytes is the mPaaS limit (§8, "the size of the pushed
	// message cannot exceed 2 KB" for the iOS channel) applied to
	// Message.Payload by default.
	MaxAppPayloadBytes = 2048
	// MaxCollapseIDBytes is Apple's limit on apns-collapse-id.
	MaxCollapseIDBytes = 64
	// ProviderTokenMaxAge is how old (iat) a provider token may be before
	// APNs answers 403 ExpiredProviderToken.
	ProviderTokenMaxAge = time.Hour
	// MinTokenRefresh is the shortest refresh period Apple tolerates: a
	// provider that changes its token more than once every 20 minutes gets
	// 429 TooManyProviderTokenUpdates.
	MinTokenRefresh = 20 * time.Minute
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultTimeout  = 10 * time.Second
	DefaultMaxBatch = 500
	MaxMaxBatch     = 10_000
	// DefaultMaxConcurrentStreams is 500, the SETTINGS_MAX_CONCURRENT_STREAMS
	// APNs announces on a healthy connection; APNs lowers it (to 1 after a
	// refused request) and the client follows the lower value. More calls
	// in flight let one TLS read carry more answers: in the sender part of
	// the bench a push cost the sender 22.6–23 µs of CPU against 25 with
	// 100 streams.
	DefaultMaxConcurrentStreams = 500
	// DefaultConnections is how many HTTP/2 connections a channel keeps
	// to APNs.
	DefaultConnections = 4
	// MaxConnections bounds Config.Connections.
	MaxConnections = 64
	// DefaultTokenRefresh renews provider tokens after 50 minutes, well
	// inside Apple's one-hour limit and outside its 20-minute minimum.
	DefaultTokenRefresh = 50 * time.Minute
)

// App is the APNs provider-token credentials of one pushpipe app.
type App struct {
	// TeamID is the 10-character Apple developer team id, the "iss" claim.
	TeamID string `json:"teamId" yaml:"teamId"`
	// KeyID is the 10-character id of the APNs signing key, the "kid"
	// header.
	KeyID string `json:"keyId" yaml:"keyId"`
	// PrivateKey is the content of the .p8 file Apple issued for KeyID: a
	// PEM "PRIVATE KEY" (PKCS #8) holding a P-256 key ("EC PRIVATE KEY"
	// is accepted too).
	PrivateKey channels.Secret `json:"privateKey" yaml:"privateKey"`
	// BundleID is the app's bundle id, sent as apns-topic.
	BundleID string `json:"bundleId" yaml:"bundleId"`
}

// String prints the app without its private key.
func (a App) String() string {
	return fmt.Sprintf("{team=%s key=%s bundle=%s privateKey=%s}", a.TeamID, a.KeyID, a.BundleID, a.PrivateKey)
}

// Limits are the content limits checked before a message is sent. Messages
// over a limit get a Permanent result (2002 PayloadTooLarge) and are not
// sent.
type Limits struct {
	// MaxPayloadBytes bounds Message.Payload; default MaxAppPayloadBytes
	// (mPaaS §8).
	MaxPayloadBytes int `json:"maxPayloadBytes" yaml:"maxPayloadBytes"`
	// MaxNotificationBytes bounds the encoded APNs JSON (aps dictionary
	// and custom keys); default MaxNotificationBytes (Apple), at most
	// MaxVoIPNotificationBytes.
	MaxNotificationBytes int `json:"maxNotificationBytes" yaml:"maxNotificationBytes"`
}

// Config configures one APNs channel, which serves one pushpipe region.
// Printing a Config (String, %v, %+v, %#v, JSON) never shows secrets.
type Config struct {
	// Region is the pushpipe region (cn, ru, in, eu, sg) the channel
	// serves.
	Region string `json:"region" yaml:"region"`
	// Sandbox selects Apple's development server as the default BaseURL.
	Sandbox bool `json:"sandbox" yaml:"sandbox"`
	// BaseURL overrides the APNs host, e.g. the simulator's
	// "https://127.0.0.1:PORT/apns/sg". It must be https: APNs is HTTP/2
	// over TLS only. The client appends "/3/device/<token>".
	BaseURL string `json:"baseUrl" yaml:"baseUrl"`
	// Apps maps pushpipe app ids to APNs credentials. Apps sharing a
	// KeyID share one provider token and must agree on TeamID and key.
	Apps map[string]App `json:"apps" yaml:"apps"`
	// RootCAs, if set, are the only certificate authorities trusted for
	// the APNs server (the simulator's CertPool in tests); nil uses the
	// system roots plus CAFile.
	RootCAs *x509.CertPool `json:"-" yaml:"-"`
	// CAFile, if set, is a PEM file of extra trusted certificate
	// authorities (e.g. the simulator's CA), read by New.
	CAFile string `json:"caFile" yaml:"caFile"`
	// Timeout bounds one HTTP/2 request (one message).
	Timeout time.Duration `json:"timeout" yaml:"timeout"`
	// MaxBatch is the number of messages one Send accepts; 1..MaxMaxBatch.
	// APNs takes one device per request: Send makes one request per
	// message.
	MaxBatch int `json:"maxBatch" yaml:"maxBatch"`
	// MaxConcurrentStreams bounds the requests in flight at once on one
	// of the channel's connections, across all concurrent Sends (the
	// server's own SETTINGS_MAX_CONCURRENT_STREAMS bounds it further).
	MaxConcurrentStreams int `json:"maxConcurrentStreams" yaml:"maxConcurrentStreams"`
	// Connections is how many HTTP/2 connections the channel keeps to
	// APNs (Apple: multiple connections improve performance when sending
	// many notifications); each request goes on the one with the fewest
	// in flight. 1..MaxConnections; default DefaultConnections.
	Connections int `json:"connections" yaml:"connections"`
	// TokenRefresh is how long a provider token is used before a new one
	// is signed; MinTokenRefresh <= TokenRefresh < ProviderTokenMaxAge.
	TokenRefresh time.Duration `json:"tokenRefresh" yaml:"tokenRefresh"`
	// Limits are the content limits; zero fields take the defaults.
	Limits Limits `json:"limits" yaml:"limits"`
	// StandardHTTP2 sends through net/http's HTTP/2 client (which also
	// honours HTTPS_PROXY) instead of the lean client of channels/h2
	// (the default: two goroutines per connection and no per-request
	// header maps). Connections, streams, answers and results are the
	// same with either.
	StandardHTTP2 bool `json:"standardHttp2" yaml:"standardHttp2"`
}

// DefaultConfig returns the configuration of a channel for region with
// every default set and no apps.
func DefaultConfig(region string) Config {
	return Config{Region: region}.WithDefaults()
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
// The Apps map and RootCAs are shared with c.
func (c Config) WithDefaults() Config {
	if c.BaseURL == "" {
		c.BaseURL = ProductionURL
		if c.Sandbox {
			c.BaseURL = SandboxURL
		}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.Connections == 0 {
		c.Connections = DefaultConnections
	}
	if c.TokenRefresh == 0 {
		c.TokenRefresh = DefaultTokenRefresh
	}
	if c.Limits.MaxPayloadBytes == 0 {
		c.Limits.MaxPayloadBytes = MaxAppPayloadBytes
	}
	if c.Limits.MaxNotificationBytes == 0 {
		c.Limits.MaxNotificationBytes = MaxNotificationBytes
	}
	return c
}

// Validate reports every problem of c (after defaults) at once, joined.
// It parses the private keys but does not read CAFile.
func (c Config) Validate() error {
	chk := channels.NewConfigCheck("apns")
	bad := chk.Bad
	if !schema.ValidRegion(c.Region) {
		bad("unknown region %q (want one of %s)", c.Region, strings.Join(schema.Regions(), ", "))
	}
	if err := checkHTTPSURL(c.BaseURL); err != nil {
		bad("baseUrl: %v", err)
	}
	if len(c.Apps) == 0 {
		bad("no apps configured")
	}
	type keyUse struct {
		app, team, pem string
	}
	keys := map[string]keyUse{}
	for _, id := range slices.Sorted(maps.Keys(c.Apps)) {
		a := c.Apps[id]
		if id == "" {
			bad("app with empty id")
		}
		for _, f := range []struct{ name, v string }{{"teamId", a.TeamID}, {"keyId", a.KeyID}, {"bundleId", a.BundleID}} {
			switch {
			case strings.TrimSpace(f.v) == "":
				bad("app %q: empty %s", id, f.name)
			case strings.ContainsAny(f.v, " \t\r\n/"):
				bad("app %q: %s %q contains spaces or slashes", id, f.name, f.v)
			}
		}
		if strings.TrimSpace(a.PrivateKey.Reveal()) == "" {
			bad("app %q: empty privateKey (paste the .p8 file Apple issued for key %s)", id, a.KeyID)
		} else if _, err := ParsePrivateKey(a.PrivateKey.Reveal()); err != nil {
			bad("app %q: privateKey: %v", id, err)
		}
		if a.KeyID == "" {
			continue
		}
		if prev, ok := keys[a.KeyID]; ok {
			if prev.team != a.TeamID || prev.pem != strings.TrimSpace(a.PrivateKey.Reveal()) {
				bad("apps %q and %q use key %s with different teamId or privateKey", prev.app, id, a.KeyID)
			}
			continue
		}
		keys[a.KeyID] = keyUse{app: id, team: a.TeamID, pem: strings.TrimSpace(a.PrivateKey.Reveal())}
	}
	chk.Timeout(c.Timeout)
	chk.MaxBatch(c.MaxBatch, MaxMaxBatch)
	if c.MaxConcurrentStreams < 1 {
		bad("maxConcurrentStreams must be at least 1, got %d", c.MaxConcurrentStreams)
	}
	if c.Connections < 1 || c.Connections > MaxConnections {
		bad("connections must be in 1..%d, got %d", MaxConnections, c.Connections)
	}
	if c.TokenRefresh < MinTokenRefresh || c.TokenRefresh >= ProviderTokenMaxAge {
		bad("tokenRefresh must be at least %s (Apple refuses more frequent token updates) and under %s (Apple's token lifetime), got %s",
			MinTokenRefresh, ProviderTokenMaxAge, c.TokenRefresh)
	}
	if c.Limits.MaxPayloadBytes < 1 {
		bad("limits.maxPayloadBytes must be positive, got %d", c.Limits.MaxPayloadBytes)
	}
	if c.Limits.MaxNotificationBytes < 1 || c.Limits.MaxNotificationBytes > MaxVoIPNotificationBytes {
		bad("limits.maxNotificationBytes must be in 1..%d, got %d", MaxVoIPNotificationBytes, c.Limits.MaxNotificationBytes)
	}
	return chk.Err()
}

// String prints the configuration with secrets redacted, for logs.
func (c Config) String() string {
	var apps []string
	for _, id := range slices.Sorted(maps.Keys(c.Apps)) {
		apps = append(apps, id+"="+c.Apps[id].String())
	}
	return fmt.Sprintf("apns.Config{Region:%s Sandbox:%t BaseURL:%s Apps:[%s] RootCAs:%t CAFile:%s Timeout:%s MaxBatch:%d MaxConcurrentStreams:%d Connections:%d TokenRefresh:%s Limits:%+v StandardHTTP2:%t}",
		c.Region, c.Sandbox, c.BaseURL, strings.Join(apps, " "), c.RootCAs != nil, c.CAFile, c.Timeout,
		c.MaxBatch, c.MaxConcurrentStreams, c.Connections, c.TokenRefresh, c.Limits, c.StandardHTTP2)
}

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return c.String() }

func checkHTTPSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "https" {
		return fmt.Errorf("%q is not an https URL (APNs is HTTP/2 over TLS only)", raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%q has no host", raw)
	}
	return nil
}
