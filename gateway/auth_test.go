package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// TestSignatureKnownAnswer reproduces the worked example of Alibaba
// Cloud's RPC signature documentation (ECS DescribeRegions, AccessKey
// secret "testsecret"): the string to sign and the signature
// OLeaidS1JvxuMvnyHOwuJ+uX5qY= published there.
func TestSignatureKnownAnswer(t *testing.T) {
	params := map[string]string{
		"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML", "SignatureMethod": "HMAC-SHA1",
		"SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "SignatureVersion": "1.0",
		"Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26",
		"Signature": "left out of what is signed",
	}
	const wantSTS = "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML" +
		"%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf" +
		"%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26"
	sts := StringToSign("GET", "/", params)
	if sts != wantSTS {
		t.Fatalf("StringToSign =\n%s\nwant\n%s", sts, wantSTS)
	}
	if got := SignString(sts, "testsecret"); got != "OLeaidS1JvxuMvnyHOwuJ+uX5qY=" {
		t.Fatalf("SignString = %s, want OLeaidS1JvxuMvnyHOwuJ+uX5qY=", got)
	}
}

func TestPercentEncode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"AZaz09-_.~", "AZaz09-_.~"},
		{"a b", "a%20b"},
		{"a+b", "a%2Bb"},
		{"*", "%2A"},
		{"/", "%2F"},
		{`{"u1":"m1"}`, "%7B%22u1%22%3A%22m1%22%7D"},
		{"é中", "%C3%A9%E4%B8%AD"},
		{"2016-02-23T12:46:24Z", "2016-02-23T12%3A46%3A24Z"},
	} {
		if got := PercentEncode(tc.in); got != tc.want {
			t.Errorf("PercentEncode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestSignParams: what SignParams signs verifies, over the path and
// every parameter, and changing any of them breaks it.
func TestSignParams(t *testing.T) {
	key := testKey(0)
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	p := map[string]string{"Action": "PushSimple", "Title": "a b+c*"}
	sts := SignParams(p, "POST", "/", key, now)
	if p[ParamTimestamp] != "2026-03-01T08:00:00Z" || p[ParamAccessKeyID] != key.ID || p[ParamSignatureNonce] == "" ||
		p[ParamSignatureMethod] != SignatureMethod || p[ParamSignatureVersion] != SignatureVersion {
		t.Fatalf("common parameters %v", p)
	}
	if !strings.HasPrefix(sts, "POST&%2F&AccessKeyId%3D") || sts != StringToSign("POST", "/", p) {
		t.Fatalf("string to sign %q", sts)
	}
	if SignString(sts, key.Secret.Reveal()) != p[ParamSignature] {
		t.Fatal("the signature does not verify")
	}
	p2 := map[string]string{"Action": "PushSimple", "Title": "a b+c*"}
	SignParams(p2, "POST", "/", key, now)
	if p2[ParamSignatureNonce] == p[ParamSignatureNonce] {
		t.Fatal("two signatures share a nonce")
	}
	for name, other := range map[string]string{
		"method": StringToSign("GET", "/", p), "path": StringToSign("POST", "/v1", p),
		"a parameter": StringToSign("POST", "/", map[string]string{"Action": "PushSimple", "Title": "a b+c"}),
	} {
		if SignString(other, key.Secret.Reveal()) == p[ParamSignature] {
			t.Errorf("changing the %s keeps the signature", name)
		}
	}
}

func TestNonces(t *testing.T) {
	n := newNonces(2)
	t0 := time.Unix(1_800_000_000, 0)
	check := func(scenario, key, nonce string, forget, now time.Time, wantFresh, wantFull bool) {
		t.Helper()
		if fresh, full := n.use(key, nonce, forget, now); fresh != wantFresh || full != wantFull {
			t.Fatalf("%s: fresh %v full %v, want %v %v", scenario, fresh, full, wantFresh, wantFull)
		}
	}
	check("first use", "k1", "a", t0.Add(time.Minute), t0, true, false)
	check("replay", "k1", "a", t0.Add(time.Minute), t0.Add(time.Second), false, false)
	check("same nonce, another key", "k2", "a", t0.Add(time.Minute), t0, true, false)
	check("full of live nonces", "k1", "b", t0.Add(time.Minute), t0.Add(2*time.Second), false, true)
	check("the window passed: forgotten, room again", "k1", "a", t0.Add(3*time.Minute), t0.Add(2*time.Minute), true, false)
	check("replayed at the last instant of its window", "k1", "a", t0.Add(3*time.Minute), t0.Add(3*time.Minute), false, false)
}

// TestReplayAtTheEdgeOfTheWindow: a request replayed at the last instant
// its Timestamp is accepted (Timestamp + MaxClockSkew) is refused as a
// used nonce, never accepted because the nonce was forgotten first.
func TestReplayAtTheEdgeOfTheWindow(t *testing.T) {
	ts := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	s := &Server{cfg: Config{MaxClockSkew: 5 * time.Minute}, nonces: newNonces(10),
		keys: map[string]*grant{testKey(0).ID: {id: testKey(0).ID, secret: testKey(0).Secret.Reveal()}}}
	p := map[string]string{"Action": "PushSimple"}
	SignParams(p, "POST", "/", testKey(0), ts)
	for _, tc := range []struct {
		scenario string
		now      time.Time
		want     authFailure
	}{
		{"sent", ts.Add(time.Second), 0},
		{"replayed within the window", ts.Add(time.Minute), authNonceUsed},
		{"replayed at Timestamp + MaxClockSkew", ts.Add(5 * time.Minute), authNonceUsed},
		{"replayed after the window", ts.Add(5*time.Minute + time.Nanosecond), authTimestampExpired},
	} {
		_, ae := s.verify("POST", "/", p, tc.now)
		var got authFailure // 0: accepted
		if ae != nil {
			got = ae.why
		}
		if got != tc.want {
			t.Errorf("%s: outcome %d (%+v), want %d (0 accepted)", tc.scenario, got, ae, tc.want)
		}
	}
}

func TestGenerateAccessKey(t *testing.T) {
	a, err := GenerateAccessKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := GenerateAccessKey()
	if !strings.HasPrefix(a.ID, AccessKeyIDPrefix) || len(a.ID) != 24 || len(a.Secret.Reveal()) != 30 || a.Validate() != nil {
		t.Fatalf("generated %s (secret of %d characters): %v", a.ID, len(a.Secret.Reveal()), a.Validate())
	}
	if a.ID == b.ID || a.Secret == b.Secret {
		t.Fatal("two generated keys are equal")
	}
	if s := strings.Join([]string{a.Secret.String(), a.Secret.GoString()}, " "); strings.Contains(s, a.Secret.Reveal()) {
		t.Fatalf("the secret prints itself: %s", s)
	}
}

// TestSignatureBindsMethodPathAndBody: a request signed for one route is
// refused on every other route (a captured unbind never replays as a
// bind, a template create never as a delete), an RPC call signed as GET
// is refused as POST, and the only unsigned route is the OpenAPI document.
func TestSignatureBindsMethodPathAndBody(t *testing.T) {
	e := newEnv(t)
	body, _ := json.Marshal(app(map[string]any{"userId": "u1", "deliveryToken": "d1"}))
	const signedFor = "/v1/client/unbind"
	for _, route := range e.srv.Routes() {
		method, path, _ := strings.Cut(route, " ")
		path = strings.ReplaceAll(path, "{taskId}", "t1")
		switch path {
		case signedFor:
			continue
		case "/openapi.yaml":
			if status, _ := e.raw(http.MethodPost, path, body, nil); status != http.StatusNotFound {
				t.Errorf("POST %s: %d, want 404 (the document is GET only)", path, status)
			}
			continue
		case "/":
			continue // the RPC API signs its own parameters: below
		}
		t.Run(route, func(t *testing.T) {
			status, resp := e.raw(method, path+"?"+JSONRouteQuery(signedFor, testKey(0), body, time.Now()), body, nil)
			if status != http.StatusUnauthorized || resp.Code != int(schema.CodeSignatureMismatch) {
				t.Fatalf("a body signed for %s sent to %s: HTTP %d %+v, want 401 -1", signedFor, route, status, resp)
			}
		})
	}
	list := map[string]string{ParamAction: "QueryPushAnalysisTaskList", ParamVersion: RPCVersion,
		"AppId": testApp, "WorkspaceId": testSpace, "StartTime": fmt.Sprint(time.Now().Add(-time.Hour).UnixMilli())}
	SignParams(list, http.MethodGet, "/", testKey(0), time.Now())
	q := url.Values{}
	for k, v := range list {
		q.Set(k, v)
	}
	if status, eb, _ := e.rpcSend(http.MethodPost, q.Encode(), "", ""); status != http.StatusBadRequest || eb.Code != "SignatureDoesNotMatch" {
		t.Fatalf("an RPC call signed as GET sent as POST: HTTP %d %+v, want 400 SignatureDoesNotMatch", status, eb)
	}
	if status, eb, _ := e.rpcSend(http.MethodGet, q.Encode(), "", ""); status != http.StatusOK {
		t.Fatalf("the same call as signed: HTTP %d %+v", status, eb)
	}
}
