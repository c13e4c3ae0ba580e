package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for the records workers decode from Kafka: push requests
// (decoding and validation), registry bindings and control records. Their
// seed corpora are in testdata/fuzz/<target>/ (the examples of
// configs/examples, one request of each push type and strategy, and bodies
// breaking each rule), so plain `go test` runs them; `go test -fuzz` explores.

// fuzzAcceptedAt is the acceptance time given to a fuzzed request that
// carries none, as fanout gives it the time of its Kafka record, so that
// validating a scheduled push does not depend on the clock.
const fuzzAcceptedAt = 1763856000000 // 2025-11-23T00:00:00Z

// requireValidationError fails unless err is a *ValidationError with a
// documented result code (one of allowed, when given) and a detail.
func requireValidationError(t *testing.T, err error, allowed ...ResultCode) *ValidationError {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	if _, known := resultNames[ve.Code]; !known || ve.Code == CodeSuccess {
		t.Fatalf("error %v carries result code %d, which is not a documented failure code", err, ve.Code)
	}
	if len(allowed) > 0 && !slices.Contains(allowed, ve.Code) {
		t.Fatalf("error %v carries result code %d, want one of %v", err, ve.Code, allowed)
	}
	if ve.Detail == "" {
		t.Fatalf("error with code %d says nothing about what to fix", ve.Code)
	}
	return ve
}

// codeOf is the result code of a validation outcome, 0 for nil.
func codeOf(err error) ResultCode {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve.Code
	}
	return 0
}

// mustMarshal encodes v, failing the test if it cannot be.
func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding %T: %v", v, err)
	}
	return b
}

// FuzzDecodeRequest checks DecodeRequest and Validate on any bytes: no
// panic; refusals are *ValidationError with a documented code (3031 for
// bytes that are not UTF-8, 3028 for anything that is not one JSON object
// of a request); an accepted body is JSON; a request survives re-encoding
// unchanged and is judged the same after it; a valid request respects every
// limit of its push type.
func FuzzDecodeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := DecodeRequest(body)
		if err != nil {
			ve := requireValidationError(t, err, CodeInvalidParam, CodeRequestShouldBeUTF8)
			if !utf8.Valid(body) && ve.Code != CodeRequestShouldBeUTF8 {
				t.Fatalf("bytes that are not UTF-8 refused with %d, want %d", ve.Code, CodeRequestShouldBeUTF8)
			}
			if r != nil {
				t.Fatalf("request returned with an error: %+v", r)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted a body that is not JSON: %q", body)
		}
		if r.AcceptedAt <= 0 {
			r.AcceptedAt = fuzzAcceptedAt
		}
		verr := r.Validate()
		if verr != nil {
			_ = requireValidationError(t, verr)
		} else {
			checkValidRequest(t, r)
		}

		enc := mustMarshal(t, r)
		back, err := DecodeRequest(enc)
		if err != nil {
			t.Fatalf("re-encoded request %s no longer decodes: %v", enc, err)
		}
		if again := mustMarshal(t, back); !bytes.Equal(enc, again) {
			t.Fatalf("request changed in a round trip:\n%s\n%s", enc, again)
		}
		if got := codeOf(back.Validate()); got != codeOf(verr) {
			t.Fatalf("validation changed in a round trip: %v, then code %d", verr, got)
		}
		if back.DeriveTaskID() != r.DeriveTaskID() {
			t.Fatalf("task id changed in a round trip: %s, then %s", r.DeriveTaskID(), back.DeriveTaskID())
		}
	})
}

// checkValidRequest fails if a request that passed Validate breaks a rule
// of the mPaaS server API.
func checkValidRequest(t *testing.T, r *Request) {
	t.Helper()
	switch {
	case !ValidRegion(r.Region) || r.AppID == "" || r.WorkspaceID == "" || r.TaskName == "":
		t.Fatalf("valid request without region, app, workspace or task name: %+v", r)
	case r.ExpiredSeconds <= 0 || r.ExpiredSeconds > MaxExpiredSeconds:
		t.Fatalf("valid request with expiredSeconds %d", r.ExpiredSeconds)
	case len(r.ExtendedParams) > MaxExtendedParams:
		t.Fatalf("valid request with %d extendedParams", len(r.ExtendedParams))
	case utf8.RuneCountInString(r.Content) > MaxContentChars || r.payloadBytes() > MaxPayloadBytes:
		t.Fatalf("valid request with a %d-byte payload", r.payloadBytes())
	case r.SmoothRate < 0:
		t.Fatalf("valid request with smoothRate %d", r.SmoothRate)
	case r.IsScheduled() && r.StrategyContent == nil:
		t.Fatalf("valid scheduled request without StrategyContent")
	case r.DeriveTaskID() == "" || r.DeriveTaskID() != r.DeriveTaskID(): //nolint:staticcheck // SA4000: two calls must agree (determinism)
		t.Fatalf("valid request without a stable task id")
	case r.Tags != nil && (r.Type != PushBroadcast || ValidateTags("tags", r.Tags) != nil ||
		r.PushStatus != nil && *r.PushStatus == PushStatusUnbound):
		t.Fatalf("valid %s request with tags %q", r.Type, r.Tags)
	}
	for k := range r.ExtendedParams {
		if k == "" || systemExtendedKeys[k] {
			t.Fatalf("valid request with extendedParams key %q", k)
		}
	}
	if r.Type != PushSimple && (r.TemplateName == "" || strings.Contains(r.TemplateName, ",")) {
		t.Fatalf("valid %s request with template name %q", r.Type, r.TemplateName)
	}
	switch r.Type {
	case PushSimple, PushTemplate:
		if n := len(r.TargetMsgkey); n == 0 || n > MaxSimpleTargets {
			t.Fatalf("valid %s request with %d targets", r.Type, n)
		}
		for target, msgKey := range r.TargetMsgkey {
			if target == "" || msgKey == "" {
				t.Fatalf("valid %s request with target %q and msgKey %q", r.Type, target, msgKey)
			}
		}
		if r.Type == PushSimple && (r.Title == "" || r.Content == "") {
			t.Fatalf("valid SIMPLE request without title or content")
		}
	case PushMultiple:
		if n := len(r.TargetMsgs); n == 0 || n > MaxMultipleTargets {
			t.Fatalf("valid MULTIPLE request with %d targets", n)
		}
		keys := map[string]bool{}
		for _, tm := range r.TargetMsgs {
			if tm.Target == "" || tm.MsgKey == "" || keys[tm.MsgKey] || len(tm.ExtendedParams) > MaxInnerExtended {
				t.Fatalf("valid MULTIPLE request with target %+v", tm)
			}
			keys[tm.MsgKey] = true
		}
	case PushBroadcast:
		if r.MsgKey == "" {
			t.Fatalf("valid BROADCAST request without msgkey")
		}
		if r.DeliverType != DeliverAndroid && r.DeliverType != DeliverIOS && r.DeliverType != DeliverHarmony {
			t.Fatalf("valid BROADCAST request to deliverType %d", r.DeliverType)
		}
	default:
		t.Fatalf("valid request of type %q", r.Type)
	}
}

// FuzzDecodeBinding checks DecodeBinding on any bytes: no panic; refusals
// are *ValidationError with a documented code; an accepted record has an
// app, a Kafka key and the fields its op needs, and is accepted again
// unchanged after re-encoding.
func FuzzDecodeBinding(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte) {
		b, err := DecodeBinding(body)
		if err != nil {
			_ = requireValidationError(t, err, CodeRequestShouldBeUTF8, CodeInvalidParam, CodeNeedAppIDWorkspaceID,
				CodeOSTypeNotSupported, CodeNeedUserID)
			if b != nil {
				t.Fatalf("binding returned with an error: %+v", b)
			}
			return
		}
		tagOp := b.Op == OpTagAdd || b.Op == OpTagRemove
		switch {
		case b.AppID == "" || b.Key() == "":
			t.Fatalf("accepted binding without app or key: %+v", b)
		case b.DeviceID == "" && !tagOp:
			t.Fatalf("accepted %s without a device: %+v", b.Op, b)
		case tagOp && (b.UserID == "" || ValidateTags("tags", b.Tags) != nil):
			t.Fatalf("accepted %s without user or with bad tags: %+v", b.Op, b)
		case !tagOp && len(b.Tags) > 0:
			t.Fatalf("accepted %s with tags it would ignore: %+v", b.Op, b)
		case b.Op == OpReport && (b.VendorToken == "" && b.SelfToken == "" ||
			!slices.Contains([]string{PlatformAndroid, PlatformIOS, PlatformHarmony}, b.Platform)):
			t.Fatalf("accepted report without token or with platform %q: %+v", b.Platform, b)
		case b.Op == OpBind && b.UserID == "", b.Op == OpSetAlias && b.Alias == "",
			b.Op == OpSetAccount && b.UserAccount == "", b.Op == OpInvalidate && b.VendorToken == "":
			t.Fatalf("accepted %s without its value: %+v", b.Op, b)
		}

		enc := mustMarshal(t, b)
		back, err := DecodeBinding(enc)
		if err != nil {
			t.Fatalf("re-encoded binding %s is refused: %v", enc, err)
		}
		if again := mustMarshal(t, back); !bytes.Equal(enc, again) || back.Key() != b.Key() {
			t.Fatalf("binding changed in a round trip:\n%s\n%s", enc, again)
		}
	})
}

// FuzzDecodeControl checks DecodeControl and ValidateRevoke on any bytes:
// no panic; a decoding error wraps the JSON syntax or type error; a record
// survives re-encoding unchanged; a refused revoke is a *ValidationError
// 3028; a valid revoke has the Kafka key of what it names, matches the
// deliveries it names and no other app's, and is refused as too late
// (ErrRevokeTooLate) for a push older than RevokeWindow.
func FuzzDecodeControl(f *testing.F) {
	now := time.UnixMilli(fuzzAcceptedAt)
	f.Fuzz(func(t *testing.T, body []byte) {
		c, err := DecodeControl(body)
		if err != nil {
			var syntax *json.SyntaxError
			var typ *json.UnmarshalTypeError
			if !errors.As(err, &syntax) && !errors.As(err, &typ) {
				t.Fatalf("error %v (%T) wraps neither a JSON syntax nor a JSON type error", err, err)
			}
			if c != (Control{}) {
				t.Fatalf("control record returned with an error: %+v", c)
			}
			return
		}
		back, err := DecodeControl(mustMarshal(t, c))
		if err != nil || back != c {
			t.Fatalf("control record changed in a round trip: %+v, then %+v (%v)", c, back, err)
		}

		if err := ValidateRevoke(&c, 0, now); err != nil {
			_ = requireValidationError(t, err, CodeInvalidParam)
			return
		}
		want := c.AppID + "/task:" + c.TaskID
		if c.MsgID != "" {
			want = c.AppID + "/msg:" + c.MsgID
			if c.Target != "" {
				want += "/" + c.Target
			}
		}
		if c.ControlKey() != want || (c.MsgID == "") == (c.TaskID == "") {
			t.Fatalf("valid revoke %+v has key %q, want %q", c, c.ControlKey(), want)
		}
		named := &Delivery{AppID: c.AppID, MsgID: c.MsgID, TaskID: c.TaskID, Target: c.Target}
		if !c.Matches(named) {
			t.Fatalf("revoke %+v does not match the delivery it names", c)
		}
		other := *named
		other.AppID += "-other"
		if c.Matches(&other) {
			t.Fatalf("revoke %+v matches a delivery of another app", c)
		}
		old := now.Add(-RevokeWindow - time.Minute).UnixMilli()
		err = ValidateRevoke(&c, old, now)
		if !errors.Is(err, ErrRevokeTooLate) {
			t.Fatalf("revoke of a push accepted %s ago: %v, want ErrRevokeTooLate", RevokeWindow+time.Minute, err)
		}
		_ = requireValidationError(t, err, CodeInvalidParam)
	})
}
