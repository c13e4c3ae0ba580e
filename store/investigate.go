package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/pushpipe/pushpipe/schema"
)

// TrailQuery asks for the messages planned to some devices or users of
// an app: the messages with an event whose device_id is one of DeviceIDs,
// or a device-less event (planned, or invalid_device of a target that
// reached no device) whose target is one of Targets, first seen in
// [From, To). At least one of DeviceIDs and Targets must be given.
type TrailQuery struct {
	AppID     string
	DeviceIDs []string
	Targets   []string
	From, To  time.Time
	// Limit is how many messages are returned at most, newest first.
	Limit int
}

// TrailEvent is one event of a message on its way to a device (or to a
// target that reached none: DeviceID empty).
type TrailEvent struct {
	TS         time.Time
	Event      schema.EventType
	DeviceID   string
	Target     string
	Channel    string
	StatusCode int64
	StatusDesc string
	Attempt    uint16
}

// MessageTrail is one message planned to the devices or targets asked
// about, with its events for them, oldest first.
type MessageTrail struct {
	TaskID string
	MsgID  string
	// First is the time of its first event for them.
	First  time.Time
	Events []TrailEvent
}

// Trails is the answer of QueryTrails.
type Trails struct {
	// Messages are at most Limit messages, newest first.
	Messages []MessageTrail
	// Total counts every message of the query in the range; more than
	// len(Messages) means some were left out.
	Total uint64
}

// maxTrailEvents bounds the events read for the messages of one query
// (a delivery has a few events per attempt).
const maxTrailEvents = 20_000

// QueryTrails returns the messages of q, newest first, each with every
// event of it for the devices or targets asked about (its receipts too,
// whenever they came). Replayed events are counted once (FINAL). It
// reads only; an error says which query failed.
func QueryTrails(ctx context.Context, conn driver.Conn, db string, q TrailQuery) (Trails, error) {
	var out Trails
	if len(q.DeviceIDs) == 0 && len(q.Targets) == 0 || q.Limit < 1 {
		return out, nil
	}
	// Which events are about the devices or targets.
	var about []string
	var args []any
	if len(q.DeviceIDs) > 0 {
		about = append(about, "device_id IN (?)")
		args = append(args, q.DeviceIDs)
	}
	if len(q.Targets) > 0 {
		about = append(about, "(device_id = '' AND target IN (?))")
		args = append(args, q.Targets)
	}
	cond := "(" + strings.Join(about, " OR ") + ")"
	inRange := append([]any{q.AppID, q.From, q.To}, args...)
	const scope = "app_id = ? AND ts >= ? AND ts < ? AND msg_id != '' AND "
	if err := conn.QueryRow(ctx, "SELECT uniqExact(task_id, msg_id) FROM "+db+".events WHERE "+scope+cond, inRange...).Scan(&out.Total); err != nil {
		return out, fmt.Errorf("counting the messages of app %s for %d devices and %d targets in %s: %w", q.AppID, len(q.DeviceIDs), len(q.Targets), db, err)
	}
	rows, err := conn.Query(ctx, "SELECT task_id, msg_id, min(ts) AS first FROM "+db+".events WHERE "+scope+cond+
		" GROUP BY task_id, msg_id ORDER BY first DESC, task_id, msg_id LIMIT ?", append(inRange, q.Limit)...)
	if err != nil {
		return out, fmt.Errorf("listing the messages of app %s for %d devices and %d targets in %s: %w", q.AppID, len(q.DeviceIDs), len(q.Targets), db, err)
	}
	index := map[[2]string]int{}
	var tasks, msgs []string
	for rows.Next() {
		var m MessageTrail
		if err := rows.Scan(&m.TaskID, &m.MsgID, &m.First); err != nil {
			_ = rows.Close()
			return out, fmt.Errorf("reading a message of app %s: %w", q.AppID, err)
		}
		index[[2]string{m.TaskID, m.MsgID}] = len(out.Messages)
		out.Messages = append(out.Messages, m)
		tasks, msgs = append(tasks, m.TaskID), append(msgs, m.MsgID)
	}
	_ = rows.Close()
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("reading the messages of app %s: %w", q.AppID, err)
	}
	if len(out.Messages) == 0 {
		return out, nil
	}
	// Their events: the sorting key leads with (app_id, task_id, msg_id),
	// so this reads their granules only, whenever the events came.
	rows, err = conn.Query(ctx, "SELECT task_id, msg_id, ts, event, device_id, target, channel, status_code, status_desc, attempt FROM "+db+
		".events FINAL WHERE app_id = ? AND task_id IN (?) AND msg_id IN (?) AND "+cond+" ORDER BY ts, event LIMIT ?",
		append(append([]any{q.AppID, tasks, msgs}, args...), maxTrailEvents)...)
	if err != nil {
		return out, fmt.Errorf("reading the events of %d messages of app %s in %s: %w", len(out.Messages), q.AppID, db, err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		var task, msg, event string
		var e TrailEvent
		if err := rows.Scan(&task, &msg, &e.TS, &event, &e.DeviceID, &e.Target, &e.Channel, &e.StatusCode, &e.StatusDesc, &e.Attempt); err != nil {
			return out, fmt.Errorf("reading an event of app %s: %w", q.AppID, err)
		}
		e.Event = schema.EventType(event)
		if i, ok := index[[2]string{task, msg}]; ok {
			out.Messages[i].Events = append(out.Messages[i].Events, e)
		}
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("reading the events of app %s: %w", q.AppID, err)
	}
	return out, nil
}
