package schema

import (
	"encoding/json"
	"unicode/utf8"
)

// Limits of the mPaaS server API that validation enforces.
const (
	MaxSimpleTargets   = 10      // targetMsgkey entries of SIMPLE and TEMPLATE (3029)
	MaxMultipleTargets = 100     // targetMsgs entries of MULTIPLE (3055)
	MaxExtendedParams  = 20      // extendedParams entries (3035)
	MaxExpiredSeconds  = 1209600 // 14 days (3026)
	MaxContentChars    = 4000    // content length in characters (3043)
	MaxPayloadBytes    = 4096    // title+content+extendedParams as sent (3050)
)

// Regions lists the served regions (MiPush privacy regions): cn Mainland
// China, ru Russia, in India, eu EEA and UK, sg every other country.
func Regions() []string { return []string{"cn", "ru", "in", "eu", "sg"} }

// ValidRegion reports whether r is one of Regions.
func ValidRegion(r string) bool {
	for _, x := range Regions() {
		if x == r {
			return true
		}
	}
	return false
}

// systemExtendedKeys are extension keys the system sets itself (§7.2.11);
// a request may not use them.
var systemExtendedKeys = map[string]bool{
	"notifyType": true, "action": true, "silent": true, "pushType": true,
	"templateCode": true, "channel": true, "taskId": true,
}

// Validate checks the request against the mPaaS rules of its push type and
// returns a *ValidationError carrying the documented result code for the
// first rule broken, or nil. It does not consult templates or devices.
func (r *Request) Validate() error {
	if r.AppID == "" || r.WorkspaceID == "" {
		return invalid(CodeNeedAppIDWorkspaceID, "appId and workspaceId are both required")
	}
	if !ValidRegion(r.Region) {
		return invalid(CodeInvalidParam, "region %q is not one of cn, ru, in, eu, sg", r.Region)
	}
	if r.TaskName == "" {
		return invalid(CodeTaskNameNull, "taskName is empty")
	}
	if r.ExpiredSeconds <= 0 {
		return invalid(CodeExpiredSecondsWrong, "expiredSeconds must be a positive number of seconds, got %d", r.ExpiredSeconds)
	}
	if r.ExpiredSeconds > MaxExpiredSeconds {
		return invalid(CodeExpiredTimeTooLong, "expiredSeconds %d exceeds the maximum of %d (14 days)", r.ExpiredSeconds, MaxExpiredSeconds)
	}
	if r.PushStyle < 0 || r.PushStyle > 2 {
		return invalid(CodeInvalidParam, "pushStyle %d is not 0 (default), 1 (large text) or 2 (image-text)", r.PushStyle)
	}
	if err := validateExtended(r.ExtendedParams, MaxExtendedParams, CodeExtendParamTooMuch); err != nil {
		return err
	}
	switch r.Type {
	case PushSimple:
		return r.validateSimple()
	case PushTemplate, PushMultiple, PushBroadcast:
		return invalid(CodeInvalidParam, "push type %s is not served yet; use SIMPLE", r.Type)
	default:
		return invalid(CodeInvalidParam, "type %q is not one of SIMPLE, TEMPLATE, MULTIPLE, BROADCAST", r.Type)
	}
}

func (r *Request) validateSimple() error {
	switch r.DeliverType {
	case DeliverAndroid, DeliverIOS, DeliverUser:
	default:
		return invalid(CodeDeliveryTypeUnsupported, "deliverType %d is not 1 (Android device), 2 (iOS device) or 3 (user)", r.DeliverType)
	}
	if len(r.TargetMsgkey) == 0 {
		return invalid(CodeTokenOrUserIDNull, "targetMsgkey has no targets")
	}
	if len(r.TargetMsgkey) > MaxSimpleTargets {
		return invalid(CodeSinglePushTargetTooMuch, "targetMsgkey has %d targets, at most %d are allowed", len(r.TargetMsgkey), MaxSimpleTargets)
	}
	for _, k := range r.TargetMsgkey.SortedKeys() {
		if k == "" {
			return invalid(CodeTokenOrUserIDNull, "targetMsgkey has an empty target")
		}
		if r.TargetMsgkey[k] == "" {
			return invalid(CodeInvalidParam, "target %q has an empty msgKey", k)
		}
	}
	if r.Title == "" || r.Content == "" {
		return invalid(CodePayloadNotEnough, "title and content are both required")
	}
	if n := utf8.RuneCountInString(r.Content); n > MaxContentChars {
		return invalid(CodeSinglePushContentTooLong, "content has %d characters, at most %d are allowed", n, MaxContentChars)
	}
	if n := r.payloadBytes(); n > MaxPayloadBytes {
		return invalid(CodeMsgPayloadTooLong, "message payload is %d bytes, at most %d are allowed", n, MaxPayloadBytes)
	}
	return nil
}

func validateExtended(m StringMap, max int, tooMany ResultCode) error {
	if len(m) > max {
		return invalid(tooMany, "extendedParams has %d entries, at most %d are allowed", len(m), max)
	}
	for _, k := range m.SortedKeys() {
		if systemExtendedKeys[k] {
			return invalid(CodeInvalidExtendParam, "extendedParams key %q is reserved by the system", k)
		}
		if k == "" {
			return invalid(CodeInvalidExtendParam, "extendedParams has an empty key")
		}
	}
	return nil
}

// payloadBytes is the size of what reaches the device: title, content and
// extended parameters as JSON.
func (r *Request) payloadBytes() int {
	b, _ := json.Marshal(struct {
		T string    `json:"title"`
		C string    `json:"content"`
		E StringMap `json:"ext,omitempty"`
	}{r.Title, r.Content, r.ExtendedParams})
	return len(b)
}
