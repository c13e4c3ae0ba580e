// Package testinfra starts the real servers that integration and
// end-to-end tests run against: a fresh in-memory Kafka-protocol broker per
// test and one embedded ClickHouse per test binary (started from TestMain,
// since a ClickHouse library can be loaded once per process). Tests keep
// apart by using their own broker, their own database prefix and their own
// consumer groups.
package testinfra

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/infra/chdb"
	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
	"github.com/pushpipe/pushpipe/schema"
)

// ClickHouse is the test binary's ClickHouse server.
type ClickHouse struct {
	srv *chdb.Server
	dir string
}

// StartClickHouse starts the embedded ClickHouse in a temporary directory.
// Call it from TestMain and Close it after m.Run. When the library is
// missing it fails with the command that fetches it.
func StartClickHouse() (*ClickHouse, error) {
	dir, err := os.MkdirTemp("", "pushpipe-test-clickhouse-")
	if err != nil {
		return nil, fmt.Errorf("creating clickhouse test dir: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Warnings (a crashed server started again) go to the test output.
	log := zerolog.New(os.Stderr).Level(zerolog.WarnLevel).With().Timestamp().Str("component", "test-clickhouse").Logger()
	// Tests kill worker processes connected to it, which can make the
	// embedded server abort; it is started again each time.
	srv, err := chdb.Start(ctx, chdb.Config{LibPath: chdb.DefaultLibPath(), DataDir: dir, Logger: log, Restarts: 20})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("starting embedded clickhouse for tests (run `make test`, or scripts/fetch-chdb.sh first): %w", err)
	}
	return &ClickHouse{srv: srv, dir: dir}, nil
}

// Addr is the native-protocol address.
func (c *ClickHouse) Addr() string { return c.srv.NativeAddr() }

// HTTPAddr is the HTTP-protocol address.
func (c *ClickHouse) HTTPAddr() string { return c.srv.HTTPAddr() }

// Close stops the server and removes its data.
func (c *ClickHouse) Close() {
	c.srv.Close()
	os.RemoveAll(c.dir)
}

// Conn opens a connection closed when the test ends. While the server is
// being started again after a crash it waits, up to a minute.
func (c *ClickHouse) Conn(t testing.TB) driver.Conn {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := schema.OpenClickHouse(context.Background(), schema.ClickHouseOptions{Addr: c.Addr()})
		if err == nil {
			t.Cleanup(func() { conn.Close() })
			return conn
		}
		if time.Now().After(deadline) || c.srv.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Kafka starts a fresh in-memory broker for one test and returns its
// address; it is closed when the test ends.
func Kafka(t testing.TB) string {
	t.Helper()
	b, err := embeddedkafka.Start(context.Background(), embeddedkafka.Config{GroupMinSessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addr()
}

// DBPrefix returns a database prefix unique to the test, e.g.
// "t_simple_push_1732_": the test's region databases are prefix+region.
func DBPrefix(t testing.TB) string {
	name := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			return r
		}
		if r >= 'A' && r <= 'Z' {
			return r + 'a' - 'A'
		}
		return '_'
	}, t.Name())
	if len(name) > 40 {
		name = name[:40]
	}
	return fmt.Sprintf("t_%s_%d_", name, time.Now().UnixNano()%1_000_000)
}

// MainWithClickHouse is the body of a TestMain that needs ClickHouse: it
// starts the server, hands it to set, runs the tests, stops the server and
// exits with the tests' code (or 1 if the server cannot start).
func MainWithClickHouse(m *testing.M, set func(*ClickHouse)) {
	c, err := StartClickHouse()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	set(c)
	code := m.Run()
	c.Close()
	os.Exit(code)
}
