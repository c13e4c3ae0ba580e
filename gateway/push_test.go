package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// with returns base with fields overlaid; a nil field value removes it.
func with(base, fields map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(fields))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range fields {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = v
	}
	return out
}

// targets returns n targets d1..dn with msgKeys m1..mn.
func targets(n int) map[string]string {
	m := make(map[string]string, n)
	for i := 1; i <= n; i++ {
		m[fmt.Sprintf("d%d", i)] = fmt.Sprintf("m%d", i)
	}
	return m
}

// targetMsgs returns n MULTIPLE targets, each with its own #name#.
func targetMsgs(n int) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = map[string]any{"target": fmt.Sprintf("d%d", i+1), "msgKey": fmt.Sprintf("m%d", i+1),
			"templateKeyValue": map[string]string{"name": fmt.Sprintf("user %d", i+1)}}
	}
	return out
}

func params(n int) map[string]string {
	m := make(map[string]string, n)
	for i := 0; i < n; i++ {
		m[fmt.Sprintf("k%d", i)] = "v"
	}
	return m
}

// TestPushRoutes sends every push type through its route: a valid request
// is answered OK with its task id only once it is on push.requests.sg
// keyed by that id; each invalid one gets the result code fanout would
// give and writes nothing.
func TestPushRoutes(t *testing.T) {
	e := newEnv(t)
	if err := store.NewTemplates(e.conn, e.db).Create(context.Background(),
		schema.Template{AppID: testApp, Name: "promo", Title: "Hi #name#", Content: "You won #amount# points"}); err != nil {
		t.Fatal(err)
	}
	simple := app(map[string]any{"taskName": "gw", "deliverType": 1, "targetMsgkey": targets(1),
		"title": "Flash sale", "content": "Half price", "expiredSeconds": 300})
	template := app(map[string]any{"taskName": "gw", "deliverType": 1, "targetMsgkey": targets(2),
		"templateName": "promo", "templateKeyValue": map[string]string{"name": "Ann", "amount": "5"}, "expiredSeconds": 300})
	multiple := app(map[string]any{"taskName": "gw", "deliverType": 1, "targetMsgs": targetMsgs(3),
		"templateName": "promo", "templateKeyValue": map[string]string{"amount": "5"}, "expiredSeconds": 300})
	broadcast := app(map[string]any{"taskName": "gw", "deliverType": 1, "msgkey": "b1",
		"templateName": "promo", "templateKeyValue": map[string]string{"name": "all", "amount": "5"}, "expiredSeconds": 300})
	inner := targetMsgs(1)
	inner[0]["extendedParams"] = params(11)
	noName := targetMsgs(2)
	delete(noName[1], "templateKeyValue")
	repeated := targetMsgs(2)
	repeated[1]["msgKey"] = "m1"
	hour := time.Now().Add(time.Hour).UnixMilli()

	for _, tc := range []struct {
		scenario string
		path     string
		body     map[string]any
		raw      []byte // sent instead of body when set
		want     schema.ResultCode
		status   int
	}{
		{scenario: "simple: accepted", path: "/v1/push/simple", body: simple, want: schema.CodeSuccess},
		{scenario: "simple: deliveryType for deliverType", path: "/v1/push/simple", body: with(simple, map[string]any{"deliverType": nil, "deliveryType": 2, "taskName": "alias"}), want: schema.CodeSuccess},
		{scenario: "simple: scheduled", path: "/v1/push/simple", body: with(simple, map[string]any{"taskName": "later", "strategyType": 1, "StrategyContent": fmt.Sprintf(`{"fixedTime":%d}`, hour)}), want: schema.CodeSuccess},
		{scenario: "simple: 3003 no workspaceId", path: "/v1/push/simple", body: with(simple, map[string]any{"workspaceId": nil}), want: schema.CodeNeedAppIDWorkspaceID, status: 400},
		{scenario: "simple: 3019 no taskName", path: "/v1/push/simple", body: with(simple, map[string]any{"taskName": ""}), want: schema.CodeTaskNameNull, status: 400},
		{scenario: "simple: 3020 expiredSeconds 0", path: "/v1/push/simple", body: with(simple, map[string]any{"expiredSeconds": 0}), want: schema.CodeExpiredSecondsWrong, status: 400},
		{scenario: "simple: 3026 expiredSeconds above 14 days", path: "/v1/push/simple", body: with(simple, map[string]any{"expiredSeconds": 1209601}), want: schema.CodeExpiredTimeTooLong, status: 400},
		{scenario: "simple: 3009 deliverType 4", path: "/v1/push/simple", body: with(simple, map[string]any{"deliverType": 4}), want: schema.CodeDeliveryTypeUnsupported, status: 400},
		{scenario: "simple: Live Activity update by activity id", path: "/v1/push/simple", body: with(simple, map[string]any{"taskName": "live",
			"deliverType": 6, "activityEvent": "update", "activityContentState": `{"eta":15}`, "title": nil, "content": nil}), want: schema.CodeSuccess},
		{scenario: "simple: 3028 deliverType 5 without activityEvent", path: "/v1/push/simple", body: with(simple, map[string]any{"deliverType": 5}), want: schema.CodeInvalidParam, status: 400},
		{scenario: "multiple: 3009 deliverType 6", path: "/v1/push/multiple", body: with(multiple, map[string]any{"deliverType": 6, "activityEvent": "update", "activityContentState": map[string]any{"eta": 15}}),
			want: schema.CodeDeliveryTypeUnsupported, status: 400},
		{scenario: "simple: 3021 no targets", path: "/v1/push/simple", body: with(simple, map[string]any{"targetMsgkey": map[string]string{}}), want: schema.CodeTokenOrUserIDNull, status: 400},
		{scenario: "simple: 3029 eleven targets", path: "/v1/push/simple", body: with(simple, map[string]any{"targetMsgkey": targets(11)}), want: schema.CodeSinglePushTargetTooMuch, status: 400},
		{scenario: "simple: 3024 no title", path: "/v1/push/simple", body: with(simple, map[string]any{"title": nil}), want: schema.CodePayloadNotEnough, status: 400},
		{scenario: "simple: 3043 content above 4000 characters", path: "/v1/push/simple", body: with(simple, map[string]any{"content": strings.Repeat("x", 4001)}), want: schema.CodeSinglePushContentTooLong, status: 400},
		{scenario: "simple: 3050 payload above 4096 bytes", path: "/v1/push/simple", body: with(simple, map[string]any{"content": strings.Repeat("é", 3000)}), want: schema.CodeMsgPayloadTooLong, status: 400},
		{scenario: "simple: 3035 21 extendedParams", path: "/v1/push/simple", body: with(simple, map[string]any{"extendedParams": params(21)}), want: schema.CodeExtendParamTooMuch, status: 400},
		{scenario: "simple: 3044 reserved extendedParams key", path: "/v1/push/simple", body: with(simple, map[string]any{"extendedParams": map[string]string{"taskId": "x"}}), want: schema.CodeInvalidExtendParam, status: 400},
		{scenario: "simple: 3028 another region", path: "/v1/push/simple", body: with(simple, map[string]any{"region": "eu"}), want: schema.CodeInvalidParam, status: 400},
		{scenario: "simple: 3028 type of another route", path: "/v1/push/simple", body: with(simple, map[string]any{"type": "TEMPLATE"}), want: schema.CodeInvalidParam, status: 400},
		{scenario: "simple: 3028 deliverType and deliveryType differ", path: "/v1/push/simple", body: with(simple, map[string]any{"deliveryType": 2}), want: schema.CodeInvalidParam, status: 400},
		{scenario: "simple: 3028 fixedTime in the past", path: "/v1/push/simple", body: with(simple, map[string]any{"strategyType": 1, "StrategyContent": map[string]any{"fixedTime": time.Now().Add(-time.Hour).UnixMilli()}}), want: schema.CodeInvalidParam, status: 400},
		{scenario: "simple: 3031 body not UTF-8", path: "/v1/push/simple", raw: []byte("{\"appId\":\"" + testApp + "\",\"title\":\"\xff\"}"), want: schema.CodeRequestShouldBeUTF8, status: 400},
		{scenario: "simple: 3028 body not JSON", path: "/v1/push/simple", raw: []byte(`{"appId":`), want: schema.CodeInvalidParam, status: 400},

		{scenario: "template: accepted", path: "/v1/push/template", body: template, want: schema.CodeSuccess},
		{scenario: "template: targetMsgkey as a JSON string", path: "/v1/push/template", body: with(template, map[string]any{"taskName": "str", "targetMsgkey": `{"d9":"m9"}`}), want: schema.CodeSuccess},
		{scenario: "template: 3022 unknown template", path: "/v1/push/template", body: with(template, map[string]any{"templateName": "nope"}), want: schema.CodeTemplateNotExist, status: 400},
		{scenario: "template: 3023 placeholder without value", path: "/v1/push/template", body: with(template, map[string]any{"templateKeyValue": map[string]string{"name": "Ann"}}), want: schema.CodeTemplateKVNotEnough, status: 400},
		{scenario: "template: 3025 no templateName", path: "/v1/push/template", body: with(template, map[string]any{"templateName": nil}), want: schema.CodeNeedTemplate, status: 400},

		{scenario: "multiple: accepted", path: "/v1/push/multiple", body: multiple, want: schema.CodeSuccess},
		{scenario: "multiple: 3055 101 targets", path: "/v1/push/multiple", body: with(multiple, map[string]any{"targetMsgs": targetMsgs(101)}), want: schema.CodeMultipleTargetTooMuch, status: 400},
		{scenario: "multiple: 3049 eleven extendedParams of a target", path: "/v1/push/multiple", body: with(multiple, map[string]any{"targetMsgs": inner}), want: schema.CodeMultipleInnerExtendTooMuch, status: 400},
		{scenario: "multiple: 3023 a target without its value", path: "/v1/push/multiple", body: with(multiple, map[string]any{"targetMsgs": noName}), want: schema.CodeTemplateKVNotEnough, status: 400},
		{scenario: "multiple: 3021 no targets", path: "/v1/push/multiple", body: with(multiple, map[string]any{"targetMsgs": []any{}}), want: schema.CodeTokenOrUserIDNull, status: 400},
		{scenario: "multiple: 3028 repeated msgKey", path: "/v1/push/multiple", body: with(multiple, map[string]any{"targetMsgs": repeated}), want: schema.CodeInvalidParam, status: 400},

		{scenario: "broadcast: accepted", path: "/v1/push/broadcast", body: broadcast, want: schema.CodeSuccess},
		{scenario: "broadcast: 3030 to users", path: "/v1/push/broadcast", body: with(broadcast, map[string]any{"deliverType": 3}), want: schema.CodeBroadcastOnlyByDevice, status: 400},
		{scenario: "broadcast: 3051 all users without unBindPeriod", path: "/v1/push/broadcast", body: with(broadcast, map[string]any{"pushStatus": 1}), want: schema.CodeBroadcastNeedUnbindPeriod, status: 400},
		{scenario: "broadcast: 3052 unBindPeriod 9", path: "/v1/push/broadcast", body: with(broadcast, map[string]any{"pushStatus": 2, "unBindPeriod": 9}), want: schema.CodeBroadcastUnbindPeriodInvalid, status: 400},
		{scenario: "broadcast: 3053 all users on the self-built channel", path: "/v1/push/broadcast", body: with(broadcast, map[string]any{"pushStatus": 1, "unBindPeriod": 4, "androidChannel": 1}), want: schema.CodeBroadcastNoSelfChannel, status: 400},
		{scenario: "broadcast: 3057 androidChannel 3", path: "/v1/push/broadcast", body: with(broadcast, map[string]any{"androidChannel": 3}), want: schema.CodeAndroidChannelInvalid, status: 400},
		{scenario: "broadcast: 8018 time range without times", path: "/v1/push/broadcast", body: with(broadcast, map[string]any{"timeMode": 1}), want: schema.CodeBroadcastTimeRangeInvalid, status: 400},
		{scenario: "broadcast: accepted with tags", path: "/v1/push/broadcast", body: with(broadcast, map[string]any{"taskName": "tagged", "tags": []string{"vip", "gold"}}), want: schema.CodeSuccess},
		{scenario: "broadcast: 3028 tags to unbound users", path: "/v1/push/broadcast", body: with(broadcast, map[string]any{"tags": []string{"vip"}, "pushStatus": 2, "unBindPeriod": 1}), want: schema.CodeInvalidParam, status: 400},
		{scenario: "broadcast: 3028 an empty tags list", path: "/v1/push/broadcast", body: with(broadcast, map[string]any{"tags": []string{}}), want: schema.CodeInvalidParam, status: 400},
		{scenario: "simple: 3028 tags", path: "/v1/push/simple", body: with(simple, map[string]any{"tags": []string{"vip"}}), want: schema.CodeInvalidParam, status: 400},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var body any = tc.body
			if tc.raw != nil {
				body = tc.raw
			}
			resp, err := e.call(tc.path, body)
			if tc.want != schema.CodeSuccess {
				refused(t, err, tc.status, tc.want)
				if resp.PushResult == nil || resp.PushResult.Success || resp.PushResult.ResultMsg == "" {
					t.Errorf("PushResult = %+v, want Success false with the reason", resp.PushResult)
				}
				if got := e.records(pipeline.RequestsTopic("sg")); len(got) != 0 {
					t.Errorf("a refused request wrote %d record(s)", len(got))
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if resp.ResultCode != ResultOK || resp.Code != 100 || resp.PushResult == nil || !resp.PushResult.Success || resp.RequestID == "" {
				t.Fatalf("answer %+v", resp)
			}
			m := e.only(pipeline.RequestsTopic("sg"))
			req, err := schema.DecodeRequest(m.Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(m.Key) != req.AppID+"/"+req.TaskID || req.Region != "sg" || req.AcceptedAt == 0 || req.Type == "" {
				t.Errorf("published key %s: %s", m.Key, m.Value)
			}
			want := req.TaskID
			if req.IsScheduled() {
				want = schema.NewScheduleID(req)
			}
			if resp.PushResult.Data != want {
				t.Errorf("Data = %q, want %q", resp.PushResult.Data, want)
			}
		})
	}
	if n := e.requests("/v1/push/simple", "3019"); n != 1 {
		t.Errorf("pushpipe_gateway_requests_total{route=/v1/push/simple,code=3019} = %v, want 1", n)
	}
}

// signed returns path with the signature query of body by key at ts;
// adjust may change the signed parameters afterwards (a forged request).
func signed(path string, key AccessKey, body []byte, ts time.Time, adjust ...func(url.Values)) string {
	q, _ := url.ParseQuery(JSONRouteQuery(path, key, body, ts))
	for _, a := range adjust {
		a(q)
	}
	return path + "?" + q.Encode()
}

// set returns an adjustment setting k to v in the query ("" removes k).
func set(k, v string) func(url.Values) {
	return func(q url.Values) {
		if v == "" {
			q.Del(k)
			return
		}
		q.Set(k, v)
	}
}

// TestAuthentication sends a harmless query with every way a signature
// can be wrong: the /v1 routes take the AccessKey signature of the RPC API
// over their query and the body's digest.
func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	const path = "/v1/templates/list"
	body, _ := json.Marshal(app(nil))
	otherBody, _ := json.Marshal(map[string]any{"appId": testApp, "workspaceId": testSpace, "region": "sg"})
	now := time.Now()
	wrongSecret := AccessKey{ID: testKey(0).ID, Secret: "not-the-secret-of-this-key-000"}
	replayed := signed(path, testKey(0), body, now)
	for _, tc := range []struct {
		scenario string
		path     string
		body     []byte
		status   int
		want     schema.ResultCode
	}{
		{scenario: "signed", path: signed(path, testKey(0), body, now), body: body, status: 200, want: schema.CodeSuccess},
		{scenario: "signed, sent the first time", path: replayed, body: body, status: 200, want: schema.CodeSuccess},
		{scenario: "the same request sent again (replay)", path: replayed, body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "not signed", path: path, body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "no Signature", path: signed(path, testKey(0), body, now, set(ParamSignature, "")), body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "no SignatureNonce", path: signed(path, testKey(0), body, now, set(ParamSignatureNonce, "")), body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "AccessKeyId not configured", path: signed(path, AccessKey{ID: "PPAKunknown", Secret: testKey(0).Secret}, body, now), body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "wrong secret", path: signed(path, wrongSecret, body, now), body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "timestamp not ISO 8601", path: signed(path, testKey(0), body, now, set(ParamTimestamp, "yesterday")), body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "timestamp six minutes old", path: signed(path, testKey(0), body, now.Add(-6*time.Minute)), body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "timestamp six minutes ahead", path: signed(path, testKey(0), body, now.Add(6*time.Minute)), body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "garbled signature", path: signed(path, testKey(0), body, now, set(ParamSignature, "@@not-a-signature@@")), body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "unsupported signature method", path: signed(path, testKey(0), body, now, set(ParamSignatureMethod, "HMAC-SHA256")), body: body, status: 401, want: schema.CodeUnknownRestSignType},
		{scenario: "unsupported signature version", path: signed(path, testKey(0), body, now, set(ParamSignatureVersion, "2.0")), body: body, status: 401, want: schema.CodeUnknownRestSignType},
		{scenario: "signed for another route", path: path + "?" + JSONRouteQuery("/v1/templates/delete", testKey(0), body, now), body: body, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "body changed after signing", path: signed(path, testKey(0), body, now), body: otherBody, status: 401, want: schema.CodeSignatureMismatch},
		{scenario: "another query parameter", path: signed(path, testKey(0), body, now, set("AppId", testApp)), body: body, status: 400, want: schema.CodeInvalidParam},
		{scenario: "body names an app the key may not act on", path: signed(path, testKey(1), body, now), body: body, status: 403, want: schema.CodeAccountNoPermission},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			status, resp := e.raw(http.MethodPost, tc.path, tc.body, nil)
			if status != tc.status || resp.Code != int(tc.want) {
				t.Fatalf("HTTP %d %+v; want HTTP %d code %d", status, resp, tc.status, tc.want)
			}
			if tc.want == schema.CodeSuccess {
				if resp.ResultCode != ResultOK || resp.ResultContent == nil {
					t.Fatalf("answer %+v", resp)
				}
				return
			}
			if resp.ResultCode != tc.want.Name() || resp.ResultMessage == "" || resp.ResultContent != nil {
				t.Fatalf("answer %+v, want %s with a message and no content", resp, tc.want.Name())
			}
		})
	}
	wrongSpace, _ := json.Marshal(map[string]any{"appId": testApp, "workspaceId": "prod"})
	if status, resp := e.raw(http.MethodPost, signed(path, testKey(0), wrongSpace, now), wrongSpace, nil); status != 403 || resp.Code != int(schema.CodeAccountNoPermission) {
		t.Errorf("workspace not the app's: HTTP %d %+v, want 403 8014", status, resp)
	}
	if n := e.requests(path, "-1"); n != 12 {
		t.Errorf("pushpipe_gateway_requests_total{code=-1} = %v, want 12", n)
	}
}

// TestHTTPAnswers covers what is answered before or around a route:
// methods, unknown routes, body size, the document, metrics, and Kafka
// not acknowledging.
func TestHTTPAnswers(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxBodyBytes = 4096 })
	for _, tc := range []struct {
		scenario string
		method   string
		path     string
		body     []byte
		status   int
		want     schema.ResultCode
	}{
		{scenario: "GET on a POST route", method: http.MethodGet, path: "/v1/push/simple", status: 405, want: schema.CodeInvalidParam},
		{scenario: "unknown route", method: http.MethodPost, path: "/v1/push/nothing", status: 404, want: schema.CodeInvalidParam},
		{scenario: "body above MaxBodyBytes", method: http.MethodPost, path: "/v1/push/simple", body: make([]byte, 5000), status: 413, want: schema.CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			status, resp := e.raw(tc.method, tc.path, tc.body, nil)
			if status != tc.status || resp.Code != int(tc.want) || resp.RequestID == "" {
				t.Fatalf("HTTP %d %+v, want %d code %d", status, resp, tc.status, tc.want)
			}
		})
	}
	t.Run("the OpenAPI document", func(t *testing.T) {
		res, err := http.Get(e.srv.URL() + "/openapi.yaml")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = res.Body.Close() }()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		if res.StatusCode != 200 || !strings.Contains(string(b), "openapi: 3.") {
			t.Fatalf("HTTP %d, body does not contain the document:\n%.2000s", res.StatusCode, b)
		}
	})
	// Health, readiness, metrics and profiles are the internal address's
	// (a pipeline.HealthServer of the process): the public port answers
	// 404 in the mPaaS shape, and nothing of the process shows.
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/"} {
		t.Run("GET "+path+" is 404 on the public port", func(t *testing.T) {
			status, resp := e.raw(http.MethodGet, path, nil, nil)
			if status != http.StatusNotFound || resp.Code != int(schema.CodeInvalidParam) || strings.Contains(resp.ResultMessage, "pushpipe_") {
				t.Fatalf("HTTP %d %+v, want 404 3028", status, resp)
			}
		})
	}
	t.Run("readiness and metrics for the internal address", func(t *testing.T) {
		if err := e.srv.Ready(context.Background()); err != nil {
			t.Fatalf("Ready with ClickHouse up: %v", err)
		}
		// The bodies above and the 404s, counted on the registry the
		// internal address exports.
		if n := e.requests("/v1/push/simple", "3028"); n != 2 {
			t.Fatalf("requests_total{/v1/push/simple,3028} = %v, want 2", n)
		}
	})

	t.Run("Kafka not acknowledging is 503 and may be retried", func(t *testing.T) {
		down := newEnv(t, func(c *Config) {
			p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: c.Brokers})
			if err != nil {
				t.Fatal(err)
			}
			_ = p.Close()
			c.Producer = p
		})
		resp, err := down.call("/v1/push/simple", app(map[string]any{"taskName": "gw", "deliverType": 1, "targetMsgkey": targets(1),
			"title": "T", "content": "C", "expiredSeconds": 300}))
		refused(t, err, 503, schema.CodeSystemError)
		if resp.PushResult.Success {
			t.Fatalf("PushResult %+v, want Success false", resp.PushResult)
		}
	})
}

// TestClosedPushAPI: an app whose operator closed its push API
// (App.PushClosed) gets 3032 REST_API_SWITCH_NOT_OPEN on pushes and
// revokes, and nothing is published; its queries still answer.
func TestClosedPushAPI(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Apps[0].PushClosed = true })
	simple := app(map[string]any{"taskName": "closed", "deliverType": 1, "targetMsgkey": targets(1),
		"title": "T", "content": "C", "expiredSeconds": 300})
	for _, tc := range []struct {
		path string
		body map[string]any
	}{
		{"/v1/push/simple", simple},
		{"/v1/push/revoke/task", app(map[string]any{"taskId": "t1"})},
		{"/v1/push/revoke/message", app(map[string]any{"messageId": "m1"})},
	} {
		e.expect(t, tc.path, tc.body, http.StatusForbidden, schema.CodeRestAPISwitchNotOpen)
	}
	var list []schema.Template
	if err := e.client.Query(context.Background(), "/v1/templates/list", app(nil), &list); err != nil {
		t.Fatalf("a query of the closed app: %v", err)
	}
	if n := e.requests("/v1/push/simple", "3032"); n != 1 {
		t.Errorf("%v pushes counted as refused with 3032, want 1", n)
	}
}

// TestPushAwaitingApproval checks what the gateway adds for an app whose
// pushes need a second operator's approval: the answer is SUCCESS with a
// message saying the push waits (fanout holds it), the record carries the
// submitting AccessKey, and a push the policy does not hold says nothing.
func TestPushAwaitingApproval(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Apps[0].Approval = schema.ApprovalPolicy{MaxTargets: 2, Expiry: time.Hour} })
	small := app(map[string]any{"taskName": "small", "taskId": "t-small", "deliverType": 1, "targetMsgkey": targets(2),
		"title": "T", "content": "C", "expiredSeconds": 300})
	large := with(small, map[string]any{"taskName": "large", "taskId": "t-large", "targetMsgkey": targets(3)})
	for _, tc := range []struct {
		name     string
		body     map[string]any
		wantNote string
	}{
		{"within the policy", small, ""},
		{"above maxTargets", large, "awaiting a second operator's approval (the push names 3 targets, more than the app's 2 (apps[].approval.maxTargets)); it expires unless approved within 1h0m0s of its arrival"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.expect(t, "/v1/push/simple", tc.body, 0, 0)
			want := "SUCCESS"
			if tc.wantNote != "" {
				want += ": " + tc.wantNote
			}
			if resp.ResultMessage != want {
				t.Errorf("ResultMessage %q, want %q", resp.ResultMessage, want)
			}
			rec := e.only(pipeline.RequestsTopic("sg"))
			var submitter string
			for _, h := range rec.Headers {
				if h.Key == schema.SubmitterHeader {
					submitter = string(h.Value)
				}
			}
			if want := SubmitterAccessKey + testKey(0).ID; submitter != want {
				t.Errorf("submitter header %q, want %q", submitter, want)
			}
		})
	}
}
