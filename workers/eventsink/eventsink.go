// Package eventsink is the stage that writes push.events.R into the
// region's ClickHouse events table in batches. Event ids are deterministic,
// so a replayed batch writes rows that readers count once.
package eventsink

import (
	"context"
	"fmt"
	"sync"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers"
)

// Inserter writes events; store.InsertEvents over a connection is the
// ClickHouse one. It returns only after the rows are stored.
type Inserter func(ctx context.Context, events []schema.Event) error

// Config is what the event sink needs.
type Config struct {
	Region string
	Insert Inserter
	Logger zerolog.Logger
	// Resolve turns on the delivery index and receipt enrichment (see
	// ResolveConfig); its zero value leaves both off.
	Resolve ResolveConfig
	// Outcomes keeps one outcome per delivery (see OutcomeConfig); its
	// zero value leaves every terminal event as it is.
	Outcomes OutcomeConfig
}

// Validate says what is missing.
func (c Config) Validate() error {
	if !schema.ValidRegion(c.Region) {
		return fmt.Errorf("eventsink: region %q is not one of %v", c.Region, schema.Regions())
	}
	if c.Insert == nil {
		return fmt.Errorf("eventsink: Insert is required")
	}
	if err := c.Outcomes.Validate(); err != nil {
		return err
	}
	return c.Resolve.Validate()
}

// Handler is the eventsink pipeline.BatchHandler.
type Handler struct {
	cfg Config
	res *resolver
	out *outcomes
}

// New returns an event sink handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Handler{cfg: cfg, res: newResolver(cfg.Region, cfg.Resolve), out: newOutcomes(cfg.Region, cfg.Outcomes)}, nil
}

// HandleBatch inserts every decodable event of the batch in one insert; an
// insert failure fails the batch so it is retried and not committed.
// Records that are not events of this region are rejected. Receipts are
// resolved against the delivery index first (see ResolveConfig), and a
// second, different ending of a delivery is stored as superseded (see
// OutcomeConfig); a receipt saying a vendor token is dead also yields an
// invalidate record for push.bindings.R, produced before the batch is
// committed.
func (h *Handler) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	results := make([]pipeline.Result, len(msgs))
	events := make([]schema.Event, len(msgs))
	src := make([]int, 0, len(msgs))
	n := 0
	for i, m := range msgs {
		// Decoded in place: events[n] is zero until a record is kept there.
		// Its strings share m's memory (see decodeEvent).
		e := &events[n]
		err := decodeEvent(m.Value, e)
		switch {
		case err != nil:
			err = &schema.ValidationError{Code: schema.CodeInvalidParam, Detail: fmt.Sprintf("event is not valid JSON: %v", err)}
		case e.EventID == "" || e.Event == "" || e.TS == 0:
			err = &schema.ValidationError{Code: schema.CodeInvalidParam, Detail: "event lacks eventId, event or ts"}
		case e.Region != h.cfg.Region:
			err = &schema.ValidationError{Code: schema.CodeInvalidParam,
				Detail: fmt.Sprintf("event of region %q arrived on %s", e.Region, pipeline.EventsTopic(h.cfg.Region))}
		}
		if err != nil {
			results[i].Reject = workers.Reject(err, schema.Event{Region: h.cfg.Region, AppID: e.AppID, TaskID: e.TaskID, MsgID: e.MsgID})
			*e = schema.Event{}
			continue
		}
		n++
		src = append(src, i)
	}
	events = events[:n]
	// Outcomes and receipts are decided in the order the batches were
	// read (a delivery's first terminal event wins; a receipt finds the
	// deliveries of earlier batches in the caches), while decoding and
	// the inserts overlap the neighbouring batches when the stage runs
	// several at once.
	var first []store.DeliveryOutcome
	if err := pipeline.InTurn(ctx, func() error {
		var err error
		if first, err = h.out.decide(ctx, events); err != nil {
			return fmt.Errorf("deciding delivery outcomes: %w", err)
		}
		if events, err = h.res.resolve(ctx, msgs, events, src, results); err != nil {
			return fmt.Errorf("resolving receipts: %w", err)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	// The outcomes are stored while the events are inserted; the batch
	// is committed only once both are.
	var saveErr error
	var wg sync.WaitGroup
	wg.Go(func() { saveErr = h.out.save(ctx, first) })
	insertErr := h.cfg.Insert(ctx, events)
	wg.Wait()
	if insertErr != nil {
		return nil, fmt.Errorf("writing %d events: %w", len(events), insertErr)
	}
	if saveErr != nil {
		return nil, saveErr
	}
	return results, nil
}
