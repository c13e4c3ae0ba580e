package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ChannelSMS is the channel name of SMS deliveries (the mPaaS SMS
// supplement, sent through Alibaba Cloud SMS): their events carry it, so
// statistics filtered by channel count SMS apart from pushes.
const ChannelSMS = "sms"

// SMS strategies (smsStrategy, mPaaS §7.2.3): how an SMS supplements a push.
const (
	SMSStrategyNone       = 0 // no SMS (default)
	SMSStrategyResend     = 1 // an SMS when the push has not arrived within its validity
	SMSStrategyConcurrent = 2 // an SMS at the same time as the push
)

// Limits of the SMS supplement fields, from Alibaba Cloud SMS: a sign name
// of 2 to 12 characters (Chinese or English letters and digits, not digits
// only, no symbols or spaces), a template code "SMS_" followed by digits,
// template values of at most MaxSMSParamRunes characters each, and the
// template parameter as a JSON object of at most MaxSMSTemplateParamBytes.
const (
	MinSMSSignRunes          = 2
	MaxSMSSignRunes          = 12
	MaxSMSTemplateCodeDigits = 20
	MaxSMSParamRunes         = 35
	MaxSMSTemplateParamBytes = 2048
)

// SMSDevicePrefix starts the device id of an SMS delivery: "sms:" and the
// user id the phone number belongs to. SMS deliveries are keyed, counted
// and correlated by it like push deliveries by their device.
const SMSDevicePrefix = "sms:"

// SMSDeviceID is the device id of the SMS deliveries of a user.
func SMSDeviceID(userID string) string { return SMSDevicePrefix + userID }

// validateSMS checks the SMS supplement fields (mPaaS §7.2.3): smsStrategy
// 0, 1 or 2; with 1 or 2 smsSignName, smsTemplateCode and smsTemplateParam
// are required and checked as Alibaba Cloud SMS checks them; without one,
// none of the three may be set. The SMS goes to the phone number of the
// target's user, so only targets that name one user take it: users
// (deliverType 3) and devices or aliases (1, 2, 7, 10) through the user the
// device is bound to. Every refusal is 3028.
func (r *Request) validateSMS() error {
	switch r.SmsStrategy {
	case SMSStrategyNone:
		if r.SmsSignName != "" || r.SmsTemplateCode != "" || r.SmsTemplateParam != "" {
			return invalid(CodeInvalidParam, "smsSignName, smsTemplateCode and smsTemplateParam are only read with smsStrategy 1 (resend) or 2 (concurrent); set smsStrategy or leave them out")
		}
		return nil
	case SMSStrategyResend, SMSStrategyConcurrent:
	default:
		return invalid(CodeInvalidParam, "smsStrategy %d is not 0 (none), 1 (resend when the push has not arrived) or 2 (concurrent)", r.SmsStrategy)
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"smsSignName", r.SmsSignName}, {"smsTemplateCode", r.SmsTemplateCode}, {"smsTemplateParam", r.SmsTemplateParam}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return invalid(CodeInvalidParam, "smsStrategy %d needs smsSignName, smsTemplateCode and smsTemplateParam; missing: %s", r.SmsStrategy, strings.Join(missing, ", "))
	}
	if r.Type == PushBroadcast {
		return invalid(CodeInvalidParam, "smsStrategy is not available for BROADCAST: an SMS supplements a push to one user (deliverType 3) or to devices bound to users (1, 2, 7, 10)")
	}
	switch r.DeliverType {
	case DeliverUserAccount, DeliverTag, DeliverActivityToken, DeliverActivityID:
		return invalid(CodeInvalidParam, "smsStrategy is not available for deliverType %d: the SMS goes to the phone number of one user, so the targets must be users (3) or devices and aliases (1, 2, 7, 10) bound to users", r.DeliverType)
	}
	if err := ValidateSMSSignName(r.SmsSignName); err != nil {
		return err
	}
	if err := ValidateSMSTemplateCode(r.SmsTemplateCode); err != nil {
		return err
	}
	_, err := NormalizeSMSTemplateParam(r.SmsTemplateParam)
	return err
}

// ValidateSMSSignName checks an SMS sign name as Alibaba Cloud SMS
// requires it: 2 to 12 characters, letters (Chinese or Latin) and digits
// only, not digits only. The error is a *ValidationError (3028).
func ValidateSMSSignName(s string) error {
	n := utf8.RuneCountInString(s)
	if n < MinSMSSignRunes || n > MaxSMSSignRunes {
		return invalid(CodeInvalidParam, "smsSignName %q has %d characters; an SMS sign name has %d to %d", s, n, MinSMSSignRunes, MaxSMSSignRunes)
	}
	digits := 0
	for _, c := range s {
		switch {
		case unicode.IsDigit(c):
			digits++
		case unicode.IsLetter(c):
		default:
			return invalid(CodeInvalidParam, "smsSignName %q contains %q; an SMS sign name is letters and digits only, without symbols or spaces", s, c)
		}
	}
	if digits == n {
		return invalid(CodeInvalidParam, "smsSignName %q is digits only; an SMS sign name names the company, app or site", s)
	}
	return nil
}

// ValidateSMSTemplateCode checks an SMS template code: "SMS_" followed by
// 1 to 20 digits (e.g. SMS_216070269). The error is a *ValidationError
// (3028).
func ValidateSMSTemplateCode(s string) error {
	digits, ok := strings.CutPrefix(s, "SMS_")
	valid := ok && digits != "" && len(digits) <= MaxSMSTemplateCodeDigits
	for _, c := range digits {
		valid = valid && c >= '0' && c <= '9'
	}
	if !valid {
		return invalid(CodeInvalidParam, "smsTemplateCode %q is not an SMS template code: SMS_ followed by up to %d digits, such as SMS_216070269", s, MaxSMSTemplateCodeDigits)
	}
	return nil
}

// NormalizeSMSTemplateParam checks smsTemplateParam and returns it as the
// template parameter Alibaba Cloud SMS takes: a JSON object of strings.
// Values may be given as strings, numbers or booleans ({"code": 123456},
// as the mPaaS guide writes it); numbers and booleans become their JSON
// text ({"code":"123456"}). Keys are sorted, so equal parameters give
// equal text. Names must be letters, digits and underscores; a value has
// at most MaxSMSParamRunes characters; objects, arrays and null are
// refused. The error is a *ValidationError (3028).
func NormalizeSMSTemplateParam(s string) (string, error) {
	if len(s) > MaxSMSTemplateParamBytes {
		return "", invalid(CodeInvalidParam, "smsTemplateParam has %d bytes, at most %d are allowed", len(s), MaxSMSTemplateParamBytes)
	}
	var raw map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&raw); err != nil || raw == nil || dec.More() {
		return "", invalid(CodeInvalidParam, "smsTemplateParam %q is not a JSON object of template values, such as {\"code\":\"123456\"}", s)
	}
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		if k == "" || strings.IndexFunc(k, func(c rune) bool { return !(c == '_' || unicode.IsLetter(c) || unicode.IsDigit(c)) }) >= 0 {
			return "", invalid(CodeInvalidParam, "smsTemplateParam has the name %q; template variable names are letters, digits and underscores", k)
		}
		v = bytes.TrimSpace(v)
		var str string
		switch {
		case len(v) > 0 && v[0] == '"':
			_ = json.Unmarshal(v, &str) // valid JSON: decoded above
		case len(v) > 0 && (v[0] == '-' || (v[0] >= '0' && v[0] <= '9')), string(v) == "true", string(v) == "false":
			str = string(v)
		default:
			return "", invalid(CodeInvalidParam, "smsTemplateParam value of %q is %s; a template value is a string or a number", k, v)
		}
		if n := utf8.RuneCountInString(str); n > MaxSMSParamRunes {
			return "", invalid(CodeInvalidParam, "smsTemplateParam value of %q has %d characters, at most %d are allowed", k, n, MaxSMSParamRunes)
		}
		out[k] = str
	}
	b, err := json.Marshal(out) // map keys are written sorted
	if err != nil {
		return "", fmt.Errorf("encoding smsTemplateParam: %w", err)
	}
	return string(b), nil
}

// NormalizePhone returns the E.164 form of a phone number bound to a user:
// an E.164 number (+, a country code and the subscriber number, 8 to 15
// digits in all) is kept; a mainland China mobile number of 11 digits
// (1, then 3 to 9, then 9 digits) becomes +86 and the number. A +86 number
// must be such a mobile number, since only mobiles receive SMS. The error
// is a *ValidationError (3028) saying which form was expected.
func NormalizePhone(s string) (string, error) {
	if isMainlandMobile(s) {
		return "+86" + s, nil
	}
	digits, ok := strings.CutPrefix(s, "+")
	if !ok || len(digits) < 8 || len(digits) > 15 || digits[0] == '0' || !allDigits(digits) {
		return "", invalid(CodeInvalidParam, "phone %q is neither an E.164 number (+, the country code and the number: 8 to 15 digits, such as +6591234567) nor a mainland China mobile number (11 digits such as 13800138000)", s)
	}
	if rest, cn := strings.CutPrefix(digits, "86"); cn && !isMainlandMobile(rest) {
		return "", invalid(CodeInvalidParam, "phone %q is a +86 number but not a mainland China mobile number (1, then 3 to 9, then 9 digits); only mobiles receive SMS", s)
	}
	return s, nil
}

func isMainlandMobile(s string) bool {
	return len(s) == 11 && s[0] == '1' && s[1] >= '3' && s[1] <= '9' && allDigits(s)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// SMSResend is what an SMS held for smsStrategy 1 (resend) needs to decide,
// when the validity of the push it supplements has ended, whether it is
// sent: it is sent only if none of PushDeliveries (the push deliveries of
// the same message to the same user) has arrived.
type SMSResend struct {
	// PushDeliveries are the delivery ids of the user's push deliveries
	// of the message, sorted.
	PushDeliveries []string `json:"pushDeliveries"`
	// PushExpireAt is the end of the push's validity (Unix ms), when the
	// decision is due.
	PushExpireAt int64 `json:"pushExpireAt"`
}

// SortedDeliveryIDs returns the delivery ids (under k) of the devices of
// one message of app appID, sorted and without repeats.
func SortedDeliveryIDs(k IDKey, appID, msgID string, deviceIDs []string) []string {
	seen := map[string]bool{}
	out := make([]string, 0, len(deviceIDs))
	for _, d := range deviceIDs {
		id := k.DeliveryID(appID, msgID, d)
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}
