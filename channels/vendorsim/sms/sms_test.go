package sms_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/internal/simtest"
	smssim "github.com/pushpipe/pushpipe/channels/vendorsim/sms"
)

const (
	smsApp    = "sms-app-1"
	smsKeyID  = "LTAIsim"
	smsSecret = "sim-secret"
)

func smsStart(t *testing.T, mutate func(*vendorsim.SMSConfig)) *vendorsim.Server {
	t.Helper()
	cfg := vendorsim.Config{Seed: 7, SMS: vendorsim.SMSConfig{
		Apps: []vendorsim.SMSApp{{AppID: smsApp, AccessKeyID: smsKeyID, AccessKeySecret: smsSecret}},
	}}
	if mutate != nil {
		mutate(&cfg.SMS)
	}
	return simtest.Start(t, cfg)
}

var smsNonce int

// smsParams are the signed parameters of a valid SendSms to numbers,
// changed by mut before they are signed.
func smsParams(method, numbers string, mut func(url.Values)) url.Values {
	smsNonce++
	p := url.Values{}
	for k, v := range map[string]string{
		"AccessKeyId": smsKeyID, "Action": "SendSms", "Format": "JSON", "RegionId": "ap-southeast-1",
		"SignatureMethod": "HMAC-SHA1", "SignatureNonce": fmt.Sprintf("nonce-%d-%d", time.Now().UnixNano(), smsNonce),
		"SignatureVersion": "1.0", "Timestamp": time.Now().UTC().Format("2006-01-02T15:04:05Z"), "Version": "2017-05-25",
		"PhoneNumbers": numbers, "SignName": "pushpipe", "TemplateCode": "SMS_216070269", "TemplateParam": `{"code":"1234"}`,
	} {
		p.Set(k, v)
	}
	if mut != nil {
		mut(p)
	}
	p.Set("Signature", smssim.Signature(method, p, smsSecret))
	return p
}

type smsTestAnswer struct {
	Code, Message, BizId, RequestId string
}

func smsCall(t *testing.T, srv *vendorsim.Server, method string, p url.Values) (int, smsTestAnswer) {
	t.Helper()
	u := srv.SMSBaseURL("sg") + "/"
	var resp *http.Response
	var err error
	if method == http.MethodGet {
		resp, err = http.Get(u + "?" + p.Encode())
	} else {
		resp, err = http.PostForm(u, p)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	var a smsTestAnswer
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("answer %s: %v", b, err)
	}
	return resp.StatusCode, a
}

// TestSMSSendSms checks what the simulated SendSms accepts and refuses,
// with Alibaba Cloud's HTTP statuses and codes.
func TestSMSSendSms(t *testing.T) {
	srv := smsStart(t, func(c *vendorsim.SMSConfig) { c.PerNumberPerDay = 2 })
	reused := smsParams(http.MethodPost, "6591000009", nil)
	if status, a := smsCall(t, srv, http.MethodPost, reused); status != 200 || a.Code != "OK" {
		t.Fatalf("first use of a nonce: %d %+v", status, a)
	}
	for _, tc := range []struct {
		scenario string
		method   string
		params   url.Values
		status   int
		code     string
	}{
		{"POST of two numbers", http.MethodPost, smsParams(http.MethodPost, "13800138000,6591000001", nil), 200, "OK"},
		{"GET with the query", http.MethodGet, smsParams(http.MethodGet, "+8613800138001", nil), 200, "OK"},
		{"signed for another method", http.MethodPost, smsParams(http.MethodGet, "6591000002", nil), 400, "SignatureDoesNotMatch"},
		{"nonce used again", http.MethodPost, reused, 400, "SignatureNonceUsed"},
		{"unknown AccessKey", http.MethodPost, smsParams(http.MethodPost, "6591000002", func(p url.Values) { p.Set("AccessKeyId", "LTAIother") }), 404, "InvalidAccessKeyId.NotFound"},
		{"timestamp an hour old", http.MethodPost, smsParams(http.MethodPost, "6591000002", func(p url.Values) {
			p.Set("Timestamp", time.Now().Add(-time.Hour).UTC().Format("2006-01-02T15:04:05Z"))
		}), 400, "InvalidTimeStamp.Expired"},
		{"no nonce", http.MethodPost, smsParams(http.MethodPost, "6591000002", func(p url.Values) { p.Del("SignatureNonce") }), 400, "MissingParameter"},
		{"another action", http.MethodPost, smsParams(http.MethodPost, "6591000002", func(p url.Values) { p.Set("Action", "SendBatchSms") }), 404, "InvalidAction.NotFound"},
		{"no numbers", http.MethodPost, smsParams(http.MethodPost, "", nil), 400, "MissingPhoneNumbers"},
		{"landline of +86", http.MethodPost, smsParams(http.MethodPost, "861012345678", nil), 200, "isv.MOBILE_NUMBER_ILLEGAL"},
		{"unassigned country code", http.MethodPost, smsParams(http.MethodPost, "6591000003,99912345678", nil), 200, "isv.MOBILE_NUMBER_ILLEGAL"},
		{"sign not approved", http.MethodPost, smsParams(http.MethodPost, "6591000002", func(p url.Values) { p.Set("SignName", "Shop") }), 200, "isv.SMS_SIGNATURE_ILLEGAL"},
		{"template not approved", http.MethodPost, smsParams(http.MethodPost, "6591000002", func(p url.Values) { p.Set("TemplateCode", "SMS_1") }), 200, "isv.SMS_TEMPLATE_ILLEGAL"},
		{"value not a string", http.MethodPost, smsParams(http.MethodPost, "6591000002", func(p url.Values) { p.Set("TemplateParam", `{"code":1234}`) }), 200, "isv.INVALID_JSON_PARAM"},
		{"value missing", http.MethodPost, smsParams(http.MethodPost, "6591000002", func(p url.Values) { p.Set("TemplateParam", `{"other":"1"}`) }), 200, "isv.TEMPLATE_MISSING_PARAMETERS"},
		{"value too long", http.MethodPost, smsParams(http.MethodPost, "6591000002", func(p url.Values) {
			p.Set("TemplateParam", `{"code":"`+strings.Repeat("9", 36)+`"}`)
		}), 200, "isv.PARAM_LENGTH_LIMIT"},
		{"third SMS to a number within a day", http.MethodPost, smsParams(http.MethodPost, "6591000009", nil), 200, "OK"},
		{"fourth SMS to a number within a day", http.MethodPost, smsParams(http.MethodPost, "6591000009", nil), 200, "isv.BUSINESS_LIMIT_CONTROL"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			status, a := smsCall(t, srv, tc.method, tc.params)
			if status != tc.status || a.Code != tc.code || a.RequestId == "" {
				t.Fatalf("answer %d %+v, want %d %s", status, a, tc.status, tc.code)
			}
			if tc.code == "OK" && !strings.Contains(a.BizId, "^") {
				t.Fatalf("accepted without a BizId: %+v", a)
			}
		})
	}
	tokens := srv.Stats().Vendors[vendorsim.VendorSMS].Regions["sg"].Apps[smsApp].Tokens
	want := map[string]int64{"+8613800138000": 1, "+6591000001": 1, "+8613800138001": 1, "+6591000009": 2}
	if fmt.Sprint(tokens) != fmt.Sprint(want) {
		t.Errorf("messages per number = %v, want %v", tokens, want)
	}
	// Reset forgets the flow control: the number takes SMS again.
	srv.Reset()
	if _, a := smsCall(t, srv, http.MethodPost, smsParams(http.MethodPost, "6591000009", nil)); a.Code != "OK" {
		t.Errorf("after Reset: %+v", a)
	}
}

// TestSMSFaults: the app quota throttles with Throttling.User, and an
// injected failure with a code answers isp.SYSTEM_ERROR.
func TestSMSFaults(t *testing.T) {
	srv := smsStart(t, nil)
	if err := srv.SetQuota(vendorsim.Quota{Vendor: vendorsim.VendorSMS, AppID: smsApp}); err != nil {
		t.Fatal(err)
	}
	if status, a := smsCall(t, srv, http.MethodPost, smsParams(http.MethodPost, "6591000001", nil)); status != 400 || a.Code != "Throttling.User" {
		t.Errorf("throttled call: %d %+v", status, a)
	}
	srv.Reset()
	if err := srv.InjectFailures(vendorsim.Failure{Vendor: vendorsim.VendorSMS, Code: 1, Next: 1}); err != nil {
		t.Fatal(err)
	}
	if status, a := smsCall(t, srv, http.MethodPost, smsParams(http.MethodPost, "6591000001", nil)); status != 200 || a.Code != "isp.SYSTEM_ERROR" {
		t.Errorf("injected failure: %d %+v", status, a)
	}
	if _, a := smsCall(t, srv, http.MethodPost, smsParams(http.MethodPost, "6591000001", nil)); a.Code != "OK" {
		t.Errorf("after the injected failure: %+v", a)
	}
}
