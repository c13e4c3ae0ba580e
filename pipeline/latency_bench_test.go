package pipeline

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// BenchmarkStageLatency measures one record's way through a pass-through
// stage at a paced rate: produce (acks=all) → fetch → batch → handle →
// produce → read back, for PUSHPIPE_BENCH_RECORDS records (default 2000)
// at 2,000/s and 5,000/s, with the stage's batching and the producer's
// BatchTimeout and CommitInterval as each sub-benchmark says. It reports the p50 and p99 in
// ms, the records per batch and the CPU time (user+system) of the test
// process (publisher, stage and reader; not the broker) per record.
//
//	go test -run '^$' -bench StageLatency -benchtime 1x ./pipeline/
func BenchmarkStageLatency(b *testing.B) {
	n := 2000
	if v := os.Getenv("PUSHPIPE_BENCH_RECORDS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			b.Fatalf("PUSHPIPE_BENCH_RECORDS=%q: %v", v, err)
		}
	}
	type config struct {
		name          string
		wait, linger  time.Duration
		produceLinger time.Duration
		commit        time.Duration
	}
	for _, rate := range []int{2000, 5000} {
		for _, tc := range []config{
			{"wait=5ms,linger=1ms,producer=1ms", 5 * time.Millisecond, time.Millisecond, time.Millisecond, 0},
			{"wait=none,producer=1ms", NoBatchWait, 0, time.Millisecond, 0},
			{"wait=none,producer=10µs", NoBatchWait, 0, 10 * time.Microsecond, 0},
			{"wait=none,producer=10µs,commit=100ms", NoBatchWait, 0, 10 * time.Microsecond, 100 * time.Millisecond},
		} {
			b.Run(fmt.Sprintf("rate=%d,%s", rate, tc.name), func(b *testing.B) {
				benchLatency(b, n, rate, tc.wait, tc.linger, tc.produceLinger, tc.commit)
			})
		}
	}
}

func benchLatency(b *testing.B, n, rate int, wait, linger, produceLinger, commit time.Duration) {
	var all []time.Duration
	batches := 0
	cpu0 := processCPU(b)
	for i := 0; i < b.N; i++ {
		lat, nb := runLatency(b, i, n, rate, wait, linger, produceLinger, commit)
		all = append(all, lat...)
		batches += nb
	}
	cpu := processCPU(b) - cpu0
	slices.Sort(all)
	ms := func(q float64) float64 { return float64(all[int(q*float64(len(all)-1))]) / 1e6 }
	b.ReportMetric(ms(0.5), "p50_ms")
	b.ReportMetric(ms(0.99), "p99_ms")
	b.ReportMetric(float64(n*b.N)/float64(batches), "records/batch")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n*b.N), "cpu_us/record")
}

// processCPU is the user+system time of this process so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func runLatency(b *testing.B, iter, n, rate int, wait, linger, produceLinger, commit time.Duration) ([]time.Duration, int) {
	b.StopTimer()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	kind := "l" + strconv.Itoa(iter) + "r" + strconv.Itoa(rate)
	in := testTopic(b, ctx, kind+"-in", 4)
	out := testTopic(b, ctx, kind+"-out", 4)
	p, err := NewProducer(ProducerConfig{Brokers: testBrokers, BatchTimeout: produceLinger})
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	cfg := testStageConfig(b, in, "g."+testName(b)+"."+kind)
	cfg.BatchSize, cfg.BatchWait, cfg.BatchLinger, cfg.CommitInterval = 500, wait, linger, commit
	cfg.Logger = zerolog.Nop()
	var mu sync.Mutex
	batches := 0
	h := BatchHandlerFunc(func(_ context.Context, msgs []kafka.Message) ([]Result, error) {
		mu.Lock()
		batches++
		mu.Unlock()
		res := make([]Result, len(msgs))
		for i, m := range msgs {
			res[i].Outputs = []Output{{Topic: out, Key: m.Key, Value: m.Value}}
		}
		return res, nil
	})
	rs := startStage(b, cfg, h, p)
	// The output is read by a reader of every partition from the start.
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: testBrokers, Topic: out, GroupID: "r." + testName(b) + "." + kind,
		StartOffset: kafka.FirstOffset, MinBytes: 1, MaxBytes: 1 << 20, MaxWait: 50 * time.Millisecond, CommitInterval: time.Second})
	defer func() { _ = r.Close() }()
	// Warm up: a first record through, so the group has joined.
	if err := p.Produce(ctx, []Output{{Topic: in, Key: []byte("w"), Value: []byte("warm-up")}}); err != nil {
		b.Fatal(err)
	}
	if _, err := r.FetchMessage(ctx); err != nil {
		b.Fatal(err)
	}
	mu.Lock()
	batches = 0
	mu.Unlock()
	sent := make([]time.Time, n)
	lat := make([]time.Duration, 0, n)
	done := make(chan error, 1)
	go func() {
		for len(lat) < n {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				done <- err
				return
			}
			i, err := strconv.Atoi(string(m.Value))
			if err != nil {
				done <- fmt.Errorf("output %q: %w", m.Value, err)
				return
			}
			lat = append(lat, time.Since(sent[i]))
		}
		done <- nil
	}()
	b.StartTimer()
	// Paced at rate from a goroutine per record, so a slow produce does
	// not hold back the next.
	tick := time.NewTicker(time.Second / time.Duration(rate))
	var pw sync.WaitGroup
	for i := 0; i < n; i++ {
		<-tick.C
		sent[i] = time.Now()
		pw.Add(1)
		go func(i int) {
			defer pw.Done()
			if err := p.Produce(ctx, []Output{{Topic: in, Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}}); err != nil {
				b.Error(err)
			}
		}(i)
	}
	tick.Stop()
	pw.Wait()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	if err := rs.stop(b); err != nil {
		b.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	return lat, batches
}
