package console

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"
	"golang.org/x/crypto/bcrypt"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// Role is what an account may do in the console.
type Role string

// The roles, from least to most allowed.
const (
	// RoleViewer reads the overview, the tasks and their funnels, and
	// investigates devices and users.
	RoleViewer Role = "viewer"
	// RoleOperator also revokes tasks, sends test pushes from the
	// composer (and previews them), creates and deletes templates and
	// cancels scheduled and loop pushes.
	RoleOperator Role = "operator"
	// RoleAdmin may do everything an operator may, and sends dead letters
	// back to the topics they came from.
	RoleAdmin Role = "admin"
)

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r == RoleViewer || r == RoleOperator || r == RoleAdmin }

// CanRevoke reports whether the role may revoke a push.
func (r Role) CanRevoke() bool { return r.CanOperate() }

// CanOperate reports whether the role may change what the pipeline does:
// revoke, compose test pushes, create and delete templates, cancel
// scheduled pushes (operators and admins).
func (r Role) CanOperate() bool { return r == RoleOperator || r == RoleAdmin }

// CanResendDeadLetters reports whether the role may send a dead letter
// back to the topic it came from (admins only).
func (r Role) CanResendDeadLetters() bool { return r == RoleAdmin }

// AllApps is the item of Account.Apps that lets the account see every app
// of the console.
const AllApps = "*"

// Account is an operator who may log in: a name, the bcrypt hash of the
// password (`pushpipe console hash-password` makes one), a role, and the
// apps the account may see (app ids, or AllApps). A page of another app
// is refused (403), never shown empty.
type Account struct {
	Name         string
	PasswordHash channels.Secret
	Role         Role
	Apps         []string
}

// MaySee reports whether the account may see app appID.
func (a *Account) MaySee(appID string) bool {
	return slices.Contains(a.Apps, AllApps) || slices.Contains(a.Apps, appID)
}

// Validate says what is wrong with the account: an empty name, a hash
// that is not a bcrypt hash, an unknown role, no apps, or an app that is
// not one of known (the app ids the console serves).
func (a *Account) Validate(known []string) error {
	switch {
	case a.Name == "":
		return errors.New("name is empty: give the operator's login name")
	case len(a.Name) > MaxNameBytes:
		return fmt.Errorf("name %q is longer than %d bytes", a.Name, MaxNameBytes)
	case !a.Role.Valid():
		return fmt.Errorf("account %s: role %q is not viewer, operator or admin", a.Name, a.Role)
	case len(a.Apps) == 0:
		return fmt.Errorf("account %s: apps is empty: list the app ids it may see, or %q for every app", a.Name, AllApps)
	}
	if _, err := bcrypt.Cost([]byte(a.PasswordHash.Reveal())); err != nil {
		return fmt.Errorf("account %s: passwordHash is not a bcrypt hash (make one with `pushpipe console hash-password`): %w", a.Name, err)
	}
	for _, app := range a.Apps {
		if app != AllApps && !slices.Contains(known, app) {
			return fmt.Errorf("account %s: app %q is not one of the configured apps %v", a.Name, app, known)
		}
	}
	return nil
}

// MaxNameBytes bounds an account name (and what a login form may carry
// as one).
const MaxNameBytes = 128

// App is an app the console shows.
type App struct {
	AppID       string
	WorkspaceID string
	// Approval is the app's approval policy (apps[].approval): the
	// composer says when a push it sends will wait for approval.
	Approval schema.ApprovalPolicy
}

// Producer writes records and returns once Kafka acknowledged every one;
// *pipeline.Producer is the real one. It must be safe for concurrent use.
type Producer interface {
	Produce(ctx context.Context, outs []pipeline.Output) error
}

// Defaults of Config.
const (
	DefaultAddr        = "127.0.0.1:0"
	DefaultSessionTTL  = 12 * time.Hour
	DefaultMaxSessions = 10_000
	DefaultTimeout     = 30 * time.Second
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Region is the one region shown: its ClickHouse database, its
	// control topic. Required.
	Region string
	// Addr is the listen address. Default DefaultAddr (a free loopback
	// port). An address other than loopback needs SecureCookies: the
	// console takes passwords, so it must be served over TLS (by a proxy
	// in front of it).
	Addr string
	// Apps are the apps shown. At least one is required.
	Apps []App
	// Accounts may log in. At least one is required.
	Accounts []Account
	// ClickHouse and Database are the region's ClickHouse connection and
	// database (push_<region>). Required.
	ClickHouse driver.Conn
	Database   string
	// Producer publishes revokes to push.control.<Region>, schedule
	// cancellations to push.schedules.<Region> and dead letters sent back
	// to the topics they came from. Required.
	Producer Producer
	// Brokers and KafkaSecurity reach the region's Kafka, from which the
	// scheduled pushes (push.schedules.<Region>) and the dead letters
	// (push.dlq.<Region>) are read. Brokers is required.
	Brokers       []string
	KafkaSecurity pipeline.KafkaSecurity
	// Location is the time zone of schedules the scheduler has not
	// admitted yet (the scheduler's, as the gateway's Location); nil is
	// UTC.
	Location *time.Location
	// SessionTTL is how long a session lasts after its login (not
	// extended by use). Default DefaultSessionTTL (12h).
	SessionTTL time.Duration
	// MaxSessions bounds the sessions kept; a login beyond it ends the
	// session closest to its expiry. Default DefaultMaxSessions.
	MaxSessions int
	// SecureCookies marks the cookies Secure on every answer, for a
	// console behind a proxy that terminates TLS. Cookies of a request
	// that reached the server over TLS, or whose proxy says so
	// (X-Forwarded-Proto: https), are Secure anyway.
	SecureCookies bool
	// Timeout bounds the work of one request (ClickHouse queries, the
	// Kafka acknowledgement of a revoke). Default DefaultTimeout.
	Timeout time.Duration
	// LoginFailures is how many failed logins in a row an account name
	// may have before the throttle holds it; after that it gets one more
	// attempt every LoginFailureEvery, and a login under a held name is
	// refused (429) before its password is checked. Defaults
	// DefaultLoginFailures and DefaultLoginFailureEvery.
	LoginFailures     int
	LoginFailureEvery time.Duration
	// Logger receives logins, refusals and revokes.
	Logger zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports the first setting that cannot work, saying what to
// fix.
func (c Config) Validate() error {
	if !schema.ValidRegion(c.Region) {
		return fmt.Errorf("console: region %q is not one of %v", c.Region, schema.Regions())
	}
	if c.Addr != "" {
		host, _, err := net.SplitHostPort(c.Addr)
		if err != nil {
			return fmt.Errorf("console: addr %q must be host:port: %w", c.Addr, err)
		}
		if ip := net.ParseIP(host); !c.SecureCookies && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return fmt.Errorf("console: addr %q is not a loopback address: the console takes passwords, so serve it behind a proxy that terminates TLS and set secureCookies (console.secureCookies: true), or listen on 127.0.0.1", c.Addr)
		}
	}
	if len(c.Apps) == 0 {
		return errors.New("console: no apps: configure at least one app (apps[])")
	}
	known := make([]string, 0, len(c.Apps))
	for _, a := range c.Apps {
		if a.AppID == "" || slices.Contains(known, a.AppID) {
			return fmt.Errorf("console: app id %q is empty or listed twice", a.AppID)
		}
		known = append(known, a.AppID)
	}
	if len(c.Accounts) == 0 {
		return errors.New("console: no accounts: nobody could log in; add one under console.accounts (`pushpipe console hash-password` makes its passwordHash)")
	}
	names := map[string]bool{}
	for i, a := range c.Accounts {
		if err := a.Validate(known); err != nil {
			return fmt.Errorf("console: accounts[%d]: %w", i, err)
		}
		if names[a.Name] {
			return fmt.Errorf("console: accounts[%d]: account %s is listed twice", i, a.Name)
		}
		names[a.Name] = true
	}
	switch {
	case c.ClickHouse == nil || c.Database == "":
		return errors.New("console: ClickHouse and Database are required")
	case c.Producer == nil:
		return errors.New("console: Producer is required (revokes go to push.control.<region>)")
	case len(c.Brokers) == 0 || slices.Contains(c.Brokers, ""):
		return errors.New("console: Brokers is empty or has an empty address: the schedules and dead-letter pages read the region's Kafka (brokers)")
	case c.SessionTTL < 0 || c.SessionTTL > 0 && c.SessionTTL < time.Minute || c.SessionTTL > 30*24*time.Hour:
		return fmt.Errorf("console: sessionTtl %s must be between 1m and 720h (default %s)", c.SessionTTL, DefaultSessionTTL)
	case c.MaxSessions < 0:
		return fmt.Errorf("console: maxSessions %d is negative (default %d)", c.MaxSessions, DefaultMaxSessions)
	case c.Timeout < 0:
		return fmt.Errorf("console: timeout %s is negative", c.Timeout)
	case c.LoginFailures < 0:
		return fmt.Errorf("console: loginFailures %d is negative (default %d)", c.LoginFailures, DefaultLoginFailures)
	case c.LoginFailureEvery < 0 || c.LoginFailureEvery > 24*time.Hour:
		return fmt.Errorf("console: loginFailureEvery %s must be between 0 (default %s) and 24h", c.LoginFailureEvery, DefaultLoginFailureEvery)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.SessionTTL == 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.MaxSessions == 0 {
		c.MaxSessions = DefaultMaxSessions
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.LoginFailures == 0 {
		c.LoginFailures = DefaultLoginFailures
	}
	if c.LoginFailureEvery == 0 {
		c.LoginFailureEvery = DefaultLoginFailureEvery
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}
