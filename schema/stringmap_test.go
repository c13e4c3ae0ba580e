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

// referenceStringMap decodes a StringMap's JSON object the general way
// (json.Unmarshal into raw values, then each value), which StringMap's
// decoding of plain objects must agree with.
func referenceStringMap(b []byte) (StringMap, error) {
	b, empty, err := unquoteJSON(b)
	if err != nil || empty {
		return nil, err
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, err
	}
	out := make(StringMap, len(raw))
	for k, v := range raw {
		var s string
		if len(v) > 0 && v[0] == '"' {
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, err
			}
		} else {
			s = string(v)
		}
		out[k] = s
	}
	return out, nil
}

// TestStringMapObjectsAsJSONDecodes pins StringMap's decoding of whole
// objects (plain ones take a shortcut) to the general decoding: same map,
// empty or nil alike, and an error exactly when it fails.
func TestStringMapObjectsAsJSONDecodes(t *testing.T) {
	for _, body := range []string{
		`{"dev-1":"m1"}`, ` { "a" : "b" , "c":"d" } `, "{\n\t\"a\":\r\n\"b\"}", `{}`, ` {  } `, `{"a":"1","a":"2"}`,
		`{"é 订单":"😀 <&>"}`, `{"a\"b":"c"}`, `{"a":"b\u00e9"}`, `{"a":1,"b":"c"}`, `{"a":{"b":"c"}}`, `{"a":null}`,
		`{"a":"b"} x`, `{"a":"b"}}`, `{"a" "b"}`, `{"a":"b",}`, `{"a":"b"`, `{"a":"b`, `{"a":`, `{`, `{,}`, `["a"]`, `"x"`,
		"{\"a\":\"b\xffc\"}", "{\"a\xff\":\"b\"}", `"{\"a\":\"b\"}"`, `" {\"a\": \"b\"} "`, `"{\"a\":\"b\tc\"}"`, `"{\"a\":\"b\\\\\"}"`,
		`"{\"a\":\"b\"} x"`, `null`, `""`, `"  "`, ``,
	} {
		t.Run(body, func(t *testing.T) {
			var got StringMap
			gotErr := got.UnmarshalJSON([]byte(body))
			want, wantErr := referenceStringMap([]byte(body))
			if (gotErr != nil) != (wantErr != nil) {
				t.Fatalf("%s: error %v, the general decoding's %v", body, gotErr, wantErr)
			}
			if gotErr != nil {
				return
			}
			if (got == nil) != (want == nil) || len(got) != len(want) {
				t.Fatalf("%s: decoded %#v, the general decoding gives %#v", body, got, want)
			}
			for k, v := range want {
				if g, ok := got[k]; !ok || g != v {
					t.Fatalf("%s: decoded %#v, the general decoding gives %#v", body, got, want)
				}
			}
		})
	}
}

// FuzzStringMap checks StringMap's decoding against the general decoding
// on any bytes: the same map, and an error exactly when it fails.
func FuzzStringMap(f *testing.F) {
	for _, s := range []string{`{"dev-1":"m1"}`, ` { "a" : "b" , "c":"d" } `, `{"a":1}`, `"{\"a\":\"b\"}"`, `{"a\"":"b"}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got StringMap
		gotErr := got.UnmarshalJSON(body)
		want, wantErr := referenceStringMap(body)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("%q: error %v, the general decoding's %v", body, gotErr, wantErr)
		}
		if gotErr == nil && ((got == nil) != (want == nil) || len(got) != len(want)) {
			t.Fatalf("%q: decoded %#v, the general decoding gives %#v", body, got, want)
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Fatalf("%q: decoded %#v, the general decoding gives %#v", body, got, want)
			}
		}
	})
}
