package vivo

import (
	"context"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// maxRefreshMargin is how long before expiry an authToken is replaced at
// the latest; shorter-lived tokens are replaced after 90% of their life.
const maxRefreshMargin = 5 * time.Minute

// tokenSource obtains and caches the authToken of one app. Safe for
// concurrent use: callers that need a token while one is being fetched wait
// for that fetch (one fetch at a time), each returning when its own ctx is
// done.
type tokenSource struct {
	// fetch makes one auth request; it returns the token and its lifetime,
	// or a *channels.VendorError.
	fetch   func(ctx context.Context) (string, time.Duration, error)
	op      string
	timeout time.Duration
	now     func() time.Time

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	inflight  *tokenFetch
}

// tokenFetch is one auth request that several callers may wait for.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

// Token returns a valid authToken, fetching one if none is cached or the
// cached one is about to expire. Errors are *channels.VendorError
// (permanent when the credentials were refused, transient otherwise), the
// ctx error wrapped in a transient one when ctx ends first.
func (ts *tokenSource) Token(ctx context.Context) (string, error) {
	ts.mu.Lock()
	if ts.token != "" && ts.now().Before(ts.refreshAt) {
		tok := ts.token
		ts.mu.Unlock()
		return tok, nil
	}
	f := ts.inflight
	if f == nil {
		f = &tokenFetch{done: make(chan struct{})}
		ts.inflight = f
		// The fetch outlives the caller that started it, so that callers
		// still waiting get its result; it is bounded by the timeout.
		go ts.run(context.WithoutCancel(ctx), f)
	}
	ts.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", &channels.VendorError{Channel: Name, Op: ts.op, Transient: true, Cause: ctx.Err()}
	}
}

// invalidate forgets tok if it is the cached token (the vendor refused it),
// so that the next Token call fetches a new one.
func (ts *tokenSource) invalidate(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == tok {
		ts.token = ""
	}
}

func (ts *tokenSource) run(ctx context.Context, f *tokenFetch) {
	ctx, cancel := context.WithTimeout(ctx, ts.timeout)
	defer cancel()
	issued := ts.now()
	tok, lifetime, err := ts.fetch(ctx)
	ts.mu.Lock()
	if err == nil {
		ts.token = tok
		ts.refreshAt = issued.Add(lifetime - min(lifetime/10, maxRefreshMargin))
	}
	ts.inflight = nil
	ts.mu.Unlock()
	f.token, f.err = tok, err
	close(f.done)
}
