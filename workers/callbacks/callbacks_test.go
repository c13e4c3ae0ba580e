package callbacks

import (
	"bufio"
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// receiver is a business system's callback endpoint. It verifies each
// callback as the Java sample of §6.9 does, with nothing but the published
// public key PEM, and answers from a script of statuses (the last one
// repeats; none means 200).
type receiver struct {
	t   *testing.T
	pub *rsa.PublicKey
	srv *httptest.Server

	mu       sync.Mutex
	answers  []int
	bodies   []Body
	queries  []string
	badSigns int
}

func newReceiver(t *testing.T, publicKeyPEM []byte, answers ...int) *receiver {
	r := &receiver{t: t, pub: publicKeyOf(t, publicKeyPEM), answers: answers}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	callbackJSON, _ := io.ReadAll(req.Body)
	// sign = sign.replace('-', '+'); sign = sign.replace('_', '/');
	// SignUtil.check(callbackJson, sign, pubKey, "UTF-8"): SHA256withRSA.
	sign := strings.ReplaceAll(strings.ReplaceAll(req.URL.Query().Get("sign"), "-", "+"), "_", "/")
	sig, err := base64.StdEncoding.DecodeString(sign)
	sum := sha256.Sum256(callbackJSON)
	ok := err == nil && req.Method == http.MethodPost && rsa.VerifyPKCS1v15(r.pub, crypto.SHA256, sum[:], sig) == nil
	r.mu.Lock()
	defer r.mu.Unlock()
	var b Body
	if !ok || json.Unmarshal(callbackJSON, &b) != nil {
		r.badSigns++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	r.bodies = append(r.bodies, b)
	r.queries = append(r.queries, req.URL.RawQuery)
	status := http.StatusOK
	if len(r.answers) > 0 {
		status = r.answers[0]
		if len(r.answers) > 1 {
			r.answers = r.answers[1:]
		}
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "0")
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, http.StatusText(status))
}

// received returns the verified bodies and the number of refused
// signatures.
func (r *receiver) received() ([]Body, []string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Body(nil), r.bodies...), append([]string(nil), r.queries...), r.badSigns
}

// terminal is the acked (or other step's) event of a delivery whose
// request named url.
func terminal(step schema.EventType, url string) schema.Event {
	d := schema.Delivery{DeliveryID: testinfra.IDKey().DeliveryID("app", "msg-1", "dev-1"), MsgID: "msg-1", TaskID: "task-1", AppID: "app",
		Region: "sg", PushType: schema.PushSimple, Target: "user-1", DeviceID: "dev-1", Platform: schema.PlatformIOS,
		Channel: "apns", Token: "da64bc9d7d448684", CallbackURL: url}
	e := d.EventFor(step, 1730000000000)
	switch step {
	case schema.EventAcked:
		e.StatusCode, e.StatusDesc = schema.StatusAcked, "Acked"
	case schema.EventFailed:
		e.StatusCode, e.StatusDesc = schema.StatusBadDeviceToken, "BadDeviceToken"
	}
	return e
}

func records(t *testing.T, evs ...any) []kafka.Message {
	t.Helper()
	out := make([]kafka.Message, len(evs))
	for i, e := range evs {
		if raw, ok := e.(string); ok {
			out[i].Value = []byte(raw)
			continue
		}
		b, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		out[i].Value = b
	}
	return out
}

// output is what one record caused: its callback_sent event, or its
// record on a delay tier (and that tier's topic), or nothing.
type output struct {
	sent  *schema.Event
	retry *Retry
	topic string
	key   string
}

// outputs decodes the outputs of results, index-aligned.
func outputs(t *testing.T, results []pipeline.Result) []output {
	t.Helper()
	out := make([]output, len(results))
	for i, r := range results {
		if r.Reject != nil {
			t.Fatalf("record %d rejected: %+v", i, r.Reject)
		}
		switch len(r.Outputs) {
		case 0:
			continue
		case 1:
		default:
			t.Fatalf("record %d caused %d outputs, want at most 1", i, len(r.Outputs))
		}
		o := r.Outputs[0]
		out[i].topic, out[i].key = o.Topic, string(o.Key)
		if o.Topic != pipeline.EventsTopic("sg") {
			var rt Retry
			if err := json.Unmarshal(o.Value, &rt); err != nil {
				t.Fatal(err)
			}
			out[i].retry = &rt
			continue
		}
		var e schema.Event
		if err := json.Unmarshal(o.Value, &e); err != nil {
			t.Fatal(err)
		}
		if string(o.Key) != e.Key() {
			t.Fatalf("output key %q, want the event's key %q", o.Key, e.Key())
		}
		out[i].sent = &e
	}
	return out
}

// sentEvents decodes the callback_sent events of results, index-aligned
// (nil where a record caused none).
func sentEvents(t *testing.T, results []pipeline.Result) []*schema.Event {
	t.Helper()
	var out []*schema.Event
	for _, o := range outputs(t, results) {
		out = append(out, o.sent)
	}
	return out
}

// loopback lets the test app post over http to the receivers of the
// tests, which listen on 127.0.0.1.
var loopback = AppPolicy{AllowHTTP: true, PrivateNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}

func fastConfig(s *Signer) Config {
	return Config{Region: "sg", Signer: s, MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Timeout: 2 * time.Second, Concurrency: 4, Apps: map[string]AppPolicy{"app": loopback}}
}

func TestCallbacksArePostedSignedAndRecorded(t *testing.T) {
	s := newTestSigner(t)
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL + "/cb"
	closed.Close() // nothing listens there any more

	type want struct {
		status      int64  // of the callback_sent event
		desc        string // part of its description
		pushSuccess bool
	}
	for _, tc := range []struct {
		scenario string
		step     schema.EventType
		url      string // "" means the receiver; "-" means no callback URL
		answers  []int
		posts    int    // verified callbacks the receiver got
		want     *want  // the callback_sent event; nil: none
		retry    string // the reason it went to a delay tier instead; "" none
	}{
		{"acked is delivered", schema.EventAcked, "", nil, 1, &want{200, "delivered to http://127.0.0.1", true}, ""},
		{"failed is delivered with pushSuccess false", schema.EventFailed, "", nil, 1, &want{200, "in 1 attempt(s)", false}, ""},
		{"expired tells the receiver too", schema.EventExpired, "", nil, 1, &want{200, "delivered", false}, ""},
		{"revoked tells the receiver too", schema.EventRevoked, "", nil, 1, &want{200, "delivered", false}, ""},
		{"503 goes to a delay tier", schema.EventAcked, "", []int{503}, 1, nil, retryError},
		{"429 goes to a delay tier", schema.EventAcked, "", []int{429}, 1, nil, retryThrottled},
		{"nobody listening goes to a delay tier", schema.EventAcked, closedURL, nil, 0, nil, retryError},
		{"400 is final", schema.EventAcked, "", []int{400}, 1, &want{400, "refused by http://127.0.0.1", true}, ""},
		{"404 is final", schema.EventFailed, "", []int{404}, 1, &want{404, "HTTP 404 Not Found", false}, ""},
		{"ftp URL is described, not posted", schema.EventAcked, "ftp://example.com/cb", nil, 0, &want{0, "not an http or https address", true}, ""},
		{"URL without host is described", schema.EventAcked, "https:///cb", nil, 0, &want{0, "has no host", true}, ""},
		{"unparsable URL is described", schema.EventAcked, "http://[::1", nil, 0, &want{0, "not a URL", true}, ""},
		{"URL with credentials is described, not posted", schema.EventAcked, "https://user:pw@example.com/cb", nil, 0, &want{0, "user information", true}, ""},
		{"sent is not terminal", schema.EventSent, "", nil, 0, nil, ""},
		{"valid is not terminal", schema.EventValid, "", nil, 0, nil, ""},
		{"retried is not terminal", schema.EventRetried, "", nil, 0, nil, ""},
		{"callback_sent itself is skipped", schema.EventCallbackSent, "", nil, 0, nil, ""},
		{"terminal without a URL is skipped", schema.EventAcked, "-", nil, 0, nil, ""},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			rcv := newReceiver(t, s.PublicKeyPEM(), tc.answers...)
			url := tc.url
			switch url {
			case "":
				url = rcv.srv.URL + "/push/callback"
			case "-":
				url = ""
			}
			src := terminal(tc.step, "http://placeholder")
			src.CallbackURL = url
			reg := prometheus.NewRegistry()
			cfg := fastConfig(s)
			cfg.Metrics = reg
			h, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			results, err := h.HandleBatch(context.Background(), records(t, src))
			if err != nil {
				t.Fatal(err)
			}
			if len(results) != 1 {
				t.Fatalf("%d results for 1 record", len(results))
			}
			bodies, _, bad := rcv.received()
			if bad != 0 || len(bodies) != tc.posts {
				t.Fatalf("receiver verified %d callbacks and refused %d signatures, want %d and 0", len(bodies), bad, tc.posts)
			}
			out := outputs(t, results)[0]
			if tc.retry != "" {
				if out.retry == nil || out.retry.Attempts != 1 || out.retry.Event.EventID != src.EventID || out.retry.Event.CallbackURL != url {
					t.Fatalf("output %+v, want the callback on a delay tier after 1 attempt", out)
				}
				if n := counterValue(t, reg, "pushpipe_callbacks_retries_total", tc.retry); n != 1 {
					t.Fatalf("pushpipe_callbacks_retries_total{reason=%q} = %v, want 1", tc.retry, n)
				}
				return
			}
			got := out.sent
			if tc.want == nil {
				if got != nil || out.retry != nil {
					t.Fatalf("an output for a record that asks for no callback: %+v", out)
				}
				return
			}
			if got == nil {
				t.Fatalf("no callback_sent event but %+v", out)
			}
			if got.Event != schema.EventCallbackSent || got.StatusCode != tc.want.status || !strings.Contains(got.StatusDesc, tc.want.desc) {
				t.Fatalf("callback_sent = %s %d %q, want %d and a description with %q", got.Event, got.StatusCode, got.StatusDesc, tc.want.status, tc.want.desc)
			}
			if id := schema.NewEventID(schema.EventCallbackSent, src.DeliveryID, src.EventID); got.EventID != id {
				t.Fatalf("event id %s, want the deterministic %s", got.EventID, id)
			}
			if got.DeliveryID != src.DeliveryID || got.MsgID != src.MsgID || got.TaskID != src.TaskID || got.AppID != src.AppID ||
				got.DeviceID != src.DeviceID || got.Region != "sg" || got.Token != "" || got.CallbackURL != "" {
				t.Fatalf("callback_sent does not describe the same delivery (or leaks token / URL): %+v", got)
			}
			if strings.Contains(got.StatusDesc, "pw@") {
				t.Fatalf("callback_sent leaks the URL's credentials: %q", got.StatusDesc)
			}
			if len(bodies) > 0 {
				b := bodies[len(bodies)-1]
				wantStatus := map[bool]string{true: "2", false: "2009"}[tc.step == schema.EventAcked]
				if tc.step == schema.EventExpired || tc.step == schema.EventRevoked {
					wantStatus = "0"
				}
				if b.MsgID != "msg-1" || b.TargetID != "user-1" || b.PushSuccess != tc.want.pushSuccess || b.StatusCode != wantStatus ||
					b.ExtInfo["osType"] != "ios" || b.ExtInfo["adToken"] != "da64bc9d7d448684" || b.ExtInfo["event"] != string(tc.step) {
					t.Fatalf("callback body = %+v", b)
				}
			}
			if n := counterValue(t, reg, "pushpipe_callbacks_posted_total"); n != 1 {
				t.Fatalf("pushpipe_callbacks_posted_total = %v, want 1", n)
			}
			if n := counterValue(t, reg, "pushpipe_callbacks_attempts_total"); n != float64(tc.posts) {
				t.Fatalf("pushpipe_callbacks_attempts_total = %v, want %d", n, tc.posts)
			}
		})
	}
}

// TestBodyIsTheDocumentedJSON checks the exact bytes of a body: the
// fields and their order of the §6.9 sample.
func TestBodyIsTheDocumentedJSON(t *testing.T) {
	b, err := json.Marshal(BodyFor(terminal(schema.EventAcked, "http://x")))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"extInfo":{"adToken":"da64bc9d7d448684","channel":"apns","deviceId":"dev-1","event":"acked","osType":"ios","taskId":"task-1"},` +
		`"msgId":"msg-1","pushSuccess":true,"statusCode":"2","statusDesc":"Acked","targetId":"user-1"}`
	if string(b) != want {
		t.Fatalf("body\n got %s\nwant %s", b, want)
	}
}

func TestCallbackKeepsTheURLQueryAndAddsSign(t *testing.T) {
	s := newTestSigner(t)
	rcv := newReceiver(t, s.PublicKeyPEM())
	h, err := New(fastConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.HandleBatch(context.Background(), records(t, terminal(schema.EventAcked, rcv.srv.URL+"/cb?app=shop&x=a%2Bb"))); err != nil {
		t.Fatal(err)
	}
	_, queries, bad := rcv.received()
	if bad != 0 || len(queries) != 1 || !strings.HasPrefix(queries[0], "app=shop&x=a%2Bb&sign=") {
		t.Fatalf("queries %v (bad signatures %d), want the request's query followed by sign", queries, bad)
	}
}

func TestBatchMixesCallbacksAndSkipsWhatIsNotOne(t *testing.T) {
	s := newTestSigner(t)
	rcv := newReceiver(t, s.PublicKeyPEM())
	url := rcv.srv.URL + "/cb"
	h, err := New(fastConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	foreign := terminal(schema.EventAcked, url)
	foreign.Region = "eu"
	second := terminal(schema.EventFailed, url)
	second.DeviceID, second.DeliveryID, second.EventID = "dev-2", "d-2", "e-2"
	results, err := h.HandleBatch(context.Background(), records(t,
		terminal(schema.EventAcked, url), `{not json`, terminal(schema.EventSent, url), foreign, second))
	if err != nil {
		t.Fatal(err)
	}
	evs := sentEvents(t, results)
	for i, wantOut := range []bool{true, false, false, false, true} {
		if (evs[i] != nil) != wantOut {
			t.Fatalf("record %d: callback_sent %v, want %t", i, evs[i], wantOut)
		}
	}
	if evs[0].EventID == evs[4].EventID {
		t.Fatal("two deliveries got the same callback_sent event id")
	}
	if bodies, _, bad := rcv.received(); len(bodies) != 2 || bad != 0 {
		t.Fatalf("receiver got %d verified callbacks (%d bad), want 2", len(bodies), bad)
	}
}

// clock is a test clock that Sleep advances.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.UnixMilli(1730000000000)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return nil
}

// follow hands a callback through the delay tiers until it ends,
// returning the callback_sent event and every retry record on the way.
func follow(t *testing.T, h *Handler, first []pipeline.Result) (*schema.Event, []output) {
	t.Helper()
	var hops []output
	results := first
	for range 20 {
		out := outputs(t, results)[0]
		if out.sent != nil {
			return out.sent, hops
		}
		if out.retry == nil {
			t.Fatal("the callback caused no output")
		}
		hops = append(hops, out)
		var tier time.Duration
		for _, tr := range pipeline.CallbackRetryTiers() {
			if pipeline.CallbackRetryTopic("sg", tr) == out.topic {
				tier = tr
			}
		}
		th, err := h.Tier(tier)
		if err != nil {
			t.Fatalf("retry record on %s, which is no delay tier: %v", out.topic, err)
		}
		b, err := json.Marshal(out.retry)
		if err != nil {
			t.Fatal(err)
		}
		if results, err = th.HandleBatch(context.Background(), []kafka.Message{{Value: b}}); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the callback never ended")
	return nil, nil
}

// TestRetriesGoThroughTheDelayTiers follows callbacks whose receiver
// fails: each failed try puts them on the delay tier of their backoff,
// due after it, keyed by host, until they are delivered or MaxAttempts
// tries have failed.
func TestRetriesGoThroughTheDelayTiers(t *testing.T) {
	s := newTestSigner(t)
	for _, tc := range []struct {
		scenario string
		answers  []int
		status   int64
		desc     string
		result   string
		hops     int
	}{
		{"503 twice then 200 is delivered on the third try", []int{503, 503, 200}, 200, "delivered to http://127.0.0.1", resultDelivered, 2},
		{"429 then 200 is delivered on the second try", []int{429, 200}, 200, "in 2 attempt(s)", resultDelivered, 1},
		{"always 500 gives up after MaxAttempts", []int{500}, 500, "gave up on http://127.0.0.1", resultGaveUp, 2},
		{"500 then 404 is final at once", []int{500, 404}, 404, "refused by", resultRefused, 1},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			rcv := newReceiver(t, s.PublicKeyPEM(), tc.answers...)
			clk := newClock()
			reg := prometheus.NewRegistry()
			cfg := fastConfig(s)
			cfg.MinBackoff, cfg.MaxBackoff = 20*time.Second, 80*time.Second
			cfg.Now, cfg.Sleep, cfg.Metrics = clk.Now, clk.Sleep, reg
			h, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			src := terminal(schema.EventAcked, rcv.srv.URL+"/cb")
			start := clk.Now()
			first, err := h.HandleBatch(context.Background(), records(t, src))
			if err != nil {
				t.Fatal(err)
			}
			sent, hops := follow(t, h, first)
			if len(hops) != tc.hops {
				t.Fatalf("%d retry records, want %d", len(hops), tc.hops)
			}
			for i, hop := range hops {
				wait := time.UnixMilli(hop.retry.NotBefore).Sub(start)
				if hop.retry.Attempts != i+1 || hop.retry.FirstAt != start.UnixMilli() || hop.retry.Event.EventID != src.EventID {
					t.Fatalf("retry %d = %+v, want attempt %d of the same ending", i, hop.retry, i+1)
				}
				if want := pipeline.CallbackRetryTopic("sg", pipeline.CallbackRetryTierFor(wait)); i == 0 && hop.topic != want {
					t.Fatalf("first retry on %s, want %s (due in %s)", hop.topic, want, wait)
				}
				if i == 0 && (wait < cfg.MinBackoff/2 || wait > cfg.MinBackoff) {
					t.Fatalf("first retry due in %s, want within [%s, %s]", wait, cfg.MinBackoff/2, cfg.MinBackoff)
				}
				if hop.key != strings.TrimPrefix(rcv.srv.URL, "http://") {
					t.Fatalf("retry keyed %q, want the host %q", hop.key, strings.TrimPrefix(rcv.srv.URL, "http://"))
				}
			}
			if sent.StatusCode != tc.status || !strings.Contains(sent.StatusDesc, tc.desc) {
				t.Fatalf("callback_sent %d %q, want %d and %q", sent.StatusCode, sent.StatusDesc, tc.status, tc.desc)
			}
			if id := schema.NewEventID(schema.EventCallbackSent, src.DeliveryID, src.EventID); sent.EventID != id {
				t.Fatalf("event id %s, want %s whichever stage ends the callback", sent.EventID, id)
			}
			if n := counterValue(t, reg, "pushpipe_callbacks_posted_total", tc.result); n != 1 {
				t.Fatalf("posted_total{result=%s} = %v, want 1", tc.result, n)
			}
			if n := counterValue(t, reg, "pushpipe_callbacks_retries_total"); n != float64(tc.hops) {
				t.Fatalf("retries_total = %v, want %d", n, tc.hops)
			}
			if bodies, _, _ := rcv.received(); len(bodies) != tc.hops+1 {
				t.Fatalf("receiver got %d posts, want one per try (%d)", len(bodies), tc.hops+1)
			}
		})
	}
}

// TestTierHandlerHoldsReentersAndRejects: a tier holds its batch until the
// records are due, puts back a record due after the tier's delay, and
// rejects what is not a callback retry of its region.
func TestTierHandlerHoldsReentersAndRejects(t *testing.T) {
	s := newTestSigner(t)
	rcv := newReceiver(t, s.PublicKeyPEM())
	clk := newClock()
	cfg := fastConfig(s)
	var slept []time.Duration
	cfg.Now = clk.Now
	cfg.Sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		return clk.Sleep(ctx, d)
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	th, err := h.Tier(30 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	now := clk.Now()
	due := Retry{Event: terminal(schema.EventAcked, rcv.srv.URL+"/cb"), Attempts: 1, FirstAt: now.UnixMilli(), NotBefore: now.Add(20 * time.Second).UnixMilli()}
	late := due
	late.Event.DeliveryID, late.Event.EventID, late.NotBefore = "d-late", "e-late", now.Add(3*time.Minute).UnixMilli()
	foreign := due
	foreign.Event.Region = "eu"
	untried := due
	untried.Attempts = 0
	results, err := th.HandleBatch(context.Background(), records(t, due, late, foreign, untried, `{"event":`))
	if err != nil {
		t.Fatal(err)
	}
	if len(slept) != 1 || slept[0] != 30*time.Second {
		t.Fatalf("held %v, want once for the tier's 30s (the latest record is due later)", slept)
	}
	for i, r := range results[2:] {
		if r.Reject == nil || r.Reject.Code != int(schema.CodeInvalidParam) {
			t.Fatalf("record %d: %+v, want rejected with 3028", i+2, r)
		}
	}
	results = results[:2]
	outs := outputs(t, results)
	if outs[0].sent == nil || !strings.Contains(outs[0].sent.StatusDesc, "delivered") {
		t.Fatalf("due record: %+v, want delivered", outs[0])
	}
	if r := outs[1].retry; r == nil || r.Attempts != 1 || r.NotBefore != late.NotBefore ||
		outs[1].topic != pipeline.CallbackRetryTopic("sg", 10*time.Minute) {
		t.Fatalf("late record: %+v, want it unchanged on the tier of its remaining 2m30s", outs[1])
	}
	if _, err := h.Tier(time.Second); err == nil {
		t.Fatal("Tier(1s) built a handler for a tier that does not exist")
	}
}

// TestABrokenHostIsSkippedWhileOthersFlow: the breaker of a host that
// keeps failing opens after ConsecutiveFailures attempts; its other
// callbacks, in this batch and the next, go to a delay tier without a
// request, while another host of the same batch gets all of its own.
func TestABrokenHostIsSkippedWhileOthersFlow(t *testing.T) {
	s := newTestSigner(t)
	dead := newReceiver(t, s.PublicKeyPEM(), http.StatusServiceUnavailable)
	healthy := newReceiver(t, s.PublicKeyPEM())
	reg := prometheus.NewRegistry()
	cfg := fastConfig(s)
	cfg.Concurrency, cfg.HostConcurrency = 1, 1
	cfg.Breaker = BreakerConfig{ConsecutiveFailures: 2, OpenTimeout: time.Hour}
	cfg.Metrics = reg
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	batch := func(n int, tag string) []any {
		var evs []any
		for i := range n {
			for _, rcv := range []*receiver{dead, healthy} {
				e := terminal(schema.EventAcked, rcv.srv.URL+"/cb")
				id := fmt.Sprintf("%s-%d-%s", tag, i, rcv.srv.URL)
				e.EventID, e.DeliveryID = "e-"+id, "d-"+id
				evs = append(evs, e)
			}
		}
		return evs
	}
	for _, round := range []string{"first", "second"} {
		results, err := h.HandleBatch(context.Background(), records(t, batch(4, round)...))
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range outputs(t, results) {
			if i%2 == 1 && (o.sent == nil || !strings.Contains(o.sent.StatusDesc, "delivered")) {
				t.Fatalf("%s batch, healthy callback %d: %+v, want delivered", round, i, o)
			}
			if i%2 == 0 && o.retry == nil {
				t.Fatalf("%s batch, dead host's callback %d: %+v, want a delay tier", round, i, o)
			}
		}
	}
	deadPosts, _, _ := dead.received()
	healthyPosts, _, _ := healthy.received()
	if len(deadPosts) != 2 || len(healthyPosts) != 8 {
		t.Fatalf("dead host got %d posts, healthy %d; want 2 (then the breaker opened, for both batches) and 8", len(deadPosts), len(healthyPosts))
	}
	if n := counterValue(t, reg, "pushpipe_callbacks_retries_total", retryBreakerOpen); n != 6 {
		t.Fatalf("retries_total{breaker_open} = %v, want 6", n)
	}
	if n := counterValue(t, reg, "pushpipe_callbacks_breaker_trips_total"); n != 1 {
		t.Fatalf("breaker_trips_total = %v, want 1", n)
	}
	if n := gaugeValue(t, reg, "pushpipe_callbacks_breakers", "open"); n != 1 {
		t.Fatalf("breakers{state=open} = %v, want 1", n)
	}
	if n := gaugeValue(t, reg, "pushpipe_callbacks_breakers", "closed"); n != 1 {
		t.Fatalf("breakers{state=closed} = %v, want 1", n)
	}
}

// TestAnOpenBreakerProbesAfterItsTimeout: once OpenTimeout has passed,
// one callback probes the host, and its success closes the breaker.
func TestAnOpenBreakerProbesAfterItsTimeout(t *testing.T) {
	s := newTestSigner(t)
	rcv := newReceiver(t, s.PublicKeyPEM(), 503, 200)
	cfg := fastConfig(s)
	cfg.Breaker = BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: 50 * time.Millisecond}
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	try := func(id string) output {
		e := terminal(schema.EventAcked, rcv.srv.URL+"/cb")
		e.EventID, e.DeliveryID = "e-"+id, "d-"+id
		results, err := h.HandleBatch(context.Background(), records(t, e))
		if err != nil {
			t.Fatal(err)
		}
		return outputs(t, results)[0]
	}
	if o := try("1"); o.retry == nil || o.retry.Posts != 1 {
		t.Fatalf("first callback: %+v, want a 503 and a delay tier", o)
	}
	if o := try("2"); o.retry == nil || o.retry.Posts != 0 || !strings.Contains(o.retry.LastError, "circuit breaker") {
		t.Fatalf("second callback: %+v, want skipped: breaker open", o)
	}
	time.Sleep(60 * time.Millisecond) // past OpenTimeout
	if o := try("3"); o.sent == nil || !strings.Contains(o.sent.StatusDesc, "delivered") {
		t.Fatalf("probe: %+v, want delivered", o)
	}
	if n := gaugeValue(t, reg, "pushpipe_callbacks_breakers", "closed"); n != 1 {
		t.Fatalf("breakers{state=closed} = %v after a successful probe, want 1", n)
	}
}

// TestHostConcurrencyHoldsAcrossBatches: two batches at once, each with
// callbacks to one slow host, never have more than HostConcurrency
// requests in flight there; what finds no slot within Timeout goes to a
// delay tier.
func TestHostConcurrencyHoldsAcrossBatches(t *testing.T) {
	s := newTestSigner(t)
	var mu sync.Mutex
	inFlight, most := 0, 0
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		inFlight++
		most = max(most, inFlight)
		mu.Unlock()
		defer func() {
			mu.Lock()
			inFlight--
			mu.Unlock()
		}()
		select {
		case <-time.After(100 * time.Millisecond):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	cfg := fastConfig(s)
	cfg.Concurrency, cfg.HostConcurrency, cfg.Timeout = 8, 2, 250*time.Millisecond
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var outs [][]output
	var outsMu sync.Mutex
	for b := range 2 {
		var evs []any
		for i := range 6 {
			e := terminal(schema.EventAcked, slow.URL+"/cb")
			id := fmt.Sprintf("%d-%d", b, i)
			e.EventID, e.DeliveryID = "e-"+id, "d-"+id
			evs = append(evs, e)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			results, err := h.HandleBatch(context.Background(), records(t, evs...))
			if err != nil {
				t.Error(err)
				return
			}
			outsMu.Lock()
			outs = append(outs, outputs(t, results))
			outsMu.Unlock()
		}()
	}
	wg.Wait()
	if most > cfg.HostConcurrency || most == 0 {
		t.Fatalf("%d requests in flight at the host at most, want 1..%d", most, cfg.HostConcurrency)
	}
	delivered, deferred := 0, 0
	for _, batch := range outs {
		for _, o := range batch {
			switch {
			case o.sent != nil && strings.Contains(o.sent.StatusDesc, "delivered"):
				delivered++
			case o.retry != nil && o.retry.Posts == 0 && strings.Contains(o.retry.LastError, "slot"):
				deferred++
			default:
				t.Fatalf("callback ended %+v, want delivered or deferred for want of a slot", o)
			}
		}
	}
	if delivered+deferred != 12 || deferred == 0 {
		t.Fatalf("%d delivered and %d deferred of 12, want some deferred: 12 slow callbacks cannot all fit", delivered, deferred)
	}
}

// TestRedirectsAreNotFollowed: a 3xx answer is final; its Location is not
// visited.
func TestRedirectsAreNotFollowed(t *testing.T) {
	s := newTestSigner(t)
	target := newCountingListener(t)
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://"+target.addr()+"/internal", http.StatusFound)
	}))
	t.Cleanup(redirect.Close)
	h, err := New(fastConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	results, err := h.HandleBatch(context.Background(), records(t, terminal(schema.EventAcked, redirect.URL+"/cb")))
	if err != nil {
		t.Fatal(err)
	}
	ev := sentEvents(t, results)[0]
	if ev == nil || ev.StatusCode != http.StatusFound || !strings.Contains(ev.StatusDesc, "HTTP 302 Found") {
		t.Fatalf("callback_sent %+v, want a final 302", ev)
	}
	if n := target.accepts(); n != 0 {
		t.Fatalf("the redirect target accepted %d connections, want 0", n)
	}
}

// TestTheReceiversAnswerIsNotStored: whatever a receiver answers — its
// body, its reason phrase — the callback_sent event says only the status
// and its standard text.
func TestTheReceiversAnswerIsNotStored(t *testing.T) {
	s := newTestSigner(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = c.Close() }()
				_, _ = http.ReadRequest(bufio.NewReader(c))
				_, _ = io.WriteString(c, "HTTP/1.1 418 SECRET-REASON <script>\r\nContent-Length: 19\r\nConnection: close\r\n\r\nSECRET-BODY 1.2.3.4")
			}()
		}
	}()
	h, err := New(fastConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	results, err := h.HandleBatch(context.Background(), records(t, terminal(schema.EventAcked, "http://"+ln.Addr().String()+"/cb")))
	if err != nil {
		t.Fatal(err)
	}
	ev := sentEvents(t, results)[0]
	if ev == nil || ev.StatusCode != 418 || !strings.Contains(ev.StatusDesc, "HTTP 418 I'm a teapot") {
		t.Fatalf("callback_sent %+v, want 418 with its standard text", ev)
	}
	if strings.Contains(ev.StatusDesc, "SECRET") || strings.Contains(ev.StatusDesc, "script") {
		t.Fatalf("callback_sent stores the receiver's answer: %q", ev.StatusDesc)
	}
}

func TestHandleBatchFailsWhenItsContextEnds(t *testing.T) {
	s := newTestSigner(t)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	h, err := New(fastConfig(s))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := h.HandleBatch(ctx, records(t, terminal(schema.EventAcked, srv.URL)))
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("HandleBatch after cancel = %v, want context.Canceled so the batch is not committed", err)
	}
}

func TestConfigValidate(t *testing.T) {
	s := newTestSigner(t)
	for _, tc := range []struct {
		scenario string
		mutate   func(*Config)
		wantErr  string
	}{
		{"defaults", func(*Config) {}, ""},
		{"bad region", func(c *Config) { c.Region = "us" }, "region"},
		{"no signer", func(c *Config) { c.Signer = nil }, "Signer is required"},
		{"negative concurrency", func(c *Config) { c.Concurrency = -1 }, "Concurrency"},
		{"negative host concurrency", func(c *Config) { c.HostConcurrency = -1 }, "HostConcurrency"},
		{"negative attempts", func(c *Config) { c.MaxAttempts = -2 }, "MaxAttempts"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "Timeout"},
		{"timeout over the bound", func(c *Config) { c.Timeout = time.Minute }, "Timeout 1m0s exceeds"},
		{"min over max backoff", func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }, "MinBackoff"},
		{"max backoff over the longest tier", func(c *Config) { c.MaxBackoff = time.Hour }, "longest delay tier"},
		{"negative breaker failures", func(c *Config) { c.Breaker.ConsecutiveFailures = -1 }, "consecutiveFailures"},
		{"bad app policy", func(c *Config) {
			c.Apps = map[string]AppPolicy{"shop": {Hosts: []string{"https://hooks.example.com"}}}
		}, "policy of app shop: hosts[0]"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := Config{Region: "sg", Signer: s}
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error about %s", err, tc.wantErr)
			}
		})
	}
}

// counterValue sums the series of the named counter in reg, or only those
// whose one label has the given value.
func counterValue(t *testing.T, reg *prometheus.Registry, name string, label ...string) float64 {
	t.Helper()
	return metricValue(t, reg, name, label, func(m *dto.Metric) float64 { return m.GetCounter().GetValue() })
}

// gaugeValue is counterValue for a gauge.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string, label ...string) float64 {
	t.Helper()
	return metricValue(t, reg, name, label, func(m *dto.Metric) float64 { return m.GetGauge().GetValue() })
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string, label []string, value func(*dto.Metric) float64) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := len(label) == 0
			for _, lp := range m.GetLabel() {
				if lp.GetName() != "region" && len(label) > 0 && lp.GetValue() == label[0] {
					match = true
				}
			}
			if match {
				sum += value(m)
			}
		}
	}
	return sum
}
