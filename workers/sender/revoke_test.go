package sender

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels/vendorsim"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// TestRevokedDeliveriesAreNotSent checks that a delivery of a revoked push
// ends `revoked` without reaching the vendor, while the others of the same
// batch are sent and their acked events carry the vendor's message id.
func TestRevokedDeliveriesAreNotSent(t *testing.T) {
	h, sim := newSender(t, time.Now())
	revoke := schema.Control{Op: schema.ControlRevoke, Region: "sg", AppID: appID, MsgID: "m-d1", TS: time.Now().UnixMilli()}
	h.cfg.Revoked = func(d *schema.Delivery) (schema.Control, bool) { return revoke, revoke.Matches(d) }
	exp := time.Now().Add(time.Hour).UnixMilli()
	res, err := h.HandleBatch(context.Background(), []kafka.Message{delivery("d1", "r1", "mipush", exp), delivery("d2", "r2", "mipush", exp)})
	if err != nil {
		t.Fatal(err)
	}
	got := outcomes(t, res)
	if !slices.Equal(got[0].events, []schema.EventType{schema.EventRevoked}) || got[0].status != schema.StatusNone {
		t.Errorf("revoked delivery: events %v status %d, want [revoked] with status NONE", got[0].events, got[0].status)
	}
	if !slices.Equal(got[1].events, []schema.EventType{schema.EventSent, schema.EventAcked}) {
		t.Errorf("other delivery: events %v, want [sent acked]", got[1].events)
	}
	var acked schema.Event
	for _, o := range res[1].Outputs {
		var e schema.Event
		if o.Topic == pipeline.EventsTopic("sg") && json.Unmarshal(o.Value, &e) == nil && e.Event == schema.EventAcked {
			acked = e
		}
	}
	if acked.VendorMsgID == "" {
		t.Errorf("acked event %+v has no vendor message id", acked)
	}
	a, _ := sim.AppCounts(vendorsim.VendorMiPush, "sg", appID)
	st := sim.Stats().Vendors[vendorsim.VendorMiPush].Regions["sg"].Apps[appID]
	if a.Messages != 1 || st.Tokens["r1"] != 0 || st.Tokens["r2"] != 1 {
		t.Errorf("the vendor got %d messages, tokens %v; want only r2", a.Messages, st.Tokens)
	}
}
