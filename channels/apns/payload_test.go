package apns

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// TestAppendJSONAsMarshal pins the payload encoder to encoding/json.Marshal,
// byte for byte, on the values payloads are built of (keys sorted; HTML
// characters, U+2028, control characters and invalid UTF-8 escaped as
// Marshal escapes them), and checks it declines what it does not encode.
func TestAppendJSONAsMarshal(t *testing.T) {
	for _, tc := range []struct {
		name string
		body map[string]any
	}{
		{"empty", map[string]any{}},
		{"alert", map[string]any{"aps": map[string]any{"alert": map[string]string{"title": "Order shipped", "body": "Your order is on its way"}, "sound": "default", "badge": 3},
			DeliveryIDKey: "d0123456789abcdef01234567"}},
		{"escapes", map[string]any{"aps": map[string]any{"alert": map[string]string{"title": "<b>&\"x\"</b>\u2028\u2029", "body": "tab\tnl\n\x00\x1f\x7f", "subtitle": "é 订单 😀"}},
			"k<>&": "bad \xff utf8", "uri": "https://example.com/?a=1&b=<2>"}},
		{"background", map[string]any{"aps": map[string]any{"content-available": 1, "mutable-content": 1}, "Zeta": "z", "alpha": "a", "_": "u"}},
		{"negative and large ints", map[string]any{"a": -1, "b": 1 << 40, "c": 0}},
		{"nested maps", map[string]any{"m": map[string]any{"n": map[string]any{"o": "p"}, "e": map[string]string{}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := appendJSON(nil, tc.body)
			if !ok {
				t.Fatal("appendJSON declined a body of strings, ints and maps")
			}
			if string(got) != string(want) {
				t.Fatalf("appendJSON gave\n%s\nencoding/json gives\n%s", got, want)
			}
		})
	}
	if _, ok := appendJSON(nil, map[string]any{"aps": map[string]any{}, "custom": json.RawMessage(`{ "a" : 1 }`)}); ok {
		t.Fatal("appendJSON encoded a json.RawMessage, which encoding/json compacts: want it declined")
	}
	if q, _ := json.Marshal(sharedIDMark); string(q) != sharedIDMarkJSON {
		t.Fatalf("sharedIDMarkJSON is %s, encoding/json gives %s", sharedIDMarkJSON, q)
	}
}

// BenchmarkBuild builds the request of one unicast alert (its own title
// and body, a delivery id, an expiry): headers and payload.
func BenchmarkBuild(b *testing.B) {
	c := &Channel{cfg: Config{Limits: Limits{MaxPayloadBytes: MaxAppPayloadBytes, MaxNotificationBytes: MaxNotificationBytes}}}
	app := App{BundleID: "com.example.app"}
	now := time.Now()
	m := channels.Message{DeliveryID: "d0123456789abcdef01234567", Token: strings.Repeat("ab", 32), Title: "Order shipped",
		Body: "Your order uc-00000042 is on its way", ExpireAt: now.Add(time.Hour)}
	b.ReportAllocs()
	for b.Loop() {
		if _, res, ok := c.Build(app, m, now); !ok {
			b.Fatalf("refused: %+v", res)
		}
	}
}
