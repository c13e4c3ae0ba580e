package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"time"
)

// Live Activity events (activityEvent, mPaaS §7.2.3): what a push with
// deliverType 5 or 6 does to the iOS Live Activity it reaches. Starting a
// Live Activity by push is not part of the mPaaS API: the app starts it
// and binds its push token (binding op OpActivityToken).
const (
	ActivityEventUpdate = "update" // new content state; the activity stays
	ActivityEventEnd    = "end"    // final content state; the activity ends
)

// JSONObject is a JSON object kept as its compact text, such as a Live
// Activity's content state, whose keys are the app's and not pushpipe's.
// It decodes from an object or, as the mPaaS API passes JSON values, from
// a string holding one; null and "" are the empty value. Anything else
// (an array, a number, a string that is not an object) is a decoding
// error. It encodes as the object itself.
type JSONObject []byte

// errNotJSONObject is JSONObject's decoding error.
var errNotJSONObject = errors.New("expected a JSON object (or a string holding one)")

// UnmarshalJSON accepts {...}, "{...}", "" and null.
func (o *JSONObject) UnmarshalJSON(b []byte) error {
	b, empty, err := unquoteJSON(b)
	if err != nil || empty {
		*o = nil
		return err
	}
	if b[0] != '{' || !json.Valid(b) {
		return errNotJSONObject
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	*o = buf.Bytes()
	return nil
}

// MarshalJSON writes the object, or null when empty.
func (o JSONObject) MarshalJSON() ([]byte, error) {
	if len(o) == 0 {
		return []byte("null"), nil
	}
	return []byte(o), nil
}

// IsLiveActivity reports whether the request updates or ends iOS Live
// Activities (deliverType 5 or 6) rather than showing a notification.
func (r *Request) IsLiveActivity() bool {
	return r.DeliverType == DeliverActivityToken || r.DeliverType == DeliverActivityID
}

// liveActivityExtended are the extended parameters a Live Activity push
// honours: sound, the sound of its alert. Nothing else reaches the app.
var liveActivityExtended = map[string]bool{ExtSound: true}

// validateLiveActivity checks the Live Activity fields (mPaaS §7.2.3):
// they go with deliverType 5 or 6 only, which SIMPLE and TEMPLATE pushes
// take; a Live Activity push carries activityEvent update or end and the
// content state; dismissalDate goes with end and lies after the push is
// sent; title and content are the optional alert (both or neither); and
// every field a Live Activity cannot show is refused rather than dropped.
func (r *Request) validateLiveActivity() error {
	if !r.IsLiveActivity() {
		if r.ActivityEvent != "" || len(r.ActivityContentState) > 0 || r.DismissalDate != 0 {
			return invalid(CodeInvalidParam, "activityEvent, activityContentState and dismissalDate update a Live Activity: they need deliverType 5 (Live Activity push token) or 6 (activity id), not %d", r.DeliverType)
		}
		return nil
	}
	if r.Type != PushSimple && r.Type != PushTemplate {
		return invalid(CodeDeliveryTypeUnsupported, "deliverType %d targets Live Activities, which only SIMPLE and TEMPLATE pushes reach", r.DeliverType)
	}
	switch r.ActivityEvent {
	case ActivityEventUpdate, ActivityEventEnd:
	case "":
		return invalid(CodeInvalidParam, "a Live Activity push (deliverType %d) needs activityEvent: update or end", r.DeliverType)
	default:
		return invalid(CodeInvalidParam, "activityEvent %q is not update or end", r.ActivityEvent)
	}
	if len(r.ActivityContentState) == 0 {
		return invalid(CodeInvalidParam, "a Live Activity %s needs activityContentState, a JSON object matching the app's ContentState", r.ActivityEvent)
	}
	if r.DismissalDate != 0 {
		if r.ActivityEvent != ActivityEventEnd {
			return invalid(CodeInvalidParam, "dismissalDate is read with activityEvent end only (an update does not dismiss the activity)")
		}
		// A date already past when the push arrives removes the ended
		// activity at once (Apple: "the system immediately removes it").
		if r.DismissalDate < 0 {
			return invalid(CodeInvalidParam, "dismissalDate %d is not a Unix time in seconds; leave it out to let iOS dismiss the ended activity (after 4 hours at most)", r.DismissalDate)
		}
		// A scheduled end dismissed before it is even sent is a mistake.
		if sendAt := r.sendTime(); r.IsScheduled() && r.DismissalDate <= sendAt.Unix() {
			return invalid(CodeInvalidParam, "dismissalDate %d (Unix seconds) is not after the scheduled push is sent (%d)", r.DismissalDate, sendAt.Unix())
		}
	}
	if r.StrategyType == StrategyLoop && r.ScheduleID == "" {
		return invalid(CodeInvalidParam, "a Live Activity push cannot loop: an activity lives a few hours; use strategyType 0 or 1")
	}
	if (r.Title == "") != (r.Content == "") {
		return invalid(CodePayloadNotEnough, "title and content are the alert of the Live Activity %s: give both or neither", r.ActivityEvent)
	}
	refused := []struct {
		field string
		set   bool
	}{
		{"silent", r.Silent != 0}, {"pushStyle", r.PushStyle != 0}, {"pushAction", r.PushAction != 0}, {"uri", r.URI != ""},
		{"imageUrls", len(r.ImageURLs) > 0}, {"iconUrls", len(r.IconURLs) > 0}, {"notifyType transparent", r.NotifyType == "transparent"},
		{"classification", r.Classification != ""}, {"thirdChannelCategory", len(r.ThirdChannelCategory) > 0},
		{"notifyLevel", len(r.NotifyLevel) > 0}, {"miChannelId", r.MiChannelID != ""}, {"channelId", r.ChannelID != ""},
	}
	for _, f := range refused {
		if f.set {
			return invalid(CodeInvalidParam, "%s is not read by a Live Activity push (deliverType %d): iOS shows the activity's own view, updated from activityContentState", f.field, r.DeliverType)
		}
	}
	for _, k := range r.ExtendedParams.SortedKeys() {
		if !liveActivityExtended[k] {
			return invalid(CodeInvalidExtendParam, "extendedParams %q: a Live Activity push delivers no extended parameters to the app; only sound (the alert's sound) is read", k)
		}
	}
	if r.ExtendedParams[ExtSound] != "" && r.Title == "" && r.Type == PushSimple {
		return invalid(CodeInvalidExtendParam, "extendedParams sound is the sound of the Live Activity's alert, and this push has none (no title and content)")
	}
	return nil
}

// ValidateTemplateURI checks the click address uri that a template
// rendered for r (or r's own uri over it): it suits r's pushAction
// (ValidateClick), and a Live Activity push, which opens nothing of its
// own, has none.
func (r *Request) ValidateTemplateURI(uri string) error {
	if err := ValidateClick(r.PushAction, uri); err != nil {
		return err
	}
	if uri != "" && r.IsLiveActivity() {
		return invalid(CodeInvalidParam, "template %q has a uri, which a Live Activity push cannot open: use a template without one", r.TemplateName)
	}
	return nil
}

// sendTime is when the request is pushed: the fixed time of a new
// scheduled push, else when it was accepted (now when not stamped).
func (r *Request) sendTime() time.Time {
	if r.StrategyType == StrategyFixedTime && r.ScheduleID == "" && r.StrategyContent != nil && r.StrategyContent.FixedTime > 0 {
		return time.UnixMilli(r.StrategyContent.FixedTime)
	}
	if r.AcceptedAt > 0 {
		return time.UnixMilli(r.AcceptedAt)
	}
	return time.Now()
}
