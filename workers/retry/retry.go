// Package retry is the stage that gives deliveries another attempt: it
// reads push.retry.R, holds each record until its not-before time, and
// re-publishes it to push.deliveries.R with a `retried` event, or ends it
// with `expired` when the message validity ran out first, or `failed` when
// the attempt cap is reached. Waiting happens on the retry topic only; the
// deliveries topic never waits for a retry.
package retry

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// DefaultMaxAttempts caps the attempts of one delivery.
const DefaultMaxAttempts = 20

// Config is what the retry handler needs.
type Config struct {
	Region string
	// MaxAttempts ends a delivery as failed once its attempt number
	// exceeds it (default DefaultMaxAttempts).
	MaxAttempts int
	// Now is the clock; nil means time.Now. Sleep waits d or until ctx
	// ends; nil means a timer.
	Now    func() time.Time
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger zerolog.Logger
}

// Handler is the retry pipeline.BatchHandler.
type Handler struct{ cfg Config }

// New returns a retry handler.
func New(cfg Config) (*Handler, error) {
	if !schema.ValidRegion(cfg.Region) {
		return nil, fmt.Errorf("retry: region %q is not one of %v", cfg.Region, schema.Regions())
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	return &Handler{cfg: cfg}, nil
}

// HandleBatch waits until every record of the batch is due (never past a
// record's expiry), then decides each. If ctx ends while waiting, the batch
// fails uncommitted and is handled again after restart.
func (h *Handler) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	results := make([]pipeline.Result, len(msgs))
	ds := make([]*schema.Delivery, len(msgs))
	var due int64
	for i, m := range msgs {
		var d schema.Delivery
		if err := json.Unmarshal(m.Value, &d); err != nil || d.DeliveryID == "" || d.Region != h.cfg.Region {
			if err == nil {
				err = fmt.Errorf("record is not a delivery of region %s", h.cfg.Region)
			}
			results[i].Reject = workers.Reject(&schema.ValidationError{Code: schema.CodeInvalidParam, Detail: err.Error()},
				schema.Event{Region: h.cfg.Region, AppID: d.AppID, TaskID: d.TaskID, MsgID: d.MsgID, DeviceID: d.DeviceID})
			continue
		}
		ds[i] = &d
		due = max(due, min(d.NotBefore, d.ExpireAt))
	}
	if wait := time.UnixMilli(due).Sub(h.cfg.Now()); wait > 0 {
		if err := h.cfg.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("waiting %s for retries to be due: %w", wait, err)
		}
	}
	now := h.cfg.Now()
	for i, d := range ds {
		if d == nil {
			continue
		}
		switch {
		case d.ExpireAt > 0 && now.UnixMilli() >= d.ExpireAt:
			e := d.EventFor(schema.EventExpired, now.UnixMilli())
			e.StatusCode, e.StatusDesc = schema.StatusDeviceNotOnlineOrNoResponse, "DeviceNotOnlineOrNoResponse: message validity ended before a retry succeeded"
			results[i].Outputs = []pipeline.Output{workers.EventOutput(h.cfg.Region, e)}
		case d.Attempt > h.cfg.MaxAttempts:
			e := d.EventFor(schema.EventFailed, now.UnixMilli())
			e.StatusCode, e.StatusDesc = schema.StatusNone, fmt.Sprintf("NONE: gave up after %d attempts", d.Attempt)
			results[i].Outputs = []pipeline.Output{workers.EventOutput(h.cfg.Region, e)}
		default:
			e := d.EventFor(schema.EventRetried, now.UnixMilli())
			e.StatusDesc = fmt.Sprintf("attempt %d", d.Attempt)
			results[i].Outputs = []pipeline.Output{workers.EventOutput(h.cfg.Region, e), workers.DeliveryOutput(*d)}
		}
	}
	return results, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
