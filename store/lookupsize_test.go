package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestLookupsOfLargeBatches asks each look-up of the hot path for more
// keys than one query can carry below ClickHouse's max_query_size
// (256 KiB of SQL): 12,000 delivery ids of the real format, and 10,000
// (msg id, token) pairs with FCM-length tokens. Each must find every key
// it was given rather than fail the batch (an event sink batch that fails
// its outcome look-up is retried forever).
func TestLookupsOfLargeBatches(t *testing.T) {
	ctx := context.Background()
	conn, db := migratedSG(t)
	index, outcomes := store.NewDeliveryIndex(conn, db), store.NewOutcomes(conn, db)
	key := testinfra.IDKey()
	const n = 12_000
	now := time.Now().UnixMilli()
	msg := func(i int) string { return fmt.Sprintf("m-%d", i%7) }
	// An FCM registration token is about 160 characters.
	token := func(i int) string { return fmt.Sprintf("%s:%08d", strings.Repeat("t", 152), i) }
	rows := make([]store.DeliveryRecord, n)
	outs := make([]store.DeliveryOutcome, n)
	ids := make([]string, n)
	pairs := make([]store.MsgToken, n)
	for i := range n {
		ids[i] = key.DeliveryID("app", msg(i), fmt.Sprint(i))
		rows[i] = store.DeliveryRecord{DeliveryID: ids[i], AppID: "app", MsgID: msg(i), DeviceID: fmt.Sprint(i), Token: token(i), TS: now}
		outs[i] = store.DeliveryOutcome{MsgID: msg(i), DeliveryID: ids[i], EventID: "e-" + ids[i], Event: schema.EventAcked, TS: now}
		pairs[i] = store.MsgToken{AppID: "app", MsgID: msg(i), Token: token(i)}
	}
	if err := index.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	if err := outcomes.Insert(ctx, outs); err != nil {
		t.Fatal(err)
	}
	if size := n * (len(ids[0]) + 4); size <= 256<<10 {
		t.Fatalf("the ids take %d bytes as literals, not more than one query holds", size)
	}
	for _, tc := range []struct {
		scenario string
		lookup   func() (found int, err error)
	}{
		{"delivery index by id", func() (int, error) {
			got, err := index.Lookup(ctx, ids)
			return len(got), err
		}},
		{"delivery index by msg id and token", func() (int, error) {
			got, err := index.LookupTokens(ctx, pairs)
			return len(got), err
		}},
		{"outcomes by msg id and delivery id", func() (int, error) {
			got, err := outcomes.Lookup(ctx, outs)
			return len(got), err
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			found, err := tc.lookup()
			if err != nil {
				t.Fatal(err)
			}
			if found != n {
				t.Fatalf("found %d of %d", found, n)
			}
		})
	}
}
