package pipeline

import (
	"context"
	"net/http"
	"net/http/pprof"
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
//	GET /debug/pprof/...  the Go runtime profiles (net/http/pprof), e.g.
//	              `go tool pprof http://<addr>/debug/pprof/profile?seconds=20`
//
// Create it with NewHealthServer, then Start it; Close stops it. Its methods
// are safe for concurrent use.
type HealthServer struct {
	http *HTTPServer
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
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return &HealthServer{http: NewHTTPServer(HTTPServerConfig{Name: "pipeline: health server", Addr: addr, Handler: mux,
		ShutdownGrace: 5 * time.Second})}
}

// Start binds the address and serves in the background until Close is
// called or ctx is cancelled, whichever comes first. It returns once the
// listener is bound (Addr is then valid), or with an error if the address
// cannot be bound or Start was called before.
func (h *HealthServer) Start(ctx context.Context) error { return h.http.Start(ctx) }

// Addr returns the bound address (useful with port 0), or the configured
// address before Start.
func (h *HealthServer) Addr() string { return h.http.Addr() }

// Close stops the server: it stops accepting connections, gives in-flight
// requests up to 5 seconds, and waits for the server's goroutines to return.
// It is idempotent and may be called without Start. It returns the error
// that ended serving, if serving failed.
func (h *HealthServer) Close() error { return h.http.Close() }
