// Package mipush simulates MiPush's v3 push-by-regId and revoke APIs for
// the vendor simulator (channels/vendorsim): one simulator serves every
// region under /mipush/<region>, checks "Authorization: key=<AppSecret>",
// the fields and limits as MiPush does and answers with MiPush's codes.
// Its configuration is vendorsim.MiPushConfig.
package mipush

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// MiPush API answer codes the simulator uses, with the descriptions MiPush
// sends (Xiaomi's server error code reference).
const (
	CodeSuccess               = 0
	CodeSystemIsBusy          = 10009
	CodeMissRequiredParameter = 10016
	CodeInvalidParameterValue = 10017
	CodeRequestBodyTooLong    = 10018
	CodeRequestAPINotFound    = 10020
	CodeHTTPMethodUnsupported = 10021
	CodeAPICallTooOften       = 10027
	CodeSendMessageFailed     = 20301
	CodeAuthenticationFailed  = 21301
	CodeInvalidPackageName    = 22022
	CodeMessageTooLong        = 65009
	CodeParameterNotProvided  = 65011
	CodeCallbackParamTooLong  = 65036
	CodeCallbackURLIllegal    = 65038
)

// MiPush limits the simulator enforces (the documented v3 limits).
const (
	MaxRegIDs        = 1000
	MaxTitleRunes    = 50
	MaxDescRunes     = 128
	MaxPayloadBytes  = 4096
	MaxCallbackParam = 64
	MaxTimeToLive    = 14 * 24 * time.Hour
)

// miPushDescription is the "description" MiPush sends with a code.
func miPushDescription(code int) string {
	switch code {
	case CodeSuccess:
		return "成功"
	case 10001:
		return "系统错误"
	case 10002, CodeSystemIsBusy:
		return "系统繁忙"
	case 10003:
		return "远程服务错误"
	case CodeMissRequiredParameter:
		return "缺失必选参数"
	case CodeInvalidParameterValue:
		return "参数值非法"
	case CodeRequestBodyTooLong:
		return "请求长度超过限制"
	case CodeRequestAPINotFound:
		return "接口不存在"
	case CodeHTTPMethodUnsupported:
		return "请求的HTTP方法不支持"
	case CodeAPICallTooOften:
		return "应用的API调用太频繁"
	case CodeSendMessageFailed:
		return "发送消息失败"
	case CodeAuthenticationFailed:
		return "认证失败"
	case CodeInvalidPackageName:
		return "应用程序package name不合法"
	case CodeMessageTooLong:
		return "消息内容太长"
	case CodeParameterNotProvided:
		return "未提供参数"
	case CodeCallbackParamTooLong:
		return "Callback参数太长"
	case CodeCallbackURLIllegal:
		return "Callback url非法"
	}
	return "未知错误"
}

// miPushAnswer is MiPush's JSON answer.
type miPushAnswer struct {
	Result      string      `json:"result"`
	TraceID     string      `json:"trace_id"`
	Code        int         `json:"code"`
	Data        *miPushData `json:"data,omitempty"`
	Description string      `json:"description"`
	Info        string      `json:"info,omitempty"`
	Reason      string      `json:"reason,omitempty"`
}

type miPushData struct {
	ID        string `json:"id"`
	BadRegIDs string `json:"bad_regids,omitempty"`
}

// refusal is a refusal: the code and the reason MiPush gives.
type refusal struct {
	code   int
	reason string
}

// sim serves the MiPush endpoints.
type sim struct {
	s   *vendorsim.Simulator
	cfg vendorsim.MiPushConfig
}

// New returns the simulated MiPush of s (vendorsim.NewVendor).
func New(s *vendorsim.Simulator) vendorsim.Vendor {
	return &sim{s: s, cfg: s.Config().MiPush}
}

// Name is vendorsim.VendorMiPush.
func (m *sim) Name() string { return vendorsim.VendorMiPush }

// RecallPath is RevokePath.
func (m *sim) RecallPath() string { return RevokePath }

// Register serves push-by-regId, revoke-by-regId and, for any other path
// of the API, MiPush's "API not found" answers.
func (m *sim) Register(mux *http.ServeMux) {
	mux.Handle("POST /mipush/{region}/v3/message/regid", vendorsim.Endpoint[*call]{
		Sim: m.s, Vendor: vendorsim.VendorMiPush, Regions: m.cfg.Regions,
		Read: m.readPush, Injected: m.injected, Authenticate: m.authenticate, Quota: m.quota, Throttled: m.throttled, Answer: m.answerPush,
	})
	mux.Handle("POST /mipush/{region}"+RevokePath, vendorsim.Endpoint[*call]{
		Sim: m.s, Vendor: vendorsim.VendorMiPush, Regions: m.cfg.Regions,
		Read: m.readRevoke, Injected: m.injected, Authenticate: m.authenticate, Answer: m.answerRevoke,
	})
	mux.HandleFunc("/mipush/{region}/", m.handleOther)
}

// call is one request to a MiPush endpoint as read.
type call struct {
	region   string
	form     url.Values
	parseErr error
	regIDs   []string
	app      vendorsim.MiPushApp
	authOK   bool
}

// read reads a form request whose targets are in the field targets.
func (m *sim) read(w http.ResponseWriter, r *http.Request, region, targets string) (*call, vendorsim.Arrival) {
	c := &call{region: region}
	c.form, c.parseErr = simkit.ReadForm(w, r, m.cfg.MaxBodyBytes)
	c.regIDs = splitRegIDs(c.form.Get(targets))
	c.app, c.authOK = m.appOf(r.Header.Get("Authorization"))
	appID := vendorsim.AppOf(c.app.AppID, c.authOK)
	return c, vendorsim.Arrival{AppID: appID, Form: c.form, Targets: c.regIDs}
}

func (m *sim) readPush(w http.ResponseWriter, r *http.Request, region string) (*call, vendorsim.Arrival) {
	return m.read(w, r, region, "registration_id")
}

func (m *sim) readRevoke(w http.ResponseWriter, r *http.Request, region string) (*call, vendorsim.Arrival) {
	return m.read(w, r, region, "registration_ids")
}

// appOf returns the app whose AppSecret "Authorization: key=<secret>"
// names.
func (m *sim) appOf(auth string) (vendorsim.MiPushApp, bool) {
	secret, ok := strings.CutPrefix(auth, "key=")
	if !ok || secret == "" {
		return vendorsim.MiPushApp{}, false
	}
	for _, a := range m.cfg.Apps {
		if a.Secret.Reveal() == secret {
			return a, true
		}
	}
	return vendorsim.MiPushApp{}, false
}

// answer is MiPush's JSON answer with a new trace id.
func (m *sim) answer(status, code int, reason string, data *miPushData, info string) vendorsim.Answer {
	n, letters := m.s.NextID()
	a := miPushAnswer{
		Result:      "ok",
		TraceID:     fmt.Sprintf("Xsm%017d%s", n, letters),
		Code:        code,
		Data:        data,
		Description: miPushDescription(code),
		Info:        info,
		Reason:      reason,
	}
	if code != CodeSuccess {
		a.Result = "error"
	}
	ans := vendorsim.JSON(status, a)
	ans.Code = code
	return ans
}

// refuse is a refusal answered with HTTP 200, as MiPush answers every
// refusal.
func (m *sim) refuse(out vendorsim.Outcome, e refusal) *vendorsim.Answer {
	a := m.answer(http.StatusOK, e.code, e.reason, nil, "")
	a.Outcome = out
	return &a
}

func (m *sim) injected(f vendorsim.Failure) vendorsim.Answer {
	return vendorsim.InjectedAnswer(f, func(f vendorsim.Failure) vendorsim.Answer {
		return m.answer(f.Status, f.Code, "Injected failure", nil, "")
	})
}

func (m *sim) authenticate(_ *http.Request, c *call) *vendorsim.Answer {
	if !c.authOK {
		return m.refuse(vendorsim.Rejected, refusal{CodeAuthenticationFailed, "Invalid application secret."})
	}
	return nil
}

func (m *sim) quota(c *call) vendorsim.Bucket {
	return vendorsim.AppBucket(m.cfg.QuotaPerSecond, m.cfg.QuotaBurst, c.app.QuotaPerSecond, c.app.QuotaBurst)
}

// throttled is the answer over the quota.
func (m *sim) throttled(_ *call) vendorsim.Answer {
	return *m.refuse(vendorsim.Throttled, refusal{CodeAPICallTooOften, "Too many requests, app quota exceeded"})
}

// handleOther answers paths of the MiPush API the simulator does not
// serve.
func (m *sim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !vendorsim.ServesRegion(w, r, m.cfg.Regions) {
		return
	}
	if strings.HasSuffix(r.URL.Path, "/v3/message/regid") {
		m.answer(http.StatusMethodNotAllowed, CodeHTTPMethodUnsupported, "Unsupported HTTP method "+r.Method, nil, "").
			With("Allow", http.MethodPost).Write(w)
		return
	}
	m.answer(http.StatusNotFound, CodeRequestAPINotFound, "API not found: "+r.URL.Path, nil, "").Write(w)
}

// answerPush answers POST /mipush/{region}/v3/message/regid: one message
// to a list of regIds.
func (m *sim) answerPush(_ *http.Request, c *call) vendorsim.Answer {
	if c.parseErr != nil {
		var tooBig *http.MaxBytesError
		if errors.As(c.parseErr, &tooBig) {
			return *m.refuse(vendorsim.Rejected, refusal{CodeRequestBodyTooLong, "Request body too long"})
		}
		return *m.refuse(vendorsim.Rejected, refusal{CodeInvalidParameterValue, "Malformed request body"})
	}
	if e, ok := validate(c.form, c.regIDs, c.app); !ok {
		return *m.refuse(vendorsim.Rejected, e)
	}
	var accepted, invalid []string
	for _, t := range c.regIDs {
		if simkit.Matches(t, m.cfg.InvalidTokenPrefixes, m.cfg.InvalidTokens) {
			invalid = append(invalid, t)
		} else {
			accepted = append(accepted, t)
		}
	}
	if len(accepted) == 0 {
		a := m.answer(http.StatusOK, CodeSendMessageFailed, "No valid targets!", nil, "")
		a.Outcome, a.Invalid = vendorsim.Rejected, invalid
		return a
	}
	n, letters := m.s.NextID()
	data := &miPushData{ID: fmt.Sprintf("ssm%017d%s", n, letters), BadRegIDs: strings.Join(invalid, ",")}
	a := m.answer(http.StatusOK, CodeSuccess, "", data, fmt.Sprintf("Received push messages for %d REGID", len(accepted)))
	a.Accepted, a.Invalid = accepted, invalid
	// A notification (pass-through messages are never shown) can be
	// revoked by its notify_id.
	if id := c.form.Get("notify_id"); id != "" && c.form.Get("pass_through") != "1" {
		a.Recallable = vendorsim.SameID(id, accepted)
	}
	// MiPush receipts carry extra.callback.param and the message id, and
	// go to extra.callback when the call named one.
	a.Receipts = vendorsim.WithCallbackURL(vendorsim.SentTokens(accepted, c.form.Get("extra.callback.param"), data.ID, ""), c.form.Get("extra.callback"))
	for i := range a.Receipts {
		a.Receipts[i].Title = c.form.Get("title") // for OpenRatesByTitle
	}
	return a
}

func splitRegIDs(v string) []string {
	var out []string
	for _, t := range strings.Split(v, ",") {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// validate checks the fields of a push-by-regId request as MiPush
// does.
func validate(f url.Values, regIDs []string, app vendorsim.MiPushApp) (refusal, bool) {
	bad := func(code int, format string, args ...any) (refusal, bool) {
		return refusal{code, fmt.Sprintf(format, args...)}, false
	}
	if len(regIDs) == 0 {
		return bad(CodeMissRequiredParameter, "registration_id is required")
	}
	if len(regIDs) > MaxRegIDs {
		return bad(CodeInvalidParameterValue, "Too many registration_id: %d, at most %d", len(regIDs), MaxRegIDs)
	}
	pass := f.Get("pass_through")
	if pass != "" && pass != "0" && pass != "1" {
		return bad(CodeInvalidParameterValue, "Invalid pass_through: %q", pass)
	}
	title, desc := f.Get("title"), f.Get("description")
	if pass != "1" && (strings.TrimSpace(title) == "" || strings.TrimSpace(desc) == "") {
		return bad(CodeParameterNotProvided, "Title or Description is empty!")
	}
	if n := utf8.RuneCountInString(title); n > MaxTitleRunes {
		return bad(CodeInvalidParameterValue, "Title is too long: %d characters, at most %d", n, MaxTitleRunes)
	}
	if n := utf8.RuneCountInString(desc); n > MaxDescRunes {
		return bad(CodeInvalidParameterValue, "Description is too long: %d characters, at most %d", n, MaxDescRunes)
	}
	if n := len(f.Get("payload")); n > MaxPayloadBytes {
		return bad(CodeMessageTooLong, "Payload is too long: %d bytes, at most %d", n, MaxPayloadBytes)
	}
	if pkgs := f.Get("restricted_package_name"); pkgs != "" {
		for _, p := range strings.Split(pkgs, ",") {
			if strings.TrimSpace(p) != app.PackageName {
				return bad(CodeInvalidPackageName, "Invalid package name: %s", p)
			}
		}
	}
	if v := f.Get("time_to_live"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 || ms > MaxTimeToLive.Milliseconds() {
			return bad(CodeInvalidParameterValue, "Invalid time_to_live: %q", v)
		}
	}
	if v := f.Get("notify_type"); v != "" {
		if _, err := strconv.Atoi(v); err != nil {
			return bad(CodeInvalidParameterValue, "Invalid notify_type: %q", v)
		}
	}
	switch v := f.Get("extra.notification_style_type"); v {
	case "", "0", "1":
	case "2":
		if u, err := url.Parse(f.Get("extra.notification_bigPic_uri")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad(CodeInvalidParameterValue, "notification_style_type 2 needs an http(s) notification_bigPic_uri")
		}
	default:
		return bad(CodeInvalidParameterValue, "Invalid notification_style_type: %q", v)
	}
	if v := f.Get("extra.notify_effect"); v != "" {
		switch v {
		case "1":
		case "2":
			if f.Get("extra.intent_uri") == "" {
				return bad(CodeInvalidParameterValue, "notify_effect 2 needs intent_uri")
			}
		case "3":
			if u, err := url.Parse(f.Get("extra.web_uri")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return bad(CodeInvalidParameterValue, "notify_effect 3 needs an http(s) web_uri")
			}
		default:
			return bad(CodeInvalidParameterValue, "Invalid notify_effect: %q", v)
		}
	}
	if v := f.Get("extra.callback.param"); len(v) > MaxCallbackParam {
		return bad(CodeCallbackParamTooLong, "Callback param is too long: %d bytes, at most %d", len(v), MaxCallbackParam)
	}
	if v := f.Get("extra.callback"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad(CodeCallbackURLIllegal, "Illegal callback url: %q", v)
		}
	}
	return refusal{}, true
}
