package config

import (
	"fmt"
	"time"
)

// Defaults of EventsinkConfig.
const (
	DefaultEventsinkBatchSize   = 50000
	DefaultEventsinkBatchWait   = 250 * time.Millisecond
	DefaultEventsinkBatchLinger = 20 * time.Millisecond
	// DefaultEventsinkConcurrentBatches handles one batch at a time (see
	// EventsinkConfig.ConcurrentBatches for when more pay).
	DefaultEventsinkConcurrentBatches = 1
	// DefaultEventsinkMemoryLimitMB is the soft memory limit of an
	// eventsink process (see EventsinkConfig.MemoryLimitMB).
	DefaultEventsinkMemoryLimitMB = 250
	// minEventsinkMemoryLimitMB is the smallest eventsink.memoryLimitMB:
	// below it the caches and one batch alone fill the limit and the
	// collector would run without pause.
	minEventsinkMemoryLimitMB = 64
)

// EventsinkConfig sizes the event sink's batches, which replace
// stage.batchSize, stage.batchWait and stage.batchLinger for the eventsink
// stage. One batch is one insert into the
// events table (and one into the delivery index and the outcomes):
// ClickHouse takes few large inserts far faster than many small ones, so
// the sink's batches are larger than other stages'. A batch is committed
// only after its rows are stored, whatever its size.
type EventsinkConfig struct {
	// BatchSize is the most events of one batch. Default 50000; at most
	// 1,000,000. Memory grows with it: the records of a batch, as many
	// more queued behind it by the Kafka reader, the batch's message
	// slice and the decoded events are held at once, about 2.3 KB an
	// event (at 50000, about 70 MB of records and 25 MB of slices and
	// events for each batch in flight, see ConcurrentBatches), besides the
	// delivery and outcome caches; MemoryLimitMB keeps the heap from
	// growing to twice that. In the bench's 300,000-device broadcast,
	// alternated with 20000 (no limit of its own) on a loaded machine,
	// 50000 with the 250 MiB limit took ClickHouse's CPU from 31-39 to
	// 25-34 µs a delivery and the whole run's from 77-88 to 68-82, at a
	// peak RSS of 277-286 MB (204-243 MB at 20000). The inserts are sent
	// in blocks of a few thousand rows, so their columns do not grow
	// with it.
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
	// ConcurrentBatches is how many batches the sink works on at once
	// (pipeline.StageConfig.ConcurrentBatches). With 2 the next batch is
	// read and decoded while ClickHouse takes the previous one's
	// inserts; outcomes and receipts are still decided one batch at a
	// time in the order read, and batches are committed in that order.
	// Each batch in flight holds its records and columns (see BatchSize).
	// Default 1: on the bench's 2 cores, 2 raised the sink alone only
	// from 137k to 143k events/s, while in the end-to-end broadcast it
	// took CPU from fanout and sender (23k instead of 34k deliveries/s)
	// and its peak RSS rose from about 450 to 620-700 MB. It pays where
	// the sink has a core to itself and ClickHouse is on another host.
	// Between 1 and 8.
	ConcurrentBatches int `yaml:"concurrentBatches"`
	// MemoryLimitMB is the soft memory limit (Go's
	// runtime/debug.SetMemoryLimit), in MiB, of a process that runs the
	// eventsink worker alone (`pushpipe eventsink`). Without it the
	// garbage collector lets the heap grow to twice what the sink holds
	// (its caches, and each batch's records and events), so the peak
	// resident memory grew by about twice a batch; near the limit the
	// collector runs more often instead. It is not a hard cap: a sink
	// that holds more keeps running, collecting often. The process-wide
	// memoryLimitMB and the GOMEMLIMIT environment variable take
	// precedence, and a lower limit from the container (cgroup) stays.
	// Default 250; at least 64; negative: no limit of its own.
	MemoryLimitMB int `yaml:"memoryLimitMB"`
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
	if e.ConcurrentBatches == 0 {
		e.ConcurrentBatches = DefaultEventsinkConcurrentBatches
	}
	if e.MemoryLimitMB == 0 {
		e.MemoryLimitMB = DefaultEventsinkMemoryLimitMB
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
	if e.ConcurrentBatches < 1 || e.ConcurrentBatches > 8 {
		return fmt.Errorf("eventsink.concurrentBatches must be between 1 and 8 (0 means %d), got %d", DefaultEventsinkConcurrentBatches, e.ConcurrentBatches)
	}
	if e.MemoryLimitMB > 0 && e.MemoryLimitMB < minEventsinkMemoryLimitMB {
		return fmt.Errorf("eventsink.memoryLimitMB must be at least %d (0 means %d, negative: no limit of its own), got %d",
			minEventsinkMemoryLimitMB, DefaultEventsinkMemoryLimitMB, e.MemoryLimitMB)
	}
	return nil
}
