package hms_test

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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/channeltest"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
)

const (
	testApp      = "app-1"
	testClientID = "104000001"
	testSecret   = "hms-secret-1"
	testRegion   = "cn"
)

func startSim(t *testing.T, mutate func(*vendorsim.HMSConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 1, HMS: vendorsim.HMSConfig{
		Apps: []vendorsim.HMSApp{{AppID: testApp, ClientID: testClientID, ClientSecret: testSecret}},
	}}
	if mutate != nil {
		mutate(&cfg.HMS)
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

func newChannel(t *testing.T, baseURL, authURL, secret string, timeout time.Duration, opts ...hms.Option) *hms.Channel {
	t.Helper()
	ch, err := hms.New(hms.Config{
		Endpoint: hms.Endpoint{
			Region:  testRegion,
			BaseURL: baseURL,
			Apps:    map[string]hms.App{testApp: {AppID: testClientID, AppSecret: channels.Secret(secret), ReceiptID: "RCP1"}},
			Timeout: timeout,
		},
		AuthURL: authURL,
	}, opts...)
	if err != nil {
		t.Fatalf("hms.New: %v", err)
	}
	return ch
}

func simChannel(t *testing.T, srv *vendorsim.Server, opts ...hms.Option) *hms.Channel {
	t.Helper()
	return newChannel(t, srv.HMSBaseURL(testRegion), srv.HMSAuthURL(testRegion), testSecret, 0, opts...)
}

func requests(srv *vendorsim.Server, suffix string) []vendorsim.Request {
	var out []vendorsim.Request
	for _, r := range srv.Requests(vendorsim.VendorHMS, testRegion) {
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
			secret := testSecret
			if o.BadCredentials {
				secret = "wrong-secret"
			}
			return newChannel(t, srv.HMSBaseURL(testRegion), srv.HMSAuthURL(testRegion), secret, o.Timeout)
		},
		AppID:        testApp,
		Token:        func(i int) string { return fmt.Sprintf("IQAAAAACy0f7tAAB-%04d", i) },
		InvalidToken: func(i int) string { return fmt.Sprintf("bad-IQAAAAACy0f7-%04d", i) },
		Calls:        func(t *testing.T) int { return len(requests(srv, ":send")) },
		Limits: conformance.Limits{
			MaxTitleRunes:   hms.MaxTitleRunes,
			MaxBodyRunes:    hms.MaxBodyRunes,
			MaxPayloadBytes: hms.MaxPayloadBytes,
		},
	}, srv, vendorsim.VendorHMS)
	conformance.Run(t, h)
	conformance.RunRecall(t, conformance.SimRecallHarness(h, srv, vendorsim.VendorHMS, testRegion))
}

// captured is one request a fake Push Kit received.
type captured struct {
	method, path, auth, contentType string
	form                            url.Values
	body                            []byte
}

// fakeHMS is an httptest server answering token requests with a token and
// sends with answer (nil: 80000000).
type fakeHMS struct {
	*httptest.Server
	mu        sync.Mutex
	reqs      []captured
	tokenHits atomic.Int32
	tokenWait time.Duration
	token     func(w http.ResponseWriter)
	answer    func(w http.ResponseWriter, sends int32)
	sends     atomic.Int32
}

func newFake(t *testing.T, configure func(f *fakeHMS)) *fakeHMS {
	t.Helper()
	f := &fakeHMS{}
	if configure != nil {
		configure(f)
	}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := captured{method: r.Method, path: r.URL.Path, auth: r.Header.Get("Authorization"),
			contentType: r.Header.Get("Content-Type"), body: body}
		if r.URL.Path == hms.TokenPath {
			c.form, _ = url.ParseQuery(string(body))
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, c)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json;charset=UTF-8")
		if r.URL.Path == hms.TokenPath {
			n := f.tokenHits.Add(1)
			if f.tokenWait > 0 {
				select {
				case <-time.After(f.tokenWait):
				case <-r.Context().Done():
					return
				}
			}
			if f.token != nil {
				f.token(w)
				return
			}
			_, _ = fmt.Fprintf(w, `{"access_token":"CF3Xl2XV6j-%d","expires_in":3600,"token_type":"Bearer"}`, n)
			return
		}
		n := f.sends.Add(1)
		if f.answer != nil {
			f.answer(w, n)
			return
		}
		_, _ = io.WriteString(w, `{"code":"80000000","msg":"Success","requestId":"157440000000000000000001"}`)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeHMS) captured(path string) []captured {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []captured
	for _, c := range f.reqs {
		if c.path == path {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeHMS) channel(t *testing.T, opts ...hms.Option) *hms.Channel {
	return newChannel(t, f.URL, f.URL, testSecret, 0, opts...)
}

const sendPath = "/v1/" + testClientID + "/messages:send"

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

// TestRequestOnTheWire checks the exact requests Huawei receives: the
// client-credentials token request and the send request.
func TestRequestOnTheWire(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	base := channels.Message{
		MsgID: "msg-1", TaskID: "task-1", AppID: testApp,
		Title: "标题 Title", Body: "Body text", Payload: `{"order":42}`, ExpireAt: now.Add(90 * time.Minute),
	}
	tests := []struct {
		scenario string
		tokens   []string
		mutate   func(m *channels.Message)
		want     string
	}{
		{"single message with every extra carries its delivery id", []string{"tok-a"}, func(m *channels.Message) {
			m.Extras = map[string]string{
				hms.ExtraCategory: "9", hms.ExtraNotifyLevel: "1", hms.ExtraImage: "https://img.example.com/i.png",
				hms.ExtraChannelID: "orders", hms.ExtraNotifyID: "7", hms.ExtraBadgeAddNum: "2",
				hms.ExtraBadgeClass: "com.example.Main", hms.ExtraBigText: "1", channels.ExtraNotifyType: "3",
				channels.ExtraURI: "https://example.com/o/42", channels.ExtraCustomPrefix + "orderId": "42",
			}
		}, `{"validate_only":false,"message":{
			"data":"{\"orderId\":\"42\",\"payload\":\"{\\\"order\\\":42}\"}",
			"android":{"category":"FINANCE","ttl":"5400s","bi_tag":"d-tok-a","receipt_id":"RCP1",
				"notification":{"title":"标题 Title","body":"Body text","image":"https://img.example.com/i.png",
					"channel_id":"orders","notify_id":7,"style":1,"big_title":"标题 Title","big_body":"Body text",
					"importance":"LOW","default_sound":true,"use_default_vibrate":true,
					"badge":{"add_num":2,"class":"com.example.Main"},
					"click_action":{"type":2,"url":"https://example.com/o/42"}}},
			"token":["tok-a"]}}`},
		{"batch carries the msg id and opens an intent", []string{"tok-a", "tok-b", "tok-c"}, func(m *channels.Message) {
			m.ExpireAt = time.Time{}
			m.Extras = map[string]string{channels.ExtraURI: "intent://orders/42#Intent;scheme=app;end", hms.ExtraCategory: "marketing"}
		}, `{"validate_only":false,"message":{"data":"{\"order\":42}",
			"android":{"category":"MARKETING","bi_tag":"msg-1","receipt_id":"RCP1",
				"notification":{"title":"标题 Title","body":"Body text","notify_id":1231102756,
					"click_action":{"type":1,"intent":"intent://orders/42#Intent;scheme=app;end"}}},
			"token":["tok-a","tok-b","tok-c"]}}`},
		{"pass-through has no notification and a capped ttl", []string{"tok-a"}, func(m *channels.Message) {
			m.PassThrough, m.Title, m.Body = true, "", ""
			m.ExpireAt = now.Add(30 * 24 * time.Hour)
		}, `{"validate_only":false,"message":{"data":"{\"order\":42}",
			"android":{"ttl":"1296000s","bi_tag":"d-tok-a","receipt_id":"RCP1"},"token":["tok-a"]}}`},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, nil)
			ch := f.channel(t, hms.WithClock(func() time.Time { return now }))
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
				if r.Outcome != channels.Success || r.StatusCode != channels.StatusAcked || r.VendorMsgID != "157440000000000000000001" {
					t.Errorf("result %d: %+v", i, r)
				}
			}
			sends := f.captured(sendPath)
			if len(sends) != 1 {
				t.Fatalf("%d send requests, want 1", len(sends))
			}
			s := sends[0]
			if s.method != http.MethodPost || s.auth != "Bearer CF3Xl2XV6j-1" || !strings.HasPrefix(s.contentType, "application/json") {
				t.Errorf("send request %s auth %q content-type %q", s.method, s.auth, s.contentType)
			}
			jsonEqual(t, s.body, tc.want)

			toks := f.captured(hms.TokenPath)
			if len(toks) != 1 {
				t.Fatalf("%d token requests, want 1", len(toks))
			}
			wantForm := url.Values{"grant_type": {"client_credentials"}, "client_id": {testClientID}, "client_secret": {testSecret}}
			if toks[0].method != http.MethodPost || !strings.HasPrefix(toks[0].contentType, "application/x-www-form-urlencoded") ||
				!reflect.DeepEqual(toks[0].form, wantForm) {
				t.Errorf("token request %s %q %v", toks[0].method, toks[0].contentType, toks[0].form)
			}
		})
	}
}

// TestSimulatorSeesTheMessage checks the request as the simulator records
// it and the per-token outcomes of a partial success.
func TestSimulatorSeesTheMessage(t *testing.T) {
	srv := startSim(t, nil)
	ch := simChannel(t, srv)
	var msgs []channels.Message
	for i, tok := range []string{"tok-1", "bad-tok-2", "tok-3"} {
		msgs = append(msgs, channels.Message{DeliveryID: fmt.Sprint("d", i), MsgID: "m1", AppID: testApp, Token: tok,
			Title: "T", Body: "B", Payload: "p", Extras: map[string]string{hms.ExtraCategory: "IM"}})
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
	if res[1].StatusCode != channels.StatusBadDeviceToken || res[0].VendorMsgID == "" {
		t.Errorf("results %+v", res)
	}
	sends := requests(srv, ":send")
	if len(sends) != 1 {
		t.Fatalf("%d sends, want 1", len(sends))
	}
	r := sends[0]
	if r.Path != "/hms/cn/v1/"+testClientID+"/messages:send" || !strings.HasPrefix(r.Auth, "Bearer ") || r.AppID != testApp ||
		!slices.Equal(r.RegIDs, []string{"tok-1", "bad-tok-2", "tok-3"}) || r.Code != hms.CodePartialSuccess {
		t.Errorf("recorded %s auth %q app %q tokens %v code %d", r.Path, r.Auth, r.AppID, r.RegIDs, r.Code)
	}
	for k, v := range map[string]string{"message.android.bi_tag": "m1", "message.android.category": "IM", "message.data": "p",
		"message.android.notification.title": "T", "message.android.notification.click_action.type": "3",
		"message.android.receipt_id": "RCP1", "validate_only": "false"} {
		if got := r.Form.Get(k); got != v {
			t.Errorf("recorded %s = %q, want %q", k, got, v)
		}
	}
	tok := requests(srv, "/oauth2/v3/token")
	if len(tok) != 1 || tok[0].Form.Get("client_id") != testClientID || tok[0].Form.Has("client_secret") {
		t.Errorf("token requests %+v (the secret must not be recorded)", tok)
	}
	st := srv.Stats().Vendors[vendorsim.VendorHMS].Regions[testRegion].Apps[testApp]
	if st.Messages != 2 || st.InvalidTokens != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestDifferentContentsMakeOneCallEach checks the split of a heterogeneous
// batch, the bi_tag of each call and the results alignment.
func TestDifferentContentsMakeOneCallEach(t *testing.T) {
	srv := startSim(t, nil)
	ch := simChannel(t, srv)
	msgs := []channels.Message{
		{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "r1", Title: "A", Body: "a"},
		{DeliveryID: "d2", MsgID: "m2", AppID: testApp, Token: "r2", Title: "B", Body: "b"},
		{DeliveryID: "d3", MsgID: "m1", AppID: testApp, Token: "bad-r3", Title: "A", Body: "a"},
	}
	if ch.BatchKey(msgs[0]) != ch.BatchKey(msgs[2]) || ch.BatchKey(msgs[0]) == ch.BatchKey(msgs[1]) {
		t.Fatal("BatchKey does not group by content")
	}
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	want := []channels.Outcome{channels.Success, channels.Success, channels.InvalidToken}
	for i := range want {
		if res[i].Outcome != want[i] {
			t.Errorf("result %d: %s, want %s", i, res[i].Outcome, want[i])
		}
	}
	got := map[string]string{}
	for _, r := range requests(srv, ":send") {
		got[strings.Join(r.RegIDs, ",")] = r.Form.Get("message.android.bi_tag")
	}
	wantCalls := map[string]string{"r1,bad-r3": "m1", "r2": "d2"}
	if !reflect.DeepEqual(got, wantCalls) {
		t.Errorf("calls (tokens -> bi_tag) %v, want %v", got, wantCalls)
	}
}

// TestTokenFlow checks that the access token is fetched once, reused,
// refreshed before expiry and after Push Kit refuses it, and fetched once
// for concurrent callers.
func TestTokenFlow(t *testing.T) {
	msg := func(i int) []channels.Message {
		return []channels.Message{{DeliveryID: fmt.Sprint("d", i), MsgID: "m", AppID: testApp, Token: fmt.Sprint("tok-", i), Title: "T", Body: "B"}}
	}
	t.Run("fetched once, reused, refreshed before expiry and after a refusal", func(t *testing.T) {
		srv := startSim(t, func(c *vendorsim.HMSConfig) { c.TokenLifetime = vendorsim.Duration(time.Hour) })
		var clock atomic.Int64
		clock.Store(time.Now().UnixNano())
		ch := simChannel(t, srv, hms.WithClock(func() time.Time { return time.Unix(0, clock.Load()) }))
		steps := []struct {
			scenario   string
			before     func()
			wantTokens int
		}{
			{"first send fetches", func() {}, 1},
			{"second send reuses", func() {}, 1},
			{"within the lifetime it is reused", func() { clock.Add(int64(50 * time.Minute)) }, 1},
			{"five minutes before expiry it is refreshed", func() { clock.Add(int64(6 * time.Minute)) }, 2},
			{"an expired token (80200003) is replaced once", func() { srv.ExpireHMSAccessTokens() }, 3},
		}
		for i, st := range steps {
			st.before()
			res, err := ch.Send(context.Background(), msg(i))
			if err != nil || res[0].Outcome != channels.Success {
				t.Fatalf("%s: Send = %v, %v", st.scenario, res, err)
			}
			if got := len(requests(srv, "/oauth2/v3/token")); got != st.wantTokens {
				t.Errorf("%s: %d token requests, want %d", st.scenario, got, st.wantTokens)
			}
		}
		sends := requests(srv, ":send")
		if len(sends) != len(steps)+1 || sends[len(sends)-2].Code != hms.CodeOAuthTokenExpired {
			t.Errorf("%d sends, want %d with one 80200003", len(sends), len(steps)+1)
		}
	})
	t.Run("concurrent callers share one fetch", func(t *testing.T) {
		f := newFake(t, func(f *fakeHMS) { f.tokenWait = 150 * time.Millisecond })
		ch := f.channel(t)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Go(func() {
				res, err := ch.Send(context.Background(), msg(i))
				if err != nil || res[0].Outcome != channels.Success {
					t.Errorf("Send %d = %v, %v", i, res, err)
				}
			})
		}
		wg.Wait()
		if n := f.tokenHits.Load(); n != 1 {
			t.Errorf("%d token requests for 16 concurrent sends, want 1", n)
		}
	})
	t.Run("a waiting caller leaves when its context ends", func(t *testing.T) {
		f := newFake(t, func(f *fakeHMS) { f.tokenWait = 2 * time.Second })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := f.channel(t).Send(ctx, msg(0))
		if !errors.Is(err, channels.ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err = %v, want transient wrapping DeadlineExceeded", err)
		}
		if el := time.Since(start); el > time.Second {
			t.Errorf("Send took %s", el)
		}
	})
	t.Run("token endpoint answers", func(t *testing.T) {
		for _, tc := range []struct {
			scenario string
			status   int
			body     string
			class    error
			code     int
		}{
			{"refused secret", 401, `{"error":1101,"sub_error":20068,"error_description":"invalid client_secret"}`, channels.ErrPermanent, 1101},
			{"unavailable", 503, `busy`, channels.ErrTransient, 0},
			{"200 without a token", 200, `{"error":1102,"error_description":"missing client_id"}`, channels.ErrPermanent, 1102},
		} {
			f := newFake(t, func(f *fakeHMS) {
				f.token = func(w http.ResponseWriter) {
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
				}
			})
			_, err := f.channel(t).Send(context.Background(), msg(0))
			var ve *channels.VendorError
			if !errors.Is(err, tc.class) || !errors.As(err, &ve) || ve.Code != tc.code {
				t.Errorf("%s: err = %v, want %v with code %d", tc.scenario, err, tc.class, tc.code)
			}
			if strings.Contains(fmt.Sprint(err), testSecret) {
				t.Errorf("%s: error leaks the secret", tc.scenario)
			}
			if n := len(f.captured(sendPath)); n != 0 {
				t.Errorf("%s: %d sends without a token", tc.scenario, n)
			}
		}
	})
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
		{scenario: "partial success", status: 200,
			body:         answer("80100000", `{"success":1,"failure":1,"illegal_tokens":["t2"]}`),
			wantOutcomes: []channels.Outcome{channels.Success, channels.InvalidToken}, wantCode: channels.StatusAcked, wantSends: 1},
		{scenario: "partial success with reasons", status: 200,
			body:         answer("80100000", `{"illegalTokens":{"tokenFormatError":["t2"]},"failure":1}`),
			wantOutcomes: []channels.Outcome{channels.Success, channels.InvalidToken}, wantCode: channels.StatusAcked, wantSends: 1},
		{scenario: "all tokens invalid", status: 400, body: answer("80300007", "All the tokens are invalid"),
			wantOutcomes: []channels.Outcome{channels.InvalidToken, channels.InvalidToken}, wantCode: channels.StatusBadDeviceToken, wantSends: 1},
		{scenario: "illegal payload", status: 400, body: answer("80100003", "Illegal payload, badge addNum value ranges from 1 to 99"),
			wantOutcomes: []channels.Outcome{channels.Permanent, channels.Permanent}, wantCode: hms.CodeIllegalPayload, wantSends: 1},
		{scenario: "body too large", status: 400, body: answer("80300008", "The message body size exceeds the default value"),
			wantOutcomes: []channels.Outcome{channels.Permanent, channels.Permanent}, wantCode: hms.CodeBodyTooLarge, wantSends: 1},
		{scenario: "unknown code", status: 400, body: answer("89999999", "?"),
			wantOutcomes: []channels.Outcome{channels.Permanent, channels.Permanent}, wantCode: 89999999, wantSends: 1},
		{scenario: "token expired twice", status: 401, body: answer("80200003", "Oauth Token expired"),
			wantErr: channels.ErrPermanent, wantCode: hms.CodeOAuthTokenExpired, wantSends: 2},
		{scenario: "oauth error twice", status: 401, body: answer("80200001", "Oauth authentication error"),
			wantErr: channels.ErrPermanent, wantCode: hms.CodeOAuthError, wantSends: 2},
		{scenario: "no permission", status: 403, body: answer("80300002", "No permission"),
			wantErr: channels.ErrPermanent, wantCode: hms.CodeNoPermission, wantSends: 1},
		{scenario: "traffic control", status: 503, header: map[string]string{"Retry-After": "3"}, body: answer("81000001", "Traffic control"),
			wantErr: channels.ErrTransient, wantCode: hms.CodeInternalError, wantRetry: 3 * time.Second, wantSends: 1},
		{scenario: "internal error in a 200", status: 200, body: answer("81000001", "System internal error"),
			wantErr: channels.ErrTransient, wantCode: hms.CodeInternalError, wantSends: 1},
		{scenario: "bad gateway", status: 502, body: `<html>`, wantErr: channels.ErrTransient, wantSends: 1},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient, wantSends: 1},
		{scenario: "404 without json", status: 404, body: `not found`, wantErr: channels.ErrPermanent, wantSends: 1},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, func(f *fakeHMS) {
				f.answer = func(w http.ResponseWriter, _ int32) {
					for k, v := range tc.header {
						w.Header().Set(k, v)
					}
					w.WriteHeader(tc.status)
					_, _ = io.WriteString(w, tc.body)
				}
			})
			res, err := f.channel(t).Send(context.Background(), []channels.Message{
				{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "t1", Title: "t", Body: "b"},
				{DeliveryID: "d2", MsgID: "m1", AppID: testApp, Token: "t2", Title: "t", Body: "b"},
			})
			if n := f.sends.Load(); int(n) != tc.wantSends {
				t.Errorf("%d sends, want %d", n, tc.wantSends)
			}
			if tc.wantErr != nil {
				if ve := channeltest.WantCallError(t, err, tc.wantErr, tc.wantCode, tc.wantRetry, ""); ve.Channel != hms.Name {
					t.Errorf("vendor error %+v, want channel %s", ve, hms.Name)
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
}

// TestContentChecks: messages that cannot be sent get a Permanent result
// with Huawei's code and no call is made.
func TestContentChecks(t *testing.T) {
	now := time.Now()
	ok := channels.Message{DeliveryID: "d", MsgID: "m", AppID: testApp, Token: "t", Title: "T", Body: "B"}
	tests := []struct {
		scenario string
		mutate   func(m *channels.Message)
		wantCode int
	}{
		{"title over 40 characters", func(m *channels.Message) { m.Title = strings.Repeat("标", 41) }, hms.CodeIllegalPayload},
		{"body over 1024 characters", func(m *channels.Message) { m.Body = strings.Repeat("b", 1025) }, hms.CodeIllegalPayload},
		{"payload over 2 KB", func(m *channels.Message) { m.Payload = strings.Repeat("p", 2049) }, hms.CodeBodyTooLarge},
		{"message over 4 KB", func(m *channels.Message) {
			m.Body = strings.Repeat("长", 1000)
			m.Payload = strings.Repeat("p", 2000)
		}, hms.CodeBodyTooLarge},
		{"empty title", func(m *channels.Message) { m.Title = " " }, hms.CodeIllegalPayload},
		{"expired", func(m *channels.Message) { m.ExpireAt = now.Add(-time.Second) }, channels.StatusNone},
		{"badge without class", func(m *channels.Message) { m.Extras = map[string]string{hms.ExtraBadgeAddNum: "1"} }, hms.CodeIllegalPayload},
		{"badge over 99", func(m *channels.Message) {
			m.Extras = map[string]string{hms.ExtraBadgeAddNum: "100", hms.ExtraBadgeClass: "c"}
		}, hms.CodeIllegalPayload},
		{"unknown category", func(m *channels.Message) { m.Extras = map[string]string{hms.ExtraCategory: "15"} }, hms.CodeIllegalPayload},
		{"unknown notify level", func(m *channels.Message) { m.Extras = map[string]string{hms.ExtraNotifyLevel: "3"} }, hms.CodeIllegalPayload},
		{"bad notify id", func(m *channels.Message) { m.Extras = map[string]string{hms.ExtraNotifyID: "x"} }, hms.CodeIllegalPayload},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFake(t, nil)
			m := ok
			tc.mutate(&m)
			res, err := f.channel(t).Send(context.Background(), []channels.Message{m})
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res[0].Outcome != channels.Permanent || res[0].StatusCode != tc.wantCode || res[0].StatusDesc == "" {
				t.Errorf("result %+v, want permanent %d", res[0], tc.wantCode)
			}
			if n := f.tokenHits.Load() + f.sends.Load(); n != 0 {
				t.Errorf("%d requests for a message that is not sent", n)
			}
		})
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL
	ts.Close()
	ch := newChannel(t, base, base, testSecret, time.Second)
	_, err := ch.Send(context.Background(), []channels.Message{{DeliveryID: "d", MsgID: "m", AppID: testApp, Token: "t", Title: "T", Body: "B"}})
	if !errors.Is(err, channels.ErrTransient) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestCategories(t *testing.T) {
	c := hms.Categories()
	if len(c) != 14 || c[0] != "IM" || c[8] != "FINANCE" || c[13] != "MARKETING" {
		t.Errorf("categories %v", c)
	}
	c[0] = "changed"
	if hms.Categories()[0] != "IM" {
		t.Error("Categories exposes its backing array")
	}
}

func TestConfig(t *testing.T) {
	valid := hms.Config{Endpoint: hms.Endpoint{Region: "cn", Apps: map[string]hms.App{testApp: {AppID: testClientID, AppSecret: "s3cr3t-value"}}}}
	tests := []struct {
		scenario string
		mutate   func(c *hms.Config)
		wantErr  string
	}{
		{"valid with defaults", func(c *hms.Config) {}, ""},
		{"unknown region", func(c *hms.Config) { c.Region = "us" }, "unknown region"},
		{"no apps", func(c *hms.Config) { c.Apps = nil }, "no apps"},
		{"empty secret", func(c *hms.Config) { c.Apps = map[string]hms.App{"a": {AppID: "1"}} }, "empty appSecret"},
		{"empty app id", func(c *hms.Config) { c.Apps = map[string]hms.App{"a": {AppSecret: "s"}} }, "appId"},
		{"batch too large", func(c *hms.Config) { c.MaxBatch = 1001 }, "maxBatch"},
		{"bad base url", func(c *hms.Config) { c.BaseURL = "ftp://x" }, "baseUrl"},
		{"bad auth url", func(c *hms.Config) { c.AuthURL = "nope" }, "authUrl"},
		{"bad importance", func(c *hms.Config) { c.Importance = "HIGH" }, "importance"},
		{"message limit over Huawei's", func(c *hms.Config) { c.Limits.MaxMessageBytes = 5000 }, "limits"},
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
	if d.BaseURL != hms.DefaultBaseURL || d.AuthURL != hms.DefaultAuthURL || d.MaxBatch != 1000 ||
		d.Limits != (hms.Limits{MaxTitleRunes: 40, MaxBodyRunes: 1024, MaxPayloadBytes: 2048, MaxMessageBytes: 4096}) {
		t.Errorf("defaults not applied: %v", d)
	}
	js, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{d.String(), fmt.Sprintf("%v", d), fmt.Sprintf("%+v", d), fmt.Sprintf("%#v", d), string(js)} {
		if strings.Contains(s, "s3cr3t-value") {
			t.Errorf("secret printed: %s", s)
		}
		if !strings.Contains(s, channels.Redacted) {
			t.Errorf("no redaction marker: %s", s)
		}
	}
}

// TestMessageSizeLimitMatchesTheSimulator: a message of exactly 4096 bytes
// (tokens excluded) is accepted by the simulator; one byte more is refused
// by the channel without a call.
func TestMessageSizeLimitMatchesTheSimulator(t *testing.T) {
	srv := startSim(t, nil)
	ch := simChannel(t, srv)
	m := channels.Message{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "tok-1",
		Title: "T", Body: strings.Repeat("长", 1000), Payload: "p"}
	size := func(m channels.Message) int {
		req, err := ch.Request(ch.Config().Apps[testApp], []channels.Message{m}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		req.Message.Token = nil
		b, err := json.Marshal(req.Message)
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	m.Payload = strings.Repeat("p", 1+hms.MaxMessageBytes-size(m))
	if got := size(m); got != hms.MaxMessageBytes {
		t.Fatalf("message size %d, want %d", got, hms.MaxMessageBytes)
	}
	res, err := ch.Send(context.Background(), []channels.Message{m})
	if err != nil || res[0].Outcome != channels.Success {
		t.Fatalf("message at the limit: %v %+v", err, res)
	}
	m.Payload += "p"
	res, err = ch.Send(context.Background(), []channels.Message{m})
	if err != nil || res[0].Outcome != channels.Permanent || res[0].StatusCode != hms.CodeBodyTooLarge {
		t.Fatalf("message over the limit: %v %+v", err, res)
	}
	if n := len(requests(srv, ":send")); n != 1 {
		t.Errorf("%d sends, want 1", n)
	}
}
