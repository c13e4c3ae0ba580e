package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestMigrateRebuildsStringEventsMinute starts from a database whose
// events_minute holds the event ids' strings (as before the hashed cells),
// with events inserted twice, and checks that Migrate rebuilds it hashed,
// counting every event once, and that new events reach it through the view.
func TestMigrateRebuildsStringEventsMinute(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	execAll(t, conn,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".events_minute (minute DateTime('UTC'), app_id LowCardinality(String), platform LowCardinality(String), channel LowCardinality(String), "+
			"push_type LowCardinality(String), task_id String, event LowCardinality(String), events AggregateFunction(uniqExact, String)) "+
			"ENGINE = AggregatingMergeTree ORDER BY (app_id, event, minute, platform, channel, push_type, task_id)",
	)
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	// Migrate found no events yet; put the string table back with an old
	// view and events written twice through it.
	execAll(t, conn,
		"DROP VIEW "+db+".events_minute_mv",
		"DROP TABLE "+db+".events_minute",
		"CREATE TABLE "+db+".events_minute (minute DateTime('UTC'), app_id LowCardinality(String), platform LowCardinality(String), channel LowCardinality(String), "+
			"push_type LowCardinality(String), task_id String, event LowCardinality(String), events AggregateFunction(uniqExact, String)) "+
			"ENGINE = AggregatingMergeTree ORDER BY (app_id, event, minute, platform, channel, push_type, task_id)",
		"CREATE MATERIALIZED VIEW "+db+".events_minute_mv TO "+db+".events_minute AS SELECT toStartOfMinute(ts) AS minute, app_id, platform, channel, "+
			"push_type, task_id, event, uniqExactState(event_id) AS events FROM "+db+".events GROUP BY minute, app_id, platform, channel, push_type, task_id, event",
	)
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
		if err := store.InsertEvents(ctx, conn, db, batch(0, 300)); err != nil {
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
		if err := store.Migrate(ctx, conn, db, 0); err != nil {
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
	if err := store.InsertEvents(ctx, conn, db, batch(200, 200)); err != nil {
		t.Fatal(err)
	}
	if _, n := count(); n != 400 {
		t.Fatalf("after new events: %d acked, want 400", n)
	}
}

// previousEventsMinute is events_minute and its view as migration 002
// created them before app_version was a dimension.
func previousEventsMinute(db string) []string {
	return []string{
		"CREATE TABLE " + db + ".events_minute (minute DateTime('UTC'), app_id LowCardinality(String), platform LowCardinality(String), channel LowCardinality(String), " +
			"push_type LowCardinality(String), task_id String, event LowCardinality(String), events AggregateFunction(uniqExact, UInt64)) " +
			"ENGINE = AggregatingMergeTree PARTITION BY toYYYYMM(minute) ORDER BY (app_id, event, minute, platform, channel, push_type, task_id)",
		"CREATE MATERIALIZED VIEW " + db + ".events_minute_mv TO " + db + ".events_minute AS SELECT toStartOfMinute(ts) AS minute, app_id, platform, channel, " +
			"push_type, task_id, event, uniqExactState(cityHash64(event_id)) AS events FROM " + db + ".events GROUP BY minute, app_id, platform, channel, push_type, task_id, event",
	}
}

// TestMigrateAddsAppVersionToEventsMinute starts from a database whose
// events_minute has no app_version (as migration 002 made it), with the
// events of two app versions inserted twice, and checks that Migrate
// rebuilds it with the version, counting every event once per version,
// that a rebuild interrupted before its end is completed by the next
// start, and that new events reach it through the new view.
func TestMigrateAddsAppVersionToEventsMinute(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	exec := func(stmts ...string) {
		t.Helper()
		for _, stmt := range stmts {
			if err := conn.Exec(ctx, stmt); err != nil {
				t.Fatal(err)
			}
		}
	}
	exec("DROP VIEW "+db+".events_minute_mv", "DROP TABLE "+db+".events_minute")
	exec(previousEventsMinute(db)...)
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	for range 2 {
		if err := store.InsertEvents(ctx, conn, db, versionedEvents(base)); err != nil {
			t.Fatal(err)
		}
	}
	shape := func() (versionColumn uint64, tables []string) {
		t.Helper()
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.columns WHERE database = ? AND table = 'events_minute' AND name = 'app_version'", db).Scan(&versionColumn); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, "SELECT name FROM system.tables WHERE database = ? AND name LIKE 'events_minute%' ORDER BY name", db)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = rows.Close() }()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			tables = append(tables, n)
		}
		return versionColumn, tables
	}
	if v, _ := shape(); v != 0 {
		t.Fatal("the previous events_minute has an app_version column")
	}
	stats := func(versions ...string) schema.StatsPoint {
		t.Helper()
		res, err := store.QueryStats(ctx, conn, db, schema.StatsQuery{AppID: "app", From: base.Add(-time.Hour), To: base.Add(20 * time.Hour),
			Granularity: schema.GranularityDay, AppVersions: versions})
		if err != nil {
			t.Fatal(err)
		}
		p := res.Total
		return schema.StatsPoint{Pushed: p.Pushed, Succeeded: p.Succeeded, Arrived: p.Arrived, Opened: p.Opened, Ignored: p.Ignored}
	}
	check := func(when string) {
		t.Helper()
		v, tables := shape()
		if v != 1 || fmt.Sprint(tables) != "[events_minute events_minute_mv]" {
			t.Fatalf("%s: app_version columns %d, tables %v; want the column, the table and its view only", when, v, tables)
		}
		for _, c := range []struct {
			versions []string
			want     schema.StatsPoint
		}{
			{[]string{"1.0"}, schema.StatsPoint{Pushed: 8, Succeeded: 4, Arrived: 3, Opened: 1, Ignored: 1}},
			{[]string{"2.0"}, schema.StatsPoint{Pushed: 7, Succeeded: 5, Arrived: 2, Opened: 2}},
			{nil, schema.StatsPoint{Pushed: 16, Succeeded: 9, Arrived: 5, Opened: 3, Ignored: 1}},
		} {
			if got := stats(c.versions...); got != c.want {
				t.Fatalf("%s: versions %v: %+v, want %+v", when, c.versions, got, c.want)
			}
		}
	}
	for round := 1; round <= 2; round++ {
		if err := store.Migrate(ctx, conn, db, 0); err != nil {
			t.Fatalf("migrating (round %d): %v", round, err)
		}
		check(fmt.Sprintf("after migration round %d", round))
	}
	// A start that stopped after setting the previous table aside (and
	// one of the earlier string-keyed rebuild) left them behind.
	exec("CREATE TABLE "+db+".events_minute_previous (x UInt8) ENGINE = Memory", "CREATE TABLE "+db+".events_minute_string_ids (x UInt8) ENGINE = Memory")
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	check("after completing an interrupted rebuild")
	// New events reach the new table through the new view.
	d := schema.Delivery{DeliveryID: "d-new", MsgID: "m-new", TaskID: "V", AppID: "app", Region: "sg", DeviceID: "dev-new", Platform: schema.PlatformAndroid,
		Channel: "fcm", AppVersion: "3.0"}
	if err := store.InsertEvents(ctx, conn, db, []schema.Event{d.EventFor(schema.EventValid, base.UnixMilli()), d.EventFor(schema.EventAcked, base.UnixMilli())}); err != nil {
		t.Fatal(err)
	}
	if got := stats("3.0"); got != (schema.StatsPoint{Pushed: 1, Succeeded: 1}) {
		t.Fatalf("version 3.0 after new events: %+v, want 1 pushed and succeeded", got)
	}
}

// TestMigrateFoldsDeliveryTokens starts from a database of before
// migration 017, whose (msg id, token) look-ups read the table
// delivery_tokens filled by a materialized view of delivery_index, and
// checks that Migrate drops the table and view, that the deliveries
// indexed before are still found by their token (through the projection
// it filled), that new ones are, and that Migrate runs again unchanged.
func TestMigrateFoldsDeliveryTokens(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	execAll(t, conn,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".delivery_index (delivery_id String, app_id LowCardinality(String), workspace_id LowCardinality(String), task_id String, msg_id String, "+
			"push_type LowCardinality(String), target String, device_id String, platform LowCardinality(String), channel LowCardinality(String), token String, "+
			"app_version LowCardinality(String), model LowCardinality(String), ts DateTime64(3, 'UTC')) ENGINE = ReplacingMergeTree ORDER BY delivery_id",
		"CREATE TABLE "+db+".delivery_tokens (msg_id String, token String, app_id LowCardinality(String), delivery_id String, ts DateTime64(3, 'UTC')) "+
			"ENGINE = ReplacingMergeTree ORDER BY (msg_id, token, app_id, delivery_id)",
		"CREATE MATERIALIZED VIEW "+db+".delivery_tokens_mv TO "+db+".delivery_tokens AS SELECT msg_id, token, app_id, delivery_id, ts FROM "+db+".delivery_index WHERE token != ''",
		"INSERT INTO "+db+".delivery_index (delivery_id, app_id, msg_id, token, ts) VALUES ('d-old-1', 'a', 'm1', 'tok-1', now64(3)), ('d-old-2', 'a', 'm1', '', now64(3))",
		"INSERT INTO "+db+".delivery_index (delivery_id, app_id, msg_id, token, ts) VALUES ('d-old-3', 'b', 'm2', 'tok-3', now64(3))",
	)
	x := store.NewDeliveryIndex(conn, db)
	tables := func() (n uint64) {
		t.Helper()
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name IN ('delivery_tokens', 'delivery_tokens_mv')", db).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for round := 1; round <= 2; round++ {
		if err := store.Migrate(ctx, conn, db, 0); err != nil {
			t.Fatalf("migrating (round %d): %v", round, err)
		}
		if n := tables(); n != 0 {
			t.Fatalf("after round %d: %d of delivery_tokens and its view left, want none", round, n)
		}
		var parts, projected uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = ? AND table = 'delivery_index' AND active", db).Scan(&parts); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.projection_parts WHERE database = ? AND table = 'delivery_index' AND name = 'tokens' AND active", db).Scan(&projected); err != nil {
			t.Fatal(err)
		}
		if parts == 0 || projected != parts {
			t.Fatalf("after round %d: %d of %d parts of delivery_index have the projection tokens, want all", round, projected, parts)
		}
	}
	if err := x.Insert(ctx, []store.DeliveryRecord{{DeliveryID: "d-new-4", AppID: "a", MsgID: "m1", Token: "tok-4", TS: time.Now().UnixMilli()}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ask  store.MsgToken
		want string // "" when not found
	}{
		{store.MsgToken{AppID: "a", MsgID: "m1", Token: "tok-1"}, "d-old-1"},
		{store.MsgToken{MsgID: "m2", Token: "tok-3"}, "d-old-3"},
		{store.MsgToken{AppID: "a", MsgID: "m1", Token: "tok-4"}, "d-new-4"},
		{store.MsgToken{AppID: "a", MsgID: "m1", Token: ""}, ""},
		{store.MsgToken{AppID: "a", MsgID: "m2", Token: "tok-3"}, ""},
	} {
		got, err := x.LookupTokens(ctx, []store.MsgToken{tc.ask})
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := got[tc.ask]; id != tc.want || ok != (tc.want != "") {
			t.Errorf("LookupTokens(%+v) = %q (found %t), want %q", tc.ask, id, ok, tc.want)
		}
	}
}

// TestMigrateSetsMergeSelector checks that the tables every delivery adds
// parts to merge 20 parts at a time (migrations 016 and 018), on a fresh
// database and on one whose events_minute Migrate rebuilt.
func TestMigrateSetsMergeSelector(t *testing.T) {
	conn := ch.Conn(t)
	ctx := context.Background()
	for _, tc := range []struct {
		scenario string
		before   []string // statements run on the database first; {db} is its name
	}{
		{"fresh database", nil},
		{"events_minute without app_version", []string{"CREATE DATABASE {db}",
			"CREATE TABLE {db}.events_minute (minute DateTime('UTC'), app_id LowCardinality(String), platform LowCardinality(String), channel LowCardinality(String), " +
				"push_type LowCardinality(String), task_id String, event LowCardinality(String), events AggregateFunction(uniqExact, UInt64)) " +
				"ENGINE = AggregatingMergeTree ORDER BY (app_id, event, minute, platform, channel, push_type, task_id)"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			db := testinfra.DBPrefix(t) + "sg"
			for _, stmt := range tc.before {
				execAll(t, conn, strings.ReplaceAll(stmt, "{db}", db))
			}
			if err := store.Migrate(ctx, conn, db, 0); err != nil {
				t.Fatal(err)
			}
			for _, table := range []string{"events", "delivery_index", "events_minute"} {
				var engine string
				if err := conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = ?", db, table).Scan(&engine); err != nil {
					t.Fatal(err)
				}
				if !strings.Contains(engine, "merge_selector_base = 20") {
					t.Errorf("%s: %s, want merge_selector_base = 20", table, engine)
				}
			}
		})
	}
}

// TestMigrateCapsEventsMerges checks that events merges parts of at most
// 32 MiB and merges a day's partition into one part once it is a day old
// (migration 019), on a fresh database and on one whose events table
// predates the migration (its settings reset to ClickHouse's defaults).
func TestMigrateCapsEventsMerges(t *testing.T) {
	conn := ch.Conn(t)
	ctx := context.Background()
	want := []string{
		"max_bytes_to_merge_at_max_space_in_pool = 33554432",
		"min_age_to_force_merge_seconds = 86400",
		"min_age_to_force_merge_on_partition_only = 1",
		"enable_max_bytes_limit_for_min_age_to_force_merge = 0",
	}
	for _, tc := range []struct {
		scenario string
		before   []string // statements run on a migrated database before Migrate runs again; {db} is its name
	}{
		{"fresh database", nil},
		{"events from before migration 019", []string{"ALTER TABLE {db}.events RESET SETTING max_bytes_to_merge_at_max_space_in_pool, " +
			"min_age_to_force_merge_seconds, min_age_to_force_merge_on_partition_only, enable_max_bytes_limit_for_min_age_to_force_merge"}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			db := testinfra.DBPrefix(t) + "sg"
			if err := store.Migrate(ctx, conn, db, 0); err != nil {
				t.Fatal(err)
			}
			engine := func() string {
				t.Helper()
				var engine string
				if err := conn.QueryRow(ctx, "SELECT engine_full FROM system.tables WHERE database = ? AND name = 'events'", db).Scan(&engine); err != nil {
					t.Fatal(err)
				}
				return engine
			}
			if len(tc.before) > 0 {
				for _, stmt := range tc.before {
					execAll(t, conn, strings.ReplaceAll(stmt, "{db}", db))
				}
				if e := engine(); strings.Contains(e, want[0]) {
					t.Fatalf("the scenario did not reset the settings: %s", e)
				}
				if err := store.Migrate(ctx, conn, db, 0); err != nil {
					t.Fatal(err)
				}
			}
			e := engine()
			for _, w := range want {
				if !strings.Contains(e, w) {
					t.Errorf("events: %s, want %s", e, w)
				}
			}
		})
	}
}

// TestEventsDayAtRestMergesIntoOnePart checks the merge policy of events
// (migration 019) on the table Migrate made: parts whose sum is over the
// cap are not merged, and a day's partition whose parts are all older
// than min_age_to_force_merge_seconds is merged into one part whatever its
// size. The test lowers the cap below one insert's part and the age to 2 s
// so that both show in seconds.
func TestEventsDayAtRestMergesIntoOnePart(t *testing.T) {
	conn := ch.Conn(t)
	ctx := context.Background()
	db := testinfra.DBPrefix(t) + "sg"
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	execAll(t, conn, "ALTER TABLE "+db+".events MODIFY SETTING max_bytes_to_merge_at_max_space_in_pool = 1024, min_age_to_force_merge_seconds = 2")
	day := time.Now().UTC().Add(-48 * time.Hour).Truncate(24 * time.Hour).Add(time.Hour)
	const inserts, perInsert = 4, 500
	for k := range inserts {
		var evs []schema.Event
		for i := k * perInsert; i < (k+1)*perInsert; i++ {
			d := schema.Delivery{DeliveryID: fmt.Sprintf("d%d", i), MsgID: "m1", TaskID: "t1", AppID: "app", Region: "sg", DeviceID: fmt.Sprintf("dev%d", i)}
			evs = append(evs, d.EventFor(schema.EventAcked, day.Add(time.Duration(i)*time.Second).UnixMilli()))
		}
		if err := store.InsertEvents(ctx, conn, db, evs); err != nil {
			t.Fatal(err)
		}
	}
	parts := func() (n, rows uint64) {
		t.Helper()
		if err := conn.QueryRow(ctx, "SELECT count(), sum(rows) FROM system.parts WHERE database = ? AND table = 'events' AND active", db).Scan(&n, &rows); err != nil {
			t.Fatal(err)
		}
		return n, rows
	}
	if n, _ := parts(); n != inserts {
		t.Fatalf("%d active parts of events right after %d inserts over the cap, want %d (none merged)", n, inserts, inserts)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		n, rows := parts()
		if n == 1 && rows == inserts*perInsert {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d active parts of events (%d rows) a minute after the day's last insert, want 1 part of %d rows", n, rows, inserts*perInsert)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// execAll runs stmts on conn in order and fails t at the first error.
func execAll(t *testing.T, conn driver.Conn, stmts ...string) {
	t.Helper()
	for _, stmt := range stmts {
		if err := conn.Exec(context.Background(), stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}
