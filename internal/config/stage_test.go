package config

import (
	"testing"
	"time"
)

// TestStageDurations loads stage.commitInterval and stage.batchWait: their
// defaults, values given in YAML, the negative values that commit every
// batch or do not wait, and the values Validate refuses saying which key.
func TestStageDurations(t *testing.T) {
	commitInterval := func(c *Config) time.Duration { return c.Stage.CommitInterval }
	batchWait := func(c *Config) time.Duration { return c.Stage.BatchWait }
	for _, tc := range []struct {
		scenario string
		yaml     string
		key      func(*Config) time.Duration
		want     time.Duration
		wantErr  string
	}{
		{"commitInterval default", "", commitInterval, DefaultStageCommitInterval, ""},
		{"commitInterval set", "stage: {commitInterval: 1s}\n", commitInterval, time.Second, ""},
		{"commitInterval every batch", "stage: {commitInterval: -1ms}\n", commitInterval, -time.Millisecond, ""},
		{"commitInterval too long", "stage: {commitInterval: 11s}\n", commitInterval, 0, "stage.commitInterval must be at most 10s"},
		{"batchWait default", "", batchWait, DefaultStageBatchWait, ""},
		{"batchWait set", "stage: {batchWait: 10ms}\n", batchWait, 10 * time.Millisecond, ""},
		{"batchWait no wait", "stage: {batchWait: -1ms}\n", batchWait, -time.Millisecond, ""},
		{"batchWait too long", "stage: {batchWait: 2m}\n", batchWait, 0, "stage.batchWait 2m0s holds records too long: use at most 1m"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := loadChecked(t, tc.yaml, tc.wantErr)
			if c != nil && tc.key(c) != tc.want {
				t.Fatalf("got %s, want %s", tc.key(c), tc.want)
			}
		})
	}
}
