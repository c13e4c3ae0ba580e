package callbacks

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

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
	d := schema.Delivery{DeliveryID: schema.NewDeliveryID("msg-1", "dev-1"), MsgID: "msg-1", TaskID: "task-1", AppID: "app",
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

// sentEvents decodes the callback_sent events of results, index-aligned
// (nil where a record caused nothing).
func sentEvents(t *testing.T, results []pipeline.Result) []*schema.Event {
	t.Helper()
	out := make([]*schema.Event, len(results))
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
		if o.Topic != pipeline.EventsTopic("sg") {
			t.Fatalf("output on %s, want %s", o.Topic, pipeline.EventsTopic("sg"))
		}
		var e schema.Event
		if err := json.Unmarshal(o.Value, &e); err != nil {
			t.Fatal(err)
		}
		if string(o.Key) != e.Key() {
			t.Fatalf("output key %q, want the event's key %q", o.Key, e.Key())
		}
		out[i] = &e
	}
	return out
}

func fastConfig(s *Signer) Config {
	return Config{Region: "sg", Signer: s, MaxAttempts: 3, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Timeout: 2 * time.Second, Concurrency: 4}
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
		posts    int   // verified callbacks the receiver got
		want     *want // nil: no callback_sent event
	}{
		{"acked is delivered", schema.EventAcked, "", nil, 1, &want{200, "delivered to http://127.0.0.1", true}},
		{"failed is delivered with pushSuccess false", schema.EventFailed, "", nil, 1, &want{200, "in 1 attempt(s)", false}},
		{"expired tells the receiver too", schema.EventExpired, "", nil, 1, &want{200, "delivered", false}},
		{"revoked tells the receiver too", schema.EventRevoked, "", nil, 1, &want{200, "delivered", false}},
		{"503 then 200 is retried", schema.EventAcked, "", []int{503, 200}, 2, &want{200, "in 2 attempt(s)", true}},
		{"429 is retried", schema.EventAcked, "", []int{429, 200}, 2, &want{200, "in 2 attempt(s)", true}},
		{"400 is not retried", schema.EventAcked, "", []int{400}, 1, &want{400, "refused by http://127.0.0.1", true}},
		{"404 is not retried", schema.EventFailed, "", []int{404}, 1, &want{404, "HTTP 404", false}},
		{"always 500 gives up after MaxAttempts", schema.EventAcked, "", []int{500}, 3, &want{500, "gave up on http://127.0.0.1", true}},
		{"nobody listening gives up with status 0", schema.EventAcked, closedURL, nil, 0, &want{0, "after 3 attempt(s)", true}},
		{"ftp URL is described, not posted", schema.EventAcked, "ftp://example.com/cb", nil, 0, &want{0, "not http or https", true}},
		{"URL without host is described", schema.EventAcked, "https:///cb", nil, 0, &want{0, "has no host", true}},
		{"unparsable URL is described", schema.EventAcked, "http://[::1", nil, 0, &want{0, "not a URL", true}},
		{"sent is not terminal", schema.EventSent, "", nil, 0, nil},
		{"valid is not terminal", schema.EventValid, "", nil, 0, nil},
		{"retried is not terminal", schema.EventRetried, "", nil, 0, nil},
		{"callback_sent itself is skipped", schema.EventCallbackSent, "", nil, 0, nil},
		{"terminal without a URL is skipped", schema.EventAcked, "-", nil, 0, nil},
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
			got := sentEvents(t, results)[0]
			if tc.want == nil {
				if got != nil {
					t.Fatalf("a callback_sent event for a record that asks for no callback: %+v", got)
				}
				return
			}
			if got == nil {
				t.Fatal("no callback_sent event")
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
			if n := counterValue(t, reg, "pushpipe_callbacks_attempts_total"); tc.posts > 0 && n != float64(tc.posts) {
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

// TestAHostThatGaveUpIsTriedOnceForTheRestOfTheBatch: with one callback at
// a time, the first callback to a failing host uses every attempt, the
// following ones of the batch one attempt each.
func TestAHostThatGaveUpIsTriedOnceForTheRestOfTheBatch(t *testing.T) {
	s := newTestSigner(t)
	rcv := newReceiver(t, s.PublicKeyPEM(), http.StatusServiceUnavailable)
	cfg := fastConfig(s)
	cfg.Concurrency = 1
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var evs []any
	for i := range 3 {
		e := terminal(schema.EventAcked, rcv.srv.URL+"/cb")
		e.EventID, e.DeliveryID = e.EventID+string(rune('a'+i)), e.DeliveryID+string(rune('a'+i))
		evs = append(evs, e)
	}
	results, err := h.HandleBatch(context.Background(), records(t, evs...))
	if err != nil {
		t.Fatal(err)
	}
	bodies, _, _ := rcv.received()
	if want := cfg.MaxAttempts + 2; len(bodies) != want {
		t.Fatalf("receiver got %d posts, want %d (all attempts once, then one each)", len(bodies), want)
	}
	for i, e := range sentEvents(t, results) {
		if e == nil || e.StatusCode != http.StatusServiceUnavailable || !strings.Contains(e.StatusDesc, "gave up") {
			t.Fatalf("record %d: callback_sent %+v, want a gave-up 503", i, e)
		}
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
		{"negative attempts", func(c *Config) { c.MaxAttempts = -2 }, "MaxAttempts"},
		{"negative timeout", func(c *Config) { c.Timeout = -time.Second }, "Timeout"},
		{"min over max backoff", func(c *Config) { c.MinBackoff, c.MaxBackoff = time.Second, time.Millisecond }, "MinBackoff"},
		{"elapsed shorter than one attempt", func(c *Config) { c.Timeout, c.MaxElapsed = time.Minute, time.Second }, "MaxElapsed"},
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

// counterValue sums every series of the named counter in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
