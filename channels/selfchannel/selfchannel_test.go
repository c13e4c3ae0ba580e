package selfchannel_test

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
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/channeltest"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/selfchannel"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
)

const (
	testApp    = "app-1"
	testKey    = "app-key-1"
	testRegion = "sg"
)

func startSim(t *testing.T) *vendorsim.Server {
	t.Helper()
	srv, err := allvendors.Start(t.Context(), vendorsim.Config{
		Seed: 1,
		Self: vendorsim.SelfConfig{Apps: []vendorsim.SelfApp{{AppID: testApp, AppKey: testKey}}},
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

func newChannel(t *testing.T, baseURL, key string, timeout time.Duration, opts ...selfchannel.Option) *selfchannel.Channel {
	t.Helper()
	ch, err := selfchannel.New(selfchannel.Config{
		Region:  testRegion,
		BaseURL: baseURL,
		Apps:    map[string]selfchannel.App{testApp: {AppKey: channels.Secret(key)}},
		Timeout: timeout,
	}, opts...)
	if err != nil {
		t.Fatalf("selfchannel.New: %v", err)
	}
	return ch
}

func TestConformance(t *testing.T) {
	srv := startSim(t)
	h := conformance.SimHooks(conformance.Harness{
		NewChannel: func(t *testing.T, o conformance.ChannelOptions) channels.Channel {
			key := testKey
			if o.BadCredentials {
				key = "wrong-key"
			}
			return newChannel(t, srv.SelfBaseURL(testRegion), key, o.Timeout)
		},
		AppID:        testApp,
		Token:        func(i int) string { return fmt.Sprintf("tok-%04d", i) },
		InvalidToken: func(i int) string { return fmt.Sprintf("bad-tok-%04d", i) },
		Calls:        func(t *testing.T) int { return len(srv.Requests(vendorsim.VendorSelf, testRegion)) },
		Limits:       conformance.Limits{MaxPayloadBytes: selfchannel.MaxPayloadBytes},
	}, srv, vendorsim.VendorSelf)
	conformance.Run(t, h)
	conformance.RunRecall(t, conformance.SimRecallHarness(h, srv, vendorsim.VendorSelf, testRegion))
}

// TestRequestOnTheWire checks the exact HTTP request the gateway receives
// and the mapping of its per-message answers.
func TestRequestOnTheWire(t *testing.T) {
	srv := startSim(t)
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	expire := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	ch := newChannel(t, srv.SelfBaseURL("eu"), testKey, 0, selfchannel.WithClock(func() time.Time { return now }))
	extras := map[string]string{
		channels.ExtraNotifyType: "1", channels.ExtraURI: "app://order/42",
		selfchannel.ExtraChannelID: "orders", selfchannel.ExtraNotifyID: "7",
		channels.ExtraCustomPrefix + "badge": "3", channels.ExtraCustomPrefix + "sound": "ring.mp3",
		channels.ExtraCustomPrefix + "big_text": "1", channels.ExtraCustomPrefix + "orderId": "42",
		selfchannel.ExtraImageURL: "https://example.com/i.png",
	}
	tests := []struct {
		scenario     string
		msgs         []channels.Message
		wantMessages []selfchannel.PushMessage
		wantOutcomes []channels.Outcome
		wantCodes    []int
	}{
		{
			scenario: "notifications with display fields and custom extras; per-token answers",
			msgs: []channels.Message{
				{DeliveryID: "d1", MsgID: "m1", TaskID: "t1", AppID: testApp, Token: "tok-1", Title: "标题", Body: "Body", Payload: `{"a":1}`, ExpireAt: expire, Extras: extras},
				{DeliveryID: "d2", MsgID: "m1", TaskID: "t1", AppID: testApp, Token: "bad-tok-2", Title: "标题", Body: "Body", Extras: extras},
				{DeliveryID: "d3", MsgID: "m1", TaskID: "t1", AppID: testApp, Token: "offline-tok-3", Title: "标题", Body: "Body"},
			},
			wantMessages: []selfchannel.PushMessage{
				{Token: "tok-1", DeliveryID: "d1", MsgID: "m1", TaskID: "t1", Title: "标题", Body: "Body", Payload: `{"a":1}`, ExpireAt: expire.UnixMilli(),
					Notification: &selfchannel.Notification{NotifyType: 1, URI: "app://order/42", ChannelID: "orders", NotifyID: "7",
						Sound: "ring.mp3", Badge: "3", BigText: true, ImageURL: "https://example.com/i.png"},
					Extras: map[string]string{"badge": "3", "sound": "ring.mp3", "big_text": "1", "orderId": "42"}},
				{Token: "bad-tok-2", DeliveryID: "d2", MsgID: "m1", TaskID: "t1", Title: "标题", Body: "Body",
					Notification: &selfchannel.Notification{NotifyType: 1, URI: "app://order/42", ChannelID: "orders", NotifyID: "7",
						Sound: "ring.mp3", Badge: "3", BigText: true, ImageURL: "https://example.com/i.png"},
					Extras: map[string]string{"badge": "3", "sound": "ring.mp3", "big_text": "1", "orderId": "42"}},
				{Token: "offline-tok-3", DeliveryID: "d3", MsgID: "m1", TaskID: "t1", Title: "标题", Body: "Body"},
			},
			wantOutcomes: []channels.Outcome{channels.Success, channels.InvalidToken, channels.Transient},
			wantCodes:    []int{channels.StatusAcked, channels.StatusBadDeviceToken, channels.StatusDeviceNotOnlineOrNoResponse},
		},
		{
			scenario: "pass-through carries no notification",
			msgs: []channels.Message{
				{DeliveryID: "d4", MsgID: "m2", AppID: testApp, Token: "tok-4", PassThrough: true, Payload: "sync", Extras: map[string]string{selfchannel.ExtraSound: "x"}},
			},
			wantMessages: []selfchannel.PushMessage{{Token: "tok-4", DeliveryID: "d4", MsgID: "m2", Payload: "sync", PassThrough: true}},
			wantOutcomes: []channels.Outcome{channels.Success},
			wantCodes:    []int{channels.StatusAcked},
		},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			srv.Reset()
			res, err := ch.Send(context.Background(), tc.msgs)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			reqs := srv.Requests(vendorsim.VendorSelf, "eu")
			if len(reqs) != 1 {
				t.Fatalf("%d requests recorded, want 1", len(reqs))
			}
			r := reqs[0]
			if r.Method != http.MethodPost || r.Path != "/self/eu/v1/push" || r.Auth != "Bearer "+testKey || r.AppID != testApp {
				t.Errorf("request %s %s auth %q app %q, want POST /self/eu/v1/push, Bearer %s, %s", r.Method, r.Path, r.Auth, r.AppID, testKey, testApp)
			}
			var got selfchannel.PushRequest
			if err := json.Unmarshal([]byte(r.Form.Get("body")), &got); err != nil {
				t.Fatalf("body: %v", err)
			}
			want := selfchannel.PushRequest{AppID: testApp, Messages: tc.wantMessages}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body\n got %+v\nwant %+v", got, want)
			}
			for i := range tc.wantOutcomes {
				if res[i].Outcome != tc.wantOutcomes[i] || res[i].StatusCode != tc.wantCodes[i] {
					t.Errorf("result %d: %s/%d (%s), want %s/%d", i, res[i].Outcome, res[i].StatusCode, res[i].StatusDesc, tc.wantOutcomes[i], tc.wantCodes[i])
				}
			}
			if res[0].VendorMsgID == "" {
				t.Error("delivered message has no gateway message id")
			}
		})
	}
}

func cannedServer(t *testing.T, status int, header map[string]string, body string) string {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(ts.Close)
	return ts.URL
}

// TestAnswerClassification maps canned gateway answers to outcomes.
func TestAnswerClassification(t *testing.T) {
	one := []channels.Message{{DeliveryID: "d1", MsgID: "m1", AppID: testApp, Token: "tok-1", Title: "t", Body: "b"}}
	tests := []struct {
		scenario    string
		status      int
		header      map[string]string
		body        string
		wantErr     error
		wantRetry   time.Duration
		wantOutcome channels.Outcome
		wantCode    int
	}{
		{scenario: "delivered", status: 200, body: `{"results":[{"deliveryId":"d1","status":"delivered","messageId":"g1"}]}`,
			wantOutcome: channels.Success, wantCode: channels.StatusAcked},
		{scenario: "offline with retry hint", status: 200, body: `{"results":[{"status":"offline","retryAfterSeconds":30}]}`,
			wantOutcome: channels.Transient, wantCode: channels.StatusDeviceNotOnlineOrNoResponse, wantRetry: 30 * time.Second},
		{scenario: "invalid token", status: 200, body: `{"results":[{"status":"invalid_token"}]}`,
			wantOutcome: channels.InvalidToken, wantCode: channels.StatusBadDeviceToken},
		{scenario: "expired", status: 200, body: `{"results":[{"status":"expired"}]}`,
			wantOutcome: channels.Permanent, wantCode: channels.StatusNone},
		{scenario: "rejected", status: 200, body: `{"results":[{"status":"rejected","reason":"sensitive words"}]}`,
			wantOutcome: channels.Permanent, wantCode: channels.StatusNone},
		{scenario: "unknown status is not retried", status: 200, body: `{"results":[{"status":"queued"}]}`,
			wantOutcome: channels.Permanent, wantCode: channels.StatusNone},
		{scenario: "unknown app key", status: 401, body: `{"error":"unauthorized"}`, wantErr: channels.ErrPermanent},
		{scenario: "app id not the key's", status: 403, body: `{"error":"forbidden"}`, wantErr: channels.ErrPermanent},
		{scenario: "bad request", status: 400, body: `{"error":"bad_request"}`, wantErr: channels.ErrPermanent},
		{scenario: "body too large", status: 413, body: `{"error":"payload_too_large"}`, wantErr: channels.ErrPermanent},
		{scenario: "rate limited with retry-after", status: 429, header: map[string]string{"Retry-After": "2"},
			body: `{"error":"rate_limited"}`, wantErr: channels.ErrTransient, wantRetry: 2 * time.Second},
		{scenario: "unavailable", status: 503, body: `<html>`, wantErr: channels.ErrTransient},
		{scenario: "garbled 200", status: 200, body: `<html>`, wantErr: channels.ErrTransient},
		{scenario: "wrong number of results", status: 200, body: `{"results":[]}`, wantErr: channels.ErrTransient},
		{scenario: "result of another delivery", status: 200, body: `{"results":[{"deliveryId":"d9","status":"delivered"}]}`, wantErr: channels.ErrTransient},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			ch := newChannel(t, cannedServer(t, tc.status, tc.header, tc.body), testKey, 0)
			res, err := ch.Send(context.Background(), one)
			if tc.wantErr != nil {
				if ve := channeltest.WantCallError(t, err, tc.wantErr, 0, tc.wantRetry, testKey); ve.HTTPStatus != tc.status {
					t.Errorf("err %v: want a *VendorError with HTTP status %d", err, tc.status)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if res[0].Outcome != tc.wantOutcome || res[0].StatusCode != tc.wantCode || res[0].RetryAfter != tc.wantRetry {
				t.Errorf("result %+v, want %s/%d retry %s", res[0], tc.wantOutcome, tc.wantCode, tc.wantRetry)
			}
		})
	}
}

// TestFailedCallWithMessagesRejectedBeforeSending: the call's failure is
// reported per sent message when other messages already have results.
func TestFailedCallWithMessagesRejectedBeforeSending(t *testing.T) {
	ch := newChannel(t, cannedServer(t, 503, map[string]string{"Retry-After": "5"}, `{"error":"unavailable"}`), testKey, 0)
	res, err := ch.Send(context.Background(), []channels.Message{
		{DeliveryID: "d1", AppID: testApp, Token: "", Title: "t", Body: "b"},
		{DeliveryID: "d2", AppID: testApp, Token: "tok-2", Title: "t", Body: "b"},
	})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if res[0].Outcome != channels.Permanent || res[0].StatusCode != channels.StatusMissingDeviceToken {
		t.Errorf("result 0 %+v, want permanent MissingDeviceToken", res[0])
	}
	if res[1].Outcome != channels.Transient || res[1].RetryAfter != 5*time.Second {
		t.Errorf("result 1 %+v, want transient with RetryAfter 5s", res[1])
	}
}

func TestNetworkErrorIsTransient(t *testing.T) {
	ts := httptest.NewServer(http.NotFoundHandler())
	base := ts.URL
	ts.Close() // nothing listens any more
	ch := newChannel(t, base, testKey, time.Second)
	_, err := ch.Send(context.Background(), []channels.Message{{DeliveryID: "d1", AppID: testApp, Token: "tok-1", Title: "t", Body: "b"}})
	if !errors.Is(err, channels.ErrTransient) {
		t.Fatalf("err = %v, want transient", err)
	}
}

func TestConfig(t *testing.T) {
	valid := func() selfchannel.Config {
		return selfchannel.Config{Region: "eu", BaseURL: "https://gw.example.internal",
			Apps: map[string]selfchannel.App{testApp: {AppKey: "s3cr3t-key"}}}
	}
	tests := []struct {
		scenario string
		mutate   func(c *selfchannel.Config)
		wantErr  string
	}{
		{"valid", func(c *selfchannel.Config) {}, ""},
		{"no base URL", func(c *selfchannel.Config) { c.BaseURL = "" }, "baseUrl is required"},
		{"base URL not http", func(c *selfchannel.Config) { c.BaseURL = "ftp://gw" }, "not an http(s) URL"},
		{"unknown region", func(c *selfchannel.Config) { c.Region = "mars" }, "unknown region"},
		{"empty key", func(c *selfchannel.Config) { c.Apps[testApp] = selfchannel.App{} }, "empty appKey"},
		{"batch over the API limit", func(c *selfchannel.Config) { c.MaxBatch = 1001 }, "maxBatch"},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			c := valid()
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
	c := valid().WithDefaults()
	if c.MaxBatch != selfchannel.DefaultMaxBatch || c.Limits.MaxPayloadBytes != selfchannel.MaxPayloadBytes {
		t.Errorf("defaults %+v", c)
	}
	b, _ := json.Marshal(c)
	for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(b)} {
		if strings.Contains(s, "s3cr3t-key") {
			t.Errorf("printed config leaks the key: %s", s)
		}
	}
}
