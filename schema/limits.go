package schema

import "unicode/utf8"

// ContentLimit is what a channel accepts (mPaaS guide §8): title and body
// lengths in characters (0 = no limit), whether they may be empty, and the
// payload size in bytes.
type ContentLimit struct {
	MaxTitle, MaxBody int
	AllowEmpty        bool
	MaxPayloadBytes   int
}

// ContentLimitFor returns the limit of a channel. Vendor channels refuse
// an empty title or body; Android and iOS messages are at most 2 KB, MiPush
// 4 KB; HarmonyOS Push Kit limits the whole message body to 4096 bytes
// (tokens excluded) and sets no title or body length of its own; the
// self-built channel has no length limits.
func ContentLimitFor(channel string) ContentLimit {
	switch channel {
	case "mipush":
		return ContentLimit{MaxTitle: 50, MaxBody: 128, MaxPayloadBytes: 4096}
	case "hms":
		return ContentLimit{MaxTitle: 40, MaxBody: 1024, MaxPayloadBytes: 2048}
	case "oppo":
		return ContentLimit{MaxTitle: 32, MaxBody: 200, MaxPayloadBytes: 2048}
	case "vivo":
		return ContentLimit{MaxTitle: 40, MaxBody: 100, MaxPayloadBytes: 2048}
	case "harmonyos":
		return ContentLimit{MaxPayloadBytes: 4096}
	case "apns", "fcm", "honor":
		// APNs truncates long titles with an ellipsis rather than failing.
		return ContentLimit{MaxPayloadBytes: 2048}
	default: // the self-built channel
		return ContentLimit{AllowEmpty: true, MaxPayloadBytes: 2048}
	}
}

// Check returns the result code and reason when title, body or payload
// break the limit, or 0.
func (l ContentLimit) Check(channel, title, body string, payloadBytes int) (ResultCode, string) {
	switch {
	case !l.AllowEmpty && (title == "" || body == ""):
		return CodePayloadNotEnough, "filtered: " + channel + " refuses an empty title or body"
	case l.MaxTitle > 0 && utf8.RuneCountInString(title) > l.MaxTitle:
		return CodeSinglePushContentTooLong, "filtered: title longer than the " + itoa(l.MaxTitle) + " characters " + channel + " accepts"
	case l.MaxBody > 0 && utf8.RuneCountInString(body) > l.MaxBody:
		return CodeSinglePushContentTooLong, "filtered: body longer than the " + itoa(l.MaxBody) + " characters " + channel + " accepts"
	case l.MaxPayloadBytes > 0 && payloadBytes > l.MaxPayloadBytes:
		return CodeMsgPayloadTooLong, "filtered: message of " + itoa(payloadBytes) + " bytes exceeds the " + itoa(l.MaxPayloadBytes) + " bytes " + channel + " accepts"
	}
	return 0, ""
}
