package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestTaskTimeline writes a task's events (some twice, as a replay would,
// and one replayed with a later time) and reads its timeline by second and
// by minute: every event id is counted once, in its earliest period, so
// each event type's periods add up to the funnel's figure.
func TestTaskTimeline(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	var evs []schema.Event
	add := func(task string, at time.Duration, ev schema.EventType, n int) {
		for i := range n {
			d := schema.Delivery{DeliveryID: fmt.Sprintf("%s-d%d", task, i), MsgID: task + "-m", TaskID: task, AppID: "app",
				Region: "sg", PushType: schema.PushSimple, DeviceID: fmt.Sprintf("dev%d", i), Platform: "android", Channel: "mipush"}
			evs = append(evs, d.EventFor(ev, base.Add(at).UnixMilli()))
		}
	}
	add("T", 0, schema.EventValid, 4)
	add("T", 1500*time.Millisecond, schema.EventAcked, 3)
	add("T", 70*time.Second, schema.EventArrived, 2)
	add("other", 0, schema.EventValid, 5) // another task: never counted
	replayLater := evs[0]
	replayLater.TS += (5 * time.Minute).Milliseconds() // the same event id stored again later
	for round := range 2 {
		batch := evs
		if round == 1 {
			batch = append(append([]schema.Event(nil), evs...), replayLater)
		}
		if err := store.InsertEvents(ctx, conn, db, batch); err != nil {
			t.Fatal(err)
		}
	}
	type key struct {
		at time.Duration
		ev schema.EventType
	}
	for _, tc := range []struct {
		name string
		step time.Duration
		want map[key]uint64
	}{
		{"by second", time.Second, map[key]uint64{{0, schema.EventValid}: 4, {time.Second, schema.EventAcked}: 3, {70 * time.Second, schema.EventArrived}: 2}},
		{"by minute", time.Minute, map[key]uint64{{0, schema.EventValid}: 4, {0, schema.EventAcked}: 3, {time.Minute, schema.EventArrived}: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := store.TaskTimeline(ctx, conn, db, "app", "T", tc.step)
			if err != nil {
				t.Fatal(err)
			}
			gotMap := map[key]uint64{}
			for i, c := range got {
				gotMap[key{c.Start.Sub(base), c.Event}] = c.Count
				if i > 0 && c.Start.Before(got[i-1].Start) {
					t.Errorf("row %d (%v) comes before row %d (%v)", i, c.Start, i-1, got[i-1].Start)
				}
			}
			if fmt.Sprint(gotMap) != fmt.Sprint(tc.want) {
				t.Fatalf("timeline %v, want %v", gotMap, tc.want)
			}
		})
	}
	f, err := store.QueryFunnel(ctx, conn, db, "app", "T", "")
	if err != nil {
		t.Fatal(err)
	}
	if f.Valid != 4 || f.Acked != 3 || f.Arrived != 2 {
		t.Fatalf("funnel %+v: the timeline's sums (4 valid, 3 acked, 2 arrived) must equal it", f)
	}
	for _, step := range []time.Duration{0, 500 * time.Millisecond, 1500 * time.Millisecond} {
		var ve *schema.ValidationError
		if _, err := store.TaskTimeline(ctx, conn, db, "app", "T", step); !errors.As(err, &ve) || ve.Code != schema.CodeInvalidParam {
			t.Errorf("step %s: err %v, want a 3028 validation error", step, err)
		}
	}
}
