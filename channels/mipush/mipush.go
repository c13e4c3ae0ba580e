// Package mipush is the Xiaomi MiPush channel: a client of the MiPush v3
// REST API (POST {base}/v3/message/regid, "Authorization: key=<AppSecret>",
// form-encoded fields, JSON answer).
//
// One vendor call carries one message content for up to 1000 regIds.
// Channel.Send therefore sends the messages of a batch that share a content
// (equal BatchKey) in one call and makes one call per distinct content; a
// sender that groups deliveries by BatchKey makes exactly one call per Send.
//
// Receipt correlation: every call sets extra.callback.param. A call that
// carries one message sends its DeliveryID; a call that carries several
// sends their common MsgID (receipts then name the regIds in "targets").
// With a Config.ReceiptSigner the value carries the tag the receipts worker
// checks, and extra.callback (Config.CallbackURL) names the call's app.
// CallbackParam computes the value.
//
// Recall: Channel implements channels.Recaller with MiPush's revoke by
// regId, POST {base}/v3/message/regid/revoke (form registration_ids, the
// regIds joined by commas; restricted_package_name; notify_id), which
// removes the notification with that notify_id from the devices' bars.
// Xiaomi replaced the v1 path (/v1/message/regid/revoke, same fields) by
// this v3 path, the only one served from December 2026. Every call
// therefore sets notify_id: the mipush.notify_id extra when the message
// has one, else channels.NotifyID(MsgID), so that each pushpipe message
// has its own notification (messages with the same notify_id replace
// each other) and can be revoked later. See Recall.
package mipush

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels"
)

// Name is the channel name of MiPush deliveries.
const Name = "mipush"

// RegIDPath is the path of the push-by-regId API below the base URL.
const RegIDPath = "/v3/message/regid"

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 1 << 20

// Keys of channels.Message.Extras read by the MiPush channel, besides
// channels.ExtraNotifyType, channels.ExtraURI, channels.ExtraMiPushChannelID,
// channels.ExtraMiPushNotifyID and app-defined pairs.
const (
	// ExtraStyleType is extra.notification_style_type: "1" big text, "2"
	// big picture (with ExtraBigPicURI).
	ExtraStyleType = "mipush.style_type"
	// ExtraBigPicURI is extra.notification_bigPic_uri, the picture of the
	// big-picture style.
	ExtraBigPicURI = "mipush.big_pic_uri"
	// ExtraLargeIconURI is extra.notification_large_icon_uri, the large icon
	// (shown outside MIUI, whose notifications use the app icon).
	ExtraLargeIconURI = "mipush.large_icon_uri"
	// ExtraSoundURI is extra.sound_uri, the ringtone the app ships
	// (android.resource://<package>/raw/<name>).
	ExtraSoundURI = "mipush.sound_uri"
)

// reservedExtra reports whether name is a MiPush extra.* field that
// controls the notification; app-defined key/values
// (channels.ExtraCustomPrefix) may not set those.
func reservedExtra(name string) bool {
	switch name {
	case "notify_effect", "intent_uri", "web_uri", "channel_id", "callback", "callback.param",
		"notification_style_type", "notification_bigPic_uri", "notification_large_icon_uri",
		"callback.type", "notify_foreground", "sound_uri", "jobkey", "only_send_once",
		"flow_control", "locale", "locale_not_in", "model", "model_not_in", "app_version",
		"app_version_not_in", "connpt":
		return true
	}
	return false
}

// Option changes how New builds a Channel.
type Option = channels.Option

// WithHTTPClient makes the channel use hc instead of its own client.
// Timeouts still come from Config.Timeout (applied per call via ctx).
func WithHTTPClient(hc *http.Client) Option { return channels.WithHTTPClient(hc) }

// WithClock makes the channel read the time from now (for TTL and expiry).
func WithClock(now func() time.Time) Option { return channels.WithClock(now) }

// Channel is the MiPush channel of one region. It implements
// channels.Channel and channels.BatchKeyer and is safe for concurrent use.
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

// New returns a channel for cfg (defaults applied). It fails, with every
// configuration problem joined, if the configuration is invalid. The
// channel keeps its own copy of cfg.
func New(cfg Config, opts ...Option) (*Channel, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating mipush channel: %w", err)
	}
	cfg.Apps = maps.Clone(cfg.Apps)
	o := channels.ApplyOptions(channels.DefaultMaxIdleConnsPerHost, opts...)
	c := &Channel{
		cfg:      cfg,
		endpoint: strings.TrimSuffix(cfg.BaseURL, "/") + RegIDPath,
		client:   o.Client,
		now:      o.Now,
	}
	return c, nil
}

// Name returns "mipush".
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

// Endpoint returns the URL the channel posts to.
func (c *Channel) Endpoint() string { return c.endpoint }

// BatchKey returns a key equal for messages that can share one MiPush call:
// same app, MsgID and content (title, body, payload, pass-through, expiry,
// extras).
func (c *Channel) BatchKey(m channels.Message) string {
	return channels.ContentKey(m)
}

// CallbackParam returns the extra.callback.param of a call carrying msgs
// of one app: the DeliveryID of a single message, else the common MsgID,
// tagged by s for the receipts worker (channels.ReceiptParam; untagged
// when s is nil); "" if the parameter would exceed MaxCallbackParam
// bytes or msgs is empty.
func CallbackParam(s channels.ReceiptSigner, msgs []channels.Message) string {
	var p string
	switch len(msgs) {
	case 0:
		return ""
	case 1:
		p = msgs[0].DeliveryID
	default:
		p = msgs[0].MsgID
	}
	p = channels.ReceiptParam(s, "mipush", msgs[0].AppID, p)
	if len(p) > MaxCallbackParam {
		return ""
	}
	return p
}

// Send implements channels.Channel. Messages rejected before sending
// (empty or malformed token, expired, content over the limits) get their
// result without a vendor call. The remaining messages are sent in one call
// per distinct BatchKey, at most Config.MaxConcurrentCalls at once.
//
// The whole-call error is returned only when every message of the batch
// was in a failed call and all failed calls failed alike (all transient or
// all permanent); otherwise the failures of individual calls are reported
// per message (Transient or Permanent with the vendor code).
func (c *Channel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	appID, err := channels.CheckBatch(msgs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("sending mipush batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	app, ok := c.cfg.Apps[appID]
	if !ok {
		return nil, fmt.Errorf("sending mipush batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending mipush batch for app %q: %w", appID, c.vendorErr(0, 0, "", true, err))
	}

	now := c.now()
	results := make([]channels.Result, len(msgs))
	groups := channels.GroupByKey(msgs, results, func(m *channels.Message) (channels.Result, bool) { return c.check(m, now) }, c.BatchKey)
	err = channels.SendGroups(ctx, groups, len(msgs), c.cfg.MaxConcurrentCalls, results,
		func(ctx context.Context, idx []int) error { return c.sendGroup(ctx, app, msgs, idx, results, now) },
		func(err error) error { return c.vendorErr(0, 0, "", true, err) })
	if err != nil {
		return nil, fmt.Errorf("sending mipush batch (%d messages) for app %q: %w", len(msgs), appID, err)
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
	if r, ok := channels.CheckDeliverable(m, now, ", \t\r\n", "regId"); !ok {
		return r, false
	}
	switch {
	case !m.PassThrough && (strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == ""):
		return permanent(channels.StatusMiPushIllegalParameterValue, "IllegalParameterValue: a notification needs a title and a description")
	case utf8.RuneCountInString(m.Title) > lim.MaxTitleRunes:
		return permanent(channels.StatusMiPushIllegalParameterValue,
			fmt.Sprintf("IllegalParameterValue: title has %d characters, MiPush allows %d", utf8.RuneCountInString(m.Title), lim.MaxTitleRunes))
	case utf8.RuneCountInString(m.Body) > lim.MaxDescriptionRunes:
		return permanent(channels.StatusMiPushIllegalParameterValue,
			fmt.Sprintf("IllegalParameterValue: description has %d characters, MiPush allows %d", utf8.RuneCountInString(m.Body), lim.MaxDescriptionRunes))
	case len(m.Payload) > lim.MaxPayloadBytes:
		return permanent(channels.StatusMiPushRequestTooLong,
			fmt.Sprintf("RequestTooLong: payload has %d bytes, MiPush allows %d", len(m.Payload), lim.MaxPayloadBytes))
	}
	return channels.Result{}, true
}

// Form returns the form fields of the call carrying msgs, which must share
// one BatchKey, at time now. It is what Send posts; exported for tests and
// tooling.
func (c *Channel) Form(app App, msgs []channels.Message, now time.Time) url.Values {
	m := msgs[0]
	f := url.Values{}
	tokens := make([]string, len(msgs))
	for i := range msgs {
		tokens[i] = msgs[i].Token
	}
	f.Set("registration_id", strings.Join(tokens, ","))
	f.Set("restricted_package_name", app.PackageName)
	if m.PassThrough {
		f.Set("pass_through", "1")
	} else {
		f.Set("pass_through", "0")
	}
	if m.Title != "" {
		f.Set("title", m.Title)
	}
	if m.Body != "" {
		f.Set("description", m.Body)
	}
	if m.Payload != "" {
		f.Set("payload", m.Payload)
	}
	notifyType := strconv.Itoa(c.cfg.NotifyType)
	if v := m.Extras[channels.ExtraNotifyType]; v != "" {
		notifyType = v
	}
	f.Set("notify_type", notifyType)
	if !m.ExpireAt.IsZero() {
		ttl := min(m.ExpireAt.Sub(now), MaxTimeToLive)
		f.Set("time_to_live", strconv.FormatInt(max(ttl.Milliseconds(), 1), 10))
	}
	f.Set("notify_id", notifyID(m))
	if v := m.Extras[channels.ExtraMiPushChannelID]; v != "" {
		f.Set("extra.channel_id", v)
	}
	if v := m.Extras[ExtraStyleType]; v != "" {
		f.Set("extra.notification_style_type", v)
	}
	if v := m.Extras[ExtraBigPicURI]; v != "" {
		f.Set("extra.notification_bigPic_uri", v)
	}
	if v := m.Extras[ExtraLargeIconURI]; v != "" {
		f.Set("extra.notification_large_icon_uri", v)
	}
	if v := m.Extras[ExtraSoundURI]; v != "" {
		f.Set("extra.sound_uri", v)
	}
	if uri := m.Extras[channels.ExtraURI]; uri != "" {
		if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
			f.Set("extra.notify_effect", "3")
			f.Set("extra.web_uri", uri)
		} else {
			f.Set("extra.notify_effect", "2")
			f.Set("extra.intent_uri", uri)
		}
	}
	for k, v := range m.Extras {
		name, ok := strings.CutPrefix(k, channels.ExtraCustomPrefix)
		if !ok || name == "" || reservedExtra(name) {
			continue
		}
		f.Set("extra."+name, v)
	}
	if c.cfg.CallbackURL != "" {
		f.Set("extra.callback", channels.AppReceiptURL(c.cfg.CallbackURL, msgs[0].AppID))
		f.Set("extra.callback.type", strconv.Itoa(c.cfg.CallbackType))
	}
	if p := CallbackParam(c.cfg.ReceiptSigner, msgs); p != "" {
		f.Set("extra.callback.param", p)
	}
	return f
}

// answer is the JSON answer of the MiPush API.
type answer struct {
	Result      string          `json:"result"`
	Code        int             `json:"code"`
	Description string          `json:"description"`
	Reason      string          `json:"reason"`
	Info        string          `json:"info"`
	TraceID     string          `json:"trace_id"`
	Data        json.RawMessage `json:"data"`

	status     int           // HTTP status
	retryAfter time.Duration // Retry-After
}

// answerData is the "data" object of a successful answer.
type answerData struct {
	ID        string `json:"id"`
	BadRegIDs string `json:"bad_regids"`
}

func (a *answer) explain() string {
	parts := make([]string, 0, 3)
	for _, s := range []string{a.Description, a.Reason, a.TraceID} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, "; ")
}

// sendGroup makes the call for one group (msgs[idx]) and fills its
// results, or returns the call's error (a *channels.VendorError).
func (c *Channel) sendGroup(ctx context.Context, app App, msgs []channels.Message, idx []int, results []channels.Result, now time.Time) error {
	gm := make([]channels.Message, len(idx))
	for j, i := range idx {
		gm[j] = msgs[i]
	}
	a, err := c.post(ctx, app, c.endpoint, c.Form(app, gm, now))
	if err != nil {
		return err
	}
	switch classify(a.Code) {
	case kindOK:
		var d answerData
		if len(a.Data) > 0 {
			_ = json.Unmarshal(a.Data, &d) // an unreadable data object leaves every target accepted
		}
		bad := map[string]bool{}
		for _, t := range strings.Split(d.BadRegIDs, ",") {
			if t = strings.TrimSpace(t); t != "" {
				bad[t] = true
			}
		}
		for _, i := range idx {
			if bad[msgs[i].Token] {
				results[i] = channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
					StatusDesc: "BadDeviceToken: listed in bad_regids", VendorMsgID: d.ID}
				continue
			}
			results[i] = channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked,
				StatusDesc: "Acked", VendorMsgID: d.ID}
		}
		return nil
	case kindNoValidTargets:
		for _, i := range idx {
			results[i] = channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
				StatusDesc: fmt.Sprintf("BadDeviceToken: mipush code %d: %s", a.Code, a.explain())}
		}
		return nil
	case kindMessagePermanent:
		for _, i := range idx {
			results[i] = channels.Result{Outcome: channels.Permanent, StatusCode: a.Code,
				StatusDesc: fmt.Sprintf("mipush code %d: %s", a.Code, a.explain())}
		}
		return nil
	default: // kindCallTransient, kindCallPermanent
		return c.callError(c.endpoint, a)
	}
}

// callError is the error of a call whose answer code refuses the call
// (kindCallTransient or kindCallPermanent).
func (c *Channel) callError(endpoint string, a answer) error {
	transient := classify(a.Code) == kindCallTransient
	ve := c.vendorErrAt(endpoint, a.status, a.Code, a.explain(), transient, nil)
	if transient {
		ve.RetryAfter = a.retryAfter
	}
	return ve
}

// post makes one call of the MiPush API: form posted to endpoint with
// app's secret. It returns the decoded answer, or the call's error (a
// *channels.VendorError): no answer, a 429 or 5xx answer and a garbled
// 2xx answer are transient; any other answer without a MiPush code, or a
// non-2xx answer claiming success, is permanent.
func (c *Channel) post(ctx context.Context, app App, endpoint string, form url.Values) (answer, error) {
	rep, err := channels.Post(ctx, c.client, channels.PostRequest{
		Channel: Name, URL: endpoint, Body: []byte(form.Encode()), Timeout: c.cfg.Timeout, MaxAnswerBytes: maxAnswerBytes, Now: c.now,
		Header: http.Header{
			"Authorization": {"key=" + app.AppSecret.Reveal()},
			"Content-Type":  {"application/x-www-form-urlencoded;charset=UTF-8"},
			"Accept":        {"application/json"},
		},
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
		return answer{}, c.vendorErrAt(endpoint, a.status, 0, a.explain(), false, nil)
	}
	return a, nil
}

func (c *Channel) vendorErr(httpStatus, code int, reason string, transient bool, cause error) *channels.VendorError {
	return c.vendorErrAt(c.endpoint, httpStatus, code, reason, transient, cause)
}

func (c *Channel) vendorErrAt(endpoint string, httpStatus, code int, reason string, transient bool, cause error) *channels.VendorError {
	return &channels.VendorError{
		Channel:    Name,
		Op:         "POST " + endpoint,
		HTTPStatus: httpStatus,
		Code:       code,
		Reason:     reason,
		Transient:  transient,
		Cause:      cause,
	}
}
