package eventsink

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
)

// HeaderWaitingSince is set on an event the sink put back on
// push.events.R because the delivery it names was not known yet: the Unix
// milliseconds at which the sink first read it unresolved. The sink gives
// up waiting ResolveConfig.Timeout after that instant.
const HeaderWaitingSince = "eventsink-waiting-since"

// HeaderWaits counts how often the sink put an event back on
// push.events.R; it gives up after ResolveConfig.MaxWaits.
const HeaderWaits = "eventsink-waits"

// Defaults of ResolveConfig.
const (
	// DefaultResolveTimeout is long because a receipt comes round again
	// only after the records queued behind it: while the sink works off a
	// large broadcast, its valid events can be minutes behind its
	// receipts. The number of writes stays bounded by MaxWaits.
	DefaultResolveTimeout = 10 * time.Minute
	DefaultResolvePause   = time.Second
	DefaultMaxWaits       = 2
)

// DeliveryIndex is the delivery index the sink writes and resolves
// receipts against; *store.DeliveryIndex is the ClickHouse one. Methods
// return only after ClickHouse answered, and must be safe for concurrent
// use.
type DeliveryIndex interface {
	// Insert stores index rows; storing a row again is harmless.
	Insert(ctx context.Context, rows []store.DeliveryRecord) error
	// Lookup returns the rows of the given delivery ids that exist.
	Lookup(ctx context.Context, ids []string) (map[string]store.DeliveryRecord, error)
	// LookupTokens returns the delivery id of each known (msg id, token).
	LookupTokens(ctx context.Context, pairs []store.MsgToken) (map[store.MsgToken]string, error)
}

// ResolveConfig turns on the delivery index and the enrichment of receipts.
//
// Every valid event the sink inserts also writes its delivery into Index.
// An event that names its delivery only by delivery id, or by msg id and
// vendor token (receipts and client events: no app id), is filled in from
// the index before it is inserted: app, workspace, task, msg, push type,
// target, device, platform, channel, and app version and model unless the
// event carries its own; latency becomes the time since the request was
// accepted. An event resolved from (msg id, token) gets the delivery id
// and schema.ReceiptEventID as its event id.
//
// A failed receipt that says the vendor token is dead (MiPush type 16,
// OPPO regid_invalid, Huawei status 2 or 5: see receipts.TokenInvalid)
// also publishes a schema.OpInvalidate record for the delivery's device
// and token to push.bindings.R, as the sender does for the same answer
// from a send API; the registry then marks the token dead.
//
// An event that the receipts worker authenticated for an app
// (schema.Event.ReceiptAppID) resolves only to a delivery of that app,
// whether named by delivery id or by (msg id, token); one naming another
// app's delivery is dropped (outcome wrong_app).
//
// An event whose delivery is not in the index yet is not inserted: it is
// put back on push.events.R (headers HeaderWaitingSince and HeaderWaits)
// and looked up again when it comes round, so the partitions behind it
// keep flowing while its valid event is still on its way (a receipt can
// overtake it when the sink reads partitions unevenly). The grace is
// bounded twice: an event is put back at most MaxWaits times and not
// after Timeout; then it is dropped (outcome dropped), so a flood of
// receipts for deliveries that do not exist costs at most MaxWaits writes
// each and never reaches the events table. Each outcome is counted in
// pushpipe_eventsink_receipts_total{region, outcome}: resolved, deferred,
// dropped, wrong_app, and token_mismatch (a dead-token receipt that did
// not come through the delivery's channel or name its token, stored but
// invalidating nothing).
type ResolveConfig struct {
	// Index is the delivery index. nil turns the index and enrichment
	// off: events are inserted as they arrive.
	Index DeliveryIndex
	// Timeout is how long an event waits for its delivery to appear.
	// Zero means DefaultResolveTimeout.
	Timeout time.Duration
	// MaxWaits is how often an event is put back to wait for its
	// delivery. Zero means DefaultMaxWaits.
	MaxWaits int
	// Pause is how long a batch made only of events that came round
	// waiting waits before looking them up again, so that a quiet topic
	// does not spin. Zero means DefaultResolvePause.
	Pause time.Duration
	// Metrics registers the receipt counters; nil keeps them unregistered.
	Metrics prometheus.Registerer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Cache is how many deliveries the sink remembers from the valid
	// events it read, to resolve their receipts without reading Index
	// (see deliveryCache); 0 means DefaultDeliveryCache. A receipt of a
	// delivery it does not remember is looked up in Index. Hits and
	// look-ups are counted in
	// pushpipe_eventsink_delivery_resolutions_total{region, source}
	// (source cache or index).
	Cache int
}

// Validate reports a setting that cannot work.
func (c ResolveConfig) Validate() error {
	if c.Cache < 0 {
		return fmt.Errorf("eventsink: Resolve.Cache %d must not be negative (0 means %d)", c.Cache, DefaultDeliveryCache)
	}
	if c.Timeout < 0 || c.Pause < 0 || c.MaxWaits < 0 {
		return fmt.Errorf("eventsink: Resolve.Timeout %s, Resolve.Pause %s and Resolve.MaxWaits %d must not be negative (0 means the default)", c.Timeout, c.Pause, c.MaxWaits)
	}
	return nil
}

// resolver writes the delivery index and enriches receipts; a nil
// *resolver does neither.
type resolver struct {
	region   string
	index    DeliveryIndex
	timeout  time.Duration
	pause    time.Duration
	maxWaits int
	now      func() time.Time
	outcomes *prometheus.CounterVec
	cache    *deliveryCache
	sources  *prometheus.CounterVec
}

// Where a receipt's delivery was found (label source).
const (
	sourceCache = "cache"
	sourceIndex = "index"
)

// Outcomes of an event that needed resolving (label outcome).
const (
	outcomeResolved = "resolved"  // filled in from the index and inserted
	outcomeDeferred = "deferred"  // put back on the topic to wait for its delivery
	outcomeDropped  = "dropped"   // no such delivery after the grace: not inserted
	outcomeWrongApp = "wrong_app" // the delivery is another app's: not inserted
	// outcomeMismatch is a dead-token receipt not from the delivery's
	// channel or not naming its token: inserted, invalidating nothing.
	outcomeMismatch = "token_mismatch"
)

func newResolver(region string, c ResolveConfig) *resolver {
	if c.Index == nil {
		return nil
	}
	r := &resolver{region: region, index: c.Index, timeout: c.Timeout, pause: c.Pause, maxWaits: c.MaxWaits, now: c.Now}
	if r.timeout == 0 {
		r.timeout = DefaultResolveTimeout
	}
	if r.maxWaits == 0 {
		r.maxWaits = DefaultMaxWaits
	}
	if r.pause == 0 {
		r.pause = DefaultResolvePause
	}
	if r.now == nil {
		r.now = time.Now
	}
	if c.Cache == 0 {
		c.Cache = DefaultDeliveryCache
	}
	r.cache = newDeliveryCache(c.Cache)
	r.sources = pipeline.Register(c.Metrics, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "pushpipe", Subsystem: "eventsink", Name: "delivery_resolutions_total",
		Help:        "Deliveries the sink resolved receipts against, by source: cache (a valid event it read since it started) or index (a ClickHouse look-up; the delivery is older, or another replica read it).",
		ConstLabels: prometheus.Labels{"region": region},
	}, []string{"source"}))
	for _, s := range []string{sourceCache, sourceIndex} {
		r.sources.WithLabelValues(s)
	}
	r.outcomes = pipeline.Register(c.Metrics, prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "pushpipe", Subsystem: "eventsink", Name: "receipts_total",
		Help:        "Events that named their delivery only by id or by (msg id, token), by outcome: resolved, deferred (put back to wait for the delivery), dropped (no such delivery after the grace), wrong_app (a delivery of another app than the receipt's), token_mismatch (a dead-token receipt of another channel or token: nothing invalidated).",
		ConstLabels: prometheus.Labels{"region": region},
	}, []string{"outcome"}))
	for _, o := range []string{outcomeResolved, outcomeDeferred, outcomeDropped, outcomeWrongApp, outcomeMismatch} {
		r.outcomes.WithLabelValues(o)
	}
	return r
}

// needsResolution reports whether e names its delivery without saying
// whose it is: no app id, and a delivery id or a (msg id, token) pair.
func needsResolution(e *schema.Event) bool {
	return e.AppID == "" && (e.DeliveryID != "" || (e.MsgID != "" && e.Token != ""))
}

// resolve writes the index rows of the valid events among events, fills in
// the events that need their delivery, and returns the events to insert.
// src maps each event to its record in msgs. An event still waiting for
// its delivery is left out and its record put back on the events topic
// through results. An error means the index could not be read or written;
// the batch is then retried.
func (r *resolver) resolve(ctx context.Context, msgs []kafka.Message, events []schema.Event, src []int, results []pipeline.Result) ([]schema.Event, error) {
	if r == nil {
		return events, nil
	}
	valid := 0
	for j := range events {
		if events[j].Event == schema.EventValid {
			valid++
		}
	}
	rows := make([]store.DeliveryRecord, 0, valid)
	var pending []int
	for j := range events {
		if rec, ok := store.DeliveryRecordOf(events[j]); ok {
			rows = append(rows, rec)
			r.cache.put(rec)
		}
		if needsResolution(&events[j]) {
			pending = append(pending, j)
		}
	}
	if err := r.index.Insert(ctx, rows); err != nil {
		return nil, fmt.Errorf("indexing %d deliveries: %w", len(rows), err)
	}
	if len(pending) == 0 {
		return events, nil
	}
	if r.onlyWaiting(msgs) && !pipeline.Pause(ctx, r.pause) {
		return nil, fmt.Errorf("waiting to resolve %d events again: %w", len(pending), ctx.Err())
	}
	local := r.cache.newBatchRows(rows)

	// Delivery ids of the events that name a (msg id, token) pair.
	ids := make([]string, len(events))
	var pairs []store.MsgToken
	for _, j := range pending {
		e := &events[j]
		if e.DeliveryID != "" {
			ids[j] = e.DeliveryID
			continue
		}
		k := tokenKey(e)
		if id, ok := local.byTokenKey(k); ok {
			ids[j] = id
			continue
		}
		if id, ok := r.cache.byToken(k); ok {
			ids[j] = id
			continue
		}
		pairs = append(pairs, k)
	}
	if len(pairs) > 0 {
		found, err := r.index.LookupTokens(ctx, pairs)
		if err != nil {
			return nil, fmt.Errorf("resolving %d (msg id, token) pairs: %w", len(pairs), err)
		}
		for _, j := range pending {
			if ids[j] == "" {
				ids[j] = found[tokenKey(&events[j])]
			}
		}
	}
	var lookup []string
	seen := map[string]bool{}
	cached := map[string]store.DeliveryRecord{}
	for _, j := range pending {
		id := ids[j]
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		if _, ok := local.get(id); ok {
			continue
		}
		if rec, ok := r.cache.get(id, events[j].Token); ok {
			cached[id] = rec
			continue
		}
		lookup = append(lookup, id)
	}
	r.sources.WithLabelValues(sourceCache).Add(float64(len(cached)))
	r.sources.WithLabelValues(sourceIndex).Add(float64(len(lookup) + len(pairs)))
	found, err := r.index.Lookup(ctx, lookup)
	if err != nil {
		return nil, fmt.Errorf("resolving %d delivery ids: %w", len(lookup), err)
	}
	if found == nil {
		found = map[string]store.DeliveryRecord{}
	}
	for id, rec := range cached {
		found[id] = rec
	}

	now := r.now()
	// The events kept are compacted in place: out never runs ahead of j,
	// so each event is read before its slot is written.
	out := events[:0]
	p := 0
	for j := range events {
		if p >= len(pending) || pending[p] != j {
			out = append(out, events[j])
			continue
		}
		p++
		e := events[j]
		if rec, ok := recordOf(ids[j], local, found); ok {
			if e.ReceiptAppID != "" && rec.AppID != e.ReceiptAppID {
				r.outcomes.WithLabelValues(outcomeWrongApp).Inc()
				continue
			}
			out = append(out, enrich(e, rec))
			if o, ok := r.invalidation(e, rec); ok {
				results[src[j]].Outputs = append(results[src[j]].Outputs, o)
			}
			r.outcomes.WithLabelValues(outcomeResolved).Inc()
			continue
		}
		m := msgs[src[j]]
		since, waits := waitingSince(m, now), waitsOf(m)
		if now.Sub(since) < r.timeout && waits < r.maxWaits {
			results[src[j]].Outputs = append(results[src[j]].Outputs, r.requeue(m, since, waits+1))
			r.outcomes.WithLabelValues(outcomeDeferred).Inc()
			continue
		}
		r.outcomes.WithLabelValues(outcomeDropped).Inc()
	}
	return out, nil
}

// tokenKey is the (app, msg id, token) an event names its delivery by;
// the app is the one the receipt was authenticated for, "" for an event
// published before receipts named their app.
func tokenKey(e *schema.Event) store.MsgToken {
	return store.MsgToken{AppID: e.ReceiptAppID, MsgID: e.MsgID, Token: e.Token}
}

// recordOf returns the index row of delivery id from the batch's own
// valid events or from the index; ok is false for an empty id.
func recordOf(id string, local *batchRows, found map[string]store.DeliveryRecord) (store.DeliveryRecord, bool) {
	if id == "" {
		return store.DeliveryRecord{}, false
	}
	if rec, ok := local.get(id); ok {
		return *rec, true
	}
	rec, ok := found[id]
	return rec, ok
}

// onlyWaiting reports whether every record of the batch came round waiting
// for its delivery.
func (r *resolver) onlyWaiting(msgs []kafka.Message) bool {
	for _, m := range msgs {
		if _, ok := header(m, HeaderWaitingSince); !ok {
			return false
		}
	}
	return len(msgs) > 0
}

// requeue puts the record back on the events topic, stamped with when the
// sink started waiting for its delivery and how often it was put back.
func (r *resolver) requeue(m kafka.Message, since time.Time, waits int) pipeline.Output {
	h := make([]kafka.Header, 0, len(m.Headers)+2)
	for _, x := range m.Headers {
		if x.Key != HeaderWaitingSince && x.Key != HeaderWaits {
			h = append(h, x)
		}
	}
	h = append(h, kafka.Header{Key: HeaderWaitingSince, Value: []byte(strconv.FormatInt(since.UnixMilli(), 10))},
		kafka.Header{Key: HeaderWaits, Value: []byte(strconv.Itoa(waits))})
	return pipeline.Output{Topic: pipeline.EventsTopic(r.region), Key: m.Key, Value: m.Value, Headers: h}
}

// waitsOf is how often the sink put m back (HeaderWaits): 0 for a record
// read for the first time, and 1 for one put back before the header
// existed (it has HeaderWaitingSince only).
func waitsOf(m kafka.Message) int {
	if v, ok := header(m, HeaderWaits); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return n
		}
		return 1
	}
	if _, ok := header(m, HeaderWaitingSince); ok {
		return 1
	}
	return 0
}

// enrich fills e in from its delivery's index row.
func enrich(e schema.Event, rec store.DeliveryRecord) schema.Event {
	if e.DeliveryID == "" {
		e.DeliveryID = rec.DeliveryID
		e.EventID = schema.ReceiptEventID(e.Event, rec.DeliveryID)
	}
	e.AppID, e.WorkspaceID, e.TaskID, e.MsgID = rec.AppID, rec.WorkspaceID, rec.TaskID, rec.MsgID
	e.PushType, e.Target, e.DeviceID = rec.PushType, rec.Target, rec.DeviceID
	e.Platform, e.Channel, e.Token = rec.Platform, rec.Channel, ""
	if e.AppVersion == "" {
		e.AppVersion = rec.AppVersion
	}
	if e.Model == "" {
		e.Model = rec.Model
	}
	if e.LatencyMs == 0 && rec.TS > 0 && e.TS > rec.TS {
		e.LatencyMs = e.TS - rec.TS
	}
	return e
}

// waitingSince is when the sink first read m unresolved: its
// HeaderWaitingSince, or now for a record read for the first time.
func waitingSince(m kafka.Message, now time.Time) time.Time {
	if v, ok := header(m, HeaderWaitingSince); ok {
		if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 && ms <= now.UnixMilli() {
			return time.UnixMilli(ms)
		}
	}
	return now
}

func header(m kafka.Message, key string) (string, bool) {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value), true
		}
	}
	return "", false
}
