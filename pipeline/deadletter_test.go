package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/schema"
)

// TestStageRejection checks that rejected records go to the DLQ with their
// raw bytes and headers, and that a rejected event is written.
func TestStageRejection(t *testing.T) {
	tests := []struct {
		scenario   string
		handler    func(out string) BatchHandler
		wantCode   int
		wantReason string
		wantApp    string
		wantTaskID string
	}{
		{
			scenario: "handler rejects invalid requests",
			handler: func(out string) BatchHandler {
				return BatchHandlerFunc(func(_ context.Context, msgs []kafka.Message) ([]Result, error) {
					res := make([]Result, len(msgs))
					for i, m := range msgs {
						if strings.HasPrefix(string(m.Value), "bad") {
							res[i].Reject = &Rejection{Code: int(schema.CodeTaskNameNull), Reason: "taskName is empty",
								Event: schema.Event{AppID: "app-1", TaskID: "task-" + string(m.Value), Region: "cn"}}
							continue
						}
						res[i].Outputs = []Output{{Topic: out, Key: m.Key, Value: m.Value}}
					}
					return res, nil
				})
			},
			wantCode: int(schema.CodeTaskNameNull), wantReason: "taskName is empty", wantApp: "app-1", wantTaskID: "task-",
		},
		{
			scenario: "output to another region's topic is refused",
			handler: func(out string) BatchHandler {
				return BatchHandlerFunc(func(_ context.Context, msgs []kafka.Message) ([]Result, error) {
					res := make([]Result, len(msgs))
					for i, m := range msgs {
						topic := out
						if strings.HasPrefix(string(m.Value), "bad") {
							topic = DeliveriesTopic("cn")
						}
						res[i].Outputs = []Output{{Topic: topic, Key: m.Key, Value: m.Value}}
					}
					return res, nil
				})
			},
			wantCode: int(schema.CodeSystemError), wantReason: "outside region eu",
		},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 2)
			out := testTopic(t, ctx, "out", 2)
			group := "g." + testName(t)
			p := testProducer(t)
			recordTime := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
			inputs := []Output{
				{Topic: in, Key: []byte("k1"), Value: []byte("good-1")},
				{Topic: in, Key: []byte("k2"), Value: []byte("bad-1"), Headers: []kafka.Header{{Key: "trace", Value: []byte("t-1")}, {Key: HeaderReason, Value: []byte("stale")}}},
				{Topic: in, Key: []byte("k3"), Value: []byte("good-2")},
			}
			// Produce through a raw writer to control the record time.
			w := &kafka.Writer{Addr: kafka.TCP(testBrokers...), BatchTimeout: time.Millisecond, RequiredAcks: kafka.RequireAll,
				Transport: &kafka.Transport{}} // a fresh metadata cache that knows the new topic
			defer func() { _ = w.Close() }()
			var msgs []kafka.Message
			for _, o := range inputs {
				msgs = append(msgs, kafka.Message{Topic: o.Topic, Key: o.Key, Value: o.Value, Headers: o.Headers, Time: recordTime})
			}
			if err := w.WriteMessages(ctx, msgs...); err != nil {
				t.Fatalf("writing inputs: %v", err)
			}

			cfg := testStageConfig(t, in, group)
			cfg.Name = "fanout"
			cfg.Metrics = NewMetrics(prometheus.NewRegistry(), cfg.Name, cfg.Region)
			rs := startStage(t, cfg, tt.handler(out), p)
			waitCommitted(t, ctx, group, in)
			if err := rs.stop(t); err != nil {
				t.Fatalf("Run() = %v", err)
			}

			if got := values(readTopic(t, ctx, out)); !slices.Equal(got, []string{"good-1", "good-2"}) {
				t.Fatalf("outputs = %v, want the two good records", got)
			}
			var src kafka.Message
			for _, m := range readTopic(t, ctx, in) {
				if string(m.Value) == "bad-1" {
					src = m
				}
			}

			var dlq []kafka.Message
			for _, m := range readTopic(t, ctx, DLQTopic(testRegion)) {
				if headerMap(m.Headers)[HeaderSourceTopic] == in {
					dlq = append(dlq, m)
				}
			}
			if len(dlq) != 1 {
				t.Fatalf("DLQ records from %s = %d, want 1", in, len(dlq))
			}
			d := dlq[0]
			if string(d.Key) != "k2" || string(d.Value) != "bad-1" {
				t.Errorf("DLQ record key/value = %q/%q, want the original k2/bad-1", d.Key, d.Value)
			}
			h := headerMap(d.Headers)
			wantHeaders := map[string]string{
				HeaderResultCode:      strconv.Itoa(tt.wantCode),
				HeaderSourceTopic:     in,
				HeaderSourcePartition: strconv.Itoa(src.Partition),
				HeaderSourceOffset:    strconv.FormatInt(src.Offset, 10),
				HeaderStage:           "fanout",
				"trace":               "t-1",
			}
			for k, v := range wantHeaders {
				if h[k] != v {
					t.Errorf("DLQ header %s = %q, want %q", k, h[k], v)
				}
			}
			if !strings.Contains(h[HeaderReason], tt.wantReason) {
				t.Errorf("DLQ header %s = %q, want it to contain %q", HeaderReason, h[HeaderReason], tt.wantReason)
			}
			if n := strings.Count(fmt.Sprint(d.Headers), HeaderReason); n != 1 {
				t.Errorf("DLQ record has %d %s headers, want 1 (the stale one must be dropped)", n, HeaderReason)
			}

			wantID := schema.NewEventID(schema.EventRejected, in, strconv.Itoa(src.Partition), strconv.FormatInt(src.Offset, 10))
			var ev *schema.Event
			for _, m := range readTopic(t, ctx, EventsTopic(testRegion)) {
				var e schema.Event
				if err := json.Unmarshal(m.Value, &e); err != nil {
					t.Fatalf("event is not JSON: %v", err)
				}
				if e.EventID == wantID {
					if ev != nil {
						t.Fatalf("rejected event %s written twice", wantID)
					}
					ev = &e
					if string(m.Key) != e.Key() && e.Key() != "" {
						t.Errorf("event key = %q, want %q", m.Key, e.Key())
					}
				}
			}
			if ev == nil {
				t.Fatalf("no rejected event with id %s", wantID)
			}
			if ev.Event != schema.EventRejected || ev.StatusCode != int64(tt.wantCode) || !strings.Contains(ev.StatusDesc, tt.wantReason) ||
				ev.Region != testRegion || ev.TS != recordTime.UnixMilli() || ev.AppID != tt.wantApp || !strings.HasPrefix(ev.TaskID, tt.wantTaskID) {
				t.Errorf("rejected event = %+v", *ev)
			}
			if v := metricValue(t, cfg.Metrics.rejected.WithLabelValues(strconv.Itoa(tt.wantCode))); v != 1 {
				t.Errorf("rejected{code=%d} = %v, want 1", tt.wantCode, v)
			}
		})
	}
}
