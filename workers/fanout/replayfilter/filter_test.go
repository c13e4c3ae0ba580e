package replayfilter

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/store"
)

// fakeIndex is a delivery index of parts held in memory; it counts what
// it is asked.
type fakeIndex struct {
	mu       sync.Mutex
	parts    []store.IndexPart
	ids      map[string][]string // part name -> delivery ids
	block    int64
	existing [][]string // ids of each Existing call
	read     []string   // parts read by IDHashes, in order
	failRead error
	// beforeRead runs at the start of IDHashes (to merge parts away while
	// they are being read).
	beforeRead func()
}

func newFakeIndex() *fakeIndex { return &fakeIndex{ids: map[string][]string{}} }

// insert adds a part holding ids with the next block number.
func (x *fakeIndex) insert(ids ...string) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.block++
	name := fmt.Sprintf("all_%d_%d_0", x.block, x.block)
	x.parts = append(x.parts, store.IndexPart{Name: name, Partition: "all", MinBlock: x.block, MaxBlock: x.block, Rows: uint64(len(ids))})
	x.ids[name] = ids
	return name
}

// merge replaces every active part by one spanning their blocks.
func (x *fakeIndex) merge() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	lo, hi, level := x.parts[0].MinBlock, x.parts[0].MaxBlock, len(x.parts)
	var ids []string
	for _, p := range x.parts {
		lo, hi = min(lo, p.MinBlock), max(hi, p.MaxBlock)
		ids = append(ids, x.ids[p.Name]...)
	}
	name := fmt.Sprintf("all_%d_%d_%d", lo, hi, level)
	x.parts = []store.IndexPart{{Name: name, Partition: "all", MinBlock: lo, MaxBlock: hi, Rows: uint64(len(ids))}}
	x.ids[name] = ids
	return name
}

func (x *fakeIndex) Parts(context.Context) ([]store.IndexPart, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.parts), nil
}

func (x *fakeIndex) IDHashes(_ context.Context, parts []string, fn func(uint64)) error {
	if x.beforeRead != nil {
		x.beforeRead()
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.failRead != nil {
		return x.failRead
	}
	for _, name := range parts {
		if !slices.ContainsFunc(x.parts, func(p store.IndexPart) bool { return p.Name == name }) {
			continue // no longer active
		}
		x.read = append(x.read, name)
		for _, id := range x.ids[name] {
			fn(Hash(id))
		}
	}
	return nil
}

func (x *fakeIndex) Existing(_ context.Context, _ string, ids []string) (map[string]bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.existing = append(x.existing, slices.Clone(ids))
	out := map[string]bool{}
	for _, p := range x.parts {
		for _, id := range x.ids[p.Name] {
			if slices.Contains(ids, id) {
				out[id] = true
			}
		}
	}
	return out, nil
}

// asked returns the ids Existing was asked about since the last call.
func (x *fakeIndex) asked() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []string
	for _, c := range x.existing {
		out = append(out, c...)
	}
	x.existing = nil
	sort.Strings(out)
	return out
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newFilter(t *testing.T, x *fakeIndex, capacity int) (*Filter, *clock) {
	t.Helper()
	c := &clock{now: time.Unix(1_800_000_000, 0)}
	f, err := New(Config{Index: x, Capacity: capacity, FalsePositiveRate: 1e-6, Refresh: time.Second, MaxStaleness: 5 * time.Second,
		Logger: zerolog.Nop(), Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

// seen asks f about ids and returns the ids it answered as fanned out.
func seen(t *testing.T, f *Filter, ids ...string) []string {
	t.Helper()
	got, err := f.Seen(context.Background(), "app", ids)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for id, ok := range got {
		if ok {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// TestFilterAsksClickHouseOnlyAboutMaybes drives the filter's refreshes by
// hand against an index in memory and checks, at each step, which ids the
// replay check answers as fanned out and which it asked the index about:
// before the filter is built every id is asked; once built an indexed id
// is still asked (and answered true) while a fresh one causes no query;
// rows inserted later, ids added by this replica, merges, parts merged
// away while being read, failures and staleness.
func TestFilterAsksClickHouseOnlyAboutMaybes(t *testing.T) {
	ctx := context.Background()
	type step struct {
		do        func(x *fakeIndex, f *Filter, c *clock)
		ask       []string
		wantSeen  []string
		wantAsked []string
		wantRead  []string // parts read by this step's refresh
	}
	tick := func(_ *fakeIndex, f *Filter, _ *clock) { f.tick(ctx, true) }
	for _, tc := range []struct {
		scenario string
		steps    []step
	}{
		{"not built: every id asked", []step{
			{do: func(x *fakeIndex, _ *Filter, _ *clock) { x.insert("a", "b") }, ask: []string{"a", "z"}, wantSeen: []string{"a"}, wantAsked: []string{"a", "z"}},
		}},
		{"built: indexed ids asked, fresh ones not", []step{
			{do: func(x *fakeIndex, f *Filter, c *clock) { x.insert("a", "b"); x.insert("c"); tick(x, f, c) },
				ask: []string{"a", "c", "y", "z"}, wantSeen: []string{"a", "c"}, wantAsked: []string{"a", "c"},
				wantRead: []string{"all_1_1_0", "all_2_2_0"}},
			{ask: []string{"y", "z"}},
		}},
		{"rows inserted after the build are read at the next refresh", []step{
			{do: tick},
			{do: func(x *fakeIndex, f *Filter, c *clock) { x.insert("n") }, ask: []string{"n"}}, // not read yet: the window documented
			{do: func(x *fakeIndex, f *Filter, c *clock) { c.add(time.Second); tick(x, f, c) }, ask: []string{"n", "m"},
				wantSeen: []string{"n"}, wantAsked: []string{"n"}, wantRead: []string{"all_1_1_0"}},
		}},
		{"ids this replica fanned out are asked before they are indexed", []step{
			{do: func(x *fakeIndex, f *Filter, c *clock) { tick(x, f, c); f.Add([]string{"mine"}) },
				ask: []string{"mine", "other"}, wantAsked: []string{"mine"}},
		}},
		{"a merge of parts read is not read again; one with a new part is", []step{
			{do: func(x *fakeIndex, f *Filter, c *clock) { x.insert("a"); x.insert("b"); tick(x, f, c) }, wantRead: []string{"all_1_1_0", "all_2_2_0"}},
			{do: func(x *fakeIndex, f *Filter, c *clock) { x.merge(); tick(x, f, c); tick(x, f, c) }},
			{do: func(x *fakeIndex, f *Filter, c *clock) {
				x.insert("c")
				tick(x, f, c)
				x.insert("d")
				x.merge()
				tick(x, f, c)
				tick(x, f, c)
			},
				ask: []string{"a", "b", "c", "d", "e"}, wantSeen: []string{"a", "b", "c", "d"}, wantAsked: []string{"a", "b", "c", "d"},
				wantRead: []string{"all_3_3_0", "all_1_4_3"}},
		}},
		{"a part merged away while read is read as part of its merge", []step{
			{do: func(x *fakeIndex, f *Filter, c *clock) {
				tick(x, f, c)
				x.insert("a")
				x.insert("b")
				x.beforeRead = func() { x.beforeRead = nil; x.merge() }
				c.add(time.Second)
				tick(x, f, c) // listed all_1_1_0 and all_2_2_0, read neither: merged away
			}, ask: []string{"a", "b"}},
			{do: func(x *fakeIndex, f *Filter, c *clock) { c.add(time.Second); tick(x, f, c) }, ask: []string{"a", "b"},
				wantSeen: []string{"a", "b"}, wantAsked: []string{"a", "b"}, wantRead: []string{"all_1_2_2"}},
		}},
		{"stale after failed reads: every id asked until a read succeeds", []step{
			{do: func(x *fakeIndex, f *Filter, c *clock) {
				tick(x, f, c)
				x.insert("a")
				x.failRead = errors.New("ClickHouse is down")
				for range 6 {
					c.add(time.Second)
					tick(x, f, c)
				}
			}, ask: []string{"a", "z"}, wantSeen: []string{"a"}, wantAsked: []string{"a", "z"}},
			{do: func(x *fakeIndex, f *Filter, c *clock) { x.failRead = nil; tick(x, f, c) }, ask: []string{"a", "z"},
				wantSeen: []string{"a"}, wantAsked: []string{"a"}, wantRead: []string{"all_1_1_0"}},
		}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			x := newFakeIndex()
			f, c := newFilter(t, x, 1000)
			for i, s := range tc.steps {
				x.mu.Lock()
				x.read = nil
				x.mu.Unlock()
				if s.do != nil {
					s.do(x, f, c)
				}
				x.asked()
				if got := seen(t, f, s.ask...); fmt.Sprint(got) != fmt.Sprint(s.wantSeen) {
					t.Errorf("step %d: seen %v, want %v", i, got, s.wantSeen)
				}
				if got := x.asked(); fmt.Sprint(got) != fmt.Sprint(s.wantAsked) {
					t.Errorf("step %d: asked ClickHouse about %v, want %v", i, got, s.wantAsked)
				}
				x.mu.Lock()
				read := x.read
				x.mu.Unlock()
				if fmt.Sprint(read) != fmt.Sprint(s.wantRead) {
					t.Errorf("step %d: read parts %v, want %v", i, read, s.wantRead)
				}
			}
		})
	}
}

// TestFilterRebuildsWhenFull: a filter sized below the index is rebuilt,
// sized for twice the index's rows, without losing an id.
func TestFilterRebuildsWhenFull(t *testing.T) {
	ctx := context.Background()
	x := newFakeIndex()
	f, c := newFilter(t, x, 100)
	f.tick(ctx, true)
	var ids []string
	for i := range 1000 {
		ids = append(ids, fmt.Sprint("id-", i))
	}
	x.insert(ids...)
	for range 3 {
		c.add(time.Second)
		f.tick(ctx, true)
	}
	f.mu.RLock()
	capacity := f.cur.capacity
	f.mu.RUnlock()
	if capacity != 2000 {
		t.Fatalf("capacity %d after the index outgrew 100, want 2000", capacity)
	}
	x.asked()
	if got := seen(t, f, ids...); len(got) != len(ids) {
		t.Fatalf("%d of %d indexed ids seen", len(got), len(ids))
	}
	var fresh []string
	for i := range 1000 {
		fresh = append(fresh, fmt.Sprint("fresh-", i))
	}
	x.asked()
	if got := seen(t, f, fresh...); len(got) != 0 || len(x.asked()) > 10 {
		t.Fatalf("fresh ids: seen %v; the rebuilt filter still answers maybe for most", got)
	}
}

// TestFilterStartAndClose builds the filter in the background and stops
// it; Close is idempotent.
func TestFilterStartAndClose(t *testing.T) {
	x := newFakeIndex()
	x.insert("a")
	f, err := New(Config{Index: x, Capacity: 100, FalsePositiveRate: 0.01, Refresh: 10 * time.Millisecond, MaxStaleness: time.Minute, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for f.ready() == nil {
		if time.Now().After(deadline) {
			t.Fatal("the filter was not built")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := seen(t, f, "a"); fmt.Sprint(got) != "[a]" {
		t.Fatalf("seen %v after Close, want [a]", got)
	}
}

// TestConfigValidate names what to fix.
func TestConfigValidate(t *testing.T) {
	ok := Config{Index: newFakeIndex(), Capacity: 1, FalsePositiveRate: 0.01, Refresh: time.Second, MaxStaleness: time.Second}
	for _, tc := range []struct {
		scenario string
		change   func(*Config)
		want     string
	}{
		{"valid", func(*Config) {}, ""},
		{"no index", func(c *Config) { c.Index = nil }, "Index is required"},
		{"no capacity", func(c *Config) { c.Capacity = 0 }, "capacity must be at least 1"},
		{"rate 0", func(c *Config) { c.FalsePositiveRate = 0 }, "false-positive rate must be between 0 and 1"},
		{"no refresh", func(c *Config) { c.Refresh = 0 }, "refresh must be positive"},
		{"staleness below refresh", func(c *Config) { c.MaxStaleness = time.Millisecond }, "must be at least refresh"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			c := ok
			tc.change(&c)
			err := c.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
