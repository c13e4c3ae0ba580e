package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// events stores events of testApp in the test's database.
func (e *env) events(evs ...schema.Event) {
	e.t.Helper()
	for i := range evs {
		evs[i].AppID, evs[i].Region, evs[i].WorkspaceID = testApp, "sg", testSpace
		if evs[i].EventID == "" {
			evs[i].EventID = schema.NewEventID(evs[i].Event, evs[i].TaskID, evs[i].MsgID, evs[i].DeviceID, fmt.Sprint(i))
		}
	}
	if err := store.InsertEvents(context.Background(), e.conn, e.db, evs); err != nil {
		e.t.Fatal(err)
	}
}

// funnelEvents are the events of a SIMPLE task to three Android devices
// on MiPush at ts: three planned and valid, two acked, one arrived and
// opened.
func funnelEvents(task string, ts time.Time) []schema.Event {
	var out []schema.Event
	add := func(ev schema.EventType, dev int) {
		out = append(out, schema.Event{TS: ts.UnixMilli(), TaskID: task, MsgID: fmt.Sprintf("%s-m%d", task, dev), PushType: schema.PushSimple,
			DeviceID: fmt.Sprintf("d%d", dev), Platform: schema.PlatformAndroid, Channel: "mipush", Event: ev})
	}
	out = append(out, schema.Event{TS: ts.UnixMilli(), TaskID: task, PushType: schema.PushSimple, Event: schema.EventAccepted, TaskName: "name of " + task})
	for d := 1; d <= 3; d++ {
		add(schema.EventPlanned, d)
		add(schema.EventValid, d)
	}
	add(schema.EventAcked, 1)
	add(schema.EventAcked, 2)
	add(schema.EventArrived, 1)
	add(schema.EventOpened, 1)
	return out
}

// TestQueryRoutes reads statistics, funnels, tasks and templates back
// through the gateway.
func TestQueryRoutes(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.events(funnelEvents("t-q1", now.Add(-time.Hour))...)
	e.events(funnelEvents("t-q2", now.Add(-30*time.Minute))...)
	span := map[string]any{"startTime": now.Add(-2 * time.Hour).UnixMilli(), "endTime": now.Add(time.Hour).UnixMilli()}
	statsBody := app(with(span, map[string]any{"granularity": "hour", "taskId": "t-q1"}))

	for _, tc := range []struct {
		scenario string
		path     string
		body     map[string]any
		status   int
		want     schema.ResultCode
		check    func(t *testing.T, data json.RawMessage)
	}{
		{scenario: "stats of a task", path: "/v1/stats", body: statsBody, check: func(t *testing.T, d json.RawMessage) {
			var s Stats
			mustDecode(t, d, &s)
			if s.PushTotalNum != 3 || s.PushNum != 2 || s.ArrivalNum != 1 || s.OpenNum != 1 || s.OpenRate != 1 || s.ArrivalRate < 0.33 || s.ArrivalRate > 0.34 || len(s.Series) == 0 {
				t.Fatalf("stats %+v", s)
			}
		}},
		{scenario: "stats by the mPaaS channel name MIUI", path: "/v1/stats", body: with(statsBody, map[string]any{"channel": "MIUI", "platform": "ANDROID"}), check: func(t *testing.T, d json.RawMessage) {
			var s Stats
			mustDecode(t, d, &s)
			if s.PushTotalNum != 3 {
				t.Fatalf("stats %+v, want 3 pushed on mipush", s)
			}
		}},
		{scenario: "stats of another channel are empty", path: "/v1/stats", body: with(statsBody, map[string]any{"channel": "IOS"}), check: func(t *testing.T, d json.RawMessage) {
			var s Stats
			mustDecode(t, d, &s)
			if s.PushTotalNum != 0 || s.Series == nil {
				t.Fatalf("stats %+v, want nothing and an empty series", s)
			}
		}},
		{scenario: "stats: 3028 without startTime", path: "/v1/stats", body: with(statsBody, map[string]any{"startTime": nil}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "stats: 3028 over 90 days", path: "/v1/stats", body: with(statsBody, map[string]any{"granularity": "day", "startTime": now.AddDate(0, 0, -91).UnixMilli()}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "stats: 3028 unknown granularity", path: "/v1/stats", body: with(statsBody, map[string]any{"granularity": "week"}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "stats: 3003 without appId", path: "/v1/stats", body: with(statsBody, map[string]any{"appId": nil}), status: 400, want: schema.CodeNeedAppIDWorkspaceID},

		{scenario: "funnel of a task", path: "/v1/stats/funnel", body: app(map[string]any{"taskId": "t-q1"}), check: func(t *testing.T, d json.RawMessage) {
			var f schema.Funnel
			mustDecode(t, d, &f)
			if f != (schema.Funnel{Planned: 3, Valid: 3, Acked: 2, Arrived: 1, Opened: 1}) {
				t.Fatalf("funnel %+v", f)
			}
		}},
		{scenario: "funnel of a message", path: "/v1/stats/funnel", body: app(map[string]any{"msgId": "t-q1-m1"}), check: func(t *testing.T, d json.RawMessage) {
			var f schema.Funnel
			mustDecode(t, d, &f)
			if f.Planned != 1 || f.Opened != 1 {
				t.Fatalf("funnel %+v", f)
			}
		}},
		{scenario: "funnel: 3028 both ids", path: "/v1/stats/funnel", body: app(map[string]any{"taskId": "t-q1", "msgId": "x"}), status: 400, want: schema.CodeInvalidParam},

		{scenario: "task list, newest first", path: "/v1/tasks", body: app(span), check: func(t *testing.T, d json.RawMessage) {
			var ts []Task
			mustDecode(t, d, &ts)
			if len(ts) != 2 || ts[0].TaskID != "t-q2" || ts[1].PushNum != 3 || ts[1].PushSuccessNum != 2 || ts[1].PushArrivalNum != 1 || ts[1].Duration != "00 hours 00 min 00 sec" {
				t.Fatalf("tasks %+v", ts)
			}
		}},
		{scenario: "task list, second page of one", path: "/v1/tasks", body: app(with(span, map[string]any{"pageNumber": 2, "pageSize": 1})), check: func(t *testing.T, d json.RawMessage) {
			var ts []Task
			mustDecode(t, d, &ts)
			if len(ts) != 1 || ts[0].TaskID != "t-q1" {
				t.Fatalf("page 2: %+v", ts)
			}
		}},
		{scenario: "task list: 3028 for a page number that would overflow the offset", path: "/v1/tasks", body: app(with(span, map[string]any{"pageNumber": int64(1) << 62, "pageSize": 500})), status: 400, want: schema.CodeInvalidParam},
		{scenario: "task list by taskName", path: "/v1/tasks", body: app(with(span, map[string]any{"taskName": "name of t-q1"})), check: func(t *testing.T, d json.RawMessage) {
			var ts []Task
			mustDecode(t, d, &ts)
			if len(ts) != 1 || ts[0].TaskID != "t-q1" || ts[0].TaskName != "name of t-q1" {
				t.Fatalf("tasks named %q: %+v", "name of t-q1", ts)
			}
		}},
		{scenario: "task list by a taskName no task has", path: "/v1/tasks", body: app(with(span, map[string]any{"taskName": "x"})), check: func(t *testing.T, d json.RawMessage) {
			var ts []Task
			mustDecode(t, d, &ts)
			if len(ts) != 0 {
				t.Fatalf("tasks named x: %+v", ts)
			}
		}},
		{scenario: "task list: 3028 pageSize 501", path: "/v1/tasks", body: app(with(span, map[string]any{"pageSize": 501})), status: 400, want: schema.CodeInvalidParam},
		{scenario: "task details with its funnel", path: "/v1/tasks/t-q1", body: app(nil), check: func(t *testing.T, d json.RawMessage) {
			var td TaskDetail
			mustDecode(t, d, &td)
			if td.TaskID != "t-q1" || td.PushType != "SIMPLE" || td.PushNum != 3 || td.Funnel.Planned != 3 || td.StartTime == 0 {
				t.Fatalf("details %+v", td)
			}
		}},
		{scenario: "task details: 404 unknown task", path: "/v1/tasks/nope", body: app(nil), status: 404, want: schema.CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			resp := e.expect(t, tc.path, tc.body, tc.status, tc.want)
			if tc.want != 0 {
				return
			}
			if resp.ResultContent == nil || resp.PushResult != nil {
				t.Fatalf("answer %+v, want ResultContent only", resp)
			}
			tc.check(t, resp.ResultContent.Data)
		})
	}
}

func mustDecode(t *testing.T, d json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(d, v); err != nil {
		t.Fatalf("decoding %s: %v", d, err)
	}
}

// TestTemplateRoutes creates, lists and deletes templates.
func TestTemplateRoutes(t *testing.T) {
	e := newEnv(t)
	promo := app(map[string]any{"templateName": "promo", "title": "Hi #name#", "content": "#amount# points"})
	linked := with(promo, map[string]any{"templateName": "linked", "uri": "https://shop.example/#id#", "description": "the sale"})
	// A task rendered "used" ten minutes ago: deleting it needs force.
	e.events(schema.Event{TS: time.Now().Add(-10 * time.Minute).UnixMilli(), TaskID: "t-used", Event: schema.EventAccepted, Template: "used", PushType: schema.PushTemplate})
	for _, tc := range []struct {
		scenario string
		path     string
		body     map[string]any
		status   int
		want     schema.ResultCode
		// check, if set, sees the template list as it was before the call.
		check func(t *testing.T, before []schema.Template)
	}{
		{scenario: "create", path: "/v1/templates/create", body: promo},
		{scenario: "create used", path: "/v1/templates/create", body: with(promo, map[string]any{"templateName": "used"})},
		{scenario: "3036 create twice", path: "/v1/templates/create", body: promo, status: 400, want: schema.CodeTemplateAlreadyExist},
		{scenario: "3037 no name", path: "/v1/templates/create", body: with(promo, map[string]any{"templateName": ""}), status: 400, want: schema.CodeTemplateNameNull},
		{scenario: "3038 name with a comma", path: "/v1/templates/create", body: with(promo, map[string]any{"templateName": "a,b"}), status: 400, want: schema.CodeTemplateNameInvalid},
		{scenario: "3040 empty title", path: "/v1/templates/create", body: with(promo, map[string]any{"templateName": "x", "title": " "}), status: 400, want: schema.CodeTemplateTitleInvalid},
		{scenario: "3039 empty content", path: "/v1/templates/create", body: with(promo, map[string]any{"templateName": "x", "content": ""}), status: 400, want: schema.CodeTemplateContentInvalid},
		{scenario: "3041 description too long", path: "/v1/templates/create", body: with(promo, map[string]any{"templateName": "x", "description": strings.Repeat("d", 201)}), status: 400, want: schema.CodeTemplateDescInvalid},
		{scenario: "3042 uri without a scheme", path: "/v1/templates/create", body: with(promo, map[string]any{"templateName": "x", "uri": "shop page #id#"}), status: 400, want: schema.CodeTemplateURIInvalid},
		{scenario: "create with uri and description", path: "/v1/templates/create", body: linked},
		{scenario: "delete linked", path: "/v1/templates/delete", body: app(map[string]any{"templateName": "linked", "force": true}), check: func(t *testing.T, before []schema.Template) {
			// Before the delete, the list held linked's uri, description
			// and the time it was written.
			for _, tpl := range before {
				if tpl.Name == "linked" && tpl.URI == "https://shop.example/#id#" && tpl.Description == "the sale" && time.Since(tpl.Version) < time.Hour {
					return
				}
			}
			t.Fatalf("templates before deleting linked: %+v, want linked with its uri, description and version", before)
		}},
		{scenario: "delete", path: "/v1/templates/delete", body: app(map[string]any{"templateName": "promo"})},
		{scenario: "3022 delete unknown", path: "/v1/templates/delete", body: app(map[string]any{"templateName": "promo"}), status: 400, want: schema.CodeTemplateNotExist},
		{scenario: "409 delete one in use", path: "/v1/templates/delete", body: app(map[string]any{"templateName": "used"}), status: 409, want: schema.CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if tc.check != nil {
				var before []schema.Template
				if err := e.client.Query(context.Background(), "/v1/templates/list", app(nil), &before); err != nil {
					t.Fatal(err)
				}
				tc.check(t, before)
			}
			resp := e.expect(t, tc.path, tc.body, tc.status, tc.want)
			if tc.want != 0 {
				return
			}
			if !resp.PushResult.Success || resp.PushResult.Data != tc.body["templateName"] {
				t.Fatalf("answer %+v", resp)
			}
		})
	}
	var list []schema.Template
	if err := e.client.Query(context.Background(), "/v1/templates/list", app(nil), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "used" || list[0].Title != "Hi #name#" {
		t.Fatalf("templates after the deletes: %+v, want only used", list)
	}
	e.expect(t, "/v1/templates/delete", app(map[string]any{"templateName": "used", "force": true}), 0, 0)
}

// TestScheduleRoutes lists and cancels a scheduled push written to
// push.schedules.sg as fanout writes it.
func TestScheduleRoutes(t *testing.T) {
	e := newEnv(t)
	at := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	req := &schema.Request{Type: schema.PushSimple, Region: "sg", AppID: testApp, WorkspaceID: testSpace, TaskName: "later",
		DeliverType: 1, TargetMsgkey: schema.StringMap{"d1": "m1"}, Title: "T", Content: "C", ExpiredSeconds: 300,
		StrategyType: schema.StrategyFixedTime, StrategyContent: &schema.StrategyContent{FixedTime: at.UnixMilli()}}
	s := schema.NewSchedule(req, time.Now().UnixMilli())
	s.Admitted = true
	b, _ := json.Marshal(s)
	if err := e.prod.Produce(context.Background(), []pipeline.Output{{Topic: pipeline.SchedulesTopic("sg"), Key: []byte(s.ScheduleID), Value: b}}); err != nil {
		t.Fatal(err)
	}
	occurrence := schema.OccurrenceID(s.ScheduleID, at, time.UTC)
	window := app(map[string]any{"startTime": time.Now().UnixMilli(), "endTime": at.Add(time.Hour).UnixMilli()})

	for _, tc := range []struct {
		scenario string
		body     map[string]any
		total    int
		want     schema.ResultCode
	}{
		{scenario: "in the window", body: window, total: 1},
		{scenario: "by schedule id", body: with(window, map[string]any{"uniqueId": s.ScheduleID}), total: 1},
		{scenario: "by occurrence id", body: with(window, map[string]any{"uniqueId": occurrence}), total: 1},
		{scenario: "simple pushes (type 0)", body: with(window, map[string]any{"type": 0}), total: 1},
		{scenario: "template pushes (type 1)", body: with(window, map[string]any{"type": 1}), total: 0},
		{scenario: "window ending before", body: with(window, map[string]any{"endTime": at.Add(-time.Minute).UnixMilli()}), total: 0},
		{scenario: "3028 type 7", body: with(window, map[string]any{"type": 7}), want: schema.CodeInvalidParam},
	} {
		t.Run("list "+tc.scenario, func(t *testing.T) {
			var l ScheduleList
			if !e.query(t, "/v1/schedules", tc.body, tc.want, &l) {
				return
			}
			if l.TotalCount != tc.total || len(l.List) != tc.total {
				t.Fatalf("list %+v, want %d", l, tc.total)
			}
			if tc.total == 1 && (l.List[0].UniqueID != occurrence || l.List[0].ParentID != s.ScheduleID || l.List[0].Status != schema.TaskPending || l.List[0].PushTime != at.UnixMilli()) {
				t.Fatalf("row %+v", l.List[0])
			}
		})
	}

	many := make([]string, MaxCancelIDs+1)
	for i := range many {
		many[i] = fmt.Sprintf("s%d", i)
	}
	for _, tc := range []struct {
		scenario string
		body     map[string]any
		result   map[string]int
		want     schema.ResultCode
	}{
		{scenario: "an occurrence id given as a schedule id (type 0) is not cancelled", body: app(map[string]any{"uniqueIds": occurrence}), result: map[string]int{occurrence: 0}},
		{scenario: "the schedule and an unknown id", body: app(map[string]any{"uniqueIds": s.ScheduleID + ",snope"}), result: map[string]int{s.ScheduleID: 1, "snope": 0}},
		{scenario: "again: already cancelled counts as cancelled", body: app(map[string]any{"uniqueIds": s.ScheduleID}), result: map[string]int{s.ScheduleID: 1}},
		{scenario: "3028 more than 30 ids", body: app(map[string]any{"uniqueIds": strings.Join(many, ",")}), want: schema.CodeInvalidParam},
		{scenario: "3028 type 2", body: app(map[string]any{"uniqueIds": s.ScheduleID, "type": 2}), want: schema.CodeInvalidParam},
		{scenario: "3028 no ids", body: app(map[string]any{"uniqueIds": " , "}), want: schema.CodeInvalidParam},
	} {
		t.Run("cancel "+tc.scenario, func(t *testing.T) {
			var res map[string]int
			if !e.query(t, "/v1/schedules/cancel", tc.body, tc.want, &res) {
				return
			}
			if fmt.Sprint(res) != fmt.Sprint(tc.result) {
				t.Fatalf("result %v, want %v", res, tc.result)
			}
		})
	}
	var l ScheduleList
	if err := e.client.Query(context.Background(), "/v1/schedules", window, &l); err != nil || len(l.List) != 1 || l.List[0].Status != schema.TaskCancelled {
		t.Fatalf("after the cancel: %+v, %v; want the occurrence cancelled", l, err)
	}
}

// TestRevokeRoutes publishes revokes to push.control.sg and refuses
// pushes accepted more than 7 days ago.
func TestRevokeRoutes(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.events(
		schema.Event{TS: now.AddDate(0, 0, -6).UnixMilli(), TaskID: "t-recent", MsgID: "m-recent", Event: schema.EventPlanned},
		schema.Event{TS: now.AddDate(0, 0, -6).UnixMilli(), TaskID: "t-recent", Event: schema.EventAccepted},
		schema.Event{TS: now.AddDate(0, 0, -8).UnixMilli(), TaskID: "t-old", MsgID: "m-old", Event: schema.EventPlanned},
		schema.Event{TS: now.AddDate(0, 0, -8).UnixMilli(), TaskID: "t-old", Event: schema.EventAccepted},
	)
	for _, tc := range []struct {
		scenario string
		path     string
		body     map[string]any
		key      string
		status   int
		want     schema.ResultCode
	}{
		{scenario: "a message of six days ago, one target", path: "/v1/push/revoke/message", body: app(map[string]any{"messageId": "m-recent", "targetId": "d1"}), key: testApp + "/msg:m-recent/d1"},
		{scenario: "3028 a message never pushed (or not stored yet)", path: "/v1/push/revoke/message", body: app(map[string]any{"messageId": "m-new"}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "a task", path: "/v1/push/revoke/task", body: app(map[string]any{"taskId": "t-recent"}), key: testApp + "/task:t-recent"},
		{scenario: "3028 a message of eight days ago", path: "/v1/push/revoke/message", body: app(map[string]any{"messageId": "m-old"}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 a task of eight days ago", path: "/v1/push/revoke/task", body: app(map[string]any{"taskId": "t-old"}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 no messageId", path: "/v1/push/revoke/message", body: app(nil), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 no taskId", path: "/v1/push/revoke/task", body: app(map[string]any{"messageId": "m-recent"}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 another region", path: "/v1/push/revoke/task", body: app(map[string]any{"taskId": "t-recent", "region": "cn"}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3003 no workspaceId", path: "/v1/push/revoke/task", body: app(map[string]any{"taskId": "t-recent", "workspaceId": nil}), status: 400, want: schema.CodeNeedAppIDWorkspaceID},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			resp := e.expect(t, tc.path, tc.body, tc.status, tc.want)
			if tc.want != 0 {
				if got := e.records(pipeline.ControlTopic("sg")); len(got) != 0 {
					t.Fatalf("a refused revoke wrote %d record(s)", len(got))
				}
				return
			}
			if resp.PushResult.Data != tc.key {
				t.Fatalf("answer %+v; want Data %s", resp, tc.key)
			}
			m := e.only(pipeline.ControlTopic("sg"))
			c, err := schema.DecodeControl(m.Value)
			if err != nil || string(m.Key) != tc.key || c.ControlKey() != tc.key || c.Op != schema.ControlRevoke || c.Region != "sg" || c.AppID != testApp || c.TS == 0 {
				t.Fatalf("record %s = %s (%v)", m.Key, m.Value, err)
			}
		})
	}
}

// TestClientRoutes publishes bind, unbind, report and Live Activity token records to
// push.bindings.sg as the registry reads them.
func TestClientRoutes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		scenario string
		path     string
		body     map[string]any
		rec      schema.Binding // Op, DeviceID, UserID, Platform, Vendor, VendorToken, SelfToken compared
		status   int
		want     schema.ResultCode
	}{
		{scenario: "bind", path: "/v1/client/bind", body: app(map[string]any{"userId": "u1", "deliveryToken": "d1"}),
			rec: schema.Binding{Op: schema.OpBind, DeviceID: "d1", UserID: "u1"}},
		{scenario: "unbind", path: "/v1/client/unbind", body: app(map[string]any{"userId": "u1", "deliveryToken": "d1"}),
			rec: schema.Binding{Op: schema.OpUnbind, DeviceID: "d1", UserID: "u1"}},
		{scenario: "report a Xiaomi device", path: "/v1/client/report", body: app(map[string]any{"deliveryToken": "d1", "thirdChannel": 4, "thirdChannelDeviceToken": "regid-1"}),
			rec: schema.Binding{Op: schema.OpReport, DeviceID: "d1", Platform: schema.PlatformAndroid, Vendor: "mipush", VendorToken: "regid-1", SelfToken: "d1"}},
		{scenario: "report an Apple device", path: "/v1/client/report", body: app(map[string]any{"deliveryToken": "d2", "thirdChannel": 2, "thirdChannelDeviceToken": "apns-tok"}),
			rec: schema.Binding{Op: schema.OpReport, DeviceID: "d2", Platform: schema.PlatformIOS, Vendor: "apns", VendorToken: "apns-tok", SelfToken: "d2"}},
		{scenario: "report an Honor device by vendor name", path: "/v1/client/report", body: app(map[string]any{"deliveryToken": "d3", "vendor": "honor", "thirdChannelDeviceToken": "h-tok"}),
			rec: schema.Binding{Op: schema.OpReport, DeviceID: "d3", Platform: schema.PlatformAndroid, Vendor: "honor", VendorToken: "h-tok", SelfToken: "d3"}},
		{scenario: "report a self-built channel device", path: "/v1/client/report", body: app(map[string]any{"deliveryToken": "d4", "osType": "harmony"}),
			rec: schema.Binding{Op: schema.OpReport, DeviceID: "d4", Platform: schema.PlatformHarmony, SelfToken: "d4"}},
		{scenario: "3012 bind without userId", path: "/v1/client/bind", body: app(map[string]any{"deliveryToken": "d1"}), status: 400, want: schema.CodeNeedUserID},
		{scenario: "3012 unbind without userId", path: "/v1/client/unbind", body: app(map[string]any{"deliveryToken": "d1"}), status: 400, want: schema.CodeNeedUserID},
		{scenario: "3001 bind without deliveryToken", path: "/v1/client/bind", body: app(map[string]any{"userId": "u1"}), status: 400, want: schema.CodeNeedDeliveryToken},
		{scenario: "3001 report without deliveryToken", path: "/v1/client/report", body: app(map[string]any{"thirdChannel": 4, "thirdChannelDeviceToken": "r"}), status: 400, want: schema.CodeNeedDeliveryToken},
		{scenario: "3028 unknown thirdChannel", path: "/v1/client/report", body: app(map[string]any{"deliveryToken": "d1", "thirdChannel": 9, "thirdChannelDeviceToken": "r"}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 thirdChannel without its token", path: "/v1/client/report", body: app(map[string]any{"deliveryToken": "d1", "thirdChannel": 5}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3008 unknown osType", path: "/v1/client/report", body: app(map[string]any{"deliveryToken": "d1", "osType": "windows"}), status: 400, want: schema.CodeOSTypeNotSupported},
		{scenario: "bind a Live Activity token", path: "/v1/client/liveactivity/bind", body: app(map[string]any{"deliveryToken": "d2", "activityId": "order-42", "activityToken": "la-1"}),
			rec: schema.Binding{Op: schema.OpActivityToken, DeviceID: "d2", ActivityID: "order-42", ActivityToken: "la-1"}},
		{scenario: "unbind the ended Live Activity", path: "/v1/client/liveactivity/unbind", body: app(map[string]any{"deliveryToken": "d2", "activityId": "order-42"}),
			rec: schema.Binding{Op: schema.OpActivityTokenRemove, DeviceID: "d2", ActivityID: "order-42"}},
		{scenario: "3001 Live Activity bind without deliveryToken", path: "/v1/client/liveactivity/bind", body: app(map[string]any{"activityId": "order-42", "activityToken": "la-1"}),
			status: 400, want: schema.CodeNeedDeliveryToken},
		{scenario: "3028 Live Activity bind without activityId", path: "/v1/client/liveactivity/bind", body: app(map[string]any{"deliveryToken": "d2", "activityToken": "la-1"}),
			status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 Live Activity bind without activityToken", path: "/v1/client/liveactivity/bind", body: app(map[string]any{"deliveryToken": "d2", "activityId": "order-42"}),
			status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 Live Activity unbind naming a token", path: "/v1/client/liveactivity/unbind", body: app(map[string]any{"deliveryToken": "d2", "activityId": "order-42", "activityToken": "la-1"}),
			status: 400, want: schema.CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			resp := e.expect(t, tc.path, tc.body, tc.status, tc.want)
			if tc.want != 0 {
				if got := e.records(pipeline.BindingsTopic("sg")); len(got) != 0 {
					t.Fatalf("a refused call wrote %d record(s)", len(got))
				}
				return
			}
			if resp.PushResult.Data != tc.rec.DeviceID {
				t.Fatalf("answer %+v", resp)
			}
			m := e.only(pipeline.BindingsTopic("sg"))
			b, err := schema.DecodeBinding(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			got := schema.Binding{Op: b.Op, DeviceID: b.DeviceID, UserID: b.UserID, Platform: b.Platform, Vendor: b.Vendor, VendorToken: b.VendorToken, SelfToken: b.SelfToken,
				ActivityID: b.ActivityID, ActivityToken: b.ActivityToken}
			if string(m.Key) != testApp+"/"+tc.rec.DeviceID || fmt.Sprint(got) != fmt.Sprint(tc.rec) || b.Region != "sg" || b.AppID != testApp || b.TS == 0 {
				t.Fatalf("record %s = %s, want %+v", m.Key, m.Value, tc.rec)
			}
		})
	}
}

// TestPhoneRoutes publishes set_phone and unset_phone records keyed by
// the user id, numbers in E.164, and refuses what the registry would.
func TestPhoneRoutes(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		scenario string
		path     string
		body     map[string]any
		rec      schema.Binding // Op, UserID, Phone compared
		status   int
		want     schema.ResultCode
	}{
		{scenario: "set an E.164 number", path: "/v1/client/phone/set", body: app(map[string]any{"userId": "u1", "phone": "+6591234567"}),
			rec: schema.Binding{Op: schema.OpSetPhone, UserID: "u1", Phone: "+6591234567"}},
		{scenario: "set a mainland number", path: "/v1/client/phone/set", body: app(map[string]any{"userId": "u2", "phone": "13800138000"}),
			rec: schema.Binding{Op: schema.OpSetPhone, UserID: "u2", Phone: "13800138000"}},
		{scenario: "unset", path: "/v1/client/phone/unset", body: app(map[string]any{"userId": "u1"}),
			rec: schema.Binding{Op: schema.OpUnsetPhone, UserID: "u1"}},
		{scenario: "3012 set without userId", path: "/v1/client/phone/set", body: app(map[string]any{"phone": "+6591234567"}), status: 400, want: schema.CodeNeedUserID},
		{scenario: "3028 a landline of +86", path: "/v1/client/phone/set", body: app(map[string]any{"userId": "u1", "phone": "+861012345678"}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 a number without country code", path: "/v1/client/phone/set", body: app(map[string]any{"userId": "u1", "phone": "91234567"}), status: 400, want: schema.CodeInvalidParam},
		{scenario: "3028 unset with a number", path: "/v1/client/phone/unset", body: app(map[string]any{"userId": "u1", "phone": "+6591234567"}), status: 400, want: schema.CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			resp := e.expect(t, tc.path, tc.body, tc.status, tc.want)
			if tc.want != 0 {
				if got := e.records(pipeline.BindingsTopic("sg")); len(got) != 0 {
					t.Fatalf("a refused call wrote %d record(s)", len(got))
				}
				return
			}
			if resp.PushResult.Data != tc.rec.UserID {
				t.Fatalf("answer %+v", resp)
			}
			m := e.only(pipeline.BindingsTopic("sg"))
			b, err := schema.DecodeBinding(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Key) != testApp+"/"+tc.rec.UserID || b.Op != tc.rec.Op || b.UserID != tc.rec.UserID || b.Phone != tc.rec.Phone || b.DeviceID != "" || b.AppID != testApp || b.TS == 0 {
				t.Fatalf("record %s = %s, want %+v", m.Key, m.Value, tc.rec)
			}
		})
	}
}

// TestStatsAndTasksByAppVersion stores the events of a task to devices of
// app versions 1.0 (three deliveries, two acked, one arrived, and a device
// with a dead token) and 2.0 (one delivery, acked, arrived and opened), and
// reads /v1/stats and /v1/tasks filtered by appVersion.
func TestStatsAndTasksByAppVersion(t *testing.T) {
	e := newEnv(t)
	ts := time.Now().Add(-time.Hour)
	var evs []schema.Event
	add := func(ev schema.EventType, version string, dev int) {
		evs = append(evs, schema.Event{TS: ts.UnixMilli(), TaskID: "t-v", MsgID: "t-v-m", PushType: schema.PushBroadcast,
			DeviceID: fmt.Sprintf("d%d", dev), Platform: schema.PlatformAndroid, Channel: "mipush", Event: ev, AppVersion: version})
	}
	for d := 1; d <= 3; d++ {
		add(schema.EventValid, "1.0", d)
	}
	add(schema.EventInvalidDevice, "1.0", 4)
	add(schema.EventAcked, "1.0", 1)
	add(schema.EventAcked, "1.0", 2)
	add(schema.EventArrived, "1.0", 1)
	add(schema.EventValid, "2.0", 5)
	add(schema.EventAcked, "2.0", 5)
	add(schema.EventArrived, "2.0", 5)
	add(schema.EventOpened, "2.0", 5)
	e.events(evs...)
	span := map[string]any{"startTime": ts.Add(-time.Hour).UnixMilli(), "endTime": time.Now().Add(time.Hour).UnixMilli()}
	tooMany := strings.Repeat("1.0,", schema.MaxStatsAppVersions) + "9.9"

	for _, tc := range []struct {
		scenario, version string
		want              Stats
		wantTasks         []Task // TaskID, PushNum, PushSuccessNum, PushArrivalNum
	}{
		{"version 1.0", "1.0", Stats{PushTotalNum: 4, PushNum: 2, ArrivalNum: 1, ArrivalRate: 0.25},
			[]Task{{TaskID: "t-v", PushNum: 4, PushSuccessNum: 2, PushArrivalNum: 1}}},
		{"version 2.0", "2.0", Stats{PushTotalNum: 1, PushNum: 1, ArrivalNum: 1, ArrivalRate: 1, OpenNum: 1, OpenRate: 1},
			[]Task{{TaskID: "t-v", PushNum: 1, PushSuccessNum: 1, PushArrivalNum: 1}}},
		{"both, comma-separated", "2.0, 1.0", Stats{PushTotalNum: 5, PushNum: 3, ArrivalNum: 2, ArrivalRate: 0.4, OpenNum: 1, OpenRate: 0.5},
			[]Task{{TaskID: "t-v", PushNum: 5, PushSuccessNum: 3, PushArrivalNum: 2}}},
		{"a version no device reported", "9.9", Stats{}, []Task{}},
	} {
		t.Run("stats of "+tc.scenario, func(t *testing.T) {
			var s Stats
			e.query(t, "/v1/stats", app(with(span, map[string]any{"granularity": "hour", "appVersion": tc.version})), 0, &s)
			if s.Series == nil {
				t.Fatalf("stats %+v: want a series, even an empty one", s)
			}
			s.Series = nil
			if !reflect.DeepEqual(s, tc.want) {
				t.Fatalf("stats %+v\nwant  %+v", s, tc.want)
			}
		})
		t.Run("tasks of "+tc.scenario, func(t *testing.T) {
			var got []Task
			e.query(t, "/v1/tasks", app(with(span, map[string]any{"appVersion": tc.version})), 0, &got)
			if len(got) != len(tc.wantTasks) {
				t.Fatalf("tasks %+v, want %+v", got, tc.wantTasks)
			}
			for i, w := range tc.wantTasks {
				if g := got[i]; g.TaskID != w.TaskID || g.PushNum != w.PushNum || g.PushSuccessNum != w.PushSuccessNum || g.PushArrivalNum != w.PushArrivalNum {
					t.Fatalf("task %+v, want %+v", g, w)
				}
			}
		})
	}
	var all Stats
	e.query(t, "/v1/stats", app(with(span, map[string]any{"granularity": "hour"})), 0, &all)
	if all.PushTotalNum != 5 || all.PushNum != 3 {
		t.Fatalf("stats without appVersion %+v, want every version: 5 pushed, 3 succeeded", all)
	}

	for _, tc := range []struct {
		scenario, path string
		version        any
		wantMsg        string
	}{
		{"stats: an empty appVersion", "/v1/stats", "", "item 1 of 1 is empty"},
		{"stats: an empty item", "/v1/stats", "1.0,,2.0", "item 2 of 3 is empty"},
		{"stats: too many versions", "/v1/stats", tooMany, "at most 20"},
		{"stats: not a string", "/v1/stats", []string{"1.0"}, "appVersion"},
		{"tasks: an empty item", "/v1/tasks", "1.0,", "item 2 of 2 is empty"},
		{"tasks: too many versions", "/v1/tasks", tooMany, "at most 20"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			body := app(with(span, map[string]any{"appVersion": tc.version}))
			err := e.client.Query(context.Background(), tc.path, body, &json.RawMessage{})
			refused(t, err, 400, schema.CodeInvalidParam)
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Fatalf("refusal %v does not say %q", err, tc.wantMsg)
			}
		})
	}
}

// TestUnknownBodyFieldsAreRefused: a /v1 body naming a field its route
// does not read is refused with 3028, not served as if it were absent.
func TestUnknownBodyFieldsAreRefused(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	body := app(map[string]any{"startTime": now.Add(-time.Hour).UnixMilli(), "endTime": now.UnixMilli(), "granularity": "hour", "chanel": "mipush"})
	e.expect(t, "/v1/stats", body, 400, schema.CodeInvalidParam)
	delete(body, "chanel")
	e.expect(t, "/v1/stats", body, 0, 0)
}
