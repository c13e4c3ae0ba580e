// Package middleware holds the guards a vendor channel is wrapped in
// before a stage calls it: each guard is a Middleware, a
// func(channels.Channel) channels.Channel whose result is itself a
// channel, and Chain composes them.
//
//   - Breaker (breaker.go) guards the vendor endpoint of one channel in
//     one region with a circuit breaker: while the endpoint is unwell,
//     Send fails at once with a transient error instead of calling it.
//   - Limiter and LimitedChannel (ratelimit.go) hold each vendor call
//     until the tokens of the app's rate limit and of every smooth-push
//     task in it are there; the limits are budgets of the whole region of
//     which the replica applies its share (Limiter.SetShare), which the
//     caller learns and hands in.
//
// Each guard has its configuration (defaults and Validate), its
// Prometheus collectors (registered by the caller) and its own test. The
// package knows no stage and no vendor: what a guard needs from its user
// (the vendor codes that mean throttling, the replica's share) is passed
// in.
package middleware

import (
	"errors"

	"github.com/sony/gobreaker/v2"

	"github.com/pushpipe/pushpipe/channels"
)

// Middleware wraps a channel in a guard. The result calls the wrapped
// channel's Send (or refuses to) and reports the wrapped channel's Name,
// MaxBatch and BatchKey; it implements channels.BatchKeyer whatever the
// wrapped channel does (BatchKey "" when it has none). A Middleware is
// safe for concurrent use when the channel it wraps is.
type Middleware func(channels.Channel) channels.Channel

// Chain returns ch wrapped in mw, the first outermost: Chain(ch, a, b) is
// a(b(ch)), so a call passes a's guard first and b's last before it
// reaches ch. A nil Middleware is skipped, so a guard that is turned off
// can stay in the list.
func Chain(ch channels.Channel, mw ...Middleware) channels.Channel {
	for i := len(mw) - 1; i >= 0; i-- {
		if mw[i] != nil {
			ch = mw[i](ch)
		}
	}
	return ch
}

// Refused reports whether err, from the Send of a guarded channel, means a
// guard kept the messages from the vendor: the rate limiter's tokens would
// come too late (ErrRateLimited) or a Breaker is open or has no probe slot
// free. No vendor call was made for them; like every refusal of a guard,
// err matches channels.ErrTransient.
func Refused(err error) bool {
	return errors.Is(err, ErrRateLimited) || errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests)
}

// wrapped is what every guard shares: the channel it wraps and the
// methods it passes through.
type wrapped struct {
	inner channels.Channel
}

// Name returns the wrapped channel's name.
func (w wrapped) Name() string { return w.inner.Name() }

// MaxBatch returns the wrapped channel's MaxBatch.
func (w wrapped) MaxBatch() int { return w.inner.MaxBatch() }

// BatchKey returns the wrapped channel's BatchKey, or "" when it has none
// (every message may then share a call).
func (w wrapped) BatchKey(m channels.Message) string {
	if bk, ok := w.inner.(channels.BatchKeyer); ok {
		return bk.BatchKey(m)
	}
	return ""
}

// Unwrap returns the wrapped channel.
func (w wrapped) Unwrap() channels.Channel { return w.inner }
