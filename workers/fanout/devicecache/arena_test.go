package devicecache

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/pushpipe/pushpipe/schema"
)

// TestLRURoundTrip holds entries and reads them back field for field,
// times in their own zones included.
func TestLRURoundTrip(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	at := time.Date(2026, 12, 7, 2, 3, 4, 567_891_000, time.UTC)
	for _, tc := range []struct {
		scenario string
		e        entry
	}{
		{"an unknown device", entry{}},
		{"a full row", entry{found: true, dev: schema.Device{AppID: "app", DeviceID: "dev-1", WorkspaceID: "ws", Platform: "android",
			Vendor: "mipush", VendorToken: "regid-é", SelfToken: "self", TokenValid: true, AppVersion: "1.2", Model: "M1",
			UserID: "u1", BoundAt: at, UnboundAt: at.Add(time.Hour).In(shanghai), UpdatedAt: at.Add(-time.Hour).In(time.Local),
			Alias: "al", AliasAt: time.Unix(-1, 5).UTC(), UserAccount: "acc", AccountAt: at}}},
		{"a row with zero times and an invalid token", entry{found: true, dev: schema.Device{AppID: "app", DeviceID: "dev-2", Platform: "ios"}}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			l := newLRU(10)
			if !l.Add("k", tc.e) {
				t.Fatal("not held")
			}
			got, ok := l.Get("k")
			if !ok || !reflect.DeepEqual(got, tc.e) {
				t.Fatalf("got %+v (held %v), want %+v", got, ok, tc.e)
			}
		})
	}
}

// TestLRUEvictsTheLeastRecentlyUsed bounds the entries, drops the least
// recently used first, forgets removed keys and keeps every held entry
// intact across the arena's compactions.
func TestLRUEvictsTheLeastRecentlyUsed(t *testing.T) {
	dev := func(i int) entry {
		return entry{found: true, dev: schema.Device{AppID: "app", DeviceID: fmt.Sprint("dev-", i), VendorToken: fmt.Sprintf("%0200d", i)}}
	}
	l := newLRU(3)
	for i := range 3 {
		l.Add(fmt.Sprint(i), dev(i))
	}
	l.Get("0") // 1 is now the least recently used
	l.Add("3", dev(3))
	for k, want := range map[string]bool{"0": true, "1": false, "2": true, "3": true} {
		if l.Contains(k) != want {
			t.Fatalf("holds %s: %v, want %v", k, !want, want)
		}
	}
	if !l.Remove("2") || l.Remove("2") || l.Len() != 2 {
		t.Fatalf("Remove: holds %d, want 2", l.Len())
	}
	if n := l.Resize(1); n != 1 || l.Contains("0") || !l.Contains("3") {
		t.Fatalf("Resize(1) dropped %d, holds 0 %v 3 %v; want 1 dropped, 3 held", n, l.Contains("0"), l.Contains("3"))
	}

	// Many replacements: the garbage is compacted and the arena stays
	// bounded by the live records.
	l = newLRU(1000)
	for round := range 50 {
		for i := range 1000 {
			e := dev(i)
			e.dev.Model = fmt.Sprint(round)
			l.Add(fmt.Sprint(i), e)
		}
	}
	for i := range 1000 {
		want := dev(i)
		want.dev.Model = "49"
		if got, ok := l.Get(fmt.Sprint(i)); !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("entry %d after compactions: %+v held %v, want %+v", i, got, ok, want)
		}
	}
	live := len(l.arena) - l.garbage
	if len(l.arena) > 2*live+minCompact {
		t.Fatalf("arena of %d bytes for %d live ones: not compacted", len(l.arena), live)
	}
}

// TestLRUHashCollision holds two keys whose hashes collide (forced): a
// look-up of one never returns the other's entry.
func TestLRUHashCollision(t *testing.T) {
	l := newLRU(10)
	l.Add("a", entry{found: true, dev: schema.Device{DeviceID: "a"}})
	i := l.index[l.hash("a")]
	delete(l.index, l.hash("a"))
	l.index[l.hash("b")] = i // "b" now hashes to "a"'s slot
	if e, ok := l.Get("b"); ok {
		t.Fatalf("b returned %+v, the entry of a", e)
	}
}
