package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/console"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
)

// demoLoginFile is where `pushpipe dev` keeps the console's demo admin
// login, under the state directory.
const demoLoginFile = "console-demo-login.json"

func newConsoleCmd() *cobra.Command {
	var region, addr, internalAddr string
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   "console",
		Short: "Run the operators' web console for one region: overview, tasks, funnels, timelines, revoke, a composer with a per-channel preview, investigation, templates, schedules, tags, dead letters",
		Long: `Run the operators' web console of one region, a website served by pushpipe itself: every
page, stylesheet and chart is in the binary (charts are inline SVG), so it works offline.

Pages (after logging in):
  /apps/<appId>/overview   pushed, succeeded, arrived, opened, ignored and their rates over a
                           range (last hour, day, 7 or 30 days, or from – to in UTC), a trend
                           chart by minute, hour or day, filters by channel, platform, push type
                           and app version
  /apps/<appId>/tasks      the tasks that started in a range, newest first, filtered by task
                           id, name and app version, a page at a time
  /apps/<appId>/tasks/<id> a task's figures, its funnel chart (planned, invalid device,
                           filtered, valid, accepted by the vendor, arrived, opened), its
                           timeline (events per type by second, minute or longer periods as
                           its span needs, chart and table, totals equal to the funnel), its
                           figures per channel, and a revoke button for operators and admins
  /apps/<appId>/compose    operators and admins send a test push (SIMPLE, TEMPLATE or
                           MULTIPLE) to device ids, user ids or aliases, checked and published
                           as /v1/push/<type> does (refused with its result code and words);
                           Preview sends nothing: it runs fanout's own handler on the push
                           against the device registry and shows, per device and channel, the
                           channel's content limits and what would be sent, filtered (code and
                           reason; nothing is truncated) or found invalid
  /apps/<appId>/investigate a device id or user id: its registered devices, tokens and
                           whether they are valid, and the 50 newest messages planned to it
                           in a range (it says how many more), each with its events (time,
                           channel, attempt, status) and where it stopped and why, or "still
                           in flight"; every role may investigate
  /apps/<appId>/templates  the app's templates (as /v1/templates/list); operators and admins
                           create and delete them as /v1/templates/create|delete, refused
                           with the same result code and words
  /apps/<appId>/schedules  the occurrences of scheduled and loop pushes with their status (as
                           /v1/schedules, read from push.schedules.<region>); operators and
                           admins cancel one occurrence or a whole schedule
  /apps/<appId>/tags       a user's tags (as /v1/tags/list) and a tag's users, a page at a
                           time (as /v1/tags/users)
  /apps/<appId>/deadletters the app's newest records of push.dlq.<region> (500 read per
                           partition, 100 shown), newest first, with reason, result code,
                           stage and source; an admin fixes a record's JSON and sends it back
                           to the topic it came from once it passes that stage's decoder
                           (refused with its result code otherwise); the resend is logged
The figures are read with the functions of the gateway's /v1/stats, /v1/tasks,
/v1/tasks/{taskId} and /v1/devices/status, so they equal the API's answers for the same
query; a revoke takes the path of /v1/push/revoke/task (a control record on
push.control.<region>). The schedules and dead-letter pages read the region's Kafka
(--brokers, kafka security settings).

Accounts come from console.accounts: a name, the bcrypt hash of the password ('pushpipe
console hash-password' makes it), a role (viewer reads; operator also revokes, sends test pushes
from the composer, creates and deletes templates and cancels schedules; admin also sends
dead letters back) and the apps
it may see ("*" for all; other apps' pages are refused). A login starts a session
(console.sessionTtl, default 12h) in an HttpOnly, SameSite=Strict cookie; every form carries
a CSRF token and a POST without it is refused (403). A failed login does not say whether
the name or the password was wrong. The console listens on loopback unless
console.secureCookies is set, for a proxy in front of it that terminates TLS.

/healthz, /readyz (ClickHouse reachable) and /metrics are served on the internal address
only (--internal-addr, console.internalAddr, else healthAddr 127.0.0.1:18080).
'pushpipe dev' starts a console per region on consecutive ports from console.addr
(127.0.0.1:18300) with a demo admin when console.accounts is empty.`,
		Example: `  pushpipe console hash-password < password.txt     # the passwordHash of an account
  pushpipe console --region sg --config prod.yaml
  pushpipe console --region sg --addr 127.0.0.1:9300 --internal-addr 127.0.0.1:9301 --brokers kafka-1:9092 --clickhouse ch-1:9000`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadRegionConfig(cmd, region)
			if err != nil {
				return err
			}
			setRegionAddr(&cfg.Console.Addrs, region, addr)
			if internalAddr != "" {
				cfg.Console.InternalAddr = internalAddr
			}
			if err := cfg.Validate(); err != nil {
				return fail("invalid configuration: %v", err)
			}
			if len(cfg.Console.Accounts) == 0 {
				return fail("console.accounts is empty: nobody could log in; add an account (pushpipe console hash-password makes its passwordHash)")
			}
			return serveRegion(cmd, cfg, log, ep, "console", cfg.ConsoleInternalAddr(), func(ctx context.Context, d app.Deps) (regionServer, error) {
				return startConsole(ctx, d, region)
			})
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "region to show: cn, ru, in, eu or sg (required)")
	cmd.Flags().StringVar(&addr, "addr", "", "listen address of the console (default: console.addrs.<region>, else console.addr, 127.0.0.1:18300)")
	cmd.Flags().StringVar(&internalAddr, "internal-addr", "", "listen address of /healthz, /readyz and /metrics (default: console.internalAddr, else healthAddr, 127.0.0.1:18080)")
	ep.register(cmd)
	_ = cmd.MarkFlagRequired("region")
	cmd.AddCommand(newHashPasswordCmd())
	return cmd
}

// startConsole starts the console of one region on cfg.ConsoleAddr(region)
// until ctx ends or it is closed.
func startConsole(ctx context.Context, d app.Deps, region string) (*console.Server, error) {
	cc, err := consoleConfig(d, region, d.Cfg.ConsoleAddr(region))
	if err != nil {
		return nil, fail("invalid configuration: %v", err)
	}
	srv, err := console.New(cc)
	if err != nil {
		return nil, fail("invalid configuration: %v", err)
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

// consoleConfig is app.ConsoleConfig with the Kafka the schedules and
// dead-letter pages read (d's brokers and their security) and the
// scheduler's time zone.
func consoleConfig(d app.Deps, region, addr string) (console.Config, error) {
	cc := app.ConsoleConfig(d, region, addr)
	loc, err := d.Cfg.Scheduler.Location()
	if err != nil {
		return cc, fmt.Errorf("console of region %s: %w", region, err)
	}
	cc.Brokers, cc.KafkaSecurity, cc.Location = d.Brokers, d.KafkaSecurity, loc
	return cc, nil
}

func newHashPasswordCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "hash-password",
		Short: "Read a password on stdin and print its bcrypt hash for console.accounts[].passwordHash",
		Long: `Read one password from standard input (its first line; the line break is not part of
it) and print its bcrypt hash, the passwordHash of an account under console.accounts. The
password is never printed and never taken as an argument, so it stays out of the shell's
history and the process list. A password has 8 to 72 bytes (bcrypt reads no more).`,
		Example: `  pushpipe console hash-password < password.txt
  read -rs PW; printf '%s\n' "$PW" | pushpipe console hash-password`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			line, err := bufio.NewReader(io.LimitReader(cmd.InOrStdin(), 4096)).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("reading the password from stdin: %w", err)
			}
			h, err := console.HashPassword(strings.TrimRight(line, "\r\n"))
			if err != nil {
				return fail("%v", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), h)
			return err
		},
	}
}

// demoLogin is the console's demo admin of `pushpipe dev`.
type demoLogin struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

// devConsoles are the consoles `pushpipe dev` runs, one per region, and
// its demo login.
type devConsoles struct {
	login   *demoLogin // the demo admin, when dev made or reused one
	path    string
	conn    driver.Conn
	servers []*console.Server
}

// addDemoAdmin gives the console an admin of every app when no account
// is configured: its generated password is kept in
// <stateDir>/console-demo-login.json (mode 0600, created once, reused by
// later runs) and printed in the banner.
func (c *devConsoles) addDemoAdmin(cfg *config.Config) error {
	if len(cfg.Console.Accounts) > 0 {
		return nil
	}
	path := filepath.Join(cfg.StateDir, demoLoginFile)
	var l demoLogin
	b, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		l = demoLogin{Name: "admin", Password: console.GeneratePassword()}
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			return fmt.Errorf("creating the state directory: %w", err)
		}
		b, _ = json.Marshal(l)
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			return fmt.Errorf("writing the console's demo login: %w", err)
		}
	case err != nil:
		return fmt.Errorf("reading the console's demo login: %w", err)
	default:
		if err := json.Unmarshal(b, &l); err != nil || l.Name == "" || l.Password == "" {
			return fmt.Errorf("%s is not a demo login {\"name\":...,\"password\":...} (delete it to get a new one)", path)
		}
	}
	h, err := console.HashPassword(l.Password)
	if err != nil {
		return fmt.Errorf("%s: %w (delete it to get a new one)", path, err)
	}
	cfg.Console.Accounts = []config.ConsoleAccount{{Name: l.Name, PasswordHash: channels.Secret(h), Role: string(console.RoleAdmin), Apps: []string{console.AllApps}}}
	c.login, c.path = &l, path
	return nil
}

// start starts a console per region of d.Cfg, reading the ClickHouse at
// chAddr.
func (c *devConsoles) start(ctx context.Context, d app.Deps, chAddr string) error {
	conn, err := app.OpenClickHouse(ctx, d.Cfg.ClickHouse, chAddr)
	if err != nil {
		return err
	}
	c.conn, d.CH = conn, conn
	for _, r := range d.Cfg.Regions {
		s, err := startConsole(ctx, d, r)
		if err != nil {
			return err
		}
		c.servers = append(c.servers, s)
	}
	return nil
}

// ready reports an error while a console cannot show its pages.
func (c *devConsoles) ready(ctx context.Context) error {
	for _, s := range c.servers {
		if err := s.Ready(ctx); err != nil {
			return err
		}
	}
	return nil
}

// close stops the consoles and their ClickHouse connection.
func (c *devConsoles) close(log zerolog.Logger) {
	for _, s := range c.servers {
		if err := s.Close(); err != nil {
			log.Error().Err(err).Msg("stopping a console")
		}
	}
	if c.conn != nil {
		_ = c.conn.Close()
	}
}

// banner is the consoles' lines of the banner: the URL of the sg console
// (else the first), every region's, and the login.
func (c *devConsoles) banner(cfg *config.Config) string {
	if len(c.servers) == 0 {
		return ""
	}
	main, parts := c.servers[0], make([]string, len(c.servers))
	for i, s := range c.servers {
		parts[i] = cfg.Regions[i] + " " + s.URL()
		if cfg.Regions[i] == "sg" {
			main = s
		}
	}
	login := "an account of console.accounts"
	if c.login != nil {
		login = fmt.Sprintf("%s / %s   (demo admin, kept in %s)", c.login.Name, c.login.Password, c.path)
	}
	return fmt.Sprintf(`  Console             %s   log in as %s
                      every region: %s
`, main.URL(), login, strings.Join(parts, "  "))
}
