package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPServerConfig configures an HTTPServer. Zero durations mean the
// documented defaults.
type HTTPServerConfig struct {
	// Name names the server in errors, e.g. "gateway".
	Name string
	// Addr is the listen address; port 0 picks a free port.
	Addr string
	// Handler serves the requests. Required.
	Handler http.Handler
	// ReadTimeout and WriteTimeout bound reading a request and writing its
	// answer. Defaults 1 minute each.
	ReadTimeout, WriteTimeout time.Duration
	// ShutdownGrace is how long in-flight requests may run on when the
	// server stops. Default 10 seconds.
	ShutdownGrace time.Duration
}

// HTTPServer serves one handler with the lifecycle every pushpipe HTTP
// worker shares: Start binds and serves in the background, serving stops
// when the context given to Start ends or Close is called, and Close lets
// in-flight requests finish within ShutdownGrace and waits for the
// server's goroutines. Its methods are safe for concurrent use.
type HTTPServer struct {
	cfg HTTPServerConfig

	mu       sync.Mutex
	srv      *http.Server
	ln       net.Listener
	started  bool
	closed   bool
	ended    bool // Start's context ended
	serveErr error
	stop     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

// NewHTTPServer returns a server for cfg; nothing listens until Start.
func NewHTTPServer(cfg HTTPServerConfig) *HTTPServer {
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = time.Minute
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = time.Minute
	}
	if cfg.ShutdownGrace == 0 {
		cfg.ShutdownGrace = 10 * time.Second
	}
	return &HTTPServer{cfg: cfg}
}

// Start binds Addr and serves in the background until Close is called or
// ctx ends. It returns once the listener is bound (Addr is then the bound
// address), or with an error if it cannot bind or was called before.
func (s *HTTPServer) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.closed {
		return fmt.Errorf("%s: Start called twice or after Close: create a new server", s.cfg.Name)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("%s: listening on %s: %w", s.cfg.Name, s.cfg.Addr, err)
	}
	s.ln, s.started, s.stop = ln, true, make(chan struct{})
	s.srv = &http.Server{Handler: s.cfg.Handler, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.WriteTimeout, IdleTimeout: 2 * time.Minute}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.mu.Lock()
			s.serveErr = fmt.Errorf("%s: serving on %s: %w", s.cfg.Name, ln.Addr(), err)
			s.mu.Unlock()
		}
	}()
	go func() {
		defer s.wg.Done()
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.ended = true
			s.mu.Unlock()
			s.shutdown()
		case <-s.stop:
		}
	}()
	return nil
}

// shutdown stops the HTTP server once, letting in-flight requests finish
// within ShutdownGrace.
func (s *HTTPServer) shutdown() {
	s.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownGrace)
		defer cancel()
		if err := s.srv.Shutdown(ctx); err != nil {
			_ = s.srv.Close()
		}
	})
}

// Serving reports whether the server accepts requests: nil after Start
// until Close (or the end of Start's context), else an error saying why
// not.
func (s *HTTPServer) Serving() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.serveErr != nil:
		return s.serveErr
	case !s.started:
		return fmt.Errorf("%s: not started", s.cfg.Name)
	case s.closed || s.ended:
		return fmt.Errorf("%s: stopped", s.cfg.Name)
	}
	return nil
}

// Addr is the bound address after Start, else the configured one.
func (s *HTTPServer) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return s.ln.Addr().String()
	}
	return s.cfg.Addr
}

// Close stops accepting requests, lets in-flight ones finish within
// ShutdownGrace and waits for the server's goroutines. It is idempotent,
// may be called without Start, and returns the error that ended serving,
// if any.
func (s *HTTPServer) Close() error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	started := s.started
	s.mu.Unlock()
	if started {
		if first {
			close(s.stop)
		}
		s.shutdown()
		s.wg.Wait()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.serveErr
}
