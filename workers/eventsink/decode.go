package eventsink

import (
	"unicode/utf8"
	"unsafe"

	"github.com/pushpipe/pushpipe/schema"
)

// decodeEvent decodes record data into e, which must be the zero Event,
// with the result and error schema.DecodeEvent gives.
//
// Records as the stages write them (a flat object of the Event's fields
// with their exact names, plain strings and integers) are decoded by a
// fast path whose strings are not copied: they share data's memory, which
// must therefore not change while e is in use (a Kafka record's value is
// not reused), and a string kept beyond the batch pins its record until
// copied (the caches copy what they keep). Any other record (an escape or
// control character in a string, invalid UTF-8, a key in other case or
// unknown, null, a fraction or exponent, a nested value, trailing data) is
// decoded by schema.DecodeEvent, so every record decodes as encoding/json
// would.
func decodeEvent(data []byte, e *schema.Event) error {
	if decodeEventFast(data, e) {
		return nil
	}
	*e = schema.Event{}
	return schema.DecodeEvent(data, e)
}

// decodeEventFast decodes data into e when data takes the fast path (see
// decodeEvent) and reports whether it did; on false e holds part of data.
func decodeEventFast(data []byte, e *schema.Event) bool {
	if len(data) == 0 {
		return false
	}
	// s aliases data: every field is a substring of it.
	s := unsafe.String(unsafe.SliceData(data), len(data))
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i = skipSpace(s, i+1)
	if i < len(s) && s[i] == '}' {
		return skipSpace(s, i+1) == len(s)
	}
	for {
		key, next, ok := plainString(s, i)
		if !ok {
			return false
		}
		i = skipSpace(s, next)
		if i >= len(s) || s[i] != ':' {
			return false
		}
		i = skipSpace(s, i+1)
		if i >= len(s) {
			return false
		}
		if str := eventStringField(e, key); str != nil {
			v, next, ok := plainString(s, i)
			if !ok {
				return false
			}
			*str, i = v, next
		} else if num := eventIntField(e, key); num != nil {
			v, next, ok := plainInt(s, i)
			if !ok {
				return false
			}
			*num, i = v, next
		} else if key == "attempt" {
			v, next, ok := plainInt(s, i)
			if !ok {
				return false
			}
			e.Attempt, i = int(v), next
		} else {
			return false
		}
		i = skipSpace(s, i)
		if i >= len(s) {
			return false
		}
		switch s[i] {
		case ',':
			i = skipSpace(s, i+1)
		case '}':
			return skipSpace(s, i+1) == len(s)
		default:
			return false
		}
	}
}

// eventStringField returns the string field of e named by JSON key, or nil.
func eventStringField(e *schema.Event, key string) *string {
	switch key {
	case "eventId":
		return &e.EventID
	case "region":
		return &e.Region
	case "appId":
		return &e.AppID
	case "workspaceId":
		return &e.WorkspaceID
	case "taskId":
		return &e.TaskID
	case "msgId":
		return &e.MsgID
	case "pushType":
		return (*string)(&e.PushType)
	case "target":
		return &e.Target
	case "deviceId":
		return &e.DeviceID
	case "platform":
		return &e.Platform
	case "channel":
		return &e.Channel
	case "event":
		return (*string)(&e.Event)
	case "statusDesc":
		return &e.StatusDesc
	case "appVersion":
		return &e.AppVersion
	case "model":
		return &e.Model
	case "deliveryId":
		return &e.DeliveryID
	case "vendorMsgId":
		return &e.VendorMsgID
	case "template":
		return &e.Template
	case "taskName":
		return &e.TaskName
	case "token":
		return &e.Token
	case "callbackUrl":
		return &e.CallbackURL
	case "notifyId":
		return &e.NotifyID
	case "receiptAppId":
		return &e.ReceiptAppID
	}
	return nil
}

// eventIntField returns the int64 field of e named by JSON key, or nil.
func eventIntField(e *schema.Event, key string) *int64 {
	switch key {
	case "ts":
		return &e.TS
	case "statusCode":
		return &e.StatusCode
	case "latencyMs":
		return &e.LatencyMs
	}
	return nil
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t') {
		i++
	}
	return i
}

// plainString reads the JSON string at s[i] when it needs no decoding (no
// escape, no control character, valid UTF-8) and returns its contents as
// a substring of s and the index after its closing quote.
func plainString(s string, i int) (string, int, bool) {
	if i >= len(s) || s[i] != '"' {
		return "", 0, false
	}
	ascii := true
	for j := i + 1; j < len(s); j++ {
		switch c := s[j]; {
		case c == '"':
			v := s[i+1 : j]
			if !ascii && !utf8.ValidString(v) {
				return "", 0, false
			}
			return v, j + 1, true
		case c == '\\' || c < 0x20:
			return "", 0, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", 0, false
}

// plainInt reads the JSON integer at s[i] (no fraction, no exponent, at
// most 18 digits so that it fits an int64) and returns it and the index
// after it.
func plainInt(s string, i int) (int64, int, bool) {
	neg := i < len(s) && s[i] == '-'
	if neg {
		i++
	}
	start := i
	var v int64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		v = v*10 + int64(s[i]-'0')
		i++
	}
	n := i - start
	if n == 0 || n > 18 || (n > 1 && s[start] == '0') {
		return 0, 0, false
	}
	if i < len(s) && (s[i] == '.' || s[i] == 'e' || s[i] == 'E') {
		return 0, 0, false
	}
	if neg {
		v = -v
	}
	return v, i, true
}
