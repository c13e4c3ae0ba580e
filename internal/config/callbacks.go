package config

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/pushpipe/pushpipe/workers/callbacks"
)

// CallbacksConfig configures the callbacks worker, which posts signed
// business callbacks (mPaaS §6.9) to the callbackUrl of push requests.
// Where each app's callbacks may go is set per app (AppConfig.Callbacks).
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
	// HostConcurrency is how many callbacks are in flight to one host at
	// once in a worker process. Default callbacks.DefaultHostConcurrency
	// (4).
	HostConcurrency int `yaml:"hostConcurrency"`
	// Timeout bounds one HTTP attempt, and the wait for a free slot of
	// the host. Default callbacks.DefaultTimeout (5s), at most 30s.
	Timeout time.Duration `yaml:"timeout"`
	// MaxAttempts is the most tries of one callback: one in line, the
	// others from the delay tiers push.callbacks.retry.<tier>.R after
	// connection errors, timeouts, 5xx and 429, or while the host's
	// breaker is open. Default callbacks.DefaultMaxAttempts (8).
	MaxAttempts int `yaml:"maxAttempts"`
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// tries. Defaults 5s and 10m; maxBackoff is at most 10m (the longest
	// delay tier).
	MinBackoff time.Duration `yaml:"minBackoff"`
	MaxBackoff time.Duration `yaml:"maxBackoff"`
	// Breaker configures the circuit breaker of each callback host.
	Breaker callbacks.BreakerConfig `yaml:"breaker"`
}

// AppCallbacks is where one app's business callbacks may go. Without it an
// app's callbacks must be https, to any host, at public addresses only.
type AppCallbacks struct {
	// AllowHTTP lets callbackUrl be http as well as https.
	AllowHTTP bool `yaml:"allowHttp"`
	// Hosts, when set, is the only hosts callbacks may go to:
	// "hooks.example.com" exactly, or "*.example.com" for any name below
	// example.com.
	Hosts []string `yaml:"hosts"`
	// AllowPrivateNetworks are networks that are not public (CIDR
	// prefixes or single addresses) this app's callbacks may reach
	// anyway, e.g. 10.20.0.0/16 for a receiver inside the company network.
	// Any other loopback, private, link-local (cloud metadata included)
	// or special-purpose address is refused, also when a host name
	// resolves to it.
	AllowPrivateNetworks []string `yaml:"allowPrivateNetworks"`
}

// loopbackNetworks are the networks AllowLocalCallbacks opens.
var loopbackNetworks = []string{"127.0.0.0/8", "::1/128"}

// AllowLocalCallbacks lets every app that has no callbacks section post
// its callbacks over http to loopback addresses (127.0.0.0/8 and ::1), so
// that a receiver on this machine works: `pushpipe dev` calls it for its
// local demo, and the end-to-end tests for their receivers on 127.0.0.1.
// Apps with a callbacks section keep it; other private addresses stay
// refused.
func (c *Config) AllowLocalCallbacks() {
	for i := range c.Apps {
		if c.Apps[i].Callbacks == nil {
			c.Apps[i].Callbacks = &AppCallbacks{AllowHTTP: true, AllowPrivateNetworks: append([]string(nil), loopbackNetworks...)}
		}
	}
}

// policy is the callback policy of an AppCallbacks, or an error naming the
// entry to fix (relative to the section).
func (a *AppCallbacks) policy() (callbacks.AppPolicy, error) {
	if a == nil {
		return callbacks.AppPolicy{}, nil
	}
	p := callbacks.AppPolicy{AllowHTTP: a.AllowHTTP, Hosts: a.Hosts}
	for i, s := range a.AllowPrivateNetworks {
		n, err := callbacks.ParsePrivateNetwork(s)
		if err != nil {
			return p, fmt.Errorf("allowPrivateNetworks[%d]: %w", i, err)
		}
		p.PrivateNetworks = append(p.PrivateNetworks, n)
	}
	return p, p.Validate()
}

// CallbackPolicies returns the callback policy of every configured app by
// app id (apps without a callbacks section get the default: https only,
// public addresses only), or an error naming the setting to fix.
func (c *Config) CallbackPolicies() (map[string]callbacks.AppPolicy, error) {
	out := make(map[string]callbacks.AppPolicy, len(c.Apps))
	for i, a := range c.Apps {
		p, err := a.Callbacks.policy()
		if err != nil {
			return nil, fmt.Errorf("apps[%d] (%s).callbacks.%w", i, a.AppID, err)
		}
		out[a.AppID] = p
	}
	return out, nil
}

func (c *CallbacksConfig) defaults() {
	if c.Concurrency == 0 {
		c.Concurrency = callbacks.DefaultConcurrency
	}
	if c.HostConcurrency == 0 {
		c.HostConcurrency = callbacks.DefaultHostConcurrency
	}
	if c.Timeout == 0 {
		c.Timeout = callbacks.DefaultTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = callbacks.DefaultMaxAttempts
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = callbacks.DefaultMinBackoff
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = callbacks.DefaultMaxBackoff
	}
}

func (c CallbacksConfig) validate() error {
	switch {
	case c.Concurrency < 1:
		return fmt.Errorf("callbacks.concurrency must be at least 1, got %d", c.Concurrency)
	case c.HostConcurrency < 1:
		return fmt.Errorf("callbacks.hostConcurrency must be at least 1, got %d", c.HostConcurrency)
	case c.Timeout <= 0:
		return fmt.Errorf("callbacks.timeout must be positive, e.g. 5s, got %s", c.Timeout)
	case c.Timeout > callbacks.MaxTimeout:
		return fmt.Errorf("callbacks.timeout %s exceeds %s: a callback holds the events consumer up to twice that; lower it", c.Timeout, callbacks.MaxTimeout)
	case c.MaxAttempts < 1:
		return fmt.Errorf("callbacks.maxAttempts must be at least 1, got %d", c.MaxAttempts)
	case c.MinBackoff <= 0:
		return fmt.Errorf("callbacks.minBackoff must be positive, e.g. 5s, got %s", c.MinBackoff)
	case c.MaxBackoff < c.MinBackoff:
		return fmt.Errorf("callbacks.maxBackoff %s is below callbacks.minBackoff %s: raise maxBackoff or lower minBackoff", c.MaxBackoff, c.MinBackoff)
	case c.MaxBackoff > callbacks.LongestBackoff():
		return fmt.Errorf("callbacks.maxBackoff %s exceeds the longest callback delay tier (%s): lower it", c.MaxBackoff, callbacks.LongestBackoff())
	}
	if err := c.Breaker.Validate(); err != nil {
		return fmt.Errorf("callbacks.%w", err)
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
