package oppo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/channeltest"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/oppo"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/internal/testinfra"
)

const (
	testApp    = "app-1"
	testKey    = "oppo-app-key-1"
	testMaster = "oppo-master-secret-1"
	testRegion = "sg"
)

func startSim(t *testing.T, mutate func(*vendorsim.OPPOConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 1, OPPO: vendorsim.OPPOConfig{
		Apps: []vendorsim.OPPOApp{{AppID: testApp, AppKey: testKey, MasterSecret: testMaster}},
	}}
	if mutate != nil {
		mutate(&cfg.OPPO)
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

func newChannel(t *testing.T, baseURL, master string, timeout time.Duration, mutate func(*oppo.Config), opts ...oppo.Option) *oppo.Channel {
	t.Helper()
	cfg := oppo.Config{
		Endpoint: oppo.Endpoint{
			Region:  testRegion,
			BaseURL: baseURL,
			Apps:    map[string]oppo.App{testApp: {AppKey: testKey, MasterSecret: channels.Secret(master)}},
			Timeout: timeout,
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ch, err := oppo.New(cfg, opts...)
	if err != nil {
		t.Fatalf("oppo.New: %v", err)
	}
	return ch
}

// requests returns the recorded requests to path (a suffix), in order.
func requests(srv *vendorsim.Server, path string) []vendorsim.Request {
	var out []vendorsim.Request
	for _, r := range srv.Requests(vendorsim.VendorOPPO, "") {
		if strings.HasSuffix(r.Path, path) {
			out = append(out, r)
		}
	}
	return out
}

// pushCalls counts push calls (unicast and unicast_batch), not auth calls.
func pushCalls(srv *vendorsim.Server) int {
	return len(requests(srv, oppo.UnicastPath)) + len(requests(srv, oppo.UnicastBatchPath))
}

func TestConformance(t *testing.T) {
	srv := startSim(t, nil)
	conformance.Run(t, conformance.SimHooks(conformance.Harness{
		NewChannel: func(t *testing.T, o conformance.ChannelOptions) channels.Channel {
			master := testMaster
			if o.BadCredentials {
				master = "wrong-master-secret"
			}
			return newChannel(t, srv.OPPOBaseURL(testRegion), master, o.Timeout, nil)
		},
		AppID:        testApp,
		Token:        func(i int) string { return fmt.Sprintf("CN_regid%04d", i) },
		InvalidToken: func(i int) string { return fmt.Sprintf("bad-regid%04d", i) },
		Calls:        func(t *testing.T) int { return pushCalls(srv) },
		Limits: conformance.Limits{
			MaxTitleRunes:   oppo.MaxTitleRunes,
			MaxBodyRunes:    oppo.MaxContentRunes,
			MaxPayloadBytes: oppo.MaxPayloadBytes,
		},
		PassThroughUnsupported: true,
	}, srv, vendorsim.VendorOPPO))
}

// TestRequestOnTheWire checks the exact HTTP requests OPPO receives: the
// auth request and the unicast / unicast_batch bodies.
func TestRequestOnTheWire(t *testing.T) {
	srv := startSim(t, nil)
	now := time.Now().Truncate(time.Second)
	ch := newChannel(t, srv.OPPOBaseURL("eu"), testMaster, 0, func(c *oppo.Config) {
		c.ChannelID = "default_channel"
		c.CallbackURL = "https://receipts.example.com/oppo"
		c.ReceiptSigner = testinfra.IDKey()
	}, oppo.WithClock(func() time.Time { return now }))

	base := channels.Message{
		MsgID: "msg-1", TaskID: "task-1", AppID: testApp,
		Title: "标题 Title", Body: "Body text", Payload: `{"order":42}`,
		ExpireAt: now.Add(90 * time.Minute),
		Extras: map[string]string{
			channels.ExtraURI:                      "https://example.com/o/42",
			oppo.ExtraCategory:                     "4",
			oppo.ExtraNotifyLevel:                  "2",
			oppo.ExtraChannelID:                    "orders",
			oppo.ExtraNotifyID:                     "7",
			channels.ExtraCustomPrefix + "orderId": "42",
		},
	}
	wantNotification := func(deliveryID string) oppo.Notification {
		return oppo.Notification{
			AppMessageID:      deliveryID,
			Title:             "标题 Title",
			Content:           "Body text",
			ClickActionType:   oppo.ClickOpenURL,
			ClickActionURL:    "https://example.com/o/42",
			ActionParameters:  `{"orderId":"42","payload":"{\"order\":42}"}`,
			OffLine:           true,
			OffLineTTL:        int64((90 * time.Minute).Seconds()),
			ChannelID:         "orders",
			CallBackURL:       "https://receipts.example.com/oppo?app=" + testApp,
			CallBackParameter: testinfra.IDKey().ReceiptParam("oppo", testApp, deliveryID),
			NotifyID:          7,
			Category:          "ORDER",
			NotifyLevel:       2,
		}
	}
	tests := []struct {
		scenario string
		tokens   []string
		wantPath string
	}{
		{"single message uses unicast", []string{"CN_a"}, oppo.UnicastPath},
		{"batch uses unicast_batch", []string{"CN_a", "CN_b", "bad-c"}, oppo.UnicastBatchPath},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			msgs := make([]channels.Message, len(tc.tokens))
			for i, tok := range tc.tokens {
				msgs[i] = base
				msgs[i].Token, msgs[i].DeliveryID = tok, "d-"+tok
			}
			res, err := ch.Send(context.Background(), msgs)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := srv.Requests(vendorsim.VendorOPPO, "eu")
			push := reqs[len(reqs)-1]
			if push.Method != http.MethodPost || push.Path != "/oppo/eu"+tc.wantPath {
				t.Fatalf("push request %s %s, want POST /oppo/eu%s", push.Method, push.Path, tc.wantPath)
			}
			if push.Auth == "" || push.Form.Get("auth_token") != push.Auth {
				t.Errorf("auth_token header %q, form %q: want the same token in both", push.Auth, push.Form.Get("auth_token"))
			}
			var got []oppo.Message
			if tc.wantPath == oppo.UnicastPath {
				var m oppo.Message
				if err := json.Unmarshal([]byte(push.Form.Get("message")), &m); err != nil {
					t.Fatalf("form message %q: %v", push.Form.Get("message"), err)
				}
				got = []oppo.Message{m}
			} else if err := json.Unmarshal([]byte(push.Form.Get("messages")), &got); err != nil {
				t.Fatalf("form messages %q: %v", push.Form.Get("messages"), err)
			}
			if len(push.Form) != 2 {
				t.Errorf("form fields %v, want only auth_token and the message(s)", push.Form)
			}
			var want []oppo.Message
			for _, tok := range tc.tokens {
				want = append(want, oppo.Message{TargetType: 2, TargetValue: tok, Notification: wantNotification("d-" + tok)})
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("messages\n got %+v\nwant %+v", got, want)
			}
			for i, tok := range tc.tokens {
				want := channels.Success
				if strings.HasPrefix(tok, "bad-") {
					want = channels.InvalidToken
				}
				if res[i].Outcome != want || (want == channels.Success && res[i].VendorMsgID == "") {
					t.Errorf("result %d (%s): %+v, want %s with a message id", i, tok, res[i], want)
				}
			}
		})
	}

	auth := requests(srv, oppo.AuthPath)
	if len(auth) != 0 {
		t.Fatalf("auth requests after Reset: %d (the token is cached)", len(auth))
	}
}

func TestAuthRequest(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.OPPOBaseURL(testRegion), testMaster, 0, nil)
	before := time.Now().UnixMilli()
	if _, err := ch.Send(context.Background(), []channels.Message{msg("CN_a", "d1")}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	auth := requests(srv, oppo.AuthPath)
	if len(auth) != 1 {
		t.Fatalf("%d auth requests, want 1", len(auth))
	}
	f := auth[0].Form
	stamp, err := strconv.ParseInt(f.Get("timestamp"), 10, 64)
	if err != nil || stamp < before || stamp > time.Now().UnixMilli() {
		t.Errorf("timestamp %q is not the current time in milliseconds", f.Get("timestamp"))
	}
	if f.Get("app_key") != testKey || f.Get("sign") != oppo.Sign(testKey, f.Get("timestamp"), testMaster) || len(f) != 3 {
		t.Errorf("auth form %v, want app_key, timestamp and sign = sha256(app_key+timestamp+master_secret)", f)
	}
	if strings.Contains(fmt.Sprint(f), testMaster) {
		t.Error("the master secret was sent")
	}
}

func msg(token, deliveryID string) channels.Message {
	return channels.Message{DeliveryID: deliveryID, MsgID: "m1", AppID: testApp, Token: token, Title: "t", Body: "b"}
}

// TestAuthTokenFlow checks the auth-token cache: fetched once, reused,
// refreshed after expiry, shared by concurrent callers, replaced once when
// OPPO refuses it.
func TestAuthTokenFlow(t *testing.T) {
	tests := []struct {
		scenario  string
		lifetime  time.Duration // simulator's token lifetime; 0 = default
		run       func(t *testing.T, ch *oppo.Channel, clock *fakeClock)
		wantAuth  int
		wantPushs int
	}{
		{"fetched once and reused", 0, func(t *testing.T, ch *oppo.Channel, _ *fakeClock) {
			for i := range 3 {
				mustSend(t, ch, msg("CN_a", fmt.Sprint("d", i)))
			}
		}, 1, 3},
		{"refreshed after expiry", 0, func(t *testing.T, ch *oppo.Channel, clock *fakeClock) {
			mustSend(t, ch, msg("CN_a", "d1"))
			clock.advance(oppo.AuthTokenLifetime - time.Minute) // inside the refresh margin
			mustSend(t, ch, msg("CN_a", "d2"))
			mustSend(t, ch, msg("CN_a", "d3"))
		}, 2, 3},
		{"concurrent callers share one fetch", 0, func(t *testing.T, ch *oppo.Channel, _ *fakeClock) {
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Go(func() { mustSend(t, ch, msg("CN_a", fmt.Sprint("d", i))) })
			}
			wg.Wait()
		}, 1, 16},
		{"token refused by OPPO is replaced once", 300 * time.Millisecond, func(t *testing.T, ch *oppo.Channel, _ *fakeClock) {
			mustSend(t, ch, msg("CN_a", "d1"))
			time.Sleep(400 * time.Millisecond) // the simulator's token expired; the channel's clock says it is fresh
			mustSend(t, ch, msg("CN_a", "d2"))
		}, 2, 3},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv := startSim(t, func(c *vendorsim.OPPOConfig) { c.AuthTokenLifetime = vendorsim.Duration(tc.lifetime) })
			clock := &fakeClock{t: time.Now()}
			ch := newChannel(t, srv.OPPOBaseURL(testRegion), testMaster, 0, nil, oppo.WithClock(clock.now))
			tc.run(t, ch, clock)
			if got := len(requests(srv, oppo.AuthPath)); got != tc.wantAuth {
				t.Errorf("%d auth requests, want %d", got, tc.wantAuth)
			}
			if got := pushCalls(srv); got != tc.wantPushs {
				t.Errorf("%d push calls, want %d", got, tc.wantPushs)
			}
		})
	}
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func mustSend(t *testing.T, ch *oppo.Channel, msgs ...channels.Message) []channels.Result {
	t.Helper()
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Errorf("Send: %v", err)
		return nil
	}
	for i, r := range res {
		if r.Outcome != channels.Success {
			t.Errorf("result %d: %+v, want success", i, r)
		}
	}
	return res
}

// TestBatchResults checks per-message results of a batch, duplicates
// included.
func TestBatchResults(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.OPPOBaseURL(testRegion), testMaster, 0, nil)
	msgs := []channels.Message{msg("CN_a", "d1"), msg("bad-b", "d2"), msg("CN_a", "d3"), msg("", "d4"), msg("CN_c", "d5")}
	msgs[4].Title = "different content, same call"
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := []channels.Outcome{channels.Success, channels.InvalidToken, channels.Success, channels.Permanent, channels.Success}
	for i := range want {
		if res[i].Outcome != want[i] {
			t.Errorf("result %d: %+v, want %s", i, res[i], want[i])
		}
	}
	if res[0].VendorMsgID == res[2].VendorMsgID || res[1].StatusCode != channels.StatusBadDeviceToken || res[3].StatusCode != channels.StatusMissingDeviceToken {
		t.Errorf("results %+v", res)
	}
	if n := len(requests(srv, oppo.UnicastBatchPath)); n != 1 {
		t.Errorf("%d unicast_batch calls, want 1 for mixed contents", n)
	}
	st := srv.Stats().Vendors[vendorsim.VendorOPPO].Regions[testRegion].Apps[testApp]
	if st.Messages != 3 || st.InvalidTokens != 1 {
		t.Errorf("simulator stats %+v, want 3 messages and 1 invalid token", st)
	}
}

// TestChecks covers messages refused before any call.
func TestChecks(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.OPPOBaseURL(testRegion), testMaster, 0, nil)
	tests := []struct {
		scenario    string
		mutate      func(m *channels.Message)
		wantOutcome channels.Outcome
		wantCode    int
	}{
		{"pass-through", func(m *channels.Message) { m.PassThrough = true }, channels.Permanent, channels.StatusNone},
		{"empty body", func(m *channels.Message) { m.Body = "" }, channels.Permanent, oppo.CodeMissingRequiredArguments},
		{"content too long", func(m *channels.Message) { m.Body = strings.Repeat("内", 201) }, channels.Permanent, oppo.CodeInvalidArguments},
		{"unknown category", func(m *channels.Message) { m.Extras = map[string]string{oppo.ExtraCategory: "GOSSIP"} }, channels.Permanent, oppo.CodeCategoryError},
		{"notify level without category", func(m *channels.Message) { m.Extras = map[string]string{oppo.ExtraNotifyLevel: "2"} }, channels.Permanent, oppo.CodeCategoryError},
		{"bad notify level", func(m *channels.Message) {
			m.Extras = map[string]string{oppo.ExtraCategory: "IM", oppo.ExtraNotifyLevel: "3"}
		}, channels.Permanent, oppo.CodeCategoryError},
		{"bad notify id", func(m *channels.Message) { m.Extras = map[string]string{oppo.ExtraNotifyID: "x"} }, channels.Permanent, oppo.CodeInvalidArguments},
		{"malformed token", func(m *channels.Message) { m.Token = "CN_a,CN_b" }, channels.InvalidToken, channels.StatusBadDeviceToken},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			m := msg("CN_a", "d1")
			tc.mutate(&m)
			res, err := ch.Send(context.Background(), []channels.Message{m})
			channeltest.WantRefused(t, res, err, tc.wantOutcome, tc.wantCode, len(srv.Requests(vendorsim.VendorOPPO, "")))
		})
	}
}

// TestAnswerClassification maps canned OPPO answers to outcomes.
func TestAnswerClassification(t *testing.T) {
	const okAuth = `{"code":0,"message":"Success","data":{"auth_token":"tok-%d","create_time":1}}`
	tests := []struct {
		scenario    string
		batch       bool
		status      int
		header      map[string]string
		body        string
		wantErr     error // class of the whole-call error, nil for results
		wantCode    int   // VendorError.Code or first result's status code
		wantOutcome []channels.Outcome
		wantRetry   time.Duration
		wantAuth    int
	}{
		{scenario: "unicast success", status: 200, body: `{"code":0,"message":"Success","data":{"messageId":"k-1-1-abc"}}`,
			wantOutcome: []channels.Outcome{channels.Success}, wantCode: channels.StatusAcked, wantAuth: 1},
		{scenario: "unicast invalid registration id", status: 200, body: `{"code":10000,"message":"registration_id格式不正确"}`,
			wantOutcome: []channels.Outcome{channels.InvalidToken}, wantCode: channels.StatusBadDeviceToken, wantAuth: 1},
		{scenario: "batch with per-message errors", batch: true, status: 200,
			body:        `{"code":0,"message":"","data":[{"messageId":"k-1","registrationId":"CN_a"},{"registrationId":"CN_b","errorCode":10000,"errorMessage":"bad"},{"registrationId":"CN_c","errorCode":-2,"errorMessage":"flow"}]}`,
			wantOutcome: []channels.Outcome{channels.Success, channels.InvalidToken, channels.Transient}, wantCode: channels.StatusAcked, wantAuth: 1},
		{scenario: "auth token refused twice", status: 200, body: `{"code":11,"message":"Invalid AuthToken"}`,
			wantErr: channels.ErrPermanent, wantCode: oppo.CodeInvalidAuthToken, wantAuth: 2},
		{scenario: "flow control", status: 200, body: `{"code":-2,"message":"Service in Flow Control"}`,
			wantErr: channels.ErrTransient, wantCode: oppo.CodeFlowControl, wantAuth: 1},
		{scenario: "app call limited with retry-after", status: 200, header: map[string]string{"Retry-After": "2"},
			body: `{"code":13,"message":"App Call Limited"}`, wantErr: channels.ErrTransient, wantCode: oppo.CodeAppCallLimited,
			wantRetry: 2 * time.Second, wantAuth: 1},
		{scenario: "daily limit", status: 200, body: `{"code":33,"message":"The number of messages exceeds the daily limit"}`,
			wantErr: channels.ErrTransient, wantCode: oppo.CodeDailyLimitExceeded, wantAuth: 1},
		{scenario: "api permission denied", status: 200, body: `{"code":30,"message":"Api Permission Denied"}`,
			wantErr: channels.ErrPermanent, wantCode: oppo.CodeAPIPermissionDenied, wantAuth: 1},
		{scenario: "invalid arguments", status: 200, body: `{"code":41,"message":"Invalid Arguments"}`,
			wantOutcome: []channels.Outcome{channels.Permanent}, wantCode: oppo.CodeInvalidArguments, wantAuth: 1},
		{scenario: "unknown code", status: 200, body: `{"code":4242,"message":"?"}`,
			wantOutcome: []channels.Outcome{channels.Permanent}, wantCode: 4242, wantAuth: 1},
		{scenario: "http 429", status: 429, header: map[string]string{"Retry-After": "3"}, body: `slow down`,
			wantErr: channels.ErrTransient, wantRetry: 3 * time.Second, wantAuth: 1},
		{scenario: "http 502", status: 502, body: `<html>bad gateway</html>`, wantErr: channels.ErrTransient, wantAuth: 1},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient, wantAuth: 1},
		{scenario: "http 404 without json", status: 404, body: `not found`, wantErr: channels.ErrPermanent, wantAuth: 1},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var auths atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == oppo.AuthPath {
					n := auths.Add(1)
					_, _ = fmt.Fprintf(w, okAuth, n)
					return
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			ch := newChannel(t, ts.URL, testMaster, 0, nil)
			msgs := []channels.Message{msg("CN_a", "d1")}
			if tc.batch {
				msgs = append(msgs, msg("CN_b", "d2"), msg("CN_c", "d3"))
			}
			res, err := ch.Send(context.Background(), msgs)
			if got := int(auths.Load()); got != tc.wantAuth {
				t.Errorf("%d auth requests, want %d", got, tc.wantAuth)
			}
			if tc.wantErr != nil {
				_ = channeltest.WantCallError(t, err, tc.wantErr, tc.wantCode, tc.wantRetry, testMaster)
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			for i, want := range tc.wantOutcome {
				if res[i].Outcome != want {
					t.Errorf("result %d: %+v, want %s", i, res[i], want)
				}
			}
			if res[0].StatusCode != tc.wantCode {
				t.Errorf("status code %d (%s), want %d", res[0].StatusCode, res[0].StatusDesc, tc.wantCode)
			}
		})
	}
}

func TestAuthErrors(t *testing.T) {
	tests := []struct {
		scenario string
		status   int
		body     string
		wantErr  error
		wantCode int
	}{
		{"invalid signature", 200, `{"code":16,"message":"Invalid Signature"}`, channels.ErrPermanent, oppo.CodeInvalidSignature},
		{"invalid app key", 200, `{"code":14,"message":"Invalid App Key"}`, channels.ErrPermanent, oppo.CodeInvalidAppKey},
		{"service unavailable", 200, `{"code":-1,"message":"Service Currently Unavailable"}`, channels.ErrTransient, oppo.CodeServiceUnavailable},
		{"success without token", 200, `{"code":0,"message":"Success","data":{}}`, channels.ErrTransient, 0},
		{"http 503", 503, ``, channels.ErrTransient, 0},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var pushes atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != oppo.AuthPath {
					pushes.Add(1)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			ch := newChannel(t, ts.URL, testMaster, 0, nil)
			_, err := ch.Send(context.Background(), []channels.Message{msg("CN_a", "d1")})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want class %v", err, tc.wantErr)
			}
			var ve *channels.VendorError
			if !errors.As(err, &ve) || ve.Code != tc.wantCode {
				t.Errorf("vendor error %+v, want code %d", ve, tc.wantCode)
			}
			if pushes.Load() != 0 {
				t.Error("a push was made without a token")
			}
		})
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL
	ts.Close()
	ch := newChannel(t, base, testMaster, time.Second, nil)
	_, err := ch.Send(context.Background(), []channels.Message{msg("CN_a", "d1")})
	if !errors.Is(err, channels.ErrTransient) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestBuildMessage(t *testing.T) {
	now := time.Now()
	ch := newChannel(t, "http://127.0.0.1:1", testMaster, 0, nil)
	tests := []struct {
		scenario string
		m        channels.Message
		check    func(m oppo.Message) bool
	}{
		{"validity capped at ten days", channels.Message{Token: "CN_a", ExpireAt: now.Add(30 * 24 * time.Hour)},
			func(m oppo.Message) bool { return m.Notification.OffLineTTL == int64(oppo.MaxOffLineTTL/time.Second) }},
		{"no expiry leaves the vendor default", channels.Message{Token: "CN_a"},
			func(m oppo.Message) bool { return m.Notification.OffLineTTL == 0 && m.Notification.OffLine }},
		{"intent uri", channels.Message{Token: "CN_a", Extras: map[string]string{channels.ExtraURI: "myapp://order/42"}},
			func(m oppo.Message) bool {
				return m.Notification.ClickActionType == oppo.ClickIntentURI && m.Notification.ClickActionURL == "myapp://order/42"
			}},
		{"no uri launches the app", channels.Message{Token: "CN_a"},
			func(m oppo.Message) bool { return m.Notification.ClickActionType == oppo.ClickLaunchApp }},
		{"long delivery id is not a callback parameter", channels.Message{Token: "CN_a", DeliveryID: strings.Repeat("d", 51)},
			func(m oppo.Message) bool {
				return m.Notification.CallBackParameter == "" && m.Notification.AppMessageID == strings.Repeat("d", 51)
			}},
		{"category by name", channels.Message{Token: "CN_a", Extras: map[string]string{oppo.ExtraCategory: "im"}},
			func(m oppo.Message) bool { return m.Notification.Category == "IM" }},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			if m := ch.BuildMessage(tc.m, now); !tc.check(m) {
				t.Errorf("message %+v", m)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	valid := oppo.Config{Endpoint: oppo.Endpoint{Region: "cn", Apps: map[string]oppo.App{testApp: {AppKey: testKey, MasterSecret: "s3cr3t-value"}}}}
	tests := []struct {
		scenario string
		mutate   func(c *oppo.Config)
		wantErr  string
	}{
		{"valid with defaults", func(c *oppo.Config) {}, ""},
		{"unknown region", func(c *oppo.Config) { c.Region = "us" }, "unknown region"},
		{"no apps", func(c *oppo.Config) { c.Apps = nil }, "no apps"},
		{"empty app key", func(c *oppo.Config) { c.Apps = map[string]oppo.App{"a": {MasterSecret: "s"}} }, "empty appKey"},
		{"empty master secret", func(c *oppo.Config) { c.Apps = map[string]oppo.App{"a": {AppKey: "k"}} }, "empty masterSecret"},
		{"batch too large", func(c *oppo.Config) { c.MaxBatch = 1001 }, "maxBatch"},
		{"bad base url", func(c *oppo.Config) { c.BaseURL = "ftp://x" }, "baseUrl"},
		{"bad callback url", func(c *oppo.Config) { c.CallbackURL = "nope" }, "callbackUrl"},
		{"negative timeout", func(c *oppo.Config) { c.Timeout = -time.Second }, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := valid
			c.Apps = map[string]oppo.App{testApp: valid.Apps[testApp]}
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
	if d.BaseURL != "https://api.push.oppomobile.com" || d.Timeout != oppo.DefaultTimeout || d.MaxBatch != 1000 ||
		d.Limits != (oppo.Limits{MaxTitleRunes: 32, MaxContentRunes: 200, MaxPayloadBytes: 2048}) {
		t.Errorf("defaults not applied: %v", d)
	}
	if u, _ := oppo.RegionBaseURL("sg"); u != "https://api-intl.push.oppomobile.com" {
		t.Errorf("sg host %q", u)
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{d.String(), fmt.Sprintf("%v", d), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", d), string(js)} {
		if strings.Contains(s, "s3cr3t-value") || !strings.Contains(s, channels.Redacted) {
			t.Errorf("secret printed or not redacted: %s", s)
		}
	}
}
