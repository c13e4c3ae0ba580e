package pipeline

import (
	"context"

	"github.com/segmentio/kafka-go"
)

// commit commits the batch's offsets (with a CommitInterval: hands them
// to the consumer group's next periodic commit). A failure is logged and
// counted but not retried forever: the next successful commit covers these
// offsets, and until then they are delivered again after a restart or
// rebalance.
func (s *Stage) commit(ctx context.Context, reader *kafka.Reader, batch []kafka.Message) {
	// Commit only the last record per partition: offsets are cumulative.
	last := map[int]kafka.Message{}
	for _, m := range batch {
		if prev, ok := last[m.Partition]; !ok || m.Offset > prev.Offset {
			last[m.Partition] = m
		}
	}
	msgs := make([]kafka.Message, 0, len(last))
	for _, m := range last {
		msgs = append(msgs, m)
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err := reader.CommitMessages(ctx, msgs...)
		if err == nil {
			s.m.addCommitted(len(batch))
			return
		}
		s.m.incError(ErrorKindCommit)
		if attempt == attempts || ctx.Err() != nil {
			s.log.Error().Err(err).Int("records", len(batch)).Int("partition", batch[0].Partition).Int64("offset", batch[0].Offset).
				Msg("committing offsets failed; the records will be delivered again unless a later commit covers them")
			return
		}
		d := s.backoff(attempt)
		s.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", d).Msg("committing offsets failed; retrying")
		if !Pause(ctx, d) {
			return
		}
	}
}
