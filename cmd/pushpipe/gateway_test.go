package main

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/internal/config"
)

// run executes pushpipe with args and returns its output.
func run(t *testing.T, args ...string) string {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	if err := root.Execute(); err != nil {
		t.Fatalf("pushpipe %s: %v", strings.Join(args, " "), err)
	}
	return out.String()
}

// TestGatewayKeygenAndSign: keygen prints a configuration entry the
// configuration accepts and writes the same AccessKey to --out; sign
// prints a query whose signature is the AccessKey's over the route and
// the body's digest.
func TestGatewayKeygenAndSign(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "ak.json")
	entry := run(t, "gateway", "keygen", "--app", "ONEXAPP", "--out", keyFile)
	key, err := gateway.ReadAccessKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v; want 0600", fi.Mode(), err)
	}
	indented := "  " + strings.ReplaceAll(strings.TrimSpace(entry), "\n", "\n  ")
	cfgFile := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(cfgFile, []byte("apps: [{appId: ONEXAPP, workspaceId: w}]\ngateway:\n appKeys:\n"+indented+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatalf("the printed entry\n%s\nis not valid configuration: %v", entry, err)
	}
	apps, err := cfg.GatewayApps()
	if err != nil || len(apps) != 1 || len(apps[0].AccessKeys) != 1 || apps[0].AccessKeys[0] != key {
		t.Fatalf("configured %+v, %v; want the key of %s", apps, err, keyFile)
	}
	wantCommandError(t, []string{"gateway", "keygen", "--app", "ONEXAPP", "--out", keyFile}, "never overwritten")

	body := filepath.Join(dir, "body.json")
	if err := os.WriteFile(body, []byte(`{"appId":"ONEXAPP","workspaceId":"w"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	var params map[string]string
	if err := json.Unmarshal([]byte(run(t, "gateway", "sign", "--key", keyFile, "--path", "/v1/stats", "--body", body, "--format", "json")), &params); err != nil {
		t.Fatal(err)
	}
	signed := map[string]string{gateway.ParamBodySHA256: gateway.BodyDigest([]byte(`{"appId":"ONEXAPP","workspaceId":"w"}`))}
	for k, v := range params {
		signed[k] = v
	}
	if params[gateway.ParamAccessKeyID] != key.ID || params[gateway.ParamSignature] != gateway.SignString(gateway.StringToSign("POST", "/v1/stats", signed), key.Secret.Reveal()) {
		t.Fatalf("signed parameters %v do not verify", params)
	}
	q, err := url.ParseQuery(strings.TrimSpace(run(t, "gateway", "sign", "--key", keyFile, "--path", "/v1/stats", "--body", body)))
	if err != nil || len(q) != len(params) || q.Get(gateway.ParamAccessKeyID) != key.ID || q.Get(gateway.ParamSignature) == "" {
		t.Fatalf("query output %v, %v", q, err)
	}
	wantCommandError(t, []string{"gateway", "sign", "--key", keyFile, "--path", "/", "--body", body}, "--path")
}

// TestDevDemoAccessKey: pushpipe dev makes the demo app's AccessKey once,
// keeps it in the state directory, and configures it again on the next
// start.
func TestDevDemoAccessKey(t *testing.T) {
	dir := t.TempDir()
	var first, second devGateways
	c1, c2 := defaultConfig(t, dir), defaultConfig(t, dir)
	if err := first.addDemoKey(c1); err != nil {
		t.Fatal(err)
	}
	if err := second.addDemoKey(c2); err != nil {
		t.Fatal(err)
	}
	apps, err := c2.GatewayApps()
	if err != nil || len(apps) != 1 || apps[0].AppID != config.DefaultDemoAppID || apps[0].AccessKeys[0] != first.key || second.key != first.key ||
		first.keyPath != filepath.Join(dir, demoAccessKeyFile) {
		t.Fatalf("second start configured %+v, %v; first key %s in %s", apps, err, first.key.ID, first.keyPath)
	}
}

// defaultConfig is the default configuration with its state in dir, as
// pushpipe dev starts from it.
func defaultConfig(t *testing.T, dir string) *config.Config {
	t.Helper()
	c, err := config.Load("")
	if err != nil {
		t.Fatal(err)
	}
	c.StateDir = dir
	return c
}
