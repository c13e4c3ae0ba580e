package hms_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
)

const (
	hmsAppID    = "hms-app"
	hmsClientID = "10400001"
	hmsSecret   = "hms-secret"
	hmsRegion   = "cn"
)

func hmsStart(t *testing.T, mutate func(*vendorsim.HMSConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 5, HMS: vendorsim.HMSConfig{
		Apps: []vendorsim.HMSApp{
			{AppID: hmsAppID, ClientID: hmsClientID, ClientSecret: hmsSecret},
			{AppID: "other", ClientID: "10400002", ClientSecret: "other-secret"},
		},
	}}
	if mutate != nil {
		mutate(&cfg.HMS)
	}
	return simtest.Start(t, cfg)
}

func hmsToken(t *testing.T, srv *vendorsim.Server, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(srv.HMSAuthURL(hmsRegion)+"/oauth2/v3/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	var a map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatalf("decoding token answer: %v", err)
	}
	return resp.StatusCode, a
}

func hmsAccessToken(t *testing.T, srv *vendorsim.Server, clientID, secret string) string {
	t.Helper()
	status, a := hmsToken(t, srv, url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}})
	tok, _ := a["access_token"].(string)
	if status != 200 || tok == "" {
		t.Fatalf("token answer %d %v", status, a)
	}
	return tok
}

type hmsAnswer struct {
	Code      string `json:"code"`
	Msg       string `json:"msg"`
	RequestID string `json:"requestId"`
}

func hmsSend(t *testing.T, srv *vendorsim.Server, appID, auth, body string) (int, hmsAnswer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.HMSBaseURL(hmsRegion)+"/v1/"+appID+"/messages:send", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var a hmsAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return resp.StatusCode, a
}

// hmsBody returns a notification request for tokens with android fields
// merged over the defaults.
func hmsBody(tokens []string, android string) string {
	tj, _ := json.Marshal(tokens)
	if android == "" {
		android = `"notification":{"title":"T","body":"B","click_action":{"type":3}}`
	}
	return `{"validate_only":false,"message":{"data":"p","android":{"bi_tag":"m1",` + android + `},"token":` + string(tj) + `}}`
}

func TestHMSTokenEndpoint(t *testing.T) {
	srv := hmsStart(t, func(c *vendorsim.HMSConfig) { c.TokenLifetime = vendorsim.Duration(30 * time.Minute) })
	tests := []struct {
		scenario   string
		form       url.Values
		wantStatus int
		wantError  float64
	}{
		{"valid credentials", url.Values{"grant_type": {"client_credentials"}, "client_id": {hmsClientID}, "client_secret": {hmsSecret}}, 200, 0},
		{"wrong secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {hmsClientID}, "client_secret": {"nope"}}, 401, 1101},
		{"another app's secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {hmsClientID}, "client_secret": {"other-secret"}}, 401, 1101},
		{"missing secret", url.Values{"grant_type": {"client_credentials"}, "client_id": {hmsClientID}}, 400, 1102},
		{"wrong grant", url.Values{"grant_type": {"password"}, "client_id": {hmsClientID}, "client_secret": {hmsSecret}}, 400, 1101},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a := hmsToken(t, srv, tc.form)
			if status != tc.wantStatus {
				t.Fatalf("HTTP %d %v, want %d", status, a, tc.wantStatus)
			}
			if tc.wantError != 0 {
				if a["error"] != tc.wantError || a["error_description"] == "" || a["sub_error"] == nil {
					t.Errorf("answer %v, want error %v", a, tc.wantError)
				}
				return
			}
			if tok, _ := a["access_token"].(string); tok == "" || a["expires_in"] != float64(1800) || a["token_type"] != "Bearer" {
				t.Errorf("answer %v", a)
			}
		})
	}
	for _, r := range srv.Requests(vendorsim.VendorHMS, hmsRegion) {
		if r.Form.Has("client_secret") || strings.Contains(r.Body, hmsSecret) {
			t.Errorf("the client secret is recorded: %+v", r)
		}
	}
}

func TestHMSSendAnswers(t *testing.T) {
	srv := hmsStart(t, nil)
	auth := "Bearer " + hmsAccessToken(t, srv, hmsClientID, hmsSecret)
	otherAuth := "Bearer " + hmsAccessToken(t, srv, "10400002", "other-secret")
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("t%d", i)
	}
	tests := []struct {
		scenario   string
		appID      string
		auth       string
		body       string
		wantStatus int
		wantCode   string
		wantMsg    string
	}{
		{"success", hmsClientID, auth, hmsBody([]string{"t1", "t2"}, ""), 200, "80000000", "Success"},
		{"every field the channel sends", hmsClientID, auth, hmsBody([]string{"t1"}, `"category":"FINANCE","ttl":"86400s","receipt_id":"R1",
			"notification":{"title":"T","body":"B","image":"https://i","channel_id":"c","notify_id":3,"style":1,"big_title":"T","big_body":"B",
			"importance":"LOW","default_sound":true,"use_default_vibrate":true,"use_default_light":true,
			"badge":{"add_num":1,"class":"com.x.Main"},"click_action":{"type":2,"url":"https://example.com"}}`), 200, "80000000", ""},
		{"partial success", hmsClientID, auth, hmsBody([]string{"t1", "bad-t2"}, ""), 200, "80100000", `{"failure":1,"illegal_tokens":["bad-t2"],"success":1}`},
		{"all tokens invalid", hmsClientID, auth, hmsBody([]string{"bad-t1"}, ""), 400, "80300007", "All the tokens are invalid"},
		{"no token", hmsClientID, "", hmsBody([]string{"t1"}, ""), 401, "80200001", ""},
		{"unknown token", hmsClientID, "Bearer nope", hmsBody([]string{"t1"}, ""), 401, "80200001", ""},
		{"token of another app", hmsClientID, otherAuth, hmsBody([]string{"t1"}, ""), 401, "80200001", ""},
		{"too many tokens", hmsClientID, auth, hmsBody(many, ""), 400, "80300010", ""},
		{"empty token list", hmsClientID, auth, hmsBody([]string{}, ""), 400, "80300010", ""},
		{"message over 4 KB", hmsClientID, auth, strings.Replace(hmsBody([]string{"t1"}, ""), `"data":"p"`, `"data":"`+strings.Repeat("p", 4096)+`"`, 1), 400, "80300008", ""},
		{"no click action", hmsClientID, auth, hmsBody([]string{"t1"}, `"notification":{"title":"T","body":"B"}`), 400, "80100003", ""},
		{"no title", hmsClientID, auth, hmsBody([]string{"t1"}, `"notification":{"body":"B","click_action":{"type":3}}`), 400, "80100003", ""},
		{"title over 40 characters", hmsClientID, auth, hmsBody([]string{"t1"}, `"notification":{"title":"`+strings.Repeat("标", 41)+`","body":"B","click_action":{"type":3}}`), 400, "80100003", ""},
		{"url action without url", hmsClientID, auth, hmsBody([]string{"t1"}, `"notification":{"title":"T","body":"B","click_action":{"type":2}}`), 400, "80100003", ""},
		{"badge over 99", hmsClientID, auth, hmsBody([]string{"t1"}, `"notification":{"title":"T","body":"B","click_action":{"type":3},"badge":{"add_num":100,"class":"c"}}`), 400, "80100003", "Illegal payload, badge addNum value ranges from 1 to 99"},
		{"unknown category", hmsClientID, auth, hmsBody([]string{"t1"}, `"category":"NEWS","notification":{"title":"T","body":"B","click_action":{"type":3}}`), 400, "80100003", ""},
		{"bad importance", hmsClientID, auth, hmsBody([]string{"t1"}, `"notification":{"title":"T","body":"B","click_action":{"type":3},"importance":"LOUD"}`), 400, "80100003", ""},
		{"bad ttl", hmsClientID, auth, hmsBody([]string{"t1"}, `"ttl":"1 day","notification":{"title":"T","body":"B","click_action":{"type":3}}`), 400, "80100004", ""},
		{"ttl over 15 days", hmsClientID, auth, hmsBody([]string{"t1"}, `"ttl":"1296001s","notification":{"title":"T","body":"B","click_action":{"type":3}}`), 400, "80100004", ""},
		{"unknown field", hmsClientID, auth, hmsBody([]string{"t1"}, `"priority":"high"`), 400, "80100001", ""},
		{"data message", hmsClientID, auth, `{"validate_only":false,"message":{"data":"{\"k\":1}","android":{"ttl":"60s"},"token":["t1"]}}`, 200, "80000000", ""},
		{"validate only", hmsClientID, auth, `{"validate_only":true,"message":{"data":"x","token":["t9"]}}`, 200, "80000000", ""},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a := hmsSend(t, srv, tc.appID, tc.auth, tc.body)
			if status != tc.wantStatus || a.Code != tc.wantCode {
				t.Fatalf("HTTP %d %+v, want %d code %s", status, a, tc.wantStatus, tc.wantCode)
			}
			if a.Msg == "" || len(a.RequestID) != 24 {
				t.Errorf("answer %+v: want msg and a 24-digit requestId", a)
			}
			if tc.wantMsg != "" && a.Msg != tc.wantMsg {
				t.Errorf("msg %q, want %q", a.Msg, tc.wantMsg)
			}
		})
	}
	app := srv.Stats().Vendors[vendorsim.VendorHMS].Regions[hmsRegion].Apps[hmsAppID]
	if app.Messages != 5 || app.InvalidTokens != 2 || app.Tokens["t1"] != 4 {
		t.Errorf("stats %+v", app)
	}
}

func TestHMSQuotaFailuresAndExpiry(t *testing.T) {
	srv := hmsStart(t, func(c *vendorsim.HMSConfig) { c.QuotaPerSecond, c.QuotaBurst = 1, 2 })
	auth := "Bearer " + hmsAccessToken(t, srv, hmsClientID, hmsSecret)
	body := hmsBody([]string{"t1"}, "")
	for i := range 2 {
		if status, a := hmsSend(t, srv, hmsClientID, auth, body); status != 200 {
			t.Fatalf("call %d: %d %+v", i, status, a)
		}
	}
	if status, a := hmsSend(t, srv, hmsClientID, auth, body); status != 503 || a.Code != "81000001" {
		t.Errorf("over quota: HTTP %d %+v", status, a)
	}
	if st := srv.Stats().Vendors[vendorsim.VendorHMS].Regions[hmsRegion].Apps[hmsAppID]; st.Throttled != 1 {
		t.Errorf("throttled %d, want 1", st.Throttled)
	}

	srv.Reset()
	if err := srv.InjectFailures(
		vendorsim.Failure{Vendor: vendorsim.VendorHMS, Next: 1},
		vendorsim.Failure{Vendor: vendorsim.VendorHMS, Next: 1, Code: 80200003, Status: 401},
	); err != nil {
		t.Fatal(err)
	}
	if status, a := hmsSend(t, srv, hmsClientID, auth, body); status != 503 || a.Code != "81000001" {
		t.Errorf("injected 5xx: HTTP %d %+v", status, a)
	}
	if status, a := hmsSend(t, srv, hmsClientID, auth, body); status != 401 || a.Code != "80200003" {
		t.Errorf("injected code: HTTP %d %+v", status, a)
	}
	if status, _ := hmsSend(t, srv, hmsClientID, auth, body); status != 200 {
		t.Errorf("after the storm: HTTP %d", status)
	}

	srv.ExpireHMSAccessTokens()
	if status, a := hmsSend(t, srv, hmsClientID, auth, body); status != 401 || a.Code != "80200003" {
		t.Errorf("expired token: HTTP %d %+v", status, a)
	}
	recs := srv.Requests(vendorsim.VendorHMS, hmsRegion)
	last := recs[len(recs)-1]
	if last.Code != 80200003 || last.Form.Get("message.android.bi_tag") != "m1" || last.RegIDs[0] != "t1" {
		t.Errorf("last record %+v", last)
	}
}

func TestHMSOtherPathsAndConfig(t *testing.T) {
	srv := hmsStart(t, func(c *vendorsim.HMSConfig) { c.Regions = []string{"cn"} })
	for _, tc := range []struct {
		scenario, method, path string
		want                   int
	}{
		{"get on send", http.MethodGet, "/hms/cn/v1/" + hmsClientID + "/messages:send", 404},
		{"topic api", http.MethodPost, "/hms/cn/v1/" + hmsClientID + "/topic:list", 404},
		{"unserved region", http.MethodPost, "/hms/eu/v1/" + hmsClientID + "/messages:send", 404},
	} {
		req, _ := http.NewRequest(tc.method, srv.URL()+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.scenario, resp.StatusCode, tc.want)
		}
	}
	good := vendorsim.HMSApp{AppID: "a", ClientID: "1", ClientSecret: "s"}
	for _, tc := range []struct {
		scenario string
		cfg      vendorsim.HMSConfig
		wantErr  string
	}{
		{"valid", vendorsim.HMSConfig{Apps: []vendorsim.HMSApp{good}}, ""},
		{"no client id", vendorsim.HMSConfig{Apps: []vendorsim.HMSApp{{AppID: "a", ClientSecret: "s"}}}, "clientId"},
		{"no secret", vendorsim.HMSConfig{Apps: []vendorsim.HMSApp{{AppID: "a", ClientID: "1"}}}, "clientSecret"},
		{"duplicate client", vendorsim.HMSConfig{Apps: []vendorsim.HMSApp{good, {AppID: "b", ClientID: "1", ClientSecret: "t"}}}, "clientId"},
		{"negative quota", vendorsim.HMSConfig{Apps: []vendorsim.HMSApp{good}, QuotaPerSecond: -1}, "quota"},
	} {
		err := vendorsim.Config{HMS: tc.cfg}.WithDefaults().Validate()
		if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
			t.Errorf("%s: Validate = %v, want %q", tc.scenario, err, tc.wantErr)
		}
	}
	if s := fmt.Sprintf("%v %+v", good, good); strings.Contains(s, "=s ") || !strings.Contains(s, "[redacted]") {
		t.Errorf("HMSApp prints its secret: %s", s)
	}
}
