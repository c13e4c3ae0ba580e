package schema_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
)

// TestMigrateRebuildsStringEventsMinute starts from a database whose
// events_minute holds the event ids' strings (as before the hashed cells),
// with events inserted twice, and checks that Migrate rebuilds it hashed,
// counting every event once, and that new events reach it through the view.
func TestMigrateRebuildsStringEventsMinute(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	for _, stmt := range []string{
		"CREATE DATABASE " + db,
		"CREATE TABLE " + db + ".events_minute (minute DateTime('UTC'), app_id LowCardinality(String), platform LowCardinality(String), channel LowCardinality(String), " +
			"push_type LowCardinality(String), task_id String, event LowCardinality(String), events AggregateFunction(uniqExact, String)) " +
			"ENGINE = AggregatingMergeTree ORDER BY (app_id, event, minute, platform, channel, push_type, task_id)",
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	if err := schema.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	// Migrate found no events yet; put the string table back with an old
	// view and events written twice through it.
	for _, stmt := range []string{
		"DROP VIEW " + db + ".events_minute_mv",
		"DROP TABLE " + db + ".events_minute",
		"CREATE TABLE " + db + ".events_minute (minute DateTime('UTC'), app_id LowCardinality(String), platform LowCardinality(String), channel LowCardinality(String), " +
			"push_type LowCardinality(String), task_id String, event LowCardinality(String), events AggregateFunction(uniqExact, String)) " +
			"ENGINE = AggregatingMergeTree ORDER BY (app_id, event, minute, platform, channel, push_type, task_id)",
		"CREATE MATERIALIZED VIEW " + db + ".events_minute_mv TO " + db + ".events_minute AS SELECT toStartOfMinute(ts) AS minute, app_id, platform, channel, " +
			"push_type, task_id, event, uniqExactState(event_id) AS events FROM " + db + ".events GROUP BY minute, app_id, platform, channel, push_type, task_id, event",
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Add(-time.Hour)
	batch := func(from, n int) []schema.Event {
		var evs []schema.Event
		for i := from; i < from+n; i++ {
			d := schema.Delivery{DeliveryID: fmt.Sprintf("d%d", i), MsgID: "m1", TaskID: "t1", AppID: "app", Region: "sg", DeviceID: fmt.Sprintf("dev%d", i)}
			evs = append(evs, d.EventFor(schema.EventAcked, now.Add(time.Duration(i)*time.Second).UnixMilli()))
		}
		return evs
	}
	for range 2 {
		if err := schema.InsertEvents(ctx, conn, db, batch(0, 300)); err != nil {
			t.Fatal(err)
		}
	}
	count := func() (typ string, n uint64) {
		t.Helper()
		if err := conn.QueryRow(ctx, "SELECT any(type) FROM system.columns WHERE database = ? AND table = 'events_minute' AND name = 'events'", db).Scan(&typ); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT uniqExactMerge(events) FROM "+db+".events_minute WHERE event = 'acked'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return typ, n
	}
	if typ, n := count(); typ != "AggregateFunction(uniqExact, String)" || n != 300 {
		t.Fatalf("before: %s holding %d acked, want the string table holding 300", typ, n)
	}

	for round := 1; round <= 2; round++ {
		if err := schema.Migrate(ctx, conn, db, 0); err != nil {
			t.Fatalf("migrating (round %d): %v", round, err)
		}
		if typ, n := count(); typ != "AggregateFunction(uniqExact, UInt64)" || n != 300 {
			t.Fatalf("after migration round %d: %s holding %d acked, want hashes holding 300", round, typ, n)
		}
	}
	var aside uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name LIKE 'events_minute%'", db).Scan(&aside); err != nil {
		t.Fatal(err)
	}
	if aside != 2 {
		t.Fatalf("%d events_minute tables and views, want the table and its view only", aside)
	}
	// A replay of old events and new ones, through the new view.
	if err := schema.InsertEvents(ctx, conn, db, batch(200, 200)); err != nil {
		t.Fatal(err)
	}
	if _, n := count(); n != 400 {
		t.Fatalf("after new events: %d acked, want 400", n)
	}
}
