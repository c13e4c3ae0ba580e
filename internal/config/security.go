package config

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/schema"
)

// SecurityConfig holds the server secrets that are not a vendor's or an
// app's.
type SecurityConfig struct {
	// IDSecret is the secret delivery ids and receipt tags are derived
	// under (schema.IDKey): at least 32 bytes, e.g. the base64 text of 32
	// random bytes. Every fanout, sender and receipts worker of a
	// deployment must hold the same one; nobody else needs it. Never
	// printed. Give IDSecret or IDSecretFile, not both.
	IDSecret channels.Secret `yaml:"idSecret"`
	// IDSecretFile is a file holding the secret (its content without
	// surrounding white space), readable by the workers only (mode 0600).
	// When neither is set the secret is read from
	// <stateDir>/security/id-secret, which `pushpipe dev` and the tests
	// create; any other worker fails at start, saying how to create it,
	// when that file does not exist.
	IDSecretFile string `yaml:"idSecretFile"`
}

// DevIDSecretFile is the default id secret file, which `pushpipe dev`
// creates: <stateDir>/security/id-secret.
func (c *Config) DevIDSecretFile() string {
	return filepath.Join(c.StateDir, "security", "id-secret")
}

// idSecretFile is the file the id secret is read from: IDSecretFile, or
// DevIDSecretFile when no secret is configured ("" for an inline one).
func (c *Config) idSecretFile() string {
	switch {
	case c.Security.IDSecret != "":
		return ""
	case c.Security.IDSecretFile != "":
		return c.Security.IDSecretFile
	}
	return c.DevIDSecretFile()
}

// howToIDSecret says how to provide the id secret.
const howToIDSecret = "create one with `umask 077; head -c 32 /dev/urandom | base64 > /etc/pushpipe/id-secret`, set security.idSecretFile to it and give every fanout, sender and receipts worker the same file (`pushpipe dev` creates <stateDir>/security/id-secret itself)"

// validate checks that at most one source of the id secret is given and
// that an inline secret is long enough; the file is read when a worker
// needs the key (Config.IDKey), and a missing one is an error there.
func (s SecurityConfig) validate() error {
	switch {
	case s.IDSecret != "" && s.IDSecretFile != "":
		return errors.New("security: give idSecret or idSecretFile, not both")
	case s.IDSecret != "" && len(s.IDSecret) < schema.MinIDSecretBytes:
		return fmt.Errorf("security.idSecret is shorter than %d bytes; %s", schema.MinIDSecretBytes, howToIDSecret)
	}
	return nil
}

// idKey reads the secret (inline, or from file) and makes its key.
func (s SecurityConfig) idKey(file string) (schema.IDKey, error) {
	secret := s.IDSecret.Reveal()
	what := "security.idSecret"
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return schema.IDKey{}, fmt.Errorf("security.idSecretFile: reading the id secret: %w; %s", err, howToIDSecret)
		}
		secret, what = strings.TrimSpace(string(b)), "security.idSecretFile "+file
	}
	k, err := schema.NewIDKey([]byte(secret))
	if err != nil {
		return schema.IDKey{}, fmt.Errorf("%s: %w", what, err)
	}
	return k, nil
}

// IDKey returns the key of the configured id secret (reading
// security.idSecretFile, or DevIDSecretFile when no secret is
// configured), or an error saying what to fix.
func (c *Config) IDKey() (schema.IDKey, error) {
	if err := c.Security.validate(); err != nil {
		return schema.IDKey{}, err
	}
	return c.Security.idKey(c.idSecretFile())
}

// EnsureDevIDSecret creates the default id secret file (DevIDSecretFile,
// mode 0600 in a folder of mode 0700) with 32 random bytes in base64 when
// the configuration uses it (no secret configured) and it does not exist
// yet, so that `pushpipe dev` and the tests keep their delivery ids
// across restarts. A configured secret is left as it is.
func (c *Config) EnsureDevIDSecret() error {
	path := c.DevIDSecretFile()
	if c.Security.IDSecret != "" || c.Security.IDSecretFile != "" {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("looking for the development id secret: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating the folder of the development id secret: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return fmt.Errorf("generating the development id secret: %w", err)
	}
	// Written aside and linked into place, so that no reader ever sees
	// a partial secret and a concurrent start keeps the first one.
	f, err := os.CreateTemp(filepath.Dir(path), ".id-secret-*")
	if err != nil {
		return fmt.Errorf("creating the development id secret: %w", err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	if _, err := f.WriteString(base64.StdEncoding.EncodeToString(b[:]) + "\n"); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing the development id secret %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing the development id secret %s: %w", path, err)
	}
	if err := os.Link(f.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating the development id secret %s: %w", path, err)
	}
	return nil
}
