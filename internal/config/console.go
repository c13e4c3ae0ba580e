package config

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/console"
	"github.com/pushpipe/pushpipe/schema"
)

// DefaultConsoleAddr is where `pushpipe console` listens; `pushpipe dev`
// serves its regions' consoles on consecutive ports from it.
const DefaultConsoleAddr = "127.0.0.1:18300"

// ConsoleConfig configures the operators' web console (`pushpipe console
// --region R`).
type ConsoleConfig struct {
	// Addr is where `pushpipe console --region R` listens unless Addrs
	// names R; `pushpipe dev` serves the i-th of Regions on Addr's port
	// plus i. Default 127.0.0.1:18300. An address other than loopback
	// needs SecureCookies.
	Addr string `yaml:"addr"`
	// Addrs overrides the listen address per region.
	Addrs map[string]string `yaml:"addrs"`
	// InternalAddr is where `pushpipe console` serves /healthz, /readyz
	// and /metrics. Default healthAddr.
	InternalAddr string `yaml:"internalAddr"`
	// SessionTTL is how long a login lasts (not extended by use). Default
	// 12h; 1m to 720h.
	SessionTTL time.Duration `yaml:"sessionTtl"`
	// MaxSessions bounds the sessions a console keeps; a login beyond it
	// ends the session closest to its expiry. Default 10,000.
	MaxSessions int `yaml:"maxSessions"`
	// SecureCookies marks the session cookie Secure, for a console behind
	// a proxy that terminates TLS (required to listen on an address other
	// than loopback).
	SecureCookies bool `yaml:"secureCookies"`
	// LoginFailures is how many failed logins in a row an account name
	// may have; after that it gets one more attempt every
	// LoginFailureEvery, and a login under it is refused (429, Retry-After)
	// before its password is checked. Defaults 5 and 1m.
	LoginFailures     int           `yaml:"loginFailures"`
	LoginFailureEvery time.Duration `yaml:"loginFailureEvery"`
	// Accounts are the operators who may log in. `pushpipe dev` adds a
	// demo admin with a generated password when empty; `pushpipe
	// console` refuses to start without one.
	Accounts []ConsoleAccount `yaml:"accounts"`
}

// ConsoleAccount is one operator: a login name, the bcrypt hash of the
// password (`pushpipe console hash-password` makes it; never printed), a
// role (viewer, operator or admin) and the app ids the account may see
// ("*" for every app).
type ConsoleAccount struct {
	Name         string          `yaml:"name"`
	PasswordHash channels.Secret `yaml:"passwordHash"`
	Role         string          `yaml:"role"`
	Apps         []string        `yaml:"apps"`
}

func (c *ConsoleConfig) defaults() {
	if c.Addr == "" {
		c.Addr = DefaultConsoleAddr
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = console.DefaultSessionTTL
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = console.DefaultMaxSessions
	}
	if c.LoginFailures == 0 {
		c.LoginFailures = console.DefaultLoginFailures
	}
	if c.LoginFailureEvery == 0 {
		c.LoginFailureEvery = console.DefaultLoginFailureEvery
	}
}

// ConsoleAccounts returns the accounts as the console takes them.
func (c *Config) ConsoleAccounts() []console.Account {
	out := make([]console.Account, len(c.Console.Accounts))
	for i, a := range c.Console.Accounts {
		out[i] = console.Account{Name: a.Name, PasswordHash: a.PasswordHash, Role: console.Role(a.Role), Apps: a.Apps}
	}
	return out
}

// validateConsole reports the first console setting that cannot work,
// saying what to fix: addresses, session bounds and every account
// (console.Account.Validate against apps[]).
func (c *Config) validateConsole() error {
	cc := c.Console
	if _, port, err := net.SplitHostPort(cc.Addr); err != nil || !validPort(port, len(c.Regions)) {
		return fmt.Errorf("console.addr %q must be host:port with room for %d consecutive ports", cc.Addr, max(len(c.Regions), 1))
	}
	for r, a := range cc.Addrs {
		if !schema.ValidRegion(r) {
			return fmt.Errorf("console.addrs names region %q: use one of cn, ru, in, eu, sg", r)
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("console.addrs.%s %q must be host:port: %w", r, a, err)
		}
	}
	if cc.InternalAddr != "" {
		if _, _, err := net.SplitHostPort(cc.InternalAddr); err != nil {
			return fmt.Errorf("console.internalAddr %q must be host:port: %w", cc.InternalAddr, err)
		}
	}
	if cc.SessionTTL < time.Minute || cc.SessionTTL > 30*24*time.Hour {
		return fmt.Errorf("console.sessionTtl %s must be between 1m and 720h (default %s)", cc.SessionTTL, console.DefaultSessionTTL)
	}
	if cc.MaxSessions < 1 {
		return fmt.Errorf("console.maxSessions %d must be at least 1 (default %d)", cc.MaxSessions, console.DefaultMaxSessions)
	}
	if cc.LoginFailures < 1 {
		return fmt.Errorf("console.loginFailures %d must be at least 1 (default %d)", cc.LoginFailures, console.DefaultLoginFailures)
	}
	if cc.LoginFailureEvery < time.Second || cc.LoginFailureEvery > 24*time.Hour {
		return fmt.Errorf("console.loginFailureEvery %s must be between 1s and 24h (default %s)", cc.LoginFailureEvery, console.DefaultLoginFailureEvery)
	}
	names := map[string]bool{}
	for i, a := range c.ConsoleAccounts() {
		if err := a.Validate(c.AppIDs()); err != nil {
			return fmt.Errorf("console.accounts[%d]: %w", i, err)
		}
		if names[a.Name] {
			return fmt.Errorf("console.accounts[%d]: account %s is listed twice", i, a.Name)
		}
		names[a.Name] = true
	}
	for i, r := range c.Regions {
		for what, addr := range map[string]string{"healthAddr": c.HealthAddr, "the internal address": c.ConsoleInternalAddr(),
			"the gateway": c.GatewayAddr(r), "the receipts worker": c.ReceiptsAddr(i)} {
			if sameListenAddr(c.ConsoleAddr(r), addr) {
				return fmt.Errorf("the console of region %s would listen on %s, the address of %s: give the console its own port (console.addr, console.addrs)", r, c.ConsoleAddr(r), what)
			}
		}
	}
	return nil
}

// ConsoleAddr is the console's listen address for region: Console.Addrs
// of the region, else Console.Addr with its port plus the region's index
// in Regions (port 0 stays 0). It assumes Validate passed.
func (c *Config) ConsoleAddr(region string) string {
	return regionAddr(c.Console.Addrs, c.Console.Addr, c.Regions, region)
}

// ConsoleInternalAddr is where a console process serves its health,
// readiness and metrics: Console.InternalAddr, else HealthAddr.
func (c *Config) ConsoleInternalAddr() string {
	if c.Console.InternalAddr != "" {
		return c.Console.InternalAddr
	}
	return c.HealthAddr
}

// regionAddr is the listen address of region's server: addrs[region],
// else base with its port plus the region's index in regions (port 0
// stays 0, a free port).
func regionAddr(addrs map[string]string, base string, regions []string, region string) string {
	if a, ok := addrs[region]; ok {
		return a
	}
	host, port, _ := net.SplitHostPort(base)
	p, _ := strconv.Atoi(port)
	for i, r := range regions {
		if r == region && p != 0 {
			p += i
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(p))
}
