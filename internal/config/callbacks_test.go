package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCallbacksConfig(t *testing.T) {
	for _, tc := range []struct {
		scenario    string
		yaml        string
		wantKeyFile string
		want        CallbacksConfig // Concurrency, Timeout, MaxAttempts after defaults
		wantErr     string
	}{
		{"defaults", "stateDir: /var/lib/pushpipe\n", "/var/lib/pushpipe/callbacks/private_key.pem",
			CallbacksConfig{Concurrency: 16, Timeout: 5 * time.Second, MaxAttempts: 5}, ""},
		{"everything set", "callbacks: {keyFile: /etc/pushpipe/cb.pem, concurrency: 4, timeout: 2s, maxAttempts: 3}\n", "/etc/pushpipe/cb.pem",
			CallbacksConfig{KeyFile: "/etc/pushpipe/cb.pem", Concurrency: 4, Timeout: 2 * time.Second, MaxAttempts: 3}, ""},
		{"negative concurrency", "callbacks: {concurrency: -1}\n", "", CallbacksConfig{}, "callbacks.concurrency"},
		{"negative timeout", "callbacks: {timeout: -1s}\n", "", CallbacksConfig{}, "callbacks.timeout"},
		{"timeout longer than a whole callback", "callbacks: {timeout: 1m}\n", "", CallbacksConfig{}, "callbacks.timeout 1m0s exceeds"},
		{"negative attempts", "callbacks: {maxAttempts: -3}\n", "", CallbacksConfig{}, "callbacks.maxAttempts"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pushpipe.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Validate() = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Callbacks != tc.want {
				t.Fatalf("callbacks = %+v, want %+v", c.Callbacks, tc.want)
			}
			if got := c.CallbackKeyFile(); got != tc.wantKeyFile {
				t.Fatalf("CallbackKeyFile() = %s, want %s", got, tc.wantKeyFile)
			}
		})
	}
}

// TestCallbackKeyFileFollowsAStateDirSetLater: `pushpipe dev --state-dir`
// changes StateDir after Load; the default key file moves with it.
func TestCallbackKeyFileFollowsAStateDirSetLater(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	c.StateDir = "/tmp/demo"
	if got := c.CallbackKeyFile(); got != "/tmp/demo/callbacks/private_key.pem" {
		t.Fatalf("CallbackKeyFile() = %s", got)
	}
}
