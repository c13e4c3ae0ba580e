package selfchannel

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Limits of the gateway API and of the mPaaS guide.
const (
	// MaxMessagesPerCall is the most messages one POST /v1/push carries.
	MaxMessagesPerCall = 1000
	// MaxPayloadBytes is the mPaaS limit of a message pushed through an
	// Android channel, self-built included (§8: 2 KB); the self-built
	// channel has no title or body length limit.
	MaxPayloadBytes = 2048
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultTimeout  = 5 * time.Second
	DefaultMaxBatch = 500
)

// App is the gateway credentials of one pushpipe app.
type App struct {
	// AppKey is sent as "Authorization: Bearer <AppKey>".
	AppKey channels.Secret `json:"appKey" yaml:"appKey"`
}

// String prints the app without its key.
func (a App) String() string { return fmt.Sprintf("{appKey=%s}", a.AppKey) }

// Limits are the content limits checked before a message is sent. Messages
// over a limit get a Permanent result and are not sent. A zero title or
// body limit means none (§8: the self-built channel has none).
type Limits struct {
	MaxTitleRunes   int `json:"maxTitleRunes" yaml:"maxTitleRunes"`     // characters of the title; 0 = no limit
	MaxBodyRunes    int `json:"maxBodyRunes" yaml:"maxBodyRunes"`       // characters of the body; 0 = no limit
	MaxPayloadBytes int `json:"maxPayloadBytes" yaml:"maxPayloadBytes"` // bytes of the payload; default MaxPayloadBytes
}

// Config configures one self-built channel, which serves one region.
// Printing a Config (String, %v, %+v, %#v, JSON) never shows secrets.
type Config struct {
	// Region is the pushpipe region (cn, ru, in, eu, sg).
	Region string `json:"region" yaml:"region"`
	// BaseURL is the region's connection gateway, e.g.
	// "https://push-gw.sg.example.internal" or the simulator's
	// "http://127.0.0.1:PORT/self/sg". The client appends "/v1/push".
	// Required: the gateway is the operator's own.
	BaseURL string `json:"baseUrl" yaml:"baseUrl"`
	// Apps maps pushpipe app ids to gateway credentials.
	Apps map[string]App `json:"apps" yaml:"apps"`
	// Timeout bounds one HTTP call.
	Timeout time.Duration `json:"timeout" yaml:"timeout"`
	// MaxBatch is the number of messages one Send (one call) accepts;
	// 1..MaxMessagesPerCall.
	MaxBatch int `json:"maxBatch" yaml:"maxBatch"`
	// Limits are the content limits.
	Limits Limits `json:"limits" yaml:"limits"`
}

// DefaultConfig returns the configuration of a channel for region and
// gateway baseURL with every default set and no apps.
func DefaultConfig(region, baseURL string) Config {
	return Config{Region: region, BaseURL: baseURL}.WithDefaults()
}

// WithDefaults returns a copy of c with zero fields set to their defaults.
// The Apps map is shared with c.
func (c Config) WithDefaults() Config {
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.Limits.MaxPayloadBytes == 0 {
		c.Limits.MaxPayloadBytes = MaxPayloadBytes
	}
	return c
}

// Validate reports every problem of c (after defaults) at once, joined.
func (c Config) Validate() error {
	chk := channels.NewConfigCheck("self channel")
	bad := chk.Bad
	if !schema.ValidRegion(c.Region) {
		bad("unknown region %q (want one of %s)", c.Region, strings.Join(schema.Regions(), ", "))
	}
	if c.BaseURL == "" {
		bad("baseUrl is required: the URL of the region's connection gateway")
	} else if err := channels.CheckHTTPURL(c.BaseURL); err != nil {
		bad("baseUrl: %v", err)
	}
	if len(c.Apps) == 0 {
		bad("no apps configured")
	}
	for _, id := range slices.Sorted(maps.Keys(c.Apps)) {
		if id == "" {
			bad("app with empty id")
		}
		if strings.TrimSpace(c.Apps[id].AppKey.Reveal()) == "" {
			bad("app %q: empty appKey", id)
		}
	}
	chk.Timeout(c.Timeout)
	chk.MaxBatch(c.MaxBatch, MaxMessagesPerCall)
	if c.Limits.MaxTitleRunes < 0 || c.Limits.MaxBodyRunes < 0 || c.Limits.MaxPayloadBytes < 1 {
		bad("limits: title and body limits must not be negative and maxPayloadBytes must be positive, got %+v", c.Limits)
	}
	return chk.Err()
}

// String prints the configuration with secrets redacted, for logs.
func (c Config) String() string {
	var apps []string
	for _, id := range slices.Sorted(maps.Keys(c.Apps)) {
		apps = append(apps, id+"="+c.Apps[id].String())
	}
	return fmt.Sprintf("selfchannel.Config{Region:%s BaseURL:%s Apps:[%s] Timeout:%s MaxBatch:%d Limits:%+v}",
		c.Region, c.BaseURL, strings.Join(apps, " "), c.Timeout, c.MaxBatch, c.Limits)
}

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return c.String() }
