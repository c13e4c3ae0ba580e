package console

import (
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

func TestComposeFormRequest(t *testing.T) {
	app := App{AppID: "A", WorkspaceID: "ws"}
	for _, tc := range []struct {
		name    string
		form    composeForm
		want    func(*schema.Request) string // "" when right, else what is wrong
		wantErr string
	}{
		{"simple to two devices", composeForm{Type: "SIMPLE", DeliverType: 1, Targets: "d1\n\n  d2  \n", Title: "T", Content: "C", URI: "https://x.example/a", Extras: "k=v\n sound = ding "},
			func(r *schema.Request) string {
				if fmt.Sprint(r.TargetMsgkey) != "map[d1:p-1 d2:p-2]" || r.AppID != "A" || r.WorkspaceID != "ws" || r.DeliverType != 1 || r.Title != "T" || r.Content != "C" ||
					r.URI != "https://x.example/a" || fmt.Sprint(r.ExtendedParams) != "map[k:v sound:ding]" || r.ExpiredSeconds != DefaultComposerExpiry || r.TaskName != "console test push by olga" {
					return fmt.Sprintf("%+v", r)
				}
				return ""
			}, ""},
		{"multiple with values per target", composeForm{Type: "MULTIPLE", DeliverType: 3, Targets: "u1 name=Ann&order=42\nu2", TemplateName: "tpl", TemplateKV: "shop=Acme", TaskName: "mine", ExpiredSeconds: "60"},
			func(r *schema.Request) string {
				if len(r.TargetMsgs) != 2 || r.TargetMsgs[0].Target != "u1" || r.TargetMsgs[0].MsgKey != "p-1" || fmt.Sprint(r.TargetMsgs[0].TemplateKeyValue) != "map[name:Ann order:42]" ||
					r.TargetMsgs[1].TemplateKeyValue != nil || fmt.Sprint(r.TemplateKeyValue) != "map[shop:Acme]" || r.TargetMsgkey != nil || r.ExpiredSeconds != 60 || r.TaskName != "mine" {
					return fmt.Sprintf("%+v", r)
				}
				return ""
			}, ""},
		{"a target twice", composeForm{Type: "SIMPLE", Targets: "d1\nd1"}, nil, `target "d1" is listed twice`},
		{"values on a simple push's line", composeForm{Type: "SIMPLE", Targets: "d1 name=Ann"}, nil, "only a MULTIPLE push takes values per target"},
		{"a template value that is not key=value", composeForm{Type: "TEMPLATE", Targets: "d1", TemplateKV: "name"}, nil, `templateKeyValue line 1 "name" is not key=value`},
		{"an extended parameter twice", composeForm{Type: "SIMPLE", Targets: "d1", Extras: "k=1\nk=2"}, nil, `extendedParams names "k" twice`},
		{"an expiry that is no number", composeForm{Type: "SIMPLE", Targets: "d1", ExpiredSeconds: "1h"}, nil, "not a whole number"},
		{"more targets than the composer sends", composeForm{Type: "MULTIPLE", Targets: strings.Repeat("x\n", 1) + lines(MaxComposerTargets+1)}, nil, "at most 100"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := tc.form.request(app, "olga", "p")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if wrong := tc.want(r); wrong != "" {
				t.Fatalf("request %s", wrong)
			}
		})
	}
}

// lines returns n distinct target lines.
func lines(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "t%d\n", i)
	}
	return b.String()
}

func TestComposerAccessAndRefusals(t *testing.T) {
	elevenTargets := lines(11)
	for _, tc := range []struct {
		name   string
		user   string
		method string
		path   string
		form   url.Values
		csrf   bool
		status int
		says   string
	}{
		{"a viewer may not open the composer", "vera", http.MethodGet, "/apps/A/compose", nil, false, http.StatusForbidden, "only operators and admins may compose pushes"},
		{"a viewer may not send", "vera", http.MethodPost, "/apps/A/compose", url.Values{"type": {"SIMPLE"}, "targets": {"d1"}}, true, http.StatusForbidden, "only operators and admins may compose pushes"},
		{"a send without the CSRF token", "olga", http.MethodPost, "/apps/A/compose", url.Values{"type": {"SIMPLE"}, "targets": {"d1"}}, false, http.StatusForbidden, "security token"},
		{"the composer of another app", "olga", http.MethodGet, "/apps/B/compose", nil, false, http.StatusForbidden, "may not see app B"},
		{"an operator opens the composer", "olga", http.MethodGet, "/apps/A/compose", nil, false, http.StatusOK, `id="composer-form"`},
		{"an admin opens the composer", "ada", http.MethodGet, "/apps/A/compose", nil, false, http.StatusOK, `id="nav-composer"`},
		{"a target twice", "olga", http.MethodPost, "/apps/A/compose", url.Values{"type": {"SIMPLE"}, "deliverType": {"1"}, "targets": {"d1\nd1"}, "action": {"send"}}, true,
			http.StatusBadRequest, "is listed twice"},
		{"eleven targets of a simple push are refused as the gateway refuses them", "olga", http.MethodPost, "/apps/A/compose",
			url.Values{"type": {"SIMPLE"}, "deliverType": {"1"}, "targets": {elevenTargets}, "title": {"T"}, "content": {"C"}, "action": {"send"}}, true,
			http.StatusBadRequest, fmt.Sprintf("The push was refused with code %d: ", schema.CodeSinglePushTargetTooMuch)},
		{"and so is their preview", "olga", http.MethodPost, "/apps/A/compose",
			url.Values{"type": {"SIMPLE"}, "deliverType": {"1"}, "targets": {elevenTargets}, "title": {"T"}, "content": {"C"}, "action": {"preview"}}, true,
			http.StatusBadRequest, fmt.Sprintf("The push would be refused with code %d: ", schema.CodeSinglePushTargetTooMuch)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &recordingProducer{}
			c := newTestConsole(t, p)
			res, token := c.login(tc.user, tc.user+"-password")
			if res.StatusCode != http.StatusSeeOther {
				t.Fatalf("login: status %d", res.StatusCode)
			}
			form := url.Values{}
			for k, v := range tc.form {
				form[k] = v
			}
			if tc.csrf {
				form.Set("csrf", token)
			}
			res, body := c.do(tc.method, tc.path, form)
			if res.StatusCode != tc.status || !strings.Contains(body, tc.says) {
				t.Fatalf("status %d, want %d saying %q:\n%s", res.StatusCode, tc.status, tc.says, body)
			}
			if len(p.outs) != 0 {
				t.Fatalf("a refused request published %v", p.outs)
			}
		})
	}
	// The viewer's pages offer no composer.
	c := newTestConsole(t, &recordingProducer{})
	c.login("vera", "vera-password")
	if _, page := c.do(http.MethodGet, "/apps/A/investigate", nil); strings.Contains(page, "nav-composer") {
		t.Fatal("a viewer's navigation links to the composer")
	}
}

func TestTimelineStepAndTotals(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		span time.Duration
		want time.Duration
	}{{0, time.Second}, {90 * time.Second, time.Second}, {2 * time.Minute, 5 * time.Second}, {10 * time.Minute, 10 * time.Second},
		{time.Hour, time.Minute}, {3 * time.Hour, 5 * time.Minute}, {30 * 24 * time.Hour, 24 * time.Hour}, {400 * 24 * time.Hour, 24 * time.Hour}} {
		if got := timelineStep(t0, t0.Add(tc.span)); got != tc.want {
			t.Errorf("a span of %s is counted by %s, want %s", tc.span, got, tc.want)
		}
	}
	counts := []store.TimelineCount{
		{Start: t0, Event: schema.EventValid, Count: 3}, {Start: t0, Event: schema.EventPlanned, Count: 4},
		{Start: t0.Add(2 * time.Second), Event: schema.EventAcked, Count: 2}, {Start: t0.Add(5 * time.Second), Event: schema.EventAcked, Count: 1},
	}
	tv := buildTimeline(counts, time.Second)
	if fmt.Sprint(tv.Events) != "[planned valid acked]" || fmt.Sprint(tv.Totals) != "[4 3 3]" || len(tv.Rows) != 3 ||
		fmt.Sprint(tv.Rows[0].Counts) != "[4 3 0]" || fmt.Sprint(tv.Rows[2].Counts) != "[0 0 1]" {
		t.Fatalf("timeline %+v", tv)
	}
	if chart := string(tv.Chart); strings.Count(chart, "<polyline") != 3 || !strings.Contains(chart, `class="line s-ev-acked"`) {
		t.Fatalf("the chart has not one line per event type:\n%s", chart)
	}
	if empty := buildTimeline(nil, time.Second); len(empty.Rows) != 0 || empty.Chart != "" {
		t.Fatalf("an empty timeline %+v", empty)
	}
}

func TestComposeFormABTest(t *testing.T) {
	for _, tc := range []struct {
		name    string
		form    composeForm
		want    *schema.ABTest
		wantErr string
	}{
		{"no variants: one copy", composeForm{}, nil, ""},
		{"two variants, defaults", composeForm{Variants: "Spring sale | 20% off\n\n Only today|all 20% off \n"},
			&schema.ABTest{Variants: []schema.ABVariant{{Title: "Spring sale", Content: "20% off"}, {Title: "Only today", Content: "all 20% off"}}, SamplePercent: 10}, ""},
		{"sample, metric and decision", composeForm{Variants: "a|b\nc|d", ABSample: "20", ABMetric: schema.ABMetricArrivalRate, ABDecision: "60"},
			&schema.ABTest{Variants: []schema.ABVariant{{Title: "a", Content: "b"}, {Title: "c", Content: "d"}}, SamplePercent: 20, Metric: schema.ABMetricArrivalRate, DecisionSeconds: 60}, ""},
		{"a line without a bar", composeForm{Variants: "a|b\nonly a title"}, nil, `variant line 2 "only a title" is not "title | content"`},
		{"a sample that is no number", composeForm{Variants: "a|b\nc|d", ABSample: "ten"}, nil, `sample percent "ten"`},
		{"a decision that is no number", composeForm{Variants: "a|b\nc|d", ABDecision: "15m"}, nil, `decision time "15m"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.form.abTest()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want one saying %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("abTest() = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestComposerRefusesOversizedForms: a composer POST larger than the
// console's form limit is refused without reading it whole, and nothing
// is published.
func TestComposerRefusesOversizedForms(t *testing.T) {
	p := &recordingProducer{}
	c := newTestConsole(t, p)
	_, csrf := c.login("olga", "olga-password")
	huge := strings.Repeat("device-x\n", maxFormBytes/4)
	res, _ := c.do(http.MethodPost, "/apps/A/compose", url.Values{"csrf": {csrf}, "type": {"SIMPLE"}, "deliverType": {"1"},
		"targets": {huge}, "title": {"T"}, "content": {"C"}, "action": {"send"}})
	if res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Fatalf("an oversized composer form got status %d, want a 4xx refusal", res.StatusCode)
	}
	if len(p.outs) != 0 {
		t.Fatalf("an oversized composer form published %d records", len(p.outs))
	}
}
