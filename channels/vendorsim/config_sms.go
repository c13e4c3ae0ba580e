package vendorsim

import (
	"fmt"
	"slices"

	"github.com/pushpipe/pushpipe/channels"
)

// Defaults of SMSConfig.
const (
	SMSDefaultPerNumber = 50
)

// Defaults of SMSConfig.
const (
	// DefaultSMSQuota is SendSms's documented limit: 5000 calls a second
	// per account.
	DefaultSMSQuota = 5000.0
	// DefaultSMSSignName is the sign name apps without SignNames may use.
	DefaultSMSSignName = "pushpipe"
	// DefaultSMSInvalidNumberPrefix marks numbers reported illegal: +999
	// is no country's calling code.
	DefaultSMSInvalidNumberPrefix = "+999"
	DefaultSMSMaxBodyBytes        = 1 << 20
)

// DefaultSMSTemplates are the templates apps without Templates may use:
// the mPaaS guide's example code and a notification with two variables.
func DefaultSMSTemplates() []SMSTemplate {
	return []SMSTemplate{
		{Code: "SMS_216070269", Content: "Your verification code is ${code}."},
		{Code: "SMS_100002", Content: "${name}, you have a new message: ${message}"},
	}
}

// SMSConfig configures the simulated Alibaba Cloud SMS API. One simulator
// serves every region under its own path: the endpoint of region R is
// http://ADDR/sms/R/ (SendSms, RPC style, GET or POST).
type SMSConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the AccessKey pairs accepted, with their approved sign
	// names and templates.
	Apps []SMSApp `json:"apps" yaml:"apps"`
	// InvalidNumberPrefixes: numbers (E.164) starting with one of them are
	// refused as isv.MOBILE_NUMBER_ILLEGAL; default
	// [DefaultSMSInvalidNumberPrefix]. InvalidNumbers are refused too.
	InvalidNumberPrefixes []string `json:"invalidNumberPrefixes" yaml:"invalidNumberPrefixes"`
	InvalidNumbers        []string `json:"invalidNumbers" yaml:"invalidNumbers"`
	// QuotaPerSecond and QuotaBurst are the token bucket of calls per app
	// and region (Throttling.User beyond it); default DefaultSMSQuota.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
	// PerNumberPerDay is Alibaba Cloud's flow control of notifications:
	// SMS of one sign name and template to one number within 24 hours,
	// beyond which a call is refused with isv.BUSINESS_LIMIT_CONTROL;
	// default SMSDefaultPerNumber, negative for none. PerNumberPerMinute
	// is the per-minute control of verification codes; 0 (default) for
	// none.
	PerNumberPerDay    int `json:"perNumberPerDay" yaml:"perNumberPerDay"`
	PerNumberPerMinute int `json:"perNumberPerMinute" yaml:"perNumberPerMinute"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// SMSApp is one simulated Alibaba Cloud SMS account.
type SMSApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// AccessKeyID and AccessKeySecret are the AccessKey pair.
	AccessKeyID     string          `json:"accessKeyId" yaml:"accessKeyId"`
	AccessKeySecret channels.Secret `json:"accessKeySecret" yaml:"accessKeySecret"`
	// SignNames are the approved sign names; default
	// [DefaultSMSSignName].
	SignNames []string `json:"signNames" yaml:"signNames"`
	// Templates are the approved templates; default DefaultSMSTemplates.
	Templates []SMSTemplate `json:"templates" yaml:"templates"`
}

// SMSTemplate is an approved template: its code and content, whose
// ${name} variables TemplateParam must give.
type SMSTemplate struct {
	Code    string `json:"code" yaml:"code"`
	Content string `json:"content" yaml:"content"`
}

// String prints the app without its secret.
func (a SMSApp) String() string {
	return fmt.Sprintf("{appId=%s accessKeyId=%s accessKeySecret=%s signNames=%v templates=%d}", a.AppID, a.AccessKeyID, a.AccessKeySecret, a.SignNames, len(a.Templates))
}

func (c SMSConfig) withDefaults() SMSConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	for i := range c.Apps {
		if len(c.Apps[i].SignNames) == 0 {
			c.Apps[i].SignNames = []string{DefaultSMSSignName}
		}
		if len(c.Apps[i].Templates) == 0 {
			c.Apps[i].Templates = DefaultSMSTemplates()
		}
	}
	if c.InvalidNumberPrefixes == nil {
		c.InvalidNumberPrefixes = []string{DefaultSMSInvalidNumberPrefix}
	} else {
		c.InvalidNumberPrefixes = slices.Clone(c.InvalidNumberPrefixes)
	}
	c.InvalidNumbers = slices.Clone(c.InvalidNumbers)
	c.QuotaPerSecond, c.QuotaBurst = defaultQuota(c.QuotaPerSecond, c.QuotaBurst, DefaultSMSQuota)
	if c.PerNumberPerDay == 0 {
		c.PerNumberPerDay = SMSDefaultPerNumber
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultSMSMaxBodyBytes
	}
	return c
}

func (c SMSConfig) validate() []error {
	p := configProblems{vendor: VendorSMS}
	bad := p.bad
	p.regions(c.Regions)
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		p.appID(i, a.AppID, ids)
		switch {
		case a.AccessKeyID == "":
			bad("app %q has no accessKeyId", a.AppID)
		case keys[a.AccessKeyID]:
			bad("app %q shares its accessKeyId with another app", a.AppID)
		}
		if a.AccessKeySecret == "" {
			bad("app %q has no accessKeySecret", a.AppID)
		}
		for _, t := range a.Templates {
			if t.Code == "" || t.Content == "" {
				bad("app %q has a template without code or content", a.AppID)
			}
		}
		ids[a.AppID], keys[a.AccessKeyID] = true, true
	}
	if c.QuotaPerSecond < 0 || c.QuotaBurst < 0 || c.PerNumberPerMinute < 0 {
		bad("negative quota")
	}
	p.maxBody(c.MaxBodyBytes)
	return p.errs
}

func (c SMSConfig) appIDs() []string {
	return appIDsOf(c.Apps, func(a SMSApp) string { return a.AppID })
}
