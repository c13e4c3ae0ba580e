package mipush_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/channeltest"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
)

const (
	testApp     = "app-1"
	testSecret  = "secret-1"
	testPackage = "com.example.app"
	testRegion  = "sg"
)

func startSim(t *testing.T) *vendorsim.Server {
	t.Helper()
	srv, err := allvendors.Start(t.Context(), vendorsim.Config{
		Seed: 1,
		MiPush: vendorsim.MiPushConfig{
			Apps: []vendorsim.MiPushApp{{AppID: testApp, Secret: testSecret, PackageName: testPackage}},
		},
	})
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

func newChannel(t *testing.T, baseURL, secret string, timeout time.Duration, opts ...mipush.Option) *mipush.Channel {
	t.Helper()
	ch, err := mipush.New(mipush.Config{
		Endpoint: mipush.Endpoint{
			Region:  testRegion,
			BaseURL: baseURL,
			Apps:    map[string]mipush.App{testApp: {AppSecret: channels.Secret(secret), PackageName: testPackage}},
			Timeout: timeout,
		},
	}, opts...)
	if err != nil {
		t.Fatalf("mipush.New: %v", err)
	}
	return ch
}

func TestConformance(t *testing.T) {
	srv := startSim(t)
	h := conformance.SimHooks(conformance.Harness{
		NewChannel: func(t *testing.T, o conformance.ChannelOptions) channels.Channel {
			secret := testSecret
			if o.BadCredentials {
				secret = "wrong-secret"
			}
			return newChannel(t, srv.MiPushBaseURL(testRegion), secret, o.Timeout)
		},
		AppID:        testApp,
		Token:        func(i int) string { return fmt.Sprintf("regid-%04d", i) },
		InvalidToken: func(i int) string { return fmt.Sprintf("bad-regid-%04d", i) },
		Calls:        func(t *testing.T) int { return len(srv.Requests(vendorsim.VendorMiPush, testRegion)) },
		Limits: conformance.Limits{
			MaxTitleRunes:   mipush.MaxTitleRunes,
			MaxBodyRunes:    mipush.MaxDescriptionRunes,
			MaxPayloadBytes: mipush.MaxPayloadBytes,
		},
	}, srv, vendorsim.VendorMiPush)
	conformance.Run(t, h)
	conformance.RunRecall(t, conformance.SimRecallHarness(h, srv, vendorsim.VendorMiPush, testRegion))
}

// TestRequestOnTheWire checks the exact HTTP request the channel makes.
func TestRequestOnTheWire(t *testing.T) {
	srv := startSim(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	ch := newChannel(t, srv.MiPushBaseURL("eu"), testSecret, 0, mipush.WithClock(func() time.Time { return now }))

	base := channels.Message{
		MsgID: "msg-1", TaskID: "task-1", AppID: testApp,
		Title: "标题 Title", Body: "Body text", Payload: `{"order":42}`,
		ExpireAt: now.Add(90 * time.Minute),
		Extras: map[string]string{
			channels.ExtraMiPushChannelID:           "high_system",
			channels.ExtraNotifyType:                "1",
			channels.ExtraURI:                       "https://example.com/o/42",
			channels.ExtraCustomPrefix + "orderId":  "42",
			channels.ExtraCustomPrefix + "callback": "must-not-override",
		},
	}
	tests := []struct {
		scenario  string
		tokens    []string
		wantParam string
	}{
		{"single message carries its delivery id", []string{"regid-a"}, "d-regid-a"},
		{"batch carries the msg id", []string{"regid-a", "regid-b", "bad-regid-c"}, "msg-1"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			msgs := make([]channels.Message, len(tc.tokens))
			for i, tok := range tc.tokens {
				msgs[i] = base
				msgs[i].Token, msgs[i].DeliveryID, msgs[i].DeviceID = tok, "d-"+tok, "dev-"+tok
			}
			res, err := ch.Send(context.Background(), msgs)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := srv.Requests(vendorsim.VendorMiPush, "eu")
			if len(reqs) != 1 {
				t.Fatalf("%d requests recorded, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/mipush/eu/v3/message/regid" {
				t.Errorf("request %s %s, want POST /mipush/eu/v3/message/regid", r.Method, r.Path)
			}
			if r.Auth != "key="+testSecret {
				t.Errorf("Authorization %q, want key=%s", r.Auth, testSecret)
			}
			if !slices.Equal(r.RegIDs, tc.tokens) {
				t.Errorf("regIds %v, want %v", r.RegIDs, tc.tokens)
			}
			want := url.Values{
				"registration_id":         {strings.Join(tc.tokens, ",")},
				"restricted_package_name": {testPackage},
				"title":                   {"标题 Title"},
				"description":             {"Body text"},
				"payload":                 {`{"order":42}`},
				"pass_through":            {"0"},
				"notify_type":             {"1"},
				"notify_id":               {strconv.Itoa(channels.NotifyID("msg-1"))},
				"time_to_live":            {strconv.FormatInt((90 * time.Minute).Milliseconds(), 10)},
				"extra.channel_id":        {"high_system"},
				"extra.notify_effect":     {"3"},
				"extra.web_uri":           {"https://example.com/o/42"},
				"extra.orderId":           {"42"},
				"extra.callback.param":    {tc.wantParam},
			}
			if got := r.Form; !equalForms(got, want) {
				t.Errorf("form\n got %v\nwant %v", got, want)
			}
			for i, tok := range tc.tokens {
				wantOutcome := channels.Success
				if strings.HasPrefix(tok, "bad-") {
					wantOutcome = channels.InvalidToken
				}
				if res[i].Outcome != wantOutcome {
					t.Errorf("result %d (%s): %s, want %s", i, tok, res[i].Outcome, wantOutcome)
				}
				if res[i].VendorMsgID == "" {
					t.Errorf("result %d: no vendor msg id", i)
				}
			}
		})
	}
}

func equalForms(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestDifferentContentsMakeOneCallEach checks the split of a heterogeneous
// batch and the results alignment.
func TestDifferentContentsMakeOneCallEach(t *testing.T) {
	srv := startSim(t)
	ch := newChannel(t, srv.MiPushBaseURL(testRegion), testSecret, 0)
	msgs := []channels.Message{
		{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "r1", Title: "A", Body: "a"},
		{DeliveryID: "d2", MsgID: "m2", AppID: testApp, Token: "r2", Title: "B", Body: "b"},
		{DeliveryID: "d3", MsgID: "m1", AppID: testApp, Token: "bad-r3", Title: "A", Body: "a"},
		{DeliveryID: "d4", MsgID: "m2", AppID: testApp, Token: "r4", Title: "B", Body: "b"},
	}
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
			t.Errorf("result %d: %s, want %s", i, res[i].Outcome, want[i])
		}
	}
	reqs := srv.Requests(vendorsim.VendorMiPush, testRegion)
	if len(reqs) != 2 {
		t.Fatalf("%d calls, want 2", len(reqs))
	}
	got := map[string]string{}
	for _, r := range reqs {
		got[r.Form.Get("registration_id")] = r.Form.Get("extra.callback.param")
	}
	wantCalls := map[string]string{"r1,bad-r3": "m1", "r2,r4": "m2"}
	if len(got) != 2 || got["r1,bad-r3"] != wantCalls["r1,bad-r3"] || got["r2,r4"] != wantCalls["r2,r4"] {
		t.Errorf("calls (regIds -> callback.param) %v, want %v", got, wantCalls)
	}
}

// TestPartialFailureIsReportedPerMessage: when one of two calls fails, the
// batch succeeds with per-message results for the failed call.
func TestPartialFailureIsReportedPerMessage(t *testing.T) {
	var n atomic.Int32
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("title") == "B" {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		n.Add(1)
		_, _ = io.WriteString(w, `{"result":"ok","code":0,"data":{"id":"x1"},"description":"成功"}`)
	}))
	t.Cleanup(ts.Close)
	ch := newChannel(t, ts.URL, testSecret, 0)
	msgs := []channels.Message{
		{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "r1", Title: "A", Body: "a"},
		{DeliveryID: "d2", MsgID: "m2", AppID: testApp, Token: "r2", Title: "B", Body: "b"},
	}
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res[0].Outcome != channels.Success || res[1].Outcome != channels.Transient {
		t.Fatalf("outcomes %s, %s; want success, transient", res[0].Outcome, res[1].Outcome)
	}
	if res[1].RetryAfter != 7*time.Second {
		t.Errorf("RetryAfter %s, want 7s", res[1].RetryAfter)
	}
}

// TestAnswerClassification maps canned MiPush answers to outcomes.
func TestAnswerClassification(t *testing.T) {
	tests := []struct {
		scenario    string
		status      int
		header      map[string]string
		body        string
		wantErr     error // class of the whole-call error, nil for results
		wantCode    int   // VendorError.Code or result status code
		wantOutcome channels.Outcome
		wantRetry   time.Duration
	}{
		{scenario: "success", status: 200,
			body:        `{"result":"ok","trace_id":"Xdm1","code":0,"data":{"id":"sdm1"},"description":"成功","info":"Received push messages for 1 REGID"}`,
			wantOutcome: channels.Success, wantCode: channels.StatusAcked},
		{scenario: "bad regids", status: 200,
			body:        `{"result":"ok","code":0,"data":{"id":"sdm1","bad_regids":"r1"},"description":"成功"}`,
			wantOutcome: channels.InvalidToken, wantCode: channels.StatusBadDeviceToken},
		{scenario: "no valid targets", status: 200,
			body:        `{"result":"error","reason":"No valid targets!","trace_id":"Xcm1","code":20301,"description":"发送消息失败"}`,
			wantOutcome: channels.InvalidToken, wantCode: channels.StatusBadDeviceToken},
		{scenario: "authentication failed", status: 200,
			body:    `{"result":"error","trace_id":"Xcm0","code":21301,"description":"认证失败","reason":"Invalid application secret."}`,
			wantErr: channels.ErrPermanent, wantCode: mipush.CodeAuthenticationFailed},
		{scenario: "invalid package name", status: 200,
			body:    `{"result":"error","code":22022,"description":"应用程序package name不合法"}`,
			wantErr: channels.ErrPermanent, wantCode: mipush.CodeInvalidPackageName},
		{scenario: "api called too often", status: 200,
			body:    `{"result":"error","code":10027,"description":"应用的API调用太频繁"}`,
			wantErr: channels.ErrTransient, wantCode: mipush.CodeApplicationAPICallTooOften},
		{scenario: "daily quota exceeded", status: 200,
			body:    `{"result":"error","code":10034,"description":"应用当日发送消息数量过多"}`,
			wantErr: channels.ErrTransient, wantCode: mipush.CodeDailyMessagesExceeded},
		{scenario: "system busy", status: 200,
			body:    `{"result":"error","code":10009,"description":"系统繁忙"}`,
			wantErr: channels.ErrTransient, wantCode: mipush.CodeSystemIsBusy},
		{scenario: "content refused", status: 200,
			body:        `{"result":"error","reason":"Title or Description is empty!","code":65011,"description":"未提供参数"}`,
			wantOutcome: channels.Permanent, wantCode: mipush.CodeParameterNotProvided},
		{scenario: "unknown code", status: 200,
			body:        `{"result":"error","code":99999,"description":"?"}`,
			wantOutcome: channels.Permanent, wantCode: 99999},
		{scenario: "http 429 with retry-after", status: 429, header: map[string]string{"Retry-After": "3"},
			body: `too many`, wantErr: channels.ErrTransient, wantRetry: 3 * time.Second},
		{scenario: "http 502", status: 502, body: `<html>bad gateway</html>`, wantErr: channels.ErrTransient},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient},
		{scenario: "http 404 without json", status: 404, body: `not found`, wantErr: channels.ErrPermanent},
		{scenario: "http 401 with success code", status: 401, body: `{"code":0}`, wantErr: channels.ErrPermanent},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer ts.Close()
			ch := newChannel(t, ts.URL, testSecret, 0)
			res, err := ch.Send(context.Background(), []channels.Message{
				{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "r1", Title: "t", Body: "b"},
			})
			if tc.wantErr != nil {
				_ = channeltest.WantCallError(t, err, tc.wantErr, tc.wantCode, tc.wantRetry, testSecret)
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res[0].Outcome != tc.wantOutcome || res[0].StatusCode != tc.wantCode {
				t.Errorf("result %s/%d (%s), want %s/%d", res[0].Outcome, res[0].StatusCode, res[0].StatusDesc, tc.wantOutcome, tc.wantCode)
			}
		})
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL
	ts.Close() // nothing listens any more
	ch := newChannel(t, base, testSecret, time.Second)
	_, err := ch.Send(context.Background(), []channels.Message{
		{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "r1", Title: "t", Body: "b"},
	})
	if !errors.Is(err, channels.ErrTransient) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestTimeToLiveIsCapped(t *testing.T) {
	now := time.Now()
	ch := newChannel(t, "http://127.0.0.1:1", testSecret, 0, mipush.WithClock(func() time.Time { return now }))
	f := ch.Form(mipush.App{PackageName: testPackage}, []channels.Message{
		{Token: "r1", Title: "t", Body: "b", ExpireAt: now.Add(30 * 24 * time.Hour)},
	}, now)
	if got, want := f.Get("time_to_live"), strconv.FormatInt(mipush.MaxTimeToLive.Milliseconds(), 10); got != want {
		t.Errorf("time_to_live %s, want %s", got, want)
	}
	f = ch.Form(mipush.App{PackageName: testPackage}, []channels.Message{{Token: "r1", PassThrough: true}}, now)
	if f.Has("time_to_live") || f.Get("pass_through") != "1" || f.Has("title") {
		t.Errorf("pass-through without expiry: %v", f)
	}
}

func TestConfig(t *testing.T) {
	valid := mipush.Config{
		Endpoint: mipush.Endpoint{
			Region: "ru",
			Apps:   map[string]mipush.App{testApp: {AppSecret: "s3cr3t-value", PackageName: testPackage}},
		},
	}
	tests := []struct {
		scenario string
		mutate   func(c *mipush.Config)
		wantErr  string
	}{
		{"valid with defaults", func(c *mipush.Config) {}, ""},
		{"unknown region", func(c *mipush.Config) { c.Region = "us" }, "unknown region"},
		{"no apps", func(c *mipush.Config) { c.Apps = nil }, "no apps"},
		{"empty secret", func(c *mipush.Config) { c.Apps = map[string]mipush.App{"a": {PackageName: "p"}} }, "empty appSecret"},
		{"empty package", func(c *mipush.Config) { c.Apps = map[string]mipush.App{"a": {AppSecret: "s"}} }, "empty packageName"},
		{"batch too large", func(c *mipush.Config) { c.MaxBatch = 1001 }, "maxBatch"},
		{"bad base url", func(c *mipush.Config) { c.BaseURL = "ftp://x" }, "baseUrl"},
		{"bad callback url", func(c *mipush.Config) { c.CallbackURL = "nope" }, "callbackUrl"},
		{"negative timeout", func(c *mipush.Config) { c.Timeout = -time.Second }, "timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := valid
			c.Apps = map[string]mipush.App{}
			for k, v := range valid.Apps {
				c.Apps[k] = v
			}
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
	if d.BaseURL != "https://ru-api.xmpush.global.xiaomi.com" || d.Timeout != mipush.DefaultTimeout ||
		d.MaxBatch != 1000 || d.NotifyType != -1 || d.Limits.MaxPayloadBytes != 4096 {
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

// TestCallbackParamIsTaggedForTheReceiptsWorker checks extra.callback.param
// with a receipt signer: the delivery id or msg id with the tag the
// receipts worker verifies, dropped when it would exceed MaxCallbackParam;
// and extra.callback names the app.
func TestCallbackParamIsTaggedForTheReceiptsWorker(t *testing.T) {
	key := testinfra.IDKey()
	one := []channels.Message{{DeliveryID: "d0123456789abcdef01234567", MsgID: "msg-1", AppID: testApp}}
	many := []channels.Message{{DeliveryID: "d1", MsgID: "msg-1", AppID: testApp}, {DeliveryID: "d2", MsgID: "msg-1", AppID: testApp}}
	long := []channels.Message{{MsgID: strings.Repeat("m", mipush.MaxCallbackParam-schema.ReceiptTagOverhead+1), AppID: testApp}, {AppID: testApp}}
	for _, tc := range []struct {
		scenario string
		msgs     []channels.Message
		want     string
	}{
		{"one message: its delivery id, tagged", one, key.ReceiptParam("mipush", testApp, one[0].DeliveryID)},
		{"many tokens: the msg id, tagged", many, key.ReceiptParam("mipush", testApp, "msg-1")},
		{"too long once tagged: none", long, ""},
	} {
		got := mipush.CallbackParam(key, tc.msgs)
		if got != tc.want {
			t.Errorf("%s: CallbackParam = %q, want %q", tc.scenario, got, tc.want)
		}
		if v, ok := key.VerifyReceiptParam("mipush", testApp, got); got != "" && (!ok || v == "") {
			t.Errorf("%s: the receipts worker would refuse %q", tc.scenario, got)
		}
	}
	if got := channels.AppReceiptURL("https://r.example.com/receipts/mipush", testApp); got != "https://r.example.com/receipts/mipush?app="+testApp {
		t.Errorf("AppReceiptURL = %q", got)
	}
}
