package apns

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// Request is what the channel sends for one message: the apns-* headers
// and the JSON payload. Exported for tests and tooling.
type Request struct {
	Token      string
	Topic      string // apns-topic
	PushType   string // apns-push-type
	Priority   string // apns-priority
	Expiration string // apns-expiration, "" = not sent
	CollapseID string // apns-collapse-id, "" = not sent
	ID         string // apns-id, "" = not sent
	Payload    []byte // JSON body
}

// Build returns the request of m for app at time now, or the result of a
// message that must not be sent (and false): empty or malformed token,
// expired, no title or body for a notification, content over the limits,
// invalid apns.* extras.
func (c *Channel) Build(app App, m channels.Message, now time.Time) (Request, channels.Result, bool) {
	r, res, ok := c.build(app, m, now)
	if !ok {
		return Request{}, res, false
	}
	if res, ok := c.checkSize(len(r.Payload)); !ok {
		return Request{}, res, false
	}
	return r, channels.Result{}, true
}

// checkSize returns the result of a payload of n bytes over
// Limits.MaxNotificationBytes (and false).
func (c *Channel) checkSize(n int) (channels.Result, bool) {
	if lim := c.cfg.Limits.MaxNotificationBytes; n > lim {
		return channels.Result{Outcome: channels.Permanent, StatusCode: StatusPayloadTooLarge,
			StatusDesc: fmt.Sprintf("PayloadTooLarge: the APNs payload has %d bytes, APNs allows %d", n, lim)}, false
	}
	return channels.Result{}, true
}

// build is Build without the size check of a regular notification's
// payload (a Live Activity's is checked).
func (c *Channel) build(app App, m channels.Message, now time.Time) (Request, channels.Result, bool) {
	permanent := func(code int, desc string) (Request, channels.Result, bool) {
		return Request{}, channels.Result{Outcome: channels.Permanent, StatusCode: code, StatusDesc: desc}, false
	}
	lim := c.cfg.Limits
	if r, ok := channels.CheckDeliverable(&m, now, "/ \t\r\n", "device token"); !ok {
		return Request{}, r, false
	}
	if len(m.Payload) > lim.MaxPayloadBytes {
		return permanent(StatusPayloadTooLarge,
			fmt.Sprintf("PayloadTooLarge: payload has %d bytes, the iOS channel allows %d", len(m.Payload), lim.MaxPayloadBytes))
	}
	x := m.Extras
	r := Request{Token: m.Token, Topic: app.BundleID, ID: MessageID(m.DeliveryID)}

	r.PushType = PushTypeAlert
	if m.PassThrough {
		r.PushType = PushTypeBackground
	}
	if v := x[ExtraPushType]; v != "" {
		r.PushType = v
	}
	if r.PushType == PushTypeLiveActivity {
		return c.buildLiveActivity(m, r)
	}
	if r.PushType != PushTypeAlert && r.PushType != PushTypeBackground {
		return permanent(channels.StatusNone, fmt.Sprintf("InvalidPushType: %s %q is not alert, background or liveactivity", ExtraPushType, r.PushType))
	}
	alert := r.PushType == PushTypeAlert
	if alert && (strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == "") {
		return permanent(StatusPayloadEmpty, "PayloadEmpty: a notification needs a title and a body")
	}
	r.Priority = "10"
	if !alert {
		r.Priority = "5"
	}
	if v := x[ExtraPriority]; v != "" {
		if v != "10" && v != "5" && v != "1" {
			return permanent(StatusBadPriority, fmt.Sprintf("BadPriority: %s %q is not 10, 5 or 1", ExtraPriority, v))
		}
		if !alert && v == "10" {
			return permanent(StatusBadPriority, "BadPriority: a background push must not have priority 10")
		}
		r.Priority = v
	}
	if res, ok := setExpiryAndCollapseID(&r, m); !ok {
		return Request{}, res, false
	}

	aps := map[string]any{}
	if alert {
		a := map[string]string{"title": m.Title, "body": m.Body}
		if v := x[ExtraSubtitle]; v != "" {
			a["subtitle"] = v
		}
		aps["alert"] = a
		if v := pick(x, ExtraSound, channels.ExtraCustomPrefix+mpaasSound); v != "" {
			aps["sound"] = v
		}
		if v := pick(x, ExtraBadge, channels.ExtraCustomPrefix+mpaasBadge); v != "" {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || n < 0 {
				return permanent(channels.StatusNone, fmt.Sprintf("InvalidBadge: badge %q is not a non-negative integer", v))
			}
			aps["badge"] = n
		}
		if v := pick(x, ExtraMutableContent, channels.ExtraCustomPrefix+mpaasMutableContent); v == "1" || v == "true" || x[ExtraImageURL] != "" {
			aps["mutable-content"] = 1
		}
		if v := x[ExtraAlertCategory]; v != "" {
			aps["category"] = v
		}
		if v := x[ExtraThreadID]; v != "" {
			aps["thread-id"] = v
		}
		if v := x[ExtraInterruptionLevel]; v != "" {
			switch v {
			case "passive", "active", "time-sensitive", "critical":
				aps["interruption-level"] = v
			default:
				return permanent(channels.StatusNone, fmt.Sprintf("InvalidInterruptionLevel: %s %q", ExtraInterruptionLevel, v))
			}
		}
	} else {
		aps["content-available"] = 1
	}

	body := map[string]any{}
	if p := strings.TrimSpace(m.Payload); p != "" {
		var obj map[string]json.RawMessage
		if strings.HasPrefix(p, "{") && json.Unmarshal([]byte(p), &obj) == nil {
			for k, v := range obj {
				body[k] = v
			}
		} else {
			body["payload"] = m.Payload
		}
	}
	for k, v := range x {
		if name, ok := strings.CutPrefix(k, channels.ExtraCustomPrefix); ok && name != "" {
			body[name] = v
		}
	}
	if uri := x[channels.ExtraURI]; uri != "" {
		body["uri"] = uri
	}
	if img := x[ExtraImageURL]; img != "" && alert {
		body[ImageURLKey] = img
	}
	body["aps"] = aps // reserved: custom keys never replace it
	// Reserved too: the app SDK reports arrivals and opens with it.
	delete(body, DeliveryIDKey)
	if m.DeliveryID != "" {
		body[DeliveryIDKey] = m.DeliveryID
	}

	payload, ok := appendJSON(make([]byte, 0, payloadCap(m)), body)
	if !ok { // a JSON value of the message's payload: encoding/json compacts it
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return permanent(StatusPayloadEmpty, fmt.Sprintf("encoding payload: %v", err))
		}
	}
	r.Payload = payload
	return r, channels.Result{}, true
}

// payloadCap is the capacity a payload of m starts with: its texts and
// room for the aps keys, so that most payloads are built in one allocation.
func payloadCap(m channels.Message) int {
	n := 128 + len(m.Title) + len(m.Body) + len(m.DeliveryID) + len(m.Payload)
	for k, v := range m.Extras {
		n += len(k) + len(v) + 8
	}
	return n
}

// appendJSON appends v to dst byte for byte as encoding/json.Marshal
// encodes it, for the values a payload is built of: strings, ints, and
// maps of them (keys sorted, as Marshal sorts them). For any other value
// (the json.RawMessage values of a message's payload, which Marshal
// compacts) it returns false, and the caller marshals the whole body.
func appendJSON(dst []byte, v any) ([]byte, bool) {
	switch v := v.(type) {
	case string:
		return channels.AppendJSONString(dst, v), true
	case int:
		return strconv.AppendInt(dst, int64(v), 10), true
	case map[string]string:
		return appendJSONObject(dst, v, func(dst []byte, s string) ([]byte, bool) { return channels.AppendJSONString(dst, s), true })
	case map[string]any:
		return appendJSONObject(dst, v, appendJSON)
	}
	return dst, false
}

// appendJSONObject appends m as a JSON object, its keys sorted, each value
// appended by value; false as soon as value declines one.
func appendJSONObject[V any](dst []byte, m map[string]V, value func([]byte, V) ([]byte, bool)) ([]byte, bool) {
	var scratch [16]string
	keys := scratch[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		var ok bool
		if dst, ok = value(append(channels.AppendJSONString(dst, k), ':'), m[k]); !ok {
			return dst, false
		}
	}
	return append(dst, '}'), true
}

// shared is what the requests of messages with one content have in common:
// the request of the first one, its payload split around its quoted
// delivery id, or the result that refuses the content. A Send builds it
// once for a run of messages of one content (a broadcast's batch) and
// only fills in each message's token, apns-id, apns-expiration and
// delivery id.
type shared struct {
	m              *channels.Message // the message it was built for
	req            Request
	prefix, suffix []byte
	refused        channels.Result
	ok             bool
	// The apns-expiration of the last message, kept for the next: a
	// broadcast's messages share their expiry.
	exp     int64
	expText string
}

// sharedIDMark stands in for the delivery id while a shared payload is
// built; its JSON form is looked for, once, in the payload.
const sharedIDMark = "\x00pushpipe apns delivery id\x00"

// sharedIDMarkJSON is sharedIDMark as a JSON string.
const sharedIDMarkJSON = `"\u0000pushpipe apns delivery id\u0000"`

// buildShared returns the request of m like Build, reusing *sh when m has
// its content, else building a new one into *sh (when m can share).
func (c *Channel) buildShared(app App, m *channels.Message, now time.Time, sh *shared) (Request, channels.Result, bool) {
	if m.DeliveryID == "" || m.Extras[ExtraPushType] == PushTypeLiveActivity {
		return c.Build(app, *m, now)
	}
	if r, ok := channels.CheckDeliverable(m, now, "/ \t\r\n", "device token"); !ok {
		return Request{}, r, false
	}
	if sh.m == nil || !sameContent(sh.m, m) {
		*sh = shared{m: m}
		mark := *m
		mark.DeliveryID = sharedIDMark
		req, res, ok := c.build(app, mark, now)
		if !ok {
			sh.refused = res
		} else {
			q := []byte(sharedIDMarkJSON)
			if bytes.Count(req.Payload, q) != 1 { // the content holds the mark itself: no sharing
				sh.m = nil
				return c.Build(app, *m, now)
			}
			i := bytes.Index(req.Payload, q)
			sh.req, sh.prefix, sh.suffix, sh.ok = req, req.Payload[:i], req.Payload[i+len(q):], true
		}
	}
	if !sh.ok {
		return Request{}, sh.refused, false
	}
	r := sh.req
	r.Token, r.ID, r.Expiration = m.Token, MessageID(m.DeliveryID), ""
	if !m.ExpireAt.IsZero() {
		if exp := m.ExpireAt.Unix(); exp != sh.exp || sh.expText == "" {
			sh.exp, sh.expText = exp, strconv.FormatInt(exp, 10)
		}
		r.Expiration = sh.expText
	}
	p := make([]byte, 0, len(sh.prefix)+len(m.DeliveryID)+len(sh.suffix)+2)
	p = append(channels.AppendJSONString(append(p, sh.prefix...), m.DeliveryID), sh.suffix...)
	if res, ok := c.checkSize(len(p)); !ok {
		return Request{}, res, false
	}
	r.Payload = p
	return r, channels.Result{}, true
}

// sameContent reports whether a and b make the same payload and headers
// but for token, delivery id and expiry.
func sameContent(a, b *channels.Message) bool {
	return a.Title == b.Title && a.Body == b.Body && a.Payload == b.Payload && a.PassThrough == b.PassThrough &&
		maps.Equal(a.Extras, b.Extras)
}

// setExpiryAndCollapseID sets apns-expiration from m.ExpireAt and
// apns-collapse-id from ExtraCollapseID, or returns the result of a
// collapse id APNs would refuse (and false).
func setExpiryAndCollapseID(r *Request, m channels.Message) (channels.Result, bool) {
	if !m.ExpireAt.IsZero() {
		r.Expiration = strconv.FormatInt(m.ExpireAt.Unix(), 10)
	}
	if v := m.Extras[ExtraCollapseID]; v != "" {
		if len(v) > MaxCollapseIDBytes {
			return channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone,
				StatusDesc: fmt.Sprintf("BadCollapseId: %s has %d bytes, APNs allows %d", ExtraCollapseID, len(v), MaxCollapseIDBytes)}, false
		}
		r.CollapseID = v
	}
	return channels.Result{}, true
}

// pick returns the first non-empty value of keys in x.
func pick(x map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := x[k]; v != "" {
			return v
		}
	}
	return ""
}
