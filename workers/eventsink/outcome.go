package eventsink

import (
	"context"
	"fmt"
	"hash/maphash"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// DefaultOutcomeCache is how many deliveries OutcomeConfig remembers by
// default (about 40 MB of cache at most, see endingTable): enough that the terminal events
// of a one-million-device broadcast, which come long after fan-out wrote
// all its valid events, find their deliveries without a look-up.
const DefaultOutcomeCache = 1 << 21

// OutcomeStore keeps the outcome of each delivery; *store.Outcomes is the
// ClickHouse one. Methods return only after ClickHouse answered, and must
// be safe for concurrent use.
type OutcomeStore interface {
	// Insert stores outcomes; storing one again is harmless.
	Insert(ctx context.Context, rows []store.DeliveryOutcome) error
	// Lookup returns the stored outcome of each delivery (named by msg id
	// and delivery id) that has one, keyed by delivery id.
	Lookup(ctx context.Context, keys []store.DeliveryOutcome) (map[string]store.DeliveryOutcome, error)
}

// OutcomeConfig makes the sink keep exactly one outcome per delivery.
//
// Kafka hands a stage's records again after a crash, so the sender or the
// retry worker can handle one attempt of a delivery twice. When the two
// copies meet different answers (the vendor acks one and fails the other,
// or the retry of one expires), the delivery would end twice. The sink
// keeps the first terminal event (acked, failed, expired, revoked) of each
// delivery in the order of push.events.R: it stores it in Store while the
// batch is inserted (the batch is committed once both are; a replay makes
// the same decisions), and a later terminal event of the same delivery with
// another event id is inserted as schema.EventSuperseded instead, its
// status description naming the outcome that stands. A replay of the first
// one keeps it. Receipts and client events (those that name their delivery
// without an app id) are not outcomes and pass as they are.
//
// The sink remembers the deliveries whose valid or terminal event it has
// read since it started, up to Cache of them; for those it needs no
// lookup. A terminal event of any other delivery (after a restart, or an
// old one) is looked up in Store. Each decision is counted in
// pushpipe_eventsink_outcomes_total{region, outcome}.
type OutcomeConfig struct {
	// Store is the outcome table; nil turns the check off.
	Store OutcomeStore
	// Cache is how many deliveries are remembered; 0 means
	// DefaultOutcomeCache.
	Cache int
	// Metrics registers the counters; nil keeps them unregistered.
	Metrics prometheus.Registerer
}

// Validate reports a setting that cannot work.
func (c OutcomeConfig) Validate() error {
	if c.Cache < 0 {
		return fmt.Errorf("eventsink: Outcomes.Cache %d must not be negative (0 means %d)", c.Cache, DefaultOutcomeCache)
	}
	return nil
}

// Decisions on a terminal event (label outcome).
const (
	outcomeFirst      = "first"      // the delivery's outcome, stored
	outcomeRepeated   = "repeated"   // the stored outcome read again (a replay)
	outcomeSuperseded = "superseded" // a second, different ending
)

// ending is what the sink knows of a delivery's outcome: the step and the
// event id (and its hash) of its terminal event, or the zero value when it
// has none yet. id may be empty when only the hash is remembered.
type ending struct {
	step schema.EventType
	id   string
	hash uint64
}

// known reports whether the delivery has an outcome.
func (e ending) known() bool { return e.step != "" }

// remembered is an ending as the cache keeps it, in 8 bytes: the step's
// index in terminalSteps plus one (0: none) in the low 3 bits, the top 61
// bits of the event id's hash above them.
type remembered uint64

// terminalSteps are the steps that end a delivery, in the order of
// remembered's step index.
var terminalSteps = [...]schema.EventType{schema.EventAcked, schema.EventFailed, schema.EventExpired, schema.EventRevoked}

func rememberOf(e ending) remembered {
	for i, s := range terminalSteps {
		if s == e.step {
			return remembered(e.hash&^7 | uint64(i+1))
		}
	}
	return 0
}

func (r remembered) ending() ending {
	if r&7 == 0 {
		return ending{}
	}
	return ending{step: terminalSteps[r&7-1], hash: uint64(r) &^ 7}
}

// outcomes decides which terminal event ends each delivery; a nil
// *outcomes lets every event pass. Its cache maps a 64-bit hash of each
// delivery id to its remembered ending, in two generations of at most half
// the capacity each (endingTables): when the newer fills up, the older is
// dropped, so memory stays bounded (about 19 bytes a delivery when full)
// and recent deliveries stay known.
type outcomes struct {
	store     OutcomeStore
	half      int
	seed      maphash.Seed
	decisions *prometheus.CounterVec
	lookups   prometheus.Counter

	mu       sync.Mutex
	cur, old *endingTable
}

func newOutcomes(region string, c OutcomeConfig) *outcomes {
	if c.Store == nil {
		return nil
	}
	if c.Cache == 0 {
		c.Cache = DefaultOutcomeCache
	}
	o := &outcomes{store: c.Store, half: max(1, c.Cache/2), seed: maphash.MakeSeed()}
	o.cur, o.old = newEndingTable(o.half), newEndingTable(o.half)
	o.decisions = pipeline.Register(c.Metrics, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "pushpipe", Subsystem: "eventsink", Name: "outcomes_total",
		Help:        "Terminal events of deliveries by decision: first (the delivery's outcome), repeated (the outcome read again), superseded (a second, different ending, stored as event superseded).",
		ConstLabels: prometheus.Labels{"region": region},
	}, []string{"outcome"}))
	for _, d := range []string{outcomeFirst, outcomeRepeated, outcomeSuperseded} {
		o.decisions.WithLabelValues(d)
	}
	o.lookups = pipeline.Register(c.Metrics, prometheus.NewCounter(prometheus.CounterOpts{
		Namespace: "pushpipe", Subsystem: "eventsink", Name: "outcome_lookups_total",
		Help:        "Deliveries whose outcome the sink had to look up in ClickHouse because it had not read the delivery since it started.",
		ConstLabels: prometheus.Labels{"region": region},
	}))
	return o
}

func (o *outcomes) key(s string) uint64 { return maphash.String(o.seed, s) }

// get returns what is known of the delivery whose id has key k; ok is
// false when the sink has not read it (or has forgotten it).
func (o *outcomes) get(k uint64) (ending, bool) {
	if r, ok := o.cur.get(k); ok {
		return r.ending(), true
	}
	r, ok := o.old.get(k)
	return r.ending(), ok
}

// put remembers e as the ending of the delivery whose id has key k.
func (o *outcomes) put(k uint64, e ending) {
	o.cur.put(k, rememberOf(e))
	if o.cur.len() >= o.half {
		o.old, o.cur = o.cur, newEndingTable(o.half)
	}
}

// known reports whether the sink remembers the delivery whose id has key k.
func (o *outcomes) known(k uint64) bool {
	if _, ok := o.cur.get(k); ok {
		return true
	}
	_, ok := o.old.get(k)
	return ok
}

func (o *outcomes) forget(id string) {
	k := o.key(id)
	o.cur.delete(k)
	o.old.delete(k)
}

// endingOf is the ending terminal event e gives its delivery.
func (o *outcomes) endingOf(e *schema.Event) ending {
	return ending{step: e.Event, id: e.EventID, hash: o.key(e.EventID)}
}

// isOutcome reports whether e is a terminal event written by the delivery
// path (sender, retry worker, revocation), not a receipt.
func isOutcome(e *schema.Event) bool {
	return e.Event.Terminal() && e.DeliveryID != "" && e.MsgID != "" && !needsResolution(e)
}

// decide rewrites, in place, each terminal event of events whose delivery
// already ended another way into a superseded event, and returns the
// outcome of each delivery that ends here, for save. An error means the
// outcome table could not be read; the batch is then retried.
func (o *outcomes) decide(ctx context.Context, events []schema.Event) ([]store.DeliveryOutcome, error) {
	if o == nil {
		return nil, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	// local is what this batch knows: the lookups' answers and its own
	// decisions, which the bounded cache may forget before the batch
	// ends. Both maps are keyed by the delivery id's key, as the cache is.
	local := map[uint64]ending{}
	var unknown []store.DeliveryOutcome
	asked := map[uint64]bool{}
	for j := range events {
		e := &events[j]
		switch {
		case e.Event == schema.EventValid && e.DeliveryID != "":
			if k := o.key(e.DeliveryID); !o.known(k) {
				o.put(k, ending{})
			}
		case isOutcome(e):
			k := o.key(e.DeliveryID)
			if end, ok := o.get(k); ok {
				if _, seen := local[k]; !seen {
					local[k] = end
				}
			} else if !asked[k] {
				asked[k] = true
				unknown = append(unknown, store.DeliveryOutcome{MsgID: e.MsgID, DeliveryID: e.DeliveryID})
			}
		}
	}
	if len(unknown) > 0 {
		found, err := o.store.Lookup(ctx, unknown)
		if err != nil {
			return nil, fmt.Errorf("looking up the outcomes of %d deliveries: %w", len(unknown), err)
		}
		o.lookups.Add(float64(len(unknown)))
		for _, u := range unknown {
			var end ending
			if f, ok := found[u.DeliveryID]; ok {
				end = ending{step: f.Event, id: f.EventID, hash: o.key(f.EventID)}
			}
			k := o.key(u.DeliveryID)
			local[k] = end
			o.put(k, end)
		}
	}
	var first []store.DeliveryOutcome
	for j := range events {
		e := &events[j]
		if !isOutcome(e) {
			continue
		}
		k := o.key(e.DeliveryID)
		cur, this := local[k], o.endingOf(e)
		switch {
		case !cur.known():
			local[k] = this
			o.put(k, this)
			first = append(first, store.DeliveryOutcome{MsgID: e.MsgID, DeliveryID: e.DeliveryID, EventID: e.EventID, Event: e.Event, TS: e.TS})
			o.decisions.WithLabelValues(outcomeFirst).Inc()
		case cur.hash&^7 == this.hash&^7 && cur.step == this.step:
			o.decisions.WithLabelValues(outcomeRepeated).Inc()
		default:
			*e = superseded(*e, cur)
			o.decisions.WithLabelValues(outcomeSuperseded).Inc()
		}
	}
	return first, nil
}

// save stores the outcomes decide returned. It may run while the batch's
// events are inserted: the batch is committed only after both, and a
// replay of the batch makes the same decisions. On failure the outcomes
// are forgotten, so that the retried batch decides and stores them again.
func (o *outcomes) save(ctx context.Context, first []store.DeliveryOutcome) error {
	if o == nil || len(first) == 0 {
		return nil
	}
	if err := o.store.Insert(ctx, first); err != nil {
		o.mu.Lock()
		defer o.mu.Unlock()
		for _, f := range first {
			o.forget(f.DeliveryID)
		}
		return fmt.Errorf("storing the outcomes of %d deliveries: %w", len(first), err)
	}
	return nil
}

// superseded is terminal event e of a delivery that already ended as won.
func superseded(e schema.Event, won ending) schema.Event {
	stands := string(won.step)
	if won.id != "" {
		stands += " (event " + won.id + ")"
	}
	desc := fmt.Sprintf("Superseded: the delivery already ended %s; this %s at attempt %d came from a replayed attempt and is not counted",
		stands, e.Event, e.Attempt)
	if e.StatusDesc != "" {
		desc += "; it said: " + e.StatusDesc
	}
	e.EventID = schema.NewEventID(schema.EventSuperseded, e.EventID)
	e.Event, e.StatusDesc = schema.EventSuperseded, desc
	e.CallbackURL, e.Token = "", ""
	return e
}
