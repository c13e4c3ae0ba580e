package eventsink

import (
	"encoding/json"
	"testing"

	"github.com/pushpipe/pushpipe/schema"
)

// TestDecodeEventDecodesAsSchema decodes records the stages write and
// records that leave the fast path, and checks that each decodes to the
// event and error schema.DecodeEvent gives, and which ones the fast path
// takes.
func TestDecodeEventDecodesAsSchema(t *testing.T) {
	full := schema.Event{EventID: "e1", TS: 1765000000123, Region: "sg", AppID: "A", WorkspaceID: "w", TaskID: "t", MsgID: "m",
		PushType: schema.PushBroadcast, Target: "tg", DeviceID: "dev", Platform: "android", Channel: "mipush", Event: schema.EventFailed,
		StatusCode: -7, StatusDesc: "token dead", Attempt: 3, LatencyMs: 42, AppVersion: "3.1.0", Model: "Mi 14", DeliveryID: "d1",
		VendorMsgID: "v1", Template: "tpl", TaskName: "sale", Token: "tok", CallbackURL: "https://cb.example/x", NotifyID: "7", ReceiptAppID: "A"}
	encoded, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data string
		fast bool
	}{
		{"every field, as encoded", string(encoded), true},
		{"empty object", `{}`, true},
		{"whitespace around everything", " {\n\t\"eventId\" : \"e\" ,\r\n \"ts\":1 , \"statusCode\": -2 }\n", true},
		{"a key twice: the last wins", `{"eventId":"a","eventId":"b"}`, true},
		{"non-ASCII UTF-8 string", `{"model":"华为 Mate 60"}`, true},
		{"zero and minus zero", `{"ts":0,"latencyMs":-0}`, true},
		{"escaped string", `{"statusDesc":"said \"no\"\n"}`, false},
		{"unicode escape", `{"model":"\u534e"}`, false},
		{"invalid UTF-8", "{\"model\":\"\xff\xfe\"}", false},
		{"control character in a string", "{\"model\":\"a\x01b\"}", false},
		{"key in other case", `{"EventID":"e"}`, false},
		{"unknown key", `{"eventId":"e","extra":{"a":[1,2]}}`, false},
		{"null string", `{"eventId":null}`, false},
		{"null number", `{"ts":null}`, false},
		{"fraction", `{"ts":1.5}`, false},
		{"exponent", `{"ts":1e3}`, false},
		{"leading zero", `{"ts":01}`, false},
		{"19 digits", `{"ts":1234567890123456789}`, false},
		{"overflow", `{"ts":99999999999999999999}`, false},
		{"string for a number", `{"ts":"1"}`, false},
		{"number for a string", `{"eventId":1}`, false},
		{"bool", `{"eventId":true}`, false},
		{"trailing data", `{"eventId":"e"} x`, false},
		{"two objects", `{}{}`, false},
		{"unterminated string", `{"eventId":"e`, false},
		{"missing colon", `{"eventId" "e"}`, false},
		{"trailing comma", `{"eventId":"e",}`, false},
		{"array", `[1]`, false},
		{"empty", ``, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want, got, probe schema.Event
			wantErr := schema.DecodeEvent([]byte(tc.data), &want)
			gotErr := decodeEvent([]byte(tc.data), &got)
			if (gotErr == nil) != (wantErr == nil) || (gotErr != nil && gotErr.Error() != wantErr.Error()) {
				t.Fatalf("error %v, want %v", gotErr, wantErr)
			}
			if got != want {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
			}
			if fast := decodeEventFast([]byte(tc.data), &probe); fast != tc.fast {
				t.Errorf("fast path taken: %v, want %v", fast, tc.fast)
			}
		})
	}
}
