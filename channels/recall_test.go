package channels_test

import (
	"context"
	"errors"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

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

func TestGroupBy(t *testing.T) {
	keys := []string{"b", "a", "b", "c", "a"}
	tests := []struct {
		scenario string
		idx      []int
		want     [][]int
	}{
		{"none", nil, nil},
		{"first appearance order", []int{0, 1, 2, 3, 4}, [][]int{{0, 2}, {1, 4}, {3}}},
		{"subset", []int{1, 3, 4}, [][]int{{1, 4}, {3}}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			got := channels.GroupBy(tc.idx, func(i int) string { return keys[i] })
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("GroupBy = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRunGroups(t *testing.T) {
	transient := &channels.VendorError{Channel: "stub", Transient: true, Code: 7, RetryAfter: time.Second}
	permanent := &channels.VendorError{Channel: "stub", Code: 9}
	tests := []struct {
		scenario     string
		groups       [][]int
		total        int
		fail         map[int]error // by the group's first index
		wantErr      error
		wantOutcomes []channels.Outcome
	}{
		{"every call succeeds", [][]int{{0, 2}, {1}}, 3, nil, nil,
			[]channels.Outcome{channels.Success, channels.Success, channels.Success}},
		{"every call fails alike", [][]int{{0}, {1}}, 2, map[int]error{0: transient, 1: transient}, channels.ErrTransient, nil},
		{"calls fail differently", [][]int{{0}, {1}}, 2, map[int]error{0: transient, 1: permanent}, nil,
			[]channels.Outcome{channels.Transient, channels.Permanent}},
		{"one call of two fails", [][]int{{0}, {1}}, 2, map[int]error{1: permanent}, nil,
			[]channels.Outcome{channels.Success, channels.Permanent}},
		{"a message settled without a call", [][]int{{0}}, 2, map[int]error{0: transient}, nil,
			[]channels.Outcome{channels.Transient, channels.Permanent}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			results := make([]channels.Result, tc.total)
			results[tc.total-1] = channels.NotRecalled(channels.StatusNone, "settled before")
			err := channels.RunGroups(context.Background(), "stub", tc.groups, tc.total, 2, results, func(g []int) error {
				if err := tc.fail[g[0]]; err != nil {
					return err
				}
				for _, i := range g {
					results[i] = channels.Recalled("Recalled")
				}
				return nil
			})
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("RunGroups = %v, want %v", err, tc.wantErr)
			}
			for i, want := range tc.wantOutcomes {
				if results[i].Outcome != want {
					t.Errorf("result %d: %+v, want %s", i, results[i], want)
				}
			}
		})
	}
}

func TestRunGroupsAfterCancellationMakesNoCall(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var calls atomic.Int32
	err := channels.RunGroups(ctx, "stub", [][]int{{0}, {1}}, 2, 1, make([]channels.Result, 2), func([]int) error {
		calls.Add(1)
		return nil
	})
	if !errors.Is(err, channels.ErrTransient) || !errors.Is(err, context.Canceled) {
		t.Errorf("RunGroups = %v; want a transient error wrapping context.Canceled", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("%d calls after cancellation, want none", n)
	}
}
