package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/chromedp/chromedp"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// TestConsoleComposer drives the console's composer and task timeline
// with a real headless Chromium against the running pipeline: a push the
// gateway refuses is refused by the composer with the same code and
// words; the preview of a push to a MiPush device, a vivo device and a
// device nobody registered shows, per channel, each one's content limits
// and that a 45-character title goes to MiPush (50 allowed) as it is and
// is filtered for vivo (40 allowed), and the nobody invalid; the push
// sent then does exactly that: the simulator records the previewed title
// and body from MiPush's device, vivo receives nothing and the filtered
// event carries the previewed code and reason. The task is found in the
// task list, its funnel and timeline totals equal /v1/tasks/{taskId}, and
// the investigation page shows the vivo device stopped where the preview
// said, filtered with its reason.
// Screenshots go beside the other console pages'.
func TestConsoleComposer(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnvOpts(t, envOptions{}, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	mi := device("sg", "cmp-mi", "regid-cmp-mi")
	vivo := device("sg", "cmp-vivo", "cmp-vivo-token")
	vivo.Vendor, vivo.Model = "vivo", "X100"
	e.registerDevices("sg", mi, vivo)
	api := e.startGateway("sg")
	ctx := context.Background()

	b := startConsole(t, e, chromium, consoleAccount(t, "olga", "operator", testApp))
	appPath := "/apps/" + url.PathEscape(testApp)
	b.login("olga", "olga-password", "#metrics")

	compose := func(targets []string, title, content, action, waitFor string) {
		b.t.Helper()
		b.do("composing a push ("+action+")", chromedp.Click(chromedp.CSS("#nav-composer")), chromedp.WaitVisible(chromedp.CSS("#composer-form")),
			chromedp.SetValue(chromedp.CSS("#targets"), strings.Join(targets, "\n")), chromedp.SetValue(chromedp.CSS("#title"), title),
			chromedp.SetValue(chromedp.CSS("#content"), content), chromedp.SetValue(chromedp.CSS("#taskName"), "composer e2e"),
			chromedp.Click(chromedp.CSS("#"+action)), chromedp.WaitVisible(chromedp.CSS(waitFor)))
	}

	// A push the gateway refuses (11 targets of a SIMPLE push): the
	// composer refuses it with the gateway's code and words.
	eleven := make(schema.StringMap, 11)
	var elevenTargets []string
	for i := range 11 {
		id := fmt.Sprintf("cmp-many-%02d", i)
		eleven[id], elevenTargets = "m"+id, append(elevenTargets, id)
	}
	_, err := api.Push(ctx, &schema.Request{Type: schema.PushSimple, AppID: testApp, WorkspaceID: "default", TaskName: "composer e2e",
		DeliverType: schema.DeliverAndroid, TargetMsgkey: eleven, Title: "T", Content: "C", ExpiredSeconds: 3600})
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Code != schema.CodeSinglePushTargetTooMuch {
		t.Fatalf("11 targets through the API: %v, want a 3029 refusal", err)
	}
	compose(elevenTargets, "T", "C", "send", "#error")
	if got, want := b.text("#error"), fmt.Sprintf("The push was refused with code %d: %s", ge.Code, ge.Message); got != want {
		t.Fatalf("the composer says %q, the API %q", got, want)
	}
	b.screenshot("composer-refused")

	// The preview: MiPush takes titles of 50 characters, vivo of 40.
	title := strings.Repeat("Forty-five characters long! ", 2)[:45]
	content := "Your parcel is on its way"
	if utf8.RuneCountInString(title) != 45 {
		t.Fatal("the title must have 45 characters")
	}
	targets := []string{"cmp-mi", "cmp-vivo", "cmp-nobody"}
	compose(targets, title, content, "preview", "#preview-result")
	miCard, vivoCard := `article.channel[data-channel="mipush"] `, `article.channel[data-channel="vivo"] `
	if got := b.count(miCard + `[data-limit="title"]`); got != 50 {
		t.Errorf("the preview shows MiPush's title limit as %d, want 50", got)
	}
	if got := b.count(vivoCard + `[data-limit="title"]`); got != 40 {
		t.Errorf("the preview shows vivo's title limit as %d, want 40", got)
	}
	if b.count(miCard+`[data-col="valid"]`) != 1 || b.text(miCard+`[data-col="title"]`) != title || b.text(miCard+`[data-col="body"]`) != content {
		t.Errorf("MiPush's card: %d sent, title %q, body %q; want 1 with the title and body as composed",
			b.count(miCard+`[data-col="valid"]`), b.text(miCard+`[data-col="title"]`), b.text(miCard+`[data-col="body"]`))
	}
	vivoReason := b.text(vivoCard + `[data-col="reason"]`)
	if b.count(vivoCard+`[data-col="filtered"]`) != 1 || !strings.Contains(vivoReason, "title longer than the 40 characters vivo accepts") {
		t.Errorf("vivo's card: %d filtered, reason %q; want the title filtered by its limit", b.count(vivoCard+`[data-col="filtered"]`), vivoReason)
	}
	vivoCode := b.count(`tr[data-device="cmp-vivo"] [data-col="code"]`)
	nobody := read(b, "reading the unregistered target's outcome", chromedp.AttributeValue(chromedp.CSS(`tr[data-target="cmp-nobody"]`), "data-outcome"))
	if nobody.Value != string(schema.EventInvalidDevice) || !strings.Contains(b.text(`tr[data-target="cmp-nobody"] [data-col="detail"]`), "NoBindInfo") {
		t.Errorf("the unregistered target shows outcome %q, detail %q", nobody.Value, b.text(`tr[data-target="cmp-nobody"] [data-col="detail"]`))
	}
	if got := b.text(`tr[data-device="cmp-vivo"] [data-col="registry"]`); !strings.HasPrefix(got, "vivo, android, token valid") {
		t.Errorf("cmp-vivo's registry column says %q", got)
	}
	b.screenshot("composer-preview")
	if n := len(e.readAll(pipeline.RequestsTopic("sg"))); n != 0 {
		t.Fatalf("the refusal and the preview published %d requests", n)
	}

	// Sent: the new task's page is linked.
	compose(targets, title, content, "send", "#task-link")
	b.screenshot("composer-sent")
	href := read(b, "reading the task link", chromedp.AttributeValue(chromedp.CSS("#task-link"), "href"))
	task, err := url.PathUnescape(strings.TrimPrefix(href.Value, appPath+"/tasks/"))
	if err != nil || task == "" || !strings.HasPrefix(href.Value, appPath+"/tasks/") {
		t.Fatalf("the task link is %q", href.Value)
	}
	want := map[string]uint64{"planned": 3, "invalid_device": 1, "filtered": 1, "valid": 1, "acked": 1}
	e.waitFor("the composed push through the pipeline", 2*time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ? AND event IN ('planned','invalid_device','filtered','valid','acked')", task)
		return equalCounts(got, want), fmt.Sprint(got)
	})
	// What the preview showed is what happened: MiPush's request carries
	// the previewed title and body, vivo got nothing, and the filtered
	// event has the previewed code and reason.
	sent := slices.IndexFunc(e.sim.Requests("mipush", "sg"), func(r vendorsim.Request) bool { return slices.Contains(r.RegIDs, "regid-cmp-mi") })
	if sent < 0 {
		t.Fatal("the simulated MiPush recorded no request for cmp-mi")
	}
	if r := e.sim.Requests("mipush", "sg")[sent]; r.Form.Get("title") != title || r.Form.Get("description") != content {
		t.Errorf("MiPush received title %q and description %q, the preview showed %q and %q", r.Form.Get("title"), r.Form.Get("description"), title, content)
	}
	if n := len(e.sim.Requests("vivo", "sg")); n != 0 {
		t.Errorf("the simulated vivo recorded %d requests, the preview said the title is filtered", n)
	}
	var code int64
	var desc string
	if err := e.conn.QueryRow(ctx, "SELECT status_code, status_desc FROM "+e.db("sg")+".events WHERE task_id = ? AND event = 'filtered' AND device_id = 'cmp-vivo' LIMIT 1", task).Scan(&code, &desc); err != nil {
		t.Fatal(err)
	}
	if uint64(code) != vivoCode || desc != vivoReason {
		t.Errorf("the filtered event has code %d and %q; the preview showed %d and %q", code, desc, vivoCode, vivoReason)
	}

	// The task list has it; its page's funnel and timeline totals equal
	// /v1/tasks/{taskId}.
	b.do("the task list", chromedp.Click(chromedp.CSS("#nav-tasks")), chromedp.WaitVisible(chromedp.CSS(`tr[data-task="`+task+`"]`)))
	b.do("the task page", chromedp.Click(chromedp.CSS(`tr[data-task="`+task+`"] a.task-link`)), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	var detail gateway.TaskDetail
	if err := api.Query(ctx, "/v1/tasks/"+task, map[string]any{"appId": testApp, "workspaceId": "default"}, &detail); err != nil {
		t.Fatal(err)
	}
	f := detail.Funnel
	for _, s := range []struct {
		funnelKey string
		event     schema.EventType
		api       uint64
	}{{"planned", schema.EventPlanned, f.Planned}, {"invalidDevice", schema.EventInvalidDevice, f.InvalidDevice}, {"filtered", schema.EventFiltered, f.Filtered},
		{"valid", schema.EventValid, f.Valid}, {"acked", schema.EventAcked, f.Acked}} {
		if got := b.count(`[data-funnel="` + s.funnelKey + `"]`); got != s.api {
			t.Errorf("funnel %s = %d on the page, /v1/tasks/{taskId} says %d", s.funnelKey, got, s.api)
		}
		if got := b.count(`#timeline [data-total="` + string(s.event) + `"]`); got != s.api {
			t.Errorf("timeline total of %s = %d, /v1/tasks/{taskId}'s funnel says %d", s.event, got, s.api)
		}
	}
	if f.Planned != 3 || f.Filtered != 1 || f.Acked != 1 {
		t.Fatalf("funnel %+v: want 3 planned, 1 filtered, 1 acked", f)
	}
	if !b.exists("svg.timeline polyline.s-ev-acked") {
		t.Error("the timeline has no line of acked events")
	}
	b.screenshot("task-timeline")

	// Investigating the composed push's vivo device: its message is
	// listed under the task and stopped where the preview said, filtered,
	// with the previewed reason.
	b.do("investigating cmp-vivo", chromedp.Click(chromedp.CSS("#nav-investigate")), chromedp.WaitVisible(chromedp.CSS("#investigate-form")),
		chromedp.SendKeys(chromedp.CSS("#id"), "cmp-vivo"), chromedp.Click(chromedp.CSS("#investigate")), chromedp.WaitVisible(chromedp.CSS("#messages")))
	msg := `article.message[data-task="` + task + `"] `
	if !b.exists(msg + `tr[data-event="filtered"]`) {
		t.Fatalf("cmp-vivo's message of task %s shows no filtered event: %s", task, b.text("#messages"))
	}
	stop := read(b, "reading where cmp-vivo's message stopped", chromedp.AttributeValue(chromedp.CSS(msg+`li.stop[data-device="cmp-vivo"]`), "data-stop"))
	if stop.Value != "filtered" || !strings.Contains(b.text(msg), vivoReason) {
		t.Errorf("cmp-vivo's message stopped at %q, want filtered with %q: %s", stop.Value, vivoReason, b.text(msg))
	}
	b.screenshot("composer-investigate")
}
