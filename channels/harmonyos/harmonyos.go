// Package harmonyos is the HarmonyOS Push Kit channel: a client of the
// scenario-based message API v3 of HarmonyOS NEXT (POST
// {base}/v3/{projectId}/messages:send with "Authorization: Bearer <JWT>",
// the header push-type and the JSON body {"payload":{...},"target":
// {"token":[...]},"pushOptions":{...}}).
//
// Authentication: HarmonyOS 5 and later take no OAuth access token; every
// call carries a JWT the channel signs itself with the app's
// service-account key (PS256; header kid = key_id, claims iss =
// sub_account, aud = Audience, iat and exp one hour apart; see SignJWT).
// The JWT of each app is reused until shortly before it expires; when Push
// Kit answers 80200001 or 80200005 (authentication error, JWT expired) a
// new one is signed and the call retried once.
//
// Messages: a notification is push-type 0 (alert) with
// payload.notification {category, title, body, clickAction, notifyId...};
// a pass-through message is push-type 6 (background) with
// payload.extraData. One call carries one content for up to 1000 tokens
// (10 for an app sending test messages). Channel.Send sends the messages of
// a batch that share a content (equal BatchKey) in one call and makes one
// call per distinct content; a sender that groups deliveries by BatchKey
// makes exactly one call per Send.
//
// Receipt correlation: every call sets pushOptions.biTag, which Push Kit
// echoes as "biTag" in its receipts (POST /receipts/harmonyos). A call that
// carries one message sends its DeliveryID; a call that carries several
// sends their common MsgID (receipts name the token). BiTag computes the
// value; a MsgID longer than the 64 bytes of a biTag makes BatchKey put
// each message in a call of its own.
//
// Recall: Channel implements channels.Recaller with Push Kit's message
// revocation, POST {base}/v1/{clientId}/messages:revoke (the v1 URL with
// the app's Client ID, unlike sends) with the header push-type: 0 and the
// body {"notifyId": N, "token": [...]}. Push Kit revokes notifications by
// their notifyId, so every notification carries one: the
// harmonyos.notify_id extra when the message has one, else
// channels.NotifyID(MsgID). See Recall.
package harmonyos

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

// Name is the channel name of HarmonyOS deliveries, and of the receipts
// endpoint (/receipts/harmonyos) that takes their receipts.
const Name = "harmonyos"

// Keys of channels.Message.Extras read by the HarmonyOS channel, besides
// the vendor-neutral channels.ExtraURI and channels.ExtraCustomPrefix
// pairs (and channels.ExtraNotifyType, which is refused: see Send). A
// value the channel cannot send as it says refuses the message (Permanent,
// 80100003 IllegalPayload) without a call.
const (
	// ExtraCategory is payload.notification.category (the mPaaS
	// thirdChannelCategory "harmonyos" value): a category name (IM, VOIP,
	// MISS_CALL, SUBSCRIPTION, TRAVEL, HEALTH, WORK, ACCOUNT, EXPRESS,
	// FINANCE, DEVICE_REMINDER, MAIL, MARKETING) or its number 1..14 in
	// the mPaaS enumeration of Huawei categories (Categories). 11
	// SYSTEM_REMINDER and 13 PLAY_VOICE are refused: HarmonyOS has no
	// SYSTEM_REMINDER, and PLAY_VOICE is for voice broadcast messages
	// (push-type 2) only. Default Config.DefaultCategory.
	ExtraCategory = "harmonyos.category"
	// ExtraNotifyID is payload.notification.notifyId: notifications with
	// the same id replace each other, and a recall names it. An integer
	// in 0..channels.MaxNotifyID.
	ExtraNotifyID = "harmonyos.notify_id"
	// ExtraBadgeAddNum is payload.notification.badge.addNum: 1..99 added
	// to the app icon's badge.
	ExtraBadgeAddNum = "harmonyos.badge_add_num"
	// ExtraBadgeSetNum is payload.notification.badge.setNum: the badge
	// number to show, 0..99 (wins over addNum on the device).
	ExtraBadgeSetNum = "harmonyos.badge_set_num"
	// ExtraImage is payload.notification.image: the https URL of the
	// large icon on the right of the notification.
	ExtraImage = "harmonyos.image"
	// ExtraBigText set to "1" (the mPaaS pushStyle 1) shows the
	// notification in big-text style: style 1, bigTitle = the title,
	// bigBody = the body. "0" or empty leaves the normal style.
	ExtraBigText = "harmonyos.big_text"
	// ExtraSound is payload.notification.sound: a ringtone file of the
	// app's resources/rawfile directory (e.g. "alert.mp3").
	ExtraSound = "harmonyos.sound"
	// ExtraClickAction is payload.notification.clickAction.action: the
	// action of the app's ability the click opens (clickAction.actionType
	// 1). channels.ExtraURI is clickAction.uri of the same action; with
	// neither, a click opens the app's home page (actionType 0).
	ExtraClickAction = "harmonyos.click_action"
	// ExtraNotifyLevel (the mPaaS notifyLevel "harmonyos" value) is
	// refused: HarmonyOS sets the reminder of a notification by its
	// category, not per message.
	ExtraNotifyLevel = "harmonyos.notify_level"
)

// PayloadDataKey is the key of Message.Payload among the custom key/values
// of a message: in payload.notification.clickAction.data of a
// notification, and in the JSON object sent as payload.extraData of a
// background message that also carries custom key/values. Without custom
// key/values, extraData is the Payload itself.
const PayloadDataKey = "payload"

// Values of the push-type header the channel sends.
const (
	// PushTypeAlert is a notification (AlertPayload).
	PushTypeAlert = "0"
	// PushTypeBackground is a background message (BackgroundPayload),
	// delivered to the app without a notification.
	PushTypeBackground = "6"
)

// Click action types of payload.notification.clickAction.actionType.
const (
	ActionHome   = 0 // open the app's home page
	ActionCustom = 1 // open the app page named by action and/or uri
)

// mpaasCategories are the Huawei categories in the order of the mPaaS
// thirdChannelCategory enumeration (1..14). Never modified.
var mpaasCategories = []string{"IM", "VOIP", "SUBSCRIPTION", "TRAVEL", "HEALTH", "WORK", "ACCOUNT",
	"EXPRESS", "FINANCE", "DEVICE_REMINDER", "SYSTEM_REMINDER", "MAIL", "PLAY_VOICE", "MARKETING"}

// alertCategories are the categories of a HarmonyOS notification
// (push-type 0). Never modified.
var alertCategories = []string{"IM", "VOIP", "MISS_CALL", "SUBSCRIPTION", "TRAVEL", "HEALTH", "WORK", "ACCOUNT",
	"EXPRESS", "FINANCE", "DEVICE_REMINDER", "MAIL", "MARKETING"}

// Categories returns the category names a notification may carry.
func Categories() []string { return slices.Clone(alertCategories) }

// category returns the payload.notification.category of an ExtraCategory
// value, or an error saying why it is refused.
func category(v string) (string, error) {
	name := strings.ToUpper(strings.TrimSpace(v))
	if n, err := strconv.Atoi(name); err == nil {
		if n < 1 || n > len(mpaasCategories) {
			return "", fmt.Errorf("category %q is not 1..%d or a category name", v, len(mpaasCategories))
		}
		name = mpaasCategories[n-1]
	}
	switch {
	case name == "PLAY_VOICE":
		return "", fmt.Errorf("category %q (PLAY_VOICE) is for voice broadcast messages (push-type 2), not notifications", v)
	case !slices.Contains(alertCategories, name):
		return "", fmt.Errorf("category %q is not a HarmonyOS notification category (%s)", v, strings.Join(alertCategories, ", "))
	}
	return name, nil
}

// Option changes how New builds a Channel.
type Option = channels.Option

// WithHTTPClient makes the channel use hc for its calls instead of its own
// client. Timeouts still come from Config.Timeout.
func WithHTTPClient(hc *http.Client) Option { return channels.WithHTTPClient(hc) }

// WithClock makes the channel read the time from now (TTL, expiry, JWT
// timestamps).
func WithClock(now func() time.Time) Option { return channels.WithClock(now) }

// Channel is the HarmonyOS Push Kit channel of one region. It implements
// channels.Channel, channels.BatchKeyer and channels.Recaller and is safe
// for concurrent use.
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
		return nil, fmt.Errorf("creating harmonyos channel: %w", err)
	}
	cfg.Apps = maps.Clone(cfg.Apps)
	o := channels.ApplyOptions(channels.DefaultMaxIdleConnsPerHost, opts...)
	c := &Channel{cfg: cfg, now: o.Now, apps: map[string]*appState{}, caller: &pushkit.Caller{
		Channel: Name, Client: o.Client, Timeout: cfg.Timeout, Now: o.Now, ContentType: "application/json", Credential: "the JWT",
		IsAuthCode: func(code int) bool { return classify(code) == kindAuth },
	}}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	for id, a := range cfg.Apps {
		key, err := channels.ParseRSAPrivateKey(a.PrivateKey.Reveal())
		if err != nil { // Validate parsed it already
			return nil, fmt.Errorf("creating harmonyos channel: app %q: %w", id, err)
		}
		endpoint := base + "/v3/" + url.PathEscape(a.ProjectID) + "/messages:send"
		c.apps[id] = &appState{
			app:      a,
			endpoint: endpoint,
			tokens: &channels.TokenSource{Channel: Name, Op: "signing the JWT for " + endpoint, Timeout: cfg.Timeout, Now: c.now,
				Fetch: (&jwtSigner{app: a, key: key, endpoint: endpoint, now: c.now}).fetch},
		}
	}
	return c, nil
}

// Name returns "harmonyos".
func (c *Channel) Name() string { return Name }

// MaxBatch returns Config.MaxBatch (at most 1000).
func (c *Channel) MaxBatch() int { return c.cfg.MaxBatch }

// Config returns the channel's configuration (a copy; printing it never
// shows private keys).
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
// expiry, extras), and a MsgID that fits a biTag (else each message is a
// call of its own, correlated by its DeliveryID).
func (c *Channel) BatchKey(m channels.Message) string {
	k := channels.ContentKey(m)
	if len(m.MsgID) > MaxBiTagBytes {
		k += "/" + m.DeliveryID
	}
	return k
}

// BiTag returns the pushOptions.biTag of a call carrying msgs: the
// DeliveryID of a single message, else the common MsgID; "" for no
// messages.
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
// extras, a notify_type or notify_level extra, which HarmonyOS cannot set
// per message) get their result without a vendor call. The others are
// sent in one call per distinct BatchKey (split in calls of 10 tokens for
// an app that sends test messages), at most Config.MaxConcurrentCalls at
// once.
//
// The whole-call error is returned only when every message of the batch
// was in a failed call and all failed calls failed alike (all transient or
// all permanent); otherwise the failures of individual calls are reported
// per message (Transient or Permanent with the vendor code).
func (c *Channel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	appID, err := channels.CheckBatch(msgs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("sending harmonyos batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	st, ok := c.apps[appID]
	if !ok {
		return nil, fmt.Errorf("sending harmonyos batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending harmonyos batch for app %q: %w", appID, c.caller.Err(st.endpoint, 0, 0, "", true, err))
	}

	now := c.now()
	results := make([]channels.Result, len(msgs))
	calls := c.plan(st.app, msgs, results, now)
	groups := make([][]int, len(calls))
	byFirst := make(map[int]plannedCall, len(calls)) // a message is in one call only
	for i, cl := range calls {
		groups[i] = cl.idx
		byFirst[cl.idx[0]] = cl
	}
	err = channels.SendGroups(ctx, groups, len(msgs), c.cfg.MaxConcurrentCalls, results,
		func(ctx context.Context, idx []int) error {
			return c.sendCall(ctx, st, msgs, byFirst[idx[0]], results)
		},
		func(err error) error { return c.caller.Err(st.endpoint, 0, 0, "", true, err) })
	if err != nil {
		return nil, fmt.Errorf("sending harmonyos batch (%d messages) for app %q: %w", len(msgs), appID, err)
	}
	return results, nil
}

// plannedCall is one messages:send call: the indices of its messages, its
// push-type and its body.
type plannedCall struct {
	idx      []int
	pushType string
	body     []byte
}

// plan checks every message, fills the result of the ones that cannot be
// sent, groups the others by BatchKey in order of first appearance, splits
// each group into calls of at most the app's tokens per call and builds
// each call's body (refusing calls over the size limit).
func (c *Channel) plan(app App, msgs []channels.Message, results []channels.Result, now time.Time) []plannedCall {
	groups := channels.GroupByKey(msgs, results, func(m *channels.Message) (channels.Result, bool) { return c.check(m, now) }, c.BatchKey)
	var calls []plannedCall
	for _, g := range groups {
		for chunk := range slices.Chunk(g, app.tokensPerCall()) {
			cm := make([]channels.Message, len(chunk))
			for j, i := range chunk {
				cm[j] = msgs[i]
			}
			req, pushType, err := c.Request(app, cm, now)
			var size int
			var body []byte
			if err == nil {
				withoutTokens := req
				withoutTokens.Target.Token = nil
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
				calls = append(calls, plannedCall{idx: chunk, pushType: pushType, body: body})
				continue
			}
			for _, i := range chunk {
				results[i] = r
			}
		}
	}
	return calls
}

// check returns the result of a message that must not be sent, and false;
// or true if the message can be sent. Extras are checked by Request.
func (c *Channel) check(m *channels.Message, now time.Time) (channels.Result, bool) {
	permanent := func(code int, format string, args ...any) (channels.Result, bool) {
		return channels.Result{Outcome: channels.Permanent, StatusCode: code, StatusDesc: fmt.Sprintf(format, args...)}, false
	}
	lim := c.cfg.Limits
	if r, ok := channels.CheckDeliverable(m, now, " \t\r\n,\"", "HarmonyOS push token"); !ok {
		return r, false
	}
	title, body := utf8.RuneCountInString(m.Title), utf8.RuneCountInString(m.Body)
	switch {
	case !m.PassThrough && (strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == ""):
		return permanent(CodeIllegalPayload, "IllegalPayload: a notification needs a title and a body")
	case lim.MaxTitleRunes > 0 && title > lim.MaxTitleRunes:
		return permanent(CodeIllegalPayload, "IllegalPayload: title has %d characters, the limit is %d", title, lim.MaxTitleRunes)
	case lim.MaxBodyRunes > 0 && body > lim.MaxBodyRunes:
		return permanent(CodeIllegalPayload, "IllegalPayload: body has %d characters, the limit is %d", body, lim.MaxBodyRunes)
	case len(m.Payload) > lim.MaxPayloadBytes:
		return permanent(CodeBodyTooLarge, "BodyTooLarge: payload has %d bytes, the limit is %d", len(m.Payload), lim.MaxPayloadBytes)
	}
	return channels.Result{}, true
}

// Wire format of messages:send (the fields the channel sets).
type (
	// SendRequest is the body of a messages:send call.
	SendRequest struct {
		Payload     WirePayload `json:"payload"`
		Target      WireTarget  `json:"target"`
		PushOptions WireOptions `json:"pushOptions"`
	}
	// WirePayload is SendRequest.payload: Notification for push-type 0,
	// ExtraData for push-type 6.
	WirePayload struct {
		Notification *WireNotification `json:"notification,omitempty"`
		ExtraData    string            `json:"extraData,omitempty"`
	}
	// WireNotification is payload.notification.
	WireNotification struct {
		Category    string          `json:"category"`
		Title       string          `json:"title"`
		Body        string          `json:"body"`
		Image       string          `json:"image,omitempty"`
		Style       int             `json:"style,omitempty"`
		BigTitle    string          `json:"bigTitle,omitempty"`
		BigBody     string          `json:"bigBody,omitempty"`
		NotifyID    *int            `json:"notifyId,omitempty"`
		Sound       string          `json:"sound,omitempty"`
		Badge       *WireBadge      `json:"badge,omitempty"`
		ClickAction WireClickAction `json:"clickAction"`
	}
	// WireBadge is payload.notification.badge.
	WireBadge struct {
		AddNum *int `json:"addNum,omitempty"`
		SetNum *int `json:"setNum,omitempty"`
	}
	// WireClickAction is payload.notification.clickAction: ActionHome, or
	// ActionCustom with Action and/or URI; Data is handed to the app.
	WireClickAction struct {
		ActionType int               `json:"actionType"`
		Action     string            `json:"action,omitempty"`
		URI        string            `json:"uri,omitempty"`
		Data       map[string]string `json:"data,omitempty"`
	}
	// WireTarget is SendRequest.target.
	WireTarget struct {
		Token []string `json:"token,omitempty"`
	}
	// WireOptions is SendRequest.pushOptions.
	WireOptions struct {
		TTL         int64  `json:"ttl,omitempty"`
		BiTag       string `json:"biTag,omitempty"`
		ReceiptID   string `json:"receiptId,omitempty"`
		TestMessage bool   `json:"testMessage,omitempty"`
	}
)

// Request returns the body and the push-type header of the call carrying
// msgs (which must share one BatchKey) for app at time now, or an error
// naming the extra that cannot be sent. It is what Send posts; exported
// for tests and tooling.
func (c *Channel) Request(app App, msgs []channels.Message, now time.Time) (SendRequest, string, error) {
	m := msgs[0]
	tokens := make([]string, len(msgs))
	for i := range msgs {
		tokens[i] = msgs[i].Token
	}
	opts := WireOptions{BiTag: BiTag(msgs), ReceiptID: app.ReceiptID, TestMessage: app.TestMessage}
	if len(opts.BiTag) > MaxBiTagBytes {
		return SendRequest{}, "", fmt.Errorf("biTag %q has more than %d bytes", opts.BiTag, MaxBiTagBytes)
	}
	if !m.ExpireAt.IsZero() {
		ttl := min(m.ExpireAt.Sub(now), MaxTimeToLive)
		opts.TTL = max(int64(ttl/time.Second), 1)
	}
	for _, k := range []string{channels.ExtraNotifyType, ExtraNotifyLevel} {
		if v := m.Extras[k]; v != "" {
			return SendRequest{}, "", fmt.Errorf("%s %q: HarmonyOS sets the sound, vibration and importance of a notification by its category (%s), not per message", k, v, ExtraCategory)
		}
	}
	req := SendRequest{Target: WireTarget{Token: tokens}, PushOptions: opts}
	data := customData(m)
	if m.PassThrough {
		extra, err := extraData(m.Payload, data)
		if err != nil {
			return SendRequest{}, "", err
		}
		if extra == "" {
			return SendRequest{}, "", fmt.Errorf("a background message needs a payload or custom key/values (extraData is mandatory)")
		}
		req.Payload.ExtraData = extra
		return req, PushTypeBackground, nil
	}
	n, err := c.notification(m, data)
	if err != nil {
		return SendRequest{}, "", err
	}
	req.Payload.Notification = n
	return req, PushTypeAlert, nil
}

// notification builds payload.notification of m; data is its custom
// key/values (handed to the app with the click).
func (c *Channel) notification(m channels.Message, data map[string]string) (*WireNotification, error) {
	x := m.Extras
	n := &WireNotification{Title: m.Title, Body: m.Body, Sound: x[ExtraSound]}
	cat := c.cfg.DefaultCategory
	if v := x[ExtraCategory]; v != "" {
		cat = v
	}
	var err error
	if n.Category, err = category(cat); err != nil {
		return nil, fmt.Errorf("%s: %w", ExtraCategory, err)
	}
	if v := x[ExtraImage]; v != "" {
		if u, err := url.Parse(v); err != nil || u.Scheme != "https" || u.Host == "" {
			return nil, fmt.Errorf("%s %q is not an https URL (Push Kit takes https images only)", ExtraImage, v)
		}
		n.Image = v
	}
	switch x[ExtraBigText] {
	case "", "0":
	case "1":
		n.Style, n.BigTitle, n.BigBody = 1, m.Title, m.Body
	default:
		return nil, fmt.Errorf("%s %q is not 1 (big text) or 0", ExtraBigText, x[ExtraBigText])
	}
	id, err := notifyID(m)
	if err != nil {
		return nil, err
	}
	n.NotifyID = &id
	badge := &WireBadge{}
	for _, b := range []struct {
		key      string
		min, max int
		dst      **int
	}{{ExtraBadgeAddNum, 1, 99, &badge.AddNum}, {ExtraBadgeSetNum, 0, 99, &badge.SetNum}} {
		v := x[b.key]
		if v == "" {
			continue
		}
		k, err := strconv.Atoi(v)
		if err != nil || k < b.min || k > b.max {
			return nil, fmt.Errorf("%s %q is not in %d..%d", b.key, v, b.min, b.max)
		}
		*b.dst = &k
	}
	if badge.AddNum != nil || badge.SetNum != nil {
		n.Badge = badge
	}
	n.ClickAction = WireClickAction{ActionType: ActionHome, Data: data}
	if action, uri := x[ExtraClickAction], x[channels.ExtraURI]; action != "" || uri != "" {
		n.ClickAction.ActionType, n.ClickAction.Action, n.ClickAction.URI = ActionCustom, action, uri
	}
	return n, nil
}

// customData returns the app-defined key/values of m (channels.
// ExtraCustomPrefix extras) with its Payload under PayloadDataKey; nil when
// there are none.
func customData(m channels.Message) map[string]string {
	var data map[string]string
	for k, v := range m.Extras {
		if name, ok := strings.CutPrefix(k, channels.ExtraCustomPrefix); ok && name != "" && name != PayloadDataKey {
			if data == nil {
				data = map[string]string{}
			}
			data[name] = v
		}
	}
	if m.Payload != "" {
		if data == nil {
			data = map[string]string{}
		}
		data[PayloadDataKey] = m.Payload
	}
	return data
}

// extraData returns payload.extraData of a background message: the Payload
// itself, or the JSON object of data when the message has custom
// key/values besides it.
func extraData(payload string, data map[string]string) (string, error) {
	if len(data) == 0 || (len(data) == 1 && payload != "") {
		return payload, nil
	}
	b, err := json.Marshal(data)
	if err != nil {
		return "", fmt.Errorf("encoding extraData: %w", err)
	}
	return string(b), nil
}

// sendCall makes one planned call and fills its results, or returns the
// call's error (a *channels.VendorError): the JWT is renewed once if Push
// Kit refuses it; no answer, 429 and 5xx (503 is Push Kit's flow control),
// a garbled 2xx answer and the codes of kindCallTransient are transient.
func (c *Channel) sendCall(ctx context.Context, st *appState, msgs []channels.Message, cl plannedCall, results []channels.Result) error {
	rep, err := c.caller.AuthorizedPost(ctx, st.tokens, st.endpoint, cl.body, http.Header{"Push-Type": {cl.pushType}})
	if err != nil {
		return err
	}
	if err := c.callError(st.endpoint, rep); err != nil {
		return err
	}
	c.settleAnswer(msgs, cl.idx, results, rep.Status, rep.Answer.CodeNumber(), &rep.Answer)
	return nil
}

// callError returns the call error of an answer code that is about the
// call rather than its messages, or nil.
func (c *Channel) callError(endpoint string, rep pushkit.Reply) error {
	k := classify(rep.Answer.CodeNumber())
	return c.caller.CallError(endpoint, rep, k == kindCallTransient, k == kindCallPermanent)
}

// because returns " (reason)", or "" for no reason.
func because(reason string) string {
	if reason == "" {
		return ""
	}
	return " (" + reason + ")"
}

// settleAnswer fills the results of the call's messages msgs[idx] for an
// answer code about its messages.
func (c *Channel) settleAnswer(msgs []channels.Message, idx []int, results []channels.Result, status, code int, a *pushkit.Answer) {
	acked := channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked", VendorMsgID: a.RequestID}
	switch classify(code) {
	case kindOK:
		for _, i := range idx {
			results[i] = acked
		}
	case kindPartial, kindAllInvalid:
		refused := pushkit.IllegalTokens(a.Msg)
		for _, i := range idx {
			reason, listed := refused[msgs[i].Token]
			switch {
			case code == CodePartialSuccess && !listed:
				results[i] = acked
			case deadTokenReason(reason):
				results[i] = channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
					StatusDesc: fmt.Sprintf("BadDeviceToken: harmonyos code %d refused the token%s", code, because(reason)), VendorMsgID: a.RequestID}
			default:
				results[i] = channels.Result{Outcome: channels.Permanent, StatusCode: code,
					StatusDesc: fmt.Sprintf("harmonyos code %d refused the message for this token%s", code, because(reason)), VendorMsgID: a.RequestID}
			}
		}
	case kindMessagePermanent:
		r := channels.Result{Outcome: channels.Permanent, StatusCode: code,
			StatusDesc: fmt.Sprintf("harmonyos code %d (http %d): %s", code, status, a.Explain())}
		for _, i := range idx {
			results[i] = r
		}
	}
}
