package schema

import (
	"fmt"
	"testing"
)

// manyTags returns n distinct tags.
func manyTags(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("t%d", i)
	}
	return out
}

// TestTagsSurviveTheWire checks that decoding keeps the difference between
// no tags filter (left out, null) and an empty list, which is refused, and
// that encoding keeps it too.
func TestTagsSurviveTheWire(t *testing.T) {
	base := `{"type":"BROADCAST","region":"sg","appId":"a","workspaceId":"w","taskName":"n","deliverType":1,"msgkey":"m","templateName":"p","expiredSeconds":60`
	for _, tc := range []struct {
		scenario, tags string
		valid          bool
	}{
		{"left out", ``, true},
		{"null", `,"tags":null`, true},
		{"two tags", `,"tags":["vip","gold"]`, true},
		{"empty list", `,"tags":[]`, false},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r, err := DecodeRequest([]byte(base + tc.tags + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Validate() == nil; got != tc.valid {
				t.Fatalf("valid = %v, want %v (tags %#v)", got, tc.valid, r.Tags)
			}
			back, err := DecodeRequest(mustMarshal(t, r))
			if err != nil {
				t.Fatal(err)
			}
			if got := back.Validate() == nil; got != tc.valid {
				t.Fatalf("after a round trip valid = %v, want %v (tags %#v)", got, tc.valid, back.Tags)
			}
		})
	}
}
