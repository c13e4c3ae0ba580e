package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
)

// RecallHarness connects the recall suite to a channel that implements
// channels.Recaller and its simulator. Every field is required; the
// embedded Harness is the one Run takes (its Throttle, InvalidToken and
// Limits are not used here).
type RecallHarness struct {
	Harness
	// Recalls returns the recalls the simulator confirmed for AppID since
	// Reset, per token (vendorsim's Simulator.Recalls).
	Recalls func(t *testing.T) map[string]int64
	// RecallCalls returns the recall calls the simulator received since
	// Reset.
	RecallCalls func(t *testing.T) int

	// sends numbers the batches the suite sends, so that every delivery
	// id is new to the vendor (vivo refuses a requestId twice).
	sends int
}

// RunRecall runs every recall case against h, each as a subtest after
// h.Reset, one after another: send then recall succeeds and the simulator
// counts it; an unknown message is Permanent; known and unknown messages
// in one batch; rejected credentials; a server error; context
// cancellation; the caller contract (batch size, vendor ids, apps).
//
//	h := conformance.Harness{...}
//	conformance.Run(t, h)
//	conformance.RunRecall(t, conformance.RecallHarness{Harness: h, Recalls: ..., RecallCalls: ...})
func RunRecall(t *testing.T, h RecallHarness) {
	t.Helper()
	h.check(t)
	if h.Recalls == nil || h.RecallCalls == nil {
		t.Fatal("conformance: incomplete RecallHarness")
	}
	h.expireAt = time.Now().Add(time.Hour).Truncate(time.Millisecond)
	for _, tc := range recallCases() {
		t.Run(tc.scenario, func(t *testing.T) {
			h.Reset(t)
			t.Cleanup(func() { h.Reset(t) })
			tc.run(t, &h)
		})
	}
}

type recallCase struct {
	scenario string
	run      func(t *testing.T, h *RecallHarness)
}

// neverSentMsgID is the MsgID of messages the suite never sends.
const neverSentMsgID = "m-conformance-never-sent"

func recallCases() []recallCase {
	return []recallCase{
		{"recall of sent messages succeeds and is counted", func(t *testing.T, h *RecallHarness) {
			ch, r := h.recaller(t, ChannelOptions{})
			msgs := h.toSend(3)
			ids := vendorIDs(send(t, ch, msgs))
			wantOutcomes(t, recall(t, r, msgs, ids), channels.Success, channels.Success, channels.Success)
			wantRecalls(t, h, map[string]int64{msgs[0].Token: 1, msgs[1].Token: 1, msgs[2].Token: 1})
			wantRecallCalls(t, h, 1)
		}},
		{"recall of a message never sent is permanent", func(t *testing.T, h *RecallHarness) {
			_, r := h.recaller(t, ChannelOptions{})
			msgs, ids := h.neverSent(2)
			wantOutcomes(t, recall(t, r, msgs, ids), channels.Permanent, channels.Permanent)
			wantRecalls(t, h, map[string]int64{})
		}},
		{"recall of known and unknown messages in one batch", func(t *testing.T, h *RecallHarness) {
			ch, r := h.recaller(t, ChannelOptions{})
			sent := h.toSend(2)
			ids := vendorIDs(send(t, ch, sent))
			unknown, unknownIDs := h.neverSent(3)
			msgs := []channels.Message{sent[0], unknown[2], sent[1]}
			wantOutcomes(t, recall(t, r, msgs, []string{ids[0], unknownIDs[2], ids[1]}),
				channels.Success, channels.Permanent, channels.Success)
			wantRecalls(t, h, map[string]int64{sent[0].Token: 1, sent[1].Token: 1})
		}},
		{"recall with rejected credentials is a permanent error", func(t *testing.T, h *RecallHarness) {
			_, r := h.recaller(t, ChannelOptions{BadCredentials: true})
			msgs, ids := h.neverSent(2)
			res, err := r.Recall(context.Background(), msgs, ids)
			wantWholeCallError(t, res, err, channels.ErrPermanent)
		}},
		{"recall server error is transient and the next recall succeeds", func(t *testing.T, h *RecallHarness) {
			ch, r := h.recaller(t, ChannelOptions{})
			msgs := h.toSend(2)
			ids := vendorIDs(send(t, ch, msgs))
			h.FailNext(t, 1)
			res, err := r.Recall(context.Background(), msgs, ids)
			wantWholeCallError(t, res, err, channels.ErrTransient)
			wantRecalls(t, h, map[string]int64{})
			wantOutcomes(t, recall(t, r, msgs, ids), channels.Success, channels.Success)
			wantRecalls(t, h, map[string]int64{msgs[0].Token: 1, msgs[1].Token: 1})
			wantRecallCalls(t, h, 2)
		}},
		{"recall returns promptly on context cancellation", func(t *testing.T, h *RecallHarness) {
			ch, r := h.recaller(t, ChannelOptions{Timeout: 30 * time.Second})
			msgs := h.toSend(1)
			ids := vendorIDs(send(t, ch, msgs))
			h.Delay(t, 10*time.Second)
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			res, err := r.Recall(ctx, msgs, ids)
			wantWholeCallError(t, res, err, channels.ErrTransient)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v does not wrap context.Canceled", err)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("Recall took %s after cancellation at 100ms", el)
			}
			wantRecalls(t, h, map[string]int64{})
		}},
		{"recall with an already cancelled context makes no call", func(t *testing.T, h *RecallHarness) {
			ch, r := h.recaller(t, ChannelOptions{})
			msgs := h.toSend(1)
			ids := vendorIDs(send(t, ch, msgs))
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			res, err := r.Recall(ctx, msgs, ids)
			wantWholeCallError(t, res, err, channels.ErrTransient)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v does not wrap context.Canceled", err)
			}
			wantRecallCalls(t, h, 0)
		}},
		{"recall caller errors are refused without a call", func(t *testing.T, h *RecallHarness) {
			_, r := h.recaller(t, ChannelOptions{})
			over, overIDs := h.neverSent(r.MaxRecallBatch() + 1)
			mixed, mixedIDs := h.neverSent(2)
			mixed[1].AppID = h.AppID + "-other"
			unknownApp, unknownAppIDs := h.neverSent(1)
			unknownApp[0].AppID = h.AppID + "-unknown"
			two, twoIDs := h.neverSent(2)
			tests := []struct {
				scenario string
				msgs     []channels.Message
				ids      []string
				want     error
			}{
				{"batch over MaxRecallBatch", over, overIDs, channels.ErrBatchTooLarge},
				{"mixed apps", mixed, mixedIDs, channels.ErrMixedApps},
				{"unknown app", unknownApp, unknownAppIDs, channels.ErrUnknownApp},
				{"vendor ids not aligned", two, twoIDs[:1], channels.ErrRecallIDs},
			}
			for _, tc := range tests {
				t.Run(tc.scenario, func(t *testing.T) {
					res, err := r.Recall(context.Background(), tc.msgs, tc.ids)
					wantWholeCallError(t, res, err, channels.ErrPermanent)
					if !errors.Is(err, tc.want) {
						t.Errorf("error %v is not %v", err, tc.want)
					}
				})
			}
			wantRecallCalls(t, h, 0)
		}},
		{"recall of an empty batch makes no call", func(t *testing.T, h *RecallHarness) {
			_, r := h.recaller(t, ChannelOptions{})
			res, err := r.Recall(context.Background(), nil, nil)
			if err != nil || len(res) != 0 {
				t.Fatalf("Recall(nil) = %v, %v; want no results, no error", res, err)
			}
			wantRecallCalls(t, h, 0)
		}},
	}
}

// recaller returns a new channel and its Recaller.
func (h *RecallHarness) recaller(t *testing.T, opts ChannelOptions) (channels.Channel, channels.Recaller) {
	t.Helper()
	ch := h.NewChannel(t, opts)
	r, err := channels.AsRecaller(ch)
	if err != nil {
		t.Fatalf("recall suite on a channel without recall: %v", err)
	}
	return ch, r
}

// toSend returns a valid batch of n messages for the first tokens, with
// delivery ids never used before.
func (h *RecallHarness) toSend(n int) []channels.Message {
	h.sends++
	msgs := h.batch(n)
	for i := range msgs {
		msgs[i].DeliveryID = fmt.Sprintf("d-recall-%d-%d", h.sends, i)
	}
	return msgs
}

// neverSent returns n valid messages of a MsgID the suite never sends, for
// the i-th tokens, with vendor message ids no vendor issued.
func (h *RecallHarness) neverSent(n int) ([]channels.Message, []string) {
	msgs := h.batch(n)
	ids := make([]string, n)
	for i := range msgs {
		msgs[i].MsgID = neverSentMsgID
		ids[i] = fmt.Sprintf("never-issued-%d", i)
	}
	return msgs, ids
}

// vendorIDs returns the vendor message ids of send results.
func vendorIDs(res []channels.Result) []string {
	ids := make([]string, len(res))
	for i, r := range res {
		ids[i] = r.VendorMsgID
	}
	return ids
}

func recall(t *testing.T, r channels.Recaller, msgs []channels.Message, ids []string) []channels.Result {
	t.Helper()
	res, err := r.Recall(context.Background(), msgs, ids)
	if err != nil {
		t.Fatalf("Recall(%d messages): %v", len(msgs), err)
	}
	if len(res) != len(msgs) {
		t.Fatalf("Recall(%d messages) returned %d results", len(msgs), len(res))
	}
	return res
}

func wantRecallCalls(t *testing.T, h *RecallHarness, want int) {
	t.Helper()
	if got := h.RecallCalls(t); got != want {
		t.Errorf("simulator received %d recall calls, want %d", got, want)
	}
}

func wantRecalls(t *testing.T, h *RecallHarness, want map[string]int64) {
	t.Helper()
	if got := h.Recalls(t); !maps.Equal(got, want) {
		t.Errorf("simulator counted recalls %v, want %v", got, want)
	}
}

// WantAnswer checks what a Send or Recall made of one canned vendor
// answer: with wantErr set, a whole-call error of that class whose
// *channels.VendorError carries wantCode and wantRetry; otherwise no error
// and every result with wantOutcome and status code wantCode. Vendor
// packages use it in their table tests of answer classification.
func WantAnswer(t *testing.T, res []channels.Result, err, wantErr error, wantCode int, wantOutcome channels.Outcome, wantRetry time.Duration) {
	t.Helper()
	if wantErr != nil {
		if err == nil || !errors.Is(err, wantErr) {
			t.Fatalf("got %v, %v; want a %v error", res, err, wantErr)
		}
		var ve *channels.VendorError
		if !errors.As(err, &ve) || ve.Code != wantCode || ve.RetryAfter != wantRetry {
			t.Errorf("vendor error %+v, want code %d retry %s", ve, wantCode, wantRetry)
		}
		return
	}
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
	for i, r := range res {
		if r.Outcome != wantOutcome || r.StatusCode != wantCode {
			t.Errorf("result %d: %+v, want %s with code %d", i, r, wantOutcome, wantCode)
		}
	}
}

// SendForRecall sends msgs on ch, which must accept every one of them, and
// returns the vendor message ids of the results, for a later Recall.
func SendForRecall(t *testing.T, ch channels.Channel, msgs []channels.Message) []string {
	t.Helper()
	res := send(t, ch, msgs)
	for i, r := range res {
		if r.Outcome != channels.Success {
			t.Fatalf("Send result %d: %+v, want success", i, r)
		}
	}
	return vendorIDs(res)
}

// WantRecalled recalls msgs with ids on r and fails the test unless every
// result is Success with status Acked.
func WantRecalled(t *testing.T, r channels.Recaller, msgs []channels.Message, ids []string) {
	t.Helper()
	for i, res := range recall(t, r, msgs, ids) {
		if res.Outcome != channels.Success || res.StatusCode != channels.StatusAcked {
			t.Errorf("Recall result %d: %+v, want success with status %d", i, res, channels.StatusAcked)
		}
	}
}

// SimRecallHarness returns the RecallHarness of h for a channel whose
// vendor is simulated by srv: Recalls and RecallCalls read vendor's
// recalls of h.AppID in region.
func SimRecallHarness(h Harness, srv *vendorsim.Server, vendor, region string) RecallHarness {
	return RecallHarness{
		Harness: h,
		Recalls: func(t *testing.T) map[string]int64 {
			return srv.Recalls(vendor, region, h.AppID)
		},
		RecallCalls: func(t *testing.T) int { return len(srv.RecallRequests(vendor, region)) },
	}
}
