package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestQueryTrails stores the messages of a device d1 (three tasks, one
// with its receipts an hour after the range), of a user u1 whose push
// reached no device, of another device and of another app, twice (a
// replay), and reads the trails of d1 and of u1 with d1 as its device.
func TestQueryTrails(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	var evs []schema.Event
	add := func(app, task, msg, target, device string, min int, steps ...schema.EventType) {
		for i, s := range steps {
			evs = append(evs, schema.Event{EventID: schema.NewEventID(s, task, msg, target, device), TS: base.Add(time.Duration(min)*time.Minute + time.Duration(i)*time.Second).UnixMilli(),
				Region: "sg", AppID: app, TaskID: task, MsgID: msg, Target: target, DeviceID: device, Channel: "mipush", Event: s, StatusCode: int64(i)})
		}
	}
	add("app", "T1", "m1", "d1", "", 0, schema.EventPlanned)
	add("app", "T1", "m1", "d1", "d1", 0, schema.EventValid, schema.EventSent, schema.EventAcked)
	add("app", "T1", "m1", "d1", "d1", 200, schema.EventArrived) // after the range
	add("app", "T2", "m2", "d1", "d1", 10, schema.EventValid, schema.EventSent)
	add("app", "T3", "m3", "u1", "", 20, schema.EventPlanned)
	add("app", "T3", "m3", "u1", "d1", 20, schema.EventValid, schema.EventFailed)
	add("app", "T4", "m4", "u1", "", 30, schema.EventPlanned, schema.EventInvalidDevice)
	add("app", "T5", "m5", "d2", "d2", 5, schema.EventValid)
	add("other", "T6", "m6", "d1", "d1", 5, schema.EventValid)
	add("app", "T7", "m7", "d1", "d1", -120, schema.EventValid) // before the range
	for round := 1; round <= 2; round++ {
		if err := store.InsertEvents(ctx, conn, db, evs); err != nil {
			t.Fatal(err)
		}
	}
	type msg struct {
		id     string
		events []schema.EventType
	}
	for _, tc := range []struct {
		name  string
		q     store.TrailQuery
		total uint64
		want  []msg
	}{
		{"device d1", store.TrailQuery{DeviceIDs: []string{"d1"}, Targets: []string{"d1"}, Limit: 10}, 3, []msg{
			{"m3", []schema.EventType{"valid", "failed"}},
			{"m2", []schema.EventType{"valid", "sent"}},
			{"m1", []schema.EventType{"planned", "valid", "sent", "acked", "arrived"}}}},
		{"device d1, the newest message only", store.TrailQuery{DeviceIDs: []string{"d1"}, Targets: []string{"d1"}, Limit: 1}, 3, []msg{
			{"m3", []schema.EventType{"valid", "failed"}}}},
		{"user u1 on d1", store.TrailQuery{DeviceIDs: []string{"d1"}, Targets: []string{"u1"}, Limit: 10}, 4, []msg{
			{"m4", []schema.EventType{"planned", "invalid_device"}},
			{"m3", []schema.EventType{"planned", "valid", "failed"}},
			{"m2", []schema.EventType{"valid", "sent"}},
			{"m1", []schema.EventType{"valid", "sent", "acked", "arrived"}}}},
		{"user u1 without devices", store.TrailQuery{Targets: []string{"u1"}, Limit: 10}, 2, []msg{
			{"m4", []schema.EventType{"planned", "invalid_device"}},
			{"m3", []schema.EventType{"planned"}}}},
		{"a device nobody pushed to", store.TrailQuery{DeviceIDs: []string{"d9"}, Targets: []string{"d9"}, Limit: 10}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.q
			q.AppID, q.From, q.To = "app", base.Add(-time.Hour), base.Add(time.Hour)
			got, err := store.QueryTrails(ctx, conn, db, q)
			if err != nil {
				t.Fatal(err)
			}
			var have []msg
			for _, m := range got.Messages {
				var es []schema.EventType
				for _, e := range m.Events {
					es = append(es, e.Event)
				}
				have = append(have, msg{m.MsgID, es})
			}
			if got.Total != tc.total || !slices.EqualFunc(have, tc.want, func(a, b msg) bool { return a.id == b.id && slices.Equal(a.events, b.events) }) {
				t.Fatalf("total %d, messages %v; want %d, %v", got.Total, have, tc.total, tc.want)
			}
		})
	}
}
