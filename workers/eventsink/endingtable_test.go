package eventsink

import (
	"math/rand/v2"
	"testing"
)

// TestEndingTableAgreesWithAMap runs random puts, overwrites, gets and
// deletes on an endingTable and on a Go map side by side, with few keys
// in a small table (long probe runs that wrap around its end) and many in
// one that grows to its largest size, and checks that every key reads the
// same from both and that the lengths agree.
func TestEndingTableAgreesWithAMap(t *testing.T) {
	for _, tc := range []struct {
		name      string
		capacity  int
		keys      int
		ops       int
		clustered bool
	}{
		{"small table, keys cluster and wrap", 900, 900, 20000, true},
		{"grows to its largest size", 50000, 50000, 300000, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			tab, ref := newEndingTable(tc.capacity), map[uint64]remembered{}
			keys := make([]uint64, tc.keys)
			for i := range keys {
				// Clustered: keys near the top and bottom of the range
				// put their home slots at the table's two ends.
				switch {
				case !tc.clustered || i%3 == 0:
					keys[i] = rng.Uint64() | 1
				case i%3 == 1:
					keys[i] = ^uint64(0) - uint64(i)*2
				default:
					keys[i] = uint64(i)*2 + 1
				}
			}
			for range tc.ops {
				k := keys[rng.IntN(len(keys))]
				switch op := rng.IntN(10); {
				case op < 6:
					if len(ref) < tc.capacity {
						v := remembered(rng.Uint64())
						tab.put(k, v)
						ref[k] = v
					}
				case op < 8:
					tab.delete(k)
					delete(ref, k)
				default:
					got, ok := tab.get(k)
					want, wantOK := ref[k]
					if got != want || ok != wantOK {
						t.Fatalf("key %x reads %x, %v; want %x, %v", k, got, ok, want, wantOK)
					}
				}
			}
			if tab.len() != len(ref) {
				t.Fatalf("table holds %d keys, want %d", tab.len(), len(ref))
			}
			for _, k := range keys {
				got, ok := tab.get(k)
				want, wantOK := ref[k]
				if got != want || ok != wantOK {
					t.Fatalf("key %x reads %x, %v; want %x, %v", k, got, ok, want, wantOK)
				}
			}
		})
	}
}
