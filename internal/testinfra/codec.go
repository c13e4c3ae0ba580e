package testinfra

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/protocol"
	fetchAPI "github.com/segmentio/kafka-go/protocol/fetch"
)

// StoredCompression fetches every partition of topic from its first
// offset as raw record batches, as a broker serves them, and returns the
// compression bits of their attributes (protocol.Gzip, Snappy, Lz4, Zstd,
// or 0 for none) by partition; a partition whose batches differ shows the
// union of their bits, which matches no single codec. Partitions without
// records are left out. It fails t when the fetch fails.
func StoredCompression(t testing.TB, ctx context.Context, brokers []string, topic string, partitions int) map[int32]protocol.Attributes {
	t.Helper()
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	req := &fetchAPI.Request{ReplicaID: -1, MaxWaitTime: 100, MaxBytes: 8 << 20, Topics: []fetchAPI.RequestTopic{{Topic: topic}}}
	for p := range partitions {
		req.Topics[0].Partitions = append(req.Topics[0].Partitions, fetchAPI.RequestPartition{Partition: int32(p), PartitionMaxBytes: 8 << 20})
	}
	res, err := tr.RoundTrip(ctx, kafka.TCP(brokers...), req)
	if err != nil {
		t.Fatalf("fetching %s: %v", topic, err)
	}
	codecs := map[int32]protocol.Attributes{}
	for _, rt := range res.(*fetchAPI.Response).Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				t.Fatalf("fetching %s partition %d: %v", topic, rp.Partition, kafka.Error(rp.ErrorCode))
			}
			if rp.RecordSet.Records == nil {
				continue
			}
			codecs[rp.Partition] = rp.RecordSet.Attributes & 7
			// Drain the records so that the response's buffer is released.
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
	return codecs
}
