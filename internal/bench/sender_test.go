package bench

import (
	"context"
	"testing"
	"time"
)

// TestSendTimingSteadyRate checks the sender's pace: the deliveries
// accepted between the looks at a tenth and at nine tenths over the time
// between them (not the whole time, whose start and tail are not the
// sender's pace), and n over the whole when those looks are too close to
// measure a pace.
func TestSendTimingSteadyRate(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 19, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name string
		st   sendTiming
		want float64
	}{
		{"steady pace between the looks, a slow start and tail left out",
			sendTiming{n: 50_000, start: at(0), tenth: at(600), tenthN: 5_200, ninth: at(2_200), ninthN: 45_200, end: at(2_900)}, 25_000},
		{"looks that overshoot their marks count what they found",
			sendTiming{n: 10_000, start: at(0), tenth: at(100), tenthN: 2_000, ninth: at(1_100), ninthN: 10_000, end: at(1_100)}, 8_000},
		{"both marks at one look: n over the whole",
			sendTiming{n: 1_000, start: at(0), tenth: at(250), tenthN: 1_000, ninth: at(250), ninthN: 1_000, end: at(250)}, 4_000},
		{"a burst of calls between looks under steadyMinSpan apart: n over the whole",
			sendTiming{n: 50_000, start: at(0), tenth: at(400), tenthN: 5_000, ninth: at(451), ninthN: 45_000, end: at(625)}, 80_000},
		{"looks 0.9 s apart: n over the whole",
			sendTiming{n: 50_000, start: at(0), tenth: at(100), tenthN: 5_000, ninth: at(1_000), ninthN: 45_000, end: at(1_250)}, 40_000},
		{"no time at all", sendTiming{n: 10, start: at(0), tenth: at(0), ninth: at(0), end: at(0)}, 0},
	} {
		if got := tc.st.steadyRate(); got != tc.want {
			t.Errorf("%s: steadyRate() = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSettledCount checks that the count a sender figure starts from is
// taken once the simulator stopped counting earlier calls: a count still
// rising is waited for, and one that never stops fails.
func TestSettledCount(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reads   []int64 // successive counts; the last repeats
		want    int64
		wantErr bool
	}{
		{"already settled", []int64{7, 7}, 7, false},
		{"calls still landing", []int64{100, 64_100, 64_100}, 64_100, false},
		{"landing over several looks", []int64{1, 2, 3, 3}, 3, false},
		{"never settling", []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 50}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			count := func() int64 {
				v := tc.reads[min(i, len(tc.reads)-1)]
				i++
				return v
			}
			got, err := settledCount(t.Context(), count, time.Millisecond, 20*time.Millisecond)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("settledCount() = %d, %v; want %d (error %t)", got, err, tc.want, tc.wantErr)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := settledCount(ctx, func() int64 { return 1 }, time.Millisecond, time.Second); err == nil {
		t.Fatal("settledCount with an ended context returned no error")
	}
}
