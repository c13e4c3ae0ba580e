package config

import (
	"fmt"
	"time"
)

// FanoutConfig tunes the fanout worker.
type FanoutConfig struct {
	// DeviceCache is fanout's cache of devices looked up by id.
	DeviceCache DeviceCacheConfig `yaml:"deviceCache"`
	// ReplayFilter is fanout's filter of the delivery ids already indexed.
	ReplayFilter ReplayFilterConfig `yaml:"replayFilter"`
}

// DeviceCacheConfig configures fanout's device cache (see
// workers/fanout/devicecache): device rows looked up by device id are
// kept in memory, filled from ClickHouse on a miss and dropped by every
// record of push.bindings.R naming the device, so a push never uses a row
// older than the registry's.
type DeviceCacheConfig struct {
	// Disabled reads every device from ClickHouse, as without a cache.
	Disabled bool `yaml:"disabled"`
	// Entries bounds the devices held per region (each a pointer-free
	// record of about 150 to 400 bytes); default 100000.
	Entries int `yaml:"entries"`
	// ColdStart starts the cache empty. By default, once started, fanout
	// fills it in the background with the Entries most recently updated
	// devices of the region (one scan of the devices table per start).
	ColdStart bool `yaml:"coldStart"`
}

// DefaultDeviceCacheEntries is the default of fanout.deviceCache.entries.
const DefaultDeviceCacheEntries = 100_000

func (c *DeviceCacheConfig) defaults() {
	if c.Entries == 0 {
		c.Entries = DefaultDeviceCacheEntries
	}
}

func (c DeviceCacheConfig) validate() error {
	if c.Entries < 1 {
		return fmt.Errorf("fanout.deviceCache.entries must be at least 1, got %d (set fanout.deviceCache.disabled: true to read every device from ClickHouse)", c.Entries)
	}
	return nil
}

// ReplayFilterConfig sizes fanout's replay filter (see
// workers/fanout/replayfilter): a bloom filter of the region's indexed
// delivery ids, built at start from push_R.delivery_index and kept current
// by reading its new parts every Refresh, so that the replay check asks
// ClickHouse only about ids the filter says may have been fanned out.
type ReplayFilterConfig struct {
	// Disabled asks ClickHouse about every delivery id, as without a filter.
	Disabled bool `yaml:"disabled"`
	// Capacity is the number of delivery ids the filter is sized for: the
	// region's deliveries within the index's TTL (clickhouse.eventTtlDays).
	// Memory is about 1.2 bytes an id at a 1% false-positive rate (12 MiB
	// for the default 10,000,000). A filter holding more is rebuilt from
	// the index (logged), with room for twice the index's rows if those
	// exceed Capacity.
	Capacity int `yaml:"capacity"`
	// FalsePositiveRate is the share of fresh ids still checked in
	// ClickHouse; default 0.01.
	FalsePositiveRate float64 `yaml:"falsePositiveRate"`
	// Refresh is how often the index's new parts are read; default 1s.
	Refresh time.Duration `yaml:"refresh"`
	// MaxStaleness: a filter whose last complete read of the index is
	// older than this is not used (every id is checked in ClickHouse);
	// default 5s, at least Refresh.
	MaxStaleness time.Duration `yaml:"maxStaleness"`
}

// Defaults of fanout.replayFilter.
const (
	DefaultReplayFilterCapacity     = 10_000_000
	DefaultReplayFilterFPRate       = 0.01
	DefaultReplayFilterRefresh      = time.Second
	DefaultReplayFilterMaxStaleness = 5 * time.Second
)

func (c *ReplayFilterConfig) defaults() {
	if c.Capacity == 0 {
		c.Capacity = DefaultReplayFilterCapacity
	}
	if c.FalsePositiveRate == 0 {
		c.FalsePositiveRate = DefaultReplayFilterFPRate
	}
	if c.Refresh == 0 {
		c.Refresh = DefaultReplayFilterRefresh
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = max(DefaultReplayFilterMaxStaleness, c.Refresh)
	}
}

func (c ReplayFilterConfig) validate() error {
	switch {
	case c.Disabled:
		return nil
	case c.Capacity < 1:
		return fmt.Errorf("fanout.replayFilter.capacity must be at least 1, got %d (the region's deliveries within clickhouse.eventTtlDays; set fanout.replayFilter.disabled: true to check every id in ClickHouse)", c.Capacity)
	case !(c.FalsePositiveRate > 0 && c.FalsePositiveRate < 0.5):
		return fmt.Errorf("fanout.replayFilter.falsePositiveRate must be above 0 and below 0.5, got %v (e.g. 0.01)", c.FalsePositiveRate)
	case c.Refresh < 10*time.Millisecond || c.Refresh > time.Minute:
		return fmt.Errorf("fanout.replayFilter.refresh must be between 10ms and 1m, got %v", c.Refresh)
	case c.MaxStaleness < c.Refresh:
		return fmt.Errorf("fanout.replayFilter.maxStaleness (%v) must be at least fanout.replayFilter.refresh (%v)", c.MaxStaleness, c.Refresh)
	}
	return nil
}
