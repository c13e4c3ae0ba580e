package channels_test

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pushpipe/pushpipe/channels"
)

func TestWorkersRunEveryFunctionOnce(t *testing.T) {
	w := channels.NewWorkers()
	for _, n := range []int{1, 10, 1000} {
		var ran atomic.Int64
		var wg sync.WaitGroup
		seen := make([]atomic.Int32, n)
		for i := range n {
			wg.Add(1)
			w.Go(func() {
				defer wg.Done()
				seen[i].Add(1)
				ran.Add(1)
			})
		}
		wg.Wait()
		if ran.Load() != int64(n) {
			t.Fatalf("%d functions ran, want %d", ran.Load(), n)
		}
		for i := range seen {
			if seen[i].Load() != 1 {
				t.Fatalf("function %d of %d ran %d times, want once", i, n, seen[i].Load())
			}
		}
	}
}
