package store

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/pushpipe/pushpipe/schema"
)

// DeliveryRecord is one row of the delivery index: what a receipt needs to
// know about the delivery it names. The event sink writes one from every
// valid event (DeliveryRecordOf) and reads them back to fill in receipts
// and client events that carry only a delivery id, or a msg id and a
// vendor token. TS is the valid event's time in Unix milliseconds (the
// request's acceptance).
type DeliveryRecord struct {
	DeliveryID  string
	AppID       string
	WorkspaceID string
	TaskID      string
	MsgID       string
	PushType    schema.PushType
	Target      string
	DeviceID    string
	Platform    string
	Channel     string
	Token       string
	AppVersion  string
	Model       string
	TS          int64
	// NotifyID is the request's notifyId, "" when it set none.
	NotifyID string
}

// MsgToken names a delivery the way a receipt of a vendor call for many
// tokens does: by the message id and the vendor token, of the app AppID
// (the app the receipt was authenticated for; "" matches any app).
type MsgToken struct {
	AppID string
	MsgID string
	Token string
}

// DeliveryRecordOf returns the index row of a valid event; ok is false for
// any other event and for a valid event without a delivery id.
func DeliveryRecordOf(e schema.Event) (rec DeliveryRecord, ok bool) {
	if e.Event != schema.EventValid || e.DeliveryID == "" {
		return DeliveryRecord{}, false
	}
	return DeliveryRecord{
		DeliveryID: e.DeliveryID, AppID: e.AppID, WorkspaceID: e.WorkspaceID, TaskID: e.TaskID, MsgID: e.MsgID,
		PushType: e.PushType, Target: e.Target, DeviceID: e.DeviceID, Platform: e.Platform, Channel: e.Channel,
		Token: e.Token, AppVersion: e.AppVersion, Model: e.Model, TS: e.TS, NotifyID: e.NotifyID,
	}, true
}

// maxLookup bounds the keys of one lookup query (see inListSpans, which
// also bounds their bytes).
const maxLookup = 10_000

const deliveryColumns = "delivery_id, app_id, workspace_id, task_id, msg_id, push_type, target, device_id, platform, channel, token, app_version, model, ts, notify_id"

// DeliveryIndex reads and writes the delivery_index table of one region
// database (with its projection tokens, migration 017, which serves the
// look-ups by msg id and token). It is safe for concurrent use.
type DeliveryIndex struct {
	conn driver.Conn
	db   string
}

// NewDeliveryIndex returns the index over conn for database db
// (push_<region>).
func NewDeliveryIndex(conn driver.Conn, db string) *DeliveryIndex {
	return &DeliveryIndex{conn: conn, db: db}
}

// Insert writes rows in one batch and returns after ClickHouse acknowledged
// them. Writing a row again is harmless: identical rows merge.
func (x *DeliveryIndex) Insert(ctx context.Context, rows []DeliveryRecord) error {
	if len(rows) == 0 {
		return nil
	}
	n := len(rows)
	strs := make([]string, 14*n)
	col := func(i int) []string { return strs[i*n : (i+1)*n : (i+1)*n] }
	ids, tasks, msgs, targets, devices, tokens, notifyIDs := col(0), col(1), col(2), col(3), col(4), col(5), col(6)
	apps, workspaces, pushTypes, platforms, channels, versions, models := col(7), col(8), col(9), col(10), col(11), col(12), col(13)
	ts := make([]int64, n)
	for i := range rows {
		r := &rows[i]
		ids[i], tasks[i], msgs[i], targets[i], devices[i], tokens[i], notifyIDs[i] = r.DeliveryID, r.TaskID, r.MsgID, r.Target, r.DeviceID, r.Token, r.NotifyID
		apps[i], workspaces[i], pushTypes[i] = r.AppID, r.WorkspaceID, string(r.PushType)
		platforms[i], channels[i], versions[i], models[i] = r.Platform, r.Channel, r.AppVersion, r.Model
		ts[i] = r.TS
	}
	return insertColumns(ctx, x.conn, "INSERT INTO "+x.db+".delivery_index ("+deliveryColumns+")", fmt.Sprintf("%d deliveries into %s.delivery_index", n, x.db),
		ids, apps, workspaces, tasks, msgs, pushTypes, targets, devices, platforms, channels, tokens, versions, models, ts, notifyIDs)
}

// Lookup returns the index rows of the given delivery ids, keyed by id;
// ids not in the index are absent from the map.
func (x *DeliveryIndex) Lookup(ctx context.Context, ids []string) (map[string]DeliveryRecord, error) {
	out := make(map[string]DeliveryRecord, len(ids))
	for _, chunk := range inListChunks(ids) {
		rows, err := x.conn.Query(ctx, "SELECT "+deliveryColumns+" FROM "+x.db+".delivery_index WHERE delivery_id IN (?) LIMIT 1 BY delivery_id", chunk)
		if err != nil {
			return nil, fmt.Errorf("looking up %d deliveries in %s.delivery_index: %w", len(chunk), x.db, err)
		}
		for rows.Next() {
			var r DeliveryRecord
			var pushType string
			var ts time.Time
			if err := rows.Scan(&r.DeliveryID, &r.AppID, &r.WorkspaceID, &r.TaskID, &r.MsgID, &pushType, &r.Target,
				&r.DeviceID, &r.Platform, &r.Channel, &r.Token, &r.AppVersion, &r.Model, &ts, &r.NotifyID); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("reading a delivery index row: %w", err)
			}
			r.PushType, r.TS = schema.PushType(pushType), ts.UnixMilli()
			out[r.DeliveryID] = r
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading deliveries from %s.delivery_index: %w", x.db, err)
		}
	}
	return out, nil
}

// Existing returns which of the given delivery ids of app appID are in
// the index, i.e. were fanned out (their valid event stored). The lookup is
// by the table's key and its bloom filter (migration 015): an id that was
// fanned out reads its granule, a fresh one a few rows (more the more ids
// are asked at once), so the cost does not grow with the table. It never
// reads the projection tokens, which holds the columns asked for but in
// another order (ClickHouse would pick it when the key alone, without the
// bloom filter, selects as many granules).
func (x *DeliveryIndex) Existing(ctx context.Context, appID string, ids []string) (map[string]bool, error) {
	out := make(map[string]bool, len(ids))
	for _, chunk := range inListChunks(ids) {
		rows, err := x.conn.Query(ctx, "SELECT DISTINCT delivery_id FROM "+x.db+".delivery_index WHERE delivery_id IN (?) AND app_id = ? SETTINGS optimize_use_projections = 0", chunk, appID)
		if err != nil {
			return nil, fmt.Errorf("looking up %d deliveries of app %s in %s.delivery_index: %w", len(chunk), appID, x.db, err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("reading a delivery id: %w", err)
			}
			out[id] = true
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading deliveries of app %s from %s.delivery_index: %w", appID, x.db, err)
		}
	}
	return out, nil
}

// LookupTokens returns the delivery id of each (app, msg id, token) that
// the index knows; a pair with an empty AppID matches the deliveries of
// every app, and a pair with an empty token matches none. The look-up
// reads the projection tokens of delivery_index, ordered by msg id and
// token, so it reads about a granule per pair found whatever the size of
// the table. Should two deliveries share a pair (the same token
// registered under two device ids, or, for an empty AppID, two apps), the
// smallest delivery id is returned, so the answer is stable.
func (x *DeliveryIndex) LookupTokens(ctx context.Context, pairs []MsgToken) (map[MsgToken]string, error) {
	out := make(map[MsgToken]string, len(pairs))
	// Both lists count in full for every pair (an overestimate where
	// pairs share a message), so each query stays below max_query_size.
	for _, sp := range inListSpans(len(pairs), func(i int) int { return literalSize(pairs[i].MsgID) + literalSize(pairs[i].Token) }) {
		chunk := pairs[sp[0]:sp[1]]
		want := make(map[MsgToken]bool, len(chunk))
		msgSet, tokenSet := map[string]bool{}, map[string]bool{}
		var msgs, tokens []string
		for _, p := range chunk {
			if p.Token == "" {
				continue
			}
			want[p] = true
			if !msgSet[p.MsgID] {
				msgSet[p.MsgID] = true
				msgs = append(msgs, p.MsgID)
			}
			if !tokenSet[p.Token] {
				tokenSet[p.Token] = true
				tokens = append(tokens, p.Token)
			}
		}
		if len(want) == 0 {
			continue
		}
		rows, err := x.conn.Query(ctx, "SELECT app_id, msg_id, token, min(delivery_id) FROM "+x.db+".delivery_index WHERE msg_id IN (?) AND token IN (?) GROUP BY app_id, msg_id, token", msgs, tokens)
		if err != nil {
			return nil, fmt.Errorf("looking up %d (msg id, token) pairs in %s.delivery_index: %w", len(chunk), x.db, err)
		}
		for rows.Next() {
			var p MsgToken
			var id string
			if err := rows.Scan(&p.AppID, &p.MsgID, &p.Token, &id); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("reading a (msg id, token) row of the delivery index: %w", err)
			}
			anyApp := MsgToken{MsgID: p.MsgID, Token: p.Token}
			for _, k := range []MsgToken{p, anyApp} {
				if prev, ok := out[k]; want[k] && (!ok || id < prev) {
					out[k] = id
				}
			}
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading (msg id, token) pairs from %s.delivery_index: %w", x.db, err)
		}
	}
	return out, nil
}

// DeliveryEvents returns which of the lifecycle steps are stored in the
// events table for each of the given delivery ids of an app's tasks and
// messages, keyed by delivery id (ids with none of the steps are absent).
// The task and message ids narrow the lookup to the table's key; a
// delivery outside them is not found.
func DeliveryEvents(ctx context.Context, conn driver.Conn, db, appID string, taskIDs, msgIDs, deliveryIDs []string, steps []schema.EventType) (map[string]map[schema.EventType]bool, error) {
	out := map[string]map[schema.EventType]bool{}
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = string(s)
	}
	for _, chunk := range inListChunks(deliveryIDs) {
		rows, err := conn.Query(ctx, "SELECT DISTINCT delivery_id, event FROM "+db+".events WHERE app_id = ? AND task_id IN (?) AND msg_id IN (?) AND event IN (?) AND delivery_id IN (?)",
			appID, taskIDs, msgIDs, names, chunk)
		if err != nil {
			return nil, fmt.Errorf("looking up the events of %d deliveries of app %s in %s: %w", len(chunk), appID, db, err)
		}
		for rows.Next() {
			var id, ev string
			if err := rows.Scan(&id, &ev); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("reading a delivery event: %w", err)
			}
			if out[id] == nil {
				out[id] = map[schema.EventType]bool{}
			}
			out[id][schema.EventType(ev)] = true
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return nil, fmt.Errorf("reading the events of deliveries of app %s: %w", appID, err)
		}
	}
	return out, nil
}

// IndexPart is one active data part of delivery_index: its name, its
// partition and the range of insert block numbers its rows came from
// (every insert makes a part with a new block number; a merge makes one
// spanning the ranges of the parts it merged).
type IndexPart struct {
	Name      string
	Partition string
	MinBlock  int64
	MaxBlock  int64
	Rows      uint64
}

// Parts lists the active data parts of delivery_index (system.parts),
// one consistent set of them.
func (x *DeliveryIndex) Parts(ctx context.Context) ([]IndexPart, error) {
	rows, err := x.conn.Query(ctx, "SELECT name, partition_id, min_block_number, max_block_number, rows FROM system.parts WHERE database = ? AND table = 'delivery_index' AND active", x.db)
	if err != nil {
		return nil, fmt.Errorf("listing the parts of %s.delivery_index: %w", x.db, err)
	}
	var out []IndexPart
	for rows.Next() {
		var p IndexPart
		if err := rows.Scan(&p.Name, &p.Partition, &p.MinBlock, &p.MaxBlock, &p.Rows); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("reading a part of %s.delivery_index: %w", x.db, err)
		}
		out = append(out, p)
	}
	err = rows.Err()
	_ = rows.Close()
	if err != nil {
		return nil, fmt.Errorf("listing the parts of %s.delivery_index: %w", x.db, err)
	}
	return out, nil
}

// IDHashes calls fn with xxHash64(delivery_id) of every row of the named
// parts of delivery_index, in one streaming query (a part no longer
// active contributes no rows). Rows that a merge has not yet collapsed
// are passed more than once.
func (x *DeliveryIndex) IDHashes(ctx context.Context, parts []string, fn func(uint64)) error {
	if len(parts) == 0 {
		return nil
	}
	rows, err := x.conn.Query(ctx, "SELECT xxHash64(delivery_id) FROM "+x.db+".delivery_index WHERE _part IN (?) SETTINGS optimize_use_projections = 0", parts)
	if err != nil {
		return fmt.Errorf("reading the delivery ids of %d parts of %s.delivery_index: %w", len(parts), x.db, err)
	}
	for rows.Next() {
		var h uint64
		if err := rows.Scan(&h); err != nil {
			_ = rows.Close()
			return fmt.Errorf("reading a delivery id hash: %w", err)
		}
		fn(h)
	}
	err = rows.Err()
	_ = rows.Close()
	if err != nil {
		return fmt.Errorf("reading the delivery ids of %s.delivery_index: %w", x.db, err)
	}
	return nil
}
