package retry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// The resend SMS (smsStrategy 1). Fan-out puts the SMS supplement of such
// a push on the retry tiers with its not-before time at the end of the
// push's validity and schema.Delivery.SMSResend naming the user's push
// deliveries. When it is due it is decided, on the smallest tier only:
//   - already decided (a copy, from a request published again): nothing;
//   - one of the push deliveries arrived: it ends `filtered`, status 100,
//     saying which delivery arrived;
//   - the push was revoked: it ends `filtered`, saying when;
//   - else it is sent: a `valid` event and the delivery, without
//     SMSResend, on push.deliveries.R, where the sender treats it like any
//     delivery.
//
// Nothing is sent twice and nothing is lost: every copy of a held SMS has
// the same delivery id and Kafka key, and a due copy on any other tier
// goes back onto the smallest one, so all copies meet in one partition of
// push.retry.1s.R, whose batches one stage handles in order. A copy in the
// same batch or in the batch before (whose outputs may still be on their
// way to Kafka) is recognised by its id (smsDecisions); an older decision is found in
// ClickHouse (the `valid` or `filtered` event of the SMS), after the event
// sink has stored every event written until the decision, arrivals
// included. A held SMS is kept on Kafka until decided; if the decision
// cannot be made (the event sink lags, ClickHouse is down) the batch is
// handled again later.

// SMSResendConfig is what the retry worker needs to decide resend SMS.
// Both functions are required and safe for concurrent use.
type SMSResendConfig struct {
	// Settled returns once every event written to push.events.R before it
	// was called is in ClickHouse (the event sink has caught up).
	Settled func(ctx context.Context) error
	// Events returns which of steps are stored for each of the delivery
	// ids of an app's tasks and messages (store.DeliveryEvents).
	Events func(ctx context.Context, appID string, taskIDs, msgIDs, deliveryIDs []string, steps []schema.EventType) (map[string]map[schema.EventType]bool, error)
}

// smsDecisions remembers the resend SMS the handler decided in its last
// two batches that decided any, by delivery id: a batch's outputs are
// produced while the next batch is handled, so a copy in that next batch
// may not find the decision in ClickHouse yet; from the batch after, it
// does. A batch that fails changes nothing. Safe for concurrent use.
type smsDecisions struct {
	mu        sync.Mutex
	prev, cur map[string]bool
}

// decided reports whether id was decided in one of the last two batches.
func (s *smsDecisions) decided(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.prev[id] || s.cur[id]
}

// remember records the decisions of a batch that was decided whole.
func (s *smsDecisions) remember(ids []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := make(map[string]bool, len(ids))
	for _, id := range ids {
		cur[id] = true
	}
	s.prev, s.cur = s.cur, cur
}

// decideSMS fills the results of the due resend SMS ds[held] (see the
// top of this file). It returns an error, leaving the batch to be handled
// again, when the event sink or ClickHouse cannot be read.
func (h *Handler) decideSMS(ctx context.Context, ds []*schema.Delivery, held []int, results []pipeline.Result, now time.Time) error {
	cfg := h.cfg.SMSResend
	ts := now.UnixMilli()
	if cfg == nil {
		for _, i := range held {
			e := ds[i].EventFor(schema.EventFailed, ts)
			e.StatusCode, e.StatusDesc = schema.StatusNone, "NONE: SMS not sent: this retry worker has no event store to check whether the push arrived"
			results[i].Outputs = []pipeline.Output{workers.EventOutput(h.cfg.Region, e)}
		}
		return nil
	}
	byApp := map[string][]int{}
	var apps []string
	inBatch := map[string]bool{}
	for _, i := range held {
		d := ds[i]
		if inBatch[d.DeliveryID] || h.sms.decided(d.DeliveryID) {
			continue // a copy of one decided in this batch or one of the two before
		}
		inBatch[d.DeliveryID] = true
		if _, ok := byApp[d.AppID]; !ok {
			apps = append(apps, d.AppID)
		}
		byApp[d.AppID] = append(byApp[d.AppID], i)
	}
	if len(apps) == 0 {
		return nil
	}
	if err := cfg.Settled(ctx); err != nil {
		return fmt.Errorf("waiting for the event sink before deciding %d resend SMS: %w", len(inBatch), err)
	}
	var decided []string
	for _, app := range apps {
		var tasks, msgs, ids []string
		for _, i := range byApp[app] {
			d := ds[i]
			tasks, msgs = appendNew(tasks, d.TaskID), appendNew(msgs, d.MsgID)
			ids = append(append(ids, d.DeliveryID), d.SMSResend.PushDeliveries...)
		}
		facts, err := cfg.Events(ctx, app, tasks, msgs, ids, []schema.EventType{schema.EventValid, schema.EventFiltered, schema.EventArrived})
		if err != nil {
			return fmt.Errorf("reading the arrivals of the pushes of %d resend SMS of app %s: %w", len(byApp[app]), app, err)
		}
		for _, i := range byApp[app] {
			d := ds[i]
			decided = append(decided, d.DeliveryID)
			if f := facts[d.DeliveryID]; f[schema.EventValid] || f[schema.EventFiltered] {
				continue // decided before this batch
			}
			results[i].Outputs = h.smsVerdict(d, facts, ts)
		}
	}
	// Remembered only once the whole batch is decided: a batch that fails
	// is handled again, and its SMS must be decided then.
	h.sms.remember(decided)
	return nil
}

// smsVerdict is what a resend SMS not decided before becomes: filtered
// when a push delivery arrived or the push was revoked, else sent.
func (h *Handler) smsVerdict(d *schema.Delivery, facts map[string]map[schema.EventType]bool, ts int64) []pipeline.Output {
	filtered := func(why string) []pipeline.Output {
		e := d.EventFor(schema.EventFiltered, ts)
		e.StatusCode, e.StatusDesc = int64(schema.CodeSuccess), "filtered: SMS not sent: "+why
		return []pipeline.Output{workers.EventOutput(h.cfg.Region, e)}
	}
	for _, p := range d.SMSResend.PushDeliveries {
		if facts[p][schema.EventArrived] {
			return filtered("push delivery " + p + " arrived within the push's validity")
		}
	}
	if h.cfg.Revoked != nil {
		if c, revoked := h.cfg.Revoked(d); revoked {
			return filtered("the push was revoked at " + time.UnixMilli(c.TS).UTC().Format(time.RFC3339))
		}
	}
	sent := *d
	sent.SMSResend, sent.NotBefore = nil, 0
	e := sent.EventFor(schema.EventValid, ts)
	e.StatusDesc = fmt.Sprintf("no push delivery of the message arrived within its validity (%d checked)", len(d.SMSResend.PushDeliveries))
	return []pipeline.Output{workers.EventOutput(h.cfg.Region, e), workers.DeliveryOutput(sent)}
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// Validate says what is missing in c.
func (c SMSResendConfig) Validate() error {
	if c.Settled == nil || c.Events == nil {
		return errors.New("retry: SMSResendConfig needs Settled (the event sink's catch-up) and Events (store.DeliveryEvents)")
	}
	return nil
}
