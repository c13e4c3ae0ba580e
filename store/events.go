package store

import (
	"context"
	"fmt"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/pushpipe/pushpipe/schema"
)

const eventColumns = "event_id, ts, region, app_id, workspace_id, task_id, msg_id, push_type, target, device_id, platform, channel, event, status_code, status_desc, attempt, latency_ms, app_version, model, delivery_id, template, vendor_msg_id, task_name"

// InsertEvents writes events in one batch and returns after ClickHouse
// acknowledged it. Inserting an event again (same EventID) is harmless:
// readers count distinct event ids. The batch is built column by column
// (see EventColumns), not row by row.
func InsertEvents(ctx context.Context, conn driver.Conn, db string, events []schema.Event) error {
	if len(events) == 0 {
		return nil
	}
	// The columns of one block at a time, refilled for the next: a batch
	// holds no column copy of all its events.
	c := &EventColumns{}
	return insertBlocks(ctx, conn, "INSERT INTO "+db+".events ("+eventColumns+")", fmt.Sprintf("%d events into %s", len(events), db),
		len(events), func(from, to int) []any {
			c.fill(events[from:to])
			return c.block()
		})
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
func NewEventColumns(events []schema.Event) *EventColumns {
	c := &EventColumns{}
	c.fill(events)
	return c
}

// fill sets c to the columns of events, reusing c's memory when it has
// room for them.
func (c *EventColumns) fill(events []schema.Event) {
	n := len(events)
	if cap(c.ts) < n {
		c.ts, c.codes, c.latencies, c.attempts = make([]int64, n), make([]int64, n), make([]int64, n), make([]uint16, n)
		all := make([]string, eventStringColumns*n)
		for i := range c.strs {
			c.strs[i] = all[i*n : i*n : (i+1)*n]
		}
	}
	c.ts, c.codes, c.latencies, c.attempts = c.ts[:n], c.codes[:n], c.latencies[:n], c.attempts[:n]
	for i := range c.strs {
		c.strs[i] = c.strs[i][:n]
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

// Insert writes the rows of c into db.events in one columnar batch and
// returns after ClickHouse acknowledged it.
func (c *EventColumns) Insert(ctx context.Context, conn driver.Conn, db string) error {
	return insertColumns(ctx, conn, "INSERT INTO "+db+".events ("+eventColumns+")", fmt.Sprintf("%d events into %s", c.Len(), db),
		c.block()...)
}

// block returns the columns of c in the order of eventColumns, as
// insertColumns takes them, sharing c's memory.
func (c *EventColumns) block() []any {
	s := &c.strs
	// The ts column takes Unix milliseconds.
	return []any{s[colEventID], c.ts, s[colRegion], s[colAppID], s[colWorkspaceID], s[colTaskID],
		s[colMsgID], s[colPushType], s[colTarget], s[colDeviceID], s[colPlatform], s[colChannel], s[colEvent],
		c.codes, s[colStatusDesc], c.attempts, c.latencies, s[colAppVersion], s[colModel], s[colDeliveryID],
		s[colTemplate], s[colVendorMsgID], s[colTaskName]}
}
