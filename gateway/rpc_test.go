package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/requests"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/mpaas"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// sdk returns the official Alibaba Cloud Go SDK's mpaas client, pointed
// at the env's gateway and signing with key, as a migrating user sets it
// up.
func (e *env) sdk(key AccessKey) *mpaas.Client {
	e.t.Helper()
	c, err := mpaas.NewClientWithAccessKey("sg", key.ID, key.Secret.Reveal())
	if err != nil {
		e.t.Fatal(err)
	}
	c.Domain = e.srv.Addr()
	return c
}

// request decodes the one push request written since the last read and
// checks it is keyed by its app and task id.
func (e *env) request(t *testing.T) *schema.Request {
	t.Helper()
	m := e.only(pipeline.RequestsTopic("sg"))
	var r schema.Request
	if err := json.Unmarshal(m.Value, &r); err != nil {
		t.Fatal(err)
	}
	if string(m.Key) != r.AppID+"/"+r.TaskID {
		t.Fatalf("record keyed %q, app %q, task id %q", m.Key, r.AppID, r.TaskID)
	}
	return &r
}

// accepted checks an SDK push answer: no error, ResultCode OK, the
// PushResult's Data being the task of the request written.
func accepted(t *testing.T, err error, code string, res mpaas.PushResult, r *schema.Request) {
	t.Helper()
	if err != nil || code != ResultOK || !res.Success || res.Data != r.TaskID {
		t.Fatalf("answer %s %+v, %v; want OK with task %s", code, res, err, r.TaskID)
	}
}

// TestRPCPushActions sends the four push actions with the official SDK's
// request types and checks what reached push.requests.sg: every
// parameter became the field of the same name (DeliveryType folded into
// deliverType, TargetMsg.N.* into targetMsgs), through the validation of
// the /v1 routes.
func TestRPCPushActions(t *testing.T) {
	e := newEnv(t)
	if err := store.NewTemplates(e.conn, e.db).Create(context.Background(),
		schema.Template{AppID: testApp, Name: "promo", Title: "Hi #name#", Content: "You won #amount# points"}); err != nil {
		t.Fatal(err)
	}
	c := e.sdk(testKey(0))

	simple := mpaas.CreatePushSimpleRequest()
	simple.AppId, simple.WorkspaceId, simple.TaskName = testApp, testSpace, "sdk simple"
	simple.Title, simple.Content = "Flash sale", "Half price"
	simple.DeliveryType, simple.ExpiredSeconds, simple.PushStyle = requests.NewInteger(1), requests.NewInteger(300), requests.NewInteger(2)
	simple.TargetMsgkey = `{"d1":"m1","d2":"m2"}`
	simple.ImageUrls = `{"defaultUrl":"https://img.example/d.png"}`
	simple.ExtendedParams = `{"orderId":"42"}`
	simple.Classification = "1"
	simple.Uri, simple.PushAction = "https://example.com/sale", requests.NewInteger(0)
	// Parameters the SDK's type does not declare are sent as form
	// parameters named like the request's fields.
	simple.FormParams["ThirdChannelCategory"] = `{"hms":"9"}`
	simple.FormParams["AppVersions.1"] = "2.0.0"
	simple.FormParams["AppVersions.2"] = "2.1.0"
	simple.FormParams["NotifyType"] = "" // empty: absent
	res, err := c.PushSimple(simple)
	r := e.request(t)
	accepted(t, err, res.ResultCode, res.PushResult, r)
	if res.RequestId == "" || res.ResultMessage != "SUCCESS" {
		t.Fatalf("answer %+v", res)
	}
	want := schema.Request{Type: schema.PushSimple, Region: "sg", AppID: testApp, WorkspaceID: testSpace, TaskName: "sdk simple",
		DeliverType: 1, TargetMsgkey: schema.StringMap{"d1": "m1", "d2": "m2"}, Title: "Flash sale", Content: "Half price",
		ExpiredSeconds: 300, PushStyle: 2, URI: "https://example.com/sale", ExtendedParams: schema.StringMap{"orderId": "42"},
		ImageURLs: schema.StringMap{"defaultUrl": "https://img.example/d.png"}, Classification: "1",
		ThirdChannelCategory: schema.StringMap{"hms": "9"}, AppVersions: []string{"2.0.0", "2.1.0"}, TaskID: r.TaskID, AcceptedAt: r.AcceptedAt}
	if got, _ := json.Marshal(r); string(got) != string(must(json.Marshal(want))) {
		t.Fatalf("request on push.requests.sg\n%s\nwant\n%s", got, must(json.Marshal(want)))
	}

	template := mpaas.CreatePushTemplateRequest()
	template.AppId, template.WorkspaceId, template.TaskName = testApp, testSpace, "sdk template"
	template.DeliveryType, template.ExpiredSeconds = requests.NewInteger(3), requests.NewInteger(600)
	template.TargetMsgkey, template.TemplateName, template.TemplateKeyValue = `{"user-1":"m3"}`, "promo", `{"name":"Ann","amount":"5"}`
	tres, err := c.PushTemplate(template)
	r = e.request(t)
	accepted(t, err, tres.ResultCode, tres.PushResult, r)
	if r.Type != schema.PushTemplate || r.DeliverType != 3 || r.TemplateName != "promo" || r.TemplateKeyValue["amount"] != "5" || r.TargetMsgkey["user-1"] != "m3" {
		t.Fatalf("template request %+v", r)
	}

	multiple := mpaas.CreatePushMultipleRequest()
	multiple.AppId, multiple.WorkspaceId, multiple.TaskName = testApp, testSpace, "sdk multiple"
	multiple.DeliveryType, multiple.ExpiredSeconds, multiple.TemplateName = requests.NewInteger(1), requests.NewInteger(300), "promo"
	multiple.TargetMsg = &[]mpaas.PushMultipleTargetMsg{
		{Target: "d1", MsgKey: "mm1", TemplateKeyValue: `{"name":"Ann","amount":"1"}`},
		{Target: "d2", MsgKey: "mm2", TemplateKeyValue: `{"name":"Bob","amount":"2"}`, ExtendedParams: `{"k":"v"}`},
	}
	mres, err := c.PushMultiple(multiple)
	r = e.request(t)
	accepted(t, err, mres.ResultCode, mres.PushResult, r)
	if r.Type != schema.PushMultiple || len(r.TargetMsgs) != 2 || r.TargetMsgs[1].Target != "d2" || r.TargetMsgs[1].MsgKey != "mm2" ||
		r.TargetMsgs[1].TemplateKeyValue["name"] != "Bob" || r.TargetMsgs[1].ExtendedParams["k"] != "v" || r.TargetMsgs[0].TemplateKeyValue["amount"] != "1" {
		t.Fatalf("multiple request %+v", r)
	}

	broadcast := mpaas.CreatePushBroadcastRequest()
	broadcast.AppId, broadcast.WorkspaceId, broadcast.TaskName = testApp, testSpace, "sdk broadcast"
	broadcast.DeliveryType, broadcast.ExpiredSeconds, broadcast.Msgkey = requests.NewInteger(1), requests.NewInteger(300), "b1"
	broadcast.TemplateName, broadcast.TemplateKeyValue = "promo", `{"name":"all","amount":"5"}`
	broadcast.PushStatus, broadcast.BindPeriod = requests.NewInteger(0), requests.NewInteger(1)
	broadcast.FormParams["Tags"] = `["vip","gold"]`
	bres, err := c.PushBroadcast(broadcast)
	r = e.request(t)
	accepted(t, err, bres.ResultCode, bres.PushResult, r)
	if r.Type != schema.PushBroadcast || r.MsgKey != "b1" || r.PushStatus == nil || *r.PushStatus != 0 || r.BindPeriod != 1 || strings.Join(r.Tags, ",") != "vip,gold" {
		t.Fatalf("broadcast request %+v", r)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestRPCRefusalsInsideTheAnswer: what the /v1 routes refuse with a
// result code, the RPC API answers with HTTP 200 and that code as
// ResultCode (as mPaaS does), writing nothing; a parameter an action does
// not honour is refused with 3028, never ignored.
func TestRPCRefusalsInsideTheAnswer(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Apps = append(c.Apps, App{AppID: "ONEXCLOSED0000001", AccessKeys: []AccessKey{testKey(0)}, PushClosed: true})
	})
	c := e.sdk(testKey(0))
	simple := func(adjust func(*mpaas.PushSimpleRequest)) *mpaas.PushSimpleRequest {
		r := mpaas.CreatePushSimpleRequest()
		r.AppId, r.WorkspaceId, r.TaskName, r.Title, r.Content = testApp, testSpace, "refused", "T", "C"
		r.DeliveryType, r.ExpiredSeconds, r.TargetMsgkey = requests.NewInteger(1), requests.NewInteger(300), `{"d1":"m1"}`
		adjust(r)
		return r
	}
	for _, tc := range []struct {
		scenario string
		call     func() (code, msg string, err error)
		want     schema.ResultCode
	}{
		{"3019 no TaskName", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.TaskName = "" })), schema.CodeTaskNameNull},
		{"3003 no WorkspaceId", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.WorkspaceId = "" })), schema.CodeNeedAppIDWorkspaceID},
		{"3029 eleven targets", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.TargetMsgkey = string(must(json.Marshal(targets(11)))) })), schema.CodeSinglePushTargetTooMuch},
		{"3028 ExpiredSeconds not a number", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.ExpiredSeconds = "soon" })), schema.CodeInvalidParam},
		{"3028 SmsStrategy alone", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.SmsStrategy = requests.NewInteger(2) })), schema.CodeInvalidParam},
		{"3028 a parameter pushpipe does not know", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.FormParams["Badge"] = "1" })), schema.CodeInvalidParam},
		{"3028 a TargetMsg field that does not exist", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.FormParams["TargetMsg.1.Color"] = "red" })), schema.CodeInvalidParam},
		{"3028 list items with a gap", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.FormParams["Models.2"] = "Pixel 9" })), schema.CodeInvalidParam},
		{"8014 an app the key may not act on", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.AppId = otherApp })), schema.CodeAccountNoPermission},
		{"8014 a workspace not the app's", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.WorkspaceId = "prod" })), schema.CodeAccountNoPermission},
		{"3032 the app's push API is closed", pushCall(c, simple(func(r *mpaas.PushSimpleRequest) { r.AppId = "ONEXCLOSED0000001" })), schema.CodeRestAPISwitchNotOpen},
		{"3028 PushBind with OsType", func() (string, string, error) {
			r := mpaas.CreatePushBindRequest()
			r.AppId, r.WorkspaceId, r.UserId, r.DeliveryToken, r.OsType = testApp, testSpace, "u1", "d1", requests.NewInteger(1)
			res, err := c.PushBind(r)
			return res.ResultCode, res.ResultMessage, err
		}, schema.CodeInvalidParam},
		{"3028 PushReport with Imei", func() (string, string, error) {
			r := mpaas.CreatePushReportRequest()
			r.AppId, r.WorkspaceId, r.DeliveryToken, r.ThirdChannel, r.ThirdChannelDeviceToken, r.Imei = testApp, testSpace, "d1", requests.NewInteger(4), "regid", "860000000000000"
			res, err := c.PushReport(r)
			return res.ResultCode, res.ResultMessage, err
		}, schema.CodeInvalidParam},
		{"3008 PushReport with OsType 9", func() (string, string, error) {
			r := mpaas.CreatePushReportRequest()
			r.AppId, r.WorkspaceId, r.DeliveryToken, r.ThirdChannel, r.ThirdChannelDeviceToken, r.OsType = testApp, testSpace, "d1", requests.NewInteger(4), "regid", requests.NewInteger(9)
			res, err := c.PushReport(r)
			return res.ResultCode, res.ResultMessage, err
		}, schema.CodeOSTypeNotSupported},
		{"3028 task detail without TaskId", func() (string, string, error) {
			r := mpaas.CreateQueryPushAnalysisTaskDetailRequest()
			r.AppId, r.WorkspaceId = testApp, testSpace
			res, err := c.QueryPushAnalysisTaskDetail(r)
			return res.ResultCode, res.ResultMessage, err
		}, schema.CodeInvalidParam},
		{"3028 task detail of an unknown task", func() (string, string, error) {
			r := mpaas.CreateQueryPushAnalysisTaskDetailRequest()
			r.AppId, r.WorkspaceId, r.TaskId = testApp, testSpace, "nope"
			res, err := c.QueryPushAnalysisTaskDetail(r)
			return res.ResultCode, res.ResultMessage, err
		}, schema.CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			code, msg, err := tc.call()
			if err != nil || code != tc.want.Name() || msg == "" {
				t.Fatalf("ResultCode %q (%s), %v; want %s in an HTTP 200 answer", code, msg, err, tc.want.Name())
			}
		})
	}
	for _, topic := range []string{pipeline.RequestsTopic("sg"), pipeline.BindingsTopic("sg")} {
		if n := len(e.records(topic)); n != 0 {
			t.Fatalf("%d records on %s after refusals", n, topic)
		}
	}
	if n := e.requests("/?Action=PushSimple", "3019"); n != 1 {
		t.Errorf("pushpipe_gateway_requests_total{route=/?Action=PushSimple,code=3019} = %v, want 1", n)
	}
}

func pushCall(c *mpaas.Client, r *mpaas.PushSimpleRequest) func() (string, string, error) {
	return func() (string, string, error) {
		res, err := c.PushSimple(r)
		if err == nil && res.PushResult.Success {
			return res.ResultCode, res.ResultMessage, errors.New("PushResult.Success is true")
		}
		return res.ResultCode, res.ResultMessage, err
	}
}

// TestRPCOtherActions calls the revoke, query, schedule and client
// actions with the official SDK and checks what they wrote or answered,
// decoded by the SDK's own response types.
func TestRPCOtherActions(t *testing.T) {
	e := newEnv(t)
	c := e.sdk(testKey(0))
	now := time.Now()
	// A task as the pipeline stores it: revoked, then queried below.
	e.events(funnelEvents("task-7", now.Add(-time.Hour))...)

	revokeMsg := mpaas.CreateRevokePushMessageRequest()
	revokeMsg.AppId, revokeMsg.WorkspaceId, revokeMsg.MessageId, revokeMsg.TargetId = testApp, testSpace, "task-7-m1", "d1"
	rm, err := c.RevokePushMessage(revokeMsg)
	var ctl schema.Control
	mustUnmarshal(t, e.only(pipeline.ControlTopic("sg")).Value, &ctl)
	if err != nil || rm.ResultCode != ResultOK || !rm.PushResult.Success || ctl.MsgID != "task-7-m1" || ctl.Target != "d1" || rm.PushResult.Data != ctl.ControlKey() {
		t.Fatalf("RevokePushMessage %+v, %v; control %+v", rm, err, ctl)
	}
	revokeTask := mpaas.CreateRevokePushTaskRequest()
	revokeTask.AppId, revokeTask.WorkspaceId, revokeTask.TaskId = testApp, testSpace, "task-7"
	rt, err := c.RevokePushTask(revokeTask)
	mustUnmarshal(t, e.only(pipeline.ControlTopic("sg")).Value, &ctl)
	if err != nil || rt.ResultCode != ResultOK || ctl.TaskID != "task-7" {
		t.Fatalf("RevokePushTask %+v, %v; control %+v", rt, err, ctl)
	}

	bind := mpaas.CreatePushBindRequest()
	bind.AppId, bind.WorkspaceId, bind.UserId, bind.DeliveryToken = testApp, testSpace, "user-1", "dev-1"
	report := mpaas.CreatePushReportRequest()
	report.AppId, report.WorkspaceId, report.DeliveryToken = testApp, testSpace, "dev-1"
	report.ThirdChannel, report.ThirdChannelDeviceToken, report.OsType = requests.NewInteger(5), "hms-token", requests.NewInteger(1)
	report.AppVersion, report.Model = "2.1.0", "HUAWEI Mate 60"
	unbind := mpaas.CreatePushUnBindRequest()
	unbind.AppId, unbind.WorkspaceId, unbind.UserId, unbind.DeliveryToken = testApp, testSpace, "user-1", "dev-1"
	for _, tc := range []struct {
		action string
		call   func() (mpaas.PushResult, error)
		want   schema.Binding
	}{
		{"PushBind", func() (mpaas.PushResult, error) { r, err := c.PushBind(bind); return r.PushResult, err },
			schema.Binding{Op: schema.OpBind, UserID: "user-1"}},
		{"PushReport", func() (mpaas.PushResult, error) { r, err := c.PushReport(report); return r.PushResult, err },
			schema.Binding{Op: schema.OpReport, Platform: schema.PlatformAndroid, Vendor: "hms", VendorToken: "hms-token", SelfToken: "dev-1", AppVersion: "2.1.0", Model: "HUAWEI Mate 60"}},
		{"PushUnBind", func() (mpaas.PushResult, error) { r, err := c.PushUnBind(unbind); return r.PushResult, err },
			schema.Binding{Op: schema.OpUnbind, UserID: "user-1"}},
	} {
		res, err := tc.call()
		m := e.only(pipeline.BindingsTopic("sg"))
		var b schema.Binding
		mustUnmarshal(t, m.Value, &b)
		want := tc.want
		want.Region, want.AppID, want.WorkspaceID, want.DeviceID, want.TS = "sg", testApp, testSpace, "dev-1", b.TS
		if err != nil || !res.Success || res.Data != "dev-1" || string(m.Key) != testApp+"/dev-1" || fmt.Sprintf("%+v", b) != fmt.Sprintf("%+v", want) {
			t.Fatalf("%s: %+v, %v; record %+v, want %+v", tc.action, res, err, b, want)
		}
	}

	// A scheduled push, then the schedule list and its cancellation.
	later := now.Add(2 * time.Hour).Truncate(time.Second)
	sched := mpaas.CreatePushSimpleRequest()
	sched.AppId, sched.WorkspaceId, sched.TaskName, sched.Title, sched.Content = testApp, testSpace, "later", "Later", "Scheduled"
	sched.DeliveryType, sched.ExpiredSeconds, sched.TargetMsgkey = requests.NewInteger(1), requests.NewInteger(300), `{"d1":"later-1"}`
	sched.StrategyType, sched.StrategyContent = requests.NewInteger(1), fmt.Sprintf(`{"fixedTime":%d}`, later.UnixMilli())
	sres, err := c.PushSimple(sched)
	if err != nil || sres.ResultCode != ResultOK || sres.PushResult.Data == "" {
		t.Fatalf("scheduled PushSimple %+v, %v", sres, err)
	}
	scheduleID := sres.PushResult.Data
	// The scheduler worker (not running here) keeps it as a schedule.
	sc := schema.NewSchedule(e.request(t), now.UnixMilli())
	sc.Admitted = true
	if sc.ScheduleID != scheduleID {
		t.Fatalf("answered schedule id %s, the request's is %s", scheduleID, sc.ScheduleID)
	}
	if err := e.prod.Produce(context.Background(), []pipeline.Output{{Topic: pipeline.SchedulesTopic("sg"), Key: []byte(sc.ScheduleID), Value: must(json.Marshal(sc))}}); err != nil {
		t.Fatal(err)
	}
	list := mpaas.CreateQueryPushSchedulerListRequest()
	list.AppId, list.WorkspaceId, list.StartTime, list.EndTime = testApp, testSpace, requests.NewInteger64(now.UnixMilli()), requests.NewInteger64(now.Add(3*time.Hour).UnixMilli())
	var lres *mpaas.QueryPushSchedulerListResponse
	e.eventually(t, "the schedule listed", func() (bool, string) {
		lres, err = c.QueryPushSchedulerList(list)
		return err == nil && lres.ResultContent.Data.TotalCount == 1, fmt.Sprintf("%+v, %v", lres, err)
	})
	item := lres.ResultContent.Data.List[0]
	if item.ParentId != scheduleID || item.PushTime != later.UnixMilli() || item.PushTitle != "Later" || item.PushContent != "Scheduled" ||
		item.Type != 0 || item.DeliveryType != 1 || item.StrategyType != 1 || item.ExecutedStatus != "0" || item.UniqueId == "" {
		t.Fatalf("scheduled task %+v", item)
	}
	mps := mpaas.CreateQueryMpsSchedulerListRequest()
	mps.AppId, mps.WorkspaceId, mps.StartTime, mps.EndTime = testApp, testSpace, list.StartTime, list.EndTime
	if r, err := c.QueryMpsSchedulerList(mps); err != nil || r.ResultContent.Data.TotalCount != 1 || r.ResultContent.Data.List[0].ParentId != scheduleID {
		t.Fatalf("QueryMpsSchedulerList %+v, %v", r, err)
	}
	cancel := mpaas.CreateCancelPushSchedulerRequest()
	cancel.AppId, cancel.WorkspaceId, cancel.UniqueIds, cancel.Type = testApp, testSpace, scheduleID+",unknown-id", requests.NewInteger(0)
	cres, err := c.CancelPushScheduler(cancel)
	var cancelled map[string]int
	if err == nil {
		err = json.Unmarshal([]byte(cres.ResultContent), &cancelled)
	}
	if err != nil || cres.ResultCode != ResultOK || !maps.Equal(cancelled, map[string]int{scheduleID: 1, "unknown-id": 0}) {
		t.Fatalf("CancelPushScheduler %+v, %v", cres, err)
	}

	// Statistics and tasks of the events stored above.
	core := mpaas.CreateQueryPushAnalysisCoreIndexRequest()
	core.AppId, core.WorkspaceId, core.StartTime, core.EndTime = testApp, testSpace, requests.NewInteger64(now.Add(-2*time.Hour).UnixMilli()), requests.NewInteger64(now.UnixMilli())
	var stats Stats
	if err := e.client.Query(context.Background(), "/v1/stats", app(map[string]any{"startTime": now.Add(-2 * time.Hour).UnixMilli(), "endTime": now.UnixMilli()}), &stats); err != nil {
		t.Fatal(err)
	}
	cr, err := c.QueryPushAnalysisCoreIndex(core)
	d := cr.ResultContent.Data
	if err != nil || cr.ResultCode != ResultOK || stats.PushTotalNum == 0 || d.PushTotalNum != float64(stats.PushTotalNum) || d.PushNum != float64(stats.PushNum) ||
		d.ArrivalNum != float64(stats.ArrivalNum) || d.OpenNum != float64(stats.OpenNum) || d.OpenRate != stats.OpenRate || d.IgnoreNum != float64(stats.IgnoreNum) {
		t.Fatalf("core index %+v, %v; /v1/stats %+v", d, err, stats)
	}
	tl := mpaas.CreateQueryPushAnalysisTaskListRequest()
	tl.AppId, tl.WorkspaceId, tl.StartTime = testApp, testSpace, requests.NewInteger64(now.Add(-2*time.Hour).UnixMilli())
	tlr, err := c.QueryPushAnalysisTaskList(tl)
	if err != nil || len(tlr.ResultContent.Data) != 1 || tlr.ResultContent.Data[0].TaskId != "task-7" || tlr.ResultContent.Data[0].GmtCreate == 0 {
		t.Fatalf("task list %+v, %v", tlr, err)
	}
	var detail TaskDetail
	if err := e.client.Query(context.Background(), "/v1/tasks/task-7", app(nil), &detail); err != nil {
		t.Fatal(err)
	}
	td := mpaas.CreateQueryPushAnalysisTaskDetailRequest()
	td.AppId, td.WorkspaceId, td.TaskId = testApp, testSpace, "task-7"
	tdr, err := c.QueryPushAnalysisTaskDetail(td)
	dd := tdr.ResultContent.Data
	if err != nil || tdr.ResultCode != ResultOK || dd.PushNum != float64(detail.PushNum) || dd.PushSuccessNum != float64(detail.PushSuccessNum) ||
		dd.PushArrivalNum != float64(detail.PushArrivalNum) || dd.StartTime != detail.StartTime || dd.EndTime != detail.EndTime ||
		dd.Duration != detail.Duration || dd.AppId != testApp || dd.TaskId != 0 {
		t.Fatalf("task detail %+v, %v; /v1/tasks/task-7 %+v", dd, err, detail)
	}
}

func mustUnmarshal(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond for up to 30 s.
func (e *env) eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 30s: %s", what, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rpc sends a call signed with key (sign false: unsigned) with the given
// query and form parameters, after adjust changed the signed query, and
// decodes the answer.
func (e *env) rpc(method string, key AccessKey, query, form map[string]string, adjust func(url.Values)) (int, rpcErrorBody, rpcAnswer) {
	e.t.Helper()
	all := maps.Clone(query)
	maps.Copy(all, form)
	SignParams(all, method, "/", key, time.Now())
	q := url.Values{}
	for k, v := range all {
		if _, inForm := form[k]; !inForm {
			q.Set(k, v)
		}
	}
	if adjust != nil {
		adjust(q)
	}
	f := url.Values{}
	for k, v := range form {
		f.Set(k, v)
	}
	return e.rpcSend(method, q.Encode(), f.Encode(), "application/x-www-form-urlencoded")
}

func (e *env) rpcSend(method, query, body, contentType string) (int, rpcErrorBody, rpcAnswer) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL()+"/?"+query, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	b, _ := io.ReadAll(res.Body)
	var eb rpcErrorBody
	var ans rpcAnswer
	_ = json.Unmarshal(b, &eb)
	_ = json.Unmarshal(b, &ans)
	return res.StatusCode, eb, ans
}

// TestRPCProtocol checks the protocol around the actions with hand-made
// calls: where parameters may be, the common parameters, every way a
// signature can be refused, and the Alibaba Cloud error shape and status.
func TestRPCProtocol(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	list := map[string]string{ParamAction: "QueryPushAnalysisTaskList", ParamVersion: RPCVersion, ParamFormat: "JSON", ParamRegionID: "sg",
		"AppId": testApp, "WorkspaceId": testSpace, "StartTime": fmt.Sprint(time.Now().Add(-time.Hour).UnixMilli())}
	common := map[string]string{ParamAction: "QueryPushAnalysisTaskList", ParamVersion: RPCVersion}
	form := map[string]string{"AppId": testApp, "WorkspaceId": testSpace, "StartTime": list["StartTime"]}
	with := func(m map[string]string, k, v string) map[string]string {
		out := maps.Clone(m)
		out[k] = v
		return out
	}
	stale := func(q url.Values) {
		// re-signed with a timestamp six minutes old
		p := map[string]string{}
		for k := range q {
			p[k] = q.Get(k)
		}
		delete(p, ParamSignature)
		p[ParamTimestamp] = time.Now().Add(-6 * time.Minute).UTC().Format(TimestampLayout)
		p[ParamSignature] = SignString(StringToSign(http.MethodGet, "/", p), testKey(0).Secret.Reveal())
		for k, v := range p {
			q.Set(k, v)
		}
	}
	replayed := url.Values{}
	for _, tc := range []struct {
		scenario string
		send     func() (int, rpcErrorBody, rpcAnswer)
		status   int
		code     string
	}{
		{"GET, every parameter in the query", func() (int, rpcErrorBody, rpcAnswer) { return e.rpc(http.MethodGet, testKey(0), list, nil, nil) }, 200, ResultOK},
		{"POST, the action's parameters in the form", func() (int, rpcErrorBody, rpcAnswer) { return e.rpc(http.MethodPost, testKey(0), common, form, nil) }, 200, ResultOK},
		{"a replayed call, first", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), list, nil, func(q url.Values) { maps.Copy(replayed, q) })
		}, 200, ResultOK},
		{"a replayed call, again", func() (int, rpcErrorBody, rpcAnswer) { return e.rpcSend(http.MethodGet, replayed.Encode(), "", "") }, 400, "SignatureNonceUsed"},
		{"PUT", func() (int, rpcErrorBody, rpcAnswer) { return e.rpc(http.MethodPut, testKey(0), list, nil, nil) }, 403, "UnsupportedHTTPMethod"},
		{"no Action", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), with(list, ParamAction, ""), nil, nil)
		}, 400, "MissingParameter"},
		{"another Version", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), with(list, ParamVersion, "2019-08-21"), nil, nil)
		}, 404, "InvalidApi.NotFound"},
		{"an unknown Action", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), with(list, ParamAction, "PushAll"), nil, nil)
		}, 404, "InvalidApi.NotFound"},
		{"Format XML", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), with(list, ParamFormat, "XML"), nil, nil)
		}, 400, "InvalidParameter.Format"},
		{"RegionId of another region", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), with(list, ParamRegionID, "cn-hangzhou"), nil, nil)
		}, 400, "InvalidRegionId"},
		{"an STS token", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), with(list, "SecurityToken", "sts"), nil, nil)
		}, 400, "UnsupportedParameter"},
		{"a parameter in the query and the form", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodPost, testKey(0), common, form, func(q url.Values) { q.Set("AppId", testApp) })
		}, 400, "InvalidParameter"},
		{"a JSON body", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpcSend(http.MethodPost, "Action=PushSimple&Version="+RPCVersion, `{"appId":"x"}`, "application/json")
		}, 400, "InvalidParameter"},
		{"a body above MaxBodyBytes", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodPost, testKey(0), common, with(form, "Pad", strings.Repeat("x", 5000)), nil)
		}, 413, "InvalidParameter"},
		{"unsigned", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpcSend(http.MethodGet, "Action=QueryPushAnalysisTaskList&Version="+RPCVersion, "", "")
		}, 400, "MissingParameter"},
		{"SignatureMethod HMAC-SHA256", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), list, nil, func(q url.Values) { q.Set(ParamSignatureMethod, "HMAC-SHA256") })
		}, 400, "InvalidSignatureMethod"},
		{"SignatureType BEARERTOKEN", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), list, nil, func(q url.Values) { q.Set(ParamSignatureType, "BEARERTOKEN") })
		}, 400, "IncompleteSignature"},
		{"Timestamp in Unix ms", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), list, nil, func(q url.Values) { q.Set(ParamTimestamp, "1763856000000") })
		}, 400, "InvalidTimeStamp.Format"},
		{"Timestamp six minutes old", func() (int, rpcErrorBody, rpcAnswer) { return e.rpc(http.MethodGet, testKey(0), list, nil, stale) }, 400, "InvalidTimeStamp.Expired"},
		{"an AccessKeyId not configured", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, AccessKey{ID: "PPAKnobody", Secret: testKey(0).Secret}, list, nil, nil)
		}, 404, "InvalidAccessKeyId.NotFound"},
		{"a parameter changed after signing", func() (int, rpcErrorBody, rpcAnswer) {
			return e.rpc(http.MethodGet, testKey(0), list, nil, func(q url.Values) { q.Set("TaskName", "x") })
		}, 400, "SignatureDoesNotMatch"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			status, eb, ans := tc.send()
			code := eb.Code
			if status == 200 {
				code = ans.ResultCode
			}
			if status != tc.status || code != tc.code {
				t.Fatalf("HTTP %d %+v %+v; want HTTP %d %s", status, eb, ans, tc.status, tc.code)
			}
			if status != 200 && (eb.RequestID == "" || eb.Message == "" || eb.HostID == "") {
				t.Fatalf("error body %+v lacks RequestId, HostId or Message", eb)
			}
		})
	}
	// The SDK compares its string to sign with the one the gateway quotes.
	_, eb, _ := e.rpc(http.MethodGet, testKey(0), list, nil, func(q url.Values) { q.Set("TaskName", "x") })
	if _, sts, _ := strings.Cut(eb.Message, "server string to sign is:"); !strings.HasPrefix(sts, "GET&%2F&AccessKeyId%3D"+testKey(0).ID) || !strings.Contains(sts, "TaskName%3Dx") {
		t.Fatalf("SignatureDoesNotMatch message %q does not quote the server's string to sign", eb.Message)
	}
}

// TestRPCSignatureRefusalsThroughTheSDK: a wrong secret and an unknown
// AccessKeyId come back as the SDK's *errors.ServerError with the Alibaba
// Cloud codes; for the wrong secret the SDK finds its string to sign equal
// to the gateway's and says the secret is wrong.
func TestRPCSignatureRefusalsThroughTheSDK(t *testing.T) {
	e := newEnv(t)
	r := mpaas.CreateQueryPushAnalysisTaskListRequest()
	r.AppId, r.WorkspaceId, r.StartTime = testApp, testSpace, requests.NewInteger64(time.Now().UnixMilli())
	for _, tc := range []struct {
		scenario  string
		key       AccessKey
		status    int
		code      string
		recommend string
	}{
		{"wrong secret", AccessKey{ID: testKey(0).ID, Secret: "not-the-secret-of-the-key-0000"}, 400, "SignatureDoesNotMatch", "InvalidAccessKeySecret: Please check you AccessKeySecret"},
		{"unknown AccessKeyId", AccessKey{ID: "PPAKnobody", Secret: testKey(0).Secret}, 404, "InvalidAccessKeyId.NotFound", "not configured"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := e.sdk(tc.key).QueryPushAnalysisTaskList(r)
			var se *sdkerrors.ServerError
			if !errors.As(err, &se) || se.HttpStatus() != tc.status || se.ErrorCode() != tc.code || !strings.Contains(se.Recommend(), tc.recommend) || se.RequestId() == "" {
				t.Fatalf("got %v; want a ServerError %d %s recommending %q", err, tc.status, tc.code, tc.recommend)
			}
		})
	}
}

// TestRPCActionsTakeEveryParameterTheSDKDeclares reads the official Go
// SDK's request type of every action: each parameter it declares is taken
// by the action (and so mapped onto the /v1 handler, whose validation may
// still refuse it, e.g. the SMS parameters) or refused with a reason; none
// is unknown, and every MPS action of the SDK is served.
func TestRPCActionsTakeEveryParameterTheSDKDeclares(t *testing.T) {
	e := newEnv(t)
	sdkRequests := map[string]any{
		"PushSimple": mpaas.CreatePushSimpleRequest(), "PushTemplate": mpaas.CreatePushTemplateRequest(),
		"PushMultiple": mpaas.CreatePushMultipleRequest(), "PushBroadcast": mpaas.CreatePushBroadcastRequest(),
		"RevokePushMessage": mpaas.CreateRevokePushMessageRequest(), "RevokePushTask": mpaas.CreateRevokePushTaskRequest(),
		"QueryPushAnalysisCoreIndex": mpaas.CreateQueryPushAnalysisCoreIndexRequest(), "QueryPushAnalysisTaskList": mpaas.CreateQueryPushAnalysisTaskListRequest(),
		"QueryPushAnalysisTaskDetail": mpaas.CreateQueryPushAnalysisTaskDetailRequest(), "QueryPushSchedulerList": mpaas.CreateQueryPushSchedulerListRequest(),
		"QueryMpsSchedulerList": mpaas.CreateQueryMpsSchedulerListRequest(), "CancelPushScheduler": mpaas.CreateCancelPushSchedulerRequest(),
		"PushBind": mpaas.CreatePushBindRequest(), "PushUnBind": mpaas.CreatePushUnBindRequest(), "PushReport": mpaas.CreatePushReportRequest(),
	}
	if got, want := e.srv.RPCActions(), slices.Sorted(maps.Keys(sdkRequests)); !slices.Equal(got, want) {
		t.Fatalf("actions served %v, want the SDK's %v", got, want)
	}
	for name, req := range sdkRequests {
		a := e.srv.rpc[name]
		if sdkAction := reflect.ValueOf(req).MethodByName("GetActionName").Call(nil)[0].String(); sdkAction != name {
			t.Fatalf("the SDK's request type for %s sends Action %s", name, sdkAction)
		}
		if v := reflect.ValueOf(req).MethodByName("GetVersion").Call(nil)[0].String(); v != RPCVersion {
			t.Fatalf("the SDK's %s sends Version %s, the gateway serves %s", name, v, RPCVersion)
		}
		rt := reflect.TypeOf(req).Elem()
		for i := range rt.NumField() {
			param, ok := rt.Field(i).Tag.Lookup("name")
			if !ok {
				continue
			}
			_, taken := a.params[param]
			_, refused := a.refused[param]
			if !taken && !refused && a.taskID != param {
				t.Errorf("%s: the SDK declares %s, which the action neither takes nor refuses with a reason", name, param)
			}
		}
	}
}
