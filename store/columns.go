package store

import (
	"context"
	"fmt"
	"reflect"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Helpers shared by the tables: bounded IN lists and columnar inserts.

// maxInListBytes bounds the literals of one IN (?) list, well below
// ClickHouse's max_query_size (256 KiB), so that a large batch of targets
// or ids is looked up in several queries instead of failing.
const maxInListBytes = 128 << 10

// inListChunks splits keys into consecutive chunks of at most maxLookup
// keys whose quoted literals fit in maxInListBytes (a single longer key is
// a chunk of its own); see inListSpans.
func inListChunks(keys []string) [][]string {
	spans := inListSpans(len(keys), func(i int) int { return literalSize(keys[i]) })
	out := make([][]string, len(spans))
	for i, sp := range spans {
		out[i] = keys[sp[0]:sp[1]]
	}
	return out
}

// inListSpans splits n items into consecutive spans [from, to) of at most
// maxLookup items whose IN-list literals fit in maxInListBytes, where
// size(i) is what item i adds to its query's lists (the literalSize of
// each of its keys); a single item larger than that is a span of its own.
// A look-up query per span then stays below ClickHouse's max_query_size
// however long the keys are.
func inListSpans(n int, size func(i int) int) [][2]int {
	var out [][2]int
	start, bytes := 0, 0
	for i := range n {
		s := size(i)
		if i > start && (bytes+s > maxInListBytes || i-start >= maxLookup) {
			out = append(out, [2]int{start, i})
			start, bytes = i, 0
		}
		bytes += s
	}
	if start < n {
		out = append(out, [2]int{start, n})
	}
	return out
}

// literalSize is the bytes key takes in an IN list: the key, its quotes
// and the separator.
func literalSize(key string) int { return len(key) + 4 }

// insertChunkRows is how many rows insertColumns hands the driver at a
// time. The driver copies every appended row into column buffers of its
// own and encodes them into a block; sending a large batch as blocks of
// this many rows, within one INSERT, lets it reuse those buffers from
// block to block instead of growing them to the whole batch, which bounds
// the memory one insert holds whatever the batch size. ClickHouse squashes
// the blocks of one INSERT into parts (min_insert_block_size_rows), so
// this does not make more, smaller parts.
const insertChunkRows = 4096

// insertColumns runs insert (an INSERT INTO with its column list) as one
// columnar batch of cols, one slice per listed column in its order and of
// equal length; what names the rows in errors ("12 events into push_sg").
// The rows are sent as blocks of at most insertChunkRows rows within that
// one INSERT. It returns after ClickHouse acknowledged the insert. A
// DateTime64 column takes Unix milliseconds ([]int64), a LowCardinality
// one a []string (see insertBlocks).
func insertColumns(ctx context.Context, conn driver.Conn, insert, what string, cols ...any) error {
	rows, err := columnRows(cols)
	if err != nil {
		return fmt.Errorf("inserting %s: %w", what, err)
	}
	block := make([]any, len(cols))
	return insertBlocks(ctx, conn, insert, what, rows, func(from, to int) []any {
		for i, col := range cols {
			block[i] = sliceColumn(col, from, to)
		}
		return block
	})
}

// insertBlocks runs insert as one INSERT of rows rows, sent as blocks of
// at most insertChunkRows rows: block(from, to) returns the columns of
// rows [from, to), as insertColumns takes them; they may reuse the memory
// of the previous block's columns, which the driver has copied by then.
// It returns after ClickHouse acknowledged the insert.
//
// The INSERT runs with low_cardinality_allow_in_native_format = 0
// (replacing any query settings ctx carries): ClickHouse then describes
// its LowCardinality columns to the driver as plain String and builds
// their dictionaries itself, so the driver appends a []string column as
// one copy instead of hashing every value into a dictionary of its own
// (a map[any]int look-up a row, a third of the inserting process's CPU).
// ClickHouse's CPU for the insert is the same either way, as it dedupes
// a dictionary sent to it too (BenchmarkInsertEventsCPU measures both).
// A LowCardinality column is therefore handed over as a []string, which
// the driver also takes for a LowCardinality column should a server
// ignore the setting.
//
// It also runs with optimize_on_insert = 0: the tables written here
// (events, delivery_index, delivery_outcomes, and events_minute through
// its view) are Replacing and Aggregating MergeTrees whose readers
// already collapse rows of one key across parts (FINAL, GROUP BY,
// DISTINCT, uniqExact), as they must for a batch replayed into a later
// insert. Collapsing the rows of each inserted block too bought them
// nothing and cost ClickHouse about a quarter of an events insert's CPU
// (BenchmarkInsertEventsCPU: 4.5 against 3.0-3.6 µs an event).
func insertBlocks(ctx context.Context, conn driver.Conn, insert, what string, rows int, block func(from, to int) []any) error {
	ctx = clickhouse.Context(ctx, clickhouse.WithSettings(clickhouse.Settings{"low_cardinality_allow_in_native_format": 0, "optimize_on_insert": 0}))
	b, err := conn.PrepareBatch(ctx, insert)
	if err != nil {
		return fmt.Errorf("preparing the insert of %s: %w", what, err)
	}
	defer func() { _ = b.Abort() }()
	for from := 0; from < rows || from == 0; from += insertChunkRows {
		to := min(from+insertChunkRows, rows)
		for i, col := range block(from, to) {
			if err := b.Column(i).Append(col); err != nil {
				return fmt.Errorf("appending column %d of %s: %w", i, what, err)
			}
		}
		if to == rows {
			break
		}
		if err := b.Flush(); err != nil {
			return fmt.Errorf("sending rows %d to %d of %s: %w", from, to, what, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("inserting %s: %w", what, err)
	}
	return nil
}

// columnRows returns the common length of cols (slices of the types
// sliceColumn knows); an error names a column of another type or length.
func columnRows(cols []any) (int, error) {
	n := -1
	for i, col := range cols {
		v := reflect.ValueOf(col)
		if v.Kind() != reflect.Slice {
			return 0, fmt.Errorf("column %d is a %T, not a slice", i, col)
		}
		if n >= 0 && v.Len() != n {
			return 0, fmt.Errorf("column %d has %d rows, column 0 has %d", i, v.Len(), n)
		}
		n = v.Len()
	}
	return max(n, 0), nil
}

// sliceColumn returns rows [from, to) of col, a slice, sharing its memory.
func sliceColumn(col any, from, to int) any {
	switch c := col.(type) {
	case []string:
		return c[from:to]
	case []any:
		return c[from:to]
	case []int64:
		return c[from:to]
	case []uint16:
		return c[from:to]
	case []uint8:
		return c[from:to]
	}
	return reflect.ValueOf(col).Slice(from, to).Interface()
}
