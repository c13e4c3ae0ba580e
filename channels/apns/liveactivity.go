package apns

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/pushpipe/pushpipe/channels"
)

// LiveActivityTopicSuffix follows the app's bundle id in the apns-topic of
// a Live Activity push (Apple, "Starting and updating Live Activities with
// ActivityKit push notifications").
const LiveActivityTopicSuffix = ".push-type.liveactivity"

// Live Activity events of aps.event the channel sends. Starting an
// activity by push ("start", with attributes) is not supported.
const (
	ActivityEventUpdate = "update"
	ActivityEventEnd    = "end"
)

// Keys of channels.Message.Extras of a Live Activity push (ExtraPushType
// PushTypeLiveActivity). The message's token is the activity's push token;
// Title and Body, both or neither, are the optional alert, and the
// extended parameter "sound" its sound. No custom key, uri or payload
// reaches a Live Activity, so they are not sent.
const (
	// ExtraActivityEvent is aps.event: "update" or "end" (required).
	ExtraActivityEvent = "apns.activity_event"
	// ExtraContentState is aps.content-state, the JSON object of the app's
	// ContentState (required).
	ExtraContentState = "apns.content_state"
	// ExtraActivityTimestamp is aps.timestamp, Unix seconds (required):
	// iOS ignores an update older than the last one it showed.
	ExtraActivityTimestamp = "apns.activity_timestamp"
	// ExtraDismissalDate is aps.dismissal-date, Unix seconds, when iOS
	// removes the ended activity; "end" only (iOS keeps an ended activity
	// up to four hours without it).
	ExtraDismissalDate = "apns.dismissal_date"
)

// buildLiveActivity is Build for a Live Activity push: r carries the
// token, topic (the bundle id) and apns-id. It sends apns-push-type
// liveactivity to <bundle id>.push-type.liveactivity with priority 10
// (ExtraPriority may ask for 5; APNs takes no other), and the aps keys
// timestamp, event, content-state, dismissal-date and alert. A message
// missing or malforming one of them is refused before sending.
func (c *Channel) buildLiveActivity(m channels.Message, r Request) (Request, channels.Result, bool) {
	permanent := func(code int, format string, args ...any) (Request, channels.Result, bool) {
		return Request{}, channels.Result{Outcome: channels.Permanent, StatusCode: code, StatusDesc: fmt.Sprintf(format, args...)}, false
	}
	x := m.Extras
	r.Topic += LiveActivityTopicSuffix
	aps := map[string]any{}
	event := x[ExtraActivityEvent]
	if event != ActivityEventUpdate && event != ActivityEventEnd {
		return permanent(channels.StatusNone, "InvalidActivityEvent: %s %q is not update or end", ExtraActivityEvent, event)
	}
	aps["event"] = event
	ts, err := strconv.ParseInt(x[ExtraActivityTimestamp], 10, 64)
	if err != nil || ts <= 0 {
		return permanent(channels.StatusNone, "InvalidTimestamp: %s %q is not Unix seconds", ExtraActivityTimestamp, x[ExtraActivityTimestamp])
	}
	aps["timestamp"] = ts
	state := strings.TrimSpace(x[ExtraContentState])
	if !strings.HasPrefix(state, "{") || !json.Valid([]byte(state)) {
		return permanent(StatusPayloadEmpty, "PayloadEmpty: %s is not a JSON object: a Live Activity %s carries its content state", ExtraContentState, event)
	}
	aps["content-state"] = json.RawMessage(state)
	if v := x[ExtraDismissalDate]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		switch {
		case err != nil || n <= 0:
			return permanent(channels.StatusNone, "InvalidDismissalDate: %s %q is not Unix seconds", ExtraDismissalDate, v)
		case event != ActivityEventEnd:
			return permanent(channels.StatusNone, "InvalidDismissalDate: a dismissal date goes with the end event, not %s", event)
		}
		aps["dismissal-date"] = n
	}
	title, body := strings.TrimSpace(m.Title), strings.TrimSpace(m.Body)
	switch {
	case title != "" && body != "":
		a := map[string]string{"title": m.Title, "body": m.Body}
		if v := pick(x, ExtraSound, channels.ExtraCustomPrefix+mpaasSound); v != "" {
			a["sound"] = v
		}
		aps["alert"] = a
	case title != "" || body != "":
		return permanent(StatusPayloadEmpty, "PayloadEmpty: the alert of a Live Activity needs a title and a body")
	}
	r.Priority = "10"
	if v := x[ExtraPriority]; v != "" {
		if v != "10" && v != "5" {
			return permanent(StatusBadPriority, "BadPriority: %s %q: a Live Activity push has priority 10 or 5", ExtraPriority, v)
		}
		r.Priority = v
	}
	if res, ok := setExpiryAndCollapseID(&r, m); !ok {
		return Request{}, res, false
	}
	doc := map[string]any{"aps": aps}
	if m.DeliveryID != "" {
		doc[DeliveryIDKey] = m.DeliveryID
	}
	payload, err := json.Marshal(doc)
	if err != nil {
		return permanent(StatusPayloadEmpty, "encoding payload: %v", err)
	}
	if lim := c.cfg.Limits.MaxNotificationBytes; len(payload) > lim {
		return permanent(StatusPayloadTooLarge, "PayloadTooLarge: the APNs payload has %d bytes, APNs allows %d", len(payload), lim)
	}
	r.Payload = payload
	return r, channels.Result{}, true
}
