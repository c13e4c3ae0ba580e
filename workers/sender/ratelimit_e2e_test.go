package sender_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/hms"
	"github.com/pushpipe/pushpipe/channels/middleware"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

const (
	e2eApp     = "ONEX570DA89211721"
	e2eSecret  = "e2e-secret"
	e2ePackage = "com.example.e2e"
	// The app's Huawei Push Kit credentials: the second vendor of the
	// breaker test.
	e2eHMSClient = "104000123"
	e2eHMSSecret = "e2e-hms-secret"
)

// env is one test's pipeline without ClickHouse: its own broker,
// simulator, configuration and producer.
type env struct {
	t       *testing.T
	cfg     *config.Config
	brokers []string
	sim     *vendorsim.Server
	prod    *pipeline.Producer
	log     zerolog.Logger
	// stages runs every stage started by run; stop ends them all at once.
	stages context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup
}

// newEnv prepares the topics of regions (partitions each) for a
// configuration adjusted by configure.
func newEnv(t *testing.T, regions []string, partitions int, log zerolog.Logger, configure func(*config.Config)) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	brokers := []string{testinfra.Kafka(t)}
	sim, err := allvendors.Start(ctx, vendorsim.Config{
		MiPush: vendorsim.MiPushConfig{
			Apps: []vendorsim.MiPushApp{{AppID: e2eApp, Secret: e2eSecret, PackageName: e2ePackage}}, QuotaPerSecond: 1e6},
		HMS: vendorsim.HMSConfig{Apps: []vendorsim.HMSApp{{AppID: e2eApp, ClientID: e2eHMSClient, ClientSecret: e2eHMSSecret}}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	cfg := &config.Config{
		StateDir: t.TempDir(),
		Regions:  regions,
		Kafka:    config.KafkaConfig{Brokers: brokers, Partitions: partitions},
		Vendors:  config.VendorsConfig{Simulator: true, SimulatorAddr: sim.Addr()},
		Apps: []config.AppConfig{{AppID: e2eApp, WorkspaceID: "default",
			Credentials: map[string]any{
				mipush.Name: &mipush.App{AppSecret: channels.Secret(e2eSecret), PackageName: e2ePackage},
				hms.Name:    &hms.App{AppID: e2eHMSClient, AppSecret: e2eHMSSecret},
			}}},
	}
	if configure != nil {
		configure(cfg)
	}
	cfg.Defaults()
	if err := cfg.EnsureDevIDSecret(); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	prod, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	e := &env{t: t, cfg: cfg, brokers: brokers, sim: sim, prod: prod, log: log}
	e.stages, e.stop = context.WithCancel(context.Background())
	t.Cleanup(func() { e.stop(); e.wg.Wait() })
	pctx, pcancel := context.WithTimeout(ctx, time.Minute)
	defer pcancel()
	if err := app.Prepare(pctx, e.deps(prometheus.NewRegistry()), regions); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) deps(reg prometheus.Registerer) app.Deps {
	return app.Deps{Cfg: e.cfg, Brokers: e.brokers, Producer: e.prod, Metrics: reg, Log: e.log}
}

// run starts one replica of each kind for each region, in-process, with
// its own metrics registry. Every replica stops (in parallel, each
// finishing its in-flight batch) when the test ends.
func (e *env) run(regions []string, kinds ...app.Kind) *prometheus.Registry {
	e.t.Helper()
	reg, _ := e.runStoppable(regions, kinds...)
	return reg
}

// runStoppable is run that also returns a function stopping these
// replicas and waiting until they have left their groups.
func (e *env) runStoppable(regions []string, kinds ...app.Kind) (*prometheus.Registry, func()) {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	var stages []*pipeline.Stage
	for _, r := range regions {
		for _, k := range kinds {
			ss, err := app.NewStages(k, r, e.deps(reg))
			if err != nil {
				e.t.Fatal(err)
			}
			stages = append(stages, ss...)
		}
	}
	ctx, cancel := context.WithCancel(e.stages)
	done := make(chan struct{})
	e.wg.Go(func() {
		defer close(done)
		if err := app.RunStages(ctx, stages); err != nil {
			e.t.Errorf("stages stopped with an error: %v", err)
		}
	})
	return reg, func() { cancel(); <-done }
}

// publishDeliveries publishes n deliveries of one message (one content)
// to push.deliveries.<region>; distinct gives each its own message id and
// so its own vendor call.
func (e *env) publishDeliveries(region, msgPrefix string, n int, distinct bool) []string {
	e.t.Helper()
	return e.publishDeliveriesOn("mipush", region, msgPrefix, n, distinct)
}

// publishDeliveriesOn is publishDeliveries for devices of a vendor
// channel.
func (e *env) publishDeliveriesOn(channel, region, msgPrefix string, n int, distinct bool) []string {
	e.t.Helper()
	outs := make([]pipeline.Output, n)
	ids := make([]string, n)
	exp := time.Now().Add(time.Hour).UnixMilli()
	for i := range n {
		msg := msgPrefix
		if distinct {
			msg = fmt.Sprintf("%s-%d", msgPrefix, i)
		}
		dev := fmt.Sprintf("%s-dev-%d", msgPrefix, i)
		d := schema.Delivery{DeliveryID: testinfra.IDKey().DeliveryID(e2eApp, msg, dev), MsgID: msg, TaskID: "task-" + msgPrefix, AppID: e2eApp,
			Region: region, PushType: schema.PushSimple, Target: dev, DeviceID: dev, Platform: "android", Channel: channel,
			Token: "reg-" + dev, Title: "Hello", Body: "World", ExpireAt: exp, AcceptedAt: time.Now().UnixMilli()}
		b, err := json.Marshal(d)
		if err != nil {
			e.t.Fatal(err)
		}
		outs[i] = pipeline.Output{Topic: pipeline.DeliveriesTopic(region), Key: []byte(dev), Value: b}
		ids[i] = d.DeliveryID
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.prod.Produce(ctx, outs); err != nil {
		e.t.Fatal(err)
	}
	return ids
}

// gauge reads a gauge with the given labels from reg; ok is false when
// it is not there.
func gauge(reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	mfs, err := reg.Gather()
	if err != nil {
		return 0, false
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// windowRates returns the messages a second the simulator accepted in each
// window of length w starting every step in [from, to-w].
func windowRates(reqs []vendorsim.Request, from, to time.Time, w, step time.Duration) []float64 {
	var out []float64
	for s := from; !s.Add(w).After(to); s = s.Add(step) {
		n := 0
		for _, r := range reqs {
			if !r.Time.Before(s) && r.Time.Before(s.Add(w)) && r.Status == 200 {
				n += len(r.RegIDs)
			}
		}
		out = append(out, float64(n)/w.Seconds())
	}
	return out
}

// TestRegionRateLimitAcrossReplicas runs 1, 2 and 3 sender replicas (each
// its own stage, as app.NewStage builds it) on a backlog of 5,000
// deliveries of one app limited to 200 messages a second in region sg,
// and checks from the simulator's request log that, once the replicas
// share the budget, every 5-second window carries 0.9–1.05 × 200/s. The
// three setups (each its own broker and simulator) run at the same time.
func TestRegionRateLimitAcrossReplicas(t *testing.T) {
	const (
		limit    = 200.0
		backlog  = 5000
		window   = 5 * time.Second
		step     = 250 * time.Millisecond
		measured = 8 * time.Second
	)
	type run struct {
		replicas int
		env      *env
		regs     []*prometheus.Registry
		start    time.Time
		// Filled by the measurement.
		shares []float64
		warm   time.Duration
		rates  []float64
		total  int
		err    error
	}
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	var runs []*run
	for _, replicas := range []int{1, 2, 3} {
		e := newEnv(t, []string{"sg"}, 6, log, func(c *config.Config) {
			c.Sender.RateLimit.Apps = []middleware.AppLimit{{AppID: e2eApp, Vendor: "mipush", Limit: middleware.Limit{Rate: limit, Unit: middleware.UnitMessages}}}
			// A replica finishes its in-flight batch when it stops; at
			// 67/s a batch of 200 takes 3s.
			c.Stage.BatchSize = 200
		})
		e.publishDeliveries("sg", "bulk", backlog, false)
		r := &run{replicas: replicas, env: e, start: time.Now()}
		for range replicas {
			r.regs = append(r.regs, e.run([]string{"sg"}, app.Sender))
		}
		runs = append(runs, r)
	}

	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Go(func() {
			// Warm-up: every replica is in the stable group and the
			// replicas' shares add up to the whole budget.
			w, err := pipeline.NewGroupWatcher(pipeline.GroupWatcherConfig{Brokers: r.env.brokers,
				GroupID: "pushpipe.sender.sg", Topic: pipeline.DeliveriesTopic("sg")})
			if err != nil {
				r.err = err
				return
			}
			for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
				if time.Now().After(deadline) {
					r.err = fmt.Errorf("replicas never settled on their shares: %v", r.shares)
					return
				}
				g, err := w.Describe(context.Background())
				if err != nil || !g.Stable() || g.Size() != r.replicas {
					continue
				}
				r.shares = r.shares[:0]
				sum := 0.0
				for _, reg := range r.regs {
					s, _ := gauge(reg, "pushpipe_sender_rate_budget_share", map[string]string{"region": "sg"})
					r.shares = append(r.shares, s)
					sum += s
				}
				if math.Abs(sum-1) < 1e-9 {
					break
				}
			}
			time.Sleep(time.Second)
			from := time.Now()
			r.warm = from.Sub(r.start)
			time.Sleep(measured)
			reqs := r.env.sim.Requests("mipush", "sg")
			r.rates = windowRates(reqs, from, time.Now(), window, step)
			for _, q := range reqs {
				r.total += len(q.RegIDs)
			}
		})
	}
	wg.Wait()

	for _, r := range runs {
		t.Run(fmt.Sprintf("%d replicas", r.replicas), func(t *testing.T) {
			if r.err != nil {
				t.Fatal(r.err)
			}
			sorted := append([]float64(nil), r.rates...)
			sort.Float64s(sorted)
			t.Logf("%d replicas, shares %v: warm-up %s; %d windows of %s: min %.1f/s, max %.1f/s (limit %.0f/s); %d of %d sent",
				r.replicas, r.shares, r.warm.Round(100*time.Millisecond), len(r.rates), window, sorted[0], sorted[len(sorted)-1], limit, r.total, backlog)
			var bad []string
			for i, rate := range r.rates {
				if rate < 0.9*limit || rate > 1.05*limit {
					bad = append(bad, fmt.Sprintf("window at +%s: %.1f/s", time.Duration(i)*step, rate))
				}
			}
			if len(bad) > 0 {
				t.Fatalf("windows outside [%.0f, %.0f]/s:\n%s", 0.9*limit, 1.05*limit, strings.Join(bad, "\n"))
			}
			if r.total >= backlog {
				t.Fatalf("the backlog ran out (%d sent); the measurement needs a busy sender", r.total)
			}
		})
	}
}

// TestRegionRateBudgetFollowsReplicas changes the number of sender
// replicas while they work through a backlog limited to 200 messages a
// second: one replica, then a second joins, then it leaves. After each
// change the replicas' shares add up to the whole budget again without a
// restart, and the simulator sees the limit in the seconds that follow.
func TestRegionRateBudgetFollowsReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs about 25s")
	}
	const (
		limit   = 200.0
		backlog = 10000
		window  = 3 * time.Second
	)
	log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.ErrorLevel)
	e := newEnv(t, []string{"sg"}, 6, log, func(c *config.Config) {
		c.Sender.RateLimit.Apps = []middleware.AppLimit{{AppID: e2eApp, Vendor: "mipush", Limit: middleware.Limit{Rate: limit, Unit: middleware.UnitMessages}}}
		c.Stage.BatchSize = 200
	})
	e.publishDeliveries("sg", "bulk", backlog, false)
	w, err := pipeline.NewGroupWatcher(pipeline.GroupWatcherConfig{Brokers: e.brokers, GroupID: "pushpipe.sender.sg", Topic: pipeline.DeliveriesTopic("sg")})
	if err != nil {
		t.Fatal(err)
	}
	regs := map[string]*prometheus.Registry{}
	// settle waits until the group is stable with the given replicas and
	// their shares add up to 1, and returns how long that took.
	settle := func(since time.Time, names ...string) time.Duration {
		t.Helper()
		var shares []float64
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("replicas %v never settled: shares %v", names, shares)
			}
			g, err := w.Describe(context.Background())
			if err != nil || !g.Stable() || g.Size() != len(names) {
				continue
			}
			shares = shares[:0]
			sum := 0.0
			for _, n := range names {
				s, _ := gauge(regs[n], "pushpipe_sender_rate_budget_share", map[string]string{"region": "sg"})
				shares = append(shares, s)
				sum += s
			}
			if math.Abs(sum-1) < 1e-9 {
				return time.Since(since)
			}
		}
	}
	// rate measures the simulator's accepted messages a second over a
	// window starting a second from now.
	rate := func() float64 {
		time.Sleep(time.Second)
		from := time.Now()
		time.Sleep(window)
		return windowRates(e.sim.Requests("mipush", "sg"), from, time.Now(), window, window)[0]
	}
	check := func(what string, took time.Duration) {
		t.Helper()
		r := rate()
		t.Logf("%s: shares settled after %s; %s from a second later: %.1f/s", what, took.Round(10*time.Millisecond), window, r)
		if r < 0.9*limit || r > 1.05*limit {
			t.Fatalf("%s: %.1f/s, want %.0f..%.0f/s", what, r, 0.9*limit, 1.05*limit)
		}
	}

	start := time.Now()
	regs["a"] = e.run([]string{"sg"}, app.Sender)
	check("one replica", settle(start, "a"))

	joined := time.Now()
	var stopB func()
	regs["b"], stopB = e.runStoppable([]string{"sg"}, app.Sender)
	check("a second replica joined", settle(joined, "a", "b"))

	left := time.Now()
	stopB()
	delete(regs, "b")
	check("the second replica left", settle(left, "a"))
}
