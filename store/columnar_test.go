package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestColumnarInsertsRoundTrip writes rows of the events table, the
// delivery index and the outcome table, each column set and the
// LowCardinality columns repeating and differing across rows, and reads
// every column back as written.
func TestColumnarInsertsRoundTrip(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	ts := time.Now().UnixMilli()
	t.Run("events", func(t *testing.T) {
		events := []schema.Event{
			{EventID: "e1", TS: ts, Region: "sg", AppID: "A", WorkspaceID: "w", TaskID: "t1", MsgID: "m1", PushType: schema.PushBroadcast,
				Target: "tg", DeviceID: "dev1", Platform: "android", Channel: "mipush", Event: schema.EventAcked, StatusCode: 2,
				StatusDesc: "Acked", Attempt: 3, LatencyMs: 45, AppVersion: "3.1.0", Model: "X1", DeliveryID: "d1",
				Template: "tpl", VendorMsgID: "v1", TaskName: "sale"},
			{EventID: "e2", TS: ts + 1, Region: "sg", AppID: "A", WorkspaceID: "w2", TaskID: "t1", MsgID: "m2", PushType: schema.PushSimple,
				DeviceID: "dev2", Platform: "ios", Channel: "apns", Event: schema.EventFailed, StatusCode: -7, Attempt: 1, AppVersion: "3.1.0"},
			{EventID: "e3", TS: ts + 2, Region: "sg", AppID: "B", Event: schema.EventAccepted},
		}
		if err := store.InsertEvents(ctx, conn, db, events); err != nil {
			t.Fatal(err)
		}
		rows, err := conn.Query(ctx, "SELECT event_id, toUnixTimestamp64Milli(ts), region, app_id, workspace_id, task_id, msg_id, push_type, target, device_id, "+
			"platform, channel, event, status_code, status_desc, attempt, latency_ms, app_version, model, delivery_id, template, vendor_msg_id, task_name "+
			"FROM "+db+".events ORDER BY event_id")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = rows.Close() }()
		var got []schema.Event
		for rows.Next() {
			var e schema.Event
			var pushType, event string
			var attempt uint16
			if err := rows.Scan(&e.EventID, &e.TS, &e.Region, &e.AppID, &e.WorkspaceID, &e.TaskID, &e.MsgID, &pushType, &e.Target, &e.DeviceID,
				&e.Platform, &e.Channel, &event, &e.StatusCode, &e.StatusDesc, &attempt, &e.LatencyMs, &e.AppVersion, &e.Model, &e.DeliveryID,
				&e.Template, &e.VendorMsgID, &e.TaskName); err != nil {
				t.Fatal(err)
			}
			e.PushType, e.Event, e.Attempt = schema.PushType(pushType), schema.EventType(event), int(attempt)
			got = append(got, e)
		}
		if len(got) != len(events) {
			t.Fatalf("read %d rows, want %d", len(got), len(events))
		}
		for i := range events {
			if got[i] != events[i] {
				t.Errorf("row %d reads\n%+v\nwant\n%+v", i, got[i], events[i])
			}
		}
	})
	t.Run("delivery index", func(t *testing.T) {
		recs := []store.DeliveryRecord{
			{DeliveryID: "d1", AppID: "A", WorkspaceID: "w", TaskID: "t", MsgID: "m", PushType: schema.PushBroadcast, Target: "tg", DeviceID: "dev1",
				Platform: "android", Channel: "mipush", Token: "tok1", AppVersion: "3.1.0", Model: "X1", TS: ts, NotifyID: "42"},
			{DeliveryID: "d2", AppID: "A", WorkspaceID: "w", TaskID: "t", MsgID: "m", PushType: schema.PushBroadcast, DeviceID: "dev2",
				Platform: "ios", Channel: "apns", Token: "tok2", AppVersion: "3.2.0", TS: ts + 5},
		}
		x := store.NewDeliveryIndex(conn, db)
		if err := x.Insert(ctx, recs); err != nil {
			t.Fatal(err)
		}
		got, err := x.Lookup(ctx, []string{"d1", "d2"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if got[r.DeliveryID] != r {
				t.Errorf("delivery %s reads\n%+v\nwant\n%+v", r.DeliveryID, got[r.DeliveryID], r)
			}
		}
		ids, err := x.LookupTokens(ctx, []store.MsgToken{{AppID: "A", MsgID: "m", Token: "tok2"}})
		if err != nil || ids[store.MsgToken{AppID: "A", MsgID: "m", Token: "tok2"}] != "d2" {
			t.Fatalf("token lookup gave %v, %v; want d2", ids, err)
		}
	})
	t.Run("outcomes", func(t *testing.T) {
		outs := []store.DeliveryOutcome{
			{MsgID: "m", DeliveryID: "d1", EventID: "e1", Event: schema.EventAcked, TS: ts},
			{MsgID: "m", DeliveryID: "d2", EventID: "e2", Event: schema.EventFailed, TS: ts + 3},
		}
		o := store.NewOutcomes(conn, db)
		if err := o.Insert(ctx, outs); err != nil {
			t.Fatal(err)
		}
		got, err := o.Lookup(ctx, []store.DeliveryOutcome{{MsgID: "m", DeliveryID: "d1"}, {MsgID: "m", DeliveryID: "d2"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range outs {
			if got[r.DeliveryID] != r {
				t.Errorf("outcome of %s reads %+v, want %+v", r.DeliveryID, got[r.DeliveryID], r)
			}
		}
	})
}

// TestColumnarInsertSpansBlocks writes one batch of events larger than
// the blocks an insert is sent in (insertColumns sends 4096 rows at a
// time), its LowCardinality values changing from block to block, and
// reads every row back once, with its own values, from a single part:
// the blocks of one insert are one insert to ClickHouse, not several.
func TestColumnarInsertSpansBlocks(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	const n = 2*4096 + 1000
	ts := time.Now().UnixMilli()
	channels := []string{"mipush", "apns", "fcm"}
	events := make([]schema.Event, n)
	for i := range events {
		events[i] = schema.Event{EventID: "e" + strconv.Itoa(i), TS: ts, Region: "sg", AppID: "A", TaskID: "t", MsgID: "m",
			PushType: schema.PushBroadcast, DeviceID: "dev" + strconv.Itoa(i), Platform: "android", Channel: channels[i%3],
			Event: schema.EventAcked, Attempt: 1, AppVersion: "v" + strconv.Itoa(i/1000), DeliveryID: "d" + strconv.Itoa(i)}
	}
	if err := store.InsertEvents(ctx, conn, db, events); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, "SELECT event_id, device_id, channel, app_version FROM "+db+".events")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	seen := make([]bool, n)
	for rows.Next() {
		var id, device, channel, version string
		if err := rows.Scan(&id, &device, &channel, &version); err != nil {
			t.Fatal(err)
		}
		i, err := strconv.Atoi(strings.TrimPrefix(id, "e"))
		if err != nil || i < 0 || i >= n || seen[i] {
			t.Fatalf("row with event id %q: unknown or read twice", id)
		}
		seen[i] = true
		if e := events[i]; device != e.DeviceID || channel != e.Channel || version != e.AppVersion {
			t.Errorf("row %d reads device %q, channel %q, version %q; want %q, %q, %q", i, device, channel, version, e.DeviceID, e.Channel, e.AppVersion)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("row %d of %d was not stored", i, n)
		}
	}
	var parts uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM system.parts WHERE database = ? AND table = 'events' AND active", db).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts != 1 {
		t.Errorf("one insert of %d events made %d parts, want 1", n, parts)
	}
}
