package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/receipts"
)

func newDevCmd() *cobra.Command {
	var regions, stateDir string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Start the whole pipeline locally: embedded Kafka and ClickHouse, vendor simulator, every worker",
		Long: `Start everything on this machine, on loopback only:
  - the embedded Kafka-protocol broker (data in <state-dir>/kafka) with the topics of
    every region created explicitly,
  - the embedded ClickHouse 26.7 (data in <state-dir>/clickhouse) with the region
    databases migrated,
  - the vendor simulator standing in for every vendor,
  - the registry, fanout, sender, retry, eventsink and callbacks workers of every
    region asked; an app without a callbacks section in the configuration may
    post its callbacks over http to receivers on this machine (127.0.0.0/8, ::1),
    which production refuses,
  - a receipts worker per region on consecutive ports from receipts.addr, which
    also publishes the callback signing key on GET /callbacks/public-key, and
    checks every receipt against the demo receipt credentials of the apps,
  - an HTTP gateway per region on consecutive ports from gateway.addr (the Alibaba Cloud
    RPC API for the official SDKs, and the /v1 JSON routes), verifying a demo AccessKey of
    the first app (<state-dir>/gateway-demo-accesskey.json) when gateway.appKeys is empty,
  - the operators' web console per region on consecutive ports from console.addr
    (127.0.0.1:18300), with a demo admin whose generated password is kept in
    <state-dir>/console-demo-login.json and printed in the banner when console.accounts
    is empty,
  - /healthz, /readyz, /metrics and /debug/pprof of the whole process on healthAddr
    (127.0.0.1:18080), never on the receipts or gateway ports,
and print where to look and what to try. On a terminal the log lines are readable and
coloured, one "region R up" line per region once all its stages run (each stage's own
start is logged at debug level); piped, they are JSON (--log-format). A few demo devices of the demo app are
registered in every region. Unless security.idSecret(File) is set, the secret
delivery ids and receipt tags are derived under is <state-dir>/security/id-secret
(created with mode 0600 on the first run). Ctrl-C or SIGTERM stops everything cleanly; the next run
finds the data of this one.

When the configuration names external Kafka brokers or a ClickHouse address, those
are used instead of the embedded ones. A kafka.sasl section without brokers starts the
embedded broker with SASL required and that user; a clickhouse.username other than
default is created with clickhouse.password on the embedded ClickHouse.`,
		Example: `  pushpipe dev
  pushpipe dev --regions sg,eu --state-dir /tmp/pushpipe-demo`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if regions != "" {
				cfg.Regions = strings.Split(regions, ",")
			}
			if stateDir != "" {
				cfg.StateDir = stateDir
			}
			cfg.Vendors.Simulator = true
			cfg.AllowLocalCallbacks()
			if err := app.AddDemoKeys(cfg); err != nil {
				return err
			}
			// The id secret of delivery ids and receipt tags, kept in the
			// state folder across runs; and the receipt address MiPush,
			// OPPO and vivo calls carry: the local receipts workers.
			if err := cfg.EnsureDevIDSecret(); err != nil {
				return err
			}
			if len(cfg.Receipts.PublicURLs) == 0 {
				cfg.Receipts.PublicURLs = cfg.SimulatorReceiptURLs()
			}
			var gws devGateways
			if err := gws.addDemoKey(cfg); err != nil {
				return err
			}
			var cons devConsoles
			if err := cons.addDemoAdmin(cfg); err != nil {
				return err
			}
			if err := cfg.Validate(); err != nil {
				return fail("invalid configuration: %v", err)
			}
			ctx := cmd.Context()
			log.Info().Str("state_dir", cfg.StateDir).Strs("regions", cfg.Regions).Msg("starting embedded infrastructure (the first ClickHouse start takes a few seconds)")
			emb, err := app.StartEmbedded(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer func() {
				log.Info().Msg("stopping embedded infrastructure")
				if err := emb.Close(); err != nil {
					log.Error().Err(err).Msg("stopping embedded infrastructure")
				}
			}()
			var ep endpointFlags
			brokers, sec, err := ep.kafka(cfg)
			if err != nil {
				return err
			}
			_, chAddr := ep.resolve(cfg)
			if emb.Kafka != nil {
				brokers = []string{emb.Kafka.Addr()}
			}
			chHTTP := ""
			if emb.ClickHouse != nil {
				chAddr, chHTTP = emb.ClickHouse.NativeAddr(), emb.ClickHouse.HTTPAddr()
			}
			var rcpts []*receipts.Server
			defer func() {
				for _, s := range rcpts {
					if err := s.Close(); err != nil {
						log.Error().Err(err).Msg("stopping a receipts worker")
					}
				}
			}()
			defer gws.close(log)
			defer cons.close(log)
			return runWorkers(ctx, runOpts{
				cfg: cfg, log: log, brokers: brokers, kafkaSecurity: sec, chAddr: chAddr, regions: cfg.Regions, kinds: append(app.Kinds(), app.Scheduler),
				afterPrepare: func(ctx context.Context, p *pipeline.Producer, reg *prometheus.Registry) error {
					if err := seedDemoDevices(ctx, p, cfg); err != nil {
						return err
					}
					// The callbacks workers sign with this key; create it
					// now so the receipts workers publish its public half.
					if _, err := app.CallbackSigner(cfg); err != nil {
						return err
					}
					// The receipts workers and the gateways serve their
					// API only; their metrics go to the process's health
					// server on healthAddr.
					for i, r := range cfg.Regions {
						s, err := app.StartReceipts(ctx, app.Deps{Cfg: cfg, Brokers: brokers, KafkaSecurity: sec, Producer: p, Metrics: reg, Log: log}, r, cfg.ReceiptsAddr(i))
						if err != nil {
							return err
						}
						rcpts = append(rcpts, s)
					}
					if err := gws.start(ctx, app.Deps{Cfg: cfg, Log: log, Brokers: brokers, KafkaSecurity: sec, Producer: p, Metrics: reg}, chAddr); err != nil {
						return err
					}
					return cons.start(ctx, app.Deps{Cfg: cfg, Brokers: brokers, KafkaSecurity: sec, Producer: p, Log: log}, chAddr)
				},
				alsoReady: app.Probe(log, "gateways and consoles", gws.ready, cons.ready),
				onReady: func(health string) {
					gwAddrs, gwTry := gws.banner(cfg)
					printBanner(cmd.OutOrStdout(), cfg, brokers, chAddr, chHTTP, emb.Simulator.URL(), health, rcpts, gwAddrs+cons.banner(cfg), gwTry)
				},
			})
		},
	}
	cmd.Flags().StringVar(&regions, "regions", "", "comma-separated regions to serve (default: all five, cn,ru,in,eu,sg)")
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "directory for the embedded Kafka and ClickHouse data (default: stateDir, .pushpipe)")
	return cmd
}

// demoDevices are registered in every served region for the first
// configured app, so that the printed example works as printed.
func demoDevices(appID, workspace, region string) []schema.Binding {
	const ts = 1763856000000 // fixed, so re-seeding on every start changes nothing
	models := []string{"Redmi Note 13", "Xiaomi 14", "POCO F6"}
	out := make([]schema.Binding, 0, len(models)+8)
	for i, m := range models {
		out = append(out, schema.Binding{Op: schema.OpReport, Region: region, AppID: appID, WorkspaceID: workspace,
			DeviceID: fmt.Sprintf("demo-device-%d", i+1), Platform: schema.PlatformAndroid, Vendor: mipush.Name,
			VendorToken: fmt.Sprintf("demo-regid-%d", i+1), AppVersion: "1.0.0", Model: m, TS: ts})
	}
	// One device on each of the other channels: demo-<vendor>.
	for _, v := range registry.Vendors() {
		d := v.Demo
		if d == nil {
			continue
		}
		b := schema.Binding{Op: schema.OpReport, Region: region, AppID: appID, WorkspaceID: workspace,
			DeviceID: "demo-" + v.Name, Platform: d.Platform, AppVersion: "1.0.0", Model: d.Model, TS: ts}
		if d.SelfToken {
			b.SelfToken = d.Token
		} else {
			b.Vendor, b.VendorToken = v.Name, d.Token
		}
		out = append(out, b)
	}
	// A user with a phone number, for the SMS supplement
	// (configs/examples/sms-push.json): demo-user-1 on demo-device-1.
	out = append(out,
		schema.Binding{Op: schema.OpBind, Region: region, AppID: appID, WorkspaceID: workspace, DeviceID: "demo-device-1", UserID: demoUser, TS: ts},
		schema.Binding{Op: schema.OpSetPhone, Region: region, AppID: appID, WorkspaceID: workspace, UserID: demoUser, Phone: demoPhone, TS: ts})
	return out
}

// The demo user and phone number of the SMS supplement demo.
const (
	demoUser  = "demo-user-1"
	demoPhone = "+6591230001"
)

func seedDemoDevices(ctx context.Context, p *pipeline.Producer, cfg *config.Config) error {
	a := cfg.Apps[0]
	var outs []pipeline.Output
	for _, r := range cfg.Regions {
		for _, b := range demoDevices(a.AppID, a.WorkspaceID, r) {
			v, _ := json.Marshal(b)
			outs = append(outs, pipeline.Output{Topic: pipeline.BindingsTopic(r), Key: []byte(b.KafkaKey()), Value: v})
		}
	}
	if err := p.Produce(ctx, outs); err != nil {
		return fmt.Errorf("registering demo devices: %w", err)
	}
	return nil
}

func printBanner(w io.Writer, cfg *config.Config, brokers []string, chAddr, chHTTP, simURL, health string, rcpts []*receipts.Server, gwAddrs, gwTry string) {
	region := cfg.Regions[0]
	for _, r := range cfg.Regions {
		if r == "sg" {
			region = r
		}
	}
	db := cfg.Database(region)
	_, _ = fmt.Fprintf(w, `
pushpipe is running — regions %s, state in %s/

  Kafka broker        %s   topics push.{requests,deliveries,retry,events,bindings,control,schedules,dlq}.<region>
  ClickHouse native   %s   databases %s<region>
  ClickHouse HTTP     http://%s/
  Vendor simulator    %s   (what the vendors received: %s/admin/stats)
  Health and metrics  http://%s/healthz  /readyz  /metrics   (internal: every worker, receipts and gateway
                      of this process; their public ports answer 404 for these paths)
  Receipts            %s
                      POST /receipts/{hms,honor,harmonyos,mipush,oppo,vivo,client}, GET /callbacks/public-key
%s
Try it from another terminal (the demo app has demo-device-1..3 in every region):

  ./bin/pushpipe publish --region %s configs/examples/simple-push.json
  ./bin/pushpipe events --region %s --task demo-task-1     (the simulator also sends arrival receipts)
  ./bin/pushpipe revoke --region %s --task-id demo-task-1  (acked deliveries are recalled after recall.settle)
  ./bin/pushpipe publish --region %s configs/examples/sms-push.json   (a push and an SMS to demo-user-1, `+demoPhone+`)

  curl -s '%s/admin/requests?vendor=mipush&region=%s'
  curl -s '%s/admin/requests?vendor=sms&region=%s'         (the SendSms calls of the SMS supplement)
  curl -s 'http://%s/' --data-binary 'SELECT event, count() FROM %s.events FINAL GROUP BY event ORDER BY event'
%s
Stop with Ctrl-C.
`, strings.Join(cfg.Regions, ","), cfg.StateDir, strings.Join(brokers, ","), chAddr, cfg.ClickHouse.DatabasePrefix,
		orDash(chHTTP), simURL, simURL, health, receiptsLine(cfg.Regions, rcpts), gwAddrs, region, region, region, region, simURL, region, simURL, region, orDash(chHTTP), db, gwTry)
}

// receiptsLine lists the receipts worker of each region: "sg http://...".
func receiptsLine(regions []string, rcpts []*receipts.Server) string {
	parts := make([]string, 0, len(rcpts))
	for i, s := range rcpts {
		parts = append(parts, regions[i]+" "+s.URL())
	}
	return orDash(strings.Join(parts, "  "))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
