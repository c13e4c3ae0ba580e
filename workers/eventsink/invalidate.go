package eventsink

import (
	"encoding/json"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers/receipts"
)

// invalidation returns the registry record that marks the delivery's
// token dead when receipt e, as the receipts worker published it (before
// enrichment), says the vendor called the token invalid, came through the
// delivery's channel and names the delivery's token (see
// receipts.InvalidatesToken), and rec, the delivery it names, says whose
// token that is. It is the record the sender publishes for the same answer from
// a vendor's send API, so fan-out stops planning deliveries to the token;
// the registry ignores it once the device has reported another token. A
// replayed receipt publishes the same record again, which changes nothing.
func (r *resolver) invalidation(e schema.Event, rec store.DeliveryRecord) (pipeline.Output, bool) {
	if !receipts.InvalidatesToken(e.Event, e.Channel, e.StatusCode, e.Token, rec.Channel, rec.Token) || rec.DeviceID == "" || rec.AppID == "" {
		if receipts.TokenInvalid(e.Event, e.Channel, e.StatusCode) {
			r.outcomes.WithLabelValues(outcomeMismatch).Inc()
		}
		return pipeline.Output{}, false
	}
	inv := schema.Binding{Op: schema.OpInvalidate, Region: r.region, AppID: rec.AppID, DeviceID: rec.DeviceID,
		Vendor: rec.Channel, VendorToken: rec.Token, TS: e.TS}
	b, err := json.Marshal(inv)
	if err != nil {
		// A struct of strings always encodes; nothing to invalidate if not.
		return pipeline.Output{}, false
	}
	return pipeline.Output{Topic: pipeline.BindingsTopic(r.region), Key: []byte(inv.KafkaKey()), Value: b}, true
}
