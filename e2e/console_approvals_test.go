package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
)

// TestApprovalsInABrowser drives the approval flow through the console in
// a real headless Chromium against the running pipeline: the app holds
// pushes of more than two targets; olga composes one to three devices and
// the composer says it awaits approval; on the Approvals page it is
// waiting, submitted by olga, who may not approve it; bob, a second
// operator, approves it, the page shows it approved by bob, and the
// three devices receive it. Screenshots go beside the other pages'.
func TestApprovalsInABrowser(t *testing.T) {
	chromium := chromiumPath(t)
	e := newEnvWith(t, func(c *config.Config) {
		c.Apps[0].Approval = &config.AppApproval{MaxTargets: 2, Expiry: time.Hour}
	}, "sg")
	e.run([]string{"sg"}, app.Registry, app.Fanout, app.Sender, app.Eventsink)
	devs := []string{"apv-1", "apv-2", "apv-3"}
	for _, d := range devs {
		e.registerDevices("sg", device("sg", d, "regid-"+d))
	}
	b := startConsole(t, e, chromium, consoleAccount(t, "olga", "operator", testApp), consoleAccount(t, "bob", "operator", testApp))

	b.login("olga", "olga-password", "#metrics")
	b.do("composing a push to three devices", chromedp.Click(chromedp.CSS("#nav-composer")), chromedp.WaitVisible(chromedp.CSS("#composer-form")),
		chromedp.SetValue(chromedp.CSS("#targets"), strings.Join(devs, "\n")), chromedp.SetValue(chromedp.CSS("#title"), "Held for approval"),
		chromedp.SetValue(chromedp.CSS("#content"), "Sent once bob approves"), chromedp.SetValue(chromedp.CSS("#taskName"), "approval e2e"),
		chromedp.Click(chromedp.CSS("#send")), chromedp.WaitVisible(chromedp.CSS("#task-link")))
	if got := b.text("#notice"); !strings.Contains(got, "awaiting a second operator's approval") || !strings.Contains(got, "more than the app's 2") {
		t.Errorf("the composer's notice says %q, want that the push awaits approval", got)
	}
	href := read(b, "reading the task link", chromedp.AttributeValue(chromedp.CSS("#task-link"), "href"))
	task := href.Value[strings.LastIndex(href.Value, "/")+1:]
	row := fmt.Sprintf(`tr[data-task=%q]`, task)

	// Waiting, submitted by olga, who may not approve her own push.
	b.do("opening the approvals page", chromedp.Click(chromedp.CSS("#nav-approvals")), chromedp.WaitVisible(chromedp.CSS("#approvals")))
	e.waitFor("the push held on the approvals page", time.Minute, func() (bool, string) {
		b.do("reloading the approvals page", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#approvals")))
		return b.exists(row + `[data-status="waiting"]`), b.text("#approvals")
	})
	if got := b.text(row + ` [data-col="submitter"]`); got != "console:olga" {
		t.Errorf("the submitter column says %q, want console:olga", got)
	}
	if b.exists(row+" button.approve") || !b.exists(row+" .own") {
		t.Error("olga is offered to approve her own push")
	}
	b.screenshot("approvals-waiting")
	if got := e.sim.Requests("mipush", "sg"); len(got) != 0 {
		t.Fatalf("the simulator received %d requests before any approval", len(got))
	}
	b.logout()

	// bob approves it; the devices receive it.
	b.login("bob", "bob-password", "#metrics")
	b.do("approving the push", chromedp.Click(chromedp.CSS("#nav-approvals")), chromedp.WaitVisible(chromedp.CSS(row+" button.approve")),
		chromedp.Click(chromedp.CSS(row+" button.approve")), chromedp.WaitNotPresent(chromedp.CSS(row+" button.approve")))
	e.waitFor("the push approved on the approvals page", time.Minute, func() (bool, string) {
		if b.exists(row + `[data-status="approved"]`) {
			return true, ""
		}
		b.do("reloading the approvals page", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#approvals")))
		return false, b.text(row)
	})
	if got := b.text(row + ` [data-col="status"]`); !strings.HasPrefix(got, "approved by console:bob") {
		t.Errorf("after bob's approval the status says %q", got)
	}
	b.screenshot("approvals-approved")
	e.waitFor("the approved push acked for its three devices", 2*time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = ? AND event = 'acked'", task)
		return got["acked"] == 3, fmt.Sprint(got)
	})
	tokens := map[string]int{}
	for _, r := range e.sim.Requests("mipush", "sg") {
		for _, id := range r.RegIDs {
			tokens[id]++
		}
	}
	for _, d := range devs {
		if tokens["regid-"+d] != 1 {
			t.Errorf("the simulated MiPush received %s %d times, want once (all: %v)", d, tokens["regid-"+d], tokens)
		}
	}
}
