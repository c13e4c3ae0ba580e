package schema

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func testKey(t *testing.T, secret string) IDKey {
	t.Helper()
	k, err := NewIDKey([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestDeliveryIDsNeedTheSecret derives delivery ids with and without the
// secret: the id has the form receipts recognise, is deterministic, names
// the app, and cannot be computed from the public ids alone.
func TestDeliveryIDsNeedTheSecret(t *testing.T) {
	k := testKey(t, strings.Repeat("s", MinIDSecretBytes))
	other := testKey(t, strings.Repeat("t", MinIDSecretBytes))
	id := k.DeliveryID("app", "msg", "dev")
	// The id of before: sha256 of the public msg and device ids.
	h := sha256.New()
	for _, p := range []string{"msg", "dev"} {
		_, _ = fmt.Fprintf(h, "%d:%s", len(p), p)
	}
	old := "d" + hex.EncodeToString(h.Sum(nil))[:24]
	for _, tc := range []struct {
		scenario string
		ok       bool
	}{
		{"has the form of a delivery id", IsDeliveryID(id)},
		{"is deterministic (replays dedupe)", id == k.DeliveryID("app", "msg", "dev")},
		{"is not the public hash of msg and device ids", id != old},
		{"depends on the secret", id != other.DeliveryID("app", "msg", "dev")},
		{"depends on the app", id != k.DeliveryID("app2", "msg", "dev")},
		{"depends on the msg id", id != k.DeliveryID("app", "msg2", "dev")},
		{"depends on the device id", id != k.DeliveryID("app", "msg", "dev2")},
		{"parts are length-prefixed", k.DeliveryID("ap", "pmsg", "dev") != k.DeliveryID("app", "msg", "dev")},
	} {
		if !tc.ok {
			t.Errorf("delivery id %s: %s: no", id, tc.scenario)
		}
	}
}

func TestNewIDKeyRefusesShortSecrets(t *testing.T) {
	for _, tc := range []struct {
		secret string
		ok     bool
	}{{"", false}, {strings.Repeat("x", MinIDSecretBytes-1), false}, {strings.Repeat("x", MinIDSecretBytes), true}} {
		k, err := NewIDKey([]byte(tc.secret))
		if (err == nil) != tc.ok || k.Valid() != tc.ok || (!tc.ok && !errors.Is(err, ErrShortIDSecret)) {
			t.Errorf("NewIDKey(%d bytes) = valid %t, %v; want ok %t", len(tc.secret), k.Valid(), err, tc.ok)
		}
	}
	var zero IDKey
	if zero.Valid() {
		t.Fatal("the zero IDKey is valid")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("deriving with the zero IDKey did not panic")
		}
	}()
	zero.DeliveryID("a", "m", "d")
}

func TestIDKeyNeverPrintsTheSecret(t *testing.T) {
	secret := strings.Repeat("q", MinIDSecretBytes)
	k := testKey(t, secret)
	for _, s := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", k)} {
		if strings.Contains(s, secret) {
			t.Fatalf("printed %q", s)
		}
	}
}

// TestReceiptParams tags callback parameters and verifies what a vendor
// echoes: only a parameter tagged for the same vendor, app and value
// under the same key passes.
func TestReceiptParams(t *testing.T) {
	k := testKey(t, strings.Repeat("k", MinIDSecretBytes))
	other := testKey(t, strings.Repeat("o", MinIDSecretBytes))
	id := k.DeliveryID("app", "msg", "dev")
	p := k.ReceiptParam("mipush", "app", id)
	if len(p) != len(id)+ReceiptTagOverhead || !strings.HasPrefix(p, id+".") {
		t.Fatalf("param %q is not the value, a dot and a %d-character tag", p, ReceiptTagLen)
	}
	msgParam := k.ReceiptParam("vivo", "app", "msg.with.dots")
	for _, tc := range []struct {
		scenario    string
		key         IDKey
		vendor, app string
		param       string
		want        string
		wantOK      bool
	}{
		{"as sent", k, "mipush", "app", p, id, true},
		{"a msg id with dots", k, "vivo", "app", msgParam, "msg.with.dots", true},
		{"untagged delivery id", k, "mipush", "app", id, "", false},
		{"another app", k, "mipush", "app2", p, "", false},
		{"another vendor", k, "oppo", "app", p, "", false},
		{"another key", other, "mipush", "app", p, "", false},
		{"another value under the tag", k, "mipush", "app", k.DeliveryID("app", "msg", "dev2") + p[len(id):], "", false},
		{"a truncated tag", k, "mipush", "app", p[:len(p)-1], "", false},
		{"empty", k, "mipush", "app", "", "", false},
	} {
		got, ok := tc.key.VerifyReceiptParam(tc.vendor, tc.app, tc.param)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: VerifyReceiptParam(%q) = %q, %t; want %q, %t", tc.scenario, tc.param, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestAppKey(t *testing.T) {
	for _, tc := range []struct{ app, id, want string }{{"A", "x", "A/x"}, {"", "x", "x"}, {"A", "", "A/"}} {
		if got := AppKey(tc.app, tc.id); got != tc.want {
			t.Errorf("AppKey(%q, %q) = %q, want %q", tc.app, tc.id, got, tc.want)
		}
	}
	b := Binding{AppID: "A", DeviceID: "d"}
	e := Event{ReceiptAppID: "A", DeliveryID: "d1"}
	r := Request{AppID: "A", TaskID: "t"}
	d := Delivery{AppID: "A", DeviceID: "d"}
	for _, tc := range []struct{ what, got, want string }{
		{"binding of a device", b.KafkaKey(), "A/d"},
		{"binding of a user", (&Binding{AppID: "A", UserID: "u"}).KafkaKey(), "A/u"},
		{"receipt not yet resolved", e.Key(), "A/d1"},
		{"event of a message", (&Event{AppID: "A", MsgID: "m", TaskID: "t"}).Key(), "A/m"},
		{"event of a task", (&Event{AppID: "A", TaskID: "t"}).Key(), "A/t"},
		{"request", r.KafkaKey(), "A/t"},
		{"delivery", d.KafkaKey(), "A/d"},
	} {
		if tc.got != tc.want {
			t.Errorf("key of a %s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
}
