package config

import (
	"strings"
	"testing"
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
			c, err := Load(write(t, tc.body))
			if err == nil {
				err = c.Validate()
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Fanout.DeviceCache != tc.want {
				t.Fatalf("fanout.deviceCache = %+v, want %+v", c.Fanout.DeviceCache, tc.want)
			}
		})
	}
}
