// Package sms simulates Alibaba Cloud SMS's SendSms (RPC style, signed
// with an AccessKey) for the vendor simulator (channels/vendorsim): the
// signature, the approved signs and templates, the numbers and the flow
// control, answered with Alibaba Cloud's codes. Its configuration is
// vendorsim.SMSConfig.
package sms

import (
	"cmp"
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

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// Alibaba Cloud SMS limits the simulator enforces: SendSms takes at most
// 1000 numbers; a template value has 1 to 35 characters; sign name and
// content together at most 500 characters; OutId at most 256 characters;
// a signed request is accepted within 15 minutes of its Timestamp, and a
// SignatureNonce only once in that window.
const (
	MaxNumbers      = 1000
	MaxParamRunes   = 35
	MaxContentRunes = 500
	MaxOutIDLen     = 256
	TimestampSkew   = 15 * time.Minute
)

var smsVariable = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Signature is Alibaba Cloud's RPC signature of a request, computed by
// the simulator on its own: Base64(HMAC-SHA1(secret + "&", method + "&%2F&"
// + encode(the parameters but Signature, sorted, encode(k)=encode(v)
// joined by &))), encode being RFC 3986 with upper-case hex.
func Signature(method string, params url.Values, secret string) string {
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

// Number returns the E.164 form of a PhoneNumbers entry as Alibaba
// Cloud reads it: a mainland China mobile number bare (11 digits 1[3-9]),
// or with +86, 0086 or 86; any other number as the country code and the
// number, with or without + or 00. ok is false when the entry is no number.
func Number(s string) (string, bool) {
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

// sim serves the Alibaba Cloud SMS endpoint. Its nonce store lives as
// long as the simulator; its flow-control windows are cleared by Reset.
type sim struct {
	s   *vendorsim.Simulator
	cfg vendorsim.SMSConfig

	mu     sync.Mutex
	nonces map[string]time.Time   // accessKeyId/nonce -> first use
	sends  map[string][]time.Time // app/sign/template/number -> accepted sends within 24h
}

// New returns the simulated Alibaba Cloud SMS of s (vendorsim.NewVendor).
func New(s *vendorsim.Simulator) vendorsim.Vendor {
	return &sim{s: s, cfg: s.Config().SMS, nonces: map[string]time.Time{}, sends: map[string][]time.Time{}}
}

// Name is vendorsim.VendorSMS.
func (v *sim) Name() string { return vendorsim.VendorSMS }

// Register serves SendSms at /sms/{region}/ (GET or POST) and, for other
// paths, Alibaba Cloud's InvalidAction.NotFound.
func (v *sim) Register(mux *http.ServeMux) {
	mux.Handle("/sms/{region}/{$}", vendorsim.Endpoint[*call]{
		Sim: v.s, Vendor: vendorsim.VendorSMS, Regions: v.cfg.Regions,
		Read: v.read, Injected: v.injected, Authenticate: v.authenticate, Quota: v.quota, Throttled: v.throttled, Answer: v.answer,
	})
	mux.HandleFunc("/sms/{region}/", func(w http.ResponseWriter, r *http.Request) {
		if !vendorsim.ServesRegion(w, r, v.cfg.Regions) {
			return
		}
		v.write(http.StatusNotFound, smsAnswer{Code: "InvalidAction.NotFound", Message: "Specified api is not found, please check your url and method."}).Write(w)
	})
}

// Reset forgets the flow-control windows (vendorsim.Simulator.Reset).
func (v *sim) Reset() {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.sends = map[string][]time.Time{}
}

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

// write is Alibaba Cloud's answer with a new RequestId.
func (v *sim) write(status int, a smsAnswer) vendorsim.Answer {
	n, letters := v.s.NextID()
	a.RequestID = fmt.Sprintf("%08X-%04X-4%03X-A%03X-%s%010X", n, n%0xFFFF, n%0xFFF, n%0xFFF, strings.ToUpper(letters), n)
	if a.Code != "OK" {
		a.HostID = "dysmsapi.aliyuncs.com"
		if status != http.StatusOK {
			a.Recommend = "https://api.aliyun.com/troubleshoot?q=" + a.Code + "&product=Dysmsapi"
		}
	}
	return vendorsim.JSON(status, a)
}

// call is a SendSms call as read.
type call struct {
	region   string
	params   url.Values
	parseErr error
	app      vendorsim.SMSApp
	known    bool
	numbers  []string // the E.164 form of the PhoneNumbers that are numbers
}

// read reads SendSms (GET with the query, or POST with a form body); it is
// recorded with Form holding the parameters and RegIDs the numbers.
func (v *sim) read(w http.ResponseWriter, r *http.Request, region string) (*call, vendorsim.Arrival) {
	r.Body = http.MaxBytesReader(w, r.Body, v.cfg.MaxBodyBytes)
	c := &call{region: region, parseErr: r.ParseForm(), params: r.Form}
	if c.params == nil {
		c.params = url.Values{}
	}
	appID := vendorsim.UnknownApp
	for _, a := range v.cfg.Apps {
		if a.AccessKeyID != "" && a.AccessKeyID == c.params.Get("AccessKeyId") {
			c.app, appID, c.known = a, a.AppID, true
		}
	}
	for _, n := range strings.Split(c.params.Get("PhoneNumbers"), ",") {
		if e164, ok := Number(strings.TrimSpace(n)); ok {
			c.numbers = append(c.numbers, e164)
		}
	}
	return c, vendorsim.Arrival{AppID: appID, Form: c.params, Targets: c.numbers}
}

// refuse answers code and message with status, counted as out.
func (v *sim) refuse(out vendorsim.Outcome, status int, code, message string, invalid []string) vendorsim.Answer {
	a := v.write(status, smsAnswer{Code: code, Message: message})
	a.Outcome, a.Invalid = out, invalid
	return a
}

func (v *sim) injected(f vendorsim.Failure) vendorsim.Answer {
	return vendorsim.InjectedAnswer(f, func(f vendorsim.Failure) vendorsim.Answer {
		return v.write(f.Status, smsAnswer{Code: "isp.SYSTEM_ERROR", Message: "Injected failure: system error"})
	})
}

// authenticate refuses what Alibaba Cloud's gateway refuses before the
// flow control: the method, an unreadable body, the common parameters
// and signature, the action and the version.
func (v *sim) authenticate(r *http.Request, c *call) *vendorsim.Answer {
	var a vendorsim.Answer
	p := c.params
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		a = v.refuse(vendorsim.Rejected, http.StatusMethodNotAllowed, "UnsupportedHTTPMethod", "This http method is not supported.", nil).With("Allow", "GET, POST")
		return &a
	}
	if c.parseErr != nil {
		a = v.refuse(vendorsim.Rejected, http.StatusBadRequest, "InvalidParameter.Format", "The request body could not be read as a form.", nil)
		return &a
	}
	if code, msg, status := v.checkSignature(r.Method, p, c.app, c.known, time.Now()); code != "" {
		a = v.refuse(vendorsim.Rejected, status, code, msg, nil)
		return &a
	}
	switch {
	case p.Get("Action") != "SendSms":
		a = v.refuse(vendorsim.Rejected, http.StatusNotFound, "InvalidAction.NotFound", "Specified api is not found, please check your url and method.", nil)
	case p.Get("Version") != "2017-05-25":
		a = v.refuse(vendorsim.Rejected, http.StatusBadRequest, "InvalidVersion", "Specified parameter Version is not valid.", nil)
	default:
		return nil
	}
	return &a
}

func (v *sim) quota(*call) vendorsim.Bucket {
	return vendorsim.Bucket{PerSecond: v.cfg.QuotaPerSecond, Burst: v.cfg.QuotaBurst}
}

// throttled is the answer over the quota.
func (v *sim) throttled(_ *call) vendorsim.Answer {
	return v.refuse(vendorsim.Throttled, http.StatusBadRequest, "Throttling.User", "Request was denied due to user flow control.", nil)
}

// answer checks the mandatory fields, the content and the numbers, applies
// the per-number flow control and accepts the numbers.
func (v *sim) answer(_ *http.Request, c *call) vendorsim.Answer {
	p := c.params
	for _, f := range []string{"PhoneNumbers", "SignName", "TemplateCode"} {
		if p.Get(f) == "" {
			return v.refuse(vendorsim.Rejected, http.StatusBadRequest, "Missing"+f, f+" is mandatory for this action.", nil)
		}
	}
	if code, msg := v.checkContent(p, c.app); code != "" {
		return v.refuse(vendorsim.Rejected, http.StatusOK, code, msg, nil)
	}
	raw := strings.Split(p.Get("PhoneNumbers"), ",")
	if len(raw) > MaxNumbers {
		return v.refuse(vendorsim.Rejected, http.StatusOK, "isv.MOBILE_COUNT_OVER_LIMIT", fmt.Sprintf("%d numbers; at most %d", len(raw), MaxNumbers), nil)
	}
	var invalid []string
	for _, n := range raw {
		e164, ok := Number(strings.TrimSpace(n))
		if !ok || simkit.Matches(e164, v.cfg.InvalidNumberPrefixes, v.cfg.InvalidNumbers) {
			invalid = append(invalid, cmp.Or(e164, n))
		}
	}
	if len(invalid) > 0 {
		return v.refuse(vendorsim.Rejected, http.StatusOK, "isv.MOBILE_NUMBER_ILLEGAL", "invalid mobile number "+strings.Join(invalid, ","), invalid)
	}
	if msg, ok := v.admit(c.app.AppID, p.Get("SignName"), p.Get("TemplateCode"), c.numbers, time.Now()); !ok {
		return v.refuse(vendorsim.Throttled, http.StatusOK, "isv.BUSINESS_LIMIT_CONTROL", msg, nil)
	}
	n, _ := v.s.NextID()
	a := v.write(http.StatusOK, smsAnswer{Code: "OK", Message: "OK", BizID: fmt.Sprintf("%d^%d", 900619746936498+n, 0)})
	a.Accepted = c.numbers
	return a
}

// checkSignature checks the common parameters and the signature as
// Alibaba Cloud's gateway does; it returns the refusal's code, message and
// HTTP status, or "" when the request is authentic.
func (v *sim) checkSignature(method string, p url.Values, app vendorsim.SMSApp, known bool, now time.Time) (string, string, int) {
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
	if simkit.AbsDuration(now.Sub(ts)) > TimestampSkew {
		return "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.", http.StatusBadRequest
	}
	if want := Signature(method, p, app.AccessKeySecret.Reveal()); !hmac.Equal([]byte(want), []byte(p.Get("Signature"))) {
		return "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.", http.StatusBadRequest
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, at := range v.nonces {
		if now.Sub(at) > TimestampSkew {
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
func (v *sim) checkContent(p url.Values, app vendorsim.SMSApp) (string, string) {
	sign := p.Get("SignName")
	if !slices.Contains(app.SignNames, sign) {
		return "isv.SMS_SIGNATURE_ILLEGAL", "The signature " + sign + " is not approved for this account."
	}
	var tpl *vendorsim.SMSTemplate
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
		if n := utf8.RuneCountInString(val); n < 1 || n > MaxParamRunes {
			return "isv.PARAM_LENGTH_LIMIT", fmt.Sprintf("The value of %s has %d characters; 1 to %d are allowed.", m[1], n, MaxParamRunes)
		}
		content = strings.ReplaceAll(content, m[0], val)
	}
	if n := utf8.RuneCountInString("【" + sign + "】" + content); n > MaxContentRunes {
		return "isv.PARAM_LENGTH_LIMIT", fmt.Sprintf("The message has %d characters; at most %d are allowed.", n, MaxContentRunes)
	}
	if n := len(p.Get("OutId")); n > MaxOutIDLen {
		return "isv.INVALID_PARAMETERS", fmt.Sprintf("OutId has %d characters; at most %d are allowed.", n, MaxOutIDLen)
	}
	return "", ""
}

// admit applies the per-number flow control to one accepted call and, when
// every number is within it, records the sends; otherwise it returns the
// refusal's message.
func (v *sim) admit(appID, sign, template string, numbers []string, now time.Time) (string, bool) {
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
