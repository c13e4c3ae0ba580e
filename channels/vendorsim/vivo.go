package vendorsim

import (
	"bytes"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels"
)

// VendorVivo is the vendor name of vivo Push.
const VendorVivo = "vivo"

// vivo Push server API result codes the simulator answers with (the
// "result" field), from §10.3 of the mPaaS guide (vivo table) and vivo's
// auth error codes (10200..10250).
const (
	VivoCodeSuccess              = 0
	VivoCodeAuthFailed           = 10000
	VivoCodeResourceLimit        = 10040
	VivoCodeTargetEmpty          = 10050
	VivoCodeNotifyTypeInvalid    = 10054
	VivoCodeTitleEmpty           = 10055
	VivoCodeTitleTooLong         = 10056
	VivoCodeContentEmpty         = 10057
	VivoCodeContentTooLong       = 10058
	VivoCodeTooManyCustomPairs   = 10066
	VivoCodeInvalidCustomPair    = 10067
	VivoCodeTotalLimitExceeded   = 10070
	VivoCodeOutsideSendingWindow = 10071
	VivoCodePushTooFast          = 10072
	VivoCodeServerError          = 10102
	VivoCodeAppIDEmpty           = 10200
	VivoCodeAppKeyEmpty          = 10201
	VivoCodeAppKeyInvalid        = 10202
	VivoCodeTimestampEmpty       = 10203
	VivoCodeSignEmpty            = 10204
	VivoCodeAppIDNotExist        = 10205
	VivoCodeSignInvalid          = 10206
	VivoCodeTimestampInvalid     = 10207
	VivoCodeAuthLimitExceeded    = 10250
	VivoCodeInvalidRegID         = 10302
	VivoCodeRequestIDExists      = 10303
	// VivoCodeSimInvalidParameter is the simulator's answer to parameter
	// errors for which vivo's published tables give no number (request
	// id, time to live, skip type, task id, regIds count).
	VivoCodeSimInvalidParameter = 10099
)

// vivo limits the simulator enforces: title 40 and content 100 characters
// (§8 and §10.3: 10056, 10058), at most 10 custom pairs (10066) of at most
// 1024 characters in all, 1000 regIds per pushToList, a time to live of 60
// seconds to 7 days, request ids and callback parameters of at most 64
// characters.
const (
	VivoMaxTitleRunes       = 40
	VivoMaxContentRunes     = 100
	VivoMaxCustomPairs      = 10
	VivoMaxCustomMapRunes   = 1024
	VivoMaxRegIDsPerList    = 1000
	VivoMinTimeToLive       = time.Minute
	VivoMaxTimeToLive       = 7 * 24 * time.Hour
	VivoMaxRequestIDRunes   = 64
	VivoMaxCallbackParam    = 64
	VivoAuthTimestampSkew   = 10 * time.Minute
	VivoMaxSkipContentRunes = 1024
)

// Defaults of VivoConfig.
const (
	// DefaultVivoQuota is the simulator's call rate per app and region
	// (vivo publishes daily quotas, not a call rate).
	DefaultVivoQuota = 1000.0
	// DefaultVivoAuthTokenLifetime is the validity vivo documents for an
	// authToken.
	DefaultVivoAuthTokenLifetime = 24 * time.Hour
	DefaultVivoMaxBodyBytes      = 1 << 20
)

// vivo endpoint paths below the base URL.
const (
	VivoAuthPath            = "/message/auth"
	VivoSendPath            = "/message/send"
	VivoSaveListPayloadPath = "/message/saveListPayload"
	VivoPushToListPath      = "/message/pushToList"
)

// vivoCategories are vivo's secondary message categories.
var vivoCategories = []string{"IM", "ACCOUNT", "TODO", "DEVICE_REMINDER", "ORDER", "SUBSCRIPTION", "NEWS", "CONTENT", "MARKETING", "SOCIAL"}

// VivoConfig configures the simulated vivo Push server API. One simulator
// serves every region under its own path prefix: the base URL of region R
// is http://ADDR/vivo/R.
type VivoConfig struct {
	// Regions served; default Regions().
	Regions []string `json:"regions" yaml:"regions"`
	// Apps are the apps whose appId, appKey and appSecret are accepted.
	Apps []VivoApp `json:"apps" yaml:"apps"`
	// InvalidTokenPrefixes: regIds starting with one of them are reported
	// invalid (10302 for a single send, invalidUsers for pushToList).
	// Default [DefaultInvalidTokenPrefix].
	InvalidTokenPrefixes []string `json:"invalidTokenPrefixes" yaml:"invalidTokenPrefixes"`
	// InvalidTokens are regIds reported invalid in addition.
	InvalidTokens []string `json:"invalidTokens" yaml:"invalidTokens"`
	// QuotaPerSecond and QuotaBurst are the token bucket of push calls
	// (send, saveListPayload, pushToList) per app and region for apps
	// without their own; default DefaultVivoQuota and the rate rounded up.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
	// AuthTokenLifetime is how long an issued authToken is accepted;
	// default DefaultVivoAuthTokenLifetime.
	AuthTokenLifetime Duration `json:"authTokenLifetime" yaml:"authTokenLifetime"`
	// MaxBodyBytes bounds a request body.
	MaxBodyBytes int64 `json:"maxBodyBytes" yaml:"maxBodyBytes"`
}

// VivoApp is one simulated vivo app.
type VivoApp struct {
	// AppID names the app in records and stats (the pushpipe app id).
	AppID string `json:"appId" yaml:"appId"`
	// VivoAppID is vivo's appId.
	VivoAppID string `json:"vivoAppId" yaml:"vivoAppId"`
	// AppKey and AppSecret are the app's vivo credentials.
	AppKey    string          `json:"appKey" yaml:"appKey"`
	AppSecret channels.Secret `json:"appSecret" yaml:"appSecret"`
	// QuotaPerSecond and QuotaBurst override the VivoConfig defaults when
	// positive.
	QuotaPerSecond float64 `json:"quotaPerSecond" yaml:"quotaPerSecond"`
	QuotaBurst     int     `json:"quotaBurst" yaml:"quotaBurst"`
}

// String prints the app without its secret.
func (a VivoApp) String() string {
	return fmt.Sprintf("{appId=%s vivoAppId=%s appKey=%s appSecret=%s quota=%g/%d}", a.AppID, a.VivoAppID, a.AppKey, a.AppSecret, a.QuotaPerSecond, a.QuotaBurst)
}

func (c VivoConfig) withDefaults() VivoConfig {
	c.Regions = defaultRegions(c.Regions)
	c.Apps = slices.Clone(c.Apps)
	c.InvalidTokenPrefixes = defaultPrefixes(c.InvalidTokenPrefixes)
	c.InvalidTokens = slices.Clone(c.InvalidTokens)
	if c.QuotaPerSecond == 0 {
		c.QuotaPerSecond = DefaultVivoQuota
	}
	if c.QuotaBurst == 0 {
		c.QuotaBurst = burstFor(c.QuotaPerSecond)
	}
	if c.AuthTokenLifetime == 0 {
		c.AuthTokenLifetime = Duration(DefaultVivoAuthTokenLifetime)
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultVivoMaxBodyBytes
	}
	return c
}

func (c VivoConfig) validate() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("vendorsim config: vivo: "+format, args...))
	}
	for _, r := range c.Regions {
		if !slices.Contains(Regions(), r) {
			bad("unknown region %q", r)
		}
	}
	ids, vivoIDs := map[string]bool{}, map[string]bool{}
	for i, a := range c.Apps {
		switch {
		case a.AppID == "":
			bad("app %d has no appId", i)
		case ids[a.AppID]:
			bad("duplicate appId %q", a.AppID)
		}
		if a.VivoAppID == "" {
			bad("app %q has no vivoAppId", a.AppID)
		} else if vivoIDs[a.VivoAppID] {
			bad("app %q shares its vivoAppId with another app", a.AppID)
		}
		if a.AppKey == "" {
			bad("app %q has no appKey", a.AppID)
		}
		if a.AppSecret == "" {
			bad("app %q has no appSecret", a.AppID)
		}
		if a.QuotaPerSecond < 0 || a.QuotaBurst < 0 {
			bad("app %q has a negative quota", a.AppID)
		}
		ids[a.AppID], vivoIDs[a.VivoAppID] = true, true
	}
	if c.QuotaPerSecond < 0 || c.QuotaBurst < 0 {
		bad("negative quota")
	}
	if c.AuthTokenLifetime <= 0 {
		bad("authTokenLifetime must be positive")
	}
	if c.MaxBodyBytes <= 0 {
		bad("maxBodyBytes must be positive")
	}
	return errs
}

func (c VivoConfig) appCount() int { return len(c.Apps) }

// VivoBaseURL returns the vivo base URL of region on this simulator (the
// client appends "/message/...").
func (s *Server) VivoBaseURL(region string) string { return s.URL() + "/vivo/" + region }

// VivoSign returns the sign of a vivo auth request: the lower-case hex MD5
// of appId + appKey + timestamp + appSecret.
func VivoSign(appID, appKey string, timestamp int64, appSecret string) string {
	sum := md5.Sum([]byte(appID + appKey + strconv.FormatInt(timestamp, 10) + appSecret))
	return hex.EncodeToString(sum[:])
}

// vivoSim serves the vivo endpoints. Its token, task and request-id stores
// live as long as the simulator (Reset does not forget them).
type vivoSim struct {
	s      *Simulator
	cfg    VivoConfig
	tokens *issuedTokens

	mu         sync.Mutex
	tasks      map[string]vivoTask  // taskId -> saved list payload
	requestIDs map[string]time.Time // appId/requestId -> acceptance time
}

// vivoTask is a payload saved by saveListPayload.
type vivoTask struct {
	appID   string
	created time.Time
	// callbackParam is the payload's extra.callback.param, which the
	// receipts of its list pushes carry; callbackURL its extra.callback,
	// where they go.
	callbackParam, callbackURL string
}

// vivoRetention is how long saved tasks and accepted request ids are kept.
const vivoRetention = 24 * time.Hour

func newVivoSim(s *Simulator) simVendor {
	return &vivoSim{s: s, cfg: s.cfg.Vivo, tokens: newIssuedTokens(),
		tasks: map[string]vivoTask{}, requestIDs: map[string]time.Time{}}
}

func (v *vivoSim) name() string { return VendorVivo }

func (v *vivoSim) appIDs() []string {
	ids := make([]string, len(v.cfg.Apps))
	for i, a := range v.cfg.Apps {
		ids[i] = a.AppID
	}
	return ids
}

func (v *vivoSim) register(mux *http.ServeMux) {
	mux.HandleFunc("POST /vivo/{region}"+VivoAuthPath, v.handleAuth)
	mux.HandleFunc("POST /vivo/{region}"+VivoRecallPath, v.handleRecall)
	for _, p := range []string{VivoSendPath, VivoSaveListPayloadPath, VivoPushToListPath} {
		mux.HandleFunc("POST /vivo/{region}"+p, func(w http.ResponseWriter, r *http.Request) { v.handlePush(w, r, p) })
	}
	mux.HandleFunc("/vivo/{region}/", v.handleOther)
}

func (v *vivoSim) serves(region string) bool { return slices.Contains(v.cfg.Regions, region) }

// vivoDesc is the desc vivo sends with a result code.
func vivoDesc(code int) string {
	switch code {
	case VivoCodeSuccess:
		return "请求成功"
	case VivoCodeAuthFailed:
		return "权限认证失败"
	case VivoCodeResourceLimit:
		return "资源已达上限，请稍后重试"
	case VivoCodeTargetEmpty:
		return "alias和regId不能为空"
	case VivoCodeNotifyTypeInvalid:
		return "notifyType不合法"
	case VivoCodeTitleEmpty:
		return "title不能为空"
	case VivoCodeTitleTooLong:
		return "title不能超过40个字符"
	case VivoCodeContentEmpty:
		return "content不能为空"
	case VivoCodeContentTooLong:
		return "content不能超过100个字符"
	case VivoCodeTooManyCustomPairs:
		return "自定义key和Value键值对个数不能超过10个"
	case VivoCodeInvalidCustomPair:
		return "自定义key和Value键值对不合法"
	case VivoCodeTotalLimitExceeded:
		return "发送总量超出限制"
	case VivoCodeOutsideSendingWindow:
		return "发送时间不在允许的时间范围内"
	case VivoCodePushTooFast:
		return "推送速度过快，请稍后再试"
	case VivoCodeServerError:
		return "vivo服务器未知异常"
	case VivoCodeAppIDEmpty:
		return "appId不能为空"
	case VivoCodeAppKeyEmpty:
		return "appKey不能为空"
	case VivoCodeAppKeyInvalid:
		return "appKey不合法"
	case VivoCodeTimestampEmpty:
		return "timestamp不能为空"
	case VivoCodeSignEmpty:
		return "sign不能为空"
	case VivoCodeAppIDNotExist:
		return "appId不存在"
	case VivoCodeSignInvalid:
		return "sign不正确"
	case VivoCodeTimestampInvalid:
		return "timestamp不合法"
	case VivoCodeAuthLimitExceeded:
		return "鉴权接口调用超过上限"
	case VivoCodeInvalidRegID:
		return "regId不合法"
	case VivoCodeRequestIDExists:
		return "requestId已存在"
	case VivoCodeSimInvalidParameter:
		return "参数不合法"
	}
	return "未知错误"
}

// vivoAnswer is vivo's JSON answer.
type vivoAnswer struct {
	Result       int               `json:"result"`
	Desc         string            `json:"desc"`
	AuthToken    string            `json:"authToken,omitempty"`
	TaskID       string            `json:"taskId,omitempty"`
	RequestID    string            `json:"requestId,omitempty"`
	InvalidUsers []vivoInvalidUser `json:"invalidUsers,omitempty"`
}

// vivoInvalidUser is one entry of pushToList's invalidUsers; status 1
// means the regId does not exist.
type vivoInvalidUser struct {
	Status int    `json:"status"`
	UserID string `json:"userid"`
}

// vivoMessage holds the fields of send / saveListPayload / pushToList
// the simulator checks.
type vivoMessage struct {
	RegID           *string           `json:"regId"`
	RegIDs          []string          `json:"regIds"`
	TaskID          string            `json:"taskId"`
	NotifyType      *int              `json:"notifyType"`
	Title           string            `json:"title"`
	Content         string            `json:"content"`
	TimeToLive      *int64            `json:"timeToLive"`
	SkipType        *int              `json:"skipType"`
	SkipContent     string            `json:"skipContent"`
	ClientCustomMap map[string]string `json:"clientCustomMap"`
	RequestID       string            `json:"requestId"`
	Classification  *int              `json:"classification"`
	Category        string            `json:"category"`
	PushMode        *int              `json:"pushMode"`
	Extra           map[string]string `json:"extra"`
}

func (v *vivoSim) write(w http.ResponseWriter, a vivoAnswer) string {
	if a.Desc == "" {
		a.Desc = vivoDesc(a.Result)
	}
	return writeJSON(w, http.StatusOK, a)
}

func (v *vivoSim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !v.serves(r.PathValue("region")) {
		http.NotFound(w, r)
		return
	}
	for _, p := range []string{VivoAuthPath, VivoSendPath, VivoSaveListPayloadPath, VivoPushToListPath} {
		if strings.HasSuffix(r.URL.Path, p) {
			w.Header().Set("Allow", http.MethodPost)
			writeJSON(w, http.StatusMethodNotAllowed, vivoAnswer{Result: VivoCodeSimInvalidParameter, Desc: "Request method '" + r.Method + "' not supported"})
			return
		}
	}
	writeJSON(w, http.StatusNotFound, vivoAnswer{Result: VivoCodeSimInvalidParameter, Desc: "No handler found for " + r.URL.Path})
}

// readJSONBody reads a request body of at most limit bytes (vivo and Honor
// send JSON); the raw body is kept for the record.
func readJSONBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
}

// handleAuth serves POST /vivo/{region}/message/auth: JSON appId, appKey,
// timestamp and sign for an authToken. Injected faults, latency and
// quotas apply to push calls only.
func (v *vivoSim) handleAuth(w http.ResponseWriter, r *http.Request) {
	region := r.PathValue("region")
	if !v.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := readJSONBody(w, r, 64<<10)
	var req struct {
		AppID     json.RawMessage `json:"appId"`
		AppKey    string          `json:"appKey"`
		Timestamp json.RawMessage `json:"timestamp"`
		Sign      string          `json:"sign"`
	}
	decodeErr := json.Unmarshal(raw, &req)
	vivoAppID := strings.Trim(string(req.AppID), `"`)
	var app VivoApp
	known := false
	for _, a := range v.cfg.Apps {
		if a.VivoAppID == vivoAppID {
			app, known = a, true
		}
	}
	appID := UnknownApp
	if known {
		appID = app.AppID
	}
	rec := v.s.begin(VendorVivo, region, appID, r, url.Values{"body": {string(raw)}}, nil)
	refuse := func(code int) {
		body := v.write(w, vivoAnswer{Result: code})
		v.s.finish(rec, http.StatusOK, code, body, outRejected, nil, nil)
	}
	stamp, stampErr := strconv.ParseInt(strings.Trim(string(req.Timestamp), `"`), 10, 64)
	now := time.Now()
	switch {
	case readErr != nil || decodeErr != nil:
		refuse(VivoCodeSimInvalidParameter)
	case vivoAppID == "":
		refuse(VivoCodeAppIDEmpty)
	case !known:
		refuse(VivoCodeAppIDNotExist)
	case req.AppKey == "":
		refuse(VivoCodeAppKeyEmpty)
	case req.AppKey != app.AppKey:
		refuse(VivoCodeAppKeyInvalid)
	case len(req.Timestamp) == 0:
		refuse(VivoCodeTimestampEmpty)
	case stampErr != nil || absDuration(now.Sub(time.UnixMilli(stamp))) > VivoAuthTimestampSkew:
		refuse(VivoCodeTimestampInvalid)
	case req.Sign == "":
		refuse(VivoCodeSignEmpty)
	case !strings.EqualFold(req.Sign, VivoSign(app.VivoAppID, app.AppKey, stamp, app.AppSecret.Reveal())):
		refuse(VivoCodeSignInvalid)
	default:
		n, letters := v.s.nextID()
		tok := fmt.Sprintf("vivo-%08d%s-%s", n, letters, randomHex(v.s, 8))
		v.tokens.issue(tok, app.AppID, now.Add(time.Duration(v.cfg.AuthTokenLifetime)), now)
		body := v.write(w, vivoAnswer{Result: VivoCodeSuccess, AuthToken: tok})
		v.s.finish(rec, http.StatusOK, VivoCodeSuccess, body, outAccepted, nil, nil)
	}
}

// handlePush serves send (one regId), saveListPayload (content for a list
// push, answered with a taskId) and pushToList (a saved taskId to up to
// 1000 regIds, answered with invalidUsers).
func (v *vivoSim) handlePush(w http.ResponseWriter, r *http.Request, path string) {
	region := r.PathValue("region")
	if !v.serves(region) {
		http.NotFound(w, r)
		return
	}
	raw, readErr := readJSONBody(w, r, v.cfg.MaxBodyBytes)
	var m vivoMessage
	decodeErr := json.Unmarshal(bytes.TrimSpace(raw), &m)
	var targets []string
	switch {
	case path == VivoSendPath && m.RegID != nil:
		targets = []string{*m.RegID}
	case path == VivoPushToListPath:
		targets = m.RegIDs
	}
	tok := r.Header.Get("authToken")
	now := time.Now()
	appID, state := v.tokens.lookup(tok, now)
	recApp := UnknownApp
	if state == tokenValid {
		recApp = appID
	}
	rec := v.s.begin(VendorVivo, region, recApp, r, url.Values{"body": {string(raw)}}, targets)
	v.s.setAuth(rec, tok)

	if !v.s.wait(r, v.s.delay(VendorVivo, region)) {
		v.s.finish(rec, 0, 0, "", outAbandoned, nil, nil)
		panic(http.ErrAbortHandler)
	}
	if f, ok := v.s.failure(VendorVivo, region); ok {
		v.s.writeInjected(w, rec, f, func(w http.ResponseWriter, f Failure) string {
			return writeJSON(w, f.Status, vivoAnswer{Result: f.Code, Desc: "Injected failure: " + vivoDesc(f.Code)})
		})
		return
	}
	refuse := func(out outcome, code int, desc string, invalid []string) {
		body := v.write(w, vivoAnswer{Result: code, Desc: desc})
		v.s.finish(rec, http.StatusOK, code, body, out, nil, invalid)
	}
	if state != tokenValid {
		refuse(outRejected, VivoCodeAuthFailed, "", nil)
		return
	}
	var app VivoApp
	for _, a := range v.cfg.Apps {
		if a.AppID == appID {
			app = a
		}
	}
	perSecond, burst := v.cfg.QuotaPerSecond, v.cfg.QuotaBurst
	if app.QuotaPerSecond > 0 {
		perSecond, burst = app.QuotaPerSecond, app.QuotaBurst
	}
	if !v.s.Allow(VendorVivo, region, appID, perSecond, burst) {
		refuse(outThrottled, VivoCodePushTooFast, "", nil)
		return
	}
	if readErr != nil || decodeErr != nil {
		desc := "请求体不是合法的JSON"
		if errTooBig(readErr) {
			desc = "请求体过大"
		}
		refuse(outRejected, VivoCodeSimInvalidParameter, desc, nil)
		return
	}
	if code, desc := validateVivoRequestID(m.RequestID); code != 0 {
		refuse(outRejected, code, desc, nil)
		return
	}

	switch path {
	case VivoSendPath:
		if m.RegID == nil || *m.RegID == "" {
			refuse(outRejected, VivoCodeTargetEmpty, "", nil)
			return
		}
		if code, desc := validateVivoContent(m); code != 0 {
			refuse(outRejected, code, desc, nil)
			return
		}
		if tokenInvalid(*m.RegID, v.cfg.InvalidTokenPrefixes, v.cfg.InvalidTokens) {
			refuse(outRejected, VivoCodeInvalidRegID, "", targets)
			return
		}
		if !v.acceptRequestID(appID, m.RequestID, now) {
			refuse(outRejected, VivoCodeRequestIDExists, "", nil)
			return
		}
		taskID := v.newTaskID()
		body := v.write(w, vivoAnswer{Result: VivoCodeSuccess, TaskID: taskID})
		v.s.finish(rec, http.StatusOK, VivoCodeSuccess, body, outAccepted, targets, nil)
		// vivo receipts carry extra.callback.param, keyed by task id.
		v.s.queueReceipts(VendorVivo, region, appID, withCallbackURL(sentTokens(targets, m.Extra["callback.param"], taskID, ""), m.Extra["callback"]))
	case VivoSaveListPayloadPath:
		if code, desc := validateVivoContent(m); code != 0 {
			refuse(outRejected, code, desc, nil)
			return
		}
		taskID := v.newTaskID()
		v.saveTask(taskID, vivoTask{appID: appID, created: now, callbackParam: m.Extra["callback.param"], callbackURL: m.Extra["callback"]})
		body := v.write(w, vivoAnswer{Result: VivoCodeSuccess, TaskID: taskID})
		v.s.finish(rec, http.StatusOK, VivoCodeSuccess, body, outAccepted, nil, nil)
	case VivoPushToListPath:
		if len(m.RegIDs) < 2 || len(m.RegIDs) > VivoMaxRegIDsPerList {
			refuse(outRejected, VivoCodeSimInvalidParameter, fmt.Sprintf("regIds个数须在2到%d之间", VivoMaxRegIDsPerList), nil)
			return
		}
		task, ok := v.taskOf(m.TaskID, appID, now)
		if !ok {
			refuse(outRejected, VivoCodeSimInvalidParameter, "taskId不合法", nil)
			return
		}
		var accepted, invalid []string
		var users []vivoInvalidUser
		for _, id := range m.RegIDs {
			if id == "" || tokenInvalid(id, v.cfg.InvalidTokenPrefixes, v.cfg.InvalidTokens) {
				invalid = append(invalid, id)
				users = append(users, vivoInvalidUser{Status: 1, UserID: id})
				continue
			}
			accepted = append(accepted, id)
		}
		out := outAccepted
		if len(accepted) == 0 {
			out = outRejected
		}
		body := v.write(w, vivoAnswer{Result: VivoCodeSuccess, TaskID: m.TaskID, RequestID: m.RequestID, InvalidUsers: users})
		v.s.finish(rec, http.StatusOK, VivoCodeSuccess, body, out, accepted, invalid)
		// The callback parameter of a list push is the saved payload's.
		v.s.queueReceipts(VendorVivo, region, appID, withCallbackURL(sentTokens(accepted, task.callbackParam, m.TaskID, ""), task.callbackURL))
	}
}

func validateVivoRequestID(id string) (int, string) {
	switch {
	case id == "":
		return VivoCodeSimInvalidParameter, "requestId不能为空"
	case utf8.RuneCountInString(id) > VivoMaxRequestIDRunes:
		return VivoCodeSimInvalidParameter, fmt.Sprintf("requestId不能超过%d个字符", VivoMaxRequestIDRunes)
	}
	return 0, ""
}

// validateVivoContent checks the content fields of send and
// saveListPayload as vivo does.
func validateVivoContent(m vivoMessage) (int, string) {
	if m.NotifyType == nil || *m.NotifyType < 1 || *m.NotifyType > 4 {
		return VivoCodeNotifyTypeInvalid, ""
	}
	switch {
	case strings.TrimSpace(m.Title) == "":
		return VivoCodeTitleEmpty, ""
	case utf8.RuneCountInString(m.Title) > VivoMaxTitleRunes:
		return VivoCodeTitleTooLong, ""
	case strings.TrimSpace(m.Content) == "":
		return VivoCodeContentEmpty, ""
	case utf8.RuneCountInString(m.Content) > VivoMaxContentRunes:
		return VivoCodeContentTooLong, ""
	case len(m.ClientCustomMap) > VivoMaxCustomPairs:
		return VivoCodeTooManyCustomPairs, ""
	}
	total := 0
	for k, val := range m.ClientCustomMap {
		if k == "" {
			return VivoCodeInvalidCustomPair, ""
		}
		total += utf8.RuneCountInString(k) + utf8.RuneCountInString(val)
	}
	if total > VivoMaxCustomMapRunes {
		return VivoCodeInvalidCustomPair, fmt.Sprintf("自定义键值对总长度不能超过%d个字符", VivoMaxCustomMapRunes)
	}
	if m.TimeToLive != nil && (*m.TimeToLive < int64(VivoMinTimeToLive/time.Second) || *m.TimeToLive > int64(VivoMaxTimeToLive/time.Second)) {
		return VivoCodeSimInvalidParameter, "timeToLive须在60秒到7天之间"
	}
	if m.SkipType == nil || *m.SkipType < 1 || *m.SkipType > 4 {
		return VivoCodeSimInvalidParameter, "skipType不合法"
	}
	if *m.SkipType != 1 && (m.SkipContent == "" || utf8.RuneCountInString(m.SkipContent) > VivoMaxSkipContentRunes) {
		return VivoCodeSimInvalidParameter, "skipContent不合法"
	}
	if m.Classification != nil && *m.Classification != 0 && *m.Classification != 1 {
		return VivoCodeSimInvalidParameter, "classification不合法"
	}
	if m.Category != "" && !slices.Contains(vivoCategories, m.Category) {
		return VivoCodeSimInvalidParameter, "category不合法"
	}
	if p := m.Extra["callback.param"]; utf8.RuneCountInString(p) > VivoMaxCallbackParam {
		return VivoCodeSimInvalidParameter, fmt.Sprintf("callback.param不能超过%d个字符", VivoMaxCallbackParam)
	}
	if u := m.Extra["callback"]; u != "" && !isHTTPURL(u) {
		return VivoCodeSimInvalidParameter, "callback不合法"
	}
	return 0, ""
}

func (v *vivoSim) newTaskID() string {
	n, _ := v.s.nextID()
	return fmt.Sprintf("13%017d", n)
}

func (v *vivoSim) saveTask(taskID string, task vivoTask) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, t := range v.tasks {
		if task.created.Sub(t.created) > vivoRetention {
			delete(v.tasks, k)
		}
	}
	v.tasks[taskID] = task
}

// taskOf returns the saved payload taskID of appID, if it is still kept.
func (v *vivoSim) taskOf(taskID, appID string, now time.Time) (vivoTask, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.tasks[taskID]
	return t, ok && t.appID == appID && now.Sub(t.created) <= vivoRetention
}

// acceptRequestID records the request id of an accepted send and reports
// whether it was new.
func (v *vivoSim) acceptRequestID(appID, id string, now time.Time) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	key := appID + "/" + id
	if at, ok := v.requestIDs[key]; ok && now.Sub(at) <= vivoRetention {
		return false
	}
	if len(v.requestIDs) >= 100_000 {
		for k, at := range v.requestIDs {
			if now.Sub(at) > vivoRetention {
				delete(v.requestIDs, k)
			}
		}
	}
	v.requestIDs[key] = now
	return true
}
