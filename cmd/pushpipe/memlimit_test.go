package main

import (
	"math"
	"runtime/debug"
	"testing"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/internal/config"
)

// TestEventsinkMemoryLimit checks which soft memory limit an eventsink
// process gets: eventsink.memoryLimitMB, unless memoryLimitMB, GOMEMLIMIT
// or AUTOMEMLIMIT decide or a lower limit is already set.
func TestEventsinkMemoryLimit(t *testing.T) {
	const mib = 1 << 20
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	for _, tc := range []struct {
		scenario    string
		processMB   int
		sinkMB      int
		env         string
		already     int64
		wantLimitMB int64
	}{
		{scenario: "the sink's own limit", sinkMB: 250, already: math.MaxInt64, wantLimitMB: 250},
		{scenario: "off", sinkMB: -1, already: math.MaxInt64, wantLimitMB: math.MaxInt64 / mib},
		{scenario: "memoryLimitMB decides", processMB: 400, sinkMB: 250, already: 400 * mib, wantLimitMB: 400},
		{scenario: "GOMEMLIMIT decides", sinkMB: 250, env: "GOMEMLIMIT", already: 500 * mib, wantLimitMB: 500},
		{scenario: "AUTOMEMLIMIT decides", sinkMB: 250, env: "AUTOMEMLIMIT", already: 500 * mib, wantLimitMB: 500},
		{scenario: "a lower cgroup limit stays", sinkMB: 250, already: 180 * mib, wantLimitMB: 180},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if tc.env != "" {
				t.Setenv(tc.env, "500MiB")
			}
			debug.SetMemoryLimit(tc.already)
			cfg := &config.Config{MemoryLimitMB: tc.processMB, Eventsink: config.EventsinkConfig{MemoryLimitMB: tc.sinkMB}}
			setEventsinkMemoryLimit(cfg, zerolog.Nop())
			if got := debug.SetMemoryLimit(-1) / mib; got != tc.wantLimitMB {
				t.Fatalf("soft memory limit %d MiB, want %d MiB", got, tc.wantLimitMB)
			}
		})
	}
}
