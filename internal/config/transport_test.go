package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"go.yaml.in/yaml/v3"

	"github.com/pushpipe/pushpipe/internal/testinfra"
)

// secretFile writes content to a file of mode 0600 and returns its path.
func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestValidateTransport checks every mistake in the kafka and clickhouse
// security settings is refused with a message naming the setting and
// what to do, and that the working combinations pass.
func TestValidateTransport(t *testing.T) {
	ca := testinfra.NewCA(t)
	certFile, keyFile := ca.ClientFiles(t, "pushpipe-worker")
	_, otherKey := ca.ClientFiles(t, "someone-else")
	pwFile := secretFile(t, "s3cret\n")
	emptyFile := secretFile(t, "\n")
	missing := filepath.Join(t.TempDir(), "absent")
	remote := func(c *Config) { c.Kafka.Brokers = []string{"kafka-1.internal:9093", "kafka-2.internal:9093"} }
	scram := func(c *Config) {
		c.Kafka.SASL = KafkaSASLConfig{Mechanism: "SCRAM-SHA-512", Username: "pushpipe-fanout", Password: "s3cret"}
	}
	tlsOn := func(c *Config) { c.Kafka.TLS = TLSConfig{Enabled: true, CAFile: ca.File} }
	remoteCH := func(c *Config) { c.ClickHouse.Addr = "clickhouse.internal:9440" }
	all := func(fs ...func(*Config)) func(*Config) {
		return func(c *Config) {
			for _, f := range fs {
				f(c)
			}
		}
	}
	for _, tc := range []struct {
		scenario string
		mutate   func(c *Config)
		wantErr  string
	}{
		// Kafka SASL.
		{"SCRAM-SHA-512 with the embedded broker", scram, ""},
		{"SCRAM-SHA-512 over TLS to remote brokers with a client certificate", all(remote, scram, tlsOn, func(c *Config) {
			c.Kafka.TLS.CertFile, c.Kafka.TLS.KeyFile, c.Kafka.TLS.ServerName = certFile, keyFile, "kafka.internal"
		}), ""},
		{"password from a file", all(remote, scram, tlsOn, func(c *Config) { c.Kafka.SASL.Password, c.Kafka.SASL.PasswordFile = "", pwFile }), ""},
		{"a username without a mechanism", func(c *Config) { c.Kafka.SASL.Username = "u" },
			"kafka.sasl.username is set but kafka.sasl.mechanism is empty: set mechanism to one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, or remove the sasl section"},
		{"a password file without a mechanism", func(c *Config) { c.Kafka.SASL.PasswordFile = pwFile },
			"kafka.sasl.passwordFile is set but kafka.sasl.mechanism is empty"},
		{"an unknown mechanism", all(scram, func(c *Config) { c.Kafka.SASL.Mechanism = "GSSAPI" }),
			`kafka.sasl.mechanism "GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`},
		{"a mechanism without a user", all(scram, func(c *Config) { c.Kafka.SASL.Username = "" }),
			"kafka.sasl.username is empty: SASL SCRAM-SHA-512 needs the user"},
		{"a mechanism without a password", all(scram, func(c *Config) { c.Kafka.SASL.Password = "" }),
			"kafka.sasl: password and passwordFile are both empty: give one of them"},
		{"both a password and a password file", all(scram, func(c *Config) { c.Kafka.SASL.PasswordFile = pwFile }),
			"kafka.sasl: give either password or passwordFile, not both"},
		{"a password file that does not exist", all(scram, func(c *Config) { c.Kafka.SASL.Password, c.Kafka.SASL.PasswordFile = "", missing }),
			"kafka.sasl.passwordFile: open " + missing},
		{"an empty password file", all(scram, func(c *Config) { c.Kafka.SASL.Password, c.Kafka.SASL.PasswordFile = "", emptyFile }),
			"kafka.sasl.passwordFile " + emptyFile + " is empty: write the value into it"},
		{"the user name from a file", all(scram, func(c *Config) {
			c.Kafka.SASL.Username, c.Kafka.SASL.UsernameFile = "", secretFile(t, "pushpipe-sender\n")
		}), ""},
		{"both a user name and a user name file", all(scram, func(c *Config) { c.Kafka.SASL.UsernameFile = pwFile }),
			"kafka.sasl: give either username or usernameFile, not both"},
		{"a user name file that does not exist", all(scram, func(c *Config) { c.Kafka.SASL.Username, c.Kafka.SASL.UsernameFile = "", missing }),
			"kafka.sasl.usernameFile: open " + missing},
		{"PLAIN in the clear to remote brokers", all(remote, scram, func(c *Config) { c.Kafka.SASL.Mechanism = "PLAIN" }),
			"kafka.sasl.mechanism PLAIN sends the password in the clear to kafka-1.internal:9093,kafka-2.internal:9093: set kafka.tls.enabled: true, or use SCRAM-SHA-512"},
		{"PLAIN over TLS to remote brokers", all(remote, scram, tlsOn, func(c *Config) { c.Kafka.SASL.Mechanism = "PLAIN" }), ""},
		{"PLAIN to a loopback broker", all(scram, func(c *Config) {
			c.Kafka.SASL.Mechanism, c.Kafka.Brokers = "PLAIN", []string{"127.0.0.1:9092", "localhost:9093"}
		}), ""},
		// Kafka TLS.
		{"a CA file while TLS is off", all(remote, func(c *Config) { c.Kafka.TLS.CAFile = ca.File }),
			"kafka.tls.caFile is set but kafka.tls.enabled is false: set enabled: true, or remove caFile"},
		{"insecureSkipVerify while TLS is off", all(remote, func(c *Config) { c.Kafka.TLS.InsecureSkipVerify = true }),
			"kafka.tls.insecureSkipVerify is set but kafka.tls.enabled is false"},
		{"TLS towards the embedded broker", tlsOn, "kafka.tls.enabled is set but kafka.brokers is empty: the embedded broker listens in plaintext"},
		{"insecureSkipVerify towards remote brokers", all(remote, tlsOn, func(c *Config) { c.Kafka.TLS.InsecureSkipVerify = true }),
			"kafka.tls.insecureSkipVerify accepts any certificate and is refused for kafka-1.internal:9093,kafka-2.internal:9093 (it is for loopback development only): give kafka.tls.caFile"},
		{"insecureSkipVerify towards a loopback broker", func(c *Config) {
			c.Kafka.Brokers, c.Kafka.TLS = []string{"127.0.0.1:9093"}, TLSConfig{Enabled: true, InsecureSkipVerify: true}
		}, ""},
		{"a client certificate without its key", all(remote, tlsOn, func(c *Config) { c.Kafka.TLS.CertFile = certFile }),
			"kafka.tls: certFile and keyFile go together"},
		{"a CA file that does not exist", all(remote, tlsOn, func(c *Config) { c.Kafka.TLS.CAFile = missing }), "kafka.tls.caFile: open " + missing},
		{"a CA file without a certificate", all(remote, tlsOn, func(c *Config) { c.Kafka.TLS.CAFile = pwFile }),
			"kafka.tls.caFile " + pwFile + " holds no PEM certificate"},
		{"a client key that is not the certificate's", all(remote, tlsOn, func(c *Config) { c.Kafka.TLS.CertFile, c.Kafka.TLS.KeyFile = certFile, otherKey }),
			"kafka.tls: loading the client certificate " + certFile + " with key " + otherKey},
		// ClickHouse.
		{"ClickHouse over TLS with a password file", all(remoteCH, func(c *Config) {
			c.ClickHouse.Username, c.ClickHouse.PasswordFile, c.ClickHouse.TLS = "pushpipe", pwFile, TLSConfig{Enabled: true, CAFile: ca.File}
		}), ""},
		{"ClickHouse password and password file", all(remoteCH, func(c *Config) { c.ClickHouse.Password, c.ClickHouse.PasswordFile = "x", pwFile }),
			"clickhouse: give either password or passwordFile, not both"},
		{"a ClickHouse password file that does not exist", all(remoteCH, func(c *Config) { c.ClickHouse.PasswordFile = missing }),
			"clickhouse.passwordFile: open " + missing},
		{"ClickHouse TLS towards the embedded server", func(c *Config) { c.ClickHouse.TLS.Enabled = true },
			"clickhouse.tls.enabled is set but clickhouse.addr is empty: the embedded ClickHouse serves plaintext on loopback only"},
		{"a password for the embedded default user", func(c *Config) { c.ClickHouse.Password = "x" },
			`clickhouse.password is set for user "default", which has no password on the embedded ClickHouse: name another clickhouse.username`},
		{"another embedded user without a password", func(c *Config) { c.ClickHouse.Username = "pushpipe" },
			`clickhouse.username "pushpipe" needs a password on the embedded ClickHouse`},
		{"another embedded user with a password", func(c *Config) { c.ClickHouse.Username, c.ClickHouse.Password = "pushpipe", "x" }, ""},
		{"ClickHouse serverName while TLS is off", all(remoteCH, func(c *Config) { c.ClickHouse.TLS.ServerName = "ch" }),
			"clickhouse.tls.serverName is set but clickhouse.tls.enabled is false"},
		{"ClickHouse insecureSkipVerify towards a remote server", all(remoteCH, func(c *Config) {
			c.ClickHouse.TLS = TLSConfig{Enabled: true, InsecureSkipVerify: true}
		}), "clickhouse.tls.insecureSkipVerify accepts any certificate and is refused for clickhouse.internal:9440"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c, err := Load("")
			if err != nil {
				t.Fatal(err)
			}
			tc.mutate(c)
			err = c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := c.Kafka.Security(); err != nil {
					t.Fatalf("Validate passed but Kafka.Security fails: %v", err)
				}
				if _, err := c.ClickHouse.Options("127.0.0.1:9000"); err != nil {
					t.Fatalf("Validate passed but ClickHouse.Options fails: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate = %v\nwant an error containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestTransportSettingsBuild reads the sections from YAML and checks what
// they build: the SASL mechanism, TLS with the CA and client certificate,
// and the ClickHouse user, password (from its file, without the newline)
// and TLS.
func TestTransportSettingsBuild(t *testing.T) {
	ca := testinfra.NewCA(t)
	certFile, keyFile := ca.ClientFiles(t, "pushpipe-worker")
	pwFile := secretFile(t, "ch-s3cret\r\n")
	c, err := Load(write(t, fmt.Sprintf(`
kafka:
  brokers: [kafka-1.internal:9093]
  sasl: {mechanism: SCRAM-SHA-256, username: pushpipe-sender, password: k-s3cret}
  tls: {enabled: true, caFile: %q, certFile: %q, keyFile: %q, serverName: kafka.internal}
clickhouse:
  addr: clickhouse.internal:9440
  username: pushpipe
  passwordFile: %q
  tls: {enabled: true, caFile: %q}
`, ca.File, certFile, keyFile, pwFile, ca.File)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	sec, err := c.Kafka.Security()
	if err != nil {
		t.Fatal(err)
	}
	if sec.SASL == nil || sec.SASL.Name() != "SCRAM-SHA-256" {
		t.Errorf("SASL %v, want SCRAM-SHA-256", sec.SASL)
	}
	if sec.TLS == nil || sec.TLS.RootCAs == nil || len(sec.TLS.Certificates) != 1 || sec.TLS.ServerName != "kafka.internal" || sec.TLS.InsecureSkipVerify {
		t.Errorf("TLS %+v: want the CA, the client certificate, the server name and verification on", sec.TLS)
	}
	o, err := c.ClickHouse.Options("ch-flag:9440")
	if err != nil {
		t.Fatal(err)
	}
	if o.Addr != "ch-flag:9440" || o.Username != "pushpipe" || o.Password != "ch-s3cret" || o.TLS == nil || o.TLS.RootCAs == nil {
		t.Errorf("ClickHouse options %+v (password %q): want the address given, the user, the file's password without its newline, and TLS with the CA", o, o.Password)
	}
	plain, _ := Load("")
	if sec, err := plain.Kafka.Security(); err != nil || sec.SASL != nil || sec.TLS != nil {
		t.Errorf("the defaults give Kafka security %v (%v), want plaintext without SASL", sec, err)
	}
	if o, err := plain.ClickHouse.Options("127.0.0.1:19000"); err != nil || o.Username != "default" || o.Password != "" || o.TLS != nil {
		t.Errorf("the defaults give ClickHouse options %+v (%v), want user default, no password, no TLS", o, err)
	}
}

// TestTransportSecretsNeverPrinted checks the Kafka and ClickHouse
// passwords do not appear when the configuration is printed or encoded
// the ways it could be logged.
func TestTransportSecretsNeverPrinted(t *testing.T) {
	c, err := Load(write(t, `
kafka: {sasl: {mechanism: SCRAM-SHA-512, username: pushpipe, password: kafka-hunter2}}
clickhouse: {username: pushpipe, password: ch-hunter2}
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Kafka.SASL.Password.Reveal() != "kafka-hunter2" || c.ClickHouse.Password.Reveal() != "ch-hunter2" {
		t.Fatal("passwords not loaded")
	}
	r := c.Redacted()
	y, err := yaml.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var logged strings.Builder
	log := zerolog.New(&logged)
	log.Info().Interface("config", r).Msg("configuration")
	for name, s := range map[string]string{
		"%+v": fmt.Sprintf("%+v", r), "%#v": fmt.Sprintf("%#v", r), "%v of the original": fmt.Sprintf("%v", *c),
		"kafka section": fmt.Sprintf("%+v", c.Kafka), "clickhouse section": fmt.Sprintf("%#v", c.ClickHouse),
		"YAML": string(y), "JSON": string(j), "zerolog": logged.String(),
	} {
		if strings.Contains(s, "hunter2") {
			t.Errorf("%s prints a password: %s", name, s)
		}
		if !strings.Contains(s, "pushpipe") {
			t.Errorf("%s leaves out the user names, so it proves nothing: %s", name, s)
		}
	}
}

func TestSecretFiles(t *testing.T) {
	c, _ := Load("")
	c.Kafka.SASL.PasswordFile = "/run/secrets/kafka-password"
	c.Kafka.TLS.KeyFile = "/run/secrets/kafka-client-key.pem"
	c.ClickHouse.PasswordFile = "/run/secrets/clickhouse-password"
	got := fmt.Sprint(c.SecretFiles())
	want := "[{kafka.sasl.passwordFile /run/secrets/kafka-password} {kafka.tls.keyFile /run/secrets/kafka-client-key.pem} " +
		"{clickhouse.passwordFile /run/secrets/clickhouse-password} {callbacks.keyFile " + filepath.Join(".pushpipe", "callbacks", "private_key.pem") + "} " +
		"{security.idSecretFile " + filepath.Join(".pushpipe", "security", "id-secret") + "}]"
	if got != want {
		t.Errorf("SecretFiles = %s\nwant          %s", got, want)
	}
}
