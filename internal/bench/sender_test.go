package bench

import (
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
