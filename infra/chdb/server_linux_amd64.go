//go:build linux && amd64

package chdb

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/rs/zerolog"
)

// pollInterval is how often Start probes for readiness and the child
// retries the stop FIFO.
const pollInterval = 25 * time.Millisecond

// failedStartGrace bounds how long a Start that failed waits for its child
// to shut down before killing it.
const failedStartGrace = 5 * time.Second

func startServer(ctx context.Context, cfg Config) (*Server, error) {
	tcpPort, httpPort, err := pickPorts(cfg.TCPPort, cfg.HTTPPort)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating DataDir: %w", err)
	}
	s := &Server{cfg: cfg, tcpPort: tcpPort, httpPort: httpPort, done: make(chan struct{}), stopping: make(chan struct{})}
	if cfg.LogLevel != "none" {
		if err := os.MkdirAll(filepath.Join(cfg.DataDir, "log"), 0o700); err != nil {
			return nil, fmt.Errorf("creating log directory: %w", err)
		}
		s.logPath = filepath.Join(cfg.DataDir, "log", "clickhouse.log")
	}
	started := time.Now()
	c, err := s.spawn(ctx)
	if err != nil {
		return nil, err
	}
	s.setChild(c)
	go s.supervise(c)
	cfg.Logger.Info().
		Str("native", s.NativeAddr()).Str("http", s.HTTPAddr()).Str("data_dir", cfg.DataDir).
		Int("pid", c.pid).Dur("startup", time.Since(started)).Msg("embedded clickhouse ready")
	return s, nil
}

// child is one server child process.
type child struct {
	pid       int
	cmd       *exec.Cmd
	stdin     io.Closer
	out       *outputLog
	runDir    string
	logOffset int64
	// exited is closed once the process has exited; waitErr (written
	// before) is what Wait returned.
	exited  chan struct{}
	waitErr error
}

// why says why c exited: its exit status and what it printed or logged.
func (c *child) why(logPath string) error {
	return fmt.Errorf("clickhouse child %d exited unexpectedly (%w): %s", c.pid, c.waitErr, explain(c.out, logPath, c.logOffset))
}

// spawn starts a child serving s's ports and DataDir and returns once it
// answers, or stops it and returns why it did not.
func (s *Server) spawn(ctx context.Context) (*child, error) {
	cfg, log := s.cfg, s.cfg.Logger
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the executable to run the server child: %w", err)
	}
	c := &child{out: &outputLog{log: log}, exited: make(chan struct{})}
	if s.logPath != "" {
		if st, err := os.Stat(s.logPath); err == nil {
			c.logOffset = st.Size()
		}
	}
	// The generated config and the stop FIFO live in a private directory,
	// not in DataDir, so that a second server pointed at the same DataDir
	// (which ClickHouse refuses) cannot disturb this one's.
	if c.runDir, err = os.MkdirTemp("", "pushpipe-chdb-"); err != nil {
		return nil, fmt.Errorf("creating run directory: %w", err)
	}
	spec, err := json.Marshal(childSpec{
		LibPath:              cfg.LibPath,
		DataDir:              cfg.DataDir,
		RunDir:               c.runDir,
		LogPath:              s.logPath,
		LogLevel:             cfg.LogLevel,
		TCPPort:              s.tcpPort,
		HTTPPort:             s.httpPort,
		Users:                cfg.Users,
		MaxServerMemoryBytes: cfg.MaxServerMemoryBytes,
		StopTimeout:          cfg.StopTimeout,
		QueryLog:             cfg.QueryLog,
	})
	if err != nil {
		c.cleanup(log)
		return nil, fmt.Errorf("encoding child spec: %w", err)
	}
	c.cmd = exec.Command(exe)
	c.cmd.Env = append(os.Environ(), envChild+"="+string(spec))
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	// Own process group: a Ctrl-C at the terminal reaches the caller, which
	// decides when to Close, and not the server directly. Pdeathsig (SIGTERM,
	// which the child turns into a clean shutdown) covers a caller that dies
	// without closing; so does the stdin pipe reaching EOF.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	c.cmd.WaitDelay = 5 * time.Second
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		c.cleanup(log)
		return nil, fmt.Errorf("creating the child's stdin pipe: %w", err)
	}
	spawned := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that forked the child exits, not
		// only the process; holding this thread until the child is gone
		// ties the signal to the caller's process.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := c.cmd.Start(); err != nil {
			spawned <- err
			return
		}
		spawned <- nil
		c.waitErr = c.cmd.Wait()
		close(c.exited)
	}()
	if err := <-spawned; err != nil {
		c.cleanup(log)
		return nil, fmt.Errorf("starting child process %s: %w", exe, err)
	}
	c.pid = c.cmd.Process.Pid
	if err := waitReady(ctx, cfg.StartTimeout, s.NativeAddr(), c, s.logPath, filepath.Join(c.runDir, "stop.fifo")); err != nil {
		// Nothing was written through a server that never became ready, so
		// a short grace period is enough.
		if stopErr := c.stop(min(failedStartGrace, cfg.StopTimeout), s.logPath, log); stopErr != nil && !errors.Is(err, errExited) {
			log.Warn().Err(stopErr).Msg("stopping embedded clickhouse after failed start")
		}
		return nil, err
	}
	return c, nil
}

func (c *child) cleanup(log zerolog.Logger) {
	if err := os.RemoveAll(c.runDir); err != nil {
		log.Warn().Err(err).Str("dir", c.runDir).Msg("removing embedded clickhouse run directory")
	}
}

// stop asks c to shut down (stdin EOF) and kills it, by PID, if it has not
// exited after timeout.
func (c *child) stop(timeout time.Duration, logPath string, log zerolog.Logger) error {
	defer c.cleanup(log)
	_ = c.stdin.Close()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.exited:
	case <-timer.C:
		_ = c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("clickhouse child %d did not stop within %v and was killed", c.pid, timeout)
	}
	if c.waitErr != nil {
		return fmt.Errorf("clickhouse child %d: %w: %s", c.pid, c.waitErr, explain(c.out, logPath, c.logOffset))
	}
	log.Debug().Int("pid", c.pid).Msg("embedded clickhouse stopped")
	return nil
}

// supervise waits for c to exit. When it exits on its own (a crash), it
// starts another child on the same ports and DataDir, up to cfg.Restarts
// times; when Close asked, or restarting is not allowed or fails, it closes
// s.done.
func (s *Server) supervise(c *child) {
	log := s.cfg.Logger
	for restarts := 0; ; restarts++ {
		select {
		case <-c.exited:
		case <-s.stopping:
			s.stopErr = c.stop(s.cfg.StopTimeout, s.logPath, log)
			close(s.done)
			return
		}
		why := c.why(s.logPath)
		c.cleanup(log)
		select {
		case <-s.stopping:
			// It exited as Close asked it to stop.
			s.stopErr = why
			close(s.done)
			return
		default:
		}
		if restarts >= s.cfg.Restarts {
			if restarts > 0 {
				why = fmt.Errorf("%w (after %d restarts)", why, restarts)
			}
			s.exitErr = why
			close(s.done)
			return
		}
		log.Warn().Err(why).Int("restart", restarts+1).Msg("embedded clickhouse exited on its own; starting it again")
		nc, err := s.spawn(context.Background())
		if err != nil {
			s.exitErr = fmt.Errorf("%w; starting it again failed: %w", why, err)
			close(s.done)
			return
		}
		s.setChild(nc)
		s.restarts.Add(1)
		log.Warn().Int("pid", nc.pid).Msg("embedded clickhouse running again")
		c = nc
	}
}

func (s *Server) setChild(c *child) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pid = c.pid
}

var errExited = errors.New("server exited before accepting connections")

// waitReady polls until the server at addr runs child c's serving query
// (which names the stop FIFO fifo), which proves that both listeners are up
// and that the port is not answered by some other ClickHouse.
func waitReady(ctx context.Context, timeout time.Duration, addr string, c *child, logPath, fifo string) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr:         []string{addr},
		DialTimeout:  time.Second,
		MaxOpenConns: 1,
	})
	if err != nil {
		return fmt.Errorf("opening readiness probe client: %w", err)
	}
	defer func() { _ = conn.Close() }()
	probe := "SELECT 1, count() FROM system.processes WHERE query_id != queryID() AND position(query, " + sqlString(fifo) + ") > 0"
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var lastErr error
	for {
		var one uint8
		var serving uint64
		err := conn.QueryRow(ctx, probe).Scan(&one, &serving)
		switch {
		case err == nil && serving > 0:
			return nil
		case err == nil:
			lastErr = fmt.Errorf("%s answers but is not this server (or not serving yet)", addr)
		default:
			lastErr = err
		}
		select {
		case <-c.exited:
			return fmt.Errorf("%w: %w", errExited, c.why(logPath))
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s to answer SELECT 1: %w (last probe: %v)", addr, ctx.Err(), lastErr) //nolint:errorlint // callers classify by the context's error; the last attempt's error is context only, not wrapped
		case <-tick.C:
		}
	}
}

// pickPorts returns the configured ports, replacing zeros with distinct
// free loopback ports.
func pickPorts(tcp, http int) (int, int, error) {
	var err error
	for tcp == 0 || tcp == http {
		if tcp, err = freePort(); err != nil {
			return 0, 0, err
		}
	}
	for http == 0 || http == tcp {
		if http, err = freePort(); err != nil {
			return 0, 0, err
		}
	}
	return tcp, http, nil
}

// explain summarizes why a child failed: ClickHouse's "Code: N" error lines
// from its output, else the child's own error line, else errors from the
// log file.
func explain(out *outputLog, logPath string, logOffset int64) string {
	var codes []string
	var childErr string
	for _, l := range out.tail() {
		if msg, ok := strings.CutPrefix(l, childErrPrefix); ok {
			childErr = msg
		} else if strings.HasPrefix(l, "Code: ") {
			codes = append(codes, l)
		}
	}
	switch {
	case len(codes) > 0:
		return strings.Join(codes, "; ")
	case childErr != "":
		return childErr
	}
	if logPath != "" {
		if lines := loggedErrors(logPath, logOffset); len(lines) > 0 {
			return strings.Join(lines, "; ")
		}
	}
	return "no error reported"
}

// loggedErrors returns the message of each <Error> or <Fatal> entry of the
// log after offset, without stack traces, at most the last three.
func loggedErrors(path string, offset int64) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer func() { _ = f.Close() }()
	if _, err := f.Seek(offset, 0); err != nil {
		return nil
	}
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var msg string
		for _, level := range []string{"<Error> ", "<Fatal> "} {
			if i := strings.Index(line, level); i >= 0 {
				msg = line[i+len(level):]
				break
			}
		}
		if msg == "" {
			continue
		}
		if j := strings.Index(msg, ", Stack trace"); j >= 0 {
			msg = msg[:j]
		}
		out = append(out, msg)
	}
	if len(out) > 3 {
		out = out[len(out)-3:]
	}
	return out
}

// outputLog receives the child's stdout and stderr: it logs each line at
// debug level and keeps the last lines for error messages. Safe for
// concurrent use.
type outputLog struct {
	log zerolog.Logger

	mu      sync.Mutex
	partial []byte
	lines   []string
}

const outputLogLines = 40

func (o *outputLog) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	for {
		i := strings.IndexByte(string(o.partial), '\n')
		if i < 0 {
			break
		}
		line := strings.TrimRight(string(o.partial[:i]), "\r")
		o.partial = o.partial[i+1:]
		if line == "" {
			continue
		}
		o.log.Debug().Str("line", line).Msg("embedded clickhouse output")
		o.lines = append(o.lines, line)
		if len(o.lines) > outputLogLines {
			o.lines = o.lines[len(o.lines)-outputLogLines:]
		}
	}
	return len(p), nil
}

func (o *outputLog) tail() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	lines := append([]string(nil), o.lines...)
	if len(o.partial) > 0 {
		lines = append(lines, string(o.partial))
	}
	return lines
}
