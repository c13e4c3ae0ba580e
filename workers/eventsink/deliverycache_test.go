package eventsink

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/internal/testinfra"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

func cacheRecord(n int) store.DeliveryRecord {
	app, msg, dev := "app-c", fmt.Sprintf("msg-%d", n/10), fmt.Sprintf("dev-%d", n)
	return store.DeliveryRecord{DeliveryID: testinfra.IDKey().DeliveryID(app, msg, dev), AppID: app, WorkspaceID: "ws", TaskID: "task-c",
		MsgID: msg, PushType: schema.PushBroadcast, Target: dev, DeviceID: dev, Platform: "android", Channel: "mipush",
		Token: fmt.Sprintf("regid-%d", n), AppVersion: "2.0", Model: "Redmi", TS: 1700000000000 + int64(n/10)}
}

// TestDeliveryCacheAnswersExactly: a remembered delivery comes back whole
// (its token only to a caller that names it); ids that share the first 64
// bits, other apps, other msgs and other tokens are not answered.
func TestDeliveryCacheAnswersExactly(t *testing.T) {
	c := newDeliveryCache(100)
	rec := cacheRecord(1)
	rec.Target = "user-1" // a target other than the device
	c.put(rec)

	for _, tc := range []struct {
		name, id, token string
		want            bool
		wantToken       string
	}{
		{"by id with its token", rec.DeliveryID, rec.Token, true, rec.Token},
		{"by id without a token", rec.DeliveryID, "", true, ""},
		{"by id with another token", rec.DeliveryID, "regid-other", true, ""},
		{"another id sharing the first 64 bits", rec.DeliveryID[:17] + "00000000", "", false, ""},
		{"not a delivery id", "msg-1", "", false, ""},
		{"an unknown id", cacheRecord(2).DeliveryID, "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.id == rec.DeliveryID[:17]+"00000000" && tc.id == rec.DeliveryID {
				t.Skip("the id happens to end in zeros")
			}
			got, ok := c.get(tc.id, tc.token)
			if ok != tc.want {
				t.Fatalf("get(%s) ok = %t, want %t", tc.id, ok, tc.want)
			}
			if !ok {
				return
			}
			want := rec
			want.Token = tc.wantToken
			if got != want {
				t.Fatalf("get(%s) = %+v, want %+v", tc.id, got, want)
			}
		})
	}

	for _, tc := range []struct {
		name string
		k    store.MsgToken
		want string
	}{
		{"its app, msg and token", store.MsgToken{AppID: rec.AppID, MsgID: rec.MsgID, Token: rec.Token}, rec.DeliveryID},
		{"another app", store.MsgToken{AppID: "app-other", MsgID: rec.MsgID, Token: rec.Token}, ""},
		{"no app", store.MsgToken{MsgID: rec.MsgID, Token: rec.Token}, ""},
		{"another msg", store.MsgToken{AppID: rec.AppID, MsgID: "msg-9", Token: rec.Token}, ""},
		{"another token", store.MsgToken{AppID: rec.AppID, MsgID: rec.MsgID, Token: "regid-2"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := c.byToken(tc.k)
			if ok != (tc.want != "") || got != tc.want {
				t.Fatalf("byToken(%+v) = %q, %t; want %q", tc.k, got, ok, tc.want)
			}
		})
	}
}

// TestDeliveryCacheIsBounded: the cache keeps at most its capacity, the
// most recent deliveries, and the requests' shared parts once per
// generation.
func TestDeliveryCacheIsBounded(t *testing.T) {
	c := newDeliveryCache(1000)
	for n := range 5000 {
		c.put(cacheRecord(n))
	}
	if n := c.cur.n + c.old.n; n > 1000 {
		t.Fatalf("the cache holds %d deliveries, more than its capacity 1000", n)
	}
	if n := len(c.cur.shared); n > 1000/2/10+1 {
		t.Fatalf("the newer generation holds %d shared parts for %d deliveries of 10 per msg", n, c.cur.n)
	}
	for _, n := range []int{4999, 4600} {
		if _, ok := c.get(cacheRecord(n).DeliveryID, ""); !ok {
			t.Fatalf("recent delivery %d is forgotten", n)
		}
	}
	if _, ok := c.get(cacheRecord(0).DeliveryID, ""); ok {
		t.Fatal("the oldest delivery is still remembered")
	}
}

// countingIndex is an in-memory DeliveryIndex that counts look-ups.
type countingIndex struct {
	mu      sync.Mutex
	rows    map[string]store.DeliveryRecord
	lookups int
}

func (x *countingIndex) Insert(_ context.Context, rows []store.DeliveryRecord) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, r := range rows {
		x.rows[r.DeliveryID] = r
	}
	return nil
}

func (x *countingIndex) Lookup(_ context.Context, ids []string) (map[string]store.DeliveryRecord, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.lookups += len(ids)
	out := map[string]store.DeliveryRecord{}
	for _, id := range ids {
		if r, ok := x.rows[id]; ok {
			out[id] = r
		}
	}
	return out, nil
}

func (x *countingIndex) LookupTokens(_ context.Context, pairs []store.MsgToken) (map[store.MsgToken]string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.lookups += len(pairs)
	out := map[store.MsgToken]string{}
	for _, p := range pairs {
		for _, r := range x.rows {
			if r.MsgID == p.MsgID && r.Token == p.Token && (p.AppID == "" || p.AppID == r.AppID) {
				out[p] = r.DeliveryID
			}
		}
	}
	return out, nil
}

// TestReceiptsOfDeliveriesTheSinkReadNeedNoLookup: receipts naming a
// delivery id or a (msg id, token) of a delivery whose valid event the
// sink read in an earlier batch are resolved from its cache; a sink that
// did not read it (a restart) looks it up, with the same result.
func TestReceiptsOfDeliveriesTheSinkReadNeedNoLookup(t *testing.T) {
	idx := &countingIndex{rows: map[string]store.DeliveryRecord{}}
	var mu sync.Mutex
	var stored []schema.Event
	newSink := func(t *testing.T) *Handler {
		h, err := New(Config{Region: "sg",
			Insert: func(_ context.Context, evs []schema.Event) error {
				mu.Lock()
				defer mu.Unlock()
				stored = append(stored, evs...)
				return nil
			},
			Resolve: ResolveConfig{Index: idx}})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	d := schema.Delivery{DeliveryID: testinfra.IDKey().DeliveryID("app-r", "msg-1", "dev-1"), MsgID: "msg-1", TaskID: "task-r", AppID: "app-r",
		WorkspaceID: "ws", Region: "sg", PushType: schema.PushSimple, Target: "dev-1", DeviceID: "dev-1", Platform: "android",
		Channel: "mipush", Token: "regid-1", AppVersion: "1.0", Model: "Redmi"}
	byID := receipt(schema.EventArrived, d.DeliveryID, "", "", 2000)
	byToken := receipt(schema.EventOpened, "", d.MsgID, d.Token, 3000)
	handle := func(t *testing.T, h *Handler, evs ...schema.Event) []schema.Event {
		t.Helper()
		mu.Lock()
		stored = nil
		mu.Unlock()
		msgs := make([]kafka.Message, len(evs))
		for i, e := range evs {
			msgs[i] = record(t, e)
		}
		if _, err := h.HandleBatch(context.Background(), msgs); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		defer mu.Unlock()
		return stored
	}

	h := newSink(t)
	handle(t, h, d.EventFor(schema.EventValid, 1000))
	fromCache := handle(t, h, byID, byToken)
	if idx.lookups != 0 {
		t.Fatalf("the sink looked %d deliveries up though it read their valid event", idx.lookups)
	}
	restarted := newSink(t)
	fromIndex := handle(t, restarted, byID, byToken)
	if idx.lookups == 0 {
		t.Fatal("a restarted sink resolved receipts without looking their delivery up")
	}
	if len(fromCache) != 2 || len(fromIndex) != 2 {
		t.Fatalf("stored %d events from the cache and %d from the index, want 2 each", len(fromCache), len(fromIndex))
	}
	for i := range fromCache {
		c, x := fromCache[i], fromIndex[i]
		if c.AppID != "app-r" || c.DeviceID != "dev-1" || c.DeliveryID != d.DeliveryID || c.LatencyMs == 0 {
			t.Fatalf("event %d resolved from the cache: %+v", i, c)
		}
		if c != x {
			t.Fatalf("event %d resolved differently:\ncache %+v\nindex %+v", i, c, x)
		}
	}
}
