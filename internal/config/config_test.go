package config

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pushpipe/pushpipe/channels/harmonyos"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/workers/sender"
)

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// loadChecked loads and validates body as a configuration file. With
// wantErr it fails the test unless loading or validating fails saying
// wantErr, and returns nil; without, it fails the test on any error.
func loadChecked(t *testing.T, body, wantErr string) *Config {
	t.Helper()
	c, err := Load(write(t, body))
	if err == nil {
		err = c.Validate()
	}
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want it to contain %q", err, wantErr)
		}
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		body     string
		wantErr  string
		check    func(t *testing.T, c *Config)
	}{
		{scenario: "empty file gives the development defaults", body: "", check: func(t *testing.T, c *Config) {
			if !c.Kafka.Embedded() || !c.ClickHouse.Embedded() || len(c.Regions) != 5 || c.Database("sg") != "push_sg" {
				t.Fatalf("defaults wrong: %+v", c)
			}
			if got := c.VendorBaseURL(mipush.Name, "eu"); got != "https://fr-api.xmpush.global.xiaomi.com" {
				t.Fatalf("eu MiPush host = %q", got)
			}
		}},
		{scenario: "external servers turn the embedded ones off", body: "kafka: {brokers: [k1:9092]}\nclickhouse: {addr: ch:9000}\n", check: func(t *testing.T, c *Config) {
			if c.Kafka.Embedded() || c.ClickHouse.Embedded() {
				t.Fatal("embedded still selected")
			}
		}},
		{scenario: "simulator points MiPush at the per-region prefix", body: "vendors: {simulator: true, simulatorAddr: 127.0.0.1:9}\n", check: func(t *testing.T, c *Config) {
			if got := c.VendorBaseURL(mipush.Name, "ru"); got != "http://127.0.0.1:9/mipush/ru" {
				t.Fatalf("VendorBaseURL = %s", got)
			}
		}},
		{scenario: "retry section: defaults, and values read from YAML", body: "retry: {maxAttempts: 5, baseBackoff: 200ms}\n", check: func(t *testing.T, c *Config) {
			if c.Retry.MaxAttempts != 5 || c.Retry.BaseBackoff != 200*time.Millisecond || c.Retry.MaxBackoff != sender.DefaultMaxBackoff {
				t.Fatalf("retry = %+v, want maxAttempts 5, baseBackoff 200ms and the default maxBackoff", c.Retry)
			}
		}},
		{scenario: "kafka.compression: snappy by default, a codec read from YAML", body: "kafka: {compression: zstd}\n", check: func(t *testing.T, c *Config) {
			d, _ := Load("")
			if d.Kafka.Compression != pipeline.CompressionSnappy || c.Kafka.Compression != pipeline.CompressionZstd {
				t.Fatalf("kafka.compression = %q by default and %q from YAML, want snappy and zstd", d.Kafka.Compression, c.Kafka.Compression)
			}
		}},
		{scenario: "unknown key is an error", body: "kafak: {}\n", wantErr: "field kafak not found"},
		{scenario: "not yaml", body: "regions: [\n", wantErr: "parsing config"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c, err := Load(write(t, tc.body))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		mutate   func(c *Config)
		wantErr  string
	}{
		{"defaults are valid", func(c *Config) {}, ""},
		{"unknown region", func(c *Config) { c.Regions = []string{"us"} }, `regions: "us"`},
		{"zero partitions", func(c *Config) { c.Kafka.Partitions = 0 }, "kafka.partitions"},
		{"no compression", func(c *Config) { c.Kafka.Compression = pipeline.CompressionNone }, ""},
		{"unknown compression", func(c *Config) { c.Kafka.Compression = "lz5" }, `kafka.compression "lz5" is not a codec: use one of none, gzip, snappy, lz4, zstd (empty: snappy)`},
		{"app without id", func(c *Config) { c.Apps[0].AppID = "" }, "apps[0].appId is empty"},
		{"app listed twice", func(c *Config) { c.Apps = append(c.Apps, c.Apps[0]) }, "listed twice"},
		{"mipush without secret", func(c *Config) { AppCredentials[mipush.App](&c.Apps[0]).AppSecret = "" }, "needs both appSecret and packageName"},
		{"real vendors need a url per region", func(c *Config) { c.Vendors.Endpoints[mipush.Name].BaseURLs["sg"] = "" }, `no URL for region "sg"`},
		{"log format json", func(c *Config) { c.LogFormat = LogFormatJSON }, ""},
		{"unknown log format", func(c *Config) { c.LogFormat = "text" }, `logFormat "text": use auto, console, json`},
		{"retry attempt cap below 1", func(c *Config) { c.Retry.MaxAttempts = -1 }, "retry.maxAttempts must be at least 1"},
		{"retry base backoff not positive", func(c *Config) { c.Retry.BaseBackoff = -time.Second }, "retry.baseBackoff must be positive"},
		{"retry max backoff below the base", func(c *Config) { c.Retry.MaxBackoff = c.Retry.BaseBackoff / 2 }, "retry.maxBackoff 500ms is below retry.baseBackoff 1s"},
		{"retry max backoff beyond any validity", func(c *Config) { c.Retry.MaxBackoff = 15 * 24 * time.Hour }, "exceeds the longest message validity"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c, _ := Load("")
			tc.mutate(c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	c, err := Load(write(t, "clickhouse: {password: hunter2}\napps: [{appId: a, mipush: {appSecret: topsecret, packageName: p}}]\n"+
		"gateway: {appKeys: [{appId: a, accessKeys: [{accessKeyId: PPAKa, accessKeySecret: gatewaysecret0123456789}]}]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if AppCredentials[mipush.App](&c.Apps[0]).AppSecret.Reveal() != "topsecret" {
		t.Fatal("secret not loaded")
	}
	apps, err := c.GatewayApps()
	if err != nil || apps[0].AccessKeys[0].Secret.Reveal() != "gatewaysecret0123456789" {
		t.Fatalf("gateway secret not loaded: %+v, %v", apps, err)
	}
	r := c.Redacted()
	asJSON, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	asYAML, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{fmt.Sprintf("%+v", r), fmt.Sprintf("%#v", r), fmt.Sprintf("%+v", *AppCredentials[mipush.App](&r.Apps[0])), fmt.Sprintf("%#v", *AppCredentials[mipush.App](&r.Apps[0])),
		fmt.Sprintf("%+v", apps), fmt.Sprintf("%#v", apps), string(asJSON), string(asYAML)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "topsecret") || strings.Contains(s, "gatewaysecret") {
			t.Fatalf("redacted config prints a secret: %s", s)
		}
	}
}

func TestExampleConfigLoadsAndValidates(t *testing.T) {
	c, err := Load("../../configs/pushpipe.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("configs/pushpipe.example.yaml does not validate: %v", err)
	}
}

// TestHarmonyOSSection reads an app's HarmonyOS service account and the
// Push Kit host from YAML, checks where the channel is pointed and that
// an incomplete section is refused naming the field.
func TestHarmonyOSSection(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	key := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	app := func(clientID string) string {
		return fmt.Sprintf("apps: [{appId: a, mipush: {appSecret: s, packageName: p}, harmonyos: {projectId: \"101653523863785276\", clientId: %q, keyId: kid-1, subAccount: \"107783917\", privateKey: %q}}]\n", clientID, key)
	}
	for _, tc := range []struct {
		scenario string
		body     string
		wantErr  string
		check    func(t *testing.T, c *Config)
	}{
		{scenario: "service account and host per region", body: app("6917562345678901234") + "vendors: {harmonyos: {baseUrls: {sg: \"https://push-api.example.com\"}, timeout: 3s}}\n",
			check: func(t *testing.T, c *Config) {
				h := AppCredentials[harmonyos.App](&c.Apps[0])
				if h == nil || h.ProjectID != "101653523863785276" || h.ClientID != "6917562345678901234" || h.KeyID != "kid-1" || h.PrivateKey.Reveal() != key {
					t.Fatalf("harmonyos app %v", h)
				}
				if got := c.VendorBaseURL(harmonyos.Name, "sg"); got != "https://push-api.example.com" {
					t.Errorf("VendorBaseURL = %q", got)
				}
				if c.VendorTimeout(harmonyos.Name) != 3*time.Second {
					t.Errorf("timeout %s", c.VendorTimeout(harmonyos.Name))
				}
				if s := fmt.Sprintf("%+v %#v", *h, *h); strings.Contains(s, "PRIVATE KEY") {
					t.Errorf("private key printed: %s", s)
				}
			}},
		{scenario: "the simulator serves HarmonyOS under its prefix", body: app("6917562345678901234") + "vendors: {simulator: true, simulatorAddr: 127.0.0.1:9}\n",
			check: func(t *testing.T, c *Config) {
				if got := c.VendorBaseURL(harmonyos.Name, "eu"); got != "http://127.0.0.1:9/harmonyos/eu" {
					t.Errorf("VendorBaseURL = %q", got)
				}
			}},
		{scenario: "a section without the client id", body: app(""), wantErr: "apps[0] (a).harmonyos: clientId"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if c := loadChecked(t, tc.body, tc.wantErr); c != nil {
				tc.check(t, c)
			}
		})
	}
	if !slices.Contains(VendorNames(), "harmonyos") {
		t.Errorf("VendorNames %v has no harmonyos", VendorNames())
	}
}
