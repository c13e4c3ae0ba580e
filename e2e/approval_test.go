package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/crypto/bcrypt"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/console"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/approval"
)

// consoleClient is an HTTP client logged in to a console.
type consoleClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// loginConsole logs name in through the login form.
func loginConsole(t *testing.T, base, name, password string) *consoleClient {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cc := &consoleClient{t: t, base: strings.TrimSuffix(base, "/"), c: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	_, page := cc.get("/login")
	status, body := cc.post("/login", page, url.Values{"name": {name}, "password": {password}, "next": {"/"}})
	if status != http.StatusSeeOther {
		t.Fatalf("login of %s: %d %s", name, status, body)
	}
	return cc
}

func (cc *consoleClient) get(path string) (int, string) {
	cc.t.Helper()
	resp, err := cc.c.Get(cc.base + path)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post sends form with the CSRF token of page.
func (cc *consoleClient) post(path, page string, form url.Values) (int, string) {
	cc.t.Helper()
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		cc.t.Fatalf("no CSRF token on the page before POST %s", path)
	}
	form.Set("csrf", m[1])
	resp, err := cc.c.PostForm(cc.base+path, form)
	if err != nil {
		cc.t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestApprovalFlow: an app requires approval for every BROADCAST. A
// broadcast is held (accepted "awaiting approval", nothing reaches the
// simulator), requests claiming to be released are held or refused, the
// submitter and a viewer may not approve, a second operator approves in
// the console and every device receives the broadcast exactly once, even
// when the released request is published again. A second held broadcast
// expires and ends rejected (3902) with a dead-letter record.
func TestApprovalFlow(t *testing.T) {
	e := newEnvWith(t, func(c *config.Config) {
		c.Apps[0].Approval = &config.AppApproval{Broadcast: true, Expiry: time.Hour}
	}, "sg")
	hash := func(pw string) channels.Secret {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return channels.Secret(h)
	}
	e.cfg.Console.Accounts = []config.ConsoleAccount{
		{Name: "alice", PasswordHash: hash("alice-pw"), Role: "operator", Apps: []string{testApp}},
		{Name: "bob", PasswordHash: hash("bob-pw"), Role: "operator", Apps: []string{testApp}},
		{Name: "vera", PasswordHash: hash("vera-pw"), Role: "viewer", Apps: []string{console.AllApps}},
	}
	if err := e.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.run([]string{"sg"}, app.Registry, app.Fanout, app.Sender, app.Eventsink)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	// The sweeper, with a clock the test moves forward to expire a push.
	var shift atomic.Int64
	sw, err := approval.NewSweeper(approval.SweeperConfig{Producer: e.prod, Interval: 100 * time.Millisecond,
		Reader: approval.ReaderConfig{Brokers: e.brokers, Region: "sg"},
		Now:    func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	swDone := make(chan struct{})
	go func() { defer close(swDone); _ = sw.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-swDone })

	cc := app.ConsoleConfig(e.deps(), "sg", "127.0.0.1:0")
	cc.Brokers = e.brokers
	con, err := console.New(cc)
	if err != nil {
		t.Fatal(err)
	}
	if err := con.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = con.Close() })

	if err := store.NewTemplates(e.conn, e.db("sg")).Create(ctx, schema.Template{AppID: testApp, Name: "promo", Title: "Hi #name#", Content: "Sale"}); err != nil {
		t.Fatal(err)
	}
	e.registerDevices("sg", device("sg", "ap-1", "regid-ap-1"), device("sg", "ap-2", "regid-ap-2"))

	broadcast := func(task string, extra map[string]any) map[string]any {
		r := map[string]any{"type": schema.PushBroadcast, "region": "sg", "appId": testApp, "workspaceId": "default", "taskId": task,
			"taskName": task, "deliverType": schema.DeliverAndroid, "expiredSeconds": 600, "msgkey": task + "-m",
			"templateName": "promo", "templateKeyValue": map[string]string{"name": "all"}, "pushStatus": schema.PushStatusAll, "unBindPeriod": 4}
		for k, v := range extra {
			r[k] = v
		}
		return r
	}
	publish := func(task, submitter string, req map[string]any) {
		out := jsonOut(pipeline.RequestsTopic("sg"), schema.ApprovalKey(testApp, task), req)
		if submitter != "" {
			out.Headers = []kafka.Header{{Key: schema.SubmitterHeader, Value: []byte(submitter)}}
		}
		e.publish(out)
	}
	// settled waits until fanout, the sender and the event sink have
	// handled everything written so far.
	settled := func() {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, time.Minute)
		defer wcancel()
		for _, g := range []struct{ kind, topic string }{
			{"fanout", pipeline.RequestsTopic("sg")}, {"sender", pipeline.DeliveriesTopic("sg")}, {"eventsink", pipeline.EventsTopic("sg")},
		} {
			if err := pipeline.WaitCaughtUp(wctx, e.brokers, e.security, "pushpipe."+g.kind+".sg", g.topic, 50*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
	}
	received := func() map[string]int {
		out := map[string]int{}
		if v := e.sim.Stats().Vendors["mipush"]; v != nil && v.Regions["sg"] != nil && v.Regions["sg"].Apps[testApp] != nil {
			for tok, n := range v.Regions["sg"].Apps[testApp].Tokens {
				out[tok] = int(n)
			}
		}
		return out
	}
	heldDesc := func(task string) string {
		var desc string
		e.waitFor(task+" held", time.Minute, func() (bool, string) {
			row := e.conn.QueryRow(ctx, "SELECT any(status_desc) FROM "+e.db("sg")+".events WHERE task_id = ? AND event = 'accepted'", task)
			if err := row.Scan(&desc); err != nil {
				return false, err.Error()
			}
			return strings.Contains(desc, "awaiting approval"), desc
		})
		return desc
	}

	// 1. The broadcast alice submitted is held.
	req1 := broadcast("ap-bc-1", nil)
	publish("ap-bc-1", "console:alice", req1)
	if d := heldDesc("ap-bc-1"); !strings.Contains(d, "apps[].approval.broadcast") {
		t.Fatalf("held broadcast's accepted event says %q", d)
	}

	// 2. Claims of a release: a copy of the held request, a request
	// carrying the fields a fired or released request carries
	// (scheduleId, acceptedAt), and an "approved" field.
	publish("ap-bc-1", "", req1)
	publish("ap-forged", "", broadcast("ap-forged", map[string]any{"scheduleId": "ap-forged", "acceptedAt": time.Now().UnixMilli()}))
	publish("ap-claim", "", broadcast("ap-claim", map[string]any{"approved": true}))
	heldDesc("ap-forged")
	e.waitFor("the approved-field claim refused", time.Minute, func() (bool, string) {
		// Refused at decoding: the rejected event knows no task.
		got := e.eventCounts("sg", "event = 'rejected' AND status_code = 3028 AND position(status_desc, 'the field \"approved\"') > 0")
		return got["rejected"] == 1, fmt.Sprint(got)
	})
	settled()
	if got := received(); len(got) != 0 {
		t.Fatalf("the simulator received %v before any approval", got)
	}
	for _, task := range []string{"ap-bc-1", "ap-forged"} {
		if got := e.eventCounts("sg", "task_id = ? AND event IN ('planned','valid')", task); len(got) != 0 {
			t.Fatalf("held %s was fanned out: %v", task, got)
		}
	}

	// 3. The approvals page; the submitter and a viewer may not approve.
	alice := loginConsole(t, con.URL(), "alice", "alice-pw")
	status, page := alice.get("/apps/" + testApp + "/approvals")
	if status != http.StatusOK || !strings.Contains(page, `data-task="ap-bc-1" data-status="waiting"`) || !strings.Contains(page, "console:alice") {
		t.Fatalf("approvals page %d lacks the waiting ap-bc-1 of console:alice:\n%s", status, page)
	}
	if status, body := alice.post("/apps/"+testApp+"/approvals/approve", page, url.Values{"task": {"ap-bc-1"}}); status != http.StatusConflict || !strings.Contains(body, "may not approve") {
		t.Fatalf("alice approving her own push: %d\n%s", status, body)
	}
	vera := loginConsole(t, con.URL(), "vera", "vera-pw")
	_, vpage := vera.get("/apps/" + testApp + "/approvals")
	if strings.Contains(vpage, `class="approve"`) {
		t.Fatal("the viewer's approvals page shows an approve button")
	}
	if status, _ := vera.post("/apps/"+testApp+"/approvals/approve", vpage, url.Values{"task": {"ap-bc-1"}}); status != http.StatusForbidden {
		t.Fatalf("viewer approving: %d, want 403", status)
	}
	if status, _ := alice.post("/apps/"+testApp+"/approvals/approve", `name="csrf" value="forged"`, url.Values{"task": {"ap-bc-1"}}); status != http.StatusForbidden {
		t.Fatalf("approving with a wrong CSRF token: %d, want 403", status)
	}

	// 4. Bob approves: every device receives the broadcast once.
	bob := loginConsole(t, con.URL(), "bob", "bob-pw")
	_, bpage := bob.get("/apps/" + testApp + "/approvals")
	if status, body := bob.post("/apps/"+testApp+"/approvals/approve", bpage, url.Values{"task": {"ap-bc-1"}}); status != http.StatusSeeOther {
		t.Fatalf("bob approving: %d\n%s", status, body)
	}
	e.waitFor("the approved broadcast acked", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = 'ap-bc-1' AND event = 'acked'")
		return got["acked"] == 2, fmt.Sprint(got)
	})
	// The released request published again (a replay, or the sweeper's
	// recovery) sends nothing more.
	state, err := approval.ReadAll(ctx, mustLogReader(t, e), "sg")
	if err != nil {
		t.Fatal(err)
	}
	rec := state[schema.ApprovalKey(testApp, "ap-bc-1")]
	if rec.Decision != schema.ApprovalApproved || rec.DecidedBy != "console:bob" || !rec.Done {
		t.Fatalf("approval record after the release: %+v", rec)
	}
	released, err := rec.Released()
	if err != nil {
		t.Fatal(err)
	}
	e.publish(pipeline.Output{Topic: pipeline.RequestsTopic("sg"), Key: []byte(rec.Key()), Value: released})
	settled()
	if got, want := received(), map[string]int{"regid-ap-1": 1, "regid-ap-2": 1}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the simulator received %v, want each device once %v", got, want)
	}

	// 5. A second broadcast nobody approves expires: rejected with 3902
	// and dead-lettered with the reason.
	publish("ap-bc-2", "accesskey:ci", broadcast("ap-bc-2", nil))
	heldDesc("ap-bc-2")
	shift.Store(int64(2 * time.Hour))
	e.waitFor("the expired broadcast rejected", time.Minute, func() (bool, string) {
		got := e.eventCounts("sg", "task_id = 'ap-bc-2' AND event = 'rejected' AND status_code = 3902")
		return got["rejected"] == 1, fmt.Sprint(got)
	})
	var dlqReason string
	err = mustLogReader(t, e).ReadTopic(ctx, pipeline.DLQTopic("sg"), func(m kafka.Message) error {
		if string(m.Key) == schema.ApprovalKey(testApp, "ap-bc-2") {
			for _, h := range m.Headers {
				if h.Key == pipeline.HeaderReason {
					dlqReason = string(h.Value)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dlqReason, "3902 APPROVAL_EXPIRED") || !strings.Contains(dlqReason, "nobody approved it") {
		t.Fatalf("the expired broadcast's dead letter says %q", dlqReason)
	}
	_, page = bob.get("/apps/" + testApp + "/approvals")
	if !strings.Contains(page, `data-task="ap-bc-2" data-status="expired"`) {
		t.Fatalf("approvals page does not show ap-bc-2 expired:\n%s", page)
	}
	settled()
	if got := e.eventCounts("sg", "task_id IN ('ap-bc-2','ap-forged') AND event IN ('planned','valid')"); len(got) != 0 {
		t.Fatalf("an expired or forged push was fanned out: %v", got)
	}
	if got := received(); len(got) != 2 {
		t.Fatalf("the simulator received %v", got)
	}
}

// mustLogReader is a log reader of the test's brokers, closed at the end.
func mustLogReader(t *testing.T, e *env) *pipeline.LogReader {
	t.Helper()
	l, err := pipeline.NewLogReader(pipeline.LogReaderConfig{Brokers: e.brokers, Security: e.security, ClientID: "e2e-approvals"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}
