package eventsink

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

func record(t *testing.T, e schema.Event) kafka.Message {
	t.Helper()
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return kafka.Message{Topic: pipeline.EventsTopic("sg"), Key: []byte(e.Key()), Value: b, Time: time.Now()}
}

func outcomeCount(t *testing.T, h *Handler, outcome string) float64 {
	t.Helper()
	var m dto.Metric
	if err := h.res.outcomes.WithLabelValues(outcome).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// receipt is an arrival-like event as the receipts worker publishes it
// for app app-r: no app id, only the delivery id or (msg id, token), and
// the app it was authenticated for.
func receipt(t schema.EventType, deliveryID, msgID, token string, ts int64) schema.Event {
	e := schema.Event{TS: ts, Region: "sg", Event: t, StatusCode: 2, StatusDesc: "Acked: test receipt", Channel: "hms",
		DeliveryID: deliveryID, MsgID: msgID, Token: token, ReceiptAppID: "app-r"}
	if deliveryID != "" {
		e.EventID = schema.ReceiptEventID(t, deliveryID)
	} else {
		e.EventID = schema.PendingReceiptEventID(t, msgID, token)
	}
	return e
}

// TestReceiptsAreResolvedThroughTheDeliveryIndex runs the event sink with
// its delivery index on the real ClickHouse: valid events index their
// deliveries; receipts naming a delivery id or a (msg id, token) are
// filled in from the index (in the same batch or a later one); a receipt
// that arrives before its valid event waits on the topic; one for a
// delivery never made is dropped once it waited MaxWaits times, and one
// authenticated for another app never reaches this app's delivery;
// replaying everything changes no count.
func TestReceiptsAreResolvedThroughTheDeliveryIndex(t *testing.T) {
	conn := ch.Conn(t)
	db := testinfra.DBPrefix(t) + "sg"
	ctx := context.Background()
	if err := store.Migrate(ctx, conn, db, 0); err != nil {
		t.Fatal(err)
	}
	var clock atomic.Int64
	start := time.Now()
	clock.Store(start.UnixMilli())
	reg := prometheus.NewRegistry()
	h, err := New(Config{Region: "sg",
		Insert: func(ctx context.Context, evs []schema.Event) error { return store.InsertEvents(ctx, conn, db, evs) },
		Resolve: ResolveConfig{Index: store.NewDeliveryIndex(conn, db), Timeout: time.Minute, Pause: 20 * time.Millisecond, Metrics: reg,
			Now: func() time.Time { return time.UnixMilli(clock.Load()) }}})
	if err != nil {
		t.Fatal(err)
	}
	accepted := start.Add(-5 * time.Second).UnixMilli()
	delivery := func(n string) schema.Delivery {
		return schema.Delivery{DeliveryID: testinfra.IDKey().DeliveryID("app-r", "msg-"+n, "dev-"+n), MsgID: "msg-" + n, TaskID: "task-r", AppID: "app-r",
			WorkspaceID: "ws", Region: "sg", PushType: schema.PushSimple, Target: "dev-" + n, DeviceID: "dev-" + n, Platform: "android",
			Channel: "mipush", Token: "regid-" + n, AppVersion: "1.0", Model: "Redmi"}
	}
	d1, d2, d3 := delivery("1"), delivery("2"), delivery("3")
	unknown := testinfra.IDKey().DeliveryID("app-r", "msg-x", "dev-x")
	now := start.UnixMilli()

	var requeued []kafka.Message
	handle := func(t *testing.T, msgs ...kafka.Message) {
		t.Helper()
		res, err := h.HandleBatch(ctx, msgs)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Reject != nil {
				t.Fatalf("rejected: %+v", r.Reject)
			}
			for _, o := range r.Outputs {
				if o.Topic != pipeline.EventsTopic("sg") {
					t.Fatalf("output to %s", o.Topic)
				}
				requeued = append(requeued, kafka.Message{Topic: o.Topic, Key: o.Key, Value: o.Value, Headers: o.Headers, Time: time.Now()})
			}
		}
	}
	takeRequeued := func() []kafka.Message { out := requeued; requeued = nil; return out }
	type row struct {
		Task, Msg, Device, Channel, Delivery, Desc string
		Latency                                    int64
	}
	rowOf := func(t *testing.T, eventID string) (row, bool) {
		t.Helper()
		var r row
		err := conn.QueryRow(ctx, "SELECT task_id, msg_id, device_id, channel, delivery_id, status_desc, latency_ms FROM "+db+".events FINAL WHERE event_id = ?", eventID).
			Scan(&r.Task, &r.Msg, &r.Device, &r.Channel, &r.Delivery, &r.Desc, &r.Latency)
		return r, err == nil
	}
	var all [][]kafka.Message // every batch, for the replay

	for _, tc := range []struct {
		scenario string
		batch    func(t *testing.T) []kafka.Message
		check    func(t *testing.T)
	}{
		{"a receipt in the same batch as its valid event", func(t *testing.T) []kafka.Message {
			return []kafka.Message{record(t, d1.EventFor(schema.EventValid, accepted)), record(t, d2.EventFor(schema.EventValid, accepted)),
				record(t, receipt(schema.EventArrived, d1.DeliveryID, "", "", now))}
		}, func(t *testing.T) {
			r, ok := rowOf(t, schema.ReceiptEventID(schema.EventArrived, d1.DeliveryID))
			if !ok || r.Task != "task-r" || r.Msg != "msg-1" || r.Device != "dev-1" || r.Channel != "mipush" || r.Delivery != d1.DeliveryID || r.Latency != now-accepted {
				t.Fatalf("arrival row %+v (found %v)", r, ok)
			}
		}},
		{"a receipt by delivery id in a later batch", func(t *testing.T) []kafka.Message {
			return []kafka.Message{record(t, receipt(schema.EventArrived, d2.DeliveryID, "", "", now))}
		}, func(t *testing.T) {
			if r, ok := rowOf(t, schema.ReceiptEventID(schema.EventArrived, d2.DeliveryID)); !ok || r.Device != "dev-2" || r.Task != "task-r" {
				t.Fatalf("arrival row %+v (found %v)", r, ok)
			}
		}},
		{"a receipt by msg id and token gets the delivery's event id", func(t *testing.T) []kafka.Message {
			return []kafka.Message{record(t, receipt(schema.EventOpened, "", "msg-2", "regid-2", now))}
		}, func(t *testing.T) {
			if r, ok := rowOf(t, schema.ReceiptEventID(schema.EventOpened, d2.DeliveryID)); !ok || r.Device != "dev-2" || r.Delivery != d2.DeliveryID {
				t.Fatalf("open row %+v (found %v)", r, ok)
			}
			if _, ok := rowOf(t, schema.PendingReceiptEventID(schema.EventOpened, "msg-2", "regid-2")); ok {
				t.Fatal("the provisional event id was stored")
			}
		}},
		{"receipts before their valid event wait on the topic", func(t *testing.T) []kafka.Message {
			return []kafka.Message{record(t, receipt(schema.EventArrived, d3.DeliveryID, "", "", now)), record(t, receipt(schema.EventArrived, unknown, "", "", now))}
		}, func(t *testing.T) {
			if n := len(requeued); n != 2 {
				t.Fatalf("%d records put back, want 2", n)
			}
			for _, m := range requeued {
				if v, ok := header(m, HeaderWaitingSince); !ok || v != strconv.FormatInt(clock.Load(), 10) {
					t.Fatalf("requeued record lacks %s: %v", HeaderWaitingSince, m.Headers)
				}
			}
			if _, ok := rowOf(t, schema.ReceiptEventID(schema.EventArrived, d3.DeliveryID)); ok {
				t.Fatal("an unresolved receipt was inserted before its timeout")
			}
		}},
		{"a receipt of another app naming this app's delivery is dropped", func(t *testing.T) []kafka.Message {
			byID := receipt(schema.EventOpened, d1.DeliveryID, "", "", now)
			byToken := receipt(schema.EventIgnored, "", "msg-1", "regid-1", now)
			byID.ReceiptAppID, byToken.ReceiptAppID = "app-other", "app-other"
			return []kafka.Message{record(t, byID), record(t, byToken)}
		}, func(t *testing.T) {
			if _, ok := rowOf(t, schema.ReceiptEventID(schema.EventOpened, d1.DeliveryID)); ok {
				t.Fatal("another app's receipt was stored for this app's delivery")
			}
			if n := outcomeCount(t, h, outcomeWrongApp); n != 1 {
				t.Fatalf("wrong_app outcomes %v, want 1 (the receipt by delivery id)", n)
			}
			// By (msg id, token) it names no delivery of its app: it waits
			// (behind the two of the scenario before); it is not fed again.
			if n := len(requeued); n != 3 {
				t.Fatalf("%d records waiting, want 3: the receipt by msg id and token, and two waiting before", n)
			}
			requeued = requeued[:2]
		}},
		{"its valid event arrives, then the waiting receipts come round", func(t *testing.T) []kafka.Message {
			handle(t, record(t, d3.EventFor(schema.EventValid, accepted)))
			clock.Add(int64(30 * time.Second / time.Millisecond))
			return takeRequeued()
		}, func(t *testing.T) {
			if r, ok := rowOf(t, schema.ReceiptEventID(schema.EventArrived, d3.DeliveryID)); !ok || r.Device != "dev-3" {
				t.Fatalf("late arrival row %+v (found %v)", r, ok)
			}
			if len(requeued) != 1 {
				t.Fatalf("%d records still waiting, want the unknown one", len(requeued))
			}
			if v, _ := header(requeued[0], HeaderWaits); v != "2" {
				t.Fatalf("the unknown receipt was put back a second time with %s %q, want 2", HeaderWaits, v)
			}
		}},
		{"a delivery never made is dropped once it waited MaxWaits times", func(t *testing.T) []kafka.Message {
			return takeRequeued()
		}, func(t *testing.T) {
			if _, ok := rowOf(t, schema.ReceiptEventID(schema.EventArrived, unknown)); ok {
				t.Fatal("a receipt of a delivery never made was inserted")
			}
			if len(requeued) != 0 {
				t.Fatalf("%d records put back after MaxWaits", len(requeued))
			}
			if n := outcomeCount(t, h, outcomeDropped); n != 1 {
				t.Fatalf("dropped outcomes %v, want 1", n)
			}
			// d3 waited once, the unknown one twice.
			if n := outcomeCount(t, h, outcomeDeferred); n != 4 {
				t.Fatalf("deferred outcomes %v, want 4 (d3 once, the unknown twice, the other app's once)", n)
			}
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			b := tc.batch(t)
			all = append(all, b)
			handle(t, b...)
			tc.check(t)
		})
	}

	counts := func() map[string]uint64 {
		rows, err := conn.Query(ctx, "SELECT event, uniqExact(event_id) FROM "+db+".events WHERE app_id = 'app-r' GROUP BY event")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = rows.Close() }()
		out := map[string]uint64{}
		for rows.Next() {
			var ev string
			var n uint64
			_ = rows.Scan(&ev, &n)
			out[ev] = n
		}
		return out
	}
	before := counts()
	if before["valid"] != 3 || before["arrived"] != 3 || before["opened"] != 1 {
		t.Fatalf("counts %v, want 3 valid, 3 arrived, 1 opened", before)
	}
	t.Run("replaying every batch changes no count", func(t *testing.T) {
		for _, b := range all {
			handle(t, b...)
		}
		if after := counts(); after["valid"] != 3 || after["arrived"] != 3 || after["opened"] != 1 || len(after) != len(before) {
			t.Fatalf("counts after replay %v, before %v", after, before)
		}
	})
}

// failingIndex fails every call with err.
type failingIndex struct{ err error }

func (f failingIndex) Insert(context.Context, []store.DeliveryRecord) error { return f.err }
func (f failingIndex) Lookup(context.Context, []string) (map[string]store.DeliveryRecord, error) {
	return nil, f.err
}
func (f failingIndex) LookupTokens(context.Context, []store.MsgToken) (map[store.MsgToken]string, error) {
	return nil, f.err
}

func TestIndexFailuresFailTheBatch(t *testing.T) {
	down := errors.New("clickhouse down")
	inserted := 0
	h, err := New(Config{Region: "sg", Insert: func(_ context.Context, evs []schema.Event) error { inserted += len(evs); return nil },
		Resolve: ResolveConfig{Index: failingIndex{down}}})
	if err != nil {
		t.Fatal(err)
	}
	d := schema.Delivery{DeliveryID: testinfra.IDKey().DeliveryID("a", "m", "d"), MsgID: "m", TaskID: "t", AppID: "a", Region: "sg", DeviceID: "d"}
	for _, tc := range []struct {
		scenario string
		msgs     []kafka.Message
	}{
		{"indexing a valid event", []kafka.Message{record(t, d.EventFor(schema.EventValid, 1))}},
		{"resolving a receipt", []kafka.Message{record(t, receipt(schema.EventArrived, d.DeliveryID, "", "", 1))}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			if _, err := h.HandleBatch(context.Background(), tc.msgs); !errors.Is(err, down) {
				t.Fatalf("err = %v, want it to wrap %v", err, down)
			}
		})
	}
	if inserted != 0 {
		t.Fatalf("%d events inserted from failed batches", inserted)
	}
}

func TestWithoutAnIndexEventsPassThrough(t *testing.T) {
	var got []schema.Event
	h, _ := New(Config{Region: "sg", Insert: func(_ context.Context, evs []schema.Event) error { got = append(got, evs...); return nil }})
	if _, err := h.HandleBatch(context.Background(), []kafka.Message{record(t, receipt(schema.EventArrived, testinfra.IDKey().DeliveryID("a", "m", "d"), "", "", 1))}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].AppID != "" {
		t.Fatalf("inserted %+v", got)
	}
}

func TestResolveConfigValidate(t *testing.T) {
	if err := (Config{Region: "sg", Insert: func(context.Context, []schema.Event) error { return nil }, Resolve: ResolveConfig{Timeout: -1}}).Validate(); err == nil {
		t.Fatal("negative timeout accepted")
	}
}

// emptyIndex knows no delivery.
type emptyIndex struct{}

func (emptyIndex) Insert(context.Context, []store.DeliveryRecord) error { return nil }
func (emptyIndex) Lookup(context.Context, []string) (map[string]store.DeliveryRecord, error) {
	return map[string]store.DeliveryRecord{}, nil
}
func (emptyIndex) LookupTokens(context.Context, []store.MsgToken) (map[store.MsgToken]string, error) {
	return map[store.MsgToken]string{}, nil
}

// TestPendingReceiptsAreBounded feeds receipts of deliveries that do not
// exist to the sink again and again, as the topic would hand back what
// it puts there, and counts the records it writes back: at most MaxWaits
// per receipt, fewer once Timeout passed, and then nothing; nothing is
// inserted.
func TestPendingReceiptsAreBounded(t *testing.T) {
	for _, tc := range []struct {
		scenario  string
		maxWaits  int
		timeout   time.Duration
		step      time.Duration // clock advance between rounds
		wantWaits int
	}{
		{"bounded by MaxWaits (default 2)", 0, time.Hour, time.Second, DefaultMaxWaits},
		{"bounded by MaxWaits 5", 5, time.Hour, time.Second, 5},
		{"bounded by the timeout", 100, time.Minute, 25 * time.Second, 3},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			var clock atomic.Int64
			clock.Store(time.Now().UnixMilli())
			inserted := 0
			h, err := New(Config{Region: "sg", Insert: func(_ context.Context, evs []schema.Event) error { inserted += len(evs); return nil },
				Resolve: ResolveConfig{Index: emptyIndex{}, MaxWaits: tc.maxWaits, Timeout: tc.timeout, Pause: time.Millisecond,
					Now: func() time.Time { return time.UnixMilli(clock.Load()) }}})
			if err != nil {
				t.Fatal(err)
			}
			const receipts = 50
			var batch []kafka.Message
			for i := range receipts {
				batch = append(batch, record(t, receipt(schema.EventArrived, testinfra.IDKey().DeliveryID("app-r", "m", strconv.Itoa(i)), "", "", clock.Load())))
			}
			written := 0
			for round := 0; len(batch) > 0; round++ {
				if round > 1000 {
					t.Fatal("the receipts never stopped coming round")
				}
				res, err := h.HandleBatch(context.Background(), batch)
				if err != nil {
					t.Fatal(err)
				}
				batch = nil
				for _, r := range res {
					for _, o := range r.Outputs {
						written++
						batch = append(batch, kafka.Message{Topic: o.Topic, Key: o.Key, Value: o.Value, Headers: o.Headers})
					}
				}
				clock.Add(tc.step.Milliseconds())
			}
			if written != receipts*tc.wantWaits {
				t.Fatalf("%d records written back for %d receipts, want %d each", written, receipts, tc.wantWaits)
			}
			if inserted != 0 {
				t.Fatalf("%d receipts of unknown deliveries inserted", inserted)
			}
			if n := outcomeCount(t, h, outcomeDropped); n != receipts {
				t.Fatalf("dropped outcomes %v, want %d", n, receipts)
			}
		})
	}
}
