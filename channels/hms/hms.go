// Package hms is the Huawei Push Kit channel: a client of the Push Kit
// server API (POST {base}/v1/{appId}/messages:send with "Authorization:
// Bearer <access token>", JSON body {"validate_only":false,"message":{...}}).
//
// Access tokens are app-level tokens of Huawei's OAuth 2.0 server, obtained
// with the client-credentials grant (POST {auth}/oauth2/v3/token with
// grant_type=client_credentials, client_id=App ID, client_secret=App
// Secret). The token of each app is cached until shortly before its
// expires_in and refreshed by one request at a time; when Push Kit answers
// 80200001 or 80200003 (OAuth authentication error, token expired) the token
// is replaced and the call retried once.
//
// One call carries one content for up to 1000 tokens. Channel.Send sends the
// messages of a batch that share a content (equal BatchKey) in one call and
// makes one call per distinct content; a sender that groups deliveries by
// BatchKey makes exactly one call per Send.
//
// Receipt correlation: every call sets android.bi_tag, which Huawei echoes
// as "biTag" in its receipts. A call that carries one message sends its
// DeliveryID; a call that carries several sends their common MsgID
// (receipts name the token). BiTag computes the value.
//
// Recall: Channel implements channels.Recaller with Push Kit's message
// revocation, POST {base}/v1/{appId}/messages:revoke with the header
// push-type: 0 (notification) and the JSON body {"notifyId": N, "token":
// [...]} (at most 1000 tokens; answer {"code","msg","requestId"}, code
// "80000000" on success), documented in Huawei's Push Kit REST API
// reference (消息撤回) with the app's client ID in the path and a
// service-account JWT as the Bearer credential. The channel puts the App
// ID (the OAuth client ID of the app) in the path and presents the same
// app-level access token as for messages:send. Huawei revokes
// notifications by their notify_id, so every notification
// carries android.notification.notify_id: the hms.notify_id extra when
// the message has one, else channels.NotifyID(MsgID). See Recall.
package hms

import (
	"context"
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
	"github.com/pushpipe/pushpipe/channels/internal/pushkit"
)

// Name is the channel name of Huawei deliveries.
const Name = "hms"

// Keys of channels.Message.Extras read by the Huawei channel (besides the
// vendor-neutral channels.ExtraNotifyType, channels.ExtraURI and
// channels.ExtraCustomPrefix pairs).
const (
	// ExtraCategory is android.category, the message classification (the
	// mPaaS thirdChannelCategory "hms" value): "1".."14" or the category
	// name (IM, VOIP, SUBSCRIPTION, TRAVEL, HEALTH, WORK, ACCOUNT, EXPRESS,
	// FINANCE, DEVICE_REMINDER, SYSTEM_REMINDER, MAIL, PLAY_VOICE,
	// MARKETING).
	ExtraCategory = "hms.category"
	// ExtraNotifyLevel is android.notification.importance (the mPaaS
	// notifyLevel "hms" value): "1" or "LOW" (silent), "2" or "NORMAL".
	ExtraNotifyLevel = "hms.notify_level"
	// ExtraImage is android.notification.image: the URL of the large icon
	// on the right of the notification (the mPaaS iconUrls hmsUrl).
	ExtraImage = "hms.image"
	// ExtraChannelID is android.notification.channel_id (the mPaaS
	// channelId).
	ExtraChannelID = "hms.channel_id"
	// ExtraNotifyID is android.notification.notify_id: notifications with
	// the same id replace each other. An integer.
	ExtraNotifyID = "hms.notify_id"
	// ExtraBadgeAddNum is android.notification.badge.add_num (the mPaaS
	// badge_add_num): 1..99, needs ExtraBadgeClass.
	ExtraBadgeAddNum = "hms.badge_add_num"
	// ExtraBadgeClass is android.notification.badge.class (the mPaaS
	// badge_class): the app's entry Activity class.
	ExtraBadgeClass = "hms.badge_class"
	// ExtraBigText set to "1" (the mPaaS big_text) shows the notification
	// in big-text style (style 1, big_title and big_body).
	ExtraBigText = "hms.big_text"
)

// PayloadDataKey is the key of Message.Payload in the JSON object sent as
// message.data when the message also carries custom key/values. Without
// custom key/values, message.data is the Payload itself.
const PayloadDataKey = "payload"

// categories are the android.category values, in the order of the mPaaS
// thirdChannelCategory.hms enumeration (1..14). Never modified.
var categories = []string{"IM", "VOIP", "SUBSCRIPTION", "TRAVEL", "HEALTH", "WORK", "ACCOUNT",
	"EXPRESS", "FINANCE", "DEVICE_REMINDER", "SYSTEM_REMINDER", "MAIL", "PLAY_VOICE", "MARKETING"}

// Categories returns the android.category values, in the order of the
// mPaaS thirdChannelCategory.hms enumeration (value i+1 is Categories()[i]).
func Categories() []string { return slices.Clone(categories) }

// Option changes how New builds a Channel.
type Option = channels.Option

// WithHTTPClient makes the channel use hc for sends and token requests
// instead of its own client. Timeouts still come from Config.Timeout.
func WithHTTPClient(hc *http.Client) Option { return channels.WithHTTPClient(hc) }

// WithClock makes the channel read the time from now (TTL, expiry, token
// lifetimes).
func WithClock(now func() time.Time) Option { return channels.WithClock(now) }

// Channel is the Huawei Push Kit channel of one region. It implements
// channels.Channel and channels.BatchKeyer and is safe for concurrent use.
type Channel struct {
	cfg    Config
	caller *pushkit.Caller
	now    func() time.Time
	apps   map[string]*appState // fixed after New
}

var (
	_ channels.Channel    = (*Channel)(nil)
	_ channels.BatchKeyer = (*Channel)(nil)
)

// appState is what the channel keeps per app.
type appState struct {
	app      App
	endpoint string
	tokens   *channels.TokenSource
}

// New returns a channel for cfg (defaults applied). It fails, with every
// configuration problem joined, if the configuration is invalid. The
// channel keeps its own copy of cfg.
func New(cfg Config, opts ...Option) (*Channel, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating hms channel: %w", err)
	}
	cfg.Apps = maps.Clone(cfg.Apps)
	o := channels.ApplyOptions(channels.DefaultMaxIdleConnsPerHost, opts...)
	c := &Channel{cfg: cfg, now: o.Now, apps: map[string]*appState{}, caller: &pushkit.Caller{
		Channel: Name, Client: o.Client, Timeout: cfg.Timeout, Now: o.Now, ContentType: "application/json;charset=utf-8",
		Credential: "access token", IsAuthCode: func(code int) bool { return classify(code) == kindAuth },
	}}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	tokenURL := strings.TrimSuffix(cfg.AuthURL, "/") + TokenPath
	for id, a := range cfg.Apps {
		c.apps[id] = &appState{
			app:      a,
			endpoint: base + "/v1/" + url.PathEscape(a.AppID) + "/messages:send",
			tokens: &channels.TokenSource{Channel: Name, Op: "POST " + tokenURL, Timeout: cfg.Timeout, Now: c.now,
				Fetch: (&tokenRequest{tokenURL: tokenURL, app: a, client: o.Client, now: c.now}).request},
		}
	}
	return c, nil
}

// Name returns "hms".
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

// Endpoint returns the URL the channel posts the messages of appID to, or
// "" for an unknown app.
func (c *Channel) Endpoint(appID string) string {
	if st, ok := c.apps[appID]; ok {
		return st.endpoint
	}
	return ""
}

// BatchKey returns a key equal for messages that can share one Push Kit
// call: same app, MsgID and content (title, body, payload, pass-through,
// expiry, extras).
func (c *Channel) BatchKey(m channels.Message) string {
	return channels.ContentKey(m)
}

// BiTag returns the android.bi_tag of a call carrying msgs: the DeliveryID
// of a single message, else the common MsgID; "" for no messages.
func BiTag(msgs []channels.Message) string {
	switch len(msgs) {
	case 0:
		return ""
	case 1:
		return msgs[0].DeliveryID
	}
	return msgs[0].MsgID
}

// Send implements channels.Channel. Messages rejected before sending
// (empty or malformed token, expired, content over the limits, invalid
// extras) get their result without a vendor call. The others are sent in
// one call per distinct BatchKey, at most Config.MaxConcurrentCalls at once.
//
// The whole-call error is returned only when every message of the batch
// was in a failed call and all failed calls failed alike (all transient or
// all permanent); otherwise the failures of individual calls are reported
// per message (Transient or Permanent with the vendor code).
func (c *Channel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	appID, err := channels.CheckBatch(msgs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("sending hms batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	st, ok := c.apps[appID]
	if !ok {
		return nil, fmt.Errorf("sending hms batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending hms batch for app %q: %w", appID, c.caller.Err(st.endpoint, 0, 0, "", true, err))
	}

	now := c.now()
	results := make([]channels.Result, len(msgs))
	groups, bodies := c.plan(st.app, msgs, results, now)
	err = channels.SendGroups(ctx, groups, len(msgs), c.cfg.MaxConcurrentCalls, results,
		func(ctx context.Context, idx []int) error {
			return c.sendGroup(ctx, st, msgs, idx, bodies[idx[0]], results)
		},
		func(err error) error { return c.caller.Err(st.endpoint, 0, 0, "", true, err) })
	if err != nil {
		return nil, fmt.Errorf("sending hms batch (%d messages) for app %q: %w", len(msgs), appID, err)
	}
	return results, nil
}

// plan checks every message, fills the result of the ones that cannot be
// sent, groups the others by BatchKey in order of first appearance and
// builds each group's body (refusing groups over the size limit). The
// bodies are keyed by the first message index of their group.
func (c *Channel) plan(app App, msgs []channels.Message, results []channels.Result, now time.Time) ([][]int, map[int][]byte) {
	groups := channels.GroupByKey(msgs, results, func(m *channels.Message) (channels.Result, bool) { return c.check(m, now) }, c.BatchKey)
	bodies := make(map[int][]byte, len(groups))
	kept := groups[:0]
	for _, idx := range groups {
		gm := make([]channels.Message, len(idx))
		for j, i := range idx {
			gm[j] = msgs[i]
		}
		req, err := c.Request(app, gm, now)
		var size int
		var body []byte
		if err == nil {
			withoutTokens := req.Message
			withoutTokens.Token = nil
			var b []byte
			if b, err = json.Marshal(withoutTokens); err == nil {
				size = len(b)
				body, err = json.Marshal(req)
			}
		}
		var r channels.Result
		switch {
		case err != nil:
			r = channels.Result{Outcome: channels.Permanent, StatusCode: CodeIllegalPayload, StatusDesc: "IllegalPayload: " + err.Error()}
		case size > c.cfg.Limits.MaxMessageBytes:
			r = channels.Result{Outcome: channels.Permanent, StatusCode: CodeBodyTooLarge,
				StatusDesc: fmt.Sprintf("BodyTooLarge: the message has %d bytes, Push Kit allows %d", size, c.cfg.Limits.MaxMessageBytes)}
		default:
			kept = append(kept, idx)
			bodies[idx[0]] = body
			continue
		}
		for _, i := range idx {
			results[i] = r
		}
	}
	return kept, bodies
}

// check returns the result of a message that must not be sent, and false;
// or true if the message can be sent.
func (c *Channel) check(m *channels.Message, now time.Time) (channels.Result, bool) {
	permanent := func(code int, format string, args ...any) (channels.Result, bool) {
		return channels.Result{Outcome: channels.Permanent, StatusCode: code, StatusDesc: fmt.Sprintf(format, args...)}, false
	}
	lim := c.cfg.Limits
	if r, ok := channels.CheckDeliverable(m, now, " \t\r\n,\"", "Huawei push token"); !ok {
		return r, false
	}
	switch {
	case !m.PassThrough && (strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == ""):
		return permanent(CodeIllegalPayload, "IllegalPayload: a notification needs a title and a body")
	case utf8.RuneCountInString(m.Title) > lim.MaxTitleRunes:
		return permanent(CodeIllegalPayload, "IllegalPayload: title has %d characters, Huawei allows %d", utf8.RuneCountInString(m.Title), lim.MaxTitleRunes)
	case utf8.RuneCountInString(m.Body) > lim.MaxBodyRunes:
		return permanent(CodeIllegalPayload, "IllegalPayload: body has %d characters, Huawei allows %d", utf8.RuneCountInString(m.Body), lim.MaxBodyRunes)
	case len(m.Payload) > lim.MaxPayloadBytes:
		return permanent(CodeBodyTooLarge, "BodyTooLarge: payload has %d bytes, the limit is %d", len(m.Payload), lim.MaxPayloadBytes)
	}
	return channels.Result{}, true
}

// Wire format of messages:send (the fields the channel sets).
type (
	// SendRequest is the body of a messages:send call.
	SendRequest struct {
		ValidateOnly bool        `json:"validate_only"`
		Message      WireMessage `json:"message"`
	}
	// WireMessage is SendRequest.message.
	WireMessage struct {
		Data    string       `json:"data,omitempty"`
		Android *WireAndroid `json:"android,omitempty"`
		Token   []string     `json:"token,omitempty"`
	}
	// WireAndroid is message.android.
	WireAndroid struct {
		Category     string            `json:"category,omitempty"`
		TTL          string            `json:"ttl,omitempty"`
		BiTag        string            `json:"bi_tag,omitempty"`
		ReceiptID    string            `json:"receipt_id,omitempty"`
		Notification *WireNotification `json:"notification,omitempty"`
	}
	// WireNotification is message.android.notification.
	WireNotification struct {
		Title             string          `json:"title"`
		Body              string          `json:"body"`
		Image             string          `json:"image,omitempty"`
		ChannelID         string          `json:"channel_id,omitempty"`
		NotifyID          *int            `json:"notify_id,omitempty"`
		Style             int             `json:"style,omitempty"`
		BigTitle          string          `json:"big_title,omitempty"`
		BigBody           string          `json:"big_body,omitempty"`
		Importance        string          `json:"importance,omitempty"`
		DefaultSound      bool            `json:"default_sound,omitempty"`
		UseDefaultVibrate bool            `json:"use_default_vibrate,omitempty"`
		UseDefaultLight   bool            `json:"use_default_light,omitempty"`
		Badge             *WireBadge      `json:"badge,omitempty"`
		ClickAction       WireClickAction `json:"click_action"`
	}
	// WireBadge is message.android.notification.badge.
	WireBadge struct {
		AddNum int    `json:"add_num,omitempty"`
		Class  string `json:"class"`
	}
	// WireClickAction is message.android.notification.click_action: type 1
	// opens an intent, 2 a URL, 3 the app.
	WireClickAction struct {
		Type   int    `json:"type"`
		Intent string `json:"intent,omitempty"`
		URL    string `json:"url,omitempty"`
	}
)

// Request returns the body of the call carrying msgs (which must share one
// BatchKey) for app at time now, or an error naming the invalid extra. It
// is what Send posts; exported for tests and tooling.
func (c *Channel) Request(app App, msgs []channels.Message, now time.Time) (SendRequest, error) {
	m := msgs[0]
	x := m.Extras
	tokens := make([]string, len(msgs))
	for i := range msgs {
		tokens[i] = msgs[i].Token
	}
	android := &WireAndroid{BiTag: BiTag(msgs), ReceiptID: app.ReceiptID}
	if v := x[ExtraCategory]; v != "" {
		cat, ok := category(v)
		if !ok {
			return SendRequest{}, fmt.Errorf("%s %q is not 1..14 or a Huawei category name", ExtraCategory, v)
		}
		android.Category = cat
	}
	if !m.ExpireAt.IsZero() {
		ttl := min(m.ExpireAt.Sub(now), MaxTimeToLive)
		android.TTL = strconv.FormatInt(max(int64(ttl/time.Second), 1), 10) + "s"
	}
	data, err := dataField(m)
	if err != nil {
		return SendRequest{}, err
	}
	if !m.PassThrough {
		n, err := c.notification(m)
		if err != nil {
			return SendRequest{}, err
		}
		android.Notification = n
	}
	return SendRequest{Message: WireMessage{Data: data, Android: android, Token: tokens}}, nil
}

// notification builds android.notification of m.
func (c *Channel) notification(m channels.Message) (*WireNotification, error) {
	x := m.Extras
	n := &WireNotification{Title: m.Title, Body: m.Body, Image: x[ExtraImage], ChannelID: x[ExtraChannelID],
		Importance: c.cfg.Importance, ClickAction: WireClickAction{Type: 3}}
	if uri := x[channels.ExtraURI]; uri != "" {
		if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
			n.ClickAction = WireClickAction{Type: 2, URL: uri}
		} else {
			n.ClickAction = WireClickAction{Type: 1, Intent: uri}
		}
	}
	if v := x[ExtraNotifyLevel]; v != "" {
		switch strings.ToUpper(v) {
		case "1", "LOW":
			n.Importance = "LOW"
		case "2", "NORMAL":
			n.Importance = "NORMAL"
		default:
			return nil, fmt.Errorf("%s %q is not 1 (LOW) or 2 (NORMAL)", ExtraNotifyLevel, v)
		}
	}
	id, err := notifyID(m)
	if err != nil {
		return nil, err
	}
	n.NotifyID = &id
	if v := x[channels.ExtraNotifyType]; v != "" {
		bits, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("%s %q is not an integer", channels.ExtraNotifyType, v)
		}
		n.DefaultSound = bits == -1 || bits&1 != 0
		n.UseDefaultVibrate = bits == -1 || bits&2 != 0
		n.UseDefaultLight = bits == -1 || bits&4 != 0
	}
	if add, class := x[ExtraBadgeAddNum], x[ExtraBadgeClass]; add != "" || class != "" {
		b := &WireBadge{Class: class}
		if class == "" {
			return nil, fmt.Errorf("%s needs %s (the app's entry Activity class)", ExtraBadgeAddNum, ExtraBadgeClass)
		}
		if add != "" {
			k, err := strconv.Atoi(add)
			if err != nil || k < 1 || k > 99 {
				return nil, fmt.Errorf("%s %q is not in 1..99", ExtraBadgeAddNum, add)
			}
			b.AddNum = k
		}
		n.Badge = b
	}
	if x[ExtraBigText] == "1" {
		n.Style, n.BigTitle, n.BigBody = 1, m.Title, m.Body
	}
	return n, nil
}

// dataField returns message.data of m: the Payload, or, when m has custom
// key/values, a JSON object of them with the Payload under PayloadDataKey.
func dataField(m channels.Message) (string, error) {
	custom := map[string]string{}
	for k, v := range m.Extras {
		if name, ok := strings.CutPrefix(k, channels.ExtraCustomPrefix); ok && name != "" && name != PayloadDataKey {
			custom[name] = v
		}
	}
	if len(custom) == 0 {
		return m.Payload, nil
	}
	if m.Payload != "" {
		custom[PayloadDataKey] = m.Payload
	}
	b, err := json.Marshal(custom)
	if err != nil {
		return "", fmt.Errorf("encoding data: %w", err)
	}
	return string(b), nil
}

// category returns the android.category of an ExtraCategory value.
func category(v string) (string, bool) {
	if n, err := strconv.Atoi(v); err == nil {
		if n >= 1 && n <= len(categories) {
			return categories[n-1], true
		}
		return "", false
	}
	up := strings.ToUpper(v)
	return up, slices.Contains(categories, up)
}

// sendGroup makes the call for one group (msgs[idx]) with its body and
// fills its results, or returns the call's error (a *channels.VendorError):
// the access token is replaced once if Push Kit refuses it; no answer, 429
// and 5xx, a garbled 2xx answer and the codes of kindCallTransient are
// transient.
func (c *Channel) sendGroup(ctx context.Context, st *appState, msgs []channels.Message, idx []int, body []byte, results []channels.Result) error {
	rep, err := c.caller.AuthorizedPost(ctx, st.tokens, st.endpoint, body, nil)
	if err != nil {
		return err
	}
	if err := c.callError(st.endpoint, rep); err != nil {
		return err
	}
	c.settleAnswer(msgs, idx, results, rep.Status, rep.Answer.CodeNumber(), &rep.Answer)
	return nil
}

// callError returns the call error of an answer code that is about the
// call rather than its messages, or nil.
func (c *Channel) callError(endpoint string, rep pushkit.Reply) error {
	k := classify(rep.Answer.CodeNumber())
	return c.caller.CallError(endpoint, rep, k == kindCallTransient, k == kindCallPermanent)
}

// settleAnswer fills the results of the group msgs[idx] for answer codes
// about its messages.
func (c *Channel) settleAnswer(msgs []channels.Message, idx []int, results []channels.Result, status, code int, a *pushkit.Answer) {
	set := func(r channels.Result) {
		for _, i := range idx {
			results[i] = r
		}
	}
	switch classify(code) {
	case kindOK:
		set(channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked", VendorMsgID: a.RequestID})
	case kindPartial:
		illegal := pushkit.IllegalTokens(a.Msg)
		for _, i := range idx {
			if _, refused := illegal[msgs[i].Token]; refused {
				results[i] = channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
					StatusDesc: fmt.Sprintf("BadDeviceToken: listed in illegal_tokens of hms code %d", code), VendorMsgID: a.RequestID}
				continue
			}
			results[i] = channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked", VendorMsgID: a.RequestID}
		}
	case kindAllInvalid:
		set(channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
			StatusDesc: fmt.Sprintf("BadDeviceToken: hms code %d: %s", code, a.Explain())})
	case kindMessagePermanent:
		set(channels.Result{Outcome: channels.Permanent, StatusCode: code,
			StatusDesc: fmt.Sprintf("hms code %d (http %d): %s", code, status, a.Explain())})
	}
}
