package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"
)

// WaitCaughtUp returns once the consumer group has committed, on every
// partition of topic, at least the end offset the partition had when
// WaitCaughtUp was called: every record written to topic before the call
// has then been handled by the group (for the event sink: is in
// ClickHouse). It polls every poll (default 200ms) and returns ctx's error
// wrapped if ctx ends first. A group that has committed nothing yet counts
// as at offset 0. Every connection is secured with sec.
func WaitCaughtUp(ctx context.Context, brokers []string, sec KafkaSecurity, group, topic string, poll time.Duration) error {
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	transport := sec.Transport("pushpipe-caught-up")
	defer transport.CloseIdleConnections()
	c := &kafka.Client{Addr: kafka.TCP(brokers...), Transport: transport, Timeout: 10 * time.Second}
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return fmt.Errorf("reading the partitions of %s: %w", topic, sec.Explain(err))
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name == topic {
			for _, p := range t.Partitions {
				parts = append(parts, p.ID)
			}
		}
	}
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = kafka.LastOffsetOf(p)
	}
	lo, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return fmt.Errorf("reading the end offsets of %s: %w", topic, err)
	}
	end := map[int]int64{}
	for _, po := range lo.Topics[topic] {
		if po.Error != nil {
			return fmt.Errorf("reading the end offset of %s[%d]: %w", topic, po.Partition, po.Error)
		}
		end[po.Partition] = po.LastOffset
	}
	for {
		resp, err := c.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
		if err == nil {
			err = resp.Error
		}
		behind := len(end) > 0
		switch {
		case errors.Is(err, kafka.GroupIdNotFound):
		case err != nil:
			return fmt.Errorf("reading the offsets group %s committed on %s: %w", group, topic, err)
		default:
			behind = false
			committed := map[int]int64{}
			for _, p := range resp.Topics[topic] {
				committed[p.Partition] = max(p.CommittedOffset, 0)
			}
			for p, e := range end {
				if committed[p] < e {
					behind = true
				}
			}
		}
		if !behind {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for group %s to catch up with %s: %w", group, topic, ctx.Err())
		case <-time.After(poll):
		}
	}
}
