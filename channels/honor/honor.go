// Package honor is the Honor Push channel: a client of the Honor Push
// server API. Every app obtains an OAuth 2.0 access token with the client
// credentials grant (POST {authURL}, form grant_type=client_credentials,
// client_id, client_secret; answer access_token and expires_in, cached and
// refreshed before expiry, one fetch at a time), then posts each message
// to POST {base}/api/v1/{appId}/sendMessage with "Authorization: Bearer
// <token>" and a "timestamp" header (milliseconds). The JSON body carries
// the token list, the Android notification (title, body, clickAction,
// importance...) or the data of a pass-through message, android.ttl and
// android.biTag. Answers are {"code":200,"message":"success","data":
// {"sendResult","requestId","failTokens","expireTokens"}}.
//
// One call carries one content for up to 1000 tokens. Send therefore sends
// the messages of a batch that share a content (equal BatchKey) in one call
// and makes one call per distinct content; a sender that groups deliveries
// by BatchKey makes exactly one call per Send.
//
// Receipt correlation: android.biTag carries the DeliveryID of a
// single-message call and the common MsgID of a multi-message call (Honor
// receipts carry biTag and the token); BiTag computes the value.
//
// Recall: the Honor Push server API has no message revocation (a
// notification can only be overlaid by one with the same notifyId), so
// Channel does not implement channels.Recaller and channels.AsRecaller
// answers channels.ErrRecallUnsupported.
package honor

import (
	"bytes"
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

// Name is the channel name of Honor deliveries.
const Name = "honor"

// Keys of channels.Message.Extras read by the Honor channel (besides
// channels.ExtraURI and app-defined pairs).
const (
	// ExtraImportance is android.notification.importance: NORMAL (service
	// and communication) or LOW (information and marketing), or the mPaaS
	// thirdChannelCategory.HONOR value "1" (NORMAL) or "2" (LOW); default
	// Config.Importance.
	ExtraImportance = "honor.importance"
	// ExtraImage is the https URL of the notification's image.
	ExtraImage = "honor.image"
	// ExtraBigText "1" shows the notification in the big-text style.
	ExtraBigText = "honor.big_text"
	// ExtraBadgeAddNum (1..99) adds to, ExtraBadgeSetNum (0..99) sets,
	// the app icon badge; both need ExtraBadgeClass, the app's entry
	// activity class.
	ExtraBadgeAddNum = "honor.badge_add_num"
	ExtraBadgeSetNum = "honor.badge_set_num"
	ExtraBadgeClass  = "honor.badge_class"
	// ExtraNotifyID is notifyId: notifications with the same id replace
	// each other.
	ExtraNotifyID = "honor.notify_id"
)

const maxAnswerBytes = 1 << 20

// maxDataBytes is the size Honor accepts for the data of one message.
const maxDataBytes = 4096

// BiTag returns the android.biTag of a call carrying msgs: the DeliveryID
// of a single message, else the common MsgID; "" if the value would exceed
// MaxBiTagRunes characters or msgs is empty.
func BiTag(msgs []channels.Message) string {
	var p string
	switch len(msgs) {
	case 0:
		return ""
	case 1:
		p = msgs[0].DeliveryID
	default:
		p = msgs[0].MsgID
	}
	if utf8.RuneCountInString(p) > MaxBiTagRunes {
		return ""
	}
	return p
}

// Importance returns the importance for v (NORMAL or LOW in any case, or
// the mPaaS value "1" or "2") and whether v names one.
func Importance(v string) (string, bool) {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case ImportanceNormal, "1":
		return ImportanceNormal, true
	case ImportanceLow, "2":
		return ImportanceLow, true
	}
	return "", false
}

// Option changes how New builds a Channel.
type Option = channels.Option

// WithHTTPClient makes the channel use hc instead of its own client.
// Timeouts still come from Config.Timeout (applied per call via ctx).
func WithHTTPClient(hc *http.Client) Option { return channels.WithHTTPClient(hc) }

// WithClock makes the channel read the time from now, for message
// validity and access-token expiry. The timestamp header is always the
// wall clock.
func WithClock(now func() time.Time) Option { return channels.WithClock(now) }

// Channel is the Honor channel of one region. It implements
// channels.Channel and channels.BatchKeyer and is safe for concurrent use.
type Channel struct {
	cfg    Config
	base   string
	client *http.Client
	now    func() time.Time
	// tokens holds one access-token cache per app; fixed after New.
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
		return nil, fmt.Errorf("creating honor channel: %w", err)
	}
	cfg.Apps = maps.Clone(cfg.Apps)
	o := channels.ApplyOptions(channels.DefaultMaxIdleConnsPerHost, opts...)
	c := &Channel{cfg: cfg, base: strings.TrimSuffix(cfg.BaseURL, "/"), client: o.Client, now: o.Now}
	c.tokens = make(map[string]*channels.TokenSource, len(cfg.Apps))
	for id, app := range cfg.Apps {
		c.tokens[id] = &channels.TokenSource{Channel: Name, Fetch: c.fetchToken(app), Op: "POST " + cfg.AuthURL, Timeout: cfg.Timeout, Now: c.now}
	}
	return c, nil
}

// Name returns "honor".
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

// SendURL returns the sendMessage URL of a Honor app id.
func (c *Channel) SendURL(honorAppID string) string {
	return c.base + "/api/v1/" + url.PathEscape(honorAppID) + "/sendMessage"
}

// BatchKey returns a key equal for messages that can share one call: same
// app, MsgID and content (title, body, payload, pass-through, expiry,
// extras).
func (c *Channel) BatchKey(m channels.Message) string {
	return channels.ContentKey(m)
}

// Request is the sendMessage body (field names of Honor's API).
type Request struct {
	Data    string         `json:"data,omitempty"`
	Android *AndroidConfig `json:"android,omitempty"`
	Token   []string       `json:"token"`
}

// AndroidConfig is the "android" object of a Request.
type AndroidConfig struct {
	TTL            string               `json:"ttl,omitempty"`
	BiTag          string               `json:"biTag,omitempty"`
	TargetUserType int                  `json:"targetUserType,omitempty"`
	Notification   *AndroidNotification `json:"notification,omitempty"`
}

// AndroidNotification is android.notification.
type AndroidNotification struct {
	Title       string      `json:"title"`
	Body        string      `json:"body"`
	ClickAction ClickAction `json:"clickAction"`
	Image       string      `json:"image,omitempty"`
	Style       int         `json:"style,omitempty"`
	BigTitle    string      `json:"bigTitle,omitempty"`
	BigBody     string      `json:"bigBody,omitempty"`
	Importance  string      `json:"importance,omitempty"`
	Badge       *Badge      `json:"badge,omitempty"`
	NotifyID    int         `json:"notifyId,omitempty"`
}

// ClickAction is android.notification.clickAction.
type ClickAction struct {
	Type   int    `json:"type"`
	Intent string `json:"intent,omitempty"`
	URL    string `json:"url,omitempty"`
}

// Badge is android.notification.badge.
type Badge struct {
	AddNum     int    `json:"addNum,omitempty"`
	SetNum     *int   `json:"setNum,omitempty"`
	BadgeClass string `json:"badgeClass"`
}

// BuildRequest returns the sendMessage body of a call carrying msgs (which
// share one BatchKey) at time now. msgs must have passed Send's checks
// (extras are read leniently here). Exported for tests and tooling.
func (c *Channel) BuildRequest(msgs []channels.Message, now time.Time) Request {
	m := msgs[0]
	req := Request{Data: Data(m), Token: make([]string, len(msgs))}
	for i := range msgs {
		req.Token[i] = msgs[i].Token
	}
	a := &AndroidConfig{BiTag: BiTag(msgs)}
	if c.cfg.TestMessages {
		a.TargetUserType = 1
	}
	if !m.ExpireAt.IsZero() {
		ttl := min(max(m.ExpireAt.Sub(now), time.Second), MaxTTL)
		a.TTL = strconv.FormatInt(int64(ttl/time.Second), 10) + "s"
	}
	if !m.PassThrough {
		n := &AndroidNotification{Title: m.Title, Body: m.Body, ClickAction: ClickAction{Type: ClickOpenApp}, Importance: c.cfg.Importance}
		if uri := m.Extras[channels.ExtraURI]; uri != "" {
			if strings.HasPrefix(uri, "https://") {
				n.ClickAction = ClickAction{Type: ClickURL, URL: uri}
			} else {
				n.ClickAction = ClickAction{Type: ClickIntent, Intent: uri}
			}
		}
		if v, ok := Importance(m.Extras[ExtraImportance]); ok {
			n.Importance = v
		}
		n.Image = m.Extras[ExtraImage]
		if m.Extras[ExtraBigText] == "1" {
			n.Style, n.BigTitle, n.BigBody = 1, m.Title, m.Body
		}
		if class := m.Extras[ExtraBadgeClass]; class != "" {
			b := &Badge{BadgeClass: class}
			b.AddNum, _ = strconv.Atoi(m.Extras[ExtraBadgeAddNum])
			if v, err := strconv.Atoi(m.Extras[ExtraBadgeSetNum]); err == nil {
				b.SetNum = &v
			}
			n.Badge = b
		}
		n.NotifyID, _ = strconv.Atoi(m.Extras[ExtraNotifyID])
		a.Notification = n
	}
	req.Android = a
	return req
}

// Data returns the data field of m: the payload, with the app-defined
// pairs (channels.ExtraCustomPrefix) merged in when the payload is empty
// (then the pairs form a JSON object) or a JSON object (its own keys win).
// Pairs cannot be carried next to any other payload and are left out.
func Data(m channels.Message) string {
	custom := map[string]string{}
	for k, v := range m.Extras {
		if name, ok := strings.CutPrefix(k, channels.ExtraCustomPrefix); ok && name != "" {
			custom[name] = v
		}
	}
	if len(custom) == 0 {
		return m.Payload
	}
	if m.Payload == "" {
		b, _ := json.Marshal(custom) // a map of strings always encodes
		return string(b)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(m.Payload), &obj); err != nil || obj == nil {
		return m.Payload
	}
	for k, v := range custom {
		if _, ok := obj[k]; !ok {
			obj[k], _ = json.Marshal(v)
		}
	}
	b, _ := json.Marshal(obj) // re-encodes values that were valid JSON
	return string(b)
}

// Send implements channels.Channel. Messages rejected before sending
// (empty or malformed token, expired, content over the limits, bad extras)
// get their result without a call. The others are sent in one call per
// distinct BatchKey, at most Config.MaxConcurrentCalls at once.
//
// The whole-call error is returned only when every message of the batch
// was in a failed call and all failed calls failed alike (all transient or
// all permanent); otherwise failures are reported per message. An access
// token Honor refuses (HTTP 401, 80200001, 80200003) is replaced once.
func (c *Channel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	appID, err := channels.CheckBatch(msgs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("sending honor batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	ts, ok := c.tokens[appID]
	if !ok {
		return nil, fmt.Errorf("sending honor batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending honor batch for app %q: %w", appID, c.vendorErr("", 0, 0, "", true, err))
	}
	app := c.cfg.Apps[appID]
	now := c.now()
	results := make([]channels.Result, len(msgs))
	groups := channels.GroupByKey(msgs, results, func(m *channels.Message) (channels.Result, bool) { return c.check(m, now) }, c.BatchKey)
	err = channels.SendGroups(ctx, groups, len(msgs), c.cfg.MaxConcurrentCalls, results,
		func(ctx context.Context, idx []int) error { return c.sendGroup(ctx, ts, app, msgs, idx, results, now) },
		func(err error) error { return c.vendorErr("", 0, 0, "", true, err) })
	if err != nil {
		return nil, fmt.Errorf("sending honor batch (%d messages) for app %q: %w", len(msgs), appID, err)
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
	if r, ok := channels.CheckDeliverable(m, now, ", \t\r\n\"", "token"); !ok {
		return r, false
	}
	switch {
	case len(m.Payload) > lim.MaxPayloadBytes:
		return permanent(CodeMessageTooLarge,
			fmt.Sprintf("MessageTooLarge: payload has %d bytes, Honor channel allows %d", len(m.Payload), lim.MaxPayloadBytes))
	case len(Data(*m)) > maxDataBytes:
		return permanent(CodeMessageTooLarge,
			fmt.Sprintf("MessageTooLarge: data (payload and %s pairs) has %d bytes, Honor allows %d", channels.ExtraCustomPrefix, len(Data(*m)), maxDataBytes))
	case m.PassThrough && Data(*m) == "":
		return permanent(CodeIllegalPayload, "IllegalPayload: a pass-through message needs a payload")
	case m.PassThrough:
		return channels.Result{}, true
	case strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == "":
		return permanent(CodeIllegalPayload, "IllegalPayload: a Honor notification needs a title and a body")
	case utf8.RuneCountInString(m.Title) > lim.MaxTitleRunes:
		return permanent(CodeIllegalPayload,
			fmt.Sprintf("IllegalPayload: title has %d characters, the Honor channel allows %d", utf8.RuneCountInString(m.Title), lim.MaxTitleRunes))
	case utf8.RuneCountInString(m.Body) > lim.MaxBodyRunes:
		return permanent(CodeIllegalPayload,
			fmt.Sprintf("IllegalPayload: body has %d characters, the Honor channel allows %d", utf8.RuneCountInString(m.Body), lim.MaxBodyRunes))
	}
	bad := func(format string, args ...any) (channels.Result, bool) {
		return permanent(CodeIllegalPayload, "IllegalPayload: "+fmt.Sprintf(format, args...))
	}
	if uri := m.Extras[channels.ExtraURI]; strings.HasPrefix(uri, "http://") {
		return bad("Honor opens https URLs only, got %q", uri)
	}
	if v, ok := m.Extras[ExtraImportance]; ok {
		if _, ok := Importance(v); !ok {
			return bad("%s %q (want NORMAL, LOW, 1 or 2)", ExtraImportance, v)
		}
	}
	if v, ok := m.Extras[ExtraImage]; ok && !strings.HasPrefix(v, "https://") {
		return bad("%s must be an https URL, got %q", ExtraImage, v)
	}
	if v, ok := m.Extras[ExtraBigText]; ok && v != "0" && v != "1" {
		return bad("%s %q (want 0 or 1)", ExtraBigText, v)
	}
	if v, ok := m.Extras[ExtraNotifyID]; ok {
		if n, err := strconv.Atoi(v); err != nil || n < -1 || n > 1<<31-1 {
			return bad("%s %q is not an integer", ExtraNotifyID, v)
		}
	}
	add, hasAdd := m.Extras[ExtraBadgeAddNum]
	set, hasSet := m.Extras[ExtraBadgeSetNum]
	if hasAdd || hasSet {
		if m.Extras[ExtraBadgeClass] == "" {
			return bad("a badge needs %s", ExtraBadgeClass)
		}
		if n, err := strconv.Atoi(add); hasAdd && (err != nil || n < 1 || n > 99) {
			return bad("%s %q (want 1..99)", ExtraBadgeAddNum, add)
		}
		if n, err := strconv.Atoi(set); hasSet && (err != nil || n < 0 || n > 99) {
			return bad("%s %q (want 0..99)", ExtraBadgeSetNum, set)
		}
	}
	return channels.Result{}, true
}

// answer is Honor's answer, with the HTTP details.
type answer struct {
	Code      flexCode `json:"code"`
	Message   string   `json:"message"`
	Msg       string   `json:"msg"`
	RequestID string   `json:"requestId"`
	Data      struct {
		SendResult   bool     `json:"sendResult"`
		RequestID    string   `json:"requestId"`
		FailTokens   []string `json:"failTokens"`
		ExpireTokens []string `json:"expireTokens"`
	} `json:"data"`

	status     int
	retryAfter time.Duration
}

func (a *answer) code() int { return int(a.Code) }

func (a *answer) explain() string {
	msg := a.Message
	if msg == "" {
		msg = a.Msg
	}
	if msg == "" {
		return codeName(a.code())
	}
	return codeName(a.code()) + ": " + msg
}

// sendGroup makes the call for one group (msgs[idx]) and fills its
// results, or returns the call's error (a *channels.VendorError).
func (c *Channel) sendGroup(ctx context.Context, ts *channels.TokenSource, app App, msgs []channels.Message, idx []int, results []channels.Result, now time.Time) error {
	gm := make([]channels.Message, len(idx))
	for j, i := range idx {
		gm[j] = msgs[i]
	}
	body, err := json.Marshal(c.BuildRequest(gm, now))
	if err != nil {
		return c.vendorErr(app.AppID, 0, 0, "", false, fmt.Errorf("encoding request: %w", err))
	}
	a, err := c.callWithToken(ctx, ts, app.AppID, body)
	if err != nil {
		return err
	}
	switch classify(a.code()) {
	case kindOK:
		msgID := a.Data.RequestID
		if msgID == "" {
			msgID = a.RequestID
		}
		failed := map[string]string{}
		for _, t := range a.Data.FailTokens {
			failed[t] = "listed in failTokens"
		}
		for _, t := range a.Data.ExpireTokens {
			failed[t] = "listed in expireTokens"
		}
		for _, i := range idx {
			if why, ok := failed[msgs[i].Token]; ok {
				results[i] = channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
					StatusDesc: "BadDeviceToken: " + why, VendorMsgID: msgID}
				continue
			}
			results[i] = channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked", VendorMsgID: msgID}
		}
		return nil
	case kindAllInvalid:
		for _, i := range idx {
			results[i] = channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
				StatusDesc: fmt.Sprintf("BadDeviceToken: honor code %d: %s", a.code(), a.explain())}
		}
		return nil
	case kindCallTransient:
		ve := c.vendorErr(app.AppID, a.status, a.code(), a.explain(), true, nil)
		ve.RetryAfter = a.retryAfter
		return ve
	case kindCallPermanent, kindAuthToken:
		return c.vendorErr(app.AppID, a.status, a.code(), a.explain(), false, nil)
	}
	for _, i := range idx {
		results[i] = channels.Result{Outcome: channels.Permanent, StatusCode: a.code(),
			StatusDesc: fmt.Sprintf("%s: honor code %d: %s", codeName(a.code()), a.code(), a.explain())}
	}
	return nil
}

// callWithToken posts body with the app's access token, replacing a token
// Honor refuses once.
func (c *Channel) callWithToken(ctx context.Context, ts *channels.TokenSource, honorAppID string, body []byte) (answer, error) {
	return channels.CallWithToken(ctx, ts,
		func(tok string) (answer, error) { return c.post(ctx, honorAppID, body, tok) },
		func(a answer) bool { return classify(a.code()) == kindAuthToken })
}

// post makes one sendMessage call and decodes the answer. Network errors,
// 429, 5xx and garbled 2xx answers are transient *channels.VendorError;
// HTTP 401 is an answer with an OAuth code; other non-JSON answers are
// permanent errors.
func (c *Channel) post(ctx context.Context, honorAppID string, body []byte, accessToken string) (answer, error) {
	rep, err := channels.Post(ctx, c.client, channels.PostRequest{
		Channel: Name, URL: c.SendURL(honorAppID), Body: body, Timeout: c.cfg.Timeout, MaxAnswerBytes: maxAnswerBytes, Now: c.now,
		Header: http.Header{
			"Content-Type":  {"application/json;charset=UTF-8"},
			"Accept":        {"application/json"},
			"Authorization": {"Bearer " + accessToken},
			"Timestamp":     {strconv.FormatInt(time.Now().UnixMilli(), 10)},
		},
	})
	if err != nil {
		return answer{}, err
	}
	var a answer
	if rep.Status == http.StatusUnauthorized {
		if json.Unmarshal(bytes.TrimSpace(rep.Body), &a) != nil || classify(a.code()) != kindAuthToken {
			a.Code = CodeOAuthError
		}
		a.status, a.retryAfter = rep.Status, rep.RetryAfter
		return a, nil
	}
	if err := rep.DecodeJSON(&a, func() (int, string) { return a.code(), a.explain() }); err != nil {
		return answer{}, err
	}
	a.status, a.retryAfter = rep.Status, rep.RetryAfter
	if a.status/100 != 2 && classify(a.code()) == kindOK {
		return answer{}, c.vendorErr(honorAppID, a.status, a.code(), a.explain(), false, nil)
	}
	return a, nil
}

// tokenAnswer is the token endpoint's answer (success or OAuth error).
type tokenAnswer struct {
	AccessToken      string `json:"access_token"`
	ExpiresIn        int64  `json:"expires_in"`
	TokenType        string `json:"token_type"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// fetchToken returns the token request of app.
func (c *Channel) fetchToken(app App) func(context.Context) (string, time.Duration, error) {
	return func(ctx context.Context) (string, time.Duration, error) {
		form := url.Values{
			"grant_type":    {"client_credentials"},
			"client_id":     {app.ClientID},
			"client_secret": {app.ClientSecret.Reveal()},
		}
		authErr := func(status int, reason string, transient bool, cause error) *channels.VendorError {
			return &channels.VendorError{Channel: Name, Op: "POST " + c.cfg.AuthURL, HTTPStatus: status, Reason: reason,
				Transient: transient, Cause: cause}
		}
		rep, err := channels.Post(ctx, c.client, channels.PostRequest{
			Channel: Name, URL: c.cfg.AuthURL, Body: []byte(form.Encode()), MaxAnswerBytes: maxAnswerBytes, Purpose: "token", Now: c.now,
			Header: http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}},
		})
		if err != nil {
			return "", 0, err
		}
		var a tokenAnswer
		decodeErr := json.Unmarshal(bytes.TrimSpace(rep.Body), &a)
		reason := strings.TrimSpace(a.Error + " " + a.ErrorDescription)
		switch st := rep.Status; {
		case st == http.StatusTooManyRequests || st >= 500:
			ve := authErr(st, reason, true, nil)
			ve.RetryAfter = rep.RetryAfter
			return "", 0, ve
		case st/100 != 2:
			return "", 0, authErr(st, "credentials refused: "+reason, false, nil)
		case decodeErr != nil:
			return "", 0, authErr(st, "", true, fmt.Errorf("decoding token answer: %w", decodeErr))
		case a.AccessToken == "":
			return "", 0, authErr(st, "token answer without access_token: "+reason, true, nil)
		}
		lifetime := time.Duration(a.ExpiresIn) * time.Second
		if lifetime <= 0 {
			lifetime = DefaultAccessTokenLifetime
		}
		return a.AccessToken, lifetime, nil
	}
}

func (c *Channel) vendorErr(honorAppID string, httpStatus, code int, reason string, transient bool, cause error) *channels.VendorError {
	op := "sending"
	if honorAppID != "" {
		op = "POST " + c.SendURL(honorAppID)
	}
	return &channels.VendorError{Channel: Name, Op: op, HTTPStatus: httpStatus, Code: code, Reason: reason,
		Transient: transient, Cause: cause}
}
