package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
)

func TestWarnExposedSecrets(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Log("running as root: modes are still checked, root reads everything anyway")
	}
	dir := t.TempDir()
	file := func(name string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("secret\n"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // beyond the umask
			t.Fatal(err)
		}
		return p
	}
	state := func(mode os.FileMode) string {
		p := filepath.Join(t.TempDir(), "state")
		if err := os.Mkdir(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		scenario string
		set      func(c *config.Config)
		want     []string // one warning per entry, each naming this
	}{
		{scenario: "private files and state directory", set: func(c *config.Config) {
			c.StateDir = state(0o700)
			c.Kafka.SASL.PasswordFile = file("kafka-pw", 0o600)
			c.ClickHouse.PasswordFile = file("ch-pw", 0o400)
			c.Callbacks.KeyFile = file("cb-key", 0o600)
		}},
		{scenario: "group-readable files, as Kubernetes mounts them with fsGroup", set: func(c *config.Config) {
			c.StateDir = state(0o750)
			c.Kafka.TLS.KeyFile = file("kafka-key-g", 0o440)
			c.Callbacks.KeyFile = file("cb-key-g", 0o640)
		}},
		{scenario: "world-readable password and key files", set: func(c *config.Config) {
			c.StateDir = state(0o700)
			c.Kafka.SASL.PasswordFile = file("kafka-pw-w", 0o644)
			c.ClickHouse.TLS.KeyFile = file("ch-key-w", 0o604)
			c.Callbacks.KeyFile = file("cb-key-w", 0o644)
		}, want: []string{"kafka.sasl.passwordFile", "clickhouse.tls.keyFile", "callbacks.keyFile"}},
		{scenario: "a state directory others may enter", set: func(c *config.Config) {
			c.StateDir = state(0o755)
		}, want: []string{"chmod 700"}},
		{scenario: "files that do not exist yet", set: func(c *config.Config) {
			c.StateDir = filepath.Join(t.TempDir(), "not-yet")
			c.Kafka.SASL.PasswordFile = filepath.Join(dir, "absent")
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c, err := config.Load("")
			if err != nil {
				t.Fatal(err)
			}
			tc.set(c)
			var buf bytes.Buffer
			n := WarnExposedSecrets(c, zerolog.New(&buf))
			if n != len(tc.want) {
				t.Fatalf("%d warnings, want %d:\n%s", n, len(tc.want), buf.String())
			}
			lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
			for i, w := range tc.want {
				if !strings.Contains(lines[i], w) || !strings.Contains(lines[i], `"level":"warn"`) || !strings.Contains(lines[i], "chmod") {
					t.Errorf("warning %d = %s, want a warning naming %q with the chmod that fixes it", i, lines[i], w)
				}
			}
		})
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// tlsProxy terminates TLS with server (its certificate, and client
// certificate checks) in front of the plaintext address backend, as a TLS
// front end of a ClickHouse server does. It closes with the test.
func tlsProxy(t *testing.T, server *tls.Config, backend string) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", server)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer func() { _ = c.Close() }()
				if err := c.(*tls.Conn).Handshake(); err != nil {
					return
				}
				b, err := net.Dial("tcp", backend)
				if err != nil {
					return
				}
				defer func() { _ = b.Close() }()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
				<-done
			})
		}
	})
	return l.Addr().String()
}

// TestEmbeddedTransportSecurity starts the embedded servers as `pushpipe
// dev` does with Kafka SASL and a ClickHouse user configured, and checks
// what the configuration builds gets in and what does not: the broker
// requires the SASL user, the ClickHouse user logs in with its password
// (also over TLS, through a TLS front end: the embedded ClickHouse cannot
// serve TLS itself), and a wrong password or certificate is refused with
// an error naming it. The data directories are private.
func TestEmbeddedTransportSecurity(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(pwFile, []byte("correct horse battery\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = filepath.Join(t.TempDir(), "state")
	cfg.Regions = []string{"sg"}
	cfg.Kafka.EmbeddedPort, cfg.ClickHouse.EmbeddedTCPPort, cfg.ClickHouse.EmbeddedHTTPPort = freePort(t), freePort(t), freePort(t)
	cfg.Kafka.SASL = config.KafkaSASLConfig{Mechanism: pipeline.SASLScramSHA512, Username: "pushpipe", PasswordFile: pwFile}
	cfg.ClickHouse.Username, cfg.ClickHouse.Password = "pushpipe", "staple"
	cfg.ClickHouse.DatabasePrefix = "t_transport_"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)
	e, err := StartEmbedded(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })

	for _, d := range []string{cfg.StateDir, cfg.KafkaDataDir(), cfg.ClickHouseDataDir()} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o700 {
			t.Errorf("%s has mode %s, want 0700", d, st.Mode().Perm())
		}
	}

	brokers := []string{e.Kafka.Addr()}
	sec, err := cfg.Kafka.Security()
	if err != nil {
		t.Fatal(err)
	}
	chCfg := cfg.ClickHouse
	conn, err := OpenClickHouse(ctx, chCfg, e.ClickHouse.NativeAddr())
	if err != nil {
		t.Fatalf("the configured ClickHouse user cannot log in: %v", err)
	}
	defer func() { _ = conn.Close() }()
	var user string
	if err := conn.QueryRow(ctx, "SELECT currentUser()").Scan(&user); err != nil || user != "pushpipe" {
		t.Fatalf("logged in as %q (%v), want pushpipe", user, err)
	}

	t.Run("the workers prepare topics and tables with the configured credentials", func(t *testing.T) {
		if err := Prepare(ctx, Deps{Cfg: cfg, Brokers: brokers, KafkaSecurity: sec, CH: conn}, cfg.Regions); err != nil {
			t.Fatalf("Prepare: %v", err)
		}
	})
	t.Run("a process without SASL is refused by the embedded broker", func(t *testing.T) {
		err := Prepare(ctx, Deps{Cfg: cfg, Brokers: brokers}, cfg.Regions)
		if err == nil || !strings.Contains(err.Error(), "the listener requires SASL (set kafka.sasl)") {
			t.Fatalf("Prepare without SASL = %v, want a refusal saying to set kafka.sasl", err)
		}
	})
	t.Run("ClickHouse over TLS", func(t *testing.T) {
		ca, otherCA := testinfra.NewCA(t), testinfra.NewCA(t)
		certFile, keyFile := ca.ClientFiles(t, "pushpipe-worker")
		oneWay := tlsProxy(t, ca.ServerConfig(t, "clickhouse", false), e.ClickHouse.NativeAddr())
		mutual := tlsProxy(t, ca.ServerConfig(t, "clickhouse", true), e.ClickHouse.NativeAddr())
		for _, tc := range []struct {
			scenario string
			addr     string
			tls      config.TLSConfig
			wantErr  string
		}{
			{scenario: "the server's CA", addr: oneWay, tls: config.TLSConfig{Enabled: true, CAFile: ca.File}},
			{scenario: "a client certificate where the server requires one", addr: mutual,
				tls: config.TLSConfig{Enabled: true, CAFile: ca.File, CertFile: certFile, KeyFile: keyFile}},
			{scenario: "another CA", addr: oneWay, tls: config.TLSConfig{Enabled: true, CAFile: otherCA.File},
				wantErr: "certificate signed by unknown authority"},
			{scenario: "no client certificate where the server requires one", addr: mutual, tls: config.TLSConfig{Enabled: true, CAFile: ca.File},
				wantErr: "reaching clickhouse at " + mutual + ` as user "pushpipe" over TLS`},
			{scenario: "plaintext to the TLS port", addr: oneWay, wantErr: "over plaintext"},
		} {
			t.Run(tc.scenario, func(t *testing.T) {
				c := chCfg
				c.Addr, c.TLS = tc.addr, tc.tls
				conn, err := OpenClickHouse(ctx, c, tc.addr)
				if tc.wantErr != "" {
					if err == nil {
						_ = conn.Close()
						t.Fatal("connected, want a refusal")
					}
					if !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("error %q does not say %q", err, tc.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = conn.Close() }()
				if err := conn.QueryRow(ctx, "SELECT currentUser()").Scan(&user); err != nil || user != "pushpipe" {
					t.Fatalf("over TLS logged in as %q (%v), want pushpipe", user, err)
				}
			})
		}
	})
	// Last: a refused login makes the embedded ClickHouse abort (it is
	// started again).
	t.Run("a wrong ClickHouse password is refused", func(t *testing.T) {
		c := chCfg
		c.Password = "stapler"
		_, err := OpenClickHouse(ctx, c, e.ClickHouse.NativeAddr())
		var ex *clickhouse.Exception
		if !errors.As(err, &ex) || ex.Code != 516 {
			t.Fatalf("error %v, want ClickHouse's AUTHENTICATION_FAILED (516)", err)
		}
		if !strings.Contains(err.Error(), `refused user "pushpipe": check clickhouse.username and clickhouse.password`) {
			t.Fatalf("error %q does not say which setting to check", err)
		}
	})
}
