package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushpipe/pushpipe/gateway"
)

func TestGatewaySection(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "ak.secret")
	if err := os.WriteFile(secretFile, []byte("secret-from-a-file-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "inline-secret-0123456789abcdef"
	for _, tc := range []struct {
		scenario string
		body     string
		wantErr  string
		check    func(t *testing.T, c *Config)
	}{
		{scenario: "defaults: consecutive ports per region, no keys", body: "", check: func(t *testing.T, c *Config) {
			if c.GatewayAddr("cn") != "127.0.0.1:18200" || c.GatewayAddr("sg") != "127.0.0.1:18204" || c.Gateway.MaxBodyBytes != 1<<20 || len(c.Gateway.AppKeys) != 0 {
				t.Fatalf("gateway defaults: %+v, sg at %s", c.Gateway, c.GatewayAddr("sg"))
			}
		}},
		{scenario: "a region's own address", body: "gateway: {addrs: {sg: '0.0.0.0:8443'}}", check: func(t *testing.T, c *Config) {
			if c.GatewayAddr("sg") != "0.0.0.0:8443" || c.GatewayAddr("eu") != "127.0.0.1:18203" {
				t.Fatalf("sg at %s, eu at %s", c.GatewayAddr("sg"), c.GatewayAddr("eu"))
			}
		}},
		{scenario: "keys inline and from a file, one key on two apps, a closed push API",
			body: "apps: [{appId: A, workspaceId: w}, {appId: B}]\ngateway:\n  appKeys:\n  - appId: A\n    accessKeys:\n    - {accessKeyId: PPAKold, accessKeySecret: " + secret + "}\n    - {accessKeyId: PPAKnew, accessKeySecretFile: " + secretFile + "}\n  - {appId: B, pushClosed: true, accessKeys: [{accessKeyId: PPAKold, accessKeySecret: " + secret + "}]}\n",
			check: func(t *testing.T, c *Config) {
				apps, err := c.GatewayApps()
				if err != nil || len(apps) != 2 || apps[0].AppID != "A" || apps[0].WorkspaceID != "w" || len(apps[0].AccessKeys) != 2 ||
					apps[0].AccessKeys[1].Secret.Reveal() != "secret-from-a-file-0123456789" || apps[1].AccessKeys[0].ID != "PPAKold" || !apps[1].PushClosed || apps[0].PushClosed {
					t.Fatalf("apps %+v, %v", apps, err)
				}
			}},
		{scenario: "key of an unknown app", body: "gateway: {appKeys: [{appId: X, accessKeys: [{accessKeyId: K, accessKeySecret: " + secret + "}]}]}", wantErr: `gateway.appKeys[0].appId "X" is not one of apps[].appId`},
		{scenario: "an app without keys", body: "gateway: {appKeys: [{appId: ONEX570DA89211721}]}", wantErr: "has no accessKeys"},
		{scenario: "both secret forms", body: "gateway: {appKeys: [{appId: ONEX570DA89211721, accessKeys: [{accessKeyId: K, accessKeySecret: " + secret + ", accessKeySecretFile: " + secretFile + "}]}]}", wantErr: "give exactly one of accessKeySecret and accessKeySecretFile"},
		{scenario: "no secret", body: "gateway: {appKeys: [{appId: ONEX570DA89211721, accessKeys: [{accessKeyId: K}]}]}", wantErr: "give exactly one of accessKeySecret and accessKeySecretFile"},
		{scenario: "missing secret file", body: "gateway: {appKeys: [{appId: ONEX570DA89211721, accessKeys: [{accessKeyId: K, accessKeySecretFile: /nonexistent}]}]}", wantErr: "accessKeySecretFile"},
		{scenario: "short secret", body: "gateway: {appKeys: [{appId: ONEX570DA89211721, accessKeys: [{accessKeyId: K, accessKeySecret: short}]}]}", wantErr: "at least 16 are needed"},
		{scenario: "id with a space", body: "gateway: {appKeys: [{appId: ONEX570DA89211721, accessKeys: [{accessKeyId: 'a b', accessKeySecret: " + secret + "}]}]}", wantErr: "has characters other than"},
		{scenario: "one id, two secrets", body: "apps: [{appId: A}, {appId: B}]\ngateway: {appKeys: [{appId: A, accessKeys: [{accessKeyId: K, accessKeySecret: " + secret + "}]}, {appId: B, accessKeys: [{accessKeyId: K, accessKeySecret: other-secret-0123456789}]}]}", wantErr: "one id has one secret"},
		{scenario: "an RSA key of the former signature", body: "gateway: {appKeys: [{appId: ONEX570DA89211721, publicKeyFile: /etc/app.pub.pem}]}", wantErr: "publicKey and publicKeyFile are gone"},
		{scenario: "tiny body limit", body: "gateway: {maxBodyBytes: 10}", wantErr: "gateway.maxBodyBytes 10 is below 1024"},
		{scenario: "no clock skew", body: "gateway: {maxClockSkew: 1ms}", wantErr: "gateway.maxClockSkew 1ms is below 1s"},
		{scenario: "bad address", body: "gateway: {addr: nowhere}", wantErr: `gateway.addr "nowhere" must be host:port`},
		{scenario: "address of an unknown region", body: "gateway: {addrs: {us: '127.0.0.1:1'}}", wantErr: `gateway.addrs names region "us"`},
		{scenario: "rate limits: the default, an app's own, an app without limit",
			body: "apps: [{appId: A}, {appId: B}, {appId: C}]\ngateway:\n  appKeys:\n  - {appId: A, accessKeys: [{accessKeyId: KA, accessKeySecret: " + secret + "}]}\n  - {appId: B, rateLimit: {perSecond: 5.5, burst: 20}, accessKeys: [{accessKeyId: KB, accessKeySecret: " + secret + "}]}\n  - {appId: C, rateLimit: {perSecond: 0}, accessKeys: [{accessKeyId: KC, accessKeySecret: " + secret + "}]}\n",
			check: func(t *testing.T, c *Config) {
				apps, err := c.GatewayApps()
				if err != nil || len(apps) != 3 {
					t.Fatalf("apps %+v, %v", apps, err)
				}
				for i, want := range []gateway.RateLimit{{PerSecond: DefaultGatewayRatePerSecond, Burst: DefaultGatewayRateBurst}, {PerSecond: 5.5, Burst: 20}, {}} {
					if apps[i].RateLimit == nil || *apps[i].RateLimit != want {
						t.Errorf("app %s: rate limit %+v, want %+v", apps[i].AppID, apps[i].RateLimit, want)
					}
				}
			}},
		{scenario: "rate limit off for every app", body: "gateway: {rateLimit: {perSecond: 0}}", check: func(t *testing.T, c *Config) {
			if *c.Gateway.RateLimit != (GatewayRateLimit{}) {
				t.Fatalf("rate limit %+v, want none", *c.Gateway.RateLimit)
			}
		}},
		{scenario: "negative rate", body: "gateway: {rateLimit: {perSecond: -1}}", wantErr: "gateway.rateLimit: perSecond -1 must be a finite number >= 0"},
		{scenario: "negative burst of an app", body: "gateway: {appKeys: [{appId: ONEX570DA89211721, rateLimit: {perSecond: 1, burst: -2}, accessKeys: [{accessKeyId: K, accessKeySecret: " + secret + "}]}]}",
			wantErr: "gateway.appKeys[0] (ONEX570DA89211721).rateLimit: burst -2 is negative"},
		{scenario: "burst without rate", body: "gateway: {rateLimit: {burst: 10}}", wantErr: "burst 10 without perSecond"},
		{scenario: "internal address: healthAddr by default, or its own", body: "healthAddr: 127.0.0.1:9100", check: func(t *testing.T, c *Config) {
			if c.GatewayInternalAddr() != "127.0.0.1:9100" {
				t.Fatalf("internal address %s, want healthAddr", c.GatewayInternalAddr())
			}
			c.Gateway.InternalAddr = "10.0.0.1:9200"
			if c.GatewayInternalAddr() != "10.0.0.1:9200" {
				t.Fatalf("internal address %s, want gateway.internalAddr", c.GatewayInternalAddr())
			}
		}},
		{scenario: "internal address not host:port", body: "gateway: {internalAddr: nowhere}", wantErr: `gateway.internalAddr "nowhere" must be host:port`},
		{scenario: "internal address on the public port", body: "regions: [sg]\ngateway: {addr: '0.0.0.0:8000', internalAddr: '127.0.0.1:8000'}", wantErr: "the gateway of region sg would serve its API on 0.0.0.0:8000, its internal address"},
		{scenario: "healthAddr on the public port", body: "regions: [sg]\nhealthAddr: '0.0.0.0:8080'\ngateway: {addr: '0.0.0.0:8080'}", wantErr: "its internal address"},
		{scenario: "receipts on healthAddr", body: "regions: [sg]\nhealthAddr: '0.0.0.0:8080'\nreceipts: {addr: '0.0.0.0:8080'}", wantErr: "receipts.addr \"0.0.0.0:8080\" puts a receipts worker on healthAddr"},
		{scenario: "free ports are never the same", body: "healthAddr: '127.0.0.1:0'\nreceipts: {addr: '127.0.0.1:0'}\ngateway: {addr: '127.0.0.1:0'}", check: func(t *testing.T, c *Config) {}},
	} {
		t.Run(tc.scenario, func(t *testing.T) { checkSection(t, tc.body, tc.wantErr, tc.check) })
	}
}

// checkSection loads and validates the configuration file body: it must
// fail with an error holding wantErr, or (wantErr empty) pass check.
func checkSection(t *testing.T, body, wantErr string, check func(t *testing.T, c *Config)) {
	t.Helper()
	c, err := Load(write(t, body))
	if err == nil {
		err = c.Validate()
	}
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("err = %v, want %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	check(t, c)
}
