package vivo_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
	vivosim "github.com/pushpipe/pushpipe/channels/vendorsim/vivo"
)

const (
	vivoApp    = "vivo-app-1"
	vivoID     = "10004"
	vivoKey    = "vivo-key-1"
	vivoSecret = "vivo-secret-1"
)

func vivoStart(t *testing.T, mutate func(*vendorsim.VivoConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 5, Vivo: vendorsim.VivoConfig{
		Apps: []vendorsim.VivoApp{{AppID: vivoApp, VivoAppID: vivoID, AppKey: vivoKey, AppSecret: vivoSecret}},
	}}
	if mutate != nil {
		mutate(&cfg.Vivo)
	}
	return simtest.Start(t, cfg)
}

type vivoTestAnswer struct {
	Result       int    `json:"result"`
	Desc         string `json:"desc"`
	AuthToken    string `json:"authToken"`
	TaskID       string `json:"taskId"`
	InvalidUsers []struct {
		Status int    `json:"status"`
		UserID string `json:"userid"`
	} `json:"invalidUsers"`
}

func vivoPost(t *testing.T, u, authToken string, body any) (int, vivoTestAnswer) {
	t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		b, _ = json.Marshal(v)
	}
	req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if authToken != "" {
		req.Header.Set("authToken", authToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var a vivoTestAnswer
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &a); err != nil {
			t.Fatalf("decoding %s: %v", raw, err)
		}
	}
	return resp.StatusCode, a
}

func vivoAuthBody(appID any, key, secret string, at time.Time) map[string]any {
	stamp := at.UnixMilli()
	return map[string]any{"appId": appID, "appKey": key, "timestamp": stamp,
		"sign": vivosim.Sign(fmt.Sprint(appID), key, stamp, secret)}
}

func vivoToken(t *testing.T, srv *vendorsim.Server) string {
	t.Helper()
	_, a := vivoPost(t, srv.VivoBaseURL("sg")+vivosim.AuthPath, "", vivoAuthBody(10004, vivoKey, vivoSecret, time.Now()))
	if a.Result != 0 || a.AuthToken == "" {
		t.Fatalf("auth answer %+v", a)
	}
	return a.AuthToken
}

func vivoContent(kv map[string]any) map[string]any {
	m := map[string]any{"notifyType": 4, "title": "Title", "content": "Content", "skipType": 1,
		"networkType": -1, "requestId": fmt.Sprint("req-", time.Now().UnixNano()), "classification": 1}
	for k, v := range kv {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	return m
}

func TestVivoAuth(t *testing.T) {
	srv := vivoStart(t, nil)
	u := srv.VivoBaseURL("sg") + vivosim.AuthPath
	now := time.Now()
	without := func(k string) map[string]any {
		b := vivoAuthBody(10004, vivoKey, vivoSecret, now)
		delete(b, k)
		return b
	}
	tests := []struct {
		scenario string
		body     any
		wantCode int
	}{
		{"numeric app id", vivoAuthBody(10004, vivoKey, vivoSecret, now), 0},
		{"string app id", vivoAuthBody("10004", vivoKey, vivoSecret, now), 0},
		{"missing app id", without("appId"), vivosim.CodeAppIDEmpty},
		{"unknown app id", vivoAuthBody(999, vivoKey, vivoSecret, now), vivosim.CodeAppIDNotExist},
		{"missing app key", without("appKey"), vivosim.CodeAppKeyEmpty},
		{"wrong app key", vivoAuthBody(10004, "other", vivoSecret, now), vivosim.CodeAppKeyInvalid},
		{"missing timestamp", without("timestamp"), vivosim.CodeTimestampEmpty},
		{"stale timestamp", vivoAuthBody(10004, vivoKey, vivoSecret, now.Add(-time.Hour)), vivosim.CodeTimestampInvalid},
		{"missing sign", without("sign"), vivosim.CodeSignEmpty},
		{"wrong secret", vivoAuthBody(10004, vivoKey, "wrong", now), vivosim.CodeSignInvalid},
		{"not json", "{", vivosim.CodeSimInvalidParameter},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a := vivoPost(t, u, "", tc.body)
			if status != http.StatusOK || a.Result != tc.wantCode || a.Desc == "" || (tc.wantCode == 0) != (a.AuthToken != "") {
				t.Fatalf("HTTP %d answer %+v, want result %d", status, a, tc.wantCode)
			}
		})
	}
}

func TestVivoSendAnswers(t *testing.T) {
	srv := vivoStart(t, func(c *vendorsim.VivoConfig) { c.AuthTokenLifetime = vendorsim.Duration(200 * time.Millisecond) })
	u := srv.VivoBaseURL("sg") + vivosim.SendPath
	expired := vivoToken(t, srv)
	time.Sleep(250 * time.Millisecond)
	tok := vivoToken(t, srv)
	send := func(kv map[string]any) map[string]any {
		m := vivoContent(kv)
		if _, ok := kv["regId"]; !ok {
			m["regId"] = "v2-a"
		}
		return m
	}
	pairs := map[string]string{}
	for i := range 11 {
		pairs[fmt.Sprint("k", i)] = "v"
	}
	tests := []struct {
		scenario string
		token    string
		body     any
		wantCode int
	}{
		{"success", tok, send(nil), 0},
		{"no token", "", send(nil), vivosim.CodeAuthFailed},
		{"expired token", expired, send(nil), vivosim.CodeAuthFailed},
		{"empty regId", tok, send(map[string]any{"regId": ""}), vivosim.CodeTargetEmpty},
		{"invalid regId", tok, send(map[string]any{"regId": "bad-a"}), vivosim.CodeInvalidRegID},
		{"bad notify type", tok, send(map[string]any{"notifyType": 9}), vivosim.CodeNotifyTypeInvalid},
		{"empty title", tok, send(map[string]any{"title": ""}), vivosim.CodeTitleEmpty},
		{"title over 40", tok, send(map[string]any{"title": strings.Repeat("标", 41)}), vivosim.CodeTitleTooLong},
		{"empty content", tok, send(map[string]any{"content": ""}), vivosim.CodeContentEmpty},
		{"content over 100", tok, send(map[string]any{"content": strings.Repeat("c", 101)}), vivosim.CodeContentTooLong},
		{"eleven custom pairs", tok, send(map[string]any{"clientCustomMap": pairs}), vivosim.CodeTooManyCustomPairs},
		{"custom pairs too long", tok, send(map[string]any{"clientCustomMap": map[string]string{"p": strings.Repeat("x", 1024)}}), vivosim.CodeInvalidCustomPair},
		{"no request id", tok, send(map[string]any{"requestId": nil}), vivosim.CodeSimInvalidParameter},
		{"ttl under a minute", tok, send(map[string]any{"timeToLive": 30}), vivosim.CodeSimInvalidParameter},
		{"url skip without url", tok, send(map[string]any{"skipType": 2}), vivosim.CodeSimInvalidParameter},
		{"callback param too long", tok, send(map[string]any{"extra": map[string]string{"callback.param": strings.Repeat("p", 65)}}), vivosim.CodeSimInvalidParameter},
		{"duplicate request id", tok, send(map[string]any{"requestId": "same"}), 0},
		{"duplicate request id again", tok, send(map[string]any{"requestId": "same"}), vivosim.CodeRequestIDExists},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a := vivoPost(t, u, tc.token, tc.body)
			if status != http.StatusOK || a.Result != tc.wantCode || a.Desc == "" || (tc.wantCode == 0) != (a.TaskID != "") {
				t.Fatalf("HTTP %d answer %+v, want result %d", status, a, tc.wantCode)
			}
		})
	}
	app := srv.Stats().Vendors[vendorsim.VendorVivo].Regions["sg"].Apps[vivoApp]
	if app.Messages != 2 || app.InvalidTokens != 1 {
		t.Errorf("stats %+v", app)
	}
}

func TestVivoListPush(t *testing.T) {
	srv := vivoStart(t, func(c *vendorsim.VivoConfig) {
		c.Apps = append(c.Apps, vendorsim.VivoApp{AppID: "other", VivoAppID: "20000", AppKey: "k2", AppSecret: "s2"})
	})
	base := srv.VivoBaseURL("sg")
	tok := vivoToken(t, srv)
	_, saved := vivoPost(t, base+vivosim.SaveListPayloadPath, tok, vivoContent(nil))
	if saved.Result != 0 || saved.TaskID == "" {
		t.Fatalf("saveListPayload answer %+v", saved)
	}
	_, otherAuth := vivoPost(t, base+vivosim.AuthPath, "", vivoAuthBody(20000, "k2", "s2", time.Now()))

	list := func(ids ...string) map[string]any {
		return map[string]any{"regIds": ids, "taskId": saved.TaskID, "requestId": fmt.Sprint("r", time.Now().UnixNano())}
	}
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprint("v2-", i)
	}
	tests := []struct {
		scenario    string
		token       string
		body        map[string]any
		wantCode    int
		wantInvalid []string
	}{
		{"valid and invalid regIds", tok, list("v2-a", "bad-b", "v2-c"), 0, []string{"bad-b"}},
		{"all invalid", tok, list("bad-a", "bad-b"), 0, []string{"bad-a", "bad-b"}},
		{"one regId", tok, list("v2-a"), vivosim.CodeSimInvalidParameter, nil},
		{"more than 1000", tok, list(many...), vivosim.CodeSimInvalidParameter, nil},
		{"unknown task", tok, map[string]any{"regIds": []string{"a", "b"}, "taskId": "42", "requestId": "r"}, vivosim.CodeSimInvalidParameter, nil},
		{"task of another app", otherAuth.AuthToken, list("v2-a", "v2-b"), vivosim.CodeSimInvalidParameter, nil},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			_, a := vivoPost(t, base+vivosim.PushToListPath, tc.token, tc.body)
			if a.Result != tc.wantCode {
				t.Fatalf("answer %+v, want result %d", a, tc.wantCode)
			}
			var invalid []string
			for _, u := range a.InvalidUsers {
				if u.Status != 1 {
					t.Errorf("invalid user %+v, want status 1", u)
				}
				invalid = append(invalid, u.UserID)
			}
			if fmt.Sprint(invalid) != fmt.Sprint(tc.wantInvalid) {
				t.Errorf("invalidUsers %v, want %v", invalid, tc.wantInvalid)
			}
		})
	}
	app := srv.Stats().Vendors[vendorsim.VendorVivo].Regions["sg"].Apps[vivoApp]
	if app.Messages != 2 || app.InvalidTokens != 3 || app.Tokens["v2-c"] != 1 {
		t.Errorf("stats %+v", app)
	}
	reqs := srv.Requests(vendorsim.VendorVivo, "sg")
	for _, r := range reqs {
		if strings.HasSuffix(r.Path, vivosim.PushToListPath) && r.Form.Get("body") != "" && len(r.RegIDs) > 0 {
			return
		}
	}
	t.Error("pushToList requests are not recorded with their body and regIds")
}

func TestVivoFaultsAndQuota(t *testing.T) {
	srv := vivoStart(t, nil)
	tok := vivoToken(t, srv)
	u := srv.VivoBaseURL("sg") + vivosim.SendPath
	body := func() map[string]any { m := vivoContent(nil); m["regId"] = "v2-a"; return m }
	if err := srv.InjectFailures(vendorsim.Failure{Vendor: vendorsim.VendorVivo, Next: 1},
		vendorsim.Failure{Vendor: vendorsim.VendorVivo, Code: vivosim.CodeServerError, Next: 1}); err != nil {
		t.Fatal(err)
	}
	if status, _ := vivoPost(t, u, tok, body()); status != http.StatusServiceUnavailable {
		t.Errorf("injected 5xx: HTTP %d", status)
	}
	if status, a := vivoPost(t, u, tok, body()); status != http.StatusOK || a.Result != vivosim.CodeServerError {
		t.Errorf("injected code: HTTP %d %+v", status, a)
	}
	if err := srv.SetQuota(vendorsim.Quota{Vendor: vendorsim.VendorVivo, AppID: vivoApp}); err != nil {
		t.Fatal(err)
	}
	if _, a := vivoPost(t, u, tok, body()); a.Result != vivosim.CodePushTooFast {
		t.Errorf("throttled: %+v, want 10072", a)
	}
	// The auth endpoint is outside faults and quotas.
	vivoToken(t, srv)
	app := srv.Stats().Vendors[vendorsim.VendorVivo].Regions["sg"].Apps[vivoApp]
	if app.Injected != 2 || app.Throttled != 1 {
		t.Errorf("stats %+v", app)
	}

	for _, tc := range []struct {
		scenario   string
		method     string
		path       string
		wantStatus int
	}{
		{"get on send", http.MethodGet, "/vivo/sg" + vivosim.SendPath, http.StatusMethodNotAllowed},
		{"unserved api", http.MethodPost, "/vivo/sg/message/all", http.StatusNotFound},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL()+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tc.wantStatus {
				t.Errorf("HTTP %d, want %d", resp.StatusCode, tc.wantStatus)
			}
		})
	}
}

func TestVivoConfigValidation(t *testing.T) {
	app := vendorsim.VivoApp{AppID: "a", VivoAppID: "1", AppKey: "k", AppSecret: "s"}
	tests := []struct {
		scenario string
		cfg      vendorsim.VivoConfig
		wantErr  string
	}{
		{"no vivo app id", vendorsim.VivoConfig{Apps: []vendorsim.VivoApp{{AppID: "a", AppKey: "k", AppSecret: "s"}}}, "has no vivoAppId"},
		{"no secret", vendorsim.VivoConfig{Apps: []vendorsim.VivoApp{{AppID: "a", VivoAppID: "1", AppKey: "k"}}}, "has no appSecret"},
		{"duplicate app", vendorsim.VivoConfig{Apps: []vendorsim.VivoApp{app, app}}, "duplicate appId"},
		{"negative quota", vendorsim.VivoConfig{QuotaPerSecond: -1, Apps: []vendorsim.VivoApp{app}}, "negative quota"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := allvendors.New(vendorsim.Config{Vivo: tc.cfg})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New = %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
	if s := fmt.Sprintf("%+v", vendorsim.VivoApp{AppSecret: "top-secret"}); strings.Contains(s, "top-secret") {
		t.Errorf("secret printed: %s", s)
	}
}
