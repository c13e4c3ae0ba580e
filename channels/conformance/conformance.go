// Package conformance is the behaviour test every vendor channel passes.
// A vendor's test builds a Harness around its channel and a running vendor
// simulator (channels/vendorsim) and calls Run:
//
//	func TestConformance(t *testing.T) { conformance.Run(t, harness(t)) }
//
// The cases cover success (single, batch, MaxBatch boundary), invalid
// tokens, 5xx, throttling, rejected credentials, timeouts, context
// cancellation, content limits, expiry and concurrent use.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// ChannelOptions asks Harness.NewChannel for a channel variant.
type ChannelOptions struct {
	// Timeout is the per-call timeout; 0 = the harness default.
	Timeout time.Duration
	// BadCredentials asks for a channel whose credentials the simulator
	// rejects.
	BadCredentials bool
}

// Limits are the vendor's content limits that the channel enforces before
// calling the vendor; 0 = no limit to test.
type Limits struct {
	MaxTitleRunes   int // characters of Message.Title
	MaxBodyRunes    int // characters of Message.Body
	MaxPayloadBytes int // bytes of Message.Payload
}

// Harness connects the suite to one vendor channel and its simulator. Every
// function field is required. Hooks act on the simulator only; Reset undoes
// them.
type Harness struct {
	// NewChannel returns a channel talking to the running simulator.
	NewChannel func(t *testing.T, opts ChannelOptions) channels.Channel
	// AppID is an app the channel and the simulator are configured for.
	AppID string
	// Token returns the i-th valid token; InvalidToken the i-th token the
	// simulator reports as invalid or unregistered.
	Token        func(i int) string
	InvalidToken func(i int) string
	// Reset clears the simulator's faults, quotas and recorded traffic.
	Reset func(t *testing.T)
	// FailNext makes the next n vendor calls answer a 5xx error.
	FailNext func(t *testing.T, n int)
	// Throttle makes every vendor call be throttled until Reset.
	Throttle func(t *testing.T)
	// Delay makes every vendor call take d until Reset.
	Delay func(t *testing.T, d time.Duration)
	// Calls returns the vendor calls the simulator received since Reset.
	Calls func(t *testing.T) int
	// Limits are the content limits the channel checks before calling.
	Limits Limits
	// PassThroughUnsupported tells that the vendor delivers notification
	// messages only (OPPO, vivo): a pass-through message must get a
	// Permanent result without a vendor call. The zero value expects
	// pass-through messages to be sent.
	PassThroughUnsupported bool
	// OneCallPerMessage tells that the vendor API takes one message per
	// call (FCM HTTP v1): a batch of n messages makes n vendor calls, and
	// FailNext is asked to fail every call of the batch it means to fail.
	OneCallPerMessage bool
	// Extras are added to the Extras of every message the suite sends:
	// what a channel needs besides a notification (the SMS channel's sign
	// name, template code and template parameter).
	Extras map[string]string
	// TitleUnused tells that the channel sends no title (the SMS channel
	// sends the operator's template): a message with a blank title must
	// be sent. The zero value expects it to be refused without a call.
	TitleUnused bool

	// expireAt is the validity end of the suite's messages: one instant,
	// so that the messages of a batch share their content.
	expireAt time.Time
}

func (h *Harness) check(t *testing.T) {
	t.Helper()
	if h.NewChannel == nil || h.Token == nil || h.InvalidToken == nil || h.Reset == nil ||
		h.FailNext == nil || h.Throttle == nil || h.Delay == nil || h.Calls == nil || h.AppID == "" {
		t.Fatal("conformance: incomplete Harness")
	}
}

// calls returns the vendor calls a batch makes: batchCalls, or one per
// message (messages) when h.OneCallPerMessage.
func (h *Harness) calls(batchCalls, messages int) int {
	if h.OneCallPerMessage {
		return messages
	}
	return batchCalls
}

// message returns a valid message for the i-th token.
func (h *Harness) message(i int, token string) channels.Message {
	return channels.Message{
		DeliveryID: fmt.Sprintf("d-conformance-%d", i),
		MsgID:      "m-conformance",
		TaskID:     "t-conformance",
		AppID:      h.AppID,
		DeviceID:   fmt.Sprintf("dev-%d", i),
		Token:      token,
		Title:      "Conformance",
		Body:       "Hello from the conformance suite",
		Payload:    `{"k":"v"}`,
		ExpireAt:   h.expireAt,
		Extras:     h.Extras,
	}
}

func (h *Harness) batch(n int) []channels.Message {
	msgs := make([]channels.Message, n)
	for i := range msgs {
		msgs[i] = h.message(i, h.Token(i))
	}
	return msgs
}

type testCase struct {
	scenario string
	run      func(t *testing.T, h *Harness)
}

// Run runs every conformance case against h, each as a subtest after
// h.Reset. The cases run one after another: they share the simulator.
func Run(t *testing.T, h Harness) {
	t.Helper()
	h.check(t)
	h.expireAt = time.Now().Add(time.Hour).Truncate(time.Millisecond)
	for _, tc := range cases() {
		t.Run(tc.scenario, func(t *testing.T) {
			h.Reset(t)
			t.Cleanup(func() { h.Reset(t) })
			tc.run(t, &h)
		})
	}
}

func cases() []testCase {
	return []testCase{
		{"success single message", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			res := send(t, ch, h.batch(1))
			wantOutcomes(t, res, channels.Success)
			if res[0].StatusCode != channels.StatusAcked {
				t.Errorf("status code = %d, want %d (Acked)", res[0].StatusCode, channels.StatusAcked)
			}
			wantCalls(t, h, 1)
		}},
		{"success batch of three", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			res := send(t, ch, h.batch(3))
			wantOutcomes(t, res, channels.Success, channels.Success, channels.Success)
			wantCalls(t, h, h.calls(1, 3))
		}},
		{"success batch of exactly MaxBatch", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			n := ch.MaxBatch()
			res := send(t, ch, h.batch(n))
			for i, r := range res {
				if r.Outcome != channels.Success {
					t.Fatalf("result %d: outcome %s (%d %s), want success", i, r.Outcome, r.StatusCode, r.StatusDesc)
				}
			}
			wantCalls(t, h, h.calls(1, n))
		}},
		{"MaxBatch+1 is refused and split by the caller succeeds", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			n := ch.MaxBatch()
			msgs := h.batch(n + 1)
			res, err := ch.Send(context.Background(), msgs)
			if err == nil || !errors.Is(err, channels.ErrBatchTooLarge) || !errors.Is(err, channels.ErrPermanent) {
				t.Fatalf("Send(MaxBatch+1) = %v results, err %v; want ErrBatchTooLarge (permanent)", len(res), err)
			}
			if res != nil {
				t.Errorf("results with a whole-call error: %d", len(res))
			}
			wantCalls(t, h, 0)
			for _, part := range [][]channels.Message{msgs[:n], msgs[n:]} {
				for i, r := range send(t, ch, part) {
					if r.Outcome != channels.Success {
						t.Fatalf("split result %d: outcome %s, want success", i, r.Outcome)
					}
				}
			}
			wantCalls(t, h, h.calls(2, n+1))
		}},
		{"empty batch makes no call", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			res, err := ch.Send(context.Background(), nil)
			if err != nil || len(res) != 0 {
				t.Fatalf("Send(nil) = %v, %v; want no results, no error", res, err)
			}
			wantCalls(t, h, 0)
		}},
		{"invalid token fails only its index", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(3)
			msgs[1] = h.message(1, h.InvalidToken(1))
			res := send(t, ch, msgs)
			wantOutcomes(t, res, channels.Success, channels.InvalidToken, channels.Success)
			if res[1].StatusCode != channels.StatusBadDeviceToken {
				t.Errorf("invalid token status = %d, want %d (BadDeviceToken)", res[1].StatusCode, channels.StatusBadDeviceToken)
			}
		}},
		{"only invalid tokens", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := []channels.Message{h.message(0, h.InvalidToken(0)), h.message(1, h.InvalidToken(1))}
			res := send(t, ch, msgs)
			wantOutcomes(t, res, channels.InvalidToken, channels.InvalidToken)
		}},
		{"server error is transient", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			h.FailNext(t, h.calls(1, 2))
			res, err := ch.Send(context.Background(), h.batch(2))
			wantWholeCallError(t, res, err, channels.ErrTransient)
			wantCalls(t, h, h.calls(1, 2))
			// The storm is over: the next call succeeds.
			wantOutcomes(t, send(t, ch, h.batch(2)), channels.Success, channels.Success)
		}},
		{"throttled is transient", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			h.Throttle(t)
			res, err := ch.Send(context.Background(), h.batch(2))
			if err != nil {
				wantWholeCallError(t, res, err, channels.ErrTransient)
				return
			}
			wantOutcomes(t, res, channels.Transient, channels.Transient)
		}},
		{"rejected credentials are a permanent error", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{BadCredentials: true})
			res, err := ch.Send(context.Background(), h.batch(2))
			wantWholeCallError(t, res, err, channels.ErrPermanent)
		}},
		{"timeout is transient", func(t *testing.T, h *Harness) {
			const timeout = 200 * time.Millisecond
			ch := h.NewChannel(t, ChannelOptions{Timeout: timeout})
			h.Delay(t, 10*timeout)
			start := time.Now()
			res, err := ch.Send(context.Background(), h.batch(1))
			wantWholeCallError(t, res, err, channels.ErrTransient)
			if el := time.Since(start); el > 5*timeout {
				t.Errorf("Send took %s with a %s timeout", el, timeout)
			}
		}},
		{"context cancellation returns promptly", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{Timeout: 30 * time.Second})
			h.Delay(t, 10*time.Second)
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(100*time.Millisecond, cancel)
			start := time.Now()
			res, err := ch.Send(ctx, h.batch(1))
			wantWholeCallError(t, res, err, channels.ErrTransient)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v does not wrap context.Canceled", err)
			}
			if el := time.Since(start); el > 2*time.Second {
				t.Errorf("Send took %s after cancellation at 100ms", el)
			}
		}},
		{"context deadline is transient", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{Timeout: 30 * time.Second})
			h.Delay(t, 10*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			res, err := ch.Send(ctx, h.batch(1))
			wantWholeCallError(t, res, err, channels.ErrTransient)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error %v does not wrap context.DeadlineExceeded", err)
			}
		}},
		{"already cancelled context makes no call", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			res, err := ch.Send(ctx, h.batch(1))
			wantWholeCallError(t, res, err, channels.ErrTransient)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v does not wrap context.Canceled", err)
			}
			wantCalls(t, h, 0)
		}},
		{"payload over the limit is permanent and not sent", func(t *testing.T, h *Harness) {
			if h.Limits.MaxPayloadBytes == 0 {
				t.Skip("no payload limit")
			}
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(2)
			msgs[0].Payload = `{"k":"` + strings.Repeat("x", h.Limits.MaxPayloadBytes) + `"}`
			res := send(t, ch, msgs)
			wantOutcomes(t, res, channels.Permanent, channels.Success)
			wantCalls(t, h, 1)
		}},
		{"payload at the limit is sent", func(t *testing.T, h *Harness) {
			if h.Limits.MaxPayloadBytes == 0 {
				t.Skip("no payload limit")
			}
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(1)
			msgs[0].Payload = strings.Repeat("x", h.Limits.MaxPayloadBytes)
			wantOutcomes(t, send(t, ch, msgs), channels.Success)
		}},
		{"title over the limit is permanent and not sent", func(t *testing.T, h *Harness) {
			if h.Limits.MaxTitleRunes == 0 {
				t.Skip("no title limit")
			}
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(1)
			msgs[0].Title = strings.Repeat("标", h.Limits.MaxTitleRunes+1)
			wantOutcomes(t, send(t, ch, msgs), channels.Permanent)
			wantCalls(t, h, 0)
		}},
		{"title at the limit in multibyte characters is sent", func(t *testing.T, h *Harness) {
			if h.Limits.MaxTitleRunes == 0 {
				t.Skip("no title limit")
			}
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(1)
			msgs[0].Title = strings.Repeat("标", h.Limits.MaxTitleRunes)
			wantOutcomes(t, send(t, ch, msgs), channels.Success)
		}},
		{"body over the limit is permanent and not sent", func(t *testing.T, h *Harness) {
			if h.Limits.MaxBodyRunes == 0 {
				t.Skip("no body limit")
			}
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(1)
			msgs[0].Body = strings.Repeat("b", h.Limits.MaxBodyRunes+1)
			wantOutcomes(t, send(t, ch, msgs), channels.Permanent)
			wantCalls(t, h, 0)
		}},
		{"notification without title is permanent and not sent", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(1)
			msgs[0].Title = " "
			if h.TitleUnused {
				wantOutcomes(t, send(t, ch, msgs), channels.Success)
				return
			}
			wantOutcomes(t, send(t, ch, msgs), channels.Permanent)
			wantCalls(t, h, 0)
		}},
		{"pass-through without title is sent", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(1)
			msgs[0].Title, msgs[0].Body, msgs[0].PassThrough = "", "", true
			if h.PassThroughUnsupported {
				wantOutcomes(t, send(t, ch, msgs), channels.Permanent)
				wantCalls(t, h, 0)
				return
			}
			wantOutcomes(t, send(t, ch, msgs), channels.Success)
		}},
		{"expired message is permanent and not sent", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(1)
			msgs[0].ExpireAt = time.Now().Add(-time.Second)
			wantOutcomes(t, send(t, ch, msgs), channels.Permanent)
			wantCalls(t, h, 0)
		}},
		{"empty token is permanent and not sent", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(2)
			msgs[0].Token = ""
			wantOutcomes(t, send(t, ch, msgs), channels.Permanent, channels.Success)
			wantCalls(t, h, 1)
		}},
		{"mixed apps are refused", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(2)
			msgs[1].AppID = h.AppID + "-other"
			res, err := ch.Send(context.Background(), msgs)
			wantWholeCallError(t, res, err, channels.ErrPermanent)
			if !errors.Is(err, channels.ErrMixedApps) {
				t.Errorf("error %v is not ErrMixedApps", err)
			}
			wantCalls(t, h, 0)
		}},
		{"unknown app is refused", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			msgs := h.batch(1)
			msgs[0].AppID = h.AppID + "-unknown"
			res, err := ch.Send(context.Background(), msgs)
			wantWholeCallError(t, res, err, channels.ErrPermanent)
			if !errors.Is(err, channels.ErrUnknownApp) {
				t.Errorf("error %v is not ErrUnknownApp", err)
			}
		}},
		{"concurrent sends", func(t *testing.T, h *Harness) {
			ch := h.NewChannel(t, ChannelOptions{})
			const workers, perWorker = 8, 5
			var wg sync.WaitGroup
			errs := make(chan error, workers*perWorker)
			for w := range workers {
				wg.Go(func() {
					for j := range perWorker {
						msgs := h.batch(3)
						for i := range msgs {
							msgs[i].MsgID = fmt.Sprintf("m-%d-%d", w, j)
						}
						res, err := ch.Send(context.Background(), msgs)
						if err != nil {
							errs <- err
							continue
						}
						for i, r := range res {
							if r.Outcome != channels.Success {
								errs <- fmt.Errorf("worker %d send %d result %d: %s", w, j, i, r.Outcome)
							}
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			wantCalls(t, h, h.calls(workers*perWorker, workers*perWorker*3))
		}},
	}
}

func send(t *testing.T, ch channels.Channel, msgs []channels.Message) []channels.Result {
	t.Helper()
	res, err := ch.Send(context.Background(), msgs)
	if err != nil {
		t.Fatalf("Send(%d messages): %v", len(msgs), err)
	}
	if len(res) != len(msgs) {
		t.Fatalf("Send(%d messages) returned %d results", len(msgs), len(res))
	}
	return res
}

func wantOutcomes(t *testing.T, res []channels.Result, want ...channels.Outcome) {
	t.Helper()
	if len(res) != len(want) {
		t.Fatalf("%d results, want %d", len(res), len(want))
	}
	for i := range want {
		if res[i].Outcome != want[i] {
			t.Errorf("result %d: outcome %s (%d %q), want %s", i, res[i].Outcome, res[i].StatusCode, res[i].StatusDesc, want[i])
		}
	}
}

func wantWholeCallError(t *testing.T, res []channels.Result, err, class error) {
	t.Helper()
	if err == nil {
		t.Fatalf("Send succeeded with %d results, want a whole-call error", len(res))
	}
	if res != nil {
		t.Errorf("results returned with a whole-call error: %d", len(res))
	}
	other := channels.ErrPermanent
	if errors.Is(class, channels.ErrPermanent) {
		other = channels.ErrTransient
	}
	if !errors.Is(err, class) || errors.Is(err, other) {
		t.Errorf("error %v: want class %v only", err, class)
	}
}

func wantCalls(t *testing.T, h *Harness, want int) {
	t.Helper()
	if got := h.Calls(t); got != want {
		t.Errorf("simulator received %d vendor calls, want %d", got, want)
	}
}
