// Package devicecache keeps fanout's look-ups of devices by id out of
// ClickHouse: a bounded cache of device rows, filled from the devices table
// on a miss and kept current from push.bindings.R, the topic from which the
// registry (the table's only writer) writes every row.
//
// Why it never serves a row older than the registry's: the cache reads
// every partition of push.bindings.R itself, without a consumer group, and
// each record naming a device drops the device's entry and marks the
// device pending until the registry's consumer group has committed past
// the record (the registry commits only after ClickHouse acknowledged its
// insert). A row read from ClickHouse is cached only if no such record is
// pending for its device (or the row is newer than every pending one, so
// that the registry will skip them) and none settled while it was being
// read; otherwise it is returned uncached. Before a look-up uses the
// cache, the reader must have reached the end offsets the topic had when
// the look-up began, so every binding record the registry can have stored
// by then has dropped its entry. When that cannot be known (the broker
// does not answer, the reader lags more than SyncWait), the look-up reads
// ClickHouse as if there were no cache.
package devicecache

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/fanout"
)

// Defaults of Config.
const (
	// DefaultEntries bounds the devices held. A row is held as one
	// pointer-free record of its bytes (about 150 to 400 bytes with its
	// key and bookkeeping), so the default holds 15 to 40 MiB (up to twice
	// that while dropped records wait for the arena's compaction), and the
	// garbage collector does not walk it.
	DefaultEntries = 100_000
	// DefaultMaxPending bounds the devices tracked one by one while their
	// binding records wait for the registry.
	DefaultMaxPending = 100_000
	// DefaultSettlePoll is how often the registry's committed offsets are
	// read while binding records are pending.
	DefaultSettlePoll = 100 * time.Millisecond
	// DefaultSyncWait bounds a look-up's wait for the reader of
	// push.bindings.R.
	DefaultSyncWait = time.Second
)

// Config configures a Cache.
type Config struct {
	// Devices is the devices table (*store.Devices): misses are read
	// from it, and every look-up other than Lookup goes straight to it.
	Devices fanout.Devices
	// Brokers are the Kafka bootstrap addresses; Security secures every
	// connection (the zero value is plaintext without authentication).
	Brokers  []string
	Security pipeline.KafkaSecurity
	// Region selects push.bindings.<Region>.
	Region string
	// RegistryGroup is the consumer group of the registry that writes the
	// devices table from push.bindings.<Region> (pushpipe.registry.<Region>).
	RegistryGroup string
	// Entries bounds the devices held (default DefaultEntries); the least
	// recently used is dropped first. Unknown device ids are held too.
	Entries int
	// MaxPending bounds the devices whose binding records the registry
	// has not committed yet that are tracked one by one (default
	// DefaultMaxPending). Past it (the registry is down or far behind) no
	// row is cached until the registry has committed past the records
	// that were not tracked.
	MaxPending int
	// SettlePoll is how often the registry's committed offsets are read
	// while records are pending (default DefaultSettlePoll).
	SettlePoll time.Duration
	// SyncWait bounds how long a look-up waits for the reader of
	// push.bindings.<Region> to reach the topic's end offsets; past it the
	// look-up reads ClickHouse without the cache (default DefaultSyncWait).
	SyncWait time.Duration
	// Warm, if set, calls fn for the limit most recently updated devices
	// (store.Devices.Recent): once Start has caught up, the cache is
	// filled with them in the background, by the same rule as a miss, so
	// that the devices being pushed to now are hits from the start. nil
	// starts empty.
	Warm func(ctx context.Context, limit int, fn func(schema.Device) error) error
	// Metrics receives the cache's metrics (nil: unregistered).
	Metrics prometheus.Registerer
	// Logger receives read errors (once per failure streak).
	Logger zerolog.Logger
}

// Validate says what to fix.
func (c Config) Validate() error {
	switch {
	case c.Devices == nil:
		return errors.New("devicecache: Config.Devices is required (the ClickHouse devices table)")
	case len(c.Brokers) == 0:
		return errors.New("devicecache: Config.Brokers is empty: give at least one host:port")
	case !schema.ValidRegion(c.Region):
		return fmt.Errorf("devicecache: Config.Region %q is not one of %v", c.Region, schema.Regions())
	case c.RegistryGroup == "":
		return errors.New("devicecache: Config.RegistryGroup is empty: name the registry's consumer group (pushpipe.registry.<region>)")
	case c.Entries < 0:
		return fmt.Errorf("devicecache: Config.Entries %d is negative: use 0 for the default %d", c.Entries, DefaultEntries)
	case c.MaxPending < 0:
		return fmt.Errorf("devicecache: Config.MaxPending %d is negative: use 0 for the default %d", c.MaxPending, DefaultMaxPending)
	case c.SettlePoll < 0:
		return fmt.Errorf("devicecache: Config.SettlePoll %s is negative: use 0 for the default %s", c.SettlePoll, DefaultSettlePoll)
	case c.SyncWait < 0:
		return fmt.Errorf("devicecache: Config.SyncWait %s is negative: use 0 for the default %s", c.SyncWait, DefaultSyncWait)
	}
	return nil
}

// entry is a cached look-up: the row, or that the device has none.
type entry struct {
	dev   schema.Device
	found bool
}

// touch is the newest binding record of a device the registry may not
// have stored yet: at offset of partition, with time ts (the registry's
// order); settled is the epoch at which the registry was seen past it (0
// while it is not).
type touch struct {
	partition int
	offset    int64
	ts        time.Time
	settled   uint64
}

// Cache is a fanout.Devices whose Lookup is served from memory where it
// can be (see the package doc); its other methods are those of
// Config.Devices. Lookup is safe for concurrent use. Start is called once
// before Lookup; Close is idempotent.
type Cache struct {
	fanout.Devices
	cfg    Config
	topic  string
	client *kafka.Client
	closer interface{ CloseIdleConnections() }

	mu  sync.Mutex
	lru *lru
	// pending holds the devices touched by binding records the registry
	// may not have stored, by key; overflow the highest untracked offset
	// per partition once pending is full, and overflowSettled the epoch at
	// which the registry was last seen past every untracked record.
	pending         map[string]touch
	overflow        map[int]int64
	overflowSettled uint64
	// epoch counts the reads of the registry's offsets; inflight counts
	// the ClickHouse reads in progress by the epoch they began in.
	epoch    uint64
	inflight map[uint64]int
	// read is the next offset to read per partition; advanced is closed
	// (and replaced) whenever it moves.
	read     map[int]int64
	advanced chan struct{}

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once

	lookups *prometheus.CounterVec
	refused prometheus.Counter
	entries prometheus.Gauge
	// warming is 1 while the warm start runs, else 0.
	warming prometheus.Gauge
}

// Look-up outcomes counted per device id.
const (
	outcomeHit    = "hit"
	outcomeMiss   = "miss"
	outcomeBypass = "bypass"
)

// New returns a cache; it reads nothing until Start.
func New(cfg Config) (*Cache, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Entries == 0 {
		cfg.Entries = DefaultEntries
	}
	if cfg.MaxPending == 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	if cfg.SettlePoll == 0 {
		cfg.SettlePoll = DefaultSettlePoll
	}
	if cfg.SyncWait == 0 {
		cfg.SyncWait = DefaultSyncWait
	}
	transport := cfg.Security.Transport("pushpipe-device-cache")
	c := &Cache{Devices: cfg.Devices, cfg: cfg, topic: pipeline.BindingsTopic(cfg.Region), lru: newLRU(cfg.Entries),
		client:  &kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Transport: transport, Timeout: 10 * time.Second},
		closer:  transport,
		pending: map[string]touch{}, overflow: map[int]int64{}, inflight: map[uint64]int{},
		read: map[int]int64{}, advanced: make(chan struct{})}
	labels := prometheus.Labels{"region": cfg.Region}
	c.lookups = pipeline.Register(cfg.Metrics, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "pushpipe", Subsystem: "fanout", Name: "device_cache_lookups_total", ConstLabels: labels,
		Help: "Device ids fanout looked up, by result: hit (served from the cache), miss (read from ClickHouse), bypass (read from ClickHouse without the cache: the reader of push.bindings could not be shown current).",
	}, []string{"result"}))
	for _, o := range []string{outcomeHit, outcomeMiss, outcomeBypass} {
		c.lookups.WithLabelValues(o)
	}
	c.refused = pipeline.Register(cfg.Metrics, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "pushpipe", Subsystem: "fanout", Name: "device_cache_fills_refused_total", ConstLabels: labels,
		Help: "Device rows read from ClickHouse but not cached, because a binding record of the device was not yet stored by the registry.",
	}))
	c.entries = pipeline.Register(cfg.Metrics, prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "pushpipe", Subsystem: "fanout", Name: "device_cache_entries", ConstLabels: labels,
		Help: "Device ids held by the cache (rows and unknown ids).",
	}))
	c.warming = pipeline.Register(cfg.Metrics, prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: "pushpipe", Subsystem: "fanout", Name: "device_cache_warming", ConstLabels: labels,
		Help: "1 while the warm start reads the most recently updated devices from ClickHouse into the cache (look-ups are served meanwhile, the devices not yet read from ClickHouse), else 0.",
	}))
	return c, nil
}

func key(appID, deviceID string) string { return appID + "\x00" + deviceID }

// Lookup returns the rows of the given device ids of an app, as
// fanout.Devices.Lookup does: from the cache where an entry is held,
// from ClickHouse for the others (caching them when it may). An error is
// ClickHouse's; the cache's own troubles only make it read ClickHouse.
func (c *Cache) Lookup(ctx context.Context, appID string, ids []string) (map[string]schema.Device, error) {
	if len(ids) == 0 {
		return map[string]schema.Device{}, nil
	}
	if err := c.sync(ctx); err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.lookups.WithLabelValues(outcomeBypass).Add(float64(len(ids)))
		c.cfg.Logger.Debug().Err(err).Msg("device look-up bypasses the cache")
		return c.Devices.Lookup(ctx, appID, ids)
	}
	out := make(map[string]schema.Device, len(ids))
	var miss []string
	c.mu.Lock()
	for _, id := range ids {
		if e, ok := c.lru.Get(key(appID, id)); ok {
			if e.found {
				out[id] = e.dev
			}
			continue
		}
		miss = append(miss, id)
	}
	var epoch uint64
	if len(miss) > 0 {
		epoch = c.beginLocked()
	}
	c.mu.Unlock()
	c.lookups.WithLabelValues(outcomeHit).Add(float64(len(ids) - len(miss)))
	if len(miss) == 0 {
		return out, nil
	}
	c.lookups.WithLabelValues(outcomeMiss).Add(float64(len(miss)))
	rows, err := c.Devices.Lookup(ctx, appID, miss)
	c.mu.Lock()
	c.endLocked(epoch)
	if err == nil {
		for _, id := range miss {
			d, found := rows[id]
			c.fillLocked(key(appID, id), d, found, epoch)
		}
		c.entries.Set(float64(c.lru.Len()))
	}
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	for id, d := range rows {
		out[id] = d
	}
	return out, nil
}

// fillLocked caches what a ClickHouse read begun in epoch returned for
// k, unless a binding record of the device may be missing from it, and
// reports whether it did. Called with mu held.
func (c *Cache) fillLocked(k string, d schema.Device, found bool, epoch uint64) bool {
	if len(c.overflow) > 0 || c.overflowSettled > epoch {
		c.refused.Inc()
		return false
	}
	if t, ok := c.pending[k]; ok && (t.settled == 0 || t.settled > epoch) && !(found && d.UpdatedAt.After(t.ts)) {
		// The record may be stored after the read: the row may be older
		// than what the registry writes. A row newer than the record is
		// final for it: the registry skips records older than the row.
		c.refused.Inc()
		return false
	}
	return c.lru.Add(k, entry{dev: d, found: found})
}

// beginLocked registers a ClickHouse read starting now and returns its
// epoch; endLocked unregisters it. Settled records are kept while a read that began
// before they settled is in progress. Called with mu held.
func (c *Cache) beginLocked() uint64 {
	c.inflight[c.epoch]++
	return c.epoch
}

func (c *Cache) endLocked(epoch uint64) {
	if c.inflight[epoch]--; c.inflight[epoch] <= 0 {
		delete(c.inflight, epoch)
	}
}

// errFull stops the warm start once the cache holds Entries devices.
var errFull = errors.New("device cache full")

// warm fills the cache with the most recently updated devices (Warm), by
// the rule of a miss; devices already held are left as they are.
func (c *Cache) warm(ctx context.Context) {
	began := time.Now()
	c.mu.Lock()
	epoch := c.beginLocked()
	c.mu.Unlock()
	n := 0
	err := c.cfg.Warm(ctx, c.cfg.Entries, func(d schema.Device) error {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.lru.Len() >= c.cfg.Entries {
			return errFull
		}
		if k := key(d.AppID, d.DeviceID); !c.lru.Contains(k) && c.fillLocked(k, d, true, epoch) {
			n++
		}
		return nil
	})
	c.mu.Lock()
	c.endLocked(epoch)
	c.entries.Set(float64(c.lru.Len()))
	c.mu.Unlock()
	c.warming.Set(0)
	switch {
	case ctx.Err() != nil:
	case err != nil && !errors.Is(err, errFull):
		c.cfg.Logger.Warn().Err(err).Int("devices", n).Msg("device cache: warm start failed; devices are read on their first look-up")
	default:
		c.cfg.Logger.Debug().Int("devices", n).Dur("took", time.Since(began)).Msg("device cache warmed with the most recently updated devices")
	}
}

// touchLocked records a binding record of the device k at offset of
// partition with time ts. Called with mu held.
func (c *Cache) touchLocked(k string, partition int, offset int64, ts time.Time) {
	if c.lru.Remove(k) {
		c.entries.Set(float64(c.lru.Len()))
	}
	t, ok := c.pending[k]
	if !ok && len(c.pending) >= c.cfg.MaxPending {
		c.overflow[partition] = max(c.overflow[partition], offset)
		return
	}
	if ok && t.settled == 0 && t.ts.After(ts) {
		ts = t.ts
	}
	c.pending[k] = touch{partition: partition, offset: offset, ts: ts}
}

// settle marks settled the records the registry has committed past
// (committed: the next offset it will read, per partition) and forgets
// those no ClickHouse read in progress can have missed.
func (c *Cache) settle(committed map[int]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epoch++
	for k, t := range c.pending {
		if t.settled == 0 && committed[t.partition] > t.offset {
			t.settled = c.epoch
			c.pending[k] = t
		}
	}
	if len(c.overflow) > 0 {
		past := true
		for p, o := range c.overflow {
			past = past && committed[p] > o
		}
		if past {
			c.overflow = map[int]int64{}
			c.overflowSettled = c.epoch
		}
	}
	oldest := c.epoch
	for e := range c.inflight {
		oldest = min(oldest, e)
	}
	for k, t := range c.pending {
		if t.settled != 0 && t.settled <= oldest {
			delete(c.pending, k)
		}
	}
}

// Start looks up the partitions of push.bindings.<Region>, starts one
// reader per partition at the offset the registry has committed (the
// records after it may not be stored yet) and a reader of the registry's
// committed offsets, and returns once the readers have reached the end
// offsets the topic had when Start was called; the warm start (Warm) then
// runs in the background. ctx bounds that wait, not
// the readers; they run until Close.
func (c *Cache) Start(ctx context.Context) error {
	parts, err := pipeline.Partitions(ctx, c.client, c.cfg.Security, c.topic)
	if err != nil {
		return fmt.Errorf("devicecache: %w", err)
	}
	first, err := c.offsets(ctx, parts, false)
	if err != nil {
		return err
	}
	end, err := c.offsets(ctx, parts, true)
	if err != nil {
		return err
	}
	committed, err := c.committed(ctx, parts)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	c.mu.Lock()
	for _, p := range parts {
		c.read[p] = max(committed[p], first[p])
	}
	c.mu.Unlock()
	for _, p := range parts {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: c.cfg.Brokers, Topic: c.topic, Partition: p,
			Dialer:   c.cfg.Security.Dialer("pushpipe-device-cache", 10*time.Second),
			MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 500 * time.Millisecond, ReadBackoffMin: 10 * time.Millisecond,
			ReadBackoffMax: time.Second, StartOffset: kafka.FirstOffset})
		if err := r.SetOffset(c.read[p]); err != nil {
			cancel()
			_ = r.Close()
			c.wg.Wait()
			return fmt.Errorf("devicecache: starting to read %s[%d] at %d: %w", c.topic, p, c.read[p], err)
		}
		c.wg.Go(func() { pipeline.ReadPartition(rctx, r, c.cfg.Logger, "binding records for the device cache", c.add) })
	}
	c.wg.Go(func() { c.settleLoop(rctx, parts) })
	if err := c.waitRead(ctx, end); err != nil {
		return fmt.Errorf("devicecache: reading %s up to its end offsets %v: %w", c.topic, end, err)
	}
	if c.cfg.Warm != nil {
		c.warming.Set(1)
		c.wg.Go(func() { c.warm(rctx) })
	}
	return nil
}

// offsets returns the first or (end) end offsets of the partitions.
func (c *Cache) offsets(ctx context.Context, parts []int, end bool) (map[int]int64, error) {
	out, err := pipeline.Offsets(ctx, c.client, c.topic, parts, end)
	if err != nil {
		return nil, fmt.Errorf("devicecache: %w", err)
	}
	return out, nil
}

// committed returns the offsets the registry's group committed per
// partition (absent: none yet).
func (c *Cache) committed(ctx context.Context, parts []int) (map[int]int64, error) {
	resp, err := c.client.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: c.cfg.RegistryGroup, Topics: map[string][]int{c.topic: parts}})
	if err == nil {
		err = resp.Error
	}
	out := map[int]int64{}
	switch {
	case errors.Is(err, kafka.GroupIdNotFound):
		return out, nil
	case err != nil:
		return nil, fmt.Errorf("devicecache: reading the offsets %s committed on %s: %w", c.cfg.RegistryGroup, c.topic, err)
	}
	for _, p := range resp.Topics[c.topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("devicecache: offset %s committed on %s[%d]: %w", c.cfg.RegistryGroup, c.topic, p.Partition, p.Error)
		}
		if p.CommittedOffset >= 0 {
			out[p.Partition] = p.CommittedOffset
		}
	}
	return out, nil
}

// add applies one binding record: a record naming a device drops the
// device's entry and makes it pending. A record the registry refuses
// (undecodable, no device) changes no row and only advances the offset.
func (c *Cache) add(m kafka.Message) {
	b, err := schema.DecodeBinding(m.Value)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil && b.AppID != "" && b.DeviceID != "" {
		ts := b.TS
		if ts == 0 {
			ts = m.Time.UnixMilli() // as the registry orders it
		}
		c.touchLocked(key(b.AppID, b.DeviceID), m.Partition, m.Offset, time.UnixMilli(ts).UTC())
	}
	c.read[m.Partition] = m.Offset + 1
	close(c.advanced)
	c.advanced = make(chan struct{})
}

// settleLoop reads the registry's committed offsets every SettlePoll while
// records are pending.
func (c *Cache) settleLoop(ctx context.Context, parts []int) {
	t := time.NewTicker(c.cfg.SettlePoll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		idle := len(c.pending) == 0 && len(c.overflow) == 0
		c.mu.Unlock()
		if idle {
			continue
		}
		committed, err := c.committed(ctx, parts)
		if err != nil {
			if ctx.Err() == nil && !failing {
				c.cfg.Logger.Warn().Err(err).Msg("device cache: reading the registry's offsets failed; retrying")
			}
			failing = true
			continue
		}
		failing = false
		c.settle(committed)
	}
}

// sync returns once the readers have reached the end offsets
// push.bindings.<Region> has now, or an error when that is not known
// within SyncWait.
func (c *Cache) sync(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SyncWait)
	defer cancel()
	c.mu.Lock()
	parts := make([]int, 0, len(c.read))
	for p := range c.read {
		parts = append(parts, p)
	}
	c.mu.Unlock()
	if len(parts) == 0 {
		return errors.New("devicecache: not started")
	}
	end, err := c.offsets(ctx, parts, true)
	if err != nil {
		return err
	}
	return c.waitRead(ctx, end)
}

// waitRead returns once every partition has been read up to end.
func (c *Cache) waitRead(ctx context.Context, end map[int]int64) error {
	for {
		c.mu.Lock()
		behind := false
		for p, e := range end {
			if r, ok := c.read[p]; !ok || r < e {
				behind = true
			}
		}
		advanced := c.advanced
		c.mu.Unlock()
		if !behind {
			return nil
		}
		select {
		case <-advanced:
		case <-ctx.Done():
			return fmt.Errorf("waiting for the reader of %s to reach %v: %w", c.topic, end, ctx.Err())
		}
	}
}

// Close stops the readers and waits for them. It is idempotent and safe
// on a cache that was never started.
func (c *Cache) Close() error {
	c.closeOnce.Do(func() {
		if c.cancel != nil {
			c.cancel()
		}
		c.wg.Wait()
		c.closer.CloseIdleConnections()
	})
	return nil
}
