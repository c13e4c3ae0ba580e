package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// DefaultEventTTLDays is how long event rows and aggregates are kept.
const DefaultEventTTLDays = 180

// Database is the ClickHouse database of a region: push_<region>.
func Database(region string) string { return "push_" + region }

// Migrate creates the region database and applies every migration in
// store/migrations in file-name order. Every statement is idempotent
// (IF NOT EXISTS), so Migrate runs at each start of each worker; concurrent
// runs are safe. The one exception is the rebuild of an events_minute whose
// shape predates migration 011 (cells of event id strings, or no
// app_version dimension): it runs once, from the start that finds it, and
// a concurrent start may fail and has to be repeated. A start that stops
// during the rebuild leaves the old table set aside, and the next start
// completes the rebuild. A database from before migration 017 has its
// delivery_tokens table folded into delivery_index's projection once
// (foldDeliveryTokens); a start that stops before it dropped the table
// folds it again. ttlDays ≤ 0 means DefaultEventTTLDays.
func Migrate(ctx context.Context, conn driver.Conn, db string, ttlDays int) error {
	if ttlDays <= 0 {
		ttlDays = DefaultEventTTLDays
	}
	if err := conn.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
		return fmt.Errorf("creating database %s: %w", db, err)
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("listing migrations: %w", err)
	}
	sort.Strings(names)
	if err := setAsideEventsMinute(ctx, conn, db); err != nil {
		return err
	}
	r := strings.NewReplacer("{db}", db, "{ttl_days}", strconv.Itoa(ttlDays))
	for _, name := range names {
		body, err := migrationFiles.ReadFile(name)
		if err != nil {
			return fmt.Errorf("reading migration %s: %w", name, err)
		}
		for i, stmt := range splitStatements(r.Replace(string(body))) {
			if err := conn.Exec(ctx, stmt); err != nil {
				return fmt.Errorf("applying migration %s statement %d to %s: %w", name, i+1, db, err)
			}
		}
	}
	if err := foldDeliveryTokens(ctx, conn, db); err != nil {
		return err
	}
	return backfillEventsMinute(ctx, conn, db)
}

// foldDeliveryTokens converts a database from before migration 017, whose
// (msg id, token) look-ups read the table delivery_tokens (a materialized
// view of delivery_index), to the projection tokens of delivery_index that
// migration 017 added: it drops the view, fills the projection of the
// parts written before it (a mutation, awaited) and drops the table, whose
// rows were all derived from delivery_index. A database without the table
// is left as it is; a start that stops before the table is dropped leaves
// it, and the next start repeats the steps, each of which is idempotent.
func foldDeliveryTokens(ctx context.Context, conn driver.Conn, db string) error {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = 'delivery_tokens'", db).Scan(&n); err != nil {
		return fmt.Errorf("looking for the table delivery_tokens in %s: %w", db, err)
	}
	if n == 0 {
		return nil
	}
	for _, stmt := range []string{
		"DROP VIEW IF EXISTS " + db + ".delivery_tokens_mv",
		"ALTER TABLE " + db + ".delivery_index MATERIALIZE PROJECTION tokens SETTINGS mutations_sync = 2",
		"DROP TABLE IF EXISTS " + db + ".delivery_tokens",
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("folding %s.delivery_tokens into the projection tokens of delivery_index: %w", db, err)
		}
	}
	return nil
}

// eventsMinuteAside is where setAsideEventsMinute puts an events_minute
// table of an older shape; eventsMinuteAsideStrings is where an earlier
// version put one whose cells held id strings, which a start may have
// left behind.
const (
	eventsMinuteAside        = "events_minute_previous"
	eventsMinuteAsideStrings = "events_minute_string_ids"
)

// eventsMinuteColumns are the dimensions of events_minute (migration 011)
// in the order of its columns; the events cell follows them.
const eventsMinuteColumns = "minute, app_id, platform, channel, push_type, task_id, app_version, event"

// setAsideEventsMinute renames an events_minute of an older shape out of
// the way and drops its view, so that migration 011 creates the current
// table and view; backfillEventsMinute then fills it from events. Older
// shapes are cells of the event ids' strings (before the hashes) and cells
// without the app_version dimension. A database without such a table is
// left as it is.
func setAsideEventsMinute(ctx context.Context, conn driver.Conn, db string) error {
	var cols, versions uint64
	var typ string
	err := conn.QueryRow(ctx, "SELECT count(), anyIf(type, name = 'events'), countIf(name = 'app_version') FROM system.columns WHERE database = ? AND table = 'events_minute'", db).
		Scan(&cols, &typ, &versions)
	if err != nil {
		return fmt.Errorf("reading the columns of %s.events_minute: %w", db, err)
	}
	if cols == 0 || (typ == "AggregateFunction(uniqExact, UInt64)" && versions == 1) {
		return nil
	}
	for _, stmt := range []string{
		"DROP VIEW IF EXISTS " + db + ".events_minute_mv",
		"RENAME TABLE " + db + ".events_minute TO " + db + "." + eventsMinuteAside,
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("setting aside %s.events_minute (cells of %s, without app_version: %t): %w", db, typ, versions == 0, err)
		}
	}
	return nil
}

// backfillEventsMinute fills events_minute from events when a table was
// set aside, one daily partition of events at a time (so memory stays
// bounded by a day's events), then drops the tables set aside. Cells are
// sets, so the rows the new view wrote meanwhile, or a backfill repeated
// after a crash, count once.
func backfillEventsMinute(ctx context.Context, conn driver.Conn, db string) error {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name IN (?, ?)", db, eventsMinuteAside, eventsMinuteAsideStrings).Scan(&n); err != nil {
		return fmt.Errorf("looking for an events_minute set aside in %s: %w", db, err)
	}
	if n == 0 {
		return nil
	}
	rows, err := conn.Query(ctx, "SELECT DISTINCT toUInt32(toYYYYMMDD(ts)) AS day FROM "+db+".events ORDER BY day")
	if err != nil {
		return fmt.Errorf("listing the days of %s.events to rebuild events_minute: %w", db, err)
	}
	var days []uint32
	for rows.Next() {
		var d uint32
		if err := rows.Scan(&d); err != nil {
			_ = rows.Close()
			return fmt.Errorf("reading a day of %s.events: %w", db, err)
		}
		days = append(days, d)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("listing the days of %s.events: %w", db, err)
	}
	for _, d := range days {
		err := conn.Exec(ctx, "INSERT INTO "+db+".events_minute ("+eventsMinuteColumns+", events) SELECT toStartOfMinute(ts) AS minute, "+
			"app_id, platform, channel, push_type, task_id, app_version, event, uniqExactState(cityHash64(event_id)) FROM "+db+".events "+
			"WHERE toYYYYMMDD(ts) = ? GROUP BY "+eventsMinuteColumns, d)
		if err != nil {
			return fmt.Errorf("rebuilding %s.events_minute from the events of %d: %w", db, d, err)
		}
	}
	for _, aside := range []string{eventsMinuteAside, eventsMinuteAsideStrings} {
		if err := conn.Exec(ctx, "DROP TABLE IF EXISTS "+db+"."+aside); err != nil {
			return fmt.Errorf("dropping %s.%s after rebuilding events_minute: %w", db, aside, err)
		}
	}
	return nil
}

// splitStatements splits a migration file on ';' at line ends and drops
// comment-only pieces.
func splitStatements(sql string) []string {
	var out []string
	for _, part := range strings.Split(sql, ";\n") {
		var lines []string
		for _, l := range strings.Split(part, "\n") {
			if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "--") {
				lines = append(lines, l)
			}
		}
		if s := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.Join(lines, "\n")), ";")); s != "" {
			out = append(out, s)
		}
	}
	return out
}
