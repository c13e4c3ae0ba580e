package callbacks

import (
	"context"
	"fmt"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// Outcomes reads the outcome the event sink stored for each delivery
// (delivery_outcomes); *store.Outcomes is the ClickHouse one. Lookup
// returns only after ClickHouse answered and must be safe for concurrent
// use.
type Outcomes interface {
	// Lookup returns the stored outcome of each delivery (named by msg id
	// and delivery id) that has one, keyed by delivery id.
	Lookup(ctx context.Context, keys []store.DeliveryOutcome) (map[string]store.DeliveryOutcome, error)
}

// superseded reports, index-aligned with evs (terminal events), which of
// them end a delivery that already ended another way: its stored outcome
// has another event id, or an earlier event of evs ended it. A nil outcomes
// checks evs alone. An error means the store could not be read.
func superseded(ctx context.Context, outcomes Outcomes, evs []schema.Event) ([]bool, error) {
	stored := map[string]store.DeliveryOutcome{}
	if outcomes != nil && len(evs) > 0 {
		keys := make([]store.DeliveryOutcome, 0, len(evs))
		for _, e := range evs {
			keys = append(keys, store.DeliveryOutcome{MsgID: e.MsgID, DeliveryID: e.DeliveryID})
		}
		var err error
		if stored, err = outcomes.Lookup(ctx, keys); err != nil {
			return nil, fmt.Errorf("reading the outcomes of %d deliveries: %w", len(keys), err)
		}
	}
	out := make([]bool, len(evs))
	first := map[string]string{} // delivery id → event id of its ending in evs
	for i, e := range evs {
		won, ok := stored[e.DeliveryID]
		if !ok {
			if id, seen := first[e.DeliveryID]; seen {
				won = store.DeliveryOutcome{EventID: id}
			} else {
				first[e.DeliveryID] = e.EventID
				continue
			}
		}
		out[i] = won.EventID != e.EventID
	}
	return out, nil
}
