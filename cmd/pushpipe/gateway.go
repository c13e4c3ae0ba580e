package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
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

// demoGatewayKeyFile is where `pushpipe dev` keeps the demo app's private
// gateway key, under the state directory.
const demoGatewayKeyFile = "gateway-demo-key.pem"

func newGatewayCmd() *cobra.Command {
	var region, addr string
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the HTTP gateway for one region: the mPaaS push API over signed requests (→ push.requests.R, push.control.R, push.bindings.R)",
		Long: `Run the HTTP gateway of one region: the mPaaS server API and client APIs as signed JSON
POST requests. Pushes are validated synchronously (the result codes fanout would give,
templates included) and answered once Kafka acknowledged them; revokes go to
push.control.<region>, client bind/unbind/report to push.bindings.<region>; statistics,
tasks and templates are read from the region's ClickHouse database. A request naming
another region is refused (3028).

Routes (POST): /v1/push/{simple,template,multiple,broadcast}, /v1/push/revoke/{message,task},
/v1/stats, /v1/stats/funnel, /v1/tasks, /v1/tasks/{taskId}, /v1/schedules,
/v1/schedules/cancel, /v1/templates/{create,list,delete}, /v1/client/{bind,unbind,report};
GET /openapi.yaml (the full description), /healthz, /readyz, /metrics.

Every /v1 request is signed with the app's RSA private key: SHA256withRSA over
"<unix ms>\n<body>", base64 with '+' → '-' and '/' → '_', sent in X-Pushpipe-Sign with
X-Pushpipe-App-Id and X-Pushpipe-Timestamp (at most 5 minutes off). The public keys are
configured under gateway.appKeys; 'pushpipe gateway keygen' makes a key pair and
'pushpipe gateway sign' the headers for curl.`,
		Example: `  pushpipe gateway --region sg --addr 127.0.0.1:18200 --brokers kafka-1:9092 --clickhouse ch-1:9000 --config prod.yaml
  curl -s http://127.0.0.1:18200/openapi.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if !schema.ValidRegion(region) {
				return fail("--region %q: use one of %s", region, strings.Join(schema.Regions(), ", "))
			}
			cfg.Regions = []string{region}
			if addr != "" {
				if cfg.Gateway.Addrs == nil {
					cfg.Gateway.Addrs = map[string]string{}
				}
				cfg.Gateway.Addrs[region] = addr
			}
			if err := cfg.Validate(); err != nil {
				return fail("invalid configuration: %v", err)
			}
			if len(cfg.Gateway.AppKeys) == 0 {
				return fail("gateway.appKeys is empty: no request could be verified; add the public key of each calling app (pushpipe gateway keygen makes a pair)")
			}
			brokers, sec, err := ep.kafka(cfg)
			if err != nil {
				return err
			}
			_, chAddr := ep.resolve(cfg)
			ctx := cmd.Context()
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Security: sec, Logger: log})
			if err != nil {
				return err
			}
			defer p.Close()
			conn, err := app.OpenClickHouse(ctx, cfg.ClickHouse, chAddr)
			if err != nil {
				return err
			}
			defer conn.Close()
			prepCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err = app.Prepare(prepCtx, app.Deps{Cfg: cfg, Brokers: brokers, KafkaSecurity: sec, CH: conn, Producer: p, Metrics: reg, Log: log}, cfg.Regions)
			cancel()
			if err != nil {
				return err
			}
			srv, err := startGateway(ctx, gatewayDeps{cfg: cfg, log: log, brokers: brokers, kafkaSecurity: sec, conn: conn, producer: p, metrics: reg}, region)
			if err != nil {
				return err
			}
			<-ctx.Done()
			return srv.Close()
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "region to serve: cn, ru, in, eu or sg (required)")
	cmd.Flags().StringVar(&addr, "addr", "", "listen address (default: gateway.addrs.<region>, else gateway.addr, 127.0.0.1:18200)")
	ep.register(cmd)
	_ = cmd.MarkFlagRequired("region")
	cmd.AddCommand(newGatewaySignCmd(), newGatewayKeygenCmd())
	return cmd
}

// gatewayDeps are what a gateway of this process shares with the rest.
type gatewayDeps struct {
	cfg           *config.Config
	log           zerolog.Logger
	brokers       []string
	kafkaSecurity pipeline.KafkaSecurity
	conn          driver.Conn
	producer      *pipeline.Producer
	metrics       *prometheus.Registry
}

// startGateway starts the gateway of one region on cfg.GatewayAddr(region)
// until ctx ends or it is closed.
func startGateway(ctx context.Context, d gatewayDeps, region string) (*gateway.Server, error) {
	apps, err := d.cfg.GatewayApps()
	if err != nil {
		return nil, fail("invalid configuration: %v", err)
	}
	loc, err := d.cfg.Scheduler.Location()
	if err != nil {
		return nil, fail("invalid configuration: %v", err)
	}
	srv, err := gateway.New(gateway.Config{Region: region, Addr: d.cfg.GatewayAddr(region), Apps: apps, Producer: d.producer,
		Brokers: d.brokers, KafkaSecurity: d.kafkaSecurity, ClickHouse: d.conn, Database: d.cfg.Database(region), Location: loc,
		MaxBodyBytes: d.cfg.Gateway.MaxBodyBytes, MaxClockSkew: d.cfg.Gateway.MaxClockSkew,
		Metrics: d.metrics, Gatherer: d.metrics, Logger: d.log})
	if err != nil {
		return nil, fmt.Errorf("building the gateway of region %s: %w", region, err)
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

// devGateways are the gateways `pushpipe dev` runs, one per region, and
// the demo key they verify.
type devGateways struct {
	keyPath string // the demo private key, when dev made or reused one
	conn    driver.Conn
	servers []*gateway.Server
}

// addDemoKey gives the first app a gateway key when none is configured:
// the private key is kept in <stateDir>/gateway-demo-key.pem (created once,
// reused by later runs) and its public half configured for the app.
func (g *devGateways) addDemoKey(cfg *config.Config) error {
	if len(cfg.Gateway.AppKeys) > 0 || len(cfg.Apps) == 0 {
		return nil
	}
	path := filepath.Join(cfg.StateDir, demoGatewayKeyFile)
	privPEM, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if privPEM, _, err = gateway.GenerateKey(); err != nil {
			return err
		}
		if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
			return fmt.Errorf("creating the state directory: %w", err)
		}
		if err := os.WriteFile(path, privPEM, 0o600); err != nil {
			return fmt.Errorf("writing the demo gateway key: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("reading the demo gateway key: %w", err)
	}
	pubPEM, err := publicPEM(privPEM)
	if err != nil {
		return fmt.Errorf("%s: %w (delete it to get a new demo key)", path, err)
	}
	cfg.Gateway.AppKeys = []config.GatewayAppKey{{AppID: cfg.Apps[0].AppID, PublicKey: string(pubPEM)}}
	g.keyPath = path
	return nil
}

// publicPEM returns the PKIX PEM of the public half of a private key PEM.
func publicPEM(privPEM []byte) ([]byte, error) {
	k, err := gateway.ParsePrivateKey(privPEM)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("encoding the public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// start starts a gateway per region of cfg.
func (g *devGateways) start(ctx context.Context, d gatewayDeps, chAddr string) error {
	if len(d.cfg.Gateway.AppKeys) == 0 {
		return nil
	}
	conn, err := app.OpenClickHouse(ctx, d.cfg.ClickHouse, chAddr)
	if err != nil {
		return err
	}
	g.conn, d.conn = conn, conn
	for _, r := range d.cfg.Regions {
		s, err := startGateway(ctx, d, r)
		if err != nil {
			return err
		}
		g.servers = append(g.servers, s)
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
		g.conn.Close()
	}
}

// banner prints the gateways' addresses and how to call them.
func (g *devGateways) banner(cfg *config.Config) (addrs, try string) {
	if len(g.servers) == 0 {
		return "", ""
	}
	parts := make([]string, len(g.servers))
	for i, s := range g.servers {
		parts[i] = cfg.Regions[i] + " " + s.URL()
	}
	key := "the private key of gateway.appKeys"
	if g.keyPath != "" {
		key = g.keyPath
	}
	url := g.servers[len(g.servers)-1].URL()
	for i, r := range cfg.Regions {
		if r == "sg" {
			url = g.servers[i].URL()
		}
	}
	addrs = fmt.Sprintf(`  HTTP gateway        %s
                      POST /v1/push/simple ... (GET /openapi.yaml); requests signed with %s
`, strings.Join(parts, "  "), key)
	try = fmt.Sprintf(`
  ./bin/pushpipe gateway sign --key %s --body configs/examples/simple-push.json > /tmp/sig
  curl -s %s/v1/push/simple $(cat /tmp/sig) --data-binary @configs/examples/simple-push.json
`, key, url)
	return addrs, try
}

func newGatewaySignCmd() *cobra.Command {
	var keyPath, appID, bodyPath, format string
	cmd := &cobra.Command{
		Use:   "sign",
		Short: "Sign a request body for the gateway and print the headers (curl arguments or JSON)",
		Long: `Sign a request body as the gateway verifies it: SHA256withRSA over "<unix ms>\n<body>" with
the app's private key, base64 with '+' → '-' and '/' → '_'. Prints curl arguments
(-H X-Pushpipe-App-Id:... -H X-Pushpipe-Timestamp:... -H X-Pushpipe-Sign:...), which
contain no spaces and can be spliced into a curl command line, or with --format json
the three headers as a JSON object. The signature is valid for 5 minutes; send the
body byte for byte as signed (curl --data-binary @FILE).`,
		Example: `  pushpipe gateway sign --key .pushpipe/gateway-demo-key.pem --body req.json > /tmp/sig
  curl -s http://127.0.0.1:18200/v1/push/simple $(cat /tmp/sig) --data-binary @req.json
  pushpipe gateway sign --key key.pem --app ONEX570DA89211721 --body - --format json < req.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if appID == "" {
				appID = cfg.Apps[0].AppID
			}
			keyPEM, err := os.ReadFile(keyPath)
			if err != nil {
				return fail("--key: %v", err)
			}
			key, err := gateway.ParsePrivateKey(keyPEM)
			if err != nil {
				return fail("--key %s: %v", keyPath, err)
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
			ts := time.Now().UnixMilli()
			sig, err := gateway.Sign(key, ts, body)
			if err != nil {
				return err
			}
			headers := map[string]string{gateway.HeaderAppID: appID, gateway.HeaderTimestamp: fmt.Sprint(ts), gateway.HeaderSign: sig}
			switch format {
			case "json":
				return printJSON(cmd, headers)
			case "curl":
				fmt.Fprintf(cmd.OutOrStdout(), "-H %s:%s -H %s:%d -H %s:%s -H Content-Type:application/json\n",
					gateway.HeaderAppID, appID, gateway.HeaderTimestamp, ts, gateway.HeaderSign, sig)
				return nil
			}
			return fail("--format %q: use curl or json", format)
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "the app's RSA private key, PEM (required; pushpipe dev: .pushpipe/"+demoGatewayKeyFile+")")
	cmd.Flags().StringVar(&appID, "app", "", "app id the request is signed for (default: the first configured app)")
	cmd.Flags().StringVar(&bodyPath, "body", "-", "file holding the exact request body, or - for stdin")
	cmd.Flags().StringVar(&format, "format", "curl", "output: curl (header arguments) or json")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func newGatewayKeygenCmd() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Create an RSA key pair for signing gateway requests: the private key to a file, the public key to stdout",
		Long: `Create a 2048-bit RSA key pair. The private key (PKCS #8 PEM) is written to --out with mode
0600 and stays with the calling system; the public key is printed for the gateway's
configuration (gateway.appKeys[].publicKey, or a file named in publicKeyFile). The same
keys can be made with openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048.`,
		Example: `  pushpipe gateway keygen --out app-key.pem > app-key.pub.pem`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			priv, pub, err := gateway.GenerateKey()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fail("--out: %v (an existing key is never overwritten)", err)
			}
			if _, err := f.Write(priv); err != nil {
				f.Close()
				return fmt.Errorf("writing %s: %w", out, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("writing %s: %w", out, err)
			}
			_, err = cmd.OutOrStdout().Write(pub)
			return err
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the private key to (required; never overwritten)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}
