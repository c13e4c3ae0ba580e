package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// TestAbuseCallbacks attacks the callbacks worker through callbackUrl,
// against the running pipeline with real Kafka and ClickHouse, while an
// honest app's callbacks go on:
//
//   - callbackUrl names a loopback or metadata address (by address, by a
//     name resolving to one, in IPv4-mapped form): nothing connects, the
//     delivery is still acked, its callback_sent event says the policy
//     refused it, pushpipe_callbacks_blocked_total{reason="ssrf"} counts it;
//   - one app's callback hosts are dead (503, connection refused) for the
//     whole test: the honest app's callbacks all arrive while the dead
//     ones are still waiting on the delay tiers, which then end them as
//     given up; nothing is lost and nothing posted twice.
func TestAbuseCallbacks(t *testing.T) {
	t.Run("callbackUrl at a private address", abuseCallbackPrivateAddress)
	t.Run("one app's callback hosts are dead", abuseCallbackDeadHost)
}

// Apps of the abuse tests besides testApp, whose callbacks may reach
// loopback over http (see newEnvOpts).
const (
	attackerApp = "ATTACKER000000001"
	deadApp     = "DEADHOST000000001"
)

// withApp adds an app with MiPush credentials of its own and the given
// callback policy (the other vendors' come from app.AddDemoKeys).
func withApp(c *config.Config, appID string, cb *config.AppCallbacks) {
	c.Apps = append(c.Apps, config.AppConfig{AppID: appID, WorkspaceID: "default", Callbacks: cb,
		Credentials: map[string]any{mipush.Name: &mipush.App{AppSecret: channels.Secret(testSecret + "-" + appID), PackageName: testPackage}}})
}

// countingReceiver is a callback receiver on 127.0.0.1 that counts the
// connections it accepts and the callbacks it gets per msgId, and answers
// status to each.
type countingReceiver struct {
	srv     *httptest.Server
	accepts atomic.Int64
	mu      sync.Mutex
	posts   map[string]int
}

func newCountingReceiver(t *testing.T, status int) *countingReceiver {
	r := &countingReceiver{posts: map[string]int{}}
	r.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var cb struct {
			MsgID string `json:"msgId"`
		}
		b, _ := io.ReadAll(req.Body)
		_ = json.Unmarshal(b, &cb)
		r.mu.Lock()
		r.posts[cb.MsgID]++
		r.mu.Unlock()
		w.WriteHeader(status)
	}))
	r.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			r.accepts.Add(1)
		}
	}
	r.srv.Start()
	t.Cleanup(r.srv.Close)
	return r
}

// received returns a copy of the callbacks counted per msgId.
func (r *countingReceiver) received() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]int, len(r.posts))
	for k, v := range r.posts {
		out[k] = v
	}
	return out
}

func (r *countingReceiver) port() string {
	_, p, _ := net.SplitHostPort(r.srv.Listener.Addr().String())
	return p
}

// callbackOutcomes returns the status code and description of every
// callback_sent event of a task, by msg id.
func (e *env) callbackOutcomes(task string) map[string]struct {
	code int64
	desc string
} {
	e.t.Helper()
	rows, err := e.conn.Query(context.Background(), "SELECT msg_id, status_code, status_desc FROM "+e.db("sg")+
		".events FINAL WHERE task_id = ? AND event = 'callback_sent'", task)
	if err != nil {
		e.t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	out := map[string]struct {
		code int64
		desc string
	}{}
	for rows.Next() {
		var msg, desc string
		var code int64
		if err := rows.Scan(&msg, &code, &desc); err != nil {
			e.t.Fatal(err)
		}
		out[msg] = struct {
			code int64
			desc string
		}{code, desc}
	}
	return out
}

// abuseCallbackPrivateAddress: an app whose callbacks may use http (so
// only the address rule stops them) names loopback and metadata addresses
// as its callbackUrl; the honest app's callback in the same run arrives.
func abuseCallbackPrivateAddress(t *testing.T) {
	e := newEnvWith(t, func(c *config.Config) {
		withApp(c, attackerApp, &config.AppCallbacks{AllowHTTP: true})
	}, "sg")
	d := e.deps()
	reg := prometheus.NewRegistry()
	d.Metrics = reg
	e.runStoppable(d, []string{"sg"}, app.Registry, app.Fanout, app.Sender, app.Eventsink, app.Callbacks)

	internal := newCountingReceiver(t, http.StatusOK) // what the attacker wants to reach
	honest := newCountingReceiver(t, http.StatusOK)
	attacks := map[string]string{ // task → callbackUrl
		"ssrf-loopback":  "http://127.0.0.1:" + internal.port() + "/admin",
		"ssrf-localhost": "http://localhost:" + internal.port() + "/admin",
		"ssrf-mapped":    "http://[::ffff:127.0.0.1]:" + internal.port() + "/admin",
		"ssrf-https":     "https://127.0.0.1:" + internal.port() + "/admin",
		"ssrf-metadata":  "http://169.254.169.254/latest/meta-data/",
	}
	wantClass := map[string]string{"ssrf-loopback": "loopback", "ssrf-localhost": "loopback", "ssrf-mapped": "loopback",
		"ssrf-https": "loopback", "ssrf-metadata": "link-local (cloud metadata)"}

	var devs []schema.Binding
	var outs []pipeline.Output
	for task, cb := range attacks {
		dev := "dev-" + task
		b := device("sg", dev, "regid-"+task)
		b.AppID = attackerApp
		devs = append(devs, b)
		req := simpleRequest("sg", task, map[string]string{dev: "msg-" + task})
		req["appId"], req["callbackUrl"] = attackerApp, cb
		outs = append(outs, jsonOut(pipeline.RequestsTopic("sg"), task, req))
	}
	e.registerDevicesOf("sg", attackerApp, devs...)
	e.registerDevices("sg", device("sg", "dev-honest", "regid-honest"))
	req := simpleRequest("sg", "ssrf-honest", map[string]string{"dev-honest": "msg-honest"})
	req["callbackUrl"] = honest.srv.URL + "/push/callback"
	outs = append(outs, jsonOut(pipeline.RequestsTopic("sg"), "ssrf-honest", req))
	e.publish(outs...)

	for task := range attacks {
		e.waitFor("the refused callback of "+task, 2*time.Minute, func() (bool, string) {
			c := e.eventCounts("sg", "task_id = ?", task)
			return c["callback_sent"] == 1, fmt.Sprint(c)
		})
		c := e.eventCounts("sg", "task_id = ?", task)
		if c["acked"] != 1 {
			t.Fatalf("%s: events %v, want the delivery acked: a refused callback changes nothing else", task, c)
		}
		got := e.callbackOutcomes(task)["msg-"+task]
		if got.code != 0 || !strings.Contains(got.desc, "refused by the callback policy (ssrf)") || !strings.Contains(got.desc, wantClass[task]) {
			t.Fatalf("%s: callback_sent %d %q, want status 0 refused (ssrf) naming a %s address", task, got.code, got.desc, wantClass[task])
		}
	}
	e.waitFor("the honest callback", time.Minute, func() (bool, string) {
		return honest.received()["msg-honest"] == 1, fmt.Sprint(honest.received())
	})
	if n := internal.accepts.Load(); n != 0 {
		t.Fatalf("the internal listener accepted %d connections, want 0", n)
	}
	if n := counter(reg, "pushpipe_callbacks_blocked_total", "reason", "ssrf"); n != float64(len(attacks)) {
		t.Fatalf("pushpipe_callbacks_blocked_total{reason=ssrf} = %v, want %d", n, len(attacks))
	}
	t.Logf("%d callbacks at private addresses refused before connecting (internal listener: %d connections), honest callback delivered",
		len(attacks), internal.accepts.Load())
}

// abuseCallbackDeadHost: one app's callbacks go to a host answering 503
// and to a closed port, published before an honest app's. The honest
// callbacks all arrive before any dead one has used up its tries: the
// dead ones wait on the delay tiers, not in line. Then every dead one ends
// as given up after MaxAttempts tries, with one callback_sent event each.
func abuseCallbackDeadHost(t *testing.T) {
	const (
		perDeadHost = 20
		honestN     = 40
		maxAttempts = 3
	)
	e := newEnvWith(t, func(c *config.Config) {
		withApp(c, deadApp, &config.AppCallbacks{AllowHTTP: true, AllowPrivateNetworks: []string{"127.0.0.0/8"}})
		c.Callbacks.MaxAttempts = maxAttempts
		// The first retry waits 3–6 s, the second 6–12 s: a dead callback
		// cannot end within 9 s of its first try, far longer than an honest
		// callback takes when nothing holds it up.
		c.Callbacks.MinBackoff, c.Callbacks.MaxBackoff = 6*time.Second, 12*time.Second
		c.Callbacks.Timeout = 2 * time.Second
	}, "sg")
	d := e.deps()
	reg := prometheus.NewRegistry()
	d.Metrics = reg
	e.runStoppable(d, []string{"sg"}, app.Eventsink, app.Callbacks)

	unavailable := newCountingReceiver(t, http.StatusServiceUnavailable)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL + "/cb"
	closed.Close() // connection refused from now on
	honest := newCountingReceiver(t, http.StatusOK)

	ending := func(appID, task, msg, callbackURL string) pipeline.Output {
		dev := "dev-" + msg
		dl := schema.Delivery{DeliveryID: e.key.DeliveryID(appID, msg, dev), MsgID: msg, TaskID: task, AppID: appID,
			Region: "sg", PushType: schema.PushSimple, Target: dev, DeviceID: dev, Platform: schema.PlatformAndroid,
			Channel: "mipush", Token: "tok-" + dev, CallbackURL: callbackURL}
		ev := dl.EventFor(schema.EventAcked, time.Now().UnixMilli())
		ev.StatusCode, ev.StatusDesc = schema.StatusAcked, "Acked"
		return jsonOut(pipeline.EventsTopic("sg"), ev.Key(), ev)
	}
	var dead []pipeline.Output
	for i := range perDeadHost {
		dead = append(dead, ending(deadApp, "dead-503", fmt.Sprintf("dead-503-%02d", i), unavailable.srv.URL+"/cb"),
			ending(deadApp, "dead-refused", fmt.Sprintf("dead-refused-%02d", i), closedURL))
	}
	var live []pipeline.Output
	for i := range honestN {
		live = append(live, ending(testApp, "honest", fmt.Sprintf("honest-%02d", i), honest.srv.URL+"/push/callback"))
	}
	e.publish(dead...)
	e.publish(live...)

	e.waitFor("every honest callback", time.Minute, func() (bool, string) {
		return len(honest.received()) == honestN, fmt.Sprintf("%d of %d", len(honest.received()), honestN)
	})
	if n := counter(reg, "pushpipe_callbacks_posted_total", "result", "gave_up"); n != 0 {
		t.Fatalf("%v dead callbacks had already given up when the last honest one arrived: they were retried in line, "+
			"holding the honest callbacks behind them", n)
	}

	e.waitFor("a callback_sent event for every callback", 2*time.Minute, func() (bool, string) {
		c := e.eventCounts("sg", "event = 'callback_sent'")
		return c["callback_sent"] == uint64(2*perDeadHost+honestN), fmt.Sprint(c)
	})
	for task, want := range map[string]string{"dead-503": "HTTP 503 Service Unavailable", "dead-refused": "connection refused"} {
		outcomes := e.callbackOutcomes(task)
		if len(outcomes) != perDeadHost {
			t.Fatalf("%s: %d callback_sent events, want %d", task, len(outcomes), perDeadHost)
		}
		for msg, o := range outcomes {
			if !strings.Contains(o.desc, "gave up on http://127.0.0.1:") || !strings.Contains(o.desc, fmt.Sprintf("after %d attempt(s)", maxAttempts)) ||
				!strings.HasSuffix(o.desc, want) && !strings.HasSuffix(o.desc, "the host's circuit breaker is open") {
				t.Fatalf("%s %s: callback_sent %d %q, want given up after %d attempts (%s or an open breaker)", task, msg, o.code, o.desc, maxAttempts, want)
			}
		}
	}
	for msg, o := range e.callbackOutcomes("honest") {
		if o.code != http.StatusOK || !strings.Contains(o.desc, "delivered") {
			t.Fatalf("honest %s: callback_sent %d %q, want delivered", msg, o.code, o.desc)
		}
	}
	for msg, n := range honest.received() {
		if n != 1 {
			t.Fatalf("honest callback %s posted %d times, want once", msg, n)
		}
	}
	posts503 := 0
	for msg, n := range unavailable.received() {
		if n > maxAttempts {
			t.Fatalf("dead callback %s posted %d times, more than its %d tries", msg, n, maxAttempts)
		}
		posts503 += n
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var onTiers int64
	for _, tier := range pipeline.CallbackRetryTiers() {
		for _, end := range e.offsets(ctx, pipeline.CallbackRetryTopic("sg", tier), "") {
			onTiers += end
		}
	}
	if want := int64(2 * perDeadHost * (maxAttempts - 1)); onTiers < want {
		t.Fatalf("%d records on the callback delay tiers, want at least %d: every dead callback waits there between tries", onTiers, want)
	}
	if n := counter(reg, "pushpipe_callbacks_posted_total", "result", "gave_up"); n != 2*perDeadHost {
		t.Fatalf("pushpipe_callbacks_posted_total{result=gave_up} = %v, want %d", n, 2*perDeadHost)
	}
	if n := counter(reg, "pushpipe_callbacks_breaker_trips_total", "region", "sg"); n < 1 {
		t.Fatalf("pushpipe_callbacks_breaker_trips_total = %v, want the dead hosts' breakers opened", n)
	}
	t.Logf("%d honest callbacks delivered once each while %d dead ones waited on the delay tiers (%d records there, %d posts to the 503 host, "+
		"%v skipped while its breaker was open); each dead one ended given up after %d tries",
		honestN, 2*perDeadHost, onTiers, posts503, counter(reg, "pushpipe_callbacks_retries_total", "reason", "breaker_open"), maxAttempts)
}
