package schema

import (
	"bytes"
	"testing"
)

// appendEventCases are events whose AppendEvent record must equal
// EncodeRecordOf's byte for byte.
var appendEventCases = []struct {
	scenario string
	e        Event
}{
	{"zero event", Event{}},
	{"sender's acked event", Event{EventID: "0123456789abcdef0123456789abcdef", TS: 1765000000000, Region: "sg", AppID: "A",
		TaskID: "t", MsgID: "m", PushType: PushBroadcast, Target: "dev", DeviceID: "dev", Platform: "android", Channel: "apns",
		Event: EventAcked, StatusCode: 2, StatusDesc: "Acked", Attempt: 1, LatencyMs: 12, DeliveryID: "d1", VendorMsgID: "v1"}},
	{"every field", Event{EventID: "e1", TS: 5, Region: "sg", AppID: "A", WorkspaceID: "w", TaskID: "t", MsgID: "m",
		PushType: PushSimple, Target: "dev", DeviceID: "dev", Platform: "ios", Channel: "fcm", Event: EventFailed,
		StatusCode: 3002, StatusDesc: "x", Attempt: 3, LatencyMs: -4, AppVersion: "3.1.0", Model: "X", DeliveryID: "d",
		VendorMsgID: "v", Template: "tpl", TaskName: "n", Token: "tok", CallbackURL: "https://x.example/cb?a=1&b=<2>",
		NotifyID: "7", ReceiptAppID: "R"}},
	{"negative numbers", Event{TS: -1, StatusCode: -9223372036854775808, Attempt: -1, LatencyMs: 9223372036854775807}},
	{"escapes", Event{EventID: "e\"1\\/", StatusDesc: "é😀\n\t\x00\u2028\u2029<>&", Model: "\x7f", Token: "\x1f"}},
	{"invalid UTF-8", Event{EventID: "e\xff1", StatusDesc: "\xc3\x28", Target: "\xed\xa0\x80"}},
}

// TestAppendEventAsEncodeRecord checks that AppendEvent appends what
// EncodeRecordOf encodes, after what dst already holds.
func TestAppendEventAsEncodeRecord(t *testing.T) {
	for _, tc := range appendEventCases {
		t.Run(tc.scenario, func(t *testing.T) {
			want, err := EncodeRecordOf(tc.e)
			if err != nil {
				t.Fatal(err)
			}
			got := AppendEvent([]byte("key"), &tc.e)
			if !bytes.Equal(got, append([]byte("key"), want...)) {
				t.Fatalf("AppendEvent gave\n%s\nEncodeRecordOf\n%s", got, want)
			}
		})
	}
}

// FuzzAppendEvent checks AppendEvent against EncodeRecordOf on arbitrary
// strings and numbers.
func FuzzAppendEvent(f *testing.F) {
	for _, tc := range appendEventCases {
		f.Add(tc.e.EventID, tc.e.StatusDesc, tc.e.Target, tc.e.TS, int64(tc.e.Attempt))
	}
	f.Fuzz(func(t *testing.T, id, desc, target string, ts, attempt int64) {
		e := Event{EventID: id, TS: ts, Region: target, AppID: desc, StatusDesc: desc, Target: target, Attempt: int(attempt),
			LatencyMs: attempt, Token: id, Event: EventType(desc)}
		want, err := EncodeRecordOf(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendEvent(nil, &e); !bytes.Equal(got, want) {
			t.Fatalf("AppendEvent gave\n%q\nEncodeRecordOf\n%q", got, want)
		}
	})
}

// BenchmarkEncodeEvent encodes a sender's acked event with EncodeRecordOf
// and with AppendEvent into a reused buffer.
func BenchmarkEncodeEvent(b *testing.B) {
	e := appendEventCases[1].e
	b.Run("EncodeRecordOf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := EncodeRecordOf(e); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendEvent", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		for b.Loop() {
			buf = AppendEvent(buf[:0], &e)
		}
	})
}
