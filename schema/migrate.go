package schema

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
// schema/migrations in file-name order. Every statement is idempotent
// (IF NOT EXISTS), so Migrate runs at each start of each worker; concurrent
// runs are safe. The one exception is the rebuild of an events_minute that
// predates the hashed cells of migration 002: it runs once, from the start
// that finds it, and a concurrent start may fail and has to be repeated.
// ttlDays ≤ 0 means DefaultEventTTLDays.
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
	if err := setAsideStringEventsMinute(ctx, conn, db); err != nil {
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
	return backfillEventsMinute(ctx, conn, db)
}

// eventsMinuteAside is where setAsideStringEventsMinute puts an
// events_minute table from before migration 002 kept hashes.
const eventsMinuteAside = "events_minute_string_ids"

// setAsideStringEventsMinute renames an events_minute whose cells hold the
// event ids' strings (databases created before the hashes) out of the way
// and drops its view, so that migration 002 creates the hashed table;
// backfillEventsMinute then fills it from events. A database without such
// a table is left as it is.
func setAsideStringEventsMinute(ctx context.Context, conn driver.Conn, db string) error {
	var typ string
	err := conn.QueryRow(ctx, "SELECT any(type) FROM system.columns WHERE database = ? AND table = 'events_minute' AND name = 'events'", db).Scan(&typ)
	if err != nil {
		return fmt.Errorf("reading the type of %s.events_minute: %w", db, err)
	}
	if typ != "AggregateFunction(uniqExact, String)" {
		return nil
	}
	for _, stmt := range []string{
		"DROP VIEW IF EXISTS " + db + ".events_minute_mv",
		"RENAME TABLE " + db + ".events_minute TO " + db + "." + eventsMinuteAside,
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("setting aside the string-keyed %s.events_minute: %w", db, err)
		}
	}
	return nil
}

// backfillEventsMinute fills events_minute from events when a table was
// set aside, then drops that table. Cells are sets, so the rows the new
// view wrote meanwhile, or a backfill repeated after a crash, count once.
func backfillEventsMinute(ctx context.Context, conn driver.Conn, db string) error {
	var n uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = ? AND name = ?", db, eventsMinuteAside).Scan(&n); err != nil {
		return fmt.Errorf("looking for %s.%s: %w", db, eventsMinuteAside, err)
	}
	if n == 0 {
		return nil
	}
	for _, stmt := range []string{
		"INSERT INTO " + db + ".events_minute SELECT toStartOfMinute(ts) AS minute, app_id, platform, channel, push_type, task_id, event, " +
			"uniqExactState(cityHash64(event_id)) FROM " + db + ".events GROUP BY minute, app_id, platform, channel, push_type, task_id, event",
		"DROP TABLE " + db + "." + eventsMinuteAside,
	} {
		if err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("rebuilding %s.events_minute from events: %w", db, err)
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
