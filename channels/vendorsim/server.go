package vendorsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// shutdownGrace bounds how long Close lets in-flight requests finish
// before dropping their connections.
const shutdownGrace = time.Second

// Server runs a Simulator on a loopback listener. The embedded Simulator
// gives the control methods (Requests, Stats, Reset, InjectFailures,
// InjectLatency, SetQuota...). Safe for concurrent use.
type Server struct {
	*Simulator

	ln  net.Listener
	srv *http.Server

	closing   chan struct{} // closed when shutdown starts
	served    chan struct{} // closed when Serve has returned
	watched   chan struct{} // closed when the ctx watcher has returned
	closeOnce sync.Once
	closeErr  error
	serveErr  error

	handlersMu     sync.RWMutex
	handlersClosed bool
	handlers       sync.WaitGroup // running handler calls
}

// Start listens on cfg.Addr (defaults applied; loopback only, port 0 picks a
// free port) and serves a new Simulator until Close is called or ctx is
// done. It fails if the configuration is invalid or the address cannot be
// bound.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	sim, err := New(cfg)
	if err != nil {
		return nil, fmt.Errorf("starting vendor simulator: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", sim.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("starting vendor simulator: listening on %s: %w", sim.cfg.Addr, err)
	}
	s := &Server{
		Simulator: sim,
		ln:        ln,
		srv: &http.Server{
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		closing: make(chan struct{}),
		served:  make(chan struct{}),
		watched: make(chan struct{}),
	}
	s.srv.Handler = http.HandlerFunc(s.serveHTTP)
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = fmt.Errorf("serving vendor simulator: %w", err)
		}
	}()
	go func() {
		defer close(s.watched)
		select {
		case <-ctx.Done():
			s.shutdown()
		case <-s.closing:
		}
	}()
	return s, nil
}

// serveHTTP runs the simulator for one request and tracks it so that Close
// can wait for it.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.handlersMu.RLock()
	if s.handlersClosed {
		s.handlersMu.RUnlock()
		panic(http.ErrAbortHandler)
	}
	s.handlers.Add(1)
	s.handlersMu.RUnlock()
	defer s.handlers.Done()
	s.Simulator.ServeHTTP(w, r)
}

// Addr returns the listening address, "127.0.0.1:PORT".
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL returns "http://" + Addr().
func (s *Server) URL() string { return "http://" + s.Addr() }

// MiPushBaseURL returns the MiPush base URL of region on this simulator
// (the client appends "/v3/message/regid").
func (s *Server) MiPushBaseURL(region string) string { return s.URL() + "/mipush/" + region }

// Close stops the server: requests waiting out an injected latency are
// dropped at once, other in-flight requests get up to a second to finish,
// then every connection is closed. It waits for the server's goroutines and
// handler calls to end, is idempotent and returns the same error on every
// call.
func (s *Server) Close() error {
	s.shutdown()
	<-s.watched
	return s.closeErr
}

func (s *Server) shutdown() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.Simulator.Close()
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		var errs []error
		// A connection that never carried a request keeps Shutdown waiting
		// until the grace period ends; it is closed below like the rest.
		if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
			errs = append(errs, fmt.Errorf("shutting down vendor simulator: %w", err))
		}
		if err := s.srv.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing vendor simulator: %w", err))
		}
		<-s.served
		s.handlersMu.Lock()
		s.handlersClosed = true
		s.handlersMu.Unlock()
		s.handlers.Wait()
		s.closeErr = errors.Join(append(errs, s.serveErr)...)
	})
}
