package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/mpaas"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// sdkClient is the official Alibaba Cloud Go SDK's mpaas client set up as
// a migrating user sets it up: the gateway's region, its address as the
// endpoint, and an AccessKey of the gateway.
func sdkClient(t *testing.T, srv *gateway.Server, key gateway.AccessKey) *mpaas.Client {
	t.Helper()
	c, err := mpaas.NewClientWithAccessKey("sg", key.ID, key.Secret.Reveal())
	if err != nil {
		t.Fatal(err)
	}
	c.Domain = srv.Addr()
	return c
}

// sdkSimple is a PushSimple request of the test app to Android devices.
func sdkSimple(task string, targets map[string]string) *mpaas.PushSimpleRequest {
	r := mpaas.CreatePushSimpleRequest()
	r.AppId, r.WorkspaceId, r.TaskName = testApp, "default", task
	r.Title, r.Content = "Through the Alibaba Cloud SDK", "PushSimple, unchanged"
	r.DeliveryType, r.ExpiredSeconds = requests.NewInteger(1), requests.NewInteger(300)
	b, _ := json.Marshal(targets)
	r.TargetMsgkey = string(b)
	return r
}

// written checks a write action's answer and returns PushResult.Data.
func written(t *testing.T, action string, err error, code, msg string, res mpaas.PushResult) string {
	t.Helper()
	if err != nil || code != gateway.ResultOK || !res.Success || res.Data == "" {
		t.Fatalf("%s: %s %s %+v, %v", action, code, msg, res, err)
	}
	return res.Data
}

// TestAliyunSDKEndToEnd drives the pipeline with the official Alibaba Cloud
// Go SDK (services/mpaas) pointed at the gateway: devices reported and
// bound with PushReport and PushBind, the four push actions delivered to
// the simulated MiPush through fanout, sender and eventsink, their figures
// read back with the three analysis actions, a scheduled push listed and
// cancelled, pushes revoked (and recalled from MiPush), a user unbound; and
// the runnable example of configs/examples/aliyun-sdk run against it.
func TestAliyunSDKEndToEnd(t *testing.T) {
	e := newEnvWith(t, func(c *config.Config) { c.Recall.Settle = 2 * time.Second }, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	e.registerDevices("sg", device("sg", "ali-1", "regid-ali-1"), device("sg", "ali-2", "regid-ali-2"), device("sg", "demo-device-1", "regid-demo-1"))
	srv, key := e.startGatewayServer("sg", nil)
	c := sdkClient(t, srv, key)
	ctx := context.Background()
	start := time.Now().Add(-time.Minute)
	devices := store.NewDevices(e.conn, e.db("sg"))

	report := mpaas.CreatePushReportRequest()
	report.AppId, report.WorkspaceId, report.DeliveryToken = testApp, "default", "ali-3"
	report.ThirdChannel, report.ThirdChannelDeviceToken, report.OsType = requests.NewInteger(4), "regid-ali-3", requests.NewInteger(1)
	report.AppVersion, report.Model = "3.0.0", "Xiaomi 14"
	rr, err := c.PushReport(report)
	written(t, "PushReport", err, rr.ResultCode, rr.ResultMessage, rr.PushResult)
	bind := mpaas.CreatePushBindRequest()
	bind.AppId, bind.WorkspaceId, bind.UserId, bind.DeliveryToken = testApp, "default", "u-ali", "ali-2"
	br, err := c.PushBind(bind)
	written(t, "PushBind", err, br.ResultCode, br.ResultMessage, br.PushResult)
	e.waitFor("the report and the bind applied by the registry", time.Minute, func() (bool, string) {
		devs, err1 := devices.Lookup(ctx, testApp, []string{"ali-3"})
		users, err2 := devices.ByUser(ctx, testApp, []string{"u-ali"})
		d := devs["ali-3"]
		return d.Vendor == "mipush" && d.VendorToken == "regid-ali-3" && d.Platform == schema.PlatformAndroid && d.Model == "Xiaomi 14" && len(users) == 1,
			fmt.Sprintf("ali-3 %+v, user devices %d, %v %v", d, len(users), err1, err2)
	})

	// Templates have no action in the RPC API: the /v1 route, same AccessKey.
	if _, err := (&gateway.Client{BaseURL: srv.URL(), AccessKey: key}).Call(ctx, "/v1/templates/create", map[string]any{"appId": testApp, "workspaceId": "default",
		"templateName": "ali-promo", "title": "Hi #name#", "content": "You won #amount# points"}); err != nil {
		t.Fatal(err)
	}

	sr, err := c.PushSimple(sdkSimple("SDK simple", map[string]string{"ali-1": "ali-simple-1"}))
	simpleTask := written(t, "PushSimple", err, sr.ResultCode, sr.ResultMessage, sr.PushResult)
	tpl := mpaas.CreatePushTemplateRequest()
	tpl.AppId, tpl.WorkspaceId, tpl.TaskName = testApp, "default", "SDK template"
	tpl.DeliveryType, tpl.ExpiredSeconds, tpl.TargetMsgkey = requests.NewInteger(3), requests.NewInteger(300), `{"u-ali":"ali-tpl-1"}`
	tpl.TemplateName, tpl.TemplateKeyValue = "ali-promo", `{"name":"Ann","amount":"50"}`
	tr, err := c.PushTemplate(tpl)
	templateTask := written(t, "PushTemplate", err, tr.ResultCode, tr.ResultMessage, tr.PushResult)
	multi := mpaas.CreatePushMultipleRequest()
	multi.AppId, multi.WorkspaceId, multi.TaskName = testApp, "default", "SDK multiple"
	multi.DeliveryType, multi.ExpiredSeconds, multi.TemplateName = requests.NewInteger(1), requests.NewInteger(300), "ali-promo"
	multi.TargetMsg = &[]mpaas.PushMultipleTargetMsg{
		{Target: "ali-1", MsgKey: "ali-multi-1", TemplateKeyValue: `{"name":"Ann","amount":"1"}`},
		{Target: "ali-3", MsgKey: "ali-multi-3", TemplateKeyValue: `{"name":"Cid","amount":"3"}`},
	}
	mr, err := c.PushMultiple(multi)
	multipleTask := written(t, "PushMultiple", err, mr.ResultCode, mr.ResultMessage, mr.PushResult)
	bc := mpaas.CreatePushBroadcastRequest()
	bc.AppId, bc.WorkspaceId, bc.TaskName = testApp, "default", "SDK broadcast"
	bc.DeliveryType, bc.ExpiredSeconds, bc.Msgkey = requests.NewInteger(1), requests.NewInteger(300), "ali-bc-1"
	bc.TemplateName, bc.TemplateKeyValue = "ali-promo", `{"name":"all","amount":"5"}`
	bc.PushStatus, bc.UnBindPeriod = requests.NewInteger(1), requests.NewInteger(1) // every device, bound to a user or not
	bcr, err := c.PushBroadcast(bc)
	broadcastTask := written(t, "PushBroadcast", err, bcr.ResultCode, bcr.ResultMessage, bcr.PushResult)

	tasks := map[string]uint64{simpleTask: 1, templateTask: 1, multipleTask: 2, broadcastTask: 4}
	for task, n := range tasks {
		want := map[string]uint64{"accepted": 1, "planned": n, "valid": n, "sent": n, "acked": n}
		e.waitFor("the events of "+task, time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = ? AND event IN ('accepted','planned','valid','sent','acked')", task)
			return equalCounts(got, want), fmt.Sprint(got)
		})
	}
	// What the simulated MiPush received for the PushSimple and the
	// PushTemplate: the SDK's Title and the template rendered.
	var sawSimple, sawTemplate bool
	for _, r := range e.sim.Requests("mipush", "sg") {
		sawSimple = sawSimple || slices.Contains(r.RegIDs, "regid-ali-1") && r.Form.Get("title") == "Through the Alibaba Cloud SDK"
		sawTemplate = sawTemplate || slices.Contains(r.RegIDs, "regid-ali-2") && r.Form.Get("title") == "Hi Ann" && r.Form.Get("description") == "You won 50 points"
	}
	if !sawSimple || !sawTemplate {
		t.Fatalf("MiPush calls %+v: the PushSimple (%v) or the PushTemplate (%v) is missing", e.sim.Requests("mipush", "sg"), sawSimple, sawTemplate)
	}

	detail := mpaas.CreateQueryPushAnalysisTaskDetailRequest()
	detail.AppId, detail.WorkspaceId, detail.TaskId = testApp, "default", simpleTask
	e.waitFor("the PushSimple in QueryPushAnalysisTaskDetail", time.Minute, func() (bool, string) {
		d, err := c.QueryPushAnalysisTaskDetail(detail)
		if err != nil {
			return false, err.Error()
		}
		x := d.ResultContent.Data
		return d.ResultCode == gateway.ResultOK && x.PushNum == 1 && x.PushSuccessNum == 1 && x.AppId == testApp && x.StartTime > 0 && x.EndTime >= x.StartTime && x.Duration != "",
			fmt.Sprintf("%s %+v", d.ResultCode, x)
	})
	core := mpaas.CreateQueryPushAnalysisCoreIndexRequest()
	core.AppId, core.WorkspaceId = testApp, "default"
	core.StartTime, core.EndTime = requests.NewInteger64(start.UnixMilli()), requests.NewInteger64(time.Now().Add(time.Minute).UnixMilli())
	e.waitFor("the figures in QueryPushAnalysisCoreIndex", time.Minute, func() (bool, string) {
		r, err := c.QueryPushAnalysisCoreIndex(core)
		if err != nil {
			return false, err.Error()
		}
		x := r.ResultContent.Data
		return x.PushTotalNum == 8 && x.PushNum == 8, fmt.Sprintf("%+v", x)
	})
	list := mpaas.CreateQueryPushAnalysisTaskListRequest()
	list.AppId, list.WorkspaceId, list.StartTime = testApp, "default", requests.NewInteger64(start.UnixMilli())
	lr, err := c.QueryPushAnalysisTaskList(list)
	types := map[string]int64{}
	if err == nil {
		for _, d := range lr.ResultContent.Data {
			types[d.TaskId] = d.Type
		}
	}
	if err != nil || !maps.Equal(types, map[string]int64{simpleTask: 0, templateTask: 1, multipleTask: 2, broadcastTask: 3}) {
		t.Fatalf("QueryPushAnalysisTaskList: %+v, %v; want the four tasks with their types", lr, err)
	}

	// A scheduled push: listed, then cancelled.
	fixed := time.Now().Add(time.Hour).Truncate(time.Second)
	later := sdkSimple("SDK later", map[string]string{"ali-1": "ali-later-1"})
	later.StrategyType, later.StrategyContent = requests.NewInteger(1), fmt.Sprintf(`{"fixedTime":%d}`, fixed.UnixMilli())
	lsr, err := c.PushSimple(later)
	scheduleID := written(t, "scheduled PushSimple", err, lsr.ResultCode, lsr.ResultMessage, lsr.PushResult)
	sched := mpaas.CreateQueryPushSchedulerListRequest()
	sched.AppId, sched.WorkspaceId = testApp, "default"
	sched.StartTime, sched.EndTime = requests.NewInteger64(time.Now().UnixMilli()), requests.NewInteger64(fixed.Add(time.Hour).UnixMilli())
	e.waitFor("the schedule in QueryPushSchedulerList", time.Minute, func() (bool, string) {
		r, err := c.QueryPushSchedulerList(sched)
		if err != nil {
			return false, err.Error()
		}
		x := r.ResultContent.Data
		return x.TotalCount == 1 && x.List[0].ParentId == scheduleID && x.List[0].PushTime == fixed.UnixMilli() && x.List[0].PushTitle == "Through the Alibaba Cloud SDK",
			fmt.Sprintf("%+v", x)
	})
	cancel := mpaas.CreateCancelPushSchedulerRequest()
	cancel.AppId, cancel.WorkspaceId, cancel.UniqueIds = testApp, "default", scheduleID
	cr, err := c.CancelPushScheduler(cancel)
	if err != nil || cr.ResultCode != gateway.ResultOK || cr.ResultContent != fmt.Sprintf(`{%q:1}`, scheduleID) {
		t.Fatalf("CancelPushScheduler: %+v, %v", cr, err)
	}

	// Revokes: the acked deliveries are recalled from MiPush.
	rm := mpaas.CreateRevokePushMessageRequest()
	rm.AppId, rm.WorkspaceId, rm.MessageId, rm.TargetId = testApp, "default", "ali-simple-1", "ali-1"
	rmr, err := c.RevokePushMessage(rm)
	written(t, "RevokePushMessage", err, rmr.ResultCode, rmr.ResultMessage, rmr.PushResult)
	rt := mpaas.CreateRevokePushTaskRequest()
	rt.AppId, rt.WorkspaceId, rt.TaskId = testApp, "default", multipleTask
	rtr, err := c.RevokePushTask(rt)
	written(t, "RevokePushTask", err, rtr.ResultCode, rtr.ResultMessage, rtr.PushResult)
	for task, n := range map[string]uint64{simpleTask: 1, multipleTask: 2} {
		e.waitFor("the recalls of "+task, time.Minute, func() (bool, string) {
			got := e.eventCounts("sg", "task_id = ? AND event = 'recalled'", task)
			return got["recalled"] == n, fmt.Sprint(got)
		})
	}

	unbind := mpaas.CreatePushUnBindRequest()
	unbind.AppId, unbind.WorkspaceId, unbind.UserId, unbind.DeliveryToken = testApp, "default", "u-ali", "ali-2"
	ur, err := c.PushUnBind(unbind)
	written(t, "PushUnBind", err, ur.ResultCode, ur.ResultMessage, ur.PushResult)
	e.waitFor("the unbind applied by the registry", time.Minute, func() (bool, string) {
		users, err := devices.ByUser(ctx, testApp, []string{"u-ali"})
		return err == nil && len(users) == 0, fmt.Sprintf("%d devices, %v", len(users), err)
	})

	t.Run("the example of configs/examples/aliyun-sdk", func(t *testing.T) {
		runCtx, stop := context.WithTimeout(ctx, 3*time.Minute)
		defer stop()
		cmd := exec.CommandContext(runCtx, "go", "run", "github.com/pushpipe/pushpipe/configs/examples/aliyun-sdk")
		cmd.Env = append(os.Environ(), "MPAAS_AK_ENV="+key.ID, "MPAAS_SK_ENV="+key.Secret.Reveal(), "PUSHPIPE_GATEWAY="+srv.Addr(), "PUSHPIPE_REGION=sg")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "PushSimple: OK") || !strings.Contains(string(out), "successfully 1") {
			t.Fatalf("the example: %v\n%s", err, out)
		}
	})
}

// replayer is an http.RoundTripper that sends requests as they are and
// keeps the first; once armed, it sends that first request again, byte
// for byte, instead of the one it is given: a captured request replayed.
type replayer struct {
	mu     sync.Mutex
	armed  bool
	method string
	url    string
	header http.Header
	body   []byte
}

func (r *replayer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		body = b
	}
	r.mu.Lock()
	if !r.armed && r.url == "" {
		r.method, r.url, r.header, r.body = req.Method, req.URL.String(), req.Header.Clone(), body
	}
	method, url, header := req.Method, req.URL.String(), req.Header
	if r.armed {
		method, url, header, body = r.method, r.url, r.header, r.body
	}
	r.mu.Unlock()
	out, err := http.NewRequestWithContext(req.Context(), method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out.Header = header.Clone()
	return http.DefaultTransport.RoundTrip(out)
}

// serverError returns the SDK's *errors.ServerError of err, or fails.
func serverError(t *testing.T, what string, err error, status int, code string) *sdkerrors.ServerError {
	t.Helper()
	var se *sdkerrors.ServerError
	if !errors.As(err, &se) || se.HttpStatus() != status || se.ErrorCode() != code || se.RequestId() == "" || se.Message() == "" {
		t.Fatalf("%s: got %v; want the SDK's ServerError %d %s", what, err, status, code)
	}
	return se
}

// TestAliyunSDKRefusals: what the gateway refuses before an action runs
// comes back as the SDK's *errors.ServerError with Alibaba Cloud's codes —
// a wrong secret, a timestamp outside the window, a replayed request —
// and nothing of it reaches the pipeline.
func TestAliyunSDKRefusals(t *testing.T) {
	e := newEnv(t, "sg")
	srv, key := e.startGatewayServer("sg", nil)

	wrong := sdkClient(t, srv, gateway.AccessKey{ID: key.ID, Secret: "a-secret-that-is-not-the-key-s"})
	_, err := wrong.PushSimple(sdkSimple("wrong secret", map[string]string{"d1": "m-wrong"}))
	se := serverError(t, "a wrong secret", err, 400, "SignatureDoesNotMatch")
	// The SDK compared its string to sign with the one the gateway quoted:
	// equal, so the signing is right and the secret wrong.
	if !strings.Contains(se.Recommend(), "InvalidAccessKeySecret") {
		t.Fatalf("a wrong secret: Recommend %q, want the SDK's InvalidAccessKeySecret (its string to sign differs from the gateway's)", se.Recommend())
	}

	// A gateway whose clock is 10 minutes ahead sees the SDK's Timestamp
	// 10 minutes old.
	ahead, aheadKey := e.startGatewayServer("sg", func(c *gateway.Config) { c.Now = func() time.Time { return time.Now().Add(10 * time.Minute) } })
	_, err = sdkClient(t, ahead, aheadKey).PushSimple(sdkSimple("stale", map[string]string{"d1": "m-stale"}))
	_ = serverError(t, "a stale timestamp", err, 400, "InvalidTimeStamp.Expired")

	rp := &replayer{}
	c := sdkClient(t, srv, key)
	c.SetTransport(rp)
	first := sdkSimple("replayed", map[string]string{"d1": "m-replayed"})
	r, err := c.PushSimple(first)
	written(t, "the request to be replayed", err, r.ResultCode, r.ResultMessage, r.PushResult)
	rp.mu.Lock()
	rp.armed = true
	rp.mu.Unlock()
	_, err = c.PushSimple(sdkSimple("another", map[string]string{"d2": "m-other"}))
	_ = serverError(t, "a replayed request", err, 400, "SignatureNonceUsed")

	if recs := e.readAll(pipeline.RequestsTopic("sg")); len(recs) != 1 || !strings.Contains(string(recs[0].Value), "m-replayed") {
		t.Fatalf("%d records on push.requests.sg, want only the one accepted request", len(recs))
	}
}
