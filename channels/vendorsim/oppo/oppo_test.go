package oppo_test

import (
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
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
	opposim "github.com/pushpipe/pushpipe/channels/vendorsim/oppo"
)

const (
	oppoApp    = "oppo-app-1"
	oppoKey    = "oppo-key-1"
	oppoMaster = "oppo-master-1"
)

func oppoStart(t *testing.T, mutate func(*vendorsim.OPPOConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 3, OPPO: vendorsim.OPPOConfig{
		Regions: []string{"cn", "sg"},
		Apps:    []vendorsim.OPPOApp{{AppID: oppoApp, AppKey: oppoKey, MasterSecret: oppoMaster}},
	}}
	if mutate != nil {
		mutate(&cfg.OPPO)
	}
	return simtest.Start(t, cfg)
}

type oppoTestAnswer struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

func oppoPost(t *testing.T, u string, header http.Header, form url.Values) (int, oppoTestAnswer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	var a oppoTestAnswer
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &a); err != nil {
			t.Fatalf("decoding %s: %v", body, err)
		}
	}
	return resp.StatusCode, a
}

func oppoAuthForm(key, master string, at time.Time) url.Values {
	stamp := strconv.FormatInt(at.UnixMilli(), 10)
	return url.Values{"app_key": {key}, "timestamp": {stamp}, "sign": {opposim.Sign(key, stamp, master)}}
}

// oppoToken obtains an auth token from srv.
func oppoToken(t *testing.T, srv *vendorsim.Server) string {
	t.Helper()
	_, a := oppoPost(t, srv.OPPOBaseURL("sg")+opposim.AuthPath, nil, oppoAuthForm(oppoKey, oppoMaster, time.Now()))
	var d struct {
		AuthToken  string `json:"auth_token"`
		CreateTime int64  `json:"create_time"`
	}
	if err := json.Unmarshal(a.Data, &d); a.Code != 0 || err != nil || d.AuthToken == "" || d.CreateTime == 0 {
		t.Fatalf("auth answer %+v", a)
	}
	return d.AuthToken
}

func oppoMsg(regID, title, content string) map[string]any {
	return map[string]any{"target_type": 2, "target_value": regID,
		"notification": map[string]any{"title": title, "content": content, "click_action_type": 0, "off_line": true}}
}

func oppoJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestOPPOAuth(t *testing.T) {
	srv := oppoStart(t, nil)
	u := srv.OPPOBaseURL("sg") + opposim.AuthPath
	now := time.Now()
	tests := []struct {
		scenario string
		form     url.Values
		wantCode int
	}{
		{"success", oppoAuthForm(oppoKey, oppoMaster, now), 0},
		{"missing app key", func() url.Values { f := oppoAuthForm(oppoKey, oppoMaster, now); f.Del("app_key"); return f }(), opposim.CodeMissingAppKey},
		{"unknown app key", oppoAuthForm("other", oppoMaster, now), opposim.CodeInvalidAppKey},
		{"missing timestamp", func() url.Values { f := oppoAuthForm(oppoKey, oppoMaster, now); f.Del("timestamp"); return f }(), opposim.CodeMissingTimestamp},
		{"stale timestamp", oppoAuthForm(oppoKey, oppoMaster, now.Add(-time.Hour)), opposim.CodeInvalidTimestamp},
		{"missing sign", func() url.Values { f := oppoAuthForm(oppoKey, oppoMaster, now); f.Del("sign"); return f }(), opposim.CodeMissingSignature},
		{"wrong master secret", oppoAuthForm(oppoKey, "wrong", now), opposim.CodeInvalidSignature},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a := oppoPost(t, u, nil, tc.form)
			if status != http.StatusOK || a.Code != tc.wantCode || a.Message == "" {
				t.Fatalf("HTTP %d answer %+v, want code %d with a message", status, a, tc.wantCode)
			}
		})
	}
	st := srv.Stats().Vendors[vendorsim.VendorOPPO].Regions["sg"]
	if st.Apps[oppoApp].Accepted != 1 || st.Apps[oppoApp].Rejected != 4 || st.Apps[vendorsim.UnknownApp].Rejected != 2 {
		t.Errorf("stats %+v %+v", st.Apps[oppoApp], st.Apps[vendorsim.UnknownApp])
	}
}

func TestOPPOUnicastAnswers(t *testing.T) {
	srv := oppoStart(t, func(c *vendorsim.OPPOConfig) { c.AuthTokenLifetime = vendorsim.Duration(200 * time.Millisecond) })
	base := srv.OPPOBaseURL("sg")
	expired := oppoToken(t, srv)
	time.Sleep(250 * time.Millisecond)
	tok := oppoToken(t, srv)
	hdr := func(tok string) http.Header { return http.Header{"auth_token": {tok}} }
	withNotification := func(kv map[string]any) map[string]any {
		m := oppoMsg("CN_a", "Title", "Content")
		for k, v := range kv {
			m["notification"].(map[string]any)[k] = v
		}
		return m
	}
	tests := []struct {
		scenario string
		header   http.Header
		form     url.Values
		wantCode int
	}{
		{"success", hdr(tok), url.Values{"message": {oppoJSON(oppoMsg("CN_a", "Title", "Content"))}}, 0},
		{"token as form field", nil, url.Values{"auth_token": {tok}, "message": {oppoJSON(oppoMsg("CN_a", "T", "C"))}}, 0},
		{"missing token", nil, url.Values{"message": {oppoJSON(oppoMsg("CN_a", "T", "C"))}}, opposim.CodeMissingAuthToken},
		{"unknown token", hdr("nope"), url.Values{"message": {oppoJSON(oppoMsg("CN_a", "T", "C"))}}, opposim.CodeInvalidAuthToken},
		{"expired token", hdr(expired), url.Values{"message": {oppoJSON(oppoMsg("CN_a", "T", "C"))}}, opposim.CodeInvalidAuthToken},
		{"invalid registration id", hdr(tok), url.Values{"message": {oppoJSON(oppoMsg("bad-a", "T", "C"))}}, opposim.CodeInvalidRegistrationID},
		{"missing message", hdr(tok), url.Values{}, opposim.CodeMissingRequiredArguments},
		{"message not json", hdr(tok), url.Values{"message": {"{"}}, opposim.CodeInvalidArguments},
		{"empty title", hdr(tok), url.Values{"message": {oppoJSON(oppoMsg("CN_a", "", "C"))}}, opposim.CodeMissingRequiredArguments},
		{"title over 32 characters", hdr(tok), url.Values{"message": {oppoJSON(oppoMsg("CN_a", strings.Repeat("标", 33), "C"))}}, opposim.CodeInvalidArguments},
		{"content over 200 characters", hdr(tok), url.Values{"message": {oppoJSON(oppoMsg("CN_a", "T", strings.Repeat("c", 201)))}}, opposim.CodeInvalidArguments},
		{"ttl over ten days", hdr(tok), url.Values{"message": {oppoJSON(withNotification(map[string]any{"off_line_ttl": 864001}))}}, opposim.CodeInvalidArguments},
		{"callback parameter too long", hdr(tok), url.Values{"message": {oppoJSON(withNotification(map[string]any{"call_back_parameter": strings.Repeat("p", 51)}))}}, opposim.CodeInvalidArguments},
		{"url click without url", hdr(tok), url.Values{"message": {oppoJSON(withNotification(map[string]any{"click_action_type": 2}))}}, opposim.CodeMissingRequiredArguments},
		{"notify level without category", hdr(tok), url.Values{"message": {oppoJSON(withNotification(map[string]any{"notify_level": 2}))}}, opposim.CodeCategoryError},
		{"unknown category", hdr(tok), url.Values{"message": {oppoJSON(withNotification(map[string]any{"category": "GOSSIP"}))}}, opposim.CodeCategoryError},
		{"category and level", hdr(tok), url.Values{"message": {oppoJSON(withNotification(map[string]any{"category": "IM", "notify_level": 16}))}}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a := oppoPost(t, base+opposim.UnicastPath, tc.header, tc.form)
			if status != http.StatusOK || a.Code != tc.wantCode || a.Message == "" {
				t.Fatalf("HTTP %d answer %+v, want code %d with a message", status, a, tc.wantCode)
			}
			if tc.wantCode == 0 {
				var d struct {
					MessageID string `json:"messageId"`
				}
				if err := json.Unmarshal(a.Data, &d); err != nil || !strings.HasPrefix(d.MessageID, oppoKey+"-1-1-") {
					t.Errorf("data %s, want a messageId of the form appKey-1-1-id", a.Data)
				}
			}
		})
	}
	reqs := srv.Requests(vendorsim.VendorOPPO, "sg")
	last := reqs[len(reqs)-1]
	if last.Auth != tok || len(last.RegIDs) != 1 || last.RegIDs[0] != "CN_a" {
		t.Errorf("recorded request %+v: want the token as Auth and the target as RegIDs", last)
	}
}

func TestOPPOBatchAnswers(t *testing.T) {
	srv := oppoStart(t, nil)
	tok := oppoToken(t, srv)
	u := srv.OPPOBaseURL("sg") + opposim.UnicastBatchPath
	hdr := http.Header{"auth_token": {tok}}

	msgs := []map[string]any{oppoMsg("CN_a", "T", "C"), oppoMsg("bad-b", "T", "C"), oppoMsg("CN_c", "", "C"), oppoMsg("CN_a", "T2", "C2")}
	status, a := oppoPost(t, u, hdr, url.Values{"messages": {oppoJSON(msgs)}})
	if status != http.StatusOK || a.Code != 0 {
		t.Fatalf("HTTP %d answer %+v", status, a)
	}
	var entries []struct {
		MessageID      string `json:"messageId"`
		RegistrationID string `json:"registrationId"`
		ErrorCode      int    `json:"errorCode"`
		ErrorMessage   string `json:"errorMessage"`
	}
	if err := json.Unmarshal(a.Data, &entries); err != nil || len(entries) != 4 {
		t.Fatalf("data %s", a.Data)
	}
	wantCodes := []int{0, opposim.CodeInvalidRegistrationID, opposim.CodeMissingRequiredArguments, 0}
	for i, e := range entries {
		if e.RegistrationID != msgs[i]["target_value"] || e.ErrorCode != wantCodes[i] || (e.ErrorCode == 0) != (e.MessageID != "") {
			t.Errorf("entry %d: %+v, want code %d", i, e, wantCodes[i])
		}
	}
	if entries[0].MessageID == entries[3].MessageID {
		t.Error("two messages share a messageId")
	}

	tooMany := make([]map[string]any, 1001)
	for i := range tooMany {
		tooMany[i] = oppoMsg(fmt.Sprintf("CN_%d", i), "T", "C")
	}
	for _, tc := range []struct {
		scenario string
		form     url.Values
		wantCode int
	}{
		{"more than 1000 messages", url.Values{"messages": {oppoJSON(tooMany)}}, opposim.CodeInvalidArguments},
		{"empty array", url.Values{"messages": {"[]"}}, opposim.CodeMissingRequiredArguments},
		{"not an array", url.Values{"messages": {`{"a":1}`}}, opposim.CodeInvalidArguments},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if _, a := oppoPost(t, u, hdr, tc.form); a.Code != tc.wantCode {
				t.Errorf("answer %+v, want code %d", a, tc.wantCode)
			}
		})
	}

	app := srv.Stats().Vendors[vendorsim.VendorOPPO].Regions["sg"].Apps[oppoApp]
	if app.Messages != 2 || app.InvalidTokens != 1 || app.Tokens["CN_a"] != 2 {
		t.Errorf("stats %+v", app)
	}
}

func TestOPPOFaultsQuotaAndPaths(t *testing.T) {
	srv := oppoStart(t, nil)
	tok := oppoToken(t, srv)
	base := srv.OPPOBaseURL("sg")
	hdr := http.Header{"auth_token": {tok}}
	good := url.Values{"message": {oppoJSON(oppoMsg("CN_a", "T", "C"))}}

	if err := srv.InjectFailures(vendorsim.Failure{Vendor: vendorsim.VendorOPPO, Next: 1},
		vendorsim.Failure{Vendor: vendorsim.VendorOPPO, Code: opposim.CodeFlowControl, Next: 1}); err != nil {
		t.Fatal(err)
	}
	if status, _ := oppoPost(t, base+opposim.UnicastPath, hdr, good); status != http.StatusServiceUnavailable {
		t.Errorf("injected 5xx: HTTP %d", status)
	}
	if status, a := oppoPost(t, base+opposim.UnicastPath, hdr, good); status != http.StatusOK || a.Code != opposim.CodeFlowControl {
		t.Errorf("injected code: HTTP %d %+v", status, a)
	}
	// Faults are for push calls: the auth endpoint keeps answering.
	if err := srv.InjectFailures(vendorsim.Failure{Vendor: vendorsim.VendorOPPO, Next: 1}); err != nil {
		t.Fatal(err)
	}
	oppoToken(t, srv)
	srv.ClearFailures()

	if err := srv.SetQuota(vendorsim.Quota{Vendor: vendorsim.VendorOPPO, AppID: oppoApp, PerSecond: 0, Burst: 1}); err != nil {
		t.Fatal(err)
	}
	if _, a := oppoPost(t, base+opposim.UnicastPath, hdr, good); a.Code != 0 {
		t.Errorf("first call within the burst: %+v", a)
	}
	if _, a := oppoPost(t, base+opposim.UnicastPath, hdr, good); a.Code != opposim.CodeAppCallLimited {
		t.Errorf("throttled call: %+v, want code 13", a)
	}
	app := srv.Stats().Vendors[vendorsim.VendorOPPO].Regions["sg"].Apps[oppoApp]
	if app.Injected != 2 || app.Throttled != 1 {
		t.Errorf("stats %+v", app)
	}

	for _, tc := range []struct {
		scenario   string
		method     string
		path       string
		wantStatus int
		wantCode   int
	}{
		{"get on unicast", http.MethodGet, "/oppo/sg" + opposim.UnicastPath, http.StatusMethodNotAllowed, opposim.CodeHTTPActionNotAllowed},
		{"unserved api", http.MethodPost, "/oppo/sg/server/v1/message/notification/broadcast", http.StatusNotFound, opposim.CodeInvalidMethod},
		{"unserved region", http.MethodPost, "/oppo/eu" + opposim.UnicastPath, http.StatusNotFound, 0},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL()+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			var a oppoTestAnswer
			_ = json.NewDecoder(resp.Body).Decode(&a)
			if resp.StatusCode != tc.wantStatus || a.Code != tc.wantCode {
				t.Errorf("HTTP %d code %d, want %d / %d", resp.StatusCode, a.Code, tc.wantStatus, tc.wantCode)
			}
		})
	}
}

func TestOPPOConfigValidation(t *testing.T) {
	tests := []struct {
		scenario string
		cfg      vendorsim.OPPOConfig
		wantErr  string
	}{
		{"no app id", vendorsim.OPPOConfig{Apps: []vendorsim.OPPOApp{{AppKey: "k", MasterSecret: "s"}}}, "has no appId"},
		{"no app key", vendorsim.OPPOConfig{Apps: []vendorsim.OPPOApp{{AppID: "a", MasterSecret: "s"}}}, "has no appKey"},
		{"no secret", vendorsim.OPPOConfig{Apps: []vendorsim.OPPOApp{{AppID: "a", AppKey: "k"}}}, "has no masterSecret"},
		{"shared app key", vendorsim.OPPOConfig{Apps: []vendorsim.OPPOApp{{AppID: "a", AppKey: "k", MasterSecret: "s"}, {AppID: "b", AppKey: "k", MasterSecret: "t"}}}, "shares its appKey"},
		{"unknown region", vendorsim.OPPOConfig{Regions: []string{"mars"}, Apps: []vendorsim.OPPOApp{{AppID: "a", AppKey: "k", MasterSecret: "s"}}}, "unknown region"},
		{"negative lifetime", vendorsim.OPPOConfig{AuthTokenLifetime: -1, Apps: []vendorsim.OPPOApp{{AppID: "a", AppKey: "k", MasterSecret: "s"}}}, "authTokenLifetime"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := allvendors.New(vendorsim.Config{OPPO: tc.cfg})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New = %v, want an error about %q", err, tc.wantErr)
			}
		})
	}
	if s := fmt.Sprint(vendorsim.OPPOApp{AppID: "a", AppKey: "k", MasterSecret: "top-secret"}); strings.Contains(s, "top-secret") {
		t.Errorf("secret printed: %s", s)
	}
}
