package store

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/pushpipe/pushpipe/schema"
)

const deviceColumns = "app_id, device_id, workspace_id, platform, vendor, vendor_token, self_token, token_valid, app_version, model, user_id, bound_at, unbound_at, updated_at, alias, alias_at, user_account, account_at"

// deviceScanDest returns where rows.Scan puts the columns of a device row
// selected as deviceColumns; token_valid goes to valid.
func deviceScanDest(d *schema.Device, valid *uint8) []any {
	return []any{&d.AppID, &d.DeviceID, &d.WorkspaceID, &d.Platform, &d.Vendor, &d.VendorToken,
		&d.SelfToken, valid, &d.AppVersion, &d.Model, &d.UserID, &d.BoundAt, &d.UnboundAt, &d.UpdatedAt,
		&d.Alias, &d.AliasAt, &d.UserAccount, &d.AccountAt}
}

// InsertDevices writes device rows in one batch. The newest UpdatedAt of a
// device wins when rows are read with FINAL. It returns only after
// ClickHouse acknowledged the insert.
func InsertDevices(ctx context.Context, conn driver.Conn, db string, rows []schema.Device) error {
	if len(rows) == 0 {
		return nil
	}
	b, err := conn.PrepareBatch(ctx, "INSERT INTO "+db+".devices ("+deviceColumns+")")
	if err != nil {
		return fmt.Errorf("preparing device insert into %s: %w", db, err)
	}
	defer func() { _ = b.Abort() }()
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
func LookupDevices(ctx context.Context, conn driver.Conn, db, appID string, ids []string) (map[string]schema.Device, error) {
	return queryDevices(ctx, conn, db, "device_id IN (?)", appID, ids)
}

// DevicesByUser returns the devices currently bound to any of the user ids,
// keyed by device id.
func DevicesByUser(ctx context.Context, conn driver.Conn, db, appID string, userIDs []string) (map[string]schema.Device, error) {
	return queryDevices(ctx, conn, db, "user_id IN (?)", appID, userIDs)
}

func queryDevices(ctx context.Context, conn driver.Conn, db, where, appID string, keys []string) (map[string]schema.Device, error) {
	out := make(map[string]schema.Device, len(keys))
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

func queryDeviceChunk(ctx context.Context, conn driver.Conn, db, where, appID string, keys []string, out map[string]schema.Device) error {
	rows, err := conn.Query(ctx, "SELECT "+deviceColumns+" FROM "+db+".devices FINAL WHERE app_id = ? AND "+where, appID, keys)
	if err != nil {
		return fmt.Errorf("looking up %d devices of app %s in %s: %w", len(keys), appID, db, err)
	}
	err = scanDevices(rows, func(d schema.Device) error {
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
func scanDevices(rows driver.Rows, fn func(schema.Device) error) error {
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var d schema.Device
		var valid uint8
		if err := rows.Scan(deviceScanDest(&d, &valid)...); err != nil {
			return fmt.Errorf("reading a device row: %w", err)
		}
		d.TokenValid = valid == 1
		if err := fn(d); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Devices reads and writes the registry's tables of one region database:
// devices, tags, user_phones and activity_tokens. It is safe for
// concurrent use (the ClickHouse connection pool is).
type Devices struct {
	conn driver.Conn
	db   string
}

// NewDevices returns the registry's tables over conn in database db
// (push_<region>, see Database).
func NewDevices(conn driver.Conn, db string) *Devices {
	return &Devices{conn: conn, db: db}
}

// Lookup is LookupDevices on the store's database.
func (s *Devices) Lookup(ctx context.Context, appID string, ids []string) (map[string]schema.Device, error) {
	return LookupDevices(ctx, s.conn, s.db, appID, ids)
}

// ByUser is DevicesByUser on the store's database.
func (s *Devices) ByUser(ctx context.Context, appID string, userIDs []string) (map[string]schema.Device, error) {
	return DevicesByUser(ctx, s.conn, s.db, appID, userIDs)
}

// Insert is InsertDevices on the store's database.
func (s *Devices) Insert(ctx context.Context, rows []schema.Device) error {
	return InsertDevices(ctx, s.conn, s.db, rows)
}

// Recent calls fn for the limit most recently updated devices of every
// app of the store's database, oldest first, reading rows as ClickHouse
// sends them. It scans the whole table once (to order it by update time);
// fanout's device cache runs it once at start. An error from fn stops it
// and is returned.
func (s *Devices) Recent(ctx context.Context, limit int, fn func(schema.Device) error) error {
	rows, err := s.conn.Query(ctx, "SELECT "+deviceColumns+" FROM (SELECT "+deviceColumns+" FROM "+s.db+".devices FINAL ORDER BY updated_at DESC LIMIT ?) ORDER BY updated_at", limit)
	if err != nil {
		return fmt.Errorf("reading the %d most recently updated devices of %s: %w", limit, s.db, err)
	}
	if err := scanDevices(rows, fn); err != nil {
		return fmt.Errorf("reading the most recently updated devices of %s: %w", s.db, err)
	}
	return nil
}
