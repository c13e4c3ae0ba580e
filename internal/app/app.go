// Package app wires the pushpipe binary: it opens the connections a process
// needs, prepares topics and databases, and builds the stages of each
// worker kind for a region. The subcommands of cmd/pushpipe and the
// end-to-end tests use the same wiring.
package app

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/eventsink"
	"github.com/pushpipe/pushpipe/workers/fanout"
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
	// Receipts is the HTTP worker that takes vendor receipts and client
	// events; it is no Kafka stage: run it with RunReceipts.
	Receipts Kind = "receipts"
	// Scheduler fires scheduled and loop pushes; it is no consumer-group
	// stage: build it with NewScheduler.
	Scheduler Kind = "scheduler"
)

// Kinds lists every Kafka stage kind in pipeline order (not Receipts).
func Kinds() []Kind { return []Kind{Registry, Fanout, Sender, Retry, Eventsink} }

// NeedsClickHouse reports whether the kind reads or writes ClickHouse.
func (k Kind) NeedsClickHouse() bool {
	return k != Sender && k != Retry && k != Receipts && k != Scheduler
}

// inputTopic is the topic a kind consumes.
func (k Kind) inputTopic(region string) string {
	switch k {
	case Fanout:
		return pipeline.RequestsTopic(region)
	case Sender:
		return pipeline.DeliveriesTopic(region)
	case Eventsink:
		return pipeline.EventsTopic(region)
	case Registry:
		return pipeline.BindingsTopic(region)
	case Retry:
		return pipeline.RetryTopic(region)
	}
	return ""
}

// Deps are the shared resources of one process. CH may be nil when no
// stage of the process needs ClickHouse. Deps is not closed by the stages.
type Deps struct {
	Cfg      *config.Config
	Brokers  []string
	CH       driver.Conn
	Producer *pipeline.Producer
	Metrics  prometheus.Registerer
	Log      zerolog.Logger
}

// OpenClickHouse connects to the native-protocol address with the
// configured credentials; see schema.OpenClickHouse.
func OpenClickHouse(ctx context.Context, cfg config.ClickHouseConfig, addr string) (driver.Conn, error) {
	return schema.OpenClickHouse(ctx, addr, cfg.Username, cfg.Password)
}

// Prepare creates the topics of every region (idempotent) and, when CH is
// set, applies the ClickHouse migrations of every region database.
func Prepare(ctx context.Context, d Deps, regions []string) error {
	for _, r := range regions {
		if err := pipeline.EnsureTopics(ctx, d.Brokers, pipeline.RegionTopics(r), d.Cfg.Kafka.Partitions); err != nil {
			return fmt.Errorf("creating topics of region %s: %w", r, err)
		}
		if d.CH != nil {
			if err := schema.Migrate(ctx, d.CH, d.Cfg.Database(r), d.Cfg.ClickHouse.EventTTLDays); err != nil {
				return fmt.Errorf("migrating region %s: %w", r, err)
			}
		}
	}
	return nil
}

// NewStage builds the stage of one worker kind for one region. The
// consumer group is pushpipe.<kind>.<region>, shared by every replica.
func NewStage(kind Kind, region string, d Deps) (*pipeline.Stage, error) {
	if kind.NeedsClickHouse() && d.CH == nil {
		return nil, fmt.Errorf("building %s for region %s: it needs ClickHouse but none is connected", kind, region)
	}
	log := d.Log.With().Str("stage", string(kind)).Str("region", region).Logger()
	var h pipeline.BatchHandler
	var err error
	switch kind {
	case Fanout:
		h, err = fanout.New(fanout.Config{Region: region, Logger: log,
			Devices:   schema.NewDeviceStore(d.CH, d.Cfg.Database(region)),
			Templates: schema.NewTemplateStore(d.CH, d.Cfg.Database(region)),
			Emit:      d.Producer.Produce,
			Seen: func(ctx context.Context, app string, ids []string) (map[string]bool, error) {
				return schema.ExistingEvents(ctx, d.CH, d.Cfg.Database(region), app, ids)
			}})
	case Registry:
		h, err = registry.New(registry.Config{Region: region, Store: schema.NewDeviceStore(d.CH, d.Cfg.Database(region)), Logger: log})
	case Eventsink:
		db := d.Cfg.Database(region)
		h, err = eventsink.New(eventsink.Config{Region: region, Logger: log,
			Insert:  func(ctx context.Context, evs []schema.Event) error { return schema.InsertEvents(ctx, d.CH, db, evs) },
			Resolve: eventsink.ResolveConfig{Index: schema.NewDeliveryIndex(d.CH, db), Metrics: d.Metrics}})
	case Sender:
		var chs map[string]channels.Channel
		chs, err = Channels(d.Cfg, region)
		if err == nil {
			h, err = sender.New(sender.Config{Region: region, Channels: chs, Concurrency: d.Cfg.Sender.Concurrency, Logger: log,
				RateLimit: d.Cfg.Sender.RateLimit, Breaker: d.Cfg.Sender.Breaker, Metrics: d.Metrics,
				Budget: &sender.BudgetConfig{Brokers: d.Brokers, GroupID: groupID(kind, region), Topic: kind.inputTopic(region)}})
		}
	case Retry:
		h, err = retry.New(retry.Config{Region: region, Logger: log})
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
	return pipeline.NewStage(pipeline.StageConfig{
		Name:      string(kind),
		Region:    region,
		Brokers:   d.Brokers,
		Topic:     kind.inputTopic(region),
		GroupID:   groupID(kind, region),
		BatchSize: d.Cfg.Stage.BatchSize,
		BatchWait: d.Cfg.Stage.BatchWait,
		Logger:    d.Log,
		Metrics:   pipeline.NewMetrics(d.Metrics, string(kind), region),
	}, h, d.Producer)
}

// groupID is the consumer group of a kind's replicas in a region.
func groupID(kind Kind, region string) string { return "pushpipe." + string(kind) + "." + region }

// RunStages runs every stage until ctx ends, then waits for each to finish
// its in-flight batch. The first stage error cancels the others and is
// returned.
func RunStages(ctx context.Context, stages []*pipeline.Stage) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(stages))
	for i, s := range stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Run(ctx); err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// StartReceipts starts the receipts worker of one region on addr ("" means
// a free loopback port), publishing through d.Producer and registering its
// metrics on d.Metrics (also served on its /metrics when d.Metrics is a
// prometheus.Gatherer). It serves until ctx ends or the server is closed;
// the caller closes it.
func StartReceipts(ctx context.Context, d Deps, region, addr string) (*receipts.Server, error) {
	if d.Producer == nil {
		return nil, fmt.Errorf("building receipts for region %s: no Kafka producer in Deps", region)
	}
	cfg := receipts.Config{Region: region, Addr: addr, Producer: d.Producer, Metrics: d.Metrics, Logger: d.Log}
	if g, ok := d.Metrics.(prometheus.Gatherer); ok {
		cfg.Gatherer = g
	}
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
// ends, then lets in-flight requests finish.
func RunReceipts(ctx context.Context, d Deps, region, addr string) error {
	srv, err := StartReceipts(ctx, d, region, addr)
	if err != nil {
		return err
	}
	<-ctx.Done()
	return srv.Close()
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
	s, err := scheduler.New(scheduler.Config{Region: region, Brokers: d.Brokers, Producer: d.Producer,
		GroupID: groupID(Scheduler, region), Location: loc, MaxLateness: d.Cfg.Scheduler.MaxLateness,
		Logger: d.Log, Metrics: d.Metrics})
	if err != nil {
		return nil, fmt.Errorf("building scheduler for region %s: %w", region, err)
	}
	return s, nil
}

// RunAll runs the stages and the schedulers until ctx ends, and waits for
// every one to stop (stages finish their in-flight batch). The first error
// cancels the others; the errors are returned joined.
func RunAll(ctx context.Context, stages []*pipeline.Stage, scheds []*scheduler.Scheduler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runs := make([]func(context.Context) error, 0, len(stages)+len(scheds))
	for _, s := range stages {
		runs = append(runs, s.Run)
	}
	for _, s := range scheds {
		runs = append(runs, s.Run)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(runs))
	for i, run := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := run(ctx); err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
