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
)

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
	TS          int64     `json:"ts,omitempty"`
}

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
	switch {
	case r.AppID == "":
		return nil, invalid(CodeNeedAppIDWorkspaceID, "appId is empty")
	case r.DeviceID == "":
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
	case OpUnbind:
	default:
		return nil, invalid(CodeInvalidParam, "op %q is not one of report, bind, unbind", r.Op)
	}
	return &r, nil
}

func itoa(i int) string { return fmt.Sprint(i) }
