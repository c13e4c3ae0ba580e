package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/mipush"
	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/channels/vendorsim/allvendors"
	"github.com/pushpipe/pushpipe/internal/app"
	"github.com/pushpipe/pushpipe/internal/config"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/receipts"
)

const (
	testApp     = "ONEX570DA89211721"
	testSecret  = "e2e-secret"
	testPackage = "com.example.e2e"
)

// env is one test's private pipeline: its own broker, databases,
// simulator and producer.
type env struct {
	t       *testing.T
	cfg     *config.Config
	brokers []string
	conn    driver.Conn
	sim     *vendorsim.Server
	prod    *pipeline.Producer
	// receipts are the receipts workers the simulator posts to, by region
	// (envOptions.simReceipts); nil otherwise.
	receipts map[string]*receipts.Server
	// internal maps the public address of a receipts worker or gateway to
	// the base URL of its internal health server (see internalURL).
	internal map[string]string
	// key is the id key of the pipeline (its secret generated into the
	// state folder, as `pushpipe dev` does).
	key schema.IDKey
	// security secures the workers' Kafka connections (envOptions.security).
	security pipeline.KafkaSecurity
}

// deliveryID is the delivery id the pipeline gives msgID of testApp to
// device dev.
func (e *env) deliveryID(msgID, dev string) string { return e.key.DeliveryID(testApp, msgID, dev) }

// envOptions adjust newEnvOpts.
type envOptions struct {
	// configure, if set, is applied to the configuration after its
	// defaults and before it is validated and used.
	configure func(*config.Config)
	// simReceipts, if set, makes the simulator post receipts with these
	// rates (its URLs are ignored): the harness starts a receipts worker
	// per region before the simulator (env.receipts) and points the
	// simulator at it. Without it the simulator posts none.
	simReceipts *vendorsim.ReceiptsConfig
	// brokers, if set, are the Kafka brokers to use instead of a fresh
	// in-memory broker (e.g. one the test restarts).
	brokers []string
	// security, if set, secures every Kafka connection of the test's
	// workers and producer (a broker with SASL users).
	security pipeline.KafkaSecurity
}

func newEnv(t *testing.T, regions ...string) *env {
	t.Helper()
	return newEnvWith(t, nil, regions...)
}

// newEnvWith is newEnv with configure, if set, applied to the
// configuration after its defaults and before it is validated and used
// (e.g. to shorten the retry backoff).
func newEnvWith(t *testing.T, configure func(*config.Config), regions ...string) *env {
	t.Helper()
	return newEnvOpts(t, envOptions{configure: configure}, regions...)
}

// newEnvOpts is newEnv adjusted by o.
func newEnvOpts(t *testing.T, o envOptions, regions ...string) *env {
	t.Helper()
	configure := o.configure
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	brokers := o.brokers
	if len(brokers) == 0 {
		brokers = []string{testinfra.Kafka(t)}
	}
	cfg := &config.Config{
		StateDir:   t.TempDir(),
		Regions:    regions,
		Kafka:      config.KafkaConfig{Brokers: brokers, Partitions: 2},
		ClickHouse: config.ClickHouseConfig{Addr: ch.Addr(), DatabasePrefix: testinfra.DBPrefix(t)},
		Vendors:    config.VendorsConfig{Simulator: true, SimulatorAddr: "127.0.0.1:0", SimulatorTLSAddr: "127.0.0.1:0"},
		Apps: []config.AppConfig{{AppID: testApp, WorkspaceID: "default",
			Credentials: map[string]any{mipush.Name: &mipush.App{AppSecret: channels.Secret(testSecret), PackageName: testPackage}}}},
	}
	cfg.Defaults()
	// The test app's callbacks may go to the tests' receivers on
	// 127.0.0.1 over http; an app a test adds keeps the default policy
	// (https only, public addresses only) unless the test says otherwise.
	cfg.AllowLocalCallbacks()
	if configure != nil {
		configure(cfg)
	}
	// Every vendor: demo credentials, accepted by the simulator below,
	// and demo receipt credentials, with which the simulator signs.
	if err := app.AddDemoKeys(cfg); err != nil {
		t.Fatal(err)
	}
	// The id secret, generated into the state folder.
	if err := cfg.EnsureDevIDSecret(); err != nil {
		t.Fatal(err)
	}
	key, err := cfg.IDKey()
	if err != nil {
		t.Fatal(err)
	}
	sc := app.SimulatorConfig(cfg)
	sc.MiPush.QuotaPerSecond = 1e6
	// The tests post the receipts they need; simulated ones would go to
	// receipts.addr (not this test's workers) and add unexpected events.
	sc.Receipts.URLs = nil
	prod, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers, Security: o.security})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	e := &env{t: t, cfg: cfg, brokers: brokers, conn: ch.Conn(t), prod: prod, key: key, security: o.security}
	if o.simReceipts != nil {
		sc.Receipts = *o.simReceipts
		sc.Receipts.URLs = map[string]string{}
		sc.Receipts.Credentials = app.SimulatorReceiptCredentials(cfg)
		cfg.Receipts.PublicURLs = map[string]string{}
		e.receipts = map[string]*receipts.Server{}
		for _, r := range regions {
			e.receipts[r] = e.startReceipts(r)
			// Huawei, Honor, HarmonyOS and the app SDK post to the
			// region's worker; MiPush, OPPO and vivo to the receipt
			// address their calls carry.
			sc.Receipts.URLs[r] = e.receipts[r].URL()
			cfg.Receipts.PublicURLs[r] = e.receipts[r].URL()
		}
	}
	sim, err := allvendors.Start(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sim.Close() })
	cfg.Vendors.SimulatorAddr, cfg.Vendors.SimulatorTLSAddr = sim.Addr(), sim.TLSAddr()
	if err := app.WriteSimulatorCA(cfg, sim); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	e.sim = sim
	pctx, pcancel := context.WithTimeout(ctx, time.Minute)
	defer pcancel()
	if err := app.Prepare(pctx, e.deps(), regions); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) deps() app.Deps {
	return app.Deps{Cfg: e.cfg, Brokers: e.brokers, KafkaSecurity: e.security, CH: e.conn, Producer: e.prod,
		Metrics: prometheus.NewRegistry(), Log: zerolog.New(zerolog.NewTestWriter(e.t)).Level(zerolog.WarnLevel)}
}

// run starts the given worker kinds for the given regions in-process and
// stops them (gracefully) when the test ends.
func (e *env) run(regions []string, kinds ...app.Kind) {
	e.t.Helper()
	e.runStoppable(e.deps(), regions, kinds...)
}

func (e *env) publish(outs ...pipeline.Output) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.prod.Produce(ctx, outs); err != nil {
		e.t.Fatal(err)
	}
}

func jsonOut(topic, key string, v any) pipeline.Output {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return pipeline.Output{Topic: topic, Key: []byte(key), Value: b}
}

func (e *env) db(region string) string { return e.cfg.Database(region) }

// eventCounts counts distinct event ids per event name matching where. A
// failed query is tried again for up to 30 s: the embedded ClickHouse is
// started again when a killed worker made it abort.
func (e *env) eventCounts(region, where string, args ...any) map[string]uint64 {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := e.tryEventCounts(region, where, args...)
		if err == nil {
			return out
		}
		if time.Now().After(deadline) {
			e.t.Fatal(err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (e *env) tryEventCounts(region, where string, args ...any) (map[string]uint64, error) {
	return e.countsByEvent("SELECT event, uniqExact(event_id) FROM "+e.db(region)+".events WHERE "+where+" GROUP BY event", args...)
}

// tryMinuteCounts is tryEventCounts read from the per-minute aggregates
// (events_minute), what statistics read.
func (e *env) tryMinuteCounts(region, where string, args ...any) (map[string]uint64, error) {
	return e.countsByEvent("SELECT event, uniqExactMerge(events) FROM "+e.db(region)+".events_minute WHERE "+where+" GROUP BY event", args...)
}

// settledMinuteCounts reads the per-minute aggregates (events_minute) of
// where until settled accepts them or a minute passed, and returns the last
// read (nil if none succeeded). One INSERT makes its events visible an
// instant before their aggregates (events_minute_mv), so a read right after
// waiting on events can see fewer; the caller still asserts what it wants of
// the returned counts.
func (e *env) settledMinuteCounts(region, where string, settled func(map[string]uint64) bool, args ...any) map[string]uint64 {
	e.t.Helper()
	deadline := time.Now().Add(time.Minute)
	var last map[string]uint64
	for {
		got, err := e.tryMinuteCounts(region, where, args...)
		if err == nil {
			last = got
			if settled(got) {
				return got
			}
		}
		if time.Now().After(deadline) {
			return last
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countsByEvent runs query, which selects an event type and a count, and
// returns the counts by event type.
func (e *env) countsByEvent(query string, args ...any) (map[string]uint64, error) {
	rows, err := e.conn.Query(context.Background(), query, args...)
	if err != nil {
		return nil, err
	}
	defer func() { _ = rows.Close() }()
	out := map[string]uint64{}
	for rows.Next() {
		var ev string
		var n uint64
		if err := rows.Scan(&ev, &n); err != nil {
			return nil, err
		}
		out[ev] = n
	}
	return out, rows.Err()
}

// waitFor polls cond until it holds or the timeout passes.
func (e *env) waitFor(what string, timeout time.Duration, cond func() (bool, string)) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(100 * time.Millisecond)
	}
	e.t.Fatalf("timed out after %s waiting for %s; last state: %s", timeout, what, last)
}

// registerDevices publishes device reports of the test app and waits
// until the registry has written them.
func (e *env) registerDevices(region string, devs ...schema.Binding) {
	e.t.Helper()
	e.registerDevicesOf(region, testApp, devs...)
}

// registerDevicesOf publishes device reports of an app and waits until the
// registry has written them.
func (e *env) registerDevicesOf(region, appID string, devs ...schema.Binding) {
	e.t.Helper()
	var outs []pipeline.Output
	ids := make([]string, len(devs))
	for i, d := range devs {
		outs = append(outs, jsonOut(pipeline.BindingsTopic(region), d.KafkaKey(), d))
		ids[i] = d.DeviceID
	}
	e.publish(outs...)
	devices := store.NewDevices(e.conn, e.db(region))
	e.waitFor("devices registered", time.Minute, func() (bool, string) {
		got, err := devices.Lookup(context.Background(), appID, ids)
		return err == nil && len(got) == len(ids), fmt.Sprintf("%d of %d devices, err %v", len(got), len(ids), err)
	})
}

func device(region, id, token string) schema.Binding {
	return schema.Binding{Op: schema.OpReport, Region: region, AppID: testApp, WorkspaceID: "default", DeviceID: id,
		Platform: schema.PlatformAndroid, Vendor: "mipush", VendorToken: token, AppVersion: "2.0", Model: "Redmi"}
}
