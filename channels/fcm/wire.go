package fcm

import (
	"cmp"
	"slices"
	"strconv"

	"github.com/pushpipe/pushpipe/channels"
)

// message is the projects.messages.send request of one call (the fields
// the channel sets), built without a map or a pointer so that it stays on
// the stack; appendRequest encodes it byte for byte as encoding/json
// encodes the equivalent tagged structs (wire_test.go keeps them and
// compares).
type message struct {
	token string
	// notification: the message has a "notification" (and
	// "android.notification"); not a pass-through.
	notification       bool
	title, body, image string
	data               []dataField // in any order, each key once; encoded sorted
	dataArr            [8]dataField
	// android
	collapseKey, priority                  string
	ttlSeconds                             int64 // android.ttl "<n>s"; 0: none
	channelID, sound, tag, clickAction     string
	badge                                  int
	hasBadge                               bool
	defaultSound, defaultVibrate, defLight bool
	analyticsLabel                         string
}

// dataField is one entry of message.data.
type dataField struct{ key, value string }

// setData sets data[key] to value, replacing an earlier value of key.
func (m *message) setData(key, value string) {
	for i := range m.data {
		if m.data[i].key == key {
			m.data[i].value = value
			return
		}
	}
	if m.data == nil {
		m.data = m.dataArr[:0]
	}
	m.data = append(m.data, dataField{key, value})
}

// dataBytes is the size FCM counts against its data limit: keys and
// values.
func (m *message) dataBytes() int {
	n := 0
	for _, f := range m.data {
		n += len(f.key) + len(f.value)
	}
	return n
}

// appendRequest appends {"message":{...}} of m to dst, as encoding/json
// encodes it (fields in the wire structs' order, empty ones omitted, data
// keys sorted, strings escaped alike). It sorts m.data.
func appendRequest(dst []byte, m *message) []byte {
	dst = append(dst, `{"message":{"token":`...)
	dst = channels.AppendJSONString(dst, m.token)
	if m.notification {
		dst = append(dst, `,"notification":{`...)
		dst = appendFields(dst, "title", m.title, "body", m.body, "image", m.image)
		dst = append(dst, '}')
	}
	if len(m.data) > 0 {
		slices.SortFunc(m.data, func(a, b dataField) int { return cmp.Compare(a.key, b.key) })
		dst = append(dst, `,"data":{`...)
		for i, f := range m.data {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = channels.AppendJSONString(dst, f.key)
			dst = append(dst, ':')
			dst = channels.AppendJSONString(dst, f.value)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, `,"android":{`...)
	n := len(dst)
	dst = appendFields(dst, "collapse_key", m.collapseKey, "priority", m.priority)
	if m.ttlSeconds > 0 {
		dst = appendKey(dst, n, "ttl")
		dst = append(strconv.AppendInt(append(dst, '"'), m.ttlSeconds, 10), 's', '"')
	}
	if m.notification {
		if len(dst) > n {
			dst = append(dst, ',')
		}
		dst = append(dst, `"notification":{`...)
		n := len(dst)
		dst = appendFields(dst, "channel_id", m.channelID, "sound", m.sound, "tag", m.tag, "click_action", m.clickAction)
		if m.hasBadge {
			dst = appendKey(dst, n, "notification_count")
			dst = strconv.AppendInt(dst, int64(m.badge), 10)
		}
		for _, b := range [...]struct {
			name string
			on   bool
		}{{"default_sound", m.defaultSound}, {"default_vibrate_timings", m.defaultVibrate}, {"default_light_settings", m.defLight}} {
			if b.on {
				dst = appendKey(dst, n, b.name)
				dst = append(dst, "true"...)
			}
		}
		dst = append(dst, '}')
	}
	dst = append(dst, '}')
	if m.notification && (m.hasBadge || m.sound != "") {
		dst = append(dst, `,"apns":{"payload":{"aps":{`...)
		n := len(dst)
		if m.hasBadge {
			dst = append(dst, `"badge":`...)
			dst = strconv.AppendInt(dst, int64(m.badge), 10)
		}
		if m.sound != "" {
			dst = appendKey(dst, n, "sound")
			dst = channels.AppendJSONString(dst, m.sound)
		}
		dst = append(dst, "}}}"...)
	}
	if m.analyticsLabel != "" {
		dst = append(dst, `,"fcm_options":{"analytics_label":`...)
		dst = channels.AppendJSONString(dst, m.analyticsLabel)
		dst = append(dst, '}')
	}
	return append(dst, "}}"...)
}

// appendFields appends the non-empty string fields of name, value pairs,
// comma-separated (the first without a comma before it).
func appendFields(dst []byte, kv ...string) []byte {
	n := len(dst)
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			dst = appendKey(dst, n, kv[i])
			dst = channels.AppendJSONString(dst, kv[i+1])
		}
	}
	return dst
}

// appendKey appends "name": to an object whose members start at dst[n:],
// with a comma first unless it is the first member.
func appendKey(dst []byte, n int, name string) []byte {
	if len(dst) > n {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, name...)
	return append(dst, '"', ':')
}
