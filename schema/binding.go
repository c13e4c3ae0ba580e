package schema

import (
	"encoding/json"
	"fmt"
)

// BindingOp is what a record on push.bindings.R asks the registry to do.
type BindingOp string

// Registry operations.
const (
	// OpReport records a device: platform, vendor, tokens, app version, model.
	OpReport BindingOp = "report"
	// OpBind binds a user id to the device.
	OpBind BindingOp = "bind"
	// OpUnbind removes the user binding of the device.
	OpUnbind BindingOp = "unbind"
	// OpSetAlias gives the device an alias; the device that set an alias
	// last receives alias pushes. OpUnsetAlias removes it.
	OpSetAlias   BindingOp = "set_alias"
	OpUnsetAlias BindingOp = "unset_alias"
	// OpSetAccount associates the device with a user account (its 10 most
	// recent devices receive account pushes). OpUnsetAccount removes it.
	OpSetAccount   BindingOp = "set_account"
	OpUnsetAccount BindingOp = "unset_account"
	// OpTagAdd and OpTagRemove subscribe and unsubscribe UserID to Tags
	// (see ValidateTags). DeviceID may be empty: tags belong to users.
	OpTagAdd    BindingOp = "tag_add"
	OpTagRemove BindingOp = "tag_remove"
	// OpInvalidate marks the device's VendorToken dead (published by the
	// sender when a vendor reports it); a later report with a new token
	// makes the device reachable again.
	OpInvalidate BindingOp = "invalidate"
	// OpActivityToken binds ActivityToken, the push token of an iOS Live
	// Activity of the device, to ActivityID (mPaaS SDK
	// liveActivityBindWithActivityId:pushToken:). A device has one token per
	// activity: a newer one replaces it. deliverType 6 pushes reach every
	// token bound to the activity id, deliverType 5 one token.
	OpActivityToken BindingOp = "activity_token"
	// OpActivityTokenRemove removes the device's token of ActivityID, when
	// the activity ended. An invalidate record naming a Live Activity token
	// (APNs called it dead) removes it too.
	OpActivityTokenRemove BindingOp = "activity_token_remove"
	// OpSetPhone gives UserID the phone number Phone (E.164, or a
	// mainland China mobile number of 11 digits, stored as +86...), to
	// which SMS supplements (smsStrategy) of pushes to the user go;
	// OpUnsetPhone removes it. DeviceID may be empty: phone numbers belong
	// to users.
	OpSetPhone   BindingOp = "set_phone"
	OpUnsetPhone BindingOp = "unset_phone"
)

// OfUser reports whether the op is about a user rather than a device
// (tag_add, tag_remove, set_phone, unset_phone): its record may leave
// DeviceID empty and is then keyed by the user id.
func (op BindingOp) OfUser() bool {
	switch op {
	case OpTagAdd, OpTagRemove, OpSetPhone, OpUnsetPhone:
		return true
	}
	return false
}

// Binding is one registry record, keyed by device id on push.bindings.R.
// TS (Unix ms) orders updates of the same device: the newest wins.
type Binding struct {
	Op          BindingOp `json:"op"`
	Region      string    `json:"region"`
	AppID       string    `json:"appId"`
	WorkspaceID string    `json:"workspaceId,omitempty"`
	DeviceID    string    `json:"deviceId"`
	Platform    string    `json:"platform,omitempty"`
	Vendor      string    `json:"vendor,omitempty"`
	VendorToken string    `json:"vendorToken,omitempty"`
	SelfToken   string    `json:"selfToken,omitempty"`
	AppVersion  string    `json:"appVersion,omitempty"`
	Model       string    `json:"model,omitempty"`
	UserID      string    `json:"userId,omitempty"`
	Alias       string    `json:"alias,omitempty"`
	UserAccount string    `json:"userAccount,omitempty"`
	Tags        []string  `json:"tags,omitempty"`
	// ActivityID and ActivityToken: the Live Activity and its push token
	// (OpActivityToken; OpActivityTokenRemove names the activity only).
	ActivityID    string `json:"activityId,omitempty"`
	ActivityToken string `json:"activityToken,omitempty"`
	// Phone is the user's phone number of a set_phone record.
	Phone string `json:"phone,omitempty"`
	TS    int64  `json:"ts,omitempty"`
}

// MaxActivityIDBytes bounds a Live Activity id.
const MaxActivityIDBytes = 256

// Key is what the record is about: the device id, or for user records
// (tags, phone numbers) without a device the user id.
func (b *Binding) Key() string {
	if b.DeviceID != "" {
		return b.DeviceID
	}
	return b.UserID
}

// KafkaKey is the Kafka key of the record on push.bindings.R:
// "<appId>/<Key()>" (AppKey), so that the records of one app's device or
// user keep their order and never share a key with another app's.
func (b *Binding) KafkaKey() string { return AppKey(b.AppID, b.Key()) }

// DecodeBinding parses and checks a registry record; a bad one is a
// *ValidationError with the result code to reject it with.
func DecodeBinding(b []byte) (*Binding, error) {
	if !utf8Valid(b) {
		return nil, invalid(CodeRequestShouldBeUTF8, "binding record is not valid UTF-8")
	}
	var r Binding
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, invalid(CodeInvalidParam, "binding record is not valid JSON: %v", err)
	}
	if err := r.validateSizes(); err != nil {
		return nil, err
	}
	switch {
	case r.AppID == "":
		return nil, invalid(CodeNeedAppIDWorkspaceID, "appId is empty")
	case r.DeviceID == "" && !r.Op.OfUser():
		return nil, invalid(CodeInvalidParam, "deviceId is empty")
	}
	switch r.Op {
	case OpReport:
		switch r.Platform {
		case PlatformAndroid, PlatformIOS, PlatformHarmony:
		default:
			return nil, invalid(CodeOSTypeNotSupported, "platform %q is not one of android, ios, harmony", r.Platform)
		}
		if r.VendorToken == "" && r.SelfToken == "" {
			return nil, invalid(CodeInvalidParam, "report of device %q has neither vendorToken nor selfToken", r.DeviceID)
		}
	case OpBind:
		if r.UserID == "" {
			return nil, invalid(CodeInvalidParam, "bind of device %q has no userId", r.DeviceID)
		}
	case OpUnbind, OpUnsetAlias, OpUnsetAccount:
	case OpSetAlias:
		if r.Alias == "" {
			return nil, invalid(CodeInvalidParam, "set_alias of device %q has no alias", r.DeviceID)
		}
	case OpSetAccount:
		if r.UserAccount == "" {
			return nil, invalid(CodeInvalidParam, "set_account of device %q has no userAccount", r.DeviceID)
		}
	case OpTagAdd, OpTagRemove:
		if r.UserID == "" {
			return nil, invalid(CodeNeedUserID, "%s needs a userId: tags belong to users", r.Op)
		}
		if err := ValidateTags("tags", r.Tags); err != nil {
			return nil, err
		}
	case OpInvalidate:
		if r.VendorToken == "" {
			return nil, invalid(CodeInvalidParam, "invalidate of device %q names no vendorToken", r.DeviceID)
		}
	case OpSetPhone:
		if r.UserID == "" {
			return nil, invalid(CodeNeedUserID, "set_phone needs the userId the phone number belongs to")
		}
		if _, err := NormalizePhone(r.Phone); err != nil {
			return nil, err
		}
	case OpUnsetPhone:
		if r.UserID == "" {
			return nil, invalid(CodeNeedUserID, "unset_phone needs the userId whose phone number to remove")
		}
	case OpActivityToken:
		if r.ActivityID == "" || r.ActivityToken == "" {
			return nil, invalid(CodeInvalidParam, "activity_token of device %q needs activityId and activityToken (the Live Activity's push token)", r.DeviceID)
		}
		if len(r.ActivityID) > MaxActivityIDBytes {
			return nil, invalid(CodeInvalidParam, "activityId of device %q has %d bytes, at most %d are allowed", r.DeviceID, len(r.ActivityID), MaxActivityIDBytes)
		}
	case OpActivityTokenRemove:
		if r.ActivityID == "" {
			return nil, invalid(CodeInvalidParam, "activity_token_remove of device %q names no activityId", r.DeviceID)
		}
		if r.ActivityToken != "" {
			return nil, invalid(CodeInvalidParam, "activity_token_remove removes the device's token of activity %q and takes no activityToken", r.ActivityID)
		}
	default:
		return nil, invalid(CodeInvalidParam, "op %q is not one of report, bind, unbind, set_alias, unset_alias, set_account, unset_account, tag_add, tag_remove, set_phone, unset_phone, invalidate, activity_token, activity_token_remove", r.Op)
	}
	if len(r.Tags) > 0 && r.Op != OpTagAdd && r.Op != OpTagRemove {
		return nil, invalid(CodeInvalidParam, "a %s record does not take tags: tags are added and removed with tag_add and tag_remove records naming the user", r.Op)
	}
	if (r.ActivityID != "" || r.ActivityToken != "") && r.Op != OpActivityToken && r.Op != OpActivityTokenRemove {
		return nil, invalid(CodeInvalidParam, "a %s record does not take activityId or activityToken: Live Activity tokens are bound with activity_token records", r.Op)
	}
	if r.Phone != "" && r.Op != OpSetPhone {
		return nil, invalid(CodeInvalidParam, "a %s record does not take a phone: phone numbers are set with set_phone records naming the user", r.Op)
	}
	return &r, nil
}

func itoa(i int) string { return fmt.Sprint(i) }
