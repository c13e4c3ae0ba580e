// Package callbacks is the stage that tells business systems how their
// pushes ended (mPaaS guide §6.9, "Configure callback API"). It reads
// push.events.R with its own consumer group and, for every terminal event
// of a delivery (acked, failed, expired, revoked) whose request named a
// callbackUrl, POSTs a signed JSON body to that URL:
//
//	POST <callbackUrl>?sign=<signature>
//	Content-Type: application/json; charset=utf-8
//
//	{"extInfo":{"adToken":"…","osType":"ios",…},"msgId":"…","pushSuccess":true,
//	 "statusCode":"2","statusDesc":"Acked","targetId":"…"}
//
// The signature is SHA256withRSA (PKCS #1 v1.5) over the exact body bytes,
// base64 with '+' and '/' replaced by '-' and '_' (see Signer); receivers
// verify it with the public key, which the receipts worker publishes on
// GET /callbacks/public-key.
//
// Each outcome is recorded as a callback_sent event of the same delivery,
// whose status code is the HTTP status the receiver answered (0 if none)
// and whose description says what happened. Its event id is derived from
// the delivery and the terminal event, so a replay records it once.
//
// Delivery is at least once: a crash or a replay of push.events.R posts a
// callback again, so receivers should treat (msgId, targetId, extInfo.
// deviceId) as the identity of a callback.
package callbacks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// Defaults of Config.
const (
	DefaultConcurrency = 16
	DefaultTimeout     = 5 * time.Second
	DefaultMaxAttempts = 5
	DefaultMinBackoff  = 200 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Second
	DefaultMaxElapsed  = 30 * time.Second
)

// maxDescLen caps the description stored on a callback_sent event.
const maxDescLen = 512

// Config configures a Handler. Zero values mean the documented defaults.
type Config struct {
	// Region is the region served: events of push.events.<Region>.
	// Required.
	Region string
	// Signer signs every body. Required.
	Signer *Signer
	// Client posts the callbacks. nil means a client that does not follow
	// redirects (a redirect answer counts as a refusal). A given client is
	// used as is; Timeout still bounds each attempt.
	Client *http.Client
	// Concurrency is how many callbacks of one batch are posted at once.
	// Default 16.
	Concurrency int
	// Timeout bounds one HTTP attempt, reading the answer included.
	// Default 5s.
	Timeout time.Duration
	// MaxAttempts is the most HTTP attempts of one callback. Default 5.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// attempts (each wait is jittered between half and all of it; a
	// Retry-After answer is honoured up to MaxBackoff). Defaults 200ms
	// and 5s.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// MaxElapsed bounds one callback from its first attempt to its
	// outcome, waits included. Default 30s.
	MaxElapsed time.Duration
	// Metrics registers the series of newMetrics; nil keeps them
	// unregistered.
	Metrics prometheus.Registerer
	// Logger receives one line per callback: debug when delivered, warn
	// when not.
	Logger zerolog.Logger
	// Now is the clock of event timestamps; nil means time.Now.
	Now func() time.Time
	// Outcomes, when set, is read before a batch is posted: an ending of
	// a delivery whose stored outcome is another terminal event (a replay
	// made it end twice; the event sink stored the later one as
	// superseded) is not posted, and neither is a second ending of one
	// delivery within a batch. nil checks within the batch only. An ending
	// that arrives before the first one's outcome is stored is posted.
	Outcomes Outcomes
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	def(&c.Timeout, DefaultTimeout)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.MaxElapsed, DefaultMaxElapsed)
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first setting that cannot work, saying what to fix.
// Zero values are valid where a default is documented.
func (c Config) Validate() error {
	switch {
	case !schema.ValidRegion(c.Region):
		return fmt.Errorf("callbacks: region %q is not one of %v", c.Region, schema.Regions())
	case c.Signer == nil:
		return errors.New("callbacks: Signer is required: load the signing key with LoadSigner")
	case c.Concurrency < 0:
		return fmt.Errorf("callbacks: Concurrency %d is negative: use 0 for the default %d", c.Concurrency, DefaultConcurrency)
	case c.MaxAttempts < 0:
		return fmt.Errorf("callbacks: MaxAttempts %d is negative: use 0 for the default %d", c.MaxAttempts, DefaultMaxAttempts)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Timeout", c.Timeout}, {"MinBackoff", c.MinBackoff}, {"MaxBackoff", c.MaxBackoff}, {"MaxElapsed", c.MaxElapsed}} {
		if d.v < 0 {
			return fmt.Errorf("callbacks: %s %s is negative: use 0 for the default", d.name, d.v)
		}
	}
	c = c.withDefaults()
	switch {
	case c.MinBackoff > c.MaxBackoff:
		return fmt.Errorf("callbacks: MinBackoff %s exceeds MaxBackoff %s: lower MinBackoff or raise MaxBackoff", c.MinBackoff, c.MaxBackoff)
	case c.MaxElapsed < c.Timeout:
		return fmt.Errorf("callbacks: MaxElapsed %s is shorter than one attempt's Timeout %s: raise MaxElapsed", c.MaxElapsed, c.Timeout)
	}
	return nil
}

// Handler is the callbacks pipeline.BatchHandler. Its methods are safe
// for concurrent use.
type Handler struct {
	cfg    Config
	client *http.Client
	m      *metrics
}

// New returns a callbacks handler for cfg.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	client := cfg.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.Concurrency
		client = &http.Client{Transport: tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	return &Handler{cfg: cfg, client: client, m: newMetrics(cfg.Metrics, cfg.Region)}, nil
}

// HandleBatch posts the callback of every terminal event of the batch that
// names a callback URL, at most Concurrency at once, and returns a
// callback_sent event for each; other records get no output. A callback
// that fails for good is recorded as such and does not hold the batch
// back. Only when ctx ends first does HandleBatch return an error, so the
// batch is handled again after a restart. Records that are not events of
// this region are skipped: the event sink rejects them.
func (h *Handler) HandleBatch(ctx context.Context, msgs []kafka.Message) ([]pipeline.Result, error) {
	results := make([]pipeline.Result, len(msgs))
	var evs []schema.Event
	var src []int
	for i, m := range msgs {
		if e, ok := h.callbackEvent(m.Value); ok {
			evs, src = append(evs, e), append(src, i)
		}
	}
	skip, err := superseded(ctx, h.cfg.Outcomes, evs)
	if err != nil {
		return nil, fmt.Errorf("checking the outcomes of %d callbacks of region %s: %w", len(evs), h.cfg.Region, err)
	}
	sem := make(chan struct{}, h.cfg.Concurrency)
	down := &hostSet{hosts: map[string]bool{}}
	var wg sync.WaitGroup
	posted := 0
	for j, e := range evs {
		i := src[j]
		if skip[j] {
			h.m.superseded.Inc()
			h.cfg.Logger.Debug().Str("msg_id", e.MsgID).Str("device_id", e.DeviceID).Str("event", string(e.Event)).
				Msg("not posting a second ending of a delivery")
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		posted++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if ev, ok := h.callback(ctx, e, down); ok {
				results[i].Outputs = []pipeline.Output{workers.EventOutput(h.cfg.Region, ev)}
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("posting %d callbacks of region %s: %w", posted, h.cfg.Region, err)
	}
	return results, nil
}

// callbackEvent decodes a record and reports whether it asks for a
// callback: a terminal event of this region with a callback URL.
func (h *Handler) callbackEvent(value []byte) (schema.Event, bool) {
	var e schema.Event
	if err := json.Unmarshal(value, &e); err != nil {
		return e, false
	}
	return e, e.Region == h.cfg.Region && e.Event.Terminal() && e.CallbackURL != ""
}

// callback posts the callback of e and returns its callback_sent event;
// false when ctx ended before an outcome.
func (h *Handler) callback(ctx context.Context, e schema.Event, down *hostSet) (schema.Event, bool) {
	start := time.Now()
	o := h.post(ctx, e, down)
	if o.result == "" {
		return schema.Event{}, false
	}
	took := time.Since(start)
	h.m.posted.WithLabelValues(o.result).Inc()
	log := h.cfg.Logger.Debug()
	if o.result != resultDelivered {
		log = h.cfg.Logger.Warn()
	}
	log.Str("msg_id", e.MsgID).Str("device_id", e.DeviceID).Str("event", string(e.Event)).Str("result", o.result).
		Int("status", o.status).Int("attempts", o.attempts).Dur("took", took).Msg(o.desc)

	ev := e
	ev.EventID = schema.NewEventID(schema.EventCallbackSent, e.DeliveryID, e.EventID)
	ev.TS = h.cfg.Now().UnixMilli()
	ev.Event = schema.EventCallbackSent
	ev.StatusCode = int64(o.status)
	ev.StatusDesc = truncate(o.desc, maxDescLen)
	ev.LatencyMs = took.Milliseconds()
	ev.Token, ev.CallbackURL, ev.Template = "", "", ""
	return ev, true
}

// Results of a callback (label "result" of pushpipe_callbacks_posted_total).
const (
	resultDelivered  = "delivered"   // the receiver answered 2xx
	resultRefused    = "refused"     // it answered a status that is not retried (4xx but 429, 3xx)
	resultGaveUp     = "gave_up"     // attempts or time ran out on retryable failures
	resultInvalidURL = "invalid_url" // the callback URL cannot be posted to
	resultSignError  = "sign_error"  // the body could not be built or signed
)

// outcome is how one callback ended. An empty result means the batch's
// context ended first.
type outcome struct {
	result   string
	status   int // last HTTP status, 0 if none
	attempts int
	desc     string
}

// post builds, signs and posts the callback of e, retrying connection
// errors, timeouts, 5xx and 429 with backoff.
func (h *Handler) post(ctx context.Context, e schema.Event, down *hostSet) outcome {
	u, err := ParseCallbackURL(e.CallbackURL)
	if err != nil {
		return outcome{result: resultInvalidURL, desc: err.Error()}
	}
	where := redact(u)
	body, err := json.Marshal(BodyFor(e))
	if err != nil {
		return outcome{result: resultSignError, desc: fmt.Sprintf("encoding the callback body: %v", err)}
	}
	sign, err := h.cfg.Signer.Sign(body)
	if err != nil {
		return outcome{result: resultSignError, desc: err.Error()}
	}
	target := withSign(u, sign)

	start := time.Now()
	deadline := start.Add(h.cfg.MaxElapsed)
	cctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	maxAttempts := h.cfg.MaxAttempts
	if down.has(u.Host) {
		maxAttempts = 1 // the host gave up on another callback of this batch
	}
	var o outcome
	var last error
	for o.attempts < maxAttempts {
		o.attempts++
		status, retryAfter, err := h.attempt(cctx, target, body)
		if ctx.Err() != nil {
			return outcome{}
		}
		o.status, last = status, err
		switch {
		case err == nil && status >= 200 && status < 300:
			o.result, o.desc = resultDelivered, fmt.Sprintf("delivered to %s in %d attempt(s)", where, o.attempts)
			return o
		case status > 0 && status != http.StatusTooManyRequests && status < 500:
			o.result = resultRefused
			o.desc = fmt.Sprintf("refused by %s after %d attempt(s): %v", where, o.attempts, err)
			return o
		}
		if o.attempts >= maxAttempts {
			break
		}
		wait := h.backoff(o.attempts, retryAfter)
		if time.Now().Add(wait).After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return outcome{}
		case <-time.After(wait):
		}
	}
	down.add(u.Host)
	o.result = resultGaveUp
	o.desc = fmt.Sprintf("gave up on %s after %d attempt(s) in %s: %v", where, o.attempts, time.Since(start).Round(time.Millisecond), last)
	return o
}

// StatusError is the error of an attempt the receiver answered with a
// status other than 2xx.
type StatusError struct {
	Code int
	// Body is the start of the answer, for people.
	Body string
}

func (e *StatusError) Error() string {
	if e.Body == "" {
		return "HTTP " + strconv.Itoa(e.Code)
	}
	return fmt.Sprintf("HTTP %d: %s", e.Code, e.Body)
}

// attempt posts once and returns the HTTP status (0 if there was no
// answer), the Retry-After the receiver asked for, and an error unless it
// answered 2xx.
func (h *Handler) attempt(ctx context.Context, target string, body []byte) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	start := time.Now()
	code, retryAfter, err := h.do(ctx, target, body)
	h.m.seconds.Observe(time.Since(start).Seconds())
	class := "error"
	if code > 0 {
		class = strconv.Itoa(code/100) + "xx"
	}
	h.m.attempts.WithLabelValues(class).Inc()
	return code, retryAfter, err
}

func (h *Handler) do(ctx context.Context, target string, body []byte) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("building the callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "pushpipe-callbacks")
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("posting the callback: %w", err)
	}
	defer resp.Body.Close()
	// The answer's body matters only for the description of a failure; a
	// 2xx answer delivered the callback even if its body breaks off.
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return resp.StatusCode, channels.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
			&StatusError{Code: resp.StatusCode, Body: truncate(string(bytes.TrimSpace(head)), 200)}
	}
	return resp.StatusCode, 0, nil
}

// backoff is the wait after the given failed attempt: MinBackoff doubled
// per attempt, capped at MaxBackoff, jittered between half and all of it,
// and at least the receiver's Retry-After (capped at MaxBackoff).
func (h *Handler) backoff(attempt int, retryAfter time.Duration) time.Duration {
	d := h.cfg.MinBackoff
	for i := 1; i < attempt && d < h.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, h.cfg.MaxBackoff)
	d = d/2 + rand.N(d/2+1)
	return max(d, min(retryAfter, h.cfg.MaxBackoff))
}

// Body is the JSON document posted to a callback URL: the callbackJson of
// mPaaS §6.9. Fields are encoded in this order; the signature covers the
// exact bytes sent.
type Body struct {
	// ExtInfo carries what is known of the device: "osType" (android, ios,
	// harmony), "adToken" (the vendor token), "deviceId", "channel" (the
	// vendor), "taskId" and "event" (acked, failed, expired or revoked).
	// Keys without a value are left out.
	ExtInfo map[string]string `json:"extInfo"`
	// MsgID is the request's msgKey for the target.
	MsgID string `json:"msgId"`
	// PushSuccess is true for acked, false for failed, expired, revoked.
	PushSuccess bool `json:"pushSuccess"`
	// StatusCode and StatusDesc are the §10.3 status of the outcome, e.g.
	// "2" and "Acked", "2009" and "BadDeviceToken…".
	StatusCode string `json:"statusCode"`
	StatusDesc string `json:"statusDesc"`
	// TargetID is the target as the request named it (device, user,
	// alias…), or the device id when the event does not say.
	TargetID string `json:"targetId"`
}

// BodyFor builds the callback body of terminal event e.
func BodyFor(e schema.Event) Body {
	ext := map[string]string{}
	for k, v := range map[string]string{"osType": e.Platform, "adToken": e.Token, "deviceId": e.DeviceID,
		"channel": e.Channel, "taskId": e.TaskID, "event": string(e.Event)} {
		if v != "" {
			ext[k] = v
		}
	}
	target := e.Target
	if target == "" {
		target = e.DeviceID
	}
	return Body{ExtInfo: ext, MsgID: e.MsgID, PushSuccess: e.Event == schema.EventAcked,
		StatusCode: strconv.FormatInt(e.StatusCode, 10), StatusDesc: e.StatusDesc, TargetID: target}
}

// ParseCallbackURL parses a request's callbackUrl and checks that it can
// be posted to: an absolute http or https URL with a host.
func ParseCallbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("callback URL is not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("callback URL %q is not http or https", truncate(raw, 200))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("callback URL %q has no host", truncate(raw, 200))
	}
	return u, nil
}

// withSign is u with the query parameter sign added, the query the
// request named kept as it was.
func withSign(u *url.URL, sign string) string {
	v := *u
	p := "sign=" + url.QueryEscape(sign)
	if v.RawQuery == "" {
		v.RawQuery = p
	} else {
		v.RawQuery += "&" + p
	}
	v.Fragment, v.RawFragment = "", ""
	return v.String()
}

// redact is u without credentials, query and fragment, for descriptions
// stored in the events table.
func redact(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// hostSet remembers, within one batch, the hosts a callback gave up on,
// so that their other callbacks of the batch are tried once instead of
// holding the batch for MaxElapsed each.
type hostSet struct {
	mu    sync.Mutex
	hosts map[string]bool
}

func (s *hostSet) add(h string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hosts[h] = true
}

func (s *hostSet) has(h string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hosts[h]
}
