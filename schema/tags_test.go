package schema

import (
	"errors"
	"fmt"
	"strings"
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

// TestValidateBroadcastTags walks every rule of the tags filter: where it
// is taken, the list's bounds, each tag's bounds, and the pushStatus that
// can never match a tag.
func TestValidateBroadcastTags(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		base     func() *Request
		mutate   func(r *Request)
		code     ResultCode // 0: valid
		message  string     // part of the message the user sees
	}{
		{"broadcast without tags", validBroadcast, func(r *Request) {}, 0, ""},
		{"broadcast with two tags", validBroadcast, func(r *Request) { r.Tags = []string{"vip", "gold"} }, 0, ""},
		{"broadcast with 100 tags", validBroadcast, func(r *Request) { r.Tags = manyTags(MaxTags) }, 0, ""},
		{"30-character tag", validBroadcast, func(r *Request) { r.Tags = []string{strings.Repeat("界", MaxTagChars)} }, 0, ""},
		{"tags to all users (bound ones can match)", validBroadcast, func(r *Request) { r.Tags, r.PushStatus, r.UnBindPeriod = []string{"vip"}, intp(1), 1 }, 0, ""},
		{"tags to bound users explicitly", validBroadcast, func(r *Request) { r.Tags, r.PushStatus = []string{"vip"}, intp(0) }, 0, ""},
		{"empty list", validBroadcast, func(r *Request) { r.Tags = []string{} }, CodeInvalidParam, "tags is an empty list: leave tags out"},
		{"empty tag", validBroadcast, func(r *Request) { r.Tags = []string{"vip", ""} }, CodeInvalidParam, "tags[1] is an empty tag"},
		{"duplicate tag", validBroadcast, func(r *Request) { r.Tags = []string{"vip", "gold", "vip"} }, CodeInvalidParam, `tags[2] repeats tag "vip" of tags[0]`},
		{"101 tags", validBroadcast, func(r *Request) { r.Tags = manyTags(MaxTags + 1) }, CodeInvalidParam, "names 101 tags, at most 100"},
		{"31-character tag", validBroadcast, func(r *Request) { r.Tags = []string{strings.Repeat("x", MaxTagChars+1)} }, CodeInvalidParam, "has 31 characters, at most 30"},
		{"tags to unbound users", validBroadcast, func(r *Request) { r.Tags, r.PushStatus, r.UnBindPeriod = []string{"vip"}, intp(2), 1 }, CodeInvalidParam, "pushStatus 2 (unbound users) can never match: tags belong to users"},
		{"tags on SIMPLE", validSimple, func(r *Request) { r.Tags = []string{"vip"} }, CodeInvalidParam, "tags filters BROADCAST pushes only; a SIMPLE push"},
		{"tags on TEMPLATE", validTemplate, func(r *Request) { r.Tags = []string{"vip"} }, CodeInvalidParam, "tags filters BROADCAST pushes only; a TEMPLATE push"},
		{"tags on MULTIPLE", validMultiple, func(r *Request) { r.Tags = []string{"vip"} }, CodeInvalidParam, "tags filters BROADCAST pushes only; a MULTIPLE push"},
		{"empty tags list on SIMPLE", validSimple, func(r *Request) { r.Tags = []string{} }, CodeInvalidParam, "tags filters BROADCAST pushes only"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := tc.base()
			tc.mutate(r)
			err := r.Validate()
			if tc.code == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Code != tc.code {
				t.Fatalf("got %v, want code %d", err, tc.code)
			}
			if !strings.Contains(err.Error(), tc.message) || !strings.Contains(err.Error(), tc.code.Name()) {
				t.Fatalf("message %q lacks %q or the code name %s", err, tc.message, tc.code.Name())
			}
		})
	}
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

// TestDecodeTagBindings checks the tag records of push.bindings.R: a user
// and valid tags, and no tags on records of other ops, which would ignore
// them.
func TestDecodeTagBindings(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		in       string
		want     ResultCode
		message  string
	}{
		{"tag_add", `{"op":"tag_add","appId":"a","userId":"u","tags":["vip","gold"]}`, 0, ""},
		{"tag_remove", `{"op":"tag_remove","appId":"a","userId":"u","tags":["vip"]}`, 0, ""},
		{"no user", `{"op":"tag_add","appId":"a","tags":["vip"]}`, CodeNeedUserID, "needs a userId"},
		{"no tags", `{"op":"tag_add","appId":"a","userId":"u"}`, CodeInvalidParam, "tags is empty"},
		{"empty tag", `{"op":"tag_remove","appId":"a","userId":"u","tags":[""]}`, CodeInvalidParam, "tags[0] is an empty tag"},
		{"duplicate tag", `{"op":"tag_add","appId":"a","userId":"u","tags":["vip","vip"]}`, CodeInvalidParam, "repeats tag"},
		{"long tag", `{"op":"tag_add","appId":"a","userId":"u","tags":["` + strings.Repeat("x", 31) + `"]}`, CodeInvalidParam, "at most 30"},
		{"tags on a bind", `{"op":"bind","appId":"a","deviceId":"d","userId":"u","tags":["vip"]}`, CodeInvalidParam, "a bind record does not take tags"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := DecodeBinding([]byte(tc.in))
			if tc.want == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Code != tc.want || !strings.Contains(ve.Detail, tc.message) {
				t.Fatalf("got %v, want code %d saying %q", err, tc.want, tc.message)
			}
		})
	}
}
