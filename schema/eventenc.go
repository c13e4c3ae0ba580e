package schema

import (
	stdjson "encoding/json"
	"strconv"
)

// AppendEvent appends the JSON record of e to dst, byte for byte as
// EncodeRecordOf(*e) encodes it (same field order, omitempty rules and
// string escaping), and returns the extended slice. It allocates nothing
// beyond growing dst, except for a string that needs escaping; safe for
// concurrent use on distinct dst. A sender encodes two events a delivery,
// so this is the events' hot path.
func AppendEvent(dst []byte, e *Event) []byte {
	dst = append(dst, `{"eventId":`...)
	dst = AppendJSONString(dst, e.EventID)
	dst = append(dst, `,"ts":`...)
	dst = strconv.AppendInt(dst, e.TS, 10)
	dst = append(dst, `,"region":`...)
	dst = AppendJSONString(dst, e.Region)
	dst = append(dst, `,"appId":`...)
	dst = AppendJSONString(dst, e.AppID)
	dst = appendOmitEmpty(dst, `,"workspaceId":`, e.WorkspaceID)
	dst = appendOmitEmpty(dst, `,"taskId":`, e.TaskID)
	dst = appendOmitEmpty(dst, `,"msgId":`, e.MsgID)
	dst = appendOmitEmpty(dst, `,"pushType":`, string(e.PushType))
	dst = appendOmitEmpty(dst, `,"target":`, e.Target)
	dst = appendOmitEmpty(dst, `,"deviceId":`, e.DeviceID)
	dst = appendOmitEmpty(dst, `,"platform":`, e.Platform)
	dst = appendOmitEmpty(dst, `,"channel":`, e.Channel)
	dst = append(dst, `,"event":`...)
	dst = AppendJSONString(dst, string(e.Event))
	dst = append(dst, `,"statusCode":`...)
	dst = strconv.AppendInt(dst, e.StatusCode, 10)
	dst = appendOmitEmpty(dst, `,"statusDesc":`, e.StatusDesc)
	if e.Attempt != 0 {
		dst = strconv.AppendInt(append(dst, `,"attempt":`...), int64(e.Attempt), 10)
	}
	if e.LatencyMs != 0 {
		dst = strconv.AppendInt(append(dst, `,"latencyMs":`...), e.LatencyMs, 10)
	}
	dst = appendOmitEmpty(dst, `,"appVersion":`, e.AppVersion)
	dst = appendOmitEmpty(dst, `,"model":`, e.Model)
	dst = appendOmitEmpty(dst, `,"deliveryId":`, e.DeliveryID)
	dst = appendOmitEmpty(dst, `,"vendorMsgId":`, e.VendorMsgID)
	dst = appendOmitEmpty(dst, `,"template":`, e.Template)
	dst = appendOmitEmpty(dst, `,"taskName":`, e.TaskName)
	dst = appendOmitEmpty(dst, `,"token":`, e.Token)
	dst = appendOmitEmpty(dst, `,"callbackUrl":`, e.CallbackURL)
	dst = appendOmitEmpty(dst, `,"notifyId":`, e.NotifyID)
	dst = appendOmitEmpty(dst, `,"receiptAppId":`, e.ReceiptAppID)
	return append(dst, '}')
}

// appendOmitEmpty appends key and s as a JSON string, unless s is empty
// (an omitempty field).
func appendOmitEmpty(dst []byte, key, s string) []byte {
	if s == "" {
		return dst
	}
	return AppendJSONString(append(dst, key...), s)
}

// AppendJSONString appends s to dst as a JSON string, byte for byte as
// encoding/json.Marshal (and the record encoder) encode it: HTML
// characters escaped, invalid UTF-8 replaced. Plain printable ASCII is
// copied without an allocation; safe for concurrent use.
func AppendJSONString(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			b, _ := stdjson.Marshal(s) // a string always encodes
			return append(dst, b...)
		}
	}
	dst = append(dst, '"')
	dst = append(dst, s...)
	return append(dst, '"')
}
