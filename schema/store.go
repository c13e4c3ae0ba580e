package schema

import (
	"context"
	"fmt"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// Device is one row of the devices table: what the registry knows about a
// device of an app. Vendor names the vendor channel ("mipush", "hms",
// "apns"...) whose token VendorToken is; SelfToken is the self-built
// channel token. TokenValid turns false when a vendor reports the token dead.
type Device struct {
	AppID       string
	DeviceID    string
	WorkspaceID string
	Platform    string
	Vendor      string
	VendorToken string
	SelfToken   string
	TokenValid  bool
	AppVersion  string
	Model       string
	UserID      string
	BoundAt     time.Time
	UnboundAt   time.Time
	UpdatedAt   time.Time
	Alias       string
	AliasAt     time.Time
	UserAccount string
	AccountAt   time.Time
}

const deviceColumns = "app_id, device_id, workspace_id, platform, vendor, vendor_token, self_token, token_valid, app_version, model, user_id, bound_at, unbound_at, updated_at, alias, alias_at, user_account, account_at"

func (d *Device) scanDest(valid *uint8) []any {
	return []any{&d.AppID, &d.DeviceID, &d.WorkspaceID, &d.Platform, &d.Vendor, &d.VendorToken,
		&d.SelfToken, valid, &d.AppVersion, &d.Model, &d.UserID, &d.BoundAt, &d.UnboundAt, &d.UpdatedAt,
		&d.Alias, &d.AliasAt, &d.UserAccount, &d.AccountAt}
}

// InsertDevices writes device rows in one batch. The newest UpdatedAt of a
// device wins when rows are read with FINAL. It returns only after
// ClickHouse acknowledged the insert.
func InsertDevices(ctx context.Context, conn driver.Conn, db string, rows []Device) error {
	if len(rows) == 0 {
		return nil
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".devices ("+deviceColumns+")")
	if err != nil {
		return fmt.Errorf("preparing device insert into %s: %w", db, err)
	}
	defer b.Abort()
	for _, d := range rows {
		valid := uint8(0)
		if d.TokenValid {
			valid = 1
		}
		if err := b.Append(d.AppID, d.DeviceID, d.WorkspaceID, d.Platform, d.Vendor, d.VendorToken,
			d.SelfToken, valid, d.AppVersion, d.Model, d.UserID, d.BoundAt, d.UnboundAt, d.UpdatedAt,
			d.Alias, d.AliasAt, d.UserAccount, d.AccountAt); err != nil {
			return fmt.Errorf("appending device %s: %w", d.DeviceID, err)
		}
	}
	if err := b.Send(); err != nil {
		return fmt.Errorf("inserting %d devices into %s: %w", len(rows), db, err)
	}
	return nil
}

// LookupDevices returns the current rows of the given devices of an app,
// keyed by device id; ids without a row are absent from the map.
func LookupDevices(ctx context.Context, conn driver.Conn, db, appID string, ids []string) (map[string]Device, error) {
	return queryDevices(ctx, conn, db, "device_id IN (?)", appID, ids)
}

// DevicesByUser returns the devices currently bound to any of the user ids,
// keyed by device id.
func DevicesByUser(ctx context.Context, conn driver.Conn, db, appID string, userIDs []string) (map[string]Device, error) {
	return queryDevices(ctx, conn, db, "user_id IN (?)", appID, userIDs)
}

func queryDevices(ctx context.Context, conn driver.Conn, db, where, appID string, keys []string) (map[string]Device, error) {
	out := make(map[string]Device, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	for _, chunk := range inListChunks(keys) {
		if err := queryDeviceChunk(ctx, conn, db, where, appID, chunk, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func queryDeviceChunk(ctx context.Context, conn driver.Conn, db, where, appID string, keys []string, out map[string]Device) error {
	rows, err := conn.Query(ctx, "SELECT "+deviceColumns+" FROM "+db+".devices FINAL WHERE app_id = ? AND "+where, appID, keys)
	if err != nil {
		return fmt.Errorf("looking up %d devices of app %s in %s: %w", len(keys), appID, db, err)
	}
	err = scanDevices(rows, func(d Device) error {
		out[d.DeviceID] = d
		return nil
	})
	if err != nil {
		return fmt.Errorf("reading devices of app %s: %w", appID, err)
	}
	return nil
}

// scanDevices calls fn for each device row of rows (selected as
// deviceColumns) and closes rows. An error from fn stops it and is
// returned as it is.
func scanDevices(rows driver.Rows, fn func(Device) error) error {
	defer rows.Close()
	for rows.Next() {
		var d Device
		var valid uint8
		if err := rows.Scan(d.scanDest(&valid)...); err != nil {
			return fmt.Errorf("reading a device row: %w", err)
		}
		d.TokenValid = valid == 1
		if err := fn(d); err != nil {
			return err
		}
	}
	return rows.Err()
}

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

const eventColumns = "event_id, ts, region, app_id, workspace_id, task_id, msg_id, push_type, target, device_id, platform, channel, event, status_code, status_desc, attempt, latency_ms, app_version, model, delivery_id, template, vendor_msg_id, task_name"

// InsertEvents writes events in one batch and returns after ClickHouse
// acknowledged it. Inserting an event again (same EventID) is harmless:
// readers count distinct event ids. The batch is built column by column
// (see EventColumns), not row by row.
func InsertEvents(ctx context.Context, conn driver.Conn, db string, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	return NewEventColumns(events).Insert(ctx, conn, db)
}

// EventColumns are events as the columns of an insert into the events
// table, in the order of its column list; building them is what a
// columnar insert costs on top of sending. Only the columns of the events
// table are kept (Token, CallbackURL, NotifyID and ReceiptAppID are not).
type EventColumns struct {
	strs                 [eventStringColumns][]string
	ts, codes, latencies []int64
	attempts             []uint16
}

// Indices of the string columns in EventColumns.strs, in the order of
// eventColumns less ts, status_code, attempt and latency_ms.
const (
	colEventID = iota
	colRegion
	colAppID
	colWorkspaceID
	colTaskID
	colMsgID
	colPushType
	colTarget
	colDeviceID
	colPlatform
	colChannel
	colEvent
	colStatusDesc
	colAppVersion
	colModel
	colDeliveryID
	colTemplate
	colVendorMsgID
	colTaskName
	eventStringColumns
)

// NewEventColumns returns the columns of events.
func NewEventColumns(events []Event) *EventColumns {
	n := len(events)
	c := &EventColumns{ts: make([]int64, n), codes: make([]int64, n), latencies: make([]int64, n), attempts: make([]uint16, n)}
	all := make([]string, eventStringColumns*n)
	for i := range c.strs {
		c.strs[i] = all[i*n : (i+1)*n : (i+1)*n]
	}
	s := &c.strs
	for i := range events {
		e := &events[i]
		s[colEventID][i], s[colRegion][i], s[colAppID][i], s[colWorkspaceID][i] = e.EventID, e.Region, e.AppID, e.WorkspaceID
		s[colTaskID][i], s[colMsgID][i], s[colPushType][i], s[colTarget][i] = e.TaskID, e.MsgID, string(e.PushType), e.Target
		s[colDeviceID][i], s[colPlatform][i], s[colChannel][i], s[colEvent][i] = e.DeviceID, e.Platform, e.Channel, string(e.Event)
		s[colStatusDesc][i], s[colAppVersion][i], s[colModel][i], s[colDeliveryID][i] = e.StatusDesc, e.AppVersion, e.Model, e.DeliveryID
		s[colTemplate][i], s[colVendorMsgID][i], s[colTaskName][i] = e.Template, e.VendorMsgID, e.TaskName
		c.ts[i], c.codes[i], c.latencies[i], c.attempts[i] = e.TS, e.StatusCode, e.LatencyMs, uint16(e.Attempt)
	}
	return c
}

// Len is the number of rows.
func (c *EventColumns) Len() int { return len(c.ts) }

// Slice returns rows [from, to) of c, sharing its memory.
func (c *EventColumns) Slice(from, to int) *EventColumns {
	out := &EventColumns{ts: c.ts[from:to], codes: c.codes[from:to], latencies: c.latencies[from:to], attempts: c.attempts[from:to]}
	for i := range c.strs {
		out.strs[i] = c.strs[i][from:to]
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

// Insert writes the rows of c into db.events in one columnar batch and
// returns after ClickHouse acknowledged it.
func (c *EventColumns) Insert(ctx context.Context, conn driver.Conn, db string) error {
	s := &c.strs
	boxes := map[string]any{}
	lc := func(col int) []any { return boxed(s[col], boxes) }
	// The ts column takes Unix milliseconds.
	return insertColumns(ctx, conn, "INSERT INTO "+db+".events ("+eventColumns+")", fmt.Sprintf("%d events into %s", c.Len(), db),
		s[colEventID], c.ts, lc(colRegion), lc(colAppID), lc(colWorkspaceID), s[colTaskID],
		s[colMsgID], lc(colPushType), s[colTarget], s[colDeviceID], lc(colPlatform), lc(colChannel), lc(colEvent),
		c.codes, s[colStatusDesc], c.attempts, c.latencies, lc(colAppVersion), lc(colModel), s[colDeliveryID],
		lc(colTemplate), s[colVendorMsgID], s[colTaskName])
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
	defer b.Abort()
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

// DeviceStore reads and writes the devices table of one region database.
// It is safe for concurrent use (the ClickHouse connection pool is).
type DeviceStore struct {
	conn driver.Conn
	db   string
}

// NewDeviceStore returns a store over conn for database db (push_<region>).
func NewDeviceStore(conn driver.Conn, db string) *DeviceStore {
	return &DeviceStore{conn: conn, db: db}
}

// Lookup is LookupDevices on the store's database.
func (s *DeviceStore) Lookup(ctx context.Context, appID string, ids []string) (map[string]Device, error) {
	return LookupDevices(ctx, s.conn, s.db, appID, ids)
}

// ByUser is DevicesByUser on the store's database.
func (s *DeviceStore) ByUser(ctx context.Context, appID string, userIDs []string) (map[string]Device, error) {
	return DevicesByUser(ctx, s.conn, s.db, appID, userIDs)
}

// Insert is InsertDevices on the store's database.
func (s *DeviceStore) Insert(ctx context.Context, rows []Device) error {
	return InsertDevices(ctx, s.conn, s.db, rows)
}

// Recent calls fn for the limit most recently updated devices of every
// app of the store's database, oldest first, reading rows as ClickHouse
// sends them. It scans the whole table once (to order it by update time);
// fanout's device cache runs it once at start. An error from fn stops it
// and is returned.
func (s *DeviceStore) Recent(ctx context.Context, limit int, fn func(Device) error) error {
	rows, err := s.conn.Query(ctx, "SELECT "+deviceColumns+" FROM (SELECT "+deviceColumns+" FROM "+s.db+".devices FINAL ORDER BY updated_at DESC LIMIT ?) ORDER BY updated_at", limit)
	if err != nil {
		return fmt.Errorf("reading the %d most recently updated devices of %s: %w", limit, s.db, err)
	}
	if err := scanDevices(rows, fn); err != nil {
		return fmt.Errorf("reading the most recently updated devices of %s: %w", s.db, err)
	}
	return nil
}
