// Package chdb runs a real ClickHouse server (26.7, from chDB's libchdb.so)
// on loopback, serving the native and HTTP protocols, for `make run` and the
// test suite.
//
// The library is loaded with purego, so no cgo toolchain is needed. The
// 566 MB libchdb.so is not in the repository: scripts/fetch-chdb.sh
// downloads and verifies it into the cache that DefaultLibPath points at.
//
// How it works: Start re-executes the current binary as a child process,
// marked by an environment variable that this package's init function
// recognizes (so any binary that imports the package can serve, with no
// change to its main or TestMain). The child loads libchdb and calls its
// chdb_query_cmdline, i.e. clickhouse-local, with a generated config
// (listen_host 127.0.0.1, tcp_port, http_port, memory limits, log file) and
// the query "SYSTEM START LISTEN TCP; SYSTEM START LISTEN HTTP; <read a
// FIFO>". While the last query blocks, the listeners serve clients. Close
// closes the child's stdin; the child opens the FIFO for writing and closes
// it, the query reaches end-of-file and ends normally, clickhouse-local shuts
// down (flushing tables) and the child exits.
//
// Why a child process and not the caller's: when client connections are
// still open at shutdown, ClickHouse ends its process with _exit(0), which
// in-process would silently end the caller (a test binary would exit 0 in
// the middle of its run). libchdb can also serve only once per process
// ("EventNotifier is initialized twice" on a second try), and by default
// installs crash signal handlers over the Go runtime's (the child opts out
// with chdb_set_signal_handlers_enabled(0)). In a child, Close
// with open clients is harmless, any number of servers can be started and
// stopped in one process (one per DataDir at a time), and the caller's
// signals are untouched: SIGINT and SIGTERM reach its os/signal as usual.
// The child runs in its own process group, so a terminal Ctrl-C does not
// reach it; it shuts down cleanly when the caller closes it, dies
// (Pdeathsig SIGTERM, stdin EOF), or on SIGTERM. A child that exits on its
// own (ClickHouse can abort when a killed client's connection is reset) is
// started again on the same ports and DataDir, up to Config.Restarts times,
// with a warning; clients see their connections fail once and reconnect.
//
// Output: ClickHouse logs to DataDir/log/clickhouse.log at Config.LogLevel.
// The child's stdout and stderr (one "Logging warning to ..." line per start,
// plus errors of the serving command) go to Config.Logger at debug level and
// into Start's and Close's errors.
package chdb

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

// ErrUnsupportedPlatform is returned (wrapped) by Start on platforms other
// than linux/amd64, the only one scripts/fetch-chdb.sh provides a library for.
var ErrUnsupportedPlatform = errors.New("embedded clickhouse needs linux/amd64")

// Server is a running embedded ClickHouse. Its methods are safe for
// concurrent use.
type Server struct {
	cfg      Config
	tcpPort  int
	httpPort int
	logPath  string

	mu  sync.Mutex
	pid int // the current child's

	// restarts counts the children started again after a crash.
	restarts atomic.Int64

	// stopping is closed by Close; done is closed when the server has
	// stopped for good. exitErr (written before done is closed) says why
	// if it was not asked to stop, stopErr what stopping it returned.
	stopping chan struct{}
	done     chan struct{}
	exitErr  error
	stopErr  error

	closeOnce sync.Once
	closeErr  error
}

// Start starts an embedded ClickHouse server, in a child process, as
// described by cfg and returns once it answers SELECT 1 over the native
// protocol.
//
// It fails if cfg is invalid (the error says what to fix), if ctx ends or
// cfg.StartTimeout passes first, or if the server exits during startup (the
// error carries ClickHouse's message, e.g. "Address already in use", or
// "Cannot lock file" when another server uses DataDir). On failure nothing
// keeps running. The caller must Close the returned Server. ctx bounds only
// the startup, not the server's life. Start may be called concurrently and
// any number of times per process.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("starting embedded clickhouse: %w", err)
	}
	cfg = cfg.withDefaults()
	dataDir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("starting embedded clickhouse: resolving DataDir %q: %w", cfg.DataDir, err)
	}
	cfg.DataDir = dataDir
	s, err := startServer(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("starting embedded clickhouse: %w", err)
	}
	return s, nil
}

// NativeAddr returns the native-protocol address, "127.0.0.1:<port>".
func (s *Server) NativeAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.tcpPort))
}

// HTTPAddr returns the HTTP-protocol address, "127.0.0.1:<port>".
func (s *Server) HTTPAddr() string {
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.httpPort))
}

// DataDir returns the absolute data directory of the server.
func (s *Server) DataDir() string { return s.cfg.DataDir }

// LogPath returns the file ClickHouse logs to, or "" if LogLevel is "none".
func (s *Server) LogPath() string { return s.logPath }

// PID returns the process ID of the server's current child process (a new
// one after each restart).
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// Restarts returns how many times a child that exited on its own was
// started again (see Config.Restarts).
func (s *Server) Restarts() int { return int(s.restarts.Load()) }

// Done returns a channel that is closed once the server has stopped for
// good: after Close, or when its child exited on its own and could not (or
// may not, see Config.Restarts) be started again.
func (s *Server) Done() <-chan struct{} { return s.done }

// Err returns why the server stopped on its own, or nil while it runs and
// after a stop caused by Close.
func (s *Server) Err() error {
	select {
	case <-s.done:
		return s.exitErr
	default:
		return nil
	}
}

// Close stops the server and waits until ClickHouse has shut down and
// flushed its tables; after cfg.StopTimeout it kills the child instead and
// returns an error. Data stays in DataDir. It returns Err() if the server
// had already stopped on its own. Calling Close again returns the first
// call's result; concurrent calls wait for the first.
//
// Close takes tens of milliseconds when no client is connected. Idle
// native-protocol connections add up to 1 s; running queries and idle HTTP
// keep-alive connections make ClickHouse wait 5 s before it exits anyway,
// cutting them. Close clients first for a fast shutdown.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		select {
		case <-s.done:
		default:
			close(s.stopping)
			<-s.done
		}
		switch {
		case s.exitErr != nil:
			s.closeErr = fmt.Errorf("stopping embedded clickhouse: %w", s.exitErr)
		case s.stopErr != nil:
			s.closeErr = fmt.Errorf("stopping embedded clickhouse: %w", s.stopErr)
		}
	})
	return s.closeErr
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("picking a free loopback port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}
