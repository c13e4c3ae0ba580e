package receipts

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
)

// TestReceiptAuthentication posts each vendor's receipt with the proof
// that vendor gives and with every way it can be wrong: the honest one is
// taken (200, one event); every other is refused with 401 (403 for a
// source not allowed) in the vendor's error form, writes nothing, and
// counts in auth_refused_total{vendor,reason}.
func TestReceiptAuthentication(t *testing.T) {
	now := time.UnixMilli(1730776990000)
	p := &fakeProducer{}
	reg := prometheus.NewRegistry()
	s, err := New(testConfig(Config{Region: "sg", Producer: p, Metrics: reg, Now: func() time.Time { return now },
		AllowedSources: map[string][]netip.Prefix{"vivo": {netip.MustParsePrefix("10.0.0.0/8")}},
		Apps:           map[string]AppCredentials{testApp: testCreds, "app-2": {ClientKey: "client-key-of-app-2"}}}))
	if err != nil {
		t.Fatal(err)
	}
	hms := withCorrelation(sampleHMS, ourDelivery)
	harmony := withCorrelation(sampleHarmonyOS, ourDelivery)
	honor := withCorrelation(sampleHonor, ourDelivery)
	client := `{"events":[{"deliveryId":"` + ourDelivery + `","event":"open"}]}`
	with := func(req *http.Request, f func(*http.Request)) *http.Request { f(req); return req }
	setQuery := func(k, v string) func(*http.Request) {
		return func(r *http.Request) {
			q := r.URL.Query()
			if v == "" {
				q.Del(k)
			} else {
				q.Set(k, v)
			}
			r.URL.RawQuery = q.Encode()
		}
	}
	header := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	replayed := signed(http.MethodPost, "hms", testApp, ctJSON, hms, now)
	replayedHeader := replayed.Header.Get(HeaderHuaweiCallbackID)
	for _, tc := range []struct {
		scenario string
		req      *http.Request
		vendor   string
		status   int
		reason   string // "" for a request that is taken
	}{
		{"huawei: signed with the app's callback key", signed("POST", "hms", testApp, ctJSON, hms, now), "hms", 200, ""},
		{"huawei: the same header again (a replay)", with(signed("POST", "hms", testApp, ctJSON, hms, now),
			header(HeaderHuaweiCallbackID, replayedHeader)), "hms", 200, ""},
		{"huawei: the replayed header a second time", with(signed("POST", "hms", testApp, ctJSON, hms, now),
			header(HeaderHuaweiCallbackID, replayedHeader)), "hms", 401, "replayed_nonce"},
		{"huawei: no header (the issue's forged status 5)", with(signed("POST", "hms", testApp, ctJSON, hms, now),
			func(r *http.Request) { r.Header.Del(HeaderHuaweiCallbackID) }), "hms", 401, "no_signature"},
		{"huawei: no app in the address", with(signed("POST", "hms", testApp, ctJSON, hms, now), setQuery("app", "")), "hms", 401, "no_app"},
		{"huawei: an app without Huawei credentials", signed("POST", "hms", "app-2", ctJSON, hms, now), "hms", 401, "no_credentials"},
		{"huawei: signed with another key", with(signed("POST", "hms", testApp, ctJSON, hms, now),
			header(HeaderHuaweiCallbackID, HuaweiCallbackID(testCreds.Huawei["hms"].User, "guessed-key", now, "n1"))), "hms", 401, "bad_signature"},
		{"huawei: signed for another user name", with(signed("POST", "hms", testApp, ctJSON, hms, now),
			header(HeaderHuaweiCallbackID, HuaweiCallbackID("someone", testCreds.Huawei["hms"].Key, now, "n2"))), "hms", 401, "bad_signature"},
		{"huawei: a header that is not key=value pairs", with(signed("POST", "hms", testApp, ctJSON, hms, now),
			header(HeaderHuaweiCallbackID, "garbage")), "hms", 401, "bad_signature"},
		{"huawei: signed ten minutes ago", signed("POST", "hms", testApp, ctJSON, hms, now.Add(-10*time.Minute)), "hms", 401, "stale_timestamp"},
		{"harmonyos: signed with its own callback key", signed("POST", "harmonyos", testApp, ctJSON, harmony, now), "harmonyos", 200, ""},
		{"harmonyos: signed with the Huawei Push Kit key", with(signed("POST", "harmonyos", testApp, ctJSON, harmony, now),
			header(HeaderHuaweiCallbackID, HuaweiCallbackID(testCreds.Huawei["hms"].User, testCreds.Huawei["hms"].Key, now, "n3"))), "harmonyos", 401, "bad_signature"},
		{"honor: the app's token in the address", signed("POST", "honor", testApp, ctJSON, honor, now), "honor", 200, ""},
		{"honor: another token", with(signed("POST", "honor", testApp, ctJSON, honor, now), setQuery("token", "guessed-token")), "honor", 401, "bad_token"},
		{"honor: no token", with(signed("POST", "honor", testApp, ctJSON, honor, now), setQuery("token", "")), "honor", 401, "no_signature"},
		{"mipush: the tagged parameter the call carried", signed("POST", "mipush", testApp, ctForm,
			withCorrelation(sampleMiPush, tagged("mipush", ourDelivery)), now), "mipush", 200, ""},
		{"mipush: a delivery id without a tag", signed("POST", "mipush", testApp, ctForm, withCorrelation(sampleMiPush, ourDelivery), now), "mipush", 401, "bad_tag"},
		{"mipush: a msg id without a tag", signed("POST", "mipush", testApp, ctForm, withCorrelation(sampleMiPush, "msg-1"), now), "mipush", 401, "bad_tag"},
		{"mipush: another app's address with this app's tag", signed("POST", "mipush", "app-2", ctForm,
			withCorrelation(sampleMiPush, tagged("mipush", ourDelivery)), now), "mipush", 401, "bad_tag"},
		{"mipush: no app in the address", with(signed("POST", "mipush", testApp, ctForm, withCorrelation(sampleMiPush, tagged("mipush", ourDelivery)), now),
			setQuery("app", "")), "mipush", 401, "no_app"},
		{"oppo: the tagged parameter", signed("POST", "oppo", testApp, ctJSON, withCorrelation(sampleOPPO, tagged("oppo", ourDelivery)), now), "oppo", 200, ""},
		{"oppo: a MiPush tag", signed("POST", "oppo", testApp, ctJSON, withCorrelation(sampleOPPO, tagged("mipush", ourDelivery)), now), "oppo", 401, "bad_tag"},
		{"vivo: the tagged parameter from an allowed source", with(signed("POST", "vivo", testApp, ctJSON, withCorrelation(sampleVivo, tagged("vivo", ourDelivery)), now),
			func(r *http.Request) { r.RemoteAddr = "10.1.2.3:4567" }), "vivo", 200, ""},
		{"vivo: the tagged parameter from elsewhere", signed("POST", "vivo", testApp, ctJSON, withCorrelation(sampleVivo, tagged("vivo", ourDelivery)), now),
			"vivo", 403, "source_not_allowed"},
		{"client: signed with the app's client key", signed("POST", "client", testApp, ctJSON, client, now), "client", 200, ""},
		{"client: unsigned", with(signed("POST", "client", testApp, ctJSON, client, now),
			func(r *http.Request) { r.Header.Del(HeaderClientSignature) }), "client", 401, "no_signature"},
		{"client: signed by another app's key", with(signed("POST", "client", testApp, ctJSON, client, now),
			header(HeaderClientSignature, ClientSignature(testApp, "client-key-of-app-2", now, []byte(client)))), "client", 401, "bad_signature"},
		{"client: another app's address", with(signed("POST", "client", testApp, ctJSON, client, now), setQuery("app", "app-2")), "client", 401, "bad_signature"},
		{"client: body changed after signing", with(signed("POST", "client", testApp, ctJSON, client, now),
			header(HeaderClientSignature, ClientSignature(testApp, testCreds.ClientKey, now, []byte(`{"events":[]}`)))), "client", 401, "bad_signature"},
		{"client: signed an hour ago", signed("POST", "client", testApp, ctJSON, client, now.Add(-time.Hour)), "client", 401, "stale_timestamp"},
		{"client: an app with no client key", signed("POST", "client", "app-3", ctJSON, client, now), "client", 401, "no_credentials"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			before := counter(t, s.m.refused.WithLabelValues(tc.vendor, tc.reason))
			code, body := serve(s.Handler(), tc.req)
			outs := p.take()
			if code != tc.status {
				t.Fatalf("answer %d %s, want %d", code, body, tc.status)
			}
			if tc.reason == "" {
				if len(outs) != 1 {
					t.Fatalf("%d records produced, want 1", len(outs))
				}
				return
			}
			if len(outs) != 0 {
				t.Fatalf("a refused receipt produced %d records", len(outs))
			}
			if after := counter(t, s.m.refused.WithLabelValues(tc.vendor, tc.reason)); after != before+1 {
				t.Fatalf("auth_refused_total{%s,%s} went from %v to %v", tc.vendor, tc.reason, before, after)
			}
			// The refusal is in the vendor's error form.
			if tc.vendor != "mipush" && !json.Valid([]byte(body)) {
				t.Fatalf("answer %q is not the vendor's JSON error form", body)
			}
		})
	}
}

// TestAHuaweiNonceOfAFailedRequestCanComeBack posts a signed Huawei
// receipt that Kafka does not take: the vendor sends it again with the
// same header, which is then taken.
func TestAHuaweiNonceOfAFailedRequestCanComeBack(t *testing.T) {
	p := &fakeProducer{err: fmt.Errorf("broker down")}
	s, _ := New(testConfig(Config{Region: "sg", Producer: p}))
	first := signed(http.MethodPost, "hms", testApp, ctJSON, withCorrelation(sampleHMS, ourDelivery), time.Now())
	h := first.Header.Get(HeaderHuaweiCallbackID)
	if code, body := serve(s.Handler(), first); code != http.StatusServiceUnavailable {
		t.Fatalf("answer %d %s, want 503", code, body)
	}
	p.mu.Lock()
	p.err = nil
	p.mu.Unlock()
	again := signed(http.MethodPost, "hms", testApp, ctJSON, withCorrelation(sampleHMS, ourDelivery), time.Now())
	again.Header.Set(HeaderHuaweiCallbackID, h)
	if code, body := serve(s.Handler(), again); code != http.StatusOK {
		t.Fatalf("the retried receipt was answered %d %s", code, body)
	}
}

// TestClientEventsGetTheDeliveryIDOfTheirApp posts the same client event
// naming msgId and deviceId for two apps: each gets its own app's
// delivery id, which no one without the id key can compute.
func TestClientEventsGetTheDeliveryIDOfTheirApp(t *testing.T) {
	p := &fakeProducer{}
	s, _ := New(testConfig(Config{Region: "sg", Producer: p,
		Apps: map[string]AppCredentials{testApp: testCreds, "app-2": {ClientKey: testCreds.ClientKey}}}))
	body := `{"events":[{"msgId":"msg-1","deviceId":"dev-1","event":"arrival"}]}`
	for _, app := range []string{testApp, "app-2"} {
		if code, answer := serve(s.Handler(), signed(http.MethodPost, "client", app, ctJSON, body, time.Now())); code != http.StatusOK {
			t.Fatalf("%s: answer %d %s", app, code, answer)
		}
		outs := p.take()
		var e schema.Event
		if len(outs) != 1 || json.Unmarshal(outs[0].Value, &e) != nil {
			t.Fatalf("%s: records %v", app, outs)
		}
		if want := testinfra.IDKey().DeliveryID(app, "msg-1", "dev-1"); e.DeliveryID != want || e.ReceiptAppID != app || string(outs[0].Key) != app+"/"+want {
			t.Fatalf("%s: event %+v key %s, want delivery %s", app, e, outs[0].Key, want)
		}
	}
	// A deliveryId given with msgId and deviceId must be theirs.
	bad := `{"events":[{"deliveryId":"` + ourDelivery + `","msgId":"msg-1","deviceId":"dev-1","event":"open"}]}`
	if code, answer := serve(s.Handler(), signed(http.MethodPost, "client", testApp, ctJSON, bad, time.Now())); code != http.StatusBadRequest || !strings.Contains(answer, "is not the delivery of") {
		t.Fatalf("answer %d %s, want 400 naming the mismatch", code, answer)
	}
}

// TestReceiptRequestsAreCapped refuses bodies with more items than a
// vendor batches (400 too_many_items) and requests naming more
// deliveries than MaxEvents (400 too_many_events), publishing nothing.
func TestReceiptRequestsAreCapped(t *testing.T) {
	p := &fakeProducer{}
	s, _ := New(testConfig(Config{Region: "sg", Producer: p, MaxEvents: 3}))
	statuses := make([]string, MaxReceiptItems+1)
	for i := range statuses {
		statuses[i] = `{"biTag":"` + ourDelivery + `","token":"t` + strconv.Itoa(i) + `","status":0}`
	}
	many := `{"statuses":[` + strings.Join(statuses, ",") + `]}`
	data, _ := json.Marshal(map[string]any{"m1": map[string]any{"param": tagged("mipush", "msg-1"), "type": 1, "targets": "r1,r2,r3,r4"}})
	for _, tc := range []struct {
		scenario, vendor, ct, body string
		reason                     string
	}{
		{"a Huawei body of 1001 statuses", "hms", ctJSON, many, "too_many_items"},
		{"a MiPush receipt naming 4 regIds, over MaxEvents 3", "mipush", ctForm, url.Values{"data": {string(data)}}.Encode(), "too_many_events"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			code, body := serve(s.Handler(), signed(http.MethodPost, tc.vendor, testApp, tc.ct, tc.body, time.Now()))
			if code != http.StatusBadRequest || !strings.Contains(body, "at most") {
				t.Fatalf("answer %d %s, want 400 saying the cap", code, body)
			}
			if got := counter(t, s.m.rejected.WithLabelValues(tc.vendor, tc.reason)); got != 1 {
				t.Fatalf("rejected_total{%s,%s} = %v, want 1", tc.vendor, tc.reason, got)
			}
			if n := len(p.take()); n != 0 {
				t.Fatalf("%d records produced", n)
			}
		})
	}
}

// TestNonceCacheForgets keeps nonces for its time to live and at most its
// size, forgetting the oldest first.
func TestNonceCacheForgets(t *testing.T) {
	c := newNonceCache(time.Minute, 3)
	t0 := time.Now()
	for _, tc := range []struct {
		key  string
		at   time.Duration
		want bool
	}{
		{"a", 0, true}, {"a", time.Second, false}, {"b", time.Second, true}, {"c", time.Second, true},
		{"d", 2 * time.Second, true},  // over the size: a is forgotten
		{"a", 3 * time.Second, true},  // so a is new again (b is forgotten)
		{"c", 4 * time.Second, false}, // c is still known
		{"c", 2 * time.Minute, true},  // and forgotten after its time to live
	} {
		if got := c.reserve(tc.key, t0.Add(tc.at)); got != tc.want {
			t.Fatalf("reserve(%s) at +%s = %t, want %t", tc.key, tc.at, got, tc.want)
		}
	}
}
