package fcm

import (
	"encoding/json"
	"testing"
)

func TestMessageNameReadsWhatTheJSONDecoderReads(t *testing.T) {
	tests := []struct {
		raw    string
		fast   bool   // messageName reads it
		want   string // the name json.Unmarshal reads
		reason string
	}{
		{`{"name":"projects/p/messages/1"}`, true, "projects/p/messages/1", "compact"},
		{"{\n  \"name\": \"projects/p/messages/0:1500415314455276%31bd1c9631bd1c96\"\n}\n", true,
			"projects/p/messages/0:1500415314455276%31bd1c9631bd1c96", "FCM's indented answer"},
		{`{"name":"projects/p/messages/\u00e9"}`, false, "projects/p/messages/é", "an escape is left to the decoder"},
		{`{"Name":"projects/p/messages/1"}`, false, "projects/p/messages/1", "the decoder matches keys without case"},
		{`{"name":"a","name":"b"}`, false, "b", "a second key is left to the decoder"},
		{`{"name":"a","extra":1}`, false, "a", "another field is left to the decoder"},
		{`{"name":""}`, false, "", "an empty name"},
		{`{"name":"a"} x`, false, "", "trailing garbage"},
		{`{"name":"a`, false, "", "truncated"},
		{"{\"name\":\"a\x01\"}", false, "", "a control character"},
		{"{\"name\":\"\xff\"}", false, "\ufffd", "invalid UTF-8"},
		{`[]`, false, "", "not an object"},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			var v struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal([]byte(tt.raw), &v)
			if v.Name != tt.want {
				t.Fatalf("the decoder reads %q, the table says %q", v.Name, tt.want)
			}
			name, ok := messageName([]byte(tt.raw))
			if ok != tt.fast || ok && name != tt.want {
				t.Errorf("messageName = %q, %t; want %q, %t", name, ok, tt.want, tt.fast)
			}
		})
	}
}
