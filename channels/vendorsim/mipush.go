package vendorsim

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MiPush API answer codes the simulator uses, with the descriptions MiPush
// sends (Xiaomi's server error code reference).
const (
	MiPushCodeSuccess               = 0
	MiPushCodeSystemIsBusy          = 10009
	MiPushCodeMissRequiredParameter = 10016
	MiPushCodeInvalidParameterValue = 10017
	MiPushCodeRequestBodyTooLong    = 10018
	MiPushCodeRequestAPINotFound    = 10020
	MiPushCodeHTTPMethodUnsupported = 10021
	MiPushCodeAPICallTooOften       = 10027
	MiPushCodeSendMessageFailed     = 20301
	MiPushCodeAuthenticationFailed  = 21301
	MiPushCodeInvalidPackageName    = 22022
	MiPushCodeMessageTooLong        = 65009
	MiPushCodeParameterNotProvided  = 65011
	MiPushCodeCallbackParamTooLong  = 65036
	MiPushCodeCallbackURLIllegal    = 65038
)

// MiPush limits the simulator enforces (the documented v3 limits).
const (
	MiPushMaxRegIDs        = 1000
	MiPushMaxTitleRunes    = 50
	MiPushMaxDescRunes     = 128
	MiPushMaxPayloadBytes  = 4096
	MiPushMaxCallbackParam = 64
	MiPushMaxTimeToLive    = 14 * 24 * time.Hour
)

// miPushDescription is the "description" MiPush sends with a code.
func miPushDescription(code int) string {
	switch code {
	case MiPushCodeSuccess:
		return "成功"
	case 10001:
		return "系统错误"
	case 10002, MiPushCodeSystemIsBusy:
		return "系统繁忙"
	case 10003:
		return "远程服务错误"
	case MiPushCodeMissRequiredParameter:
		return "缺失必选参数"
	case MiPushCodeInvalidParameterValue:
		return "参数值非法"
	case MiPushCodeRequestBodyTooLong:
		return "请求长度超过限制"
	case MiPushCodeRequestAPINotFound:
		return "接口不存在"
	case MiPushCodeHTTPMethodUnsupported:
		return "请求的HTTP方法不支持"
	case MiPushCodeAPICallTooOften:
		return "应用的API调用太频繁"
	case MiPushCodeSendMessageFailed:
		return "发送消息失败"
	case MiPushCodeAuthenticationFailed:
		return "认证失败"
	case MiPushCodeInvalidPackageName:
		return "应用程序package name不合法"
	case MiPushCodeMessageTooLong:
		return "消息内容太长"
	case MiPushCodeParameterNotProvided:
		return "未提供参数"
	case MiPushCodeCallbackParamTooLong:
		return "Callback参数太长"
	case MiPushCodeCallbackURLIllegal:
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

// miPushError is a refusal: the code and the reason MiPush gives.
type miPushError struct {
	code   int
	reason string
}

func (s *Simulator) miPushApp(auth string) (MiPushApp, bool) {
	secret, ok := strings.CutPrefix(auth, "key=")
	if !ok || secret == "" {
		return MiPushApp{}, false
	}
	for _, a := range s.cfg.MiPush.Apps {
		if a.Secret.Reveal() == secret {
			return a, true
		}
	}
	return MiPushApp{}, false
}

func (s *Simulator) servesMiPush(region string) bool {
	return slices.Contains(s.cfg.MiPush.Regions, region)
}

func (s *Simulator) writeMiPush(w http.ResponseWriter, status, code int, reason string, data *miPushData, info string) string {
	n, letters := s.nextID()
	a := miPushAnswer{
		Result:      "ok",
		TraceID:     fmt.Sprintf("Xsm%017d%s", n, letters),
		Code:        code,
		Data:        data,
		Description: miPushDescription(code),
		Info:        info,
		Reason:      reason,
	}
	if code != MiPushCodeSuccess {
		a.Result = "error"
	}
	return writeJSON(w, status, a)
}

// handleMiPushOther answers paths of the MiPush API the simulator does not
// serve.
func (s *Simulator) handleMiPushOther(w http.ResponseWriter, r *http.Request) {
	if !s.servesMiPush(r.PathValue("region")) {
		http.NotFound(w, r)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/v3/message/regid") {
		w.Header().Set("Allow", http.MethodPost)
		s.writeMiPush(w, http.StatusMethodNotAllowed, MiPushCodeHTTPMethodUnsupported, "Unsupported HTTP method "+r.Method, nil, "")
		return
	}
	s.writeMiPush(w, http.StatusNotFound, MiPushCodeRequestAPINotFound, "API not found: "+r.URL.Path, nil, "")
}

// handleMiPushRegID serves POST /mipush/{region}/v3/message/regid: push
// one message to a list of regIds.
func (s *Simulator) handleMiPushRegID(w http.ResponseWriter, r *http.Request) {
	region := r.PathValue("region")
	if !s.servesMiPush(region) {
		http.NotFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MiPush.MaxBodyBytes)
	parseErr := r.ParseForm()
	form := r.PostForm
	if form == nil {
		form = url.Values{}
	}
	regIDs := splitRegIDs(form.Get("registration_id"))
	app, authOK := s.miPushApp(r.Header.Get("Authorization"))
	appID := UnknownApp
	if authOK {
		appID = app.AppID
	}
	rec := s.begin(VendorMiPush, region, appID, r, form, regIDs)

	if !s.wait(r, s.delay(VendorMiPush, region)) {
		s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler) // drop the connection without an answer
	}
	if f, ok := s.failure(VendorMiPush, region); ok {
		if f.RetryAfter > 0 {
			secs := max(int64(time.Duration(f.RetryAfter)/time.Second), 1)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
		}
		var body string
		if f.Code != 0 {
			body = s.writeMiPush(w, f.Status, f.Code, "Injected failure", nil, "")
		} else {
			body = fmt.Sprintf("<html><body><h1>%d %s</h1></body></html>", f.Status, http.StatusText(f.Status))
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(f.Status)
			_, _ = w.Write([]byte(body))
		}
		s.finish(rec, f.Status, f.Code, body, outInjected, nil, nil)
		return
	}
	refuse := func(out outcome, e miPushError) {
		body := s.writeMiPush(w, http.StatusOK, e.code, e.reason, nil, "")
		s.finish(rec, http.StatusOK, e.code, body, out, nil, nil)
	}
	if !authOK {
		refuse(outRejected, miPushError{MiPushCodeAuthenticationFailed, "Invalid application secret."})
		return
	}
	s.mu.Lock()
	perSecond, burst := s.cfg.MiPush.QuotaPerSecond, s.cfg.MiPush.QuotaBurst
	if app.QuotaPerSecond > 0 {
		perSecond, burst = app.QuotaPerSecond, app.QuotaBurst
	}
	allowed := s.allowLocked(VendorMiPush, region, app.AppID, perSecond, burst, 1, time.Now())
	s.mu.Unlock()
	if !allowed {
		refuse(outThrottled, miPushError{MiPushCodeAPICallTooOften, "Too many requests, app quota exceeded"})
		return
	}
	if parseErr != nil {
		var tooBig *http.MaxBytesError
		if errors.As(parseErr, &tooBig) {
			refuse(outRejected, miPushError{MiPushCodeRequestBodyTooLong, "Request body too long"})
			return
		}
		refuse(outRejected, miPushError{MiPushCodeInvalidParameterValue, "Malformed request body"})
		return
	}
	if e, ok := validateMiPush(form, regIDs, app); !ok {
		refuse(outRejected, e)
		return
	}

	var accepted, invalid []string
	for _, t := range regIDs {
		if s.miPushTokenInvalid(t) {
			invalid = append(invalid, t)
		} else {
			accepted = append(accepted, t)
		}
	}
	if len(accepted) == 0 {
		body := s.writeMiPush(w, http.StatusOK, MiPushCodeSendMessageFailed, "No valid targets!", nil, "")
		s.finish(rec, http.StatusOK, MiPushCodeSendMessageFailed, body, outRejected, nil, invalid)
		return
	}
	n, letters := s.nextID()
	data := &miPushData{ID: fmt.Sprintf("ssm%017d%s", n, letters), BadRegIDs: strings.Join(invalid, ",")}
	body := s.writeMiPush(w, http.StatusOK, MiPushCodeSuccess, "", data,
		fmt.Sprintf("Received push messages for %d REGID", len(accepted)))
	s.finish(rec, http.StatusOK, MiPushCodeSuccess, body, outAccepted, accepted, invalid)
	// MiPush receipts carry extra.callback.param and the message id.
	// and go to extra.callback when the call named one.
	s.queueReceipts(VendorMiPush, region, app.AppID, withCallbackURL(sentTokens(accepted, form.Get("extra.callback.param"), data.ID, ""), form.Get("extra.callback")))
}

func (s *Simulator) miPushTokenInvalid(t string) bool {
	for _, p := range s.cfg.MiPush.InvalidTokenPrefixes {
		if p != "" && strings.HasPrefix(t, p) {
			return true
		}
	}
	return slices.Contains(s.cfg.MiPush.InvalidTokens, t)
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

// validateMiPush checks the fields of a push-by-regId request as MiPush
// does.
func validateMiPush(f url.Values, regIDs []string, app MiPushApp) (miPushError, bool) {
	bad := func(code int, format string, args ...any) (miPushError, bool) {
		return miPushError{code, fmt.Sprintf(format, args...)}, false
	}
	if len(regIDs) == 0 {
		return bad(MiPushCodeMissRequiredParameter, "registration_id is required")
	}
	if len(regIDs) > MiPushMaxRegIDs {
		return bad(MiPushCodeInvalidParameterValue, "Too many registration_id: %d, at most %d", len(regIDs), MiPushMaxRegIDs)
	}
	pass := f.Get("pass_through")
	if pass != "" && pass != "0" && pass != "1" {
		return bad(MiPushCodeInvalidParameterValue, "Invalid pass_through: %q", pass)
	}
	title, desc := f.Get("title"), f.Get("description")
	if pass != "1" && (strings.TrimSpace(title) == "" || strings.TrimSpace(desc) == "") {
		return bad(MiPushCodeParameterNotProvided, "Title or Description is empty!")
	}
	if n := utf8.RuneCountInString(title); n > MiPushMaxTitleRunes {
		return bad(MiPushCodeInvalidParameterValue, "Title is too long: %d characters, at most %d", n, MiPushMaxTitleRunes)
	}
	if n := utf8.RuneCountInString(desc); n > MiPushMaxDescRunes {
		return bad(MiPushCodeInvalidParameterValue, "Description is too long: %d characters, at most %d", n, MiPushMaxDescRunes)
	}
	if n := len(f.Get("payload")); n > MiPushMaxPayloadBytes {
		return bad(MiPushCodeMessageTooLong, "Payload is too long: %d bytes, at most %d", n, MiPushMaxPayloadBytes)
	}
	if pkgs := f.Get("restricted_package_name"); pkgs != "" {
		for _, p := range strings.Split(pkgs, ",") {
			if strings.TrimSpace(p) != app.PackageName {
				return bad(MiPushCodeInvalidPackageName, "Invalid package name: %s", p)
			}
		}
	}
	if v := f.Get("time_to_live"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 || ms > MiPushMaxTimeToLive.Milliseconds() {
			return bad(MiPushCodeInvalidParameterValue, "Invalid time_to_live: %q", v)
		}
	}
	if v := f.Get("notify_type"); v != "" {
		if _, err := strconv.Atoi(v); err != nil {
			return bad(MiPushCodeInvalidParameterValue, "Invalid notify_type: %q", v)
		}
	}
	switch v := f.Get("extra.notification_style_type"); v {
	case "", "0", "1":
	case "2":
		if u, err := url.Parse(f.Get("extra.notification_bigPic_uri")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad(MiPushCodeInvalidParameterValue, "notification_style_type 2 needs an http(s) notification_bigPic_uri")
		}
	default:
		return bad(MiPushCodeInvalidParameterValue, "Invalid notification_style_type: %q", v)
	}
	if v := f.Get("extra.notify_effect"); v != "" {
		switch v {
		case "1":
		case "2":
			if f.Get("extra.intent_uri") == "" {
				return bad(MiPushCodeInvalidParameterValue, "notify_effect 2 needs intent_uri")
			}
		case "3":
			if u, err := url.Parse(f.Get("extra.web_uri")); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return bad(MiPushCodeInvalidParameterValue, "notify_effect 3 needs an http(s) web_uri")
			}
		default:
			return bad(MiPushCodeInvalidParameterValue, "Invalid notify_effect: %q", v)
		}
	}
	if v := f.Get("extra.callback.param"); len(v) > MiPushMaxCallbackParam {
		return bad(MiPushCodeCallbackParamTooLong, "Callback param is too long: %d bytes, at most %d", len(v), MiPushMaxCallbackParam)
	}
	if v := f.Get("extra.callback"); v != "" {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad(MiPushCodeCallbackURLIllegal, "Illegal callback url: %q", v)
		}
	}
	return miPushError{}, true
}

// miPushSim plugs the MiPush endpoints into the simulator.
type miPushSim struct{ s *Simulator }

func (m miPushSim) name() string { return VendorMiPush }

func (m miPushSim) appIDs() []string {
	ids := make([]string, len(m.s.cfg.MiPush.Apps))
	for i, a := range m.s.cfg.MiPush.Apps {
		ids[i] = a.AppID
	}
	return ids
}

func (m miPushSim) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /mipush/{region}/v3/message/regid", m.s.handleMiPushRegID)
	mux.HandleFunc("POST /mipush/{region}"+MiPushRevokePath, m.s.handleMiPushRevoke)
	mux.HandleFunc("/mipush/{region}/", m.s.handleMiPushOther)
}
