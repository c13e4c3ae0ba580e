package receipts

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// fakeProducer records what it is given, or fails with err.
type fakeProducer struct {
	mu   sync.Mutex
	outs []pipeline.Output
	err  error
}

func (p *fakeProducer) Produce(_ context.Context, outs []pipeline.Output) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return p.err
	}
	p.outs = append(p.outs, outs...)
	return nil
}

func (p *fakeProducer) take() []pipeline.Output {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.outs
	p.outs = nil
	return out
}

func counter(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// testApp is the app of the tests' receipts, with testCreds.
const testApp = "app-1"

var testCreds = AppCredentials{
	Huawei: map[string]HuaweiCallback{
		"hms":       {User: "hms-user", Key: "hms-callback-key"},
		"harmonyos": {User: "harmonyos-user", Key: "harmonyos-callback-key"},
	},
	HonorToken: "honor-receipt-token-1",
	ClientKey:  "client-key-of-app-1",
}

// testConfig completes cfg with the test id key and, unless cfg names
// apps, testApp's credentials.
func testConfig(cfg Config) Config {
	cfg.IDKey = testinfra.IDKey()
	if cfg.Apps == nil {
		cfg.Apps = map[string]AppCredentials{testApp: testCreds}
	}
	return cfg
}

// tagged is the callback parameter the channel of vendor sends for value
// of testApp.
func tagged(vendor, value string) string {
	return testinfra.IDKey().ReceiptParam(vendor, testApp, value)
}

// signed is a request of body to /receipts/<vendor>?app=<app> carrying the
// proof that vendor (or the app SDK) adds for testApp's credentials,
// signed at now.
func signed(method, vendor, app, contentType, body string, now time.Time) *http.Request {
	target := "/receipts/" + vendor + "?app=" + url.QueryEscape(app)
	if vendor == "honor" {
		target += "&token=" + url.QueryEscape(testCreds.HonorToken.Reveal())
	}
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	switch vendor {
	case "hms":
		req.Header.Set(HeaderHuaweiCallbackID, HuaweiCallbackID(testCreds.Huawei["hms"].User, testCreds.Huawei["hms"].Key, now, rand.Text()))
	case "harmonyos":
		req.Header.Set(HeaderHuaweiCallbackID, HuaweiCallbackID(testCreds.Huawei["harmonyos"].User, testCreds.Huawei["harmonyos"].Key, now, rand.Text()))
	case "client":
		req.Header.Set(HeaderClientTimestamp, strconv.FormatInt(now.UnixMilli(), 10))
		req.Header.Set(HeaderClientSignature, ClientSignature(app, testCreds.ClientKey, now, []byte(body)))
	}
	return req
}

func serve(h http.Handler, req *http.Request) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// post posts body for testApp as its vendor would, signed now.
func post(t *testing.T, h http.Handler, path, contentType, body string) (int, string) {
	t.Helper()
	return serve(h, signed(http.MethodPost, strings.TrimPrefix(path, "/receipts/"), testApp, contentType, body, time.Now()))
}

const (
	ctJSON = "application/json"
	ctForm = "application/x-www-form-urlencoded"
)

func TestEndpointsAnswerAsEachVendorExpects(t *testing.T) {
	now := time.UnixMilli(1730776990000)
	p := &fakeProducer{}
	s, err := New(testConfig(Config{Region: "sg", Producer: p, Now: func() time.Time { return now }}))
	if err != nil {
		t.Fatal(err)
	}
	const sampleMsg = "0#4#1.1#console_1730775366036&671135c53a89dde2"
	byToken := schema.PendingReceiptEventID(schema.EventArrived, sampleMsg, "oUU0LhUv9qgw2HEtgtWmxEqX91dkWesBHQxxx")
	key := testApp + "/" + ourDelivery
	for _, tc := range []struct {
		scenario    string
		path, ct    string
		body        string
		wantBody    string
		wantEvent   schema.EventType
		wantEventID string
		wantKey     string
	}{
		{"huawei", "/receipts/hms", ctJSON, withCorrelation(sampleHMS, ourDelivery), `{"code":"0","message":"success"}`,
			schema.EventArrived, schema.ReceiptEventID(schema.EventArrived, ourDelivery), key},
		{"honor", "/receipts/honor", ctJSON, withCorrelation(sampleHonor, ourDelivery), `{"code":"0","message":"success"}`,
			schema.EventFailed, schema.ReceiptEventID(schema.EventFailed, ourDelivery), key},
		{"harmonyos", "/receipts/harmonyos", ctJSON, withCorrelation(sampleHarmonyOS, ourDelivery), `{"code":"0","message":"success"}`,
			schema.EventFailed, schema.ReceiptEventID(schema.EventFailed, ourDelivery), key},
		{"xiaomi, msg id and regId", "/receipts/mipush", ctForm, withCorrelation(sampleMiPush, tagged("mipush", sampleMsg)), `SUCCESS`,
			schema.EventArrived, byToken, testApp + "/" + sampleMsg},
		{"oppo", "/receipts/oppo", ctJSON, withCorrelation(sampleOPPO, tagged("oppo", ourDelivery)), `{"returnCode":100,"returnReason":"SUCCESS"}`,
			schema.EventArrived, schema.ReceiptEventID(schema.EventArrived, ourDelivery), key},
		{"vivo", "/receipts/vivo", ctJSON, withCorrelation(sampleVivo, tagged("vivo", ourDelivery)), `{"returnCode":100,"returnReason":"SUCCESS"}`,
			schema.EventArrived, schema.ReceiptEventID(schema.EventArrived, ourDelivery), key},
		{"client", "/receipts/client", ctJSON, `{"events":[{"deliveryId":"` + ourDelivery + `","event":"ignore","appVersion":"3.0"}]}`,
			`{"returnCode":100,"returnReason":"SUCCESS"}`, schema.EventIgnored, schema.ReceiptEventID(schema.EventIgnored, ourDelivery), key},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			code, body := serve(s.Handler(), signed(http.MethodPost, strings.TrimPrefix(tc.path, "/receipts/"), testApp, tc.ct, tc.body, now))
			if code != http.StatusOK || body != tc.wantBody {
				t.Fatalf("answer %d %s, want 200 %s", code, body, tc.wantBody)
			}
			outs := p.take()
			if len(outs) != 1 {
				t.Fatalf("%d records produced, want 1", len(outs))
			}
			var e schema.Event
			if err := json.Unmarshal(outs[0].Value, &e); err != nil {
				t.Fatal(err)
			}
			if outs[0].Topic != "push.events.sg" || string(outs[0].Key) != tc.wantKey {
				t.Errorf("record to %s key %q, want push.events.sg key %q", outs[0].Topic, outs[0].Key, tc.wantKey)
			}
			if e.Event != tc.wantEvent || e.EventID != tc.wantEventID || e.Region != "sg" || e.AppID != "" || e.ReceiptAppID != testApp || e.TS <= 0 {
				t.Errorf("event %+v, want %s with id %s", e, tc.wantEvent, tc.wantEventID)
			}
		})
	}
	if got := counter(t, s.m.events.WithLabelValues("hms", "arrived")); got != 1 {
		t.Errorf("events_total{hms,arrived} = %v, want 1", got)
	}
}

func TestReplayedReceiptProducesTheSameEvents(t *testing.T) {
	p := &fakeProducer{}
	s, _ := New(testConfig(Config{Region: "eu", Producer: p}))
	body := "data=" + strings.ReplaceAll(strings.TrimPrefix(withCorrelation(sampleMiPush, tagged("mipush", "msg-7")), "data="), "oUU0LhUv9qgw2HEtgtWmxEqX91dkWesBHQxxx", "r1%2Cr2")
	var rounds [2][]string
	for i := range rounds {
		if code, b := post(t, s.Handler(), "/receipts/mipush", ctForm, body); code != http.StatusOK {
			t.Fatalf("answer %d %s", code, b)
		}
		for _, o := range p.take() {
			var e schema.Event
			_ = json.Unmarshal(o.Value, &e)
			rounds[i] = append(rounds[i], e.EventID+"/"+e.Token)
		}
	}
	if len(rounds[0]) != 2 || strings.Join(rounds[0], ",") != strings.Join(rounds[1], ",") {
		t.Fatalf("events differ between a receipt and its replay: %v vs %v", rounds[0], rounds[1])
	}
}

func TestGarbledBodiesAreRefusedAndCounted(t *testing.T) {
	p := &fakeProducer{}
	reg := prometheus.NewRegistry()
	s, err := New(testConfig(Config{Region: "sg", Producer: p, Metrics: reg, MaxBodyBytes: 1024}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scenario   string
		method     string
		path, body string
		wantStatus int
		wantVendor string
		wantReason string
		wantBody   string
	}{
		{"huawei: not JSON", "POST", "/receipts/hms", `{"statuses":`, 400, "hms", "malformed_json", `"code":"400"`},
		{"honor: no statuses", "POST", "/receipts/honor", `{}`, 400, "honor", "empty", `no \"statuses\"`},
		{"xiaomi: JSON instead of a form", "POST", "/receipts/mipush", `{"data":{}}`, 400, "mipush", "no_data", `INVALID_PARAM: mipush receipt has no form field "data"`},
		{"oppo: object", "POST", "/receipts/oppo", `{}`, 400, "oppo", "malformed_json", `"returnCode":3028`},
		{"vivo: too large", "POST", "/receipts/vivo", `{"x":"` + strings.Repeat("a", 2000) + `"}`, 413, "vivo", "too_large", `larger than 1024 bytes`},
		{"client: unknown event", "POST", "/receipts/client", `{"events":[{"deliveryId":"` + ourDelivery + `","event":"boom"}]}`, 400, "client", "invalid_event", `not arrival, open or ignore`},
		{"unknown vendor", "POST", "/receipts/apns", `{}`, 404, "unknown", "unknown_vendor", `no receipt endpoint \"apns\"`},
		{"wrong method", "GET", "/receipts/hms", ``, 405, "hms", "method", `POSTed, not GET`},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			before := counter(t, s.m.rejected.WithLabelValues(tc.wantVendor, tc.wantReason))
			code, body := serve(s.Handler(), signed(tc.method, strings.TrimPrefix(tc.path, "/receipts/"), testApp, ctJSON, tc.body, time.Now()))
			if code != tc.wantStatus || !strings.Contains(body, tc.wantBody) {
				t.Fatalf("answer %d %s, want %d containing %s", code, body, tc.wantStatus, tc.wantBody)
			}
			if after := counter(t, s.m.rejected.WithLabelValues(tc.wantVendor, tc.wantReason)); after != before+1 {
				t.Fatalf("rejected_total{%s,%s} went from %v to %v", tc.wantVendor, tc.wantReason, before, after)
			}
		})
	}
	if outs := p.take(); len(outs) != 0 {
		t.Fatalf("garbled bodies produced %d records", len(outs))
	}
	// The counters are on the registry the process's health server
	// exports.
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `pushpipe_receipts_rejected_total{reason="malformed_json",region="sg",vendor="hms"} 1`) {
		t.Fatalf("the registry lacks the rejection:\n%s", rec.Body.String())
	}
}

func TestItemsWithoutUsableContentAreSkippedNotRefused(t *testing.T) {
	p := &fakeProducer{}
	s, _ := New(testConfig(Config{Region: "sg", Producer: p}))
	code, body := post(t, s.Handler(), "/receipts/hms", ctJSON, `{"statuses":[{"token":"t","status":0},{"biTag":"`+ourDelivery+`","status":0}]}`)
	if code != http.StatusOK || body != `{"code":"0","message":"success"}` {
		t.Fatalf("answer %d %s", code, body)
	}
	if n := len(p.take()); n != 1 {
		t.Fatalf("%d records, want 1", n)
	}
	if got := counter(t, s.m.skipped.WithLabelValues("hms", "no_correlation")); got != 1 {
		t.Fatalf("skipped_total{hms,no_correlation} = %v", got)
	}
}

func TestKafkaFailureAsksTheVendorToRetry(t *testing.T) {
	p := &fakeProducer{err: errors.New("broker down")}
	s, _ := New(testConfig(Config{Region: "sg", Producer: p}))
	code, body := post(t, s.Handler(), "/receipts/oppo", ctJSON, withCorrelation(sampleOPPO, tagged("oppo", ourDelivery)))
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"returnCode":9000`) {
		t.Fatalf("answer %d %s, want 503 with 9000 SYSTEM_ERROR", code, body)
	}
	if got := counter(t, s.m.rejected.WithLabelValues("oppo", "unavailable")); got != 1 {
		t.Fatalf("rejected_total{oppo,unavailable} = %v", got)
	}
	if got := counter(t, s.m.events.WithLabelValues("oppo", "arrived")); got != 0 {
		t.Fatalf("events counted although Kafka refused them: %v", got)
	}
}

func TestImplausibleTimestampsBecomeReceiveTime(t *testing.T) {
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		scenario string
		ts, want int64
	}{
		{"missing", 0, now.UnixMilli()},
		{"an hour ago", now.Add(-time.Hour).UnixMilli(), now.Add(-time.Hour).UnixMilli()},
		{"two days ahead", now.Add(48 * time.Hour).UnixMilli(), now.UnixMilli()},
		{"in 1970", 5, now.UnixMilli()},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if got := plausibleTS(tc.ts, now); got != tc.want {
				t.Fatalf("plausibleTS(%d) = %d, want %d", tc.ts, got, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		cfg      Config
		want     string
	}{
		{"no region", testConfig(Config{Producer: &fakeProducer{}}), "region"},
		{"no producer", testConfig(Config{Region: "sg"}), "Producer is required"},
		{"negative body limit", testConfig(Config{Region: "sg", Producer: &fakeProducer{}, MaxBodyBytes: -1}), "MaxBodyBytes"},
		{"no id key", Config{Region: "sg", Producer: &fakeProducer{}}, "IDKey is required"},
		{"allowed sources of an unknown endpoint", testConfig(Config{Region: "sg", Producer: &fakeProducer{},
			AllowedSources: map[string][]netip.Prefix{"apns": nil}}), "not an endpoint"},
		{"negative event cap", testConfig(Config{Region: "sg", Producer: &fakeProducer{}, MaxEvents: -1}), "must not be negative"},
		{"valid", testConfig(Config{Region: "sg", Producer: &fakeProducer{}}), ""},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			err := tc.cfg.Validate()
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestServerOverRealKafka posts a receipt to a listening server whose
// events go to the embedded broker, and reads the record back.
func TestServerOverRealKafka(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	brokers := []string{testinfra.Kafka(t)}
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics("sg"), 2); err != nil {
		t.Fatal(err)
	}
	prod, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = prod.Close() }()
	s, err := New(testConfig(Config{Region: "sg", Producer: prod}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // Close before Start is allowed
		t.Fatal(err)
	}
	s, _ = New(testConfig(Config{Region: "sg", Producer: prod}))
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = s.Close() }()
	if err := s.Start(ctx); err == nil {
		t.Fatal("second Start succeeded")
	}
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") {
		t.Fatalf("listening on %s, want loopback", s.Addr())
	}
	get := func(path string) int {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	// Vendors reach this port: health, readiness, metrics and profiles
	// are the internal health server's.
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/"} {
		if code := get(path); code != http.StatusNotFound {
			t.Errorf("GET %s on the receipts port: %d, want 404", path, code)
		}
	}
	req := signed(http.MethodPost, "hms", testApp, ctJSON, withCorrelation(sampleHMS, ourDelivery), time.Now())
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, s.URL()+req.URL.String(), req.Body)
	req.Header.Set(HeaderHuaweiCallbackID, HuaweiCallbackID(testCreds.Huawei["hms"].User, testCreds.Huawei["hms"].Key, time.Now(), "nonce-over-kafka"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("answer %d %s", resp.StatusCode, b)
	}
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: "push.events.sg", GroupID: "receipts-test", StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer func() { _ = r.Close() }()
	m, err := r.FetchMessage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var e schema.Event
	if err := json.Unmarshal(m.Value, &e); err != nil {
		t.Fatal(err)
	}
	if string(m.Key) != testApp+"/"+ourDelivery || e.DeliveryID != ourDelivery || e.Event != schema.EventArrived || e.Channel != "hms" {
		t.Fatalf("record key %q event %+v", m.Key, e)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := http.Get(s.URL() + "/receipts/hms"); err == nil {
		t.Fatal("server still answers after Close")
	}
}
