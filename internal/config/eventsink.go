package config

import (
	"fmt"
	"time"
)

// Defaults of EventsinkConfig.
const (
	DefaultEventsinkBatchSize   = 30000
	DefaultEventsinkBatchWait   = 250 * time.Millisecond
	DefaultEventsinkBatchLinger = 20 * time.Millisecond
)

// EventsinkConfig sizes the event sink's batches, which replace
// stage.batchSize, stage.batchWait and stage.batchLinger for the eventsink
// stage. One batch is one insert into the
// events table (and one into the delivery index and the outcomes):
// ClickHouse takes few large inserts far faster than many small ones, so
// the sink's batches are larger than other stages'. A batch is committed
// only after its rows are stored, whatever its size.
type EventsinkConfig struct {
	// BatchSize is the most events of one batch. Default 30000; at most
	// 1,000,000. Memory grows with it: the records of a batch, as many
	// more queued behind it and the insert's columns are held at once
	// (at 30000, about 80 MB of the eventsink's heap; with its delivery
	// and outcome caches full it peaks at 430-510 MB in the bench's
	// 1M-device broadcast).
	BatchSize int `yaml:"batchSize"`
	// BatchWait is how long the sink gathers events into a batch after
	// its first one arrived. Default 250ms; at most 10s.
	BatchWait time.Duration `yaml:"batchWait"`
	// BatchLinger hands a batch over early once no event arrived for that
	// long (see pipeline.StageConfig.BatchLinger). Default 20ms: longer
	// than the gaps between two fetches from the broker, so that a
	// backlog is inserted in full batches, while a lone event is still
	// stored at once. A negative value turns it off; at most 10s.
	BatchLinger time.Duration `yaml:"batchLinger"`
}

func (e *EventsinkConfig) defaults() {
	if e.BatchSize == 0 {
		e.BatchSize = DefaultEventsinkBatchSize
	}
	if e.BatchWait == 0 {
		e.BatchWait = DefaultEventsinkBatchWait
	}
	if e.BatchLinger == 0 {
		e.BatchLinger = DefaultEventsinkBatchLinger
	}
}

func (e EventsinkConfig) validate() error {
	if e.BatchSize < 1 || e.BatchSize > 1_000_000 {
		return fmt.Errorf("eventsink.batchSize must be between 1 and 1000000, got %d", e.BatchSize)
	}
	if e.BatchWait < 0 || e.BatchWait > 10*time.Second {
		return fmt.Errorf("eventsink.batchWait must be between 0 and 10s, got %s", e.BatchWait)
	}
	if e.BatchLinger > 10*time.Second {
		return fmt.Errorf("eventsink.batchLinger must be at most 10s (negative: off), got %s", e.BatchLinger)
	}
	return nil
}
