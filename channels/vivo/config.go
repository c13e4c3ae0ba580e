package vivo

import (
	"fmt"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/httpvendor"
)

// Limits of the vivo Push server API: a title of at most 40 and a content
// of at most 100 characters (§8 of the mPaaS guide; §10.3 codes 10056 and
// 10058), at most 10 clientCustomMap pairs (10066) of at most 1024
// characters in all, 1000 regIds per pushToList, a timeToLive of 60
// seconds to 7 days, requestId and extra.callback.param of at most 64
// characters, an authToken valid for 24 hours.
const (
	MaxTitleRunes       = 40
	MaxContentRunes     = 100
	MaxCustomPairs      = 10
	MaxCustomMapRunes   = 1024
	MaxRegIDsPerList    = 1000
	MinTimeToLive       = time.Minute
	MaxTimeToLive       = 7 * 24 * time.Hour
	MaxRequestIDRunes   = 64
	MaxCallbackParam    = 64
	MaxSkipURLRunes     = 1000
	MaxSkipContentRunes = 1024
	AuthTokenLifetime   = 24 * time.Hour
	// MaxPayloadBytes is what fits Message.Payload in clientCustomMap
	// under PayloadKey (1024 characters in all, minus the key).
	MaxPayloadBytes = MaxCustomMapRunes - len(PayloadKey)
)

// Defaults applied by Config.WithDefaults to zero fields.
const (
	DefaultTimeout            = 5 * time.Second
	DefaultMaxConcurrentCalls = 4
	// DefaultNotifyType rings and vibrates (notifyType 4).
	DefaultNotifyType = NotifyRingAndVibrate
	// DefaultClassification is a system message (1), the mPaaS default.
	DefaultClassification = ClassificationSystemName
)

// notifyType values.
const (
	NotifyNone           = 1
	NotifyRing           = 2
	NotifyVibrate        = 3
	NotifyRingAndVibrate = 4
)

// classification values and their configuration names.
const (
	ClassificationOperation     = 0
	ClassificationSystem        = 1
	ClassificationOperationName = "operation"
	ClassificationSystemName    = "system"
)

// classificationValue returns the classification number of a
// configuration name.
func classificationValue(name string) (int, bool) {
	switch name {
	case ClassificationSystemName:
		return ClassificationSystem, true
	case ClassificationOperationName:
		return ClassificationOperation, true
	}
	return 0, false
}

// skipType values.
const (
	SkipOpenApp   = 1
	SkipOpenURL   = 2
	SkipCustom    = 3
	SkipAppIntent = 4
)

// RegionBaseURL returns the vivo Push host of a pushpipe region and whether
// one is known: vivo publishes api-push.vivo.com.cn for mainland China;
// other regions need Config.BaseURL.
func RegionBaseURL(region string) (string, bool) {
	if region == "cn" {
		return "https://api-push.vivo.com.cn", true
	}
	return "", false
}

// App is the vivo credentials of one pushpipe app.
type App struct {
	// AppID is vivo's appId.
	AppID string `json:"appId" yaml:"appId"`
	// AppKey is vivo's appKey.
	AppKey string `json:"appKey" yaml:"appKey"`
	// AppSecret signs the auth request; never sent.
	AppSecret channels.Secret `json:"appSecret" yaml:"appSecret"`
}

// String prints the app without its secret.
func (a App) String() string {
	return fmt.Sprintf("{appId=%s appKey=%s appSecret=%s}", a.AppID, a.AppKey, a.AppSecret)
}

// Limits are the content limits checked before a message is sent. Messages
// over a limit get a Permanent result and are not sent.
type Limits struct {
	MaxTitleRunes   int `json:"maxTitleRunes" yaml:"maxTitleRunes"`
	MaxContentRunes int `json:"maxContentRunes" yaml:"maxContentRunes"`
	MaxPayloadBytes int `json:"maxPayloadBytes" yaml:"maxPayloadBytes"`
}

// Config configures one vivo channel, which serves one region. Printing a
// Config (String, %v, %+v, %#v, JSON) never shows secrets.
type Config struct {
	// Endpoint holds the region, the vivo host (BaseURL: e.g. the
	// simulator's "http://127.0.0.1:PORT/vivo/sg", required outside cn; the
	// client appends "/message/..."), the apps' vivo credentials, the timeout
	// of one HTTP call and MaxBatch, 1..1000.
	Endpoint `yaml:",inline"`
	// MaxConcurrentCalls bounds the contents one Send delivers at once
	// when its messages carry several.
	MaxConcurrentCalls int `json:"maxConcurrentCalls" yaml:"maxConcurrentCalls"`
	// NotifyType is the notifyType (1 none, 2 ring, 3 vibrate, 4 both)
	// sent when a message has no channels.ExtraNotifyType.
	NotifyType int `json:"notifyType" yaml:"notifyType"`
	// Classification is the classification of messages without
	// ExtraClassification: "system" (1, the default) or "operation" (0).
	Classification string `json:"classification" yaml:"classification"`
	// CallbackURL, if set, is sent as extra.callback: where vivo posts
	// receipts (with ?app=<appId> added).
	CallbackURL string `json:"callbackUrl" yaml:"callbackUrl"`
	// ReceiptSigner, if set, tags extra.callback.param (see
	// CallbackParam), which the receipts worker requires.
	ReceiptSigner channels.ReceiptSigner `json:"-" yaml:"-"`
	// TestPush sends every message as a test push (pushMode 1), delivered
	// to the app's registered test devices only.
	TestPush bool `json:"testPush" yaml:"testPush"`
	// Limits are the content limits; zero fields take vivo's limits.
	Limits Limits `json:"limits" yaml:"limits"`
}

// Endpoint is the configuration vivo shares with the other HTTP vendors
// (see httpvendor.Endpoint), with vivo credentials.
type Endpoint = httpvendor.Endpoint[App]

// endpointDefaults are vivo's defaults and bounds of an Endpoint.
func endpointDefaults() httpvendor.Defaults {
	return httpvendor.Defaults{Vendor: Name, RegionBaseURL: RegionBaseURL, Timeout: DefaultTimeout, MaxBatch: MaxRegIDsPerList}
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
	if c.Classification == "" {
		c.Classification = DefaultClassification
	}
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
	chk := channels.NewConfigCheck("vivo")
	bad := chk.Bad
	c.Endpoint.Check(chk, endpointDefaults(), func(id string, a App) {
		if strings.TrimSpace(a.AppID) == "" {
			bad("app %q: empty appId", id)
		}
		if strings.TrimSpace(a.AppKey) == "" {
			bad("app %q: empty appKey", id)
		}
		if strings.TrimSpace(a.AppSecret.Reveal()) == "" {
			bad("app %q: empty appSecret", id)
		}
	})
	chk.Concurrency(c.MaxConcurrentCalls)
	if c.NotifyType < NotifyNone || c.NotifyType > NotifyRingAndVibrate {
		bad("notifyType must be 1 (none), 2 (ring), 3 (vibrate) or 4 (both), got %d", c.NotifyType)
	}
	if _, ok := classificationValue(c.Classification); !ok {
		bad("classification must be %q or %q, got %q", ClassificationSystemName, ClassificationOperationName, c.Classification)
	}
	if c.CallbackURL != "" {
		if err := channels.CheckHTTPURL(c.CallbackURL); err != nil {
			bad("callbackUrl: %v", err)
		}
	}
	if c.Limits.MaxTitleRunes < 1 || c.Limits.MaxContentRunes < 1 || c.Limits.MaxPayloadBytes < 1 {
		bad("limits must be positive, got %+v", c.Limits)
	}
	return chk.Err()
}

// String prints the configuration with secrets redacted, for logs.
func (c Config) String() string {
	return fmt.Sprintf("vivo.Config{%s MaxConcurrentCalls:%d NotifyType:%d Classification:%s CallbackURL:%s TestPush:%t Limits:%+v}",
		c.Endpoint, c.MaxConcurrentCalls, c.NotifyType, c.Classification, c.CallbackURL, c.TestPush, c.Limits)
}

// GoString keeps %#v from printing secrets.
func (c Config) GoString() string { return c.String() }
