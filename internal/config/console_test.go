package config

import (
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/console"
)

func TestConsoleSection(t *testing.T) {
	h, err := bcrypt.GenerateFromPassword([]byte("olga-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hash := string(h)
	for _, tc := range []struct {
		scenario string
		body     string
		wantErr  string
		check    func(t *testing.T, c *Config)
	}{
		{scenario: "defaults: consecutive ports per region, no accounts", body: "", check: func(t *testing.T, c *Config) {
			if c.ConsoleAddr("cn") != "127.0.0.1:18300" || c.ConsoleAddr("sg") != "127.0.0.1:18304" || c.Console.SessionTTL != console.DefaultSessionTTL ||
				c.Console.MaxSessions != console.DefaultMaxSessions || len(c.Console.Accounts) != 0 || c.ConsoleInternalAddr() != c.HealthAddr {
				t.Fatalf("console defaults: %+v, sg at %s", c.Console, c.ConsoleAddr("sg"))
			}
		}},
		{scenario: "accounts with roles and apps", body: "apps: [{appId: A}, {appId: B}]\nconsole:\n  addrs: {sg: '127.0.0.1:9300'}\n  accounts:\n  - {name: olga, passwordHash: '" + hash + "', role: operator, apps: [A]}\n  - {name: vera, passwordHash: '" + hash + "', role: viewer, apps: ['*']}\n",
			check: func(t *testing.T, c *Config) {
				as := c.ConsoleAccounts()
				if len(as) != 2 || as[0].Role != console.RoleOperator || as[0].PasswordHash != channels.Secret(hash) || !as[1].MaySee("B") || as[0].MaySee("B") || c.ConsoleAddr("sg") != "127.0.0.1:9300" {
					t.Fatalf("accounts %+v, sg at %s", as, c.ConsoleAddr("sg"))
				}
			}},
		{scenario: "a password instead of its hash", body: "console: {accounts: [{name: olga, passwordHash: olga-password, role: admin, apps: ['*']}]}", wantErr: "console.accounts[0]: account olga: passwordHash is not a bcrypt hash"},
		{scenario: "an unknown role", body: "console: {accounts: [{name: olga, passwordHash: '" + hash + "', role: root, apps: ['*']}]}", wantErr: `role "root" is not viewer, operator or admin`},
		{scenario: "an account without apps", body: "console: {accounts: [{name: olga, passwordHash: '" + hash + "', role: admin}]}", wantErr: "apps is empty"},
		{scenario: "an app not configured", body: "console: {accounts: [{name: olga, passwordHash: '" + hash + "', role: admin, apps: [X]}]}", wantErr: `app "X" is not one of the configured apps`},
		{scenario: "an account twice", body: "console: {accounts: [{name: olga, passwordHash: '" + hash + "', role: admin, apps: ['*']}, {name: olga, passwordHash: '" + hash + "', role: viewer, apps: ['*']}]}", wantErr: "account olga is listed twice"},
		{scenario: "a session of a second", body: "console: {sessionTtl: 1s}", wantErr: "console.sessionTtl 1s must be between 1m and 720h"},
		{scenario: "no session room", body: "console: {maxSessions: -1}", wantErr: "console.maxSessions -1 must be at least 1"},
		{scenario: "no failed logins allowed", body: "console: {loginFailures: -1}", wantErr: "console.loginFailures -1 must be at least 1"},
		{scenario: "failed-login allowance too slow", body: "console: {loginFailureEvery: 48h}", wantErr: "console.loginFailureEvery 48h0m0s must be between 1s and 24h"},
		{scenario: "bad address", body: "console: {addr: nowhere}", wantErr: `console.addr "nowhere" must be host:port`},
		{scenario: "address of an unknown region", body: "console: {addrs: {us: '127.0.0.1:1'}}", wantErr: `console.addrs names region "us"`},
		{scenario: "console on the gateway's port", body: "regions: [sg]\nconsole: {addr: '127.0.0.1:18200'}", wantErr: "the console of region sg would listen on 127.0.0.1:18200, the address of the gateway"},
		{scenario: "console on healthAddr", body: "regions: [sg]\nconsole: {addr: '127.0.0.1:18080'}", wantErr: "would listen on 127.0.0.1:18080"},
	} {
		t.Run(tc.scenario, func(t *testing.T) { checkSection(t, tc.body, tc.wantErr, tc.check) })
	}
}
