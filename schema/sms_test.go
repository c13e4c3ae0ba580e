package schema

import (
	"errors"
	"strings"
	"testing"
)

func withSMS(r *Request, strategy int) {
	r.SmsStrategy, r.SmsSignName, r.SmsTemplateCode, r.SmsTemplateParam = strategy, "pushpipe", "SMS_216070269", `{"code":"123456"}`
}

// TestSMSFieldsAtAcceptance: smsStrategy 1 and 2 are accepted with the
// three SMS fields in Alibaba Cloud's formats, for targets that name one
// user; anything inconsistent is refused with 3028 and a message saying
// what to fix.
func TestSMSFieldsAtAcceptance(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		mut      func(r *Request)
		want     ResultCode // 0: valid
		says     string     // part of the refusal
	}{
		{"resend to a device", func(r *Request) { withSMS(r, SMSStrategyResend) }, 0, ""},
		{"concurrent to a user", func(r *Request) { withSMS(r, SMSStrategyConcurrent); r.DeliverType = DeliverUser }, 0, ""},
		{"alias target", func(r *Request) { withSMS(r, SMSStrategyResend); r.DeliverType = DeliverAlias }, 0, ""},
		{"Chinese sign name", func(r *Request) { withSMS(r, SMSStrategyResend); r.SmsSignName = "阿里云短信" }, 0, ""},
		{"numeric template value", func(r *Request) { withSMS(r, SMSStrategyResend); r.SmsTemplateParam = `{"code": 123456}` }, 0, ""},
		{"strategy 0 with the fields", func(r *Request) { withSMS(r, SMSStrategyNone) }, CodeInvalidParam, "only read with smsStrategy 1"},
		{"template code alone", func(r *Request) { r.SmsTemplateCode = "SMS_1" }, CodeInvalidParam, "only read with smsStrategy 1"},
		{"strategy 3", func(r *Request) { withSMS(r, 3) }, CodeInvalidParam, "is not 0 (none), 1"},
		{"strategy without fields", func(r *Request) { r.SmsStrategy = 1 }, CodeInvalidParam, "missing: smsSignName, smsTemplateCode, smsTemplateParam"},
		{"strategy without template param", func(r *Request) { withSMS(r, 2); r.SmsTemplateParam = "" }, CodeInvalidParam, "missing: smsTemplateParam"},
		{"sign name with a space", func(r *Request) { withSMS(r, 1); r.SmsSignName = "mPaaS test" }, CodeInvalidParam, "letters and digits only"},
		{"sign name of one character", func(r *Request) { withSMS(r, 1); r.SmsSignName = "a" }, CodeInvalidParam, "2 to 12"},
		{"sign name of 13 characters", func(r *Request) { withSMS(r, 1); r.SmsSignName = strings.Repeat("a", 13) }, CodeInvalidParam, "2 to 12"},
		{"digits-only sign name", func(r *Request) { withSMS(r, 1); r.SmsSignName = "12345" }, CodeInvalidParam, "digits only"},
		{"template code without SMS_", func(r *Request) { withSMS(r, 1); r.SmsTemplateCode = "216070269" }, CodeInvalidParam, "SMS_ followed by"},
		{"template code with letters", func(r *Request) { withSMS(r, 1); r.SmsTemplateCode = "SMS_12a" }, CodeInvalidParam, "SMS_ followed by"},
		{"template param not JSON", func(r *Request) { withSMS(r, 1); r.SmsTemplateParam = "code=1" }, CodeInvalidParam, "not a JSON object"},
		{"template param an array", func(r *Request) { withSMS(r, 1); r.SmsTemplateParam = `["1"]` }, CodeInvalidParam, "not a JSON object"},
		{"template param with trailing data", func(r *Request) { withSMS(r, 1); r.SmsTemplateParam = `{"a":"1"}{}` }, CodeInvalidParam, "not a JSON object"},
		{"template value an object", func(r *Request) { withSMS(r, 1); r.SmsTemplateParam = `{"a":{"b":"c"}}` }, CodeInvalidParam, "a string or a number"},
		{"template value null", func(r *Request) { withSMS(r, 1); r.SmsTemplateParam = `{"a":null}` }, CodeInvalidParam, "a string or a number"},
		{"template value of 36 characters", func(r *Request) { withSMS(r, 1); r.SmsTemplateParam = `{"a":"` + strings.Repeat("x", 36) + `"}` }, CodeInvalidParam, "at most 35"},
		{"template variable name with a dash", func(r *Request) { withSMS(r, 1); r.SmsTemplateParam = `{"a-b":"1"}` }, CodeInvalidParam, "letters, digits and underscores"},
		{"tag target", func(r *Request) { withSMS(r, 1); r.DeliverType = DeliverTag }, CodeInvalidParam, "not available for deliverType 12"},
		{"user account target", func(r *Request) { withSMS(r, 1); r.DeliverType = DeliverUserAccount }, CodeInvalidParam, "not available for deliverType 11"},
		{"Live Activity id target", func(r *Request) { withSMS(r, 1); r.DeliverType = DeliverActivityID }, CodeInvalidParam, "not available for deliverType 6"},
		{"broadcast", func(r *Request) {
			withSMS(r, 2)
			r.Type, r.DeliverType, r.TargetMsgkey, r.Title, r.Content, r.MsgKey, r.TemplateName = PushBroadcast, DeliverAndroid, nil, "", "", "b1", "promo"
		}, CodeInvalidParam, "not available for BROADCAST"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := validSimple()
			tc.mut(r)
			err := r.Validate()
			var ve *ValidationError
			switch {
			case tc.want == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != 0 && (!errors.As(err, &ve) || ve.Code != tc.want || !strings.Contains(ve.Detail, tc.says)):
				t.Fatalf("got %v, want code %d saying %q", err, tc.want, tc.says)
			}
		})
	}
}

func TestNormalizeSMSTemplateParam(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"code": 123456}`, `{"code":"123456"}`},
		{`{"name":"Ann","code":"0042"}`, `{"code":"0042","name":"Ann"}`},
		{`{"vip": true, "n": -1.5}`, `{"n":"-1.5","vip":"true"}`},
		{`{}`, `{}`},
	} {
		got, err := NormalizeSMSTemplateParam(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeSMSTemplateParam(%s) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" : refused
	}{
		{"13800138000", "+8613800138000"},
		{"19912345678", "+8619912345678"},
		{"+8613800138000", "+8613800138000"},
		{"+6591234567", "+6591234567"},
		{"+85261234567", "+85261234567"},
		{"+447911123456", "+447911123456"},
		{"12800138000", ""},       // mainland numbers start 13..19
		{"1380013800", ""},        // 10 digits
		{"+861012345678", ""},     // a Beijing landline
		{"+0591234567", ""},       // no country code starts with 0
		{"+6591", ""},             // too short
		{"+6591234567890123", ""}, // 16 digits
		{"+65 9123 4567", ""},     // spaces
		{"6591234567", ""},        // no +
		{"", ""},
	} {
		got, err := NormalizePhone(tc.in)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("NormalizePhone(%q) = %q, want a refusal", tc.in, got)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("NormalizePhone(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		var ve *ValidationError
		if err != nil && (!errors.As(err, &ve) || ve.Code != CodeInvalidParam) {
			t.Errorf("NormalizePhone(%q) error %v is not a 3028 ValidationError", tc.in, err)
		}
	}
}

// TestPhoneBindingRecords: set_phone and unset_phone are user records (no
// device needed, keyed by the user id) whose number is checked.
func TestPhoneBindingRecords(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		value    string
		want     ResultCode // 0: valid
		key      string
	}{
		{"set_phone", `{"op":"set_phone","appId":"a","userId":"u1","phone":"+6591234567"}`, 0, "u1"},
		{"set_phone of a device's user", `{"op":"set_phone","appId":"a","deviceId":"d1","userId":"u1","phone":"13800138000"}`, 0, "d1"},
		{"unset_phone", `{"op":"unset_phone","appId":"a","userId":"u1"}`, 0, "u1"},
		{"set_phone without userId", `{"op":"set_phone","appId":"a","phone":"+6591234567"}`, CodeNeedUserID, ""},
		{"set_phone with a bad number", `{"op":"set_phone","appId":"a","userId":"u1","phone":"555-1234"}`, CodeInvalidParam, ""},
		{"bind still needs a device", `{"op":"bind","appId":"a","userId":"u1"}`, CodeInvalidParam, ""},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			b, err := DecodeBinding([]byte(tc.value))
			var ve *ValidationError
			switch {
			case tc.want == 0 && (err != nil || b.Key() != tc.key):
				t.Fatalf("DecodeBinding = %+v, %v; want key %s", b, err, tc.key)
			case tc.want != 0 && (!errors.As(err, &ve) || ve.Code != tc.want):
				t.Fatalf("DecodeBinding = %v, want code %d", err, tc.want)
			}
		})
	}
}
