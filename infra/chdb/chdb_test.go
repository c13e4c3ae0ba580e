package chdb_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pushpipe/pushpipe/infra/chdb"
)

// Environment of the helper process (see TestHelperProcess).
const (
	envHelper    = "PUSHPIPE_CHDB_HELPER"
	envHelperDir = "PUSHPIPE_CHDB_HELPER_DIR"
	// envMeasure enables TestMeasure.
	envMeasure = "PUSHPIPE_CHDB_MEASURE"
)

// requireLib fails the test when libchdb.so is missing: the Makefile fetches
// it before running tests, so a missing library is a setup error, never a
// reason to skip.
func requireLib(t *testing.T) string {
	t.Helper()
	p := chdb.DefaultLibPath()
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("libchdb.so not available at %q (%v): run scripts/fetch-chdb.sh, or set %s", p, err, chdb.EnvLibPath)
	}
	return p
}

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	lib := filepath.Join(dir, "libchdb.so")
	if err := os.WriteFile(lib, []byte("stand-in"), 0o644); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(dir, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	valid := chdb.Config{LibPath: lib, DataDir: filepath.Join(dir, "data")}
	tests := []struct {
		scenario string
		mutate   func(*chdb.Config)
		wantErr  []string // substrings; nil means valid
	}{
		{scenario: "minimal config with defaults is valid", mutate: func(*chdb.Config) {}},
		{scenario: "explicit ports and timeouts are valid", mutate: func(c *chdb.Config) {
			c.TCPPort, c.HTTPPort, c.StartTimeout, c.LogLevel = 19000, 18123, time.Second, "trace"
		}},
		{scenario: "missing library points at the fetch script", mutate: func(c *chdb.Config) {
			c.LibPath = filepath.Join(dir, "absent.so")
		}, wantErr: []string{"not found", "scripts/fetch-chdb.sh"}},
		{scenario: "library path is a directory", mutate: func(c *chdb.Config) { c.LibPath = dir },
			wantErr: []string{"not a regular file"}},
		{scenario: "empty data dir", mutate: func(c *chdb.Config) { c.DataDir = "" },
			wantErr: []string{"DataDir is empty"}},
		{scenario: "data dir is a file", mutate: func(c *chdb.Config) { c.DataDir = notDir },
			wantErr: []string{"not a directory"}},
		{scenario: "port out of range", mutate: func(c *chdb.Config) { c.HTTPPort = 70000 },
			wantErr: []string{"HTTPPort 70000 is out of range"}},
		{scenario: "same port twice", mutate: func(c *chdb.Config) { c.TCPPort, c.HTTPPort = 9000, 9000 },
			wantErr: []string{"both 9000"}},
		{scenario: "users with passwords", mutate: func(c *chdb.Config) {
			c.Users = []chdb.User{{Name: "pushpipe", Password: "p"}, {Name: "analyst-1", Password: "q"}}
		}},
		{scenario: "a user named default", mutate: func(c *chdb.Config) { c.Users = []chdb.User{{Name: "default", Password: "p"}} },
			wantErr: []string{"Users[0]: default is the password-less loopback user"}},
		{scenario: "a user name that would break the configuration", mutate: func(c *chdb.Config) { c.Users = []chdb.User{{Name: "a><b", Password: "p"}} },
			wantErr: []string{`Users[0].Name "a><b": use letters, digits`}},
		{scenario: "a user without a password", mutate: func(c *chdb.Config) { c.Users = []chdb.User{{Name: "pushpipe"}} },
			wantErr: []string{"Users[0] (pushpipe): Password is empty"}},
		{scenario: "a user listed twice", mutate: func(c *chdb.Config) {
			c.Users = []chdb.User{{Name: "pushpipe", Password: "p"}, {Name: "pushpipe", Password: "q"}}
		}, wantErr: []string{"Users[1]: pushpipe is listed twice"}},
		{scenario: "negative timeouts", mutate: func(c *chdb.Config) { c.StartTimeout, c.StopTimeout = -1, -1 },
			wantErr: []string{"StartTimeout", "StopTimeout"}},
		{scenario: "unknown log level", mutate: func(c *chdb.Config) { c.LogLevel = "verbose" },
			wantErr: []string{`LogLevel "verbose" is unknown`}},
		{scenario: "negative memory limit", mutate: func(c *chdb.Config) { c.MaxServerMemoryBytes = -5 },
			wantErr: []string{"MaxServerMemoryBytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			cfg := valid
			tt.mutate(&cfg)
			err := cfg.Validate()
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want error containing %q", tt.wantErr)
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestDefaultLibPath(t *testing.T) {
	tests := []struct {
		scenario string
		lib      string
		cache    string
		want     string
	}{
		{scenario: "explicit library wins", lib: "/opt/libchdb.so", cache: "/c", want: "/opt/libchdb.so"},
		{scenario: "cache root override", cache: "/c", want: "/c/chdb/" + chdb.LibVersion + "/libchdb.so"},
		{scenario: "home cache by default", want: "/home/u/.cache/pushpipe/chdb/" + chdb.LibVersion + "/libchdb.so"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			t.Setenv(chdb.EnvLibPath, tt.lib)
			t.Setenv(chdb.EnvCacheDir, tt.cache)
			t.Setenv("HOME", "/home/u")
			if got := chdb.DefaultLibPath(); got != tt.want {
				t.Errorf("DefaultLibPath() = %q, want %q", got, tt.want)
			}
		})
	}
}

const createEvents = `CREATE TABLE IF NOT EXISTS pushpipe_test.events (
	event_time DateTime64(3, 'UTC'),
	event_id   UInt64,
	tenant     LowCardinality(String),
	status     Enum8('queued' = 1, 'sent' = 2, 'failed' = 3),
	latency_ms UInt32
) ENGINE = MergeTree
ORDER BY (tenant, event_time)
TTL toDateTime(event_time) + INTERVAL 30 DAY`

type event struct {
	at      time.Time
	id      uint64
	tenant  string
	status  string
	latency uint32
}

func makeEvents(n int, base time.Time, expired int) []event {
	out := make([]event, n)
	for i := range out {
		at := base.Add(-time.Duration(i) * time.Millisecond)
		if i < expired {
			at = base.AddDate(0, 0, -60)
		}
		out[i] = event{
			at:      at,
			id:      uint64(i),
			tenant:  "tenant-" + strconv.Itoa(i%7),
			status:  []string{"queued", "sent", "failed"}[i%3],
			latency: uint32(i % 1000),
		}
	}
	return out
}

func insertEvents(ctx context.Context, conn driver.Conn, table string, events []event) error {
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table)
	if err != nil {
		return fmt.Errorf("preparing batch: %w", err)
	}
	for _, e := range events {
		if err := batch.Append(e.at, e.id, e.tenant, e.status, e.latency); err != nil {
			return fmt.Errorf("appending row %d: %w", e.id, err)
		}
	}
	if err := batch.Send(); err != nil {
		return fmt.Errorf("sending batch: %w", err)
	}
	return nil
}

func openClient(t *testing.T, addr string, proto clickhouse.Protocol) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{addr}, Protocol: proto})
	if err != nil {
		t.Fatalf("opening %v client to %s: %v", proto, addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func startServer(ctx context.Context, t *testing.T, cfg chdb.Config) *chdb.Server {
	t.Helper()
	srv, err := chdb.Start(ctx, cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

// TestServer takes one data directory through two server lifetimes: schema,
// a 10,000-row native batch insert, TTL, reads over both protocols, Close
// with clients still connected, Close twice, and a restart (a new child
// process) that sees the data.
func TestServer(t *testing.T) {
	lib := requireLib(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := chdb.Config{LibPath: lib, DataDir: t.TempDir()}
	srv := startServer(ctx, t, cfg)
	native := openClient(t, srv.NativeAddr(), clickhouse.Native)
	httpConn := openClient(t, srv.HTTPAddr(), clickhouse.HTTP)

	for _, q := range []string{"CREATE DATABASE IF NOT EXISTS pushpipe_test", createEvents} {
		if err := native.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	base := time.Now().UTC().Truncate(time.Millisecond)
	const rows, expired = 10_000, 100
	events := makeEvents(rows, base, expired)
	if err := insertEvents(ctx, native, "pushpipe_test.events", events); err != nil {
		t.Fatalf("inserting %d rows over the native protocol: %v", rows, err)
	}
	// A merge applies the TTL to the 100 rows dated 60 days ago.
	if err := native.Exec(ctx, "OPTIMIZE TABLE pushpipe_test.events FINAL"); err != nil {
		t.Fatalf("OPTIMIZE: %v", err)
	}

	checkRows := func(t *testing.T, conn driver.Conn) {
		t.Helper()
		var count, minID, maxID uint64
		if err := conn.QueryRow(ctx, "SELECT count(), min(event_id), max(event_id) FROM pushpipe_test.events").Scan(&count, &minID, &maxID); err != nil {
			t.Fatalf("count: %v", err)
		}
		if count != rows-expired || minID != expired || maxID != rows-1 {
			t.Errorf("count, min, max = %d, %d, %d; want %d, %d, %d (expired rows removed by TTL)",
				count, minID, maxID, rows-expired, expired, rows-1)
		}
		probe := events[1234]
		var at time.Time
		var tenant, status string
		var latency uint32
		if err := conn.QueryRow(ctx, "SELECT event_time, tenant, status, latency_ms FROM pushpipe_test.events WHERE event_id = ?", probe.id).
			Scan(&at, &tenant, &status, &latency); err != nil {
			t.Fatalf("reading event %d: %v", probe.id, err)
		}
		if !at.Equal(probe.at) || tenant != probe.tenant || status != probe.status || latency != probe.latency {
			t.Errorf("event %d = (%v, %s, %s, %d), want (%v, %s, %s, %d)",
				probe.id, at, tenant, status, latency, probe.at, probe.tenant, probe.status, probe.latency)
		}
	}
	reads := []struct {
		scenario string
		conn     driver.Conn
	}{
		{scenario: "native protocol", conn: native},
		{scenario: "http protocol", conn: httpConn},
	}
	for _, r := range reads {
		t.Run("read back over "+r.scenario, func(t *testing.T) { checkRows(t, r.conn) })
	}

	t.Run("caller keeps its signal handling", func(t *testing.T) {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("nil dereference did not panic")
				}
			}()
			var p *int
			_ = *p
		}()
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			ch := make(chan os.Signal, 1)
			signal.Notify(ch, sig)
			if err := syscall.Kill(os.Getpid(), sig); err != nil {
				t.Fatalf("sending %v: %v", sig, err)
			}
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Errorf("%v did not reach os/signal", sig)
			}
			signal.Stop(ch)
		}
		if err := native.Ping(ctx); err != nil {
			t.Errorf("server gone after signals to the caller: %v", err)
		}
	})

	t.Run("close with clients connected, twice", func(t *testing.T) {
		busy := make(chan error, 1)
		go func() {
			busy <- native.Exec(ctx, "SELECT sleepEachRow(1) FROM numbers(60) SETTINGS max_block_size = 1 FORMAT Null")
		}()
		time.Sleep(300 * time.Millisecond)
		if err := srv.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		select {
		case <-srv.Done():
		default:
			t.Error("Done not closed after Close")
		}
		if err := srv.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		select {
		case err := <-busy:
			if err == nil {
				t.Error("query running across Close succeeded")
			}
		case <-time.After(10 * time.Second):
			t.Error("query running across Close did not end")
		}
		if err := httpConn.Ping(ctx); err == nil {
			t.Error("HTTP port still answers after Close")
		}
	})

	t.Run("restart in a new process sees the data", func(t *testing.T) {
		again := startServer(ctx, t, cfg)
		if again.PID() == srv.PID() {
			t.Fatalf("restart reused child %d", srv.PID())
		}
		conn, err := clickhouse.Open(&clickhouse.Options{Addr: []string{again.HTTPAddr()}, Protocol: clickhouse.HTTP})
		if err != nil {
			t.Fatal(err)
		}
		checkRows(t, conn)
		// Closing clients first lets the server shut down at once instead of
		// waiting 5 s for them.
		_ = conn.Close()
		started := time.Now()
		if err := again.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		t.Logf("Close with no clients took %v", time.Since(started))
	})
}

// TestStartFailures checks that a server that cannot start says why and
// leaves nothing running.
func TestStartFailures(t *testing.T) {
	lib := requireLib(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	busyPort, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busyPort.Close() }()
	running := startServer(ctx, t, chdb.Config{LibPath: lib, DataDir: t.TempDir()})
	notLib := filepath.Join(t.TempDir(), "libchdb.so")
	if err := os.WriteFile(notLib, []byte("not an ELF file"), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		scenario string
		cfg      chdb.Config
		want     string
	}{
		{
			scenario: "native port in use",
			cfg:      chdb.Config{LibPath: lib, DataDir: t.TempDir(), TCPPort: busyPort.Addr().(*net.TCPAddr).Port},
			want:     "Address already in use",
		},
		{
			scenario: "data dir used by a running server",
			cfg:      chdb.Config{LibPath: lib, DataDir: running.DataDir()},
			want:     "Cannot lock file",
		},
		{
			scenario: "library is not libchdb",
			cfg:      chdb.Config{LibPath: notLib, DataDir: t.TempDir()},
			want:     "loading " + notLib,
		},
		{
			scenario: "missing library",
			cfg:      chdb.Config{LibPath: notLib + ".absent", DataDir: t.TempDir()},
			want:     "scripts/fetch-chdb.sh",
		},
		{
			scenario: "start timeout",
			cfg:      chdb.Config{LibPath: lib, DataDir: t.TempDir(), StartTimeout: time.Millisecond},
			want:     "context deadline exceeded",
		},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			srv, err := chdb.Start(ctx, tt.cfg)
			if err == nil {
				_ = srv.Close()
				t.Fatalf("Start succeeded, want an error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start error = %q, want it to contain %q", err, tt.want)
			}
			t.Logf("Start error: %v", err)
		})
	}
	if err := openClient(t, running.NativeAddr(), clickhouse.Native).Ping(ctx); err != nil {
		t.Errorf("the running server was disturbed: %v", err)
	}
}

// runHelper runs this test binary again, as TestHelperProcess in the given
// scenario, and returns its output.
func runHelper(t *testing.T, scenario, dir string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), envHelper+"="+scenario, envHelperDir+"="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper %q: %v\n%s", scenario, err, out)
	}
	return string(out)
}

// TestCallerExitStopsServer checks that a caller that exits without Close
// does not leave its server child behind.
func TestCallerExitStopsServer(t *testing.T) {
	requireLib(t)
	out := runHelper(t, "exit without close", t.TempDir())
	_, after, ok := strings.Cut(out, "child-pid ")
	if !ok {
		t.Fatalf("helper did not report its child:\n%s", out)
	}
	pid, err := strconv.Atoi(strings.Fields(after)[0])
	if err != nil {
		t.Fatalf("parsing child pid from %q: %v", out, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("server child %d still running 30s after its caller exited", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestHelperProcess is the body of the processes runHelper starts; it does
// nothing in a normal run.
func TestHelperProcess(t *testing.T) {
	scenario := os.Getenv(envHelper)
	if scenario == "" {
		return
	}
	lib := requireLib(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	started := time.Now()
	srv, err := chdb.Start(ctx, chdb.Config{LibPath: lib, DataDir: os.Getenv(envHelperDir)})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	ready := time.Since(started)
	switch scenario {
	case "exit without close":
		fmt.Printf("child-pid %d\n", srv.PID())
		os.Exit(0)
	case "measure":
		defer func() { _ = srv.Close() }()
		measure(ctx, t, srv, ready)
	default:
		t.Fatalf("unknown helper scenario %q", scenario)
	}
}

// TestMeasure reports start-up time, memory and insert throughput in a
// fresh process. It runs only with PUSHPIPE_CHDB_MEASURE=1 and asserts
// nothing about timings.
func TestMeasure(t *testing.T) {
	if os.Getenv(envMeasure) != "1" {
		t.Skip("set " + envMeasure + "=1 to measure")
	}
	requireLib(t)
	t.Log(runHelper(t, "measure", t.TempDir()))
}

func measure(ctx context.Context, t *testing.T, srv *chdb.Server, ready time.Duration) {
	t.Logf("start to ready: %v", ready)
	t.Logf("RSS after start: server child %s, caller %s", rss(srv.PID()), rss(os.Getpid()))
	conn := openClient(t, srv.NativeAddr(), clickhouse.Native)
	if err := conn.Exec(ctx, `CREATE TABLE m (event_time DateTime64(3, 'UTC'), event_id UInt64, tenant LowCardinality(String), status Enum8('queued' = 1, 'sent' = 2, 'failed' = 3), latency_ms UInt32) ENGINE = MergeTree ORDER BY (tenant, event_time)`); err != nil {
		t.Fatal(err)
	}
	const total = 1_000_000
	for _, batchSize := range []int{10_000, 100_000} {
		events := makeEvents(batchSize, time.Now().UTC(), 0)
		started := time.Now()
		for sent := 0; sent < total; sent += batchSize {
			if err := insertEvents(ctx, conn, "m", events); err != nil {
				t.Fatal(err)
			}
		}
		elapsed := time.Since(started)
		t.Logf("inserted %d rows in %d-row batches in %v: %.0f rows/s", total, batchSize, elapsed, total/elapsed.Seconds())
	}
	t.Logf("RSS after inserts: server child %s, caller %s", rss(srv.PID()), rss(os.Getpid()))
}

// rss returns the resident memory of pid as "total (anon + file-backed)".
func rss(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return err.Error()
	}
	fields := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			fields[k] = strings.TrimSpace(v)
		}
	}
	return fmt.Sprintf("%s (anon %s + file %s)", fields["VmRSS"], fields["RssAnon"], fields["RssFile"])
}

// TestCrashedChildIsRestarted kills the server's child with SIGKILL, as a
// crash would end it, and checks that a new child serves the same ports and
// data while Done stays open; with Restarts negative the server stops and
// says why.
func TestCrashedChildIsRestarted(t *testing.T) {
	lib := requireLib(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	tests := []struct {
		scenario string
		restarts int
		wantUp   bool
	}{
		{scenario: "default: started again, data kept", restarts: 0, wantUp: true},
		{scenario: "restarts off: stopped with the reason", restarts: -1, wantUp: false},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			srv := startServer(ctx, t, chdb.Config{LibPath: lib, DataDir: t.TempDir(), Restarts: tt.restarts})
			conn := openClient(t, srv.NativeAddr(), clickhouse.Native)
			for _, q := range []string{"CREATE DATABASE crash", "CREATE TABLE crash.t (n UInt64) ENGINE = MergeTree ORDER BY n", "INSERT INTO crash.t SELECT number FROM numbers(1000)"} {
				if err := conn.Exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			first := srv.PID()
			if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			if !tt.wantUp {
				select {
				case <-srv.Done():
				case <-ctx.Done():
					t.Fatal("the server did not stop after its child was killed")
				}
				if err := srv.Err(); err == nil || !strings.Contains(err.Error(), "exited unexpectedly") {
					t.Fatalf("Err() = %v, want the unexpected exit", err)
				}
				if srv.Restarts() != 0 {
					t.Fatalf("%d restarts with restarts off", srv.Restarts())
				}
				return
			}
			var n uint64
			// SIGKILL takes effect asynchronously: until the new child
			// runs, a query may still reach the old one, or fail.
			for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
				err := conn.QueryRow(ctx, "SELECT count() FROM crash.t").Scan(&n)
				if err == nil && srv.Restarts() > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("no answer from a new child a minute after the crash: %d restarts, last error %v", srv.Restarts(), err)
				}
			}
			if n != 1000 || srv.PID() == first || srv.Restarts() != 1 {
				t.Fatalf("after the crash: %d rows, pid %d (was %d), %d restarts; want 1000 rows from a new child, 1 restart", n, srv.PID(), first, srv.Restarts())
			}
			select {
			case <-srv.Done():
				t.Fatalf("Done closed although the server runs again: %v", srv.Err())
			default:
			}
			if err := srv.Close(); err != nil {
				t.Fatalf("Close after a restart: %v", err)
			}
			if err := syscall.Kill(srv.PID(), 0); err == nil {
				t.Fatalf("child %d still runs after Close", srv.PID())
			}
		})
	}
}
