package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"

	"github.com/pushpipe/pushpipe/internal/testinfra"
)

// TestProducerCompression writes records with each codec, through both
// ways a Producer writes (one request per leader for a stage's call of up
// to 128 records, kafka.Writer for larger calls and producers that linger),
// and checks the codec the broker stored the batches with (none for
// batches of at most UncompressedRecords) and that a consumer reads the
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
		compressed   bool
	}{
		{"stage call of a few records", StageBatchTimeout, 3, false},
		{"stage call at the uncompressed bound", StageBatchTimeout, UncompressedRecords, false},
		{"stage call above it", StageBatchTimeout, UncompressedRecords + 1, true},
		{"broadcast call", StageBatchTimeout, 2 * requestCallRecords, true},
		{"writer, a few records", 0, 3, false},
		{"writer, more", 0, 20, true},
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
				want := c.want
				if !call.compressed {
					want = 0
				}
				got, ok := testinfra.StoredCompression(t, ctx, testBrokers, topic, 1)[0]
				if !ok || got != want {
					t.Errorf("the broker holds batches compressed with %v (records: %t), want %v", got, ok, want)
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
