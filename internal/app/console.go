package app

import (
	"github.com/pushpipe/pushpipe/console"
)

// ConsoleConfig returns the configuration of the console of region as
// `pushpipe console` and `pushpipe dev` run it, listening on addr: every
// configured app, the accounts of console.accounts, the session and failed-login settings,
// and d's producer, ClickHouse (d.CH) and logger. Health, readiness and
// metrics are not the console's: serve them on the internal address (see
// Probe).
func ConsoleConfig(d Deps, region, addr string) console.Config {
	apps := make([]console.App, len(d.Cfg.Apps))
	for i, a := range d.Cfg.Apps {
		apps[i] = console.App{AppID: a.AppID, WorkspaceID: a.WorkspaceID, Approval: a.Approval.Policy()}
	}
	cc := d.Cfg.Console
	return console.Config{Region: region, Addr: addr, Apps: apps, Accounts: d.Cfg.ConsoleAccounts(), ClickHouse: d.CH, Database: d.Cfg.Database(region),
		Producer: d.Producer, SessionTTL: cc.SessionTTL, MaxSessions: cc.MaxSessions, SecureCookies: cc.SecureCookies,
		LoginFailures: cc.LoginFailures, LoginFailureEvery: cc.LoginFailureEvery, Logger: d.Log}
}
