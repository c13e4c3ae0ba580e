package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"
)

// TestProducerCompression writes records with each codec, through both
// ways a Producer writes (a stage's call of a few records, one request per
// leader; a broadcast's call of hundreds, kafka.Writer), and checks the
// codec the broker stored the batches with and that a consumer reads the
// records back as they were written.
func TestProducerCompression(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	codecs := []struct {
		compression Compression
		want        protocol.Attributes
	}{
		{"", protocol.Snappy}, // DefaultCompression
		{CompressionNone, 0},
		{CompressionGzip, protocol.Gzip},
		{CompressionSnappy, protocol.Snappy},
		{CompressionLz4, protocol.Lz4},
		{CompressionZstd, protocol.Zstd},
	}
	calls := []struct {
		name         string
		batchTimeout time.Duration
		records      int
	}{
		{"stage call", StageBatchTimeout, 3},
		{"broadcast call", StageBatchTimeout, 2 * requestCallRecords},
		{"writer", 0, 20},
	}
	for _, c := range codecs {
		for _, call := range calls {
			name := string(c.compression)
			if name == "" {
				name = "default"
			}
			t.Run(name+"/"+call.name, func(t *testing.T) {
				topic := testTopic(t, ctx, "out", 1)
				p, err := NewProducer(ProducerConfig{Brokers: testBrokers, Logger: testLogger(t), BatchTimeout: call.batchTimeout, Compression: c.compression})
				if err != nil {
					t.Fatalf("NewProducer: %v", err)
				}
				defer func() { _ = p.Close() }()
				outs := make([]Output, call.records)
				for i := range outs {
					outs[i] = Output{Topic: topic, Key: []byte("k"), Value: fmt.Appendf(nil, `{"event":"acked","seq":%d,"task_id":"bench-e2e-broadcast"}`, i)}
				}
				if err := p.Produce(ctx, outs); err != nil {
					t.Fatalf("Produce: %v", err)
				}
				if got := storedCodec(t, ctx, topic); got != c.want {
					t.Errorf("the broker holds batches compressed with %v, want %v", got, c.want)
				}
				r := kafka.NewReader(kafka.ReaderConfig{Brokers: testBrokers, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
				defer func() { _ = r.Close() }()
				for i, o := range outs {
					m, err := r.ReadMessage(ctx)
					if err != nil {
						t.Fatalf("reading record %d: %v", i, err)
					}
					if string(m.Value) != string(o.Value) || string(m.Key) != string(o.Key) {
						t.Fatalf("record %d read as %s=%s, want %s=%s", i, m.Key, m.Value, o.Key, o.Value)
					}
				}
			})
		}
	}
}

// storedCodec fetches partition 0 of topic from its first offset as raw
// record batches and returns the compression bits of their attributes
// (the union over the batches, so a mix shows as neither codec).
func storedCodec(t *testing.T, ctx context.Context, topic string) protocol.Attributes {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	res, err := tr.RoundTrip(ctx, kafka.TCP(testBrokers...), &fetchAPI.Request{
		ReplicaID: -1, MaxWaitTime: 100, MaxBytes: 8 << 20,
		Topics: []fetchAPI.RequestTopic{{Topic: topic, Partitions: []fetchAPI.RequestPartition{{Partition: 0, PartitionMaxBytes: 8 << 20}}}},
	})
	if err != nil {
		t.Fatalf("fetching %s: %v", topic, err)
	}
	var attrs protocol.Attributes
	for _, rt := range res.(*fetchAPI.Response).Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("fetching %s: %v", topic, kafka.Error(rp.ErrorCode))
			}
			if rp.RecordSet.Records == nil {
				t.Fatalf("fetching %s: no records", topic)
			}
			attrs |= rp.RecordSet.Attributes
			// Drain the records so the connection's buffer is released.
			for {
				rec, err := rp.RecordSet.Records.ReadRecord()
				if err != nil {
					if !errors.Is(err, io.EOF) {
						t.Fatalf("reading the fetched records of %s: %v", topic, err)
					}
					break
				}
				if rec.Value != nil {
					_ = rec.Value.Close()
				}
			}
		}
	}
	return attrs & 7
}
