package config

import (
	"testing"
	"time"
)

// TestEventsinkSection loads the eventsink section: its defaults, values
// given in YAML, and values that Validate refuses saying which key.
func TestEventsinkSection(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		yaml     string
		size     int
		wait     time.Duration
		linger   time.Duration
		wantErr  string
	}{
		{"defaults", "", DefaultEventsinkBatchSize, DefaultEventsinkBatchWait, DefaultEventsinkBatchLinger, ""},
		{"set", "eventsink: {batchSize: 50000, batchWait: 300ms, batchLinger: 5ms}\n", 50000, 300 * time.Millisecond, 5 * time.Millisecond, ""},
		{"linger off", "eventsink: {batchLinger: -1ms}\n", DefaultEventsinkBatchSize, DefaultEventsinkBatchWait, -time.Millisecond, ""},
		{"long linger", "eventsink: {batchLinger: 11s}\n", 0, 0, 0, "eventsink.batchLinger must be at most 10s (negative: off), got 11s"},
		{"negative size", "eventsink: {batchSize: -1}\n", 0, 0, 0, "eventsink.batchSize must be between 1 and 1000000, got -1"},
		{"huge size", "eventsink: {batchSize: 2000000}\n", 0, 0, 0, "eventsink.batchSize must be between 1 and 1000000"},
		{"negative wait", "eventsink: {batchWait: -1s}\n", 0, 0, 0, "eventsink.batchWait must be between 0 and 10s, got -1s"},
		{"long wait", "eventsink: {batchWait: 1m}\n", 0, 0, 0, "eventsink.batchWait must be between 0 and 10s"},
		{"two batches at a time", "eventsink: {concurrentBatches: 2}\n", DefaultEventsinkBatchSize, DefaultEventsinkBatchWait, DefaultEventsinkBatchLinger, ""},
		{"too many batches at once", "eventsink: {concurrentBatches: 9}\n", 0, 0, 0, "eventsink.concurrentBatches must be between 1 and 8 (0 means 1), got 9"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := loadChecked(t, tc.yaml, tc.wantErr)
			if c != nil && (c.Eventsink.BatchSize != tc.size || c.Eventsink.BatchWait != tc.wait || c.Eventsink.BatchLinger != tc.linger) {
				t.Fatalf("eventsink %+v, want batch size %d, wait %s, linger %s", c.Eventsink, tc.size, tc.wait, tc.linger)
			}
		})
	}
}

// TestEventsinkMemoryLimit loads eventsink.memoryLimitMB: its default, a
// value, off, and a value too small to hold the sink.
func TestEventsinkMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		yaml     string
		want     int
		wantErr  string
	}{
		{"default", "", DefaultEventsinkMemoryLimitMB, ""},
		{"set", "eventsink: {memoryLimitMB: 400}\n", 400, ""},
		{"off", "eventsink: {memoryLimitMB: -1}\n", -1, ""},
		{"smallest", "eventsink: {memoryLimitMB: 64}\n", 64, ""},
		{"too small", "eventsink: {memoryLimitMB: 32}\n", 0, "eventsink.memoryLimitMB must be at least 64 (0 means 250, negative: no limit of its own), got 32"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := loadChecked(t, tc.yaml, tc.wantErr)
			if c != nil && c.Eventsink.MemoryLimitMB != tc.want {
				t.Fatalf("eventsink.memoryLimitMB %d, want %d", c.Eventsink.MemoryLimitMB, tc.want)
			}
		})
	}
}
