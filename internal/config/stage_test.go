package config

import (
	"testing"
	"time"
)

// TestStageCommitInterval loads stage.commitInterval: its default, a value
// given in YAML, the negative value that commits every batch, and the
// value Validate refuses saying which key.
func TestStageCommitInterval(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		yaml     string
		want     time.Duration
		wantErr  string
	}{
		{"default", "", DefaultStageCommitInterval, ""},
		{"set", "stage: {commitInterval: 1s}\n", time.Second, ""},
		{"every batch", "stage: {commitInterval: -1ms}\n", -time.Millisecond, ""},
		{"too long", "stage: {commitInterval: 11s}\n", 0, "stage.commitInterval must be at most 10s"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := loadChecked(t, tc.yaml, tc.wantErr)
			if c != nil && c.Stage.CommitInterval != tc.want {
				t.Fatalf("stage.commitInterval = %s, want %s", c.Stage.CommitInterval, tc.want)
			}
		})
	}
}

// TestStageBatchWait loads stage.batchWait: its default, a value given in
// YAML, the negative value that does not wait, and the value Validate
// refuses saying which key.
func TestStageBatchWait(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		yaml     string
		want     time.Duration
		wantErr  string
	}{
		{"default", "", DefaultStageBatchWait, ""},
		{"set", "stage: {batchWait: 10ms}\n", 10 * time.Millisecond, ""},
		{"no wait", "stage: {batchWait: -1ms}\n", -time.Millisecond, ""},
		{"too long", "stage: {batchWait: 2m}\n", 0, "stage.batchWait 2m0s holds records too long: use at most 1m"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := loadChecked(t, tc.yaml, tc.wantErr)
			if c != nil && c.Stage.BatchWait != tc.want {
				t.Fatalf("stage.batchWait = %s, want %s", c.Stage.BatchWait, tc.want)
			}
		})
	}
}
