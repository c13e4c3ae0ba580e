package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// Shapes of the ceiling figures.
const (
	// ceilingTopic is the dedicated topic of the raw Kafka ceilings.
	ceilingTopic = "bench.ceiling"
	// ceilingRecordBytes is the size of one raw record: a small JSON
	// object like a delivery without its content.
	ceilingRecordBytes = 200
	// ceilingProduceChunk records go in one Produce call, from
	// ceilingWriters goroutines at once.
	ceilingProduceChunk = 1000
	ceilingWriters      = 4
	// ceilingBudget bounds each ceiling measurement.
	ceilingBudget = 20 * time.Second
	// ceilingInserters insert at once into ClickHouse: one per partition,
	// the most eventsink replicas a region runs.
	ceilingInserters = stackPartitions
)

// runCeilings measures what the infrastructure takes at most, with the
// project's own clients: raw produce (acks=all) of o.CeilingRecords small
// records to a dedicated topic with the pipeline's partition count, raw
// consume of them in a consumer group, and raw inserts of event rows in
// eventsink-sized batches into a scratch database. Each part stops after
// ceilingBudget and reports the rate of what it did.
func runCeilings(ctx context.Context, o Options, conn driver.Conn, brokers []string, say func(string, ...any)) ([]Figure, error) {
	n := o.CeilingRecords
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, []pipeline.TopicSpec{{Name: ceilingTopic}}, stackPartitions); err != nil {
		return nil, err
	}
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	say("producing %d raw %d-byte records to %s (%d writers, %d records a call, at most %s)", n, ceilingRecordBytes, ceilingTopic,
		ceilingWriters, ceilingProduceChunk, ceilingBudget)
	produced, el, err := produceParallel(ctx, p, n, ceilingProduceChunk, ceilingWriters, ceilingBudget, ceilingRecord)
	if err != nil {
		return nil, fmt.Errorf("measuring the Kafka produce ceiling: %w", err)
	}
	figs := []Figure{{figProduceCeiling, round(float64(produced)/el.Seconds(), 0), "msgs/s"}}
	say("%d records produced in %s", produced, el.Round(time.Millisecond))

	say("consuming them in a consumer group (at most %s)", ceilingBudget)
	consumed, el, err := consumeCeiling(ctx, brokers, produced)
	if err != nil {
		return nil, fmt.Errorf("measuring the Kafka consume ceiling: %w", err)
	}
	figs = append(figs, Figure{figConsumeCeiling, round(float64(consumed)/el.Seconds(), 0), "msgs/s"})
	say("%d records consumed in %s", consumed, el.Round(time.Millisecond))
	deleteTopic(ctx, brokers, ceilingTopic)

	db := stackPrefix + "ceiling"
	if err := schema.Migrate(ctx, conn, db, 0); err != nil {
		return nil, err
	}
	say("inserting %d event rows into %s (%d rows an insert, %d inserters, at most %s)", n, db, stackBatchSize, ceilingInserters, ceilingBudget)
	rows, el, err := insertCeiling(ctx, conn, db, n)
	if err != nil {
		return nil, fmt.Errorf("measuring the ClickHouse insert ceiling: %w", err)
	}
	say("%d rows inserted in %s", rows, el.Round(time.Millisecond))
	if err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
		return nil, fmt.Errorf("dropping %s: %w", db, err)
	}
	figs = append(figs, Figure{figInsertCeiling, round(float64(rows)/el.Seconds(), 0), "rows/s"})
	return figs, nil
}

// ceilingRecord is raw record i: keyed like a delivery, its value a JSON
// object of ceilingRecordBytes bytes.
func ceilingRecord(i int) pipeline.Output {
	key := strconv.Itoa(i)
	head := `{"seq":` + key + `,"pad":"`
	v := head + strings.Repeat("x", ceilingRecordBytes-len(head)-2) + `"}`
	return pipeline.Output{Topic: ceilingTopic, Key: []byte(key), Value: []byte(v)}
}

// consumeCeiling reads n records of the ceiling topic with a kafka-go
// Reader in a fresh consumer group, set up as the pipeline stages set up
// theirs, without handling or committing them. The time runs from the
// first record (the group join is not counted) and stops at n records or
// ceilingBudget.
func consumeCeiling(ctx context.Context, brokers []string, n int) (int, time.Duration, error) {
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Dialer: benchDialer(), Topic: ceilingTopic, GroupID: "bench.ceiling.consume",
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 10 << 20, MaxWait: 250 * time.Millisecond,
		QueueCapacity: stackBatchSize, ReadLagInterval: -1, HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second,
		IsolationLevel: kafka.ReadCommitted})
	defer r.Close()
	jctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := r.FetchMessage(jctx); err != nil {
		return 0, 0, fmt.Errorf("reading the first record of %s: %w", ceilingTopic, err)
	}
	start := time.Now()
	rctx, cancel := context.WithTimeout(ctx, ceilingBudget)
	defer cancel()
	read := 1
	for read < n {
		if _, err := r.FetchMessage(rctx); err != nil {
			if rctx.Err() != nil && ctx.Err() == nil {
				break
			}
			return read, 0, fmt.Errorf("reading %s (%d of %d): %w", ceilingTopic, read, n, err)
		}
		read++
	}
	return read, time.Since(start), nil
}

// insertCeiling inserts up to n synthetic event rows into db from
// ceilingInserters goroutines, stackBatchSize rows an insert, for at most
// ceilingBudget.
func insertCeiling(ctx context.Context, conn driver.Conn, db string, n int) (int, time.Duration, error) {
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, ceilingInserters)
	from := time.Now().Add(-time.Hour)
	start := time.Now()
	for w := range ceilingInserters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]schema.Event, 0, stackBatchSize+8)
			for time.Since(start) < ceilingBudget {
				first := int(next.Add(stackBatchSize)) - stackBatchSize
				if first >= n {
					return
				}
				batch = batch[:0]
				for i := first; len(batch) < stackBatchSize; i++ {
					batch = SyntheticDelivery(batch, i, n, from, time.Hour)
				}
				batch = batch[:min(stackBatchSize, n-first)]
				if err := schema.InsertEvents(ctx, conn, db, batch); err != nil {
					errs[w] = err
					return
				}
				done.Add(int64(len(batch)))
			}
		}()
	}
	wg.Wait()
	return int(done.Load()), time.Since(start), errors.Join(errs...)
}

// deleteTopic deletes topic to give its memory back to the broker; a
// failure only costs memory, so it is ignored.
func deleteTopic(ctx context.Context, brokers []string, topic string) {
	c := benchClient(brokers)
	_, _ = c.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{topic}})
}
