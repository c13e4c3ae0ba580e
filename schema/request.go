package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// PushType is the mPaaS push type of a request.
type PushType string

// The four mPaaS push types (§7.2.3–§7.2.6).
const (
	PushSimple    PushType = "SIMPLE"
	PushTemplate  PushType = "TEMPLATE"
	PushMultiple  PushType = "MULTIPLE"
	PushBroadcast PushType = "BROADCAST"
)

// Target id types (deliverType). 1–3, 5–7 are the mPaaS values; 10–12
// extend them with MiPush's alias, user account and tag targets.
const (
	DeliverAndroid     = 1  // key of targetMsgkey is an Android device id; broadcast: Android devices
	DeliverIOS         = 2  // key is an iOS device id; broadcast: iOS devices
	DeliverUser        = 3  // key is a user id bound through the client API (all its devices)
	DeliverHarmony     = 7  // key is a HarmonyOS device id; broadcast: HarmonyOS devices
	DeliverAlias       = 10 // key is an alias: the device that set it last
	DeliverUserAccount = 11 // key is a user account: its 10 most recent devices
	DeliverTag         = 12 // key is a tag: every device subscribed to it
)

// Live Activity target id types (deliverType 5 and 6, mPaaS §7.2.3): the
// push updates or ends iOS Live Activities (see Request.IsLiveActivity).
const (
	DeliverActivityToken = 5 // key is a Live Activity push token bound with op activity_token
	DeliverActivityID    = 6 // key is a Live Activity id: every token bound to it
)

// Platforms a device reports.
const (
	PlatformAndroid = "android"
	PlatformIOS     = "ios"
	PlatformHarmony = "harmony"
)

// StringMap is a string-to-string map that decodes either from a JSON
// object or from a string holding a JSON object, because the mPaaS API
// passes targetMsgkey, extendedParams, imageUrls... as JSON strings while
// Kafka producers naturally write objects. It always encodes as an object.
type StringMap map[string]string

// UnmarshalJSON accepts {"k":"v"}, "{\"k\":\"v\"}", "" and null. Non-string
// scalar values (numbers, booleans) are kept in their JSON text form.
func (m *StringMap) UnmarshalJSON(b []byte) error {
	b, empty, err := unquoteJSON(b)
	if err != nil || empty {
		*m = nil
		return err
	}
	if out, ok := plainStringObject(b); ok {
		*m = out
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("expected a JSON object of strings: %w", err)
	}
	out := make(StringMap, len(raw))
	for k, v := range raw {
		var s string
		if plainJSONString(v) {
			// What json.Unmarshal gives for a string without escapes
			// that is valid UTF-8: the bytes between the quotes.
			s = string(v[1 : len(v)-1])
		} else if len(v) > 0 && v[0] == '"' {
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("value of %q: %w", k, err)
			}
		} else {
			s = string(v)
		}
		out[k] = s
	}
	*m = out
	return nil
}

// plainStringObject decodes b when it is a JSON object whose keys and
// values are all strings without escapes or control characters, in valid
// UTF-8 (a request's targetMsgkey, most extendedParams), as json.Unmarshal
// would (a later duplicate key wins); for any other text it returns false
// and decodes nothing, leaving b to json.Unmarshal.
func plainStringObject(b []byte) (StringMap, bool) {
	if !utf8Valid(b) {
		return nil, false
	}
	i := skipJSONSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return nil, false
	}
	out := make(StringMap, bytes.Count(b, []byte{':'}))
	i = skipJSONSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return out, skipJSONSpace(b, i+1) == len(b)
	}
	for {
		k, next, ok := plainJSONStringAt(b, i)
		if !ok {
			return nil, false
		}
		i = skipJSONSpace(b, next)
		if i == len(b) || b[i] != ':' {
			return nil, false
		}
		v, next, ok := plainJSONStringAt(b, skipJSONSpace(b, i+1))
		if !ok {
			return nil, false
		}
		out[string(k)] = string(v)
		i = skipJSONSpace(b, next)
		switch {
		case i == len(b):
			return nil, false
		case b[i] == ',':
			i = skipJSONSpace(b, i+1)
		case b[i] == '}':
			return out, skipJSONSpace(b, i+1) == len(b)
		default:
			return nil, false
		}
	}
}

// plainJSONStringAt returns the text of the JSON string at b[i:] and the
// index after it, when it has no escape and no control character.
func plainJSONStringAt(b []byte, i int) (text []byte, next int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			return b[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// skipJSONSpace returns the index of the first byte at or after i of b
// that is not JSON white space.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// plainJSONString reports whether v, a JSON value the decoder has
// already checked, is a string with no escape whose text is valid UTF-8,
// so that its value is the bytes between its quotes.
func plainJSONString(v []byte) bool {
	return len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' && bytes.IndexByte(v, '\\') < 0 && utf8Valid(v)
}

// unquoteJSON returns the JSON text b holds: b itself, or the text of the
// string b is (the mPaaS API passes JSON values as strings). empty is true
// for nothing, null and "".
func unquoteJSON(b []byte) (out []byte, empty bool, err error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil, true, nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, false, err
		}
		if s = strings.TrimSpace(s); s == "" {
			return nil, true, nil
		}
		b = []byte(s)
	}
	return b, false, nil
}

// SortedKeys returns the keys in ascending order, so that every walk over a
// request's targets is deterministic.
func (m StringMap) SortedKeys() []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// TargetMsg is one entry of a MULTIPLE push: its own target, msgKey,
// template values and extended parameters.
type TargetMsg struct {
	Target           string    `json:"target"`
	MsgKey           string    `json:"msgKey"`
	TemplateKeyValue StringMap `json:"templateKeyValue,omitempty"`
	ExtendedParams   StringMap `json:"extendedParams,omitempty"`
}

// StrategyContent is the schedule of a scheduled (strategyType 1) or loop
// (strategyType 2) push, as in the mPaaS StrategyContent field. Times are
// Unix milliseconds.
type StrategyContent struct {
	FixedTime   int64  `json:"fixedTime,omitempty"`
	StartTime   int64  `json:"startTime,omitempty"`
	EndTime     int64  `json:"endTime,omitempty"`
	CircleType  int    `json:"circleType,omitempty"`
	CircleValue []int  `json:"circleValue,omitempty"`
	Time        string `json:"time,omitempty"`
}

// UnmarshalJSON accepts the object or, as the mPaaS API sends it, a string
// holding the object.
func (s *StrategyContent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var str string
		if err := json.Unmarshal(b, &str); err != nil {
			return err
		}
		b = []byte(str)
	}
	type plain StrategyContent
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("decoding StrategyContent: %w", err)
	}
	*s = StrategyContent(p)
	return nil
}

// Request is a push request as published on push.requests.R: the mPaaS
// server API (simple, template, multiple and broadcast push) as one JSON
// envelope. Field names follow the mPaaS API. TaskID may be left empty by
// producers; fanout then derives a deterministic one (see DeriveTaskID).
// AcceptedAt (Unix ms) is when the producer or gateway accepted the
// request; it starts the latency clock.
type Request struct {
	Type        PushType `json:"type"`
	Region      string   `json:"region"`
	AppID       string   `json:"appId"`
	WorkspaceID string   `json:"workspaceId"`
	TaskID      string   `json:"taskId,omitempty"`
	TaskName    string   `json:"taskName"`
	DeliverType int      `json:"deliverType"`
	// DeliveryType is how the mPaaS SDKs spell deliverType. DecodeRequest
	// folds it into DeliverType (refusing two different values) and clears
	// it, so the rest of the pipeline reads DeliverType only.
	DeliveryType *int `json:"deliveryType,omitempty"`

	TargetMsgkey StringMap   `json:"targetMsgkey,omitempty"`
	TargetMsgs   []TargetMsg `json:"targetMsgs,omitempty"`

	Title            string    `json:"title,omitempty"`
	Content          string    `json:"content,omitempty"`
	TemplateName     string    `json:"templateName,omitempty"`
	TemplateKeyValue StringMap `json:"templateKeyValue,omitempty"`

	ExpiredSeconds int64     `json:"expiredSeconds"`
	PushStyle      int       `json:"pushStyle"`
	PushAction     int       `json:"pushAction,omitempty"`
	URI            string    `json:"uri,omitempty"`
	Silent         int       `json:"silent,omitempty"`
	NotifyType     string    `json:"notifyType,omitempty"`
	ExtendedParams StringMap `json:"extendedParams,omitempty"`
	ImageURLs      StringMap `json:"imageUrls,omitempty"`
	IconURLs       StringMap `json:"iconUrls,omitempty"`

	StrategyType    int              `json:"strategyType,omitempty"`
	StrategyContent *StrategyContent `json:"StrategyContent,omitempty"`

	Classification       string    `json:"classification,omitempty"`
	ThirdChannelCategory StringMap `json:"thirdChannelCategory,omitempty"`
	NotifyLevel          StringMap `json:"notifyLevel,omitempty"`
	MiChannelID          string    `json:"miChannelId,omitempty"`
	// ChannelID is the Android notification channel the message is shown
	// in (the mPaaS channelId; OPPO's private channel id). MiPush takes
	// its own MiChannelID instead.
	ChannelID string `json:"channelId,omitempty"`
	// NotifyID groups notifications on the device: a new one replaces the
	// shown one with the same id (MiPush notify_id, Huawei/Honor/OPPO
	// notify id, FCM tag, APNs collapse id). Unset, each message has its
	// own, derived from its msg id.
	NotifyID *int `json:"notifyId,omitempty"`
	// RemindType is how the device reminds the user: -1 every way, or the
	// sum of 1 sound, 2 vibration and 4 lights (MiPush notify_type);
	// unset, the channel's configured default.
	RemindType *int `json:"remindType,omitempty"`

	// Live Activity (mPaaS §7.2.3, deliverType 5 and 6): the event (update
	// or end), the content state the activity shows (a JSON object of the
	// app's ContentState) and, with end, when iOS dismisses the ended
	// activity (Unix seconds). See validateLiveActivity.
	ActivityEvent        string     `json:"activityEvent,omitempty"`
	ActivityContentState JSONObject `json:"activityContentState,omitempty"`
	DismissalDate        int64      `json:"dismissalDate,omitempty"`

	SmsStrategy      int    `json:"smsStrategy,omitempty"`
	SmsSignName      string `json:"smsSignName,omitempty"`
	SmsTemplateCode  string `json:"smsTemplateCode,omitempty"`
	SmsTemplateParam string `json:"smsTemplateParam,omitempty"`

	// Broadcast (§7.2.6): its one msgKey and its audience filters. Tags
	// keeps the broadcast to the devices of users carrying any of them (at
	// most MaxTags); nil means no tag filter. Only BROADCAST takes it, and
	// a present but empty list is refused (see Validate), so an empty list
	// is encoded too (omitzero).
	MsgKey          string   `json:"msgkey,omitempty"`
	PushStatus      *int     `json:"pushStatus,omitempty"`
	BindPeriod      int      `json:"bindPeriod,omitempty"`
	UnBindPeriod    int      `json:"unBindPeriod,omitempty"`
	AndroidChannel  int      `json:"androidChannel,omitempty"`
	TimeMode        int      `json:"timeMode,omitempty"`
	BindStartTime   int64    `json:"bindStartTime,omitempty"`
	BindEndTime     int64    `json:"bindEndTime,omitempty"`
	UnBindStartTime int64    `json:"unBindStartTime,omitempty"`
	UnBindEndTime   int64    `json:"unBindEndTime,omitempty"`
	Tags            []string `json:"tags,omitzero"`
	// AppVersions and Models restrict any push to devices reporting one
	// of these app versions or models (MiPush §4.3.10–4.3.11).
	AppVersions []string `json:"appVersions,omitempty"`
	Models      []string `json:"models,omitempty"`

	// SmoothRate caps the task's sending at this many messages a second in
	// the region (smooth push, as MiPush offers); 0 means no cap.
	SmoothRate int `json:"smoothRate,omitempty"`

	CallbackURL string `json:"callbackUrl,omitempty"`
	AcceptedAt  int64  `json:"acceptedAt,omitempty"`
	ScheduleID  string `json:"scheduleId,omitempty"`

	// ABTest makes a SIMPLE push an A/B copy test (see ABTest).
	ABTest *ABTest `json:"abTest,omitempty"`
}

// DecodeRequest parses a push request. A body that is not JSON, or not
// UTF-8, is a *ValidationError (3028 or 3031) so that it can be rejected
// with a result code like any other bad request. A field the request
// type does not know is refused (3028) rather than dropped: a field
// pushpipe cannot honour must never be accepted silently.
func DecodeRequest(b []byte) (*Request, error) {
	var r Request
	if !utf8Valid(b) {
		return nil, invalid(CodeRequestShouldBeUTF8, "request body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		if errors.Is(err, errNotJSONObject) { // the one JSONObject field
			return nil, invalid(CodeInvalidParam, "activityContentState is not a JSON object (the app's ContentState, or a string holding it)")
		}
		if name := unknownField(b); name != "" {
			return nil, invalid(CodeInvalidParam, "request has the field %q, which pushpipe does not support (docs/fields.md lists every accepted field)", name)
		}
		return nil, invalid(CodeInvalidParam, "request is not a valid JSON push request: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, invalid(CodeInvalidParam, "request has trailing data after the JSON object")
	}
	if r.DeliveryType != nil {
		switch {
		case r.DeliverType == 0:
			r.DeliverType = *r.DeliveryType
		case r.DeliverType != *r.DeliveryType:
			return nil, invalid(CodeInvalidParam, "deliverType %d and deliveryType %d differ: give one of them", r.DeliverType, *r.DeliveryType)
		}
		r.DeliveryType = nil
	}
	return &r, nil
}

// KafkaKey is the Kafka key of the request on push.requests.R:
// "<appId>/<task id>" (AppKey; the task id as DeriveTaskID gives it), so
// that one app's task never shares a key with another app's.
func (r *Request) KafkaKey() string { return AppKey(r.AppID, r.DeriveTaskID()) }

// DeriveTaskID returns r.TaskID, or when empty an id derived from the app,
// type and msgKeys so that a replayed request gets the same task id.
func (r *Request) DeriveTaskID() string {
	if r.TaskID != "" {
		return r.TaskID
	}
	parts := []string{r.AppID, string(r.Type), r.TaskName}
	for _, k := range r.TargetMsgkey.SortedKeys() {
		parts = append(parts, k, r.TargetMsgkey[k])
	}
	for _, t := range r.TargetMsgs {
		parts = append(parts, t.Target, t.MsgKey)
	}
	if r.MsgKey != "" {
		parts = append(parts, r.MsgKey)
	}
	return "t" + hashID(parts...)[:24]
}
