package schema

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func validSimple() *Request {
	return &Request{
		Type: PushSimple, Region: "sg", AppID: "ONEX570DA89211721", WorkspaceID: "test",
		TaskName: "simpleTest", DeliverType: DeliverAndroid,
		TargetMsgkey: StringMap{"dev-1": "k1"}, Title: "Hello", Content: "World",
		ExpiredSeconds: 300,
	}
}

func TestRequestJSONRoundTrip(t *testing.T) {
	seven := 1
	in := Request{
		Type: PushSimple, Region: "eu", AppID: "app", WorkspaceID: "ws", TaskID: "t1",
		TaskName: "n", DeliverType: 2, TargetMsgkey: StringMap{"d1": "m1", "d2": "m2"},
		TargetMsgs: []TargetMsg{{Target: "x", MsgKey: "y", TemplateKeyValue: StringMap{"a": "b"}}},
		Title:      "t", Content: "c", TemplateName: "tpl", TemplateKeyValue: StringMap{"name": "v"},
		ExpiredSeconds: 60, PushStyle: 1, PushAction: 1, URI: "app://x", Silent: 1, NotifyType: "notify",
		ExtendedParams: StringMap{"k": "v"}, ImageURLs: StringMap{"defaultUrl": "u"}, IconURLs: StringMap{"hmsUrl": "i"},
		StrategyType: 2, StrategyContent: &StrategyContent{StartTime: 1, EndTime: 2, CircleType: 2, CircleValue: []int{1, 3}, Time: "09:45:11"},
		Classification: "1", ThirdChannelCategory: StringMap{"hms": "9"}, NotifyLevel: StringMap{"oppo": "2"},
		MiChannelID: "123", SmsStrategy: 1, SmsSignName: "s", SmsTemplateCode: "c", SmsTemplateParam: `{"a":1}`,
		PushStatus: &seven, BindPeriod: 7, UnBindPeriod: 3, AndroidChannel: 1, Tags: []string{"vip"},
		CallbackURL: "http://cb", AcceptedAt: 1700000000000, ScheduleID: "s1",
		ActivityEvent: "end", ActivityContentState: JSONObject(`{"eta":15}`), DismissalDate: 1700000600,
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeRequest(b)
	if err != nil {
		t.Fatalf("decoding %s: %v", b, err)
	}
	if !reflect.DeepEqual(&in, out) {
		t.Fatalf("round trip changed the request:\n in: %+v\nout: %+v", in, *out)
	}
}

func TestDeliveryAndEventJSONRoundTrip(t *testing.T) {
	d := Delivery{DeliveryID: "d", MsgID: "m", TaskID: "t", AppID: "a", Region: "sg", PushType: PushSimple,
		Target: "dev", DeviceID: "dev", Platform: PlatformAndroid, Channel: "mipush", Token: "tok",
		Title: "ti", Body: "bo", Payload: `{"x":1}`, Extras: map[string]string{"k": "v"}, ExpireAt: 5, Attempt: 2,
		NotBefore: 3, AcceptedAt: 1, FannedOutAt: 2, CallbackURL: "cb", AppVersion: "1.0", Model: "M"}
	var d2 Delivery
	b, _ := json.Marshal(d)
	if err := json.Unmarshal(b, &d2); err != nil || !reflect.DeepEqual(d, d2) {
		t.Fatalf("delivery round trip: %v\n%+v\n%+v", err, d, d2)
	}
	e := d.EventFor(EventAcked, 42)
	e.StatusCode, e.StatusDesc, e.LatencyMs = StatusAcked, "Acked", 7
	var e2 Event
	b, _ = json.Marshal(e)
	if err := json.Unmarshal(b, &e2); err != nil || !reflect.DeepEqual(e, e2) {
		t.Fatalf("event round trip: %v\n%+v\n%+v", err, e, e2)
	}
}

func TestStringMapAcceptsObjectOrString(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		in       string
		want     StringMap
		wantErr  bool
	}{
		{"object", `{"a":"1","b":"2"}`, StringMap{"a": "1", "b": "2"}, false},
		{"mpaas string form", `"{\"user1024\":\"1578807462788\"}"`, StringMap{"user1024": "1578807462788"}, false},
		{"number values kept as text", `{"badge":3}`, StringMap{"badge": "3"}, false},
		{"null", `null`, nil, false},
		{"empty string", `""`, nil, false},
		{"array is refused", `["a"]`, nil, true},
		{"string holding garbage is refused", `"not json"`, nil, true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var m StringMap
			err := json.Unmarshal([]byte(tc.in), &m)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if !tc.wantErr && !reflect.DeepEqual(m, tc.want) {
				t.Fatalf("got %v, want %v", m, tc.want)
			}
		})
	}
}

func TestValidateSimple(t *testing.T) {
	many := StringMap{}
	for i := 0; i < 11; i++ {
		many[strings.Repeat("d", i+1)] = "k"
	}
	ext21 := StringMap{}
	for i := 0; i < 21; i++ {
		ext21[strings.Repeat("e", i+1)] = "v"
	}
	for _, tc := range []struct {
		scenario string
		mutate   func(r *Request)
		want     ResultCode // 0 = valid
	}{
		{"valid request", func(r *Request) {}, 0},
		{"user dimension is valid", func(r *Request) { r.DeliverType = DeliverUser }, 0},
		{"ten targets are allowed", func(r *Request) {
			r.TargetMsgkey = StringMap{}
			for i := 0; i < 10; i++ {
				r.TargetMsgkey[strings.Repeat("x", i+1)] = "k"
			}
		}, 0},
		{"missing appId", func(r *Request) { r.AppID = "" }, CodeNeedAppIDWorkspaceID},
		{"missing workspaceId", func(r *Request) { r.WorkspaceID = "" }, CodeNeedAppIDWorkspaceID},
		{"unknown region", func(r *Request) { r.Region = "us" }, CodeInvalidParam},
		{"missing taskName", func(r *Request) { r.TaskName = "" }, CodeTaskNameNull},
		{"zero expiredSeconds", func(r *Request) { r.ExpiredSeconds = 0 }, CodeExpiredSecondsWrong},
		{"negative expiredSeconds", func(r *Request) { r.ExpiredSeconds = -5 }, CodeExpiredSecondsWrong},
		{"validity over 14 days", func(r *Request) { r.ExpiredSeconds = MaxExpiredSeconds + 1 }, CodeExpiredTimeTooLong},
		{"no targets", func(r *Request) { r.TargetMsgkey = nil }, CodeTokenOrUserIDNull},
		{"empty target key", func(r *Request) { r.TargetMsgkey = StringMap{"": "k"} }, CodeTokenOrUserIDNull},
		{"eleven targets", func(r *Request) { r.TargetMsgkey = many }, CodeSinglePushTargetTooMuch},
		{"empty title", func(r *Request) { r.Title = "" }, CodePayloadNotEnough},
		{"empty content", func(r *Request) { r.Content = "" }, CodePayloadNotEnough},
		{"content too long", func(r *Request) { r.Content = strings.Repeat("长", MaxContentChars+1) }, CodeSinglePushContentTooLong},
		{"payload too large", func(r *Request) { r.Content = strings.Repeat("长", 1500) }, CodeMsgPayloadTooLong},
		{"21 extended params", func(r *Request) { r.ExtendedParams = ext21 }, CodeExtendParamTooMuch},
		{"reserved extended key", func(r *Request) { r.ExtendedParams = StringMap{"taskId": "x"} }, CodeInvalidExtendParam},
		{"unsupported deliverType", func(r *Request) { r.DeliverType = 9 }, CodeDeliveryTypeUnsupported},
		{"bad pushStyle", func(r *Request) { r.PushStyle = 5 }, CodeInvalidParam},
		{"unknown type", func(r *Request) { r.Type = "UNICAST" }, CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := validSimple()
			tc.mutate(r)
			wantCode(t, r.Validate(), tc.want)
		})
	}
}

// wantCode fails t unless err is nil (want 0) or a *ValidationError with
// code want.
func wantCode(t *testing.T, err error, want ResultCode) {
	t.Helper()
	if want == 0 {
		if err != nil {
			t.Fatalf("want valid, got %v", err)
		}
		return
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *ValidationError with code %d, got %v", want, err)
	}
	if ve.Code != want {
		t.Fatalf("code = %d (%v), want %d", ve.Code, err, want)
	}
}

func TestDecodeRequestRejectsBadBytes(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		in       []byte
		want     ResultCode
	}{
		{"not json", []byte("{oops"), CodeInvalidParam},
		{"not utf-8", []byte{'{', 0xff, '}'}, CodeRequestShouldBeUTF8},
		{"trailing data", []byte(`{"type":"SIMPLE"} {}`), CodeInvalidParam},
		{"wrong field type", []byte(`{"expiredSeconds":"soon"}`), CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := DecodeRequest(tc.in)
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Code != tc.want {
				t.Fatalf("got %v, want code %d", err, tc.want)
			}
		})
	}
}

func TestDerivedIDsAreDeterministic(t *testing.T) {
	a, b := validSimple(), validSimple()
	b.TargetMsgkey = StringMap{"dev-1": "k1"}
	if a.DeriveTaskID() != b.DeriveTaskID() {
		t.Fatal("same request gave two task ids")
	}
	b.TargetMsgkey = StringMap{"dev-1": "k2"}
	if a.DeriveTaskID() == b.DeriveTaskID() {
		t.Fatal("different msgKeys gave the same task id")
	}
	if NewEventID(EventSent, "ab", "c") == NewEventID(EventSent, "a", "bc") {
		t.Fatal("event id parts are not length-prefixed")
	}
}

func TestDecodeBinding(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		in       string
		want     ResultCode
		message  string // part of the refusal's detail, if given
	}{
		{"report", `{"op":"report","appId":"a","deviceId":"d","platform":"android","vendor":"mipush","vendorToken":"t"}`, 0, ""},
		{"bind", `{"op":"bind","appId":"a","deviceId":"d","userId":"u"}`, 0, ""},
		{"no app", `{"op":"report","deviceId":"d"}`, CodeNeedAppIDWorkspaceID, ""},
		{"bad platform", `{"op":"report","appId":"a","deviceId":"d","platform":"symbian","vendorToken":"t"}`, CodeOSTypeNotSupported, ""},
		{"no token", `{"op":"report","appId":"a","deviceId":"d","platform":"ios"}`, CodeInvalidParam, ""},
		{"bind without user", `{"op":"bind","appId":"a","deviceId":"d"}`, CodeInvalidParam, ""},
		{"live activity token", `{"op":"activity_token","appId":"a","deviceId":"d","activityId":"order-42","activityToken":"la1"}`, 0, ""},
		{"live activity token without token", `{"op":"activity_token","appId":"a","deviceId":"d","activityId":"order-42"}`, CodeInvalidParam, "needs activityId and activityToken"},
		{"live activity token without activity", `{"op":"activity_token","appId":"a","deviceId":"d","activityToken":"la1"}`, CodeInvalidParam, "needs activityId and activityToken"},
		{"live activity token without device", `{"op":"activity_token","appId":"a","activityId":"order-42","activityToken":"la1"}`, CodeInvalidParam, "deviceId is empty"},
		{"live activity token removed", `{"op":"activity_token_remove","appId":"a","deviceId":"d","activityId":"order-42"}`, 0, ""},
		{"removal without activity", `{"op":"activity_token_remove","appId":"a","deviceId":"d"}`, CodeInvalidParam, "names no activityId"},
		{"removal naming a token", `{"op":"activity_token_remove","appId":"a","deviceId":"d","activityId":"order-42","activityToken":"la1"}`, CodeInvalidParam, "takes no activityToken"},
		{"activity on a report", `{"op":"report","appId":"a","deviceId":"d","platform":"ios","vendor":"apns","vendorToken":"t","activityId":"order-42"}`, CodeInvalidParam, "does not take activityId"},
		{"unknown op", `{"op":"erase","appId":"a","deviceId":"d"}`, CodeInvalidParam, ""},
		{"garbage", `nope`, CodeInvalidParam, ""},
		{"tag_add", `{"op":"tag_add","appId":"a","userId":"u","tags":["vip","gold"]}`, 0, ""},
		{"tag_remove", `{"op":"tag_remove","appId":"a","userId":"u","tags":["vip"]}`, 0, ""},
		{"tag_add without user", `{"op":"tag_add","appId":"a","tags":["vip"]}`, CodeNeedUserID, "needs a userId"},
		{"tag_add without tags", `{"op":"tag_add","appId":"a","userId":"u"}`, CodeInvalidParam, "tags is empty"},
		{"tag_remove of an empty tag", `{"op":"tag_remove","appId":"a","userId":"u","tags":[""]}`, CodeInvalidParam, "tags[0] is an empty tag"},
		{"tag_add repeating a tag", `{"op":"tag_add","appId":"a","userId":"u","tags":["vip","vip"]}`, CodeInvalidParam, "repeats tag"},
		{"tag_add of a 31-character tag", `{"op":"tag_add","appId":"a","userId":"u","tags":["` + strings.Repeat("x", 31) + `"]}`, CodeInvalidParam, "at most 30"},
		{"tags on a bind", `{"op":"bind","appId":"a","deviceId":"d","userId":"u","tags":["vip"]}`, CodeInvalidParam, "a bind record does not take tags"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := DecodeBinding([]byte(tc.in))
			if tc.want == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Code != tc.want || !strings.Contains(ve.Detail, tc.message) {
				t.Fatalf("got %v, want code %d saying %q", err, tc.want, tc.message)
			}
		})
	}
}
