package h2_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/pushpipe/pushpipe/channels/h2"
)

// calls records the completions of asynchronous calls, checking that
// each call completes exactly once.
type calls struct {
	t     *testing.T
	wg    sync.WaitGroup
	mu    sync.Mutex
	resp  []*h2.Response
	errs  []error
	times []int
}

func newCalls(t *testing.T, n int) *calls {
	return &calls{t: t, resp: make([]*h2.Response, n), errs: make([]error, n), times: make([]int, n)}
}

// start starts call i of c on cl.
func (c *calls) start(ctx context.Context, cl *h2.Client, i int, req *h2.Request) {
	c.wg.Add(1)
	cl.Start(ctx, req, func(r *h2.Response, err error) {
		c.mu.Lock()
		c.resp[i], c.errs[i] = r, err
		c.times[i]++
		first := c.times[i] == 1
		c.mu.Unlock()
		if first {
			c.wg.Done()
		}
	})
}

// wait waits for every call and fails the test if one completed more
// than once, or without an answer nor an error.
func (c *calls) wait() {
	c.t.Helper()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, n := range c.times {
		if n != 1 {
			c.t.Errorf("call %d completed %d times, want once", i, n)
		}
		if (c.resp[i] == nil) == (c.errs[i] == nil) {
			c.t.Errorf("call %d completed with answer %v and error %v: want exactly one", i, c.resp[i], c.errs[i])
		}
	}
}

func TestStartWaitsForStreamSlotsWithoutAGoroutinePerCall(t *testing.T) {
	const limit, n = 4, 300
	release := make(chan struct{})
	var inflight, most atomic.Int32
	entered := make(chan struct{}, n)
	s := newServer(t, &http2.Server{MaxConcurrentStreams: limit}, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/warm" {
			m := inflight.Add(1)
			defer inflight.Add(-1)
			for v := most.Load(); m > v && !most.CompareAndSwap(v, m); v = most.Load() {
			}
			entered <- struct{}{}
			<-release
		}
		echo(w, r)
	})
	cl := s.client(t, h2.Config{AnswerHeaders: []string{"x-seq"}})
	if _, err := cl.Do(t.Context(), &h2.Request{Path: "/warm"}); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	c := newCalls(t, n)
	for i := range n {
		c.start(t.Context(), cl, i, post(i, fmt.Sprintf(`{"i":%d}`, i)))
	}
	for range limit {
		<-entered // the server holds limit calls; the others wait for a slot
	}
	// The waiting calls have no goroutine: only the server's handlers
	// (limit of them) and its per-stream bookkeeping were added.
	if g := runtime.NumGoroutine() - before; g > 3*limit {
		t.Errorf("%d goroutines more with %d calls waiting, want at most %d (none per call)", g, n, 3*limit)
	}
	close(release)
	c.wait()
	for i := range n {
		r, err := c.resp[i], c.errs[i]
		if err != nil || r.Status != 200 || string(r.Body) != fmt.Sprintf(`{"i":%d}`, i) || r.Header("x-seq") != strconv.Itoa(i) {
			t.Fatalf("call %d: answer %+v, error %v", i, r, err)
		}
	}
	if m := most.Load(); m > limit {
		t.Errorf("the server saw %d calls at once, above its limit %d", m, limit)
	}
	if k := s.conns.Load(); k != 1 {
		t.Errorf("%d connections, want 1", k)
	}
}

func TestStartCompletesEveryCallAcrossGoAways(t *testing.T) {
	var handled, seq atomic.Int32
	s := newServer(t, &http2.Server{MaxConcurrentStreams: 20}, func(w http.ResponseWriter, r *http.Request) {
		if n := seq.Add(1); n == 50 || n == 200 {
			w.Header().Set("Connection", "close") // the server sends GOAWAY
		}
		time.Sleep(time.Millisecond)
		handled.Add(1)
		echo(w, r)
	})
	cl := s.client(t, h2.Config{AnswerHeaders: []string{"x-seq"}})
	const n = 400
	c := newCalls(t, n)
	for i := range n {
		c.start(t.Context(), cl, i, post(i, "x"))
	}
	c.wait()
	answered, retryable := 0, 0
	for i := range n {
		r, err := c.resp[i], c.errs[i]
		switch {
		case err == nil && r.Status == 200 && r.Header("x-seq") == strconv.Itoa(i):
			answered++
		case errors.Is(err, h2.ErrUnprocessed):
			retryable++
		default:
			t.Errorf("call %d: answer %+v, error %v", i, r, err)
		}
	}
	if answered+retryable != n || int32(answered) != handled.Load() {
		t.Errorf("%d answered + %d failed retryable of %d; the server handled %d", answered, retryable, n, handled.Load())
	}
	if k := s.conns.Load(); k < 3 {
		t.Errorf("%d connections, want at least 3 (two GOAWAYs)", k)
	}
}

func TestStartEndsCallsEarly(t *testing.T) {
	tests := []struct {
		name    string
		cfg     h2.Config
		cancel  bool // the calls' context is cancelled once the first is with the server
		wantErr func(error) bool
		what    string
	}{
		{"context cancelled", h2.Config{}, true,
			func(err error) bool { return errors.Is(err, context.Canceled) }, "context.Canceled"},
		{"call timeout", h2.Config{CallTimeout: 200 * time.Millisecond}, false,
			func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }, "context.DeadlineExceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := make(chan struct{}, 2)
			serverSawReset := make(chan struct{}, 2)
			s := newServer(t, &http2.Server{MaxConcurrentStreams: 1}, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/hang" {
					started <- struct{}{}
					<-r.Context().Done()
					serverSawReset <- struct{}{}
					return
				}
				echo(w, r)
			})
			cl := s.client(t, tt.cfg)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			c := newCalls(t, 2)
			c.start(ctx, cl, 0, &h2.Request{Path: "/hang", Body: []byte("x")})
			<-started
			// The second call waits for the only stream slot.
			c.start(ctx, cl, 1, &h2.Request{Path: "/hang", Body: []byte("y")})
			if tt.cancel {
				cancel()
			}
			c.wait()
			for i, err := range c.errs {
				if !tt.wantErr(err) {
					t.Errorf("call %d: error %v, want %s", i, err, tt.what)
				}
			}
			select {
			case <-serverSawReset:
			case <-time.After(10 * time.Second):
				t.Fatal("the server's handler was not cancelled: the stream was not reset")
			}
			select {
			case <-started:
				t.Error("the call waiting for a stream slot reached the server after it ended")
			default:
			}
			if resp, err := cl.Do(t.Context(), post(2, "after")); err != nil || string(resp.Body) != "after" {
				t.Fatalf("the next call on the connection: %v", err)
			}
			if k := s.conns.Load(); k != 1 {
				t.Errorf("%d connections, want 1", k)
			}
		})
	}
}

func TestStartReportsAResetStream(t *testing.T) {
	s := newServer(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/p/3" {
			panic(http.ErrAbortHandler) // the server resets the stream
		}
		echo(w, r)
	})
	cl := s.client(t, h2.Config{})
	c := newCalls(t, 8)
	for i := range 8 {
		c.start(t.Context(), cl, i, post(i, "x"))
	}
	c.wait()
	for i, err := range c.errs {
		var se *h2.StreamError
		switch {
		case i == 3 && (!errors.As(err, &se) || errors.Is(err, h2.ErrUnprocessed)):
			t.Errorf("call 3: error %v, want a *StreamError that is not 'unprocessed'", err)
		case i != 3 && err != nil:
			t.Errorf("call %d: %v", i, err)
		}
	}
}

func TestStartAfterTheServerIsGone(t *testing.T) {
	s := newServer(t, nil, echo)
	cl := s.client(t, h2.Config{})
	if _, err := cl.Do(t.Context(), post(0, "x")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	c := newCalls(t, 1)
	c.start(t.Context(), cl, 0, post(1, "x"))
	c.wait()
	if c.errs[0] == nil {
		t.Fatal("a call to a closed server succeeded")
	}
}
