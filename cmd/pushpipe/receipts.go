package main

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

func newReceiptsCmd() *cobra.Command {
	var region, addr, healthAddr string
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   string(app.Receipts),
		Short: "Run the receipts worker for one region: vendor receipts and client events over HTTP (→ push.events.R)",
		Long: `Run the receipts worker for one region: an HTTP server taking the delivery receipts
of each vendor in its own format (mPaaS guide §7.2.10) and the app SDK's client events,
and publishing them as arrived / opened / ignored / failed events on push.events.<region>.
Each request is answered once Kafka acknowledged its events. Endpoints (POST), each
with ?app=<appId> and the proof of its vendor:
  /receipts/hms  /receipts/harmonyos   JSON {"statuses":[...]}, biTag = delivery id;
                                       header X-HUAWEI-CALLBACK-ID (apps[].receipts.hms / .harmonyos)
  /receipts/honor                      the same body; &token=<apps[].receipts.honorToken>
  /receipts/mipush                     form field data = JSON, param = tagged delivery id or msg id
  /receipts/oppo  /receipts/vivo       JSON, param = tagged delivery id or msg id
  /receipts/client                     JSON {"events":[{"deliveryId","event":"arrival|open|ignore","ts"}]};
                                       headers X-Pushpipe-Timestamp and X-Pushpipe-Signature
                                       (HMAC-SHA256 under apps[].receipts.clientKey)
A request without a valid proof gets 401 (403 from a source outside receipts.allowedSources)
and writes nothing. The worker needs the id secret of the region's fanout and sender
(security.idSecretFile). GET /callbacks/public-key serves the PEM public key of
callbacks.keyFile, when that file exists. The event sink resolves each event to its task,
message and device through its delivery index, and only to a delivery of the app the
receipt was authenticated for. /healthz, /readyz, /metrics and /debug/pprof are served on
--health-addr (healthAddr, 127.0.0.1:18080) only, never on the receipts address vendors reach.

Replicas of one region can run behind a load balancer; they share nothing.`,
		Example: "  pushpipe receipts --region sg --addr 0.0.0.0:8000 --health-addr 0.0.0.0:8080 --brokers kafka-1:9092",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if !schema.ValidRegion(region) {
				return fail("--region %q: use one of %s", region, strings.Join(schema.Regions(), ", "))
			}
			if addr != "" {
				cfg.Receipts.Addr = addr
			}
			if healthAddr != "" {
				cfg.HealthAddr = healthAddr
			}
			cfg.Regions = []string{region}
			if err := cfg.Validate(); err != nil {
				return fail("invalid configuration: %v", err)
			}
			brokers, sec, err := ep.kafka(cfg)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			reg := prometheus.NewRegistry()
			reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			producer, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Security: sec, Compression: cfg.Kafka.Compression, Logger: log})
			if err != nil {
				return err
			}
			defer func() { _ = producer.Close() }()
			deps := app.Deps{Cfg: cfg, Brokers: brokers, KafkaSecurity: sec, Producer: producer, Metrics: reg, Log: log}
			prepCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
			err = app.Prepare(prepCtx, deps, cfg.Regions)
			cancel()
			if err != nil {
				return err
			}
			err = app.RunReceipts(ctx, deps, region, cfg.Receipts.Addr, cfg.HealthAddr, reg)
			if errors.Is(err, context.Canceled) {
				err = nil
			}
			return err
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "region to serve: cn, ru, in, eu or sg (required)")
	cmd.Flags().StringVar(&addr, "addr", "", "public listen address of the receipt endpoints (default: receipts.addr, 127.0.0.1:18100)")
	cmd.Flags().StringVar(&healthAddr, "health-addr", "", "listen address of /healthz, /readyz, /metrics and /debug/pprof (default: healthAddr, 127.0.0.1:18080)")
	cmd.Flags().StringVar(&ep.brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (default: kafka.brokers, else the local broker of pushpipe dev)")
	_ = cmd.MarkFlagRequired("region")
	return cmd
}
