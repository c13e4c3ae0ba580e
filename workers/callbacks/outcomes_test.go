package callbacks

import (
	"context"
	"errors"
	"testing"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// storedOutcomes is an outcome table holding the given outcomes.
type storedOutcomes struct {
	rows map[string]store.DeliveryOutcome
	err  error
}

func (s storedOutcomes) Lookup(_ context.Context, keys []store.DeliveryOutcome) (map[string]store.DeliveryOutcome, error) {
	if s.err != nil {
		return nil, s.err
	}
	out := map[string]store.DeliveryOutcome{}
	for _, k := range keys {
		if r, ok := s.rows[k.DeliveryID]; ok {
			out[k.DeliveryID] = r
		}
	}
	return out, nil
}

// TestSecondEndingsAreNotPosted posts batches holding endings of one
// delivery and checks which reach the receiver.
func TestSecondEndingsAreNotPosted(t *testing.T) {
	s := newTestSigner(t)
	rcv := newReceiver(t, s.PublicKeyPEM())
	url := rcv.srv.URL + "/cb"
	acked, expired := terminal(schema.EventAcked, url), terminal(schema.EventExpired, url)
	other := terminal(schema.EventFailed, url)
	other.DeviceID, other.DeliveryID, other.EventID = "dev-2", "d-2", "e-2"
	for _, tc := range []struct {
		scenario string
		stored   Outcomes
		batch    []any
		want     []bool // a callback_sent per record
		posts    int
	}{
		{"the stored outcome is posted again on a replay", storedOutcomes{rows: map[string]store.DeliveryOutcome{acked.DeliveryID: {EventID: acked.EventID}}},
			[]any{acked}, []bool{true}, 1},
		{"an ending other than the stored outcome is not posted", storedOutcomes{rows: map[string]store.DeliveryOutcome{acked.DeliveryID: {EventID: acked.EventID}}},
			[]any{expired, other}, []bool{false, true}, 1},
		{"no outcome stored yet: the first ending of the batch is posted", storedOutcomes{}, []any{acked, expired}, []bool{true, false}, 1},
		{"without a store only the batch is checked", nil, []any{expired, acked}, []bool{true, false}, 1},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			before, _, _ := rcv.received()
			cfg := fastConfig(s)
			cfg.Outcomes = tc.stored
			h, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			results, err := h.HandleBatch(context.Background(), records(t, tc.batch...))
			if err != nil {
				t.Fatal(err)
			}
			for i, ev := range sentEvents(t, results) {
				if (ev != nil) != tc.want[i] {
					t.Fatalf("record %d: callback_sent %v, want %t", i, ev, tc.want[i])
				}
			}
			if after, _, _ := rcv.received(); len(after)-len(before) != tc.posts {
				t.Fatalf("receiver got %d callbacks, want %d", len(after)-len(before), tc.posts)
			}
		})
	}

	t.Run("an unreadable outcome table fails the batch", func(t *testing.T) {
		cfg := fastConfig(s)
		cfg.Outcomes = storedOutcomes{err: errors.New("clickhouse unreachable")}
		h, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.HandleBatch(context.Background(), records(t, acked)); err == nil {
			t.Fatal("the batch succeeded without its outcomes")
		}
	})
}
