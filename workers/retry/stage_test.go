package retry

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// readN reads n records of topic from its start, in a consumer group of
// its own, or fails the test after 30 seconds.
func readN(t *testing.T, brokers []string, topic string, n int) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: brokers, Topic: topic, GroupID: "test-read-" + topic,
		StartOffset: kafka.FirstOffset, MaxWait: 100 * time.Millisecond})
	defer func() { _ = r.Close() }()
	out := make([]kafka.Message, 0, n)
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %d of %d records of %s: %v", len(out), n, topic, err)
		}
		out = append(out, m)
	}
	return out
}

// TestTierStageOnKafka runs the 1s tier of sg as the binary runs it — a
// pipeline stage on push.retry.1s.sg against a real Kafka-protocol broker —
// with three records: a poison record, a delivery due shortly and a
// delivery due in ten minutes. The poison record goes to the DLQ with its
// source headers and a rejected event; the due delivery goes back to
// push.deliveries.sg with a retried event carrying its attempt; the late
// one moves to push.retry.10m.sg unchanged, with no event.
func TestTierStageOnKafka(t *testing.T) {
	brokers := []string{testinfra.Kafka(t)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := pipeline.EnsureTopics(ctx, brokers, pipeline.KafkaSecurity{}, pipeline.RegionTopics("sg"), 2); err != nil {
		t.Fatal(err)
	}
	prod, err := pipeline.NewProducer(pipeline.ProducerConfig{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = prod.Close() }()
	tier := time.Second
	h, err := New(Config{Region: "sg", Tier: tier})
	if err != nil {
		t.Fatal(err)
	}
	topic := pipeline.RetryTierTopic("sg", tier)
	stage, err := pipeline.NewStage(pipeline.StageConfig{Name: "retry.1s", Region: "sg", Brokers: brokers, Topic: topic,
		GroupID: "pushpipe.retry.1s.sg"}, h, prod)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := stage.Run(runCtx); err != nil {
			t.Errorf("stage stopped with an error: %v", err)
		}
	})
	defer func() { stop(); wg.Wait() }()

	now := time.Now()
	due := schema.Delivery{DeliveryID: "d-due", MsgID: "m-due", TaskID: "t1", AppID: "a", Region: "sg", DeviceID: "dev-due",
		Channel: "mipush", Attempt: 2, NotBefore: now.Add(300 * time.Millisecond).UnixMilli(), ExpireAt: now.Add(time.Hour).UnixMilli()}
	late := due
	late.DeliveryID, late.MsgID, late.DeviceID = "d-late", "m-late", "dev-late"
	late.NotBefore = now.Add(10 * time.Minute).UnixMilli()
	enc := func(d schema.Delivery) []byte { b, _ := json.Marshal(d); return b }
	if err := prod.Produce(ctx, []pipeline.Output{
		{Topic: topic, Key: []byte("poison"), Value: []byte(`{"deliveryId":`)},
		{Topic: topic, Key: []byte(due.DeviceID), Value: enc(due)},
		{Topic: topic, Key: []byte(late.DeviceID), Value: enc(late)},
	}); err != nil {
		t.Fatal(err)
	}

	dlq := readN(t, brokers, pipeline.DLQTopic("sg"), 1)[0]
	headers := map[string]string{}
	for _, hd := range dlq.Headers {
		headers[hd.Key] = string(hd.Value)
	}
	if string(dlq.Value) != `{"deliveryId":` || headers[pipeline.HeaderSourceTopic] != topic || headers[pipeline.HeaderReason] == "" {
		t.Fatalf("DLQ record %q with headers %v, want the raw poison bytes from %s with a reason", dlq.Value, headers, topic)
	}

	events := map[schema.EventType]schema.Event{}
	for _, m := range readN(t, brokers, pipeline.EventsTopic("sg"), 2) {
		var e schema.Event
		if err := json.Unmarshal(m.Value, &e); err != nil {
			t.Fatal(err)
		}
		events[e.Event] = e
	}
	if e, ok := events[schema.EventRejected]; !ok || e.StatusCode != int64(schema.CodeInvalidParam) {
		t.Fatalf("events %+v, want a rejected event with code %d", events, schema.CodeInvalidParam)
	}
	if e, ok := events[schema.EventRetried]; !ok || e.DeviceID != due.DeviceID || e.Attempt != due.Attempt {
		t.Fatalf("events %+v, want a retried event of %s with attempt %d", events, due.DeviceID, due.Attempt)
	}

	var resent schema.Delivery
	if err := json.Unmarshal(readN(t, brokers, pipeline.DeliveriesTopic("sg"), 1)[0].Value, &resent); err != nil {
		t.Fatal(err)
	}
	if resent.DeliveryID != due.DeliveryID || resent.Attempt != due.Attempt {
		t.Fatalf("re-sent %s attempt %d, want %s attempt %d", resent.DeliveryID, resent.Attempt, due.DeliveryID, due.Attempt)
	}
	var moved schema.Delivery
	if err := json.Unmarshal(readN(t, brokers, pipeline.RetryTierTopic("sg", 10*time.Minute), 1)[0].Value, &moved); err != nil {
		t.Fatal(err)
	}
	if moved.DeliveryID != late.DeliveryID || moved.Attempt != late.Attempt || moved.NotBefore != late.NotBefore {
		t.Fatalf("moved %+v, want %s unchanged on the 10m tier", moved, late.DeliveryID)
	}
}
