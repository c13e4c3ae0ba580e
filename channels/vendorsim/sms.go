package vendorsim

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels"
)

// VendorSMS is the vendor name of Alibaba Cloud SMS (the channel "sms").
const VendorSMS = "sms"

// Alibaba Cloud SMS limits the simulator enforces: SendSms takes at most
// 1000 numbers; a template value has 1 to 35 characters; sign name and
// content together at most 500 characters; OutId at most 256 characters;
// a signed request is accepted within 15 minutes of its Timestamp, and a
// SignatureNonce only once in that window.
const (
	SMSMaxNumbers       = 1000
	SMSMaxParamRunes    = 35
	SMSMaxContentRunes  = 500
	SMSMaxOutIDLen      = 256
	SMSTimestampSkew    = 15 * time.Minute
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
	if c.QuotaPerSecond == 0 {
		c.QuotaPerSecond = DefaultSMSQuota
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = burstFor(c.QuotaPerSecond)
	}
	if c.PerNumberPerDay == 0 {
		c.PerNumberPerDay = SMSDefaultPerNumber
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultSMSMaxBodyBytes
	}
	return c
}

var smsVariable = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

func (c SMSConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: sms: "+format, args...))
	}
	for _, r := range c.Regions {
		if !slices.Contains(Regions(), r) {
			bad("unknown region %q", r)
		}
	}
	ids, keys := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		switch {
		case a.AppID == "":
			bad("app %d has no appId", i)
		case ids[a.AppID]:
			bad("duplicate appId %q", a.AppID)
		}
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
	if c.MaxBodyBytes <= 0 {
		bad("maxBodyBytes must be positive")
	}
	return errs
}

func (c SMSConfig) appCount() int { return len(c.Apps) }

// SMSBaseURL returns the Alibaba Cloud SMS endpoint of region on this
// simulator (the client posts to it with a trailing "/").
func (s *Server) SMSBaseURL(region string) string { return s.URL() + "/sms/" + region }

// SMSSignature is Alibaba Cloud's RPC signature of a request, computed by
// the simulator on its own: Base64(HMAC-SHA1(secret + "&", method + "&%2F&"
// + encode(the parameters but Signature, sorted, encode(k)=encode(v)
// joined by &))), encode being RFC 3986 with upper-case hex.
func SMSSignature(method string, params url.Values, secret string) string {
	enc := func(s string) string {
		return strings.NewReplacer("+", "%20", "*", "%2A", "%7E", "~").Replace(url.QueryEscape(s))
	}
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "Signature" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var q []string
	for _, k := range keys {
		q = append(q, enc(k)+"="+enc(params.Get(k)))
	}
	mac := hmac.New(sha1.New, []byte(secret+"&"))
	mac.Write([]byte(method + "&%2F&" + enc(strings.Join(q, "&"))))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// SMSNumber returns the E.164 form of a PhoneNumbers entry as Alibaba
// Cloud reads it: a mainland China mobile number bare (11 digits 1[3-9]),
// or with +86, 0086 or 86; any other number as the country code and the
// number, with or without + or 00. ok is false when the entry is no number.
func SMSNumber(s string) (string, bool) {
	d := strings.TrimPrefix(s, "+")
	if d == s {
		d = strings.TrimPrefix(s, "00")
	}
	if len(d) < 7 || len(d) > 15 || !allDigits(d) {
		return "", false
	}
	if len(d) == 11 && d == s && mainlandMobile(d) {
		return "+86" + d, true
	}
	if rest, cn := strings.CutPrefix(d, "86"); cn {
		if !mainlandMobile(rest) {
			return "", false
		}
	}
	return "+" + d, true
}

func mainlandMobile(d string) bool {
	return len(d) == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9' && allDigits(d)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// smsSim serves the Alibaba Cloud SMS endpoint. Its nonce store lives as
// long as the simulator; its flow-control windows are cleared by Reset.
type smsSim struct {
	s   *Simulator
	cfg SMSConfig

	mu     sync.Mutex
	nonces map[string]time.Time   // accessKeyId/nonce -> first use
	sends  map[string][]time.Time // app/sign/template/number -> accepted sends within 24h
}

func newSMSSim(s *Simulator) simVendor {
	return &smsSim{s: s, cfg: s.cfg.SMS, nonces: map[string]time.Time{}, sends: map[string][]time.Time{}}
}

func (v *smsSim) name() string { return VendorSMS }

func (v *smsSim) appIDs() []string {
	ids := make([]string, len(v.cfg.Apps))
	for i, a := range v.cfg.Apps {
		ids[i] = a.AppID
	}
	return ids
}

func (v *smsSim) register(mux *http.ServeMux) {
	mux.HandleFunc("/sms/{region}/{$}", v.handle)
	mux.HandleFunc("/sms/{region}/", func(w http.ResponseWriter, r *http.Request) {
		if !v.serves(r.PathValue("region")) {
			http.NotFound(w, r)
			return
		}
		v.write(w, http.StatusNotFound, smsAnswer{Code: "InvalidAction.NotFound", Message: "Specified api is not found, please check your url and method."})
	})
}

// reset forgets the flow-control windows (Simulator.Reset).
func (v *smsSim) reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sends = map[string][]time.Time{}
}

func (v *smsSim) serves(region string) bool { return slices.Contains(v.cfg.Regions, region) }

// smsAnswer is Alibaba Cloud's JSON answer: SendSms's Code, Message,
// BizId and RequestId, and the gateway's HostId and Recommend on errors.
type smsAnswer struct {
	RequestID string `json:"RequestId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	BizID     string `json:"BizId,omitempty"`
	HostID    string `json:"HostId,omitempty"`
	Recommend string `json:"Recommend,omitempty"`
}

func (v *smsSim) write(w http.ResponseWriter, status int, a smsAnswer) string {
	n, letters := v.s.nextID()
	a.RequestID = fmt.Sprintf("%08X-%04X-4%03X-A%03X-%s%010X", n, n%0xFFFF, n%0xFFF, n%0xFFF, strings.ToUpper(letters), n)
	if a.Code != "OK" {
		a.HostID = "dysmsapi.aliyuncs.com"
		if status != http.StatusOK {
			a.Recommend = "https://api.aliyun.com/troubleshoot?q=" + a.Code + "&product=Dysmsapi"
		}
	}
	return writeJSON(w, status, a)
}

// handle serves SendSms (GET with the query, or POST with a form body).
func (v *smsSim) handle(w http.ResponseWriter, r *http.Request) {
	region := r.PathValue("region")
	if !v.serves(region) {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, v.cfg.MaxBodyBytes)
	parseErr := r.ParseForm()
	p := r.Form
	if p == nil {
		p = url.Values{}
	}
	var app SMSApp
	appID := UnknownApp
	for _, a := range v.cfg.Apps {
		if a.AccessKeyID != "" && a.AccessKeyID == p.Get("AccessKeyId") {
			app, appID = a, a.AppID
		}
	}
	var numbers []string
	for _, n := range strings.Split(p.Get("PhoneNumbers"), ",") {
		if e164, ok := SMSNumber(strings.TrimSpace(n)); ok {
			numbers = append(numbers, e164)
		}
	}
	rec := v.s.begin(VendorSMS, region, appID, r, p, numbers)

	if !v.s.wait(r, v.s.delay(VendorSMS, region)) {
		v.s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler)
	}
	if f, ok := v.s.failure(VendorSMS, region); ok {
		v.s.writeInjected(w, rec, f, func(w http.ResponseWriter, f Failure) string {
			return v.write(w, f.Status, smsAnswer{Code: "isp.SYSTEM_ERROR", Message: "Injected failure: system error"})
		})
		return
	}
	refuse := func(out outcome, status int, code, message string, invalid []string) {
		body := v.write(w, status, smsAnswer{Code: code, Message: message})
		v.s.finish(rec, status, 0, body, out, nil, invalid)
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		refuse(outRejected, http.StatusMethodNotAllowed, "UnsupportedHTTPMethod", "This http method is not supported.", nil)
		return
	}
	if parseErr != nil {
		refuse(outRejected, http.StatusBadRequest, "InvalidParameter.Format", "The request body could not be read as a form.", nil)
		return
	}
	if code, msg, status := v.checkSignature(r.Method, p, app, appID != UnknownApp, time.Now()); code != "" {
		refuse(outRejected, status, code, msg, nil)
		return
	}
	if p.Get("Action") != "SendSms" {
		refuse(outRejected, http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.", nil)
		return
	}
	if p.Get("Version") != "2017-05-25" {
		refuse(outRejected, http.StatusBadRequest, "InvalidVersion", "Specified parameter Version is not valid.", nil)
		return
	}
	if !v.s.Allow(VendorSMS, region, app.AppID, v.cfg.QuotaPerSecond, v.cfg.QuotaBurst) {
		refuse(outThrottled, http.StatusBadRequest, "Throttling.User", "Request was denied due to user flow control.", nil)
		return
	}
	for _, f := range []string{"PhoneNumbers", "SignName", "TemplateCode"} {
		if p.Get(f) == "" {
			refuse(outRejected, http.StatusBadRequest, "Missing"+f, f+" is mandatory for this action.", nil)
			return
		}
	}
	if code, msg := v.checkContent(p, app); code != "" {
		refuse(outRejected, http.StatusOK, code, msg, nil)
		return
	}
	raw := strings.Split(p.Get("PhoneNumbers"), ",")
	if len(raw) > SMSMaxNumbers {
		refuse(outRejected, http.StatusOK, "isv.MOBILE_COUNT_OVER_LIMIT", fmt.Sprintf("%d numbers; at most %d", len(raw), SMSMaxNumbers), nil)
		return
	}
	var invalid []string
	for _, n := range raw {
		e164, ok := SMSNumber(strings.TrimSpace(n))
		if !ok || tokenInvalid(e164, v.cfg.InvalidNumberPrefixes, v.cfg.InvalidNumbers) {
			invalid = append(invalid, cmpOr(e164, n))
		}
	}
	if len(invalid) > 0 {
		refuse(outRejected, http.StatusOK, "isv.MOBILE_NUMBER_ILLEGAL", "invalid mobile number "+strings.Join(invalid, ","), invalid)
		return
	}
	if msg, ok := v.admit(app.AppID, p.Get("SignName"), p.Get("TemplateCode"), numbers, time.Now()); !ok {
		refuse(outThrottled, http.StatusOK, "isv.BUSINESS_LIMIT_CONTROL", msg, nil)
		return
	}
	n, _ := v.s.nextID()
	body := v.write(w, http.StatusOK, smsAnswer{Code: "OK", Message: "OK", BizID: fmt.Sprintf("%d^%d", 900619746936498+n, 0)})
	v.s.finish(rec, http.StatusOK, 0, body, outAccepted, numbers, nil)
}

// checkSignature checks the common parameters and the signature as
// Alibaba Cloud's gateway does; it returns the refusal's code, message and
// HTTP status, or "" when the request is authentic.
func (v *smsSim) checkSignature(method string, p url.Values, app SMSApp, known bool, now time.Time) (string, string, int) {
	for _, f := range []string{"AccessKeyId", "Signature", "SignatureMethod", "SignatureNonce", "SignatureVersion", "Timestamp", "Version", "Action", "Format"} {
		if p.Get(f) == "" {
			return "MissingParameter", "The input parameter \"" + f + "\" that is mandatory for processing this request is not supplied.", http.StatusBadRequest
		}
	}
	if !known {
		return "InvalidAccessKeyId.NotFound", "Specified access key is not found.", http.StatusNotFound
	}
	if p.Get("SignatureMethod") != "HMAC-SHA1" {
		return "InvalidSignatureMethod", "Specified signature method is not supported.", http.StatusBadRequest
	}
	if p.Get("SignatureVersion") != "1.0" {
		return "InvalidSignatureVersion", "Specified signature version is not supported.", http.StatusBadRequest
	}
	if f := p.Get("Format"); f != "JSON" && f != "XML" {
		return "InvalidParameter.Format", "Specified parameter Format is not valid.", http.StatusBadRequest
	}
	ts, err := time.Parse("2006-01-02T15:04:05Z", p.Get("Timestamp"))
	if err != nil {
		return "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.", http.StatusBadRequest
	}
	if absDuration(now.Sub(ts)) > SMSTimestampSkew {
		return "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", http.StatusBadRequest
	}
	if want := SMSSignature(method, p, app.AccessKeySecret.Reveal()); !hmac.Equal([]byte(want), []byte(p.Get("Signature"))) {
		return "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.", http.StatusBadRequest
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, at := range v.nonces {
		if now.Sub(at) > SMSTimestampSkew {
			delete(v.nonces, k)
		}
	}
	key := app.AccessKeyID + "/" + p.Get("SignatureNonce")
	if _, used := v.nonces[key]; used {
		return "SignatureNonceUsed", "Specified signature nonce was used already.", http.StatusBadRequest
	}
	v.nonces[key] = now
	return "", "", 0
}

// checkContent checks SignName, TemplateCode, TemplateParam and OutId
// against the app's approved signs and templates; it returns the refusal's
// code and message, or "".
func (v *smsSim) checkContent(p url.Values, app SMSApp) (string, string) {
	sign := p.Get("SignName")
	if !slices.Contains(app.SignNames, sign) {
		return "isv.SMS_SIGNATURE_ILLEGAL", "The signature " + sign + " is not approved for this account."
	}
	var tpl *SMSTemplate
	for i := range app.Templates {
		if app.Templates[i].Code == p.Get("TemplateCode") {
			tpl = &app.Templates[i]
		}
	}
	if tpl == nil {
		return "isv.SMS_TEMPLATE_ILLEGAL", "The template " + p.Get("TemplateCode") + " is not approved for this account."
	}
	values := map[string]string{}
	if raw := p.Get("TemplateParam"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &values); err != nil {
			return "isv.INVALID_JSON_PARAM", "JSON参数不合法，只接受字符串值"
		}
	}
	content := tpl.Content
	for _, m := range smsVariable.FindAllStringSubmatch(tpl.Content, -1) {
		val, ok := values[m[1]]
		if !ok {
			return "isv.TEMPLATE_MISSING_PARAMETERS", "The template variable " + m[1] + " has no value."
		}
		if n := utf8.RuneCountInString(val); n < 1 || n > SMSMaxParamRunes {
			return "isv.PARAM_LENGTH_LIMIT", fmt.Sprintf("The value of %s has %d characters; 1 to %d are allowed.", m[1], n, SMSMaxParamRunes)
		}
		content = strings.ReplaceAll(content, m[0], val)
	}
	if n := utf8.RuneCountInString("【" + sign + "】" + content); n > SMSMaxContentRunes {
		return "isv.PARAM_LENGTH_LIMIT", fmt.Sprintf("The message has %d characters; at most %d are allowed.", n, SMSMaxContentRunes)
	}
	if n := len(p.Get("OutId")); n > SMSMaxOutIDLen {
		return "isv.INVALID_PARAMETERS", fmt.Sprintf("OutId has %d characters; at most %d are allowed.", n, SMSMaxOutIDLen)
	}
	return "", ""
}

// admit applies the per-number flow control to one accepted call and, when
// every number is within it, records the sends; otherwise it returns the
// refusal's message.
func (v *smsSim) admit(appID, sign, template string, numbers []string, now time.Time) (string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	key := func(n string) string { return appID + "/" + sign + "/" + template + "/" + n }
	for _, n := range numbers {
		recent := v.sends[key(n)][:0]
		minute := 0
		for _, at := range v.sends[key(n)] {
			if now.Sub(at) < 24*time.Hour {
				recent = append(recent, at)
				if now.Sub(at) < time.Minute {
					minute++
				}
			}
		}
		v.sends[key(n)] = recent
		if v.cfg.PerNumberPerMinute > 0 && minute >= v.cfg.PerNumberPerMinute {
			return fmt.Sprintf("触发分钟级流控Permits:%d", v.cfg.PerNumberPerMinute), false
		}
		if v.cfg.PerNumberPerDay > 0 && len(recent) >= v.cfg.PerNumberPerDay {
			return fmt.Sprintf("触发天级流控Permits:%d", v.cfg.PerNumberPerDay), false
		}
	}
	for _, n := range numbers {
		v.sends[key(n)] = append(v.sends[key(n)], now)
	}
	return "", true
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
