package config

import "fmt"

// FanoutConfig tunes the fanout worker.
type FanoutConfig struct {
	// DeviceCache is fanout's cache of devices looked up by id.
	DeviceCache DeviceCacheConfig `yaml:"deviceCache"`
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
