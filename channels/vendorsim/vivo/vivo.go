// Package vivo simulates vivo Push's server API for the vendor simulator
// (channels/vendorsim): auth (a signed appId and appKey for an
// authToken), send, saveListPayload, pushToList and recall, checked and
// answered with vivo's result codes. Its configuration is
// vendorsim.VivoConfig.
package vivo

import (
	"bytes"
	"cmp"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simkit"
)

// vivo Push server API result codes the simulator answers with (the
// "result" field), from §10.3 of the mPaaS guide (vivo table) and vivo's
// auth error codes (10200..10250).
const (
	CodeSuccess              = 0
	CodeAuthFailed           = 10000
	CodeResourceLimit        = 10040
	CodeTargetEmpty          = 10050
	CodeNotifyTypeInvalid    = 10054
	CodeTitleEmpty           = 10055
	CodeTitleTooLong         = 10056
	CodeContentEmpty         = 10057
	CodeContentTooLong       = 10058
	CodeTooManyCustomPairs   = 10066
	CodeInvalidCustomPair    = 10067
	CodeTotalLimitExceeded   = 10070
	CodeOutsideSendingWindow = 10071
	CodePushTooFast          = 10072
	CodeServerError          = 10102
	CodeAppIDEmpty           = 10200
	CodeAppKeyEmpty          = 10201
	CodeAppKeyInvalid        = 10202
	CodeTimestampEmpty       = 10203
	CodeSignEmpty            = 10204
	CodeAppIDNotExist        = 10205
	CodeSignInvalid          = 10206
	CodeTimestampInvalid     = 10207
	CodeAuthLimitExceeded    = 10250
	CodeInvalidRegID         = 10302
	CodeRequestIDExists      = 10303
	// CodeSimInvalidParameter is the simulator's answer to parameter
	// errors for which vivo's published tables give no number (request
	// id, time to live, skip type, task id, regIds count).
	CodeSimInvalidParameter = 10099
)

// vivo limits the simulator enforces: title 40 and content 100 characters
// (§8 and §10.3: 10056, 10058), at most 10 custom pairs (10066) of at most
// 1024 characters in all, 1000 regIds per pushToList, a time to live of 60
// seconds to 7 days, request ids and callback parameters of at most 64
// characters.
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
	AuthTimestampSkew   = 10 * time.Minute
	MaxSkipContentRunes = 1024
)

// vivo endpoint paths below the base URL.
const (
	AuthPath            = "/message/auth"
	SendPath            = "/message/send"
	SaveListPayloadPath = "/message/saveListPayload"
	PushToListPath      = "/message/pushToList"
)

// vivoCategories are vivo's secondary message categories.
var vivoCategories = []string{"IM", "ACCOUNT", "TODO", "DEVICE_REMINDER", "ORDER", "SUBSCRIPTION", "NEWS", "CONTENT", "MARKETING", "SOCIAL"}

// Sign returns the sign of a vivo auth request: the lower-case hex MD5
// of appId + appKey + timestamp + appSecret.
func Sign(appID, appKey string, timestamp int64, appSecret string) string {
	sum := md5.Sum([]byte(appID + appKey + strconv.FormatInt(timestamp, 10) + appSecret))
	return hex.EncodeToString(sum[:])
}

// sim serves the vivo endpoints. Its token, task and request-id stores
// live as long as the simulator (Reset does not forget them).
type sim struct {
	s      *vendorsim.Simulator
	cfg    vendorsim.VivoConfig
	tokens *simkit.TokenStore

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

// New returns the simulated vivo Push of s (vendorsim.NewVendor).
func New(s *vendorsim.Simulator) vendorsim.Vendor {
	return &sim{s: s, cfg: s.Config().Vivo, tokens: simkit.NewTokenStore(),
		tasks: map[string]vivoTask{}, requestIDs: map[string]time.Time{}}
}

// Name is vendorsim.VendorVivo.
func (v *sim) Name() string { return vendorsim.VendorVivo }

// RecallPath is the path of vivo's recall endpoint (the package constant
// RecallPath).
func (v *sim) RecallPath() string { return RecallPath }

// Register serves auth, send, saveListPayload, pushToList, recall and,
// for other paths, vivo's 404 and 405 answers.
func (v *sim) Register(mux *http.ServeMux) {
	mux.Handle("POST /vivo/{region}"+AuthPath, vendorsim.Endpoint[*auth]{
		Sim: v.s, Vendor: vendorsim.VendorVivo, Regions: v.cfg.Regions, Read: v.readAuth, Answer: v.answerAuth,
	})
	mux.Handle("POST /vivo/{region}"+RecallPath, vendorsim.Endpoint[*recall]{
		Sim: v.s, Vendor: vendorsim.VendorVivo, Regions: v.cfg.Regions,
		Read: v.readRecall, Injected: v.injected, Authenticate: v.authenticateRecall, Answer: v.answerRecall,
	})
	for _, p := range []string{SendPath, SaveListPayloadPath, PushToListPath} {
		mux.Handle("POST /vivo/{region}"+p, vendorsim.Endpoint[*push]{
			Sim: v.s, Vendor: vendorsim.VendorVivo, Regions: v.cfg.Regions,
			Read: func(w http.ResponseWriter, r *http.Request, region string) (*push, vendorsim.Arrival) {
				return v.readPush(w, r, region, p)
			},
			Injected: v.injected, Authenticate: v.authenticate, Quota: v.quota, Throttled: v.throttled, Answer: v.answerPush,
		})
	}
	mux.HandleFunc("/vivo/{region}/", v.handleOther)
}

// vivoDesc is the desc vivo sends with a result code.
func vivoDesc(code int) string {
	switch code {
	case CodeSuccess:
		return "请求成功"
	case CodeAuthFailed:
		return "权限认证失败"
	case CodeResourceLimit:
		return "资源已达上限，请稍后重试"
	case CodeTargetEmpty:
		return "alias和regId不能为空"
	case CodeNotifyTypeInvalid:
		return "notifyType不合法"
	case CodeTitleEmpty:
		return "title不能为空"
	case CodeTitleTooLong:
		return "title不能超过40个字符"
	case CodeContentEmpty:
		return "content不能为空"
	case CodeContentTooLong:
		return "content不能超过100个字符"
	case CodeTooManyCustomPairs:
		return "自定义key和Value键值对个数不能超过10个"
	case CodeInvalidCustomPair:
		return "自定义key和Value键值对不合法"
	case CodeTotalLimitExceeded:
		return "发送总量超出限制"
	case CodeOutsideSendingWindow:
		return "发送时间不在允许的时间范围内"
	case CodePushTooFast:
		return "推送速度过快，请稍后再试"
	case CodeServerError:
		return "vivo服务器未知异常"
	case CodeAppIDEmpty:
		return "appId不能为空"
	case CodeAppKeyEmpty:
		return "appKey不能为空"
	case CodeAppKeyInvalid:
		return "appKey不合法"
	case CodeTimestampEmpty:
		return "timestamp不能为空"
	case CodeSignEmpty:
		return "sign不能为空"
	case CodeAppIDNotExist:
		return "appId不存在"
	case CodeSignInvalid:
		return "sign不正确"
	case CodeTimestampInvalid:
		return "timestamp不合法"
	case CodeAuthLimitExceeded:
		return "鉴权接口调用超过上限"
	case CodeInvalidRegID:
		return "regId不合法"
	case CodeRequestIDExists:
		return "requestId已存在"
	case CodeSimInvalidParameter:
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

// answer is vivo's answer (HTTP 200; desc "" is the result's), counted
// as out.
func answer(out vendorsim.Outcome, a vivoAnswer) vendorsim.Answer {
	if a.Desc == "" {
		a.Desc = vivoDesc(a.Result)
	}
	ans := vendorsim.JSON(http.StatusOK, a)
	ans.Code, ans.Outcome = a.Result, out
	return ans
}

// refuse is answer of a refusal with code and desc.
func refuse(out vendorsim.Outcome, code int, desc string, invalid []string) vendorsim.Answer {
	a := answer(out, vivoAnswer{Result: code, Desc: desc})
	a.Invalid = invalid
	return a
}

func (v *sim) handleOther(w http.ResponseWriter, r *http.Request) {
	if !vendorsim.ServesRegion(w, r, v.cfg.Regions) {
		return
	}
	for _, p := range []string{AuthPath, SendPath, SaveListPayloadPath, PushToListPath} {
		if strings.HasSuffix(r.URL.Path, p) {
			vendorsim.JSON(http.StatusMethodNotAllowed, vivoAnswer{Result: CodeSimInvalidParameter, Desc: "Request method '" + r.Method + "' not supported"}).
				With("Allow", http.MethodPost).Write(w)
			return
		}
	}
	vendorsim.JSON(http.StatusNotFound, vivoAnswer{Result: CodeSimInvalidParameter, Desc: "No handler found for " + r.URL.Path}).Write(w)
}

// auth is an auth request as read.
type auth struct {
	req struct {
		AppID     json.RawMessage `json:"appId"`
		AppKey    string          `json:"appKey"`
		Timestamp json.RawMessage `json:"timestamp"`
		Sign      string          `json:"sign"`
	}
	vivoAppID string
	bodyErr   error // reading or decoding
	app       vendorsim.VivoApp
	known     bool
}

// readAuth reads POST /vivo/{region}/message/auth: JSON appId, appKey,
// timestamp and sign for an authToken. Injected faults, latency and
// quotas apply to push calls only.
func (v *sim) readAuth(w http.ResponseWriter, r *http.Request, _ string) (*auth, vendorsim.Arrival) {
	c := &auth{}
	raw, readErr := simkit.ReadBody(w, r, 64<<10)
	c.bodyErr = cmp.Or(readErr, json.Unmarshal(raw, &c.req))
	c.vivoAppID = strings.Trim(string(c.req.AppID), `"`)
	for _, a := range v.cfg.Apps {
		if a.VivoAppID == c.vivoAppID {
			c.app, c.known = a, true
		}
	}
	appID := vendorsim.AppOf(c.app.AppID, c.known)
	return c, vendorsim.Arrival{AppID: appID, Form: url.Values{"body": {string(raw)}}}
}

func (v *sim) answerAuth(_ *http.Request, c *auth) vendorsim.Answer {
	deny := func(code int) vendorsim.Answer { return refuse(vendorsim.Rejected, code, "", nil) }
	stamp, stampErr := strconv.ParseInt(strings.Trim(string(c.req.Timestamp), `"`), 10, 64)
	now := time.Now()
	switch {
	case c.bodyErr != nil:
		return deny(CodeSimInvalidParameter)
	case c.vivoAppID == "":
		return deny(CodeAppIDEmpty)
	case !c.known:
		return deny(CodeAppIDNotExist)
	case c.req.AppKey == "":
		return deny(CodeAppKeyEmpty)
	case c.req.AppKey != c.app.AppKey:
		return deny(CodeAppKeyInvalid)
	case len(c.req.Timestamp) == 0:
		return deny(CodeTimestampEmpty)
	case stampErr != nil || simkit.AbsDuration(now.Sub(time.UnixMilli(stamp))) > AuthTimestampSkew:
		return deny(CodeTimestampInvalid)
	case c.req.Sign == "":
		return deny(CodeSignEmpty)
	case !strings.EqualFold(c.req.Sign, Sign(c.app.VivoAppID, c.app.AppKey, stamp, c.app.AppSecret.Reveal())):
		return deny(CodeSignInvalid)
	}
	n, letters := v.s.NextID()
	tok := fmt.Sprintf("vivo-%08d%s-%s", n, letters, v.s.RandomHex(8))
	v.tokens.Issue(tok, c.app.AppID, now.Add(time.Duration(v.cfg.AuthTokenLifetime)), now)
	return answer(vendorsim.Accepted, vivoAnswer{Result: CodeSuccess, AuthToken: tok})
}

// push is a send, saveListPayload or pushToList call as read.
type push struct {
	region, path string
	m            vivoMessage
	bodyErr      error // reading or decoding
	targets      []string
	appID        string
	state        simkit.TokenState
	app          vendorsim.VivoApp
	now          time.Time
}

// readPush reads send (one regId), saveListPayload (content for a list
// push) and pushToList (a saved taskId to up to 1000 regIds); the
// authToken header is recorded as the credential.
func (v *sim) readPush(w http.ResponseWriter, r *http.Request, region, path string) (*push, vendorsim.Arrival) {
	c := &push{region: region, path: path}
	raw, readErr := simkit.ReadBody(w, r, v.cfg.MaxBodyBytes)
	c.bodyErr = cmp.Or(readErr, json.Unmarshal(bytes.TrimSpace(raw), &c.m))
	switch {
	case path == SendPath && c.m.RegID != nil:
		c.targets = []string{*c.m.RegID}
	case path == PushToListPath:
		c.targets = c.m.RegIDs
	}
	tok := r.Header.Get("authToken")
	c.now = time.Now()
	c.appID, c.state = v.tokens.Lookup(tok, c.now)
	recApp := vendorsim.UnknownApp
	if c.state == simkit.TokenValid {
		recApp = c.appID
		for _, a := range v.cfg.Apps {
			if a.AppID == c.appID {
				c.app = a
			}
		}
	}
	return c, vendorsim.Arrival{AppID: recApp, Form: url.Values{"body": {string(raw)}}, Targets: c.targets, Auth: &tok}
}

func (v *sim) injected(f vendorsim.Failure) vendorsim.Answer {
	return vendorsim.InjectedAnswer(f, func(f vendorsim.Failure) vendorsim.Answer {
		return vendorsim.JSON(f.Status, vivoAnswer{Result: f.Code, Desc: "Injected failure: " + vivoDesc(f.Code)})
	})
}

func (v *sim) authenticate(_ *http.Request, c *push) *vendorsim.Answer {
	if c.state != simkit.TokenValid {
		return vendorsim.Refusal(refuse(vendorsim.Rejected, CodeAuthFailed, "", nil))
	}
	return nil
}

func (v *sim) quota(c *push) vendorsim.Bucket {
	return vendorsim.AppBucket(v.cfg.QuotaPerSecond, v.cfg.QuotaBurst, c.app.QuotaPerSecond, c.app.QuotaBurst)
}

// throttled is the answer over the quota.
func (v *sim) throttled(_ *push) vendorsim.Answer {
	return refuse(vendorsim.Throttled, CodePushTooFast, "", nil)
}

func (v *sim) answerPush(_ *http.Request, c *push) vendorsim.Answer {
	m := c.m
	if c.bodyErr != nil {
		desc := "请求体不是合法的JSON"
		if simkit.TooBig(c.bodyErr) {
			desc = "请求体过大"
		}
		return refuse(vendorsim.Rejected, CodeSimInvalidParameter, desc, nil)
	}
	if code, desc := validateVivoRequestID(m.RequestID); code != 0 {
		return refuse(vendorsim.Rejected, code, desc, nil)
	}
	switch c.path {
	case SendPath:
		if m.RegID == nil || *m.RegID == "" {
			return refuse(vendorsim.Rejected, CodeTargetEmpty, "", nil)
		}
		if code, desc := validateVivoContent(m); code != 0 {
			return refuse(vendorsim.Rejected, code, desc, nil)
		}
		if simkit.Matches(*m.RegID, v.cfg.InvalidTokenPrefixes, v.cfg.InvalidTokens) {
			return refuse(vendorsim.Rejected, CodeInvalidRegID, "", c.targets)
		}
		if !v.acceptRequestID(c.appID, m.RequestID, c.now) {
			return refuse(vendorsim.Rejected, CodeRequestIDExists, "", nil)
		}
		taskID := v.newTaskID()
		a := answer(vendorsim.Accepted, vivoAnswer{Result: CodeSuccess, TaskID: taskID})
		a.Accepted, a.Recallable = c.targets, vendorsim.SameID(taskID, c.targets)
		// vivo receipts carry extra.callback.param, keyed by task id.
		a.Receipts = vendorsim.WithCallbackURL(vendorsim.SentTokens(c.targets, m.Extra["callback.param"], taskID, ""), m.Extra["callback"])
		return a
	case SaveListPayloadPath:
		if code, desc := validateVivoContent(m); code != 0 {
			return refuse(vendorsim.Rejected, code, desc, nil)
		}
		taskID := v.newTaskID()
		v.saveTask(taskID, vivoTask{appID: c.appID, created: c.now, callbackParam: m.Extra["callback.param"], callbackURL: m.Extra["callback"]})
		return answer(vendorsim.Accepted, vivoAnswer{Result: CodeSuccess, TaskID: taskID})
	}
	// pushToList
	if len(m.RegIDs) < 2 || len(m.RegIDs) > MaxRegIDsPerList {
		return refuse(vendorsim.Rejected, CodeSimInvalidParameter, fmt.Sprintf("regIds个数须在2到%d之间", MaxRegIDsPerList), nil)
	}
	task, ok := v.taskOf(m.TaskID, c.appID, c.now)
	if !ok {
		return refuse(vendorsim.Rejected, CodeSimInvalidParameter, "taskId不合法", nil)
	}
	var accepted, invalid []string
	var users []vivoInvalidUser
	for _, id := range m.RegIDs {
		if id == "" || simkit.Matches(id, v.cfg.InvalidTokenPrefixes, v.cfg.InvalidTokens) {
			invalid = append(invalid, id)
			users = append(users, vivoInvalidUser{Status: 1, UserID: id})
			continue
		}
		accepted = append(accepted, id)
	}
	out := vendorsim.Accepted
	if len(accepted) == 0 {
		out = vendorsim.Rejected
	}
	a := answer(out, vivoAnswer{Result: CodeSuccess, TaskID: m.TaskID, RequestID: m.RequestID, InvalidUsers: users})
	a.Accepted, a.Invalid = accepted, invalid
	if m.TaskID != "" {
		a.Recallable = vendorsim.SameID(m.TaskID, accepted)
	}
	// The callback parameter of a list push is the saved payload's.
	a.Receipts = vendorsim.WithCallbackURL(vendorsim.SentTokens(accepted, task.callbackParam, m.TaskID, ""), task.callbackURL)
	return a
}

func validateVivoRequestID(id string) (int, string) {
	switch {
	case id == "":
		return CodeSimInvalidParameter, "requestId不能为空"
	case utf8.RuneCountInString(id) > MaxRequestIDRunes:
		return CodeSimInvalidParameter, fmt.Sprintf("requestId不能超过%d个字符", MaxRequestIDRunes)
	}
	return 0, ""
}

// validateVivoContent checks the content fields of send and
// saveListPayload as vivo does.
func validateVivoContent(m vivoMessage) (int, string) {
	if m.NotifyType == nil || *m.NotifyType < 1 || *m.NotifyType > 4 {
		return CodeNotifyTypeInvalid, ""
	}
	switch {
	case strings.TrimSpace(m.Title) == "":
		return CodeTitleEmpty, ""
	case utf8.RuneCountInString(m.Title) > MaxTitleRunes:
		return CodeTitleTooLong, ""
	case strings.TrimSpace(m.Content) == "":
		return CodeContentEmpty, ""
	case utf8.RuneCountInString(m.Content) > MaxContentRunes:
		return CodeContentTooLong, ""
	case len(m.ClientCustomMap) > MaxCustomPairs:
		return CodeTooManyCustomPairs, ""
	}
	total := 0
	for k, val := range m.ClientCustomMap {
		if k == "" {
			return CodeInvalidCustomPair, ""
		}
		total += utf8.RuneCountInString(k) + utf8.RuneCountInString(val)
	}
	if total > MaxCustomMapRunes {
		return CodeInvalidCustomPair, fmt.Sprintf("自定义键值对总长度不能超过%d个字符", MaxCustomMapRunes)
	}
	if m.TimeToLive != nil && (*m.TimeToLive < int64(MinTimeToLive/time.Second) || *m.TimeToLive > int64(MaxTimeToLive/time.Second)) {
		return CodeSimInvalidParameter, "timeToLive须在60秒到7天之间"
	}
	if m.SkipType == nil || *m.SkipType < 1 || *m.SkipType > 4 {
		return CodeSimInvalidParameter, "skipType不合法"
	}
	if *m.SkipType != 1 && (m.SkipContent == "" || utf8.RuneCountInString(m.SkipContent) > MaxSkipContentRunes) {
		return CodeSimInvalidParameter, "skipContent不合法"
	}
	if m.Classification != nil && *m.Classification != 0 && *m.Classification != 1 {
		return CodeSimInvalidParameter, "classification不合法"
	}
	if m.Category != "" && !slices.Contains(vivoCategories, m.Category) {
		return CodeSimInvalidParameter, "category不合法"
	}
	if p := m.Extra["callback.param"]; utf8.RuneCountInString(p) > MaxCallbackParam {
		return CodeSimInvalidParameter, fmt.Sprintf("callback.param不能超过%d个字符", MaxCallbackParam)
	}
	if u := m.Extra["callback"]; u != "" && !simkit.IsHTTPURL(u) {
		return CodeSimInvalidParameter, "callback不合法"
	}
	return 0, ""
}

func (v *sim) newTaskID() string {
	n, _ := v.s.NextID()
	return fmt.Sprintf("13%017d", n)
}

func (v *sim) saveTask(taskID string, task vivoTask) {
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
func (v *sim) taskOf(taskID, appID string, now time.Time) (vivoTask, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	t, ok := v.tasks[taskID]
	return t, ok && t.appID == appID && now.Sub(t.created) <= vivoRetention
}

// acceptRequestID records the request id of an accepted send and reports
// whether it was new.
func (v *sim) acceptRequestID(appID, id string, now time.Time) bool {
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
