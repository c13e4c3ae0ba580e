package schema

import (
	"encoding/json"
	"testing"
)

// TestStringMapValuesAsJSONDecodes pins StringMap's decoding of string
// values (a copy of the plain ones, json.Unmarshal for the rest) to what
// json.Unmarshal makes of each: escapes, non-ASCII text, invalid UTF-8
// (replaced by U+FFFD), and non-string values kept as their JSON text.
func TestStringMapValuesAsJSONDecodes(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"plain", `"hello"`, "hello"},
		{"empty", `""`, ""},
		{"non-ASCII", `"订单 42 ✓"`, "订单 42 ✓"},
		{"escaped quote", `"say \"hi\""`, `say "hi"`},
		{"unicode escape", `"\u00e9t\u00e9"`, "été"},
		{"escaped slash and newline", `"a\/b\nc"`, "a/b\nc"},
		{"invalid UTF-8", "\"a\xffb\"", "a\uFFFDb"},
		{"number", `42`, "42"},
		{"bool", `true`, "true"},
		{"object", `{"a":1}`, `{"a":1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var m StringMap
			if err := m.UnmarshalJSON([]byte(`{"k":` + tc.value + `}`)); err != nil {
				t.Fatal(err)
			}
			if m["k"] != tc.want {
				t.Fatalf("value %s decoded as %q, want %q", tc.value, m["k"], tc.want)
			}
			var viaJSON string
			if tc.value[0] == '"' {
				if err := json.Unmarshal([]byte(tc.value), &viaJSON); err != nil {
					t.Fatal(err)
				}
				if viaJSON != m["k"] {
					t.Fatalf("value %s decoded as %q, json.Unmarshal gives %q", tc.value, m["k"], viaJSON)
				}
			}
		})
	}
}
