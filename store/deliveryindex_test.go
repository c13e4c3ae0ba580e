package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

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
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	if err := store.Migrate(context.Background(), conn, db, 0); err != nil {
		t.Fatal(err)
	}
	return store.NewDeliveryIndex(conn, db)
}
