package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultHealthAddr is the address a HealthServer listens on when given "".
const DefaultHealthAddr = "127.0.0.1:0"

// HealthServer serves the probes and metrics of one worker process:
//
//	GET /healthz  200 "ok" while the process runs (liveness)
//	GET /readyz   200 "ready" when ready() is true, else 503 "not ready" (readiness)
//	GET /metrics  the registry in the Prometheus exposition format
//
// Create it with NewHealthServer, then Start it; Close stops it. Its methods
// are safe for concurrent use.
type HealthServer struct {
	addr  string
	reg   *prometheus.Registry
	ready func() bool

	mu       sync.Mutex
	srv      *http.Server
	ln       net.Listener
	started  bool
	closed   bool
	serveErr error

	stop         chan struct{} // closed by Close to release the ctx watcher
	shutdownOnce sync.Once
	wg           sync.WaitGroup // the serve goroutine and the ctx watcher
}

// NewHealthServer returns a server for addr ("host:port"; "" means
// DefaultHealthAddr, a free loopback port). reg is exported on /metrics; nil
// exports an empty registry. ready is called on every /readyz request and
// must be safe for concurrent use; nil means always ready. Nothing listens
// until Start.
func NewHealthServer(addr string, reg *prometheus.Registry, ready func() bool) *HealthServer {
	if addr == "" {
		addr = DefaultHealthAddr
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	if ready == nil {
		ready = func() bool { return true }
	}
	return &HealthServer{addr: addr, reg: reg, ready: ready}
}

// Start binds the address and serves in the background until Close is
// called or ctx is cancelled, whichever comes first. It returns once the
// listener is bound (Addr is then valid), or with an error if the address
// cannot be bound or Start was called before.
func (h *HealthServer) Start(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.closed {
		return errors.New("pipeline: HealthServer.Start called twice or after Close: create a new server")
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", h.addr)
	if err != nil {
		return fmt.Errorf("pipeline: health server listening on %s: %w", h.addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !h.ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(h.reg, promhttp.HandlerOpts{Registry: h.reg}))

	h.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
	h.ln = ln
	h.started = true
	h.stop = make(chan struct{})
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		err := h.srv.Serve(ln)
		if !errors.Is(err, http.ErrServerClosed) {
			h.mu.Lock()
			h.serveErr = fmt.Errorf("pipeline: health server on %s: %w", ln.Addr(), err)
			h.mu.Unlock()
		}
	}()
	go func() {
		defer h.wg.Done()
		select {
		case <-ctx.Done():
			h.shutdown()
		case <-h.stop:
		}
	}()
	return nil
}

// shutdown stops the HTTP server once, giving in-flight requests up to 5
// seconds.
func (h *HealthServer) shutdown() {
	h.shutdownOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := h.srv.Shutdown(ctx); err != nil {
			_ = h.srv.Close()
		}
	})
}

// Addr returns the bound address (useful with port 0), or the configured
// address before Start.
func (h *HealthServer) Addr() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.ln != nil {
		return h.ln.Addr().String()
	}
	return h.addr
}

// Close stops the server: it stops accepting connections, gives in-flight
// requests up to 5 seconds, and waits for the server's goroutines to return.
// It is idempotent and may be called without Start. It returns the error
// that ended serving, if serving failed.
func (h *HealthServer) Close() error {
	h.mu.Lock()
	first := !h.closed
	h.closed = true
	started := h.started
	h.mu.Unlock()
	if started {
		if first {
			close(h.stop)
		}
		h.shutdown()
		h.wg.Wait()
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.serveErr
}
