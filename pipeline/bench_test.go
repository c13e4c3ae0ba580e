package pipeline

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// BenchmarkStagePassThrough measures a stage whose handler copies every
// record to an output topic: fetch, handle, produce (acks=all), commit.
// Each iteration pre-loads PUSHPIPE_BENCH_RECORDS records (default 100000)
// of 200 bytes on 6 partitions, then times the stage draining them.
//
//	go test -run '^$' -bench StagePassThrough -benchtime 3x ./pipeline/
func BenchmarkStagePassThrough(b *testing.B) {
	n := 100_000
	if v := os.Getenv("PUSHPIPE_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("PUSHPIPE_BENCH_RECORDS=%q: %v", v, err)
		}
	}
	for _, batch := range []int{100, 500, 2000} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += runPassThrough(b, i, n, batch)
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "records/s")
		})
	}
}

func runPassThrough(b *testing.B, iter, n, batch int) time.Duration {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kind := "i" + strconv.Itoa(iter)
	in := testTopic(b, ctx, kind+"-in", 6)
	out := testTopic(b, ctx, kind+"-out", 6)
	p, err := NewProducer(ProducerConfig{Brokers: testBrokers})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	value := make([]byte, 200)
	for start := 0; start < n; start += 10_000 {
		outs := make([]Output, 0, 10_000)
		for i := start; i < min(n, start+10_000); i++ {
			outs = append(outs, Output{Topic: in, Key: []byte("device-" + strconv.Itoa(i%5000)), Value: value})
		}
		if err := p.Produce(ctx, outs); err != nil {
			b.Fatal(err)
		}
	}
	cfg := testStageConfig(b, in, "g."+testName(b)+"."+kind)
	cfg.BatchSize = batch
	cfg.Logger = zerolog.Nop()
	h := BatchHandlerFunc(func(_ context.Context, msgs []kafka.Message) ([]Result, error) {
		res := make([]Result, len(msgs))
		for i, m := range msgs {
			res[i].Outputs = []Output{{Topic: out, Key: m.Key, Value: m.Value}}
		}
		return res, nil
	})
	b.StartTimer()
	start := time.Now()
	rs := startStage(b, cfg, h, p)
	waitCommitted(b, ctx, cfg.GroupID, in)
	took := time.Since(start)
	b.StopTimer()
	if err := rs.stop(b); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d records in %s: %.0f records/s (batch %d)", n, took.Round(time.Millisecond), float64(n)/took.Seconds(), batch)
	return took
}
