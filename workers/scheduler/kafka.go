package scheduler

import (
	"context"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
)

// newLogReader returns the reader of the scheduler's topics (push.schedules.R
// and, after an interrupted firing, push.requests.R) over connections to
// brokers secured with sec. Partitions are looked up again after a second,
// so that a partition added to a topic is seen at the next generation.
func newLogReader(brokers []string, sec pipeline.KafkaSecurity, clientID string) (*pipeline.LogReader, error) {
	l, err := pipeline.NewLogReader(pipeline.LogReaderConfig{Brokers: brokers, Security: sec, ClientID: clientID,
		What: "the schedules topic", MaxWait: 200 * time.Millisecond, MaxBytes: 10 << 20,
		ReadBackoffMin: 100 * time.Millisecond, MetadataTTL: time.Second})
	if err != nil {
		return nil, fmt.Errorf("scheduler: %w", err)
	}
	return l, nil
}

// readTopic calls fn with every record of every partition of topic written
// before the call, partition by partition.
func readTopic(ctx context.Context, brokers []string, sec pipeline.KafkaSecurity, topic string, fn func(kafka.Message) error) error {
	l, err := newLogReader(brokers, sec, "pushpipe-scheduler-read")
	if err != nil {
		return err
	}
	defer func() { _ = l.Close() }()
	return l.ReadTopic(ctx, topic, fn)
}
