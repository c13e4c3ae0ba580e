package replayfilter

import (
	"fmt"
	"sync"
	"testing"
)

// TestBloomHasEveryAddedHashAndFewOthers fills filters to their capacity
// with hashes of delivery-id-like strings: every added hash is "maybe"
// (no false negatives), the share of never-added hashes answered "maybe"
// is near the configured rate, and the estimate of what was added is
// near the count.
func TestBloomHasEveryAddedHashAndFewOthers(t *testing.T) {
	for _, tc := range []struct {
		capacity int
		fp       float64
	}{
		{100_000, 0.01},
		{100_000, 0.001},
		{20_000, 0.05},
	} {
		t.Run(fmt.Sprintf("%d ids at %v", tc.capacity, tc.fp), func(t *testing.T) {
			b := NewBloom(tc.capacity, tc.fp)
			for i := range tc.capacity {
				b.Add(Hash(fmt.Sprintf("added-%d", i)))
			}
			for i := range tc.capacity {
				if !b.Has(Hash(fmt.Sprintf("added-%d", i))) {
					t.Fatalf("added id %d is not in the filter", i)
				}
			}
			const probes = 200_000
			fps := 0
			for i := range probes {
				if b.Has(Hash(fmt.Sprintf("fresh-%d", i))) {
					fps++
				}
			}
			rate := float64(fps) / probes
			if rate < tc.fp/2 || rate > tc.fp*1.5 {
				t.Errorf("false-positive rate %.5f, configured %v", rate, tc.fp)
			}
			if est := b.Estimate(); est < tc.capacity*95/100 || est > tc.capacity*105/100 {
				t.Errorf("estimate %d ids, %d added", est, tc.capacity)
			}
			if got, want := b.Bytes(), BloomBytes(tc.capacity, tc.fp); got != want {
				t.Errorf("Bytes %d, BloomBytes %d", got, want)
			}
			t.Logf("%d ids at %v: %d bytes (%.2f bits an id), %d probes, false-positive rate %.5f", tc.capacity, tc.fp, b.Bytes(),
				float64(b.Bytes()*8)/float64(tc.capacity), b.k, rate)
		})
	}
}

// TestBloomConcurrentAdds adds hashes from several goroutines at once
// while others ask: none of the added hashes is lost.
func TestBloomConcurrentAdds(t *testing.T) {
	b := NewBloom(40_000, 0.01)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range 10_000 {
				b.Add(Hash(fmt.Sprintf("%d-%d", g, i)))
			}
		}()
		go func() {
			defer wg.Done()
			for i := range 10_000 {
				_ = b.Has(Hash(fmt.Sprintf("%d-%d", g, i)))
			}
		}()
	}
	wg.Wait()
	for g := range 4 {
		for i := range 10_000 {
			if !b.Has(Hash(fmt.Sprintf("%d-%d", g, i))) {
				t.Fatalf("hash %d-%d added concurrently is lost", g, i)
			}
		}
	}
}
