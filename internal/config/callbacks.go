package config

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/pushpipe/pushpipe/workers/callbacks"
)

// CallbacksConfig configures the callbacks worker, which posts signed
// business callbacks (mPaaS §6.9) to the callbackUrl of push requests.
type CallbacksConfig struct {
	// KeyFile is the RSA private key (PEM, PKCS #8 or PKCS #1) callbacks
	// are signed with. The callbacks worker creates a 2048-bit key there
	// (mode 0600) when the file does not exist; the receipts worker
	// publishes its public half on GET /callbacks/public-key when the
	// file exists. Every replica of a region must use the same key.
	// Default <stateDir>/callbacks/private_key.pem.
	KeyFile string `yaml:"keyFile"`
	// Concurrency is how many callbacks one batch posts at once. Default
	// callbacks.DefaultConcurrency (16).
	Concurrency int `yaml:"concurrency"`
	// Timeout bounds one HTTP attempt. Default callbacks.DefaultTimeout
	// (5s).
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is the most HTTP attempts of one callback (connection
	// errors, timeouts, 5xx and 429 are retried with backoff). Default
	// callbacks.DefaultMaxAttempts (5).
	MaxAttempts int `yaml:"maxAttempts"`
}

func (c *CallbacksConfig) defaults() {
	if c.Concurrency == 0 {
		c.Concurrency = callbacks.DefaultConcurrency
	}
	if c.Timeout == 0 {
		c.Timeout = callbacks.DefaultTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = callbacks.DefaultMaxAttempts
	}
}

func (c CallbacksConfig) validate() error {
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("callbacks.concurrency must be at least 1, got %d", c.Concurrency)
	case c.Timeout <= 0:
		return fmt.Errorf("callbacks.timeout must be positive, e.g. 5s, got %s", c.Timeout)
	case c.Timeout > callbacks.DefaultMaxElapsed:
		return fmt.Errorf("callbacks.timeout %s exceeds the %s a callback may take in all: lower it", c.Timeout, callbacks.DefaultMaxElapsed)
	case c.MaxAttempts < 1:
		return fmt.Errorf("callbacks.maxAttempts must be at least 1, got %d", c.MaxAttempts)
	}
	return nil
}

// CallbackKeyFile is the path of the callback signing key: Callbacks.KeyFile,
// or <StateDir>/callbacks/private_key.pem when it is empty.
func (c *Config) CallbackKeyFile() string {
	if c.Callbacks.KeyFile != "" {
		return c.Callbacks.KeyFile
	}
	return filepath.Join(c.StateDir, "callbacks", "private_key.pem")
}
