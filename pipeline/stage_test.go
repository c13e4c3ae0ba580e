package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/schema"
)

func TestStageConfigValidate(t *testing.T) {
	base := StageConfig{Name: "fanout", Region: "eu", Brokers: []string{"127.0.0.1:9092"}, Topic: RequestsTopic("eu"), GroupID: "g"}
	tests := []struct {
		scenario string
		mutate   func(c *StageConfig)
		wantErr  string
	}{
		{scenario: "minimal config uses defaults", mutate: func(*StageConfig) {}},
		{scenario: "missing name", mutate: func(c *StageConfig) { c.Name = "" }, wantErr: "Name is empty"},
		{scenario: "unknown region", mutate: func(c *StageConfig) { c.Region = "us" }, wantErr: `Region "us" is not a region`},
		{scenario: "no brokers", mutate: func(c *StageConfig) { c.Brokers = nil }, wantErr: "Brokers is empty"},
		{scenario: "no topic", mutate: func(c *StageConfig) { c.Topic = "" }, wantErr: "Topic is empty"},
		{scenario: "topic of another region", mutate: func(c *StageConfig) { c.Topic = RequestsTopic("cn") }, wantErr: "does not belong to region"},
		{scenario: "no group", mutate: func(c *StageConfig) { c.GroupID = "" }, wantErr: "GroupID is empty"},
		{scenario: "negative batch size", mutate: func(c *StageConfig) { c.BatchSize = -1 }, wantErr: "BatchSize -1"},
		{scenario: "negative duration", mutate: func(c *StageConfig) { c.BatchWait = -time.Second }, wantErr: "BatchWait -1s is negative"},
		{scenario: "heartbeat too slow for session", mutate: func(c *StageConfig) { c.HeartbeatInterval = 3 * time.Second }, wantErr: "more than a third of SessionTimeout"},
		{scenario: "backoff bounds reversed", mutate: func(c *StageConfig) { c.MinRetryBackoff = time.Minute }, wantErr: "exceeds MaxRetryBackoff"},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			c := base
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestStageProducesThenCommits checks the main loop: every record's output
// is written, offsets are committed to the end, outputs keep the key's
// partition, and the metrics count what happened.
func TestStageProducesThenCommits(t *testing.T) {
	tests := []struct {
		scenario  string
		records   int
		batchSize int
	}{
		{scenario: "records fill several batches", records: 230, batchSize: 50},
		{scenario: "one record per batch", records: 20, batchSize: 1},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 3)
			out := testTopic(t, ctx, "out", 4)
			group := "g." + testName(t)
			p := testProducer(t)
			want := produceInputs(t, ctx, p, in, tt.records, 7, "v")

			reg := prometheus.NewRegistry()
			cfg := testStageConfig(t, in, group)
			cfg.BatchSize = tt.batchSize
			cfg.Metrics = NewMetrics(reg, cfg.Name, cfg.Region)
			h := &recorder{out: out}
			rs := startStage(t, cfg, h, p)
			waitCommitted(t, ctx, group, in)

			got := readTopic(t, ctx, out)
			if !slices.Equal(values(got), want) {
				t.Fatalf("outputs = %d records, want %d: %v", len(got), len(want), values(got))
			}
			partOfKey := map[string]int{}
			for _, m := range got {
				if p, ok := partOfKey[string(m.Key)]; ok && p != m.Partition {
					t.Fatalf("key %s written to partitions %d and %d", m.Key, p, m.Partition)
				}
				partOfKey[string(m.Key)] = m.Partition
			}
			if err := rs.stop(t); err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			m := cfg.Metrics
			for name, c := range map[string]prometheus.Metric{"consumed": m.consumed, "produced": m.produced, "committed": m.committed} {
				if v := metricValue(t, c); v != float64(tt.records) {
					t.Errorf("%s counter = %v, want %d", name, v, tt.records)
				}
			}
			if n := metricValue(t, m.batchSize); n < 1 {
				t.Errorf("batch size histogram has %v samples, want at least 1", n)
			}
			if n := metricValue(t, m.handleSeconds); n < 1 {
				t.Errorf("handle latency histogram has %v samples, want at least 1", n)
			}
			if v := metricValue(t, m.rebalances); v < 1 {
				t.Errorf("rebalances = %v, want at least the first join", v)
			}
		})
	}
}

// TestStageRestart checks at-least-once across restarts of a stage with the
// same group: committed records are not handled again, uncommitted ones
// are.
func TestStageRestart(t *testing.T) {
	tests := []struct {
		scenario string
		// firstHook runs in the first stage's handler; blocking makes the
		// batch miss the shutdown deadline.
		blockFirst bool
		// wantRehandled is whether the second stage sees the first batch
		// again.
		wantRehandled bool
	}{
		{scenario: "committed records are not handled again", blockFirst: false, wantRehandled: false},
		{scenario: "a batch cut off by the shutdown deadline is handled again", blockFirst: true, wantRehandled: true},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			first := produceInputs(t, ctx, p, in, 10, 3, "first")

			cfg := testStageConfig(t, in, group)
			cfg.ShutdownTimeout = 300 * time.Millisecond
			entered := make(chan struct{}, 100)
			h1 := &recorder{out: out}
			if tt.blockFirst {
				h1.hook = func(ctx context.Context, _ []kafka.Message) error {
					entered <- struct{}{}
					<-ctx.Done() // only the shutdown deadline ends this
					return ctx.Err()
				}
			}
			rs := startStage(t, cfg, h1, p)
			if tt.blockFirst {
				select {
				case <-entered:
				case <-ctx.Done():
					t.Fatal("handler never called")
				}
			} else {
				waitCommitted(t, ctx, group, in)
			}
			if err := rs.stop(t); err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			committed := committedOffsets(t, ctx, group, in)[0]
			if tt.blockFirst && committed >= 0 {
				t.Fatalf("committed offset after a cut-off batch = %d, want none", committed)
			}

			second := produceInputs(t, ctx, p, in, 5, 3, "second")
			h2 := &recorder{out: out}
			rs2 := startStage(t, cfg, h2, p)
			waitCommitted(t, ctx, group, in)
			if err := rs2.stop(t); err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			want := second
			if tt.wantRehandled {
				want = append(append([]string(nil), first...), second...)
			}
			slices.Sort(want)
			if got := values(h2.seen()); !slices.Equal(got, want) {
				t.Fatalf("second stage handled %v, want %v", got, want)
			}
		})
	}
}

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
			defer w.Close()
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
							nilMap["boom"]++ // a real runtime panic
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

// TestStageGracefulShutdown cancels a stage while a batch is being handled
// and checks that the batch is still produced and committed and Run
// returns nil.
func TestStageGracefulShutdown(t *testing.T) {
	tests := []struct {
		scenario string
		records  int
	}{
		{scenario: "cancel while the handler works on a batch", records: 40},
	}
	for _, tt := range tests {
		t.Run(tt.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			produceInputs(t, ctx, p, in, tt.records, 3, "v")

			entered := make(chan struct{}, 100)
			release := make(chan struct{})
			h := &recorder{out: out, hook: func(context.Context, []kafka.Message) error {
				entered <- struct{}{}
				<-release
				return nil
			}}
			cfg := testStageConfig(t, in, group)
			cfg.BatchSize = 10
			rs := startStage(t, cfg, h, p)
			if !rs.stage.Ready() {
				deadline := time.Now().Add(5 * time.Second)
				for !rs.stage.Ready() && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			if !rs.stage.Ready() {
				t.Fatal("stage not ready while running")
			}
			<-entered
			stopped := make(chan error, 1)
			go func() { stopped <- rs.stop(t) }()
			time.Sleep(50 * time.Millisecond) // cancellation reaches the stage while the batch is in flight
			close(release)
			var err error
			select {
			case err = <-stopped:
			case <-ctx.Done():
				t.Fatal("Run did not return")
			}
			if err != nil {
				t.Fatalf("Run() = %v, want nil", err)
			}
			if rs.stage.Ready() {
				t.Error("stage still ready after Run returned")
			}
			handled := h.seen()
			if len(handled) == 0 || len(handled) >= tt.records {
				t.Fatalf("handled %d records, want the in-flight batch only", len(handled))
			}
			last := handled[len(handled)-1].Offset
			if c := committedOffsets(t, ctx, group, in)[0]; c != last+1 {
				t.Fatalf("committed offset = %d, want %d (just past the in-flight batch)", c, last+1)
			}
			if got := values(readTopic(t, ctx, out)); !slices.Equal(got, values(handled)) {
				t.Fatalf("outputs = %v, want the handled records %v", got, values(handled))
			}
		})
	}
}

func TestStageRunTwice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	in := testTopic(t, ctx, "in", 1)
	s, err := NewStage(testStageConfig(t, in, "g."+testName(t)), &recorder{out: in}, testProducer(t))
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	for !s.Ready() {
		select {
		case <-ctx.Done():
			t.Fatal("stage never became ready")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := s.Run(ctx); err == nil || !strings.Contains(err.Error(), "called twice") {
		t.Fatalf("second Run() = %v, want an error", err)
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run() = %v", err)
	}
}

// TestStageWaitsForInputTopic starts a stage before its input topic exists:
// it must wait (not ready) and consume once the topic is created.
func TestStageWaitsForInputTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := fmt.Sprintf("test.%s.in.%s", testName(t), testRegion)
	out := testTopic(t, ctx, "out", 1)
	p := testProducer(t)
	cfg := testStageConfig(t, in, "g."+testName(t))
	h := &recorder{out: out}
	rs := startStage(t, cfg, h, p)
	time.Sleep(time.Second)
	if rs.stage.Ready() {
		t.Fatal("stage ready although its input topic does not exist")
	}
	if err := EnsureTopics(ctx, testBrokers, KafkaSecurity{}, []TopicSpec{{Name: in}}, 2); err != nil {
		t.Fatal(err)
	}
	want := produceInputs(t, ctx, p, in, 10, 3, "v")
	waitCommitted(t, ctx, cfg.GroupID, in)
	if !rs.stage.Ready() {
		t.Error("stage not ready after consuming")
	}
	if err := rs.stop(t); err != nil {
		t.Fatalf("Run() = %v", err)
	}
	if got := values(h.seen()); !slices.Equal(got, want) {
		t.Fatalf("handled %v, want %v", got, want)
	}
}

// TestStageReplicasSharePartitions runs two replicas in one group and
// stops one: the other takes over its partitions.
func TestStageReplicasSharePartitions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	in := testTopic(t, ctx, "in", 4)
	out := testTopic(t, ctx, "out", 4)
	group := "g." + testName(t)
	p := testProducer(t)
	cfg := testStageConfig(t, in, group)
	ha, hb := &recorder{out: out}, &recorder{out: out}
	a := startStage(t, cfg, ha, p)
	b := startStage(t, cfg, hb, p)
	for !a.stage.Ready() || !b.stage.Ready() {
		if !sleep(ctx, 20*time.Millisecond) {
			t.Fatal("replicas never became ready")
		}
	}
	time.Sleep(2 * time.Second) // let both join one generation
	first := produceInputs(t, ctx, p, in, 40, 13, "first")
	waitCommitted(t, ctx, group, in)
	if len(ha.seen()) == 0 || len(hb.seen()) == 0 {
		t.Errorf("replica A handled %d, B handled %d: want both to share the partitions", len(ha.seen()), len(hb.seen()))
	}
	handled := map[string]bool{}
	for _, m := range append(ha.seen(), hb.seen()...) {
		handled[string(m.Value)] = true
	}
	for _, v := range first {
		if !handled[v] {
			t.Fatalf("record %s never handled", v)
		}
	}

	if err := a.stop(t); err != nil {
		t.Fatalf("replica A Run() = %v", err)
	}
	stopped := time.Now()
	before := len(hb.seen())
	second := produceInputs(t, ctx, p, in, 40, 13, "second")
	waitCommitted(t, ctx, group, in)
	t.Logf("replica B handled the records after A left within %s", time.Since(stopped).Round(time.Millisecond))
	got := map[string]bool{}
	for _, m := range hb.seen()[before:] {
		got[string(m.Value)] = true
	}
	for _, v := range second {
		if !got[v] {
			t.Fatalf("record %s not handled by the remaining replica", v)
		}
	}
}
