//go:build linux && amd64

package chdb

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// envChild marks a process started by Start as a server child; its value
// is the JSON childSpec.
const envChild = "PUSHPIPE_CHDB_CHILD"

// childErrPrefix starts the line a child prints to stderr when it fails.
const childErrPrefix = "pushpipe-chdb-child: "

// childSpec is what Start tells its child; see Config for the fields.
type childSpec struct {
	LibPath              string
	DataDir              string
	RunDir               string // private: config.xml and stop.fifo
	LogPath              string // "" disables ClickHouse's log file
	LogLevel             string
	TCPPort              int
	HTTPPort             int
	Users                []User
	MaxServerMemoryBytes int64
	StopTimeout          time.Duration
	QueryLog             bool
}

// init turns a process that Start spawned (the same executable, marked by
// envChild) into the ClickHouse server and never returns for it. Every
// other process is unaffected.
func init() {
	if spec, ok := os.LookupEnv(envChild); ok {
		os.Exit(runChild(spec))
	}
}

func runChild(specJSON string) int {
	_ = os.Unsetenv(envChild)
	var spec childSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "%sdecoding %s: %v\n", childErrPrefix, envChild, err)
		return 2
	}
	if err := serveChild(spec); err != nil {
		fmt.Fprintf(os.Stderr, "%s%v\n", childErrPrefix, err)
		return 1
	}
	return 0
}

// serveChild runs ClickHouse until the parent closes stdin (Close, or the
// parent died) or sends SIGTERM or SIGINT, then shuts it down.
//
// When client connections are still open at shutdown, ClickHouse ends the
// process with _exit(0) right after flushing; that is the reason the server
// lives in a child process and not in the caller's.
func serveChild(spec childSpec) error {
	// Listen before loading the library so that a stop request during
	// startup is not lost.
	stopSignals := make(chan os.Signal, 1)
	signal.Notify(stopSignals, syscall.SIGTERM, syscall.SIGINT)
	// As clickhouse-server does: a client that disconnects mid-response
	// must not kill the server through SIGPIPE on one of its threads.
	signal.Ignore(syscall.SIGPIPE)
	stdinClosed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(stdinClosed)
	}()

	// The parent removes RunDir too, unless it died first.
	defer func() { _ = os.RemoveAll(spec.RunDir) }()

	lib, err := loadLibrary(spec.LibPath)
	if err != nil {
		return err
	}
	fifo := filepath.Join(spec.RunDir, "stop.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		return fmt.Errorf("creating stop FIFO: %w", &os.PathError{Op: "mkfifo", Path: fifo, Err: err})
	}
	configPath := filepath.Join(spec.RunDir, "config.xml")
	if err := os.WriteFile(configPath, serverConfigXML(spec), 0o600); err != nil {
		return fmt.Errorf("writing server config: %w", err)
	}
	var logOffset int64
	if st, err := os.Stat(spec.LogPath); spec.LogPath != "" && err == nil {
		logOffset = st.Size()
	}

	args := []string{
		"clickhouse", "--path=" + spec.DataDir + "/", "--config-file=" + configPath,
		// Idle native connections notice a shutdown once per poll_interval
		// (default 10 s). At shutdown ClickHouse waits up to 5 s for client
		// connections to end and then exits the process anyway; with 1 s,
		// idle native clients no longer make Close take those 5 s. Idle HTTP
		// keep-alive connections and running queries still do.
		"--poll_interval=1",
	}
	if spec.LogPath != "" {
		// clickhouse-local overrides the config's logger.level unless the
		// level is given on the command line as well.
		args = append(args, "--log-level="+spec.LogLevel)
	}
	// The last query blocks reading the FIFO until a writer opens and
	// closes it; until then the listeners serve. It ends normally, with no
	// cancellation error printed, which a KILL QUERY would not.
	args = append(args, "--query=SYSTEM START LISTEN TCP; SYSTEM START LISTEN HTTP; "+
		"SELECT * FROM file("+sqlString(fifo)+", 'LineAsString') "+
		"SETTINGS storage_file_read_method = 'read' FORMAT Null")

	done := make(chan struct{})
	var msg string
	go func() {
		// Never unlocked: the thread exits with the goroutine, taking the
		// thread-local state and signal mask libchdb left on it.
		runtime.LockOSThread()
		msg = lib.runCmdline(args)
		close(done)
	}()

	select {
	case <-done:
		if msg != "" {
			return fmt.Errorf("clickhouse exited: %s", firstLine(msg))
		}
		return fmt.Errorf("clickhouse exited: %s", describeExit(spec.LogPath, logOffset))
	case <-stdinClosed:
	case <-stopSignals:
	}
	if err := signalStop(fifo, done, spec.StopTimeout); err != nil {
		return err
	}
	if msg != "" {
		return fmt.Errorf("clickhouse shut down with an error: %s", firstLine(msg))
	}
	return nil
}

// signalStop makes the serving query's FIFO read reach end-of-file and
// waits for done. Opening the write end fails with ENXIO while no reader
// has it open (the query has not reached it yet), so it is retried until
// done or timeout.
func signalStop(fifo string, done <-chan struct{}, timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		wait := pollInterval
		fd, err := syscall.Open(fifo, syscall.O_WRONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
		switch {
		case err == nil:
			_ = syscall.Close(fd)
			wait = time.Second
		case errors.Is(err, syscall.ENXIO):
		default:
			return fmt.Errorf("opening stop FIFO %s: %w", fifo, err)
		}
		select {
		case <-done:
			return nil
		case <-deadline.C:
			return fmt.Errorf("clickhouse did not shut down within %v", timeout)
		case <-time.After(wait):
		}
	}
}

// serverConfigXML renders the clickhouse-local config: loopback listeners,
// memory limits sized for a development machine, and the log file.
func serverConfigXML(spec childSpec) []byte {
	var b bytes.Buffer
	elem := func(indent, name, value string) {
		b.WriteString(indent + "<" + name + ">")
		_ = xml.EscapeText(&b, []byte(value))
		b.WriteString("</" + name + ">\n")
	}
	b.WriteString("<clickhouse>\n")
	elem("  ", "listen_host", "127.0.0.1")
	elem("  ", "tcp_port", strconv.Itoa(spec.TCPPort))
	elem("  ", "http_port", strconv.Itoa(spec.HTTPPort))
	elem("  ", "max_server_memory_usage", strconv.FormatInt(spec.MaxServerMemoryBytes, 10))
	elem("  ", "mark_cache_size", strconv.FormatInt(DefaultMarkCacheBytes, 10))
	if spec.QueryLog {
		b.WriteString("  <query_log>\n")
		elem("    ", "database", "system")
		elem("    ", "table", "query_log")
		elem("    ", "flush_interval_milliseconds", "1000")
		b.WriteString("  </query_log>\n")
		b.WriteString("  <part_log>\n")
		elem("    ", "database", "system")
		elem("    ", "table", "part_log")
		elem("    ", "flush_interval_milliseconds", "1000")
		b.WriteString("  </part_log>\n")
	}
	if spec.LogPath != "" {
		b.WriteString("  <logger>\n")
		elem("    ", "level", spec.LogLevel)
		elem("    ", "log", spec.LogPath)
		elem("    ", "size", "100M")
		elem("    ", "count", "3")
		elem("    ", "console", "0")
		b.WriteString("  </logger>\n")
	}
	if len(spec.Users) > 0 {
		// The users are read from this same file; default keeps its
		// clickhouse-local rights and no password, from loopback only.
		b.WriteString("  <user_directories>\n    <users_xml>\n")
		elem("      ", "path", filepath.Join(spec.RunDir, "config.xml"))
		b.WriteString("    </users_xml>\n  </user_directories>\n")
		b.WriteString("  <profiles><default/></profiles>\n  <quotas><default/></quotas>\n  <users>\n")
		b.WriteString("    <default><password/><networks><ip>127.0.0.1</ip><ip>::1</ip></networks><profile>default</profile><quota>default</quota></default>\n")
		for _, u := range spec.Users {
			sum := sha256.Sum256([]byte(u.Password))
			b.WriteString("    <" + u.Name + ">\n")
			elem("      ", "password_sha256_hex", hex.EncodeToString(sum[:]))
			b.WriteString("      <networks><ip>::/0</ip></networks><profile>default</profile><quota>default</quota>\n")
			b.WriteString("    </" + u.Name + ">\n")
		}
		b.WriteString("  </users>\n")
	}
	b.WriteString("</clickhouse>\n")
	return b.Bytes()
}

// describeExit explains an exit that libchdb reported no error for: the
// error lines ClickHouse logged since offset, else a pointer to stderr.
func describeExit(logPath string, offset int64) string {
	if logPath == "" {
		return "no error reported (set LogLevel to log to DataDir/log)"
	}
	if lines := loggedErrors(logPath, offset); len(lines) > 0 {
		return strings.Join(lines, "; ")
	}
	return "no error logged in " + logPath
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "Stack trace"); i >= 0 {
		s = strings.TrimRight(strings.TrimSpace(s[:i]), ",")
	}
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// sqlString quotes s as a ClickHouse string literal.
func sqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
