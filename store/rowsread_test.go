package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/store"
)

// selectedRows returns ctx made to add the rows its queries read
// (ClickHouse's SelectedRows profile event) to n.
func selectedRows(ctx context.Context, n *atomic.Int64) context.Context {
	return clickhouse.Context(ctx, clickhouse.WithProfileEvents(func(evs []clickhouse.ProfileEvent) {
		for _, e := range evs {
			if e.Type == "increment" && e.Name == "SelectedRows" {
				n.Add(e.Value)
			}
		}
	}))
}

// TestDeliveryIndexExistingReadsFewRows indexes 100,000 deliveries (13
// granules) and asks about ids of which only some were fanned out: the
// ids never indexed cost no granule (the bloom filter of migration 015
// skips them), so the rows read are about one granule per indexed id asked
// about, not every granule the ids' keys fall in.
func TestDeliveryIndexExistingReadsFewRows(t *testing.T) {
	ctx, x := context.Background(), newDeliveryIndex(t)
	key := testinfra.IDKey()
	now := time.Now().UnixMilli()
	const n = 100_000
	rows := make([]store.DeliveryRecord, n)
	for i := range rows {
		rows[i] = store.DeliveryRecord{DeliveryID: key.DeliveryID("a", fmt.Sprint("m-", i), "dev"), AppID: "a", MsgID: fmt.Sprint("m-", i), DeviceID: "dev", TS: now}
	}
	if err := x.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scenario   string
		fresh, old int
	}{
		{"50 fresh ids", 50, 0},
		{"50 fresh ids and 2 fanned out", 50, 2},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var ask []string
			for i := range tc.fresh {
				ask = append(ask, key.DeliveryID("a", fmt.Sprint("fresh-", i), "dev"))
			}
			for i := range tc.old {
				ask = append(ask, rows[(i*7919+13)%n].DeliveryID)
			}
			var read atomic.Int64
			got, err := x.Existing(selectedRows(ctx, &read), "a", ask)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.old {
				t.Fatalf("Existing found %d ids, want %d", len(got), tc.old)
			}
			// Each fanned-out id reads its granule (8,192 rows); the fresh
			// ones read none, but for a rare false positive of the filter.
			if got, most := read.Load(), int64(tc.old+1)*8192-1; got > most {
				t.Fatalf("Existing read %d rows, want at most %d", got, most)
			}
		})
	}
}

// TestDeliveryIndexLookupTokensReadsFewRows indexes 100,000 deliveries of
// 1,000 messages (13 granules) and looks up (msg id, token) pairs: the
// projection tokens of delivery_index (migration 017), in (msg id, token)
// order, reads about a granule per message asked about instead of every
// row of the table.
func TestDeliveryIndexLookupTokensReadsFewRows(t *testing.T) {
	ctx, x := context.Background(), newDeliveryIndex(t)
	key := testinfra.IDKey()
	now := time.Now().UnixMilli()
	const n = 100_000
	rows := make([]store.DeliveryRecord, n)
	for i := range rows {
		msg := fmt.Sprint("m-", i%1000)
		rows[i] = store.DeliveryRecord{DeliveryID: key.DeliveryID("a", msg, fmt.Sprint("dev-", i)), AppID: "a", MsgID: msg, Token: fmt.Sprint("tok-", i), TS: now}
	}
	if err := x.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scenario string
		ask      []int // indexes into rows
	}{
		{"one pair", []int{4242}},
		{"three pairs of three messages", []int{7, 50_123, 99_999}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var pairs []store.MsgToken
			for _, i := range tc.ask {
				pairs = append(pairs, store.MsgToken{AppID: "a", MsgID: rows[i].MsgID, Token: rows[i].Token})
			}
			var read atomic.Int64
			got, err := x.LookupTokens(selectedRows(ctx, &read), pairs)
			if err != nil {
				t.Fatal(err)
			}
			for j, i := range tc.ask {
				if got[pairs[j]] != rows[i].DeliveryID {
					t.Fatalf("LookupTokens(%+v) = %q, want %q", pairs[j], got[pairs[j]], rows[i].DeliveryID)
				}
			}
			// Each message asked about reads the granule its key range
			// falls in (8,192 rows), or two when it straddles a boundary.
			if got, most := read.Load(), int64(2*len(tc.ask))*8192; got > most {
				t.Fatalf("LookupTokens read %d rows, want at most %d", got, most)
			}
		})
	}
}

// BenchmarkDeliveryIndexExisting asks about 10 or 100 fresh delivery ids
// at a time over 500,000 indexed deliveries, with the bloom filter of
// migration 015 and with ClickHouse told to ignore it (as before the
// migration), reporting the rows read per id asked about. (ClickHouse
// checks every id of the IN list against every granule the key selects,
// so the false positives, and the rows read, grow with the ids asked
// about at once.)
func BenchmarkDeliveryIndexExisting(b *testing.B) {
	ctx := context.Background()
	conn := ch.Conn(b)
	db := testinfra.DBPrefix(b) + "sg"
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		b.Fatal(err)
	}
	x := store.NewDeliveryIndex(conn, db)
	key := testinfra.IDKey()
	now := time.Now().UnixMilli()
	const n = 500_000
	for start := 0; start < n; start += 100_000 {
		rows := make([]store.DeliveryRecord, 0, 100_000)
		for i := start; i < start+100_000; i++ {
			rows = append(rows, store.DeliveryRecord{DeliveryID: key.DeliveryID("a", fmt.Sprint("m-", i), "dev"), AppID: "a", MsgID: fmt.Sprint("m-", i), DeviceID: "dev", TS: now})
		}
		if err := x.Insert(ctx, rows); err != nil {
			b.Fatal(err)
		}
	}
	if err := conn.Exec(ctx, "OPTIMIZE TABLE "+db+".delivery_index FINAL"); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name     string
		k        int
		settings clickhouse.Settings
	}{
		{"10 ids, bloom filter", 10, nil}, {"10 ids, no skip index", 10, clickhouse.Settings{"use_skip_indexes": 0}},
		{"100 ids, bloom filter", 100, nil}, {"100 ids, no skip index", 100, clickhouse.Settings{"use_skip_indexes": 0}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var read atomic.Int64
			qctx := selectedRows(clickhouse.Context(ctx, clickhouse.WithSettings(bc.settings)), &read)
			i := 0
			for b.Loop() {
				ask := make([]string, bc.k)
				for j := range ask {
					ask[j] = key.DeliveryID("a", fmt.Sprint("fresh-", i, "-", j), "dev")
				}
				i++
				if _, err := x.Existing(qctx, "a", ask); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(read.Load())/float64(bc.k*b.N), "rows/id")
		})
	}
}
