// Package sender is the stage that calls the vendors: it groups deliveries
// from push.deliveries.R by channel and app into vendor-sized batches,
// sends them, and records the outcome of every delivery as events (sent,
// then acked or failed); a token the vendor calls dead is reported to the
// registry on push.bindings.R. Deliveries the vendor could not take now go to
// the retry tier topic push.retry.<tier>.R that fits their wait, with their
// next attempt number and not-before time.
//
// Every vendor call first passes the circuit breaker of the vendor's
// endpoint in the region (middleware.Breaker) and then waits for the
// tokens of the app's rate limit and of any smooth-push task
// (middleware.Limiter); the guards are composed in guardChannels. Each
// limit is a budget of the whole region that the replicas share by their
// consumer group assignment (Budget, which hands the limiter its share).
package sender

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/middleware"
	"github.com/pushpipe/pushpipe/channels/registry"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// Config is what the sender needs.
type Config struct {
	Region string
	// Channels by name (Channel.Name, a name of channels/registry).
	// Deliveries for a channel not listed fail with a clear status.
	Channels map[string]channels.Channel
	// Concurrency bounds the vendor calls in flight per batch (default 8).
	Concurrency int
	// BaseBackoff and MaxBackoff shape the not-before time of a retry: a
	// wait drawn uniformly from [0, min(BaseBackoff·2^attempt, MaxBackoff)]
	// (full jitter), raised to the vendor's Retry-After when that is longer
	// (defaults DefaultBaseBackoff, DefaultMaxBackoff).
	BaseBackoff, MaxBackoff time.Duration
	// Now is the clock; nil means time.Now.
	Now    func() time.Time
	Logger zerolog.Logger

	// RateLimit configures the token buckets every vendor call waits for
	// (per vendor and app, and per smooth-push task); the zero value
	// applies the vendors' default quotas (middleware.DefaultVendorLimits).
	RateLimit middleware.RateLimitConfig
	// Breaker configures the circuit breaker of each channel's endpoint;
	// the zero value applies the defaults.
	Breaker middleware.BreakerConfig
	// Budget, when set, shares the region's rate budgets among the
	// replicas of the sender's consumer group; nil means this process has
	// the whole budget.
	Budget *BudgetConfig
	// Metrics receives the rate limit and breaker series; nil leaves them
	// unregistered.
	Metrics prometheus.Registerer
	// Revoked tells whether a delivery's push was revoked; such a delivery
	// ends `revoked` without a vendor call, unless it is an SMS, which is
	// never revoked. nil: nothing is revoked.
	Revoked workers.RevokedFunc
}

// Validate says what is missing.
func (c Config) Validate() error {
	if !schema.ValidRegion(c.Region) {
		return fmt.Errorf("sender: region %q is not one of %v", c.Region, schema.Regions())
	}
	if len(c.Channels) == 0 {
		return fmt.Errorf("sender: no channel is configured; configure at least one vendor")
	}
	if c.Concurrency < 0 {
		return fmt.Errorf("sender: Concurrency must not be negative")
	}
	if c.BaseBackoff < 0 || c.MaxBackoff < 0 {
		return fmt.Errorf("sender: BaseBackoff %s and MaxBackoff %s must not be negative (0 means the default)", c.BaseBackoff, c.MaxBackoff)
	}
	if base, maxB := c.backoffs(); base > maxB {
		return fmt.Errorf("sender: BaseBackoff %s exceeds MaxBackoff %s: raise MaxBackoff or lower BaseBackoff", base, maxB)
	}
	if err := c.RateLimit.Validate(); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if err := c.Breaker.Validate(); err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if c.Budget != nil {
		if err := c.Budget.Validate(); err != nil {
			return fmt.Errorf("sender: %w", err)
		}
	}
	return nil
}

// Defaults of Config.BaseBackoff and Config.MaxBackoff.
const (
	DefaultBaseBackoff = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
)

// backoffs returns BaseBackoff and MaxBackoff with their defaults applied.
func (c Config) backoffs() (base, maxBackoff time.Duration) {
	base, maxBackoff = c.BaseBackoff, c.MaxBackoff
	if base == 0 {
		base = DefaultBaseBackoff
	}
	if maxBackoff == 0 {
		maxBackoff = DefaultMaxBackoff
	}
	return base, maxBackoff
}

// Handler is the sender pipeline.BatchHandler; safe for concurrent use.
type Handler struct {
	cfg    Config
	budget *Budget
	out    workers.RegionOutputs
}

// New returns a sender handler.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 8
	}
	cfg.BaseBackoff, cfg.MaxBackoff = cfg.backoffs()
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, out: workers.NewRegionOutputs(cfg.Region)}
	if err := h.guardChannels(); err != nil {
		return nil, err
	}
	return h, nil
}

// guardChannels wraps every channel in its guards, composed here and
// nowhere else: breaker(limiter(channel)). The breaker is outermost so
// that an open breaker refuses a call before it takes any rate limit
// token, and the limiter's own refusals (tokens too late) are excluded
// from the breaker's counts. The metrics of both are registered on
// cfg.Metrics; the limiter's even when it is disabled (share 1).
func (h *Handler) guardChannels() error {
	cfg := &h.cfg
	var guards []middleware.Middleware // outermost first
	if !cfg.Breaker.Disabled {
		bm := pipeline.Register(cfg.Metrics, middleware.NewBreakerMetrics())
		breakers, err := middleware.Breakers(cfg.Region, cfg.Breaker, registry.ThrottleCodes, bm, cfg.Logger)
		if err != nil {
			return fmt.Errorf("sender: %w", err)
		}
		guards = append(guards, breakers)
	}
	lim, err := middleware.NewLimiter(cfg.Region, cfg.RateLimit, pipeline.Register(cfg.Metrics, middleware.NewLimiterMetrics(cfg.Region)), nil)
	if err != nil {
		return fmt.Errorf("sender: %w", err)
	}
	if !cfg.RateLimit.Disabled {
		guards = append(guards, lim.Wrap)
		if cfg.Budget != nil {
			bc := *cfg.Budget
			if bc.Refresh == 0 {
				bc.Refresh = cfg.RateLimit.WithDefaults().ShareRefresh
			}
			if h.budget, err = NewBudget(bc, lim.SetShare, cfg.Logger); err != nil {
				return fmt.Errorf("sender: %w", err)
			}
		}
	}
	guarded := make(map[string]channels.Channel, len(cfg.Channels))
	for name, ch := range cfg.Channels {
		guarded[name] = middleware.Chain(ch, guards...)
	}
	cfg.Channels = guarded
	return nil
}

type item struct {
	idx int
	d   *schema.Delivery // in the batch's decoded deliveries
}

// groupKey groups deliveries that can share one vendor call: same channel,
// same app and, for channels that send one content per call (MiPush), the
// same content.
type groupKey struct{ channel, app, content string }

// HandleBatch sends the batch's deliveries. Every decodable delivery gets
// its events in the result at its index; the batch as a whole never fails
// because of a vendor (vendor failures become retries or failed events),
// so a vendor outage does not stall the deliveries topic.
func (h *Handler) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	if h.budget != nil {
		stop := h.budget.Track(ctx, partitionsOf(msgs))
		defer stop()
	}
	results := make([]pipeline.Result, len(msgs))
	ds := make([]schema.Delivery, len(msgs)) // decoded in place, referred to by the items
	groups := map[groupKey][]item{}
	var order []groupKey
	now := h.cfg.Now()
	for i, m := range msgs {
		d := &ds[i]
		if err := schema.DecodeDelivery(m.Value, d); err != nil || d.DeliveryID == "" || d.Region != h.cfg.Region {
			if err == nil {
				err = fmt.Errorf("delivery %q of region %q is not a delivery of region %s", d.DeliveryID, d.Region, h.cfg.Region)
			}
			results[i].Reject = workers.Reject(&schema.ValidationError{Code: schema.CodeInvalidParam, Detail: err.Error()},
				schema.Event{Region: h.cfg.Region, AppID: d.AppID, TaskID: d.TaskID, MsgID: d.MsgID, DeviceID: d.DeviceID})
			continue
		}
		if d.ExpireAt > 0 && now.UnixMilli() >= d.ExpireAt {
			results[i].Outputs = []pipeline.Output{h.event(d, schema.EventExpired, now, schema.StatusDeviceNotOnlineOrNoResponse, "DeviceNotOnlineOrNoResponse: message validity ended before it could be sent")}
			continue
		}
		if h.cfg.Revoked != nil && d.Revocable() {
			if c, revoked := h.cfg.Revoked(d); revoked {
				results[i].Outputs = []pipeline.Output{workers.RevokedEvent(d, c, now.UnixMilli())}
				continue
			}
		}
		ch, ok := h.cfg.Channels[d.Channel]
		if !ok {
			results[i].Outputs = []pipeline.Output{h.event(d, schema.EventFailed, now, schema.StatusNone, fmt.Sprintf("NONE: channel %q is not configured in region %s", d.Channel, h.cfg.Region))}
			continue
		}
		k := groupKey{channel: ch.Name(), app: d.AppID}
		if bk, ok := ch.(channels.BatchKeyer); ok {
			k.content = bk.BatchKey(toMessage(d))
		}
		g, seen := groups[k]
		if !seen {
			order = append(order, k)
			if len(order) == 1 {
				g = make([]item, 0, len(msgs)) // a broadcast's batch is one group
			}
		}
		groups[k] = append(g, item{i, d})
	}

	sem := make(chan struct{}, h.cfg.Concurrency)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, k := range order {
		ch := h.cfg.Channels[k.channel]
		items := groups[k]
		for start := 0; start < len(items); start += ch.MaxBatch() {
			chunk := items[start:min(start+ch.MaxBatch(), len(items))]
			sem <- struct{}{}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				outs := h.send(ctx, ch, chunk)
				mu.Lock()
				for j, it := range chunk {
					if results[it.idx].Outputs == nil {
						results[it.idx].Outputs = outs[j]
						continue
					}
					results[it.idx].Outputs = append(results[it.idx].Outputs, outs[j]...)
				}
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		// Shutting down mid-batch: outcomes of cancelled calls are unknown;
		// leave the batch uncommitted so it is sent again.
		return nil, fmt.Errorf("sending batch: %w", err)
	}
	return results, nil
}

// partitionsOf lists the distinct partitions of msgs.
func partitionsOf(msgs []kafka.Message) []int {
	var ps []int
	for i := range msgs {
		if !slices.Contains(ps, msgs[i].Partition) {
			ps = append(ps, msgs[i].Partition)
		}
	}
	return ps
}

// send makes one vendor call and returns the outputs of each item,
// index-aligned with chunk.
func (h *Handler) send(ctx context.Context, ch channels.Channel, chunk []item) [][]pipeline.Output {
	msgs := make([]channels.Message, len(chunk))
	for j, it := range chunk {
		msgs[j] = toMessage(it.d)
	}
	sentAt := h.cfg.Now()
	res, err := ch.Send(ctx, msgs)
	doneAt := h.cfg.Now()
	outs := make([][]pipeline.Output, len(chunk))
	// Most deliveries have two outputs (sent, then acked, failed or the
	// retry): one backing array for the chunk, two places each.
	backing := make([]pipeline.Output, 2*len(chunk))
	for j, it := range chunk {
		d := it.d
		// sent records a vendor call; none is recorded for a delivery the
		// circuit breaker or the rate limiter kept from the vendor.
		sent := backing[2*j : 2*j : 2*j+2]
		if called(err, res, j) {
			sent = append(sent, h.event(d, schema.EventSent, sentAt, schema.StatusWaitingForVerify, "WaitingForVerify: vendor call made"))
		}
		var r channels.Result
		switch {
		case err != nil && errors.Is(err, channels.ErrTransient):
			r = channels.Result{Outcome: channels.Transient, StatusCode: int(schema.StatusDeviceNotOnlineOrNoResponse),
				StatusDesc: err.Error(), RetryAfter: channels.RetryAfterOf(err)}
		case err != nil:
			r = channels.Result{Outcome: channels.Permanent, StatusCode: int(schema.StatusNone), StatusDesc: err.Error()}
		default:
			r = res[j]
		}
		switch r.Outcome {
		case channels.Success:
			e := h.eventOf(d, schema.EventAcked, doneAt, int64(r.StatusCode), r.StatusDesc)
			e.VendorMsgID = r.VendorMsgID
			outs[j] = append(sent, h.out.Event(&e))
		case channels.Transient:
			outs[j] = append(sent, h.retry(d, doneAt, r.RetryAfter))
		case channels.InvalidToken:
			outs[j] = append(sent, h.event(d, schema.EventFailed, doneAt, int64(r.StatusCode), r.StatusDesc))
			if d.Channel != schema.ChannelSMS {
				// An SMS's "token" is the user's phone number, which is
				// no device's: the registry keeps it (unset_phone removes it).
				outs[j] = append(outs[j], h.invalidate(d, doneAt))
			}
		default: // Permanent
			outs[j] = append(sent, h.event(d, schema.EventFailed, doneAt, int64(r.StatusCode), r.StatusDesc))
		}
	}
	return outs
}

// called reports whether a vendor call was made for message j of a Send
// that returned res, err: not when the circuit breaker refused the call or
// the rate limiter kept the message back (see middleware.Refused and
// middleware.LimitedChannel.Send).
func called(err error, res []channels.Result, j int) bool {
	if err != nil {
		return !middleware.Refused(err)
	}
	return res[j].Outcome != channels.Transient || res[j].StatusCode != channels.StatusWaitingForVerify
}

func (h *Handler) event(d *schema.Delivery, t schema.EventType, at time.Time, code int64, desc string) pipeline.Output {
	e := h.eventOf(d, t, at, code, desc)
	return h.out.Event(&e)
}

func (h *Handler) eventOf(d *schema.Delivery, t schema.EventType, at time.Time, code int64, desc string) schema.Event {
	e := d.EventFor(t, at.UnixMilli())
	e.StatusCode, e.StatusDesc = code, desc
	if d.AcceptedAt > 0 && t != schema.EventSent {
		e.LatencyMs = at.UnixMilli() - d.AcceptedAt
	}
	return e
}

// retry schedules the next attempt of d: not before a wait drawn from
// [0, min(BaseBackoff·2^attempt, MaxBackoff)] (full jitter), or
// retryAfter when that is longer, on the retry tier that covers the time
// until the retry stage releases it (see workers.RetryOutput).
func (h *Handler) retry(d *schema.Delivery, at time.Time, retryAfter time.Duration) pipeline.Output {
	wait := max(time.Duration(rand.Int64N(int64(h.backoff(d.Attempt))+1)), retryAfter)
	next := *d // d stays as it was received
	next.Attempt++
	next.NotBefore = at.Add(wait).UnixMilli()
	return workers.RetryOutput(next, at)
}

// backoff is the jitter range of the retry after attempt:
// BaseBackoff·2^attempt, capped at MaxBackoff (computed without overflow).
func (h *Handler) backoff(attempt int) time.Duration {
	n := min(max(attempt, 0), 62)
	if h.cfg.BaseBackoff > h.cfg.MaxBackoff>>n {
		return h.cfg.MaxBackoff
	}
	return h.cfg.BaseBackoff << n
}

// invalidate tells the registry (push.bindings.R) that the vendor called
// the device's token dead, so fan-out stops planning deliveries to it.
func (h *Handler) invalidate(d *schema.Delivery, at time.Time) pipeline.Output {
	rec := schema.Binding{Op: schema.OpInvalidate, Region: d.Region, AppID: d.AppID, DeviceID: d.DeviceID,
		Vendor: d.Channel, VendorToken: d.Token, TS: at.UnixMilli()}
	b, _ := json.Marshal(rec)
	return pipeline.Output{Topic: pipeline.BindingsTopic(h.cfg.Region), Key: []byte(rec.KafkaKey()), Value: b}
}

func toMessage(d *schema.Delivery) channels.Message {
	m := channels.Message{
		DeliveryID: d.DeliveryID, MsgID: d.MsgID, TaskID: d.TaskID, AppID: d.AppID, DeviceID: d.DeviceID,
		Token: d.Token, Title: d.Title, Body: d.Body, Payload: d.Payload, PassThrough: d.PassThrough,
		Extras: d.Extras,
	}
	if d.ExpireAt > 0 {
		m.ExpireAt = time.UnixMilli(d.ExpireAt)
	}
	return m
}
