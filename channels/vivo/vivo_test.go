package vivo_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/channeltest"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/channels/vivo"
	"github.com/pushpipe/pushpipe/internal/testinfra"
)

const (
	testApp     = "app-1"
	testVivoID  = "10004"
	testKey     = "vivo-app-key-1"
	testSecret  = "vivo-app-secret-1"
	testRegion  = "sg"
	testPayload = `{"order":42}`
)

func startSim(t *testing.T, mutate func(*vendorsim.VivoConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 1, Vivo: vendorsim.VivoConfig{
		Apps: []vendorsim.VivoApp{{AppID: testApp, VivoAppID: testVivoID, AppKey: testKey, AppSecret: testSecret}},
	}}
	if mutate != nil {
		mutate(&cfg.Vivo)
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

func newChannel(t *testing.T, baseURL, secret string, timeout time.Duration, mutate func(*vivo.Config), opts ...vivo.Option) *vivo.Channel {
	t.Helper()
	cfg := vivo.Config{
		Endpoint: vivo.Endpoint{
			Region:  testRegion,
			BaseURL: baseURL,
			Apps:    map[string]vivo.App{testApp: {AppID: testVivoID, AppKey: testKey, AppSecret: channels.Secret(secret)}},
			Timeout: timeout,
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	ch, err := vivo.New(cfg, opts...)
	if err != nil {
		t.Fatalf("vivo.New: %v", err)
	}
	return ch
}

func requests(srv *vendorsim.Server, path string) []vendorsim.Request {
	var out []vendorsim.Request
	for _, r := range srv.Requests(vendorsim.VendorVivo, "") {
		if strings.HasSuffix(r.Path, path) {
			out = append(out, r)
		}
	}
	return out
}

// contentCalls counts the calls that submit a content: send and
// saveListPayload (a list push is saveListPayload then pushToList).
func contentCalls(srv *vendorsim.Server) int {
	return len(requests(srv, vivo.SendPath)) + len(requests(srv, vivo.SaveListPayloadPath))
}

func TestConformance(t *testing.T) {
	srv := startSim(t, nil)
	h := conformance.SimHooks(conformance.Harness{
		NewChannel: func(t *testing.T, o conformance.ChannelOptions) channels.Channel {
			secret := testSecret
			if o.BadCredentials {
				secret = "wrong-secret"
			}
			return newChannel(t, srv.VivoBaseURL(testRegion), secret, o.Timeout, nil)
		},
		AppID:        testApp,
		Token:        func(i int) string { return fmt.Sprintf("v2-regid%04d", i) },
		InvalidToken: func(i int) string { return fmt.Sprintf("bad-regid%04d", i) },
		Calls:        func(t *testing.T) int { return contentCalls(srv) },
		Limits: conformance.Limits{
			MaxTitleRunes:   vivo.MaxTitleRunes,
			MaxBodyRunes:    vivo.MaxContentRunes,
			MaxPayloadBytes: vivo.MaxPayloadBytes,
		},
		PassThroughUnsupported: true,
	}, srv, vendorsim.VendorVivo)
	conformance.Run(t, h)
	conformance.RunRecall(t, conformance.SimRecallHarness(h, srv, vendorsim.VendorVivo, testRegion))
}

func body[T any](t *testing.T, r vendorsim.Request) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(r.Form.Get("body")), &v); err != nil {
		t.Fatalf("request body %q: %v", r.Form.Get("body"), err)
	}
	return v
}

// TestRequestOnTheWire checks the exact HTTP requests vivo receives.
func TestRequestOnTheWire(t *testing.T) {
	srv := startSim(t, nil)
	now := time.Now().Truncate(time.Second)
	ch := newChannel(t, srv.VivoBaseURL("eu"), testSecret, 0, func(c *vivo.Config) {
		c.CallbackURL = "https://receipts.example.com/vivo"
		c.ReceiptSigner = testinfra.IDKey()
	}, vivo.WithClock(func() time.Time { return now }))
	base := channels.Message{
		MsgID: "msg-1", TaskID: "task-1", AppID: testApp,
		Title: "标题 Title", Body: "Body text", Payload: testPayload,
		ExpireAt: now.Add(90 * time.Minute),
		Extras: map[string]string{
			channels.ExtraURI:                      "https://example.com/o/42",
			channels.ExtraNotifyType:               "2",
			vivo.ExtraClassification:               "0",
			vivo.ExtraCategory:                     "5",
			channels.ExtraCustomPrefix + "orderId": "42",
		},
	}
	wantContent := func(param string) vivo.Content {
		return vivo.Content{
			NotifyType: vivo.NotifyVibrate, Title: "标题 Title", Content: "Body text",
			TimeToLive: int64((90 * time.Minute).Seconds()), SkipType: vivo.SkipOpenURL, SkipContent: "https://example.com/o/42",
			NetworkType: -1, ClientCustomMap: map[string]string{"orderId": "42", vivo.PayloadKey: testPayload},
			Classification: 0, Category: "ORDER", PushMode: 0,
			Extra: map[string]string{"callback": "https://receipts.example.com/vivo?app=" + testApp,
				"callback.param": testinfra.IDKey().ReceiptParam("vivo", testApp, param)},
		}
	}

	t.Run("single message uses send with its delivery id as requestId", func(t *testing.T) {
		srv.Reset()
		m := base
		m.Token, m.DeliveryID = "v2-a", "d-a"
		res, err := ch.Send(context.Background(), []channels.Message{m})
		if err != nil || res[0].Outcome != channels.Success || res[0].VendorMsgID == "" {
			t.Fatalf("Send = %+v, %v; want success with a taskId", res, err)
		}
		sends := requests(srv, vivo.SendPath)
		if len(sends) != 1 || sends[0].Path != "/vivo/eu"+vivo.SendPath || sends[0].Method != http.MethodPost {
			t.Fatalf("send requests %+v", sends)
		}
		if sends[0].Auth == "" || strings.Contains(sends[0].Auth, testSecret) {
			t.Errorf("authToken header %q", sends[0].Auth)
		}
		got := body[vivo.SendRequest](t, sends[0])
		want := vivo.SendRequest{RegID: "v2-a", Content: wantContent("d-a")}
		want.RequestID = "d-a"
		if !reflect.DeepEqual(got, want) {
			t.Errorf("send body\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("batch uses saveListPayload then pushToList with the msg id", func(t *testing.T) {
		srv.Reset()
		tokens := []string{"v2-a", "v2-b", "bad-c"}
		msgs := make([]channels.Message, len(tokens))
		for i, tok := range tokens {
			msgs[i] = base
			msgs[i].Token, msgs[i].DeliveryID = tok, "d-"+tok
		}
		res, err := ch.Send(context.Background(), msgs)
		if err != nil {
			t.Fatalf("Send: %v", err)
		}
		saves, pushes := requests(srv, vivo.SaveListPayloadPath), requests(srv, vivo.PushToListPath)
		if len(saves) != 1 || len(pushes) != 1 || len(requests(srv, vivo.SendPath)) != 0 {
			t.Fatalf("%d saveListPayload, %d pushToList calls; want one each", len(saves), len(pushes))
		}
		got := body[vivo.Content](t, saves[0])
		if got.RequestID == "" || got.RequestID == "d-v2-a" {
			t.Errorf("saveListPayload requestId %q, want a fresh id", got.RequestID)
		}
		got.RequestID = ""
		if want := wantContent("msg-1"); !reflect.DeepEqual(got, want) {
			t.Errorf("saveListPayload body\n got %+v\nwant %+v", got, want)
		}
		var saved struct {
			TaskID string `json:"taskId"`
		}
		_ = json.Unmarshal([]byte(saves[0].Body), &saved)
		list := body[vivo.ListRequest](t, pushes[0])
		if !reflect.DeepEqual(list.RegIDs, tokens) || list.TaskID != saved.TaskID || list.TaskID == "" || list.RequestID == "" {
			t.Errorf("pushToList body %+v, want the regIds and the saved taskId %q", list, saved.TaskID)
		}
		want := []channels.Outcome{channels.Success, channels.Success, channels.InvalidToken}
		for i := range want {
			if res[i].Outcome != want[i] || res[i].VendorMsgID != saved.TaskID {
				t.Errorf("result %d: %+v, want %s with taskId %s", i, res[i], want[i], saved.TaskID)
			}
		}
	})

	if n := len(requests(srv, vivo.AuthPath)); n != 0 {
		t.Errorf("%d auth requests after Reset, want 0 (token cached)", n)
	}
}

func TestAuthRequest(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.VivoBaseURL(testRegion), testSecret, 0, nil)
	before := time.Now().UnixMilli()
	if _, err := ch.Send(context.Background(), []channels.Message{msg("v2-a", "d1")}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	auth := requests(srv, vivo.AuthPath)
	if len(auth) != 1 {
		t.Fatalf("%d auth requests, want 1", len(auth))
	}
	var req map[string]any
	if err := json.Unmarshal([]byte(auth[0].Form.Get("body")), &req); err != nil {
		t.Fatal(err)
	}
	stamp, _ := req["timestamp"].(float64)
	if req["appId"] != float64(10004) || req["appKey"] != testKey || len(req) != 4 ||
		int64(stamp) < before || int64(stamp) > time.Now().UnixMilli() ||
		req["sign"] != vivo.Sign(testVivoID, testKey, int64(stamp), testSecret) {
		t.Errorf("auth body %v, want numeric appId, appKey, millisecond timestamp and sign = md5(appId+appKey+timestamp+appSecret)", req)
	}
	if strings.Contains(auth[0].Form.Get("body"), testSecret) {
		t.Error("the app secret was sent")
	}
}

func msg(token, deliveryID string) channels.Message {
	return channels.Message{DeliveryID: deliveryID, MsgID: "m1", AppID: testApp, Token: token, Title: "t", Body: "b"}
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

func mustSend(t *testing.T, ch *vivo.Channel, msgs ...channels.Message) {
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

// TestAuthTokenFlow checks the authToken cache: fetched once, reused,
// refreshed after expiry, shared by concurrent callers, replaced once when
// vivo refuses it.
func TestAuthTokenFlow(t *testing.T) {
	tests := []struct {
		scenario string
		lifetime time.Duration
		run      func(t *testing.T, ch *vivo.Channel, clock *fakeClock)
		wantAuth int
		wantSend int
	}{
		{"fetched once and reused", 0, func(t *testing.T, ch *vivo.Channel, _ *fakeClock) {
			for i := range 3 {
				mustSend(t, ch, msg("v2-a", fmt.Sprint("d", i)))
			}
		}, 1, 3},
		{"refreshed after expiry", 0, func(t *testing.T, ch *vivo.Channel, clock *fakeClock) {
			mustSend(t, ch, msg("v2-a", "d1"))
			clock.advance(vivo.AuthTokenLifetime)
			mustSend(t, ch, msg("v2-a", "d2"))
		}, 2, 2},
		{"concurrent callers share one fetch", 0, func(t *testing.T, ch *vivo.Channel, _ *fakeClock) {
			var wg sync.WaitGroup
			for i := range 16 {
				wg.Go(func() { mustSend(t, ch, msg("v2-a", fmt.Sprint("d", i))) })
			}
			wg.Wait()
		}, 1, 16},
		{"token refused by vivo is replaced once", 300 * time.Millisecond, func(t *testing.T, ch *vivo.Channel, _ *fakeClock) {
			mustSend(t, ch, msg("v2-a", "d1"))
			time.Sleep(400 * time.Millisecond)
			mustSend(t, ch, msg("v2-a", "d2"))
		}, 2, 3},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv := startSim(t, func(c *vendorsim.VivoConfig) { c.AuthTokenLifetime = vendorsim.Duration(tc.lifetime) })
			clock := &fakeClock{t: time.Now()}
			ch := newChannel(t, srv.VivoBaseURL(testRegion), testSecret, 0, nil, vivo.WithClock(clock.now))
			tc.run(t, ch, clock)
			if got := len(requests(srv, vivo.AuthPath)); got != tc.wantAuth {
				t.Errorf("%d auth requests, want %d", got, tc.wantAuth)
			}
			if got := len(requests(srv, vivo.SendPath)); got != tc.wantSend {
				t.Errorf("%d send calls, want %d", got, tc.wantSend)
			}
		})
	}
}

// TestReplayedDeliveryIsAccepted: vivo refuses a requestId twice (10303);
// a replayed delivery counts as sent and is not shown twice.
func TestReplayedDeliveryIsAccepted(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.VivoBaseURL(testRegion), testSecret, 0, nil)
	mustSend(t, ch, msg("v2-a", "d-replayed"))
	mustSend(t, ch, msg("v2-a", "d-replayed"))
	sends := requests(srv, vivo.SendPath)
	if len(sends) != 2 || sends[1].Code != vivo.CodeRequestIDExists {
		t.Fatalf("second send answered %d, want %d", sends[len(sends)-1].Code, vivo.CodeRequestIDExists)
	}
	if st := srv.Stats().Vendors[vendorsim.VendorVivo].Regions[testRegion].Apps[testApp]; st.Messages != 1 {
		t.Errorf("the simulator delivered %d messages, want 1", st.Messages)
	}
}

// TestDifferentContentsMakeOneCallEach checks the split of a heterogeneous
// batch and the results alignment.
func TestDifferentContentsMakeOneCallEach(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.VivoBaseURL(testRegion), testSecret, 0, nil)
	msgs := []channels.Message{msg("v2-1", "d1"), msg("v2-2", "d2"), msg("bad-3", "d3"), msg("v2-4", "d4"), msg("v2-5", "d5")}
	for _, i := range []int{1, 3} {
		msgs[i].MsgID, msgs[i].Title = "m2", "B"
	}
	msgs[4].MsgID, msgs[4].Title = "m3", "C"
	if ch.BatchKey(msgs[0]) != ch.BatchKey(msgs[2]) || ch.BatchKey(msgs[0]) == ch.BatchKey(msgs[1]) {
		t.Fatal("BatchKey does not group by content")
	}
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := []channels.Outcome{channels.Success, channels.Success, channels.InvalidToken, channels.Success, channels.Success}
	for i := range want {
		if res[i].Outcome != want[i] {
			t.Errorf("result %d: %+v, want %s", i, res[i], want[i])
		}
	}
	if s, p, one := len(requests(srv, vivo.SaveListPayloadPath)), len(requests(srv, vivo.PushToListPath)), len(requests(srv, vivo.SendPath)); s != 2 || p != 2 || one != 1 {
		t.Errorf("%d saveListPayload, %d pushToList, %d send; want 2, 2, 1", s, p, one)
	}
}

// TestPartialFailureIsReportedPerMessage: when one content's call fails,
// the batch succeeds with per-message results for it.
func TestPartialFailureIsReportedPerMessage(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		switch {
		case r.URL.Path == vivo.AuthPath:
			_, _ = io.WriteString(w, `{"result":0,"desc":"请求成功","authToken":"tok"}`)
		case strings.Contains(string(raw), `"title":"B"`):
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			_, _ = io.WriteString(w, `{"result":0,"desc":"请求成功","taskId":"1300001"}`)
		}
	}))
	t.Cleanup(ts.Close)
	ch := newChannel(t, ts.URL, testSecret, 0, nil)
	msgs := []channels.Message{msg("v2-1", "d1"), msg("v2-2", "d2")}
	msgs[1].MsgID, msgs[1].Title = "m2", "B"
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res[0].Outcome != channels.Success || res[1].Outcome != channels.Transient || res[1].RetryAfter != 7*time.Second {
		t.Fatalf("results %+v; want success, then transient after 7s", res)
	}
}

// TestChecks covers messages refused before any call.
func TestChecks(t *testing.T) {
	srv := startSim(t, nil)
	ch := newChannel(t, srv.VivoBaseURL(testRegion), testSecret, 0, nil)
	eleven := map[string]string{}
	for i := range 11 {
		eleven[fmt.Sprintf("%sk%d", channels.ExtraCustomPrefix, i)] = "v"
	}
	tests := []struct {
		scenario    string
		mutate      func(m *channels.Message)
		wantOutcome channels.Outcome
		wantCode    int
	}{
		{"pass-through", func(m *channels.Message) { m.PassThrough = true }, channels.Permanent, channels.StatusNone},
		{"empty title", func(m *channels.Message) { m.Title = " " }, channels.Permanent, vivo.CodeTitleEmpty},
		{"empty content", func(m *channels.Message) { m.Body = "" }, channels.Permanent, vivo.CodeContentEmpty},
		{"title too long", func(m *channels.Message) { m.Title = strings.Repeat("标", 41) }, channels.Permanent, vivo.CodeTitleTooLong},
		{"content too long", func(m *channels.Message) { m.Body = strings.Repeat("c", 101) }, channels.Permanent, vivo.CodeContentTooLong},
		{"eleven custom pairs", func(m *channels.Message) { m.Extras = eleven }, channels.Permanent, vivo.CodeTooManyCustomPairs},
		{"custom pairs too long", func(m *channels.Message) {
			m.Payload = strings.Repeat("p", 1000)
			m.Extras = map[string]string{channels.ExtraCustomPrefix + "k": strings.Repeat("v", 30)}
		}, channels.Permanent, vivo.CodeInvalidCustomPair},
		{"bad notify type", func(m *channels.Message) { m.Extras = map[string]string{channels.ExtraNotifyType: "loud"} }, channels.Permanent, vivo.CodeNotifyTypeInvalid},
		{"bad classification", func(m *channels.Message) { m.Extras = map[string]string{vivo.ExtraClassification: "2"} }, channels.Permanent, channels.StatusNone},
		{"unknown category", func(m *channels.Message) { m.Extras = map[string]string{vivo.ExtraCategory: "11"} }, channels.Permanent, channels.StatusNone},
		{"malformed token", func(m *channels.Message) { m.Token = "a b" }, channels.InvalidToken, channels.StatusBadDeviceToken},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			m := msg("v2-a", "d1")
			tc.mutate(&m)
			res, err := ch.Send(context.Background(), []channels.Message{m})
			channeltest.WantRefused(t, res, err, tc.wantOutcome, tc.wantCode, len(srv.Requests(vendorsim.VendorVivo, "")))
		})
	}
}

// TestAnswerClassification maps canned vivo answers to outcomes.
func TestAnswerClassification(t *testing.T) {
	tests := []struct {
		scenario    string
		status      int
		header      map[string]string
		body        string
		wantErr     error
		wantCode    int
		wantOutcome channels.Outcome
		wantRetry   time.Duration
		wantAuth    int
	}{
		{scenario: "success", status: 200, body: `{"result":0,"desc":"请求成功","taskId":"1301"}`,
			wantOutcome: channels.Success, wantCode: channels.StatusAcked, wantAuth: 1},
		{scenario: "duplicate request id", status: 200, body: `{"result":10303,"desc":"requestId已存在"}`,
			wantOutcome: channels.Success, wantCode: channels.StatusAcked, wantAuth: 1},
		{scenario: "invalid regId", status: 200, body: `{"result":10302,"desc":"regId不合法"}`,
			wantOutcome: channels.InvalidToken, wantCode: channels.StatusBadDeviceToken, wantAuth: 1},
		{scenario: "auth refused twice", status: 200, body: `{"result":10000,"desc":"权限认证失败"}`,
			wantErr: channels.ErrPermanent, wantCode: vivo.CodeAuthFailed, wantAuth: 2},
		{scenario: "resource limit", status: 200, body: `{"result":10040,"desc":"资源已达上限"}`,
			wantErr: channels.ErrTransient, wantCode: vivo.CodeResourceLimit, wantAuth: 1},
		{scenario: "too fast with retry-after", status: 200, header: map[string]string{"Retry-After": "2"},
			body: `{"result":10072,"desc":"推送速度过快"}`, wantErr: channels.ErrTransient, wantCode: vivo.CodePushTooFast,
			wantRetry: 2 * time.Second, wantAuth: 1},
		{scenario: "total limit", status: 200, body: `{"result":10070,"desc":"发送总量超出限制"}`,
			wantErr: channels.ErrTransient, wantCode: vivo.CodeTotalLimitExceeded, wantAuth: 1},
		{scenario: "sensitive content", status: 200, body: `{"result":10103,"desc":"敏感"}`,
			wantOutcome: channels.Permanent, wantCode: vivo.CodeSensitiveContent, wantAuth: 1},
		{scenario: "unknown code", status: 200, body: `{"result":19999,"desc":"?"}`,
			wantOutcome: channels.Permanent, wantCode: 19999, wantAuth: 1},
		{scenario: "http 429", status: 429, header: map[string]string{"Retry-After": "3"}, body: ``,
			wantErr: channels.ErrTransient, wantRetry: 3 * time.Second, wantAuth: 1},
		{scenario: "http 500", status: 500, body: `oops`, wantErr: channels.ErrTransient, wantAuth: 1},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient, wantAuth: 1},
		{scenario: "http 404 without json", status: 404, body: `nope`, wantErr: channels.ErrPermanent, wantAuth: 1},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var auths atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == vivo.AuthPath {
					n := auths.Add(1)
					_, _ = fmt.Fprintf(w, `{"result":0,"desc":"请求成功","authToken":"tok-%d"}`, n)
					return
				}
				if r.Header.Get("authToken") == "" {
					t.Error("push without authToken header")
				}
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			ch := newChannel(t, ts.URL, testSecret, 0, nil)
			res, err := ch.Send(context.Background(), []channels.Message{msg("v2-a", "d1")})
			if got := int(auths.Load()); got != tc.wantAuth {
				t.Errorf("%d auth requests, want %d", got, tc.wantAuth)
			}
			if tc.wantErr != nil {
				_ = channeltest.WantCallError(t, err, tc.wantErr, tc.wantCode, tc.wantRetry, testSecret)
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res[0].Outcome != tc.wantOutcome || res[0].StatusCode != tc.wantCode {
				t.Errorf("result %+v, want %s/%d", res[0], tc.wantOutcome, tc.wantCode)
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
		{"sign invalid", 200, `{"result":10206,"desc":"sign不正确"}`, channels.ErrPermanent, vivo.CodeSignInvalid},
		{"app id unknown", 200, `{"result":10205,"desc":"appId不存在"}`, channels.ErrPermanent, vivo.CodeAppIDNotExist},
		{"auth calls over the limit", 200, `{"result":10250,"desc":"鉴权接口调用超过上限"}`, channels.ErrTransient, vivo.CodeAuthLimitExceeded},
		{"success without token", 200, `{"result":0,"desc":"请求成功"}`, channels.ErrTransient, 0},
		{"http 502", 502, ``, channels.ErrTransient, 0},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			var pushes atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != vivo.AuthPath {
					pushes.Add(1)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			ch := newChannel(t, ts.URL, testSecret, 0, nil)
			_, err := ch.Send(context.Background(), []channels.Message{msg("v2-a", "d1")})
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
	ch := newChannel(t, base, testSecret, time.Second, nil)
	if _, err := ch.Send(context.Background(), []channels.Message{msg("v2-a", "d1")}); !errors.Is(err, channels.ErrTransient) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestBuildContent(t *testing.T) {
	now := time.Now()
	ch := newChannel(t, "http://127.0.0.1:1", testSecret, 0, func(c *vivo.Config) {
		c.Classification = vivo.ClassificationOperationName
		c.TestPush = true
	})
	tests := []struct {
		scenario string
		m        channels.Message
		check    func(c vivo.Content) bool
	}{
		{"validity capped at seven days", channels.Message{ExpireAt: now.Add(30 * 24 * time.Hour)},
			func(c vivo.Content) bool { return c.TimeToLive == int64(vivo.MaxTimeToLive/time.Second) }},
		{"validity raised to vivo's minute", channels.Message{ExpireAt: now.Add(5 * time.Second)},
			func(c vivo.Content) bool { return c.TimeToLive == 60 }},
		{"no expiry leaves vivo's default", channels.Message{}, func(c vivo.Content) bool { return c.TimeToLive == 0 }},
		{"intent uri opens an app page", channels.Message{Extras: map[string]string{channels.ExtraURI: "intent://x#Intent;end"}},
			func(c vivo.Content) bool {
				return c.SkipType == vivo.SkipAppIntent && c.SkipContent == "intent://x#Intent;end"
			}},
		{"configured defaults", channels.Message{}, func(c vivo.Content) bool {
			return c.Classification == 0 && c.PushMode == 1 && c.NotifyType == vivo.NotifyRingAndVibrate && c.SkipType == vivo.SkipOpenApp
		}},
		{"all effects", channels.Message{Extras: map[string]string{channels.ExtraNotifyType: "-1"}},
			func(c vivo.Content) bool { return c.NotifyType == vivo.NotifyRingAndVibrate }},
		{"lights only is silent", channels.Message{Extras: map[string]string{channels.ExtraNotifyType: "4"}},
			func(c vivo.Content) bool { return c.NotifyType == vivo.NotifyNone }},
		{"long delivery id", channels.Message{DeliveryID: strings.Repeat("d", 65)},
			func(c vivo.Content) bool { return c.Extra == nil }},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			if c := ch.BuildContent([]channels.Message{tc.m}, now); !tc.check(c) {
				t.Errorf("content %+v", c)
			}
		})
	}
	if id := vivo.RequestID(strings.Repeat("d", 65)); len(id) != 64 || id != vivo.RequestID(strings.Repeat("d", 65)) {
		t.Errorf("request id of a long delivery id %q: want a stable 64-character id", id)
	}
}

func TestConfig(t *testing.T) {
	valid := vivo.Config{Endpoint: vivo.Endpoint{Region: "cn", Apps: map[string]vivo.App{testApp: {AppID: testVivoID, AppKey: testKey, AppSecret: "s3cr3t-value"}}}}
	tests := []struct {
		scenario string
		mutate   func(c *vivo.Config)
		wantErr  string
	}{
		{"valid with defaults", func(c *vivo.Config) {}, ""},
		{"unknown region", func(c *vivo.Config) { c.Region = "us" }, "unknown region"},
		{"region without a published host", func(c *vivo.Config) { c.Region = "sg" }, "set baseUrl"},
		{"no apps", func(c *vivo.Config) { c.Apps = nil }, "no apps"},
		{"empty app id", func(c *vivo.Config) { c.Apps = map[string]vivo.App{"a": {AppKey: "k", AppSecret: "s"}} }, "empty appId"},
		{"empty secret", func(c *vivo.Config) { c.Apps = map[string]vivo.App{"a": {AppID: "1", AppKey: "k"}} }, "empty appSecret"},
		{"batch too large", func(c *vivo.Config) { c.MaxBatch = 1001 }, "maxBatch"},
		{"bad notify type", func(c *vivo.Config) { c.NotifyType = 5 }, "notifyType"},
		{"bad classification", func(c *vivo.Config) { c.Classification = "marketing" }, "classification"},
		{"bad callback url", func(c *vivo.Config) { c.CallbackURL = "nope" }, "callbackUrl"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := valid
			c.Apps = map[string]vivo.App{testApp: valid.Apps[testApp]}
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
	if d.BaseURL != "https://api-push.vivo.com.cn" || d.MaxBatch != 1000 || d.NotifyType != 4 || d.Classification != "system" ||
		d.Limits != (vivo.Limits{MaxTitleRunes: 40, MaxContentRunes: 100, MaxPayloadBytes: 1017}) {
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
