package schema

import (
	"errors"
	"testing"
	"time"
)

func TestValidateRevoke(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ok := Control{Op: ControlRevoke, Region: "sg", AppID: "A", MsgID: "m1"}
	for _, tc := range []struct {
		scenario   string
		c          Control
		acceptedAt int64
		tooLate    bool
		wantErr    bool
	}{
		{scenario: "msg id within the window", c: ok, acceptedAt: now.Add(-6 * 24 * time.Hour).UnixMilli()},
		{scenario: "task id, accepted time unknown", c: Control{Op: ControlRevoke, Region: "eu", AppID: "A", TaskID: "t1"}},
		{scenario: "older than 7 days", c: ok, acceptedAt: now.Add(-7*24*time.Hour - time.Second).UnixMilli(), wantErr: true, tooLate: true},
		{scenario: "both ids", c: Control{Op: ControlRevoke, Region: "sg", AppID: "A", MsgID: "m", TaskID: "t"}, wantErr: true},
		{scenario: "no id", c: Control{Op: ControlRevoke, Region: "sg", AppID: "A"}, wantErr: true},
		{scenario: "no app", c: Control{Op: ControlRevoke, Region: "sg", MsgID: "m"}, wantErr: true},
		{scenario: "unknown region", c: Control{Op: ControlRevoke, Region: "mars", AppID: "A", MsgID: "m"}, wantErr: true},
		{scenario: "unknown op", c: Control{Op: "pause", Region: "sg", AppID: "A", MsgID: "m"}, wantErr: true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			err := ValidateRevoke(&tc.c, tc.acceptedAt, now)
			if (err != nil) != tc.wantErr {
				t.Fatalf("ValidateRevoke = %v, want error %v", err, tc.wantErr)
			}
			if err == nil {
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Code != CodeInvalidParam {
				t.Errorf("error %v is not a 3028 ValidationError", err)
			}
			if errors.Is(err, ErrRevokeTooLate) != tc.tooLate {
				t.Errorf("errors.Is(%v, ErrRevokeTooLate) = %v, want %v", err, !tc.tooLate, tc.tooLate)
			}
		})
	}
}

func TestControlMatchesAndKey(t *testing.T) {
	d := Delivery{AppID: "A", MsgID: "m1", TaskID: "t1", Target: "u1"}
	for _, tc := range []struct {
		scenario string
		c        Control
		match    bool
		key      string
	}{
		{"by msg id", Control{AppID: "A", MsgID: "m1"}, true, "A/msg:m1"},
		{"by msg id and target", Control{AppID: "A", MsgID: "m1", Target: "u1"}, true, "A/msg:m1/u1"},
		{"by msg id, other target", Control{AppID: "A", MsgID: "m1", Target: "u2"}, false, "A/msg:m1/u2"},
		{"by task id", Control{AppID: "A", TaskID: "t1"}, true, "A/task:t1"},
		{"other app", Control{AppID: "B", TaskID: "t1"}, false, "B/task:t1"},
		{"other message", Control{AppID: "A", MsgID: "m2"}, false, "A/msg:m2"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if got := tc.c.Matches(&d); got != tc.match {
				t.Errorf("Matches = %v, want %v", got, tc.match)
			}
			if got := tc.c.ControlKey(); got != tc.key {
				t.Errorf("ControlKey = %q, want %q", got, tc.key)
			}
		})
	}
}
