package config

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/store"
)

// KafkaSASLConfig authenticates every Kafka connection of the process.
// An empty Mechanism means no SASL (the embedded broker's default).
type KafkaSASLConfig struct {
	// Mechanism is SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN (PLAIN sends
	// the password itself, so it needs TLS towards anything but
	// loopback).
	Mechanism string `yaml:"mechanism"`
	// Username is the SASL user, the principal User:<username> of the
	// brokers' ACLs; or UsernameFile names a file that holds it (one
	// line), so that one configuration serves every worker while each
	// Deployment mounts the credentials of its own principal. At most one
	// of them.
	Username     string `yaml:"username"`
	UsernameFile string `yaml:"usernameFile"`
	// Password, or PasswordFile naming a file that holds it (one line; a
	// trailing newline is ignored): exactly one of them. Never printed.
	Password     channels.Secret `yaml:"password"`
	PasswordFile string          `yaml:"passwordFile"`
}

// TLSConfig encrypts the connections to a server (Kafka brokers,
// ClickHouse) and says how to check its certificate.
type TLSConfig struct {
	// Enabled turns TLS on. The other fields are refused while it is off,
	// so that a half-written section is never silently plaintext.
	Enabled bool `yaml:"enabled"`
	// CAFile holds the PEM certificates of the CAs the server's
	// certificate must chain to. Empty: the system's CAs.
	CAFile string `yaml:"caFile"`
	// CertFile and KeyFile are the client's PEM certificate and private
	// key, for servers that require client certificates (mutual TLS).
	// Both or neither.
	CertFile string `yaml:"certFile"`
	KeyFile  string `yaml:"keyFile"`
	// ServerName is the name the server's certificate must carry, when it
	// is not the host of the address dialled.
	ServerName string `yaml:"serverName"`
	// InsecureSkipVerify accepts any server certificate. It is refused
	// unless every address is on loopback (development only).
	InsecureSkipVerify bool `yaml:"insecureSkipVerify"`
}

// validateSASL checks the sasl section of kafka, saying what to fix.
func (k KafkaConfig) validateSASL() error {
	s := k.SASL
	if s.Mechanism == "" {
		for _, f := range []struct{ name, value string }{
			{"username", s.Username}, {"usernameFile", s.UsernameFile}, {"password", s.Password.Reveal()}, {"passwordFile", s.PasswordFile},
		} {
			if f.value != "" {
				return fmt.Errorf("kafka.sasl.%s is set but kafka.sasl.mechanism is empty: set mechanism to one of %s, or remove the sasl section",
					f.name, strings.Join(pipeline.SASLMechanisms(), ", "))
			}
		}
		return nil
	}
	switch {
	case !slices.Contains(pipeline.SASLMechanisms(), s.Mechanism):
		return fmt.Errorf("kafka.sasl.mechanism %q is not one of %s", s.Mechanism, strings.Join(pipeline.SASLMechanisms(), ", "))
	case s.Username != "" && s.UsernameFile != "":
		return errors.New("kafka.sasl: give either username or usernameFile, not both")
	case s.Username == "" && s.UsernameFile == "":
		return fmt.Errorf("kafka.sasl.username is empty: SASL %s needs the user the brokers know the workers as (or usernameFile)", s.Mechanism)
	case s.Mechanism == pipeline.SASLPlain && !k.TLS.Enabled && !k.Embedded() && !allLoopback(k.Brokers):
		return fmt.Errorf("kafka.sasl.mechanism PLAIN sends the password in the clear to %s: set kafka.tls.enabled: true, or use SCRAM-SHA-512", strings.Join(k.Brokers, ","))
	}
	if _, err := s.UsernameValue(); err != nil {
		return err
	}
	if _, err := s.PasswordValue(); err != nil {
		return err
	}
	return nil
}

// UsernameValue returns the SASL user: Username, or the content of
// UsernameFile without its trailing newline.
func (s KafkaSASLConfig) UsernameValue() (string, error) {
	if s.UsernameFile != "" {
		return readSecretFile("kafka.sasl.usernameFile", s.UsernameFile)
	}
	return s.Username, nil
}

// PasswordValue returns the SASL password: Password, or the content of
// PasswordFile without its trailing newline. Exactly one must be set.
func (s KafkaSASLConfig) PasswordValue() (string, error) {
	return secretValue("kafka.sasl", s.Password, s.PasswordFile)
}

// secretValue returns the password given inline or in passwordFile
// (exactly one of them), naming field (e.g. "kafka.sasl") in errors.
func secretValue(field string, inline channels.Secret, file string) (string, error) {
	switch {
	case inline != "" && file != "":
		return "", fmt.Errorf("%s: give either password or passwordFile, not both", field)
	case file != "":
		return readSecretFile(field+".passwordFile", file)
	case inline == "":
		return "", fmt.Errorf("%s: password and passwordFile are both empty: give one of them", field)
	}
	return inline.Reveal(), nil
}

// readSecretFile reads a one-line value (a password, a user name),
// without its trailing newline.
func readSecretFile(field, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s %s is empty: write the value into it", field, path)
	}
	return v, nil
}

// validate checks a tls section named field (e.g. "kafka.tls") used
// towards addrs, saying what to fix; it loads the files to be sure they
// work.
func (t TLSConfig) validate(field string, addrs []string) error {
	if !t.Enabled {
		for _, f := range []struct {
			name string
			set  bool
		}{
			{"caFile", t.CAFile != ""}, {"certFile", t.CertFile != ""}, {"keyFile", t.KeyFile != ""},
			{"serverName", t.ServerName != ""}, {"insecureSkipVerify", t.InsecureSkipVerify},
		} {
			if f.set {
				return fmt.Errorf("%s.%s is set but %s.enabled is false: set enabled: true, or remove %s", field, f.name, field, f.name)
			}
		}
		return nil
	}
	if t.InsecureSkipVerify && !allLoopback(addrs) {
		return fmt.Errorf("%s.insecureSkipVerify accepts any certificate and is refused for %s (it is for loopback development only): "+
			"give %s.caFile the CA that signed the server's certificate, and %s.serverName if the certificate names another host",
			field, strings.Join(addrs, ","), field, field)
	}
	if _, err := t.build(field); err != nil {
		return err
	}
	return nil
}

// build returns the tls.Config of the section named field, or nil when
// TLS is off. Errors name the field and file that failed.
func (t TLSConfig) build(field string) (*tls.Config, error) {
	if !t.Enabled {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} // #nosec G402 -- refused by validate outside loopback
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("%s.caFile: %w", field, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s.caFile %s holds no PEM certificate: give the CA certificate(s) in PEM", field, t.CAFile)
		}
		c.RootCAs = pool
	}
	switch {
	case (t.CertFile == "") != (t.KeyFile == ""):
		return nil, fmt.Errorf("%s: certFile and keyFile go together (the client certificate and its private key): give both or neither", field)
	case t.CertFile != "":
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("%s: loading the client certificate %s with key %s: %w", field, t.CertFile, t.KeyFile, err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// allLoopback reports whether every host:port of addrs (at least one) is
// on loopback: localhost or a loopback IP.
func allLoopback(addrs []string) bool {
	if len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = a
		}
		if host == "localhost" {
			continue
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return false
		}
	}
	return true
}

// validate checks the security settings of the kafka section.
func (k KafkaConfig) validateSecurity() error {
	if err := k.validateSASL(); err != nil {
		return err
	}
	if k.TLS.Enabled && k.Embedded() {
		return errors.New("kafka.tls.enabled is set but kafka.brokers is empty: the embedded broker listens in plaintext on loopback; " +
			"name the brokers that serve TLS in kafka.brokers, or turn kafka.tls off")
	}
	return k.TLS.validate("kafka.tls", k.Brokers)
}

// Security builds the Kafka security of the configuration: SASL with the
// password (read from passwordFile when given) and TLS with its files
// loaded. The zero KafkaSecurity (plaintext, no SASL) when neither is
// configured. Errors name the setting to fix; Validate reports the same
// errors earlier.
func (k KafkaConfig) Security() (pipeline.KafkaSecurity, error) {
	var sec pipeline.KafkaSecurity
	if err := k.validateSASL(); err != nil {
		return sec, err
	}
	if k.SASL.Mechanism != "" {
		user, err := k.SASL.UsernameValue()
		if err != nil {
			return sec, err
		}
		pw, err := k.SASL.PasswordValue()
		if err != nil {
			return sec, err
		}
		if sec.SASL, err = pipeline.NewSASL(k.SASL.Mechanism, user, pw); err != nil {
			return sec, fmt.Errorf("kafka.sasl: %w", err)
		}
	}
	var err error
	sec.TLS, err = k.TLS.build("kafka.tls")
	return sec, err
}

// validateSecurity checks the credentials and tls of the clickhouse
// section.
func (c ClickHouseConfig) validateSecurity() error {
	if c.Password != "" && c.PasswordFile != "" {
		return errors.New("clickhouse: give either password or passwordFile, not both")
	}
	if c.PasswordFile != "" {
		if _, err := readSecretFile("clickhouse.passwordFile", c.PasswordFile); err != nil {
			return err
		}
	}
	if c.Embedded() {
		if c.TLS.Enabled {
			return errors.New("clickhouse.tls.enabled is set but clickhouse.addr is empty: the embedded ClickHouse serves plaintext on loopback only; " +
				"name the server's TLS port in clickhouse.addr (9440 on a stock server), or turn clickhouse.tls off")
		}
		if c.Username == DefaultCHUser && (c.Password != "" || c.PasswordFile != "") {
			return fmt.Errorf("clickhouse.password is set for user %q, which has no password on the embedded ClickHouse: "+
				"name another clickhouse.username (the embedded server creates it with this password), or leave the password empty", DefaultCHUser)
		}
		if c.Username != DefaultCHUser && c.Password == "" && c.PasswordFile == "" {
			return fmt.Errorf("clickhouse.username %q needs a password on the embedded ClickHouse, which creates that user with it: set clickhouse.password or passwordFile", c.Username)
		}
	}
	var addrs []string
	if c.Addr != "" {
		addrs = []string{c.Addr}
	}
	return c.TLS.validate("clickhouse.tls", addrs)
}

// PasswordValue returns the ClickHouse password: Password, or the content
// of PasswordFile (without its trailing newline), or "" when neither is
// set.
func (c ClickHouseConfig) PasswordValue() (string, error) {
	if c.Password == "" && c.PasswordFile == "" {
		return "", nil
	}
	return secretValue("clickhouse", c.Password, c.PasswordFile)
}

// Options returns how to connect to the ClickHouse at addr (the
// native-protocol address the process resolved: clickhouse.addr, a flag,
// or the embedded server): the configured user, its password (read from
// passwordFile when given) and TLS with its files loaded. Errors name the
// setting to fix.
func (c ClickHouseConfig) Options(addr string) (store.ClickHouseOptions, error) {
	pw, err := c.PasswordValue()
	if err != nil {
		return store.ClickHouseOptions{}, err
	}
	t, err := c.TLS.build("clickhouse.tls")
	if err != nil {
		return store.ClickHouseOptions{}, err
	}
	return store.ClickHouseOptions{Addr: addr, Username: c.Username, Password: pw, TLS: t}, nil
}

// SecretFile is a file holding a secret that the configuration names.
type SecretFile struct {
	// Setting is the configuration key, e.g. "kafka.sasl.passwordFile".
	Setting string
	Path    string
}

// SecretFiles lists the files holding secrets that the configuration
// names (passwords, TLS client keys, the callback signing key), whether
// or not they exist yet, in a fixed order.
func (c *Config) SecretFiles() []SecretFile {
	var out []SecretFile
	add := func(setting, path string) {
		if path != "" {
			out = append(out, SecretFile{Setting: setting, Path: path})
		}
	}
	add("kafka.sasl.passwordFile", c.Kafka.SASL.PasswordFile)
	add("kafka.tls.keyFile", c.Kafka.TLS.KeyFile)
	add("clickhouse.passwordFile", c.ClickHouse.PasswordFile)
	add("clickhouse.tls.keyFile", c.ClickHouse.TLS.KeyFile)
	add("callbacks.keyFile", c.CallbackKeyFile())
	add("security.idSecretFile", c.idSecretFile())
	return out
}
