package channels

import (
	"context"
	"sync"
	"time"
)

// maxTokenRefreshMargin is how long before expiry a cached access token is
// replaced at the latest; shorter-lived tokens are replaced after 90% of
// their life.
const maxTokenRefreshMargin = 5 * time.Minute

// TokenSource obtains and caches the access token of one vendor app (an
// OAuth 2.0 access token, OPPO's auth_token, vivo's authToken...). It is
// safe for concurrent use: callers that need a token while one is being
// fetched wait for that one fetch, each returning when its own ctx is done.
// Set the exported fields before the first Token call and do not change
// them afterwards.
type TokenSource struct {
	// Channel and Op name the vendor and the token request in the
	// VendorError of a caller whose ctx ended.
	Channel, Op string
	// Fetch makes one token request; it returns the token and its
	// lifetime, or a *VendorError (permanent when the credentials were
	// refused, transient otherwise).
	Fetch func(ctx context.Context) (string, time.Duration, error)
	// Timeout bounds one Fetch.
	Timeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	mu        sync.Mutex
	token     string
	refreshAt time.Time
	inflight  *tokenFetch
}

// tokenFetch is one token request that several callers may wait for.
type tokenFetch struct {
	done  chan struct{}
	token string
	err   error
}

func (ts *TokenSource) now() time.Time {
	if ts.Now == nil {
		return time.Now()
	}
	return ts.Now()
}

// Token returns a valid access token, fetching one if none is cached or the
// cached one is about to expire. Errors are Fetch's, or the ctx error
// wrapped in a transient *VendorError when ctx ends first.
func (ts *TokenSource) Token(ctx context.Context) (string, error) {
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
		return "", &VendorError{Channel: ts.Channel, Op: ts.Op, Transient: true, Cause: ctx.Err()}
	}
}

// Invalidate forgets tok if it is the cached token (the vendor refused it),
// so that the next Token call fetches a new one.
func (ts *TokenSource) Invalidate(tok string) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if ts.token == tok {
		ts.token = ""
	}
}

func (ts *TokenSource) run(ctx context.Context, f *tokenFetch) {
	ctx, cancel := context.WithTimeout(ctx, ts.Timeout)
	defer cancel()
	issued := ts.now()
	tok, lifetime, err := ts.Fetch(ctx)
	ts.mu.Lock()
	if err == nil {
		ts.token = tok
		ts.refreshAt = issued.Add(lifetime - min(lifetime/10, maxTokenRefreshMargin))
	}
	ts.inflight = nil
	ts.mu.Unlock()
	f.token, f.err = tok, err
	close(f.done)
}

// CallWithToken makes call with a token of ts. When refused reports that
// the vendor refused that token (expired or revoked), the token is
// invalidated and call made once more with a fresh one, whose answer is
// returned whatever it says. Errors are those of ts.Token and call,
// unchanged; an answer is returned only with a nil error. Safe for
// concurrent use, as ts is.
func CallWithToken[A any](ctx context.Context, ts *TokenSource, call func(token string) (A, error), refused func(A) bool) (A, error) {
	var zero A
	for attempt := 0; ; attempt++ {
		tok, err := ts.Token(ctx)
		if err != nil {
			return zero, err
		}
		a, err := call(tok)
		if err != nil {
			return zero, err
		}
		if !refused(a) || attempt == 1 {
			return a, nil
		}
		ts.Invalidate(tok)
	}
}
