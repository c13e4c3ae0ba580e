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

	// free holds event slices of earlier batches for the next ones (see
	// eventSlice), at most maxFreeEventSlices of them.
	mu   sync.Mutex
	free [][]schema.Event
}

// maxFreeEventSlices is how many event slices a Handler keeps for reuse:
// one for each batch in flight at the default of one batch at a time, and
// one more for a batch that overlaps the previous one's end.
const maxFreeEventSlices = 2

// eventSlice returns n zero events, in a slice an earlier batch used
// when one is free and large enough: a batch of the default 50,000
// events takes about 10 MB of them (the smallest free one that holds n is
// taken), and allocating them anew for every batch
// made the heap (and the process's resident memory) hold two batches'
// worth most of the time, and cost the zeroing of each new slice (6% of
// the process's CPU in an end-to-end broadcast). A new slice has a
// quarter more room than n, so that a batch a little larger than the one
// before still finds it free.
func (h *Handler) eventSlice(n int) []schema.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	best := -1 // the smallest kept slice that holds n
	for i, s := range h.free {
		if cap(s) >= n && (best < 0 || cap(s) < cap(h.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		s := h.free[best]
		h.free = append(h.free[:best], h.free[best+1:]...)
		return s[:n]
	}
	return make([]schema.Event, n, n+n/4)
}

// releaseEvents zeroes the first n events of s, which must come from
// eventSlice and be in use no more, and keeps s for a later batch. When
// maxFreeEventSlices are kept already, s takes the place of the smallest
// of them if it is larger: kept slices too small for the batches that
// come would never be used again.
func (h *Handler) releaseEvents(s []schema.Event, n int) {
	// Zeroed so that the slice pins no record and decodeEvent gets the
	// zero Event it needs.
	clear(s[:n])
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.free) < maxFreeEventSlices {
		h.free = append(h.free, s[:0])
		return
	}
	smallest := 0
	for i, f := range h.free {
		if cap(f) < cap(h.free[smallest]) {
			smallest = i
		}
	}
	if cap(s) > cap(h.free[smallest]) {
		h.free[smallest] = s[:0]
	}
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
	buf := h.eventSlice(len(msgs))
	defer h.releaseEvents(buf, len(msgs))
	events := buf
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
