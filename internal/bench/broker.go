package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
)

// BrokerOptions configures the embedded broker the bench runs in a process
// of its own (`pushpipe bench broker`), so that its CPU time and memory
// are measured apart from the bench's.
type BrokerOptions struct {
	// DataDir keeps the records in segment files there; "" keeps them in
	// memory (the broker's RSS then grows with every record it holds).
	DataDir string
	// Retention, RetentionBytes and RetentionCheckInterval are those of
	// embeddedkafka.Config (zero: its defaults).
	Retention              time.Duration
	RetentionBytes         int64
	RetentionCheckInterval time.Duration
	// PprofAddr, if set, serves /debug/pprof/ of the broker process on
	// this loopback address.
	PprofAddr string
}

// brokerReady starts the line ServeBroker prints once the broker accepts
// connections; the broker's address follows it.
const brokerReady = "broker listening on "

// ServeBroker runs an embedded broker configured by o until ctx ends,
// then closes it. It prints brokerReady and the broker's address as one
// line to out once the broker accepts connections. It is the body of the
// hidden `pushpipe bench broker` command; errors say what failed to
// start.
func ServeBroker(ctx context.Context, o BrokerOptions, out io.Writer) error {
	b, err := embeddedkafka.Start(ctx, embeddedkafka.Config{DataDir: o.DataDir, Retention: o.Retention,
		RetentionBytes: o.RetentionBytes, RetentionCheckInterval: o.RetentionCheckInterval})
	if err != nil {
		return err
	}
	defer func() { _ = b.Close() }()
	if o.PprofAddr != "" {
		mux := http.NewServeMux()
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
		srv := &http.Server{Addr: o.PprofAddr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.ListenAndServe() }()
		defer func() { _ = srv.Close() }()
	}
	if _, err := fmt.Fprintln(out, brokerReady+b.Addr()); err != nil {
		return fmt.Errorf("announcing the broker: %w", err)
	}
	<-ctx.Done()
	return nil
}

// brokerProcess is the bench's broker running as a child process.
type brokerProcess struct {
	cmd       *exec.Cmd
	addr      string
	pprofAddr string
	log       *os.File
	done      chan struct{}
}

// startBrokerProcess starts `bin bench broker` with the records in
// <work>/kafka (or in memory), logging to <work>/broker.log, and returns
// once it announced its address.
func startBrokerProcess(ctx context.Context, bin, work string, inMemory bool) (*brokerProcess, error) {
	pprofAddr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"bench", "broker", "--pprof-addr", pprofAddr}
	if !inMemory {
		args = append(args, "--data-dir", filepath.Join(work, "kafka"))
	}
	logPath := filepath.Join(work, "broker.log")
	log, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", logPath, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr, cmd.SysProcAttr = log, childAttr()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting the broker process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return nil, fmt.Errorf("starting the broker process: %w", err)
	}
	p := &brokerProcess{cmd: cmd, pprofAddr: pprofAddr, log: log, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), brokerReady); ok {
				addr <- a
			}
		}
		close(addr)
		_ = cmd.Wait()
		close(p.done)
	}()
	select {
	case a, ok := <-addr:
		if ok {
			p.addr = a
			return p, nil
		}
		p.stop()
		return nil, fmt.Errorf("the broker process ended before listening; see %s", logPath)
	case <-time.After(2 * time.Minute):
		p.stop()
		return nil, fmt.Errorf("the broker process did not listen within 2 minutes; see %s", logPath)
	case <-ctx.Done():
		p.stop()
		return nil, fmt.Errorf("starting the broker process: %w", ctx.Err())
	}
}

// pid is the broker process's id.
func (p *brokerProcess) pid() int { return p.cmd.Process.Pid }

// stop ends the broker with SIGTERM (SIGKILL after 20 s) by its PID and
// waits for it. Calling it again does nothing.
func (p *brokerProcess) stop() {
	select {
	case <-p.done:
		_ = p.log.Close()
		return
	default:
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.log.Close()
}
