package eventsink

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// benchRecords returns records of about n lifecycle events of deliveries
// first, first+1, ... in the mix of the bench's eventsink figure (planned,
// valid, sent, acked; every other delivery also arrived), as the fanout,
// sender and receipts workers publish them.
func benchRecords(b *testing.B, first, n int) []kafka.Message {
	b.Helper()
	out := make([]kafka.Message, 0, n+5)
	ts := time.Now().UnixMilli()
	for i := first; len(out) < n; i++ {
		task := "bench-task-" + strconv.Itoa(i/1000)
		dev := "bench-dev-" + strconv.Itoa(i)
		d := schema.Delivery{DeliveryID: "bd" + strconv.Itoa(i), TaskID: task, MsgID: task + "-msg", AppID: "BENCH_APP",
			WorkspaceID: "bench", Region: "sg", PushType: schema.PushBroadcast, Target: dev, DeviceID: dev,
			Platform: schema.PlatformAndroid, Channel: "mipush", Token: "tok-" + dev, AppVersion: "3.1.0", Attempt: 1}
		steps := []schema.EventType{schema.EventPlanned, schema.EventValid, schema.EventSent, schema.EventAcked}
		if i%2 == 0 {
			steps = append(steps, schema.EventArrived)
		}
		for _, t := range steps {
			e := d.EventFor(t, ts)
			e.StatusCode = schema.StatusAcked
			v, err := json.Marshal(e)
			if err != nil {
				b.Fatal(err)
			}
			out = append(out, kafka.Message{Key: []byte(e.Key()), Value: v})
		}
	}
	return out[:n]
}

// BenchmarkDecode measures the sink's handling of a batch without
// ClickHouse (no delivery index, no outcomes, an insert that stores
// nothing): decoding and checking each record. ns/event is the cost of
// one event.
func BenchmarkDecode(b *testing.B) {
	const n = 2000
	h, err := New(Config{Region: "sg", Insert: func(context.Context, []schema.Event) error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	msgs := benchRecords(b, 0, n)
	b.ReportAllocs()
	for b.Loop() {
		res, err := h.HandleBatch(context.Background(), msgs)
		if err != nil || res[0].Reject != nil {
			b.Fatalf("err %v, result %+v", err, res[0])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

// BenchmarkHandleBatch measures what the event sink does with one batch
// on the real ClickHouse, as the binary wires it (delivery index,
// outcomes, store.InsertEvents): decode, decide, index, insert. Every
// batch holds new deliveries. events/s is the rate of one sink that
// spends all its time in HandleBatch.
func BenchmarkHandleBatch(b *testing.B) {
	for _, n := range []int{2000, 30000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			conn := ch.Conn(b)
			db := testinfra.DBPrefix(b) + "sg"
			ctx := context.Background()
			if err := store.Migrate(ctx, conn, db, 0); err != nil {
				b.Fatal(err)
			}
			h, err := New(Config{Region: "sg",
				Insert:   func(ctx context.Context, evs []schema.Event) error { return store.InsertEvents(ctx, conn, db, evs) },
				Resolve:  ResolveConfig{Index: store.NewDeliveryIndex(conn, db)},
				Outcomes: OutcomeConfig{Store: store.NewOutcomes(conn, db)}})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			next := 0
			for b.Loop() {
				b.StopTimer()
				msgs := benchRecords(b, next, n)
				next += n
				b.StartTimer()
				res, err := h.HandleBatch(ctx, msgs)
				if err != nil || res[0].Reject != nil {
					b.Fatalf("err %v, result %+v", err, res[0])
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
