package schema

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
)

// TestSizesAreBounded: every caller-controlled text has a bound, refused
// with the documented code.
func TestSizesAreBounded(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	for _, tc := range []struct {
		scenario string
		mut      func(r *Request)
		want     ResultCode
	}{
		{"task name at the bound", func(r *Request) { r.TaskName = long(MaxTaskNameChars) }, 0},
		{"task name over", func(r *Request) { r.TaskName = long(MaxTaskNameChars + 1) }, CodeInvalidParam},
		{"long target", func(r *Request) { r.TargetMsgkey = StringMap{long(MaxIDBytes + 1): "m"} }, CodeInvalidParam},
		{"long msgKey", func(r *Request) { r.TargetMsgkey = StringMap{"d": long(MaxIDBytes + 1)} }, CodeInvalidParam},
		{"too many app versions", func(r *Request) { r.AppVersions = strings.Split(long(MaxFilterValues+1), "") }, CodeInvalidParam},
		{"empty model", func(r *Request) { r.Models = []string{""} }, CodeInvalidParam},
		{"long model", func(r *Request) { r.Models = []string{long(MaxFilterValueChars + 1)} }, CodeInvalidParam},
		{"template value too long", func(r *Request) {
			r.Type, r.Title, r.Content, r.TemplateName = PushTemplate, "", "", "t"
			r.TemplateKeyValue = StringMap{"a": long(MaxTemplateValueByte + 1)}
		}, CodeInvalidParam},
		{"a MULTIPLE target's extended parameters too large", func(r *Request) {
			r.Type, r.Title, r.Content, r.TemplateName, r.TargetMsgkey = PushMultiple, "", "", "t", nil
			r.TargetMsgs = []TargetMsg{{Target: "d", MsgKey: "m", ExtendedParams: StringMap{"a": long(MaxPayloadBytes)}}}
		}, CodeMsgPayloadTooLong},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			r := validSimple()
			tc.mut(r)
			err := r.Validate()
			var ve *ValidationError
			switch {
			case tc.want == 0 && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != 0 && (!errors.As(err, &ve) || ve.Code != tc.want):
				t.Fatalf("got %v, want %d", err, tc.want)
			}
		})
	}
}

// TestTemplateBombIsRefusedBeforeRendering: a short template whose one
// placeholder repeats many times, with a large value, would render to
// gigabytes; Render refuses it with 3050 from the computed size and never
// builds it.
func TestTemplateBombIsRefusedBeforeRendering(t *testing.T) {
	tpl := Template{AppID: "a", Name: "bomb", Title: "T", Content: strings.Repeat("#a#", MaxContentChars/3)}
	value := strings.Repeat("v", MaxTemplateValueByte) // 1,333 × 1 KiB ≈ 1.3 MB if rendered
	_, _, _, err := tpl.Render(StringMap{"a": value})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Code != CodeMsgPayloadTooLong {
		t.Fatalf("got %v, want 3050", err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, _ = tpl.Render(StringMap{"a": value})
	runtime.ReadMemStats(&after)
	wouldBe := uint64(len(value) * (MaxContentChars / 3))
	if got := after.TotalAlloc - before.TotalAlloc; got > wouldBe/4 {
		t.Errorf("refusing the bomb allocated %d bytes; rendering it would take %d, and it must not be built", got, wouldBe)
	}
	title, content, _, err := tpl.Render(StringMap{"a": "v"})
	if err != nil || title != "T" || len(content) != MaxContentChars/3 {
		t.Fatalf("a small value renders: %q %d %v", title, len(content), err)
	}
}

// TestTemplateSizes: template title and content are bounded when stored.
func TestTemplateSizes(t *testing.T) {
	base := Template{AppID: "a", Name: "t", Title: "T", Content: "C"}
	for _, tc := range []struct {
		mut  func(*Template)
		want ResultCode
	}{
		{func(t *Template) { t.Title = strings.Repeat("x", MaxTemplateTitle+1) }, CodeTemplateTitleInvalid},
		{func(t *Template) { t.Content = strings.Repeat("x", MaxContentChars+1) }, CodeTemplateContentInvalid},
	} {
		tp := base
		tc.mut(&tp)
		var ve *ValidationError
		if err := tp.Validate(); !errors.As(err, &ve) || ve.Code != tc.want {
			t.Errorf("got %v, want %d", err, tc.want)
		}
	}
}

// TestBindingSizes: binding ids and tokens are bounded.
func TestBindingSizes(t *testing.T) {
	body := `{"op":"report","appId":"a","deviceId":"` + strings.Repeat("d", MaxIDBytes+1) + `","platform":"android","vendorToken":"t"}`
	var ve *ValidationError
	if _, err := DecodeBinding([]byte(body)); !errors.As(err, &ve) || ve.Code != CodeInvalidParam {
		t.Fatalf("got %v, want 3028", err)
	}
}

// TestPlaceholderScanMatchesThePattern: the allocation-free scanner finds
// exactly the matches of the placeholder pattern Render replaces.
func TestPlaceholderScanMatchesThePattern(t *testing.T) {
	cases := []string{"", "#", "##", "#a#", "#a##b#", "a#b c#d#", "#a b#c#", "###x###", "#é#\t#y#", "#a#b#c#", "x#\n#y#"}
	rnd := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("#ab \t\n")
	for range 2000 {
		b := make([]byte, rnd.IntN(12))
		for i := range b {
			b[i] = alphabet[rnd.IntN(len(alphabet))]
		}
		cases = append(cases, string(b))
	}
	for _, s := range cases {
		var got [][2]int
		eachPlaceholder(s, func(_ string, start, end int) { got = append(got, [2]int{start, end}) })
		var want [][2]int
		for _, m := range placeholder.FindAllStringIndex(s, -1) {
			want = append(want, [2]int{m[0], m[1]})
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%q: scanner %v, pattern %v", s, got, want)
		}
	}
}
