package middleware

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/sony/gobreaker/v2"

	"github.com/pushpipe/pushpipe/channels"
)

// stub is a channel that answers every message with success and logs the
// calls that reach it.
type stub struct {
	name string
	log  *[]string
}

func (s stub) Name() string  { return s.name }
func (s stub) MaxBatch() int { return 7 }
func (s stub) Send(_ context.Context, msgs []channels.Message) ([]channels.Result, error) {
	*s.log = append(*s.log, s.name)
	return make([]channels.Result, len(msgs)), nil
}

// tagging returns a Middleware that logs tag before passing a call on.
func tagging(tag string, log *[]string) Middleware {
	return func(ch channels.Channel) channels.Channel { return &tagged{wrapped{ch}, tag, log} }
}

type tagged struct {
	wrapped
	tag string
	log *[]string
}

func (t *tagged) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	*t.log = append(*t.log, t.tag)
	return t.inner.Send(ctx, msgs)
}

func TestChainOrder(t *testing.T) {
	for _, c := range []struct {
		scenario string
		mw       func(log *[]string) []Middleware
		want     []string
	}{
		{scenario: "no middleware: the channel itself", mw: func(*[]string) []Middleware { return nil }, want: []string{"vendor"}},
		{scenario: "first is outermost", mw: func(log *[]string) []Middleware {
			return []Middleware{tagging("breaker", log), tagging("limiter", log)}
		}, want: []string{"breaker", "limiter", "vendor"}},
		{scenario: "a nil middleware (guard turned off) is skipped", mw: func(log *[]string) []Middleware {
			return []Middleware{nil, tagging("limiter", log), nil}
		}, want: []string{"limiter", "vendor"}},
	} {
		var log []string
		ch := Chain(stub{name: "vendor", log: &log}, c.mw(&log)...)
		if _, err := ch.Send(context.Background(), []channels.Message{{DeliveryID: "d1"}}); err != nil {
			t.Fatalf("%s: Send: %v", c.scenario, err)
		}
		if !slices.Equal(log, c.want) {
			t.Errorf("%s: calls passed %v, want %v", c.scenario, log, c.want)
		}
		if ch.Name() != "vendor" || ch.MaxBatch() != 7 {
			t.Errorf("%s: Name %q MaxBatch %d, want the wrapped channel's vendor and 7", c.scenario, ch.Name(), ch.MaxBatch())
		}
	}
}

func TestWrappedBatchKey(t *testing.T) {
	var log []string
	plain := tagging("t", &log)(stub{name: "vendor", log: &log})
	if got := plain.(channels.BatchKeyer).BatchKey(channels.Message{MsgID: "m1"}); got != "" {
		t.Errorf("BatchKey over a channel without one = %q, want \"\"", got)
	}
}

func TestRefused(t *testing.T) {
	for _, c := range []struct {
		scenario string
		err      error
		want     bool
	}{
		{scenario: "rate limit tokens too late", err: &channels.VendorError{Channel: "mipush", Transient: true, Cause: ErrRateLimited}, want: true},
		{scenario: "breaker open", err: &channels.VendorError{Channel: "mipush", Transient: true, Cause: gobreaker.ErrOpenState}, want: true},
		{scenario: "breaker half-open, no probe slot", err: fmt.Errorf("x: %w", gobreaker.ErrTooManyRequests), want: true},
		{scenario: "vendor 503 was a call", err: &channels.VendorError{Channel: "mipush", HTTPStatus: 503, Transient: true}, want: false},
		{scenario: "permanent vendor error was a call", err: errors.New("credentials rejected"), want: false},
	} {
		if got := Refused(c.err); got != c.want {
			t.Errorf("%s: Refused = %v, want %v", c.scenario, got, c.want)
		}
	}
}
