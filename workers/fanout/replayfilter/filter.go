// Package replayfilter keeps, in the fanout process, an approximate set of
// the region's indexed delivery ids (a bloom filter of their xxHash64), so
// that fanout's replay check asks ClickHouse only about the ids the filter
// says may have been fanned out before: a fresh id, the common case, costs
// no query.
//
// The filter is built from the delivery index's active data parts and kept
// current by reading, every Refresh, the parts it has not read yet (every
// insert makes a part with a new block number; a merge of parts already
// read is recognised by its block range and not read again). A filter that
// could not be refreshed for MaxStaleness is not used: every id goes to
// ClickHouse again until it is.
package replayfilter

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/store"
)

// Index is the delivery index the filter is built from and answers with
// (*store.DeliveryIndex is one). Its methods are called from
// several goroutines at once.
type Index interface {
	// Parts lists the index table's active data parts.
	Parts(ctx context.Context) ([]store.IndexPart, error)
	// IDHashes calls fn with the xxHash64 of the delivery id of every row
	// of the named parts (one streaming query); a part no longer active
	// contributes no rows.
	IDHashes(ctx context.Context, parts []string, fn func(uint64)) error
	// Existing returns which of ids of app appID are in the index.
	Existing(ctx context.Context, appID string, ids []string) (map[string]bool, error)
}

// Config sizes a Filter.
type Config struct {
	Index Index
	// Capacity is the number of delivery ids the filter is sized for (the
	// index's rows within its TTL); a filter holding more is rebuilt, with
	// room for twice the index's rows when those exceed Capacity.
	Capacity int
	// FalsePositiveRate is the share of fresh ids the filter sends to
	// ClickHouse anyway, while it holds at most Capacity ids.
	FalsePositiveRate float64
	// Refresh is how often the parts inserted since the last read are read.
	Refresh time.Duration
	// MaxStaleness: the filter answers only while its last complete read
	// of the index started at most this long ago; else every id goes to
	// ClickHouse. At least Refresh.
	MaxStaleness time.Duration
	Logger       zerolog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate says what to fix.
func (c Config) Validate() error {
	switch {
	case c.Index == nil:
		return errors.New("replay filter: Index is required")
	case c.Capacity < 1:
		return fmt.Errorf("replay filter: capacity must be at least 1, got %d", c.Capacity)
	case !(c.FalsePositiveRate > 0 && c.FalsePositiveRate < 1):
		return fmt.Errorf("replay filter: false-positive rate must be between 0 and 1 exclusive, got %v", c.FalsePositiveRate)
	case c.Refresh <= 0:
		return fmt.Errorf("replay filter: refresh must be positive, got %v", c.Refresh)
	case c.MaxStaleness < c.Refresh:
		return fmt.Errorf("replay filter: maxStaleness (%v) must be at least refresh (%v)", c.MaxStaleness, c.Refresh)
	}
	return nil
}

// Filter answers fanout's replay check (Seen) through a bloom filter of
// the index's delivery ids, asking Index.Existing only about the ids the
// filter may hold. Until Start built it, and while it is stale, every id
// is asked about. Its methods are safe for concurrent use.
type Filter struct {
	cfg Config
	// mu orders Add against the swap of generations: an id added while a
	// new generation is being built lands in both.
	mu       sync.RWMutex
	cur      *generation // answers Seen; nil until built
	next     *generation // being built; nil when none
	stale    atomic.Bool // cur was found stale (logged once per change)
	skipped  atomic.Int64
	asked    atomic.Int64
	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
}

// generation is one bloom filter and what of the index it has read. Only
// the refresh goroutine reads or writes covered.
type generation struct {
	bloom    *Bloom
	capacity int
	covered  map[string][]span // partition -> disjoint sorted block ranges read
	asOf     atomic.Int64      // Unix ns of the start of a listing all of whose parts were read; 0: none yet
	started  time.Time
}

type span struct{ lo, hi int64 }

// New returns a filter that is not built yet (Seen asks about every id).
func New(cfg Config) (*Filter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Filter{cfg: cfg}, nil
}

// Hash is the 64-bit hash the filter holds of a delivery id: xxHash64
// with seed 0, ClickHouse's xxHash64(delivery_id).
func Hash(deliveryID string) uint64 { return xxhash.Sum64String(deliveryID) }

// Start builds the filter in the background and keeps it current until
// Close; it returns at once. A failed read is logged and retried at the
// next Refresh; it never stops the filter. Start is called at most once.
func (f *Filter) Start(ctx context.Context) {
	ctx, f.cancel = context.WithCancel(ctx)
	f.done = make(chan struct{})
	go f.run(ctx)
}

// Close stops the refresh and waits for it; later Seen calls ask about
// every id not in the filter as before. Idempotent.
func (f *Filter) Close() error {
	f.stopOnce.Do(func() {
		if f.cancel != nil {
			f.cancel()
			<-f.done
		}
	})
	return nil
}

// Seen reports which of ids of app appID were fanned out (are in the
// index): the ids the filter rules out are answered false without a
// query, the others by Index.Existing. Its error is Existing's.
func (f *Filter) Seen(ctx context.Context, appID string, ids []string) (map[string]bool, error) {
	g := f.ready()
	if g == nil {
		f.asked.Add(int64(len(ids)))
		return f.cfg.Index.Existing(ctx, appID, ids)
	}
	var maybe []string
	for _, id := range ids {
		if g.bloom.Has(Hash(id)) {
			maybe = append(maybe, id)
		}
	}
	f.asked.Add(int64(len(maybe)))
	f.skipped.Add(int64(len(ids) - len(maybe)))
	if len(maybe) == 0 {
		return map[string]bool{}, nil
	}
	return f.cfg.Index.Existing(ctx, appID, maybe)
}

// Counts returns how many ids Seen answered from the filter alone and how
// many it asked Index.Existing about.
func (f *Filter) Counts() (skipped, asked int64) { return f.skipped.Load(), f.asked.Load() }

// Ready reports whether the filter is built and current, i.e. answers
// Seen without asking about every id.
func (f *Filter) Ready() bool { return f.ready() != nil }

// ready returns the generation that may answer, or nil when none is built
// or it is stale.
func (f *Filter) ready() *generation {
	f.mu.RLock()
	g := f.cur
	f.mu.RUnlock()
	if g == nil {
		return nil
	}
	age := f.cfg.Now().Sub(time.Unix(0, g.asOf.Load()))
	stale := age > f.cfg.MaxStaleness
	if f.stale.Swap(stale) != stale {
		if stale {
			f.cfg.Logger.Warn().Dur("age", age).Dur("maxStaleness", f.cfg.MaxStaleness).
				Msg("replay filter is stale: every delivery id is checked in ClickHouse until it is refreshed")
		} else {
			f.cfg.Logger.Info().Msg("replay filter is current again")
		}
	}
	if stale {
		return nil
	}
	return g
}

// Add records delivery ids this replica fanned out, so that a replay of
// them is checked in ClickHouse before the index has them. Adding an id
// that is never indexed costs only a query later.
func (f *Filter) Add(ids []string) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	for _, g := range []*generation{f.cur, f.next} {
		if g == nil {
			continue
		}
		for _, id := range ids {
			g.bloom.Add(Hash(id))
		}
	}
}

// estimateEvery is how many refreshes pass between two checks of how full
// the filter is (a pass over its bits).
const estimateEvery = 10

func (f *Filter) run(ctx context.Context) {
	defer close(f.done)
	t := time.NewTicker(f.cfg.Refresh)
	defer t.Stop()
	for n := 0; ; n++ {
		f.tick(ctx, n%estimateEvery == 0)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tick reads what the current generation has not read yet, and builds a
// new generation when there is none or the current one is full.
func (f *Filter) tick(ctx context.Context, estimate bool) {
	f.mu.RLock()
	cur, next := f.cur, f.next
	f.mu.RUnlock()
	if cur != nil {
		if err := f.step(ctx, cur); err != nil && ctx.Err() == nil {
			f.cfg.Logger.Warn().Err(err).Msg("refreshing the replay filter (retried at the next refresh)")
		}
	}
	if next == nil {
		held := 0
		if cur != nil {
			if !estimate {
				return
			}
			if held = cur.bloom.Estimate(); held <= cur.capacity {
				return
			}
		}
		g, err := f.generation(ctx, cur, held)
		if err != nil {
			if ctx.Err() == nil {
				f.cfg.Logger.Warn().Err(err).Msg("starting to build the replay filter (retried at the next refresh)")
			}
			return
		}
		f.mu.Lock()
		f.next, next = g, g
		f.mu.Unlock()
	}
	if err := f.step(ctx, next); err != nil {
		if ctx.Err() == nil {
			f.cfg.Logger.Warn().Err(err).Msg("building the replay filter (retried at the next refresh)")
		}
		return
	}
	if next.asOf.Load() == 0 {
		return
	}
	f.mu.Lock()
	f.cur, f.next = next, nil
	f.mu.Unlock()
	ev := f.cfg.Logger.Info()
	if cur != nil {
		ev = f.cfg.Logger.Warn().Int("heldByPrevious", cur.bloom.Estimate())
	}
	ev.Int("capacity", next.capacity).Float64("falsePositiveRate", f.cfg.FalsePositiveRate).Int64("bytes", next.bloom.Bytes()).
		Int("ids", next.bloom.Estimate()).Dur("took", f.cfg.Now().Sub(next.started)).Bool("rebuilt", cur != nil).
		Msg("replay filter built: fresh delivery ids are no longer checked in ClickHouse")
}

// generation lists the index's parts and returns an empty generation
// sized for them: Capacity, or twice the index's rows when more.
func (f *Filter) generation(ctx context.Context, cur *generation, held int) (*generation, error) {
	at := f.cfg.Now()
	parts, err := f.cfg.Index.Parts(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing the delivery index's parts: %w", err)
	}
	var rows uint64
	for _, p := range parts {
		rows += p.Rows
	}
	capacity := f.cfg.Capacity
	if rows > uint64(capacity) {
		capacity = int(2 * rows)
		f.cfg.Logger.Warn().Uint64("rows", rows).Int("capacity", f.cfg.Capacity).Int("sizedFor", capacity).
			Int64("bytes", BloomBytes(capacity, f.cfg.FalsePositiveRate)).
			Msg("the delivery index holds more ids than fanout.replayFilter.capacity: the replay filter is sized for twice as many; raise the capacity")
	} else if cur != nil {
		f.cfg.Logger.Warn().Int("held", held).Int("capacity", cur.capacity).
			Msg("the replay filter is full: building a new one from the delivery index")
	}
	return &generation{bloom: NewBloom(capacity, f.cfg.FalsePositiveRate), capacity: capacity, covered: map[string][]span{}, started: at}, nil
}

// step lists the index's parts, reads those g has not read, and lists
// them again: the parts read that are still active are marked read (a
// part merged away while it was read is read later as part of its merge).
// When every part of the first listing is read, g holds every id indexed
// before that listing started, and asOf moves to it.
func (f *Filter) step(ctx context.Context, g *generation) error {
	at := f.cfg.Now()
	parts, err := f.cfg.Index.Parts(ctx)
	if err != nil {
		return fmt.Errorf("listing the delivery index's parts: %w", err)
	}
	var unread []store.IndexPart
	var names []string
	for _, p := range parts {
		if !g.isCovered(p) {
			unread = append(unread, p)
			names = append(names, p.Name)
		}
	}
	if len(names) > 0 {
		if err := f.cfg.Index.IDHashes(ctx, names, g.bloom.Add); err != nil {
			return fmt.Errorf("reading %d parts of the delivery index: %w", len(names), err)
		}
		after, err := f.cfg.Index.Parts(ctx)
		if err != nil {
			return fmt.Errorf("listing the delivery index's parts: %w", err)
		}
		active := make(map[string]bool, len(after))
		for _, p := range after {
			active[p.Name] = true
		}
		all := true
		for _, p := range unread {
			if active[p.Name] {
				g.cover(p)
			} else {
				all = false // merged away before it was read: read with its merge next time
			}
		}
		if !all {
			return nil
		}
	}
	g.asOf.Store(at.UnixNano())
	return nil
}

// isCovered reports whether every block of p was read.
func (g *generation) isCovered(p store.IndexPart) bool {
	spans := g.covered[p.Partition]
	i := sort.Search(len(spans), func(i int) bool { return spans[i].hi >= p.MaxBlock })
	return i < len(spans) && spans[i].lo <= p.MinBlock
}

// cover records p's blocks as read, merging adjacent ranges.
func (g *generation) cover(p store.IndexPart) {
	spans := append(g.covered[p.Partition], span{p.MinBlock, p.MaxBlock})
	sort.Slice(spans, func(i, j int) bool { return spans[i].lo < spans[j].lo })
	out := spans[:1]
	for _, s := range spans[1:] {
		last := &out[len(out)-1]
		if s.lo <= last.hi+1 {
			last.hi = max(last.hi, s.hi)
			continue
		}
		out = append(out, s)
	}
	g.covered[p.Partition] = out
}
