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
		wantErr  string
	}{
		{"defaults", "", DefaultEventsinkBatchSize, DefaultEventsinkBatchWait, ""},
		{"set", "eventsink: {batchSize: 50000, batchWait: 250ms}\n", 50000, 250 * time.Millisecond, ""},
		{"negative size", "eventsink: {batchSize: -1}\n", 0, 0, "eventsink.batchSize must be between 1 and 1000000, got -1"},
		{"huge size", "eventsink: {batchSize: 2000000}\n", 0, 0, "eventsink.batchSize must be between 1 and 1000000"},
		{"negative wait", "eventsink: {batchWait: -1s}\n", 0, 0, "eventsink.batchWait must be between 0 and 10s, got -1s"},
		{"long wait", "eventsink: {batchWait: 1m}\n", 0, 0, "eventsink.batchWait must be between 0 and 10s"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := loadChecked(t, tc.yaml, tc.wantErr)
			if c != nil && (c.Eventsink.BatchSize != tc.size || c.Eventsink.BatchWait != tc.wait) {
				t.Fatalf("eventsink %+v, want batch size %d and wait %s", c.Eventsink, tc.size, tc.wait)
			}
		})
	}
}
