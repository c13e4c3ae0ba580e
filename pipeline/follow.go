package pipeline

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
)

// Partitions returns the partition ids of topic in ascending order, read
// through c; sec explains a refused connection. A topic that is missing or
// has no partitions is an error saying to create the region's topics.
func Partitions(ctx context.Context, c *kafka.Client, sec KafkaSecurity, topic string) ([]int, error) {
	md, err := c.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("reading the partitions of %s: %w", topic, sec.Explain(err))
	}
	var parts []int
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("topic %s: %w", topic, t.Error)
		}
		for _, p := range t.Partitions {
			parts = append(parts, p.ID)
		}
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("topic %s has no partitions: create the region's topics first", topic)
	}
	slices.Sort(parts)
	return parts, nil
}

// Offsets returns, per partition of topic, its first offset, or with end
// its end offset (the high watermark: where the next record goes). A
// partition the broker's answer leaves out is an error.
func Offsets(ctx context.Context, c *kafka.Client, topic string, parts []int, end bool) (map[int]int64, error) {
	reqs := make([]kafka.OffsetRequest, len(parts))
	for i, p := range parts {
		reqs[i] = kafka.FirstOffsetOf(p)
		if end {
			reqs[i] = kafka.LastOffsetOf(p)
		}
	}
	resp, err := c.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("reading the offsets of %s: %w", topic, err)
	}
	out := make(map[int]int64, len(parts))
	for _, po := range resp.Topics[topic] {
		if po.Error != nil {
			return nil, fmt.Errorf("offset of %s[%d]: %w", topic, po.Partition, po.Error)
		}
		out[po.Partition] = po.FirstOffset
		if end {
			out[po.Partition] = po.LastOffset
		}
	}
	for _, p := range parts {
		if _, ok := out[p]; !ok {
			return nil, fmt.Errorf("offset of %s[%d]: missing from the broker's answer", topic, p)
		}
	}
	return out, nil
}

// ReadPartition reads r, a reader of one partition without a consumer
// group, until ctx ends, handing every record to fn in offset order. A
// failed read is logged (once per streak of failures, naming what is
// read) and tried again a second later. It closes r before returning.
func ReadPartition(ctx context.Context, r *kafka.Reader, log zerolog.Logger, what string, fn func(kafka.Message)) {
	defer r.Close()
	failing := false
	for {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if !failing {
				log.Warn().Err(err).Str("topic", r.Config().Topic).Int("partition", r.Config().Partition).Msg("reading " + what + " failed; retrying")
				failing = true
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			continue
		}
		failing = false
		fn(m)
	}
}
