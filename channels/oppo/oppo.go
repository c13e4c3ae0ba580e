// Package oppo is the OPPO Push channel: a client of the OPPO Push server
// API. Every app first obtains an auth_token (POST {base}/server/v1/auth,
// form app_key, timestamp and sign = hex SHA-256 of
// app_key+timestamp+master_secret; valid 24 hours, cached and refreshed
// before expiry, one fetch at a time). Messages then go to
// POST {base}/server/v1/message/notification/unicast (one message, form
// field "message") or .../unicast_batch (form field "messages", a JSON
// array of at most 1000 messages), with the auth_token as header and form
// field. Answers are JSON {"code","message","data"}; a batch answer lists,
// per message, its messageId or its errorCode.
//
// A batch message carries its own content, so one Send makes one vendor
// call whatever the contents of its messages: Channel does not implement
// channels.BatchKeyer. (The alternative, save_message_content followed by
// broadcast, needs two calls for one content and answers with a task id
// instead of per-target results, so unicast_batch fits pushpipe's
// per-delivery results better.)
//
// OPPO push delivers notification messages only: a pass-through message
// gets a Permanent result without a call.
//
// Receipt correlation: every message carries its DeliveryID as
// call_back_parameter (tagged by Config.ReceiptSigner for the receipts
// worker; when it fits OPPO's 50 characters) and as app_message_id
// (OPPO's de-duplication id); call_back_url (Config.CallbackURL) names the
// message's app.
//
// Recall: the OPPO Push server API has no message revocation (mPaaS
// overlays an OPPO notification with a replacement instead), so Channel
// does not implement channels.Recaller and channels.AsRecaller answers
// channels.ErrRecallUnsupported.
package oppo

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels"
)

// Name is the channel name of OPPO deliveries.
const Name = "oppo"

// Paths of the OPPO server API below the base URL.
const (
	AuthPath         = "/server/v1/auth"
	UnicastPath      = "/server/v1/message/notification/unicast"
	UnicastBatchPath = "/server/v1/message/notification/unicast_batch"
)

// Keys of channels.Message.Extras read by the OPPO channel.
const (
	// ExtraChannelID is the notification channel_id (the mPaaS channelId
	// of an OPPO private channel); default Config.ChannelID.
	ExtraChannelID = "oppo.channel_id"
	// ExtraCategory is the category of OPPO's new message classification:
	// a name (IM, ACCOUNT, DEVICE_REMINDER, ORDER, TODO, SUBSCRIPTION,
	// NEWS, CONTENT, MARKETING, SOCIAL) or the mPaaS number 1..10
	// (thirdChannelCategory.oppo).
	ExtraCategory = "oppo.category"
	// ExtraNotifyLevel is notify_level (the mPaaS notifyLevel.oppo): 1
	// notification bar, 2 bar and lock screen, 16 bar, lock screen,
	// banner, vibration and ringtone. It needs ExtraCategory.
	ExtraNotifyLevel = "oppo.notify_level"
	// ExtraNotifyID is notify_id: notifications with the same id replace
	// each other.
	ExtraNotifyID = "oppo.notify_id"
	// ExtraStyle is the notification style: "1" standard, "2" long text
	// (style 3, big picture, needs a picture uploaded to OPPO first and is
	// refused).
	ExtraStyle = "oppo.style"
)

// PayloadKey is the key of action_parameters that carries
// channels.Message.Payload; app-defined pairs (channels.ExtraCustomPrefix)
// are the other keys.
const PayloadKey = "payload"

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 4 << 20

// categories are OPPO's message categories, in mPaaS number order (1..10).
var categories = [...]string{"IM", "ACCOUNT", "DEVICE_REMINDER", "ORDER", "TODO", "SUBSCRIPTION", "NEWS", "CONTENT", "MARKETING", "SOCIAL"}

// Category returns OPPO's category for v (a category name in any case, or
// the mPaaS number 1..10) and whether v names one.
func Category(v string) (string, bool) {
	v = strings.ToUpper(strings.TrimSpace(v))
	if n, err := strconv.Atoi(v); err == nil {
		if n >= 1 && n <= len(categories) {
			return categories[n-1], true
		}
		return "", false
	}
	if slices.Contains(categories[:], v) {
		return v, true
	}
	return "", false
}

// Sign returns the sign of an auth request: the lower-case hex SHA-256 of
// appKey + timestamp + masterSecret.
func Sign(appKey, timestamp, masterSecret string) string {
	sum := sha256.Sum256([]byte(appKey + timestamp + masterSecret))
	return hex.EncodeToString(sum[:])
}

// Option changes how New builds a Channel.
type Option = channels.Option

// WithHTTPClient makes the channel use hc instead of its own client.
// Timeouts still come from Config.Timeout (applied per call via ctx).
func WithHTTPClient(hc *http.Client) Option { return channels.WithHTTPClient(hc) }

// WithClock makes the channel read the time from now, for message
// validity and auth-token expiry. The auth request's timestamp is always
// the wall clock (OPPO checks it).
func WithClock(now func() time.Time) Option { return channels.WithClock(now) }

// Channel is the OPPO channel of one region. It implements
// channels.Channel and is safe for concurrent use.
type Channel struct {
	cfg    Config
	base   string
	client *http.Client
	now    func() time.Time
	// tokens holds one auth-token cache per app; fixed after New.
	tokens map[string]*channels.TokenSource
}

var _ channels.Channel = (*Channel)(nil)

// New returns a channel for cfg (defaults applied). It fails, with every
// configuration problem joined, if the configuration is invalid. No
// request is made before the first Send.
func New(cfg Config, opts ...Option) (*Channel, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating oppo channel: %w", err)
	}
	cfg.Apps = maps.Clone(cfg.Apps)
	o := channels.ApplyOptions(channels.DefaultMaxIdleConnsPerHost, opts...)
	c := &Channel{cfg: cfg, base: strings.TrimSuffix(cfg.BaseURL, "/"), client: o.Client, now: o.Now}
	c.tokens = make(map[string]*channels.TokenSource, len(cfg.Apps))
	for id, app := range cfg.Apps {
		c.tokens[id] = &channels.TokenSource{Channel: Name, Fetch: c.fetchToken(app), Op: "POST " + c.base + AuthPath, Timeout: cfg.Timeout, Now: c.now}
	}
	return c, nil
}

// Name returns "oppo".
func (c *Channel) Name() string { return Name }

// MaxBatch returns Config.MaxBatch (at most 1000).
func (c *Channel) MaxBatch() int { return c.cfg.MaxBatch }

// Config returns the channel's configuration (a copy; printing it never
// shows secrets).
func (c *Channel) Config() Config {
	cfg := c.cfg
	cfg.Apps = maps.Clone(c.cfg.Apps)
	return cfg
}

// Notification is the notification object of one OPPO message (field
// names of OPPO's message body definition).
type Notification struct {
	AppMessageID      string `json:"app_message_id,omitempty"`
	Title             string `json:"title"`
	Content           string `json:"content"`
	ClickActionType   int    `json:"click_action_type"`
	ClickActionURL    string `json:"click_action_url,omitempty"`
	ActionParameters  string `json:"action_parameters,omitempty"`
	OffLine           bool   `json:"off_line"`
	OffLineTTL        int64  `json:"off_line_ttl,omitempty"`
	ChannelID         string `json:"channel_id,omitempty"`
	CallBackURL       string `json:"call_back_url,omitempty"`
	CallBackParameter string `json:"call_back_parameter,omitempty"`
	NotifyID          int    `json:"notify_id,omitempty"`
	Category          string `json:"category,omitempty"`
	NotifyLevel       int    `json:"notify_level,omitempty"`
	Style             int    `json:"style,omitempty"`
}

// Message is one message of unicast / unicast_batch.
type Message struct {
	TargetType           int          `json:"target_type"`
	TargetValue          string       `json:"target_value"`
	Notification         Notification `json:"notification"`
	VerifyRegistrationID bool         `json:"verify_registration_id,omitempty"`
}

// BuildMessage returns the OPPO message for m at time now, as Send sends
// it. m must have passed Send's checks (extras are read leniently here).
// Exported for tests and tooling.
func (c *Channel) BuildMessage(m channels.Message, now time.Time) Message {
	n := Notification{
		Title:           m.Title,
		Content:         m.Body,
		ClickActionType: DefaultClickActionType,
		OffLine:         true,
		ChannelID:       c.cfg.ChannelID,
		CallBackURL:     channels.AppReceiptURL(c.cfg.CallbackURL, m.AppID),
	}
	if utf8.RuneCountInString(m.DeliveryID) <= MaxAppMessageIDRunes {
		n.AppMessageID = m.DeliveryID
	}
	if p := channels.ReceiptParam(c.cfg.ReceiptSigner, "oppo", m.AppID, m.DeliveryID); utf8.RuneCountInString(p) <= MaxCallBackParamRunes {
		n.CallBackParameter = p
	}
	if uri := m.Extras[channels.ExtraURI]; uri != "" {
		n.ClickActionURL = uri
		n.ClickActionType = ClickIntentURI
		if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
			n.ClickActionType = ClickOpenURL
		}
	}
	params := map[string]string{}
	for k, v := range m.Extras {
		if name, ok := strings.CutPrefix(k, channels.ExtraCustomPrefix); ok && name != "" && name != PayloadKey {
			params[name] = v
		}
	}
	if m.Payload != "" {
		params[PayloadKey] = m.Payload
	}
	if len(params) > 0 {
		b, _ := json.Marshal(params) // a map of strings always encodes
		n.ActionParameters = string(b)
	}
	if !m.ExpireAt.IsZero() {
		ttl := min(m.ExpireAt.Sub(now), MaxOffLineTTL)
		n.OffLineTTL = max(int64(ttl/time.Second), 1)
	}
	if v := m.Extras[ExtraChannelID]; v != "" {
		n.ChannelID = v
	}
	if cat, ok := Category(m.Extras[ExtraCategory]); ok {
		n.Category = cat
	}
	if v, err := strconv.Atoi(m.Extras[ExtraNotifyLevel]); err == nil {
		n.NotifyLevel = v
	}
	if v, err := strconv.Atoi(m.Extras[ExtraNotifyID]); err == nil {
		n.NotifyID = v
	}
	if v, err := strconv.Atoi(m.Extras[ExtraStyle]); err == nil {
		n.Style = v
	}
	return Message{TargetType: TargetRegID, TargetValue: m.Token, Notification: n, VerifyRegistrationID: c.cfg.VerifyRegistrationID}
}

// Send implements channels.Channel. Messages rejected before sending
// (empty or malformed token, expired, pass-through, content over the
// limits, bad extras) get their result without a call. The others go in
// one call: unicast for one message, unicast_batch for several.
//
// A failed call is a whole-call error when it carried every message of
// the batch; otherwise its messages get Transient or Permanent results.
// An auth_token the vendor refuses (codes 11, 29) is replaced once.
func (c *Channel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	appID, err := channels.CheckBatch(msgs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("sending oppo batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	ts, ok := c.tokens[appID]
	if !ok {
		return nil, fmt.Errorf("sending oppo batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending oppo batch for app %q: %w", appID, c.vendorErr("", 0, 0, "", true, err))
	}
	now := c.now()
	results := make([]channels.Result, len(msgs))
	var idx []int
	for i := range msgs {
		if r, ok := c.check(&msgs[i], now); !ok {
			results[i] = r
			continue
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return results, nil
	}
	if err := c.deliver(ctx, ts, msgs, idx, results, now); err != nil {
		if len(idx) == len(msgs) {
			return nil, fmt.Errorf("sending oppo batch (%d messages) for app %q: %w", len(msgs), appID, err)
		}
		channels.Settle(results, idx, err)
	}
	return results, nil
}

// check returns the result of a message that must not be sent, and false;
// or true if the message can be sent.
func (c *Channel) check(m *channels.Message, now time.Time) (channels.Result, bool) {
	permanent := func(code int, desc string) (channels.Result, bool) {
		return channels.Result{Outcome: channels.Permanent, StatusCode: code, StatusDesc: desc}, false
	}
	lim := c.cfg.Limits
	if r, ok := channels.CheckDeliverable(m, now, ", \t\r\n", "registration_id"); !ok {
		return r, false
	}
	switch {
	case m.PassThrough:
		return permanent(channels.StatusNone, "PassThroughUnsupported: OPPO push delivers notification messages only")
	case strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == "":
		return permanent(CodeMissingRequiredArguments, "MissingRequiredArguments: an OPPO notification needs a title and a content")
	case utf8.RuneCountInString(m.Title) > lim.MaxTitleRunes:
		return permanent(CodeInvalidArguments,
			fmt.Sprintf("InvalidArguments: title has %d characters, OPPO allows %d", utf8.RuneCountInString(m.Title), lim.MaxTitleRunes))
	case utf8.RuneCountInString(m.Body) > lim.MaxContentRunes:
		return permanent(CodeInvalidArguments,
			fmt.Sprintf("InvalidArguments: content has %d characters, OPPO allows %d", utf8.RuneCountInString(m.Body), lim.MaxContentRunes))
	case len(m.Payload) > lim.MaxPayloadBytes:
		return permanent(CodeInvalidArguments,
			fmt.Sprintf("InvalidArguments: payload has %d bytes, OPPO channel allows %d", len(m.Payload), lim.MaxPayloadBytes))
	}
	cat, hasCat := m.Extras[ExtraCategory]
	if hasCat {
		if _, ok := Category(cat); !ok {
			return permanent(CodeCategoryError, fmt.Sprintf("CategoryError: unknown OPPO category %q", cat))
		}
	}
	if lvl, ok := m.Extras[ExtraNotifyLevel]; ok {
		switch {
		case lvl != "1" && lvl != "2" && lvl != "16":
			return permanent(CodeCategoryError, fmt.Sprintf("CategoryError: notify_level %q (want 1, 2 or 16)", lvl))
		case !hasCat:
			return permanent(CodeCategoryError, "CategoryError: notify_level needs a category ("+ExtraCategory+")")
		}
	}
	if v, ok := m.Extras[ExtraStyle]; ok && v != "1" && v != "2" {
		return permanent(CodeInvalidArguments, fmt.Sprintf("InvalidArguments: %s %q (want 1 standard or 2 long text)", ExtraStyle, v))
	}
	if v, ok := m.Extras[ExtraNotifyID]; ok {
		if n, err := strconv.Atoi(v); err != nil || n < 0 || n > oppoMaxNotifyID {
			return permanent(CodeInvalidArguments, fmt.Sprintf("InvalidArguments: notify_id %q is not a non-negative integer", v))
		}
	}
	return channels.Result{}, true
}

// answer is the JSON answer of the OPPO API, with the HTTP details.
type answer struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`

	status     int
	retryAfter time.Duration
}

// batchEntry is one element of the data of a unicast_batch answer.
type batchEntry struct {
	MessageID      string `json:"messageId"`
	RegistrationID string `json:"registrationId"`
	ErrorCode      int    `json:"errorCode"`
	ErrorMessage   string `json:"errorMessage"`
}

// deliver makes the push call for msgs[idx] and fills their results, or
// returns the call's error (a *channels.VendorError).
func (c *Channel) deliver(ctx context.Context, ts *channels.TokenSource, msgs []channels.Message, idx []int, results []channels.Result, now time.Time) error {
	form := url.Values{}
	path := UnicastPath
	if len(idx) == 1 {
		b, err := json.Marshal(c.BuildMessage(msgs[idx[0]], now))
		if err != nil {
			return c.vendorErr(path, 0, 0, "", false, fmt.Errorf("encoding message: %w", err))
		}
		form.Set("message", string(b))
	} else {
		path = UnicastBatchPath
		body := make([]Message, len(idx))
		for j, i := range idx {
			body[j] = c.BuildMessage(msgs[i], now)
		}
		b, err := json.Marshal(body)
		if err != nil {
			return c.vendorErr(path, 0, 0, "", false, fmt.Errorf("encoding messages: %w", err))
		}
		form.Set("messages", string(b))
	}
	a, err := c.callWithToken(ctx, ts, path, form)
	if err != nil {
		return err
	}
	switch classify(a.Code) {
	case kindOK:
		if path == UnicastPath {
			var d struct {
				MessageID string `json:"messageId"`
			}
			_ = json.Unmarshal(a.Data, &d) // an unreadable data object leaves the message accepted
			results[idx[0]] = acked(d.MessageID)
			return nil
		}
		c.settleBatch(a, msgs, idx, results)
		return nil
	case kindInvalidToken:
		for _, i := range idx {
			results[i] = invalidToken(a.Code, a.Message)
		}
		return nil
	case kindCallTransient:
		ve := c.vendorErr(path, a.status, a.Code, a.explain(), true, nil)
		ve.RetryAfter = a.retryAfter
		return ve
	case kindCallPermanent, kindAuthToken:
		return c.vendorErr(path, a.status, a.Code, a.explain(), false, nil)
	}
	for _, i := range idx {
		results[i] = channels.Result{Outcome: channels.Permanent, StatusCode: a.Code,
			StatusDesc: fmt.Sprintf("%s: oppo code %d: %s", codeName(a.Code), a.Code, a.Message)}
	}
	return nil
}

// settleBatch fills the results of a successful unicast_batch from its
// per-message entries, matched by registration id in order. A message
// without an entry counts as accepted (the call as a whole was).
func (c *Channel) settleBatch(a answer, msgs []channels.Message, idx []int, results []channels.Result) {
	var entries []batchEntry
	_ = json.Unmarshal(a.Data, &entries) // unreadable entries leave every message accepted
	byToken := map[string][]int{}
	for _, i := range idx {
		byToken[msgs[i].Token] = append(byToken[msgs[i].Token], i)
		results[i] = acked("")
	}
	for _, e := range entries {
		q := byToken[e.RegistrationID]
		if len(q) == 0 {
			continue
		}
		i := q[0]
		byToken[e.RegistrationID] = q[1:]
		switch {
		case e.ErrorCode == CodeSuccess:
			results[i] = acked(e.MessageID)
		case classify(e.ErrorCode) == kindInvalidToken:
			results[i] = invalidToken(e.ErrorCode, e.ErrorMessage)
			results[i].VendorMsgID = e.MessageID
		case classify(e.ErrorCode) == kindCallTransient:
			results[i] = channels.Result{Outcome: channels.Transient, StatusCode: e.ErrorCode, RetryAfter: a.retryAfter,
				StatusDesc: fmt.Sprintf("%s: oppo code %d: %s", codeName(e.ErrorCode), e.ErrorCode, e.ErrorMessage)}
		default:
			results[i] = channels.Result{Outcome: channels.Permanent, StatusCode: e.ErrorCode, VendorMsgID: e.MessageID,
				StatusDesc: fmt.Sprintf("%s: oppo code %d: %s", codeName(e.ErrorCode), e.ErrorCode, e.ErrorMessage)}
		}
	}
}

func acked(msgID string) channels.Result {
	return channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked", VendorMsgID: msgID}
}

func invalidToken(code int, reason string) channels.Result {
	return channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
		StatusDesc: fmt.Sprintf("BadDeviceToken: oppo code %d %s: %s", code, codeName(code), reason)}
}

// callWithToken posts form to path with the app's auth token, replacing a
// token OPPO refuses once.
func (c *Channel) callWithToken(ctx context.Context, ts *channels.TokenSource, path string, form url.Values) (answer, error) {
	return channels.CallWithToken(ctx, ts,
		func(tok string) (answer, error) { return c.post(ctx, path, form, tok) },
		func(a answer) bool { return classify(a.Code) == kindAuthToken })
}

// fetchToken returns the auth request of app.
func (c *Channel) fetchToken(app App) func(context.Context) (string, time.Duration, error) {
	return func(ctx context.Context) (string, time.Duration, error) {
		stamp := strconv.FormatInt(time.Now().UnixMilli(), 10)
		form := url.Values{
			"app_key":   {app.AppKey},
			"timestamp": {stamp},
			"sign":      {Sign(app.AppKey, stamp, app.MasterSecret.Reveal())},
		}
		a, err := c.post(ctx, AuthPath, form, "")
		if err != nil {
			return "", 0, err
		}
		switch classify(a.Code) {
		case kindOK:
			var d struct {
				AuthToken string `json:"auth_token"`
			}
			if err := json.Unmarshal(a.Data, &d); err != nil || d.AuthToken == "" {
				return "", 0, c.vendorErr(AuthPath, a.status, a.Code, "answer without data.auth_token", true, err)
			}
			return d.AuthToken, AuthTokenLifetime, nil
		case kindCallTransient:
			ve := c.vendorErr(AuthPath, a.status, a.Code, a.explain(), true, nil)
			ve.RetryAfter = a.retryAfter
			return "", 0, ve
		}
		return "", 0, c.vendorErr(AuthPath, a.status, a.Code, "credentials refused: "+a.explain(), false, nil)
	}
}

func (a *answer) explain() string {
	if a.Message == "" {
		return codeName(a.Code)
	}
	return codeName(a.Code) + ": " + a.Message
}

// post makes one form POST and decodes the answer. Network errors, 429,
// 5xx and garbled 2xx answers are transient *channels.VendorError; other
// non-JSON or non-2xx answers are permanent ones.
func (c *Channel) post(ctx context.Context, path string, form url.Values, authToken string) (answer, error) {
	if authToken != "" {
		form = maps.Clone(form)
		form.Set("auth_token", authToken)
	}
	header := http.Header{"Content-Type": {"application/x-www-form-urlencoded;charset=UTF-8"}, "Accept": {"application/json"}}
	if authToken != "" {
		header.Set("auth_token", authToken)
	}
	rep, err := channels.Post(ctx, c.client, channels.PostRequest{
		Channel: Name, URL: c.base + path, Body: []byte(form.Encode()), Header: header, Timeout: c.cfg.Timeout, MaxAnswerBytes: maxAnswerBytes, Now: c.now,
	})
	if err != nil {
		return answer{}, err
	}
	var a answer
	if err := rep.DecodeJSON(&a, func() (int, string) { return a.Code, a.explain() }); err != nil {
		return answer{}, err
	}
	a.status, a.retryAfter = rep.Status, rep.RetryAfter
	if a.status/100 != 2 && a.Code == CodeSuccess {
		return answer{}, c.vendorErr(path, a.status, 0, a.Message, false, nil)
	}
	return a, nil
}

func (c *Channel) vendorErr(path string, httpStatus, code int, reason string, transient bool, cause error) *channels.VendorError {
	op := "sending"
	if path != "" {
		op = "POST " + c.base + path
	}
	return &channels.VendorError{Channel: Name, Op: op, HTTPStatus: httpStatus, Code: code, Reason: reason,
		Transient: transient, Cause: cause}
}
