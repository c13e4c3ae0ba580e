// Package vivo is the vivo Push channel: a client of the vivo Push server
// API. Every app first obtains an authToken (POST {base}/message/auth, JSON
// appId, appKey, timestamp and sign = lower-hex MD5 of
// appId+appKey+timestamp+appSecret; valid 24 hours, cached and refreshed
// before expiry, one fetch at a time) and sends it as the authToken header
// of every push call. Answers are JSON {"result","desc",...}.
//
// A message to one regId goes to POST {base}/message/send with its
// DeliveryID as requestId (vivo refuses a requestId twice, so a replayed
// delivery is not shown twice; the refusal, 10303, counts as accepted).
// Messages sharing one content (equal BatchKey) go to a list push: the
// content is saved with POST {base}/message/saveListPayload (answer: a
// taskId), then POST {base}/message/pushToList sends the taskId to up to
// 1000 regIds (answer: invalidUsers). A sender that groups deliveries by
// BatchKey makes one list push per Send.
//
// vivo push delivers notification messages only: a pass-through message
// gets a Permanent result without a call.
//
// Receipt correlation: extra.callback.param carries the DeliveryID of a
// single send and the common MsgID of a list push (receipts then name the
// regIds in "targets"), tagged by Config.ReceiptSigner for the receipts
// worker; extra.callback (Config.CallbackURL) names the call's app.
// CallbackParam computes the value.
//
// Recall: Channel implements channels.Recaller with vivo's message recall
// (撤回), POST {base}/message/recall with the authToken header and the
// JSON body {"taskId": "…"}, the taskId that send or pushToList answered
// (the Result.VendorMsgID of every message of the push); the answer is
// {"result","desc"}. vivo removes the message from the notification bar
// rather than overlaying it (mPaaS §6.4). See Recall.
package vivo

import (
	"context"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pushpipe/pushpipe/channels"
)

// Name is the channel name of vivo deliveries.
const Name = "vivo"

// Paths of the vivo server API below the base URL.
const (
	AuthPath            = "/message/auth"
	SendPath            = "/message/send"
	SaveListPayloadPath = "/message/saveListPayload"
	PushToListPath      = "/message/pushToList"
)

// Keys of channels.Message.Extras read by the vivo channel (besides
// channels.ExtraNotifyType, channels.ExtraURI and app-defined pairs).
const (
	// ExtraClassification is the mPaaS classification: "0" operation
	// message, "1" system message; default Config.Classification.
	ExtraClassification = "vivo.classification"
	// ExtraCategory is vivo's secondary classification: a name (IM,
	// ACCOUNT, TODO, DEVICE_REMINDER, ORDER, SUBSCRIPTION, NEWS, CONTENT,
	// MARKETING, SOCIAL) or the mPaaS number 1..10
	// (thirdChannelCategory.vivo).
	ExtraCategory = "vivo.category"
)

// PayloadKey is the clientCustomMap key that carries
// channels.Message.Payload; app-defined pairs (channels.ExtraCustomPrefix)
// are the other keys.
const PayloadKey = "payload"

// networkAny lets vivo deliver on any network (networkType -1).
const networkAny = -1

const maxAnswerBytes = 1 << 20

// categories are vivo's message categories, in mPaaS number order (1..10).
var categories = [...]string{"IM", "ACCOUNT", "TODO", "DEVICE_REMINDER", "ORDER", "SUBSCRIPTION", "NEWS", "CONTENT", "MARKETING", "SOCIAL"}

// Category returns vivo's category for v (a category name in any case, or
// the mPaaS number 1..10) and whether v names one.
func Category(v string) (string, bool) {
	v = strings.ToUpper(strings.TrimSpace(v))
	if n, err := strconv.Atoi(v); err == nil {
		if n >= 1 && n <= len(categories) {
			return categories[n-1], true
		}
		return "", false
	}
	return v, slices.Contains(categories[:], v)
}

// Sign returns the sign of an auth request: the lower-case hex MD5 of
// appID + appKey + timestamp (milliseconds) + appSecret.
func Sign(appID, appKey string, timestamp int64, appSecret string) string {
	sum := md5.Sum([]byte(appID + appKey + strconv.FormatInt(timestamp, 10) + appSecret))
	return hex.EncodeToString(sum[:])
}

// NotifyType returns vivo's notifyType for a channels.ExtraNotifyType value
// (MiPush bits: -1 all, 1 sound, 2 vibration, 4 lights) and whether the
// value is valid.
func NotifyType(v string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < -1 {
		return 0, false
	}
	if n == -1 {
		return NotifyRingAndVibrate, true
	}
	switch ring, vibrate := n&1 != 0, n&2 != 0; {
	case ring && vibrate:
		return NotifyRingAndVibrate, true
	case ring:
		return NotifyRing, true
	case vibrate:
		return NotifyVibrate, true
	}
	return NotifyNone, true
}

// RequestID returns the requestId of a single send: the DeliveryID when it
// fits vivo's 64 characters, else its hex SHA-256 (64 characters), so that
// a replay carries the same requestId.
func RequestID(deliveryID string) string {
	if deliveryID != "" && utf8.RuneCountInString(deliveryID) <= MaxRequestIDRunes {
		return deliveryID
	}
	if deliveryID == "" {
		return randomID()
	}
	sum := sha256.Sum256([]byte(deliveryID))
	return hex.EncodeToString(sum[:])
}

// CallbackParam returns the extra.callback.param of a call carrying msgs
// of one app: the DeliveryID of a single message, else the common MsgID,
// tagged by s for the receipts worker (channels.ReceiptParam; untagged
// when s is nil); "" if the parameter would exceed MaxCallbackParam
// characters or msgs is empty.
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
	p = channels.ReceiptParam(s, "vivo", msgs[0].AppID, p)
	if utf8.RuneCountInString(p) > MaxCallbackParam {
		return ""
	}
	return p
}

// Option changes how New builds a Channel.
type Option = channels.Option

// WithHTTPClient makes the channel use hc instead of its own client.
// Timeouts still come from Config.Timeout (applied per call via ctx).
func WithHTTPClient(hc *http.Client) Option { return channels.WithHTTPClient(hc) }

// WithClock makes the channel read the time from now, for message
// validity and authToken expiry. The auth request's timestamp is always
// the wall clock (vivo checks it).
func WithClock(now func() time.Time) Option { return channels.WithClock(now) }

// Channel is the vivo channel of one region. It implements
// channels.Channel and channels.BatchKeyer and is safe for concurrent use.
type Channel struct {
	cfg    Config
	base   string
	client *http.Client
	now    func() time.Time
	// tokens holds one authToken cache per app; fixed after New.
	tokens map[string]*channels.TokenSource
}

var (
	_ channels.Channel    = (*Channel)(nil)
	_ channels.BatchKeyer = (*Channel)(nil)
)

// New returns a channel for cfg (defaults applied). It fails, with every
// configuration problem joined, if the configuration is invalid. No
// request is made before the first Send.
func New(cfg Config, opts ...Option) (*Channel, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating vivo channel: %w", err)
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

// Name returns "vivo".
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

// BatchKey returns a key equal for messages that can share one list push:
// same app, MsgID and content (title, body, payload, pass-through, expiry,
// extras).
func (c *Channel) BatchKey(m channels.Message) string {
	return channels.ContentKey(m)
}

// Content is the content of a vivo push: the body of saveListPayload and,
// with RegID, of send (field names of vivo's API).
type Content struct {
	NotifyType      int               `json:"notifyType"`
	Title           string            `json:"title"`
	Content         string            `json:"content"`
	TimeToLive      int64             `json:"timeToLive,omitempty"`
	SkipType        int               `json:"skipType"`
	SkipContent     string            `json:"skipContent,omitempty"`
	NetworkType     int               `json:"networkType"`
	ClientCustomMap map[string]string `json:"clientCustomMap,omitempty"`
	RequestID       string            `json:"requestId"`
	Classification  int               `json:"classification"`
	Category        string            `json:"category,omitempty"`
	PushMode        int               `json:"pushMode"`
	Extra           map[string]string `json:"extra,omitempty"`
}

// SendRequest is the body of /message/send.
type SendRequest struct {
	RegID string `json:"regId"`
	Content
}

// ListRequest is the body of /message/pushToList.
type ListRequest struct {
	RegIDs    []string `json:"regIds"`
	TaskID    string   `json:"taskId"`
	RequestID string   `json:"requestId"`
	PushMode  int      `json:"pushMode"`
}

// BuildContent returns the content of a call carrying msgs (which share
// one BatchKey) at time now, without its requestId. msgs must have passed
// Send's checks (extras are read leniently here). Exported for tests and
// tooling.
func (c *Channel) BuildContent(msgs []channels.Message, now time.Time) Content {
	m := msgs[0]
	ct := Content{
		NotifyType:  c.cfg.NotifyType,
		Title:       m.Title,
		Content:     m.Body,
		SkipType:    SkipOpenApp,
		NetworkType: networkAny,
	}
	ct.Classification, _ = classificationValue(c.cfg.Classification)
	if c.cfg.TestPush {
		ct.PushMode = 1
	}
	if v, ok := m.Extras[channels.ExtraNotifyType]; ok {
		if n, ok := NotifyType(v); ok {
			ct.NotifyType = n
		}
	}
	if uri := m.Extras[channels.ExtraURI]; uri != "" {
		ct.SkipContent = uri
		ct.SkipType = SkipAppIntent
		if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
			ct.SkipType = SkipOpenURL
		}
	}
	if custom := customMap(m); len(custom) > 0 {
		ct.ClientCustomMap = custom
	}
	if !m.ExpireAt.IsZero() {
		ttl := min(max(m.ExpireAt.Sub(now), MinTimeToLive), MaxTimeToLive)
		ct.TimeToLive = int64(ttl / time.Second)
	}
	if v := m.Extras[ExtraClassification]; v == "0" || v == "1" {
		ct.Classification = int(v[0] - '0')
	}
	if cat, ok := Category(m.Extras[ExtraCategory]); ok {
		ct.Category = cat
	}
	extra := map[string]string{}
	if c.cfg.CallbackURL != "" {
		extra["callback"] = channels.AppReceiptURL(c.cfg.CallbackURL, msgs[0].AppID)
	}
	if p := CallbackParam(c.cfg.ReceiptSigner, msgs); p != "" {
		extra["callback.param"] = p
	}
	if len(extra) > 0 {
		ct.Extra = extra
	}
	return ct
}

// customMap returns the clientCustomMap of m: app-defined pairs and the
// payload.
func customMap(m channels.Message) map[string]string {
	custom := map[string]string{}
	for k, v := range m.Extras {
		if name, ok := strings.CutPrefix(k, channels.ExtraCustomPrefix); ok && name != "" {
			custom[name] = v
		}
	}
	if m.Payload != "" {
		custom[PayloadKey] = m.Payload
	}
	return custom
}

// Send implements channels.Channel. Messages rejected before sending
// (empty or malformed token, expired, pass-through, content over the
// limits, bad extras) get their result without a call. The others are
// sent with one content per distinct BatchKey, at most
// Config.MaxConcurrentCalls contents at once: a content for one message by
// send, for several by saveListPayload and pushToList.
//
// The whole-call error is returned only when every message of the batch
// was in a failed call and all failed calls failed alike (all transient or
// all permanent); otherwise failures are reported per message. An
// authToken vivo refuses (10000) is replaced once.
func (c *Channel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	appID, err := channels.CheckBatch(msgs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("sending vivo batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	ts, ok := c.tokens[appID]
	if !ok {
		return nil, fmt.Errorf("sending vivo batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending vivo batch for app %q: %w", appID, c.vendorErr("", 0, 0, "", true, err))
	}
	now := c.now()
	results := make([]channels.Result, len(msgs))
	groups := channels.GroupByKey(msgs, results, func(m *channels.Message) (channels.Result, bool) { return c.check(m, now) }, c.BatchKey)
	err = channels.SendGroups(ctx, groups, len(msgs), c.cfg.MaxConcurrentCalls, results,
		func(ctx context.Context, idx []int) error { return c.sendGroup(ctx, ts, msgs, idx, results, now) },
		func(err error) error { return c.vendorErr("", 0, 0, "", true, err) })
	if err != nil {
		return nil, fmt.Errorf("sending vivo batch (%d messages) for app %q: %w", len(msgs), appID, err)
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
	case m.PassThrough:
		return permanent(channels.StatusNone, "PassThroughUnsupported: vivo push delivers notification messages only")
	case strings.TrimSpace(m.Title) == "":
		return permanent(CodeTitleEmpty, "TitleEmpty: a vivo notification needs a title")
	case strings.TrimSpace(m.Body) == "":
		return permanent(CodeContentEmpty, "ContentEmpty: a vivo notification needs a content")
	case utf8.RuneCountInString(m.Title) > lim.MaxTitleRunes:
		return permanent(CodeTitleTooLong,
			fmt.Sprintf("TitleTooLong: title has %d characters, vivo allows %d", utf8.RuneCountInString(m.Title), lim.MaxTitleRunes))
	case utf8.RuneCountInString(m.Body) > lim.MaxContentRunes:
		return permanent(CodeContentTooLong,
			fmt.Sprintf("ContentTooLong: content has %d characters, vivo allows %d", utf8.RuneCountInString(m.Body), lim.MaxContentRunes))
	case len(m.Payload) > lim.MaxPayloadBytes:
		return permanent(CodeInvalidCustomPair,
			fmt.Sprintf("InvalidCustomPair: payload has %d bytes, vivo channel allows %d", len(m.Payload), lim.MaxPayloadBytes))
	}
	custom := customMap(*m)
	if len(custom) > MaxCustomPairs {
		return permanent(CodeTooManyCustomPairs,
			fmt.Sprintf("TooManyCustomPairs: %d clientCustomMap pairs (payload and %s extras), vivo allows %d", len(custom), channels.ExtraCustomPrefix, MaxCustomPairs))
	}
	total := 0
	for k, v := range custom {
		total += utf8.RuneCountInString(k) + utf8.RuneCountInString(v)
	}
	if total > MaxCustomMapRunes {
		return permanent(CodeInvalidCustomPair,
			fmt.Sprintf("InvalidCustomPair: clientCustomMap has %d characters, vivo allows %d", total, MaxCustomMapRunes))
	}
	if v, ok := m.Extras[channels.ExtraNotifyType]; ok {
		if _, ok := NotifyType(v); !ok {
			return permanent(CodeNotifyTypeInvalid, fmt.Sprintf("NotifyTypeInvalid: %s %q", channels.ExtraNotifyType, v))
		}
	}
	if v, ok := m.Extras[ExtraClassification]; ok && v != "0" && v != "1" {
		return permanent(channels.StatusNone, fmt.Sprintf("InvalidExtra: %s %q (want 0 or 1)", ExtraClassification, v))
	}
	if v, ok := m.Extras[ExtraCategory]; ok {
		if _, ok := Category(v); !ok {
			return permanent(channels.StatusNone, fmt.Sprintf("InvalidExtra: unknown vivo category %q", v))
		}
	}
	if uri := m.Extras[channels.ExtraURI]; uri != "" {
		limit := MaxSkipContentRunes
		if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
			limit = MaxSkipURLRunes
		}
		if n := utf8.RuneCountInString(uri); n > limit {
			return permanent(channels.StatusNone, fmt.Sprintf("InvalidExtra: %s has %d characters, vivo allows %d", channels.ExtraURI, n, limit))
		}
	}
	return channels.Result{}, true
}

// answer is the JSON answer of the vivo API, with the HTTP details.
type answer struct {
	Result       int    `json:"result"`
	Desc         string `json:"desc"`
	AuthToken    string `json:"authToken"`
	TaskID       string `json:"taskId"`
	InvalidUsers []struct {
		Status int    `json:"status"`
		UserID string `json:"userid"`
	} `json:"invalidUsers"`

	status     int
	retryAfter time.Duration
}

func (a *answer) explain() string {
	if a.Desc == "" {
		return codeName(a.Result)
	}
	return codeName(a.Result) + ": " + a.Desc
}

// sendGroup delivers one group (msgs[idx]) and fills its results, or
// returns the call's error (a *channels.VendorError).
func (c *Channel) sendGroup(ctx context.Context, ts *channels.TokenSource, msgs []channels.Message, idx []int, results []channels.Result, now time.Time) error {
	gm := make([]channels.Message, len(idx))
	for j, i := range idx {
		gm[j] = msgs[i]
	}
	content := c.BuildContent(gm, now)
	if len(gm) == 1 {
		content.RequestID = RequestID(gm[0].DeliveryID)
		a, err := c.callWithToken(ctx, ts, SendPath, SendRequest{RegID: gm[0].Token, Content: content})
		if err != nil {
			return err
		}
		switch classify(a.Result) {
		case kindOK:
			results[idx[0]] = acked(a.TaskID, "Acked")
			return nil
		case kindDuplicate:
			results[idx[0]] = acked(a.TaskID, "Acked: requestId already accepted by vivo (replayed delivery)")
			return nil
		case kindInvalidToken:
			results[idx[0]] = invalidToken(a.Result, a.Desc)
			return nil
		}
		return c.failure(SendPath, a, idx, results)
	}

	content.RequestID = randomID()
	a, err := c.callWithToken(ctx, ts, SaveListPayloadPath, content)
	if err != nil {
		return err
	}
	if classify(a.Result) != kindOK || a.TaskID == "" {
		if classify(a.Result) == kindOK {
			return c.vendorErr(SaveListPayloadPath, a.status, a.Result, "answer without taskId", true, nil)
		}
		return c.failure(SaveListPayloadPath, a, idx, results)
	}
	tokens := make([]string, len(gm))
	for j := range gm {
		tokens[j] = gm[j].Token
	}
	list := ListRequest{RegIDs: tokens, TaskID: a.TaskID, RequestID: randomID(), PushMode: content.PushMode}
	pa, err := c.callWithToken(ctx, ts, PushToListPath, list)
	if err != nil {
		return err
	}
	if classify(pa.Result) != kindOK {
		return c.failure(PushToListPath, pa, idx, results)
	}
	invalid := map[string]int{}
	for _, u := range pa.InvalidUsers {
		invalid[u.UserID] = u.Status
	}
	taskID := pa.TaskID
	if taskID == "" {
		taskID = a.TaskID
	}
	for _, i := range idx {
		if status, ok := invalid[msgs[i].Token]; ok {
			results[i] = channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken, VendorMsgID: taskID,
				StatusDesc: fmt.Sprintf("BadDeviceToken: listed in vivo invalidUsers with status %d", status)}
			continue
		}
		results[i] = acked(taskID, "Acked")
	}
	return nil
}

// failure turns a refusal of a call into the results or error of the
// messages idx.
func (c *Channel) failure(path string, a answer, idx []int, results []channels.Result) error {
	switch classify(a.Result) {
	case kindCallTransient:
		ve := c.vendorErr(path, a.status, a.Result, a.explain(), true, nil)
		ve.RetryAfter = a.retryAfter
		return ve
	case kindCallPermanent, kindAuthToken:
		return c.vendorErr(path, a.status, a.Result, a.explain(), false, nil)
	case kindInvalidToken:
		for _, i := range idx {
			results[i] = invalidToken(a.Result, a.Desc)
		}
		return nil
	}
	for _, i := range idx {
		results[i] = channels.Result{Outcome: channels.Permanent, StatusCode: a.Result,
			StatusDesc: fmt.Sprintf("%s: vivo result %d: %s", codeName(a.Result), a.Result, a.Desc)}
	}
	return nil
}

func acked(taskID, desc string) channels.Result {
	return channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: desc, VendorMsgID: taskID}
}

func invalidToken(code int, reason string) channels.Result {
	return channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
		StatusDesc: fmt.Sprintf("BadDeviceToken: vivo result %d %s: %s", code, codeName(code), reason)}
}

// callWithToken posts body to path with the app's authToken, replacing a
// token vivo refuses once.
func (c *Channel) callWithToken(ctx context.Context, ts *channels.TokenSource, path string, body any) (answer, error) {
	return channels.CallWithToken(ctx, ts,
		func(tok string) (answer, error) { return c.post(ctx, path, body, tok) },
		func(a answer) bool { return classify(a.Result) == kindAuthToken })
}

// fetchToken returns the auth request of app.
func (c *Channel) fetchToken(app App) func(context.Context) (string, time.Duration, error) {
	return func(ctx context.Context) (string, time.Duration, error) {
		stamp := time.Now().UnixMilli()
		req := map[string]any{
			"appId":     appIDValue(app.AppID),
			"appKey":    app.AppKey,
			"timestamp": stamp,
			"sign":      Sign(app.AppID, app.AppKey, stamp, app.AppSecret.Reveal()),
		}
		a, err := c.post(ctx, AuthPath, req, "")
		if err != nil {
			return "", 0, err
		}
		switch classify(a.Result) {
		case kindOK:
			if a.AuthToken == "" {
				return "", 0, c.vendorErr(AuthPath, a.status, a.Result, "answer without authToken", true, nil)
			}
			return a.AuthToken, AuthTokenLifetime, nil
		case kindCallTransient:
			ve := c.vendorErr(AuthPath, a.status, a.Result, a.explain(), true, nil)
			ve.RetryAfter = a.retryAfter
			return "", 0, ve
		}
		return "", 0, c.vendorErr(AuthPath, a.status, a.Result, "credentials refused: "+a.explain(), false, nil)
	}
}

// appIDValue sends a numeric appId as a JSON number (as vivo's examples
// do) and any other as a string.
func appIDValue(id string) any {
	if n, err := strconv.ParseInt(id, 10, 64); err == nil && strconv.FormatInt(n, 10) == id {
		return n
	}
	return id
}

// post makes one JSON POST and decodes the answer. Network errors, 429,
// 5xx and garbled 2xx answers are transient *channels.VendorError; other
// non-JSON or non-2xx answers are permanent ones.
func (c *Channel) post(ctx context.Context, path string, body any, authToken string) (answer, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return answer{}, c.vendorErr(path, 0, 0, "", false, fmt.Errorf("encoding request: %w", err))
	}
	header := http.Header{"Content-Type": {"application/json;charset=UTF-8"}, "Accept": {"application/json"}}
	if authToken != "" {
		header.Set("authToken", authToken)
	}
	rep, err := channels.Post(ctx, c.client, channels.PostRequest{
		Channel: Name, URL: c.base + path, Body: b, Header: header, Timeout: c.cfg.Timeout, MaxAnswerBytes: maxAnswerBytes, Now: c.now,
	})
	if err != nil {
		return answer{}, err
	}
	var a answer
	if err := rep.DecodeJSON(&a, func() (int, string) { return a.Result, a.explain() }); err != nil {
		return answer{}, err
	}
	a.status, a.retryAfter = rep.Status, rep.RetryAfter
	if a.status/100 != 2 && a.Result == CodeSuccess {
		return answer{}, c.vendorErr(path, a.status, 0, a.Desc, false, nil)
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

// randomID returns 32 random hex characters for request ids that must be
// fresh on every call.
func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
