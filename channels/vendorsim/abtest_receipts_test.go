package vendorsim

import (
	"fmt"
	"testing"
)

// TestOpenRatesByTitle: a message whose title contains a rule's text is
// opened at the rule's rate, the first matching rule winning; others at
// OpenRate; a config with an empty text or a rate outside 0..1 is refused.
func TestOpenRatesByTitle(t *testing.T) {
	c := ReceiptsConfig{ArrivalRate: 1, OpenRate: 0, OpenRatesByTitle: []TitleOpenRate{{"[B]", 1}, {"[", 0.5}}}
	for _, tc := range []struct {
		title    string
		min, max int
	}{{"Sale [B]", 1000, 1000}, {"Sale [A]", 400, 600}, {"Sale", 0, 0}, {"", 0, 0}} {
		opened := 0
		for i := range 1000 {
			if c.FateOfTitle(7, fmt.Sprint("corr-", i), "tok", tc.title).Opened {
				opened++
			}
		}
		if opened < tc.min || opened > tc.max {
			t.Errorf("title %q: %d of 1000 opened, want %d..%d", tc.title, opened, tc.min, tc.max)
		}
	}
	for _, bad := range []TitleOpenRate{{"", 0.5}, {"x", 1.5}} {
		c := ReceiptsConfig{OpenRatesByTitle: []TitleOpenRate{bad}}.withDefaults()
		if errs := c.validate(); len(errs) == 0 {
			t.Errorf("rule %+v accepted", bad)
		}
	}
}
