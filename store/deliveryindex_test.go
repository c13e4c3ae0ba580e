package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/cespare/xxhash/v2"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/store"
)

// TestDeliveryIndexExisting indexes deliveries of two apps and asks which
// of a list of ids an app has fanned out.
func TestDeliveryIndexExisting(t *testing.T) {
	ctx, x := context.Background(), newDeliveryIndex(t)
	key := testinfra.IDKey()
	now := time.Now().UnixMilli()
	var rows []store.DeliveryRecord
	for i := range 3 {
		for _, app := range []string{"a", "b"} {
			rows = append(rows, store.DeliveryRecord{DeliveryID: key.DeliveryID(app, "m-"+app, fmt.Sprint(i)), AppID: app, MsgID: "m-" + app,
				DeviceID: fmt.Sprint(i), TS: now})
		}
	}
	if err := x.Insert(ctx, rows); err != nil {
		t.Fatal(err)
	}
	id := func(app string, i int) string { return key.DeliveryID(app, "m-"+app, fmt.Sprint(i)) }
	for _, tc := range []struct {
		scenario string
		app      string
		ask      []string
		want     []string
	}{
		{"indexed and unknown ids", "a", []string{id("a", 0), id("a", 2), id("a", 7)}, []string{id("a", 0), id("a", 2)}},
		{"another app's deliveries are not this app's", "a", []string{id("b", 1)}, nil},
		{"nothing asked", "b", nil, nil},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			got, err := x.Existing(ctx, tc.app, tc.ask)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("Existing = %v, want %v", got, tc.want)
			}
			for _, w := range tc.want {
				if !got[w] {
					t.Fatalf("Existing = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

// TestDeliveryIndexLookupTokensByApp indexes the same (msg id, token) for
// two apps: a lookup naming an app finds that app's delivery only, one
// naming no app (an event from before receipts named their app) the
// smallest delivery id of any app.
func TestDeliveryIndexLookupTokensByApp(t *testing.T) {
	ctx, x := context.Background(), newDeliveryIndex(t)
	key := testinfra.IDKey()
	now := time.Now().UnixMilli()
	idA, idB := key.DeliveryID("app-a", "m", "dev"), key.DeliveryID("app-b", "m", "dev")
	if err := x.Insert(ctx, []store.DeliveryRecord{
		{DeliveryID: idA, AppID: "app-a", MsgID: "m", DeviceID: "dev", Token: "tok", TS: now},
		{DeliveryID: idB, AppID: "app-b", MsgID: "m", DeviceID: "dev", Token: "tok", TS: now},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		scenario string
		ask      store.MsgToken
		want     string
	}{
		{"app a", store.MsgToken{AppID: "app-a", MsgID: "m", Token: "tok"}, idA},
		{"app b", store.MsgToken{AppID: "app-b", MsgID: "m", Token: "tok"}, idB},
		{"an app without such a delivery", store.MsgToken{AppID: "app-c", MsgID: "m", Token: "tok"}, ""},
		{"no app: the smallest id", store.MsgToken{MsgID: "m", Token: "tok"}, min(idA, idB)},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			got, err := x.LookupTokens(ctx, []store.MsgToken{tc.ask})
			if err != nil {
				t.Fatal(err)
			}
			if got[tc.ask] != tc.want || (tc.want == "" && len(got) != 0) {
				t.Fatalf("LookupTokens(%+v) = %v, want %q", tc.ask, got, tc.want)
			}
		})
	}
}

// newDeliveryIndex is the delivery index of the test's own migrated
// database.
func newDeliveryIndex(t *testing.T) *store.DeliveryIndex {
	t.Helper()
	conn, db := migratedSG(t)
	return store.NewDeliveryIndex(conn, db)
}

// migratedSG returns a connection and the test's own database of region
// sg, migrated to the latest version; it fails the test otherwise.
func migratedSG(t *testing.T) (driver.Conn, string) {
	t.Helper()
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	if err := store.Migrate(context.Background(), conn, db, 0); err != nil {
		t.Fatal(err)
	}
	return conn, db
}

// TestDeliveryIndexPartsAndIDHashes inserts two batches (two parts, merges
// stopped) and reads the hashes of the ids of all parts, of the first
// part only and of a part that does not exist: they are ClickHouse's
// xxHash64 of the ids, equal to Go's xxhash.Sum64String.
func TestDeliveryIndexPartsAndIDHashes(t *testing.T) {
	ctx := context.Background()
	conn, db := migratedSG(t)
	if err := conn.Exec(ctx, "SYSTEM STOP MERGES "+db+".delivery_index"); err != nil {
		t.Fatal(err)
	}
	x := store.NewDeliveryIndex(conn, db)
	key := testinfra.IDKey()
	batch := func(msg string) []string {
		var rows []store.DeliveryRecord
		var ids []string
		for i := range 50 {
			id := key.DeliveryID("a", msg, fmt.Sprint(i))
			ids = append(ids, id)
			rows = append(rows, store.DeliveryRecord{DeliveryID: id, AppID: "a", MsgID: msg, DeviceID: fmt.Sprint(i), TS: time.Now().UnixMilli()})
		}
		if err := x.Insert(ctx, rows); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	first := batch("m1")
	before, err := x.Parts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second := batch("m2")
	after, err := x.Parts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 1 || len(after) != 2 {
		t.Fatalf("parts %+v then %+v, want one then two", before, after)
	}
	for _, p := range after {
		if p.Name != before[0].Name && p.MinBlock <= before[0].MaxBlock {
			t.Errorf("the second insert's part %+v has blocks of the first %+v", p, before[0])
		}
	}
	names := func(ps []store.IndexPart) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	for _, tc := range []struct {
		scenario string
		parts    []string
		want     []string
	}{
		{"every part", names(after), append(append([]string{}, first...), second...)},
		{"the first part", names(before), first},
		{"a part that does not exist", []string{"all_999999_999999_0"}, nil},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			got := map[uint64]int{}
			if err := x.IDHashes(ctx, tc.parts, func(h uint64) { got[h]++ }); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d hashes, want %d", len(got), len(tc.want))
			}
			for _, id := range tc.want {
				if got[xxhash.Sum64String(id)] != 1 {
					t.Fatalf("hash of %s read %d times, want once", id, got[xxhash.Sum64String(id)])
				}
			}
		})
	}
}
