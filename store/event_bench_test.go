package store_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/bench"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// BenchmarkInsertEvents measures store.InsertEvents of one batch of
// synthetic events (bench.SyntheticDelivery's mix, of the last hour) on
// the real ClickHouse, at the event sink's batch sizes; events/s is the
// rate of an inserter that does nothing else.
func BenchmarkInsertEvents(b *testing.B) {
	conn := ch.Conn(b)
	db := testinfra.DBPrefix(b) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{2000, 30000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var events []schema.Event
			for i := 0; len(events) < n; i++ {
				events = bench.SyntheticDelivery(events, i, n, time.Now().Add(-time.Hour), time.Hour)
			}
			events = events[:n]
			b.ReportAllocs()
			for b.Loop() {
				if err := store.InsertEvents(ctx, conn, db, events); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
