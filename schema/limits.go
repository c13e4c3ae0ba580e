package schema

import "unicode/utf8"

// ContentLimit is what a channel accepts (mPaaS guide §8): title and body
// lengths in characters (0 = no limit), whether they may be empty, and the
// payload size in bytes. Each vendor's is in its channels.Vendor descriptor
// (channels/registry.ContentLimit).
type ContentLimit struct {
	MaxTitle, MaxBody int
	AllowEmpty        bool
	MaxPayloadBytes   int
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
