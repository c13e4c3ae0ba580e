package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
)

// client returns a Kafka admin client for brokers with a fresh transport
// secured with sec; close it with closeClient.
func client(brokers []string, sec pipeline.KafkaSecurity, clientID string) *kafka.Client {
	t := sec.Transport(clientID)
	t.MetadataTTL = time.Second
	return &kafka.Client{Addr: kafka.TCP(brokers...), Timeout: 10 * time.Second, Transport: t}
}

func closeClient(c *kafka.Client) {
	if t, ok := c.Transport.(*kafka.Transport); ok {
		t.CloseIdleConnections()
	}
}

// span is the offsets a partition holds: [first, end). end is the high
// watermark, the offset the next record will get: a reader has seen
// everything written so far once it has read up to it.
type span struct{ first, end int64 }

// spans returns the span of each partition of topic.
func spans(ctx context.Context, c *kafka.Client, topic string, parts []int) (map[int]span, error) {
	first, err := pipeline.Offsets(ctx, c, topic, parts, false)
	if err != nil {
		return nil, err
	}
	end, err := pipeline.Offsets(ctx, c, topic, parts, true)
	if err != nil {
		return nil, err
	}
	out := make(map[int]span, len(parts))
	for _, p := range parts {
		out[p] = span{first: max(first[p], 0), end: end[p]}
	}
	return out, nil
}

// partitionOf returns the partition of topic that a record keyed key goes
// to when written by a pipeline.Producer (kafka-go's murmur2 balancer, as
// the Java client), given the topic's partition ids.
func partitionOf(key string, parts []int) int {
	return (&kafka.Murmur2Balancer{}).Balance(kafka.Message{Key: []byte(key)}, parts...)
}

// newPartitionReader reads one partition without a consumer group,
// starting at offset from (kafka.FirstOffset for the start), over
// connections secured with sec.
func newPartitionReader(brokers []string, sec pipeline.KafkaSecurity, topic string, partition int, from int64, clientID string) (*kafka.Reader, error) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:         brokers,
		Topic:           topic,
		Partition:       partition,
		Dialer:          sec.Dialer(clientID, 10*time.Second),
		MinBytes:        1,
		MaxBytes:        10 << 20,
		MaxWait:         200 * time.Millisecond,
		ReadLagInterval: -1,
		StartOffset:     kafka.FirstOffset,
		ReadBackoffMin:  100 * time.Millisecond,
		ReadBackoffMax:  time.Second,
		MaxAttempts:     3,
	})
	if from != kafka.FirstOffset && from > 0 {
		if err := r.SetOffset(from); err != nil {
			r.Close()
			return nil, fmt.Errorf("positioning the reader of %s partition %d at offset %d: %w", topic, partition, from, err)
		}
	}
	return r, nil
}

// errStop ends readRange early without an error.
var errStop = errors.New("stop reading")

// readRange calls fn with every record of one partition from offset from
// up to (not including) offset to, in order. fn returns errStop to end
// early. A range with from >= to reads nothing.
func readRange(ctx context.Context, brokers []string, sec pipeline.KafkaSecurity, topic string, partition int, from, to int64, fn func(kafka.Message) error) error {
	if from >= to {
		return nil
	}
	r, err := newPartitionReader(brokers, sec, topic, partition, from, "pushpipe-scheduler-read")
	if err != nil {
		return err
	}
	defer r.Close()
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			return fmt.Errorf("reading %s partition %d at offsets %d..%d: %w", topic, partition, from, to, err)
		}
		if m.Offset >= to {
			return nil
		}
		if err := fn(m); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
		if m.Offset+1 >= to {
			return nil
		}
	}
}

// readTopic calls fn with every record of every partition of topic written
// before the call, partition by partition.
func readTopic(ctx context.Context, brokers []string, sec pipeline.KafkaSecurity, topic string, fn func(kafka.Message) error) error {
	c := client(brokers, sec, "pushpipe-scheduler-read")
	defer closeClient(c)
	parts, err := pipeline.Partitions(ctx, c, sec, topic)
	if err != nil {
		return err
	}
	sp, err := spans(ctx, c, topic, parts)
	if err != nil {
		return err
	}
	for _, p := range parts {
		if err := readRange(ctx, brokers, sec, topic, p, sp[p].first, sp[p].end, fn); err != nil {
			return err
		}
	}
	return nil
}
