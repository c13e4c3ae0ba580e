package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"
)

// BenchmarkProduceCall measures one stage-sized Produce call as the
// unicast stages make it: a few records keyed by device over two topics
// of 4 partitions each (a delivery and an event per request), one call
// after the other, through a Producer with StageBatchTimeout. It reports
// the CPU time (user+system) of the test process per call, which includes
// the embedded broker answering the produce requests, and the wall time
// of a call.
//
//	go test -run '^$' -bench ProduceCall -benchtime 3000x ./pipeline/
func BenchmarkProduceCall(b *testing.B) {
	for _, requests := range []int{1, 4} {
		b.Run(fmt.Sprintf("requests=%d", requests), func(b *testing.B) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			deliveries := testTopic(b, ctx, "deliveries", 4)
			events := testTopic(b, ctx, "events", 4)
			p := newTestProducer(b, StageBatchTimeout)
			outs := make([]Output, 0, 2*requests)
			call := func(i int) {
				outs = outs[:0]
				for r := range requests {
					id := []byte("device-" + strconv.Itoa(i*requests+r))
					outs = append(outs,
						Output{Topic: deliveries, Key: id, Value: make([]byte, 300)},
						Output{Topic: events, Key: id, Value: make([]byte, 200)})
				}
				if err := p.Produce(ctx, outs); err != nil {
					b.Fatal(err)
				}
			}
			call(-1) // connections and metadata
			cpu0 := processCPU(b)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				call(i)
			}
			b.StopTimer()
			b.ReportMetric(float64((processCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu_us/call")
		})
	}
}
