package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/schema"
)

// The Alibaba Cloud RPC API of the gateway, at "/": what the official
// Alibaba Cloud SDKs send when their endpoint is the gateway (the Go SDK:
// client.Domain = "127.0.0.1:18204"). A call is GET or POST with the
// parameters in the query string or, for POST, in an
// application/x-www-form-urlencoded body (the SDKs put the common
// parameters in the query and the action's in the body):
//
//   - Action (one of RPCActions) and Version (RPCVersion);
//   - the signature parameters of accesskey.go, Format JSON (or left
//     out), RegionId (the gateway's region, or left out);
//   - the action's parameters, named as the SDK's request types name them
//     (AppId, WorkspaceId, TaskName, TargetMsgkey holding a JSON object,
//     DeliveryType, TargetMsg.1.Target, ...). Every field of a /v1 push is
//     a parameter of the push actions, its name the field's with a
//     capital first letter (ThirdChannelCategory, NotifyLevel, ...); a
//     list is Name.1, Name.2, ... or a JSON array in Name. An empty
//     parameter counts as absent.
//
// A call is mapped onto the handler of the matching /v1 route, so it is
// validated and published exactly as the JSON request would be. A
// parameter the action does not honour is refused with 3028, never
// ignored.
//
// Answers: a call the gateway served has HTTP 200 and the response
// fields of the SDK's response type: RequestId, ResultCode ("OK" or the
// mPaaS result code's name, e.g. TASKNAME_NULL), ResultMessage, and
// PushResult or ResultContent. A call refused before it reaches the
// action (signature, timestamp, nonce, unknown action, a common parameter)
// or failed by Kafka or ClickHouse has the Alibaba Cloud error shape the
// SDKs turn into their server error: {"RequestId", "HostId", "Code",
// "Message", "Recommend"} with the HTTP status Alibaba Cloud's API
// gateway uses (see rpcRefusal). A call over its app's rate limit is
// refused the same way, with HTTP 429, Retry-After and Code
// Throttling.User (ratelimit.go).

// RPCVersion is the API version served: the one the official Go SDK's
// mpaas package (github.com/aliyun/alibaba-cloud-sdk-go/services/mpaas)
// sends. Calls naming another version are refused (InvalidApi.NotFound).
const RPCVersion = "2020-10-28"

// commonParams are the parameters of every RPC call, not of its action.
var commonParams = map[string]bool{ParamAction: true, ParamVersion: true, ParamFormat: true, ParamAccessKeyID: true,
	ParamSignature: true, ParamSignatureMethod: true, ParamSignatureVersion: true, ParamSignatureNonce: true,
	ParamSignatureType: true, ParamTimestamp: true, ParamRegionID: true}

// rpcKind is how a parameter's text becomes the JSON value of the
// handler's body field.
type rpcKind int

const (
	rpcString     rpcKind = iota // a JSON string
	rpcInt                       // a JSON number: the text must be an integer
	rpcBool                      // true or false
	rpcJSONText                  // a string holding JSON (targetMsgkey, extendedParams, StrategyContent, ...)
	rpcList                      // a list of strings: Name.1, Name.2, ... or a JSON array in Name
	rpcTargetMsgs                // TargetMsg.N.Target, .MsgKey, .TemplateKeyValue, .ExtendedParams
	rpcOsType                    // 1 Android, 2 iOS, 7 HarmonyOS: the platform's name
)

// rpcParam is the body field a parameter fills.
type rpcParam struct {
	json string
	kind rpcKind
}

// rpcAction is one action of the RPC API: the /v1 handler that serves
// it, the parameters it takes and how its answer is shaped.
type rpcAction struct {
	name   string
	handle handler
	// params maps each parameter taken to the handler body's field.
	params map[string]rpcParam
	// refused says why a parameter the SDK's request type declares is not
	// taken (3028 when given).
	refused map[string]string
	// taskID names the parameter that is the task of the call (the
	// {taskId} of the /v1 route); it is required.
	taskID string
	// write actions answer with PushResult; the others with ResultContent
	// made by content from the handler's data.
	write   bool
	content func(c *call, data any) any
}

// RPCActions lists the actions of the RPC API, sorted.
func (s *Server) RPCActions() []string {
	out := make([]string, 0, len(s.rpc))
	for n := range s.rpc {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// rpcName is the parameter name of a JSON field: its first letter in
// upper case (taskName → TaskName, msgkey → Msgkey).
func rpcName(jsonName string) string {
	return strings.ToUpper(jsonName[:1]) + jsonName[1:]
}

// requestParams maps every field of schema.Request to its parameter,
// except targetMsgs, which the SDK spells TargetMsg.N.*.
func requestParams() map[string]rpcParam {
	t := reflect.TypeFor[schema.Request]()
	out := map[string]rpcParam{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		p := rpcParam{json: name, kind: rpcJSONText}
		ft := f.Type
		if ft.Kind() == reflect.Pointer && ft.Elem().Kind() != reflect.Struct {
			ft = ft.Elem()
		}
		switch {
		case name == "targetMsgs":
			out["TargetMsg"] = rpcParam{json: name, kind: rpcTargetMsgs}
			continue
		case ft.Kind() == reflect.String:
			p.kind = rpcString
		case ft.Kind() == reflect.Int || ft.Kind() == reflect.Int64:
			p.kind = rpcInt
		case ft.Kind() == reflect.Bool:
			p.kind = rpcBool
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.String:
			p.kind = rpcList
		}
		out[rpcName(name)] = p
	}
	return out
}

// appParams returns a parameter table (AppId, WorkspaceId and) of string fields named by their JSON
// names, plus the given fields of other kinds.
func appParams(strs []string, others map[string]rpcParam) map[string]rpcParam {
	out := map[string]rpcParam{"AppId": {json: "appId"}, "WorkspaceId": {json: "workspaceId"}}
	for _, j := range strs {
		out[rpcName(j)] = rpcParam{json: j}
	}
	for k, v := range others {
		out[k] = v
	}
	return out
}

// rpcActions builds the action table: every MPS action of the SDK's
// mpaas package, each served by the handler of its /v1 route.
func (s *Server) rpcActions() map[string]rpcAction {
	push := requestParams()
	intParam := func(j string) rpcParam { return rpcParam{json: j, kind: rpcInt} }
	schedules := rpcAction{handle: s.schedules, content: scheduleContent,
		params: appParams([]string{"uniqueId"}, map[string]rpcParam{"StartTime": intParam("startTime"), "EndTime": intParam("endTime"),
			"Type": intParam("type"), "PageNumber": intParam("pageNumber"), "PageSize": intParam("pageSize")})}
	actions := []rpcAction{
		{name: "PushSimple", handle: s.push(schema.PushSimple), write: true, params: push},
		{name: "PushTemplate", handle: s.push(schema.PushTemplate), write: true, params: push},
		{name: "PushMultiple", handle: s.push(schema.PushMultiple), write: true, params: push},
		{name: "PushBroadcast", handle: s.push(schema.PushBroadcast), write: true, params: push},
		{name: "RevokePushMessage", handle: s.revokeMessage, write: true, params: appParams([]string{"messageId", "targetId", "reason"}, nil)},
		{name: "RevokePushTask", handle: s.revokeTask, write: true, params: appParams([]string{"taskId", "reason"}, nil)},
		{name: "QueryPushAnalysisCoreIndex", handle: s.stats, content: statsContent,
			params: appParams([]string{"platform", "channel", "type", "taskId", "granularity", "appVersion"},
				map[string]rpcParam{"StartTime": intParam("startTime"), "EndTime": intParam("endTime")})},
		{name: "QueryPushAnalysisTaskList", handle: s.tasks, content: taskListContent,
			params: appParams([]string{"taskId", "taskName", "appVersion"}, map[string]rpcParam{"StartTime": intParam("startTime"),
				"EndTime": intParam("endTime"), "PageNumber": intParam("pageNumber"), "PageSize": intParam("pageSize")})},
		{name: "QueryPushAnalysisTaskDetail", handle: s.taskDetails, content: taskDetailContent, taskID: "TaskId", params: appParams(nil, nil)},
		withName(schedules, "QueryPushSchedulerList"),
		withName(schedules, "QueryMpsSchedulerList"),
		{name: "CancelPushScheduler", handle: s.cancelSchedules, content: cancelContent,
			params: appParams([]string{"uniqueIds"}, map[string]rpcParam{"Type": intParam("type")})},
		{name: "PushBind", handle: s.bind, write: true, params: appParams([]string{"userId", "deliveryToken"}, nil),
			refused: map[string]string{
				"OsType":      "OsType is not read by PushBind: the device's platform is what PushReport recorded",
				"PhoneNumber": "PhoneNumber is not read by PushBind, which binds the user and the device only",
			}},
		{name: "PushUnBind", handle: s.unbind, write: true, params: appParams([]string{"userId", "deliveryToken"}, nil)},
		{name: "PushReport", handle: s.report, write: true,
			params: appParams([]string{"deliveryToken", "thirdChannelDeviceToken", "vendor", "appVersion", "model"},
				map[string]rpcParam{"ThirdChannel": intParam("thirdChannel"), "OsType": {json: "osType", kind: rpcOsType}}),
			refused: map[string]string{
				"Channel":     "Channel (the app's distribution channel) is not stored by pushpipe",
				"ConnectType": "ConnectType is not stored by pushpipe",
				"Imei":        "Imei is not stored by pushpipe: a device is its DeliveryToken",
				"Imsi":        "Imsi is not stored by pushpipe: a device is its DeliveryToken",
				"PushVersion": "PushVersion (the push SDK's version) is not stored by pushpipe; AppVersion is",
			}},
	}
	out := make(map[string]rpcAction, len(actions))
	for _, a := range actions {
		out[a.name] = a
	}
	return out
}

func withName(a rpcAction, name string) rpcAction {
	a.name = name
	return a
}

// rpcRefusal is a call refused before its action ran, in the Alibaba Cloud
// error shape: the HTTP status, the error code and its message.
type rpcRefusal struct {
	status        int
	code, message string
	recommend     string
	err           error
	// retryAfter, when set, is sent as the Retry-After header.
	retryAfter time.Duration
}

// refusal returns the Alibaba Cloud error of a refused signature. The
// codes and statuses are those of Alibaba Cloud's API gateway; the
// SignatureDoesNotMatch message ends with the server's string to sign,
// which the SDKs compare with their own to tell a wrong secret from a
// signing bug.
func (ae *authError) refusal() rpcRefusal {
	switch ae.why {
	case authMissing:
		return rpcRefusal{status: 400, code: "MissingParameter", message: fmt.Sprintf("The input parameter %q that is mandatory for processing this request is not supplied.", ae.param), recommend: ae.msg}
	case authMethod:
		if ae.param == ParamSignatureMethod {
			return rpcRefusal{status: 400, code: "InvalidSignatureMethod", message: "Specified signature method is not valid. " + ae.msg, recommend: ae.msg}
		}
		return rpcRefusal{status: 400, code: "IncompleteSignature", message: "The request signature does not conform to Alibaba Cloud standards. " + ae.msg, recommend: ae.msg}
	case authTimestampFormat:
		return rpcRefusal{status: 400, code: "InvalidTimeStamp.Format", message: "Specified time stamp or date value is not well formatted. " + ae.msg, recommend: ae.msg}
	case authTimestampExpired:
		return rpcRefusal{status: 400, code: "InvalidTimeStamp.Expired", message: "Specified time stamp or date value is expired. " + ae.msg, recommend: ae.msg}
	case authUnknownKey:
		return rpcRefusal{status: 404, code: "InvalidAccessKeyId.NotFound", message: "Specified access key is not found. " + ae.msg, recommend: ae.msg}
	case authSignature:
		return rpcRefusal{status: 400, code: "SignatureDoesNotMatch", message: "Specified signature is not matched with our calculation. server string to sign is:" + ae.sts,
			recommend: "compare the SDK's string to sign with the server's: when they are equal, the AccessKey secret is wrong"}
	case authNonceUsed:
		return rpcRefusal{status: 400, code: "SignatureNonceUsed", message: "Specified signature nonce was used already. " + ae.msg, recommend: ae.msg}
	case authNoncesFull:
		return rpcRefusal{status: 400, code: "Throttling", message: "Request was denied due to request throttling. " + ae.msg, recommend: ae.msg}
	}
	return rpcRefusal{status: 400, code: "InvalidParameter", message: ae.msg}
}

func invalidParameter(code, msg string) *rpcRefusal {
	return &rpcRefusal{status: 400, code: code, message: msg, recommend: msg}
}

// rpcErrorBody is the Alibaba Cloud error shape the SDKs parse into their
// server error (Code must be a string).
type rpcErrorBody struct {
	RequestID string `json:"RequestId"`
	HostID    string `json:"HostId"`
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	Recommend string `json:"Recommend"`
}

// rpcAnswer is the body of a served call: the fields every mPaaS
// response type declares, and PushResult or ResultContent.
type rpcAnswer struct {
	RequestID     string      `json:"RequestId"`
	ResultCode    string      `json:"ResultCode"`
	ResultMessage string      `json:"ResultMessage"`
	PushResult    *PushResult `json:"PushResult,omitempty"`
	ResultContent any         `json:"ResultContent,omitempty"`
}

// serveRPC serves the RPC API at "/".
func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	c := &call{id: newRequestID(), path: r.URL.Path}
	w.Header().Set("X-Request-Id", c.id)
	w.Header().Set("x-acs-request-id", c.id)
	route := "/"
	var ref *rpcRefusal
	var rep reply
	defer func() {
		if p := recover(); p != nil {
			ref = &rpcRefusal{status: 500, code: "InternalError", message: "The request processing has failed due to some unknown error, exception or failure.", err: fmt.Errorf("panic: %v", p)}
			s.writeRPCError(w, r, c, ref)
		}
		if ref != nil {
			s.finish(route, ref.code, c, ref.status, ref.message, ref.err, time.Since(start))
			return
		}
		s.finish(route, strconv.Itoa(int(rep.code)), c, http.StatusOK, rep.msg, rep.err, time.Since(start))
	}()
	var a rpcAction
	a, rep, ref = s.callRPC(w, r, c)
	if a.name != "" {
		route = "/?Action=" + a.name
	}
	if ref != nil {
		s.writeRPCError(w, r, c, ref)
		return
	}
	writeJSON(w, http.StatusOK, a.answer(c, rep))
}

// callRPC authenticates the call and runs its action; it returns the
// action and its reply, or the refusal of the call.
func (s *Server) callRPC(w http.ResponseWriter, r *http.Request, c *call) (rpcAction, reply, *rpcRefusal) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		return rpcAction{}, reply{}, &rpcRefusal{status: 403, code: "UnsupportedHTTPMethod", message: "This http method not supported: the RPC API takes GET and POST."}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return rpcAction{}, reply{}, &rpcRefusal{status: 413, code: "InvalidParameter", message: fmt.Sprintf("The request body is larger than %d bytes (gateway.maxBodyBytes).", s.cfg.MaxBodyBytes)}
		}
		return rpcAction{}, reply{}, invalidParameter("InvalidParameter", "reading the request body: "+err.Error())
	}
	p, ref := rpcParams(r, body)
	if ref != nil {
		return rpcAction{}, reply{}, ref
	}
	for _, name := range []string{ParamAction, ParamVersion} {
		if p[name] == "" {
			return rpcAction{}, reply{}, invalidParameter("MissingParameter", fmt.Sprintf("The input parameter %q that is mandatory for processing this request is not supplied.", name))
		}
	}
	if f := p[ParamFormat]; f != "" && !strings.EqualFold(f, "JSON") {
		return rpcAction{}, reply{}, invalidParameter("InvalidParameter.Format", fmt.Sprintf("Specified parameter format is not valid: Format %q; the gateway answers JSON only.", f))
	}
	if rg := p[ParamRegionID]; rg != "" && rg != s.cfg.Region {
		return rpcAction{}, reply{}, invalidParameter("InvalidRegionId", fmt.Sprintf("The specified region does not exist: RegionId %q is not the region of this gateway, %q; create the client with region %q, or call the gateway of region %s.", rg, s.cfg.Region, s.cfg.Region, rg))
	}
	for _, name := range []string{"SecurityToken", "BearerToken"} {
		if p[name] != "" {
			return rpcAction{}, reply{}, invalidParameter("UnsupportedParameter", fmt.Sprintf("The parameter %q is not supported: sign with an AccessKey configured on the gateway (STS and bearer tokens are not).", name))
		}
	}
	c.now = s.cfg.Now()
	g, ae := s.verify(r.Method, "/", p, c.now)
	if ae != nil {
		ref := ae.refusal()
		return rpcAction{}, reply{}, &ref
	}
	c.grant = g
	a, ok := s.rpc[p[ParamAction]]
	if !ok || p[ParamVersion] != RPCVersion {
		return rpcAction{}, reply{}, &rpcRefusal{status: 404, code: "InvalidApi.NotFound",
			message: fmt.Sprintf("Specified api is not found, please check your url and method: Action %q, Version %q; the gateway serves Version %s with the actions %s.",
				p[ParamAction], p[ParamVersion], RPCVersion, strings.Join(s.RPCActions(), ", "))}
	}
	var rep reply
	if c.body, c.taskID, rep = a.body(p); rep.code == 0 {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
		defer cancel()
		rep = a.handle(ctx, c)
	}
	if rep.status == http.StatusTooManyRequests {
		return a, rep, &rpcRefusal{status: http.StatusTooManyRequests, code: ThrottlingCode, message: ThrottlingMessage, recommend: rep.msg, retryAfter: rep.retryAfter}
	}
	if rep.status >= 500 {
		return a, rep, &rpcRefusal{status: 503, code: "ServiceUnavailable", message: "The request has failed due to a temporary failure of the server: " + rep.msg, err: rep.err}
	}
	return a, rep, nil
}

// rpcParams reads the parameters of a call from its query string and,
// for a form body, its body. A parameter given twice is refused.
func rpcParams(r *http.Request, body []byte) (map[string]string, *rpcRefusal) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, invalidParameter("InvalidParameter", "The query string does not parse: "+err.Error())
	}
	out := map[string]string{}
	add := func(vs url.Values, where string) *rpcRefusal {
		for k, v := range vs {
			if _, dup := out[k]; dup || len(v) > 1 {
				return invalidParameter("InvalidParameter", fmt.Sprintf("The parameter %q is given more than once (%s).", k, where))
			}
			out[k] = v[0]
		}
		return nil
	}
	if ref := add(q, "query"); ref != nil {
		return nil, ref
	}
	if len(body) == 0 {
		return out, nil
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if r.Method != http.MethodPost || mt != "application/x-www-form-urlencoded" {
		return nil, invalidParameter("InvalidParameter", fmt.Sprintf("The RPC API takes its parameters in the query string or a POST body of application/x-www-form-urlencoded, not %q; the /v1 routes take JSON.", r.Header.Get("Content-Type")))
	}
	if !utf8.Valid(body) {
		return nil, invalidParameter("InvalidParameter", "The request body is not valid UTF-8.")
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, invalidParameter("InvalidParameter", "The form body does not parse: "+err.Error())
	}
	if ref := add(form, "query and body"); ref != nil {
		return nil, ref
	}
	return out, nil
}

// body turns the action's parameters of a call into the JSON body of its
// handler and the task id parameter; a parameter the action does not
// take, or a value of the wrong kind, is a 3028 reply.
func (a rpcAction) body(p map[string]string) ([]byte, string, reply) {
	names := make([]string, 0, len(p))
	for k := range p {
		if !commonParams[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	out := map[string]any{}
	lists := map[string]map[int]string{}
	msgs := map[int]map[string]string{}
	taskID := ""
	for _, name := range names {
		v := p[name]
		base, rest, dotted := strings.Cut(name, ".")
		if v == "" && !dotted {
			continue // an empty parameter is an absent one
		}
		if name == a.taskID {
			taskID = v
			continue
		}
		if why, ok := a.refused[name]; ok {
			return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, why)
		}
		f, ok := a.params[base]
		if !ok || (f.kind == rpcTargetMsgs) != dotted && f.kind != rpcList {
			return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("%s is not a parameter of %s, which takes %s", name, a.name, strings.Join(a.paramNames(), ", ")))
		}
		switch f.kind {
		case rpcString, rpcJSONText:
			out[f.json] = v
		case rpcInt:
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("%s %q is not an integer", name, v))
			}
			out[f.json] = n
		case rpcBool:
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("%s %q is not true or false", name, v))
			}
			out[f.json] = b
		case rpcOsType:
			platform, ok := map[string]string{"1": schema.PlatformAndroid, "2": schema.PlatformIOS, "7": schema.PlatformHarmony}[v]
			if !ok {
				return nil, "", refuse(http.StatusBadRequest, schema.CodeOSTypeNotSupported, fmt.Sprintf("%s %q is not 1 (Android), 2 (iOS) or 7 (HarmonyOS)", name, v))
			}
			out[f.json] = platform
		case rpcList:
			if !dotted {
				var l []string
				if err := json.Unmarshal([]byte(v), &l); err != nil {
					return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("%s is a list: give %s.1, %s.2, ... or a JSON array of strings", name, name, name))
				}
				out[f.json] = l
				continue
			}
			i, err := strconv.Atoi(rest)
			if err != nil || i < 1 {
				return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("%s: list items are numbered %s.1, %s.2, ...", name, base, base))
			}
			if lists[base] == nil {
				lists[base] = map[int]string{}
			}
			lists[base][i] = v
		case rpcTargetMsgs:
			n, field, _ := strings.Cut(rest, ".")
			i, err := strconv.Atoi(n)
			j, known := targetMsgFields[field]
			if err != nil || i < 1 || !known {
				return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("%s is not a TargetMsg parameter: give TargetMsg.N.Target, .MsgKey, .TemplateKeyValue and .ExtendedParams with N = 1, 2, ...", name))
			}
			if msgs[i] == nil {
				msgs[i] = map[string]string{}
			}
			msgs[i][j] = v
		}
	}
	if a.taskID != "" && taskID == "" {
		return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, a.taskID+" is required: name the task")
	}
	for base, items := range lists {
		l, ok := numbered(items)
		if !ok {
			return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("%s.N: the items must be numbered 1, 2, ... without gaps", base))
		}
		if _, both := out[a.params[base].json]; both {
			return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("%s is given both as a JSON array and as %s.N", base, base))
		}
		out[a.params[base].json] = l
	}
	if len(msgs) > 0 {
		l, ok := numbered(msgs)
		if !ok {
			return nil, "", refuse(http.StatusBadRequest, schema.CodeInvalidParam, "TargetMsg.N: the targets must be numbered 1, 2, ... without gaps")
		}
		out[a.params["TargetMsg"].json] = l
	}
	b, err := json.Marshal(out)
	if err != nil { // strings, numbers and lists of them; cannot happen
		return nil, "", failed("encoding the parameters", err)
	}
	return b, taskID, reply{}
}

// targetMsgFields maps the TargetMsg.N.* parameter names to the fields of
// a schema.TargetMsg.
var targetMsgFields = func() map[string]string {
	out := map[string]string{}
	for _, j := range schema.JSONFields(schema.TargetMsg{}) {
		out[rpcName(j)] = j
	}
	return out
}()

// numbered returns the values of m in key order when its keys are 1..n.
func numbered[V any](m map[int]V) ([]V, bool) {
	out := make([]V, len(m))
	for i, v := range m {
		if i > len(m) {
			return nil, false
		}
		out[i-1] = v
	}
	return out, true
}

// paramNames lists the parameters the action takes, sorted.
func (a rpcAction) paramNames() []string {
	out := make([]string, 0, len(a.params)+1)
	for k, f := range a.params {
		switch f.kind {
		case rpcTargetMsgs:
			k += ".N.*"
		case rpcList:
			k += ".N"
		}
		out = append(out, k)
	}
	if a.taskID != "" {
		out = append(out, a.taskID)
	}
	slices.Sort(out)
	return out
}

// answer is the body of a served call: the reply's result code and
// message, and the action's PushResult or ResultContent.
func (a rpcAction) answer(c *call, rep reply) rpcAnswer {
	out := rpcAnswer{RequestID: c.id, ResultMessage: rep.msg}
	out.ResultCode, out.PushResult = result(rep, a.write)
	if !a.write && rep.code == schema.CodeSuccess {
		out.ResultContent = a.content(c, rep.data)
	}
	return out
}

// writeRPCError sends a refusal in the Alibaba Cloud error shape.
func (s *Server) writeRPCError(w http.ResponseWriter, r *http.Request, c *call, ref *rpcRefusal) {
	if ref.retryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(ref.retryAfter))
	}
	writeJSON(w, ref.status, rpcErrorBody{RequestID: c.id, HostID: r.Host, Code: ref.code, Message: ref.message, Recommend: ref.recommend})
}
