package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/bench"
	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// benchStatsEvents is how many synthetic events BenchmarkStatsQuery90Days
// spreads over 90 days (make bench uses 10 million).
const benchStatsEvents = 2_000_000

// BenchmarkStatsQuery90Days measures the 90-day statistics query (day
// granularity, from the per-minute aggregates) over benchStatsEvents
// synthetic events of five app versions (bench.SyntheticDelivery), every
// version and one, on the settled table (OPTIMIZE … FINAL), and reports
// the median as stats_query_p50_ms.
func BenchmarkStatsQuery90Days(b *testing.B) {
	conn := ch.Conn(b)
	db := testinfra.DBPrefix(b) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		b.Fatal(err)
	}
	to := time.Now().UTC().Truncate(time.Minute)
	span := schema.MaxStatsRange
	perDelivery := 3 + 0.98*(1+0.9*(1+0.3+0.7*0.5)) // events of a synthetic delivery, on average
	deliveries := int(float64(benchStatsEvents) / perDelivery)
	batch := make([]schema.Event, 0, 250_008)
	for i := 0; i < deliveries; {
		batch = batch[:0]
		for ; i < deliveries && len(batch) < 250_000; i++ {
			batch = bench.SyntheticDelivery(batch, i, deliveries, to.Add(-span), span)
		}
		if err := store.InsertEvents(ctx, conn, db, batch); err != nil {
			b.Fatal(err)
		}
	}
	// Measure a settled table (as older partitions are), not the parts
	// the inserts left for background merges.
	if err := conn.Exec(ctx, "OPTIMIZE TABLE "+db+".events_minute FINAL"); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name     string
		versions []string
	}{{"every version", nil}, {"one version", []string{"3.1.0"}}} {
		b.Run(bc.name, func(b *testing.B) {
			q := schema.StatsQuery{AppID: "BENCH_APP", From: to.Add(-span), To: to, Granularity: schema.GranularityDay, AppVersions: bc.versions}
			var took []float64
			for b.Loop() {
				t0 := time.Now()
				res, err := store.QueryStats(ctx, conn, db, q)
				if err != nil {
					b.Fatal(err)
				}
				took = append(took, float64(time.Since(t0))/float64(time.Millisecond))
				if res.Total.Pushed == 0 {
					b.Fatal("the query counted nothing")
				}
			}
			slices.Sort(took)
			b.ReportMetric(took[len(took)/2], "stats_query_p50_ms")
		})
	}
}
