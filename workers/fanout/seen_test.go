package fanout

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/fanout/replayfilter"
)

// gatedDevices is memDevices whose Lookup (devices by id) waits until the
// replay check was asked something, or fails after a while.
type gatedDevices struct {
	memDevices
	asked <-chan struct{}
}

func (g gatedDevices) Lookup(ctx context.Context, app string, ids []string) (map[string]schema.Device, error) {
	select {
	case <-g.asked:
		return g.memDevices.Lookup(ctx, app, ids)
	case <-time.After(10 * time.Second):
		return nil, errors.New("the replay check was not asked while devices were looked up")
	}
}

// TestReplayCheckOfDeviceIDsOverlapsTheLookup checks that the replay check
// of pushes to device ids runs while the batch's devices are looked up
// (the lookup here waits for it), that every delivery is still checked
// exactly once, and that deliveries already fanned out are skipped.
func TestReplayCheckOfDeviceIDsOverlapsTheLookup(t *testing.T) {
	key := testinfra.IDKey()
	for _, tc := range []struct {
		scenario string
		reqs     []kafka.Message
		seen     []string // delivery ids (msg/device) fanned out before
		gated    bool     // Lookup waits for the replay check
		want     []string // msg/device of the deliveries, sorted
	}{
		{
			scenario: "device ids: checked during the lookup, replayed one skipped",
			reqs:     []kafka.Message{request(func(r map[string]any) { r["targetMsgkey"] = map[string]string{"a1": "m1", "a2": "m2"} })},
			seen:     []string{"m1/a1"}, gated: true,
			want: []string{"m2/a2"},
		},
		{
			scenario: "user ids: checked after the lookup",
			reqs: []kafka.Message{request(func(r map[string]any) {
				r["deliverType"], r["targetMsgkey"] = schema.DeliverUser, map[string]string{"u1": "m1"}
			})},
			seen: []string{"m1/a2"},
			want: []string{"m1/a1"},
		},
		{
			scenario: "a batch of both: each delivery checked once",
			reqs: []kafka.Message{
				request(func(r map[string]any) { r["targetMsgkey"] = map[string]string{"a1": "m1", "i1": "m3"} }),
				request(func(r map[string]any) {
					r["taskId"], r["deliverType"], r["targetMsgkey"] = "t2", schema.DeliverUser, map[string]string{"u1": "m2"}
				}),
			},
			seen: []string{"m3/i1", "m2/a1"}, gated: true,
			want: []string{"m1/a1", "m2/a2"},
		},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			stored := map[string]bool{}
			for _, s := range tc.seen {
				var msg, dev string
				if _, err := fmt.Sscanf(s, "%2s/%2s", &msg, &dev); err != nil {
					t.Fatal(err)
				}
				stored[key.DeliveryID("app", msg, dev)] = true
			}
			var mu sync.Mutex
			askedIDs := map[string]int{}
			asked := make(chan struct{})
			var once sync.Once
			seen := func(_ context.Context, _ string, ids []string) (map[string]bool, error) {
				once.Do(func() { close(asked) })
				mu.Lock()
				defer mu.Unlock()
				out := map[string]bool{}
				for _, id := range ids {
					askedIDs[id]++
					if stored[id] {
						out[id] = true
					}
				}
				return out, nil
			}
			var devs Devices = devices()
			if tc.gated {
				devs = gatedDevices{memDevices: devices(), asked: asked}
			}
			h, err := New(Config{Region: "sg", IDKey: key, Devices: devs, Templates: memTemplates{}, Seen: seen,
				Emit: func(context.Context, []pipeline.Output) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			res, err := h.HandleBatch(context.Background(), tc.reqs)
			if err != nil {
				t.Fatal(err)
			}
			if got := delivered(t, res); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("deliveries %v, want %v", got, tc.want)
			}
			for _, r := range res {
				for _, d := range summarize(t, r.Outputs).deliveries {
					if n := askedIDs[d.DeliveryID]; n != 1 {
						t.Errorf("delivery %s/%s was checked %d times, want once", d.MsgID, d.DeviceID, n)
					}
				}
			}
			for id := range stored {
				if askedIDs[id] != 1 {
					t.Errorf("stored delivery %s was checked %d times, want once", id, askedIDs[id])
				}
			}
		})
	}
}

// delivered returns the msg/device pairs the results deliver to, sorted;
// a rejection fails the test.
func delivered(t *testing.T, res []pipeline.Result) []string {
	t.Helper()
	var got []string
	for _, r := range res {
		if r.Reject != nil {
			t.Fatalf("unexpected rejection %+v", r.Reject)
		}
		for _, d := range summarize(t, r.Outputs).deliveries {
			got = append(got, d.MsgID+"/"+d.DeviceID)
		}
	}
	sort.Strings(got)
	return got
}

// filterIndex is a delivery index of one part in memory that counts the
// replay-check queries it is asked.
type filterIndex struct {
	mu      sync.Mutex
	ids     []string
	queries [][]string
}

func (x *filterIndex) Parts(context.Context) ([]store.IndexPart, error) {
	return []store.IndexPart{{Name: "all_1_1_0", Partition: "all", MinBlock: 1, MaxBlock: 1, Rows: uint64(len(x.ids))}}, nil
}

func (x *filterIndex) IDHashes(_ context.Context, _ []string, fn func(uint64)) error {
	for _, id := range x.ids {
		fn(replayfilter.Hash(id))
	}
	return nil
}

func (x *filterIndex) Existing(_ context.Context, _ string, ids []string) (map[string]bool, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.queries = append(x.queries, ids)
	out := map[string]bool{}
	for _, id := range ids {
		if slices.Contains(x.ids, id) {
			out[id] = true
		}
	}
	return out, nil
}

func (x *filterIndex) take() [][]string {
	x.mu.Lock()
	defer x.mu.Unlock()
	q := x.queries
	x.queries = nil
	return q
}

// TestReplayFilterSkipsQueriesForFreshDeliveries runs fanout's replay
// check through a built replayfilter.Filter: an indexed delivery is still
// asked about and skipped, a fresh one is delivered without a query, and
// a delivery this fanout made is asked about when its request is replayed.
func TestReplayFilterSkipsQueriesForFreshDeliveries(t *testing.T) {
	key := testinfra.IDKey()
	x := &filterIndex{ids: []string{key.DeliveryID("app", "m1", "a1")}}
	f, err := replayfilter.New(replayfilter.Config{Index: x, Capacity: 1000, FalsePositiveRate: 1e-6, Refresh: 10 * time.Millisecond,
		MaxStaleness: time.Minute, Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	f.Start(context.Background())
	defer func() { _ = f.Close() }()
	for deadline := time.Now().Add(10 * time.Second); !f.Ready(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the replay filter was not built")
		}
	}
	h, err := New(Config{Region: "sg", IDKey: key, Devices: devices(), Templates: memTemplates{}, Seen: f.Seen, Fanned: f.Add,
		Emit: func(context.Context, []pipeline.Output) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	id := func(msg, dev string) string { return key.DeliveryID("app", msg, dev) }
	for _, tc := range []struct {
		scenario string
		targets  map[string]string // device id -> msg id
		want     []string          // msg/device delivered, sorted
		queries  [][]string        // ids each replay-check query asked about
	}{
		{"an indexed delivery is asked about and skipped, a fresh one is not asked",
			map[string]string{"a1": "m1", "a2": "m2"}, []string{"m2/a2"}, [][]string{{id("m1", "a1")}}},
		{"fresh deliveries only: no query", map[string]string{"a3": "m3"}, []string{"m3/a3"}, nil},
		{"a replay of what this fanout made is asked about (not indexed yet: delivered again, as without the filter)",
			map[string]string{"a3": "m3"}, []string{"m3/a3"}, [][]string{{id("m3", "a3")}}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			res, err := h.HandleBatch(context.Background(), []kafka.Message{request(func(r map[string]any) { r["targetMsgkey"] = tc.targets })})
			if err != nil {
				t.Fatal(err)
			}
			if got := delivered(t, res); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("deliveries %v, want %v", got, tc.want)
			}
			if q := x.take(); fmt.Sprint(q) != fmt.Sprint(tc.queries) {
				t.Errorf("replay-check queries %v, want %v", q, tc.queries)
			}
		})
	}
}
