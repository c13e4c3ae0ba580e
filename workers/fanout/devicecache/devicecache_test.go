package devicecache

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/fanout"
	"github.com/pushpipe/pushpipe/workers/registry"
)

var ch *testinfra.ClickHouse

func TestMain(m *testing.M) {
	testinfra.MainWithClickHouse(m, func(c *testinfra.ClickHouse) { ch = c })
}

const (
	region = "sg"
	group  = "pushpipe.registry.sg"
	app    = "app"
)

// fixture is a broker with the region's topics, a ClickHouse database,
// the real registry handler applying records when the test says so (and
// committing its offsets when the test says so), and a cache over them.
type fixture struct {
	t       *testing.T
	brokers []string
	client  *kafka.Client
	prod    *pipeline.Producer
	reg     *registry.Handler
	store   *store.Devices
	metrics *prometheus.Registry
	cache   *Cache
	// store reads, through a hook that may run between a ClickHouse read
	// and the cache's decision to keep its rows.
	hooked *hookedDevices
}

type hookedDevices struct {
	fanout.Devices
	after func()
}

func (h *hookedDevices) Lookup(ctx context.Context, appID string, ids []string) (map[string]schema.Device, error) {
	rows, err := h.Devices.Lookup(ctx, appID, ids)
	if f := h.after; f != nil {
		h.after = nil
		f()
	}
	return rows, err
}

// infra starts a broker with the region's topics (3 partitions) and a
// ClickHouse database of the test, returning the broker addresses and the
// database's devices table.
func infra(tb testing.TB) ([]string, *store.Devices) {
	tb.Helper()
	ctx := context.Background()
	brokers := []string{testinfra.Kafka(tb)}
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics(region), 3); err != nil {
		tb.Fatal(err)
	}
	conn := ch.Conn(tb)
	db := testinfra.DBPrefix(tb) + region
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		tb.Fatal(err)
	}
	return brokers, store.NewDevices(conn, db)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	brokers, devices := infra(t)
	reg, err := registry.New(registry.Config{Region: region, Store: devices})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close() })
	f := &fixture{t: t, brokers: brokers, client: &kafka.Client{Addr: kafka.TCP(brokers...)}, prod: prod, reg: reg, store: devices,
		metrics: prometheus.NewRegistry(), hooked: &hookedDevices{Devices: devices}}
	return f
}

// start starts the cache (configured further by set, if given).
func (f *fixture) start(set func(*Config)) *fixture {
	f.t.Helper()
	cfg := Config{Devices: f.hooked, Brokers: f.brokers, Region: region, RegistryGroup: group,
		SettlePoll: 10 * time.Millisecond, Metrics: f.metrics}
	if set != nil {
		set(&cfg)
	}
	var err error
	if f.cache, err = New(cfg); err != nil {
		f.t.Fatal(err)
	}
	if err := f.cache.Start(context.Background()); err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = f.cache.Close() })
	return f
}

// publish writes binding records onto push.bindings.sg (keyed as the
// gateway keys them), without the registry seeing them yet.
func (f *fixture) publish(bs ...schema.Binding) []kafka.Message {
	f.t.Helper()
	var outs []pipeline.Output
	var msgs []kafka.Message
	for _, b := range bs {
		b.Region = region
		v, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		outs = append(outs, pipeline.Output{Topic: pipeline.BindingsTopic(region), Key: []byte(b.KafkaKey()), Value: v})
		msgs = append(msgs, kafka.Message{Value: v, Time: time.UnixMilli(b.TS)})
	}
	if err := f.prod.Produce(context.Background(), outs); err != nil {
		f.t.Fatal(err)
	}
	return msgs
}

// store has the registry apply records to ClickHouse, without committing.
func (f *fixture) storeRecords(msgs []kafka.Message) {
	f.t.Helper()
	res, err := f.reg.HandleBatch(context.Background(), msgs)
	if err != nil {
		f.t.Fatal(err)
	}
	for i, r := range res {
		if r.Reject != nil {
			f.t.Fatalf("record %d rejected: %+v", i, r.Reject)
		}
	}
}

// commit commits the registry group at the topic's end offsets: every
// record published so far counts as stored.
func (f *fixture) commit() {
	f.t.Helper()
	ctx := context.Background()
	resp, err := f.client.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{
		pipeline.BindingsTopic(region): {kafka.LastOffsetOf(0), kafka.LastOffsetOf(1), kafka.LastOffsetOf(2)}}})
	if err != nil {
		f.t.Fatal(err)
	}
	end := map[int]int64{}
	for _, po := range resp.Topics[pipeline.BindingsTopic(region)] {
		end[po.Partition] = po.LastOffset
	}
	req := &kafka.OffsetCommitRequest{GroupID: group, GenerationID: -1, Topics: map[string][]kafka.OffsetCommit{}}
	for p, o := range end {
		req.Topics[pipeline.BindingsTopic(region)] = append(req.Topics[pipeline.BindingsTopic(region)], kafka.OffsetCommit{Partition: p, Offset: o})
	}
	cresp, err := f.client.OffsetCommit(ctx, req)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, ps := range cresp.Topics {
		for _, p := range ps {
			if p.Error != nil {
				f.t.Fatal(p.Error)
			}
		}
	}
}

// waitSettled waits until the cache has seen the registry past every
// record of the device.
func (f *fixture) waitSettled(deviceID string) {
	f.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.cache.mu.Lock()
		t, pending := f.cache.pending[key(app, deviceID)]
		f.cache.mu.Unlock()
		if !pending || t.settled != 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("the records of %s never settled", deviceID)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (f *fixture) count(result string) float64 {
	return testutil.ToFloat64(f.cache.lookups.WithLabelValues(result))
}

// lookup looks one device up, saying whether the cache served it.
func (f *fixture) lookup(deviceID string) (schema.Device, bool, bool) {
	f.t.Helper()
	hits := f.count(outcomeHit)
	got, err := f.cache.Lookup(context.Background(), app, []string{deviceID})
	if err != nil {
		f.t.Fatal(err)
	}
	d, ok := got[deviceID]
	return d, ok, f.count(outcomeHit) > hits
}

// TestCacheServesWhatTheRegistryWrote changes a cached device through
// the registry and looks it up at each step of the registry's progress:
// before it stored the record (the old row, as ClickHouse has it), after
// it stored it but before it committed (the new row, never a cached old
// one), and once it committed (the new row, cached again).
func TestCacheServesWhatTheRegistryWrote(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		change   schema.Binding
		before   func(schema.Device) bool
		after    func(schema.Device) bool
	}{
		{"a report with a new token",
			schema.Binding{Op: schema.OpReport, Platform: "android", Vendor: "mipush", VendorToken: "tok-2"},
			func(d schema.Device) bool { return d.VendorToken == "tok-1" },
			func(d schema.Device) bool { return d.VendorToken == "tok-2" && d.TokenValid }},
		{"an unbind",
			schema.Binding{Op: schema.OpUnbind},
			func(d schema.Device) bool { return d.UserID == "u1" },
			func(d schema.Device) bool { return d.UserID == "" && d.VendorToken == "tok-1" }},
		{"an invalidate",
			schema.Binding{Op: schema.OpInvalidate, VendorToken: "tok-1"},
			func(d schema.Device) bool { return d.TokenValid },
			func(d schema.Device) bool { return !d.TokenValid }},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			f := newFixture(t).start(nil)
			dev := "dev-1"
			f.storeRecords(f.publish(
				schema.Binding{Op: schema.OpReport, AppID: app, DeviceID: dev, Platform: "android", Vendor: "mipush", VendorToken: "tok-1", TS: 1000},
				schema.Binding{Op: schema.OpBind, AppID: app, DeviceID: dev, UserID: "u1", TS: 1001}))
			f.commit()
			f.waitSettled(dev)
			if d, ok, hit := f.lookup(dev); !ok || hit || !tc.before(d) {
				t.Fatalf("first look-up: %+v found %v from the cache %v, want the stored row read from ClickHouse", d, ok, hit)
			}
			if d, ok, hit := f.lookup(dev); !ok || !hit || !tc.before(d) {
				t.Fatalf("second look-up: %+v found %v from the cache %v, want the row from the cache", d, ok, hit)
			}

			change := tc.change
			change.AppID, change.DeviceID, change.TS = app, dev, 2000
			msgs := f.publish(change)
			if d, _, hit := f.lookup(dev); hit || !tc.before(d) {
				t.Fatalf("look-up before the registry stored the change: %+v from the cache %v, want the row ClickHouse still has", d, hit)
			}
			f.storeRecords(msgs)
			for i := range 2 {
				if d, _, hit := f.lookup(dev); hit || !tc.after(d) {
					t.Fatalf("look-up %d after the registry stored the change, before it committed: %+v from the cache %v, want the new row", i+1, d, hit)
				}
			}
			f.commit()
			f.waitSettled(dev)
			f.lookup(dev) // fills the cache
			if d, _, hit := f.lookup(dev); !hit || !tc.after(d) {
				t.Fatalf("look-up once the registry committed: %+v from the cache %v, want the new row from the cache", d, hit)
			}
		})
	}
}

// TestCacheRefusesARowReadBeforeTheRegistryStored reads a device from
// ClickHouse and, before the cache decides to keep the row, has a
// binding record of the device published, stored and committed by the
// registry and settled in the cache: the row read before is stale and
// must not be cached, so the next look-up sees the new token.
func TestCacheRefusesARowReadBeforeTheRegistryStored(t *testing.T) {
	f := newFixture(t).start(nil)
	dev := "dev-race"
	f.storeRecords(f.publish(schema.Binding{Op: schema.OpReport, AppID: app, DeviceID: dev, Platform: "android", Vendor: "mipush", VendorToken: "tok-old", TS: 1000}))
	f.commit()
	f.waitSettled(dev)
	f.hooked.after = func() {
		f.storeRecords(f.publish(schema.Binding{Op: schema.OpReport, AppID: app, DeviceID: dev, Platform: "android", Vendor: "mipush", VendorToken: "tok-new", TS: 2000}))
		if err := f.cache.sync(context.Background()); err != nil {
			t.Error(err)
		}
		f.commit()
		f.waitSettled(dev)
	}
	if d, _, _ := f.lookup(dev); d.VendorToken != "tok-old" {
		t.Fatalf("the racing look-up read %q, want the row from before the change", d.VendorToken)
	}
	for i := range 2 {
		if d, _, _ := f.lookup(dev); d.VendorToken != "tok-new" {
			t.Fatalf("look-up %d after the change read %q, want tok-new", i+1, d.VendorToken)
		}
	}
}

// TestCacheBounds holds at most Entries devices, and remembers unknown
// device ids until a binding record names them.
func TestCacheBounds(t *testing.T) {
	f := newFixture(t).start(nil)
	f.cache.lru.Resize(5)
	var all []string
	var recs []schema.Binding
	for i := range 10 {
		id := fmt.Sprint("dev-", i)
		all = append(all, id)
		recs = append(recs, schema.Binding{Op: schema.OpReport, AppID: app, DeviceID: id, Platform: "ios", Vendor: "apns", VendorToken: "t-" + id, TS: 1000})
	}
	f.storeRecords(f.publish(recs...))
	f.commit()
	for _, id := range all {
		f.waitSettled(id)
	}
	got, err := f.cache.Lookup(context.Background(), app, all)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 || f.cache.lru.Len() != 5 {
		t.Fatalf("looked up %d devices, holding %d; want 10 and 5", len(got), f.cache.lru.Len())
	}
	if _, ok, hit := f.lookup("dev-new"); ok || hit {
		t.Fatalf("an unknown device: found %v from the cache %v", ok, hit)
	}
	if _, ok, hit := f.lookup("dev-new"); ok || !hit {
		t.Fatalf("an unknown device again: found %v from the cache %v, want its absence cached", ok, hit)
	}
	f.storeRecords(f.publish(schema.Binding{Op: schema.OpReport, AppID: app, DeviceID: "dev-new", Platform: "ios", Vendor: "apns", VendorToken: "t-new", TS: 3000}))
	if d, ok, hit := f.lookup("dev-new"); !ok || hit || d.VendorToken != "t-new" {
		t.Fatalf("the device once reported: %+v found %v from the cache %v, want its new row", d, ok, hit)
	}
}

// TestCacheWarmStart starts a cache over devices the registry stored
// before: it is filled with them in the background and serves them as
// hits, but for a device whose latest record the registry has not stored
// yet, which is read from ClickHouse on its look-up.
func TestCacheWarmStart(t *testing.T) {
	f := newFixture(t)
	var recs []schema.Binding
	for i := range 3 {
		recs = append(recs, schema.Binding{Op: schema.OpReport, AppID: app, DeviceID: fmt.Sprint("dev-", i), Platform: "android", Vendor: "mipush", VendorToken: fmt.Sprint("tok-", i), TS: 1000})
	}
	f.storeRecords(f.publish(recs...))
	f.commit()
	pendingChange := f.publish(schema.Binding{Op: schema.OpReport, AppID: app, DeviceID: "dev-2", Platform: "android", Vendor: "mipush", VendorToken: "tok-2b", TS: 2000})
	release := make(chan struct{})
	f.start(func(c *Config) {
		c.Warm = func(ctx context.Context, n int, fn func(schema.Device) error) error {
			<-release
			return f.store.Recent(ctx, n, fn)
		}
	})
	// The gauge tells an operator the warm start is under way.
	if w := testutil.ToFloat64(f.cache.warming); w != 1 {
		t.Fatalf("device_cache_warming = %v while the warm start reads ClickHouse, want 1", w)
	}
	close(release)
	deadline := time.Now().Add(30 * time.Second)
	for {
		f.cache.mu.Lock()
		n := f.cache.lru.Len()
		f.cache.mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache holds %d devices, want the 2 without a pending record", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for testutil.ToFloat64(f.cache.warming) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("device_cache_warming stays 1 after the warm start filled the cache, want 0")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if e := testutil.ToFloat64(f.cache.entries); e != 2 {
		t.Errorf("device_cache_entries = %v after the warm start, want 2", e)
	}
	for _, id := range []string{"dev-0", "dev-1"} {
		if d, ok, hit := f.lookup(id); !ok || !hit || d.VendorToken != "tok-"+id[4:] {
			t.Fatalf("%s: %+v found %v from the cache %v, want its row from the cache", id, d, ok, hit)
		}
	}
	f.storeRecords(pendingChange)
	if d, ok, hit := f.lookup("dev-2"); !ok || hit || d.VendorToken != "tok-2b" {
		t.Fatalf("dev-2: %+v found %v from the cache %v, want its new row read from ClickHouse", d, ok, hit)
	}
}

// BenchmarkLookup looks up 10 of 20,000 registered devices at a time,
// straight from ClickHouse and through a warm cache (which asks the
// broker for the end offsets of push.bindings first), reporting the rows
// ClickHouse read per device.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	brokers, devices := infra(b)
	const n = 20_000
	rows := make([]schema.Device, n)
	now := time.Now()
	for i := range rows {
		rows[i] = schema.Device{AppID: app, DeviceID: fmt.Sprintf("dev-%08d", i), Platform: "android", Vendor: "mipush",
			VendorToken: fmt.Sprintf("regid-%08d", i), TokenValid: true, UpdatedAt: now}
	}
	if err := devices.Insert(ctx, rows); err != nil {
		b.Fatal(err)
	}
	var read atomic.Int64
	counted := clickhouse.Context(ctx, clickhouse.WithProfileEvents(func(evs []clickhouse.ProfileEvent) {
		for _, e := range evs {
			if e.Type == "increment" && e.Name == "SelectedRows" {
				read.Add(e.Value)
			}
		}
	}))
	c, err := New(Config{Devices: devices, Brokers: brokers, Region: region, RegistryGroup: group, Warm: devices.Recent})
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	for c.lru.Len() < n {
		time.Sleep(10 * time.Millisecond)
	}
	for _, bc := range []struct {
		name string
		d    fanout.Devices
	}{{"clickhouse", devices}, {"cache", c}} {
		b.Run(bc.name, func(b *testing.B) {
			read.Store(0)
			i := 0
			for b.Loop() {
				ids := make([]string, 10)
				for j := range ids {
					ids[j] = rows[(i*7919+j*104729)%n].DeviceID
				}
				i++
				got, err := bc.d.Lookup(counted, app, ids)
				if err != nil || len(got) != len(ids) {
					b.Fatalf("%d of %d devices, err %v", len(got), len(ids), err)
				}
			}
			b.ReportMetric(float64(read.Load())/float64(10*b.N), "rows/device")
		})
	}
}

// TestCacheOverflowAndBypass tracks at most one pending device: records
// of more devices leave no row cached until the registry has committed
// past them. A reader that cannot reach the topic's end makes look-ups
// read ClickHouse without the cache.
func TestCacheOverflowAndBypass(t *testing.T) {
	f := newFixture(t).start(func(c *Config) { c.MaxPending, c.SyncWait = 1, 200*time.Millisecond })
	var recs []schema.Binding
	for i := range 3 {
		recs = append(recs, schema.Binding{Op: schema.OpReport, AppID: app, DeviceID: fmt.Sprint("dev-", i), Platform: "android", Vendor: "mipush", VendorToken: fmt.Sprint("tok-", i), TS: 1000})
	}
	f.storeRecords(f.publish(recs...))
	for range 2 {
		if _, ok, hit := f.lookup("dev-2"); !ok || hit {
			t.Fatalf("dev-2 while records beyond MaxPending wait for the registry: found %v from the cache %v, want it read from ClickHouse each time", ok, hit)
		}
	}
	f.commit()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, hit := f.lookup("dev-2"); hit {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("dev-2 never cached once the registry committed")
		}
		time.Sleep(10 * time.Millisecond)
	}

	f.cache.cancel() // the readers stop; the topic moves on without them
	f.cache.wg.Wait()
	f.storeRecords(f.publish(schema.Binding{Op: schema.OpReport, AppID: app, DeviceID: "dev-2", Platform: "android", Vendor: "mipush", VendorToken: "tok-2b", TS: 2000}))
	bypass := f.count(outcomeBypass)
	if d, _, hit := f.lookup("dev-2"); hit || d.VendorToken != "tok-2b" || f.count(outcomeBypass) != bypass+1 {
		t.Fatalf("dev-2 with a stopped reader: %+v from the cache %v, bypasses %v, want the new row read without the cache", d, hit, f.count(outcomeBypass)-bypass)
	}
}
