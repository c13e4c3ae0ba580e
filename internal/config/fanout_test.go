package config

import (
	"testing"
	"time"
)

// TestFanoutDeviceCacheSection reads fanout.deviceCache: the default, a
// size, a cold start, the switch that turns it off, and a size that cannot work.
func TestFanoutDeviceCacheSection(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		body     string
		want     DeviceCacheConfig
		wantErr  string
	}{
		{scenario: "default", body: "", want: DeviceCacheConfig{Entries: DefaultDeviceCacheEntries}},
		{scenario: "a size", body: "fanout: {deviceCache: {entries: 5000}}\n", want: DeviceCacheConfig{Entries: 5000}},
		{scenario: "cold start", body: "fanout: {deviceCache: {coldStart: true}}\n", want: DeviceCacheConfig{ColdStart: true, Entries: DefaultDeviceCacheEntries}},
		{scenario: "off", body: "fanout: {deviceCache: {disabled: true}}\n", want: DeviceCacheConfig{Disabled: true, Entries: DefaultDeviceCacheEntries}},
		{scenario: "a negative size", body: "fanout: {deviceCache: {entries: -1}}\n", wantErr: "fanout.deviceCache.entries must be at least 1"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if c := loadChecked(t, tc.body, tc.wantErr); c != nil && c.Fanout.DeviceCache != tc.want {
				t.Fatalf("fanout.deviceCache = %+v, want %+v", c.Fanout.DeviceCache, tc.want)
			}
		})
	}
}

// TestFanoutReplayFilterSection reads fanout.replayFilter: the defaults, a
// size and rate, the switch that turns it off, and settings that cannot work.
func TestFanoutReplayFilterSection(t *testing.T) {
	def := ReplayFilterConfig{Capacity: DefaultReplayFilterCapacity, FalsePositiveRate: DefaultReplayFilterFPRate,
		Refresh: DefaultReplayFilterRefresh, MaxStaleness: DefaultReplayFilterMaxStaleness}
	for _, tc := range []struct {
		scenario string
		body     string
		want     ReplayFilterConfig
		wantErr  string
	}{
		{scenario: "default", body: "", want: def},
		{scenario: "a size and rate", body: "fanout: {replayFilter: {capacity: 100000000, falsePositiveRate: 0.001, refresh: 2s}}\n",
			want: ReplayFilterConfig{Capacity: 100_000_000, FalsePositiveRate: 0.001, Refresh: 2 * time.Second, MaxStaleness: DefaultReplayFilterMaxStaleness}},
		{scenario: "a slow refresh raises the default staleness", body: "fanout: {replayFilter: {refresh: 10s}}\n",
			want: ReplayFilterConfig{Capacity: DefaultReplayFilterCapacity, FalsePositiveRate: DefaultReplayFilterFPRate, Refresh: 10 * time.Second, MaxStaleness: 10 * time.Second}},
		{scenario: "off", body: "fanout: {replayFilter: {disabled: true}}\n", want: func() ReplayFilterConfig { c := def; c.Disabled = true; return c }()},
		{scenario: "a negative capacity", body: "fanout: {replayFilter: {capacity: -1}}\n", wantErr: "fanout.replayFilter.capacity must be at least 1"},
		{scenario: "a rate of 1", body: "fanout: {replayFilter: {falsePositiveRate: 1}}\n", wantErr: "fanout.replayFilter.falsePositiveRate must be above 0 and below 0.5"},
		{scenario: "staleness below refresh", body: "fanout: {replayFilter: {refresh: 3s, maxStaleness: 1s}}\n", wantErr: "must be at least fanout.replayFilter.refresh"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if c := loadChecked(t, tc.body, tc.wantErr); c != nil && c.Fanout.ReplayFilter != tc.want {
				t.Fatalf("fanout.replayFilter = %+v, want %+v", c.Fanout.ReplayFilter, tc.want)
			}
		})
	}
}
