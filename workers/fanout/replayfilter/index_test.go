package replayfilter_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/fanout/replayfilter"
)

var ch *testinfra.ClickHouse

func TestMain(m *testing.M) {
	testinfra.MainWithClickHouse(m, func(c *testinfra.ClickHouse) { ch = c })
}

// countingIndex is the real delivery index, counting the ids Existing is
// asked about.
type countingIndex struct {
	*store.DeliveryIndex
	mu    sync.Mutex
	asked int
}

func (x *countingIndex) Existing(ctx context.Context, app string, ids []string) (map[string]bool, error) {
	x.mu.Lock()
	x.asked += len(ids)
	x.mu.Unlock()
	return x.DeliveryIndex.Existing(ctx, app, ids)
}

func (x *countingIndex) take() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	n := x.asked
	x.asked = 0
	return n
}

// TestFilterOverClickHouse builds the filter from a real delivery index,
// then inserts more rows (as another fanout's deliveries, stored by the
// event sink) and merges the table: every indexed id is found (the rows
// inserted later once a refresh read their part), and fresh ids are
// answered without asking ClickHouse.
func TestFilterOverClickHouse(t *testing.T) {
	ctx := context.Background()
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	x := &countingIndex{DeliveryIndex: store.NewDeliveryIndex(conn, db)}
	key := testinfra.IDKey()
	insert := func(msg string) []string {
		var rows []store.DeliveryRecord
		var ids []string
		for i := range 100 {
			id := key.DeliveryID("app", msg, fmt.Sprint(i))
			ids = append(ids, id)
			rows = append(rows, store.DeliveryRecord{DeliveryID: id, AppID: "app", MsgID: msg, DeviceID: fmt.Sprint(i), TS: time.Now().UnixMilli()})
		}
		if err := x.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	before := insert("m-before")
	f, err := replayfilter.New(replayfilter.Config{Index: x, Capacity: 10_000, FalsePositiveRate: 1e-6, Refresh: 20 * time.Millisecond,
		MaxStaleness: time.Minute, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(ctx)
	defer func() { _ = f.Close() }()
	var fresh []string
	for i := range 1000 {
		fresh = append(fresh, key.DeliveryID("app", "m-fresh", fmt.Sprint(i)))
	}
	// found waits until Seen finds every one of ids (Seen asks ClickHouse
	// only about what the filter holds, so this waits for the filter).
	found := func(what string, ids []string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := f.Seen(ctx, "app", ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == len(ids) && f.Ready() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d indexed ids found", what, len(got), len(ids))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	noQuery := func(what string) {
		t.Helper()
		x.take()
		got, err := f.Seen(ctx, "app", fresh)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Fatalf("%s: fresh ids seen: %v", what, got)
		}
		if n := x.take(); n != 0 {
			t.Fatalf("%s: ClickHouse asked about %d of %d fresh ids", what, n, len(fresh))
		}
	}
	found("built", before)
	noQuery("built")
	after := insert("m-after")
	found("inserted after the build", after)
	noQuery("inserted after the build")
	if err := conn.Exec(ctx, "OPTIMIZE TABLE "+db+".delivery_index FINAL"); err != nil {
		t.Fatal(err)
	}
	last := insert("m-last")
	found("after a merge", append(append(append([]string{}, before...), after...), last...))
	noQuery("after a merge")
}
