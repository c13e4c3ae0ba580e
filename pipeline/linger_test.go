package pipeline

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

// TestStageBatchLinger publishes two bursts of three records a second
// apart and checks how the stage batches them: with BatchLinger each burst
// is handed over as soon as it stops, without it the first burst waits
// BatchWait and takes the second along. In the trickle case each burst's
// records come 600 ms apart, longer together than the linger of 1 s: each
// record holds the batch open for another linger, so the bursts are still
// one batch each. The margins (400 ms a gap, a second between a burst's
// batch and the next burst) leave room for a loaded machine's slow
// produce calls.
func TestStageBatchLinger(t *testing.T) {
	for _, tc := range []struct {
		scenario  string
		linger    time.Duration
		batchWait time.Duration
		gap       time.Duration // between the records of a burst; 0: produced together
		want      []int
	}{
		{scenario: "linger hands over each burst on its own", linger: 300 * time.Millisecond, batchWait: 20 * time.Second, want: []int{3, 3}},
		{scenario: "without linger the first burst waits for the second", batchWait: 3 * time.Second, want: []int{6}},
		{scenario: "a trickle longer than the linger stays one batch", linger: time.Second, batchWait: 20 * time.Second, gap: 600 * time.Millisecond, want: []int{3, 3}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			var mu sync.Mutex
			var sizes []int
			total := 0
			all := make(chan struct{})
			h := &recorder{out: out, hook: func(_ context.Context, msgs []kafka.Message) error {
				mu.Lock()
				defer mu.Unlock()
				sizes = append(sizes, len(msgs))
				if total += len(msgs); total == 6 {
					close(all)
				}
				return nil
			}}
			cfg := testStageConfig(t, in, group)
			cfg.BatchSize, cfg.BatchWait, cfg.BatchLinger = 100, tc.batchWait, tc.linger
			s, err := NewStage(cfg, h, p)
			if err != nil {
				t.Fatal(err)
			}
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- s.Run(runCtx) }()
			// The stage is consuming once a first record went through.
			produceInputs(t, ctx, p, in, 1, 1, "warm-up")
			waitCommitted(t, ctx, group, in)
			mu.Lock()
			sizes, total = nil, 0
			mu.Unlock()
			burst := func(name string) {
				if tc.gap == 0 {
					produceInputs(t, ctx, p, in, 3, 1, name)
					return
				}
				for i := range 3 {
					if i > 0 {
						time.Sleep(tc.gap)
					}
					produceInputs(t, ctx, p, in, 1, 1, fmt.Sprintf("%s-%d", name, i))
				}
			}
			burst("first")
			// Without a linger the second burst comes well within
			// BatchWait; with one, a second after the first burst's linger.
			pause := time.Second
			if tc.linger > 0 {
				pause = tc.linger + time.Second
			}
			time.Sleep(pause)
			burst("second")
			select {
			case <-all:
			case <-ctx.Done():
				t.Fatal("the six records were not handled")
			}
			stop()
			if err := <-done; err != nil {
				t.Fatalf("Run() = %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if fmt.Sprint(sizes) != fmt.Sprint(tc.want) {
				t.Fatalf("batch sizes %v, want %v", sizes, tc.want)
			}
		})
	}
}

// TestStageNoBatchWait checks batching with NoBatchWait: a record that
// comes while the handler is idle is handed over alone, and the records
// that come while the handler is busy form the next batch. With a
// BatchWait the first record would wait and take the others along. With
// BurstRecords, a batch that took a burst (the five that came while the
// handler was busy) waits for the late records until it is full, also
// when a BatchWait shorter than BurstWait is set. Without the burst rule
// the late records follow the five in batches of their own, as many as
// the reader hands them over in (one record can reach the loop before the
// others are queued behind it), so only their sum is checked.
func TestStageNoBatchWait(t *testing.T) {
	for _, tc := range []struct {
		scenario  string
		batchWait time.Duration
		burst     int // BurstRecords
		late      int // records published once the first batch is done
		want      []int
		lateApart bool // the late records come after want, in any split
	}{
		{scenario: "no wait: records that came while the handler was busy form the next batch", batchWait: NoBatchWait, want: []int{1, 5}},
		{scenario: "batch wait: the first record waits for the others", batchWait: 3 * time.Second, want: []int{6}},
		{scenario: "burst: the five wait for the four that follow", batchWait: NoBatchWait, burst: 3, late: 4, want: []int{1, 9}},
		{scenario: "no burst rule: the five go at once", batchWait: NoBatchWait, late: 4, want: []int{1, 5}, lateApart: true},
		{scenario: "burst beyond a short batch wait: the five wait for the four that follow", batchWait: time.Millisecond, burst: 3, late: 4, want: []int{1, 9}},
		{scenario: "short batch wait, no burst rule: the five go after the wait", batchWait: time.Millisecond, late: 4, want: []int{1, 5}, lateApart: true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			in := testTopic(t, ctx, "in", 1)
			out := testTopic(t, ctx, "out", 1)
			group := "g." + testName(t)
			p := testProducer(t)
			var mu sync.Mutex
			var sizes []int
			total := 0
			first := make(chan struct{})   // closed once the first batch is being handled
			release := make(chan struct{}) // closed to let the first batch finish
			second := make(chan struct{})  // closed once the second batch is being handled
			all := make(chan struct{})
			h := &recorder{out: out, hook: func(_ context.Context, msgs []kafka.Message) error {
				mu.Lock()
				if string(msgs[0].Value) == "warm-up-0000" {
					mu.Unlock()
					return nil
				}
				sizes = append(sizes, len(msgs))
				n := len(sizes)
				if total += len(msgs); total == 6+tc.late {
					close(all)
				}
				mu.Unlock()
				switch n {
				case 1:
					close(first)
					<-release
				case 2:
					close(second)
				}
				return nil
			}}
			cfg := testStageConfig(t, in, group)
			cfg.BatchSize, cfg.BatchWait = 9, tc.batchWait
			if tc.burst > 0 {
				cfg.BatchLinger, cfg.BurstRecords, cfg.BurstWait = 0, tc.burst, 30*time.Second
			}
			rs := startStage(t, cfg, h, p)
			// The stage is consuming once a first record went through.
			produceInputs(t, ctx, p, in, 1, 1, "warm-up")
			waitCommitted(t, ctx, group, in)
			produceInputs(t, ctx, p, in, 1, 1, "lone")
			// With a BatchWait the first batch is handled only after
			// that wait, so the others are published before it starts.
			if tc.batchWait > time.Second {
				produceInputs(t, ctx, p, in, 5, 1, "busy")
			}
			waitClosed(t, ctx, first, "the first record was not handled")
			if tc.batchWait <= time.Second {
				produceInputs(t, ctx, p, in, 5, 1, "busy")
				// Time for the stage to fetch them while the handler is
				// busy (the broker answers a fetch as soon as records come).
				time.Sleep(2 * time.Second)
			}
			close(release)
			if tc.late > 0 {
				if tc.burst == 0 {
					// The five go as they are; the late ones come after them.
					waitClosed(t, ctx, second, "the second batch was not handled")
				} else {
					// Well after BatchWait, well before BurstWait: only the
					// burst rule keeps the five waiting for them.
					time.Sleep(500 * time.Millisecond)
				}
				produceInputs(t, ctx, p, in, tc.late, 1, "late")
			}
			waitClosed(t, ctx, all, "not every record was handled")
			if err := rs.stop(t); err != nil {
				t.Fatalf("Run() = %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			got := sizes
			if tc.lateApart && len(got) > len(tc.want) {
				// Every record was handled, so the batches after want
				// hold the late ones.
				got = got[:len(tc.want)]
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || (tc.lateApart && len(sizes) == len(tc.want)) {
				then := ""
				if tc.lateApart {
					then = " then batches of the late records"
				}
				t.Fatalf("batch sizes %v, want %v%s", sizes, tc.want, then)
			}
		})
	}
}

// waitClosed waits for ch to be closed, failing the test with why when ctx
// ends first.
func waitClosed(t *testing.T, ctx context.Context, ch <-chan struct{}, why string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatal(why)
	}
}
