package harmonyos_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/channeltest"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/harmonyos"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
)

const (
	testApp        = "app-1"
	testProject    = "101653523863785276"
	testClientID   = "6917562345678901234"
	testKeyID      = "a1b2c3d4-kid"
	testSubAccount = "107783917"
	testRegion     = "cn"
	testPackage    = "com.example.harmony"
)

// keys are two service-account keys: [0] the app's, [1] another one.
var keys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var out [2]*rsa.PrivateKey
	for i := range out {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		out[i] = k
	}
	return out
})

func pemKey(k *rsa.PrivateKey) channels.Secret {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err)
	}
	return channels.Secret(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func testAppCreds(k *rsa.PrivateKey) harmonyos.App {
	return harmonyos.App{ProjectID: testProject, ClientID: testClientID, KeyID: testKeyID, SubAccount: testSubAccount,
		PrivateKey: pemKey(k), ReceiptID: "RCP1"}
}

func startSim(t *testing.T, mutate func(*vendorsim.HarmonyOSConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 1, HarmonyOS: vendorsim.HarmonyOSConfig{
		Apps: []vendorsim.HarmonyOSApp{{AppID: testApp, ProjectID: testProject, ClientID: testClientID, KeyID: testKeyID,
			SubAccount: testSubAccount, PrivateKey: pemKey(keys()[0]), PackageName: testPackage}},
	}}
	if mutate != nil {
		mutate(&cfg.HarmonyOS)
	}
	srv, err := allvendors.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("starting simulator: %v", err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("closing simulator: %v", err)
		}
	})
	return srv
}

func newChannel(t *testing.T, baseURL string, app harmonyos.App, timeout time.Duration, opts ...harmonyos.Option) *harmonyos.Channel {
	t.Helper()
	ch, err := harmonyos.New(harmonyos.Config{Endpoint: harmonyos.Endpoint{Region: testRegion, BaseURL: baseURL, Apps: map[string]harmonyos.App{testApp: app}, Timeout: timeout}}, opts...)
	if err != nil {
		t.Fatalf("harmonyos.New: %v", err)
	}
	return ch
}

func simChannel(t *testing.T, srv *vendorsim.Server, opts ...harmonyos.Option) *harmonyos.Channel {
	t.Helper()
	return newChannel(t, srv.HarmonyOSBaseURL(testRegion), testAppCreds(keys()[0]), 0, opts...)
}

func requests(srv *vendorsim.Server, suffix string) []vendorsim.Request {
	var out []vendorsim.Request
	for _, r := range srv.Requests(vendorsim.VendorHarmonyOS, testRegion) {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func TestConformance(t *testing.T) {
	srv := startSim(t, nil)
	h := conformance.SimHooks(conformance.Harness{
		NewChannel: func(t *testing.T, o conformance.ChannelOptions) channels.Channel {
			key := keys()[0]
			if o.BadCredentials {
				key = keys()[1] // a key the simulator cannot verify
			}
			return newChannel(t, srv.HarmonyOSBaseURL(testRegion), testAppCreds(key), o.Timeout)
		},
		AppID:        testApp,
		Token:        func(i int) string { return fmt.Sprintf("MAAALgE4G98BAAAAst-%04d", i) },
		InvalidToken: func(i int) string { return fmt.Sprintf("bad-MAAALgE4G98-%04d", i) },
		Calls:        func(t *testing.T) int { return len(requests(srv, ":send")) },
		// Push Kit limits the whole body (4096 bytes, tokens excluded),
		// not the title, body or payload on their own: no limit to test
		// here (TestMessageSizeLimitMatchesTheSimulator tests the body).
		Limits: conformance.Limits{},
	}, srv, vendorsim.VendorHarmonyOS)
	conformance.Run(t, h)
	conformance.RunRecall(t, conformance.SimRecallHarness(h, srv, vendorsim.VendorHarmonyOS, testRegion))
}

// captured is one request a fake Push Kit received.
type captured struct {
	path, auth, contentType, pushType string
	body                              []byte
}

// fakePushKit is an httptest server answering sends with answer (nil:
// 80000000).
type fakePushKit struct {
	*httptest.Server
	mu     sync.Mutex
	reqs   []captured
	answer func(w http.ResponseWriter, n int32)
	sends  atomic.Int32
}

func newFake(t *testing.T, answer func(w http.ResponseWriter, n int32)) *fakePushKit {
	t.Helper()
	f := &fakePushKit{answer: answer}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.reqs = append(f.reqs, captured{path: r.URL.Path, auth: r.Header.Get("Authorization"),
			contentType: r.Header.Get("Content-Type"), pushType: r.Header.Get("push-type"), body: body})
		f.mu.Unlock()
		n := f.sends.Add(1)
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		if f.answer != nil {
			f.answer(w, n)
			return
		}
		_, _ = io.WriteString(w, `{"code":"80000000","msg":"Success","requestId":"173077617124367218031101"}`)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePushKit) captured() []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.reqs)
}

func (f *fakePushKit) channel(t *testing.T, opts ...harmonyos.Option) *harmonyos.Channel {
	return newChannel(t, f.URL, testAppCreds(keys()[0]), 0, opts...)
}

const sendPath = "/v3/" + testProject + "/messages:send"

func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad expectation: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("body\n got %s\nwant %s", got, want)
	}
}

// verifyJWT checks a "Bearer <JWT>" as Push Kit does: PS256 with the
// app's key, kid, iss, aud, an hour between iat and exp. It returns the
// claims.
func verifyJWT(t *testing.T, auth string, key *rsa.PublicKey) map[string]any {
	t.Helper()
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	parts := strings.Split(tok, ".")
	if !ok || len(parts) != 3 {
		t.Fatalf("authorization %q is not Bearer <JWT>", auth)
	}
	enc := base64.RawURLEncoding
	hb, _ := enc.DecodeString(parts[0])
	cb, _ := enc.DecodeString(parts[1])
	sig, _ := enc.DecodeString(parts[2])
	var header map[string]string
	var claims map[string]any
	if json.Unmarshal(hb, &header) != nil || json.Unmarshal(cb, &claims) != nil {
		t.Fatalf("JWT header or claims not JSON: %s %s", hb, cb)
	}
	if !reflect.DeepEqual(header, map[string]string{"kid": testKeyID, "typ": "JWT", "alg": "PS256"}) {
		t.Errorf("JWT header %v", header)
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPSS(key, crypto.SHA256, sum[:], sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash}); err != nil {
		t.Errorf("JWT signature: %v", err)
	}
	if claims["iss"] != testSubAccount || claims["aud"] != harmonyos.Audience || claims["exp"].(float64)-claims["iat"].(float64) != 3600 {
		t.Errorf("JWT claims %v", claims)
	}
	return claims
}

// TestRequestOnTheWire checks the exact requests Push Kit receives.
func TestRequestOnTheWire(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	base := channels.Message{
		MsgID: "msg-1", TaskID: "task-1", AppID: testApp,
		Title: "标题 Title", Body: "Body text", Payload: `{"order":42}`, ExpireAt: now.Add(90 * time.Minute),
	}
	tests := []struct {
		scenario     string
		tokens       []string
		testMessage  bool
		mutate       func(m *channels.Message)
		wantPushType string
		want         []string // one body per call
	}{
		{"single notification with every extra carries its delivery id", []string{"tok-a"}, false, func(m *channels.Message) {
			m.Extras = map[string]string{
				harmonyos.ExtraCategory: "9", harmonyos.ExtraImage: "https://img.example.com/i.png", harmonyos.ExtraNotifyID: "7",
				harmonyos.ExtraBadgeAddNum: "2", harmonyos.ExtraBadgeSetNum: "0", harmonyos.ExtraBigText: "1",
				harmonyos.ExtraSound: "ring.mp3", harmonyos.ExtraClickAction: "com.example.ORDER",
				channels.ExtraURI: "https://example.com/o/42", channels.ExtraCustomPrefix + "orderId": "42",
			}
		}, "0", []string{`{"payload":{"notification":{"category":"FINANCE","title":"标题 Title","body":"Body text",
			"image":"https://img.example.com/i.png","style":1,"bigTitle":"标题 Title","bigBody":"Body text","notifyId":7,
			"sound":"ring.mp3","badge":{"addNum":2,"setNum":0},
			"clickAction":{"actionType":1,"action":"com.example.ORDER","uri":"https://example.com/o/42",
				"data":{"orderId":"42","payload":"{\"order\":42}"}}}},
			"target":{"token":["tok-a"]},"pushOptions":{"ttl":5400,"biTag":"d-tok-a","receiptId":"RCP1"}}`}},
		{"batch carries the msg id and the default category", []string{"tok-a", "tok-b", "tok-c"}, false, func(m *channels.Message) {
			m.ExpireAt, m.Payload = time.Time{}, ""
			m.Extras = map[string]string{channels.ExtraURI: "app://orders/42", harmonyos.ExtraCategory: "express"}
		}, "0", []string{`{"payload":{"notification":{"category":"EXPRESS","title":"标题 Title","body":"Body text","notifyId":1231102756,
			"clickAction":{"actionType":1,"uri":"app://orders/42"}}},
			"target":{"token":["tok-a","tok-b","tok-c"]},"pushOptions":{"biTag":"msg-1","receiptId":"RCP1"}}`}},
		{"plain notification opens the home page", []string{"tok-a"}, false, func(m *channels.Message) { m.Payload = "" },
			"0", []string{`{"payload":{"notification":{"category":"MARKETING","title":"标题 Title","body":"Body text","notifyId":1231102756,
			"clickAction":{"actionType":0}}},"target":{"token":["tok-a"]},"pushOptions":{"ttl":5400,"biTag":"d-tok-a","receiptId":"RCP1"}}`}},
		{"pass-through is a background message with a capped ttl", []string{"tok-a"}, false, func(m *channels.Message) {
			m.PassThrough, m.Title, m.Body = true, "", ""
			m.ExpireAt = now.Add(30 * 24 * time.Hour)
		}, "6", []string{`{"payload":{"extraData":"{\"order\":42}"},"target":{"token":["tok-a"]},
			"pushOptions":{"ttl":1296000,"biTag":"d-tok-a","receiptId":"RCP1"}}`}},
		{"background message with custom pairs sends them as a JSON object", []string{"tok-a"}, false, func(m *channels.Message) {
			m.PassThrough = true
			m.Extras = map[string]string{channels.ExtraCustomPrefix + "k": "v"}
		}, "6", []string{`{"payload":{"extraData":"{\"k\":\"v\",\"payload\":\"{\\\"order\\\":42}\"}"},"target":{"token":["tok-a"]},
			"pushOptions":{"ttl":5400,"biTag":"d-tok-a","receiptId":"RCP1"}}`}},
		{"test messages go ten tokens a call", []string{"t01", "t02", "t03", "t04", "t05", "t06", "t07", "t08", "t09", "t10", "t11"}, true,
			func(m *channels.Message) { m.Payload = "" }, "0", []string{
				`{"payload":{"notification":{"category":"MARKETING","title":"标题 Title","body":"Body text","notifyId":1231102756,
				"clickAction":{"actionType":0}}},"target":{"token":["t01","t02","t03","t04","t05","t06","t07","t08","t09","t10"]},
				"pushOptions":{"ttl":5400,"biTag":"msg-1","receiptId":"RCP1","testMessage":true}}`,
				`{"payload":{"notification":{"category":"MARKETING","title":"标题 Title","body":"Body text","notifyId":1231102756,
				"clickAction":{"actionType":0}}},"target":{"token":["t11"]},
				"pushOptions":{"ttl":5400,"biTag":"d-t11","receiptId":"RCP1","testMessage":true}}`}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, nil)
			app := testAppCreds(keys()[0])
			app.TestMessage = tc.testMessage
			ch := newChannel(t, f.URL, app, 0, harmonyos.WithClock(func() time.Time { return now }))
			msgs := make([]channels.Message, len(tc.tokens))
			for i, tok := range tc.tokens {
				msgs[i] = base
				tc.mutate(&msgs[i])
				msgs[i].Token, msgs[i].DeliveryID = tok, "d-"+tok
			}
			res, err := ch.Send(context.Background(), msgs)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			for i, r := range res {
				if r.Outcome != channels.Success || r.StatusCode != channels.StatusAcked || r.VendorMsgID != "173077617124367218031101" {
					t.Errorf("result %d: %+v", i, r)
				}
			}
			sends := f.captured()
			if len(sends) != len(tc.want) {
				t.Fatalf("%d send requests, want %d", len(sends), len(tc.want))
			}
			slices.SortFunc(sends, func(a, b captured) int { return len(b.body) - len(a.body) })
			for i, s := range sends {
				if s.path != sendPath || s.pushType != tc.wantPushType || s.contentType != "application/json" {
					t.Errorf("send %d: %s push-type %q content-type %q", i, s.path, s.pushType, s.contentType)
				}
				claims := verifyJWT(t, s.auth, &keys()[0].PublicKey)
				if claims["iat"].(float64) != float64(now.Unix()) {
					t.Errorf("JWT iat %v, want the clock's %d", claims["iat"], now.Unix())
				}
				jsonEqual(t, s.body, tc.want[i])
			}
		})
	}
}

// TestSimulatorSeesTheMessage checks the request as the simulator records
// it, the per-token outcomes of a partial success and the counts.
func TestSimulatorSeesTheMessage(t *testing.T) {
	srv := startSim(t, nil)
	ch := simChannel(t, srv)
	var msgs []channels.Message
	for i, tok := range []string{"tok-1", "bad-tok-2", "tok-3"} {
		msgs = append(msgs, channels.Message{DeliveryID: fmt.Sprint("d", i), MsgID: "m1", AppID: testApp, Token: tok,
			Title: "T", Body: "B", Payload: "p", Extras: map[string]string{harmonyos.ExtraCategory: "IM"}})
	}
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := []channels.Outcome{channels.Success, channels.InvalidToken, channels.Success}
	for i := range want {
		if res[i].Outcome != want[i] {
			t.Errorf("result %d: %s (%s), want %s", i, res[i].Outcome, res[i].StatusDesc, want[i])
		}
	}
	if res[1].StatusCode != channels.StatusBadDeviceToken || !strings.Contains(res[1].StatusDesc, "tokenFormatError") || res[0].VendorMsgID == "" {
		t.Errorf("results %+v", res)
	}
	sends := requests(srv, ":send")
	if len(sends) != 1 {
		t.Fatalf("%d sends, want 1", len(sends))
	}
	r := sends[0]
	if r.Path != "/harmonyos/cn"+sendPath || r.AppID != testApp || !slices.Equal(r.RegIDs, []string{"tok-1", "bad-tok-2", "tok-3"}) ||
		r.Code != harmonyos.CodePartialSuccess || r.Form.Get("header.push-type") != "0" {
		t.Errorf("recorded %s app %q tokens %v code %d push-type %q", r.Path, r.AppID, r.RegIDs, r.Code, r.Form.Get("header.push-type"))
	}
	verifyJWT(t, r.Auth, &keys()[0].PublicKey)
	var body struct {
		Payload struct {
			Notification struct {
				Category    string `json:"category"`
				ClickAction struct {
					ActionType int               `json:"actionType"`
					Data       map[string]string `json:"data"`
				} `json:"clickAction"`
			} `json:"notification"`
		} `json:"payload"`
		PushOptions struct {
			BiTag     string `json:"biTag"`
			ReceiptID string `json:"receiptId"`
		} `json:"pushOptions"`
	}
	if err := json.Unmarshal([]byte(r.Form.Get("body")), &body); err != nil {
		t.Fatalf("recorded body: %v", err)
	}
	n := body.Payload.Notification
	if n.Category != "IM" || n.ClickAction.ActionType != 0 || n.ClickAction.Data["payload"] != "p" ||
		body.PushOptions.BiTag != "m1" || body.PushOptions.ReceiptID != "RCP1" {
		t.Errorf("recorded body %s", r.Form.Get("body"))
	}
	st := srv.Stats().Vendors[vendorsim.VendorHarmonyOS].Regions[testRegion].Apps[testApp]
	if st.Messages != 2 || st.InvalidTokens != 1 || st.Tokens["tok-1"] != 1 || st.Tokens["tok-3"] != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestDifferentContentsMakeOneCallEach checks the split of a
// heterogeneous batch, the biTag of each call and the results alignment.
func TestDifferentContentsMakeOneCallEach(t *testing.T) {
	srv := startSim(t, nil)
	ch := simChannel(t, srv)
	long := strings.Repeat("m", harmonyos.MaxBiTagBytes+1)
	msgs := []channels.Message{
		{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "r1", Title: "A", Body: "a"},
		{DeliveryID: "d2", MsgID: "m2", AppID: testApp, Token: "r2", Title: "B", Body: "b"},
		{DeliveryID: "d3", MsgID: "m1", AppID: testApp, Token: "bad-r3", Title: "A", Body: "a"},
		{DeliveryID: "d4", MsgID: long, AppID: testApp, Token: "r4", Title: "C", Body: "c"},
		{DeliveryID: "d5", MsgID: long, AppID: testApp, Token: "r5", Title: "C", Body: "c"},
	}
	if ch.BatchKey(msgs[0]) != ch.BatchKey(msgs[2]) || ch.BatchKey(msgs[0]) == ch.BatchKey(msgs[1]) || ch.BatchKey(msgs[3]) == ch.BatchKey(msgs[4]) {
		t.Fatal("BatchKey does not group by content and biTag length")
	}
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := []channels.Outcome{channels.Success, channels.Success, channels.InvalidToken, channels.Success, channels.Success}
	for i := range want {
		if res[i].Outcome != want[i] {
			t.Errorf("result %d: %s, want %s", i, res[i].Outcome, want[i])
		}
	}
	got := map[string]string{}
	for _, r := range requests(srv, ":send") {
		var body struct {
			PushOptions struct {
				BiTag string `json:"biTag"`
			} `json:"pushOptions"`
		}
		_ = json.Unmarshal([]byte(r.Form.Get("body")), &body)
		got[strings.Join(r.RegIDs, ",")] = body.PushOptions.BiTag
	}
	wantCalls := map[string]string{"r1,bad-r3": "m1", "r2": "d2", "r4": "d4", "r5": "d5"}
	if !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("calls (tokens -> biTag) %v, want %v", got, wantCalls)
	}
}

// TestJWTFlow checks that the JWT is signed once and reused, signed anew
// before it expires and after Push Kit refuses it.
func TestJWTFlow(t *testing.T) {
	srv := startSim(t, nil)
	// The channel's clock starts 56 minutes back, so that every JWT it
	// signs is still valid by the simulator's (real) clock.
	var clock atomic.Int64
	clock.Store(time.Now().Add(-56 * time.Minute).UnixNano())
	ch := simChannel(t, srv, harmonyos.WithClock(func() time.Time { return time.Unix(0, clock.Load()) }))
	steps := []struct {
		scenario string
		before   func()
		wantJWTs int // distinct JWTs seen by the simulator so far
	}{
		{"first send signs", func() {}, 1},
		{"second send reuses", func() {}, 1},
		{"within the hour it is reused", func() { clock.Add(int64(50 * time.Minute)) }, 1},
		{"five minutes before expiry it is signed anew", func() { clock.Add(int64(6 * time.Minute)) }, 2},
		{"a JWT Push Kit calls expired (80200005) is replaced once", func() { srv.ExpireHarmonyOSJWTs() }, 3},
	}
	for i, st := range steps {
		st.before()
		res, err := ch.Send(context.Background(), []channels.Message{{DeliveryID: fmt.Sprint("d", i), MsgID: "m", AppID: testApp,
			Token: fmt.Sprint("tok-", i), Title: "T", Body: "B"}})
		if err != nil || res[0].Outcome != channels.Success {
			t.Fatalf("%s: Send = %v, %v", st.scenario, res, err)
		}
		jwts := map[string]bool{}
		for _, r := range requests(srv, ":send") {
			jwts[r.Auth] = true
		}
		if len(jwts) != st.wantJWTs {
			t.Errorf("%s: %d distinct JWTs, want %d", st.scenario, len(jwts), st.wantJWTs)
		}
	}
	sends := requests(srv, ":send")
	if len(sends) != len(steps)+1 || sends[len(sends)-2].Code != harmonyos.CodeJWTExpired {
		t.Errorf("%d sends, want %d with one 80200005", len(sends), len(steps)+1)
	}
}

// TestAnswerClassification maps canned Push Kit answers to outcomes.
func TestAnswerClassification(t *testing.T) {
	answer := func(code, msg string) string {
		b, _ := json.Marshal(map[string]string{"code": code, "msg": msg, "requestId": "req-1"})
		return string(b)
	}
	tests := []struct {
		scenario     string
		status       int
		header       map[string]string
		body         string
		wantErr      error
		wantCode     int
		wantOutcomes []channels.Outcome // for tokens t1, t2
		wantRetry    time.Duration
		wantSends    int
	}{
		{scenario: "success", status: 200, body: answer("80000000", "Success"),
			wantOutcomes: []channels.Outcome{channels.Success, channels.Success}, wantCode: channels.StatusAcked, wantSends: 1},
		{scenario: "partial success with a plain list", status: 200,
			body:         answer("80100000", `{"success":1,"failure":1,"illegalTokens":["t2"]}`),
			wantOutcomes: []channels.Outcome{channels.Success, channels.InvalidToken}, wantCode: channels.StatusAcked, wantSends: 1},
		{scenario: "partial success: a token of another project is dead", status: 200,
			body:         answer("80100000", `{"success":1,"failure":1,"illegalTokens":{"noRight":["t2"]}}`),
			wantOutcomes: []channels.Outcome{channels.Success, channels.InvalidToken}, wantCode: channels.StatusAcked, wantSends: 1},
		{scenario: "partial success: a refusal of the app keeps the token", status: 200,
			body:         answer("80100000", `{"success":1,"failure":1,"illegalTokens":{"noPushTypeRight":["t2"]}}`),
			wantOutcomes: []channels.Outcome{channels.Success, channels.Permanent}, wantCode: channels.StatusAcked, wantSends: 1},
		{scenario: "all tokens invalid without detail", status: 400, body: answer("80300007", "All the tokens are invalid"),
			wantOutcomes: []channels.Outcome{channels.InvalidToken, channels.InvalidToken}, wantCode: channels.StatusBadDeviceToken, wantSends: 1},
		{scenario: "all tokens refused for play voice", status: 400,
			body:         answer("80300007", `{"illegalTokens":{"notSupportPlayVoice":["t1","t2"]}}`),
			wantOutcomes: []channels.Outcome{channels.Permanent, channels.Permanent}, wantCode: harmonyos.CodeAllTokensInvalid, wantSends: 1},
		{scenario: "illegal payload", status: 400, body: answer("80100003", "Illegal payload, style must be 0, 1 or 3"),
			wantOutcomes: []channels.Outcome{channels.Permanent, channels.Permanent}, wantCode: harmonyos.CodeIllegalPayload, wantSends: 1},
		{scenario: "image not verified", status: 400, body: answer("80100022", "Anti-Spam: image not verify"),
			wantOutcomes: []channels.Outcome{channels.Permanent, channels.Permanent}, wantCode: harmonyos.CodeImageNotVerified, wantSends: 1},
		{scenario: "body too large", status: 400, body: answer("80300008", "Push message size is too long"),
			wantOutcomes: []channels.Outcome{channels.Permanent, channels.Permanent}, wantCode: harmonyos.CodeBodyTooLarge, wantSends: 1},
		{scenario: "unknown code", status: 400, body: answer("89999999", "?"),
			wantOutcomes: []channels.Outcome{channels.Permanent, channels.Permanent}, wantCode: 89999999, wantSends: 1},
		{scenario: "JWT expired twice", status: 401, body: answer("80200005", "Jwt token expired"),
			wantErr: channels.ErrPermanent, wantCode: harmonyos.CodeJWTExpired, wantSends: 2},
		{scenario: "authentication error twice", status: 401, body: answer("80200001", "Authentication Error"),
			wantErr: channels.ErrPermanent, wantCode: harmonyos.CodeAuthError, wantSends: 2},
		{scenario: "no permission", status: 403, body: answer("80300002", "No permission"),
			wantErr: channels.ErrPermanent, wantCode: harmonyos.CodeNoPermission, wantSends: 1},
		{scenario: "penalty", status: 200, body: answer("80300037", "Disable send huawei msg because of penalty"),
			wantErr: channels.ErrPermanent, wantCode: harmonyos.CodePenalty, wantSends: 1},
		{scenario: "flow control", status: 503, header: map[string]string{"Retry-After": "3"}, body: answer("81000001", "Flow control"),
			wantErr: channels.ErrTransient, wantCode: harmonyos.CodeInternalError, wantRetry: 3 * time.Second, wantSends: 1},
		{scenario: "test messages throttled", status: 400, body: answer("80300029", "exceed limit"),
			wantErr: channels.ErrTransient, wantCode: harmonyos.CodeTestMessageThrottled, wantSends: 1},
		{scenario: "inner error in a 200", status: 200, body: answer("81000001", "Inner Error"),
			wantErr: channels.ErrTransient, wantCode: harmonyos.CodeInternalError, wantSends: 1},
		{scenario: "bad gateway", status: 502, body: `<html>`, wantErr: channels.ErrTransient, wantSends: 1},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient, wantSends: 1},
		{scenario: "404 without json", status: 404, body: `not found`, wantErr: channels.ErrPermanent, wantSends: 1},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ int32) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			})
			res, err := f.channel(t).Send(context.Background(), []channels.Message{
				{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "t1", Title: "t", Body: "b"},
				{DeliveryID: "d2", MsgID: "m1", AppID: testApp, Token: "t2", Title: "t", Body: "b"},
			})
			if n := f.sends.Load(); int(n) != tc.wantSends {
				t.Errorf("%d sends, want %d", n, tc.wantSends)
			}
			if tc.wantErr != nil {
				if ve := channeltest.WantCallError(t, err, tc.wantErr, tc.wantCode, tc.wantRetry, ""); ve.Channel != harmonyos.Name {
					t.Errorf("vendor error %+v, want channel %s", ve, harmonyos.Name)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			for i, want := range tc.wantOutcomes {
				if res[i].Outcome != want {
					t.Errorf("result %d: %s (%s), want %s", i, res[i].Outcome, res[i].StatusDesc, want)
				}
			}
			if res[0].StatusCode != tc.wantCode {
				t.Errorf("status code %d, want %d", res[0].StatusCode, tc.wantCode)
			}
		})
	}
	t.Run("the JWT is renewed once after a refusal", func(t *testing.T) {
		f := newFake(t, func(w http.ResponseWriter, n int32) {
			if n == 1 {
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = io.WriteString(w, answer("80200005", "Jwt token expired"))
				return
			}
			_, _ = io.WriteString(w, answer("80000000", "Success"))
		})
		res, err := f.channel(t).Send(context.Background(), []channels.Message{{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "t1", Title: "t", Body: "b"}})
		if err != nil || res[0].Outcome != channels.Success {
			t.Fatalf("Send = %+v, %v", res, err)
		}
		c := f.captured()
		if len(c) != 2 || c[0].auth == c[1].auth {
			t.Errorf("%d calls, the second with a new JWT: %v", len(c), len(c) == 2 && c[0].auth != c[1].auth)
		}
	})
}

// TestContentChecks: messages that cannot be sent get a Permanent result
// with Push Kit's code and no call is made.
func TestContentChecks(t *testing.T) {
	now := time.Now()
	ok := channels.Message{DeliveryID: "d", MsgID: "m", AppID: testApp, Token: "t", Title: "T", Body: "B"}
	x := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		scenario string
		mutate   func(m *channels.Message)
		wantCode int
	}{
		{"payload over 4 KB", func(m *channels.Message) { m.Payload = strings.Repeat("p", 4097) }, harmonyos.CodeBodyTooLarge},
		{"message over 4 KB", func(m *channels.Message) {
			m.Body = strings.Repeat("长", 1000)
			m.Payload = strings.Repeat("p", 1500)
		}, harmonyos.CodeBodyTooLarge},
		{"empty title", func(m *channels.Message) { m.Title = " " }, harmonyos.CodeIllegalPayload},
		{"empty background message", func(m *channels.Message) { m.PassThrough = true }, harmonyos.CodeIllegalPayload},
		{"expired", func(m *channels.Message) { m.ExpireAt = now.Add(-time.Second) }, channels.StatusNone},
		{"no token", func(m *channels.Message) { m.Token = "" }, channels.StatusMissingDeviceToken},
		{"unknown category", func(m *channels.Message) { m.Extras = x(harmonyos.ExtraCategory, "15") }, harmonyos.CodeIllegalPayload},
		{"system reminder is not a HarmonyOS category", func(m *channels.Message) { m.Extras = x(harmonyos.ExtraCategory, "11") }, harmonyos.CodeIllegalPayload},
		{"play voice is not a notification", func(m *channels.Message) { m.Extras = x(harmonyos.ExtraCategory, "PLAY_VOICE") }, harmonyos.CodeIllegalPayload},
		{"badge add over 99", func(m *channels.Message) { m.Extras = x(harmonyos.ExtraBadgeAddNum, "100") }, harmonyos.CodeIllegalPayload},
		{"badge add of 0", func(m *channels.Message) { m.Extras = x(harmonyos.ExtraBadgeAddNum, "0") }, harmonyos.CodeIllegalPayload},
		{"badge set negative", func(m *channels.Message) { m.Extras = x(harmonyos.ExtraBadgeSetNum, "-1") }, harmonyos.CodeIllegalPayload},
		{"bad notify id", func(m *channels.Message) { m.Extras = x(harmonyos.ExtraNotifyID, "x") }, harmonyos.CodeIllegalPayload},
		{"http image", func(m *channels.Message) { m.Extras = x(harmonyos.ExtraImage, "http://img/i.png") }, harmonyos.CodeIllegalPayload},
		{"big text neither 0 nor 1", func(m *channels.Message) { m.Extras = x(harmonyos.ExtraBigText, "2") }, harmonyos.CodeIllegalPayload},
		{"notify type cannot be set per message", func(m *channels.Message) { m.Extras = x(channels.ExtraNotifyType, "1") }, harmonyos.CodeIllegalPayload},
		{"notify level cannot be set per message", func(m *channels.Message) { m.Extras = x(harmonyos.ExtraNotifyLevel, "1") }, harmonyos.CodeIllegalPayload},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, nil)
			m := ok
			tc.mutate(&m)
			res, err := f.channel(t).Send(context.Background(), []channels.Message{m})
			channeltest.WantRefused(t, res, err, channels.Permanent, tc.wantCode, int(f.sends.Load()))
		})
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL
	ts.Close()
	ch := newChannel(t, base, testAppCreds(keys()[0]), time.Second)
	_, err := ch.Send(context.Background(), []channels.Message{{DeliveryID: "d", MsgID: "m", AppID: testApp, Token: "t", Title: "T", Body: "B"}})
	if !errors.Is(err, channels.ErrTransient) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestCategories(t *testing.T) {
	c := harmonyos.Categories()
	if len(c) != 13 || c[0] != "IM" || c[2] != "MISS_CALL" || c[12] != "MARKETING" || slices.Contains(c, "PLAY_VOICE") {
		t.Errorf("categories %v", c)
	}
	c[0] = "changed"
	if harmonyos.Categories()[0] != "IM" {
		t.Error("Categories exposes its backing array")
	}
}

func TestParseServiceAccount(t *testing.T) {
	file := fmt.Sprintf(`{"project_id":%q,"key_id":%q,"private_key":%q,"sub_account":%q,
		"auth_uri":"https://oauth-login.cloud.huawei.com/oauth2/v3/authorize","token_uri":%q}`,
		testProject, testKeyID, pemKey(keys()[0]).Reveal(), testSubAccount, harmonyos.Audience)
	a, err := harmonyos.ParseServiceAccount([]byte(file), testClientID)
	if err != nil {
		t.Fatal(err)
	}
	want := testAppCreds(keys()[0])
	want.ReceiptID = ""
	if a != want {
		t.Errorf("parsed %v, want %v", a, want)
	}
	if _, err := harmonyos.ParseServiceAccount([]byte(`{"project_id":"p"}`), "c"); err == nil ||
		!strings.Contains(err.Error(), "key_id, private_key, sub_account") {
		t.Errorf("incomplete key file: %v", err)
	}
}

func TestConfig(t *testing.T) {
	valid := harmonyos.Config{Endpoint: harmonyos.Endpoint{Region: "cn", Apps: map[string]harmonyos.App{testApp: testAppCreds(keys()[0])}}}
	secret := strings.Split(valid.Apps[testApp].PrivateKey.Reveal(), "\n")[2]
	tests := []struct {
		scenario string
		mutate   func(c *harmonyos.Config)
		wantErr  string
	}{
		{"valid with defaults", func(c *harmonyos.Config) {}, ""},
		{"unknown region", func(c *harmonyos.Config) { c.Region = "us" }, "unknown region"},
		{"no apps", func(c *harmonyos.Config) { c.Apps = nil }, "no apps"},
		{"no project", func(c *harmonyos.Config) {
			a := testAppCreds(keys()[0])
			a.ProjectID = ""
			c.Apps = map[string]harmonyos.App{"a": a}
		}, "projectId"},
		{"no client id", func(c *harmonyos.Config) {
			a := testAppCreds(keys()[0])
			a.ClientID = ""
			c.Apps = map[string]harmonyos.App{"a": a}
		}, "clientId"},
		{"no key id", func(c *harmonyos.Config) {
			a := testAppCreds(keys()[0])
			a.KeyID = ""
			c.Apps = map[string]harmonyos.App{"a": a}
		}, "keyId"},
		{"no sub account", func(c *harmonyos.Config) {
			a := testAppCreds(keys()[0])
			a.SubAccount = ""
			c.Apps = map[string]harmonyos.App{"a": a}
		}, "subAccount"},
		{"a private key that is not PEM", func(c *harmonyos.Config) {
			a := testAppCreds(keys()[0])
			a.PrivateKey = "not a key"
			c.Apps = map[string]harmonyos.App{"a": a}
		}, "privateKey"},
		{"batch too large", func(c *harmonyos.Config) { c.MaxBatch = 1001 }, "maxBatch"},
		{"bad base url", func(c *harmonyos.Config) { c.BaseURL = "ftp://x" }, "baseUrl"},
		{"bad default category", func(c *harmonyos.Config) { c.DefaultCategory = "SYSTEM_REMINDER" }, "defaultCategory"},
		{"message limit over Push Kit's", func(c *harmonyos.Config) { c.Limits.MaxMessageBytes = 5000 }, "limits"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := valid
			tc.mutate(&c)
			err := c.WithDefaults().Validate()
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
	d := valid.WithDefaults()
	if d.BaseURL != harmonyos.DefaultBaseURL || d.MaxBatch != 1000 || d.DefaultCategory != "MARKETING" ||
		d.Limits != (harmonyos.Limits{MaxPayloadBytes: 4096, MaxMessageBytes: 4096}) {
		t.Errorf("defaults not applied: %v", d)
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{d.String(), fmt.Sprintf("%v", d), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", d), string(js)} {
		if strings.Contains(s, secret) {
			t.Errorf("private key printed: %s", s)
		}
		if !strings.Contains(s, channels.Redacted) {
			t.Errorf("no redaction marker: %s", s)
		}
	}
}

// TestMessageSizeLimitMatchesTheSimulator: a body of exactly 4096 bytes
// (tokens excluded) is accepted by the simulator; one byte more is refused
// by the channel without a call.
func TestMessageSizeLimitMatchesTheSimulator(t *testing.T) {
	srv := startSim(t, nil)
	ch := simChannel(t, srv)
	m := channels.Message{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "tok-1",
		Title: "T", Body: strings.Repeat("长", 1000), Payload: "p"}
	size := func(m channels.Message) int {
		req, _, err := ch.Request(ch.Config().Apps[testApp], []channels.Message{m}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req.Target.Token = nil
		b, err := json.Marshal(req)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	m.Payload = strings.Repeat("p", 1+harmonyos.MaxMessageBytes-size(m))
	if got := size(m); got != harmonyos.MaxMessageBytes {
		t.Fatalf("message size %d, want %d", got, harmonyos.MaxMessageBytes)
	}
	res, err := ch.Send(context.Background(), []channels.Message{m})
	if err != nil || res[0].Outcome != channels.Success {
		t.Fatalf("message at the limit: %v %+v", err, res)
	}
	m.Payload += "p"
	res, err = ch.Send(context.Background(), []channels.Message{m})
	if err != nil || res[0].Outcome != channels.Permanent || res[0].StatusCode != harmonyos.CodeBodyTooLarge {
		t.Fatalf("message over the limit: %v %+v", err, res)
	}
	if n := len(requests(srv, ":send")); n != 1 {
		t.Errorf("%d sends, want 1", n)
	}
}

// TestRecallOnTheWire checks the revocation request and that background
// messages are not recalled.
func TestRecallOnTheWire(t *testing.T) {
	f := newFake(t, nil)
	ch := f.channel(t)
	msgs := []channels.Message{
		{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "t1", Extras: map[string]string{harmonyos.ExtraNotifyID: "77"}},
		{DeliveryID: "d2", MsgID: "m1", AppID: testApp, Token: "t2", Extras: map[string]string{harmonyos.ExtraNotifyID: "77"}},
		{DeliveryID: "d3", MsgID: "m1", AppID: testApp, Token: "t3", PassThrough: true},
	}
	res, err := ch.Recall(context.Background(), msgs, []string{"", "", ""})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome != channels.Success || res[1].Outcome != channels.Success || res[2].Outcome != channels.Permanent {
		t.Errorf("results %+v", res)
	}
	c := f.captured()
	if len(c) != 1 || c[0].path != "/v1/"+testClientID+"/messages:revoke" || c[0].pushType != "0" {
		t.Fatalf("recall calls %+v", c)
	}
	verifyJWT(t, c[0].auth, &keys()[0].PublicKey)
	jsonEqual(t, c[0].body, `{"notifyId":77,"token":["t1","t2"]}`)
}
