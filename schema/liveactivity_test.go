package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// liveUpdate is a valid SIMPLE Live Activity update by activity id,
// accepted at a fixed time.
func liveUpdate() *Request {
	return &Request{
		Type: PushSimple, Region: "sg", AppID: "ONEX570DA89211721", WorkspaceID: "test",
		TaskName: "delivery", DeliverType: DeliverActivityID, TargetMsgkey: StringMap{"order-42": "k1"},
		ActivityEvent: ActivityEventUpdate, ActivityContentState: JSONObject(`{"driverName":"Tim","eta":15}`),
		ExpiredSeconds: 300, AcceptedAt: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC).UnixMilli(),
	}
}

func TestValidateLiveActivity(t *testing.T) {
	accepted := time.UnixMilli(liveUpdate().AcceptedAt).Unix()
	end := func(r *Request) { r.ActivityEvent = ActivityEventEnd }
	for _, tc := range []struct {
		scenario string
		mutate   func(r *Request)
		want     ResultCode // 0 = valid
	}{
		{"update by activity id", func(r *Request) {}, 0},
		{"update by push token", func(r *Request) { r.DeliverType = DeliverActivityToken }, 0},
		{"end without dismissalDate", end, 0},
		{"end with a dismissalDate after acceptance", func(r *Request) { end(r); r.DismissalDate = accepted + 600 }, 0},
		{"update with an alert and its sound", func(r *Request) {
			r.Title, r.Content, r.ExtendedParams = "Order 42", "Tim is close", StringMap{ExtSound: "chime.aiff"}
		}, 0},
		{"an empty content state is an object", func(r *Request) { r.ActivityContentState = JSONObject(`{}`) }, 0},
		{"TEMPLATE reaches a Live Activity", func(r *Request) { r.Type, r.TemplateName = PushTemplate, "eta" }, 0},
		{"scheduled end dismissed after its fixed time", func(r *Request) {
			end(r)
			r.StrategyType = StrategyFixedTime
			r.StrategyContent = &StrategyContent{FixedTime: r.AcceptedAt + 3600_000}
			r.DismissalDate = accepted + 3700
		}, 0},

		{"activityEvent without deliverType 5 or 6", func(r *Request) { r.DeliverType = DeliverUser; r.Title, r.Content = "T", "C" }, CodeInvalidParam},
		{"content state without deliverType 5 or 6", func(r *Request) {
			r.DeliverType, r.ActivityEvent, r.Title, r.Content = DeliverIOS, "", "T", "C"
		}, CodeInvalidParam},
		{"dismissalDate without deliverType 5 or 6", func(r *Request) {
			*r = *validSimple()
			r.DismissalDate = accepted + 60
		}, CodeInvalidParam},
		{"MULTIPLE cannot reach a Live Activity", func(r *Request) {
			r.Type, r.TemplateName, r.TargetMsgkey = PushMultiple, "eta", nil
			r.TargetMsgs = []TargetMsg{{Target: "order-42", MsgKey: "k1"}}
		}, CodeDeliveryTypeUnsupported},
		{"BROADCAST cannot reach a Live Activity", func(r *Request) {
			r.Type, r.TemplateName, r.TargetMsgkey, r.MsgKey = PushBroadcast, "eta", nil, "b1"
		}, CodeDeliveryTypeUnsupported},
		{"no activityEvent", func(r *Request) { r.ActivityEvent = "" }, CodeInvalidParam},
		{"activityEvent start", func(r *Request) { r.ActivityEvent = "start" }, CodeInvalidParam},
		{"no content state", func(r *Request) { r.ActivityContentState = nil }, CodeInvalidParam},
		{"dismissalDate with update", func(r *Request) { r.DismissalDate = accepted + 600 }, CodeInvalidParam},
		{"dismissalDate at acceptance dismisses at once", func(r *Request) { end(r); r.DismissalDate = accepted }, 0},
		{"dismissalDate in the past dismisses at once", func(r *Request) { end(r); r.DismissalDate = accepted - 60 }, 0},
		{"negative dismissalDate", func(r *Request) { end(r); r.DismissalDate = -1 }, CodeInvalidParam},
		{"dismissalDate before the scheduled time", func(r *Request) {
			end(r)
			r.StrategyType = StrategyFixedTime
			r.StrategyContent = &StrategyContent{FixedTime: r.AcceptedAt + 3600_000}
			r.DismissalDate = accepted + 60
		}, CodeInvalidParam},
		{"loop push", func(r *Request) {
			r.StrategyType = StrategyLoop
			r.StrategyContent = &StrategyContent{StartTime: r.AcceptedAt, EndTime: r.AcceptedAt + 86400_000, CircleType: 1, Time: "13:00:00"}
		}, CodeInvalidParam},
		{"title without content", func(r *Request) { r.Title = "Order 42" }, CodePayloadNotEnough},
		{"content without title", func(r *Request) { r.Content = "Tim is close" }, CodePayloadNotEnough},
		{"content state over 4 KB", func(r *Request) {
			r.ActivityContentState = JSONObject(`{"note":"` + strings.Repeat("x", MaxPayloadBytes) + `"}`)
		}, CodeMsgPayloadTooLong},
		{"silent", func(r *Request) { r.Silent = 1 }, CodeInvalidParam},
		{"pushStyle", func(r *Request) { r.PushStyle = 1 }, CodeInvalidParam},
		{"uri", func(r *Request) { r.URI = "https://shop.example/o/42" }, CodeInvalidParam},
		{"pushAction", func(r *Request) { r.PushAction = PushActionIntent }, CodeInvalidParam},
		{"image", func(r *Request) { r.PushStyle, r.ImageURLs = 0, StringMap{URLKeyIOS: "https://img.example/i.png"} }, CodeInvalidParam},
		{"icon", func(r *Request) { r.IconURLs = StringMap{URLKeyDefault: "https://img.example/i.png"} }, CodeInvalidParam},
		{"self-built channel", func(r *Request) { r.NotifyType = "transparent" }, CodeInvalidParam},
		{"vivo classification", func(r *Request) { r.Classification = "1" }, CodeInvalidParam},
		{"vendor category", func(r *Request) { r.ThirdChannelCategory = StringMap{VendorKeyHMS: "1"} }, CodeInvalidParam},
		{"notify level", func(r *Request) { r.NotifyLevel = StringMap{VendorKeyHMS: "1"} }, CodeInvalidParam},
		{"MiPush channel", func(r *Request) { r.MiChannelID = "mi" }, CodeInvalidParam},
		{"Android channel", func(r *Request) { r.ChannelID = "orders" }, CodeInvalidParam},
		{"extended parameters other than sound", func(r *Request) { r.ExtendedParams = StringMap{"orderId": "42"} }, CodeInvalidExtendParam},
		{"sound without an alert", func(r *Request) { r.ExtendedParams = StringMap{ExtSound: "chime.aiff"} }, CodeInvalidExtendParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := liveUpdate()
			tc.mutate(r)
			wantCode(t, r.Validate(), tc.want)
		})
	}
}

func TestJSONObjectDecoding(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		in       string
		want     string // compact object; "" = empty
		wantErr  bool
	}{
		{"object, compacted", `{ "driverName" : "Tim", "eta": [1, 2] }`, `{"driverName":"Tim","eta":[1,2]}`, false},
		{"mpaas string form", `"{\"eta\":15}"`, `{"eta":15}`, false},
		{"null", `null`, "", false},
		{"empty string", `""`, "", false},
		{"array", `[1]`, "", true},
		{"number", `15`, "", true},
		{"string that is not an object", `"eta"`, "", true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var o JSONObject
			err := json.Unmarshal([]byte(tc.in), &o)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tc.wantErr)
			}
			if string(o) != tc.want {
				t.Fatalf("got %s, want %s", o, tc.want)
			}
		})
	}
	// Through DecodeRequest, a content state that is not an object is a
	// bad request (3028) and an object survives a round trip unchanged.
	if _, err := DecodeRequest([]byte(`{"activityContentState":[1]}`)); !hasCode(err, CodeInvalidParam) || !strings.Contains(err.Error(), "activityContentState") {
		t.Fatalf("array content state: %v, want 3028 naming activityContentState", err)
	}
	b, _ := json.Marshal(liveUpdate())
	r, err := DecodeRequest(b)
	if err != nil || string(r.ActivityContentState) != `{"driverName":"Tim","eta":15}` {
		t.Fatalf("round trip: %v, content state %s", err, r.ActivityContentState)
	}
}

func hasCode(err error, code ResultCode) bool {
	var ve *ValidationError
	return errors.As(err, &ve) && ve.Code == code
}

func TestValidateTemplateURI(t *testing.T) {
	live := liveUpdate()
	live.Type, live.TemplateName = PushTemplate, "eta"
	notification := validSimple()
	for _, tc := range []struct {
		scenario string
		req      *Request
		uri      string
		want     ResultCode
	}{
		{"a notification's web address", notification, "https://shop.example/o/42", 0},
		{"a notification's intent under pushAction 0", notification, "intent://orders/42#Intent;end", CodeInvalidParam},
		{"a Live Activity's template without uri", live, "", 0},
		{"a Live Activity's template with a uri", live, "https://shop.example/o/42", CodeInvalidParam},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			wantCode(t, tc.req.ValidateTemplateURI(tc.uri), tc.want)
		})
	}
}
