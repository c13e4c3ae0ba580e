package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// ControlOp names what a control record asks for.
type ControlOp string

// Control operations.
const (
	// ControlRevoke takes back a message (by msg id, for SIMPLE and
	// TEMPLATE pushes) or a whole task (by task id, for MULTIPLE and
	// BROADCAST pushes): deliveries not yet sent end as revoked, those
	// already sent are recalled where the vendor can.
	ControlRevoke ControlOp = "revoke"
)

// RevokeWindow is how long after a push was accepted it can still be
// revoked (mPaaS: 7 days).
const RevokeWindow = 7 * 24 * time.Hour

// Control is one record of the compacted topic push.control.R, keyed by
// the msg id or task id it names (ControlKey). Records are facts that never
// change once written: a second revoke of the same id writes the same key
// again and changes nothing. TS and AcceptedAt are Unix milliseconds.
type Control struct {
	Op     ControlOp `json:"op"`
	Region string    `json:"region"`
	AppID  string    `json:"appId"`
	// Exactly one of MsgID and TaskID is set.
	MsgID  string `json:"msgId,omitempty"`
	TaskID string `json:"taskId,omitempty"`
	// Target optionally narrows a revoke by msg id to one target (the
	// mPaaS targetId: device id or user id); empty revokes every delivery
	// of the message.
	Target string `json:"target,omitempty"`
	// TS is when the revoke was asked for.
	TS int64 `json:"ts"`
	// Reason is free text shown on the revoked events; optional.
	Reason string `json:"reason,omitempty"`
}

// ControlKey is the Kafka key of a control record: "<appId>/msg:<id>"
// (with "/<target>" when narrowed to a target) or "<appId>/task:<id>", so
// that neither another app's revoke nor a msg id equal to a task id ever
// replaces it in the compacted topic.
func (c *Control) ControlKey() string {
	if c.MsgID != "" && c.Target != "" {
		return c.AppID + "/msg:" + c.MsgID + "/" + c.Target
	}
	if c.MsgID != "" {
		return c.AppID + "/msg:" + c.MsgID
	}
	return c.AppID + "/task:" + c.TaskID
}

// ControlRetention is how long a revoke matters: a revoke names a push of
// the last RevokeWindow, whose deliveries live at most MaxExpiredSeconds
// after its acceptance, so none is left ControlRetention after the revoke.
// push.control.R deletes records older than that, and the revoke watchers
// forget them.
const ControlRetention = MaxExpiredSeconds*time.Second + 24*time.Hour

// Matches reports whether the control record names the delivery d (same
// app and the msg id or task id of the record).
func (c *Control) Matches(d *Delivery) bool {
	if c.AppID != d.AppID {
		return false
	}
	if c.MsgID != "" {
		return c.MsgID == d.MsgID && (c.Target == "" || c.Target == d.Target)
	}
	return c.TaskID != "" && c.TaskID == d.TaskID
}

// ErrRevokeTooLate is returned (wrapped, next to a *ValidationError with
// code 3028) by ValidateRevoke when the push is older than RevokeWindow.
var ErrRevokeTooLate = errors.New("revoke window passed")

// ValidateRevoke checks a revoke record before it is published: region,
// app, exactly one of msg id and task id, and — when acceptedAt (Unix ms,
// 0 = unknown) is known — that now is within RevokeWindow of it. Errors
// are *ValidationError with the mPaaS result code (errors.As); for a push
// older than the window the error also matches ErrRevokeTooLate
// (errors.Is).
func ValidateRevoke(c *Control, acceptedAt int64, now time.Time) error {
	switch {
	case c.Op != ControlRevoke:
		return &ValidationError{Code: CodeInvalidParam, Detail: fmt.Sprintf("op %q is not %q", c.Op, ControlRevoke)}
	case !ValidRegion(c.Region):
		return &ValidationError{Code: CodeInvalidParam, Detail: fmt.Sprintf("region %q is not one of %v", c.Region, Regions())}
	case c.AppID == "":
		return &ValidationError{Code: CodeInvalidParam, Detail: "appId is empty: name the app whose push is revoked"}
	case (c.MsgID == "") == (c.TaskID == ""):
		return &ValidationError{Code: CodeInvalidParam, Detail: "give exactly one of msgId (SIMPLE, TEMPLATE) and taskId (MULTIPLE, BROADCAST)"}
	}
	if acceptedAt > 0 && now.Sub(time.UnixMilli(acceptedAt)) > RevokeWindow {
		return fmt.Errorf("%w: %w", &ValidationError{Code: CodeInvalidParam, Detail: fmt.Sprintf("the push was accepted at %s, more than %s ago: only pushes of the last 7 days can be revoked",
			time.UnixMilli(acceptedAt).UTC().Format(time.RFC3339), RevokeWindow)}, ErrRevokeTooLate)
	}
	return nil
}

// DecodeControl decodes a control record.
func DecodeControl(b []byte) (Control, error) {
	var c Control
	if err := json.Unmarshal(b, &c); err != nil {
		return Control{}, fmt.Errorf("decoding control record: %w", err)
	}
	return c, nil
}
