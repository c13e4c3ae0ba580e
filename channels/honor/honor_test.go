package honor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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
	"github.com/pushpipe/pushpipe/channels/honor"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	honorsim "github.com/pushpipe/pushpipe/channels/vendorsim/honor"
)

const (
	testApp      = "app-1"
	testHonorID  = "104420205"
	testClientID = "honor-client-1"
	testSecret   = "honor-client-secret-1"
	testRegion   = "sg"
)

func startSim(t *testing.T, mutate func(*vendorsim.HonorConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 1, Honor: vendorsim.HonorConfig{
		Apps: []vendorsim.HonorApp{{AppID: testApp, HonorAppID: testHonorID, ClientID: testClientID, ClientSecret: testSecret}},
	}}
	if mutate != nil {
		mutate(&cfg.Honor)
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

func newChannel(t *testing.T, baseURL, secret string, timeout time.Duration, mutate func(*honor.Config), opts ...honor.Option) *honor.Channel {
	t.Helper()
	cfg := honor.Config{
		Endpoint: honor.Endpoint{
			Region:  testRegion,
			BaseURL: baseURL,
			Apps:    map[string]honor.App{testApp: {AppID: testHonorID, ClientID: testClientID, ClientSecret: channels.Secret(secret)}},
			Timeout: timeout,
		},
		AuthURL: baseURL + honorsim.AuthPath,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ch, err := honor.New(cfg, opts...)
	if err != nil {
		t.Fatalf("honor.New: %v", err)
	}
	return ch
}

func requests(srv *vendorsim.Server, suffix string) []vendorsim.Request {
	var out []vendorsim.Request
	for _, r := range srv.Requests(vendorsim.VendorHonor, "") {
		if strings.HasSuffix(r.Path, suffix) {
			out = append(out, r)
		}
	}
	return out
}

func sendCalls(srv *vendorsim.Server) int { return len(requests(srv, "/sendMessage")) }

func TestConformance(t *testing.T) {
	srv := startSim(t, nil)
	conformance.Run(t, conformance.SimHooks(conformance.Harness{
		NewChannel: func(t *testing.T, o conformance.ChannelOptions) channels.Channel {
			secret := testSecret
			if o.BadCredentials {
				secret = "wrong-secret"
			}
			return newChannel(t, srv.HonorBaseURL(testRegion), secret, o.Timeout, nil)
		},
		AppID:        testApp,
		Token:        func(i int) string { return fmt.Sprintf("BAEAAAAAB.token%04d", i) },
		InvalidToken: func(i int) string { return fmt.Sprintf("bad-token%04d", i) },
		Calls:        func(t *testing.T) int { return sendCalls(srv) },
		Limits: conformance.Limits{
			MaxTitleRunes:   honor.MaxTitleRunes,
			MaxBodyRunes:    honor.MaxBodyRunes,
			MaxPayloadBytes: honor.MaxPayloadBytes,
		},
	}, srv, vendorsim.VendorHonor))
}

// TestRequestOnTheWire checks the exact sendMessage requests Honor
// receives: path, headers and body.
func TestRequestOnTheWire(t *testing.T) {
	srv := startSim(t, nil)
	now := time.Now().Truncate(time.Second)
	ch := newChannel(t, srv.HonorBaseURL("eu"), testSecret, 0, nil, honor.WithClock(func() time.Time { return now }))
	base := channels.Message{
		MsgID: "msg-1", TaskID: "task-1", AppID: testApp,
		Title: "标题 Title", Body: "Body text", Payload: `{"order":42}`,
		ExpireAt: now.Add(90 * time.Minute),
		Extras: map[string]string{
			channels.ExtraURI:                      "https://example.com/o/42",
			honor.ExtraImportance:                  "2",
			honor.ExtraImage:                       "https://example.com/i.png",
			honor.ExtraBadgeAddNum:                 "1",
			honor.ExtraBadgeClass:                  "com.example.Main",
			honor.ExtraBigText:                     "1",
			channels.ExtraCustomPrefix + "orderId": "42",
		},
	}
	wantRequest := func(tokens []string, biTag string) honor.Request {
		return honor.Request{
			Data:  `{"order":42,"orderId":"42"}`,
			Token: tokens,
			Android: &honor.AndroidConfig{
				TTL:   strconv.Itoa(int((90 * time.Minute).Seconds())) + "s",
				BiTag: biTag,
				Notification: &honor.AndroidNotification{
					Title: "标题 Title", Body: "Body text",
					ClickAction: honor.ClickAction{Type: honor.ClickURL, URL: "https://example.com/o/42"},
					Image:       "https://example.com/i.png",
					Style:       1, BigTitle: "标题 Title", BigBody: "Body text",
					Importance: honor.ImportanceLow,
					Badge:      &honor.Badge{AddNum: 1, BadgeClass: "com.example.Main"},
				},
			},
		}
	}
	tests := []struct {
		scenario  string
		tokens    []string
		wantBiTag string
	}{
		{"single message carries its delivery id as biTag", []string{"tok-a"}, "d-tok-a"},
		{"batch carries the msg id as biTag", []string{"tok-a", "tok-b", "bad-c"}, "msg-1"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			msgs := make([]channels.Message, len(tc.tokens))
			for i, tok := range tc.tokens {
				msgs[i] = base
				msgs[i].Token, msgs[i].DeliveryID = tok, "d-"+tok
			}
			before := time.Now().UnixMilli()
			res, err := ch.Send(context.Background(), msgs)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := requests(srv, "/sendMessage")
			if len(reqs) != 1 {
				t.Fatalf("%d sendMessage calls, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/honor/eu/api/v1/"+testHonorID+"/sendMessage" {
				t.Errorf("request %s %s", r.Method, r.Path)
			}
			if !strings.HasPrefix(r.Auth, "Bearer ") || len(r.Auth) < 20 {
				t.Errorf("Authorization %q, want a bearer token", r.Auth)
			}
			if stamp, err := strconv.ParseInt(r.Form.Get("header.timestamp"), 10, 64); err != nil || stamp < before || stamp > time.Now().UnixMilli() {
				t.Errorf("timestamp header %q, want the current time in milliseconds", r.Form.Get("header.timestamp"))
			}
			var got honor.Request
			if err := json.Unmarshal([]byte(r.Form.Get("body")), &got); err != nil {
				t.Fatal(err)
			}
			if want := wantRequest(tc.tokens, tc.wantBiTag); !reflect.DeepEqual(got, want) {
				gb, _ := json.Marshal(got)
				wb, _ := json.Marshal(want)
				t.Errorf("body\n got %s\nwant %s", gb, wb)
			}
			for i, tok := range tc.tokens {
				want := channels.Success
				if strings.HasPrefix(tok, "bad-") {
					want = channels.InvalidToken
				}
				if res[i].Outcome != want || !strings.HasPrefix(res[i].VendorMsgID, testHonorID+"-") {
					t.Errorf("result %d: %+v, want %s with the requestId", i, res[i], want)
				}
			}
		})
	}
}

func TestPassThroughRequest(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.HonorBaseURL(testRegion), testSecret, 0, func(c *honor.Config) { c.TestMessages = true })
	m := channels.Message{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "tok-a", Payload: "plain text", PassThrough: true,
		Extras: map[string]string{channels.ExtraCustomPrefix + "k": "v"}}
	mustSend(t, ch, m)
	var got map[string]any
	if err := json.Unmarshal([]byte(requests(srv, "/sendMessage")[0].Form.Get("body")), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"data": "plain text", "token": []any{"tok-a"}, "android": map[string]any{"biTag": "d1", "targetUserType": float64(1)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("body %v, want %v (no notification, the payload as data)", got, want)
	}
}

func TestTokenRequest(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.HonorBaseURL(testRegion), testSecret, 0, nil)
	mustSend(t, ch, msg("tok-a", "d1"))
	auth := requests(srv, honorsim.AuthPath)
	if len(auth) != 1 {
		t.Fatalf("%d token requests, want 1", len(auth))
	}
	want := url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "client_secret": {testSecret}}
	if !reflect.DeepEqual(auth[0].Form, want) || auth[0].Method != http.MethodPost {
		t.Errorf("token request %s %v, want POST %v", auth[0].Method, auth[0].Form, want)
	}
}

func msg(token, deliveryID string) channels.Message {
	return channels.Message{DeliveryID: deliveryID, MsgID: "m-" + deliveryID, AppID: testApp, Token: token, Title: "t", Body: "b"}
}

func mustSend(t *testing.T, ch *honor.Channel, msgs ...channels.Message) {
	t.Helper()
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Errorf("Send: %v", err)
		return
	}
	for i, r := range res {
		if r.Outcome != channels.Success {
			t.Errorf("result %d: %+v, want success", i, r)
		}
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

// TestAccessTokenFlow checks the access-token cache: fetched once, reused,
// refreshed before expires_in runs out, shared by concurrent callers,
// replaced once when Honor refuses it.
func TestAccessTokenFlow(t *testing.T) {
	tests := []struct {
		scenario string
		lifetime time.Duration
		run      func(t *testing.T, ch *honor.Channel, clock *fakeClock)
		wantAuth int
		wantSend int
	}{
		{"fetched once and reused", 0, func(t *testing.T, ch *honor.Channel, _ *fakeClock) {
			for i := range 3 {
				mustSend(t, ch, msg("tok-a", fmt.Sprint("d", i)))
			}
		}, 1, 3},
		{"refreshed before expires_in runs out", 0, func(t *testing.T, ch *honor.Channel, clock *fakeClock) {
			mustSend(t, ch, msg("tok-a", "d1"))
			clock.advance(56 * time.Minute) // past 90% of the hour
			mustSend(t, ch, msg("tok-a", "d2"))
		}, 2, 2},
		{"concurrent callers share one fetch", 0, func(t *testing.T, ch *honor.Channel, _ *fakeClock) {
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Go(func() { mustSend(t, ch, msg("tok-a", fmt.Sprint("d", i))) })
			}
			wg.Wait()
		}, 1, 16},
		{"token refused by Honor is replaced once", 2 * time.Second, func(t *testing.T, ch *honor.Channel, _ *fakeClock) {
			mustSend(t, ch, msg("tok-a", "d1"))
			time.Sleep(2100 * time.Millisecond) // the simulator's token expired; the channel's frozen clock says it is fresh
			mustSend(t, ch, msg("tok-a", "d2"))
		}, 2, 3},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv := startSim(t, func(c *vendorsim.HonorConfig) { c.AccessTokenLifetime = vendorsim.Duration(tc.lifetime) })
			clock := &fakeClock{t: time.Now()}
			ch := newChannel(t, srv.HonorBaseURL(testRegion), testSecret, 0, nil, honor.WithClock(clock.now))
			tc.run(t, ch, clock)
			if got := len(requests(srv, honorsim.AuthPath)); got != tc.wantAuth {
				t.Errorf("%d token requests, want %d", got, tc.wantAuth)
			}
			if got := sendCalls(srv); got != tc.wantSend {
				t.Errorf("%d sendMessage calls, want %d", got, tc.wantSend)
			}
		})
	}
}

// TestDifferentContentsMakeOneCallEach checks the split of a heterogeneous
// batch and the results alignment.
func TestDifferentContentsMakeOneCallEach(t *testing.T) {
	srv := startSim(t, func(c *vendorsim.HonorConfig) { c.ExpiredTokenPrefixes = []string{"old-"} })
	ch := newChannel(t, srv.HonorBaseURL(testRegion), testSecret, 0, nil)
	msgs := []channels.Message{msg("t1", "d1"), msg("t2", "d2"), msg("old-3", "d3"), msg("t4", "d4")}
	for i := range msgs {
		msgs[i].MsgID = "m1"
	}
	msgs[1].MsgID, msgs[1].Title = "m2", "B"
	msgs[3].MsgID, msgs[3].Title = "m2", "B"
	if ch.BatchKey(msgs[0]) != ch.BatchKey(msgs[2]) || ch.BatchKey(msgs[0]) == ch.BatchKey(msgs[1]) {
		t.Fatal("BatchKey does not group by content")
	}
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := []channels.Outcome{channels.Success, channels.Success, channels.InvalidToken, channels.Success}
	for i := range want {
		if res[i].Outcome != want[i] {
			t.Errorf("result %d: %+v, want %s", i, res[i], want[i])
		}
	}
	if !strings.Contains(res[2].StatusDesc, "expireTokens") {
		t.Errorf("expired token result %+v", res[2])
	}
	if n := sendCalls(srv); n != 2 {
		t.Errorf("%d calls, want 2", n)
	}
}

// TestChecks covers messages refused before any call.
func TestChecks(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.HonorBaseURL(testRegion), testSecret, 0, nil)
	tests := []struct {
		scenario    string
		mutate      func(m *channels.Message)
		wantOutcome channels.Outcome
		wantCode    int
	}{
		{"pass-through without payload", func(m *channels.Message) { m.PassThrough = true }, channels.Permanent, honor.CodeIllegalPayload},
		{"empty body", func(m *channels.Message) { m.Body = "" }, channels.Permanent, honor.CodeIllegalPayload},
		{"body too long", func(m *channels.Message) { m.Body = strings.Repeat("b", 1025) }, channels.Permanent, honor.CodeIllegalPayload},
		{"http url", func(m *channels.Message) { m.Extras = map[string]string{channels.ExtraURI: "http://example.com"} }, channels.Permanent, honor.CodeIllegalPayload},
		{"bad importance", func(m *channels.Message) { m.Extras = map[string]string{honor.ExtraImportance: "HIGH"} }, channels.Permanent, honor.CodeIllegalPayload},
		{"badge without class", func(m *channels.Message) { m.Extras = map[string]string{honor.ExtraBadgeAddNum: "1"} }, channels.Permanent, honor.CodeIllegalPayload},
		{"badge out of range", func(m *channels.Message) {
			m.Extras = map[string]string{honor.ExtraBadgeSetNum: "100", honor.ExtraBadgeClass: "c"}
		}, channels.Permanent, honor.CodeIllegalPayload},
		{"image over http", func(m *channels.Message) { m.Extras = map[string]string{honor.ExtraImage: "http://x/i.png"} }, channels.Permanent, honor.CodeIllegalPayload},
		{"data over 4 KB", func(m *channels.Message) {
			m.Payload = `{"a":"` + strings.Repeat("x", 2000) + `"}`
			m.Extras = map[string]string{channels.ExtraCustomPrefix + "k": strings.Repeat("y", 2100)}
		}, channels.Permanent, honor.CodeMessageTooLarge},
		{"malformed token", func(m *channels.Message) { m.Token = "a,b" }, channels.InvalidToken, channels.StatusBadDeviceToken},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			m := msg("tok-a", "d1")
			tc.mutate(&m)
			res, err := ch.Send(context.Background(), []channels.Message{m})
			channeltest.WantRefused(t, res, err, tc.wantOutcome, tc.wantCode, len(srv.Requests(vendorsim.VendorHonor, "")))
		})
	}
}

func TestData(t *testing.T) {
	tests := []struct {
		scenario string
		payload  string
		extras   map[string]string
		want     string
	}{
		{"payload only", `{"a":1}`, nil, `{"a":1}`},
		{"pairs only", "", map[string]string{"ext.k": "v"}, `{"k":"v"}`},
		{"pairs merged, payload wins", `{"k":"p","n":1.50}`, map[string]string{"ext.k": "v", "ext.j": "w"}, `{"j":"w","k":"p","n":1.50}`},
		{"pairs dropped next to a non-object", `[1,2]`, map[string]string{"ext.k": "v"}, `[1,2]`},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			if got := honor.Data(channels.Message{Payload: tc.payload, Extras: tc.extras}); got != tc.want {
				t.Errorf("Data = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestAnswerClassification maps canned Honor answers to outcomes.
func TestAnswerClassification(t *testing.T) {
	tests := []struct {
		scenario    string
		status      int
		header      map[string]string
		body        string
		wantErr     error
		wantCode    int
		wantOutcome []channels.Outcome
		wantRetry   time.Duration
		wantAuth    int
	}{
		{scenario: "success", status: 200,
			body:        `{"code":200,"message":"success","data":{"sendResult":true,"requestId":"104-abc","failTokens":[],"expireTokens":[]}}`,
			wantOutcome: []channels.Outcome{channels.Success, channels.Success}, wantCode: channels.StatusAcked, wantAuth: 1},
		{scenario: "push kit success code as a string", status: 200, body: `{"code":"80000000","msg":"Success","requestId":"157"}`,
			wantOutcome: []channels.Outcome{channels.Success, channels.Success}, wantCode: channels.StatusAcked, wantAuth: 1},
		{scenario: "failed and expired tokens", status: 200,
			body:        `{"code":200,"message":"success","data":{"sendResult":true,"requestId":"r","failTokens":["tok-a"],"expireTokens":["tok-b"]}}`,
			wantOutcome: []channels.Outcome{channels.InvalidToken, channels.InvalidToken}, wantCode: channels.StatusBadDeviceToken, wantAuth: 1},
		{scenario: "all tokens invalid", status: 200, body: `{"code":80300007,"message":"All the tokens are invalid"}`,
			wantOutcome: []channels.Outcome{channels.InvalidToken, channels.InvalidToken}, wantCode: channels.StatusBadDeviceToken, wantAuth: 1},
		{scenario: "token expired twice", status: 401, body: `{"code":80200003,"message":"Oauth Token expired"}`,
			wantErr: channels.ErrPermanent, wantCode: honor.CodeOAuthExpired, wantAuth: 2},
		{scenario: "bare 401 twice", status: 401, body: ``,
			wantErr: channels.ErrPermanent, wantCode: honor.CodeOAuthError, wantAuth: 2},
		{scenario: "flow control", status: 503, header: map[string]string{"Retry-After": "4"}, body: `{"code":503,"message":"flow control"}`,
			wantErr: channels.ErrTransient, wantCode: honor.CodeFlowControl, wantRetry: 4 * time.Second, wantAuth: 1},
		{scenario: "internal error", status: 200, body: `{"code":81000001,"message":"Internal error"}`,
			wantErr: channels.ErrTransient, wantCode: honor.CodeInternalError, wantAuth: 1},
		{scenario: "no permission", status: 403, body: `{"code":80300002,"message":"no permission"}`,
			wantErr: channels.ErrPermanent, wantCode: honor.CodeNoPermission, wantAuth: 1},
		{scenario: "illegal payload", status: 400, body: `{"code":80100003,"message":"Illegal payload"}`,
			wantOutcome: []channels.Outcome{channels.Permanent, channels.Permanent}, wantCode: honor.CodeIllegalPayload, wantAuth: 1},
		{scenario: "unknown code", status: 200, body: `{"code":4242,"message":"?"}`,
			wantOutcome: []channels.Outcome{channels.Permanent, channels.Permanent}, wantCode: 4242, wantAuth: 1},
		{scenario: "http 429", status: 429, header: map[string]string{"Retry-After": "3"}, body: ``,
			wantErr: channels.ErrTransient, wantRetry: 3 * time.Second, wantAuth: 1},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient, wantAuth: 1},
		{scenario: "http 404 without json", status: 404, body: `nope`, wantErr: channels.ErrPermanent, wantAuth: 1},
		{scenario: "http 400 with success code", status: 400, body: `{"code":200}`, wantErr: channels.ErrPermanent, wantCode: 200, wantAuth: 1},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var auths atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == honorsim.AuthPath {
					n := auths.Add(1)
					_, _ = fmt.Fprintf(w, `{"access_token":"at-%d","expires_in":3600,"token_type":"Bearer"}`, n)
					return
				}
				if r.Header.Get("Authorization") != fmt.Sprintf("Bearer at-%d", auths.Load()) || r.Header.Get("timestamp") == "" {
					t.Errorf("headers %v", r.Header)
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			ch := newChannel(t, ts.URL, testSecret, 0, nil)
			m1, m2 := msg("tok-a", "d1"), msg("tok-b", "d2")
			m2.MsgID = m1.MsgID
			res, err := ch.Send(context.Background(), []channels.Message{m1, m2})
			if got := int(auths.Load()); got != tc.wantAuth {
				t.Errorf("%d token requests, want %d", got, tc.wantAuth)
			}
			if tc.wantErr != nil {
				_ = channeltest.WantCallError(t, err, tc.wantErr, tc.wantCode, tc.wantRetry, testSecret)
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

func TestTokenErrors(t *testing.T) {
	tests := []struct {
		scenario string
		status   int
		body     string
		wantErr  error
	}{
		{"invalid client", 401, `{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}`, channels.ErrPermanent},
		{"bad request", 400, `{"error":"invalid_request"}`, channels.ErrPermanent},
		{"unavailable", 503, ``, channels.ErrTransient},
		{"answer without token", 200, `{"expires_in":3600}`, channels.ErrTransient},
		{"garbled", 200, `<html>`, channels.ErrTransient},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var sends atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != honorsim.AuthPath {
					sends.Add(1)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			ch := newChannel(t, ts.URL, testSecret, 0, nil)
			_, err := ch.Send(context.Background(), []channels.Message{msg("tok-a", "d1")})
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want class %v", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), testSecret) {
				t.Errorf("error leaks the secret: %v", err)
			}
			if sends.Load() != 0 {
				t.Error("a message was sent without a token")
			}
		})
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL
	ts.Close()
	ch := newChannel(t, base, testSecret, time.Second, nil)
	if _, err := ch.Send(context.Background(), []channels.Message{msg("tok-a", "d1")}); !errors.Is(err, channels.ErrTransient) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestBuildRequest(t *testing.T) {
	now := time.Now()
	ch := newChannel(t, "http://127.0.0.1:1", testSecret, 0, func(c *honor.Config) { c.Importance = honor.ImportanceLow })
	tests := []struct {
		scenario string
		m        channels.Message
		check    func(r honor.Request) bool
	}{
		{"validity capped at fifteen days", channels.Message{Title: "t", Body: "b", ExpireAt: now.Add(30 * 24 * time.Hour)},
			func(r honor.Request) bool { return r.Android.TTL == "1296000s" }},
		{"no expiry leaves Honor's default", channels.Message{Title: "t", Body: "b"},
			func(r honor.Request) bool { return r.Android.TTL == "" }},
		{"intent uri", channels.Message{Title: "t", Body: "b", Extras: map[string]string{channels.ExtraURI: "intent://o#Intent;end"}},
			func(r honor.Request) bool {
				return r.Android.Notification.ClickAction == honor.ClickAction{Type: honor.ClickIntent, Intent: "intent://o#Intent;end"}
			}},
		{"default click opens the app with the configured importance", channels.Message{Title: "t", Body: "b"},
			func(r honor.Request) bool {
				n := r.Android.Notification
				return n.ClickAction.Type == honor.ClickOpenApp && n.Importance == honor.ImportanceLow
			}},
		{"mPaaS service category", channels.Message{Title: "t", Body: "b", Extras: map[string]string{honor.ExtraImportance: "1"}},
			func(r honor.Request) bool { return r.Android.Notification.Importance == honor.ImportanceNormal }},
		{"badge set to zero", channels.Message{Title: "t", Body: "b", Extras: map[string]string{honor.ExtraBadgeSetNum: "0", honor.ExtraBadgeClass: "c"}},
			func(r honor.Request) bool {
				b := r.Android.Notification.Badge
				return b != nil && b.SetNum != nil && *b.SetNum == 0
			}},
		{"long delivery id is no biTag", channels.Message{Title: "t", Body: "b", DeliveryID: strings.Repeat("d", 65)},
			func(r honor.Request) bool { return r.Android.BiTag == "" }},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			if r := ch.BuildRequest([]channels.Message{tc.m}, now); !tc.check(r) {
				b, _ := json.Marshal(r)
				t.Errorf("request %s", b)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	valid := honor.Config{Endpoint: honor.Endpoint{Region: "cn", Apps: map[string]honor.App{testApp: {AppID: testHonorID, ClientID: testClientID, ClientSecret: "s3cr3t-value"}}}}
	tests := []struct {
		scenario string
		mutate   func(c *honor.Config)
		wantErr  string
	}{
		{"valid with defaults", func(c *honor.Config) {}, ""},
		{"unknown region", func(c *honor.Config) { c.Region = "us" }, "unknown region"},
		{"no apps", func(c *honor.Config) { c.Apps = nil }, "no apps"},
		{"empty honor app id", func(c *honor.Config) { c.Apps = map[string]honor.App{"a": {ClientID: "c", ClientSecret: "s"}} }, "empty appId"},
		{"app id with a slash", func(c *honor.Config) {
			c.Apps = map[string]honor.App{"a": {AppID: "1/2", ClientID: "c", ClientSecret: "s"}}
		}, "path segment"},
		{"empty client secret", func(c *honor.Config) { c.Apps = map[string]honor.App{"a": {AppID: "1", ClientID: "c"}} }, "empty clientSecret"},
		{"batch too large", func(c *honor.Config) { c.MaxBatch = 1001 }, "maxBatch"},
		{"bad importance", func(c *honor.Config) { c.Importance = "HIGH" }, "importance"},
		{"bad auth url", func(c *honor.Config) { c.AuthURL = "ftp://x" }, "authUrl"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := valid
			c.Apps = map[string]honor.App{testApp: valid.Apps[testApp]}
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
	if d.BaseURL != honor.DefaultBaseURL || d.AuthURL != honor.DefaultAuthURL || d.MaxBatch != 1000 || d.Importance != "NORMAL" ||
		d.Limits != (honor.Limits{MaxTitleRunes: 40, MaxBodyRunes: 1024, MaxPayloadBytes: 2048}) {
		t.Errorf("defaults not applied: %v", d)
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
