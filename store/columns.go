package store

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Helpers shared by the tables: bounded IN lists and columnar inserts.

// maxInListBytes bounds the literals of one IN (?) list, well below
// ClickHouse's max_query_size (256 KiB), so that a large batch of targets
// or ids is looked up in several queries instead of failing.
const maxInListBytes = 128 << 10

// inListChunks splits keys into consecutive chunks whose quoted literals
// fit in maxInListBytes (a single longer key is a chunk of its own).
func inListChunks(keys []string) [][]string {
	var out [][]string
	start, size := 0, 0
	for i, k := range keys {
		if n := len(k) + 4; size+n > maxInListBytes && i > start {
			out = append(out, keys[start:i])
			start, size = i, 0
		}
		size += len(k) + 4
	}
	if start < len(keys) {
		out = append(out, keys[start:])
	}
	return out
}

// boxed returns a LowCardinality column as interface values, one boxed
// value per distinct string (see box).
func boxed(col []string, boxes map[string]any) []any {
	out := make([]any, len(col))
	for i, v := range col {
		out[i] = box(v, boxes)
	}
	return out
}

// box returns v as an interface value, the same one for every equal v
// (kept in boxes). clickhouse-go reads a LowCardinality column element by
// element through reflection, which would box every string of a []string
// anew; a []any of shared boxes costs no allocation a row.
func box(v string, boxes map[string]any) any {
	b, ok := boxes[v]
	if !ok {
		b = v
		boxes[v] = b
	}
	return b
}

// insertColumns runs insert (an INSERT INTO with its column list) as one
// columnar batch of cols, one slice per listed column in its order and of
// equal length; what names the rows in errors ("12 events into push_sg").
// It returns after ClickHouse acknowledged the insert. A DateTime64 column
// takes Unix milliseconds ([]int64), a LowCardinality one boxed values
// (see boxed).
func insertColumns(ctx context.Context, conn driver.Conn, insert, what string, cols ...any) error {
	b, err := conn.PrepareBatch(ctx, insert)
	if err != nil {
		return fmt.Errorf("preparing the insert of %s: %w", what, err)
	}
	defer func() { _ = b.Abort() }()
	for i, col := range cols {
		if err := b.Column(i).Append(col); err != nil {
			return fmt.Errorf("appending column %d of %s: %w", i, what, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("inserting %s: %w", what, err)
	}
	return nil
}
