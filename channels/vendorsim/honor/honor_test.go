package honor_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	honorsim "github.com/pushpipe/pushpipe/channels/vendorsim/honor"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
)

const (
	honorApp    = "honor-app-1"
	honorID     = "104420205"
	honorClient = "honor-client-1"
	honorSecret = "honor-secret-1"
)

func honorStart(t *testing.T, mutate func(*vendorsim.HonorConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 9, Honor: vendorsim.HonorConfig{
		Apps: []vendorsim.HonorApp{{AppID: honorApp, HonorAppID: honorID, ClientID: honorClient, ClientSecret: honorSecret}},
	}}
	if mutate != nil {
		mutate(&cfg.Honor)
	}
	return simtest.Start(t, cfg)
}

type honorTestAnswer struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    *struct {
		SendResult   bool     `json:"sendResult"`
		RequestID    string   `json:"requestId"`
		FailTokens   []string `json:"failTokens"`
		ExpireTokens []string `json:"expireTokens"`
	} `json:"data"`
	AccessToken      string `json:"access_token"`
	ExpiresIn        int64  `json:"expires_in"`
	TokenType        string `json:"token_type"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func honorDo(t *testing.T, req *http.Request) (int, honorTestAnswer) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var a honorTestAnswer
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("decoding %s: %v", raw, err)
		}
	}
	return resp.StatusCode, a
}

func honorTokenReq(t *testing.T, u string, form url.Values) (int, honorTestAnswer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return honorDo(t, req)
}

func honorToken(t *testing.T, srv *vendorsim.Server) string {
	t.Helper()
	status, a := honorTokenReq(t, srv.HonorBaseURL("sg")+honorsim.AuthPath,
		url.Values{"grant_type": {"client_credentials"}, "client_id": {honorClient}, "client_secret": {honorSecret}})
	if status != http.StatusOK || a.AccessToken == "" {
		t.Fatalf("token answer HTTP %d %+v", status, a)
	}
	return a.AccessToken
}

func honorSend(t *testing.T, srv *vendorsim.Server, appID, token, timestamp string, body any) (int, honorTestAnswer) {
	t.Helper()
	var b []byte
	if s, ok := body.(string); ok {
		b = []byte(s)
	} else {
		b, _ = json.Marshal(body)
	}
	req, _ := http.NewRequest(http.MethodPost, srv.HonorBaseURL("sg")+honorsim.SendPath(appID), bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if timestamp != "" {
		req.Header.Set("timestamp", timestamp)
	}
	return honorDo(t, req)
}

func honorNotification(tokens []string, kv map[string]any) map[string]any {
	n := map[string]any{"title": "Title", "body": "Body", "clickAction": map[string]any{"type": 3}, "importance": "NORMAL"}
	android := map[string]any{"ttl": "86400s", "biTag": "d1", "notification": n}
	for k, v := range kv {
		switch {
		case strings.HasPrefix(k, "n."):
			n[strings.TrimPrefix(k, "n.")] = v
		case v == nil:
			delete(android, k)
		default:
			android[k] = v
		}
	}
	return map[string]any{"token": tokens, "android": android}
}

func TestHonorToken(t *testing.T) {
	srv := honorStart(t, nil)
	tests := []struct {
		scenario   string
		path       string
		form       url.Values
		wantStatus int
		wantError  string
	}{
		{"success", honorsim.AuthPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {honorClient}, "client_secret": {honorSecret}}, 200, ""},
		{"push kit oauth path", honorsim.OAuthV3Path, url.Values{"grant_type": {"client_credentials"}, "client_id": {honorClient}, "client_secret": {honorSecret}}, 200, ""},
		{"wrong secret", honorsim.AuthPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {honorClient}, "client_secret": {"x"}}, 401, "invalid_client"},
		{"unknown client", honorsim.AuthPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {"x"}, "client_secret": {honorSecret}}, 401, "invalid_client"},
		{"other grant", honorsim.AuthPath, url.Values{"grant_type": {"password"}, "client_id": {honorClient}, "client_secret": {honorSecret}}, 400, "unsupported_grant_type"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a := honorTokenReq(t, srv.HonorBaseURL("sg")+tc.path, tc.form)
			if status != tc.wantStatus || a.Error != tc.wantError {
				t.Fatalf("HTTP %d %+v, want %d %q", status, a, tc.wantStatus, tc.wantError)
			}
			if tc.wantStatus == 200 && (a.AccessToken == "" || a.ExpiresIn != 3600 || a.TokenType != "Bearer") {
				t.Errorf("token answer %+v", a)
			}
		})
	}
}

func TestHonorSendAnswers(t *testing.T) {
	srv := honorStart(t, func(c *vendorsim.HonorConfig) {
		c.AccessTokenLifetime = vendorsim.Duration(time.Second)
		c.ExpiredTokenPrefixes = []string{"old-"}
	})
	expired := honorToken(t, srv)
	time.Sleep(1100 * time.Millisecond)
	tok := honorToken(t, srv)
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	tests := []struct {
		scenario    string
		appID       string
		token       string
		timestamp   string
		body        any
		wantStatus  int
		wantCode    int
		wantFail    []string
		wantExpired []string
	}{
		{"success", honorID, tok, now, honorNotification([]string{"a", "b"}, nil), 200, 200, []string{}, []string{}},
		{"failed and expired tokens", honorID, tok, now, honorNotification([]string{"a", "bad-b", "old-c"}, nil), 200, 200, []string{"bad-b"}, []string{"old-c"}},
		{"all tokens invalid", honorID, tok, now, honorNotification([]string{"bad-a"}, nil), 200, honorsim.CodeAllTokensInvalid, []string{"bad-a"}, []string{}},
		{"data message", honorID, tok, now, map[string]any{"token": []string{"a"}, "data": "x"}, 200, 200, []string{}, []string{}},
		{"no bearer token", honorID, "", now, honorNotification([]string{"a"}, nil), 401, honorsim.CodeOAuthError, nil, nil},
		{"expired token", honorID, expired, now, honorNotification([]string{"a"}, nil), 401, honorsim.CodeOAuthExpired, nil, nil},
		{"token of another app id", "999", tok, now, honorNotification([]string{"a"}, nil), 401, honorsim.CodeOAuthError, nil, nil},
		{"missing timestamp", honorID, tok, "", honorNotification([]string{"a"}, nil), 400, honorsim.CodeParameterError, nil, nil},
		{"not json", honorID, tok, now, "{", 400, honorsim.CodeParameterError, nil, nil},
		{"no tokens", honorID, tok, now, honorNotification(nil, nil), 400, honorsim.CodeTooManyTokens, nil, nil},
		{"1001 tokens", honorID, tok, now, honorNotification(many, nil), 400, honorsim.CodeTooManyTokens, nil, nil},
		{"ttl over 15 days", honorID, tok, now, honorNotification([]string{"a"}, map[string]any{"ttl": "1296001s"}), 400, honorsim.CodeInvalidTTL, nil, nil},
		{"ttl without unit", honorID, tok, now, honorNotification([]string{"a"}, map[string]any{"ttl": "3600"}), 400, honorsim.CodeInvalidTTL, nil, nil},
		{"no click action", honorID, tok, now, honorNotification([]string{"a"}, map[string]any{"n.clickAction": nil}), 400, honorsim.CodeIllegalPayload, nil, nil},
		{"url click over http", honorID, tok, now, honorNotification([]string{"a"}, map[string]any{"n.clickAction": map[string]any{"type": 2, "url": "http://x"}}), 400, honorsim.CodeIllegalPayload, nil, nil},
		{"empty title", honorID, tok, now, honorNotification([]string{"a"}, map[string]any{"n.title": ""}), 400, honorsim.CodeIllegalPayload, nil, nil},
		{"bad importance", honorID, tok, now, honorNotification([]string{"a"}, map[string]any{"n.importance": "HIGH"}), 400, honorsim.CodeIllegalPayload, nil, nil},
		{"data over 4 KB", honorID, tok, now, map[string]any{"token": []string{"a"}, "data": strings.Repeat("x", 4097)}, 400, honorsim.CodeMessageTooLarge, nil, nil},
		{"data message without data", honorID, tok, now, map[string]any{"token": []string{"a"}}, 400, honorsim.CodeIllegalPayload, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a := honorSend(t, srv, tc.appID, tc.token, tc.timestamp, tc.body)
			if status != tc.wantStatus || a.Code != tc.wantCode || a.Message == "" {
				t.Fatalf("HTTP %d %+v, want HTTP %d code %d", status, a, tc.wantStatus, tc.wantCode)
			}
			if tc.wantFail == nil {
				return
			}
			if a.Data == nil || fmt.Sprint(a.Data.FailTokens) != fmt.Sprint(tc.wantFail) || fmt.Sprint(a.Data.ExpireTokens) != fmt.Sprint(tc.wantExpired) {
				t.Fatalf("data %+v, want failTokens %v expireTokens %v", a.Data, tc.wantFail, tc.wantExpired)
			}
			if tc.wantCode == 200 && (!a.Data.SendResult || !strings.HasPrefix(a.Data.RequestID, honorID+"-")) {
				t.Errorf("data %+v, want sendResult and a requestId of the form appId-id", a.Data)
			}
		})
	}
	app := srv.Stats().Vendors[vendorsim.VendorHonor].Regions["sg"].Apps[honorApp]
	if app.Messages != 4 || app.InvalidTokens != 3 || app.Tokens["a"] != 3 {
		t.Errorf("stats %+v", app)
	}
}

func TestHonorFaultsAndQuota(t *testing.T) {
	srv := honorStart(t, nil)
	tok := honorToken(t, srv)
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	body := honorNotification([]string{"a"}, nil)
	if err := srv.InjectFailures(vendorsim.Failure{Vendor: vendorsim.VendorHonor, Next: 1},
		vendorsim.Failure{Vendor: vendorsim.VendorHonor, Status: 500, Code: honorsim.CodeInternalError, Next: 1}); err != nil {
		t.Fatal(err)
	}
	if status, _ := honorSend(t, srv, honorID, tok, now, body); status != http.StatusServiceUnavailable {
		t.Errorf("injected 5xx: HTTP %d", status)
	}
	if status, a := honorSend(t, srv, honorID, tok, now, body); status != 500 || a.Code != honorsim.CodeInternalError {
		t.Errorf("injected code: HTTP %d %+v", status, a)
	}
	if err := srv.SetQuota(vendorsim.Quota{Vendor: vendorsim.VendorHonor, AppID: honorApp}); err != nil {
		t.Fatal(err)
	}
	if status, a := honorSend(t, srv, honorID, tok, now, body); status != http.StatusServiceUnavailable || a.Code != honorsim.CodeFlowControl {
		t.Errorf("throttled: HTTP %d %+v, want 503 flow control", status, a)
	}
	honorToken(t, srv) // the token endpoint is outside faults and quotas
	app := srv.Stats().Vendors[vendorsim.VendorHonor].Regions["sg"].Apps[honorApp]
	if app.Injected != 2 || app.Throttled != 1 {
		t.Errorf("stats %+v", app)
	}
	rec := srv.Requests(vendorsim.VendorHonor, "sg")
	last := rec[len(rec)-2]
	if last.Auth != "Bearer "+tok || last.Form.Get("header.timestamp") != now || last.Form.Get("body") == "" || len(last.RegIDs) != 1 {
		t.Errorf("recorded request %+v", last)
	}
	for _, tc := range []struct {
		scenario   string
		method     string
		path       string
		wantStatus int
	}{
		{"get on sendMessage", http.MethodGet, "/honor/sg" + honorsim.SendPath(honorID), http.StatusMethodNotAllowed},
		{"unserved api", http.MethodPost, "/honor/sg/api/v1/" + honorID + "/revoke", http.StatusNotFound},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL()+tc.path, nil)
			if status, _ := honorDo(t, req); status != tc.wantStatus {
				t.Errorf("HTTP %d, want %d", status, tc.wantStatus)
			}
		})
	}
}

func TestHonorConfigValidation(t *testing.T) {
	app := vendorsim.HonorApp{AppID: "a", HonorAppID: "1", ClientID: "c", ClientSecret: "s"}
	tests := []struct {
		scenario string
		cfg      vendorsim.HonorConfig
		wantErr  string
	}{
		{"no honor app id", vendorsim.HonorConfig{Apps: []vendorsim.HonorApp{{AppID: "a", ClientID: "c", ClientSecret: "s"}}}, "has no honorAppId"},
		{"honor app id with a slash", vendorsim.HonorConfig{Apps: []vendorsim.HonorApp{{AppID: "a", HonorAppID: "1/2", ClientID: "c", ClientSecret: "s"}}}, "path segment"},
		{"no client secret", vendorsim.HonorConfig{Apps: []vendorsim.HonorApp{{AppID: "a", HonorAppID: "1", ClientID: "c"}}}, "has no clientSecret"},
		{"shared client id", vendorsim.HonorConfig{Apps: []vendorsim.HonorApp{app, {AppID: "b", HonorAppID: "2", ClientID: "c", ClientSecret: "t"}}}, "shares its clientId"},
		{"short token lifetime", vendorsim.HonorConfig{AccessTokenLifetime: vendorsim.Duration(time.Millisecond), Apps: []vendorsim.HonorApp{app}}, "accessTokenLifetime"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := allvendors.New(vendorsim.Config{Honor: tc.cfg})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New = %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
	if s := fmt.Sprintf("%v", vendorsim.HonorApp{ClientSecret: "top-secret"}); strings.Contains(s, "top-secret") {
		t.Errorf("secret printed: %s", s)
	}
}
