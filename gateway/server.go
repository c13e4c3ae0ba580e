// Package gateway is the HTTP gateway of one region: the mPaaS server API
// (simple, template, multiple and broadcast push, revocation, statistics,
// task list and details, scheduled tasks, templates), the client APIs
// (bind, unbind, report) and user tags (add, remove, list), in two
// protocols over one authentication model, AccessKeys (accesskey.go):
//
//   - the Alibaba Cloud RPC API at "/" (rpc.go): Action and Version
//     2020-10-28 with form or query parameters named as the official
//     Alibaba Cloud SDKs send them, signed with HMAC-SHA1, so the mPaaS
//     SDK clients (PushSimpleRequest, ...) work against the gateway as
//     they are;
//   - pushpipe's JSON routes under /v1 (POST with a JSON body whose
//     fields carry the mPaaS names: appId, workspaceId, taskName,
//     deliverType or deliveryType, targetMsgkey, ...), signed with the
//     same AccessKey over the query string and the body's digest
//     (auth.go). They serve what the RPC API has no action for: tags,
//     Live Activity tokens, templates, device status, funnels.
//
// An AccessKey acts on the apps it is configured under, each in its own
// workspace. Every /v1 answer has the mPaaS shape (see Response):
// RequestId, ResultCode ("OK" or the result code's name), ResultMessage,
// the numeric Code, and PushResult (writes) or ResultContent (queries);
// RPC answers have the shapes the SDK's response types declare. The
// document openapi.yaml, served at GET /openapi.yaml, lists every route.
//
// Validation is synchronous and gives the codes fanout would give
// (schema.Request Validate, plus the template lookup: 3022, 3023). A
// valid push is published to push.requests.<region> keyed by its task id,
// a revoke to push.control.<region> keyed by its control key, a client
// call to push.bindings.<region> keyed by device id (a tag change keyed
// by user id); the answer is sent
// only after Kafka acknowledged the record, so OK means the pipeline has
// it. A request naming another region is refused with 3028, never
// forwarded. Queries read the region's ClickHouse database (and, for
// scheduled tasks, push.schedules.<region>).
//
// HTTP statuses of the /v1 routes: 200 OK; 400 a result code for a bad
// request; 401 a missing, malformed or wrong signature, a timestamp
// outside the window or a replayed nonce (-1, 3033); 403 an AccessKey
// not allowed on the app or workspace (8014) or a closed push API (3032);
// 404 an unknown route or task; 405 a wrong method; 409 a template still
// in use; 413 a body above MaxBodyBytes; 429 the app's rate limit spent
// (9000 with Retry-After, see ratelimit.go); 503 Kafka or ClickHouse
// unavailable (9000, send again; the answer never carries their error
// text, which is logged). Each request is counted
// (pushpipe_gateway_requests_total by route and code) and logged once.
//
// The handler serves the API only: liveness, readiness (Ready) and
// metrics belong on the process's internal address (gateway.internalAddr,
// a pipeline.HealthServer), and the public port answers 404 for them.
package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed" // the OpenAPI document
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// OpenAPI is the gateway's OpenAPI 3 document, served at GET /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// ResultOK is the ResultCode of a request that succeeded.
const ResultOK = "OK"

// Response is the body of every /v1 answer, in the shape of the mPaaS
// server API. ResultCode is "OK" or the name of the result code (e.g.
// "TASKNAME_NULL"); Code is its number (100 on success); ResultMessage says
// what to fix. Writes (push, revoke, templates, client calls) carry
// PushResult; queries carry ResultContent when they succeed.
type Response struct {
	RequestID     string         `json:"RequestId"`
	ResultCode    string         `json:"ResultCode"`
	ResultMessage string         `json:"ResultMessage"`
	Code          int            `json:"Code"`
	PushResult    *PushResult    `json:"PushResult,omitempty"`
	ResultContent *ResultContent `json:"ResultContent,omitempty"`
}

// PushResult is the result of a write: Success, the message (ResultMsg)
// and Data: the task id of a push (the schedule id of a scheduled or loop
// push), the control key of a revoke.
type PushResult struct {
	Success   bool   `json:"Success"`
	ResultMsg string `json:"ResultMsg"`
	Data      string `json:"Data,omitempty"`
}

// ResultContent carries the answer of a query in Data.
type ResultContent struct {
	Data json.RawMessage `json:"Data"`
}

// reply is what a route handler answers.
type reply struct {
	status int
	code   schema.ResultCode
	msg    string
	// data is PushResult.Data (a string) of writes, ResultContent.Data of
	// queries.
	data any
	// err is the cause of a gateway failure, for the log.
	err error
	// retryAfter is, for a throttled call (429), how long until the app's
	// bucket has a token again: the Retry-After header.
	retryAfter time.Duration
}

func ok(data any) reply {
	return reply{status: http.StatusOK, code: schema.CodeSuccess, msg: "SUCCESS", data: data}
}

func refuse(status int, code schema.ResultCode, msg string) reply {
	return reply{status: status, code: code, msg: msg}
}

// failed turns an error into a reply: a *schema.ValidationError is a 400
// with its code, anything else a 503 system error (logged, not shown).
func failed(what string, err error) reply {
	var ve *schema.ValidationError
	if errors.As(err, &ve) {
		return refuse(http.StatusBadRequest, ve.Code, ve.Detail)
	}
	return reply{status: http.StatusServiceUnavailable, code: schema.CodeSystemError,
		msg: what + " failed: the gateway cannot reach Kafka or ClickHouse now; send the request again", err: fmt.Errorf("%s: %w", what, err)}
}

// call is one authenticated request.
type call struct {
	id string
	// grant is what the request's AccessKey may do; appID is the app the
	// request acts on, once check accepted it.
	grant *grant
	appID string
	body  []byte
	now   time.Time
	// path is the URL path; taskID the {taskId} of /v1/tasks/{taskId}
	// (the TaskId parameter of an RPC call).
	path, taskID string
}

// handler serves one route.
type handler func(ctx context.Context, c *call) reply

// route is one /v1 route.
type route struct {
	path string
	// write routes answer with PushResult, the others with ResultContent.
	write  bool
	handle handler
}

// Server is the gateway of one region. Create it with New, serve it with
// Start (or mount Handler elsewhere), stop it with Close. Its methods are
// safe for concurrent use.
type Server struct {
	cfg     Config
	apps    map[string]App
	keys    map[string]*grant
	nonces  *nonces
	buckets map[string]*bucket
	rpc     map[string]rpcAction
	log     zerolog.Logger
	m       *metrics
	routes  []route
	raw     []string
	handler http.Handler
	http    *pipeline.HTTPServer
}

// New returns a gateway for cfg. Nothing listens until Start.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	m, err := newMetrics(cfg.Metrics, cfg.Region)
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg:     cfg,
		apps:    make(map[string]App, len(cfg.Apps)),
		keys:    map[string]*grant{},
		nonces:  newNonces(cfg.MaxNonces),
		buckets: newBuckets(cfg),
		log:     cfg.Logger.With().Str("stage", "gateway").Str("region", cfg.Region).Logger(),
		m:       m,
	}
	for _, a := range cfg.Apps {
		s.apps[a.AppID] = a
		for _, k := range a.AccessKeys {
			g := s.keys[k.ID]
			if g == nil {
				g = &grant{id: k.ID, secret: k.Secret.Reveal(), apps: map[string]bool{}}
				s.keys[k.ID] = g
			}
			g.apps[a.AppID] = true
		}
	}
	s.rpc = s.rpcActions()
	s.routes = []route{
		{path: "/v1/push/simple", write: true, handle: s.push(schema.PushSimple)},
		{path: "/v1/push/template", write: true, handle: s.push(schema.PushTemplate)},
		{path: "/v1/push/multiple", write: true, handle: s.push(schema.PushMultiple)},
		{path: "/v1/push/broadcast", write: true, handle: s.push(schema.PushBroadcast)},
		{path: "/v1/push/revoke/message", write: true, handle: s.revokeMessage},
		{path: "/v1/push/revoke/task", write: true, handle: s.revokeTask},
		{path: "/v1/stats", handle: s.stats},
		{path: "/v1/stats/funnel", handle: s.funnel},
		{path: "/v1/tasks", handle: s.tasks},
		{path: "/v1/tasks/{taskId}", handle: s.taskDetails},
		{path: "/v1/schedules", handle: s.schedules},
		{path: "/v1/abtests", handle: s.abTests},
		{path: "/v1/abtests/{taskId}", handle: s.abTest},
		{path: "/v1/schedules/cancel", handle: s.cancelSchedules},
		{path: "/v1/templates/create", write: true, handle: s.createTemplate},
		{path: "/v1/templates/list", handle: s.listTemplates},
		{path: "/v1/templates/delete", write: true, handle: s.deleteTemplate},
		{path: "/v1/client/bind", write: true, handle: s.bind},
		{path: "/v1/client/unbind", write: true, handle: s.unbind},
		{path: "/v1/client/report", write: true, handle: s.report},
		{path: "/v1/client/liveactivity/bind", write: true, handle: s.bindActivity},
		{path: "/v1/client/liveactivity/unbind", write: true, handle: s.unbindActivity},
		{path: "/v1/client/phone/set", write: true, handle: s.setPhone},
		{path: "/v1/client/phone/unset", write: true, handle: s.unsetPhone},
		{path: "/v1/devices/status", handle: s.deviceStatus},
		{path: "/v1/tags/add", write: true, handle: s.addTags},
		{path: "/v1/tags/remove", write: true, handle: s.removeTags},
		{path: "/v1/tags/list", handle: s.listUserTags},
		{path: "/v1/tags/users", handle: s.listTagUsers},
	}
	mux := http.NewServeMux()
	for _, rt := range s.routes {
		mux.HandleFunc(rt.path, s.serveAPI(rt))
	}
	s.handleRaw(mux, "/openapi.yaml", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(OpenAPI)
	})
	mux.HandleFunc("/{$}", s.serveRPC)
	mux.HandleFunc("/", s.serveAPI(route{path: "/", handle: func(_ context.Context, c *call) reply {
		return refuse(http.StatusNotFound, schema.CodeInvalidParam, fmt.Sprintf("no route %s: see GET /openapi.yaml for the routes", c.path))
	}}))
	s.handler = mux
	s.http = pipeline.NewHTTPServer(pipeline.HTTPServerConfig{Name: "gateway", Addr: cfg.Addr, Handler: mux,
		WriteTimeout: cfg.Timeout + 30*time.Second, ShutdownGrace: cfg.Timeout})
	return s, nil
}

// handleRaw serves an unsigned GET route.
func (s *Server) handleRaw(mux *http.ServeMux, path string, h http.HandlerFunc) {
	s.raw = append(s.raw, "GET "+path)
	mux.HandleFunc("GET "+path, h)
}

// Routes lists every route the handler serves as "METHOD /path", the
// path as ServeMux and the OpenAPI document write it (/v1/tasks/{taskId});
// the RPC API is "GET /" and "POST /".
func (s *Server) Routes() []string {
	out := make([]string, 0, len(s.routes)+len(s.raw)+2)
	out = append(out, "GET /", "POST /")
	for _, rt := range s.routes {
		out = append(out, "POST "+rt.path)
	}
	return append(out, s.raw...)
}

// Handler is the gateway's HTTP handler: the RPC API, the /v1 routes and
// the OpenAPI document; any other path (/healthz, /readyz, /metrics
// included) is 404.
func (s *Server) Handler() http.Handler { return s.handler }

// Ready reports whether the gateway can serve its queries: nil when the
// region's ClickHouse answers a ping within ctx, else the error (for the
// internal readiness probe and the log; never shown on the public port).
func (s *Server) Ready(ctx context.Context) error {
	if err := s.cfg.ClickHouse.Ping(ctx); err != nil {
		return fmt.Errorf("gateway of region %s: pinging ClickHouse: %w", s.cfg.Region, err)
	}
	return nil
}

// serveAPI wraps a /v1 route: method, body limit, signature, timeout,
// answer, metrics and the one log line.
func (s *Server) serveAPI(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		c := &call{id: newRequestID(), path: r.URL.Path, taskID: r.PathValue("taskId")}
		w.Header().Set("X-Request-Id", c.id)
		var rep reply
		defer func() {
			if p := recover(); p != nil {
				rep = reply{status: http.StatusInternalServerError, code: schema.CodeSystemError,
					msg: "the request could not be handled", err: fmt.Errorf("panic: %v", p)}
				s.write(w, rt, c, rep)
			}
			s.finish(rt.path, codeLabel(rep), c, rep.status, rep.msg, rep.err, time.Since(start))
		}()
		rep = s.serve(r, w, rt, c)
		s.write(w, rt, c, rep)
	}
}

func (s *Server) serve(r *http.Request, w http.ResponseWriter, rt route, c *call) reply {
	if rt.path != "/" && r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return refuse(http.StatusMethodNotAllowed, schema.CodeInvalidParam, rt.path+" takes POST with a signed JSON body, not "+r.Method)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return refuse(http.StatusRequestEntityTooLarge, schema.CodeInvalidParam, fmt.Sprintf("the request body is larger than %d bytes", s.cfg.MaxBodyBytes))
		}
		return refuse(http.StatusBadRequest, schema.CodeInvalidParam, "reading the request body: "+err.Error())
	}
	c.body, c.now = body, s.cfg.Now()
	if rt.path != "/" {
		g, rep := s.authenticate(r, body, c.now)
		if rep != nil {
			return *rep
		}
		c.grant = g
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.Timeout)
	defer cancel()
	return rt.handle(ctx, c)
}

// write sends the mPaaS-shaped answer.
func (s *Server) write(w http.ResponseWriter, rt route, c *call, rep reply) {
	if rep.retryAfter > 0 {
		w.Header().Set("Retry-After", retryAfterSeconds(rep.retryAfter))
	}
	resp := Response{RequestID: c.id, ResultMessage: rep.msg, Code: int(rep.code)}
	resp.ResultCode, resp.PushResult = result(rep, rt.write)
	if !rt.write && rep.code == schema.CodeSuccess {
		b, err := json.Marshal(rep.data)
		if err != nil { // answers are plain structs; cannot happen
			b = []byte("null")
		}
		resp.ResultContent = &ResultContent{Data: b}
	}
	writeJSON(w, rep.status, resp)
}

// result returns the ResultCode of rep ("OK", or its code's name) and,
// for a write, its PushResult; both protocols answer with them.
func result(rep reply, write bool) (string, *PushResult) {
	code, success := ResultOK, rep.code == schema.CodeSuccess
	if !success {
		code = rep.code.Name()
	}
	if !write {
		return code, nil
	}
	data, _ := rep.data.(string)
	return code, &PushResult{Success: success, ResultMsg: rep.msg, Data: data}
}

// writeJSON sends v as the JSON answer with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil { // answers are plain structs; cannot happen
		b = []byte(`{"ResultCode":"SYSTEM_ERROR","Code":"InternalError"}`)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// finish counts and logs one request: its route (the path, or the RPC
// action), result code (the mPaaS number, or the Alibaba Cloud error
// code of a refused RPC call), HTTP status and problem.
func (s *Server) finish(route, code string, c *call, status int, msg string, err error, took time.Duration) {
	s.m.requests.WithLabelValues(route, code).Inc()
	s.m.seconds.WithLabelValues(route).Observe(took.Seconds())
	var ev *zerolog.Event
	switch {
	case status == http.StatusTooManyRequests:
		// Counted by app in pushpipe_gateway_throttled_total; a flood
		// must not become a flood of log lines.
		ev = s.log.Debug().Str("problem", msg)
	case status >= 500:
		ev = s.log.Error().Err(err)
	case status >= 400 || code != codeLabelSuccess:
		ev = s.log.Warn().Str("problem", msg)
	default:
		ev = s.log.Debug()
	}
	key := ""
	if c.grant != nil {
		key = c.grant.id
	}
	ev.Str("route", route).Str("request_id", c.id).Str("access_key_id", key).Str("app_id", c.appID).Int("status", status).
		Str("code", code).Dur("took", took).Msg("gateway request")
}

// codeLabel is the code label of a /v1 reply: its result code, or
// Throttling.User for a call refused by its app's rate limit (9000 on the
// wire), so that 9000 keeps counting Kafka and ClickHouse failures only.
func codeLabel(rep reply) string {
	if rep.status == http.StatusTooManyRequests {
		return ThrottlingCode
	}
	return strconv.Itoa(int(rep.code))
}

// codeLabelSuccess is the code label of a request that succeeded.
var codeLabelSuccess = strconv.Itoa(int(schema.CodeSuccess))

// newRequestID returns a random id in the form mPaaS uses
// (8-4-4-4-12 upper-case hex digits).
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// decodeBody parses a JSON object body into v: a body that is not UTF-8 is
// 3031, one that is not a JSON object of the expected fields 3028.
func decodeBody(body []byte, v any) *reply {
	if !utf8.Valid(body) {
		r := refuse(http.StatusBadRequest, schema.CodeRequestShouldBeUTF8, "the request body is not valid UTF-8")
		return &r
	}
	// A field the route does not read is refused, never ignored.
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		r := refuse(http.StatusBadRequest, schema.CodeInvalidParam, "the request body is not a valid JSON object for this route (or names a field the route does not read): "+err.Error())
		return &r
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		r := refuse(http.StatusBadRequest, schema.CodeInvalidParam, "the request body has data after its JSON object")
		return &r
	}
	return nil
}

// appRef is what every body names: the app, its workspace and optionally
// the region (which must be the gateway's).
type appRef struct {
	AppID       string `json:"appId"`
	WorkspaceID string `json:"workspaceId"`
	Region      string `json:"region,omitempty"`
}

// ref returns the appRef; every body embeds one.
func (a appRef) ref() appRef { return a }

// body is a request body naming its app (it embeds appRef).
type body interface{ ref() appRef }

// decode parses the body of c into v and checks the app it names.
func (s *Server) decode(c *call, v body) *reply {
	if rep := decodeBody(c.body, v); rep != nil {
		return rep
	}
	return s.check(c, v.ref())
}

// check verifies that the request names an app its AccessKey may act
// on, the app's workspace, and this gateway's region; it then records the
// app in c.appID and takes a token of the app's rate limit (429 when
// spent). Every handler calls it once, before any Kafka or ClickHouse
// work.
func (s *Server) check(c *call, a appRef) *reply {
	var r reply
	switch {
	case a.AppID == "" || a.WorkspaceID == "":
		r = refuse(http.StatusBadRequest, schema.CodeNeedAppIDWorkspaceID, "appId and workspaceId are both required")
	case c.grant == nil || !c.grant.apps[a.AppID]:
		r = refuse(http.StatusForbidden, schema.CodeAccountNoPermission, fmt.Sprintf("AccessKey %s may not act on app %q: list it under that app (gateway.appKeys[].accessKeys)", c.grant.idOrNone(), a.AppID))
	case s.apps[a.AppID].WorkspaceID != "" && s.apps[a.AppID].WorkspaceID != a.WorkspaceID:
		r = refuse(http.StatusForbidden, schema.CodeAccountNoPermission, fmt.Sprintf("workspace %q is not the workspace of app %s", a.WorkspaceID, a.AppID))
	case a.Region != "" && a.Region != s.cfg.Region:
		r = refuse(http.StatusBadRequest, schema.CodeInvalidParam, fmt.Sprintf("the request names region %q but this gateway serves region %q; send it to the gateway of region %s", a.Region, s.cfg.Region, a.Region))
	default:
		c.appID = a.AppID
		return s.throttle(c)
	}
	return &r
}

// idOrNone is the AccessKey id of g, or "(none)".
func (g *grant) idOrNone() string {
	if g == nil {
		return "(none)"
	}
	return g.id
}

// Start binds Addr and serves in the background until Close is called or
// ctx ends. It returns once the listener is bound (Addr is then the bound
// address), or with an error if it cannot bind or was called before.
func (s *Server) Start(ctx context.Context) error {
	if err := s.http.Start(ctx); err != nil {
		return fmt.Errorf("gateway of region %s: %w", s.cfg.Region, err)
	}
	s.log.Info().Str("addr", s.http.Addr()).Msg("gateway listening")
	return nil
}

// Run starts the server and blocks until ctx ends, then closes it (see
// Close), returning Start's or Close's error.
func (s *Server) Run(ctx context.Context) error { return pipeline.RunStarted(ctx, s.Start, s.Close) }

var _ pipeline.Service = (*Server)(nil)

// Addr is the bound address after Start, else the configured one.
func (s *Server) Addr() string { return s.http.Addr() }

// URL is "http://" + Addr().
func (s *Server) URL() string { return "http://" + s.Addr() }

// Close stops accepting requests, lets in-flight ones finish within
// Timeout (their records are acknowledged or the caller gets an error),
// and waits for the server's goroutines. It is idempotent, may be called
// without Start, and returns the error that ended serving, if any.
func (s *Server) Close() error { return s.http.Close() }
