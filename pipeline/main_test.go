package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	embeddedkafka "github.com/pushpipe/pushpipe/infra/kafka"
)

// testRegion is the region every test stage serves. Its shared topics
// (events, DLQ) are created once in TestMain; tests tell their records apart
// by source topic or key.
const testRegion = "eu"

// testBrokers holds the address of the in-process broker started by
// TestMain; it is written once before any test runs.
var testBrokers []string

func TestMain(m *testing.M) {
	if os.Getenv(replicaEnvBroker) != "" {
		os.Exit(runReplica())
	}
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := embeddedkafka.Start(ctx, embeddedkafka.Config{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting embedded kafka:", err)
		return 1
	}
	defer func() { _ = b.Close() }()
	testBrokers = []string{b.Addr()}
	if err := EnsureTopics(ctx, testBrokers, KafkaSecurity{}, RegionTopics(testRegion), 3); err != nil {
		fmt.Fprintln(os.Stderr, "creating region topics:", err)
		return 1
	}
	return m.Run()
}

var nonTopicChars = regexp.MustCompile(`[^a-zA-Z0-9]+`)

// testNames gives every test (every run of it, with -count or -cpu) its
// own suffix, so topics and groups never carry over between runs that
// share the broker.
var testNames struct {
	sync.Mutex
	byTest map[testing.TB]string
	next   int
}

// testName turns the test's name into a topic- and group-safe word that is
// unique to this run of the test.
func testName(t testing.TB) string {
	testNames.Lock()
	defer testNames.Unlock()
	if n, ok := testNames.byTest[t]; ok {
		return n
	}
	if testNames.byTest == nil {
		testNames.byTest = map[testing.TB]string{}
	}
	testNames.next++
	n := fmt.Sprintf("%s-r%d", strings.Trim(strings.ToLower(nonTopicChars.ReplaceAllString(t.Name(), "-")), "-"), testNames.next)
	testNames.byTest[t] = n
	return n
}

// testTopic returns a topic name of the test region unique to this test and
// creates it with the given number of partitions.
func testTopic(t testing.TB, ctx context.Context, kind string, partitions int) string {
	t.Helper()
	name := fmt.Sprintf("test.%s.%s.%s", testName(t), kind, testRegion)
	if err := EnsureTopics(ctx, testBrokers, KafkaSecurity{}, []TopicSpec{{Name: name}}, partitions); err != nil {
		t.Fatalf("EnsureTopics(%s): %v", name, err)
	}
	return name
}

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Timestamp().Logger()
}

// testProducer returns a Producer as the workers' stages use it (with
// StageBatchTimeout: one produce request per partition leader a call).
func testProducer(t testing.TB) *Producer {
	t.Helper()
	return newTestProducer(t, StageBatchTimeout)
}

// newTestProducer returns a Producer with the given BatchTimeout, closed
// when the test ends.
func newTestProducer(t testing.TB, batchTimeout time.Duration) *Producer {
	t.Helper()
	p, err := NewProducer(ProducerConfig{Brokers: testBrokers, Logger: testLogger(t), BatchTimeout: batchTimeout})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// testStageConfig returns a config with short timings for tests.
func testStageConfig(t testing.TB, topic, group string) StageConfig {
	return StageConfig{
		Name:            "test",
		Region:          testRegion,
		Brokers:         testBrokers,
		Topic:           topic,
		GroupID:         group,
		BatchSize:       50,
		BatchWait:       5 * time.Millisecond,
		FetchMaxWait:    100 * time.Millisecond,
		MinRetryBackoff: 10 * time.Millisecond,
		MaxRetryBackoff: 100 * time.Millisecond,
		ShutdownTimeout: 5 * time.Second,
		StatsInterval:   100 * time.Millisecond,
		ProbeInterval:   500 * time.Millisecond,
		Logger:          testLogger(t),
	}
}

// runningStage is a Stage running in a goroutine.
type runningStage struct {
	stage  *Stage
	cancel context.CancelFunc
	done   chan error
}

// startStage runs a stage until stop is called or the test ends.
func startStage(t testing.TB, cfg StageConfig, h BatchHandler, p *Producer) *runningStage {
	t.Helper()
	s, err := NewStage(cfg, h, p)
	if err != nil {
		t.Fatalf("NewStage: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rs := &runningStage{stage: s, cancel: cancel, done: make(chan error, 1)}
	go func() { rs.done <- s.Run(ctx) }()
	t.Cleanup(func() { _ = rs.stop(t) })
	return rs
}

// stop cancels the stage and returns what Run returned.
func (rs *runningStage) stop(t testing.TB) error {
	t.Helper()
	rs.cancel()
	select {
	case err, ok := <-rs.done:
		if !ok {
			return nil
		}
		close(rs.done)
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("Stage.Run did not return within 20s of cancellation")
		return nil
	}
}

// produceInputs writes n records with keys key-(i%keys) and values
// "<prefix>-<i>" and returns the values in order.
func produceInputs(t testing.TB, ctx context.Context, p *Producer, topic string, n, keys int, prefix string) []string {
	t.Helper()
	outs := make([]Output, n)
	values := make([]string, n)
	for i := range outs {
		values[i] = fmt.Sprintf("%s-%04d", prefix, i)
		outs[i] = Output{Topic: topic, Key: []byte(fmt.Sprintf("key-%d", i%keys)), Value: []byte(values[i])}
	}
	if err := p.Produce(ctx, outs); err != nil {
		t.Fatalf("producing inputs: %v", err)
	}
	return values
}

// testClient returns a client with its own transport: kafka-go serves
// Metadata from a per-transport cache, so a shared transport would not see
// topics created moments ago.
func testClient(t testing.TB) *kafka.Client {
	tr := &kafka.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &kafka.Client{Addr: kafka.TCP(testBrokers...), Timeout: 5 * time.Second, Transport: tr}
}

func partitionsOf(t testing.TB, ctx context.Context, topic string) []int {
	t.Helper()
	md, err := testClient(t).Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatalf("Metadata(%s): %v", topic, err)
	}
	var ps []int
	for _, tp := range md.Topics {
		if tp.Name == topic {
			if tp.Error != nil {
				t.Fatalf("Metadata(%s): %v", topic, tp.Error)
			}
			for _, p := range tp.Partitions {
				ps = append(ps, p.ID)
			}
		}
	}
	sort.Ints(ps)
	return ps
}

// endOffsets returns the next offset to be written per partition.
func endOffsets(t testing.TB, ctx context.Context, topic string) map[int]int64 {
	t.Helper()
	var reqs []kafka.OffsetRequest
	for _, p := range partitionsOf(t, ctx, topic) {
		reqs = append(reqs, kafka.LastOffsetOf(p))
	}
	resp, err := testClient(t).ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		t.Fatalf("ListOffsets(%s): %v", topic, err)
	}
	out := map[int]int64{}
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			t.Fatalf("ListOffsets(%s/%d): %v", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.LastOffset
	}
	return out
}

// committedOffsets returns the group's committed offset per partition (-1
// where nothing was committed).
func committedOffsets(t testing.TB, ctx context.Context, group, topic string) map[int]int64 {
	t.Helper()
	parts := partitionsOf(t, ctx, topic)
	out := map[int]int64{}
	resp, err := testClient(t).OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	if err == nil {
		err = resp.Error
	}
	if errors.Is(err, kafka.GroupIdNotFound) { // kfake: the group has not joined yet
		for _, p := range parts {
			out[p] = -1
		}
		return out
	}
	if err != nil {
		t.Fatalf("OffsetFetch(%s): %v", group, err)
	}
	for _, p := range resp.Topics[topic] {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// waitCommitted waits until the group committed every record of topic that
// exists now.
func waitCommitted(t testing.TB, ctx context.Context, group, topic string) {
	t.Helper()
	want := endOffsets(t, ctx, topic)
	for {
		got := committedOffsets(t, ctx, group, topic)
		done := true
		for p, end := range want {
			if end > 0 && got[p] < end {
				done = false
			}
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s did not commit %s up to %v (committed %v): %v", group, topic, want, got, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// readTopic returns every record currently in topic of the test broker,
// partition by partition in offset order.
func readTopic(t *testing.T, ctx context.Context, topic string) []kafka.Message {
	t.Helper()
	return readAll(t, ctx, testBrokers, KafkaSecurity{}, topic)
}

// recorder is a BatchHandler that passes records through to an output
// topic and remembers what it saw. Hook, if set, runs first and may fail
// or panic.
type recorder struct {
	out  string
	hook func(ctx context.Context, msgs []kafka.Message) error

	mu      sync.Mutex
	calls   int
	handled []kafka.Message
}

func (r *recorder) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]Result, error) {
	r.mu.Lock()
	r.calls++
	r.mu.Unlock()
	if r.hook != nil {
		if err := r.hook(ctx, msgs); err != nil {
			return nil, err
		}
	}
	res := make([]Result, len(msgs))
	for i, m := range msgs {
		res[i].Outputs = []Output{{Topic: r.out, Key: m.Key, Value: m.Value}}
	}
	r.mu.Lock()
	r.handled = append(r.handled, msgs...)
	r.mu.Unlock()
	return res, nil
}

func (r *recorder) seen() []kafka.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]kafka.Message(nil), r.handled...)
}

func values(msgs []kafka.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m.Value)
	}
	sort.Strings(out)
	return out
}

func headerMap(hs []kafka.Header) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		out[h.Key] = string(h.Value)
	}
	return out
}

// metricValue reads a counter or gauge.
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatalf("reading metric: %v", err)
	}
	switch {
	case pb.Counter != nil:
		return pb.Counter.GetValue()
	case pb.Gauge != nil:
		return pb.Gauge.GetValue()
	case pb.Histogram != nil:
		return float64(pb.Histogram.GetSampleCount())
	}
	t.Fatalf("metric %v is not a counter, gauge or histogram", m.Desc())
	return 0
}
