package vendorsim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
)

// The MiPush app the simulator tests push with (simtest.StartMiPush).
const (
	appID  = simtest.MiPushAppID
	secret = simtest.MiPushSecret
	pkg    = simtest.MiPushPackage
	region = "sg"
	// regPath is MiPush's push-by-regId path below a base URL.
	regPath = "/v3/message/regid"
)

type answer = simtest.MiPushAnswer

func start(t *testing.T, mutate func(*vendorsim.Config)) *vendorsim.Server {
	return simtest.StartMiPush(t, mutate)
}

func push(t *testing.T, baseURL, auth string, f url.Values) (int, answer, http.Header) {
	return simtest.PushMiPush(t, baseURL, auth, f)
}

func form(regIDs string) url.Values { return simtest.MiPushForm(regIDs) }

func TestRecordsPerRegion(t *testing.T) {
	srv := start(t, nil)
	push(t, srv.MiPushBaseURL("sg"), "key="+secret, form("a1,a2"))
	push(t, srv.MiPushBaseURL("eu"), "key="+secret, form("b1"))
	push(t, srv.MiPushBaseURL("eu"), "key="+secret, form("b2"))

	if n := len(srv.Requests("", "")); n != 3 {
		t.Fatalf("%d requests, want 3", n)
	}
	eu := srv.Requests(vendorsim.VendorMiPush, "eu")
	if len(eu) != 2 || eu[0].RegIDs[0] != "b1" || eu[1].RegIDs[0] != "b2" || eu[0].Seq >= eu[1].Seq {
		t.Fatalf("eu requests %+v", eu)
	}
	r := eu[0]
	if r.Region != "eu" || r.Path != "/mipush/eu/v3/message/regid" || r.Auth != "key="+secret ||
		r.AppID != appID || r.Form.Get("title") != "Title" || r.Status != 200 || r.Code != 0 || r.Body == "" {
		t.Errorf("record %+v", r)
	}
	// Records are copies.
	eu[0].RegIDs[0] = "changed"
	if srv.Requests(vendorsim.VendorMiPush, "eu")[0].RegIDs[0] != "b1" {
		t.Error("Requests returned shared memory")
	}
	sg := srv.Stats().Vendors[vendorsim.VendorMiPush].Regions["sg"]
	if sg.Requests != 1 || sg.Apps[appID].Tokens["a2"] != 1 {
		t.Errorf("sg stats %+v", sg)
	}
	srv.Reset()
	if len(srv.Requests("", "")) != 0 || srv.Stats().Requests != 0 {
		t.Error("Reset kept traffic")
	}
}

func TestRecordLimit(t *testing.T) {
	srv := start(t, func(c *vendorsim.Config) { c.MaxRecordedRequests = 2 })
	for i := range 5 {
		push(t, srv.MiPushBaseURL(region), "key="+secret, form(fmt.Sprintf("r%d", i)))
	}
	reqs := srv.Requests("", "")
	if len(reqs) != 2 || reqs[0].RegIDs[0] != "r3" || reqs[1].RegIDs[0] != "r4" {
		t.Fatalf("kept %+v, want the last two", reqs)
	}
	if st := srv.Stats(); st.Requests != 5 || st.DroppedRecords != 3 {
		t.Errorf("stats requests %d dropped %d, want 5 and 3", st.Requests, st.DroppedRecords)
	}
}

func TestFailures(t *testing.T) {
	srv := start(t, nil)
	base := srv.MiPushBaseURL(region)
	tests := []struct {
		scenario    string
		rule        vendorsim.Failure
		calls       int
		wantFailed  int
		wantStatus  int
		wantCode    int
		wantRetryAt string
	}{
		{"next two calls fail with 503", vendorsim.Failure{Vendor: "mipush", Next: 2}, 4, 2, 503, 0, ""},
		{"429 with retry-after", vendorsim.Failure{Next: 1, Status: 429, RetryAfter: vendorsim.Duration(3 * time.Second)}, 1, 1, 429, 0, "3"},
		{"vendor busy code", vendorsim.Failure{Next: 1, Code: 10009}, 2, 1, 200, 10009, ""},
		{"probability one", vendorsim.Failure{Region: region, Probability: 1}, 3, 3, 503, 0, ""},
		{"other region untouched", vendorsim.Failure{Region: "eu", Probability: 1}, 3, 0, 0, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			if err := srv.InjectFailures(tc.rule); err != nil {
				t.Fatal(err)
			}
			failed := 0
			for range tc.calls {
				status, a, h := push(t, base, "key="+secret, form("r1"))
				if status == 200 && a.Code == 0 {
					continue
				}
				failed++
				if status != tc.wantStatus || a.Code != tc.wantCode || h.Get("Retry-After") != tc.wantRetryAt {
					t.Errorf("answer HTTP %d code %d Retry-After %q, want %d %d %q", status, a.Code, h.Get("Retry-After"), tc.wantStatus, tc.wantCode, tc.wantRetryAt)
				}
			}
			if failed != tc.wantFailed {
				t.Errorf("%d failed calls, want %d", failed, tc.wantFailed)
			}
			app := srv.Stats().Vendors["mipush"].Regions[region].Apps[appID]
			if app.Injected != int64(tc.wantFailed) {
				t.Errorf("injected counter %d, want %d", app.Injected, tc.wantFailed)
			}
		})
	}

	bad := []vendorsim.Failure{{}, {Next: 1, Probability: 0.5}, {Probability: 2}, {Next: 1, Status: 200}, {Next: 1, Status: 700}}
	for _, f := range bad {
		if err := srv.InjectFailures(f); err == nil {
			t.Errorf("InjectFailures(%+v) accepted", f)
		}
	}
}

func TestProbabilityIsRoughlyRespected(t *testing.T) {
	srv := start(t, nil)
	if err := srv.InjectFailures(vendorsim.Failure{Probability: 0.3}); err != nil {
		t.Fatal(err)
	}
	failed := 0
	const n = 300
	for range n {
		if status, _, _ := push(t, srv.MiPushBaseURL(region), "key="+secret, form("r1")); status != 200 {
			failed++
		}
	}
	if failed < n/10 || failed > n/2 {
		t.Errorf("%d of %d failed with probability 0.3", failed, n)
	}
}

func TestLatency(t *testing.T) {
	srv := start(t, nil)
	if err := srv.InjectLatency(vendorsim.Latency{Vendor: "mipush", Region: region, Fixed: vendorsim.Duration(150 * time.Millisecond), Next: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	push(t, srv.MiPushBaseURL(region), "key="+secret, form("r1"))
	if el := time.Since(start); el < 150*time.Millisecond {
		t.Errorf("first call took %s, want ≥150ms", el)
	}
	start = time.Now()
	push(t, srv.MiPushBaseURL(region), "key="+secret, form("r1"))
	if el := time.Since(start); el > 100*time.Millisecond {
		t.Errorf("second call took %s: the Next-1 rule should be used up", el)
	}
	if len(srv.Latencies()) != 0 {
		t.Errorf("rules left: %+v", srv.Latencies())
	}
	if err := srv.InjectLatency(vendorsim.Latency{Jitter: -1}); err == nil {
		t.Error("negative latency accepted")
	}
}

func TestClientLeavingDuringLatencyIsRecorded(t *testing.T) {
	srv := start(t, nil)
	if err := srv.InjectLatency(vendorsim.Latency{Fixed: vendorsim.Duration(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.MiPushBaseURL(region)+regPath, strings.NewReader(form("r1").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if _, err := http.DefaultClient.Do(req); err == nil {
		t.Fatal("request succeeded despite 5s latency and 100ms deadline")
	}
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if app := srv.Stats().Vendors["mipush"].Regions[region].Apps[vendorsim.UnknownApp]; app != nil && app.Abandoned == 1 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Errorf("abandoned request not counted: %+v", srv.Stats())
}

func TestQuota(t *testing.T) {
	srv := start(t, func(c *vendorsim.Config) {
		c.MiPush.Apps[0].QuotaPerSecond = 0.001
		c.MiPush.Apps[0].QuotaBurst = 2
	})
	base := srv.MiPushBaseURL(region)
	codes := []int{}
	for range 3 {
		_, a, _ := push(t, base, "key="+secret, form("r1"))
		codes = append(codes, a.Code)
	}
	if codes[0] != 0 || codes[1] != 0 || codes[2] != 10027 {
		t.Fatalf("codes %v, want [0 0 10027]", codes)
	}
	// Buckets are per region.
	if _, a, _ := push(t, srv.MiPushBaseURL("eu"), "key="+secret, form("r1")); a.Code != 0 {
		t.Errorf("eu code %d, want 0", a.Code)
	}
	if err := srv.SetQuota(vendorsim.Quota{Vendor: "mipush", AppID: appID, PerSecond: 1000, Burst: 1000}); err != nil {
		t.Fatal(err)
	}
	if _, a, _ := push(t, base, "key="+secret, form("r1")); a.Code != 0 {
		t.Errorf("after raising the quota: code %d", a.Code)
	}
	if app := srv.Stats().Vendors["mipush"].Regions[region].Apps[appID]; app.Throttled != 1 {
		t.Errorf("throttled %d, want 1", app.Throttled)
	}
	if err := srv.SetQuota(vendorsim.Quota{Vendor: "mipush", AppID: "nope"}); err == nil {
		t.Error("quota for an unknown app accepted")
	}
}

func TestAdminAPI(t *testing.T) {
	srv := start(t, nil)
	call := func(method, path string, body any) (int, []byte) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, srv.URL()+path, rd)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}

	if st, b := call(http.MethodPost, "/admin/failures", map[string]any{"vendor": "mipush", "next": 1, "status": 500}); st != 200 {
		t.Fatalf("POST failures: %d %s", st, b)
	}
	if st, b := call(http.MethodPost, "/admin/failures", map[string]any{"next": 1, "bogus": true}); st != 400 {
		t.Errorf("unknown field accepted: %d %s", st, b)
	}
	if st, b := call(http.MethodPost, "/admin/latency", map[string]any{"fixed": "20ms", "jitter": 5}); st != 200 {
		t.Fatalf("POST latency: %d %s", st, b)
	}
	if l := srv.Latencies(); len(l) != 1 || time.Duration(l[0].Fixed) != 20*time.Millisecond || time.Duration(l[0].Jitter) != 5*time.Millisecond {
		t.Errorf("latency rules %+v", l)
	}
	if st, _ := call(http.MethodPost, "/admin/quota", map[string]any{"vendor": "mipush", "appId": appID, "perSecond": 5, "burst": 5}); st != 200 {
		t.Errorf("POST quota: %d", st)
	}

	if status, _, _ := push(t, srv.MiPushBaseURL(region), "key="+secret, form("r1,bad-x")); status != 500 {
		t.Errorf("first call HTTP %d, want injected 500", status)
	}
	push(t, srv.MiPushBaseURL(region), "key="+secret, form("r1,bad-x"))

	st, b := call(http.MethodGet, "/admin/requests?vendor=mipush&region=sg", nil)
	var reqs struct {
		Requests []vendorsim.Request `json:"requests"`
	}
	if err := json.Unmarshal(b, &reqs); err != nil || st != 200 {
		t.Fatalf("GET requests: %d %s %v", st, b, err)
	}
	if len(reqs.Requests) != 2 || !reqs.Requests[0].Injected || reqs.Requests[1].Form.Get("registration_id") != "r1,bad-x" ||
		len(reqs.Requests[1].RegIDs) != 2 || reqs.Requests[1].Auth != "key="+secret {
		t.Errorf("requests %s", b)
	}
	if _, b := call(http.MethodGet, "/admin/requests?region=eu", nil); !strings.Contains(string(b), `"requests":[]`) {
		t.Errorf("eu requests %s", b)
	}

	_, b = call(http.MethodGet, "/admin/stats", nil)
	var stats vendorsim.Stats
	if err := json.Unmarshal(b, &stats); err != nil {
		t.Fatal(err)
	}
	app := stats.Vendors["mipush"].Regions["sg"].Apps[appID]
	if stats.Requests != 2 || app.Injected != 1 || app.Accepted != 1 || app.InvalidTokens != 1 || app.Tokens["r1"] != 1 {
		t.Errorf("stats %s", b)
	}

	for _, path := range []string{"/admin/failures", "/admin/latency"} {
		if st, _ := call(http.MethodDelete, path, nil); st != 200 {
			t.Errorf("DELETE %s: %d", path, st)
		}
	}
	if st, _ := call(http.MethodPost, "/admin/reset", nil); st != 200 || srv.Stats().Requests != 0 {
		t.Errorf("reset: %d, %d requests left", st, srv.Stats().Requests)
	}
}

func TestConfig(t *testing.T) {
	valid := func() vendorsim.Config {
		return vendorsim.Config{MiPush: vendorsim.MiPushConfig{
			Apps: []vendorsim.MiPushApp{{AppID: "a", Secret: "very-secret", PackageName: "p"}},
		}}
	}
	tests := []struct {
		scenario string
		mutate   func(c *vendorsim.Config)
		wantErr  string
	}{
		{"valid", func(c *vendorsim.Config) {}, ""},
		{"localhost", func(c *vendorsim.Config) { c.Addr = "localhost:0" }, ""},
		{"public address", func(c *vendorsim.Config) { c.Addr = "0.0.0.0:8080" }, "loopback"},
		{"no port", func(c *vendorsim.Config) { c.Addr = "127.0.0.1" }, "addr"},
		{"unknown region", func(c *vendorsim.Config) { c.MiPush.Regions = []string{"us"} }, "unknown region"},
		{"no apps", func(c *vendorsim.Config) { c.MiPush.Apps = nil }, "no apps"},
		{"duplicate secret", func(c *vendorsim.Config) {
			c.MiPush.Apps = append(c.MiPush.Apps, vendorsim.MiPushApp{AppID: "b", Secret: "very-secret", PackageName: "p"})
		}, "shares its secret"},
		{"missing package", func(c *vendorsim.Config) { c.MiPush.Apps[0].PackageName = "" }, "packageName"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := valid()
			tc.mutate(&c)
			err := c.WithDefaults().Validate()
			if tc.wantErr == "" && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Validate = %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
	c := valid().WithDefaults()
	js, _ := json.Marshal(c)
	for _, s := range []string{c.String(), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(js)} {
		if strings.Contains(s, "very-secret") || !strings.Contains(s, channels.Redacted) {
			t.Errorf("secret not redacted: %s", s)
		}
	}
	if _, err := allvendors.Start(t.Context(), vendorsim.Config{Addr: "0.0.0.0:0", MiPush: valid().MiPush}); err == nil {
		t.Error("Start on a public address succeeded")
	}
}

func TestCloseIsIdempotentAndStopsWaits(t *testing.T) {
	srv, err := allvendors.Start(context.Background(), vendorsim.Config{MiPush: vendorsim.MiPushConfig{
		Apps: []vendorsim.MiPushApp{{AppID: appID, Secret: secret, PackageName: pkg}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.InjectLatency(vendorsim.Latency{Fixed: vendorsim.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		req, _ := http.NewRequest(http.MethodPost, srv.MiPushBaseURL(region)+regPath, strings.NewReader(form("r1").Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
		}
	})
	for len(srv.Requests("", "")) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	start := time.Now()
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- srv.Close() }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Errorf("Close: %v", err)
		}
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Close took %s with a request waiting out a 1m latency", el)
	}
	wg.Wait()
	if _, err := http.Get(srv.URL() + "/healthz"); err == nil {
		t.Error("server still answers after Close")
	}
}

func TestContextStopsServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := allvendors.Start(ctx, vendorsim.Config{MiPush: vendorsim.MiPushConfig{
		Apps: []vendorsim.MiPushApp{{AppID: appID, Secret: secret, PackageName: pkg}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := http.Get(srv.URL() + "/healthz"); err != nil {
			if err := srv.Close(); err != nil {
				t.Errorf("Close after ctx: %v", err)
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("server still up after its context was cancelled")
}
