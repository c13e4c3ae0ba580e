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
	"github.com/pushpipe/pushpipe/store"
)

// Shapes of the ceiling figures. A ceiling is the best rate over several
// shapes (batch sizes, writers, readers, inserters), so that it bounds
// every figure of the run whatever shape the pipeline happens to use; the
// report flags any figure above its ceiling.
const (
	// ceilingTopic is the dedicated topic of the raw Kafka ceilings.
	ceilingTopic = "bench.ceiling"
	// ceilingRecordBytes is the size of one raw record: a small JSON
	// object like a delivery without its content.
	ceilingRecordBytes = 200
	// ceilingShapeBudget bounds the measurement of each shape.
	ceilingShapeBudget = 3 * time.Second
	// ceilingPoolRows is how many distinct event rows the ClickHouse
	// shapes insert from (each insert takes the next slice of them).
	ceilingPoolRows = 200_000
	// eventsinkProduceChunk and eventsinkWriters publish the events of
	// the eventsink-alone figure.
	eventsinkProduceChunk, eventsinkWriters = 1000, 4
)

// produceShapes, consumeShapes and insertShapes are the shapes each
// ceiling tries.
var (
	produceShapes = []shape{{1, 100}, {1, 1000}, {1, 10_000}, {4, 100}, {4, 1000}, {4, 10_000}, {16, 100}, {16, 1000}, {16, 10_000}}
	consumeShapes = []shape{{1, 1}, {1, 10}, {stackPartitions, 1}, {stackPartitions, 10}} // readers, MB a fetch
	insertShapes  = []shape{{1, 1000}, {2, 1000}, {4, 1000}, {1, 10_000}, {2, 10_000}, {4, 10_000}, {1, 100_000}, {2, 100_000}, {4, 100_000}}
)

// shape is one way to load the infrastructure: so many clients at once
// (writers, readers, inserters), each moving so many units a call
// (records a Produce call, MB a fetch, rows an insert).
type shape struct{ clients, size int }

// best is the fastest shape of a ceiling and its rate.
type best struct {
	shape
	rate float64
}

// consider keeps s if it beat the best so far.
func (b *best) consider(s shape, moved int, el time.Duration) float64 {
	if el <= 0 || moved == 0 {
		return 0
	}
	r := float64(moved) / el.Seconds()
	if r > b.rate {
		b.shape, b.rate = s, r
	}
	return r
}

// runCeilings measures what the infrastructure takes at most, with the
// project's own clients, each as the best of its shapes: raw produce
// (acks=all) of small records to a dedicated topic with the pipeline's
// partition count, raw consume of them in consumer groups set up like the
// stages', and raw columnar inserts of event rows into scratch databases.
// Each shape moves at most o.CeilingRecords units and stops after
// ceilingShapeBudget.
func runCeilings(ctx context.Context, env *runEnv) ([]Figure, error) {
	n, brokers, say := env.o.CeilingRecords, env.brokers, env.say
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, []pipeline.TopicSpec{{Name: ceilingTopic}}, stackPartitions); err != nil {
		return nil, err
	}
	p, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		return nil, err
	}
	defer func() { _ = p.Close() }()
	var produce best
	producedTotal := 0
	for _, s := range produceShapes {
		produced, el, err := produceParallel(ctx, p, n, s.size, s.clients, ceilingShapeBudget, ceilingRecord)
		if err != nil {
			return nil, fmt.Errorf("measuring the Kafka produce ceiling (%d writers of %d records a call): %w", s.clients, s.size, err)
		}
		producedTotal += produced
		say("produce, %2d writers of %5d %d-byte records a call: %.0f records/s", s.clients, s.size, ceilingRecordBytes, produce.consider(s, produced, el))
	}
	var consume best
	for i, s := range consumeShapes {
		consumed, el, err := consumeCeiling(ctx, brokers, fmt.Sprintf("bench.ceiling.consume.%d", i), s, min(n, producedTotal))
		if err != nil {
			return nil, fmt.Errorf("measuring the Kafka consume ceiling (%d readers, %d MB fetches): %w", s.clients, s.size, err)
		}
		say("consume, %d readers in a group, fetches of up to %2d MB: %.0f records/s", s.clients, s.size, consume.consider(s, consumed, el))
	}
	deleteTopic(ctx, brokers, ceilingTopic)

	// The ceiling is ClickHouse's: the rows are turned into columns once,
	// each insert sends a slice of them, as store.InsertEvents would.
	pool := store.NewEventColumns(eventsinkEvents("sg", ceilingPoolRows))
	var insert best
	for i, s := range insertShapes {
		db := fmt.Sprintf("%sceiling_%d", stackPrefix, i)
		if err := store.Migrate(ctx, env.conn, db, 0); err != nil {
			return nil, err
		}
		rows, el, err := insertCeiling(ctx, env.conn, db, pool, s, n)
		if err != nil {
			return nil, fmt.Errorf("measuring the ClickHouse insert ceiling (%d inserters of %d rows): %w", s.clients, s.size, err)
		}
		if err := env.conn.Exec(ctx, "DROP DATABASE IF EXISTS "+db); err != nil {
			return nil, fmt.Errorf("dropping %s: %w", db, err)
		}
		say("insert, %d inserters of %6d event rows (columnar): %.0f rows/s", s.clients, s.size, insert.consider(s, rows, el))
	}
	return []Figure{
		{figProduceCeiling, round(produce.rate, 0), "msgs/s"},
		{"kafka_produce_ceiling_writers", float64(produce.clients), "writers"},
		{"kafka_produce_ceiling_records_per_call", float64(produce.size), "records"},
		{figConsumeCeiling, round(consume.rate, 0), "msgs/s"},
		{"kafka_consume_ceiling_readers", float64(consume.clients), "readers"},
		{"kafka_consume_ceiling_fetch_mb", float64(consume.size), "MB"},
		{figInsertCeiling, round(insert.rate, 0), "rows/s"},
		{"clickhouse_insert_ceiling_inserters", float64(insert.clients), "inserters"},
		{"clickhouse_insert_ceiling_rows_per_insert", float64(insert.size), "rows"},
	}, nil
}

// ceilingRecord is raw record i: keyed like a delivery, its value a JSON
// object of ceilingRecordBytes bytes.
func ceilingRecord(i int) pipeline.Output {
	key := strconv.Itoa(i)
	head := `{"seq":` + key + `,"pad":"`
	v := head + strings.Repeat("x", ceilingRecordBytes-len(head)-2) + `"}`
	return pipeline.Output{Topic: ceilingTopic, Key: []byte(key), Value: []byte(v)}
}

// consumeCeiling reads up to n records of the ceiling topic with s.clients
// kafka-go Readers in the fresh consumer group, fetches of up to s.size
// MB, set up as the pipeline stages set up theirs, without handling or
// committing them. The time runs from the first record (the group join is
// not counted) and stops at n records or ceilingShapeBudget.
func consumeCeiling(ctx context.Context, brokers []string, group string, s shape, n int) (int, time.Duration, error) {
	jctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var read atomic.Int64
	var once sync.Once
	var start time.Time
	started := make(chan struct{})
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	errs := make([]error, s.clients)
	var wg sync.WaitGroup
	for i := range s.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Dialer: benchDialer(), Topic: ceilingTopic, GroupID: group,
				StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: s.size << 20, MaxWait: 250 * time.Millisecond,
				QueueCapacity: stackBatchSize, ReadLagInterval: -1, HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second,
				IsolationLevel: kafka.ReadCommitted})
			defer func() { _ = r.Close() }()
			if _, err := r.FetchMessage(jctx); err != nil {
				if rctx.Err() == nil {
					errs[i] = fmt.Errorf("reading the first record of %s: %w", ceilingTopic, err)
				}
				return
			}
			once.Do(func() {
				start = time.Now()
				close(started)
				time.AfterFunc(ceilingShapeBudget, rcancel)
			})
			<-started
			for read.Add(1) < int64(n) {
				if _, err := r.FetchMessage(rctx); err != nil {
					if rctx.Err() != nil && ctx.Err() == nil {
						return
					}
					errs[i] = fmt.Errorf("reading %s: %w", ceilingTopic, err)
					return
				}
			}
			rcancel() // n records read: the others stop too
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, 0, err
	}
	select {
	case <-started:
	default:
		return 0, 0, fmt.Errorf("no reader of %s got a record", ceilingTopic)
	}
	return int(min(read.Load(), int64(n))), time.Since(start), nil
}

// insertCeiling inserts up to n rows of pool into db from s.clients
// goroutines, s.size rows an insert, for at most ceilingShapeBudget.
func insertCeiling(ctx context.Context, conn driver.Conn, db string, pool *store.EventColumns, s shape, n int) (int, time.Duration, error) {
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, s.clients)
	size := min(s.size, pool.Len())
	start := time.Now()
	for w := range s.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Since(start) < ceilingShapeBudget {
				first := int(next.Add(int64(size))) - size
				if first >= n {
					return
				}
				count := min(size, n-first)
				from := first % (pool.Len() - size + 1)
				if err := pool.Slice(from, from+count).Insert(ctx, conn, db); err != nil {
					errs[w] = err
					return
				}
				done.Add(int64(count))
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
