package schema

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Limits of the mPaaS server API that validation enforces.
const (
	MaxSimpleTargets   = 10      // targetMsgkey entries of SIMPLE and TEMPLATE (3029)
	MaxMultipleTargets = 100     // targetMsgs entries of MULTIPLE (3055)
	MaxExtendedParams  = 20      // extendedParams entries (3035)
	MaxInnerExtended   = 10      // extendedParams entries of one MULTIPLE target (3049)
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
// The push strategy of a new scheduled or loop push is checked too (see
// ValidateStrategy), against AcceptedAt when set, else the current time.
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
	if r.SmoothRate < 0 {
		return invalid(CodeInvalidParam, "smoothRate %d must be a positive number of messages a second, or 0 for no cap", r.SmoothRate)
	}
	if r.PushStyle < 0 || r.PushStyle > 2 {
		return invalid(CodeInvalidParam, "pushStyle %d is not 0 (default), 1 (large text) or 2 (image-text)", r.PushStyle)
	}
	if err := validateExtended(r.ExtendedParams, MaxExtendedParams, CodeExtendParamTooMuch); err != nil {
		return err
	}
	if err := r.validateSizes(); err != nil {
		return err
	}
	if err := r.validateVendorFields(); err != nil {
		return err
	}
	if err := r.validateFieldsOfType(); err != nil {
		return err
	}
	if err := r.validateSMS(); err != nil {
		return err
	}
	if r.CallbackURL != "" {
		if err := ValidateCallbackURL(r.CallbackURL); err != nil {
			return err
		}
	}
	if err := r.validateLiveActivity(); err != nil {
		return err
	}
	if err := r.validateStrategy(); err != nil {
		return err
	}
	if err := r.validateTags(); err != nil {
		return err
	}
	if err := r.validateABTest(); err != nil {
		return err
	}
	switch r.Type {
	case PushSimple:
		return r.validateSimple()
	case PushTemplate:
		return r.validateTemplate()
	case PushMultiple:
		return r.validateMultiple()
	case PushBroadcast:
		return r.validateBroadcast()
	default:
		return invalid(CodeInvalidParam, "type %q is not one of SIMPLE, TEMPLATE, MULTIPLE, BROADCAST", r.Type)
	}
}

// targetDeliverType checks the deliverType of a targeted (non-broadcast)
// push.
func (r *Request) targetDeliverType() error {
	switch r.DeliverType {
	case DeliverAndroid, DeliverIOS, DeliverUser, DeliverHarmony, DeliverAlias, DeliverUserAccount, DeliverTag,
		DeliverActivityToken, DeliverActivityID:
		return nil
	}
	return invalid(CodeDeliveryTypeUnsupported, "deliverType %d is not 1 (Android device), 2 (iOS device), 3 (user), 5 (Live Activity push token), 6 (Live Activity id), 7 (HarmonyOS device), 10 (alias), 11 (user account) or 12 (tag)", r.DeliverType)
}

func (r *Request) validateSimple() error {
	if err := r.targetDeliverType(); err != nil {
		return err
	}
	if err := r.validateTargetMsgkey(); err != nil {
		return err
	}
	if (r.Title == "" || r.Content == "") && !r.IsLiveActivity() && r.ABTest == nil { // an A/B test's variants carry the copy
		// A Live Activity's alert is optional (validateLiveActivity).
		return invalid(CodePayloadNotEnough, "title and content are both required")
	}
	return r.validateContent(r.Content)
}

func (r *Request) validateContent(content string) error {
	if n := utf8.RuneCountInString(content); n > MaxContentChars {
		return invalid(CodeSinglePushContentTooLong, "content has %d characters, at most %d are allowed", n, MaxContentChars)
	}
	if n := r.payloadBytes(); n > MaxPayloadBytes {
		return invalid(CodeMsgPayloadTooLong, "message payload is %d bytes, at most %d are allowed", n, MaxPayloadBytes)
	}
	return nil
}

func (r *Request) validateTemplateName() error {
	if r.TemplateName == "" {
		return invalid(CodeNeedTemplate, "templateName is empty: %s push renders a template", r.Type)
	}
	return ValidateTemplateName(r.TemplateName)
}

// ValidateTemplateName checks a template name: not empty, no comma, at
// most 64 characters.
func ValidateTemplateName(name string) error {
	switch {
	case name == "":
		return invalid(CodeTemplateNameNull, "template name is empty")
	case strings.Contains(name, ","):
		return invalid(CodeTemplateNameInvalid, "template name %q contains a comma", name)
	case utf8.RuneCountInString(name) > 64:
		return invalid(CodeTemplateNameInvalid, "template name %q is longer than 64 characters", name)
	}
	return nil
}

func (r *Request) validateTemplate() error {
	if err := r.targetDeliverType(); err != nil {
		return err
	}
	if err := r.validateTargetMsgkey(); err != nil {
		return err
	}
	if err := r.validateTemplateName(); err != nil {
		return err
	}
	return r.validateContent("")
}

func (r *Request) validateMultiple() error {
	if err := r.targetDeliverType(); err != nil {
		return err
	}
	if len(r.TargetMsgs) == 0 {
		return invalid(CodeTokenOrUserIDNull, "targetMsgs has no targets")
	}
	if len(r.TargetMsgs) > MaxMultipleTargets {
		return invalid(CodeMultipleTargetTooMuch, "targetMsgs has %d targets, at most %d are allowed", len(r.TargetMsgs), MaxMultipleTargets)
	}
	seen := map[string]bool{}
	for i, t := range r.TargetMsgs {
		if t.Target == "" {
			return invalid(CodeTokenOrUserIDNull, "targetMsgs[%d] has an empty target", i)
		}
		if t.MsgKey == "" {
			return invalid(CodeInvalidParam, "targetMsgs[%d] (%s) has an empty msgKey", i, t.Target)
		}
		if seen[t.MsgKey] {
			return invalid(CodeInvalidParam, "targetMsgs[%d] repeats msgKey %q; msgKeys must be unique", i, t.MsgKey)
		}
		seen[t.MsgKey] = true
		if err := validateExtended(t.ExtendedParams, MaxInnerExtended, CodeMultipleInnerExtendTooMuch); err != nil {
			return err
		}
		if len(t.ExtendedParams) > 0 {
			merged := StringMap{}
			for k, v := range r.ExtendedParams {
				merged[k] = v
			}
			for k, v := range t.ExtendedParams {
				merged[k] = v
			}
			if err := validateSpecialExtended(merged); err != nil {
				return err
			}
		}
	}
	if err := r.validateTemplateName(); err != nil {
		return err
	}
	return r.validateContent("")
}

// Broadcast audience values (§7.2.6).
const (
	PushStatusBound   = 0 // users bound (logged in)
	PushStatusAll     = 1 // every device, bound or not
	PushStatusUnbound = 2 // users unbound (logged out)

	AndroidChannelSelf    = 1 // the self-built channel only
	AndroidChannelDefault = 2 // vendor channel where the device has one

	TimeModeDays  = 0 // bindPeriod / unBindPeriod in days classes
	TimeModeRange = 1 // explicit bind / unbind time ranges
)

// PeriodDays maps bindPeriod / unBindPeriod 1–4 to days (4 = permanent,
// returned as 0).
func PeriodDays(p int) int {
	switch p {
	case 1:
		return 7
	case 2:
		return 15
	case 3:
		return 60
	}
	return 0
}

func (r *Request) validateBroadcast() error {
	switch r.DeliverType {
	case DeliverAndroid, DeliverIOS, DeliverHarmony:
	default:
		return invalid(CodeBroadcastOnlyByDevice, "broadcast deliverType %d: only 1 (Android), 2 (iOS) or 7 (HarmonyOS) devices can be broadcast to", r.DeliverType)
	}
	if r.MsgKey == "" {
		return invalid(CodeInvalidParam, "msgkey is empty: a broadcast carries one business message id")
	}
	if err := r.validateTemplateName(); err != nil {
		return err
	}
	status := PushStatusBound
	if r.PushStatus != nil {
		status = *r.PushStatus
	}
	if status < PushStatusBound || status > PushStatusUnbound {
		return invalid(CodeInvalidParam, "pushStatus %d is not 0 (bound users), 1 (all) or 2 (unbound users)", status)
	}
	if r.AndroidChannel < 0 || r.AndroidChannel > AndroidChannelDefault {
		return invalid(CodeAndroidChannelInvalid, "androidChannel %d is not 1 (self-built channel) or 2 (default channel)", r.AndroidChannel)
	}
	if status == PushStatusAll && r.AndroidChannel == AndroidChannelSelf && r.DeliverType == DeliverAndroid {
		return invalid(CodeBroadcastNoSelfChannel, "broadcast to all users cannot use the self-built channel (androidChannel 1)")
	}
	switch r.TimeMode {
	case TimeModeDays:
		if r.BindPeriod != 0 && (r.BindPeriod < 1 || r.BindPeriod > 4) {
			return invalid(CodeInvalidParam, "bindPeriod %d is not 1 (7 days), 2 (15 days), 3 (60 days) or 4 (permanent)", r.BindPeriod)
		}
		if status != PushStatusBound {
			if r.UnBindPeriod == 0 {
				return invalid(CodeBroadcastNeedUnbindPeriod, "unBindPeriod is required when pushStatus is %d", status)
			}
			if r.UnBindPeriod < 1 || r.UnBindPeriod > 4 {
				return invalid(CodeBroadcastUnbindPeriodInvalid, "unBindPeriod %d is not 1 (7 days), 2 (15 days), 3 (60 days) or 4 (permanent)", r.UnBindPeriod)
			}
		}
	case TimeModeRange:
		if status == PushStatusBound && !validRange(r.BindStartTime, r.BindEndTime) {
			return invalid(CodeBroadcastTimeRangeInvalid, "timeMode 1 needs bindStartTime < bindEndTime, got %d..%d", r.BindStartTime, r.BindEndTime)
		}
		if status != PushStatusBound && !validRange(r.UnBindStartTime, r.UnBindEndTime) {
			return invalid(CodeBroadcastTimeRangeInvalid, "timeMode 1 needs unBindStartTime < unBindEndTime, got %d..%d", r.UnBindStartTime, r.UnBindEndTime)
		}
	default:
		return invalid(CodeInvalidParam, "timeMode %d is not 0 (fixed days) or 1 (time range)", r.TimeMode)
	}
	return r.validateContent("")
}

func validRange(start, end int64) bool { return start > 0 && end > start }

func (r *Request) validateTargetMsgkey() error {
	if len(r.TargetMsgkey) == 0 {
		return invalid(CodeTokenOrUserIDNull, "targetMsgkey has no targets")
	}
	if maxTargets := r.maxTargets(); len(r.TargetMsgkey) > maxTargets {
		return invalid(CodeSinglePushTargetTooMuch, "targetMsgkey has %d targets, at most %d are allowed", len(r.TargetMsgkey), maxTargets)
	}
	for _, k := range r.TargetMsgkey.SortedKeys() {
		if k == "" {
			return invalid(CodeTokenOrUserIDNull, "targetMsgkey has an empty target")
		}
		if r.TargetMsgkey[k] == "" {
			return invalid(CodeInvalidParam, "target %q has an empty msgKey", k)
		}
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
	return validateSpecialExtended(m)
}

// payloadBytes is the size of what reaches the device: title, content,
// extended parameters and a Live Activity's content state as JSON.
func (r *Request) payloadBytes() int {
	b, _ := json.Marshal(struct {
		T string     `json:"title"`
		C string     `json:"content"`
		E StringMap  `json:"ext,omitempty"`
		S JSONObject `json:"state,omitempty"`
	}{r.Title, r.Content, r.ExtendedParams, r.ActivityContentState})
	return len(b)
}

// validateFieldsOfType refuses fields that the request's push type never
// reads, so that no field is accepted and then ignored: content on the
// template types (it comes from the template), template fields on SIMPLE,
// targets of another type, the broadcast audience filters on targeted
// pushes, and a strategy on an immediate push.
func (r *Request) validateFieldsOfType() error {
	refuse := func(field, why string) error {
		return invalid(CodeInvalidParam, "%s is not read by a %s push: %s", field, r.Type, why)
	}
	switch r.Type {
	case PushSimple:
		switch {
		case r.TemplateName != "":
			return refuse("templateName", "SIMPLE sends title and content; use TEMPLATE to render a template")
		case len(r.TemplateKeyValue) > 0:
			return refuse("templateKeyValue", "SIMPLE renders no template")
		}
	case PushTemplate, PushMultiple, PushBroadcast:
		switch {
		case r.Title != "":
			return refuse("title", "the title comes from the template")
		case r.Content != "":
			return refuse("content", "the content comes from the template")
		}
	}
	if r.Type != PushMultiple && len(r.TargetMsgs) > 0 {
		return refuse("targetMsgs", "only MULTIPLE takes targetMsgs; use targetMsgkey")
	}
	if (r.Type == PushMultiple || r.Type == PushBroadcast) && len(r.TargetMsgkey) > 0 {
		return refuse("targetMsgkey", "MULTIPLE takes targetMsgs and BROADCAST reaches its audience")
	}
	if r.Type != PushBroadcast {
		broadcastOnly := []struct {
			name string
			set  bool
		}{
			{"msgkey", r.MsgKey != ""}, {"pushStatus", r.PushStatus != nil}, {"bindPeriod", r.BindPeriod != 0},
			{"unBindPeriod", r.UnBindPeriod != 0}, {"timeMode", r.TimeMode != 0},
			{"bindStartTime", r.BindStartTime != 0}, {"bindEndTime", r.BindEndTime != 0},
			{"unBindStartTime", r.UnBindStartTime != 0}, {"unBindEndTime", r.UnBindEndTime != 0},
		}
		for _, f := range broadcastOnly {
			if f.set {
				return refuse(f.name, "it is a filter of the BROADCAST audience")
			}
		}
	}
	if r.StrategyType == StrategyImmediate && r.StrategyContent != nil && r.ScheduleID == "" {
		return refuse("StrategyContent", "strategyType 0 pushes at once; set strategyType 1 (scheduled) or 2 (loop)")
	}
	return nil
}
