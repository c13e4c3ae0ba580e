// Package testinfra starts the real servers that integration and
// end-to-end tests run against: a fresh in-memory Kafka-protocol broker per
// test and one embedded ClickHouse per test binary (started from TestMain,
// since a ClickHouse library can be loaded once per process). Tests keep
// apart by using their own broker, their own database prefix and their own
// consumer groups.
//
// Under `go test -short` (make test-short) they start nothing: Kafka and
// ClickHouse.Conn skip the calling test, and MainWithClickHouse starts no
// ClickHouse, so only the unit tests run.
package testinfra

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/infra/chdb"
	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
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
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("starting embedded clickhouse for tests (run `make test`, or scripts/fetch-chdb.sh first): %w", err)
	}
	return &ClickHouse{srv: srv, dir: dir}, nil
}

// skipShort skips t under -short: it needs a server, and -short runs the
// unit tests alone.
func skipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("integration test: needs %s; skipped under -short", what)
	}
}

// Addr is the native-protocol address. Under -short, where no server was
// started, it panics: a test reaches it through Kafka or Conn, which skip.
func (c *ClickHouse) Addr() string { return c.srv.NativeAddr() }

// HTTPAddr is the HTTP-protocol address (no server under -short, as Addr).
func (c *ClickHouse) HTTPAddr() string { return c.srv.HTTPAddr() }

// Close stops the server and removes its data; without a server (-short)
// it does nothing.
func (c *ClickHouse) Close() {
	if c.srv == nil {
		return
	}
	_ = c.srv.Close()
	_ = os.RemoveAll(c.dir)
}

// Conn opens a connection closed when the test ends. While the server is
// being started again after a crash it waits, up to a minute. Under
// -short, where no server was started, it skips t.
func (c *ClickHouse) Conn(t testing.TB) driver.Conn {
	t.Helper()
	skipShort(t, "the embedded ClickHouse")
	deadline := time.Now().Add(time.Minute)
	for {
		conn, err := store.OpenClickHouse(context.Background(), store.ClickHouseOptions{Addr: c.Addr()})
		if err == nil {
			t.Cleanup(func() { _ = conn.Close() })
			return conn
		}
		if time.Now().After(deadline) || c.srv.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Kafka starts a fresh in-memory broker for one test and returns its
// address; it is closed when the test ends. Under -short it skips t.
func Kafka(t testing.TB) string {
	t.Helper()
	skipShort(t, "the embedded Kafka broker")
	b, err := embeddedkafka.Start(context.Background(), embeddedkafka.Config{GroupMinSessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
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
// exits with the tests' code (or 1 if the server cannot start). Under
// -short it starts no server: set gets a ClickHouse whose Conn skips the
// test that asks.
func MainWithClickHouse(m *testing.M, set func(*ClickHouse)) {
	flag.Parse() // for testing.Short
	if testing.Short() {
		set(&ClickHouse{})
		os.Exit(m.Run())
	}
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

// CA is a throwaway certificate authority for tests of TLS connections:
// it issues server certificates for loopback and client certificates for
// mutual TLS. Its files live in the test's temporary directory.
type CA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	// Pool trusts the CA.
	Pool *x509.CertPool
	// File is the CA certificate in PEM, for configurations naming a
	// caFile.
	File string
}

// NewCA makes a CA valid for an hour.
func NewCA(t testing.TB) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pushpipe test CA"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{cert: cert, key: key, Pool: x509.NewCertPool(), File: filepath.Join(t.TempDir(), "ca.pem")}
	ca.Pool.AddCert(cert)
	if err := os.WriteFile(ca.File, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue returns a certificate for name signed by the CA: a server
// certificate for 127.0.0.1, ::1 and localhost, or a client certificate.
func (ca *CA) issue(t testing.TB, name string, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
		tmpl.DNSNames = []string{"localhost", name}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

// ServerConfig returns a server TLS configuration with a certificate for
// loopback (and name) signed by the CA. With clientAuth, clients must
// present a certificate signed by the CA.
func (ca *CA) ServerConfig(t testing.TB, name string, clientAuth bool) *tls.Config {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, name, true)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if clientAuth {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool
	}
	return c
}

// ClientFiles writes a client certificate for name signed by the CA and
// its private key (mode 0600) and returns their paths.
func (ca *CA) ClientFiles(t testing.TB, name string) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM := ca.issue(t, name, false)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// IDKey is the id key of unit tests: a fixed secret, so that tests can
// derive the delivery ids the code under test derives. Never use it
// outside tests.
func IDKey() schema.IDKey {
	k, err := schema.NewIDKey([]byte("pushpipe unit tests' id secret, not for production"))
	if err != nil {
		panic(err)
	}
	return k
}
