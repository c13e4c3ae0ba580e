package pipeline

import (
	"strings"
	"testing"
	"time"
)

func TestStageConfigValidate(t *testing.T) {
	base := StageConfig{Name: "fanout", Region: "eu", Brokers: []string{"127.0.0.1:9092"}, Topic: RequestsTopic("eu"), GroupID: "g"}
	tests := []struct {
		scenario string
		mutate   func(c *StageConfig)
		wantErr  string
	}{
		{scenario: "minimal config uses defaults", mutate: func(*StageConfig) {}},
		{scenario: "missing name", mutate: func(c *StageConfig) { c.Name = "" }, wantErr: "Name is empty"},
		{scenario: "unknown region", mutate: func(c *StageConfig) { c.Region = "us" }, wantErr: `Region "us" is not a region`},
		{scenario: "no brokers", mutate: func(c *StageConfig) { c.Brokers = nil }, wantErr: "Brokers is empty"},
		{scenario: "no topic", mutate: func(c *StageConfig) { c.Topic = "" }, wantErr: "Topic is empty"},
		{scenario: "topic of another region", mutate: func(c *StageConfig) { c.Topic = RequestsTopic("cn") }, wantErr: "does not belong to region"},
		{scenario: "no group", mutate: func(c *StageConfig) { c.GroupID = "" }, wantErr: "GroupID is empty"},
		{scenario: "negative batch size", mutate: func(c *StageConfig) { c.BatchSize = -1 }, wantErr: "BatchSize -1"},
		{scenario: "negative duration", mutate: func(c *StageConfig) { c.BatchLinger = -time.Second }, wantErr: "BatchLinger -1s is negative"},
		{scenario: "periodic commits", mutate: func(c *StageConfig) { c.CommitInterval = 100 * time.Millisecond }},
		{scenario: "negative commit interval", mutate: func(c *StageConfig) { c.CommitInterval = -time.Second }, wantErr: "CommitInterval -1s is negative"},
		{scenario: "commit interval too long", mutate: func(c *StageConfig) { c.CommitInterval = time.Minute }, wantErr: "use at most 10s"},
		{scenario: "no batch wait", mutate: func(c *StageConfig) { c.BatchWait = NoBatchWait }},
		{scenario: "heartbeat too slow for session", mutate: func(c *StageConfig) { c.HeartbeatInterval = 3 * time.Second }, wantErr: "more than a third of SessionTimeout"},
		{scenario: "backoff bounds reversed", mutate: func(c *StageConfig) { c.MinRetryBackoff = time.Minute }, wantErr: "exceeds MaxRetryBackoff"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}
