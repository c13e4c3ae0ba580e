// Package app wires the pushpipe binary: it opens the connections a process
// needs, prepares topics and databases, and builds the stages of each
// worker kind for a region. The subcommands of cmd/pushpipe and the
// end-to-end tests use the same wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/callbacks"
	"github.com/pushpipe/pushpipe/workers/control"
	"github.com/pushpipe/pushpipe/workers/eventsink"
	"github.com/pushpipe/pushpipe/workers/fanout"
	"github.com/pushpipe/pushpipe/workers/fanout/devicecache"
	"github.com/pushpipe/pushpipe/workers/recall"
	"github.com/pushpipe/pushpipe/workers/receipts"
	"github.com/pushpipe/pushpipe/workers/registry"
	"github.com/pushpipe/pushpipe/workers/retry"
	"github.com/pushpipe/pushpipe/workers/scheduler"
	"github.com/pushpipe/pushpipe/workers/sender"
)

// Kind is a worker kind: one stage of the pipeline.
type Kind string

// The worker kinds.
const (
	Fanout    Kind = "fanout"
	Sender    Kind = "sender"
	Eventsink Kind = "eventsink"
	Registry  Kind = "registry"
	Retry     Kind = "retry"
	// Callbacks posts the signed business callbacks (mPaaS §6.9) of
	// terminal events to the requests' callback URLs.
	Callbacks Kind = "callbacks"
	// Recall carries out revokes (push.control.R) for what vendors had
	// already accepted, through their recall APIs.
	Recall Kind = "recall"
	// Receipts is the HTTP worker that takes vendor receipts and client
	// events; it is no Kafka stage: run it with RunReceipts.
	Receipts Kind = "receipts"
	// Scheduler fires scheduled and loop pushes; it is no consumer-group
	// stage: build it with NewScheduler.
	Scheduler Kind = "scheduler"
)

// Kinds lists every Kafka stage kind in pipeline order (not Receipts).
func Kinds() []Kind { return []Kind{Registry, Fanout, Sender, Retry, Eventsink, Callbacks, Recall} }

// NeedsClickHouse reports whether the kind reads or writes ClickHouse
// (retry reads whether the pushes of resend SMS arrived; the scheduler
// reads the statistics A/B tests are decided on).
func (k Kind) NeedsClickHouse() bool {
	return k != Sender && k != Receipts
}

// inputTopic is the topic a kind consumes.
func (k Kind) inputTopic(region string) string {
	switch k {
	case Fanout:
		return pipeline.RequestsTopic(region)
	case Sender:
		return pipeline.DeliveriesTopic(region)
	case Eventsink, Callbacks:
		return pipeline.EventsTopic(region)
	case Recall:
		return pipeline.ControlTopic(region)
	case Registry:
		return pipeline.BindingsTopic(region)
	}
	return ""
}

// Deps are the shared resources of one process. CH may be nil when no
// stage of the process needs ClickHouse. Deps is not closed by the stages.
type Deps struct {
	Cfg     *config.Config
	Brokers []string
	// KafkaSecurity secures every Kafka connection the stages, revoke readers
	// and schedulers open (see KafkaSecurity(cfg)); Producer must be
	// built with the same.
	KafkaSecurity pipeline.KafkaSecurity
	CH            driver.Conn
	Producer      *pipeline.Producer
	Metrics       prometheus.Registerer
	Log           zerolog.Logger
}

// OpenClickHouse connects to the native-protocol address with the
// configured credentials and TLS (cfg.Options); see
// store.OpenClickHouse. Every ClickHouse connection of the binary is
// opened here.
func OpenClickHouse(ctx context.Context, cfg config.ClickHouseConfig, addr string) (driver.Conn, error) {
	o, err := cfg.Options(addr)
	if err != nil {
		return nil, err
	}
	return store.OpenClickHouse(ctx, o)
}

// Prepare checks that the brokers let the process in (SASL, TLS: a
// refusal fails at once with what to check), creates the topics of every
// region (idempotent) and, when CH is set, applies the ClickHouse
// migrations of every region database.
func Prepare(ctx context.Context, d Deps, regions []string) error {
	if err := pipeline.CheckKafka(ctx, d.Brokers, d.KafkaSecurity, 0); err != nil {
		return err
	}
	for _, r := range regions {
		if err := pipeline.EnsureTopics(ctx, d.Brokers, d.KafkaSecurity, pipeline.RegionTopics(r), d.Cfg.Kafka.Partitions); err != nil {
			return fmt.Errorf("creating topics of region %s: %w", r, err)
		}
		if d.CH != nil {
			if err := store.Migrate(ctx, d.CH, d.Cfg.Database(r), d.Cfg.ClickHouse.EventTTLDays); err != nil {
				return fmt.Errorf("migrating region %s: %w", r, err)
			}
		}
	}
	return nil
}

// NewStage builds the stage of one worker kind for one region. The
// consumer group is pushpipe.<kind>.<region>, shared by every replica.
// Retry runs several stages (one per delay tier): build it with NewStages.
func NewStage(kind Kind, region string, d Deps) (*pipeline.Stage, error) {
	if kind.NeedsClickHouse() && d.CH == nil {
		return nil, fmt.Errorf("building %s for region %s: it needs ClickHouse but none is connected", kind, region)
	}
	log := d.Log.With().Str("stage", string(kind)).Str("region", region).Logger()
	var h pipeline.BatchHandler
	var err error
	var prepare func(context.Context) (func(), error)
	switch kind {
	case Fanout:
		var key schema.IDKey
		if key, err = d.Cfg.IDKey(); err != nil {
			return nil, fmt.Errorf("building fanout for region %s: %w", region, err)
		}
		var devices fanout.Devices
		devices, prepare, err = fanoutDevices(region, d)
		if err != nil {
			return nil, fmt.Errorf("building fanout for region %s: %w", region, err)
		}
		policies, approvals, prep, aerr := fanoutApprovals(region, d, prepare)
		if aerr != nil {
			return nil, fmt.Errorf("building fanout for region %s: %w", region, aerr)
		}
		seen, fanned, prep, rerr := fanoutReplay(region, d, prep)
		if rerr != nil {
			return nil, fmt.Errorf("building fanout for region %s: %w", region, rerr)
		}
		prepare = prep
		h, err = fanout.New(fanout.Config{Region: region, Logger: log, IDKey: key,
			Devices:   devices,
			Templates: store.NewTemplates(d.CH, d.Cfg.Database(region)),
			Emit:      d.Producer.Produce,
			Seen:      seen,
			Fanned:    fanned,
			Phones:    store.NewDevices(d.CH, d.Cfg.Database(region)).Phones,
			Policies:  policies, Approvals: approvals})
	case Registry:
		h, err = registry.New(registry.Config{Region: region, Store: store.NewDevices(d.CH, d.Cfg.Database(region)), Logger: log})
	case Eventsink:
		db := d.Cfg.Database(region)
		h, err = eventsink.New(eventsink.Config{Region: region, Logger: log,
			Insert:   func(ctx context.Context, evs []schema.Event) error { return store.InsertEvents(ctx, d.CH, db, evs) },
			Resolve:  eventsink.ResolveConfig{Index: store.NewDeliveryIndex(d.CH, db), Metrics: d.Metrics},
			Outcomes: eventsink.OutcomeConfig{Store: store.NewOutcomes(d.CH, db), Metrics: d.Metrics}})
	case Sender:
		var chs map[string]channels.Channel
		chs, err = Channels(d.Cfg, region)
		var w *control.RevokeReader
		if err == nil {
			w, err = revokes(d, region)
		}
		if err == nil {
			prepare = acquire(w)
			h, err = sender.New(sender.Config{Region: region, Channels: chs, Concurrency: d.Cfg.Sender.Concurrency, Logger: log,
				Revoked:     w.Revoked,
				BaseBackoff: d.Cfg.Retry.BaseBackoff, MaxBackoff: d.Cfg.Retry.MaxBackoff,
				RateLimit: d.Cfg.Sender.RateLimit, Breaker: d.Cfg.Sender.Breaker, Metrics: d.Metrics,
				Budget: &sender.BudgetConfig{Brokers: d.Brokers, Security: d.KafkaSecurity, GroupID: groupID(kind, region), Topic: kind.inputTopic(region)}})
		}
	case Recall:
		var chs map[string]channels.Channel
		chs, err = Channels(d.Cfg, region)
		if err == nil {
			db := d.Cfg.Database(region)
			h, err = recall.New(recall.Config{Region: region, Channels: chs, Logger: log, Settle: d.Cfg.Recall.Settle,
				Acked: func(ctx context.Context, c schema.Control) ([]store.AckedDelivery, error) {
					return store.AckedToRecall(ctx, d.CH, db, c)
				},
				Settled: eventsStored(d, region)})
		}
	case Retry, Callbacks:
		return nil, fmt.Errorf("building %s for region %s: it runs one stage per delay tier: use NewStages", kind, region)
	case Receipts:
		return nil, fmt.Errorf("building receipts for region %s: it is an HTTP worker, not a stage: use RunReceipts", region)
	case Scheduler:
		return nil, fmt.Errorf("building scheduler for region %s: it is not a consumer-group stage: use NewScheduler", region)
	default:
		return nil, fmt.Errorf("unknown worker kind %q: use one of %v", kind, Kinds())
	}
	if err != nil {
		return nil, fmt.Errorf("building %s for region %s: %w", kind, region, err)
	}
	sc := stageConfig(string(kind), region, kind.inputTopic(region), d)
	sc.Prepare = prepare
	if kind == Sender {
		sc.ConcurrentBatches = d.Cfg.Sender.ConcurrentBatches
	}
	return pipeline.NewStage(sc, h, d.Producer)
}

// fanoutDevices returns the devices fanout resolves targets against: the
// region's devices table behind the device cache (fanout.deviceCache),
// with the stage's Prepare that starts the cache's reader of
// push.bindings.R (and its warm start, unless coldStart) and stops it when
// the stage ends; or the table alone when the cache is disabled.
func fanoutDevices(region string, d Deps) (fanout.Devices, func(context.Context) (func(), error), error) {
	devices := store.NewDevices(d.CH, d.Cfg.Database(region))
	cc := d.Cfg.Fanout.DeviceCache
	if cc.Disabled {
		return devices, nil, nil
	}
	var warm func(context.Context, int, func(schema.Device) error) error
	if !cc.ColdStart {
		warm = devices.Recent
	}
	c, err := devicecache.New(devicecache.Config{Devices: devices, Brokers: d.Brokers, Security: d.KafkaSecurity, Region: region,
		RegistryGroup: groupID(Registry, region), Entries: cc.Entries, Metrics: d.Metrics, Warm: warm,
		Logger: d.Log.With().Str("region", region).Str("component", "device-cache").Logger()})
	if err != nil {
		return nil, nil, err
	}
	prepare := func(ctx context.Context) (func(), error) {
		if err := c.Start(ctx); err != nil {
			_ = c.Close()
			return nil, err
		}
		return func() { _ = c.Close() }, nil
	}
	return c, prepare, nil
}

// revokes returns a (not yet started) reader of the region's revokes.
func revokes(d Deps, region string) (*control.RevokeReader, error) {
	return control.NewRevokeReader(control.RevokeReaderConfig{Brokers: d.Brokers, Security: d.KafkaSecurity, Region: region,
		Logger: d.Log.With().Str("region", region).Str("component", "revokes").Logger()})
}

// acquire is the Prepare of a stage that reads revokes through w: the
// stage starts only once every revoke written before is known.
func acquire(w *control.RevokeReader) func(context.Context) (func(), error) {
	return func(ctx context.Context) (func(), error) {
		if err := w.Acquire(ctx); err != nil {
			return nil, err
		}
		return w.Release, nil
	}
}

// stageConfig configures the stage called name in region reading topic,
// in the consumer group pushpipe.<name>.<region>, with the stage section's
// batches; the eventsink's batches are the eventsink section's, since one
// of its batches is one ClickHouse insert.
func stageConfig(name, region, topic string, d Deps) pipeline.StageConfig {
	sc := pipeline.StageConfig{
		Name:        name,
		Region:      region,
		Brokers:     d.Brokers,
		Security:    d.KafkaSecurity,
		Topic:       topic,
		GroupID:     groupID(Kind(name), region),
		BatchSize:   d.Cfg.Stage.BatchSize,
		BatchWait:   stageBatchWait(d.Cfg.Stage.BatchWait),
		BatchLinger: max(d.Cfg.Stage.BatchLinger, 0), // negative: off
		// negative: every batch, synchronously (pipeline's 0)
		CommitInterval: max(d.Cfg.Stage.CommitInterval, 0),
		Logger:         d.Log,
		Metrics:        pipeline.NewMetrics(d.Metrics, name, region),
	}
	if Kind(name) == Sender && d.Cfg.Sender.BurstRecords > 0 {
		sc.BurstRecords, sc.BurstWait = d.Cfg.Sender.BurstRecords, d.Cfg.Sender.BurstWait
	}
	if Kind(name) == Eventsink {
		e := d.Cfg.Eventsink
		sc.BatchSize, sc.BatchWait, sc.BatchLinger = e.BatchSize, e.BatchWait, max(e.BatchLinger, 0)
		sc.ConcurrentBatches = e.ConcurrentBatches
	}
	return sc
}

// stageBatchWait is the pipeline's BatchWait for stage.batchWait: a
// negative value (or 0, which the configuration's defaults replace) does
// not wait for more records (pipeline.NoBatchWait).
func stageBatchWait(d time.Duration) time.Duration {
	if d <= 0 {
		return pipeline.NoBatchWait
	}
	return d
}

// NewStages builds every stage of one worker kind for one region: the one
// stage NewStage builds, or for Retry one stage per delay tier of
// pipeline.RetryTiers, named retry.<tier>, each reading
// push.retry.<tier>.<region> in its own consumer group
// pushpipe.retry.<tier>.<region> and holding its records at most the tier's
// delay. Callbacks likewise runs the stage of push.events.<region> and
// one stage per tier of pipeline.CallbackRetryTiers, named
// callbacks.retry.<tier> (see callbackStages). A process running a kind runs all of its stages; run them
// together with RunStages or RunServices.
func NewStages(kind Kind, region string, d Deps) ([]*pipeline.Stage, error) {
	if kind == Callbacks {
		return callbackStages(region, d)
	}
	if kind != Retry {
		s, err := NewStage(kind, region, d)
		if err != nil {
			return nil, err
		}
		return []*pipeline.Stage{s}, nil
	}
	// Resend SMS are decided by the arrivals in ClickHouse, which the
	// binary always connects for retry; without it (a test wiring the
	// retry tiers alone) a due resend SMS ends failed saying so.
	var smsResend *retry.SMSResendConfig
	if d.CH != nil {
		db := d.Cfg.Database(region)
		smsResend = &retry.SMSResendConfig{Settled: eventsStored(d, region),
			Events: func(ctx context.Context, appID string, taskIDs, msgIDs, ids []string, steps []schema.EventType) (map[string]map[schema.EventType]bool, error) {
				return store.DeliveryEvents(ctx, d.CH, db, appID, taskIDs, msgIDs, ids, steps)
			}}
	}
	tiers := pipeline.RetryTiers()
	stages := make([]*pipeline.Stage, 0, len(tiers))
	// The tiers of one process share one reader of the revokes.
	w, err := revokes(d, region)
	if err != nil {
		return nil, fmt.Errorf("building retry for region %s: %w", region, err)
	}
	for _, tier := range tiers {
		name := string(Retry) + "." + pipeline.RetryTierName(tier)
		h, err := retry.New(retry.Config{Region: region, Tier: tier, MaxAttempts: d.Cfg.Retry.MaxAttempts, Revoked: w.Revoked, SMSResend: smsResend})
		if err != nil {
			return nil, fmt.Errorf("building %s for region %s: %w", name, region, err)
		}
		sc := stageConfig(name, region, pipeline.RetryTierTopic(region, tier), d)
		sc.Prepare = acquire(w)
		s, err := pipeline.NewStage(sc, h, d.Producer)
		if err != nil {
			return nil, fmt.Errorf("building %s for region %s: %w", name, region, err)
		}
		stages = append(stages, s)
	}
	return stages, nil
}

// eventsStored returns once the event sink of region has stored every
// event written to push.events.R before the call.
func eventsStored(d Deps, region string) func(context.Context) error {
	return func(ctx context.Context) error {
		return pipeline.WaitCaughtUp(ctx, d.Brokers, d.KafkaSecurity, groupID(Eventsink, region), pipeline.EventsTopic(region), 0)
	}
}

// callbackStages builds the callbacks worker of a region: the stage
// "callbacks" reading push.events.<region> (group
// pushpipe.callbacks.<region>) and one stage per delay tier, named
// callbacks.retry.<tier>, reading push.callbacks.retry.<tier>.<region> in
// the group pushpipe.callbacks.retry.<tier>.<region>. They share one
// handler, so one host's breaker and slots hold across all of them.
func callbackStages(region string, d Deps) ([]*pipeline.Stage, error) {
	if d.CH == nil {
		return nil, fmt.Errorf("building callbacks for region %s: it needs ClickHouse but none is connected", region)
	}
	signer, err := CallbackSigner(d.Cfg)
	if err != nil {
		return nil, fmt.Errorf("building callbacks for region %s: %w", region, err)
	}
	policies, err := d.Cfg.CallbackPolicies()
	if err != nil {
		return nil, fmt.Errorf("building callbacks for region %s: %w", region, err)
	}
	c := d.Cfg.Callbacks
	h, err := callbacks.New(callbacks.Config{Region: region, Signer: signer, Apps: policies,
		Concurrency: c.Concurrency, HostConcurrency: c.HostConcurrency, Timeout: c.Timeout, MaxAttempts: c.MaxAttempts,
		MinBackoff: c.MinBackoff, MaxBackoff: c.MaxBackoff, Breaker: c.Breaker,
		Metrics: d.Metrics, Logger: d.Log.With().Str("stage", string(Callbacks)).Str("region", region).Logger(),
		Outcomes: store.NewOutcomes(d.CH, d.Cfg.Database(region))})
	if err != nil {
		return nil, fmt.Errorf("building callbacks for region %s: %w", region, err)
	}
	main, err := pipeline.NewStage(stageConfig(string(Callbacks), region, Callbacks.inputTopic(region), d), h, d.Producer)
	if err != nil {
		return nil, fmt.Errorf("building callbacks for region %s: %w", region, err)
	}
	stages := []*pipeline.Stage{main}
	for _, tier := range pipeline.CallbackRetryTiers() {
		name := string(Callbacks) + ".retry." + pipeline.RetryTierName(tier)
		th, err := h.Tier(tier)
		if err != nil {
			return nil, fmt.Errorf("building %s for region %s: %w", name, region, err)
		}
		s, err := pipeline.NewStage(stageConfig(name, region, pipeline.CallbackRetryTopic(region, tier), d), th, d.Producer)
		if err != nil {
			return nil, fmt.Errorf("building %s for region %s: %w", name, region, err)
		}
		stages = append(stages, s)
	}
	return stages, nil
}

// groupID is the consumer group of a kind's replicas in a region.
func groupID(kind Kind, region string) string { return "pushpipe." + string(kind) + "." + region }

// RunStages runs every stage until ctx ends, then waits for each to finish
// its in-flight batch. The first stage error cancels the others and is
// returned.
func RunStages(ctx context.Context, stages []*pipeline.Stage) error {
	services := make([]pipeline.Service, len(stages))
	for i, s := range stages {
		services[i] = s
	}
	return RunServices(ctx, services...)
}

// StartReceipts starts the receipts worker of one region on addr ("" means
// a free loopback port), publishing through d.Producer and registering its
// metrics on d.Metrics, which the process exports on its internal health
// address (the receipts port serves no /metrics). When the callback
// signing key of
// cfg.CallbackKeyFile() exists, its public half is served on GET
// /callbacks/public-key. It serves until ctx ends or the server is
// closed; the caller closes it.
func StartReceipts(ctx context.Context, d Deps, region, addr string) (*receipts.Server, error) {
	if d.Producer == nil {
		return nil, fmt.Errorf("building receipts for region %s: no Kafka producer in Deps", region)
	}
	// A key that cannot be read must not keep vendor receipts out: the
	// worker then serves without GET /callbacks/public-key.
	pub, err := CallbackPublicKey(d.Cfg)
	switch {
	case err != nil:
		d.Log.Error().Err(err).Str("region", region).Msg("GET /callbacks/public-key is not served")
	case pub == nil:
		d.Log.Info().Str("region", region).Str("key_file", d.Cfg.CallbackKeyFile()).
			Msg("no callback signing key yet: GET /callbacks/public-key is not served")
	}
	cfg, err := d.Cfg.ReceiptsWorker()
	if err != nil {
		return nil, fmt.Errorf("building receipts for region %s: %w", region, err)
	}
	cfg.Region, cfg.Addr, cfg.Producer, cfg.Metrics, cfg.Logger, cfg.CallbackPublicKey = region, addr, d.Producer, d.Metrics, d.Log, pub
	srv, err := receipts.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("building receipts for region %s: %w", region, err)
	}
	if err := srv.Start(ctx); err != nil {
		return nil, err
	}
	return srv, nil
}

// RunReceipts runs the receipts worker of one region on addr until ctx
// ends, then lets in-flight requests finish. Once it listens, the internal
// health server on healthAddr serves /healthz, /readyz, /metrics (reg)
// and /debug/pprof; the receipts address serves none of them.
func RunReceipts(ctx context.Context, d Deps, region, addr, healthAddr string, reg *prometheus.Registry) error {
	srv, err := StartReceipts(ctx, d, region, addr)
	if err != nil {
		return err
	}
	health := pipeline.NewHealthServer(healthAddr, reg, nil)
	if err := health.Start(ctx); err != nil {
		return errors.Join(fmt.Errorf("receipts of region %s: starting the health server: %w", region, err), srv.Close())
	}
	<-ctx.Done()
	return errors.Join(srv.Close(), health.Close())
}

// CallbackSigner loads the callback signing key from cfg.CallbackKeyFile(),
// creating a 2048-bit key there (mode 0600) when no file exists.
func CallbackSigner(cfg *config.Config) (*callbacks.Signer, error) {
	s, err := callbacks.LoadSigner(cfg.CallbackKeyFile())
	if err != nil {
		return nil, fmt.Errorf("callbacks.keyFile: %w", err)
	}
	return s, nil
}

// CallbackPublicKey returns the PEM public key of the callback signing key
// at cfg.CallbackKeyFile(), or nil when that file does not exist. It never
// creates a key: only the callbacks worker does (CallbackSigner).
func CallbackPublicKey(cfg *config.Config) ([]byte, error) {
	k, err := callbacks.LoadKey(cfg.CallbackKeyFile())
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("callbacks.keyFile: %w", err)
	}
	s, err := callbacks.NewSigner(k)
	if err != nil {
		return nil, fmt.Errorf("callbacks.keyFile %s: %w", cfg.CallbackKeyFile(), err)
	}
	return s.PublicKeyPEM(), nil
}

// NewScheduler builds the scheduler of one region: its replicas share the
// consumer group pushpipe.scheduler.<region> on push.schedules.R, and it
// writes through d.Producer. Its time zone and allowed lateness come from
// the scheduler section of the configuration.
func NewScheduler(region string, d Deps) (*scheduler.Scheduler, error) {
	loc, err := d.Cfg.Scheduler.Location()
	if err != nil {
		return nil, fmt.Errorf("building scheduler for region %s: %w", region, err)
	}
	s, err := scheduler.New(scheduler.Config{Region: region, Brokers: d.Brokers, Security: d.KafkaSecurity, Producer: d.Producer,
		GroupID: groupID(Scheduler, region), Location: loc, MaxLateness: d.Cfg.Scheduler.MaxLateness,
		ABTests: abTestStats(d, region), Logger: d.Log, Metrics: d.Metrics})
	if err != nil {
		return nil, fmt.Errorf("building scheduler for region %s: %w", region, err)
	}
	return s, nil
}

// RunServices runs every service until ctx ends, and waits for every one
// to stop (stages finish their in-flight batch). The first error cancels
// the others; the errors are returned joined.
func RunServices(ctx context.Context, services ...pipeline.Service) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(services))
	for i, s := range services {
		wg.Go(func() {
			if err := s.Run(ctx); err != nil {
				errs[i] = err
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
