// Package fanout is the first stage: it validates push requests from
// push.requests.R, renders templates, resolves targets to devices through
// the registry's tables, drops invalid and filtered devices with events,
// and emits one delivery per (message, device) on push.deliveries.R with
// the funnel events (accepted, planned, invalid_device, filtered, valid)
// on push.events.R. Broadcasts and tag targets are streamed: devices are
// read from ClickHouse and deliveries written as they come, so memory stays
// bounded whatever the audience size. A scheduled or loop request
// (strategyType 1 or 2) is not fanned out: it becomes a schedule record on
// push.schedules.R for the scheduler, whose occurrences come back as
// immediate requests carrying their ScheduleID.
package fanout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/store"
	"github.com/pushpipe/pushpipe/workers"
)

// SelfChannel is the channel name of the self-built connection gateway,
// used when a device reported no vendor token or the request pins the
// self-built channel (notifyType "transparent", androidChannel 1).
const SelfChannel = "self"

// DefaultChunk is how many outputs a streamed audience accumulates before
// they are written.
const DefaultChunk = 10000

// Devices resolves targets. Implementations must be safe for concurrent
// use; *store.Devices is the ClickHouse one.
type Devices interface {
	// Lookup returns the rows of the given device ids; unknown ids are absent.
	Lookup(ctx context.Context, appID string, ids []string) (map[string]schema.Device, error)
	// ByUser returns the devices bound to any of the user ids, by device id.
	ByUser(ctx context.Context, appID string, userIDs []string) (map[string]schema.Device, error)
	// ByAlias returns, per alias, the device that set it last.
	ByAlias(ctx context.Context, appID string, aliases []string) (map[string]schema.Device, error)
	// ByAccount returns, per user account, its most recent devices.
	ByAccount(ctx context.Context, appID string, accounts []string) (map[string][]schema.Device, error)
	// ByActivity returns, per Live Activity id, the devices holding a token
	// of it, each with the token as its APNs token (deliverType 6).
	ByActivity(ctx context.Context, appID string, activityIDs []string) (map[string][]schema.Device, error)
	// ByActivityToken returns, per Live Activity token, the device holding
	// it, with the token as its APNs token (deliverType 5).
	ByActivityToken(ctx context.Context, appID string, tokens []string) (map[string]schema.Device, error)
	// Stream calls fn for every device of the audience.
	Stream(ctx context.Context, a store.Audience, fn func(schema.Device) error) error
}

// Templates finds stored templates; *store.Templates is the
// ClickHouse one.
type Templates interface {
	Get(ctx context.Context, appID, name string) (schema.Template, bool, error)
}

// Emitter writes outputs before the handler returns and returns once they
// are acknowledged; the stage's *pipeline.Producer Produce is one. Used for
// streamed audiences; it is called from several goroutines at once.
type Emitter func(ctx context.Context, outs []pipeline.Output) error

// Config is what the fanout handler needs.
type Config struct {
	// Region served; requests naming another region are rejected.
	Region    string
	Devices   Devices
	Templates Templates
	// IDKey derives the delivery ids (schema.IDKey.DeliveryID from the
	// app, msg and device ids). Required: every fanout replica and
	// receipts worker of a deployment holds the same key.
	IDKey schema.IDKey
	// Emit writes the outputs of streamed audiences in chunks of Chunk
	// (default DefaultChunk). Records emitted early are deterministic, so
	// a replay after a crash writes the same ids again.
	Emit  Emitter
	Chunk int
	// Seen, if set, reports which delivery ids of an app were already
	// fanned out (store.DeliveryIndex.Existing: their valid event is
	// stored; replayfilter.Filter.Seen asks it only about the ids its
	// filter may hold): a (msg, device) pair already fanned out is not delivered
	// again when a request is replayed or re-published. It may be asked
	// about ids that no push of the batch delivers to, and is called from
	// two goroutines at once (pushes to device ids are checked while the
	// batch's other targets are resolved).
	Seen func(ctx context.Context, appID string, deliveryIDs []string) (map[string]bool, error)
	// Fanned, if set, is told the delivery ids the replay check was asked
	// about in a batch once the batch's outputs are made (before they are
	// produced), so that Seen (replayfilter.Filter) can catch a replay of
	// them before the index has them. It may be told ids that are never
	// delivered; it is called from the goroutine of HandleBatch.
	Fanned func(deliveryIDs []string)
	// Phones, if set, returns the phone numbers (E.164) of users of an
	// app, by user id (store.Devices.Phones): the SMS supplement of a
	// request with smsStrategy 1 or 2 goes there. Without it such
	// requests are rejected (3028).
	Phones func(ctx context.Context, appID string, userIDs []string) (map[string]string, error)
	// Policies are the approval policies of the apps that have one
	// (config apps[].approval); Approvals, required with them, is the
	// approval state the gate reads (see approval.go).
	Policies  map[string]schema.ApprovalPolicy
	Approvals Approvals
	// Now is the clock stamped on deliveries as fanned-out time and used
	// for broadcast periods; nil means time.Now.
	Now    func() time.Time
	Logger zerolog.Logger
}

// Validate says what is missing.
func (c Config) Validate() error {
	if !schema.ValidRegion(c.Region) {
		return fmt.Errorf("fanout: region %q is not one of %v", c.Region, schema.Regions())
	}
	if c.Devices == nil {
		return errors.New("fanout: Devices is required")
	}
	if c.Templates == nil {
		return errors.New("fanout: Templates is required")
	}
	if c.Emit == nil {
		return errors.New("fanout: Emit is required (the stage producer's Produce)")
	}
	if len(c.Policies) > 0 && c.Approvals == nil {
		return errors.New("fanout: Approvals is required when apps have an approval policy")
	}
	if !c.IDKey.Valid() {
		return errors.New("fanout: IDKey is required: configure security.idSecret or security.idSecretFile")
	}
	return nil
}

// Handler is the fanout pipeline.BatchHandler. It keeps no state between
// batches, so one Handler may serve concurrent batches.
type Handler struct {
	cfg Config
	// out encodes the region's events and deliveries.
	out workers.RegionOutputs
}

// New returns a fanout handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Chunk <= 0 {
		cfg.Chunk = DefaultChunk
	}
	return &Handler{cfg: cfg, out: workers.NewRegionOutputs(cfg.Region)}, nil
}

// decoded is a valid request with its rendered messages.
type decoded struct {
	req    *schema.Request
	taskID string
	ts     int64 // accepted time, Unix ms; deterministic under replay
	msgs   []message
	// first and content cache what deliveries of one message on one
	// channel share: the first content built, then the others.
	firstKey contentKey
	first    content
	hasFirst bool
	content  map[contentKey]content
	// lastID is the delivery id deliveryID computed last, of (lastMsg,
	// lastDevice).
	lastMsg, lastDevice, lastID string
	// phones are the phone numbers of the users of the request's SMS
	// supplement; smsDone the SMS deliveries it emitted (see sms.go).
	phones  map[string]string
	smsDone map[string]bool
}

// deliveryID is key.DeliveryID(app, msgID, deviceID) for the request's
// app. A targeted request remembers the last id: the replay check asks for
// a unicast delivery's id before its device is looked up and again after,
// and its delivery carries it. Not safe for concurrent use (a request is
// handled by one goroutine).
func (d *decoded) deliveryID(key schema.IDKey, msgID, deviceID string) string {
	if d.req.Type == schema.PushBroadcast || d.req.DeliverType == schema.DeliverTag {
		return key.DeliveryID(d.req.AppID, msgID, deviceID) // one id a device: nothing to remember
	}
	if d.lastID == "" || d.lastMsg != msgID || d.lastDevice != deviceID {
		d.lastMsg, d.lastDevice, d.lastID = msgID, deviceID, key.DeliveryID(d.req.AppID, msgID, deviceID)
	}
	return d.lastID
}

// message is one msgKey's content for one target.
type message struct {
	target, msgID string
	title, body   string
	uri           string
	ext           schema.StringMap
}

// HandleBatch turns each request into outputs. A request that cannot be
// decoded, validated or rendered is rejected (rejected event + DLQ).
// Device lookups are made once per app and target kind for the whole
// batch; if a lookup fails, the whole batch fails so the runtime retries it
// without committing. A lookup that fails with a ClickHouse error retrying
// cannot cure (store.IsPermanentQueryError) is not retried forever: the
// batch is handled again one request at a time, and a request whose own
// lookup still fails that way is rejected with 9000 SYSTEM_ERROR, so one
// record cannot stop its partition.
func (h *Handler) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	res, err := h.handleBatch(ctx, msgs)
	if err == nil || !store.IsPermanentQueryError(err) {
		return res, err
	}
	out := make([]pipeline.Result, len(msgs))
	for i := range msgs {
		r, err := h.handleBatch(ctx, msgs[i:i+1])
		switch {
		case err == nil:
			out[i] = r[0]
		case store.IsPermanentQueryError(err):
			partial := schema.Event{Region: h.cfg.Region}
			if req, derr := schema.DecodeRequest(msgs[i].Value); derr == nil {
				partial.AppID, partial.WorkspaceID, partial.TaskID, partial.PushType = req.AppID, req.WorkspaceID, req.DeriveTaskID(), req.Type
			}
			out[i].Reject = workers.Reject(&schema.ValidationError{Code: schema.CodeSystemError,
				Detail: fmt.Sprintf("the request's device lookup fails in ClickHouse whatever the retries: %v", err)}, partial)
		default:
			return nil, err
		}
	}
	return out, nil
}

func (h *Handler) handleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	results := make([]pipeline.Result, len(msgs))
	reqs := make([]*decoded, len(msgs))
	keys := lookupKeys{}
	tpls := map[[2]string]tplResult{}
	gb := &gateBatch{written: map[string]schema.Approval{}}
	after := make([][]pipeline.Output, len(msgs))
	for i, m := range msgs {
		d, rej, err := h.decode(ctx, m, tpls)
		if err != nil {
			return nil, err
		}
		if rej == nil && d.req.SmsStrategy != schema.SMSStrategyNone && h.cfg.Phones == nil {
			rej = workers.Reject(&schema.ValidationError{Code: schema.CodeInvalidParam, Detail: "smsStrategy: this fanout has no directory of users' phone numbers"},
				schema.Event{Region: h.cfg.Region, AppID: d.req.AppID, WorkspaceID: d.req.WorkspaceID, TaskID: d.taskID, PushType: d.req.Type})
		}
		if rej != nil {
			results[i].Reject = rej
			continue
		}
		if d.req.IsScheduled() {
			results[i].Outputs = h.schedule(d)
			continue
		}
		g, err := h.gate(ctx, d, m, gb)
		if err != nil {
			return nil, err
		}
		if g.stop {
			results[i].Outputs, results[i].Reject = g.outs, g.rej
			continue
		}
		after[i] = g.after
		if d.req.IsABTest() {
			results[i].Outputs = append(h.abTest(d), g.after...)
			continue
		}
		reqs[i] = d
		if d.req.Type != schema.PushBroadcast {
			for _, msg := range d.msgs {
				keys.add(d.req.AppID, d.req.DeliverType, msg.target)
			}
		}
	}
	// The replay check of pushes to device ids needs no lookup first, so
	// it runs while the batch's targets are resolved.
	early := h.startSeen(ctx, deviceDeliveryIDs(h.cfg.IDKey, reqs))
	res, err := h.resolve(ctx, keys)
	if err != nil {
		_, _ = early.wait()
		return nil, err
	}
	if err := h.markSeen(ctx, reqs, res, early); err != nil {
		return nil, err
	}
	if err := h.resolvePhones(ctx, reqs, res); err != nil {
		return nil, err
	}
	for i, d := range reqs {
		if d == nil {
			continue
		}
		outs, err := h.fanOut(ctx, d, res)
		if err != nil {
			return nil, fmt.Errorf("fanning out task %s: %w", d.taskID, err)
		}
		results[i].Outputs = append(outs, after[i]...)
	}
	if h.cfg.Fanned != nil && len(res.checked) > 0 {
		h.cfg.Fanned(res.checked)
	}
	return results, nil
}

// schedule turns a scheduled or loop request (strategyType 1 or 2) into
// its schedule record on push.schedules.R, keyed by the schedule id, and
// an accepted event whose task id is the schedule id. The scheduler fires
// its occurrences later as immediate requests carrying the schedule id.
func (h *Handler) schedule(d *decoded) []pipeline.Output {
	s := schema.NewSchedule(d.req, d.ts)
	b, err := json.Marshal(s)
	if err != nil { // plain fields only; cannot happen
		panic(fmt.Sprintf("fanout: encoding schedule %s: %v", s.ScheduleID, err))
	}
	ev := schema.Event{EventID: schema.NewEventID(schema.EventAccepted, s.ScheduleID), TS: d.ts, Region: h.cfg.Region,
		AppID: s.AppID, WorkspaceID: s.WorkspaceID, TaskID: s.ScheduleID, PushType: d.req.Type, Event: schema.EventAccepted,
		StatusCode: int64(schema.CodeSuccess), StatusDesc: schema.CodeSuccess.Name() + ": scheduled as " + s.ScheduleID}
	return []pipeline.Output{
		{Topic: pipeline.SchedulesTopic(h.cfg.Region), Key: []byte(s.ScheduleID), Value: b},
		workers.EventOutput(h.cfg.Region, ev),
	}
}

type tplResult struct {
	t  schema.Template
	ok bool
}

func (h *Handler) decode(ctx context.Context, m kafka.Message, tpls map[[2]string]tplResult) (*decoded, *pipeline.Rejection, error) {
	partial := schema.Event{Region: h.cfg.Region}
	req, err := schema.DecodeRequest(m.Value)
	if err != nil {
		return nil, workers.Reject(err, partial), nil
	}
	d := &decoded{req: req, taskID: req.DeriveTaskID(), ts: req.AcceptedAt}
	if d.ts == 0 {
		d.ts = m.Time.UnixMilli()
		// A scheduled push's strategy is validated against this time, so
		// that a replay is judged as the first handling was.
		req.AcceptedAt = d.ts
	}
	partial.AppID, partial.WorkspaceID, partial.TaskID, partial.PushType = req.AppID, req.WorkspaceID, d.taskID, req.Type
	if req.Region != h.cfg.Region {
		err := &schema.ValidationError{Code: schema.CodeInvalidParam,
			Detail: fmt.Sprintf("request names region %q but arrived on the %s topic of region %q; publish it to %s", req.Region, pipeline.RequestsTopic(h.cfg.Region), h.cfg.Region, pipeline.RequestsTopic(req.Region))}
		return nil, workers.Reject(err, partial), nil
	}
	if err := req.Validate(); err != nil {
		return nil, workers.Reject(err, partial), nil
	}
	var tpl schema.Template
	if req.Type != schema.PushSimple {
		k := [2]string{req.AppID, req.TemplateName}
		r, seen := tpls[k]
		if !seen {
			t, ok, err := h.cfg.Templates.Get(ctx, req.AppID, req.TemplateName)
			if err != nil {
				return nil, nil, fmt.Errorf("reading template %q of app %s: %w", req.TemplateName, req.AppID, err)
			}
			r = tplResult{t, ok}
			tpls[k] = r
		}
		if !r.ok {
			err := &schema.ValidationError{Code: schema.CodeTemplateNotExist, Detail: fmt.Sprintf("template %q does not exist for app %s", req.TemplateName, req.AppID)}
			return nil, workers.Reject(err, partial), nil
		}
		tpl = r.t
	}
	msgs, err := render(req, tpl)
	if err != nil {
		return nil, workers.Reject(err, partial), nil
	}
	if req.Type != schema.PushSimple {
		// The template's own uri is known only now.
		for _, m := range msgs {
			if err := req.ValidateTemplateURI(m.uri); err != nil {
				return nil, workers.Reject(err, partial), nil
			}
		}
	}
	d.msgs = msgs
	return d, nil, nil
}

// render produces the messages of a request: one per targetMsgkey entry
// (SIMPLE, TEMPLATE), per targetMsgs entry (MULTIPLE, each with its own
// template values and extended parameters), or the one broadcast message.
func render(req *schema.Request, tpl schema.Template) ([]message, error) {
	switch req.Type {
	case schema.PushSimple:
		if req.ABTest != nil {
			return renderABPart(req), nil
		}
		out := make([]message, 0, len(req.TargetMsgkey))
		for _, t := range req.TargetMsgkey.SortedKeys() {
			out = append(out, message{target: t, msgID: req.TargetMsgkey[t], title: req.Title, body: req.Content, uri: req.URI, ext: req.ExtendedParams})
		}
		return out, nil
	case schema.PushTemplate, schema.PushBroadcast:
		title, body, uri, err := tpl.Render(req.TemplateKeyValue)
		if err != nil {
			return nil, err
		}
		uri = firstNonEmpty(req.URI, uri)
		if req.Type == schema.PushBroadcast {
			return []message{{msgID: req.MsgKey, title: title, body: body, uri: uri, ext: req.ExtendedParams}}, nil
		}
		out := make([]message, 0, len(req.TargetMsgkey))
		for _, t := range req.TargetMsgkey.SortedKeys() {
			out = append(out, message{target: t, msgID: req.TargetMsgkey[t], title: title, body: body, uri: uri, ext: req.ExtendedParams})
		}
		return out, nil
	case schema.PushMultiple:
		out := make([]message, 0, len(req.TargetMsgs))
		for _, t := range req.TargetMsgs {
			kv := merge(req.TemplateKeyValue, t.TemplateKeyValue)
			title, body, uri, err := tpl.Render(kv)
			if err != nil {
				return nil, fmt.Errorf("target %s: %w", t.Target, err)
			}
			out = append(out, message{target: t.Target, msgID: t.MsgKey, title: title, body: body,
				uri: firstNonEmpty(req.URI, uri), ext: merge(req.ExtendedParams, t.ExtendedParams)})
		}
		return out, nil
	}
	return nil, fmt.Errorf("push type %s cannot be rendered", req.Type)
}

// merge returns base overlaid with over (over wins); nil when both are empty.
func merge(base, over schema.StringMap) schema.StringMap {
	if len(over) == 0 {
		return base
	}
	out := make(schema.StringMap, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// sortedKeys returns the keys of a set in order.
func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// markSeen looks up, once per app for the whole batch, which deliveries of
// the batch's targeted requests were already fanned out: those early did
// not ask about (it asked about pushes to device ids while r was being
// resolved) now, then waits for early's answer.
func (h *Handler) markSeen(ctx context.Context, reqs []*decoded, r *resolved, early *seenQuery) error {
	r.seen = map[string]bool{}
	if h.cfg.Seen == nil {
		return nil
	}
	ids := map[string][]string{}
	for _, d := range reqs {
		if d == nil || d.req.Type == schema.PushBroadcast || d.req.DeliverType == schema.DeliverTag {
			continue
		}
		app := d.req.AppID
		for _, m := range d.msgs {
			for _, dev := range targetDevices(app, d.req.DeliverType, m.target, r) {
				if id := d.deliveryID(h.cfg.IDKey, m.msgID, dev.DeviceID); !early.asked(app, id) {
					ids[app] = append(ids[app], id)
				}
			}
			for _, id := range h.smsDeliveryIDs(d, m, r) {
				if !early.asked(app, id) {
					ids[app] = append(ids[app], id)
				}
			}
		}
	}
	err := h.askSeen(ctx, ids, r.seen)
	seen, earlyErr := early.wait()
	if err != nil {
		return err
	}
	if earlyErr != nil {
		return earlyErr
	}
	for id := range seen {
		r.seen[id] = true
	}
	for _, list := range ids {
		r.checked = append(r.checked, list...)
	}
	if early != nil {
		for _, list := range early.ids {
			r.checked = append(r.checked, list...)
		}
	}
	return nil
}

// askSeen asks Seen, once per app, which of ids were fanned out, and adds
// those to into.
func (h *Handler) askSeen(ctx context.Context, ids map[string][]string, into map[string]bool) error {
	for app, list := range ids {
		seen, err := h.cfg.Seen(ctx, app, list)
		if err != nil {
			return fmt.Errorf("checking earlier deliveries of app %s: %w", app, err)
		}
		for id := range seen {
			into[id] = true
		}
	}
	return nil
}

// seenQuery is a replay check running in a goroutine of its own.
type seenQuery struct {
	ids  map[string][]string        // app -> delivery ids asked about
	set  map[string]map[string]bool // the same, as sets
	done chan struct{}
	seen map[string]bool
	err  error
}

// startSeen asks Seen about ids (app -> delivery ids) in a goroutine; nil
// (whose wait answers nothing) when there is nothing to ask or no Seen.
func (h *Handler) startSeen(ctx context.Context, ids map[string][]string) *seenQuery {
	if h.cfg.Seen == nil || len(ids) == 0 {
		return nil
	}
	q := &seenQuery{ids: ids, set: make(map[string]map[string]bool, len(ids)), done: make(chan struct{}), seen: map[string]bool{}}
	for app, list := range ids {
		set := make(map[string]bool, len(list))
		for _, id := range list {
			set[id] = true
		}
		q.set[app] = set
	}
	go func() {
		defer close(q.done)
		q.err = h.askSeen(ctx, q.ids, q.seen)
	}()
	return q
}

// asked reports whether q asks about delivery id of app.
func (q *seenQuery) asked(app, id string) bool {
	return q != nil && q.set[app][id]
}

// wait returns q's answer once it is in.
func (q *seenQuery) wait() (map[string]bool, error) {
	if q == nil {
		return nil, nil
	}
	<-q.done
	return q.seen, q.err
}

// deviceDeliveryIDs returns, per app, the delivery ids of the batch's
// pushes to device ids (deliverType 1, 2 and 7) without an SMS
// supplement: the targets are the device ids, so the ids are known before
// any lookup. markSeen asks about every other delivery, and about these
// again should a target resolve to another device id.
func deviceDeliveryIDs(key schema.IDKey, reqs []*decoded) map[string][]string {
	ids := map[string][]string{}
	for _, d := range reqs {
		if d == nil || d.req.Type == schema.PushBroadcast || kindOf(d.req.DeliverType) != schema.DeliverAndroid ||
			d.req.SmsStrategy != schema.SMSStrategyNone {
			continue
		}
		for _, m := range d.msgs {
			ids[d.req.AppID] = append(ids[d.req.AppID], d.deliveryID(key, m.msgID, m.target))
		}
	}
	return ids
}
