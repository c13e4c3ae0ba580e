// Package recall is the stage that carries out revokes for what was
// already sent: it reads push.control.R (consumer group
// pushpipe.recall.R), and for each revoke asks the vendors to withdraw the
// deliveries they had accepted (acked), through each vendor's recall API,
// recording a `recalled` event per delivery. Deliveries not yet sent are
// not its concern: the sender and the retry worker end those `revoked`.
// SMS supplements are never recalled: their `recalled` event says that an
// SMS that was sent cannot be taken back.
package recall

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers"
)

// Defaults of Config.
const (
	DefaultSettle   = 10 * time.Second
	DefaultAttempts = 3
)

// Config is what the recall handler needs.
type Config struct {
	// Region is the region served. Required.
	Region string
	// Channels by name, as the sender has them; those implementing
	// channels.Recaller are asked to recall, the others get a `recalled` event
	// saying the vendor cannot.
	Channels map[string]channels.Channel
	// Acked lists the acked, not yet recalled deliveries a revoke names
	// (store.AckedToRecall on the region's database). Required.
	Acked func(ctx context.Context, c schema.Control) ([]store.AckedDelivery, error)
	// Settle is how long after a revoke was asked for the handler looks
	// for acked deliveries, so that deliveries a sender was sending when
	// the revoke arrived are acked and in ClickHouse by then (default
	// DefaultSettle). A delivery acked later than that is not recalled.
	Settle time.Duration
	// Settled, when set, returns once every event written before it was
	// called is in ClickHouse (the event sink has caught up with
	// push.events.R); the handler calls it after Settle, so that acked
	// events still on their way are listed too. nil: Settle alone.
	Settled func(ctx context.Context) error
	// Attempts bounds the calls per vendor batch when the vendor answers
	// with a transient error (default DefaultAttempts); after the last,
	// the deliveries get a `recalled` event carrying the error.
	Attempts int
	// Now and Sleep are the clock; nil means time.Now and pipeline.Sleep.
	Now    func() time.Time
	Sleep  func(ctx context.Context, d time.Duration) error
	Logger zerolog.Logger
}

// Validate says what to fix.
func (c Config) Validate() error {
	switch {
	case !schema.ValidRegion(c.Region):
		return fmt.Errorf("recall: region %q is not one of %v", c.Region, schema.Regions())
	case c.Acked == nil:
		return errors.New("recall: Config.Acked is nil: give the query of acked deliveries (store.AckedToRecall)")
	case c.Settle < 0:
		return fmt.Errorf("recall: Settle %s is negative: use 0 for the default %s", c.Settle, DefaultSettle)
	case c.Attempts < 0:
		return fmt.Errorf("recall: Attempts %d is negative: use 0 for the default %d", c.Attempts, DefaultAttempts)
	}
	return nil
}

// Handler is the recall pipeline.BatchHandler.
type Handler struct{ cfg Config }

// New returns a recall handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Settle == 0 {
		cfg.Settle = DefaultSettle
	}
	if cfg.Attempts == 0 {
		cfg.Attempts = DefaultAttempts
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = pipeline.Sleep
	}
	return &Handler{cfg: cfg}, nil
}

// HandleBatch recalls, for each revoke of the batch, every acked delivery
// it names, once the revoke is Settle old. Records that are not revokes of
// the region are rejected (rejected event and DLQ). The `recalled` events
// have deterministic ids (one per delivery), so a batch handled again
// after a crash records nothing twice, though a vendor may be asked twice.
// An error is returned only when ctx ends or the acked deliveries cannot be
// read; the batch is then handled again.
func (h *Handler) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	results := make([]pipeline.Result, len(msgs))
	for i, m := range msgs {
		c, err := schema.DecodeControl(m.Value)
		if err == nil {
			err = schema.ValidateRevoke(&c, 0, h.cfg.Now())
		}
		if err == nil && c.Region != h.cfg.Region {
			err = fmt.Errorf("revoke of region %q read in region %s", c.Region, h.cfg.Region)
		}
		if err != nil {
			results[i].Reject = workers.Reject(&schema.ValidationError{Code: schema.CodeInvalidParam, Detail: err.Error()},
				schema.Event{Region: h.cfg.Region, AppID: c.AppID, TaskID: c.TaskID, MsgID: c.MsgID})
			continue
		}
		if wait := time.UnixMilli(c.TS).Add(h.cfg.Settle).Sub(h.cfg.Now()); wait > 0 {
			if err := h.cfg.Sleep(ctx, wait); err != nil {
				return nil, fmt.Errorf("waiting %s for the deliveries of %s to settle: %w", wait, c.ControlKey(), err)
			}
		}
		if h.cfg.Settled != nil {
			if err := h.cfg.Settled(ctx); err != nil {
				return nil, fmt.Errorf("waiting for the acked events of %s to be stored: %w", c.ControlKey(), err)
			}
		}
		acked, err := h.cfg.Acked(ctx, c)
		if err != nil {
			return nil, fmt.Errorf("recalling %s: %w", c.ControlKey(), err)
		}
		outs, err := h.recall(ctx, acked)
		if err != nil {
			return nil, fmt.Errorf("recalling %s: %w", c.ControlKey(), err)
		}
		results[i].Outputs = outs
		h.cfg.Logger.Info().Str("msg_id", c.MsgID).Str("task_id", c.TaskID).Int("acked", len(acked)).Msg("revoke carried out")
	}
	return results, nil
}

// group is the acked deliveries of one channel and app.
type group struct {
	channel, app string
}

// recall asks the vendors to withdraw acked and returns a `recalled`
// event per delivery.
func (h *Handler) recall(ctx context.Context, acked []store.AckedDelivery) ([]pipeline.Output, error) {
	groups := map[group][]store.AckedDelivery{}
	var order []group
	var outs []pipeline.Output
	for _, a := range acked {
		if a.Token == "" || a.Channel == "" {
			outs = append(outs, h.event(a, schema.StatusNone, "NONE: not recalled: the delivery is not in the delivery index, so its token is unknown"))
			continue
		}
		g := group{a.Channel, a.AppID}
		if _, ok := groups[g]; !ok {
			order = append(order, g)
		}
		groups[g] = append(groups[g], a)
	}
	for _, g := range order {
		items := groups[g]
		ch, ok := h.cfg.Channels[g.channel]
		r, can := ch.(channels.Recaller)
		if !ok || !can || g.channel == schema.ChannelSMS {
			why := fmt.Sprintf("NONE: not recalled: %s has no recall API; the notification stays on the device", g.channel)
			switch {
			case g.channel == schema.ChannelSMS:
				why = "NONE: not recalled: an SMS that was sent cannot be taken back; SMS supplements are never revoked"
			case !ok:
				why = fmt.Sprintf("NONE: not recalled: channel %s is not configured in region %s", g.channel, h.cfg.Region)
			}
			for _, a := range items {
				outs = append(outs, h.event(a, schema.StatusNone, why))
			}
			continue
		}
		size := max(1, r.MaxRecallBatch())
		for start := 0; start < len(items); start += size {
			chunk := items[start:min(start+size, len(items))]
			evs, err := h.recallChunk(ctx, r, chunk)
			if err != nil {
				return nil, err
			}
			outs = append(outs, evs...)
		}
	}
	return outs, nil
}

// recallChunk calls the vendor for one batch, retrying transient whole-call
// errors up to Attempts times.
func (h *Handler) recallChunk(ctx context.Context, r channels.Recaller, chunk []store.AckedDelivery) ([]pipeline.Output, error) {
	msgs := make([]channels.Message, len(chunk))
	ids := make([]string, len(chunk))
	for i, a := range chunk {
		msgs[i] = channels.Message{DeliveryID: a.DeliveryID, MsgID: a.MsgID, TaskID: a.TaskID, AppID: a.AppID,
			DeviceID: a.DeviceID, Token: a.Token}
		if a.NotifyID != "" {
			msgs[i].Extras = map[string]string{channels.ExtraNotifyID: a.NotifyID}
		}
		ids[i] = a.VendorMsgID
	}
	var res []channels.Result
	var err error
	for attempt := 1; ; attempt++ {
		res, err = r.Recall(ctx, msgs, ids)
		if err == nil || !errors.Is(err, channels.ErrTransient) || attempt >= h.cfg.Attempts {
			break
		}
		if serr := h.cfg.Sleep(ctx, time.Duration(attempt)*time.Second); serr != nil {
			return nil, serr
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	outs := make([]pipeline.Output, len(chunk))
	for i, a := range chunk {
		switch {
		case err != nil:
			outs[i] = h.event(a, schema.StatusNone, "NONE: recall failed: "+err.Error())
		case res[i].Outcome == channels.Success:
			outs[i] = h.event(a, schema.StatusAcked, "Acked: the vendor withdrew the message")
		default:
			outs[i] = h.event(a, int64(res[i].StatusCode), "recall refused: "+res[i].StatusDesc)
		}
	}
	return outs, nil
}

// event is the `recalled` event of one delivery; its id depends only on
// the delivery, so a delivery is recalled once in the statistics.
func (h *Handler) event(a store.AckedDelivery, code int64, desc string) pipeline.Output {
	d := schema.Delivery{DeliveryID: a.DeliveryID, MsgID: a.MsgID, TaskID: a.TaskID, AppID: a.AppID, WorkspaceID: a.WorkspaceID,
		Region: h.cfg.Region, PushType: a.PushType, Target: a.Target, DeviceID: a.DeviceID, Platform: a.Platform,
		Channel: a.Channel, AppVersion: a.AppVersion, Model: a.Model}
	e := d.EventFor(schema.EventRecalled, h.cfg.Now().UnixMilli())
	e.StatusCode, e.StatusDesc, e.VendorMsgID = code, desc, a.VendorMsgID
	return workers.EventOutput(h.cfg.Region, e)
}
