package eventsink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// TestOneOutcomePerDelivery feeds the sink terminal events of deliveries
// that a replay made end twice, in one batch, across batches, and across a
// restart of the sink (a new handler that must read the outcome table), and
// checks in ClickHouse that each delivery keeps its first outcome, the
// later ending is stored as superseded, and statistics count one outcome.
func TestOneOutcomePerDelivery(t *testing.T) {
	conn := ch.Conn(t)
	ctx := context.Background()
	now := time.Now().Add(-time.Minute).UnixMilli()
	delivery := func(n int) schema.Delivery {
		return schema.Delivery{DeliveryID: fmt.Sprintf("d%d", n), MsgID: "m1", TaskID: "t1", AppID: "a", Region: "sg", DeviceID: fmt.Sprintf("dev%d", n)}
	}
	at := func(d schema.Delivery, attempt int, step schema.EventType) kafka.Message {
		d.Attempt = attempt
		b, err := json.Marshal(d.EventFor(step, now+int64(attempt)*1000))
		if err != nil {
			t.Fatal(err)
		}
		return kafka.Message{Value: b}
	}
	d1, d2, d3 := delivery(1), delivery(2), delivery(3)
	receipt := kafka.Message{Value: []byte(fmt.Sprintf(`{"eventId":"r1","event":"failed","ts":%d,"region":"sg","deliveryId":"d1","statusDesc":"receipt"}`, now+9000))}

	tests := []struct {
		scenario string
		// batches are handled in order; restartBefore[i] starts a new
		// handler (empty memory) before batch i.
		batches       [][]kafka.Message
		restartBefore map[int]bool
		cache         int
		// want is each delivery's outcome; superseded the number of
		// superseded rows.
		want       map[string]schema.EventType
		superseded int
		decisions  map[string]float64 // of the last handler
	}{
		{
			scenario:  "acked, then a replayed attempt acked later: one outcome, same id",
			batches:   [][]kafka.Message{{at(d1, 0, schema.EventValid), at(d1, 0, schema.EventAcked), at(d1, 2, schema.EventAcked)}},
			want:      map[string]schema.EventType{"d1": schema.EventAcked},
			decisions: map[string]float64{outcomeFirst: 1, outcomeRepeated: 1},
		},
		{
			scenario:   "acked, then the replayed retry expired: expired is superseded",
			batches:    [][]kafka.Message{{at(d1, 0, schema.EventValid), at(d1, 0, schema.EventAcked)}, {at(d1, 3, schema.EventExpired)}},
			want:       map[string]schema.EventType{"d1": schema.EventAcked},
			superseded: 1,
			decisions:  map[string]float64{outcomeFirst: 1, outcomeSuperseded: 1},
		},
		{
			scenario: "the sink restarts between the two endings: the outcome is read back",
			batches: [][]kafka.Message{
				{at(d1, 0, schema.EventValid), at(d2, 0, schema.EventValid), at(d1, 1, schema.EventAcked), at(d2, 0, schema.EventFailed)},
				{at(d1, 1, schema.EventAcked), at(d1, 2, schema.EventFailed), at(d2, 1, schema.EventRevoked), at(d3, 0, schema.EventExpired)},
			},
			restartBefore: map[int]bool{1: true},
			want:          map[string]schema.EventType{"d1": schema.EventAcked, "d2": schema.EventFailed, "d3": schema.EventExpired},
			superseded:    2,
			decisions:     map[string]float64{outcomeFirst: 1, outcomeRepeated: 1, outcomeSuperseded: 2},
		},
		{
			scenario:   "a cache of two forgets deliveries and looks them up",
			cache:      2,
			batches:    [][]kafka.Message{{at(d1, 0, schema.EventAcked), at(d2, 0, schema.EventAcked), at(d3, 0, schema.EventAcked)}, {at(d1, 1, schema.EventExpired), at(d2, 1, schema.EventFailed), at(d3, 0, schema.EventAcked)}},
			want:       map[string]schema.EventType{"d1": schema.EventAcked, "d2": schema.EventAcked, "d3": schema.EventAcked},
			superseded: 2,
			decisions:  map[string]float64{outcomeFirst: 3, outcomeRepeated: 1, outcomeSuperseded: 2},
		},
		{
			scenario:  "a failed receipt after the ack is not an outcome and is kept",
			batches:   [][]kafka.Message{{at(d1, 0, schema.EventAcked)}, {receipt}},
			want:      map[string]schema.EventType{"d1": schema.EventAcked},
			decisions: map[string]float64{outcomeFirst: 1},
		},
	}
	for i, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			db := fmt.Sprintf("%ssg%d", testinfra.DBPrefix(t), i)
			if err := store.Migrate(ctx, conn, db, 0); err != nil {
				t.Fatal(err)
			}
			var h *Handler
			var reg *prometheus.Registry
			start := func() {
				reg = prometheus.NewRegistry()
				var err error
				h, err = New(Config{Region: "sg",
					Insert:   func(ctx context.Context, evs []schema.Event) error { return store.InsertEvents(ctx, conn, db, evs) },
					Outcomes: OutcomeConfig{Store: store.NewOutcomes(conn, db), Cache: tc.cache, Metrics: reg}})
				if err != nil {
					t.Fatal(err)
				}
			}
			start()
			for b, msgs := range tc.batches {
				if tc.restartBefore[b] {
					start()
				}
				if _, err := h.HandleBatch(ctx, msgs); err != nil {
					t.Fatal(err)
				}
			}
			const terminal = "event IN ('acked','failed','expired','revoked')"
			rows, err := conn.Query(ctx, "SELECT delivery_id, groupUniqArray(event), uniqExact(event_id) FROM "+db+".events WHERE "+terminal+
				" AND app_id != '' GROUP BY delivery_id")
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]schema.EventType{}
			for rows.Next() {
				var id string
				var evs []string
				var n uint64
				if err := rows.Scan(&id, &evs, &n); err != nil {
					t.Fatal(err)
				}
				if n != 1 {
					t.Errorf("delivery %s has %d terminal event ids (%v), want 1", id, n, evs)
				}
				got[id] = schema.EventType(evs[0])
			}
			_ = rows.Close()
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("outcomes %v, want %v", got, tc.want)
			}
			var sup uint64
			var desc string
			if err := conn.QueryRow(ctx, "SELECT uniqExact(event_id), any(status_desc) FROM "+db+".events WHERE event = 'superseded'").Scan(&sup, &desc); err != nil {
				t.Fatal(err)
			}
			if int(sup) != tc.superseded {
				t.Errorf("%d superseded events, want %d", sup, tc.superseded)
			}
			if sup > 0 && !strings.HasPrefix(desc, "Superseded: the delivery already ended") {
				t.Errorf("superseded status %q does not say what stands", desc)
			}
			var agg uint64
			if err := conn.QueryRow(ctx, "SELECT uniqExactMerge(events) FROM "+db+".events_minute WHERE "+terminal+" AND app_id != ''").Scan(&agg); err != nil {
				t.Fatal(err)
			}
			if int(agg) != len(tc.want) {
				t.Errorf("per-minute aggregates count %d outcomes, want %d", agg, len(tc.want))
			}
			for d, want := range tc.decisions {
				var m dto.Metric
				if err := h.out.decisions.WithLabelValues(d).Write(&m); err != nil {
					t.Fatal(err)
				}
				if n := m.GetCounter().GetValue(); n != want {
					t.Errorf("decision %s counted %v, want %v", d, n, want)
				}
			}
		})
	}
}

// flakyOutcomes is an outcome store whose first Insert fails.
type flakyOutcomes struct {
	failed bool
	rows   []store.DeliveryOutcome
}

func (f *flakyOutcomes) Insert(_ context.Context, rows []store.DeliveryOutcome) error {
	if !f.failed {
		f.failed = true
		return errors.New("clickhouse unreachable")
	}
	f.rows = append(f.rows, rows...)
	return nil
}

func (f *flakyOutcomes) Lookup(context.Context, []store.DeliveryOutcome) (map[string]store.DeliveryOutcome, error) {
	return map[string]store.DeliveryOutcome{}, nil
}

// TestOutcomeStoreFailureFailsTheBatch checks that a batch whose outcomes
// could not be stored fails, and that its retry stores them.
func TestOutcomeStoreFailureFailsTheBatch(t *testing.T) {
	outcomes := &flakyOutcomes{}
	h, err := New(Config{Region: "sg", Insert: func(context.Context, []schema.Event) error { return nil },
		Outcomes: OutcomeConfig{Store: outcomes}})
	if err != nil {
		t.Fatal(err)
	}
	d := schema.Delivery{DeliveryID: "d1", MsgID: "m1", TaskID: "t1", AppID: "a", Region: "sg", DeviceID: "dev1"}
	b, _ := json.Marshal(d.EventFor(schema.EventAcked, time.Now().UnixMilli()))
	batch := []kafka.Message{{Value: b}}
	if _, err := h.HandleBatch(context.Background(), batch); err == nil {
		t.Fatal("the batch succeeded although its outcome was not stored")
	}
	if _, err := h.HandleBatch(context.Background(), batch); err != nil {
		t.Fatalf("retried batch: %v", err)
	}
	if len(outcomes.rows) != 1 || outcomes.rows[0].DeliveryID != "d1" || outcomes.rows[0].Event != schema.EventAcked {
		t.Fatalf("stored outcomes %+v, want the acked outcome of d1", outcomes.rows)
	}
}
