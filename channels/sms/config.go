package sms

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// Limits of Alibaba Cloud SMS SendSms: at most 1000 comma-separated phone
// numbers a call, an OutId of at most 256 characters.
const (
	MaxNumbersPerCall = 1000
	MaxOutIDLen       = 256
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultTimeout            = 5 * time.Second
	DefaultMaxBatch           = MaxNumbersPerCall
	DefaultNumbersPerCall     = 1
	DefaultMaxConcurrentCalls = 8
)

// endpoints are Alibaba Cloud SMS's public endpoints and region ids for
// the pushpipe regions that have one: the Chinese mainland endpoint for
// cn, Singapore for sg, Frankfurt for eu. Russia and India have no Alibaba
// Cloud SMS endpoint in the region, so ru and in need a configured BaseURL
// and RegionID (sending their users' numbers to another region's
// endpoint would break data residency).
var endpoints = map[string][2]string{
	"cn": {"https://dysmsapi.aliyuncs.com", "cn-hangzhou"},
	"sg": {"https://dysmsapi.ap-southeast-1.aliyuncs.com", "ap-southeast-1"},
	"eu": {"https://dysmsapi.eu-central-1.aliyuncs.com", "eu-central-1"},
}

// RegionEndpoint returns the Alibaba Cloud SMS endpoint and region id of a
// pushpipe region, and whether the region has one (cn, sg and eu do).
func RegionEndpoint(region string) (baseURL, regionID string, ok bool) {
	e, ok := endpoints[region]
	return e[0], e[1], ok
}

// App is the Alibaba Cloud AccessKey pair an app sends SMS with.
type App struct {
	// AccessKeyID is sent as AccessKeyId.
	AccessKeyID string `json:"accessKeyId" yaml:"accessKeyId"`
	// AccessKeySecret signs the calls (HMAC-SHA1); it is never sent and
	// never printed.
	AccessKeySecret channels.Secret `json:"accessKeySecret" yaml:"accessKeySecret"`
}

// String prints the app without its secret.
func (a App) String() string {
	return fmt.Sprintf("{accessKeyId=%s accessKeySecret=%s}", a.AccessKeyID, a.AccessKeySecret)
}

// Config configures the SMS channel of one region. Printing a Config
// (String, %v, %+v, %#v, JSON) never shows secrets.
type Config struct {
	// Region is the pushpipe region (cn, ru, in, eu, sg).
	Region string `json:"region" yaml:"region"`
	// BaseURL overrides the region's endpoint (RegionEndpoint), e.g. the
	// simulator's "http://127.0.0.1:PORT/sms/sg"; the channel posts to
	// BaseURL + "/". Required for ru and in.
	BaseURL string `json:"baseUrl" yaml:"baseUrl"`
	// RegionID is the Alibaba Cloud region id sent as RegionId; default
	// the region's (RegionEndpoint). Required for ru and in.
	RegionID string `json:"regionId" yaml:"regionId"`
	// Apps maps pushpipe app ids to their AccessKey pairs.
	Apps map[string]App `json:"apps" yaml:"apps"`
	// Timeout bounds one HTTP call (Alibaba Cloud recommends at least 1s).
	Timeout time.Duration `json:"timeout" yaml:"timeout"`
	// MaxBatch is how many messages one Send accepts, 1..1000.
	MaxBatch int `json:"maxBatch" yaml:"maxBatch"`
	// NumbersPerCall is how many phone numbers of messages with one
	// content one SendSms call carries, 1..1000. The default 1 sends each
	// number alone, as Alibaba Cloud recommends for timely delivery, and
	// puts the delivery id in OutId; with more, a call's OutId is the
	// message id.
	NumbersPerCall int `json:"numbersPerCall" yaml:"numbersPerCall"`
	// MaxConcurrentCalls bounds the SendSms calls one Send makes at once.
	MaxConcurrentCalls int `json:"maxConcurrentCalls" yaml:"maxConcurrentCalls"`
}

// DefaultConfig returns the configuration of a channel for region with
// every default set and no apps.
func DefaultConfig(region string) Config { return Config{Region: region}.WithDefaults() }

// WithDefaults returns a copy of c with zero fields set to their defaults.
// The Apps map is shared with c.
func (c Config) WithDefaults() Config {
	if base, id, ok := RegionEndpoint(c.Region); ok {
		if c.BaseURL == "" {
			c.BaseURL = base
		}
		if c.RegionID == "" {
			c.RegionID = id
		}
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultMaxBatch
	}
	if c.NumbersPerCall == 0 {
		c.NumbersPerCall = DefaultNumbersPerCall
	}
	if c.MaxConcurrentCalls == 0 {
		c.MaxConcurrentCalls = DefaultMaxConcurrentCalls
	}
	return c
}

// Validate reports every problem of c (after defaults) at once, joined,
// each saying what to fix.
func (c Config) Validate() error {
	chk := channels.NewConfigCheck("sms")
	bad := chk.Bad
	switch {
	case !slices.Contains([]string{"cn", "ru", "in", "eu", "sg"}, c.Region):
		bad("unknown region %q (want cn, ru, in, eu or sg)", c.Region)
	case c.BaseURL == "":
		bad("region %s has no Alibaba Cloud SMS endpoint of its own: set baseUrl (and regionId) to the endpoint its users' numbers may be sent to", c.Region)
	default:
		if err := channels.CheckHTTPURL(c.BaseURL); err != nil {
			bad("baseUrl: %v", err)
		}
	}
	if c.BaseURL != "" && c.RegionID == "" {
		bad("regionId is empty: give the Alibaba Cloud region id of baseUrl, such as ap-southeast-1")
	}
	if len(c.Apps) == 0 {
		bad("no apps configured: give each app's accessKeyId and accessKeySecret")
	}
	for _, id := range slices.Sorted(maps.Keys(c.Apps)) {
		a := c.Apps[id]
		if id == "" {
			bad("app with empty id")
		}
		if strings.TrimSpace(a.AccessKeyID) == "" {
			bad("app %q: empty accessKeyId", id)
		}
		if strings.TrimSpace(a.AccessKeySecret.Reveal()) == "" {
			bad("app %q: empty accessKeySecret", id)
		}
	}
	chk.Timeout(c.Timeout)
	chk.MaxBatch(c.MaxBatch, MaxNumbersPerCall)
	if c.NumbersPerCall < 1 || c.NumbersPerCall > MaxNumbersPerCall {
		bad("numbersPerCall must be in 1..%d (SendSms takes at most %d numbers), got %d", MaxNumbersPerCall, MaxNumbersPerCall, c.NumbersPerCall)
	}
	chk.Concurrency(c.MaxConcurrentCalls)
	return chk.Err()
}

// String prints the configuration with secrets redacted, for logs.
func (c Config) String() string {
	var apps []string
	for _, id := range slices.Sorted(maps.Keys(c.Apps)) {
		apps = append(apps, id+"="+c.Apps[id].String())
	}
	return fmt.Sprintf("sms.Config{Region:%s BaseURL:%s RegionID:%s Apps:[%s] Timeout:%s MaxBatch:%d NumbersPerCall:%d MaxConcurrentCalls:%d}",
		c.Region, c.BaseURL, c.RegionID, strings.Join(apps, " "), c.Timeout, c.MaxBatch, c.NumbersPerCall, c.MaxConcurrentCalls)
}

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return c.String() }
