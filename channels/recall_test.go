package channels_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pushpipe/pushpipe/channels"
)

// stubChannel is a Channel without recall; recallStub adds Recaller.
type stubChannel struct{}

func (stubChannel) Name() string  { return "stub" }
func (stubChannel) MaxBatch() int { return 1 }
func (stubChannel) Send(context.Context, []channels.Message) ([]channels.Result, error) {
	return nil, nil
}

type recallStub struct{ stubChannel }

func (recallStub) MaxRecallBatch() int { return 1 }
func (recallStub) Recall(context.Context, []channels.Message, []string) ([]channels.Result, error) {
	return nil, nil
}

func TestAsRecaller(t *testing.T) {
	if _, err := channels.AsRecaller(recallStub{}); err != nil {
		t.Errorf("AsRecaller(recaller) = %v", err)
	}
	_, err := channels.AsRecaller(stubChannel{})
	if !errors.Is(err, channels.ErrRecallUnsupported) || !errors.Is(err, channels.ErrPermanent) || errors.Is(err, channels.ErrTransient) {
		t.Errorf("AsRecaller(channel without recall) = %v; want ErrRecallUnsupported, permanent only", err)
	}
}

func TestCheckRecall(t *testing.T) {
	msg := func(app string) channels.Message { return channels.Message{AppID: app} }
	tests := []struct {
		scenario string
		msgs     []channels.Message
		ids      []string
		max      int
		wantApp  string
		wantErr  error
	}{
		{"empty", nil, nil, 10, "", nil},
		{"one app", []channels.Message{msg("a"), msg("a")}, []string{"1", ""}, 2, "a", nil},
		{"too large", []channels.Message{msg("a"), msg("a")}, []string{"1", "2"}, 1, "", channels.ErrBatchTooLarge},
		{"mixed apps", []channels.Message{msg("a"), msg("b")}, []string{"1", "2"}, 2, "", channels.ErrMixedApps},
		{"fewer ids", []channels.Message{msg("a"), msg("a")}, []string{"1"}, 2, "", channels.ErrRecallIDs},
		{"more ids", []channels.Message{msg("a")}, []string{"1", "2"}, 2, "", channels.ErrRecallIDs},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			app, err := channels.CheckRecall(tc.msgs, tc.ids, tc.max)
			if app != tc.wantApp || !errors.Is(err, tc.wantErr) {
				t.Fatalf("CheckRecall = %q, %v; want %q, %v", app, err, tc.wantApp, tc.wantErr)
			}
			if err != nil && (!errors.Is(err, channels.ErrPermanent) || errors.Is(err, channels.ErrTransient)) {
				t.Errorf("%v is not only permanent", err)
			}
		})
	}
}

func TestNotifyID(t *testing.T) {
	tests := []struct {
		scenario string
		msgID    string
		want     int
	}{
		// Fixed values: a message sent before an upgrade must be recalled
		// with the same id after it.
		{"message id", "msg-1", 1231102756},
		{"empty message id", "", 2166136261 & channels.MaxNotifyID},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			got := channels.NotifyID(tc.msgID)
			if got != tc.want || got < 0 || got > channels.MaxNotifyID {
				t.Errorf("NotifyID(%q) = %d, want %d", tc.msgID, got, tc.want)
			}
		})
	}
	if channels.NotifyID("msg-1") == channels.NotifyID("msg-2") {
		t.Error("NotifyID gives two messages the same id")
	}
}
