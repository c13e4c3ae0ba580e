package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
)

func TestReceiptsCommandNeedsRegion(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		args     []string
		wantErr  string
	}{
		{"no region", []string{"receipts"}, `required flag(s) "region" not set`},
		{"unknown region", []string{"receipts", "--region", "us"}, `--region "us"`},
		{"bad address", []string{"receipts", "--region", "sg", "--addr", "nowhere"}, `receipts.addr "nowhere"`},
		{"receipts on the health address", []string{"receipts", "--region", "sg", "--addr", "127.0.0.1:18999", "--health-addr", "127.0.0.1:18999"}, "need a port of their own"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			wantCommandError(t, tc.args, tc.wantErr)
		})
	}
}

// freeAddr returns a loopback address with a port free now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

// TestReceiptsCommandServesHealthOnItsOwnAddress runs `pushpipe
// receipts` against a real broker: the receipts address vendors reach
// answers 404 for /healthz, /readyz, /metrics and /debug/pprof/, which
// the health address serves, with the worker's metrics.
func TestReceiptsCommandServesHealthOnItsOwnAddress(t *testing.T) {
	broker := testinfra.Kafka(t)
	cfgFile := filepath.Join(t.TempDir(), "cfg.yaml")
	// The worker needs the id secret of the region's fanout and sender.
	cfg := "stateDir: " + t.TempDir() + "\nsecurity: {idSecret: receipts-command-test-id-secret-0123456789}\n"
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	public, internal := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRoot()
	root.SetArgs([]string{"receipts", "--region", "sg", "--brokers", broker, "--config", cfgFile, "--log-level", "error",
		"--addr", public, "--health-addr", internal})
	root.SetOut(io.Discard)
	root.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	get := func(url string) (int, string) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		if code, _ := get("http://" + internal + "/readyz"); code == http.StatusOK {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("pushpipe receipts ended: %v", err)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the health address never answered /readyz 200")
		}
	}
	resp, err := http.Post("http://"+public+"/receipts/hms", "application/json", strings.NewReader(`{"statuses":`))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("an unsigned receipt on the public address: %d, want 401", resp.StatusCode)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/"} {
		if code, body := get("http://" + public + path); code != http.StatusNotFound {
			t.Errorf("GET %s on the receipts address: %d %.200s, want 404", path, code, body)
		}
	}
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready",
		"/metrics": `pushpipe_receipts_auth_refused_total{reason="no_app",region="sg",vendor="hms"} 1`} {
		if code, body := get("http://" + internal + path); code != http.StatusOK || !strings.Contains(body, want) {
			t.Errorf("GET %s on the health address: %d, want 200 with %q:\n%.2000s", path, code, want, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("pushpipe receipts after cancel: %v", err)
	}
}

// TestReceiptsCommandNeedsTheIDSecret runs `pushpipe receipts` without an
// id secret: it refuses to start, saying how to make one.
func TestReceiptsCommandNeedsTheIDSecret(t *testing.T) {
	broker := testinfra.Kafka(t)
	cfgFile := filepath.Join(t.TempDir(), "cfg.yaml")
	if err := os.WriteFile(cfgFile, []byte("stateDir: "+t.TempDir()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wantCommandError(t, []string{"receipts", "--region", "sg", "--brokers", broker, "--config", cfgFile,
		"--addr", freeAddr(t), "--health-addr", freeAddr(t)}, "head -c 32 /dev/urandom")
}
