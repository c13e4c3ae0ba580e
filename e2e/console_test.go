package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/console"
	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// screenshotDir is where the browser tests leave a screenshot of every
// page they saw: the state folder of the checkout (ignored by git).
var screenshotDir = filepath.Join("..", ".pushpipe", "screenshots")

// chromiumPath finds the headless browser of the browser tests, failing
// the test (never skipping it) when there is none.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no Chromium on PATH: the console's browser tests need Debian's chromium package; run scripts/install-chromium.sh (make test does) or apt-get install -y chromium")
	return ""
}

// browser is one headless Chromium driven over the DevTools protocol.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func newBrowser(t *testing.T, chromium, base string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1280, 1000), chromedp.Flag("lang", "en-US"))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	// The first run starts the browser, which lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting headless Chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx, base: strings.TrimSuffix(base, "/")}
}

// consoleAccount is a console account of the given role and apps whose
// password is its name followed by "-password".
func consoleAccount(t *testing.T, name, role string, apps ...string) config.ConsoleAccount {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(name+"-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return config.ConsoleAccount{Name: name, PasswordHash: channels.Secret(h), Role: role, Apps: apps}
}

// startConsole starts the console of region sg with these accounts
// against the test's pipeline (closed when the test ends) and a headless
// Chromium on it.
func startConsole(t *testing.T, e *env, chromium string, accounts ...config.ConsoleAccount) *browser {
	t.Helper()
	e.cfg.Console.Accounts = accounts
	if err := e.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cc := app.ConsoleConfig(e.deps(), "sg", "127.0.0.1:0")
	cc.Brokers, cc.KafkaSecurity = e.brokers, e.security
	con, err := console.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	if err := con.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = con.Close() })
	return newBrowser(t, chromium, con.URL())
}

// stepTimeout bounds one step of a browser test.
const stepTimeout = time.Minute

// do runs the steps, failing the test with what was being done.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fatal(what, err)
	}
}

// read runs an action that reads a value, failing the test on an error.
func read[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.fatal(what, err)
	}
	return v
}

// fatal fails the test with the page's address and text.
func (b *browser) fatal(what string, err error) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
	b.t.Fatalf("%s: %v (at %s, page: %.600s)", what, err, loc, body)
}

// screenshot saves the page as <screenshotDir>/console-<name>.png.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png := read(b, "screenshot "+name, chromedp.FullScreenshot(100))
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(screenshotDir, "console-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	abs, _ := filepath.Abs(p)
	b.t.Logf("screenshot %s", abs)
}

// text returns the text of the element sel (a CSS selector).
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(read(b, "reading "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// count returns the data-value of the element sel.
func (b *browser) count(sel string) uint64 {
	b.t.Helper()
	a := read(b, "reading "+sel, chromedp.AttributeValue(chromedp.CSS(sel), "data-value"))
	n, err := strconv.ParseUint(a.Value, 10, 64)
	if !a.Exists || err != nil {
		b.t.Fatalf("%s has no numeric data-value (%q)", sel, a.Value)
	}
	return n
}

// exists reports whether the page has an element sel.
func (b *browser) exists(sel string) bool {
	b.t.Helper()
	return read(b, "looking for "+sel, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel))) > 0
}

// login logs in through the login form and waits for the next page.
func (b *browser) login(name, password, waitFor string) {
	b.t.Helper()
	b.do("logging in as "+name,
		chromedp.Navigate(b.base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#login-form")),
		chromedp.SendKeys(chromedp.CSS("#name"), name),
		chromedp.SendKeys(chromedp.CSS("#password"), password),
		chromedp.Click(chromedp.CSS("#login")),
		chromedp.WaitVisible(chromedp.CSS(waitFor)))
}

func (b *browser) logout() {
	b.t.Helper()
	b.do("logging out", chromedp.Click(chromedp.CSS("#logout")), chromedp.WaitVisible(chromedp.CSS("#login-form")))
}

// TestConsoleInABrowser drives the console with a real headless Chromium
// against the running pipeline (real Kafka and ClickHouse, the vendor
// simulator posting receipts): a wrong password is refused, an operator
// logs in, a push published through the gateway shows in the overview,
// the task list and its task page with the numbers the HTTP API answers
// for the same queries, the investigation page shows one of its devices
// with its token as /v1/devices/status does and its message's events up
// to opened, and says so for a device never seen; a viewer sees no revoke button and is refused when
// posting one anyway, forged posts without the CSRF token are refused and
// publish nothing, and the operator's revoke reaches push.control and the
// recall worker. Then an admin creates and deletes a template, cancels a
// schedule made through the API, reads a user's tags and a tag's users,
// and finds a rejected request among the dead letters and sends it back
// fixed, after which it reaches the simulator (consoleManagement). Every
// page is saved as a screenshot under .pushpipe/screenshots/.
func TestConsoleInABrowser(t *testing.T) {
	chromium := chromiumPath(t) // before anything starts: no browser, no test
	e := newEnvOpts(t, envOptions{simReceipts: &vendorsim.ReceiptsConfig{ArrivalRate: 1, OpenRate: 1},
		configure: func(c *config.Config) { c.Recall.Settle = time.Second }}, "sg")
	e.run([]string{"sg"}, app.Kinds()...)
	e.registerDevices("sg", device("sg", "con-1", "regid-con-1"), device("sg", "con-2", "regid-con-2"), device("sg", "con-3", "regid-con-3"))
	api := e.startGateway("sg")
	ctx := context.Background()
	start := time.Now().UTC()

	// A push through the pipeline: three devices of the simulated MiPush
	// and one nobody registered.
	task, err := api.Push(ctx, &schema.Request{Type: schema.PushSimple, AppID: testApp, WorkspaceID: "default", TaskName: "console e2e",
		DeliverType: schema.DeliverAndroid, TargetMsgkey: schema.StringMap{"con-1": "con-msg-1", "con-2": "con-msg-2", "con-3": "con-msg-3", "con-nobody": "con-msg-4"},
		Title: "Seen in the console", Content: "Funnel and revoke", ExpiredSeconds: 3600})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{"planned": 4, "invalid_device": 1, "valid": 3, "acked": 3, "arrived": 3, "opened": 3}
	e.waitFor("the push sent, arrived and opened", 2*time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ? AND event IN ('planned','invalid_device','valid','acked','arrived','opened')", task)
		return equalCounts(got, want), fmt.Sprint(got)
	})

	// The console, with an operator of the test app and a viewer of every
	// app.
	b := startConsole(t, e, chromium,
		consoleAccount(t, "olga", "operator", testApp), consoleAccount(t, "vera", "viewer", console.AllApps), consoleAccount(t, "ada", "admin", testApp))
	appPath := "/apps/" + url.PathEscape(testApp)

	// A wrong password is refused without saying which part was wrong.
	b.login("olga", "not-her-password", "#error")
	if got := b.text("#error"); got != "Wrong name or password." {
		t.Fatalf("a wrong password shows %q", got)
	}
	b.screenshot("login-refused")

	// The operator logs in and lands on the overview.
	b.login("olga", "olga-password", "#metrics")
	if got := b.text("#account"); !strings.Contains(got, "olga") || !strings.Contains(got, "operator") {
		t.Fatalf("the page shows account %q", got)
	}

	// Overview: the totals over an explicit range equal /v1/stats's.
	from := start.Truncate(time.Hour).Add(-time.Hour)
	to := time.Now().UTC().Truncate(time.Minute).Add(2 * time.Minute)
	q := url.Values{"last": {""}, "from": {from.Format("2006-01-02T15:04")}, "to": {to.Format("2006-01-02T15:04")}, "granularity": {"minute"}, "channel": {"mipush"}}
	b.do("the overview", chromedp.Navigate(b.base+appPath+"/overview?"+q.Encode()), chromedp.WaitVisible(chromedp.CSS("#metrics")))
	var stats gateway.Stats
	if err := api.Query(ctx, "/v1/stats", map[string]any{"appId": testApp, "workspaceId": "default", "granularity": "minute", "channel": "mipush",
		"startTime": from.UnixMilli(), "endTime": to.UnixMilli()}, &stats); err != nil {
		t.Fatal(err)
	}
	for metric, apiValue := range map[string]uint64{"pushed": stats.PushTotalNum, "succeeded": stats.PushNum, "arrived": stats.ArrivalNum, "opened": stats.OpenNum, "ignored": stats.IgnoreNum} {
		if got := b.count(`[data-metric="` + metric + `"]`); got != apiValue {
			t.Errorf("overview %s = %d, /v1/stats says %d", metric, got, apiValue)
		}
	}
	if got, want := b.text(`[data-metric="arrivalRate"]`), fmt.Sprintf("%.1f%% of pushed", stats.ArrivalRate*100); got != want {
		t.Errorf("overview arrival rate %q, /v1/stats says %q", got, want)
	}
	if stats.PushNum != 3 || stats.ArrivalNum != 3 || stats.OpenNum != 3 {
		t.Fatalf("/v1/stats %+v: want the push's 3 acked, arrived and opened messages", stats)
	}
	if !b.exists("svg.chart polyline.s-pushed") {
		t.Error("the overview has no trend chart")
	}
	b.screenshot("overview")

	// Tasks: the push is listed with the numbers of /v1/tasks.
	b.do("the task list", chromedp.Click(chromedp.CSS("#nav-tasks")), chromedp.WaitVisible(chromedp.CSS(`tr[data-task="`+task+`"]`)))
	var tasks []gateway.Task
	if err := api.Query(ctx, "/v1/tasks", map[string]any{"appId": testApp, "workspaceId": "default", "startTime": start.Add(-time.Hour).UnixMilli(), "taskId": task}, &tasks); err != nil || len(tasks) != 1 {
		t.Fatalf("/v1/tasks: %+v, %v", tasks, err)
	}
	row := `tr[data-task="` + task + `"] `
	for col, apiValue := range map[string]uint64{"pushNum": tasks[0].PushNum, "pushSuccessNum": tasks[0].PushSuccessNum, "pushArrivalNum": tasks[0].PushArrivalNum} {
		if got := b.count(row + `[data-col="` + col + `"]`); got != apiValue {
			t.Errorf("task list %s = %d, /v1/tasks says %d", col, got, apiValue)
		}
	}
	b.screenshot("tasks")

	// The task page: its funnel and figures equal /v1/tasks/{taskId} and
	// /v1/stats/funnel, its mipush row /v1/stats of the task on mipush.
	b.do("the task page", chromedp.Click(chromedp.CSS(row+"a.task-link")), chromedp.WaitVisible(chromedp.CSS("#funnel")))
	var detail gateway.TaskDetail
	if err := api.Query(ctx, "/v1/tasks/"+task, map[string]any{"appId": testApp, "workspaceId": "default"}, &detail); err != nil {
		t.Fatal(err)
	}
	var funnel schema.Funnel
	if err := api.Query(ctx, "/v1/stats/funnel", map[string]any{"appId": testApp, "workspaceId": "default", "taskId": task}, &funnel); err != nil {
		t.Fatal(err)
	}
	if funnel != detail.Funnel {
		t.Fatalf("/v1/stats/funnel %+v and /v1/tasks/{taskId} %+v differ", funnel, detail.Funnel)
	}
	for key, apiValue := range map[string]uint64{"planned": funnel.Planned, "invalidDevice": funnel.InvalidDevice, "filtered": funnel.Filtered, "valid": funnel.Valid,
		"acked": funnel.Acked, "arrived": funnel.Arrived, "opened": funnel.Opened} {
		if got := b.count(`[data-funnel="` + key + `"]`); got != apiValue {
			t.Errorf("funnel %s = %d on the page, %d from the API", key, got, apiValue)
		}
	}
	if funnel.Planned != 4 || funnel.InvalidDevice != 1 || funnel.Acked != 3 || funnel.Opened != 3 {
		t.Fatalf("funnel %+v: want 4 planned, 1 invalid device, 3 acked, 3 opened", funnel)
	}
	for key, apiValue := range map[string]uint64{"pushNum": detail.PushNum, "pushSuccessNum": detail.PushSuccessNum, "pushArrivalNum": detail.PushArrivalNum} {
		if got := b.count(`[data-task="` + key + `"]`); got != apiValue {
			t.Errorf("task %s = %d on the page, /v1/tasks/{taskId} says %d", key, got, apiValue)
		}
	}
	var onMiPush gateway.Stats
	if err := api.Query(ctx, "/v1/stats", map[string]any{"appId": testApp, "workspaceId": "default", "granularity": "day", "channel": "MIUI", "taskId": task,
		"startTime": time.UnixMilli(detail.StartTime).Truncate(time.Minute).UnixMilli(), "endTime": time.Now().Add(time.Minute).UnixMilli()}, &onMiPush); err != nil {
		t.Fatal(err)
	}
	for col, apiValue := range map[string]uint64{"pushed": onMiPush.PushTotalNum, "succeeded": onMiPush.PushNum, "arrived": onMiPush.ArrivalNum, "opened": onMiPush.OpenNum} {
		if got := b.count(`tr[data-channel="mipush"] [data-col="` + col + `"]`); got != apiValue {
			t.Errorf("mipush %s = %d on the task page, /v1/stats says %d", col, got, apiValue)
		}
	}
	if !b.exists("svg.funnel rect.bar") || !b.exists("#revoke") {
		t.Fatal("the operator's task page lacks its funnel chart or revoke button")
	}
	b.screenshot("task")
	taskPath := appPath + "/tasks/" + url.PathEscape(task)

	// Investigation: device con-1's token as /v1/devices/status tells it,
	// and its message with every event ClickHouse holds for it, stopped
	// at opened.
	b.do("investigating con-1", chromedp.Click(chromedp.CSS("#nav-investigate")), chromedp.WaitVisible(chromedp.CSS("#investigate-form")),
		chromedp.SendKeys(chromedp.CSS("#id"), "con-1"), chromedp.Click(chromedp.CSS("#investigate")), chromedp.WaitVisible(chromedp.CSS("#messages")))
	var devStatus []gateway.DeviceStatus
	if err := api.Query(ctx, "/v1/devices/status", map[string]any{"appId": testApp, "workspaceId": "default", "deviceIds": []string{"con-1"}}, &devStatus); err != nil || len(devStatus) != 1 {
		t.Fatalf("/v1/devices/status of con-1: %+v, %v", devStatus, err)
	}
	devRow := `tr[data-device="con-1"] `
	tokenValid := read(b, "reading the token's validity", chromedp.AttributeValue(chromedp.CSS(devRow+`[data-col="tokenValid"]`), "data-value"))
	if got := b.text(devRow + `[data-col="channel"]`); got != devStatus[0].Channel || b.text(devRow+`[data-col="token"]`) != devStatus[0].VendorToken ||
		tokenValid.Value != strconv.FormatBool(devStatus[0].TokenValid) || !devStatus[0].TokenValid {
		t.Errorf("con-1 shows channel %q, token %q, valid %q; /v1/devices/status says %+v", got, b.text(devRow+`[data-col="token"]`), tokenValid.Value, devStatus[0])
	}
	msg := `article.message[data-msg="con-msg-1"][data-task="` + task + `"] `
	stored := e.eventCounts("sg", "task_id = ? AND msg_id = 'con-msg-1' AND (device_id = 'con-1' OR (device_id = '' AND target = 'con-1'))", task)
	var storedTotal uint64
	for _, n := range stored {
		storedTotal += n
	}
	shown := read(b, "counting the events shown", chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", msg+"tr[data-event]")))
	if uint64(shown) != storedTotal {
		t.Errorf("con-1's message shows %d events, ClickHouse holds %d: %v", shown, storedTotal, stored)
	}
	for _, ev := range []string{"planned", "valid", "sent", "acked", "arrived", "opened"} {
		if !b.exists(msg + `tr[data-event="` + ev + `"]`) {
			t.Errorf("con-1's message shows no %s event", ev)
		}
	}
	stopAt := read(b, "reading where con-1's message stopped", chromedp.AttributeValue(chromedp.CSS(msg+`li.stop[data-device="con-1"]`), "data-stop"))
	if stopAt.Value != "opened" {
		t.Errorf("con-1's message stopped at %q, want opened", stopAt.Value)
	}
	b.screenshot("investigate")

	// A device nobody registered that the push named: its message says
	// why it went no further. A device never seen: the page says so.
	b.do("investigating con-nobody", chromedp.Navigate(b.base+appPath+"/investigate?by=device&id=con-nobody"), chromedp.WaitVisible(chromedp.CSS("#messages")))
	if !b.exists("#unregistered") || !strings.Contains(b.text(`article.message[data-msg="con-msg-4"] li.stop[data-stop="invalid_device"]`), "NoBindInfo") {
		t.Errorf("con-nobody's page does not say it is unregistered and why its message stopped")
	}
	b.do("investigating an unknown device", chromedp.Navigate(b.base+appPath+"/investigate?by=device&id=con-never-seen"), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := b.text("#error"); !strings.Contains(got, `Device "con-never-seen" is not registered`) || !strings.Contains(got, "no message was planned to it") || b.exists("article.message") {
		t.Errorf("an unknown device's page says %q", got)
	}
	b.screenshot("investigate-unknown")

	// Forged posts: the revoke form without its CSRF token, and with a
	// made-up one, are refused and publish nothing.
	for name, js := range map[string]string{
		"no-csrf":    `document.querySelector('#revoke-form input[name=csrf]').remove()`,
		"wrong-csrf": `document.querySelector('#revoke-form input[name=csrf]').value = 'forged'`,
	} {
		b.do("a forged revoke ("+name+")", chromedp.Navigate(b.base+taskPath), chromedp.WaitVisible(chromedp.CSS("#revoke-form")),
			chromedp.Evaluate[chromedp.Void](js), chromedp.Click(chromedp.CSS("#confirm")), chromedp.Click(chromedp.CSS("#revoke")),
			chromedp.WaitVisible(chromedp.CSS("#error")))
		title := read(b, "reading the title", chromedp.Title())
		if got := b.text("#error"); !strings.HasPrefix(title, "Forbidden") || !strings.Contains(got, "security token is missing or out of date") {
			t.Fatalf("a revoke with %s: page %q says %q, want Forbidden", name, title, got)
		}
		if name == "no-csrf" {
			b.screenshot("revoke-without-csrf")
		}
	}
	if recs := e.readAll(pipeline.ControlTopic("sg")); len(recs) != 0 {
		t.Fatalf("forged revokes published %d control records", len(recs))
	}

	// The viewer sees the task but no revoke button, and a revoke posted
	// anyway, with the session's own token, is refused.
	b.logout()
	b.login("vera", "vera-password", "#metrics")
	b.do("the viewer's task page", chromedp.Navigate(b.base+taskPath), chromedp.WaitVisible(chromedp.CSS("#funnel")))
	if b.exists("#revoke") || b.exists("#revoke-form") || !b.exists("#no-revoke") {
		t.Fatal("the viewer's task page offers a revoke")
	}
	if got := b.count(`[data-funnel="acked"]`); got != funnel.Acked {
		t.Fatalf("the viewer sees acked %d, want %d", got, funnel.Acked)
	}
	b.screenshot("task-viewer")
	b.do("a viewer's revoke", chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const f = document.createElement('form'); f.method = 'post'; f.action = %q;
		const c = document.createElement('input'); c.type = 'hidden'; c.name = 'csrf'; c.value = document.querySelector('form.logout input[name=csrf]').value;
		f.appendChild(c); document.body.appendChild(f); f.submit(); })()`, taskPath+"/revoke")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := b.text("#error"); !strings.Contains(got, "only operators and admins may revoke") {
		t.Fatalf("a viewer's revoke says %q", got)
	}
	if recs := e.readAll(pipeline.ControlTopic("sg")); len(recs) != 0 {
		t.Fatalf("a viewer's revoke published %d control records", len(recs))
	}
	b.logout()

	// The operator revokes: one control record, the recall worker recalls
	// the three acked messages.
	b.login("olga", "olga-password", "#metrics")
	b.do("the revoke", chromedp.Navigate(b.base+taskPath), chromedp.WaitVisible(chromedp.CSS("#revoke-form")),
		chromedp.SendKeys(chromedp.CSS("#reason"), "wrong copy"), chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.Click(chromedp.CSS("#revoke")), chromedp.WaitVisible(chromedp.CSS("#notice")))
	b.screenshot("task-revoked")
	recs := e.readAll(pipeline.ControlTopic("sg"))
	if len(recs) != 1 || string(recs[0].Key) != testApp+"/task:"+task {
		t.Fatalf("control records after the revoke: %d, want one keyed %s/task:%s", len(recs), testApp, task)
	}
	var ctl schema.Control
	if err := json.Unmarshal(recs[0].Value, &ctl); err != nil || ctl.Op != schema.ControlRevoke || ctl.TaskID != task || ctl.Reason != "wrong copy" || ctl.Region != "sg" {
		t.Fatalf("control record %s: %v", recs[0].Value, err)
	}
	e.waitFor("the acked messages recalled", 2*time.Minute, func() (bool, string) {
		c := e.eventCounts("sg", "task_id = ? AND event = 'recalled'", task)
		return c["recalled"] == 3, fmt.Sprint(c)
	})

	b.logout()
	consoleManagement(t, e, b, api, appPath)
	consoleABTest(t, e, b, api, appPath)
}

// consoleManagement drives the templates, schedules, tags and
// dead-letter pages as the admin ada, checking each against the HTTP API
// and the pipeline.
func consoleManagement(t *testing.T, e *env, b *browser, api *gateway.Client, appPath string) {
	ctx := context.Background()
	ref := func(fields map[string]any) map[string]any {
		fields["appId"], fields["workspaceId"] = testApp, "default"
		return fields
	}
	b.login("ada", "ada-password", "#metrics")

	// Templates: one created in the console is listed by
	// /v1/templates/list; creating it again is refused with the code and
	// words the gateway answers; deleting it removes it from the API's list.
	listed := func() map[string]schema.Template {
		var ts []schema.Template
		if err := api.Query(ctx, "/v1/templates/list", ref(map[string]any{}), &ts); err != nil {
			t.Fatal(err)
		}
		out := map[string]schema.Template{}
		for _, tp := range ts {
			out[tp.Name] = tp
		}
		return out
	}
	createTemplate := func(waitFor string) {
		b.do("creating a template", chromedp.Navigate(b.base+appPath+"/templates"), chromedp.WaitVisible(chromedp.CSS("#template-form")),
			chromedp.SendKeys(chromedp.CSS("#tpl-name"), "con_tpl"), chromedp.SendKeys(chromedp.CSS("#tpl-title"), "Hello #name#"),
			chromedp.SendKeys(chromedp.CSS("#tpl-content"), "Your order #order# shipped"),
			chromedp.Click(chromedp.CSS("#create-template")), chromedp.WaitVisible(chromedp.CSS(waitFor)))
	}
	createTemplate("#notice")
	if tp, ok := listed()["con_tpl"]; !ok || tp.Title != "Hello #name#" || tp.Content != "Your order #order# shipped" {
		t.Fatalf("/v1/templates/list after the console created con_tpl: %+v", listed())
	}
	if got := b.text(`tr[data-template="con_tpl"] [data-col="title"]`); got != "Hello #name#" {
		t.Errorf("the templates page shows title %q", got)
	}
	b.screenshot("templates")
	var ge *gateway.Error
	if _, err := api.Call(ctx, "/v1/templates/create", ref(map[string]any{"templateName": "con_tpl", "title": "Hello #name#", "content": "x"})); !errors.As(err, &ge) {
		t.Fatalf("creating con_tpl twice through the API: %v, want a refusal", err)
	}
	createTemplate("#error")
	if got, want := b.text("#error"), fmt.Sprintf("refused with code %d: %s", ge.Code, ge.Message); !strings.Contains(got, want) || ge.Code != schema.CodeTemplateAlreadyExist {
		t.Errorf("a second con_tpl: the console says %q, the API %q", got, want)
	}
	b.do("deleting the template", chromedp.Navigate(b.base+appPath+"/templates"),
		chromedp.Click(chromedp.CSS(`tr[data-template="con_tpl"] button`)), chromedp.WaitVisible(chromedp.CSS("#notice")))
	if _, ok := listed()["con_tpl"]; ok || b.exists(`tr[data-template="con_tpl"]`) {
		t.Fatal("con_tpl is still listed after the console deleted it")
	}

	// Schedules: a push scheduled an hour ahead through the API is listed
	// as /v1/schedules lists it, and cancelled from the console.
	fixed := time.Now().Add(time.Hour).Truncate(time.Second)
	if _, err := api.Push(ctx, &schema.Request{Type: schema.PushSimple, AppID: testApp, WorkspaceID: "default", TaskName: "console schedule",
		DeliverType: schema.DeliverAndroid, TargetMsgkey: schema.StringMap{"con-2": "con-sched-msg"}, Title: "Later", Content: "In an hour",
		ExpiredSeconds: 3600, StrategyType: schema.StrategyFixedTime, StrategyContent: &schema.StrategyContent{FixedTime: fixed.UnixMilli()}}); err != nil {
		t.Fatal(err)
	}
	var sched gateway.ScheduleList
	e.waitFor("the schedule listed by /v1/schedules", time.Minute, func() (bool, string) {
		if err := api.Query(ctx, "/v1/schedules", ref(map[string]any{}), &sched); err != nil {
			return false, err.Error()
		}
		return sched.TotalCount == 1, fmt.Sprintf("%+v", sched)
	})
	occ := sched.List[0]
	row := `tr[data-occurrence="` + occ.UniqueID + `"]`
	b.do("the schedules page", chromedp.Navigate(b.base+appPath+"/schedules"), chromedp.WaitVisible(chromedp.CSS(row)))
	if got := b.count("#schedule-count"); got != uint64(sched.TotalCount) || b.text(row+` [data-col="status"]`) != occ.Status || occ.Status != schema.TaskPending {
		t.Errorf("the schedules page shows %d occurrence(s), %s %q; /v1/schedules says %+v", got, occ.UniqueID, b.text(row+` [data-col="status"]`), sched)
	}
	b.screenshot("schedules")
	b.do("cancelling the schedule", chromedp.Click(chromedp.CSS(row+" button.cancel-schedule")), chromedp.WaitVisible(chromedp.CSS("#notice")))
	if err := api.Query(ctx, "/v1/schedules", ref(map[string]any{}), &sched); err != nil || len(sched.List) != 1 || sched.List[0].Status != schema.TaskCancelled {
		t.Fatalf("/v1/schedules after the console's cancel: %+v, %v", sched, err)
	}
	if got := b.text(row + ` [data-col="status"]`); got != schema.TaskCancelled {
		t.Errorf("the schedules page shows %q after the cancel", got)
	}

	// Tags: a user's tags and a tag's users as /v1/tags/list and
	// /v1/tags/users answer them.
	for _, u := range []string{"con-u1", "con-u2"} {
		if _, err := api.Call(ctx, "/v1/tags/add", ref(map[string]any{"userId": u, "tags": []string{"con-vip", "con-" + u}})); err != nil {
			t.Fatal(err)
		}
	}
	var users gateway.TagUsers
	e.waitFor("two users of con-vip", time.Minute, func() (bool, string) {
		if err := api.Query(ctx, "/v1/tags/users", ref(map[string]any{"tag": "con-vip", "pageNumber": 1, "pageSize": 1}), &users); err != nil {
			return false, err.Error()
		}
		return users.TotalCount == 2, fmt.Sprintf("%+v", users)
	})
	var tags gateway.UserTags
	if err := api.Query(ctx, "/v1/tags/list", ref(map[string]any{"userId": "con-u1"}), &tags); err != nil {
		t.Fatal(err)
	}
	b.do("the tags page", chromedp.Navigate(b.base+appPath+"/tags?user=con-u1&tag=con-vip&size=1"), chromedp.WaitVisible(chromedp.CSS("#tag-users")))
	shownTags := read(b, "reading the user's tags", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#user-tags li[data-tag]')].map(li => li.dataset.tag)`))
	shownUsers := read(b, "reading the tag's users", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#tag-users li[data-user]')].map(li => li.dataset.user)`))
	if fmt.Sprint(shownTags) != fmt.Sprint(tags.Tags) || fmt.Sprint(shownUsers) != fmt.Sprint(users.List) || b.count("#tag-total") != users.TotalCount || !b.exists("#next") {
		t.Errorf("the tags page shows tags %v, users %v of %d; the API says %v and %+v", shownTags, shownUsers, b.count("#tag-total"), tags.Tags, users)
	}
	b.screenshot("tags")

	// Dead letters: a request without a task name published straight to
	// push.requests.sg is rejected by fanout (3019) and shown with its
	// reason; sent back unfixed it is refused with that code, sent back
	// fixed it runs through the pipeline to the simulator.
	const dlqTask = "con-dlq-task"
	bad := simpleRequest("sg", dlqTask, map[string]string{"con-2": "con-dlq-msg"})
	bad["taskName"], bad["title"] = "", "Fixed from the dead letters"
	e.publish(jsonOut(pipeline.RequestsTopic("sg"), schema.AppKey(testApp, dlqTask), bad))
	e.waitFor("the request dead-lettered", time.Minute, func() (bool, string) {
		for _, m := range e.readAll(pipeline.DLQTopic("sg")) {
			if string(m.Key) == schema.AppKey(testApp, dlqTask) {
				return true, ""
			}
		}
		return false, "not yet"
	})
	letter := `tr[data-key="` + schema.AppKey(testApp, dlqTask) + `"]`
	b.do("the dead letters", chromedp.Navigate(b.base+appPath+"/deadletters"), chromedp.WaitVisible(chromedp.CSS(letter)))
	if code, stage := b.text(letter+` [data-col="code"]`), b.text(letter+` [data-col="stage"]`); code != "3019" || stage != "fanout" || !strings.Contains(b.text(letter+` [data-col="reason"]`), "taskName is empty") {
		t.Errorf("the rejected request shows code %q from stage %q, reason %q", code, stage, b.text(letter+` [data-col="reason"]`))
	}
	b.screenshot("deadletters")
	b.do("the dead letter", chromedp.Click(chromedp.CSS(letter+" a.letter-link")), chromedp.WaitVisible(chromedp.CSS("#resend-form")),
		chromedp.Click(chromedp.CSS("#resend")), chromedp.WaitVisible(chromedp.CSS("#error")))
	if got := b.text("#error"); !strings.Contains(got, "refused with code 3019: taskName is empty") {
		t.Errorf("sending the request back unfixed says %q", got)
	}
	b.screenshot("deadletter-refused")
	fixedReq := simpleRequest("sg", dlqTask, map[string]string{"con-2": "con-dlq-msg"})
	fixedReq["title"], fixedReq["taskName"] = "Fixed from the dead letters", "fixed in the console"
	fixedJSON, _ := json.Marshal(fixedReq)
	b.do("sending the fixed request back", chromedp.SetValue(chromedp.CSS("#value"), string(fixedJSON)),
		chromedp.Click(chromedp.CSS("#resend")), chromedp.WaitVisible(chromedp.CSS("#notice")))
	b.screenshot("deadletter-resent")
	e.waitFor("the fixed request at the simulator", 2*time.Minute, func() (bool, string) {
		for _, r := range e.sim.Requests("mipush", "sg") {
			if slices.Contains(r.RegIDs, "regid-con-2") && r.Form.Get("title") == "Fixed from the dead letters" {
				return true, ""
			}
		}
		return false, fmt.Sprint(e.eventCounts("sg", "task_id = ?", dlqTask))
	})
}

// consoleABTest runs an A/B test of two variants to 20 devices to its
// decision and checks that the console's A/B test page shows the decision
// and the figures /v1/abtests/{taskId} gives.
func consoleABTest(t *testing.T, e *env, b *browser, api *gateway.Client, appPath string) {
	ctx := context.Background()
	e.runScheduler("sg")
	var targets []string
	var devs []schema.Binding
	for i := range 20 {
		id := fmt.Sprintf("con-ab-%02d", i)
		devs = append(devs, device("sg", id, "regid-"+id))
		targets = append(targets, id)
	}
	e.registerDevices("sg", devs...)
	// The test is composed in the console: two copies, 10% of 20 targets
	// (one device each), decided after 10 seconds.
	b.do("composing an A/B test", chromedp.Navigate(b.base+appPath+"/compose"), chromedp.WaitVisible(chromedp.CSS("#composer-form")),
		chromedp.SetValue(chromedp.CSS("#targets"), strings.Join(targets, "\n")), chromedp.SetValue(chromedp.CSS("#taskName"), "console A/B"),
		chromedp.SetValue(chromedp.CSS("#variants"), "Copy one | first\nCopy two | second"),
		chromedp.SetValue(chromedp.CSS("#abSample"), "10"), chromedp.SetValue(chromedp.CSS("#abDecision"), "10"),
		chromedp.Click(chromedp.CSS("#preview")), chromedp.WaitVisible(chromedp.CSS("#preview-result")))
	// The preview shows the two sampled devices, each with its variant's copy.
	sampled := b.count(`article.channel[data-channel="mipush"] [data-col="valid"]`)
	if got := b.text("#preview-devices"); sampled != 2 || !strings.Contains(got, "“Copy one” / “first”") || !strings.Contains(got, "“Copy two” / “second”") {
		t.Errorf("the A/B preview sends to %d sampled devices: %q; want two, one with each copy", sampled, got)
	}
	b.screenshot("composer-abtest-preview")
	b.do("sending the A/B test", chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#task-link")))
	href := read(b, "reading the A/B test link", chromedp.AttributeValue(chromedp.CSS("#task-link"), "href"))
	task := href.Value[strings.LastIndex(href.Value, "/")+1:]
	if !strings.HasPrefix(href.Value, appPath+"/abtests/") || task == "" {
		t.Fatalf("the composer links the A/B test as %q", href.Value)
	}
	var ab gateway.ABTest
	e.waitFor("the A/B test decided and sent", 2*time.Minute, func() (bool, string) {
		if err := api.Query(ctx, "/v1/abtests/"+task, map[string]any{"appId": testApp, "workspaceId": "default"}, &ab); err != nil {
			return false, err.Error()
		}
		return ab.Status == "sent", ab.Status
	})
	b.do("the A/B test page", chromedp.Navigate(b.base+appPath+"/abtests/"+task), chromedp.WaitVisible(chromedp.CSS("#abtest-winner")))
	a := read(b, "the winner", chromedp.AttributeValue(chromedp.CSS("#abtest-winner"), "data-value"))
	if a.Value != ab.Decision.Winner || b.text("#abtest-status") != "sent" {
		t.Fatalf("the console shows winner %q, status %q; /v1/abtests says %+v", a.Value, b.text("#abtest-status"), ab)
	}
	for _, v := range ab.Decision.Variants {
		r := read(b, "the rate of "+v.Part, chromedp.AttributeValue(chromedp.CSS(`#abtest-decision tr[data-part="`+v.Part+`"] [data-col="rate"]`), "data-value"))
		if r.Value != strconv.FormatFloat(v.Rate, 'g', -1, 64) {
			t.Errorf("variant %s: the console shows rate %q, /v1/abtests %v", v.Part, r.Value, v.Rate)
		}
	}
	b.screenshot("abtest")
	b.do("the A/B tests list", chromedp.Navigate(b.base+appPath+"/abtests"), chromedp.WaitVisible(chromedp.CSS(`tr[data-test="`+task+`"]`)))
	b.screenshot("abtests")
}
