package channels_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

func TestCheckBatch(t *testing.T) {
	msg := func(app string) channels.Message { return channels.Message{AppID: app} }
	tests := []struct {
		scenario string
		msgs     []channels.Message
		max      int
		wantApp  string
		wantErr  error
	}{
		{"empty", nil, 10, "", nil},
		{"one app", []channels.Message{msg("a"), msg("a")}, 2, "a", nil},
		{"too large", []channels.Message{msg("a"), msg("a")}, 1, "", channels.ErrBatchTooLarge},
		{"mixed apps", []channels.Message{msg("a"), msg("b")}, 2, "", channels.ErrMixedApps},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			app, err := channels.CheckBatch(tc.msgs, tc.max)
			if app != tc.wantApp || !errors.Is(err, tc.wantErr) {
				t.Fatalf("CheckBatch = %q, %v; want %q, %v", app, err, tc.wantApp, tc.wantErr)
			}
			if err != nil && (!errors.Is(err, channels.ErrPermanent) || errors.Is(err, channels.ErrTransient)) {
				t.Errorf("%v is not only permanent", err)
			}
		})
	}
}

func TestVendorError(t *testing.T) {
	tests := []struct {
		scenario  string
		err       *channels.VendorError
		wantClass error
		wantCause error
		wantText  []string
	}{
		{"transient with ctx cause",
			&channels.VendorError{Channel: "mipush", Op: "POST x", Transient: true, Cause: context.Canceled, RetryAfter: time.Second},
			channels.ErrTransient, context.Canceled, []string{"mipush: POST x", "context canceled", "(transient)"}},
		{"permanent with code",
			&channels.VendorError{Channel: "mipush", Op: "POST x", HTTPStatus: 200, Code: 21301, Reason: "认证失败"},
			channels.ErrPermanent, nil, []string{"http 200", "code 21301", "认证失败", "(permanent)"}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			err := fmt.Errorf("sending batch: %w", tc.err)
			other := channels.ErrTransient
			if errors.Is(tc.wantClass, channels.ErrTransient) {
				other = channels.ErrPermanent
			}
			if !errors.Is(err, tc.wantClass) || errors.Is(err, other) {
				t.Errorf("class of %v wrong", err)
			}
			if tc.wantCause != nil && !errors.Is(err, tc.wantCause) {
				t.Errorf("%v does not wrap %v", err, tc.wantCause)
			}
			var ve *channels.VendorError
			if !errors.As(err, &ve) || ve != tc.err {
				t.Error("errors.As lost the VendorError")
			}
			if channels.RetryAfterOf(err) != tc.err.RetryAfter {
				t.Errorf("RetryAfterOf = %s", channels.RetryAfterOf(err))
			}
			for _, s := range tc.wantText {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("%q lacks %q", err.Error(), s)
				}
			}
		})
	}
	if channels.RetryAfterOf(errors.New("plain")) != 0 {
		t.Error("RetryAfterOf(plain error) != 0")
	}
}

func TestSecretNeverPrints(t *testing.T) {
	type cfg struct {
		Key channels.Secret `json:"key"`
	}
	c := cfg{Key: "hunter2"}
	js, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%s", c.Key), string(js)} { //nolint:staticcheck // S1025: the %s verb is what is being checked for a leak
		if strings.Contains(s, "hunter2") {
			t.Errorf("secret printed: %s", s)
		}
	}
	var back cfg
	if err := json.Unmarshal([]byte(`{"key":"hunter2"}`), &back); err != nil || back.Key.Reveal() != "hunter2" {
		t.Errorf("unmarshal: %v %q", err, back.Key.Reveal())
	}
	if channels.Secret("").String() != "" {
		t.Error("empty secret should print empty")
	}
}

func TestOutcomeAndStatusNames(t *testing.T) {
	if channels.Outcome(0).String() != "outcome(0)" || channels.InvalidToken.String() != "invalid_token" {
		t.Error("outcome names")
	}
	if channels.StatusName(channels.StatusAcked) != "Acked" || channels.StatusName(channels.StatusBadDeviceToken) != "BadDeviceToken" ||
		channels.StatusName(12345) != "" {
		t.Error("status names")
	}
}
