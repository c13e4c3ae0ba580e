package vendorsim

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// shutdownGrace bounds how long Close lets in-flight requests finish
// before dropping their connections.
const shutdownGrace = time.Second

// Server runs a Simulator on a loopback listener. The embedded Simulator
// gives the control methods (Requests, Stats, Reset, InjectFailures,
// InjectLatency, SetQuota...). Safe for concurrent use.
//
// A second loopback listener serves the same handler over TLS with HTTP/2
// (APNs is HTTP/2 over TLS only; FCM is served there too, as Google serves
// it): its certificate is self-signed for 127.0.0.1, ::1 and localhost,
// generated at Start; clients trust it with CertPool or CACertPEM.
type Server struct {
	*Simulator

	ln  net.Listener
	srv *http.Server

	tlsLn       net.Listener
	tlsSrv      *http.Server // its own server: one that also serves plain HTTP would not negotiate HTTP/2
	caPEM       []byte
	tlsServed   chan struct{} // closed when ServeTLS has returned
	tlsServeErr error

	closing   chan struct{} // closed when shutdown starts
	served    chan struct{} // closed when Serve has returned
	watched   chan struct{} // closed when the ctx watcher has returned
	closeOnce sync.Once
	closeErr  error
	serveErr  error

	handlersMu     sync.RWMutex
	handlersClosed bool
	handlers       sync.WaitGroup // running handler calls

	// ref is the handler of both servers; Close cuts it from the Server.
	ref *serverRef
}

// serverRef is the http.Handler of a Server's listeners: it serves the
// Server's requests until Close, and aborts every request after it. Once
// closed it no longer references the Server, so that the simulator (its
// recorded requests, recall book, tokens) can be collected as soon as the
// Server itself is unreachable. net/http's HTTP/2 server does not let go
// of a closed connection's handler at once: a client that leaves with
// streams in flight makes it close those streams after the connection's
// serve loop stopped its idle timer, which sets the timer again, and the
// timer keeps the connection and its handler referenced for IdleTimeout
// (2 minutes) after Close.
type serverRef struct {
	s atomic.Pointer[Server]
}

// ServeHTTP serves r with the Server, or aborts it once the Server closed.
func (h *serverRef) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s.Load()
	if s == nil {
		panic(http.ErrAbortHandler)
	}
	s.serveHTTP(w, r)
}

// Start listens on cfg.Addr (defaults applied; loopback only, port 0 picks a
// free port) and serves a new Simulator of vendors (see New) until Close is
// called or ctx is done. It fails if the configuration is invalid or the
// address cannot be bound.
func Start(ctx context.Context, cfg Config, vendors []NewVendor) (*Server, error) {
	sim, err := New(cfg, vendors)
	if err != nil {
		return nil, fmt.Errorf("starting vendor simulator: %w", err)
	}
	cert, caPEM, err := selfSignedCert(time.Now())
	if err != nil {
		return nil, fmt.Errorf("starting vendor simulator: %w", err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", sim.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("starting vendor simulator: listening on %s: %w", sim.cfg.Addr, err)
	}
	tlsLn, err := lc.Listen(ctx, "tcp", sim.cfg.APNs.TLSAddr)
	if err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("starting vendor simulator: listening on %s (TLS): %w", sim.cfg.APNs.TLSAddr, err)
	}
	s := &Server{
		Simulator: sim,
		ln:        ln,
		srv: &http.Server{
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		tlsSrv: &http.Server{
			// Clients that race to dial and drop the spare connections
			// would log a handshake error each.
			ErrorLog:          log.New(io.Discard, "", 0),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
			// APNs allows about a thousand concurrent streams per
			// authenticated connection.
			HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000},
		},
		tlsLn:     tlsLn,
		caPEM:     caPEM,
		tlsServed: make(chan struct{}),
		closing:   make(chan struct{}),
		served:    make(chan struct{}),
		watched:   make(chan struct{}),
		ref:       &serverRef{},
	}
	s.ref.s.Store(s)
	s.srv.Handler, s.tlsSrv.Handler = s.ref, s.ref
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = fmt.Errorf("serving vendor simulator: %w", err)
		}
	}()
	go func() {
		defer close(s.tlsServed)
		if err := s.tlsSrv.ServeTLS(tlsLn, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.tlsServeErr = fmt.Errorf("serving vendor simulator over TLS: %w", err)
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

// TLSAddr returns the TLS listening address, "127.0.0.1:PORT".
func (s *Server) TLSAddr() string { return s.tlsLn.Addr().String() }

// TLSURL returns "https://" + TLSAddr().
func (s *Server) TLSURL() string { return "https://" + s.TLSAddr() }

// CACertPEM returns the PEM of the self-signed certificate of the TLS
// listener, to be trusted by clients (e.g. written to a CA file).
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.caPEM...) }

// CertPool returns a new pool holding only the TLS listener's certificate.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(s.caPEM)
	return p
}

// selfSignedCert returns a self-signed certificate (and its PEM) for the
// loopback addresses, valid for a year from now.
func selfSignedCert(now time.Time) (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generating TLS key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("generating TLS serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"pushpipe vendor simulator"}, CommonName: "127.0.0.1"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("creating TLS certificate: %w", err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("encoding TLS key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	return cert, certPEM, nil
}

// Close stops the server: requests waiting out an injected latency are
// dropped at once, queued receipts are posted (see Simulator.Close), other
// in-flight requests get up to a second to finish, then every connection
// is closed. It waits for the server's goroutines and
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
		// The plain and the TLS server shut down side by side, so that
		// the grace period is spent once.
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i, srv := range []*http.Server{s.srv, s.tlsSrv} {
			wg.Go(func() {
				// A connection that never carried a request keeps Shutdown
				// waiting until the grace period ends; it is closed below
				// like the rest.
				if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
					errs[2*i] = fmt.Errorf("shutting down vendor simulator: %w", err)
				}
				if err := srv.Close(); err != nil {
					errs[2*i+1] = fmt.Errorf("closing vendor simulator: %w", err)
				}
			})
		}
		wg.Wait()
		<-s.served
		<-s.tlsServed
		s.handlersMu.Lock()
		s.handlersClosed = true
		s.handlersMu.Unlock()
		s.handlers.Wait()
		s.ref.s.Store(nil)
		s.closeErr = errors.Join(append(errs, s.serveErr, s.tlsServeErr)...)
	})
}
