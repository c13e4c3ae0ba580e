package h2_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/pushpipe/pushpipe/channels/h2"
)

// server is a golang.org/x/net/http2 server on 127.0.0.1 over TLS that
// counts the connections it accepted.
type server struct {
	*httptest.Server
	conns atomic.Int32
}

type connKey struct{}

func newServer(t *testing.T, h2s *http2.Server, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{Server: httptest.NewUnstartedServer(h)}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Config.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	if h2s == nil {
		h2s = &http2.Server{}
	}
	if err := http2.ConfigureServer(s.Config, h2s); err != nil {
		t.Fatal(err)
	}
	s.TLS = s.Config.TLSConfig
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, addr string, cert *x509.Certificate, cfg h2.Config) *h2.Client {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	cfg.Addr = addr
	cfg.TLS = &tls.Config{RootCAs: pool}
	c, err := h2.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func (s *server) client(t *testing.T, cfg h2.Config) *h2.Client {
	return newClient(t, s.Listener.Addr().String(), s.Certificate(), cfg)
}

// echo answers 200 with the request body, x-seq set to the request's
// x-seq header.
func echo(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("x-seq", r.Header.Get("x-seq"))
	_, _ = w.Write(b)
}

func post(i int, body string) *h2.Request {
	return &h2.Request{Path: "/p/" + strconv.Itoa(i), Body: []byte(body),
		Header: []hpack.HeaderField{{Name: "x-seq", Value: strconv.Itoa(i), Sensitive: true}, {Name: "authorization", Value: "bearer abc"}}}
}

func TestManyStreamsAboveTheServersLimit(t *testing.T) {
	var inflight, most atomic.Int32
	s := newServer(t, &http2.Server{MaxConcurrentStreams: 4}, func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		if r.Header.Get("content-type") != "application/json" || r.Header.Get("authorization") != "bearer abc" || r.Host != "push.test" {
			http.Error(w, "headers", http.StatusBadRequest)
			return
		}
		time.Sleep(2 * time.Millisecond)
		echo(w, r)
	})
	c := s.client(t, h2.Config{Authority: "push.test", AnswerHeaders: []string{"x-seq"},
		StaticHeaders: []hpack.HeaderField{{Name: "content-type", Value: "application/json"}}})
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			body := fmt.Sprintf(`{"i":%d}`, i)
			resp, err := c.Do(t.Context(), post(i, body))
			switch {
			case err != nil:
				errs[i] = err
			case resp.Status != 200 || string(resp.Body) != body || resp.Header("x-seq") != strconv.Itoa(i):
				errs[i] = fmt.Errorf("answer %d %q x-seq %q", resp.Status, resp.Body, resp.Header("x-seq"))
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if m := most.Load(); m > 4 || m < 2 {
		t.Errorf("the server saw at most %d requests at once, want 2..4 (its limit)", m)
	}
	if k := s.conns.Load(); k != 1 {
		t.Errorf("%d connections, want 1", k)
	}
}

func TestFlowControl(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	s := newServer(t, &http2.Server{MaxUploadBufferPerStream: 65535, MaxUploadBufferPerConnection: 65535},
		func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/big" {
				_, _ = w.Write(big)
				return
			}
			echo(w, r)
		})
	tests := []struct {
		name     string
		path     string
		body     []byte
		maxBytes int
		want     []byte
	}{
		{"answer above the windows", "/big", nil, 2 << 20, big},
		{"answer over the bound is cut", "/big", nil, 1000, big[:1000]},
		{"request body above the server's windows", "/echo", big[:300_000], 1 << 20, big[:300_000]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := s.client(t, h2.Config{MaxAnswerBytes: tt.maxBytes})
			for range 3 { // the windows granted back serve the next ones
				resp, err := c.Do(t.Context(), &h2.Request{Path: tt.path, Body: tt.body})
				if err != nil {
					t.Fatal(err)
				}
				if resp.Status != 200 || !bytes.Equal(resp.Body, tt.want) {
					t.Fatalf("answer %d with %d bytes, want 200 with %d", resp.Status, len(resp.Body), len(tt.want))
				}
			}
		})
	}
}

// callModes are the two ways of making calls: Do, on a goroutine each,
// and Start.
var callModes = []string{"Do", "Start"}

// callAll makes calls 0..n-1 (req(i)) on cl at once, by Do or by Start
// (mode), and returns their answers and errors.
func callAll(t *testing.T, cl *h2.Client, mode string, n int, req func(int) *h2.Request) ([]*h2.Response, []error) {
	t.Helper()
	if mode == "Start" {
		c := newCalls(t, n)
		for i := range n {
			c.start(t.Context(), cl, i, req(i))
		}
		c.wait()
		return c.resp, c.errs
	}
	resp, errs := make([]*h2.Response, n), make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { resp[i], errs[i] = cl.Do(t.Context(), req(i)) })
	}
	wg.Wait()
	return resp, errs
}

func TestResetStream(t *testing.T) {
	for _, mode := range callModes {
		t.Run(mode, func(t *testing.T) {
			s := newServer(t, nil, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/p/3" {
					panic(http.ErrAbortHandler) // the server resets the stream
				}
				echo(w, r)
			})
			c := s.client(t, h2.Config{})
			_, errs := callAll(t, c, mode, 8, func(i int) *h2.Request { return post(i, "x") })
			for i, err := range errs {
				var se *h2.StreamError
				switch {
				case i == 3 && !errors.As(err, &se):
					t.Errorf("request 3: error %v, want a *StreamError", err)
				case i == 3 && errors.Is(err, h2.ErrUnprocessed):
					t.Errorf("request 3: reset after it was processed but the error says unprocessed: %v", err)
				case i != 3 && err != nil:
					t.Errorf("request %d: %v", i, err)
				}
			}
			if k := s.conns.Load(); k != 1 {
				t.Errorf("%d connections, want 1: a reset stream must not end the connection", k)
			}
		})
	}
}

func TestGoAwayMidTraffic(t *testing.T) {
	for _, mode := range callModes {
		t.Run(mode, func(t *testing.T) {
			var handled, seq atomic.Int32
			s := newServer(t, &http2.Server{MaxConcurrentStreams: 20}, func(w http.ResponseWriter, r *http.Request) {
				if n := seq.Add(1); n == 50 || n == 200 {
					w.Header().Set("Connection", "close") // the server sends GOAWAY
				}
				time.Sleep(time.Millisecond)
				handled.Add(1)
				echo(w, r)
			})
			c := s.client(t, h2.Config{AnswerHeaders: []string{"x-seq"}})
			const n = 400
			resp, errs := callAll(t, c, mode, n, func(i int) *h2.Request { return post(i, "x") })
			var answered, retryable int32
			for i, err := range errs {
				switch {
				case err == nil && resp[i].Status == 200 && resp[i].Header("x-seq") == strconv.Itoa(i):
					answered++
				case errors.Is(err, h2.ErrUnprocessed):
					retryable++
				default:
					t.Errorf("request %d: %v", i, err)
				}
			}
			if answered+retryable != n || answered != handled.Load() {
				t.Errorf("%d answered + %d failed retryable of %d; the server handled %d", answered, retryable, n, handled.Load())
			}
			if k := s.conns.Load(); k < 3 {
				t.Errorf("%d connections, want at least 3 (two GOAWAYs)", k)
			}
		})
	}
}

func TestServerClosesTheConnection(t *testing.T) {
	slowStarted := make(chan struct{}, 4)
	s := newServer(t, nil, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			slowStarted <- struct{}{}
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "/kill":
			_ = r.Context().Value(connKey{}).(net.Conn).Close()
		default:
			echo(w, r)
		}
	})
	c := s.client(t, h2.Config{})
	slowErr := make(chan error, 1)
	go func() {
		_, err := c.Do(t.Context(), &h2.Request{Path: "/slow"})
		slowErr <- err
	}()
	<-slowStarted
	if _, err := c.Do(t.Context(), &h2.Request{Path: "/kill"}); err == nil {
		t.Error("the call whose connection the server closed succeeded")
	}
	select {
	case err := <-slowErr:
		if err == nil || errors.Is(err, h2.ErrUnprocessed) {
			t.Errorf("the call in flight when the connection closed: error %v, want a connection failure that is not 'unprocessed'", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call in flight did not fail when the connection closed")
	}
	resp, err := c.Do(t.Context(), post(1, "again"))
	if err != nil || resp.Status != 200 {
		t.Fatalf("the next call: %v", err)
	}
	if k := s.conns.Load(); k != 2 {
		t.Errorf("%d connections, want 2", k)
	}
}

func TestContextCancelledMidCall(t *testing.T) {
	started := make(chan struct{})
	serverSawCancel := make(chan struct{})
	s := newServer(t, nil, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			close(started)
			<-r.Context().Done()
			close(serverSawCancel)
			return
		}
		echo(w, r)
	})
	c := s.client(t, h2.Config{})
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-started
		cancel()
	}()
	if _, err := c.Do(ctx, &h2.Request{Path: "/hang", Body: []byte("x")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	select {
	case <-serverSawCancel:
	case <-time.After(10 * time.Second):
		t.Fatal("the server's handler was not cancelled: the stream was not reset")
	}
	if resp, err := c.Do(t.Context(), post(2, "after")); err != nil || string(resp.Body) != "after" {
		t.Fatalf("the next call on the connection: %v", err)
	}
	if k := s.conns.Load(); k != 1 {
		t.Errorf("%d connections, want 1", k)
	}
}

func TestPing(t *testing.T) {
	t.Run("a live server keeps the connection", func(t *testing.T) {
		s := newServer(t, nil, echo)
		c := s.client(t, h2.Config{PingInterval: 20 * time.Millisecond, PingTimeout: time.Second})
		for range 3 {
			if _, err := c.Do(t.Context(), post(1, "x")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(150 * time.Millisecond) // several pings answered
		}
		if k := s.conns.Load(); k != 1 {
			t.Errorf("%d connections, want 1", k)
		}
	})
	t.Run("a silent server times out", func(t *testing.T) {
		addr, cert, pings := silentServer(t)
		c := newClient(t, addr, cert, h2.Config{PingInterval: 50 * time.Millisecond, PingTimeout: 100 * time.Millisecond})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
		defer cancel()
		_, err := c.Do(ctx, post(1, "x"))
		if !errors.Is(err, h2.ErrPingTimeout) || errors.Is(err, h2.ErrUnprocessed) {
			t.Fatalf("error %v, want ErrPingTimeout (and not unprocessed: the request was written)", err)
		}
		if pings.Load() == 0 {
			t.Error("the server received no PING")
		}
	})
}

// silentServer accepts h2 connections over TLS, sends its SETTINGS, then
// reads every frame and answers none (not even PING). It returns its
// address, certificate and the PINGs it received.
func silentServer(t *testing.T) (string, *x509.Certificate, *atomic.Int32) {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.EnableHTTP2 = true
	ts.StartTLS()
	cert := ts.Certificate()
	tlsCfg := ts.TLS.Clone()
	tlsCfg.NextProtos = []string{"h2"}
	ts.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	var pings atomic.Int32
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer func() { _ = nc.Close() }()
				br := bufio.NewReader(nc)
				if _, err := io.ReadFull(br, make([]byte, len(http2.ClientPreface))); err != nil {
					return
				}
				fr := http2.NewFramer(nc, br)
				if fr.WriteSettings() != nil {
					return
				}
				for {
					f, err := fr.ReadFrame()
					if err != nil {
						return
					}
					if _, ok := f.(*http2.PingFrame); ok {
						pings.Add(1)
					}
				}
			}()
		}
	}()
	return ln.Addr().String(), cert, &pings
}

func TestCloseEndsTheConnectionAndIsIdempotent(t *testing.T) {
	s := newServer(t, nil, echo)
	c := s.client(t, h2.Config{})
	if _, err := c.Do(t.Context(), post(1, "x")); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	// A call after Close dials anew.
	if _, err := c.Do(t.Context(), post(2, "y")); err != nil {
		t.Fatal(err)
	}
	if k := s.conns.Load(); k != 2 {
		t.Errorf("%d connections, want 2", k)
	}
}

func TestRefusesAServerWithoutH2(t *testing.T) {
	ts := httptest.NewTLSServer(http.HandlerFunc(echo)) // HTTP/1.1 only
	defer ts.Close()
	c := newClient(t, ts.Listener.Addr().String(), ts.Certificate(), h2.Config{})
	if _, err := c.Do(t.Context(), post(1, "x")); !errors.Is(err, h2.ErrNotH2) {
		t.Fatalf("error %v, want ErrNotH2", err)
	}
}

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
	cl.Start(ctx, req, c.done(i))
}

// done counts call i of c and returns the function its end is given to.
func (c *calls) done(i int) func(*h2.Response, error) {
	c.wg.Add(1)
	return func(r *h2.Response, err error) {
		c.mu.Lock()
		c.resp[i], c.errs[i] = r, err
		c.times[i]++
		first := c.times[i] == 1
		c.mu.Unlock()
		if first {
			c.wg.Done()
		}
	}
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
			if tt.cancel {
				// (With a timeout, the second call has time left when the
				// first ends and may take its slot before its own end.)
				select {
				case <-started:
					t.Error("the call waiting for a stream slot reached the server after it ended")
				default:
				}
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

// TestCancellationIsPerContext: the calls of a batch share one
// cancellation per context; cancelling one context ends its calls (in
// flight, reset, and queued, never sent) and no other's, also for a
// context whose earlier calls had all ended before.
func TestCancellationIsPerContext(t *testing.T) {
	const limit, n = 8, 6 // n calls per context; 2n > limit: some queue
	release := make(chan struct{})
	entered := make(chan string, 2*n)
	reset := make(chan string, 2*n)
	var aEntered atomic.Int32
	s := newServer(t, &http2.Server{MaxConcurrentStreams: limit}, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/hang/") {
			echo(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/hang/a/") {
			aEntered.Add(1)
		}
		entered <- r.URL.Path
		select {
		case <-release:
			echo(w, r)
		case <-r.Context().Done():
			reset <- r.URL.Path
		}
	})
	cl := s.client(t, h2.Config{})
	ctxA, cancelA := context.WithCancel(t.Context())
	defer cancelA()
	ctxB, cancelB := context.WithCancel(t.Context())
	defer cancelB()
	// A call of ctxA that ends before the others start: its cancellation
	// is registered and stopped, then registered again below.
	if _, err := cl.Do(ctxA, post(0, "first")); err != nil {
		t.Fatal(err)
	}
	ca, cb := newCalls(t, n), newCalls(t, n)
	for i := range n {
		ca.start(ctxA, cl, i, &h2.Request{Path: fmt.Sprintf("/hang/a/%d", i), Body: []byte("a")})
		cb.start(ctxB, cl, i, &h2.Request{Path: fmt.Sprintf("/hang/b/%d", i), Body: []byte("b")})
	}
	for range limit {
		<-entered // the server holds limit calls, half of each context; the others queue
	}
	cancelA()
	ca.wait()
	for i, err := range ca.errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("call %d of the cancelled context: error %v, want context.Canceled", i, err)
		}
	}
	for range limit / 2 {
		select {
		case p := <-reset:
			if !strings.HasPrefix(p, "/hang/a/") {
				t.Errorf("the server saw %s reset, a call of the context not cancelled", p)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the calls of the cancelled context in flight were not reset")
		}
	}
	close(release)
	cb.wait()
	for i := range n {
		if r, err := cb.resp[i], cb.errs[i]; err != nil || r.Status != 200 || string(r.Body) != "b" {
			t.Errorf("call %d of the context not cancelled: answer %+v, error %v", i, r, err)
		}
	}
	if k := aEntered.Load(); k != limit/2 {
		t.Errorf("the server saw %d calls of the cancelled context, want the %d in flight when it was cancelled (the queued ones are not sent)", k, limit/2)
	}
}

// TestBatchStartsEveryCall: calls gathered in a Batch for two clients,
// fewer, as many or more than it starts at once, are each answered once
// with their own answer; on a server gone, each fails once.
func TestBatchStartsEveryCall(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		serverUp bool
	}{
		{"one call", 1, true},
		{"a batch's worth", 64, true},
		{"several batches' worth", 150, true},
		{"server gone", 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, nil, echo)
			clients := []*h2.Client{s.client(t, h2.Config{AnswerHeaders: []string{"x-seq"}}), s.client(t, h2.Config{AnswerHeaders: []string{"x-seq"}})}
			for _, cl := range clients {
				if _, err := cl.Do(t.Context(), &h2.Request{Path: "/warm"}); err != nil {
					t.Fatal(err)
				}
			}
			if !tt.serverUp {
				s.Close()
			}
			c := newCalls(t, tt.n)
			b := h2.NewBatch(t.Context())
			for i := range tt.n {
				b.Add(clients[i%2], post(i, fmt.Sprintf(`{"i":%d}`, i)), c.done(i))
			}
			b.Flush()
			c.wait()
			for i := range tt.n {
				r, err := c.resp[i], c.errs[i]
				switch {
				case !tt.serverUp && err == nil:
					t.Fatalf("call %d to a server gone succeeded", i)
				case tt.serverUp && (err != nil || string(r.Body) != fmt.Sprintf(`{"i":%d}`, i) || r.Header("x-seq") != strconv.Itoa(i)):
					t.Fatalf("call %d: answer %+v, error %v", i, r, err)
				}
			}
		})
	}
}
