package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pushpipe/pushpipe/gateway"
)

func TestGatewaySection(t *testing.T) {
	_, pub, err := gateway.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "app.pub.pem")
	if err := os.WriteFile(keyFile, pub, 0o600); err != nil {
		t.Fatal(err)
	}
	inline := strings.ReplaceAll(string(pub), "\n", "\n      ")
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
		{scenario: "key inline and from a file", body: "apps: [{appId: A, workspaceId: w}, {appId: B}]\ngateway:\n  appKeys:\n  - appId: A\n    publicKey: |\n      " + inline + "\n  - {appId: B, publicKeyFile: " + keyFile + "}\n",
			check: func(t *testing.T, c *Config) {
				apps, err := c.GatewayApps()
				if err != nil || len(apps) != 2 || apps[0].AppID != "A" || apps[0].WorkspaceID != "w" || apps[1].PublicKey == nil {
					t.Fatalf("apps %+v, %v", apps, err)
				}
			}},
		{scenario: "key of an unknown app", body: "gateway: {appKeys: [{appId: X, publicKeyFile: " + keyFile + "}]}", wantErr: `gateway.appKeys[0].appId "X" is not one of apps[].appId`},
		{scenario: "both key forms", body: "gateway: {appKeys: [{appId: ONEX570DA89211721, publicKey: abc, publicKeyFile: " + keyFile + "}]}", wantErr: "give exactly one of publicKey and publicKeyFile"},
		{scenario: "missing key file", body: "gateway: {appKeys: [{appId: ONEX570DA89211721, publicKeyFile: /nonexistent.pem}]}", wantErr: "publicKeyFile"},
		{scenario: "not a key", body: "gateway: {appKeys: [{appId: ONEX570DA89211721, publicKey: hello}]}", wantErr: "reading RSA public key"},
		{scenario: "tiny body limit", body: "gateway: {maxBodyBytes: 10}", wantErr: "gateway.maxBodyBytes 10 is below 1024"},
		{scenario: "no clock skew", body: "gateway: {maxClockSkew: 1ms}", wantErr: "gateway.maxClockSkew 1ms is below 1s"},
		{scenario: "bad address", body: "gateway: {addr: nowhere}", wantErr: `gateway.addr "nowhere" must be host:port`},
		{scenario: "address of an unknown region", body: "gateway: {addrs: {us: '127.0.0.1:1'}}", wantErr: `gateway.addrs names region "us"`},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c, err := Load(write(t, tc.body))
			if err == nil {
				err = c.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}
