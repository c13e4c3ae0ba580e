// Package selfchannel is the self-built channel ("self"): pushpipe hands
// messages to the operator's own connection gateway, which holds the
// persistent connections of the app's SDK (the mPaaS "MPS self-built
// channel").
//
// # Gateway API
//
// One call pushes up to MaxMessagesPerCall messages of one app:
//
//	POST {base}/v1/push
//	Authorization: Bearer <app key>
//	Content-Type: application/json
//
//	{"appId": "app-1",
//	 "messages": [{"token": "…", "deliveryId": "…", "msgId": "…", "taskId": "…",
//	               "title": "…", "body": "…", "payload": "…", "passThrough": false,
//	               "expireAt": 1767225600000,
//	               "notification": {"notifyType": -1, "uri": "…", "channelId": "…", "notifyId": "…",
//	                                "sound": "…", "badge": "3", "bigText": true,
//	                                "imageUrl": "…", "iconUrl": "…"},
//	               "extras": {"orderId": "42"}}]}
//
// expireAt is Unix milliseconds (0 or absent: the gateway's default
// validity); notification and extras are omitted when empty. A 200 answer
// has exactly one result per message, in order:
//
//	{"requestId": "…",
//	 "results": [{"deliveryId": "…", "status": "delivered", "messageId": "…"},
//	             {"deliveryId": "…", "status": "offline", "retryAfterSeconds": 30},
//	             {"deliveryId": "…", "status": "invalid_token", "reason": "…"}]}
//
// Statuses: "delivered" (pushed to the device over its connection),
// "offline" (the device is not connected; not stored), "invalid_token"
// (the token is unknown to the gateway), "expired" (validity ended),
// "rejected" (content refused; reason says why). Errors of the whole call
// are an HTTP status with {"error": "<code>", "message": "…"}: 400
// bad_request, 401 unauthorized (unknown app key), 403 forbidden (appId is
// not the key's app), 413 payload_too_large, 429 rate_limited and 503
// unavailable (both may carry Retry-After in seconds), 500 internal.
//
// # Mapping
//
// delivered → Success with §10.3 status 2 Acked (for the self-built
// channel: pushed to the client); offline → Transient with 0
// DeviceNotOnlineOrNoResponse; invalid_token → InvalidToken with 2009
// BadDeviceToken (the mPaaS API reports it as 3054 DELIVERYTOKEN_INVALID,
// named in StatusDesc); expired and rejected → Permanent with 99999999
// NONE. 401, 403 and other 4xx → whole-call permanent error; 429, 5xx,
// network errors, timeouts and garbled answers → whole-call transient
// error.
//
// # Recall API
//
// The gateway withdraws messages it delivered (mPaaS message revocation:
// an undelivered message is dropped, a delivered one is removed from the
// notification bar by the SDK). One call names up to MaxMessagesPerCall
// messages of one app by the messageId /v1/push answered:
//
//	POST {base}/v1/recall
//	Authorization: Bearer <app key>
//	Content-Type: application/json
//
//	{"appId": "app-1",
//	 "messages": [{"messageId": "…", "token": "…", "deliveryId": "…"}]}
//
// A 200 answer has exactly one result per message, in order:
//
//	{"requestId": "…",
//	 "results": [{"deliveryId": "…", "messageId": "…", "status": "recalled"},
//	             {"deliveryId": "…", "messageId": "…", "status": "unknown", "reason": "…"}]}
//
// Statuses: "recalled" (the gateway withdrew the message), "unknown" (no
// such message was delivered to that token, or it is older than the
// gateway keeps). Errors of the whole call are those of /v1/push.
// recalled → Success with status 2; unknown and any other status →
// Permanent with 99999999 NONE. Channel implements channels.Recaller with
// it; see Recall.
package selfchannel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels"
)

// Name is the channel name of self-built channel deliveries.
const Name = "self"

// PushPath is the path of the push API below the base URL.
const PushPath = "/v1/push"

// Result statuses of the gateway API.
const (
	StatusDelivered    = "delivered"
	StatusOffline      = "offline"
	StatusInvalidToken = "invalid_token"
	StatusExpired      = "expired"
	StatusRejected     = "rejected"
)

// CodeDeliveryTokenInvalid is the mPaaS result code of an invalid
// self-built channel token (§7.2.12, DELIVERYTOKEN_INVALID), named in the
// StatusDesc of InvalidToken results.
const CodeDeliveryTokenInvalid = 3054

// Keys of channels.Message.Extras read by the self-built channel, besides
// the vendor-neutral channels.ExtraNotifyType and channels.ExtraURI and the channels.ExtraCustomPrefix
// key/values (sent as "extras"). mPaaS system extension parameters "sound",
// "badge" and "big_text" (§7.2.11) are honoured too; the self.* keys win.
const (
	// ExtraNotifyID: notifications with the same id replace each other.
	ExtraNotifyID = "self.notify_id"
	// ExtraChannelID is the Android notification channel id.
	ExtraChannelID = "self.channel_id"
	// ExtraSound is the notification sound (a ringtone path).
	ExtraSound = "self.sound"
	// ExtraBadge is the app icon badge number.
	ExtraBadge = "self.badge"
	// ExtraBigText "1" shows the body in the big text style.
	ExtraBigText = "self.big_text"

	// ExtraImageURL is the picture of an image-text notification.
	ExtraImageURL = "self.image_url"
	// ExtraIconURL is the large icon of the notification.
	ExtraIconURL = "self.icon_url"
)

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 8 << 20

// PushRequest is the body of POST /v1/push.
type PushRequest struct {
	AppID    string        `json:"appId"`
	Messages []PushMessage `json:"messages"`
}

// PushMessage is one message of a PushRequest.
type PushMessage struct {
	Token        string            `json:"token"`
	DeliveryID   string            `json:"deliveryId,omitempty"`
	MsgID        string            `json:"msgId,omitempty"`
	TaskID       string            `json:"taskId,omitempty"`
	Title        string            `json:"title,omitempty"`
	Body         string            `json:"body,omitempty"`
	Payload      string            `json:"payload,omitempty"`
	PassThrough  bool              `json:"passThrough,omitempty"`
	ExpireAt     int64             `json:"expireAt,omitempty"`
	Notification *Notification     `json:"notification,omitempty"`
	Extras       map[string]string `json:"extras,omitempty"`
}

// Notification is how the SDK displays a notification.
type Notification struct {
	NotifyType int    `json:"notifyType,omitempty"`
	URI        string `json:"uri,omitempty"`
	ChannelID  string `json:"channelId,omitempty"`
	NotifyID   string `json:"notifyId,omitempty"`
	Sound      string `json:"sound,omitempty"`
	Badge      string `json:"badge,omitempty"`
	BigText    bool   `json:"bigText,omitempty"`
	ImageURL   string `json:"imageUrl,omitempty"`
	IconURL    string `json:"iconUrl,omitempty"`
}

// PushAnswer is the 200 answer of POST /v1/push.
type PushAnswer struct {
	RequestID string       `json:"requestId"`
	Results   []PushResult `json:"results"`
}

// PushResult is the gateway's answer for one message.
type PushResult struct {
	DeliveryID        string `json:"deliveryId,omitempty"`
	Status            string `json:"status"`
	MessageID         string `json:"messageId,omitempty"`
	Reason            string `json:"reason,omitempty"`
	RetryAfterSeconds int    `json:"retryAfterSeconds,omitempty"`
}

// ErrorAnswer is the body of a non-200 answer.
type ErrorAnswer struct {
	Error   string `json:"error"`
	Message string `json:"message,omitempty"`
}

// Option changes how New builds a Channel.
type Option = channels.Option

// WithHTTPClient makes the channel use hc instead of its own client.
// Timeouts still come from Config.Timeout.
func WithHTTPClient(hc *http.Client) Option { return channels.WithHTTPClient(hc) }

// WithClock makes the channel read the time from now (expiry).
func WithClock(now func() time.Time) Option { return channels.WithClock(now) }

// Channel is the self-built channel of one region. It implements
// channels.Channel and is safe for concurrent use.
type Channel struct {
	cfg      Config
	endpoint string
	client   *http.Client
	now      func() time.Time
}

var _ channels.Channel = (*Channel)(nil)

// New returns a channel for cfg (defaults applied). It fails, with every
// configuration problem joined, if the configuration is invalid. The
// channel keeps its own copy of cfg.
func New(cfg Config, opts ...Option) (*Channel, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating self channel: %w", err)
	}
	cfg.Apps = maps.Clone(cfg.Apps)
	o := channels.ApplyOptions(channels.DefaultMaxIdleConnsPerHost, opts...)
	c := &Channel{
		cfg:      cfg,
		endpoint: strings.TrimSuffix(cfg.BaseURL, "/") + PushPath,
		client:   o.Client,
		now:      o.Now,
	}
	return c, nil
}

// Name returns "self".
func (c *Channel) Name() string { return Name }

// MaxBatch returns Config.MaxBatch (at most MaxMessagesPerCall).
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

// check returns the result of a message that must not be sent, and false;
// or true if the message can be sent.
func (c *Channel) check(m *channels.Message, now time.Time) (channels.Result, bool) {
	permanent := func(code int, desc string) (channels.Result, bool) {
		return channels.Result{Outcome: channels.Permanent, StatusCode: code, StatusDesc: desc}, false
	}
	lim := c.cfg.Limits
	if r, ok := channels.CheckDeliverable(m, now, "", "token"); !ok {
		return r, false
	}
	switch {
	case !m.PassThrough && (strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == ""):
		return permanent(channels.StatusNone, "PAYLOAD_NOT_ENOUGH: a notification needs a title and a body")
	case lim.MaxTitleRunes > 0 && utf8.RuneCountInString(m.Title) > lim.MaxTitleRunes:
		return permanent(channels.StatusNone,
			fmt.Sprintf("TitleTooLong: title has %d characters, the channel allows %d", utf8.RuneCountInString(m.Title), lim.MaxTitleRunes))
	case lim.MaxBodyRunes > 0 && utf8.RuneCountInString(m.Body) > lim.MaxBodyRunes:
		return permanent(channels.StatusNone,
			fmt.Sprintf("BodyTooLong: body has %d characters, the channel allows %d", utf8.RuneCountInString(m.Body), lim.MaxBodyRunes))
	case len(m.Payload) > lim.MaxPayloadBytes:
		return permanent(channels.StatusNone,
			fmt.Sprintf("MSG_PAYLOAD_TOO_LONG: payload has %d bytes, the self-built channel allows %d", len(m.Payload), lim.MaxPayloadBytes))
	}
	return channels.Result{}, true
}

// Message returns the gateway message of m. Exported for tests and
// tooling.
func Message(m channels.Message) PushMessage {
	x := m.Extras
	pm := PushMessage{
		Token: m.Token, DeliveryID: m.DeliveryID, MsgID: m.MsgID, TaskID: m.TaskID,
		Title: m.Title, Body: m.Body, Payload: m.Payload, PassThrough: m.PassThrough,
	}
	if !m.ExpireAt.IsZero() {
		pm.ExpireAt = m.ExpireAt.UnixMilli()
	}
	n := Notification{
		URI:       x[channels.ExtraURI],
		ChannelID: x[ExtraChannelID],
		NotifyID:  x[ExtraNotifyID],
		Sound:     first(x[ExtraSound], x[channels.ExtraCustomPrefix+"sound"]),
		Badge:     first(x[ExtraBadge], x[channels.ExtraCustomPrefix+"badge"]),
		BigText:   first(x[ExtraBigText], x[channels.ExtraCustomPrefix+"big_text"]) == "1",
		ImageURL:  x[ExtraImageURL],
		IconURL:   x[ExtraIconURL],
	}
	if v, err := strconv.Atoi(x[channels.ExtraNotifyType]); err == nil {
		n.NotifyType = v
	}
	if !m.PassThrough && n != (Notification{}) {
		pm.Notification = &n
	}
	for k, v := range x {
		if name, ok := strings.CutPrefix(k, channels.ExtraCustomPrefix); ok && name != "" {
			if pm.Extras == nil {
				pm.Extras = map[string]string{}
			}
			pm.Extras[name] = v
		}
	}
	return pm
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Send implements channels.Channel. Messages rejected before sending
// (empty token, expired, no title or body for a notification, content over
// the limits) get their result without a call; the others go in one call.
// When that call fails as a whole (see the package documentation), Send
// returns the whole-call error if every message was in the call, else the
// failure as each sent message's result (Transient or Permanent).
func (c *Channel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	appID, err := channels.CheckBatch(msgs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("sending self channel batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	app, ok := c.cfg.Apps[appID]
	if !ok {
		return nil, fmt.Errorf("sending self channel batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending self channel batch for app %q: %w", appID, c.vendorErr(0, "", true, err))
	}
	now := c.now()
	results := make([]channels.Result, len(msgs))
	var idx []int
	req := PushRequest{AppID: appID}
	for i := range msgs {
		if r, ok := c.check(&msgs[i], now); !ok {
			results[i] = r
			continue
		}
		idx = append(idx, i)
		req.Messages = append(req.Messages, Message(msgs[i]))
	}
	if len(idx) == 0 {
		return results, nil
	}
	answers, ve := c.call(ctx, app, req)
	if ve != nil {
		if len(idx) == len(msgs) {
			return nil, fmt.Errorf("sending self channel batch (%d messages) for app %q: %w", len(idx), appID, ve)
		}
		r := channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone, StatusDesc: ve.Error()}
		if ve.Transient {
			r = channels.Result{Outcome: channels.Transient, StatusCode: channels.StatusDeviceNotOnlineOrNoResponse,
				StatusDesc: ve.Error(), RetryAfter: ve.RetryAfter}
		}
		for _, i := range idx {
			results[i] = r
		}
		return results, nil
	}
	for j, i := range idx {
		results[i] = mapResult(answers[j])
	}
	return results, nil
}

// mapResult maps the gateway's answer for one message to its result.
func mapResult(a PushResult) channels.Result {
	desc := func(name string) string {
		if a.Reason != "" {
			return name + ": " + a.Reason
		}
		return name
	}
	switch a.Status {
	case StatusDelivered:
		return channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked", VendorMsgID: a.MessageID}
	case StatusOffline:
		return channels.Result{Outcome: channels.Transient, StatusCode: channels.StatusDeviceNotOnlineOrNoResponse,
			StatusDesc: desc("DeviceNotOnlineOrNoResponse"), VendorMsgID: a.MessageID,
			RetryAfter: time.Duration(max(a.RetryAfterSeconds, 0)) * time.Second}
	case StatusInvalidToken:
		return channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
			StatusDesc: desc(fmt.Sprintf("BadDeviceToken: DELIVERYTOKEN_INVALID (%d)", CodeDeliveryTokenInvalid)), VendorMsgID: a.MessageID}
	case StatusExpired:
		return channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone, StatusDesc: desc("MessageExpired"), VendorMsgID: a.MessageID}
	case StatusRejected:
		return channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone, StatusDesc: desc("Rejected"), VendorMsgID: a.MessageID}
	}
	// An unknown status is not retried, so that it cannot cause a retry
	// storm; the status is kept in the description.
	return channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone,
		StatusDesc: desc(fmt.Sprintf("unknown gateway status %q", a.Status)), VendorMsgID: a.MessageID}
}

// call makes the gateway call and returns one result per message of req,
// or the call's error.
func (c *Channel) call(ctx context.Context, app App, req PushRequest) ([]PushResult, *channels.VendorError) {
	var a PushAnswer
	status, ve := c.postJSON(ctx, app, c.endpoint, req, &a)
	if ve != nil {
		return nil, ve
	}
	if len(a.Results) != len(req.Messages) {
		return nil, c.vendorErrAt(c.endpoint, status, fmt.Sprintf("answer has %d results for %d messages", len(a.Results), len(req.Messages)), true, nil)
	}
	for j, r := range a.Results {
		if r.DeliveryID != "" && r.DeliveryID != req.Messages[j].DeliveryID {
			return nil, c.vendorErrAt(c.endpoint, status, fmt.Sprintf("result %d is for delivery %q, not %q", j, r.DeliveryID, req.Messages[j].DeliveryID), true, nil)
		}
	}
	return a.Results, nil
}

// postJSON posts req as JSON to endpoint with the app key and decodes a
// 200 answer into answer. It returns the HTTP status, or the call's error:
// 429, 5xx, network errors, timeouts and a garbled 200 answer are
// transient; 401, 403 and other 4xx are permanent.
func (c *Channel) postJSON(ctx context.Context, app App, endpoint string, req, answer any) (int, *channels.VendorError) {
	body, err := json.Marshal(req)
	if err != nil {
		return 0, c.vendorErrAt(endpoint, 0, "", false, fmt.Errorf("encoding request: %w", err))
	}
	rep, err := channels.Post(ctx, c.client, channels.PostRequest{
		Channel: Name, URL: endpoint, Body: body, Timeout: c.cfg.Timeout, MaxAnswerBytes: maxAnswerBytes, Now: c.now,
		Header: http.Header{
			"Authorization": {"Bearer " + app.AppKey.Reveal()},
			"Content-Type":  {"application/json"},
			"Accept":        {"application/json"},
		},
	})
	if err != nil {
		var ve *channels.VendorError
		errors.As(err, &ve) // Post fails with a *channels.VendorError only
		return 0, ve
	}
	status := rep.Status
	if status != http.StatusOK {
		var e ErrorAnswer
		_ = json.Unmarshal(rep.Body, &e) // the status decides; the body only explains
		reason := strings.Trim(e.Error+": "+e.Message, ": ")
		ve := c.vendorErrAt(endpoint, status, reason, status == http.StatusTooManyRequests || status >= 500, nil)
		if ve.Transient {
			ve.RetryAfter = rep.RetryAfter
		}
		return 0, ve
	}
	if err := json.Unmarshal(rep.Body, answer); err != nil {
		return 0, c.vendorErrAt(endpoint, status, "", true, fmt.Errorf("decoding answer: %w", err))
	}
	return status, nil
}

func (c *Channel) vendorErr(httpStatus int, reason string, transient bool, cause error) *channels.VendorError {
	return c.vendorErrAt(c.endpoint, httpStatus, reason, transient, cause)
}

func (c *Channel) vendorErrAt(endpoint string, httpStatus int, reason string, transient bool, cause error) *channels.VendorError {
	return &channels.VendorError{
		Channel:    Name,
		Op:         "POST " + endpoint,
		HTTPStatus: httpStatus,
		Reason:     reason,
		Transient:  transient,
		Cause:      cause,
	}
}
