package config

import (
	"crypto/rsa"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/schema"
)

// DefaultGatewayAddr is where `pushpipe gateway` listens; `pushpipe dev`
// serves its regions on consecutive ports from it.
const DefaultGatewayAddr = "127.0.0.1:18200"

// GatewayConfig configures the HTTP gateway (mPaaS server and client APIs
// with signed requests).
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
	// MaxClockSkew is how far a request's signed timestamp may be from the
	// gateway's clock. Default 5m.
	MaxClockSkew time.Duration `yaml:"maxClockSkew"`
	// AppKeys are the RSA public keys (2048 bits or more) that requests
	// of each app are verified with. `pushpipe dev` generates a demo key
	// pair for the first app when empty.
	AppKeys []GatewayAppKey `yaml:"appKeys"`
}

// GatewayAppKey is the public key of one app, given inline (PEM, or the
// bare base64 the mPaaS console shows) or as a file path.
type GatewayAppKey struct {
	AppID         string `yaml:"appId"`
	PublicKey     string `yaml:"publicKey"`
	PublicKeyFile string `yaml:"publicKeyFile"`
	// PushClosed closes the app's push API (the mPaaS REST API switch):
	// pushes and revokes are refused with 3032 REST_API_SWITCH_NOT_OPEN,
	// queries and the client routes keep working.
	PushClosed bool `yaml:"pushClosed"`
}

func (g *GatewayConfig) defaults() {
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
	_, err := g.Keys()
	return err
}

// Keys reads and parses the public key of every app in AppKeys.
func (g GatewayConfig) Keys() (map[string]*rsa.PublicKey, error) {
	out := make(map[string]*rsa.PublicKey, len(g.AppKeys))
	for i, k := range g.AppKeys {
		if k.AppID == "" {
			return nil, fmt.Errorf("gateway.appKeys[%d].appId is empty", i)
		}
		if _, dup := out[k.AppID]; dup {
			return nil, fmt.Errorf("gateway.appKeys[%d]: app %s is listed twice", i, k.AppID)
		}
		text := []byte(k.PublicKey)
		switch {
		case (k.PublicKey == "") == (k.PublicKeyFile == ""):
			return nil, fmt.Errorf("gateway.appKeys[%d] (%s): give exactly one of publicKey and publicKeyFile", i, k.AppID)
		case k.PublicKeyFile != "":
			var err error
			if text, err = os.ReadFile(k.PublicKeyFile); err != nil {
				return nil, fmt.Errorf("gateway.appKeys[%d] (%s).publicKeyFile: %w", i, k.AppID, err)
			}
		}
		pub, err := gateway.ParsePublicKey(text)
		if err != nil {
			return nil, fmt.Errorf("gateway.appKeys[%d] (%s): %w", i, k.AppID, err)
		}
		out[k.AppID] = pub
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
	if _, port, _ := net.SplitHostPort(c.Gateway.Addr); !validPort(port, len(c.Regions)) {
		return fmt.Errorf("gateway.addr %q must leave room for %d consecutive ports", c.Gateway.Addr, max(len(c.Regions), 1))
	}
	return nil
}

// GatewayAddr is the gateway's listen address for region: Gateway.Addrs
// of the region, else Gateway.Addr with its port plus the region's index
// in Regions (port 0 stays 0, a free port). It assumes Validate passed.
func (c *Config) GatewayAddr(region string) string {
	if a, ok := c.Gateway.Addrs[region]; ok {
		return a
	}
	host, port, _ := net.SplitHostPort(c.Gateway.Addr)
	p, _ := strconv.Atoi(port)
	if i := slices.Index(c.Regions, region); p != 0 && i > 0 {
		p += i
	}
	return net.JoinHostPort(host, strconv.Itoa(p))
}

// GatewayApps returns the apps the gateway verifies, with their public
// keys and the workspace of the app in Apps.
func (c *Config) GatewayApps() ([]gateway.App, error) {
	keys, err := c.Gateway.Keys()
	if err != nil {
		return nil, err
	}
	closed := map[string]bool{}
	for _, k := range c.Gateway.AppKeys {
		closed[k.AppID] = k.PushClosed
	}
	var out []gateway.App
	for _, a := range c.Apps {
		if k, ok := keys[a.AppID]; ok {
			out = append(out, gateway.App{AppID: a.AppID, WorkspaceID: a.WorkspaceID, PublicKey: k, PushClosed: closed[a.AppID]})
		}
	}
	return out, nil
}
