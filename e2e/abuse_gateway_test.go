package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/mpaas"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// floodApp floods the gateway in TestAbuseGateway; testApp is the honest
// app of the same run.
const floodApp = "FLOODAPP000000001"

// Bounds of the flood: floodCalls pushes from floodWorkers goroutines,
// each pausing floodPause between calls so that the flood lasts about as
// long as the honest app's honestPushes (one every 100 ms), against a
// bucket of floodRate calls a second, floodRate at once.
const (
	floodCalls   = 2000
	floodWorkers = 8
	floodPause   = 7 * time.Millisecond
	floodRate    = 50
	honestPushes = 20
)

// abuseGateway is the running pipeline of TestAbuseGateway: every stage,
// the gateway of sg wired as `pushpipe gateway` wires it (its internal
// address included) with an AccessKey for each app, and the honest app's
// devices.
type abuseGateway struct {
	e         *env
	srv       *gateway.Server
	honestKey gateway.AccessKey
	floodKey  gateway.AccessKey
}

// TestAbuseGateway attacks the gateway of a running pipeline (real Kafka
// and ClickHouse, every stage, MiPush simulated) while an honest app's
// calls go on:
//
//   - one app floods the gateway (2,000 pushes in a few seconds): beyond its
//     rate limit it gets 429, the honest app's pushes in the same run are
//     all accepted and acked at the simulated MiPush, every flood push the
//     gateway accepted has its accepted event, and
//     pushpipe_gateway_throttled_total counts the 429s;
//   - a captured signed request is replayed (same nonce), sent to another
//     route, and re-signed with an old timestamp, in both protocols: all
//     refused, nothing published beyond the original;
//   - /healthz, /readyz and /metrics answer 404 on the public ports of the
//     gateway and the receipts worker, and are served on their internal
//     addresses;
//   - a huge pageNumber and a statistics range over 90 days are refused
//     with 3028 before any query.
func TestAbuseGateway(t *testing.T) {
	a := startAbuseGateway(t)
	t.Run("one app floods the gateway", a.flood)
	t.Run("a captured request replayed", a.replay)
	t.Run("internal endpoints off the public ports", a.internalEndpoints)
	t.Run("huge pages and long ranges", a.hugeQueries)
}

func startAbuseGateway(t *testing.T) *abuseGateway {
	e := newEnvWith(t, func(c *config.Config) { withApp(c, floodApp, nil) }, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	a := &abuseGateway{e: e}
	for _, k := range []*gateway.AccessKey{&a.honestKey, &a.floodKey} {
		var err error
		if *k, err = gateway.GenerateAccessKey(); err != nil {
			t.Fatal(err)
		}
	}
	key := func(k gateway.AccessKey) []config.GatewayAccessKey {
		return []config.GatewayAccessKey{{AccessKeyID: k.ID, AccessKeySecret: k.Secret}}
	}
	// The honest app keeps the default limit (100 calls a second, 200 at
	// once); the flooding one gets its own, lower one.
	e.cfg.Gateway.AppKeys = []config.GatewayAppKey{{AppID: testApp, AccessKeys: key(a.honestKey)},
		{AppID: floodApp, AccessKeys: key(a.floodKey), RateLimit: &config.GatewayRateLimit{PerSecond: floodRate, Burst: floodRate}}}
	a.srv = e.startGatewayWith("sg", nil)
	var devs []schema.Binding
	for i := 1; i <= 2; i++ {
		devs = append(devs, device("sg", fmt.Sprintf("honest-%d", i), fmt.Sprintf("regid-honest-%d", i)))
	}
	e.registerDevices("sg", devs...)
	return a
}

// client returns a /v1 client signing with key, over its own connections.
func (a *abuseGateway) client(key gateway.AccessKey) *gateway.Client {
	return &gateway.Client{BaseURL: a.srv.URL(), AccessKey: key,
		HTTP: &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: floodWorkers}}}
}

// metric returns the value of the series of the gateway's internal
// /metrics whose name and labels (in exposition order) are series, 0 when
// absent.
func (a *abuseGateway) metric(t *testing.T, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(httpGet(t, a.e.internalURL(a.srv.Addr())+"/metrics"), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	return 0
}

// wantMetrics checks series of the gateway's internal /metrics (see
// metric) against their values.
func (a *abuseGateway) wantMetrics(t *testing.T, want map[string]float64) {
	t.Helper()
	for series, v := range want {
		if n := a.metric(t, series); n != v {
			t.Errorf("%s = %v, want %v", series, n, v)
		}
	}
}

// acceptedTasks returns the task ids of app with an accepted event.
func (a *abuseGateway) acceptedTasks(t *testing.T, appID string) []string {
	t.Helper()
	rows, err := a.e.conn.Query(context.Background(), "SELECT DISTINCT task_id FROM "+a.e.db("sg")+".events WHERE app_id = ? AND event = 'accepted'", appID)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// flood: floodApp sends floodCalls pushes as fast as floodWorkers callers
// can while testApp sends honestPushes, one every 100 ms.
func (a *abuseGateway) flood(t *testing.T) {
	e, ctx := a.e, context.Background()
	var (
		mu        sync.Mutex
		accepted  []string // task ids the gateway answered OK
		throttled int
		failures  []error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, err)
	}
	var honestDone, floodDone sync.WaitGroup
	honestTasks := make([]string, honestPushes)
	honest := a.client(a.honestKey)
	honestDone.Go(func() {
		for i := range honestPushes {
			task, err := honest.Push(ctx, &schema.Request{Type: schema.PushSimple, AppID: testApp, WorkspaceID: "default",
				TaskName: fmt.Sprintf("honest %d", i), DeliverType: schema.DeliverAndroid,
				TargetMsgkey: schema.StringMap{"honest-1": fmt.Sprintf("h%d-1", i), "honest-2": fmt.Sprintf("h%d-2", i)},
				Title:        fmt.Sprintf("honest %d", i), Content: "in the same run as a flood", ExpiredSeconds: 300})
			if err != nil {
				fail(fmt.Errorf("honest push %d: %w", i, err))
				continue
			}
			honestTasks[i] = task
			time.Sleep(100 * time.Millisecond)
		}
	})
	flooder := a.client(a.floodKey)
	start := time.Now()
	for w := range floodWorkers {
		floodDone.Go(func() {
			for i := w; i < floodCalls; i += floodWorkers {
				task, err := flooder.Push(ctx, &schema.Request{Type: schema.PushSimple, AppID: floodApp, WorkspaceID: "default",
					TaskName: fmt.Sprintf("flood %d", i), DeliverType: schema.DeliverAndroid,
					TargetMsgkey: schema.StringMap{"nobody": fmt.Sprintf("f%d", i)}, Title: "flood", Content: "flood", ExpiredSeconds: 300})
				var ge *gateway.Error
				switch {
				case err == nil:
					mu.Lock()
					accepted = append(accepted, task)
					mu.Unlock()
				case errors.As(err, &ge) && ge.Throttled() && ge.Code == schema.CodeSystemError && ge.RetryAfter >= time.Second &&
					strings.HasPrefix(ge.Message, gateway.ThrottlingCode+": "+gateway.ThrottlingMessage):
					mu.Lock()
					throttled++
					mu.Unlock()
				default:
					fail(fmt.Errorf("flood push %d: %w", i, err))
				}
				time.Sleep(floodPause)
			}
		})
	}
	floodDone.Wait()
	took := time.Since(start)
	honestDone.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d calls neither accepted nor throttled, first: %v", len(failures), failures[0])
	}
	if throttled == 0 || len(accepted) == 0 || throttled+len(accepted) != floodCalls {
		t.Fatalf("flood of %d: %d accepted, %d throttled; want both, adding up", floodCalls, len(accepted), throttled)
	}
	// The bucket lets floodRate through at once and floodRate a second
	// after (one more token may come in while the last call is decided).
	if most := floodRate + int(took.Seconds()*floodRate) + 1; len(accepted) > most {
		t.Fatalf("%d flood pushes accepted in %s, more than the %d the bucket holds", len(accepted), took.Round(time.Millisecond), most)
	}

	// Nothing the flood got accepted is lost: each has its accepted event.
	slices.Sort(accepted)
	e.waitFor("the accepted event of every accepted flood push", 2*time.Minute, func() (bool, string) {
		got := a.acceptedTasks(t, floodApp)
		return slices.Equal(got, accepted), fmt.Sprintf("%d of %d", len(got), len(accepted))
	})
	// Every honest push was accepted and reached the simulated MiPush.
	for i, task := range honestTasks {
		want := map[string]uint64{"accepted": 1, "acked": 2}
		e.waitFor("honest push "+strconv.Itoa(i)+" acked", 2*time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = ? AND event IN ('accepted', 'acked')", task)
			return equalCounts(got, want), fmt.Sprint(got)
		})
	}
	for i := range honestPushes {
		var regIDs []string
		for _, r := range e.sim.Requests("mipush", "sg") {
			if r.Form.Get("title") == fmt.Sprintf("honest %d", i) {
				regIDs = append(regIDs, r.RegIDs...)
			}
		}
		if slices.Sort(regIDs); !slices.Equal(regIDs, []string{"regid-honest-1", "regid-honest-2"}) {
			t.Fatalf("the simulated MiPush got honest push %d for %v, want both devices", i, regIDs)
		}
	}
	// The refusals are counted, by app, on the internal address.
	if n := a.metric(t, `pushpipe_gateway_throttled_total{app="`+floodApp+`",region="sg"}`); n != float64(throttled) {
		t.Fatalf("pushpipe_gateway_throttled_total of %s = %v, want %d", floodApp, n, throttled)
	}
	if n := a.metric(t, `pushpipe_gateway_throttled_total{app="`+testApp+`",region="sg"}`); n != 0 {
		t.Fatalf("the honest app was throttled %v times", n)
	}
	t.Logf("flood of %d pushes in %s: %d accepted (each with its accepted event), %d refused with 429; %d honest pushes accepted and acked",
		floodCalls, took.Round(time.Millisecond), len(accepted), throttled, honestPushes)
}

// send posts body to path?query and returns the HTTP status and the
// gateway's answer.
func (a *abuseGateway) send(t *testing.T, path, query string, body []byte) (int, gateway.Response) {
	t.Helper()
	res, err := http.Post(a.srv.URL()+path+"?"+query, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	var r gateway.Response
	if err := json.NewDecoder(res.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, r
}

// rpcGet sends a GET of the RPC API with query and returns the status and
// the Alibaba Cloud error code ("" when served).
func (a *abuseGateway) rpcGet(t *testing.T, query url.Values) (int, string) {
	t.Helper()
	res, err := http.Get(a.srv.URL() + "/?" + query.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	var eb struct{ Code string }
	b, _ := io.ReadAll(res.Body)
	_ = json.Unmarshal(b, &eb)
	return res.StatusCode, eb.Code
}

// records returns the records of topic keyed key.
func (a *abuseGateway) records(topic, key string) int {
	n := 0
	for _, m := range a.e.readAll(topic) {
		if string(m.Key) == key {
			n++
		}
	}
	return n
}

// replay: a push and an unbind are captured on the wire and sent again.
func (a *abuseGateway) replay(t *testing.T) {
	push, _ := json.Marshal(map[string]any{"appId": testApp, "workspaceId": "default", "taskName": "captured",
		"deliverType": 1, "targetMsgkey": map[string]string{"honest-1": "captured-1"}, "title": "T", "content": "C", "expiredSeconds": 300})
	captured := gateway.JSONRouteQuery("/v1/push/simple", a.honestKey, push, time.Now())
	status, resp := a.send(t, "/v1/push/simple", captured, push)
	if status != http.StatusOK || resp.PushResult == nil || resp.PushResult.Data == "" {
		t.Fatalf("the original push: HTTP %d %+v", status, resp)
	}
	task := resp.PushResult.Data
	unbind, _ := json.Marshal(map[string]any{"appId": testApp, "workspaceId": "default", "userId": "captured-user", "deliveryToken": "honest-2"})
	capturedUnbind := gateway.JSONRouteQuery("/v1/client/unbind", a.honestKey, unbind, time.Now())
	if status, resp := a.send(t, "/v1/client/unbind", capturedUnbind, unbind); status != http.StatusOK {
		t.Fatalf("the original unbind: HTTP %d %+v", status, resp)
	}
	for _, tc := range []struct {
		scenario, path, query string
		body                  []byte
	}{
		{"the push replayed (same nonce)", "/v1/push/simple", captured, push},
		{"the push re-signed with a timestamp six minutes old", "/v1/push/simple", gateway.JSONRouteQuery("/v1/push/simple", a.honestKey, push, time.Now().Add(-6*time.Minute)), push},
		{"the unbind replayed", "/v1/client/unbind", capturedUnbind, unbind},
		{"the unbind replayed as a bind", "/v1/client/bind", capturedUnbind, unbind},
	} {
		if status, resp := a.send(t, tc.path, tc.query, tc.body); status != http.StatusUnauthorized || resp.Code != int(schema.CodeSignatureMismatch) {
			t.Errorf("%s: HTTP %d %+v, want 401 -1", tc.scenario, status, resp)
		}
	}
	// The RPC API: the same call twice, and one signed six minutes ago.
	params := map[string]string{gateway.ParamAction: "PushUnBind", gateway.ParamVersion: gateway.RPCVersion,
		"AppId": testApp, "WorkspaceId": "default", "UserId": "captured-user", "DeliveryToken": "honest-1"}
	gateway.SignParams(params, http.MethodGet, "/", a.honestKey, time.Now())
	q := url.Values{}
	for k, v := range params {
		q.Set(k, v)
	}
	if status, code := a.rpcGet(t, q); status != http.StatusOK || code != "" {
		t.Fatalf("the original RPC unbind: HTTP %d %s", status, code)
	}
	if status, code := a.rpcGet(t, q); status != http.StatusBadRequest || code != "SignatureNonceUsed" {
		t.Errorf("the RPC unbind replayed: HTTP %d %s, want 400 SignatureNonceUsed", status, code)
	}
	delete(params, gateway.ParamSignature)
	gateway.SignParams(params, http.MethodGet, "/", a.honestKey, time.Now().Add(-6*time.Minute))
	for k, v := range params {
		q.Set(k, v)
	}
	if status, code := a.rpcGet(t, q); status != http.StatusBadRequest || code != "InvalidTimeStamp.Expired" {
		t.Errorf("the RPC unbind re-signed six minutes ago: HTTP %d %s, want 400 InvalidTimeStamp.Expired", status, code)
	}
	// Nothing but the originals was published.
	if n := a.records(pipeline.RequestsTopic("sg"), testApp+"/"+task); n != 1 {
		t.Errorf("push.requests.sg holds %d records of task %s, want the original only", n, task)
	}
	for _, dev := range []string{"honest-1", "honest-2"} {
		if n := a.records(pipeline.BindingsTopic("sg"), testApp+"/"+dev); n != 2 {
			t.Errorf("push.bindings.sg holds %d records of %s, want its report (setup) and its original unbind only", n, dev)
		}
	}
	// And the refusals are counted.
	a.wantMetrics(t, map[string]float64{
		`pushpipe_gateway_requests_total{code="-1",region="sg",route="/v1/push/simple"}`:         2,
		`pushpipe_gateway_requests_total{code="-1",region="sg",route="/v1/client/unbind"}`:       1,
		`pushpipe_gateway_requests_total{code="-1",region="sg",route="/v1/client/bind"}`:         1,
		`pushpipe_gateway_requests_total{code="SignatureNonceUsed",region="sg",route="/"}`:       1,
		`pushpipe_gateway_requests_total{code="InvalidTimeStamp.Expired",region="sg",route="/"}`: 1,
		`pushpipe_gateway_requests_total{code="100",region="sg",route="/?Action=PushUnBind"}`:    1,
	})
}

// internalEndpoints: the gateway's and a receipts worker's public ports
// answer 404 for health, readiness, metrics and profiles; their internal
// addresses serve them.
func (a *abuseGateway) internalEndpoints(t *testing.T) {
	rs := a.e.startReceipts("sg")
	if code, _ := a.e.postReceipt(t, http.DefaultClient, rs.URL(), "hms", "application/json", `{"statuses":`); code != http.StatusBadRequest {
		t.Fatalf("a garbled receipt: %d, want 400 (and a metric)", code)
	}
	for _, s := range []struct{ name, public string }{{"gateway", a.srv.Addr()}, {"receipts", rs.Addr()}} {
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/"} {
			res, err := http.Get("http://" + s.public + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			if res.StatusCode != http.StatusNotFound || strings.Contains(string(b), "pushpipe_") {
				t.Errorf("%s public GET %s: HTTP %d %.300s, want 404", s.name, path, res.StatusCode, b)
			}
		}
		internal := a.e.internalURL(s.public)
		for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": "pushpipe_"} {
			if body := httpGet(t, internal+path); !strings.Contains(body, want) {
				t.Errorf("%s internal GET %s: %.300q, want %q", s.name, path, body, want)
			}
		}
	}
	if n := a.metric(t, `pushpipe_gateway_requests_total{code="3028",region="sg",route="/"}`); n < 4 {
		t.Errorf("the public 404s of the gateway counted %v times, want at least 4", n)
	}
}

// hugeQueries: paging and ranges are bounded in both protocols.
func (a *abuseGateway) hugeQueries(t *testing.T) {
	c, ctx := a.client(a.honestKey), context.Background()
	now := time.Now()
	for _, tc := range []struct {
		scenario, path string
		body           map[string]any
	}{
		{"/v1/tasks with pageNumber 2^62", "/v1/tasks", map[string]any{"startTime": now.Add(-time.Hour).UnixMilli(), "pageNumber": 1 << 62, "pageSize": 500}},
		{"/v1/schedules with pageNumber 2^62", "/v1/schedules", map[string]any{"startTime": now.UnixMilli(), "endTime": now.Add(time.Hour).UnixMilli(), "pageNumber": 1 << 62}},
		{"/v1/stats over 91 days", "/v1/stats", map[string]any{"startTime": now.AddDate(0, 0, -91).UnixMilli(), "endTime": now.UnixMilli()}},
	} {
		tc.body["appId"], tc.body["workspaceId"] = testApp, "default"
		_, err := c.Call(ctx, tc.path, tc.body)
		var ge *gateway.Error
		if !errors.As(err, &ge) || ge.Status != http.StatusBadRequest || ge.Code != schema.CodeInvalidParam {
			t.Errorf("%s: %v, want 400 3028", tc.scenario, err)
		}
	}
	sdk := sdkClient(t, a.srv, a.honestKey)
	list := mpaas.CreateQueryPushAnalysisTaskListRequest()
	list.AppId, list.WorkspaceId, list.StartTime = testApp, "default", requests.NewInteger64(now.Add(-time.Hour).UnixMilli())
	list.PageNumber = requests.NewInteger64(1 << 62)
	if r, err := sdk.QueryPushAnalysisTaskList(list); err != nil || r.ResultCode != schema.CodeInvalidParam.Name() {
		t.Errorf("QueryPushAnalysisTaskList with PageNumber 2^62: %+v, %v; want INVALID_PARAM", r, err)
	}
	core := mpaas.CreateQueryPushAnalysisCoreIndexRequest()
	core.AppId, core.WorkspaceId = testApp, "default"
	core.StartTime, core.EndTime = requests.NewInteger64(now.AddDate(0, 0, -91).UnixMilli()), requests.NewInteger64(now.UnixMilli())
	if r, err := sdk.QueryPushAnalysisCoreIndex(core); err != nil || r.ResultCode != schema.CodeInvalidParam.Name() {
		t.Errorf("QueryPushAnalysisCoreIndex over 91 days: %+v, %v; want INVALID_PARAM", r, err)
	}
	a.wantMetrics(t, map[string]float64{
		`pushpipe_gateway_requests_total{code="3028",region="sg",route="/v1/tasks"}`:                           1,
		`pushpipe_gateway_requests_total{code="3028",region="sg",route="/v1/schedules"}`:                       1,
		`pushpipe_gateway_requests_total{code="3028",region="sg",route="/v1/stats"}`:                           1,
		`pushpipe_gateway_requests_total{code="3028",region="sg",route="/?Action=QueryPushAnalysisTaskList"}`:  1,
		`pushpipe_gateway_requests_total{code="3028",region="sg",route="/?Action=QueryPushAnalysisCoreIndex"}`: 1,
	})
}
