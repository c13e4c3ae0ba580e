package channels_test

import (
	"encoding/json"
	"testing"

	"github.com/pushpipe/pushpipe/channels"
)

func TestAppendJSONStringEncodesLikeEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain-id_0123", `quote " and \ backslash`, "<html> & co", "tab\tnewline\n\x00", "ünïcødé", "\u2028\u2029", "bad \xff utf-8"} {
		want, _ := json.Marshal(s)
		if got := channels.AppendJSONString([]byte("x:"), s); string(got) != "x:"+string(want) {
			t.Errorf("AppendJSONString(%q) = %s, want x:%s", s, got, want)
		}
	}
}
