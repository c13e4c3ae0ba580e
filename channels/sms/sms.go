// Package sms is the SMS channel: a client of Alibaba Cloud SMS SendSms
// (RPC style: POST {base}/ with the form fields Action=SendSms,
// Version=2017-05-25, PhoneNumbers, SignName, TemplateCode, TemplateParam,
// OutId and the common parameters AccessKeyId, Format=JSON, RegionId,
// SignatureMethod=HMAC-SHA1, SignatureNonce, SignatureVersion=1.0,
// Timestamp, signed with Signature, see Sign), which sends the SMS
// supplement of a push (mPaaS smsStrategy).
//
// A message's Token is the phone number in E.164 (+8613800138000); it is
// sent as Alibaba Cloud's documented forms: a mainland China number as its
// 11 digits, any other as the country code and the number without "+".
// The SMS text is the operator-approved template: the message's Extras
// carry the sign name (ExtraSignName), the template code
// (ExtraTemplateCode) and the template parameter, a JSON object of strings
// (ExtraTemplateParam); Title, Body and Payload are not sent.
//
// SendSms takes up to 1000 numbers with one content. Config.NumbersPerCall
// (default 1) says how many numbers one call carries; messages share a
// call only when they share their content (equal BatchKey). A call of one
// number carries its DeliveryID as OutId, a call of several their common
// MsgID. When a call of several numbers is refused for one number
// (isv.MOBILE_NUMBER_ILLEGAL, isv.BUSINESS_LIMIT_CONTROL), each of its
// numbers is sent again alone, so that the refusal settles that number
// only.
//
// Answers map to outcomes: OK is Success (status 2, the BizId as the
// vendor message id); an illegal number is InvalidToken (2009); a number
// over its flow control is Transient after a minute; a refused sign,
// template or parameter is Permanent; rejected credentials or an account
// that cannot send (SignatureDoesNotMatch, InvalidAccessKeyId.NotFound,
// isv.AMOUNT_NOT_ENOUGH...) are a permanent whole-call error; vendor
// failures and throttling (isp.SYSTEM_ERROR, Throttling.User, 5xx) a
// transient one. Status descriptions start with the Alibaba Cloud code.
//
// An SMS that was sent cannot be taken back: Channel does not implement
// channels.Recaller.
package sms

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// Name is the channel name of SMS deliveries (schema.ChannelSMS).
const Name = schema.ChannelSMS

// Keys of channels.Message.Extras read by the SMS channel; fan-out sets
// them from the request's smsSignName, smsTemplateCode and
// smsTemplateParam.
const (
	ExtraSignName      = "sms.sign_name"
	ExtraTemplateCode  = "sms.template_code"
	ExtraTemplateParam = "sms.template_param"
)

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 1 << 20

// Option changes how New builds a Channel.
type Option = channels.Option

// WithHTTPClient makes the channel use hc instead of its own client.
func WithHTTPClient(hc *http.Client) Option { return channels.WithHTTPClient(hc) }

// WithClock makes the channel read the time from now (Timestamp, expiry).
func WithClock(now func() time.Time) Option { return channels.WithClock(now) }

// Channel is the SMS channel of one region. It implements channels.Channel
// and channels.BatchKeyer and is safe for concurrent use.
type Channel struct {
	cfg      Config
	endpoint string
	client   *http.Client
	now      func() time.Time
}

var (
	_ channels.Channel    = (*Channel)(nil)
	_ channels.BatchKeyer = (*Channel)(nil)
)

// New returns a channel for cfg (defaults applied), or every configuration
// problem joined. The channel keeps its own copy of cfg.
func New(cfg Config, opts ...Option) (*Channel, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating sms channel: %w", err)
	}
	cfg.Apps = maps.Clone(cfg.Apps)
	o := channels.ApplyOptions(channels.DefaultMaxIdleConnsPerHost, opts...)
	return &Channel{cfg: cfg, endpoint: strings.TrimSuffix(cfg.BaseURL, "/") + "/", client: o.Client, now: o.Now}, nil
}

// Name returns "sms".
func (c *Channel) Name() string { return Name }

// MaxBatch returns Config.MaxBatch.
func (c *Channel) MaxBatch() int { return c.cfg.MaxBatch }

// Config returns a copy of the channel's configuration (printing it never
// shows secrets).
func (c *Channel) Config() Config {
	cfg := c.cfg
	cfg.Apps = maps.Clone(c.cfg.Apps)
	return cfg
}

// Endpoint returns the URL the channel posts to.
func (c *Channel) Endpoint() string { return c.endpoint }

// BatchKey returns a key equal for messages that can share one SendSms
// call: same app, message, expiry and extras (sign, template, parameter).
func (c *Channel) BatchKey(m channels.Message) string { return channels.ContentKey(m) }

// WireNumber returns the PhoneNumbers form of an E.164 number: a mainland
// China mobile number as its 11 digits, any other number as the country
// code and the number without "+".
func WireNumber(e164 string) string {
	if rest, ok := strings.CutPrefix(e164, "+86"); ok && len(rest) == 11 {
		return rest
	}
	return strings.TrimPrefix(e164, "+")
}

// OutID returns the OutId of a call carrying msgs: the DeliveryID of a
// single message, else the common MsgID; "" when empty or longer than
// MaxOutIDLen.
func OutID(msgs []channels.Message) string {
	var id string
	switch len(msgs) {
	case 0:
		return ""
	case 1:
		id = msgs[0].DeliveryID
	default:
		id = msgs[0].MsgID
	}
	if len(id) > MaxOutIDLen {
		return ""
	}
	return id
}

// Send implements channels.Channel. Messages that cannot be sent (no or
// malformed phone number, expired, no sign, template or parameter) get
// their result without a call; the others are sent in calls of at most
// Config.NumbersPerCall numbers of one content, at most
// Config.MaxConcurrentCalls at once. The whole-call error is returned only
// when every message was in a failed call and all failed alike.
func (c *Channel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	appID, err := channels.CheckBatch(msgs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("sending sms batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	app, ok := c.cfg.Apps[appID]
	if !ok {
		return nil, fmt.Errorf("sending sms batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending sms batch for app %q: %w", appID, c.vendorErr(0, "", "", true, err))
	}
	now := c.now()
	results := make([]channels.Result, len(msgs))
	var calls [][]int
	for _, g := range channels.GroupByKey(msgs, results, func(m *channels.Message) (channels.Result, bool) { return check(m, now) }, c.BatchKey) {
		for start := 0; start < len(g); start += c.cfg.NumbersPerCall {
			calls = append(calls, g[start:min(start+c.cfg.NumbersPerCall, len(g))])
		}
	}
	err = channels.SendGroups(ctx, calls, len(msgs), c.cfg.MaxConcurrentCalls, results,
		func(ctx context.Context, idx []int) error { return c.sendCall(ctx, app, msgs, idx, results) },
		func(err error) error { return c.vendorErr(0, "", "", true, err) })
	if err != nil {
		return nil, fmt.Errorf("sending sms batch (%d messages) for app %q: %w", len(msgs), appID, err)
	}
	return results, nil
}

// check returns the result of a message that must not be sent, and false;
// or true if it can be sent.
func check(m *channels.Message, now time.Time) (channels.Result, bool) {
	if r, ok := channels.CheckDeliverable(m, now, ", \t\r\n", "phone number"); !ok {
		return r, false
	}
	if _, err := schema.NormalizePhone(m.Token); err != nil || !strings.HasPrefix(m.Token, "+") {
		return channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
			StatusDesc: "BadDeviceToken: " + m.Token + " is not an E.164 phone number"}, false
	}
	for _, k := range []string{ExtraSignName, ExtraTemplateCode, ExtraTemplateParam} {
		if m.Extras[k] == "" {
			return channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone,
				StatusDesc: "NONE: the SMS has no " + k + " (smsSignName, smsTemplateCode and smsTemplateParam are required)"}, false
		}
	}
	return channels.Result{}, true
}

// Params returns the parameters of the SendSms call carrying msgs (which
// share one BatchKey) for app at time now with the given nonce, without
// Signature. It is what Send signs and posts; exported for tests.
func (c *Channel) Params(app App, msgs []channels.Message, now time.Time, nonce string) url.Values {
	numbers := make([]string, len(msgs))
	for i := range msgs {
		numbers[i] = WireNumber(msgs[i].Token)
	}
	m := msgs[0]
	p := url.Values{}
	p.Set("AccessKeyId", app.AccessKeyID)
	p.Set("Action", Action)
	p.Set("Format", Format)
	p.Set("RegionId", c.cfg.RegionID)
	p.Set("SignatureMethod", SignatureMethod)
	p.Set("SignatureNonce", nonce)
	p.Set("SignatureVersion", SignatureVersion)
	p.Set("Timestamp", now.UTC().Format(TimestampLayout))
	p.Set("Version", Version)
	p.Set("PhoneNumbers", strings.Join(numbers, ","))
	p.Set("SignName", m.Extras[ExtraSignName])
	p.Set("TemplateCode", m.Extras[ExtraTemplateCode])
	p.Set("TemplateParam", m.Extras[ExtraTemplateParam])
	if id := OutID(msgs); id != "" {
		p.Set("OutId", id)
	}
	return p
}

// answer is the JSON answer of SendSms and of the RPC gateway.
type answer struct {
	Code      string `json:"Code"`
	Message   string `json:"Message"`
	BizID     string `json:"BizId"`
	RequestID string `json:"RequestId"`

	status     int
	retryAfter time.Duration
}

func (a *answer) explain() string {
	s := a.Code
	if a.Message != "" {
		s += ": " + a.Message
	}
	if a.RequestID != "" {
		s += " (RequestId " + a.RequestID + ")"
	}
	return s
}

// sendCall makes the call for msgs[idx] and fills their results, or
// returns the call's error (a *channels.VendorError).
func (c *Channel) sendCall(ctx context.Context, app App, msgs []channels.Message, idx []int, results []channels.Result) error {
	cm := make([]channels.Message, len(idx))
	for j, i := range idx {
		cm[j] = msgs[i]
	}
	a, err := c.post(ctx, app, cm)
	if err != nil {
		return err
	}
	switch classify(a.Code) {
	case kindOK:
		for _, i := range idx {
			results[i] = channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked", VendorMsgID: a.BizID}
		}
	case kindNumber:
		if len(idx) > 1 {
			// One number refused the call: send each alone to find it.
			for _, i := range idx {
				if err := c.sendCall(ctx, app, msgs, []int{i}, results); err != nil {
					channels.Settle(results, []int{i}, err)
				}
			}
			return nil
		}
		r := channels.Result{Outcome: channels.Transient, StatusCode: channels.StatusDeviceNotOnlineOrNoResponse,
			StatusDesc: a.explain(), RetryAfter: retryAfter(a.Code)}
		switch a.Code {
		case CodeMobileNumberIllegal:
			r = channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken, StatusDesc: "BadDeviceToken: " + a.explain()}
		case CodeDomesticNumberUnsupported:
			r = channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone, StatusDesc: a.explain()}
		}
		results[idx[0]] = r
	case kindContent:
		for _, i := range idx {
			results[i] = channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone, StatusDesc: a.explain()}
		}
	default: // kindCallTransient, kindCallPermanent
		transient := classify(a.Code) == kindCallTransient
		ve := c.vendorErr(a.status, a.Code, a.explain(), transient, nil)
		if transient {
			ve.RetryAfter = max(a.retryAfter, retryAfter(a.Code))
		}
		return ve
	}
	return nil
}

// post signs and makes one SendSms call. It returns the decoded answer,
// or the call's error (a *channels.VendorError): no answer, a 429 or 5xx
// answer and a garbled 2xx answer are transient; any other answer without
// a code, or a non-2xx answer claiming OK, is permanent.
func (c *Channel) post(ctx context.Context, app App, msgs []channels.Message) (answer, error) {
	nonce, err := newNonce()
	if err != nil {
		return answer{}, c.vendorErr(0, "", "", true, err)
	}
	p := c.Params(app, msgs, c.now(), nonce)
	p.Set("Signature", Sign(http.MethodPost, p, app.AccessKeySecret.Reveal()))
	rep, err := channels.Post(ctx, c.client, channels.PostRequest{
		Channel: Name, URL: c.endpoint, Body: []byte(p.Encode()), Timeout: c.cfg.Timeout, MaxAnswerBytes: maxAnswerBytes, Now: c.now,
		Header: http.Header{
			"Content-Type": {"application/x-www-form-urlencoded;charset=UTF-8"},
			"Accept":       {"application/json"},
		},
	})
	if err != nil {
		return answer{}, err
	}
	var a answer
	if err := rep.DecodeJSON(&a, func() (int, string) { return 0, a.explain() }); err != nil {
		return answer{}, err
	}
	a.status, a.retryAfter = rep.Status, rep.RetryAfter
	switch {
	case a.Code == "":
		return answer{}, c.vendorErr(a.status, "", "answer without a Code", a.status/100 == 2, nil)
	case a.status/100 != 2 && a.Code == CodeOK:
		return answer{}, c.vendorErr(a.status, "", a.explain(), false, nil)
	}
	return a, nil
}

// newNonce returns a fresh SignatureNonce: 16 random bytes in hex.
func newNonce() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating a signature nonce: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func (c *Channel) vendorErr(httpStatus int, code, reason string, transient bool, cause error) *channels.VendorError {
	if code != "" && !strings.HasPrefix(reason, code) {
		reason = code + ": " + reason
	}
	return &channels.VendorError{Channel: Name, Op: "POST " + c.endpoint + " (" + Action + ")", HTTPStatus: httpStatus,
		Reason: reason, Transient: transient, Cause: cause}
}
