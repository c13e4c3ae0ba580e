package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestCallbackURLIsNotStored inserts a terminal event carrying a callback
// URL and a token and reads the whole row back: neither is in any column.
func TestCallbackURLIsNotStored(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	const url, token = "https://biz.example.com/push/callback-secret-path", "tok-never-stored"
	d := schema.Delivery{DeliveryID: "d1", MsgID: "m1", TaskID: "t1", AppID: "app", Region: "sg", DeviceID: "dev-1",
		Platform: schema.PlatformAndroid, Channel: "mipush", Token: token, CallbackURL: url}
	e := d.EventFor(schema.EventAcked, time.Now().UnixMilli())
	if e.CallbackURL != url {
		t.Fatalf("the acked event lacks the callback URL: %+v", e)
	}
	if err := store.InsertEvents(ctx, conn, db, []schema.Event{e}); err != nil {
		t.Fatal(err)
	}
	var row string
	if err := conn.QueryRow(ctx, "SELECT toString(tuple(*)) FROM "+db+".events WHERE event_id = ?", e.EventID).Scan(&row); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(row, "dev-1") {
		t.Fatalf("row %s does not hold the event", row)
	}
	if strings.Contains(row, "callback-secret-path") || strings.Contains(row, token) {
		t.Fatalf("the events row stores the callback URL or token: %s", row)
	}
}
