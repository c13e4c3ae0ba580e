package store

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/pushpipe/pushpipe/schema"
)

// AckedDelivery is a delivery a vendor accepted (an acked event) and that
// has no recalled event yet: what a revoke must recall.
type AckedDelivery struct {
	DeliveryRecord
	// VendorMsgID is the vendor's message id from the acked event.
	VendorMsgID string
	// AckedAt is the acked event's time, Unix milliseconds.
	AckedAt int64
}

// AckedToRecall lists the deliveries named by the revoke c (by msg id,
// optionally narrowed to a target, or by task id) that were acked and not
// yet recalled, with their vendor tokens from the delivery index. It reads
// what the event sink has inserted so far; call it again later for acks
// still on their way.
func AckedToRecall(ctx context.Context, conn driver.Conn, db string, c schema.Control) ([]AckedDelivery, error) {
	where, args := "app_id = ? AND task_id = ?", []any{c.AppID, c.TaskID}
	if c.MsgID != "" {
		where, args = "app_id = ? AND msg_id = ?", []any{c.AppID, c.MsgID}
		if c.Target != "" {
			where += " AND target = ?"
			args = append(args, c.Target)
		}
	}
	q := "SELECT delivery_id, max(vendor_msg_id), toInt64(toUnixTimestamp64Milli(min(ts))) FROM " + db + ".events " +
		"WHERE " + where + " AND event = 'acked' AND delivery_id != '' AND delivery_id NOT IN (SELECT delivery_id FROM " + db + ".events " +
		"WHERE " + where + " AND event = 'recalled') GROUP BY delivery_id ORDER BY delivery_id"
	rows, err := conn.Query(ctx, q, append(args, args...)...)
	if err != nil {
		return nil, fmt.Errorf("listing acked deliveries of %s to recall in %s: %w", c.ControlKey(), db, err)
	}
	var out []AckedDelivery
	var ids []string
	for rows.Next() {
		var a AckedDelivery
		if err := rows.Scan(&a.DeliveryID, &a.VendorMsgID, &a.AckedAt); err != nil {
			_ = rows.Close()
			return nil, fmt.Errorf("reading an acked delivery: %w", err)
		}
		out = append(out, a)
		ids = append(ids, a.DeliveryID)
	}
	err = rows.Err()
	_ = rows.Close()
	if err != nil {
		return nil, fmt.Errorf("listing acked deliveries of %s in %s: %w", c.ControlKey(), db, err)
	}
	recs, err := NewDeliveryIndex(conn, db).Lookup(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if r, ok := recs[out[i].DeliveryID]; ok {
			vm, at := out[i].VendorMsgID, out[i].AckedAt
			out[i].DeliveryRecord = r
			out[i].VendorMsgID, out[i].AckedAt = vm, at
		}
	}
	return out, nil
}
