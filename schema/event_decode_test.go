package schema

import (
	"encoding/json"
	"reflect"
	"testing"
)

// decodeEventCases are records of push.events.R, well-formed and not, on
// which DecodeEvent must agree with encoding/json.
var decodeEventCases = []struct{ scenario, record string }{
	{"every field", `{"eventId":"e1","ts":1765000000000,"region":"sg","appId":"A","workspaceId":"w","taskId":"t","msgId":"m",` +
		`"pushType":"BROADCAST","target":"dev","deviceId":"dev","platform":"android","channel":"mipush","event":"acked",` +
		`"statusCode":2,"statusDesc":"ok","attempt":3,"latencyMs":12,"appVersion":"3.1.0","model":"X","deliveryId":"d1",` +
		`"vendorMsgId":"v1","template":"tpl","taskName":"n","token":"tok","callbackUrl":"https://x.example/cb","notifyId":"7","receiptAppId":"R"}`},
	{"keys of another case", `{"EVENTID":"e1","Ts":5,"REGION":"sg","appid":"A","Event":"sent"}`},
	{"unknown fields", `{"eventId":"e1","ts":5,"region":"sg","event":"sent","extra":{"a":[1,2,{"b":null}]},"more":"x"}`},
	{"escapes", `{"eventId":"e\"1\\\/","ts":5,"region":"sg","event":"sent","statusDesc":"\u00e9\ud83d\ude00\n\t\u0000"}`},
	{"invalid UTF-8", "{\"eventId\":\"e\xff1\",\"ts\":5,\"region\":\"sg\",\"event\":\"sent\",\"statusDesc\":\"\xc3\x28\"}"},
	{"nulls", `{"eventId":null,"ts":null,"region":"sg","event":"sent","attempt":null}`},
	{"duplicate keys", `{"eventId":"a","eventId":"b","ts":5,"region":"sg","event":"sent"}`},
	{"whitespace", " \n{ \"eventId\" : \"e1\" ,\t\"ts\" : 5 }\r\n"},
	{"number as string", `{"eventId":"e1","ts":"5","region":"sg","event":"sent"}`},
	{"float timestamp", `{"eventId":"e1","ts":5.5,"region":"sg","event":"sent"}`},
	{"exponent timestamp", `{"eventId":"e1","ts":1e3,"region":"sg","event":"sent"}`},
	{"timestamp out of range", `{"eventId":"e1","ts":99999999999999999999,"region":"sg","event":"sent"}`},
	{"attempt negative", `{"eventId":"e1","ts":5,"region":"sg","event":"sent","attempt":-2}`},
	{"string as number", `{"eventId":5,"ts":5,"region":"sg","event":"sent"}`},
	{"array", `[1,2]`},
	{"not an object", `"event"`},
	{"empty", ``},
	{"truncated", `{"eventId":"e1","ts":5`},
	{"trailing garbage", `{"eventId":"e1","ts":5} x`},
	{"two objects", `{"eventId":"e1"}{"eventId":"e2"}`},
	{"bad literal", `{"eventId":tru,"ts":5}`},
	{"unterminated string", `{"eventId":"e1`},
	{"control character in string", "{\"eventId\":\"e\x011\"}"},
	{"null", `null`},
}

// TestDecodeEventAsEncodingJSON checks that DecodeEvent decodes every
// record as encoding/json does and fails exactly where it fails, leaving
// the same fields decoded (the sink rejects a record naming its app, task
// and msg ids when they could be read).
func TestDecodeEventAsEncodingJSON(t *testing.T) {
	for _, tc := range decodeEventCases {
		t.Run(tc.scenario, func(t *testing.T) {
			var want, got Event
			wantErr := json.Unmarshal([]byte(tc.record), &want)
			gotErr := DecodeEvent([]byte(tc.record), &got)
			if (wantErr == nil) != (gotErr == nil) {
				t.Fatalf("DecodeEvent error %v, encoding/json error %v", gotErr, wantErr)
			}
			if got != want {
				t.Fatalf("DecodeEvent gave\n%+v\nencoding/json\n%+v", got, want)
			}
		})
	}
}

// TestDecodeEventKeepsNoReference checks that the decoded strings are
// copies: changing the record afterwards changes no field.
func TestDecodeEventKeepsNoReference(t *testing.T) {
	rec := []byte(`{"eventId":"e1","ts":5,"region":"sg","event":"sent","msgId":"m1"}`)
	var e Event
	if err := DecodeEvent(rec, &e); err != nil {
		t.Fatal(err)
	}
	for i := range rec {
		rec[i] = 'x'
	}
	if e.EventID != "e1" || e.MsgID != "m1" || e.Region != "sg" || e.Event != EventSent {
		t.Fatalf("the event changed with its record: %+v", e)
	}
}

// TestDecodeEventLeavesEventOnSyntaxError checks that a record that is not
// JSON leaves the event as it was, as encoding/json does, even when it
// starts like an event.
func TestDecodeEventLeavesEventOnSyntaxError(t *testing.T) {
	before := Event{EventID: "kept", MsgID: "m0"}
	e := before
	if err := DecodeEvent([]byte(`{"eventId":"e1","msgId":"m1","ts":`), &e); err == nil {
		t.Fatal("a truncated record decoded")
	}
	if e != before {
		t.Fatalf("event %+v, want it left as %+v", e, before)
	}
}

// FuzzDecodeEvent checks on any record that DecodeEvent never panics and
// agrees with encoding/json: the same fields, failing exactly when it
// fails. The cases of TestDecodeEventAsEncodingJSON are its seeds.
func FuzzDecodeEvent(f *testing.F) {
	for _, tc := range decodeEventCases {
		f.Add([]byte(tc.record))
	}
	f.Fuzz(func(t *testing.T, record []byte) {
		var want, got Event
		wantErr := json.Unmarshal(record, &want)
		gotErr := DecodeEvent(record, &got)
		if (wantErr == nil) != (gotErr == nil) {
			t.Fatalf("record %q: DecodeEvent error %v, encoding/json error %v", record, gotErr, wantErr)
		}
		if got != want {
			t.Fatalf("record %q: DecodeEvent gave\n%+v\nencoding/json\n%+v", record, got, want)
		}
	})
}

// TestRecordsAsEncodingJSON: deliveries and events written with
// EncodeRecord are the bytes encoding/json writes, and DecodeDelivery
// reads back what encoding/json reads, on well-formed and broken records.
func TestRecordsAsEncodingJSON(t *testing.T) {
	d := Delivery{DeliveryID: "d0123456789abcdef01234567", MsgID: "m<1>&", TaskID: "t1", AppID: "a", Region: "sg", DeviceID: "dev",
		Title: "Héllo \u2028 <b>", Body: "line\nbreak \"quoted\" \\", Channel: "apns", Token: "tok", Attempt: 2,
		Extras: map[string]string{"z": "1", "a": "<&>"}, Payload: `{"k":"v"}`}
	e := d.EventFor(EventAcked, 1700000000000)
	e.StatusDesc = "Acked: <ok> & done"
	for _, v := range []any{d, e} {
		got, err := EncodeRecord(v)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(v)
		if string(got) != string(want) {
			t.Fatalf("EncodeRecord(%T):\n got %s\nwant %s", v, got, want)
		}
	}
	good, _ := json.Marshal(d)
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"well-formed", good},
		{"truncated", good[:len(good)/2]},
		{"wrong type", []byte(`{"deliveryId":"d1","attempt":"two","msgId":"m1"}`)},
		{"not JSON", []byte("nope")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got, want Delivery
			got.AppID, want.AppID = "before", "before"
			gotErr, wantErr := DecodeDelivery(tc.data, &got), json.Unmarshal(tc.data, &want)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("DecodeDelivery error %v, encoding/json error %v", gotErr, wantErr)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("DecodeDelivery = %+v\nencoding/json = %+v", got, want)
			}
		})
	}
}
