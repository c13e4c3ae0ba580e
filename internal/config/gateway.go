package config

import (
	"cmp"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/schema"
)

// DefaultGatewayAddr is where `pushpipe gateway` listens; `pushpipe dev`
// serves its regions on consecutive ports from it.
const DefaultGatewayAddr = "127.0.0.1:18200"

// The default per-app rate limit of a gateway process (gateway.rateLimit):
// 100 calls a second, 200 at once. A default meant to stop a runaway
// caller, not to size an app: raise it per app (gateway.appKeys[].rateLimit)
// to the calls the app is expected to make, divided by the gateway replicas.
const (
	DefaultGatewayRatePerSecond = 100
	DefaultGatewayRateBurst     = 200
)

// GatewayConfig configures the HTTP gateway (the mPaaS server and client
// APIs: the Alibaba Cloud RPC API and the /v1 JSON routes, both signed
// with AccessKeys).
type GatewayConfig struct {
	// Addr is where `pushpipe gateway --region R` listens unless Addrs
	// names R; `pushpipe dev` serves the i-th of Regions on Addr's port
	// plus i. Default 127.0.0.1:18200.
	Addr string `yaml:"addr"`
	// Addrs overrides the listen address per region, e.g. {sg:
	// 0.0.0.0:8443}.
	Addrs map[string]string `yaml:"addrs"`
	// MaxBodyBytes is the largest request body accepted. Default 1 MiB.
	MaxBodyBytes int64 `yaml:"maxBodyBytes"`
	// MaxClockSkew is how far a request's signed Timestamp may be from the
	// gateway's clock; signature nonces are remembered as long. Default 5m.
	MaxClockSkew time.Duration `yaml:"maxClockSkew"`
	// InternalAddr is where `pushpipe gateway` serves /healthz, /readyz,
	// /metrics and /debug/pprof, never on the public Addr. Default
	// healthAddr (127.0.0.1:18080), as every worker. `pushpipe dev`
	// serves them for the whole process on healthAddr.
	InternalAddr string `yaml:"internalAddr"`
	// RateLimit is the token bucket of each app in one gateway process:
	// perSecond calls a second, burst at once, both protocols counted
	// together; a call beyond it gets HTTP 429 with Retry-After. Default
	// {perSecond: 100, burst: 200}; perSecond 0 switches the limit off.
	// The budget is per process: with N replicas behind a load balancer
	// an app may make N times as many calls to the region.
	RateLimit *GatewayRateLimit `yaml:"rateLimit"`
	// AppKeys are the apps the gateway serves, each with the AccessKeys
	// that may act on it. `pushpipe dev` generates a demo AccessKey for
	// the first app when empty.
	AppKeys []GatewayAppKey `yaml:"appKeys"`
}

// GatewayAppKey is one app of the gateway: its AccessKeys and whether its
// push API is closed.
type GatewayAppKey struct {
	AppID string `yaml:"appId"`
	// AccessKeys may act on the app (one or more: add a new key, move the
	// callers to it, remove the old one). The same accessKeyId may be
	// listed under several apps, with the same secret, to act on each.
	AccessKeys []GatewayAccessKey `yaml:"accessKeys"`
	// PushClosed closes the app's push API (the mPaaS REST API switch):
	// pushes and revokes are refused with 3032 REST_API_SWITCH_NOT_OPEN,
	// queries and the client routes keep working.
	PushClosed bool `yaml:"pushClosed"`
	// RateLimit, if set, replaces gateway.rateLimit for this app
	// (perSecond 0: no limit).
	RateLimit *GatewayRateLimit `yaml:"rateLimit"`
	// PublicKey and PublicKeyFile held the RSA keys of the request
	// signature the gateway used before AccessKeys; Validate refuses them
	// saying what to do instead.
	PublicKey     string `yaml:"publicKey"`
	PublicKeyFile string `yaml:"publicKeyFile"`
}

// GatewayAccessKey is one AccessKey pair: its id and its secret, given
// inline (never printed) or as a file holding it (`pushpipe gateway
// keygen` makes both).
type GatewayAccessKey struct {
	AccessKeyID         string          `yaml:"accessKeyId"`
	AccessKeySecret     channels.Secret `yaml:"accessKeySecret"`
	AccessKeySecretFile string          `yaml:"accessKeySecretFile"`
}

// GatewayRateLimit is a token bucket: perSecond calls a second, up to
// burst at once (0: perSecond rounded up). perSecond 0 means no limit.
type GatewayRateLimit struct {
	PerSecond float64 `yaml:"perSecond"`
	Burst     int     `yaml:"burst"`
}

func (l GatewayRateLimit) gateway() gateway.RateLimit {
	return gateway.RateLimit{PerSecond: l.PerSecond, Burst: l.Burst}
}

func (g *GatewayConfig) defaults() {
	if g.RateLimit == nil {
		g.RateLimit = &GatewayRateLimit{PerSecond: DefaultGatewayRatePerSecond, Burst: DefaultGatewayRateBurst}
	}
	if g.Addr == "" {
		g.Addr = DefaultGatewayAddr
	}
	if g.MaxBodyBytes == 0 {
		g.MaxBodyBytes = gateway.DefaultMaxBodyBytes
	}
	if g.MaxClockSkew == 0 {
		g.MaxClockSkew = gateway.DefaultMaxClockSkew
	}
}

// Validate reports the first gateway setting that cannot work, saying
// what to fix; it reads and parses every key.
func (g GatewayConfig) Validate() error {
	if _, _, err := net.SplitHostPort(g.Addr); err != nil {
		return fmt.Errorf("gateway.addr %q must be host:port: %w", g.Addr, err)
	}
	for r, a := range g.Addrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("gateway.addrs.%s %q must be host:port: %w", r, a, err)
		}
	}
	if g.MaxBodyBytes < 1024 {
		return fmt.Errorf("gateway.maxBodyBytes %d is below 1024: a push request needs room; the default is %d", g.MaxBodyBytes, gateway.DefaultMaxBodyBytes)
	}
	if g.MaxClockSkew < time.Second {
		return fmt.Errorf("gateway.maxClockSkew %s is below 1s: clients' clocks are never that close; the default is %s", g.MaxClockSkew, gateway.DefaultMaxClockSkew)
	}
	if g.InternalAddr != "" {
		if _, _, err := net.SplitHostPort(g.InternalAddr); err != nil {
			return fmt.Errorf("gateway.internalAddr %q must be host:port: %w", g.InternalAddr, err)
		}
	}
	if g.RateLimit != nil {
		if err := g.RateLimit.gateway().Validate(); err != nil {
			return fmt.Errorf("gateway.rateLimit: %w", err)
		}
	}
	for i, a := range g.AppKeys {
		if a.RateLimit != nil {
			if err := a.RateLimit.gateway().Validate(); err != nil {
				return fmt.Errorf("gateway.appKeys[%d] (%s).rateLimit: %w", i, a.AppID, err)
			}
		}
	}
	_, err := g.Keys()
	return err
}

// Keys reads the AccessKeys of every app in AppKeys (secret files
// included) and checks them: every app has at least one, an id is
// listed once per app and has one secret wherever it is listed.
func (g GatewayConfig) Keys() (map[string][]gateway.AccessKey, error) {
	out := make(map[string][]gateway.AccessKey, len(g.AppKeys))
	secrets := map[string]string{}
	for i, a := range g.AppKeys {
		where := fmt.Sprintf("gateway.appKeys[%d] (%s)", i, a.AppID)
		switch {
		case a.AppID == "":
			return nil, fmt.Errorf("gateway.appKeys[%d].appId is empty", i)
		case out[a.AppID] != nil:
			return nil, fmt.Errorf("%s: the app is listed twice", where)
		case a.PublicKey != "" || a.PublicKeyFile != "":
			return nil, fmt.Errorf("%s: publicKey and publicKeyFile are gone: the gateway verifies AccessKeys (HMAC-SHA1, the signature of the Alibaba Cloud SDKs) instead of RSA keys; remove them and add accessKeys ('pushpipe gateway keygen' makes a pair)", where)
		case len(a.AccessKeys) == 0:
			return nil, fmt.Errorf("%s has no accessKeys: give it at least one ('pushpipe gateway keygen' makes a pair)", where)
		}
		keys := make([]gateway.AccessKey, 0, len(a.AccessKeys))
		for j, k := range a.AccessKeys {
			kw := fmt.Sprintf("%s.accessKeys[%d]", where, j)
			secret := k.AccessKeySecret.Reveal()
			switch {
			case k.AccessKeyID == "":
				return nil, fmt.Errorf("%s.accessKeyId is empty", kw)
			case (secret == "") == (k.AccessKeySecretFile == ""):
				return nil, fmt.Errorf("%s (%s): give exactly one of accessKeySecret and accessKeySecretFile", kw, k.AccessKeyID)
			case k.AccessKeySecretFile != "":
				b, err := os.ReadFile(k.AccessKeySecretFile)
				if err != nil {
					return nil, fmt.Errorf("%s (%s).accessKeySecretFile: %w", kw, k.AccessKeyID, err)
				}
				secret = strings.TrimSpace(string(b))
			}
			if slices.ContainsFunc(keys, func(o gateway.AccessKey) bool { return o.ID == k.AccessKeyID }) {
				return nil, fmt.Errorf("%s: AccessKey %s is listed twice for the app", kw, k.AccessKeyID)
			}
			if s, seen := secrets[k.AccessKeyID]; seen && s != secret {
				return nil, fmt.Errorf("%s: AccessKey %s is listed under another app with another secret: one id has one secret", kw, k.AccessKeyID)
			}
			secrets[k.AccessKeyID] = secret
			key := gateway.AccessKey{ID: k.AccessKeyID, Secret: channels.Secret(secret)}
			if err := key.Validate(); err != nil {
				return nil, fmt.Errorf("%s: %w", kw, err)
			}
			keys = append(keys, key)
		}
		out[a.AppID] = keys
	}
	return out, nil
}

// validateGateway checks the gateway section and that every key names a
// configured app.
func (c *Config) validateGateway() error {
	if err := c.Gateway.Validate(); err != nil {
		return err
	}
	for i, k := range c.Gateway.AppKeys {
		if !slices.Contains(c.AppIDs(), k.AppID) {
			return fmt.Errorf("gateway.appKeys[%d].appId %q is not one of apps[].appId %v", i, k.AppID, c.AppIDs())
		}
	}
	for r := range c.Gateway.Addrs {
		if !schema.ValidRegion(r) {
			return fmt.Errorf("gateway.addrs names region %q: use one of cn, ru, in, eu, sg", r)
		}
	}
	for _, r := range c.Regions {
		if sameListenAddr(c.GatewayAddr(r), c.GatewayInternalAddr()) {
			return fmt.Errorf("the gateway of region %s would serve its API on %s, its internal address (gateway.internalAddr, else healthAddr): give the public and the internal endpoints different ports", r, c.GatewayAddr(r))
		}
	}
	if _, port, _ := net.SplitHostPort(c.Gateway.Addr); !validPort(port, len(c.Regions)) {
		return fmt.Errorf("gateway.addr %q must leave room for %d consecutive ports", c.Gateway.Addr, max(len(c.Regions), 1))
	}
	return nil
}

// GatewayAddr is the gateway's listen address for region: Gateway.Addrs
// of the region, else Gateway.Addr with its port plus the region's index
// in Regions (port 0 stays 0, a free port). It assumes Validate passed.
func (c *Config) GatewayAddr(region string) string {
	return regionAddr(c.Gateway.Addrs, c.Gateway.Addr, c.Regions, region)
}

// GatewayInternalAddr is where a gateway process serves its health,
// readiness and metrics: Gateway.InternalAddr, else HealthAddr.
func (c *Config) GatewayInternalAddr() string {
	if c.Gateway.InternalAddr != "" {
		return c.Gateway.InternalAddr
	}
	return c.HealthAddr
}

// GatewayApps returns the apps the gateway serves, with their AccessKeys,
// push switch, rate limit (the app's, else gateway.rateLimit) and the
// workspace of the app in Apps.
func (c *Config) GatewayApps() ([]gateway.App, error) {
	keys, err := c.Gateway.Keys()
	if err != nil {
		return nil, err
	}
	byApp := map[string]GatewayAppKey{}
	for _, k := range c.Gateway.AppKeys {
		byApp[k.AppID] = k
	}
	var out []gateway.App
	for _, a := range c.Apps {
		k, ok := keys[a.AppID]
		if !ok {
			continue
		}
		ga := gateway.App{AppID: a.AppID, WorkspaceID: a.WorkspaceID, AccessKeys: k, PushClosed: byApp[a.AppID].PushClosed,
			Approval: a.Approval.Policy()}
		if l := cmp.Or(byApp[a.AppID].RateLimit, c.Gateway.RateLimit); l != nil {
			rl := l.gateway()
			ga.RateLimit = &rl
		}
		out = append(out, ga)
	}
	return out, nil
}
