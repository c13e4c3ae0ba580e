package schema

import (
	"strings"
	"testing"
)

// TestIDsAreStable pins derived ids to the values they had when they were
// first written: events and deliveries stored before an upgrade must keep
// deduplicating against those derived after it, so the derivation may be
// made cheaper but never different.
func TestIDsAreStable(t *testing.T) {
	k := testKey(t, strings.Repeat("s", MinIDSecretBytes))
	long := strings.Repeat("x", 300) // past any fixed scratch buffer
	for _, tc := range []struct {
		name, got, want string
	}{
		{"event id", NewEventID(EventPlanned, "task", "msg", "target", "dev"), "2541973ecfaa24964438fb628e6f9ff1"},
		{"event id without parts", NewEventID(EventAccepted), "496a611317e2feb5f5e8f3591ad1af5c"},
		{"event id of a long part", NewEventID(EventValid, long, "", "1"), "fd0f86f741c54ac1605d7a35a27e68c7"},
		{"short hash", ShortHash("a", "bc"), "5310a58788781ab25d5ad7c3f8503582"},
		{"delivery id", k.DeliveryID("app", "msg", "dev"), "d27bbf803db57e0afeb29e7a7"},
		{"delivery id of long ids", k.DeliveryID(long, long, "dev"), "d1374ed14bb928fa7e46f6ac7"},
		{"receipt tag", k.ReceiptTag("mipush", "app", "d0123"), "7d49Z_udwzo6JJ98"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, tc.got, tc.want)
		}
	}
}

// TestAppendedKeysAndTypedEncoding checks the allocation-saving forms
// against the plain ones: AppendKey is Key, AppendKafkaKey is KafkaKey, and
// EncodeRecordOf writes what EncodeRecord writes, byte for byte.
func TestAppendedKeysAndTypedEncoding(t *testing.T) {
	for _, e := range []Event{
		{AppID: "app", MsgID: "m", TaskID: "t", DeliveryID: "d"},
		{AppID: "app", TaskID: "t", Event: EventAccepted, StatusDesc: "<&> é"},
		{ReceiptAppID: "app2", DeliveryID: "d"},
		{DeliveryID: "d"},
	} {
		if got := string(e.AppendKey([]byte("x"))); got != "x"+e.Key() {
			t.Errorf("AppendKey of %+v: %q, want %q", e, got, "x"+e.Key())
		}
		plain, err1 := EncodeRecord(e)
		typed, err2 := EncodeRecordOf(e)
		if err1 != nil || err2 != nil || string(plain) != string(typed) {
			t.Errorf("EncodeRecordOf of %+v: %s (%v), want %s (%v)", e, typed, err2, plain, err1)
		}
	}
	d := Delivery{AppID: "app", DeviceID: "dev", DeliveryID: "d1", Extras: map[string]string{"b": "2", "a": "1"}, Title: "<t>"}
	if got := string(d.AppendKafkaKey(nil)); got != d.KafkaKey() {
		t.Errorf("AppendKafkaKey: %q, want %q", got, d.KafkaKey())
	}
	plain, err1 := EncodeRecord(d)
	typed, err2 := EncodeRecordOf(d)
	if err1 != nil || err2 != nil || string(plain) != string(typed) {
		t.Errorf("EncodeRecordOf of a delivery: %s (%v), want %s (%v)", typed, err2, plain, err1)
	}
}
