package pipeline

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
)

// TopicFollower reads every partition of one topic from its start, one
// goroutine per partition, and hands each record to the function given to
// FollowTopic, in offset order within a partition; records of different
// partitions may be handed over concurrently, so that function does its
// own locking. It is how a worker keeps the state of a compacted topic in
// memory (held approvals, revokes). Sync and Close are safe for
// concurrent use; Close is idempotent.
type TopicFollower struct {
	logs  *LogReader
	topic string

	mu   sync.RWMutex
	read map[int]int64 // partition -> next offset handed over

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// FollowTopic looks up the partitions of topic and starts following each
// from its first offset, handing every record to fn (see TopicFollower)
// until Close; ctx bounds the look-up only. It does not wait for anything
// to be read: call Sync for that. The partitions are those of the call; a
// partition added later is not followed.
func (l *LogReader) FollowTopic(ctx context.Context, topic string, fn func(kafka.Message)) (*TopicFollower, error) {
	parts, err := l.Partitions(ctx, topic)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	f := &TopicFollower{logs: l, topic: topic, read: map[int]int64{}, cancel: cancel}
	for _, p := range parts {
		f.wg.Go(func() {
			// From the start: Follow fails only positioning at an offset.
			_ = l.Follow(rctx, topic, p, kafka.FirstOffset, func(m kafka.Message) {
				fn(m)
				f.mu.Lock()
				f.read[m.Partition] = m.Offset + 1
				f.mu.Unlock()
			}, nil)
		})
	}
	return f, nil
}

// Sync returns once every record written to the topic before the call
// has been handed over, or with ctx's error (or a Kafka error) wrapped:
// the state built from the records then knows everything written before
// Sync was called.
func (f *TopicFollower) Sync(ctx context.Context) error {
	parts, err := f.logs.Partitions(ctx, f.topic)
	if err != nil {
		return err
	}
	end, err := f.logs.Offsets(ctx, f.topic, parts, true)
	if err != nil {
		return err
	}
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !f.caughtUp(end) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("reading %s up to its end offsets %v: %w", f.topic, end, ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

func (f *TopicFollower) caughtUp(end map[int]int64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for p, e := range end {
		if f.read[p] < e {
			return false
		}
	}
	return true
}

// Close stops following and waits for the partition goroutines: once it
// returns, no record is handed over any more. It does not close the
// LogReader.
func (f *TopicFollower) Close() error {
	f.closeOnce.Do(func() {
		f.cancel()
		f.wg.Wait()
	})
	return nil
}
