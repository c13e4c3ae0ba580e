package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/gateway"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// demoAccessKeyFile is where `pushpipe dev` keeps the demo app's
// AccessKey, under the state directory.
const demoAccessKeyFile = "gateway-demo-accesskey.json"

func newGatewayCmd() *cobra.Command {
	var region, addr, internalAddr string
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the HTTP gateway for one region: the mPaaS push API for the Alibaba Cloud SDKs and as JSON, signed with AccessKeys (→ push.requests.R, push.control.R, push.bindings.R)",
		Long: `Run the HTTP gateway of one region: the mPaaS server and client APIs in two protocols.

  - The Alibaba Cloud RPC API at "/", Version 2020-10-28: the official Alibaba Cloud SDKs
    (the Go SDK's services/mpaas package: PushSimpleRequest, ...) work against it unchanged
    once their endpoint is the gateway. Actions: PushSimple, PushTemplate, PushMultiple,
    PushBroadcast, RevokePushMessage, RevokePushTask, QueryPushAnalysisCoreIndex,
    QueryPushAnalysisTaskList, QueryPushAnalysisTaskDetail, QueryPushSchedulerList (and
    QueryMpsSchedulerList), CancelPushScheduler, PushBind, PushUnBind, PushReport.
  - pushpipe's JSON routes (POST): /v1/push/{simple,template,multiple,broadcast},
    /v1/push/revoke/{message,task}, /v1/stats, /v1/stats/funnel, /v1/tasks,
    /v1/tasks/{taskId}, /v1/schedules, /v1/schedules/cancel, /v1/templates/{create,list,delete},
    /v1/client/{bind,unbind,report}, /v1/client/liveactivity/{bind,unbind},
    /v1/devices/status, /v1/tags/{add,remove,list,users};
    GET /openapi.yaml (the full description).

/healthz, /readyz (ClickHouse reachable; the reason of a failure goes to the log),
/metrics and /debug/pprof are served on the internal address only (--internal-addr,
gateway.internalAddr, else healthAddr 127.0.0.1:18080), never on the public one, which
answers 404 for them.

Pushes are validated synchronously (the result codes fanout would give, templates
included) and answered once Kafka acknowledged them; revokes go to push.control.<region>,
client bind/unbind/report to push.bindings.<region>; statistics, tasks and templates are
read from the region's ClickHouse database. A request naming another region is refused.

Both protocols are signed with an AccessKey of the app (gateway.appKeys[].accessKeys):
HMAC-SHA1 over the sorted parameters, the Alibaba Cloud RPC signature; a /v1 request signs
its query (AccessKeyId, SignatureMethod, SignatureVersion, SignatureNonce, Timestamp) and
the SHA-256 of its body. A Timestamp more than gateway.maxClockSkew (5m) off and a nonce
used again within that window are refused. 'pushpipe gateway keygen' makes an AccessKey
and 'pushpipe gateway sign' the signed query string for curl.

Each app has a token bucket in this process (gateway.rateLimit, default 100 calls a
second and 200 at once; gateway.appKeys[].rateLimit per app): a call beyond it gets HTTP
429 with Retry-After, Throttling.User in the RPC API, 9000 in the /v1 routes, and counts
in pushpipe_gateway_throttled_total{app}. The bucket is per replica: N replicas let an
app make N times as many calls.`,
		Example: `  pushpipe gateway --region sg --addr 0.0.0.0:8000 --internal-addr 0.0.0.0:8080 --brokers kafka-1:9092 --clickhouse ch-1:9000 --config prod.yaml
  curl -s http://127.0.0.1:8000/openapi.yaml
  curl -s http://127.0.0.1:8080/readyz`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadRegionConfig(cmd, region)
			if err != nil {
				return err
			}
			setRegionAddr(&cfg.Gateway.Addrs, region, addr)
			if internalAddr != "" {
				cfg.Gateway.InternalAddr = internalAddr
			}
			if err := cfg.Validate(); err != nil {
				return fail("invalid configuration: %v", err)
			}
			if len(cfg.Gateway.AppKeys) == 0 {
				return fail("gateway.appKeys is empty: no request could be verified; add an AccessKey for each calling app (pushpipe gateway keygen makes one)")
			}
			return serveRegion(cmd, cfg, log, ep, "gateway", cfg.GatewayInternalAddr(), func(ctx context.Context, d app.Deps) (regionServer, error) {
				return startGateway(ctx, d, region)
			})
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "region to serve: cn, ru, in, eu or sg (required)")
	cmd.Flags().StringVar(&addr, "addr", "", "public listen address of the API (default: gateway.addrs.<region>, else gateway.addr, 127.0.0.1:18200)")
	cmd.Flags().StringVar(&internalAddr, "internal-addr", "", "listen address of /healthz, /readyz, /metrics and /debug/pprof (default: gateway.internalAddr, else healthAddr, 127.0.0.1:18080)")
	ep.register(cmd)
	_ = cmd.MarkFlagRequired("region")
	cmd.AddCommand(newGatewaySignCmd(), newGatewayKeygenCmd())
	return cmd
}

// startGateway starts the gateway of one region on cfg.GatewayAddr(region)
// until ctx ends or it is closed.
func startGateway(ctx context.Context, d app.Deps, region string) (*gateway.Server, error) {
	gc, err := app.GatewayConfig(d, region, d.Cfg.GatewayAddr(region))
	if err != nil {
		return nil, fail("invalid configuration: %v", err)
	}
	srv, err := gateway.New(gc)
	if err != nil {
		return nil, fmt.Errorf("building the gateway of region %s: %w", region, err)
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

// devGateways are the gateways `pushpipe dev` runs, one per region, and
// the demo AccessKey they verify.
type devGateways struct {
	keyPath string // the demo AccessKey file, when dev made or reused one
	key     gateway.AccessKey
	conn    driver.Conn
	servers []*gateway.Server
}

// addDemoKey gives the first app an AccessKey when none is configured: it
// is kept in <stateDir>/gateway-demo-accesskey.json (created once, reused
// by later runs) and configured for the app.
func (g *devGateways) addDemoKey(cfg *config.Config) error {
	if len(cfg.Gateway.AppKeys) > 0 || len(cfg.Apps) == 0 {
		return nil
	}
	path := filepath.Join(cfg.StateDir, demoAccessKeyFile)
	key, err := gateway.ReadAccessKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if key, err = gateway.GenerateAccessKey(); err != nil {
			return err
		}
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			return fmt.Errorf("creating the state directory: %w", err)
		}
		if err := gateway.WriteAccessKeyFile(path, key); err != nil {
			return err
		}
	} else if err != nil {
		return fmt.Errorf("%w (delete it to get a new demo AccessKey)", err)
	}
	cfg.Gateway.AppKeys = []config.GatewayAppKey{{AppID: cfg.Apps[0].AppID,
		AccessKeys: []config.GatewayAccessKey{{AccessKeyID: key.ID, AccessKeySecret: key.Secret}}}}
	g.keyPath, g.key = path, key
	return nil
}

// start starts a gateway per region of cfg.
func (g *devGateways) start(ctx context.Context, d app.Deps, chAddr string) error {
	if len(d.Cfg.Gateway.AppKeys) == 0 {
		return nil
	}
	conn, err := app.OpenClickHouse(ctx, d.Cfg.ClickHouse, chAddr)
	if err != nil {
		return err
	}
	g.conn, d.CH = conn, conn
	for _, r := range d.Cfg.Regions {
		s, err := startGateway(ctx, d, r)
		if err != nil {
			return err
		}
		g.servers = append(g.servers, s)
	}
	return nil
}

// ready reports an error while a gateway cannot serve its queries (see
// gateway.Server.Ready); nil when none runs.
func (g *devGateways) ready(ctx context.Context) error {
	for _, s := range g.servers {
		if err := s.Ready(ctx); err != nil {
			return err
		}
	}
	return nil
}

// close stops the gateways and their ClickHouse connection.
func (g *devGateways) close(log zerolog.Logger) {
	for _, s := range g.servers {
		if err := s.Close(); err != nil {
			log.Error().Err(err).Msg("stopping a gateway")
		}
	}
	if g.conn != nil {
		_ = g.conn.Close()
	}
}

// banner prints the gateways' addresses and how to call them: the
// official Alibaba Cloud SDK's settings and a signed curl of a /v1 route.
func (g *devGateways) banner(cfg *config.Config) (addrs, try string) {
	if len(g.servers) == 0 {
		return "", ""
	}
	parts := make([]string, len(g.servers))
	for i, s := range g.servers {
		parts[i] = cfg.Regions[i] + " " + s.URL()
	}
	keyFile := "an AccessKey file of gateway.appKeys (pushpipe gateway keygen --out)"
	if g.keyPath != "" {
		keyFile = g.keyPath
	}
	srv, region := g.servers[len(g.servers)-1], cfg.Regions[len(g.servers)-1]
	for i, r := range cfg.Regions {
		if r == "sg" {
			srv, region = g.servers[i], r
		}
	}
	addrs = fmt.Sprintf(`  HTTP gateway        %s
                      Alibaba Cloud RPC API at / (Version %s), JSON routes POST /v1/... (GET /openapi.yaml)
`, strings.Join(parts, "  "), gateway.RPCVersion)
	if g.keyPath != "" {
		addrs += fmt.Sprintf(`  Alibaba Cloud SDK   endpoint (client.Domain) %s, scheme HTTP, region %q (each region's gateway: its own)
                      AccessKeyId %s, AccessKeySecret %s (in %s)
`, srv.Addr(), region, g.key.ID, g.key.Secret.Reveal(), keyFile)
	}
	ak, sk := "<AccessKeyId>", "<AccessKeySecret>"
	if g.keyPath != "" {
		ak, sk = g.key.ID, g.key.Secret.Reveal()
	}
	try = fmt.Sprintf(`
  # the official Alibaba Cloud Go SDK (services/mpaas) against the gateway:
  MPAAS_AK_ENV=%s MPAAS_SK_ENV=%s PUSHPIPE_GATEWAY=%s PUSHPIPE_REGION=%s go run ./configs/examples/aliyun-sdk
  # a /v1 JSON route with curl:
  curl -s "%s/v1/push/simple?$(./bin/pushpipe gateway sign --key %s --path /v1/push/simple --body configs/examples/simple-push.json)" \
    -H Content-Type:application/json --data-binary @configs/examples/simple-push.json
`, ak, sk, srv.Addr(), region, srv.URL(), keyFile)
	return addrs, try
}

func newGatewaySignCmd() *cobra.Command {
	var keyPath, path, bodyPath, format string
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign a request body for a /v1 route of the gateway and print the signed query string (or JSON)",
		Long: `Sign a POST of a body to a /v1 route as the gateway verifies it, with the AccessKey of the
file --key: the Alibaba Cloud RPC signature (HMAC-SHA1 of the secret and "&") over "POST",
the route's path and the sorted parameters AccessKeyId, SignatureMethod HMAC-SHA1,
SignatureVersion 1.0, a fresh SignatureNonce, Timestamp (now, UTC) and BodySHA256, the
SHA-256 of the body (not sent). Prints the query string to append to the route
(?AccessKeyId=...&Signature=...), or with --format json its parameters as a JSON object.
It is good for one request within 5 minutes; send the body byte for byte as signed
(curl --data-binary @FILE). The RPC API at "/" is signed by the Alibaba Cloud SDKs.`,
		Example: `  curl -s "http://127.0.0.1:18204/v1/push/simple?$(pushpipe gateway sign --key .pushpipe/` + demoAccessKeyFile + ` --path /v1/push/simple --body req.json)" \
    -H Content-Type:application/json --data-binary @req.json
  pushpipe gateway sign --key ak.json --path /v1/stats --body - --format json < query.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := gateway.ReadAccessKeyFile(keyPath)
			if err != nil {
				return fail("--key: %v", err)
			}
			if !strings.HasPrefix(path, "/v1/") {
				return fail("--path %q: give the /v1 route the body is posted to, e.g. /v1/push/simple", path)
			}
			var body []byte
			if bodyPath == "-" {
				body, err = io.ReadAll(cmd.InOrStdin())
			} else {
				body, err = os.ReadFile(bodyPath)
			}
			if err != nil {
				return fail("--body: %v", err)
			}
			query := gateway.JSONRouteQuery(path, key, body, time.Now())
			switch format {
			case "json":
				q, _ := url.ParseQuery(query)
				params := map[string]string{}
				for k := range q {
					params[k] = q.Get(k)
				}
				return printJSON(cmd, params)
			case "query":
				_, _ = fmt.Fprintln(cmd.OutOrStdout(), query)
				return nil
			}
			return fail("--format %q: use query or json", format)
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "the AccessKey file, {\"accessKeyId\":...,\"accessKeySecret\":...} (required; pushpipe dev: .pushpipe/"+demoAccessKeyFile+")")
	cmd.Flags().StringVar(&path, "path", "", "the /v1 route the body is posted to, e.g. /v1/push/simple (required)")
	cmd.Flags().StringVar(&bodyPath, "body", "-", "file holding the exact request body, or - for stdin")
	cmd.Flags().StringVar(&format, "format", "query", "output: query (the query string) or json")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("path")
	return cmd
}

func newGatewayKeygenCmd() *cobra.Command {
	var out, appID string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create an AccessKey (id and secret) for calling the gateway: its configuration entry to stdout, the key to a file",
		Long: `Create an AccessKey pair: an id (PPAK and 20 letters and digits) and a 30-character
secret. Prints the gateway.appKeys entry that lets it act on the app (--app, default the
first configured app), secret included: the gateway verifies HMAC signatures, so it holds
the secret too. Keep the secret in your secret store; in the configuration it may also be
a file (accessKeySecretFile). With --out, the pair is also written to that file (mode
0600, never overwritten) for 'pushpipe gateway sign' and 'pushpipe send --gateway'. The
Alibaba Cloud SDKs take the id and secret as the AccessKeyId and AccessKeySecret. To
rotate a key, list the new one beside the old one, move the callers, remove the old one.`,
		Example: `  pushpipe gateway keygen --app ONEX570DA89211721 --out ak.json >> gateway-keys.yaml`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if appID == "" {
				cfg, _, err := loadConfig(cmd)
				if err != nil {
					return err
				}
				appID = cfg.Apps[0].AppID
			}
			key, err := gateway.GenerateAccessKey()
			if err != nil {
				return err
			}
			if out != "" {
				if err := gateway.WriteAccessKeyFile(out, key); err != nil {
					return fail("--out: %v (an existing file is never overwritten)", err)
				}
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), `# gateway.appKeys entry: AccessKey %s acts on app %s
- appId: %s
  accessKeys:
    - accessKeyId: %s
      accessKeySecret: %s
`, key.ID, appID, appID, key.ID, key.Secret.Reveal())
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "also write the AccessKey to this file, for gateway sign and send --gateway (never overwritten)")
	cmd.Flags().StringVar(&appID, "app", "", "the app the key acts on (default: the first configured app)")
	return cmd
}

// loadRegionConfig loads the configuration of a command that serves one
// region: --region must name one, and the configuration's regions become
// just it.
func loadRegionConfig(cmd *cobra.Command, region string) (*config.Config, zerolog.Logger, error) {
	cfg, log, err := loadConfig(cmd)
	if err != nil {
		return nil, log, err
	}
	if !schema.ValidRegion(region) {
		return nil, log, fail("--region %q: use one of %s", region, strings.Join(schema.Regions(), ", "))
	}
	cfg.Regions = []string{region}
	return cfg, log, nil
}

// setRegionAddr sets (*addrs)[region] to addr (an --addr flag) unless
// addr is empty.
func setRegionAddr(addrs *map[string]string, region, addr string) {
	if addr == "" {
		return
	}
	if *addrs == nil {
		*addrs = map[string]string{}
	}
	(*addrs)[region] = addr
}

// regionServer is a public HTTP server of one region: the gateway, the
// console.
type regionServer interface {
	Addr() string
	Ready(ctx context.Context) error
	Close() error
}

// serveRegion runs the public server of one region until the command's
// context ends: it connects to Kafka (a producer) and ClickHouse, prepares
// the region's topics and database, starts the server with start, and
// serves /healthz, /readyz (the server's Ready) and /metrics on
// internalAddr. cfg must have been validated.
func serveRegion(cmd *cobra.Command, cfg *config.Config, log zerolog.Logger, ep endpointFlags, name, internalAddr string,
	start func(ctx context.Context, d app.Deps) (regionServer, error)) error {
	brokers, sec, err := ep.kafka(cfg)
	if err != nil {
		return err
	}
	_, chAddr := ep.resolve(cfg)
	ctx := cmd.Context()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Security: sec, Compression: cfg.Kafka.Compression, Logger: log})
	if err != nil {
		return err
	}
	defer func() { _ = p.Close() }()
	conn, err := app.OpenClickHouse(ctx, cfg.ClickHouse, chAddr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	d := app.Deps{Cfg: cfg, Brokers: brokers, KafkaSecurity: sec, CH: conn, Producer: p, Metrics: reg, Log: log}
	prepCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = app.Prepare(prepCtx, d, cfg.Regions)
	cancel()
	if err != nil {
		return err
	}
	srv, err := start(ctx, d)
	if err != nil {
		return err
	}
	internal := pipeline.NewHealthServer(internalAddr, reg, app.Probe(log, name, srv.Ready))
	if err := internal.Start(ctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("starting the internal health and metrics server: %w", err)
	}
	log.Info().Str("addr", srv.Addr()).Str("internal_addr", internal.Addr()).Msg(name + " serving; health, readiness and metrics on the internal address")
	<-ctx.Done()
	return errors.Join(srv.Close(), internal.Close())
}
