package sms_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/channeltest"
	"github.com/pushpipe/pushpipe/channels/conformance"
	"github.com/pushpipe/pushpipe/channels/sms"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	smssim "github.com/pushpipe/pushpipe/channels/vendorsim/sms"
)

const (
	testApp    = "app-1"
	testKeyID  = "LTAI5tDemoKeyId"
	testSecret = "demo-access-key-secret"
	testRegion = "sg"
)

// smsExtras are the template extras of a valid SMS supplement.
func smsExtras() map[string]string {
	return map[string]string{sms.ExtraSignName: "pushpipe", sms.ExtraTemplateCode: "SMS_216070269", sms.ExtraTemplateParam: `{"code":"1234"}`}
}

func startSim(t *testing.T, mutate func(*vendorsim.SMSConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 1, SMS: vendorsim.SMSConfig{
		Apps: []vendorsim.SMSApp{{AppID: testApp, AccessKeyID: testKeyID, AccessKeySecret: testSecret}},
	}}
	if mutate != nil {
		mutate(&cfg.SMS)
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

func newChannel(t *testing.T, baseURL, keyID, secret string, mutate func(*sms.Config), opts ...sms.Option) *sms.Channel {
	t.Helper()
	cfg := sms.Config{Region: testRegion, BaseURL: baseURL,
		Apps: map[string]sms.App{testApp: {AccessKeyID: keyID, AccessKeySecret: channels.Secret(secret)}}}
	if mutate != nil {
		mutate(&cfg)
	}
	ch, err := sms.New(cfg, opts...)
	if err != nil {
		t.Fatalf("sms.New: %v", err)
	}
	return ch
}

func message(i int, phone string) channels.Message {
	return channels.Message{DeliveryID: fmt.Sprintf("d%024d", i), MsgID: "msg-1", TaskID: "task-1", AppID: testApp,
		DeviceID: fmt.Sprintf("sms:user-%d", i), Token: phone, ExpireAt: time.Now().Add(time.Hour), Extras: smsExtras()}
}

// TestSignatureKnownAnswer signs the example of Alibaba Cloud's SMS
// signature documentation (AccessKey testId / testSecret, GET) and gets
// the signature it publishes; the simulator's own implementation agrees.
func TestSignatureKnownAnswer(t *testing.T) {
	p := url.Values{}
	for k, v := range map[string]string{
		"SignatureMethod": "HMAC-SHA1", "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466", "AccessKeyId": "testId",
		"SignatureVersion": "1.0", "Timestamp": "2017-07-12T02:42:19Z", "Format": "XML", "Action": "SendSms",
		"Version": "2017-05-25", "RegionId": "cn-hangzhou", "PhoneNumbers": "15300000001", "SignName": "阿里云短信测试专用",
		"TemplateParam": `{"customer":"test"}`, "TemplateCode": "SMS_71390007", "OutId": "123",
	} {
		p.Set(k, v)
	}
	const want = "zJDF+Lrzhj/ThnlvIToysFRq6t4="
	wantSTS := "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
	if got := sms.StringToSign("GET", p); got != wantSTS {
		t.Errorf("StringToSign =\n%s\nwant\n%s", got, wantSTS)
	}
	if got := sms.Sign("GET", p, "testSecret"); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
	p.Set("Signature", "ignored")
	if got := smssim.Signature("GET", p, "testSecret"); got != want {
		t.Errorf("smssim.Signature = %s, want %s", got, want)
	}
	if got := sms.PercentEncode("a b*c~d"); got != "a%20b%2Ac~d" {
		t.Errorf("PercentEncode = %s", got)
	}
}

func TestConformance(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		perCall  int
	}{
		{"one number a call", 1},
		{"many numbers a call", sms.MaxNumbersPerCall},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			srv := startSim(t, nil)
			conformance.Run(t, conformance.SimHooks(conformance.Harness{
				NewChannel: func(t *testing.T, o conformance.ChannelOptions) channels.Channel {
					secret := testSecret
					if o.BadCredentials {
						secret = "wrong-secret"
					}
					return newChannel(t, srv.SMSBaseURL(testRegion), testKeyID, secret, func(c *sms.Config) {
						c.Timeout, c.NumbersPerCall = o.Timeout, tc.perCall
					})
				},
				AppID:             testApp,
				Token:             func(i int) string { return fmt.Sprintf("+659100%04d", i) },
				InvalidToken:      func(i int) string { return fmt.Sprintf("+99900%04d", i) },
				Calls:             func(t *testing.T) int { return len(srv.Requests(vendorsim.VendorSMS, testRegion)) },
				OneCallPerMessage: tc.perCall == 1,
				Extras:            smsExtras(),
				TitleUnused:       true,
			}, srv, vendorsim.VendorSMS))
		})
	}
}

// TestRequestOnTheWire checks the SendSms calls the simulator received:
// the common parameters, the numbers in Alibaba Cloud's forms, the
// template, the OutId, and the count per number.
func TestRequestOnTheWire(t *testing.T) {
	srv := startSim(t, nil)
	now := time.Now().UTC().Truncate(time.Second)
	ch := newChannel(t, srv.SMSBaseURL("eu"), testKeyID, testSecret, nil, sms.WithClock(func() time.Time { return now }))
	if ch.Config().RegionID != "ap-southeast-1" {
		t.Fatalf("a configured baseUrl in sg keeps the region id of sg, got %q", ch.Config().RegionID)
	}
	msgs := []channels.Message{message(1, "+8613800138000"), message(2, "+6591234567")}
	msgs[1].Extras = map[string]string{sms.ExtraSignName: "pushpipe", sms.ExtraTemplateCode: "SMS_100002", sms.ExtraTemplateParam: `{"message":"Order 42 shipped","name":"Ann"}`}
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Outcome != channels.Success || r.StatusCode != channels.StatusAcked || !strings.Contains(r.VendorMsgID, "^") {
			t.Errorf("result %d = %+v, want acked with a BizId", i, r)
		}
	}
	reqs := srv.Requests(vendorsim.VendorSMS, "eu")
	if len(reqs) != 2 {
		t.Fatalf("%d calls, want 2", len(reqs))
	}
	want := []map[string]string{
		{"PhoneNumbers": "13800138000", "TemplateCode": "SMS_216070269", "TemplateParam": `{"code":"1234"}`, "OutId": msgs[0].DeliveryID},
		{"PhoneNumbers": "6591234567", "TemplateCode": "SMS_100002", "TemplateParam": `{"message":"Order 42 shipped","name":"Ann"}`, "OutId": msgs[1].DeliveryID},
	}
	for _, r := range reqs {
		i := 0
		if r.Form.Get("PhoneNumbers") == "6591234567" {
			i = 1
		}
		fields := map[string]string{"Action": "SendSms", "Version": "2017-05-25", "Format": "JSON", "AccessKeyId": testKeyID,
			"SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0", "Timestamp": now.Format(sms.TimestampLayout),
			"SignName": "pushpipe", "RegionId": "ap-southeast-1"}
		for k, v := range want[i] {
			fields[k] = v
		}
		for k, v := range fields {
			if got := r.Form.Get(k); got != v {
				t.Errorf("call %d: %s = %q, want %q", i, k, got, v)
			}
		}
		if r.Method != http.MethodPost || r.Form.Get("SignatureNonce") == "" || r.Form.Get("Signature") == "" || r.Status != 200 {
			t.Errorf("call %d: %s nonce %q signature %q status %d", i, r.Method, r.Form.Get("SignatureNonce"), r.Form.Get("Signature"), r.Status)
		}
		if strings.Contains(fmt.Sprint(r.Form), testSecret) {
			t.Errorf("call %d carries the AccessKey secret", i)
		}
	}
	tokens := srv.Stats().Vendors[vendorsim.VendorSMS].Regions["eu"].Apps[testApp].Tokens
	if tokens["+8613800138000"] != 1 || tokens["+6591234567"] != 1 {
		t.Errorf("messages per number = %v", tokens)
	}
}

// TestAnswersFromTheSimulator maps what the simulated Alibaba Cloud SMS
// refuses to outcomes, each with the number of calls it takes.
func TestAnswersFromTheSimulator(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		sim      func(*vendorsim.SMSConfig)
		cfg      func(*sms.Config)
		keyID    string
		secret   string
		msgs     func() []channels.Message
		want     []channels.Outcome // nil: a whole-call error
		wantErr  error
		desc     string // part of the first result's description or of the error
		retry    time.Duration
		calls    int
	}{
		{scenario: "sign name not approved", msgs: func() []channels.Message {
			m := message(1, "+6591000001")
			m.Extras = map[string]string{sms.ExtraSignName: "Other", sms.ExtraTemplateCode: "SMS_216070269", sms.ExtraTemplateParam: `{"code":"1"}`}
			return []channels.Message{m}
		}, want: []channels.Outcome{channels.Permanent}, desc: "isv.SMS_SIGNATURE_ILLEGAL", calls: 1},
		{scenario: "template not approved", msgs: func() []channels.Message {
			m := message(1, "+6591000001")
			m.Extras = map[string]string{sms.ExtraSignName: "pushpipe", sms.ExtraTemplateCode: "SMS_999", sms.ExtraTemplateParam: `{"code":"1"}`}
			return []channels.Message{m}
		}, want: []channels.Outcome{channels.Permanent}, desc: "isv.SMS_TEMPLATE_ILLEGAL", calls: 1},
		{scenario: "template value missing", msgs: func() []channels.Message {
			m := message(1, "+6591000001")
			m.Extras = map[string]string{sms.ExtraSignName: "pushpipe", sms.ExtraTemplateCode: "SMS_100002", sms.ExtraTemplateParam: `{"name":"Ann"}`}
			return []channels.Message{m}
		}, want: []channels.Outcome{channels.Permanent}, desc: "isv.TEMPLATE_MISSING_PARAMETERS", calls: 1},
		{scenario: "number over its flow control", sim: func(c *vendorsim.SMSConfig) { c.PerNumberPerDay = 1 },
			cfg: func(c *sms.Config) { c.MaxConcurrentCalls = 1 },
			msgs: func() []channels.Message {
				return []channels.Message{message(1, "+6591000001"), message(2, "+6591000001")}
			},
			want: []channels.Outcome{channels.Success, channels.Transient}, desc: "", retry: time.Minute, calls: 2},
		{scenario: "illegal number in a call of three is found alone", cfg: func(c *sms.Config) { c.NumbersPerCall = 3 },
			msgs: func() []channels.Message {
				return []channels.Message{message(1, "+6591000001"), message(2, "+99912345678"), message(3, "+6591000003")}
			}, want: []channels.Outcome{channels.Success, channels.InvalidToken, channels.Success}, desc: "", calls: 4},
		{scenario: "number that is not E.164 is not sent", msgs: func() []channels.Message { return []channels.Message{message(1, "13800138000")} },
			want: []channels.Outcome{channels.InvalidToken}, desc: "not an E.164 phone number", calls: 0},
		{scenario: "message without a template is not sent", msgs: func() []channels.Message {
			m := message(1, "+6591000001")
			m.Extras = nil
			return []channels.Message{m}
		}, want: []channels.Outcome{channels.Permanent}, desc: "sms.sign_name", calls: 0},
		{scenario: "wrong secret", secret: "wrong", msgs: func() []channels.Message { return []channels.Message{message(1, "+6591000001")} },
			wantErr: channels.ErrPermanent, desc: "SignatureDoesNotMatch", calls: 1},
		{scenario: "unknown AccessKey", keyID: "LTAIunknown", msgs: func() []channels.Message { return []channels.Message{message(1, "+6591000001")} },
			wantErr: channels.ErrPermanent, desc: "InvalidAccessKeyId.NotFound", calls: 1},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			srv := startSim(t, tc.sim)
			keyID, secret := testKeyID, testSecret
			if tc.keyID != "" {
				keyID = tc.keyID
			}
			if tc.secret != "" {
				secret = tc.secret
			}
			ch := newChannel(t, srv.SMSBaseURL(testRegion), keyID, secret, tc.cfg)
			res, err := ch.Send(context.Background(), tc.msgs())
			if got := len(srv.Requests(vendorsim.VendorSMS, "")); got != tc.calls {
				t.Errorf("%d calls, want %d", got, tc.calls)
			}
			if tc.want == nil {
				_ = channeltest.WantCallError(t, err, tc.wantErr, 0, 0, secret)
				if !strings.Contains(err.Error(), tc.desc) {
					t.Errorf("error %v does not name %s", err, tc.desc)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, want := range tc.want {
				if res[i].Outcome != want {
					t.Errorf("result %d = %+v, want %s", i, res[i], want)
				}
				if want == channels.Transient && res[i].RetryAfter != tc.retry {
					t.Errorf("result %d retries after %s, want %s", i, res[i].RetryAfter, tc.retry)
				}
			}
			if !strings.Contains(res[len(tc.want)-1].StatusDesc, tc.desc) && !strings.Contains(res[0].StatusDesc, tc.desc) {
				t.Errorf("results %+v do not name %s", res, tc.desc)
			}
		})
	}
}

// TestAccountAnswers feeds the channel the answers of an account that
// cannot send, of throttling and of a broken gateway.
func TestAccountAnswers(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		status   int
		body     string
		class    error
	}{
		{"balance exhausted", 200, `{"Code":"isv.AMOUNT_NOT_ENOUGH","Message":"账户余额不足","RequestId":"r1"}`, channels.ErrPermanent},
		{"service stopped", 200, `{"Code":"isv.OUT_OF_SERVICE","Message":"业务停机","RequestId":"r2"}`, channels.ErrPermanent},
		{"user throttled", 400, `{"Code":"Throttling.User","Message":"Request was denied due to user flow control.","RequestId":"r3"}`, channels.ErrTransient},
		{"daily quota", 200, `{"Code":"isv.DAY_LIMIT_CONTROL","Message":"触发日发送限额","RequestId":"r4"}`, channels.ErrTransient},
		{"system error", 200, `{"Code":"isp.SYSTEM_ERROR","Message":"isp.SYSTEM_ERROR","RequestId":"r5"}`, channels.ErrTransient},
		{"bad gateway", 502, `<html>bad gateway</html>`, channels.ErrTransient},
		{"garbled success", 200, `{"Code":`, channels.ErrTransient},
		{"answer without a code", 200, `{"Message":"?"}`, channels.ErrTransient},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			ch := newChannel(t, srv.URL, testKeyID, testSecret, nil)
			_, err := ch.Send(context.Background(), []channels.Message{message(1, "+6591000001")})
			_ = channeltest.WantCallError(t, err, tc.class, 0, channels.RetryAfterOf(err), testSecret)
			var a struct{ Code string }
			if json.Unmarshal([]byte(tc.body), &a) == nil && a.Code != "" && !strings.Contains(err.Error(), a.Code) {
				t.Errorf("error %v does not name %s", err, a.Code)
			}
		})
	}
}

func TestConfig(t *testing.T) {
	ok := map[string]sms.App{"a": {AccessKeyID: "id", AccessKeySecret: "s3cr3t-value"}}
	for _, tc := range []struct {
		scenario string
		cfg      sms.Config
		says     string // "" : valid
	}{
		{"sg has its endpoint", sms.Config{Region: "sg", Apps: ok}, ""},
		{"cn has its endpoint", sms.Config{Region: "cn", Apps: ok}, ""},
		{"ru needs an endpoint", sms.Config{Region: "ru", Apps: ok}, "set baseUrl"},
		{"ru with an endpoint and region id", sms.Config{Region: "ru", BaseURL: "https://sms.example", RegionID: "x", Apps: ok}, ""},
		{"in with an endpoint and no region id", sms.Config{Region: "in", BaseURL: "https://sms.example", Apps: ok}, "regionId is empty"},
		{"unknown region", sms.Config{Region: "us", BaseURL: "https://sms.example", RegionID: "x", Apps: ok}, "unknown region"},
		{"no apps", sms.Config{Region: "sg"}, "no apps configured"},
		{"empty secret", sms.Config{Region: "sg", Apps: map[string]sms.App{"a": {AccessKeyID: "id"}}}, `app "a": empty accessKeySecret`},
		{"too many numbers a call", sms.Config{Region: "sg", Apps: ok, NumbersPerCall: 1001}, "numbersPerCall must be in 1..1000"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			err := tc.cfg.WithDefaults().Validate()
			switch {
			case tc.says == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
				t.Fatalf("err = %v, want it to say %q", err, tc.says)
			}
		})
	}
	cfg := sms.Config{Region: "sg", Apps: ok}.WithDefaults()
	b, _ := json.Marshal(cfg)
	for _, s := range []string{cfg.String(), fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), string(b)} {
		if strings.Contains(s, "s3cr3t-value") {
			t.Errorf("configuration printed with its secret: %s", s)
		}
	}
	if _, err := sms.New(sms.Config{Region: "ru", Apps: ok}); err == nil || !errors.Is(err, err) || !strings.Contains(err.Error(), "creating sms channel") {
		t.Errorf("New with an invalid configuration = %v", err)
	}
}

func TestWireNumber(t *testing.T) {
	for in, want := range map[string]string{"+8613800138000": "13800138000", "+6591234567": "6591234567", "+861380013800": "861380013800"} {
		if got := sms.WireNumber(in); got != want {
			t.Errorf("WireNumber(%s) = %s, want %s", in, got, want)
		}
		e164, ok := smssim.Number(sms.WireNumber(in))
		if in != "+861380013800" && (!ok || e164 != in) {
			t.Errorf("the simulator reads %s back as %s (%v)", sms.WireNumber(in), e164, ok)
		}
	}
}
