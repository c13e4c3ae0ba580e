package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/pushpipe/pushpipe/schema"
)

// DeliveryOutcome is the terminal event that ended a delivery: one row of
// delivery_outcomes. Lookups need only MsgID and DeliveryID.
type DeliveryOutcome struct {
	MsgID      string
	DeliveryID string
	EventID    string
	Event      schema.EventType
	TS         int64 // Unix milliseconds
}

// Outcomes reads and writes the delivery_outcomes table of one region
// database. It is safe for concurrent use.
type Outcomes struct {
	conn driver.Conn
	db   string
}

// NewOutcomes returns the outcome table over conn for database db
// (push_<region>).
func NewOutcomes(conn driver.Conn, db string) *Outcomes {
	return &Outcomes{conn: conn, db: db}
}

// Insert writes rows in one batch and returns after ClickHouse acknowledged
// them. Writing a row again is harmless: identical rows merge.
func (x *Outcomes) Insert(ctx context.Context, rows []DeliveryOutcome) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	strs := make([]string, 4*n)
	col := func(i int) []string { return strs[i*n : (i+1)*n : (i+1)*n] }
	msgs, ids, eventIDs, events, ts := col(0), col(1), col(2), col(3), make([]int64, n)
	for i := range rows {
		r := &rows[i]
		msgs[i], ids[i], eventIDs[i], events[i], ts[i] = r.MsgID, r.DeliveryID, r.EventID, string(r.Event), r.TS
	}
	return insertColumns(ctx, x.conn, "INSERT INTO "+x.db+".delivery_outcomes (msg_id, delivery_id, event_id, event, ts)",
		fmt.Sprintf("%d outcomes into %s.delivery_outcomes", n, x.db), msgs, ids, eventIDs, events, ts)
}

// Lookup returns the stored outcome of each of the given deliveries (keyed
// by MsgID and DeliveryID), keyed by delivery id; deliveries without one
// are absent. Should a delivery have two rows, the earliest (then the
// smallest event id) is its outcome.
func (x *Outcomes) Lookup(ctx context.Context, keys []DeliveryOutcome) (map[string]DeliveryOutcome, error) {
	out := make(map[string]DeliveryOutcome, len(keys))
	// Both lists count in full for every key (an overestimate where keys
	// share a message), so each query stays below max_query_size.
	for _, sp := range inListSpans(len(keys), func(i int) int { return literalSize(keys[i].MsgID) + literalSize(keys[i].DeliveryID) }) {
		chunk := keys[sp[0]:sp[1]]
		want := make(map[string]string, len(chunk))
		msgSet := map[string]bool{}
		var msgs, ids []string
		for _, k := range chunk {
			if _, ok := want[k.DeliveryID]; !ok {
				want[k.DeliveryID] = k.MsgID
				ids = append(ids, k.DeliveryID)
			}
			if !msgSet[k.MsgID] {
				msgSet[k.MsgID] = true
				msgs = append(msgs, k.MsgID)
			}
		}
		rows, err := x.conn.Query(ctx, "SELECT msg_id, delivery_id, argMin(event_id, (ts, event_id)), argMin(event, (ts, event_id)), min(ts) FROM "+x.db+
			".delivery_outcomes WHERE msg_id IN (?) AND delivery_id IN (?) GROUP BY msg_id, delivery_id", msgs, ids)
		if err != nil {
			return nil, fmt.Errorf("looking up the outcomes of %d deliveries in %s.delivery_outcomes: %w", len(chunk), x.db, err)
		}
		for rows.Next() {
			var r DeliveryOutcome
			var ev string
			var ts time.Time
			if err := rows.Scan(&r.MsgID, &r.DeliveryID, &r.EventID, &ev, &ts); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("reading a delivery outcome row: %w", err)
			}
			r.Event, r.TS = schema.EventType(ev), ts.UnixMilli()
			if want[r.DeliveryID] == r.MsgID {
				out[r.DeliveryID] = r
			}
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading outcomes from %s.delivery_outcomes: %w", x.db, err)
		}
	}
	return out, nil
}
