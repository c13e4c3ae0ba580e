package pipeline

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestStageRetriesHandlerErrors checks that a failing batch is retried and
// nothing is committed until it succeeds.
func TestStageRetriesHandlerErrors(t *testing.T) {
	tests := []struct {
		scenario string
		failures int
	}{
		{scenario: "dependency down for several attempts", failures: 5},
		{scenario: "single transient failure", failures: 1},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			want := produceInputs(t, ctx, p, in, 10, 2, "v")

			var down atomic.Bool
			down.Store(true)
			var attempts atomic.Int32
			h := &recorder{out: out, hook: func(context.Context, []kafka.Message) error {
				if down.Load() {
					attempts.Add(1)
					return errors.New("clickhouse: connection refused")
				}
				return nil
			}}
			cfg := testStageConfig(t, in, group)
			cfg.Metrics = NewMetrics(nil, cfg.Name, cfg.Region)
			rs := startStage(t, cfg, h, p)
			for attempts.Load() < int32(tt.failures) {
				select {
				case <-ctx.Done():
					t.Fatalf("handler attempted %d times, want %d", attempts.Load(), tt.failures)
				case <-time.After(5 * time.Millisecond):
				}
			}
			if c := committedOffsets(t, ctx, group, in)[0]; c >= 0 {
				t.Fatalf("committed offset %d while the handler fails, want none", c)
			}
			if n := len(readTopic(t, ctx, out)); n != 0 {
				t.Fatalf("%d outputs written while the handler fails, want 0", n)
			}
			down.Store(false)
			waitCommitted(t, ctx, group, in)
			if err := rs.stop(t); err != nil {
				t.Fatalf("Run() = %v", err)
			}
			if got := values(readTopic(t, ctx, out)); !slices.Equal(got, want) {
				t.Fatalf("outputs = %v, want %v", got, want)
			}
			if v := metricValue(t, cfg.Metrics.errors.WithLabelValues(ErrorKindHandler)); v < float64(tt.failures) {
				t.Errorf("errors{kind=handler} = %v, want at least %d", v, tt.failures)
			}
		})
	}
}

// TestStageIsolatesPoisonRecords checks that a record that makes the
// handler panic (or break its contract) is rejected alone while the rest of
// its batch is handled.
func TestStageIsolatesPoisonRecords(t *testing.T) {
	tests := []struct {
		scenario   string
		handler    func(out string) BatchHandlerFunc
		wantReason string
	}{
		{
			scenario: "handler panics on one record",
			handler: func(out string) BatchHandlerFunc {
				return func(_ context.Context, msgs []kafka.Message) ([]Result, error) {
					res := make([]Result, len(msgs))
					for i, m := range msgs {
						if string(m.Value) == "v-0007" {
							var nilMap map[string]int
							nilMap["boom"]++ //nolint:staticcheck // SA5000: a real runtime panic is the point
						}
						res[i].Outputs = []Output{{Topic: out, Key: m.Key, Value: m.Value}}
					}
					return res, nil
				}
			},
			wantReason: "handler panicked: assignment to entry in nil map",
		},
		{
			scenario: "handler returns too many results for one record",
			handler: func(out string) BatchHandlerFunc {
				return func(_ context.Context, msgs []kafka.Message) ([]Result, error) {
					var res []Result
					for _, m := range msgs {
						res = append(res, Result{Outputs: []Output{{Topic: out, Key: m.Key, Value: m.Value}}})
						if string(m.Value) == "v-0007" {
							res = append(res, Result{})
						}
					}
					return res, nil
				}
			},
			wantReason: "handler returned 2 results for 1 records",
		},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			inputs := produceInputs(t, ctx, p, in, 20, 4, "v")

			cfg := testStageConfig(t, in, group)
			cfg.Metrics = NewMetrics(nil, cfg.Name, cfg.Region)
			rs := startStage(t, cfg, tt.handler(out), p)
			waitCommitted(t, ctx, group, in)
			if err := rs.stop(t); err != nil {
				t.Fatalf("Run() = %v", err)
			}
			want := slices.DeleteFunc(slices.Clone(inputs), func(v string) bool { return v == "v-0007" })
			if got := values(readTopic(t, ctx, out)); !slices.Equal(got, want) {
				t.Fatalf("outputs = %v, want every record but the poison one", got)
			}
			var dlq []kafka.Message
			for _, m := range readTopic(t, ctx, DLQTopic(testRegion)) {
				if headerMap(m.Headers)[HeaderSourceTopic] == in {
					dlq = append(dlq, m)
				}
			}
			if len(dlq) != 1 || string(dlq[0].Value) != "v-0007" {
				t.Fatalf("DLQ = %v, want only v-0007", values(dlq))
			}
			h := headerMap(dlq[0].Headers)
			if h[HeaderResultCode] != "9000" || !strings.Contains(h[HeaderReason], tt.wantReason) {
				t.Errorf("DLQ headers = %v, want code 9000 and reason containing %q", h, tt.wantReason)
			}
			if v := metricValue(t, cfg.Metrics.errors.WithLabelValues(ErrorKindPanic)); v < 2 {
				t.Errorf("errors{kind=panic} = %v, want at least 2 (batch and record)", v)
			}
		})
	}
}
