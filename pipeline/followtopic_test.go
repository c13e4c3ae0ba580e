package pipeline

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestFollowTopic: a follower of a topic of three partitions hands over
// every record, in offset order within a partition; Sync returns only
// once everything written before it was handed over (records written
// after Start included), and after Close nothing more is handed over.
func TestFollowTopic(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic := testTopic(t, ctx, "follow", 3)
	p, err := NewProducer(ProducerConfig{Brokers: testBrokers})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = p.Close() }()
	write := func(from, to int) {
		t.Helper()
		var outs []Output
		for i := from; i < to; i++ {
			outs = append(outs, Output{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%7), Value: fmt.Appendf(nil, "%d", i)})
		}
		if err := p.Produce(ctx, outs); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 300)

	logs, err := NewLogReader(LogReaderConfig{Brokers: testBrokers, ClientID: "pushpipe-test", What: "follow test", MaxWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = logs.Close() }()
	var mu sync.Mutex
	got := map[int][]int64{} // partition -> offsets handed over
	values := map[string]bool{}
	f, err := logs.FollowTopic(ctx, topic, func(m kafka.Message) {
		mu.Lock()
		defer mu.Unlock()
		got[m.Partition] = append(got[m.Partition], m.Offset)
		values[string(m.Value)] = true
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(values)
	}
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 300 {
		t.Fatalf("after Sync %d records were handed over, want 300", n)
	}
	write(300, 450)
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 450 {
		t.Fatalf("after the second Sync %d records were handed over, want 450", n)
	}
	mu.Lock()
	for part, offs := range got {
		for i := 1; i < len(offs); i++ {
			if offs[i] != offs[i-1]+1 {
				t.Errorf("partition %d handed over offset %d after %d", part, offs[i], offs[i-1])
			}
		}
	}
	if len(got) != 3 {
		t.Errorf("records came from %d partitions, want 3", len(got))
	}
	mu.Unlock()

	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	_ = f.Close() // idempotent
	write(450, 460)
	time.Sleep(300 * time.Millisecond) // what a follower still running would have read
	if n := count(); n != 450 {
		t.Fatalf("after Close %d records were handed over, want still 450", n)
	}
	sctx, scancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer scancel()
	if err := f.Sync(sctx); err == nil {
		t.Fatal("Sync after Close returned nil with records left unread")
	}
}
