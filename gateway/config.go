package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// Producer writes records and returns once Kafka acknowledged every one;
// *pipeline.Producer is the real one. It must be safe for concurrent use.
type Producer interface {
	Produce(ctx context.Context, outs []pipeline.Output) error
}

// App is an app allowed to call the gateway: its id, the workspace its
// requests must name (empty: any) and the AccessKeys that may act on it.
// Several keys let a key be rotated: add the new one, move the callers,
// remove the old one. The same AccessKey id may be listed under several
// apps (with the same secret): it may then act on each of them.
type App struct {
	AppID       string
	WorkspaceID string
	AccessKeys  []AccessKey
	// PushClosed refuses the app's pushes and revokes with 3032
	// REST_API_SWITCH_NOT_OPEN; its queries and client routes still work.
	PushClosed bool
	// Approval is the app's approval policy (apps[].approval). Fanout
	// holds what it requires, however the push arrived; the gateway only
	// says so in its answer: SUCCESS, with a ResultMessage that the push
	// awaits a second operator's approval.
	Approval schema.ApprovalPolicy
	// RateLimit, if set, replaces Config.RateLimit for this app.
	RateLimit *RateLimit
}

// RateLimit is the token bucket of one app on one gateway: PerSecond
// calls a second refill it, up to Burst calls at once. Every call the
// app's AccessKeys make counts, in both protocols, once its signature and
// app are verified and before the gateway reads ClickHouse or writes
// Kafka; a call finding the bucket empty is refused with HTTP 429 (see
// ratelimit.go). The bucket is this process's: with N gateway replicas
// behind a load balancer an app may make up to N times PerSecond calls to
// the region.
type RateLimit struct {
	// PerSecond is the refill rate; 0 means no limit.
	PerSecond float64
	// Burst is the bucket's size; 0 means PerSecond rounded up (at
	// least 1).
	Burst int
}

// Defaults of Config.
const (
	DefaultAddr         = "127.0.0.1:0"
	DefaultMaxBodyBytes = 1 << 20
	DefaultMaxClockSkew = 5 * time.Minute
	DefaultTimeout      = 30 * time.Second
	// DefaultMaxNonces bounds the signature nonces remembered for the
	// timestamp window (about 150 MB when full: 3,500 requests a second
	// for 5 minutes); above it requests are refused (Throttling, 9000)
	// until older nonces leave the window.
	DefaultMaxNonces = 1 << 20
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Region is the one region served: requests go to its topics and
	// queries read its database; a request naming another region is
	// refused (3028). Required.
	Region string
	// Addr is the listen address. Default DefaultAddr (a free loopback
	// port).
	Addr string
	// Apps are the apps that may be acted on, with their AccessKeys. At
	// least one is required.
	Apps []App
	// Producer publishes requests, revokes, bindings and schedule
	// cancellations. Required.
	Producer Producer
	// Brokers are the Kafka addresses the schedule routes read
	// push.schedules.<Region> from. Required.
	Brokers []string
	// KafkaSecurity secures those reads (SASL, TLS); the zero value is
	// plaintext without authentication.
	KafkaSecurity pipeline.KafkaSecurity
	// ClickHouse and Database are the region's ClickHouse connection and
	// database (push_<region>): templates, statistics, tasks and the
	// accepted time of revoked pushes. Required.
	ClickHouse driver.Conn
	Database   string
	// Location is the time zone of scheduled pushes the scheduler has not
	// admitted yet (the scheduler's scheduler.timeZone); nil means UTC.
	Location *time.Location
	// MaxBodyBytes is the largest request body accepted (413 above it).
	// Default DefaultMaxBodyBytes (1 MiB).
	MaxBodyBytes int64
	// MaxClockSkew is how far a request's signed Timestamp may be from
	// the gateway's clock; a nonce is remembered as long. Default
	// DefaultMaxClockSkew (5 minutes).
	MaxClockSkew time.Duration
	// MaxNonces bounds the nonces remembered (DefaultMaxNonces).
	MaxNonces int
	// Timeout bounds the work of one request (Kafka acknowledgement,
	// ClickHouse queries). Default DefaultTimeout (30s).
	Timeout time.Duration
	// Metrics registers the gateway's series; nil keeps them unregistered.
	Metrics prometheus.Registerer
	// RateLimit is the budget of every app without its own
	// (App.RateLimit); the zero value means no limit.
	RateLimit RateLimit
	// Logger receives one line per request (debug when it succeeded, warn
	// when refused, error when the gateway failed).
	Logger zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = DefaultMaxClockSkew
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxNonces == 0 {
		c.MaxNonces = DefaultMaxNonces
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first setting that cannot work, saying what to fix.
func (c Config) Validate() error {
	switch {
	case !schema.ValidRegion(c.Region):
		return fmt.Errorf("gateway: Region %q is not one of %v", c.Region, schema.Regions())
	case len(c.Apps) == 0:
		return errors.New("gateway: Apps is empty: configure an AccessKey of at least one app (gateway.appKeys[].accessKeys), or no request can be verified")
	case c.Producer == nil:
		return errors.New("gateway: Producer is required: pass the process's pipeline.Producer")
	case len(c.Brokers) == 0:
		return errors.New("gateway: Brokers is empty: the schedule routes read push.schedules.<region> from Kafka")
	case c.ClickHouse == nil || c.Database == "":
		return errors.New("gateway: ClickHouse and Database are required: templates, statistics and tasks live in the region's database")
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("gateway: MaxBodyBytes %d is negative: use 0 for the default %d", c.MaxBodyBytes, DefaultMaxBodyBytes)
	case c.MaxClockSkew < 0:
		return fmt.Errorf("gateway: MaxClockSkew %s is negative: use 0 for the default %s", c.MaxClockSkew, DefaultMaxClockSkew)
	case c.Timeout < 0:
		return fmt.Errorf("gateway: Timeout %s is negative: use 0 for the default %s", c.Timeout, DefaultTimeout)
	case c.MaxNonces < 0:
		return fmt.Errorf("gateway: MaxNonces %d is negative: use 0 for the default %d", c.MaxNonces, DefaultMaxNonces)
	}
	if err := c.RateLimit.Validate(); err != nil {
		return fmt.Errorf("gateway: RateLimit: %w", err)
	}
	seen := map[string]bool{}
	secrets := map[string]string{}
	for i, a := range c.Apps {
		switch {
		case a.AppID == "":
			return fmt.Errorf("gateway: Apps[%d] has no AppID", i)
		case len(a.AccessKeys) == 0:
			return fmt.Errorf("gateway: Apps[%d] (%s) has no AccessKey: give it one (pushpipe gateway keygen makes one)", i, a.AppID)
		case seen[a.AppID]:
			return fmt.Errorf("gateway: Apps[%d]: app %s is listed twice", i, a.AppID)
		}
		seen[a.AppID] = true
		if a.RateLimit != nil {
			if err := a.RateLimit.Validate(); err != nil {
				return fmt.Errorf("gateway: Apps[%d] (%s).RateLimit: %w", i, a.AppID, err)
			}
		}
		for j, k := range a.AccessKeys {
			if err := k.Validate(); err != nil {
				return fmt.Errorf("gateway: Apps[%d] (%s).AccessKeys[%d]: %w", i, a.AppID, j, err)
			}
			if s, dup := secrets[k.ID]; dup && s != k.Secret.Reveal() {
				return fmt.Errorf("gateway: Apps[%d] (%s).AccessKeys[%d]: AccessKey %s is listed again with another secret: one id has one secret", i, a.AppID, j, k.ID)
			}
			secrets[k.ID] = k.Secret.Reveal()
		}
	}
	return nil
}

// Validate says what is wrong with a rate limit: a PerSecond that is
// negative or not a finite number, a negative Burst, a Burst without
// PerSecond.
func (l RateLimit) Validate() error {
	switch {
	case l.PerSecond < 0 || math.IsNaN(l.PerSecond) || math.IsInf(l.PerSecond, 0):
		return fmt.Errorf("perSecond %v must be a finite number >= 0 (0: no limit)", l.PerSecond)
	case l.Burst < 0:
		return fmt.Errorf("burst %d is negative: give the most calls at once, or 0 for perSecond rounded up", l.Burst)
	case l.Burst > 0 && l.PerSecond == 0:
		return fmt.Errorf("burst %d without perSecond: set perSecond too (perSecond 0 means no limit)", l.Burst)
	}
	return nil
}

// Validate checks one AccessKey: an id of letters, digits, '-' and '_',
// and a secret of at least MinSecretLen characters. Its errors name the
// id, never the secret.
func (k AccessKey) Validate() error {
	switch {
	case k.ID == "":
		return errors.New("the AccessKey id is empty")
	case strings.IndexFunc(k.ID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}) >= 0:
		return fmt.Errorf("AccessKey id %q has characters other than letters, digits, '-' and '_'", k.ID)
	case len(k.Secret.Reveal()) < MinSecretLen:
		return fmt.Errorf("the secret of AccessKey %s has %d characters, at least %d are needed (pushpipe gateway keygen makes a pair)", k.ID, len(k.Secret.Reveal()), MinSecretLen)
	}
	return nil
}
