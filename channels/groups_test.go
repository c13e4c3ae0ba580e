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

func TestGroupByKey(t *testing.T) {
	refuse := func(m *channels.Message) (channels.Result, bool) {
		if m.Token == "" {
			return channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusMissingDeviceToken}, false
		}
		return channels.Result{}, true
	}
	msg := func(token, title string) channels.Message { return channels.Message{Token: token, Title: title} }
	tests := []struct {
		scenario    string
		msgs        []channels.Message
		want        [][]int
		wantRefused []int
	}{
		{"empty batch", nil, nil, nil},
		{"one content", []channels.Message{msg("a", "x"), msg("b", "x")}, [][]int{{0, 1}}, nil},
		{"contents in order of first appearance", []channels.Message{msg("a", "y"), msg("b", "x"), msg("c", "y")}, [][]int{{0, 2}, {1}}, nil},
		{"refused messages are in no group", []channels.Message{msg("", "x"), msg("b", "x"), msg("", "y")}, [][]int{{1}}, []int{0, 2}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			results := make([]channels.Result, len(tc.msgs))
			got := channels.GroupByKey(tc.msgs, results, refuse, func(m channels.Message) string { return m.Title })
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("GroupByKey = %v, want %v", got, tc.want)
			}
			refused := map[int]bool{}
			for _, i := range tc.wantRefused {
				refused[i] = true
			}
			for i, r := range results {
				if refused[i] != (r.Outcome == channels.Permanent) {
					t.Errorf("result %d: %+v, refused %t", i, r, refused[i])
				}
			}
		})
	}
}

func TestSendGroups(t *testing.T) {
	stoppedErr := &channels.VendorError{Channel: "stub", Op: "sending", Transient: true}
	tests := []struct {
		scenario    string
		cancelled   bool
		limit       int
		wantCalls   int32
		wantErr     error
		wantMaxBusy int32 // at most
	}{
		{"calls run at most limit at once", false, 2, 4, nil, 2},
		{"a zero limit still makes the calls", false, 0, 4, nil, 1},
		{"groups after ctx ended fail with stopped", true, 2, 0, context.Canceled, 0},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancelled {
				cancel()
			}
			var calls, busy, maxBusy atomic.Int32
			groups := [][]int{{0}, {1}, {2}, {3}}
			results := make([]channels.Result, 4)
			err := channels.SendGroups(ctx, groups, 4, tc.limit, results,
				func(ctx context.Context, g []int) error {
					calls.Add(1)
					n := busy.Add(1)
					for m := maxBusy.Load(); n > m && !maxBusy.CompareAndSwap(m, n); m = maxBusy.Load() {
					}
					time.Sleep(10 * time.Millisecond)
					busy.Add(-1)
					results[g[0]] = channels.Result{Outcome: channels.Success}
					return nil
				},
				func(err error) error {
					ve := *stoppedErr
					ve.Cause = err
					return &ve
				})
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("SendGroups = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil && !errors.Is(err, channels.ErrTransient) {
				t.Errorf("SendGroups = %v, want the error stopped returns", err)
			}
			if got := calls.Load(); got != tc.wantCalls {
				t.Errorf("%d calls, want %d", got, tc.wantCalls)
			}
			if got := maxBusy.Load(); got > tc.wantMaxBusy {
				t.Errorf("%d calls at once, want at most %d", got, tc.wantMaxBusy)
			}
		})
	}
}
