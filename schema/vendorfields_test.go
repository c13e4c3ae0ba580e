package schema

import (
	"errors"
	"strings"
	"testing"
)

// TestVendorFieldsAtAcceptance: every field that reaches a vendor is
// checked when the request is accepted, with the documented code, and a
// field the push type does not read is refused rather than ignored.
func TestVendorFieldsAtAcceptance(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		mut      func(r *Request)
		want     ResultCode // 0: valid
	}{
		{"vivo classification 0", func(r *Request) { r.Classification = "0" }, 0},
		{"classification 2", func(r *Request) { r.Classification = "2" }, CodeInvalidParam},
		{"every vendor category", func(r *Request) {
			r.ThirdChannelCategory = StringMap{"hms": "9", "HONOR": "2", "oppo": "NEWS", "vivo": "10"}
		}, 0},
		{"honor key in lower case", func(r *Request) { r.ThirdChannelCategory = StringMap{"honor": "1"} }, 0},
		{"hms category 15", func(r *Request) { r.ThirdChannelCategory = StringMap{"hms": "15"} }, CodeInvalidParam},
		{"honor category 3", func(r *Request) { r.ThirdChannelCategory = StringMap{"HONOR": "3"} }, CodeInvalidParam},
		{"unknown category key", func(r *Request) { r.ThirdChannelCategory = StringMap{"xiaomi": "1"} }, CodeInvalidParam},
		{"oppo level with category", func(r *Request) {
			r.NotifyLevel, r.ThirdChannelCategory = StringMap{"oppo": "16"}, StringMap{"oppo": "1"}
		}, 0},
		{"oppo level without category", func(r *Request) { r.NotifyLevel = StringMap{"oppo": "2"} }, CodeInvalidParam},
		{"hms level 3", func(r *Request) { r.NotifyLevel = StringMap{"hms": "3"} }, CodeInvalidParam},
		{"vivo has no level", func(r *Request) { r.NotifyLevel = StringMap{"vivo": "1"} }, CodeInvalidParam},
		{"notifyType sms", func(r *Request) { r.NotifyType = "sms" }, CodeInvalidParam},
		{"silent 2", func(r *Request) { r.Silent = 2 }, CodeInvalidParam},
		{"web click", func(r *Request) { r.URI = "https://shop.example/a" }, 0},
		{"intent click", func(r *Request) { r.PushAction, r.URI = 1, "intent://x#Intent;end" }, 0},
		{"web action with an intent", func(r *Request) { r.URI = "app://x" }, CodeInvalidParam},
		{"intent action with a web address", func(r *Request) { r.PushAction, r.URI = 1, "http://x.example" }, CodeInvalidParam},
		{"pushAction 2", func(r *Request) { r.PushAction = 2 }, CodeInvalidParam},
		{"image-text", func(r *Request) {
			r.PushStyle, r.ImageURLs = 2, StringMap{"defaultUrl": "https://i.example/a.png", "iosUrl": "https://i.example/b.png"}
		}, 0},
		{"image-text without pictures", func(r *Request) { r.PushStyle = 2 }, CodeInvalidParam},
		{"pictures without image-text", func(r *Request) { r.ImageURLs = StringMap{"defaultUrl": "https://i.example/a.png"} }, CodeInvalidParam},
		{"oppo picture", func(r *Request) { r.PushStyle, r.ImageURLs = 2, StringMap{"oppoUrl": "https://i.example/a.png"} }, CodeInvalidParam},
		{"http picture", func(r *Request) { r.PushStyle, r.ImageURLs = 2, StringMap{"defaultUrl": "http://i.example/a.png"} }, CodeInvalidParam},
		{"unknown picture key", func(r *Request) { r.PushStyle, r.ImageURLs = 2, StringMap{"vivoUrl": "https://i.example/a.png"} }, CodeInvalidParam},
		{"huawei icon", func(r *Request) { r.IconURLs = StringMap{"hmsUrl": "https://i.example/a.png"} }, 0},
		{"fcm icon", func(r *Request) { r.IconURLs = StringMap{"fcmUrl": "https://i.example/a.png"} }, CodeInvalidParam},
		{"badge", func(r *Request) { r.ExtendedParams = StringMap{"badge": "7"} }, 0},
		{"badge not a number", func(r *Request) { r.ExtendedParams = StringMap{"badge": "x"} }, CodeBadgeAddNumInvalid},
		{"badge_add_num with class", func(r *Request) { r.ExtendedParams = StringMap{"badge_add_num": "3", "badge_class": "a.B"} }, 0},
		{"badge_add_num 0", func(r *Request) { r.ExtendedParams = StringMap{"badge_add_num": "0", "badge_class": "a.B"} }, CodeBadgeAddNumInvalid},
		{"badge_add_num without class", func(r *Request) { r.ExtendedParams = StringMap{"badge_add_num": "3"} }, CodeBadgeAddNumNeedClass},
		{"big_text 2", func(r *Request) { r.ExtendedParams = StringMap{"big_text": "2"} }, CodeInvalidExtendParam},
		{"mutable-content 1", func(r *Request) { r.ExtendedParams = StringMap{"mutable-content": "1"} }, 0},
		{"empty sound", func(r *Request) { r.ExtendedParams = StringMap{"sound": " "} }, CodeInvalidExtendParam},
		{"channel id too long", func(r *Request) { r.ChannelID = string(make([]byte, 65)) }, CodeInvalidParam},
		{"sms strategy", func(r *Request) { r.SmsStrategy = 2 }, CodeInvalidParam},
		{"sms sign name alone", func(r *Request) { r.SmsSignName = "Shop" }, CodeInvalidParam},
		{"template on SIMPLE", func(r *Request) { r.TemplateName = "promo" }, CodeInvalidParam},
		{"broadcast filter on SIMPLE", func(r *Request) { r.BindPeriod = 1 }, CodeInvalidParam},
		{"strategy content on an immediate push", func(r *Request) { r.StrategyContent = &StrategyContent{FixedTime: 1} }, CodeInvalidParam},
		{"title on TEMPLATE", func(r *Request) { r.Type, r.TemplateName = PushTemplate, "promo" }, CodeInvalidParam},
		{"androidChannel on a targeted push", func(r *Request) { r.AndroidChannel = AndroidChannelSelf }, 0},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := validSimple()
			tc.mut(r)
			err := r.Validate()
			var ve *ValidationError
			switch {
			case tc.want == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != 0 && (!errors.As(err, &ve) || ve.Code != tc.want):
				t.Fatalf("got %v, want code %d", err, tc.want)
			}
		})
	}
}

// TestDecodeRefusesUnknownFields: a field pushpipe does not know is refused
// with 3028 naming it, in the request, a MULTIPLE target or the strategy;
// deliveryType is folded into deliverType.
func TestDecodeRefusesUnknownFields(t *testing.T) {
	for _, tc := range []struct {
		body, wantField string
	}{
		{`{"type":"SIMPLE","staleDate":1700000000}`, `"staleDate"`},
		{`{"type":"MULTIPLE","targetMsgs":[{"target":"a","msgKey":"m","title":"x"}]}`, `"targetMsgs.title"`},
		{`{"strategyType":1,"StrategyContent":"{\"fixedTime\":1,\"every\":2}"}`, `"StrategyContent.every"`},
	} {
		_, err := DecodeRequest([]byte(tc.body))
		var ve *ValidationError
		if !errors.As(err, &ve) || ve.Code != CodeInvalidParam || !strings.Contains(ve.Detail, tc.wantField) {
			t.Errorf("%s: got %v, want 3028 naming %s", tc.body, err, tc.wantField)
		}
	}
	r, err := DecodeRequest([]byte(`{"deliveryType":3,"DELIVERTYPE":3}`))
	if err != nil || r.DeliverType != 3 || r.DeliveryType != nil {
		t.Errorf("deliveryType alias: %+v, %v", r, err)
	}
	if _, err := DecodeRequest([]byte(`{"deliveryType":3,"deliverType":1}`)); err == nil {
		t.Error("differing deliveryType and deliverType accepted")
	}
}
