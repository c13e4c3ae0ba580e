package schema

import (
	"encoding/json"
	"unicode/utf8"
)

// Bounds of what a caller controls, so that no field can make a stage
// hold, render, query or store an unbounded amount (3028 unless noted).
const (
	MaxTaskNameChars     = 128  // taskName
	MaxIDBytes           = 256  // a target, a msgKey, msgkey, taskId
	MaxTemplateValues    = 100  // templateKeyValue entries (request or target)
	MaxTemplateKeyChars  = 64   // a templateKeyValue key
	MaxTemplateValueByte = 1024 // a templateKeyValue value
	MaxFilterValues      = 100  // appVersions, models
	MaxFilterValueChars  = 64   // one app version or model
)

// validateSizes checks the sizes of the request's caller-controlled text.
func (r *Request) validateSizes() error {
	if n := utf8.RuneCountInString(r.TaskName); n > MaxTaskNameChars {
		return invalid(CodeInvalidParam, "taskName has %d characters, at most %d are allowed", n, MaxTaskNameChars)
	}
	for _, f := range []struct{ name, v string }{{"taskId", r.TaskID}, {"msgkey", r.MsgKey}} {
		if len(f.v) > MaxIDBytes {
			return invalid(CodeInvalidParam, "%s has %d bytes, at most %d are allowed", f.name, len(f.v), MaxIDBytes)
		}
	}
	for t, k := range r.TargetMsgkey {
		if len(t) > MaxIDBytes || len(k) > MaxIDBytes {
			return invalid(CodeInvalidParam, "targetMsgkey has a target or msgKey over %d bytes", MaxIDBytes)
		}
	}
	if err := validateTemplateValues("templateKeyValue", r.TemplateKeyValue); err != nil {
		return err
	}
	for i, t := range r.TargetMsgs {
		if len(t.Target) > MaxIDBytes || len(t.MsgKey) > MaxIDBytes {
			return invalid(CodeInvalidParam, "targetMsgs[%d] has a target or msgKey over %d bytes", i, MaxIDBytes)
		}
		if err := validateTemplateValues("targetMsgs["+itoa(i)+"].templateKeyValue", t.TemplateKeyValue); err != nil {
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
			b, _ := json.Marshal(merged) // a map of strings always encodes
			if len(b) > MaxPayloadBytes {
				return invalid(CodeMsgPayloadTooLong, "targetMsgs[%d]: the extended parameters are %d bytes, at most %d are allowed", i, len(b), MaxPayloadBytes)
			}
		}
	}
	for _, f := range []struct {
		name string
		vs   []string
	}{{"appVersions", r.AppVersions}, {"models", r.Models}} {
		if len(f.vs) > MaxFilterValues {
			return invalid(CodeInvalidParam, "%s has %d values, at most %d are allowed", f.name, len(f.vs), MaxFilterValues)
		}
		for _, v := range f.vs {
			if v == "" || utf8.RuneCountInString(v) > MaxFilterValueChars {
				return invalid(CodeInvalidParam, "%s has the value %q: each must have 1 to %d characters", f.name, v, MaxFilterValueChars)
			}
		}
	}
	return nil
}

func validateTemplateValues(field string, kv StringMap) error {
	if len(kv) > MaxTemplateValues {
		return invalid(CodeInvalidParam, "%s has %d entries, at most %d are allowed", field, len(kv), MaxTemplateValues)
	}
	for k, v := range kv {
		if utf8.RuneCountInString(k) > MaxTemplateKeyChars {
			return invalid(CodeInvalidParam, "%s has a key of more than %d characters", field, MaxTemplateKeyChars)
		}
		if len(v) > MaxTemplateValueByte {
			return invalid(CodeInvalidParam, "%s.%s has %d bytes, at most %d are allowed", field, k, len(v), MaxTemplateValueByte)
		}
	}
	return nil
}

// MaxTokenBytes bounds a vendor or self-built token in a binding.
const MaxTokenBytes = 1024

// validateSizes checks the sizes of a binding's caller-controlled text.
func (b *Binding) validateSizes() error {
	for _, f := range []struct {
		name string
		v    string
		max  int
	}{
		{"appId", b.AppID, MaxIDBytes}, {"workspaceId", b.WorkspaceID, MaxIDBytes}, {"deviceId", b.DeviceID, MaxIDBytes},
		{"userId", b.UserID, MaxIDBytes}, {"alias", b.Alias, MaxIDBytes}, {"userAccount", b.UserAccount, MaxIDBytes},
		{"vendor", b.Vendor, MaxFilterValueChars}, {"appVersion", b.AppVersion, MaxFilterValueChars}, {"model", b.Model, MaxFilterValueChars},
		{"vendorToken", b.VendorToken, MaxTokenBytes}, {"selfToken", b.SelfToken, MaxTokenBytes},
	} {
		if len(f.v) > f.max {
			return invalid(CodeInvalidParam, "binding %s has %d bytes, at most %d are allowed", f.name, len(f.v), f.max)
		}
	}
	return nil
}
