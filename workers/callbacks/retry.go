package callbacks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// Retry is a callback waiting for its next try: the record of the delay
// tier topics push.callbacks.retry.<tier>.R, keyed by the callback's host
// so that the retries of one host share a partition.
type Retry struct {
	// Event is the terminal event whose callback this is, as read from
	// push.events.R (its callbackUrl and token included).
	Event schema.Event `json:"event"`
	// Attempts counts the tries made, Posts those that sent a request
	// (the others found the host's breaker open or its slots taken).
	Attempts int `json:"attempts"`
	Posts    int `json:"posts"`
	// FirstAt is when the first try was made, NotBefore when the next one
	// is due (Unix milliseconds).
	FirstAt   int64 `json:"firstAt"`
	NotBefore int64 `json:"notBefore"`
	// LastStatus is the last HTTP status answered (0 if none), LastError
	// how the last try failed, in our words.
	LastStatus int    `json:"lastStatus,omitempty"`
	LastError  string `json:"lastError,omitempty"`
}

// retryOutput encodes r for the delay tier that covers wait, keyed by its
// callback host.
func retryOutput(region string, r Retry, wait time.Duration) pipeline.Output {
	b, err := json.Marshal(r)
	if err != nil {
		// Retry has only plain fields; Marshal cannot fail on it.
		panic(fmt.Sprintf("encoding callback retry: %v", err))
	}
	key := r.Event.CallbackURL
	if u, err := url.Parse(key); err == nil {
		key = hostKey(u)
	}
	return pipeline.Output{Topic: pipeline.CallbackRetryTopic(region, pipeline.CallbackRetryTierFor(wait)), Key: []byte(key), Value: b}
}

// TierHandler is the pipeline.BatchHandler of one delay tier,
// push.callbacks.retry.<tier>.R. It holds each batch until its records
// are due, at most the tier's delay, then tries each callback once more
// as Handler does: the callback ends (callback_sent) or goes to the tier
// of its next try, or, after MaxAttempts, ends as given up. A record not
// due within the tier goes back onto the tier that fits its remaining
// wait, unchanged. The stage runtime calls it from one goroutine; the
// tiers and the Handler they came from share the hosts' breakers and
// slots.
type TierHandler struct {
	h    *Handler
	tier time.Duration
}

// Tier returns the handler of a delay tier, one of
// pipeline.CallbackRetryTiers.
func (h *Handler) Tier(tier time.Duration) (*TierHandler, error) {
	for _, t := range pipeline.CallbackRetryTiers() {
		if t == tier {
			return &TierHandler{h: h, tier: tier}, nil
		}
	}
	return nil, fmt.Errorf("callbacks: tier %s is not one of the callback delay tiers %v", tier, pipeline.CallbackRetryTiers())
}

// HandleBatch holds the batch until its latest record is due (at most the
// tier's delay) and tries each due callback. A record that is not a
// callback retry of the region is rejected (rejected event and DLQ). If
// ctx ends first, or the stage stops while holding, it returns an error
// and the batch stays uncommitted, to be handled again.
func (t *TierHandler) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	cfg := t.h.cfg
	results := make([]pipeline.Result, len(msgs))
	rs := make([]*Retry, len(msgs))
	start := cfg.Now()
	limit := start.Add(t.tier).UnixMilli()
	var holdUntil int64
	for i, m := range msgs {
		r, err := t.decode(m)
		if err != nil {
			e := r.Event
			results[i].Reject = workers.Reject(err, schema.Event{Region: cfg.Region, AppID: e.AppID, TaskID: e.TaskID, MsgID: e.MsgID, DeviceID: e.DeviceID})
			continue
		}
		rs[i] = &r
		holdUntil = max(holdUntil, min(r.NotBefore, limit))
	}
	if hold := time.UnixMilli(holdUntil).Sub(start); hold > 0 {
		if err := cfg.Sleep(ctx, hold); err != nil {
			return nil, fmt.Errorf("holding %d callback retries of tier %s for %s until due: %w", len(msgs), pipeline.RetryTierName(t.tier), hold, err)
		}
	}
	now := cfg.Now()
	var jobs []job
	for i, r := range rs {
		switch {
		case r == nil:
		case r.NotBefore > now.UnixMilli():
			results[i].Outputs = []pipeline.Output{retryOutput(cfg.Region, *r, time.UnixMilli(r.NotBefore).Sub(now))}
		default:
			jobs = append(jobs, job{idx: i, r: *r})
		}
	}
	if err := t.h.run(ctx, jobs, results); err != nil {
		return nil, fmt.Errorf("retrying %d callbacks of tier %s in region %s: %w", len(jobs), pipeline.RetryTierName(t.tier), cfg.Region, err)
	}
	return results, nil
}

// decode reads one record; the error says why it is not a callback retry
// of the handler's region. The partial record is returned either way, for
// the rejected event.
func (t *TierHandler) decode(m kafka.Message) (Retry, error) {
	var r Retry
	if err := json.Unmarshal(m.Value, &r); err != nil {
		return r, fmt.Errorf("decoding callback retry record: %w", err)
	}
	switch e := r.Event; {
	case e.Region != t.h.cfg.Region:
		return r, fmt.Errorf("callback retry of region %q is not one of region %s", e.Region, t.h.cfg.Region)
	case !e.Event.Terminal() || e.CallbackURL == "" || e.DeliveryID == "":
		return r, errors.New("callback retry record holds no terminal event with a callbackUrl and a deliveryId")
	case r.Attempts < 1:
		return r, fmt.Errorf("callback retry record has %d attempts: it was never tried", r.Attempts)
	}
	return r, nil
}
