package sender

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/channels/middleware"
	"github.com/pushpipe/pushpipe/pipeline"
)

// BudgetConfig says how a sender replica finds its share of the region's
// rate budgets: from the assignment of its consumer group.
type BudgetConfig struct {
	// Brokers, GroupID and Topic name the sender's consumer group
	// (pushpipe.sender.<region>) and input topic (push.deliveries.<region>).
	// Required.
	Brokers []string
	GroupID string
	Topic   string
	// Security secures the questions to Kafka (SASL, TLS); the zero value
	// is plaintext without authentication.
	Security pipeline.KafkaSecurity
	// Refresh is how often a busy replica asks Kafka again; default
	// middleware.DefaultShareRefresh.
	Refresh time.Duration
	// Timeout bounds one question to Kafka; default 1s.
	Timeout time.Duration
}

// Validate reports the first setting that cannot work.
func (c BudgetConfig) Validate() error {
	if err := (pipeline.GroupWatcherConfig{Brokers: c.Brokers, GroupID: c.GroupID, Topic: c.Topic, Timeout: c.Timeout}).Validate(); err != nil {
		return err
	}
	if c.Refresh < 0 {
		return errors.New("sender budget: Refresh is negative")
	}
	return nil
}

// Budget keeps a replica's share of the region's rate budgets in step
// with its consumer group, so that the replicas' limits add up to the
// region's limit and are redistributed when replicas join or leave,
// without a restart.
//
// The share is by assigned partitions: a replica holding k of the topic's
// P assigned partitions gets k/P of every budget. Deliveries are keyed by
// device id, so partitions carry about equal load, and a replica's work is
// proportional to its partitions. Compared with an equal split (1/N per
// member) this keeps the whole budget in use when the partitions do not
// divide evenly (3 replicas on 4 partitions get 2/4, 1/4, 1/4 and every
// partition drains at the same pace) and gives nothing to replicas beyond
// the partition count, which have no work, instead of stranding their
// share. A replica recognizes itself in the group description by the
// partitions its current batch came from.
//
// While the group rebalances the share only goes down (to at most 1/N of
// the members seen); it goes up again once the group is stable. When
// Kafka cannot be asked, the last share stays; before the first answer
// the replica assumes it is alone (share 1).
//
// Budget has no goroutine of its own: the sender calls Track for each
// batch, which refreshes the share in the background while the batch is
// handled and stops when it is done. An idle replica does not send, so it
// needs no fresh share.
type Budget struct {
	cfg   BudgetConfig
	w     *pipeline.GroupWatcher
	apply func(share float64)
	log   zerolog.Logger

	mu          sync.Mutex
	share       float64
	mine        []int
	last        pipeline.GroupAssignment
	haveLast    bool
	lastAttempt time.Time
	failing     bool
}

// NewBudget returns the budget of one replica; apply receives every new
// share (middleware.Limiter.SetShare).
func NewBudget(cfg BudgetConfig, apply func(share float64), log zerolog.Logger) (*Budget, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = middleware.DefaultShareRefresh
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = time.Second
	}
	w, err := pipeline.NewGroupWatcher(pipeline.GroupWatcherConfig{Brokers: cfg.Brokers, Security: cfg.Security, GroupID: cfg.GroupID, Topic: cfg.Topic, Timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	return &Budget{cfg: cfg, w: w, apply: apply, log: log, share: 1}, nil
}

// Share returns the current share.
func (b *Budget) Share() float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.share
}

// Track is called when a batch from partitions starts. It updates the
// share from what is known, asks Kafka first if it never did (bounded by
// the Timeout), and keeps the share fresh every Refresh until stop is
// called. stop cancels the refresh in flight and waits for it; call it
// when the batch is done.
func (b *Budget) Track(ctx context.Context, partitions []int) (stop func()) {
	b.mu.Lock()
	b.mine = slices.Clone(partitions)
	first := !b.haveLast && b.lastAttempt.IsZero()
	if b.haveLast {
		b.setLocked(ShareOf(b.last, b.mine, b.share))
	}
	b.mu.Unlock()
	if first {
		b.refresh(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.loop(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}

func (b *Budget) loop(ctx context.Context) {
	for {
		b.mu.Lock()
		wait := time.Until(b.lastAttempt.Add(b.cfg.Refresh))
		b.mu.Unlock()
		if wait <= 0 {
			b.refresh(ctx)
			continue
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// refresh asks Kafka and applies the new share.
func (b *Budget) refresh(ctx context.Context) {
	b.mu.Lock()
	b.lastAttempt = time.Now()
	b.mu.Unlock()
	g, err := b.w.Describe(ctx)
	if ctx.Err() != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		if !b.failing {
			b.log.Warn().Err(err).Float64("share", b.share).Msg("cannot learn the sender group's assignment; keeping the current rate budget share")
		}
		b.failing = true
		return
	}
	if b.failing {
		b.log.Info().Msg("learning the sender group's assignment works again")
	}
	b.failing = false
	b.last, b.haveLast = g, true
	b.setLocked(ShareOf(g, b.mine, b.share))
}

func (b *Budget) setLocked(share float64) {
	if share == b.share {
		return
	}
	b.log.Info().Float64("from", b.share).Float64("to", share).Int("members", b.last.Size()).
		Str("group_state", b.last.State).Ints("partitions", b.mine).Msg("rate budget share changed")
	b.share = share
	b.apply(share)
}

// ShareOf returns the share of the region's budgets of the replica whose
// current batch came from partitions mine, given the group description g
// and the replica's current share:
//
//   - no members (the answer predates the replica): current;
//   - group not stable, or no partition assigned: min(current, 1/members);
//   - the member holding most of mine holds k of the P assigned
//     partitions: k/P;
//   - none of mine is assigned (the replica's batch is older than g's
//     generation, or it has no batch yet): min(current, 1/(members+1)) if
//     it has a batch, else 1/members.
func ShareOf(g pipeline.GroupAssignment, mine []int, current float64) float64 {
	n := g.Size()
	total := g.AssignedPartitions()
	switch {
	case n == 0:
		return current
	case !g.Stable() || total == 0:
		return min(current, 1/float64(n))
	}
	best, bestOverlap := -1, 0
	for i, m := range g.Members {
		overlap := 0
		for _, p := range mine {
			if slices.Contains(m.Partitions, p) {
				overlap++
			}
		}
		if overlap > bestOverlap {
			best, bestOverlap = i, overlap
		}
	}
	switch {
	case best >= 0:
		return float64(len(g.Members[best].Partitions)) / float64(total)
	case len(mine) > 0:
		return min(current, 1/float64(n+1))
	}
	return 1 / float64(n)
}
