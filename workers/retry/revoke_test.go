package retry

import (
	"context"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/schema"
)

// TestRevokedRetriesEndRevoked checks that a waiting delivery of a revoked
// push ends `revoked` (and is not re-sent), whether the revoke was known
// when the record arrived or came while the record was held.
func TestRevokedRetriesEndRevoked(t *testing.T) {
	for _, tc := range []struct {
		scenario  string
		revokeAt  time.Duration // from base; revoked once the clock reaches it
		wantSlept time.Duration
	}{
		{scenario: "revoked before the record arrived: revoked at once", revokeAt: 0},
		{scenario: "revoked while held: revoked when due", revokeAt: time.Second, wantSlept: 3 * time.Second},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			clk := &fakeClock{now: base}
			revoke := schema.Control{Op: schema.ControlRevoke, Region: "sg", AppID: "a", TaskID: "t1",
				TS: base.Add(tc.revokeAt).UnixMilli(), Reason: "wrong text"}
			h, err := New(Config{Region: "sg", Tier: 5 * time.Second, Now: clk.Now, Sleep: clk.Sleep,
				Revoked: func(d *schema.Delivery) (schema.Control, bool) {
					return revoke, !clk.now.Before(base.Add(tc.revokeAt)) && revoke.Matches(d)
				}})
			if err != nil {
				t.Fatal(err)
			}
			res, err := h.HandleBatch(context.Background(), []kafka.Message{rec("dev", 1, 3*time.Second, time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			if clk.slept != tc.wantSlept {
				t.Fatalf("held %s, want %s", clk.slept, tc.wantSlept)
			}
			o := outcomeOf(t, res[0])
			if o.redelivery != nil || o.reentered != "" {
				t.Fatalf("a revoked delivery was sent on: %+v", o)
			}
			if o.event == nil || o.event.Event != schema.EventRevoked || o.event.StatusCode != schema.StatusNone || o.event.DeliveryID != "d-dev" {
				t.Fatalf("event %+v, want revoked with status NONE for d-dev", o.event)
			}
		})
	}
}
