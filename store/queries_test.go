package store_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/store"
)

// TestExampleQueriesRun executes every query of queries/examples.sql, as
// written, against a migrated database, so the file analysts copy from
// stays true.
func TestExampleQueriesRun(t *testing.T) {
	body, err := os.ReadFile("queries/examples.sql")
	if err != nil {
		t.Fatal(err)
	}
	conn := ch.Conn(t)
	ctx := context.Background()
	db := testinfra.DBPrefix(t) + "sg"
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, part := range strings.Split(string(body), "-- name: ")[1:] {
		name, sql, _ := strings.Cut(part, "\n")
		sql = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(sql), ";"))
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(sql, "push_sg.") {
				t.Fatalf("query %s does not read push_sg", name)
			}
			rows, err := conn.Query(ctx, strings.ReplaceAll(sql, "push_sg.", db+"."))
			if err != nil {
				t.Fatalf("query %s: %v", name, err)
			}
			_ = rows.Close()
		})
		n++
	}
	if n < 5 {
		t.Fatalf("found only %d example queries", n)
	}
}
