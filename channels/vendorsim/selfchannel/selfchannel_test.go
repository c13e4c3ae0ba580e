package selfchannel_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
)

const (
	selfApp = "self-app"
	selfKey = "self-key-1"
)

func selfStart(t *testing.T, mutate func(*vendorsim.SelfConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 5, Self: vendorsim.SelfConfig{Apps: []vendorsim.SelfApp{{AppID: selfApp, AppKey: selfKey}}}}
	if mutate != nil {
		mutate(&cfg.Self)
	}
	return simtest.Start(t, cfg)
}

type selfReply struct {
	status  int
	header  http.Header
	Error   string `json:"error"`
	Results []struct {
		DeliveryID string `json:"deliveryId"`
		Status     string `json:"status"`
		MessageID  string `json:"messageId"`
		Reason     string `json:"reason"`
	} `json:"results"`
}

func selfPost(t *testing.T, method, u, auth, body string) selfReply {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	r := selfReply{status: resp.StatusCode, header: resp.Header}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("answer %q is not JSON: %v", raw, err)
	}
	return r
}

func selfBody(appID string, msgs ...string) string {
	return fmt.Sprintf(`{"appId":%q,"messages":[%s]}`, appID, strings.Join(msgs, ","))
}

func selfMsg(token string) string {
	return fmt.Sprintf(`{"token":%q,"deliveryId":"d-%s","title":"T","body":"B"}`, token, token)
}

func TestSelfAnswers(t *testing.T) {
	srv := selfStart(t, nil)
	u := srv.SelfBaseURL("sg") + "/v1/push"
	past := time.Now().Add(-time.Minute).UnixMilli()
	tests := []struct {
		scenario     string
		auth, body   string
		wantStatus   int
		wantError    string
		wantStatuses []string
		wantApp      string
	}{
		{"every per-message status", "Bearer " + selfKey, selfBody(selfApp,
			selfMsg("tok-1"), selfMsg("bad-tok-2"), selfMsg("offline-tok-3"),
			`{"token":"tok-4","expireAt":`+fmt.Sprint(past)+`,"title":"T","body":"B"}`,
			`{"token":"tok-5","title":" ","body":"B"}`,
			`{"token":"tok-6","passThrough":true,"payload":"`+strings.Repeat("p", 2049)+`"}`,
			`{"token":"","title":"T","body":"B"}`,
			`{"token":"tok-8","passThrough":true}`),
			200, "", []string{"delivered", "invalid_token", "offline", "expired", "rejected", "rejected", "rejected", "delivered"}, selfApp},
		{"unknown key", "Bearer nope", selfBody(selfApp, selfMsg("tok-1")), 401, "unauthorized", nil, vendorsim.UnknownApp},
		{"no authorization", "", selfBody(selfApp, selfMsg("tok-1")), 401, "unauthorized", nil, vendorsim.UnknownApp},
		{"appId of another app", "Bearer " + selfKey, selfBody("other", selfMsg("tok-1")), 403, "forbidden", nil, selfApp},
		{"not JSON", "Bearer " + selfKey, "<xml/>", 400, "bad_request", nil, selfApp},
		{"no messages", "Bearer " + selfKey, selfBody(selfApp), 400, "bad_request", nil, selfApp},
		{"too many messages", "Bearer " + selfKey, selfBody(selfApp, strings.Split(strings.Repeat(selfMsg("t")+"\n", 1001), "\n")[:1001]...),
			400, "bad_request", nil, selfApp},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			got := selfPost(t, http.MethodPost, u, tc.auth, tc.body)
			if got.status != tc.wantStatus || got.Error != tc.wantError {
				t.Fatalf("answer %d %q, want %d %q", got.status, got.Error, tc.wantStatus, tc.wantError)
			}
			if len(got.Results) != len(tc.wantStatuses) {
				t.Fatalf("%d results, want %d", len(got.Results), len(tc.wantStatuses))
			}
			for i, want := range tc.wantStatuses {
				if got.Results[i].Status != want {
					t.Errorf("result %d: %q (%s), want %q", i, got.Results[i].Status, got.Results[i].Reason, want)
				}
				if (want == "delivered") != (got.Results[i].MessageID != "") {
					t.Errorf("result %d: message id %q with status %q", i, got.Results[i].MessageID, want)
				}
			}
			reqs := srv.Requests(vendorsim.VendorSelf, "sg")
			if len(reqs) != 1 || reqs[0].AppID != tc.wantApp || reqs[0].Status != tc.wantStatus || reqs[0].Form.Get("body") != tc.body {
				t.Fatalf("records %+v, want one for %s", reqs, tc.wantApp)
			}
			if tc.wantStatus == 200 {
				st := srv.Stats().Vendors[vendorsim.VendorSelf].Regions["sg"].Apps[selfApp]
				if st.Accepted != 1 || st.Messages != 2 || st.InvalidTokens != 1 || st.Tokens["tok-1"] != 1 {
					t.Errorf("stats %+v, want 1 call, 2 delivered, 1 invalid", st)
				}
			}
		})
	}
}

func TestSelfQuotaFailuresAndPaths(t *testing.T) {
	srv := selfStart(t, func(c *vendorsim.SelfConfig) { c.Regions = []string{"sg"}; c.MaxBodyBytes = 1024 })
	u := srv.SelfBaseURL("sg") + "/v1/push"
	body := selfBody(selfApp, selfMsg("tok-1"))
	auth := "Bearer " + selfKey

	if err := srv.SetQuota(vendorsim.Quota{Vendor: vendorsim.VendorSelf, AppID: selfApp, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	if got := selfPost(t, http.MethodPost, u, auth, body); got.status != 200 {
		t.Fatalf("first call %d", got.status)
	}
	if got := selfPost(t, http.MethodPost, u, auth, body); got.status != 429 || got.Error != "rate_limited" || got.header.Get("Retry-After") == "" {
		t.Fatalf("over quota: %d %q retry-after %q, want 429 rate_limited with Retry-After", got.status, got.Error, got.header.Get("Retry-After"))
	}
	srv.Reset()
	if err := srv.InjectFailures(vendorsim.Failure{Vendor: vendorsim.VendorSelf, Next: 1, RetryAfter: vendorsim.Duration(2 * time.Second)},
		vendorsim.Failure{Vendor: vendorsim.VendorSelf, Next: 1, Status: 500, Code: 77}); err != nil {
		t.Fatal(err)
	}
	if got := selfPost(t, http.MethodPost, u, auth, body); got.status != 503 || got.Error != "unavailable" || got.header.Get("Retry-After") != "2" {
		t.Errorf("injected 503: %d %q %q", got.status, got.Error, got.header.Get("Retry-After"))
	}
	if got := selfPost(t, http.MethodPost, u, auth, body); got.status != 500 || got.Error != "internal" {
		t.Errorf("injected 500: %d %q", got.status, got.Error)
	}
	if got := selfPost(t, http.MethodPost, u, auth, selfBody(selfApp, selfMsg(strings.Repeat("t", 2000)))); got.status != 413 {
		t.Errorf("body over maxBodyBytes: %d, want 413", got.status)
	}
	if got := selfPost(t, http.MethodGet, u, auth, ""); got.status != 405 {
		t.Errorf("GET: %d, want 405", got.status)
	}
	if got := selfPost(t, http.MethodPost, srv.SelfBaseURL("sg")+"/v2/push", auth, body); got.status != 404 || got.Error != "not_found" {
		t.Errorf("unknown path: %d %q, want 404 not_found", got.status, got.Error)
	}
	resp, err := http.Post(srv.SelfBaseURL("eu")+"/v1/push", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 404 {
		t.Errorf("region not served: %v %v, want 404", resp, err)
	}
	if resp != nil {
		_ = resp.Body.Close()
	}
}

func TestSelfConfig(t *testing.T) {
	tests := []struct {
		scenario string
		self     vendorsim.SelfConfig
		wantErr  string
	}{
		{"valid", vendorsim.SelfConfig{Apps: []vendorsim.SelfApp{{AppID: "a", AppKey: "k"}}}, ""},
		{"no key", vendorsim.SelfConfig{Apps: []vendorsim.SelfApp{{AppID: "a"}}}, "no appKey"},
		{"shared key", vendorsim.SelfConfig{Apps: []vendorsim.SelfApp{{AppID: "a", AppKey: "k"}, {AppID: "b", AppKey: "k"}}}, "shares its appKey"},
		{"duplicate app", vendorsim.SelfConfig{Apps: []vendorsim.SelfApp{{AppID: "a", AppKey: "k"}, {AppID: "a", AppKey: "k2"}}}, "duplicate appId"},
		{"unknown region", vendorsim.SelfConfig{Regions: []string{"mars"}, Apps: []vendorsim.SelfApp{{AppID: "a", AppKey: "k"}}}, "unknown region"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			err := vendorsim.Config{Self: tc.self}.WithDefaults().Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
	if s := fmt.Sprintf("%v", vendorsim.SelfApp{AppID: "a", AppKey: "s3cr3t"}); strings.Contains(s, "s3cr3t") {
		t.Errorf("app prints its key: %s", s)
	}
}
