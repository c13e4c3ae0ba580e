package eventsink

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

var ch *testinfra.ClickHouse

func TestMain(m *testing.M) {
	testinfra.MainWithClickHouse(m, func(c *testinfra.ClickHouse) { ch = c })
}

// TestReplayDoesNotChangeStatistics writes a batch of events, writes it
// again (a replay after a crash), and checks that the event counts and the
// per-minute aggregate both count every event once.
func TestReplayDoesNotChangeStatistics(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatalf("migrations are not idempotent: %v", err)
	}
	h, err := New(Config{Region: "sg", Insert: func(ctx context.Context, evs []schema.Event) error {
		return store.InsertEvents(ctx, conn, db, evs)
	}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UnixMilli()
	var msgs []kafka.Message
	for i := 0; i < 1000; i++ {
		d := schema.Delivery{DeliveryID: fmt.Sprintf("d%d", i), MsgID: "m", TaskID: "t", AppID: "a", Region: "sg", DeviceID: fmt.Sprintf("dev%d", i)}
		for _, ev := range []schema.EventType{schema.EventSent, schema.EventAcked} {
			b, _ := json.Marshal(d.EventFor(ev, now))
			msgs = append(msgs, kafka.Message{Value: b})
		}
	}
	msgs = append(msgs, kafka.Message{Value: []byte(`{"eventId":"x","event":"acked","ts":1,"region":"eu"}`)})
	for round := 1; round <= 2; round++ {
		res, err := h.HandleBatch(ctx, msgs)
		if err != nil {
			t.Fatal(err)
		}
		if res[len(res)-1].Reject == nil {
			t.Fatal("event of another region was not rejected")
		}
		var raw, distinct, agg uint64
		if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM "+db+".events WHERE event = 'acked'").Scan(&raw, &distinct); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, "SELECT uniqExactMerge(events) FROM "+db+".events_minute WHERE event = 'acked'").Scan(&agg); err != nil {
			t.Fatal(err)
		}
		if distinct != 1000 || agg != 1000 {
			t.Fatalf("round %d: distinct acked %d, aggregate %d, want 1000 (raw rows %d)", round, distinct, agg, raw)
		}
	}
}

func TestUndecodableEventsAreRejected(t *testing.T) {
	h, _ := New(Config{Region: "sg", Insert: func(context.Context, []schema.Event) error { return nil }})
	for _, tc := range []struct{ scenario, value string }{
		{"not json", "{"},
		{"no event id", `{"event":"acked","ts":1,"region":"sg"}`},
		{"no timestamp", `{"eventId":"e","event":"acked","region":"sg"}`},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			res, err := h.HandleBatch(context.Background(), []kafka.Message{{Value: []byte(tc.value)}})
			if err != nil || res[0].Reject == nil || res[0].Reject.Code != int(schema.CodeInvalidParam) {
				t.Fatalf("res %+v err %v, want rejection 3028", res, err)
			}
		})
	}
}

// TestBatchesAfterALargerOneHoldOnlyTheirOwnFields: the event slices of
// earlier batches are reused; a later, smaller batch of sparser events
// inserts exactly its own events, nothing left from the earlier ones.
func TestBatchesAfterALargerOneHoldOnlyTheirOwnFields(t *testing.T) {
	var got []schema.Event
	h, err := New(Config{Region: "sg", Insert: func(_ context.Context, evs []schema.Event) error {
		got = append(got[:0], evs...)
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	rich := schema.Event{EventID: "e-rich", TS: 1, Region: "sg", AppID: "app", TaskID: "task", MsgID: "msg", Event: schema.EventAcked,
		DeviceID: "dev", Channel: "mipush", StatusDesc: "ok", AppVersion: "1.0", Model: "m", DeliveryID: "d1", LatencyMs: 7, Attempt: 2}
	sparse := schema.Event{EventID: "e-sparse", TS: 2, Region: "sg", Event: schema.EventAcked}
	for _, tc := range []struct {
		batch []schema.Event
	}{
		{[]schema.Event{rich, rich, rich}},
		{[]schema.Event{sparse, sparse}},
		{[]schema.Event{sparse, rich, sparse, sparse}},
	} {
		msgs := make([]kafka.Message, len(tc.batch))
		for i, e := range tc.batch {
			b, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			msgs[i] = kafka.Message{Value: b}
		}
		if _, err := h.HandleBatch(context.Background(), msgs); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(tc.batch) {
			t.Fatalf("inserted %d events, want %d", len(got), len(tc.batch))
		}
		for i := range got {
			if got[i] != tc.batch[i] {
				t.Fatalf("event %d inserted as %+v, want %+v", i, got[i], tc.batch[i])
			}
		}
	}
}

// TestEventSliceReuse checks the event slices kept between batches: a
// released slice comes back zeroed for a batch it can hold, and once
// maxFreeEventSlices are kept, a larger released slice replaces the
// smallest, so that batches larger than the first ones stop allocating.
func TestEventSliceReuse(t *testing.T) {
	h := &Handler{}
	small1, small2 := h.eventSlice(100), h.eventSlice(200)
	h.releaseEvents(small1, 100)
	h.releaseEvents(small2, 200)
	large := h.eventSlice(1000)
	if &large[0] == &small1[0] || &large[0] == &small2[0] {
		t.Fatal("a batch of 1000 events got a slice made for 100 or 200")
	}
	large[999].EventID = "e-999"
	h.releaseEvents(large, 1000)
	for _, tc := range []struct {
		name string
		n    int
		want *schema.Event // the first event of the slice expected back
	}{
		{"the large slice, kept in place of the smallest", 1000, &large[0]},
		{"a batch 5% larger still fits the large slice's room", 1050, &large[0]},
		{"the 200-event slice, still kept", 150, &small2[0]},
	} {
		got := h.eventSlice(tc.n)
		if len(got) != tc.n {
			t.Fatalf("%s: len %d, want %d", tc.name, len(got), tc.n)
		}
		if &got[0] != tc.want {
			t.Fatalf("%s: got a new slice (cap %d), want the kept one", tc.name, cap(got))
		}
		for i := range got {
			if got[i] != (schema.Event{}) {
				t.Fatalf("%s: event %d is not zero: %+v", tc.name, i, got[i])
			}
		}
		h.releaseEvents(got, tc.n)
	}
}
