package vendorsim

import (
	"fmt"
	"testing"
)

func TestRecallBookForgetsTheOldestMessagesFirst(t *testing.T) {
	b := newRecallBook()
	for i := range MaxRecallableDeliveries + 1 {
		b.add(recallKey{VendorSelf, "sg", "app-1", fmt.Sprintf("m%d", i)}, "tok")
	}
	if b.pairs != MaxRecallableDeliveries {
		t.Errorf("%d pairs remembered, want %d", b.pairs, MaxRecallableDeliveries)
	}
	tests := []struct {
		scenario string
		id       string
		want     int
	}{
		{"the oldest message is forgotten", "m0", 0},
		{"the next one is kept", "m1", 1},
		{"the newest one is kept", fmt.Sprintf("m%d", MaxRecallableDeliveries), 1},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			if got := b.recallLocked(VendorSelf, "sg", "app-1", tc.id, nil); len(got) != tc.want {
				t.Errorf("recall of %s confirmed %v, want %d tokens", tc.id, got, tc.want)
			}
		})
	}
}
