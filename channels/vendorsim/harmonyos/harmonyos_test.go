package harmonyos_test

import (
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/harmonyos"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
)

const (
	hosApp     = "hos-app"
	hosProject = "101653523863785276"
	hosClient  = "6917562345678901234"
	hosKID     = "hos-kid"
	hosIss     = "107783917"
	hosRegion  = "eu"
)

func hosStart(t *testing.T) *vendorsim.Server {
	t.Helper()
	_, key := simtest.Keys()
	return simtest.Start(t, vendorsim.Config{Seed: 7, HarmonyOS: vendorsim.HarmonyOSConfig{Apps: []vendorsim.HarmonyOSApp{
		{AppID: hosApp, ProjectID: hosProject, ClientID: hosClient, KeyID: hosKID, SubAccount: hosIss, PrivateKey: channels.Secret(key)},
	}}})
}

// hosKey is the service-account key the simulator verifies.
func hosKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	_, pemKey := simtest.Keys()
	k, err := channels.ParseRSAPrivateKey(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func hosJWT(t *testing.T, kid, iss string, iat time.Time, lifetime time.Duration) string {
	t.Helper()
	tok, err := harmonyos.SignJWT(hosKey(t), kid, iss, iat, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

type hosAnswer struct {
	Code      string `json:"code"`
	Msg       string `json:"msg"`
	RequestID string `json:"requestId"`
}

func hosPost(t *testing.T, srv *vendorsim.Server, path, auth, pushType, body string) (int, hosAnswer) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.HarmonyOSBaseURL(hosRegion)+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", auth)
	if pushType != "" {
		req.Header.Set("push-type", pushType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	var a hosAnswer
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("decoding %s: %v", raw, err)
	}
	return resp.StatusCode, a
}

// hosBody is a send body with the notification fields merged into a
// valid notification, the given tokens and pushOptions.
func hosBody(tokens []string, notification, options string) string {
	tj, _ := json.Marshal(tokens)
	n := `"category":"MARKETING","title":"T","body":"B","clickAction":{"actionType":0}`
	if notification != "" {
		n = notification
	}
	if options == "" {
		options = `"biTag":"m1"`
	}
	return `{"payload":{"notification":{` + n + `}},"target":{"token":` + string(tj) + `},"pushOptions":{` + options + `}}`
}

func TestHarmonyOSSend(t *testing.T) {
	now := time.Now()
	srv := hosStart(t)
	auth := hosJWT(t, hosKID, hosIss, now, time.Hour)
	send := "/v3/" + hosProject + "/messages:send"
	many := make([]string, 1001)
	for i := range many {
		many[i] = fmt.Sprintf("tok-%04d", i)
	}
	tests := []struct {
		scenario, path, auth, pushType, body string
		wantStatus                           int
		wantCode                             string
		wantMsg                              string
	}{
		{"notification", send, auth, "0", hosBody([]string{"t1", "t2"}, "", ""), 200, "80000000", ""},
		{"every notification field", send, auth, "0", hosBody([]string{"t1"}, `"category":"FINANCE","title":"T","body":"B",
			"image":"https://i/x.png","style":1,"bigTitle":"T","bigBody":"B","notifyId":7,"sound":"a.mp3","badge":{"addNum":2,"setNum":0},
			"clickAction":{"actionType":1,"action":"a","uri":"app://x","data":{"k":"v"}}`, `"ttl":60,"biTag":"m1","receiptId":"R","collapseKey":3`), 200, "80000000", ""},
		{"background message", send, auth, "6", `{"payload":{"extraData":"{\"k\":1}"},"target":{"token":["t1"]}}`, 200, "80000000", ""},
		{"some tokens unknown", send, auth, "0", hosBody([]string{"t1", "bad-2"}, "", ""), 200, "80100000", `"tokenFormatError":["bad-2"]`},
		{"every token unknown", send, auth, "0", hosBody([]string{"bad-1"}, "", ""), 400, "80300007", `"tokenFormatError":["bad-1"]`},
		{"play voice is not a notification", send, auth, "0", hosBody([]string{"t1"}, `"category":"PLAY_VOICE","title":"T","body":"B","clickAction":{"actionType":0}`, ""), 400, "80300007", "notSupportPlayVoice"},
		{"no Authorization", send, "", "0", hosBody([]string{"t1"}, "", ""), 401, "80200001", ""},
		{"a JWT of an unknown key id", send, hosJWT(t, "other-kid", hosIss, now, time.Hour), "0", hosBody([]string{"t1"}, "", ""), 401, "80200001", "iss and kid"},
		{"a JWT signed with another key", send, func() string {
			a := hosJWT(t, hosKID, hosIss, now, time.Hour)
			return a[:len(a)-4] + "AAAA"
		}(), "0", hosBody([]string{"t1"}, "", ""), 401, "80200001", "signature"},
		{"an expired JWT", send, hosJWT(t, hosKID, hosIss, now.Add(-2*time.Hour), time.Hour), "0", hosBody([]string{"t1"}, "", ""), 401, "80200005", ""},
		{"a JWT valid for two days", send, hosJWT(t, hosKID, hosIss, now, 48*time.Hour), "0", hosBody([]string{"t1"}, "", ""), 400, "80300036", ""},
		{"a JWT of another project", "/v3/999/messages:send", auth, "0", hosBody([]string{"t1"}, "", ""), 401, "80200001", "project"},
		{"the v1 send URL", "/v1/" + hosProject + "/messages:send", auth, "0", hosBody([]string{"t1"}, "", ""), 404, "80100001", ""},
		{"no push-type", send, auth, "", hosBody([]string{"t1"}, "", ""), 400, "80100003", "push-type"},
		{"a push-type the simulator does not serve", send, auth, "7", hosBody([]string{"t1"}, "", ""), 400, "80100003", "push-type 7"},
		{"no title", send, auth, "0", hosBody([]string{"t1"}, `"category":"IM","body":"B","clickAction":{"actionType":0}`, ""), 400, "80100003", "title"},
		{"no category", send, auth, "0", hosBody([]string{"t1"}, `"title":"T","body":"B","clickAction":{"actionType":0}`, ""), 400, "80100003", "category"},
		{"unknown category", send, auth, "0", hosBody([]string{"t1"}, `"category":"SYSTEM_REMINDER","title":"T","body":"B","clickAction":{"actionType":0}`, ""), 400, "80100003", "category"},
		{"no click action", send, auth, "0", hosBody([]string{"t1"}, `"category":"IM","title":"T","body":"B"`, ""), 400, "80100003", "clickAction"},
		{"custom click without a target", send, auth, "0", hosBody([]string{"t1"}, `"category":"IM","title":"T","body":"B","clickAction":{"actionType":1}`, ""), 400, "80100003", "action or uri"},
		{"big text without bigBody", send, auth, "0", hosBody([]string{"t1"}, `"category":"IM","title":"T","body":"B","style":1,"clickAction":{"actionType":0}`, ""), 400, "80100003", "bigBody"},
		{"http image", send, auth, "0", hosBody([]string{"t1"}, `"category":"IM","title":"T","body":"B","image":"http://i","clickAction":{"actionType":0}`, ""), 400, "80100003", "https"},
		{"badge over 99", send, auth, "0", hosBody([]string{"t1"}, `"category":"IM","title":"T","body":"B","badge":{"addNum":100},"clickAction":{"actionType":0}`, ""), 400, "80100003", "badge"},
		{"unknown field", send, auth, "0", hosBody([]string{"t1"}, `"category":"IM","title":"T","body":"B","clickAction":{"actionType":0},"color":"red"`, ""), 400, "80100001", "color"},
		{"more than 1000 tokens", send, auth, "0", hosBody(many, "", ""), 400, "80300010", ""},
		{"test message to 11 tokens", send, auth, "0", hosBody(many[:11], "", `"testMessage":true`), 400, "80300030", ""},
		{"a body over 4096 bytes", send, auth, "0", hosBody([]string{"t1"}, `"category":"IM","title":"T","body":"`+strings.Repeat("b", 4096)+`","clickAction":{"actionType":0}`, ""), 400, "80300008", ""},
		{"a ttl of 16 days", send, auth, "0", hosBody([]string{"t1"}, "", `"ttl":1382400`), 400, "80100001", "ttl"},
		{"a biTag over 64 bytes", send, auth, "0", hosBody([]string{"t1"}, "", `"biTag":"`+strings.Repeat("b", 65)+`"`), 400, "80100001", "biTag"},
		{"a background message without extraData", send, auth, "6", `{"payload":{},"target":{"token":["t1"]}}`, 400, "80100003", "extraData"},
		{"a background message with a notification", send, auth, "6", hosBody([]string{"t1"}, "", ""), 400, "80100003", "notification"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a := hosPost(t, srv, tc.path, tc.auth, tc.pushType, tc.body)
			if status != tc.wantStatus || a.Code != tc.wantCode || !strings.Contains(a.Msg, tc.wantMsg) || a.RequestID == "" {
				t.Errorf("answer %d %+v, want %d %s with %q", status, a, tc.wantStatus, tc.wantCode, tc.wantMsg)
			}
		})
	}
	st := srv.Stats().Vendors[vendorsim.VendorHarmonyOS].Regions[hosRegion].Apps[hosApp]
	// Accepted: t1, t2 (notification), t1 (every field), t1 (background),
	// t1 (partial).
	if st.Messages != 5 || st.Tokens["t1"] != 4 || st.Tokens["t2"] != 1 || st.InvalidTokens != 3 {
		t.Errorf("stats %+v", st)
	}
	recs := srv.Requests(vendorsim.VendorHarmonyOS, hosRegion)
	if len(recs) != len(tests)-1 /* the v1 URL is not an endpoint */ || recs[2].Form.Get("header.push-type") != "6" || !strings.Contains(recs[2].Form.Get("body"), "extraData") {
		t.Errorf("%d records; third %v", len(recs), recs[2].Form)
	}
}

func TestHarmonyOSRevoke(t *testing.T) {
	srv := hosStart(t)
	auth := hosJWT(t, hosKID, hosIss, time.Now(), time.Hour)
	send := "/v3/" + hosProject + "/messages:send"
	revoke := "/v1/" + hosClient + "/messages:revoke"
	if status, a := hosPost(t, srv, send, auth, "0", hosBody([]string{"t1", "t2"}, `"category":"IM","title":"T","body":"B","notifyId":42,"clickAction":{"actionType":0}`, "")); status != 200 {
		t.Fatalf("send: %d %+v", status, a)
	}
	tests := []struct {
		scenario, path, pushType, body string
		wantStatus                     int
		wantCode                       string
	}{
		{"known notifyId and token", revoke, "0", `{"notifyId":42,"token":["t1"]}`, 200, "80000000"},
		{"unknown notifyId", revoke, "0", `{"notifyId":43,"token":["t1"]}`, 400, "80100001"},
		{"no push-type", revoke, "", `{"notifyId":42,"token":["t2"]}`, 400, "80100003"},
		{"no notifyId", revoke, "0", `{"token":["t2"]}`, 400, "80100001"},
		{"the project id in place of the client id", "/v1/" + hosProject + "/messages:revoke", "0", `{"notifyId":42,"token":["t2"]}`, 401, "80200001"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			if status, a := hosPost(t, srv, tc.path, auth, tc.pushType, tc.body); status != tc.wantStatus || a.Code != tc.wantCode {
				t.Errorf("answer %d %+v, want %d %s", status, a, tc.wantStatus, tc.wantCode)
			}
		})
	}
	if got := srv.Recalls(vendorsim.VendorHarmonyOS, hosRegion, hosApp); len(got) != 1 || got["t1"] != 1 {
		t.Errorf("recalls %v, want t1 once", got)
	}
}

func TestHarmonyOSQuotaCountsDevices(t *testing.T) {
	srv := hosStart(t)
	if err := srv.SetQuota(vendorsim.Quota{Vendor: vendorsim.VendorHarmonyOS, AppID: hosApp, PerSecond: 0.001, Burst: 3}); err != nil {
		t.Fatal(err)
	}
	auth := hosJWT(t, hosKID, hosIss, time.Now(), time.Hour)
	send := "/v3/" + hosProject + "/messages:send"
	for i, want := range []int{200, 503} { // 2 devices, then 2 more of a bucket of 3
		if status, a := hosPost(t, srv, send, auth, "0", hosBody([]string{"t1", "t2"}, "", "")); status != want {
			t.Errorf("call %d: %d %+v, want %d", i, status, a, want)
		}
	}
}

func TestHarmonyOSConfigValidation(t *testing.T) {
	_, key := simtest.Keys()
	ok := vendorsim.HarmonyOSApp{AppID: "a", ProjectID: "p", ClientID: "c", KeyID: "k", SubAccount: "s", PrivateKey: channels.Secret(key)}
	for _, tc := range []struct {
		scenario string
		apps     []vendorsim.HarmonyOSApp
		want     string
	}{
		{"no project", []vendorsim.HarmonyOSApp{{AppID: "a", ClientID: "c", KeyID: "k", SubAccount: "s", PrivateKey: channels.Secret(key)}}, "projectId"},
		{"no key", []vendorsim.HarmonyOSApp{{AppID: "a", ProjectID: "p", ClientID: "c", KeyID: "k", SubAccount: "s"}}, "publicKey or a privateKey"},
		{"shared service account", []vendorsim.HarmonyOSApp{ok, {AppID: "b", ProjectID: "p", ClientID: "c2", KeyID: "k", SubAccount: "s", PrivateKey: channels.Secret(key)}}, "shares"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			_, err := allvendors.New(vendorsim.Config{HarmonyOS: vendorsim.HarmonyOSConfig{Apps: tc.apps}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New = %v, want an error about %q", err, tc.want)
			}
		})
	}
	cfg := vendorsim.Config{HarmonyOS: vendorsim.HarmonyOSConfig{Apps: []vendorsim.HarmonyOSApp{ok}}}
	if s := fmt.Sprintf("%v %+v", cfg.HarmonyOS.Apps[0], cfg.HarmonyOS.Apps[0]); strings.Contains(s, "PRIVATE KEY") {
		t.Errorf("private key printed: %s", s)
	}
}
