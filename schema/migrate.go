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
// runs are safe. ttlDays ≤ 0 means DefaultEventTTLDays.
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
