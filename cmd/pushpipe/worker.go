package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/approval"
	"github.com/pushpipe/pushpipe/workers/scheduler"
)

const (
	kindFanout    = app.Fanout
	kindSender    = app.Sender
	kindEventsink = app.Eventsink
	kindRegistry  = app.Registry
	kindRetry     = app.Retry
	kindScheduler = app.Scheduler
)

var workerHelp = map[app.Kind]string{
	app.Fanout:    "validate push requests, resolve targets and emit deliveries (push.requests.R → push.deliveries.R)",
	app.Sender:    "call the vendors in batches and record outcomes (push.deliveries.R → events, push.retry.<tier>.R)",
	app.Eventsink: "write lifecycle events into ClickHouse push_R.events (push.events.R → ClickHouse)",
	app.Registry:  "apply device reports, user bindings, tags and users' phone numbers to push_R.devices (push.bindings.R → ClickHouse)",
	app.Retry:     "hold deliveries until their next attempt is due, then re-send, expire or fail them, and send a resend SMS (smsStrategy 1) only if its push did not arrive (read in ClickHouse); one stage per delay tier 1s…1h (push.retry.<tier>.R → push.deliveries.R)",
	app.Scheduler: "fire scheduled and loop pushes at their times (push.schedules.R → push.requests.R), decide A/B copy tests on their variants' statistics (read in ClickHouse) and send the winner to the rest; expire held pushes nobody approved (push.approvals.R)",
	app.Recall:    "carry out revokes for what vendors already accepted: call their recall APIs, recalled events (push.control.R → vendors)",
	app.Callbacks: "post signed business callbacks of terminal events to the requests' callbackUrl (push.events.R and its delay tiers push.callbacks.retry.<tier>.R → HTTP, callback_sent events)",
}

// endpointFlags are the flags that locate Kafka and ClickHouse.
type endpointFlags struct {
	brokers    string
	clickhouse string
}

func (f *endpointFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.brokers, "brokers", "", "Kafka bootstrap brokers, comma-separated (default: kafka.brokers, else the local broker of pushpipe dev)")
	cmd.Flags().StringVar(&f.clickhouse, "clickhouse", "", "ClickHouse native-protocol address host:port (default: clickhouse.addr, else the local server of pushpipe dev)")
}

// resolve returns the brokers and ClickHouse address to use: flags first,
// then the configuration, then the addresses `pushpipe dev` listens on.
func (f *endpointFlags) resolve(cfg *config.Config) (brokers []string, chAddr string) {
	switch {
	case f.brokers != "":
		brokers = strings.Split(f.brokers, ",")
	case !cfg.Kafka.Embedded():
		brokers = cfg.Kafka.Brokers
	default:
		brokers = []string{fmt.Sprintf("127.0.0.1:%d", cfg.Kafka.EmbeddedPort)}
	}
	switch {
	case f.clickhouse != "":
		chAddr = f.clickhouse
	case !cfg.ClickHouse.Embedded():
		chAddr = cfg.ClickHouse.Addr
	default:
		chAddr = fmt.Sprintf("127.0.0.1:%d", cfg.ClickHouse.EmbeddedTCPPort)
	}
	return brokers, chAddr
}

// kafka returns the brokers to use (see resolve) and the Kafka security
// (SASL, TLS) of the configuration, which every Kafka client of the
// command must use.
func (f *endpointFlags) kafka(cfg *config.Config) ([]string, pipeline.KafkaSecurity, error) {
	brokers, _ := f.resolve(cfg)
	sec, err := cfg.Kafka.Security()
	if err != nil {
		return nil, sec, fail("invalid configuration: %v", err)
	}
	return brokers, sec, nil
}

func loadConfig(cmd *cobra.Command) (*config.Config, zerolog.Logger, error) {
	path, _ := cmd.Flags().GetString("config")
	cfg, err := config.Load(path)
	if err != nil {
		return nil, zerolog.Logger{}, fail("%v", err)
	}
	if lvl, _ := cmd.Flags().GetString("log-level"); lvl != "" {
		cfg.LogLevel = lvl
	}
	if f, _ := cmd.Flags().GetString("log-format"); f != "" {
		cfg.LogFormat = f
	}
	level, err := zerolog.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, zerolog.Logger{}, fail("logLevel %q: use debug, info, warn or error", cfg.LogLevel)
	}
	log, err := stderrLogger(cfg.LogFormat, level)
	if err != nil {
		return nil, zerolog.Logger{}, fail("logFormat: %v", err)
	}
	app.WarnExposedSecrets(cfg, log)
	setMemoryLimit(cfg.MemoryLimitMB, log)
	return cfg, log, nil
}

func newWorkerCmd(kind app.Kind) *cobra.Command {
	var region, healthAddr string
	var ep endpointFlags
	cmd := &cobra.Command{
		Use:   string(kind),
		Short: "Run the " + string(kind) + " worker for one region: " + workerHelp[kind],
		Long: "Run the " + string(kind) + " worker for one region: " + workerHelp[kind] + `.

Replicas of the same worker and region share the work through the Kafka consumer
group pushpipe.` + string(kind) + `.<region>; run as many as the topic has partitions.
The process serves /healthz, /readyz and /metrics on --health-addr, logs to stderr
(JSON lines, or readable lines on a terminal: --log-format), and on SIGTERM or Ctrl-C finishes its in-flight batch, commits and exits.`,
		Example: workerExample(kind),
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, log, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if !schema.ValidRegion(region) {
				return fail("--region %q: use one of %s", region, strings.Join(schema.Regions(), ", "))
			}
			if kind == kindEventsink {
				setEventsinkMemoryLimit(cfg, log)
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
			_, chAddr := ep.resolve(cfg)
			return runWorkers(cmd.Context(), runOpts{cfg: cfg, log: log, brokers: brokers, kafkaSecurity: sec, chAddr: chAddr,
				regions: []string{region}, kinds: []app.Kind{kind}})
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "region to serve: cn, ru, in, eu or sg (required)")
	cmd.Flags().StringVar(&healthAddr, "health-addr", "", "listen address of /healthz, /readyz and /metrics (default: healthAddr, 127.0.0.1:18080)")
	ep.register(cmd)
	_ = cmd.MarkFlagRequired("region")
	return cmd
}

// runOpts says what runWorkers runs and against what.
type runOpts struct {
	cfg           *config.Config
	log           zerolog.Logger
	brokers       []string
	kafkaSecurity pipeline.KafkaSecurity
	chAddr        string
	regions       []string
	kinds         []app.Kind
	// afterPrepare, if set, runs once topics and databases exist and
	// before the stages start (e.g. to seed demo data, or to start HTTP
	// workers whose metrics go to reg, the registry the health server
	// exports).
	afterPrepare func(ctx context.Context, p *pipeline.Producer, reg *prometheus.Registry) error
	// alsoReady, if set, is asked by /readyz besides the stages.
	alsoReady func() bool
	// onReady, if set, runs once every stage is ready, with the health
	// server's address.
	onReady func(healthAddr string)
}

// runWorkers connects, prepares topics and databases, and runs the given
// kinds for the given regions until ctx ends.
func runWorkers(ctx context.Context, o runOpts) error {
	cfg, log, brokers, chAddr, regions, kinds := o.cfg, o.log, o.brokers, o.chAddr, o.regions, o.kinds
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	deps := app.Deps{Cfg: cfg, Brokers: brokers, KafkaSecurity: o.kafkaSecurity, Metrics: reg, Log: log}
	for _, k := range kinds {
		if k.NeedsClickHouse() {
			conn, err := app.OpenClickHouse(ctx, cfg.ClickHouse, chAddr)
			if err != nil {
				return err
			}
			defer func() { _ = conn.Close() }()
			deps.CH = conn
			break
		}
	}
	// The stages (and the receipts and scheduler services) write through
	// this producer, each call a batch of its own that waits for its
	// acknowledgement: no linger (see pipeline.StageBatchTimeout).
	producer, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Security: o.kafkaSecurity, Compression: o.cfg.Kafka.Compression, Logger: log,
		BatchTimeout: pipeline.StageBatchTimeout})
	if err != nil {
		return err
	}
	defer func() { _ = producer.Close() }()
	deps.Producer = producer

	prepCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = app.Prepare(prepCtx, deps, regions)
	cancel()
	if err != nil {
		return err
	}
	if o.afterPrepare != nil {
		if err := o.afterPrepare(ctx, producer, reg); err != nil {
			return err
		}
	}
	var stages []*pipeline.Stage
	var scheds []*scheduler.Scheduler
	var sweepers []*approval.Sweeper
	up := newRegionsUp(regions, time.Now())
	for _, r := range regions {
		for _, k := range kinds {
			if k == app.Scheduler {
				s, err := app.NewScheduler(r, deps)
				if err != nil {
					return err
				}
				scheds = append(scheds, s)
				up.add(r, string(k), s, false)
				sw, err := app.NewApprovalSweeper(r, deps)
				if err != nil {
					return err
				}
				sweepers = append(sweepers, sw)
				up.add(r, "approvals", sw, false)
				continue
			}
			ss, err := app.NewStages(k, r, deps)
			if err != nil {
				return err
			}
			stages = append(stages, ss...)
			for _, s := range ss {
				up.add(r, string(k), s, true)
			}
		}
	}
	services := make([]pipeline.Service, 0, len(stages)+len(scheds))
	for _, s := range stages {
		services = append(services, s)
	}
	for _, s := range scheds {
		services = append(services, s)
	}
	for _, s := range sweepers {
		services = append(services, s)
	}
	ready := func() bool {
		return allReady(services) && (o.alsoReady == nil || o.alsoReady())
	}
	health := pipeline.NewHealthServer(cfg.HealthAddr, reg, ready)
	if err := health.Start(ctx); err != nil {
		return fmt.Errorf("starting health server: %w", err)
	}
	defer func() { _ = health.Close() }()
	log.Info().Strs("brokers", brokers).Stringer("kafka_security", o.kafkaSecurity).Str("clickhouse", chAddr).Strs("regions", regions).
		Str("health_addr", health.Addr()).Msgf("running %d stage(s)", len(stages))
	// One line per region once its stages are up (each stage's own
	// "stage started" is at debug level), then onReady once the whole
	// process is ready.
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		regionsDone := false
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if !regionsDone {
				regionsDone = up.check(log, time.Now())
			}
			if regionsDone && ready() {
				if o.onReady != nil {
					o.onReady(health.Addr())
				}
				return
			}
		}
	}()
	err = app.RunServices(ctx, services...)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	log.Info().Int("stages", len(stages)).Int("schedulers", len(scheds)).Msg("stopped")
	return err
}

// allReady reports whether every service is ready. Stages and schedulers
// answer at once; the context only bounds a service that would not.
func allReady(services []pipeline.Service) bool {
	ctx, cancel := context.WithTimeout(context.Background(), app.ProbeTimeout)
	defer cancel()
	for _, s := range services {
		if s.Ready(ctx) != nil {
			return false
		}
	}
	return true
}

func workerExample(kind app.Kind) string {
	ex := "  pushpipe " + string(kind) + " --region sg --brokers kafka-1:9092"
	if kind.NeedsClickHouse() {
		ex += " --clickhouse ch-1:9000"
	}
	return ex + " --config prod.yaml"
}

// setMemoryLimit sets the Go runtime's soft memory limit: memoryLimitMB
// when it is set, else, unless the GOMEMLIMIT or AUTOMEMLIMIT environment
// variables decide, 90% of the memory limit of the process's cgroup (a
// container's limit), so that a worker in a container collects garbage
// before the container is killed for want of memory. Without a cgroup
// limit Go's default stays (no limit).
func setMemoryLimit(memoryLimitMB int, log zerolog.Logger) {
	if memoryLimitMB > 0 {
		debug.SetMemoryLimit(int64(memoryLimitMB) << 20)
		return
	}
	limit, err := memlimit.Set(memlimit.WithRatio(0.9), memlimit.WithProvider(memlimit.FromCgroup))
	switch {
	case err != nil:
		log.Warn().Err(err).Msg("no soft memory limit from the cgroup: set memoryLimitMB for workers in containers")
	case limit < math.MaxInt64:
		log.Info().Int64("memory_limit_mb", limit>>20).Msg("soft memory limit set to 90% of the cgroup's memory limit")
	}
}

// setEventsinkMemoryLimit lowers the soft memory limit of a process that
// runs the eventsink alone to eventsink.memoryLimitMB, unless memoryLimitMB
// or the GOMEMLIMIT or AUTOMEMLIMIT environment variables decide, or the
// limit already set (from the cgroup, see setMemoryLimit) is lower.
func setEventsinkMemoryLimit(cfg *config.Config, log zerolog.Logger) {
	if cfg.MemoryLimitMB > 0 || cfg.Eventsink.MemoryLimitMB <= 0 {
		return
	}
	for _, env := range []string{"GOMEMLIMIT", "AUTOMEMLIMIT"} {
		if _, ok := os.LookupEnv(env); ok {
			return
		}
	}
	if limit := int64(cfg.Eventsink.MemoryLimitMB) << 20; limit < debug.SetMemoryLimit(-1) {
		debug.SetMemoryLimit(limit)
		log.Debug().Int("memory_limit_mb", cfg.Eventsink.MemoryLimitMB).Msg("soft memory limit set to eventsink.memoryLimitMB")
	}
}
