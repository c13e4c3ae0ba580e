package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/workers/callbacks"
)

func TestCallbacksConfig(t *testing.T) {
	for _, tc := range []struct {
		scenario    string
		yaml        string
		wantKeyFile string
		want        CallbacksConfig // after defaults
		wantErr     string
	}{
		{"defaults", "stateDir: /var/lib/pushpipe\n", "/var/lib/pushpipe/callbacks/private_key.pem",
			CallbacksConfig{Concurrency: 16, HostConcurrency: 4, Timeout: 5 * time.Second, MaxAttempts: 8,
				MinBackoff: 5 * time.Second, MaxBackoff: 10 * time.Minute}, ""},
		{"everything set", "callbacks: {keyFile: /etc/pushpipe/cb.pem, concurrency: 4, hostConcurrency: 2, timeout: 2s, maxAttempts: 3, " +
			"minBackoff: 1s, maxBackoff: 1m, breaker: {consecutiveFailures: 3, openTimeout: 1m}}\n", "/etc/pushpipe/cb.pem",
			CallbacksConfig{KeyFile: "/etc/pushpipe/cb.pem", Concurrency: 4, HostConcurrency: 2, Timeout: 2 * time.Second, MaxAttempts: 3,
				MinBackoff: time.Second, MaxBackoff: time.Minute, Breaker: callbacks.BreakerConfig{ConsecutiveFailures: 3, OpenTimeout: time.Minute}}, ""},
		{"negative concurrency", "callbacks: {concurrency: -1}\n", "", CallbacksConfig{}, "callbacks.concurrency"},
		{"negative host concurrency", "callbacks: {hostConcurrency: -1}\n", "", CallbacksConfig{}, "callbacks.hostConcurrency"},
		{"negative timeout", "callbacks: {timeout: -1s}\n", "", CallbacksConfig{}, "callbacks.timeout"},
		{"timeout holding the consumer too long", "callbacks: {timeout: 1m}\n", "", CallbacksConfig{}, "callbacks.timeout 1m0s exceeds"},
		{"negative attempts", "callbacks: {maxAttempts: -3}\n", "", CallbacksConfig{}, "callbacks.maxAttempts"},
		{"max backoff below min", "callbacks: {minBackoff: 1m, maxBackoff: 10s}\n", "", CallbacksConfig{}, "callbacks.maxBackoff 10s is below"},
		{"max backoff over the longest tier", "callbacks: {maxBackoff: 1h}\n", "", CallbacksConfig{}, "longest callback delay tier"},
		{"negative breaker failures", "callbacks: {breaker: {consecutiveFailures: -1}}\n", "", CallbacksConfig{}, "callbacks.breaker consecutiveFailures"},
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

func TestAppCallbacks(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		yaml     string
		want     string // the policy of app a, printed; "" when wantErr
		wantErr  string
	}{
		{"no section: https only, public addresses only", "apps: [{appId: a, workspaceId: w}]\n", "{false [] []}", ""},
		{"everything set", "apps: [{appId: a, workspaceId: w, callbacks: {allowHttp: true, hosts: [hooks.example.com, '*.shop.example'], " +
			"allowPrivateNetworks: [10.20.0.0/16, 10.30.0.5, 'fd00::/8']}}]\n",
			"{true [hooks.example.com *.shop.example] [10.20.0.0/16 10.30.0.5/32 fd00::/8]}", ""},
		{"a public network", "apps: [{appId: a, workspaceId: w, callbacks: {allowPrivateNetworks: [8.8.8.0/24]}}]\n", "",
			"apps[0] (a).callbacks.allowPrivateNetworks[0]: 8.8.8.0/24 holds public addresses"},
		{"everything", "apps: [{appId: a, workspaceId: w, callbacks: {allowPrivateNetworks: [0.0.0.0/0]}}]\n", "",
			"apps[0] (a).callbacks.allowPrivateNetworks[0]: 0.0.0.0/0 is wider than a /8"},
		{"not a network", "apps: [{appId: a, workspaceId: w, callbacks: {allowPrivateNetworks: [intranet]}}]\n", "",
			"allowPrivateNetworks[0]: \"intranet\" is neither an address nor a CIDR prefix"},
		{"a URL as host", "apps: [{appId: a, workspaceId: w, callbacks: {hosts: ['https://hooks.example.com/cb']}}]\n", "",
			"apps[0] (a).callbacks.hosts[0]"},
		{"a typo", "apps: [{appId: a, workspaceId: w, callbacks: {allowHTTP: true}}]\n", "", "field allowHTTP not found"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "pushpipe.yaml")
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			c, err := Load(path)
			if err == nil {
				err = c.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load+Validate = %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			policies, err := c.CallbackPolicies()
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(policies["a"]); got != tc.want {
				t.Fatalf("policy of app a = %s, want %s", got, tc.want)
			}
		})
	}
}

// TestAllowLocalCallbacks: pushpipe dev and the tests let apps without a
// callbacks section reach loopback over http; an app's own section stays.
func TestAllowLocalCallbacks(t *testing.T) {
	c, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	c.Apps = append(c.Apps, AppConfig{AppID: "strict", WorkspaceID: "w", Callbacks: &AppCallbacks{Hosts: []string{"hooks.example.com"}}})
	c.AllowLocalCallbacks()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	policies, err := c.CallbackPolicies()
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(policies[DefaultDemoAppID]); got != "{true [] [127.0.0.0/8 ::1/128]}" {
		t.Fatalf("demo app policy = %s, want http to loopback", got)
	}
	if got := fmt.Sprint(policies["strict"]); got != "{false [hooks.example.com] []}" {
		t.Fatalf("an app's own callbacks section was changed: %s", got)
	}
}
