// Package retry is the stage that gives deliveries another attempt. The
// sender puts a delivery that failed transiently on the retry tier topic
// push.retry.<tier>.R whose delay covers its wait (see Output and
// pipeline.RetryTiers); one Handler per tier holds each record until it is
// due — its not-before time, or its expiry if that comes first — and then
// re-publishes it to push.deliveries.R with a `retried` event, or ends it
// with `expired` when the message validity ran out first, or with `failed`
// when the attempt cap is reached.
//
// Waiting happens on the retry tiers only: the deliveries topic never waits
// for a retry, and since a tier holds a batch at most its own delay, a
// delivery due in a second never waits behind one due in an hour.
package retry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// DefaultMaxAttempts is the default of Config.MaxAttempts.
const DefaultMaxAttempts = 20

// Config is what the retry handler of one tier needs.
type Config struct {
	// Region is the region served. Required.
	Region string
	// Tier is the delay tier served, one of pipeline.RetryTiers; the
	// handler reads push.retry.<tier>.R and holds a batch at most this
	// long. Required.
	Tier time.Duration
	// MaxAttempts caps the re-attempts of a delivery: attempt numbers
	// count re-sends (the first send is attempt 0), and a delivery whose
	// next attempt number exceeds MaxAttempts ends failed instead of being
	// re-sent, so the vendor is called at most MaxAttempts+1 times for it.
	// 0 means DefaultMaxAttempts.
	MaxAttempts int
	// Now is the clock; nil means time.Now. Sleep waits d or until ctx
	// ends, returning an error then; nil means pipeline.Sleep, which also
	// returns as soon as the stage is asked to stop.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// Revoked tells whether a delivery's push was revoked; a waiting
	// delivery of a revoked push ends `revoked` instead of being re-sent
	// (checked on arrival and again when due), unless it is an SMS, which
	// is never revoked. nil: nothing is revoked.
	Revoked workers.RevokedFunc
	// SMSResend decides the SMS held for smsStrategy 1 once the push's
	// validity ended (see SMSResendConfig). nil: such an SMS, when due,
	// ends failed saying that nothing could check whether the push
	// arrived.
	SMSResend *SMSResendConfig
}

// Validate says what to fix in c; zero values with a documented default
// are valid.
func (c Config) Validate() error {
	if !schema.ValidRegion(c.Region) {
		return fmt.Errorf("retry: region %q is not one of %v", c.Region, schema.Regions())
	}
	if !pipeline.ValidRetryTier(c.Tier) {
		return fmt.Errorf("retry: tier %s is not one of the retry tiers %v", c.Tier, pipeline.RetryTiers())
	}
	if c.MaxAttempts < 0 {
		return fmt.Errorf("retry: MaxAttempts is %d: use 0 for the default (%d) or a positive cap", c.MaxAttempts, DefaultMaxAttempts)
	}
	if c.SMSResend != nil {
		return c.SMSResend.Validate()
	}
	return nil
}

// Handler is the pipeline.BatchHandler of one retry tier. It keeps no state
// between batches but the ids of the resend SMS it decided lately (see
// sms.go); the stage runtime calls it from one goroutine.
type Handler struct {
	cfg Config
	sms smsDecisions
}

// New returns the retry handler of one tier, or an error saying which
// setting of cfg to fix.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = pipeline.Sleep
	}
	return &Handler{cfg: cfg}, nil
}

// verdict is what becomes of one retry record.
type verdict int

const (
	wait    verdict = iota // not due yet
	resend                 // due: back to push.deliveries.R with `retried`
	expire                 // validity over: `expired`
	giveUp                 // attempt cap passed: `failed`
	reenter                // not due within this tier: onto the tier that fits
	revoke                 // its push was revoked: `revoked`
)

// decide judges d at now.
func (h *Handler) decide(d *schema.Delivery, now time.Time) verdict {
	ms := now.UnixMilli()
	if h.cfg.Revoked != nil && d.Revocable() {
		if _, revoked := h.cfg.Revoked(d); revoked {
			return revoke
		}
	}
	switch {
	case d.ExpireAt > 0 && ms >= d.ExpireAt:
		return expire
	case d.Attempt > h.cfg.MaxAttempts:
		return giveUp
	case ms >= d.NotBefore:
		return resend
	}
	return wait
}

// HandleBatch decides every record of the batch. Records past their
// validity or the attempt cap are decided at once; the others are held
// until the latest of them is due, but never longer than the tier's delay:
// a record not due by then (its wait is longer than the tier, as with a
// Retry-After beyond the largest tier) goes back onto the tier that fits
// its remaining wait, with no event and the same attempt number. A record
// that is not a delivery of the region is rejected (rejected event and
// DLQ). The outputs of the whole batch are produced together when it
// returns, and committed after that, so a crash re-delivers the batch and
// its events keep their deterministic ids.
//
// If ctx ends while holding, HandleBatch returns ctx's error wrapped and the
// batch stays uncommitted, to be handled again after restart.
func (h *Handler) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	results := make([]pipeline.Result, len(msgs))
	ds := make([]*schema.Delivery, len(msgs))
	verdicts := make([]verdict, len(msgs))
	start := h.cfg.Now()
	limit := start.Add(h.cfg.Tier).UnixMilli()
	var holdUntil int64
	for i, m := range msgs {
		d, err := h.decode(m)
		if err != nil {
			results[i].Reject = workers.Reject(&schema.ValidationError{Code: schema.CodeInvalidParam, Detail: err.Error()},
				schema.Event{Region: h.cfg.Region, AppID: d.AppID, TaskID: d.TaskID, MsgID: d.MsgID, DeviceID: d.DeviceID})
			continue
		}
		ds[i] = &d
		if verdicts[i] = h.decide(&d, start); verdicts[i] == wait {
			holdUntil = max(holdUntil, min(workers.RetryDueAt(d), limit))
		}
	}
	if hold := time.UnixMilli(holdUntil).Sub(start); hold > 0 {
		if err := h.cfg.Sleep(ctx, hold); err != nil {
			return nil, fmt.Errorf("holding %d retries of tier %s for %s until due: %w", len(msgs), pipeline.RetryTierName(h.cfg.Tier), hold, err)
		}
	}
	now := h.cfg.Now()
	var held []int // SMS due for their resend decision
	for i, d := range ds {
		if d == nil {
			continue
		}
		at := start
		if verdicts[i] == wait {
			at = now
			if verdicts[i] = h.decide(d, now); verdicts[i] == wait {
				verdicts[i] = reenter
			}
		}
		if verdicts[i] == resend && d.SMSResend != nil {
			if h.cfg.Tier == pipeline.RetryTiers()[0] {
				held = append(held, i)
				continue
			}
			// Decided on the smallest tier only, where every copy of it
			// meets the others in one partition (see sms.go).
			verdicts[i] = reenter
		}
		results[i].Outputs = h.outputs(d, verdicts[i], at)
	}
	if len(held) > 0 {
		if err := h.decideSMS(ctx, ds, held, results, now); err != nil {
			return nil, err
		}
	}
	return results, nil
}

// decode reads one retry record; the error says why it is not a delivery
// of the handler's region. The partial delivery is returned either way, for
// the rejected event.
func (h *Handler) decode(m kafka.Message) (schema.Delivery, error) {
	var d schema.Delivery
	if err := schema.DecodeDelivery(m.Value, &d); err != nil {
		return d, fmt.Errorf("decoding retry record: %w", err)
	}
	switch {
	case d.DeliveryID == "":
		return d, errors.New("retry record has no deliveryId")
	case d.Region != h.cfg.Region:
		return d, fmt.Errorf("delivery %s of region %q is not a delivery of region %s", d.DeliveryID, d.Region, h.cfg.Region)
	}
	return d, nil
}

// outputs are what verdict v on d at time at produces.
func (h *Handler) outputs(d *schema.Delivery, v verdict, at time.Time) []pipeline.Output {
	ts := at.UnixMilli()
	switch v {
	case revoke:
		c, _ := h.cfg.Revoked(d)
		return []pipeline.Output{workers.RevokedEvent(d, c, ts)}
	case expire:
		e := d.EventFor(schema.EventExpired, ts)
		e.StatusCode, e.StatusDesc = schema.StatusDeviceNotOnlineOrNoResponse, "DeviceNotOnlineOrNoResponse: message validity ended before a retry succeeded"
		return []pipeline.Output{workers.EventOutput(h.cfg.Region, e)}
	case giveUp:
		e := d.EventFor(schema.EventFailed, ts)
		e.StatusCode, e.StatusDesc = schema.StatusNone, fmt.Sprintf("NONE: gave up after %d attempts (at most %d retries)", d.Attempt, h.cfg.MaxAttempts)
		return []pipeline.Output{workers.EventOutput(h.cfg.Region, e)}
	case resend:
		e := d.EventFor(schema.EventRetried, ts)
		e.StatusDesc = fmt.Sprintf("attempt %d", d.Attempt)
		return []pipeline.Output{workers.EventOutput(h.cfg.Region, e), workers.DeliveryOutput(*d)}
	default: // reenter
		return []pipeline.Output{workers.RetryOutput(*d, at)}
	}
}
