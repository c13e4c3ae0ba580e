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
// Callback URLs are chosen by callers, so every callback is checked
// against the policy of its app (AppPolicy): https only unless the app
// allows http, the app's host allowlist, and no address that is not public
// (loopback, private, link-local and cloud metadata, carrier-grade NAT,
// multicast, their IPv4-mapped forms...) unless the app names that
// private network. The address rule is applied to the address actually
// dialed, after DNS resolution, so a name that resolves (or rebinds) to
// 127.0.0.1 is refused too. Redirects are never followed: a 3xx answer
// is final. A refused callback is not posted and is recorded as blocked.
//
// Receivers are isolated from one another: each host (and port) has a
// circuit breaker and a cap on callbacks in flight that outlive batches,
// and a callback is tried once in line; when it gets no answer, a 5xx or
// a 429, or its host's breaker is open or its slots stay taken, it goes to
// a delay tier (push.callbacks.retry.<tier>.R, see TierHandler) with a
// not-before time, and is tried there again with exponential backoff
// until MaxAttempts. So a dead receiver delays only its own callbacks,
// never push.events.R.
//
// Each callback's final outcome is recorded as a callback_sent event of
// the same delivery, whose status code is the HTTP status the receiver
// answered last (0 if none) and whose description says what happened
// (never the receiver's own words). Its event id is derived from the
// delivery and the terminal event, so a replay records it once, whichever
// stage ends the callback.
//
// Delivery is at least once: a crash or a replay of push.events.R or of a
// delay tier posts a callback again, so receivers should treat (msgId,
// targetId, extInfo.deviceId) as the identity of a callback.
package callbacks

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"
	"github.com/sony/gobreaker/v2"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// Defaults and bounds of Config.
const (
	DefaultConcurrency     = 16
	DefaultHostConcurrency = 4
	DefaultTimeout         = 5 * time.Second
	// MaxTimeout bounds Timeout: a callback holds its batch at most twice
	// that (waiting for a slot, then one attempt).
	MaxTimeout         = 30 * time.Second
	DefaultMaxAttempts = 8
	DefaultMinBackoff  = 5 * time.Second
	DefaultMaxBackoff  = 10 * time.Minute
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
	// Apps holds the callback policy of each app by app id. An app not
	// listed gets the zero AppPolicy: https only, any host, public
	// addresses only.
	Apps map[string]AppPolicy
	// Resolver resolves callback hosts; nil means net.DefaultResolver.
	// Whatever it answers, only addresses the app's policy allows are
	// dialed.
	Resolver Resolver
	// RootCAs verifies https receivers; nil means the system's roots.
	RootCAs *x509.CertPool
	// Concurrency is how many callbacks of one batch are posted at once.
	// Default 16.
	Concurrency int
	// HostConcurrency is how many callbacks are in flight to one host
	// (and port) at once, over every batch and stage of the process.
	// Default 4.
	HostConcurrency int
	// Timeout bounds one HTTP attempt, reading the answer included, and
	// the wait for a free slot of the host and the batch before the
	// callback is deferred to a delay tier. Default 5s, at most
	// MaxTimeout.
	Timeout time.Duration
	// MaxAttempts is the most tries of one callback, the one in line
	// included; a try skipped because the host's breaker was open or its
	// slots stayed taken counts. The callback is then recorded as given
	// up. Default 8.
	MaxAttempts int
	// MinBackoff and MaxBackoff bound the exponential backoff between
	// tries: MinBackoff doubled per try, capped at MaxBackoff, jittered
	// between half and all of it, and at least the receiver's Retry-After
	// (capped at MaxBackoff). MaxBackoff is at most the largest delay
	// tier (pipeline.CallbackRetryTiers). Defaults 5s and 10m.
	MinBackoff time.Duration
	MaxBackoff time.Duration
	// Breaker configures the circuit breaker of each host.
	Breaker BreakerConfig
	// Metrics registers the series of newMetrics; nil keeps them
	// unregistered.
	Metrics prometheus.Registerer
	// Logger receives one line per final outcome (debug when delivered,
	// warn when not), per deferral (debug) and per breaker change.
	Logger zerolog.Logger
	// Now is the clock of event timestamps and not-before times; nil
	// means time.Now.
	Now func() time.Time
	// Sleep waits d or until ctx ends (or the stage stops), returning an
	// error then; it holds the batches of the delay tiers. nil means
	// pipeline.Sleep.
	Sleep func(ctx context.Context, d time.Duration) error
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
	if c.HostConcurrency == 0 {
		c.HostConcurrency = DefaultHostConcurrency
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	def(&c.Timeout, DefaultTimeout)
	def(&c.MinBackoff, DefaultMinBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	if c.Resolver == nil {
		c.Resolver = net.DefaultResolver
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Sleep == nil {
		c.Sleep = pipeline.Sleep
	}
	c.Breaker = c.Breaker.withDefaults()
	return c
}

// LongestBackoff is the largest MaxBackoff: the longest delay tier.
func LongestBackoff() time.Duration {
	tiers := pipeline.CallbackRetryTiers()
	return tiers[len(tiers)-1]
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
	case c.HostConcurrency < 0:
		return fmt.Errorf("callbacks: HostConcurrency %d is negative: use 0 for the default %d", c.HostConcurrency, DefaultHostConcurrency)
	case c.MaxAttempts < 0:
		return fmt.Errorf("callbacks: MaxAttempts %d is negative: use 0 for the default %d", c.MaxAttempts, DefaultMaxAttempts)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"Timeout", c.Timeout}, {"MinBackoff", c.MinBackoff}, {"MaxBackoff", c.MaxBackoff}} {
		if d.v < 0 {
			return fmt.Errorf("callbacks: %s %s is negative: use 0 for the default", d.name, d.v)
		}
	}
	if err := c.Breaker.Validate(); err != nil {
		return fmt.Errorf("callbacks: %w", err)
	}
	for app, p := range c.Apps {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("callbacks: policy of app %s: %w", app, err)
		}
	}
	c = c.withDefaults()
	switch {
	case c.Timeout > MaxTimeout:
		return fmt.Errorf("callbacks: Timeout %s exceeds %s: a callback holds its batch up to twice that; lower it", c.Timeout, MaxTimeout)
	case c.MinBackoff > c.MaxBackoff:
		return fmt.Errorf("callbacks: MinBackoff %s exceeds MaxBackoff %s: lower MinBackoff or raise MaxBackoff", c.MinBackoff, c.MaxBackoff)
	case c.MaxBackoff > LongestBackoff():
		return fmt.Errorf("callbacks: MaxBackoff %s exceeds the longest delay tier %s: lower it", c.MaxBackoff, LongestBackoff())
	}
	return nil
}

// Handler is the callbacks pipeline.BatchHandler of push.events.R; Tier
// returns the handlers of its delay tiers, which share its hosts'
// breakers and slots. Its methods are safe for concurrent use.
type Handler struct {
	cfg Config
	// public posts the callbacks of apps without PrivateNetworks: it
	// dials public addresses only. clients holds one client per app that
	// has some, so that no pooled connection to an app's private
	// receiver ever serves another app.
	public  *http.Client
	clients map[string]*http.Client
	hosts   *hostTable
	m       *metrics
}

// New returns a callbacks handler for cfg.
func New(cfg Config) (*Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	h := &Handler{cfg: cfg, clients: map[string]*http.Client{}}
	h.public = h.newClient(AppPolicy{})
	for app, p := range cfg.Apps {
		if len(p.PrivateNetworks) > 0 {
			h.clients[app] = h.newClient(p)
		}
	}
	h.hosts = newHostTable(cfg.HostConcurrency, cfg.Breaker, h.breakerChanged)
	h.m = newMetrics(cfg.Metrics, cfg.Region, h.hosts)
	return h, nil
}

// newClient is an HTTP client that dials only what p allows, follows no
// redirect and uses no proxy from the environment (a proxy would be
// dialed instead of the receiver, and the address check with it).
func (h *Handler) newClient(p AppPolicy) *http.Client {
	d := newGuardedDialer(AppPolicy{PrivateNetworks: p.PrivateNetworks}, h.cfg.Resolver)
	tr := &http.Transport{
		Proxy:                  nil,
		DialContext:            d.DialContext,
		TLSClientConfig:        &tls.Config{RootCAs: h.cfg.RootCAs, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:      true,
		MaxIdleConnsPerHost:    h.cfg.HostConcurrency,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    h.cfg.Timeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// breakerChanged records a host's breaker changing state.
func (h *Handler) breakerChanged(host string, from, to gobreaker.State) {
	ev := h.cfg.Logger.Info()
	if to == gobreaker.StateOpen {
		h.m.breakerTrips.Inc()
		ev = h.cfg.Logger.Warn()
	}
	ev.Str("host", host).Str("from", from.String()).Str("to", to.String()).Msg("callback host circuit breaker changed state")
}

// HandleBatch tries the callback of every terminal event of the batch that
// names a callback URL once, at most Concurrency at once, and returns for
// each either its callback_sent event (delivered, refused, blocked...) or
// its record on a delay tier; other records get no output. Only when ctx
// ends first does HandleBatch return an error, so the batch is handled
// again after a restart. Records that are not events of this region are
// skipped: the event sink rejects them. The batch takes at most about
// twice Timeout, whatever the receivers do.
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
	jobs := make([]job, 0, len(evs))
	for j, e := range evs {
		if skip[j] {
			h.m.superseded.Inc()
			h.cfg.Logger.Debug().Str("msg_id", e.MsgID).Str("device_id", e.DeviceID).Str("event", string(e.Event)).
				Msg("not posting a second ending of a delivery")
			continue
		}
		jobs = append(jobs, job{idx: src[j], r: Retry{Event: e}})
	}
	if err := h.run(ctx, jobs, results); err != nil {
		return nil, fmt.Errorf("posting %d callbacks of region %s: %w", len(jobs), h.cfg.Region, err)
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

// job is one callback to try and the index of the record it answers.
type job struct {
	idx int
	r   Retry
}

// run tries every job, at most Concurrency posting at once, and sets the
// output of each in results. It returns ctx's error when ctx ended first.
func (h *Handler) run(ctx context.Context, jobs []job, results []pipeline.Result) error {
	batch := make(chan struct{}, h.cfg.Concurrency)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, ok := h.try(ctx, j.r, batch); ok {
				results[j.idx].Outputs = []pipeline.Output{out}
			}
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// Results of a callback (label "result" of pushpipe_callbacks_posted_total).
const (
	resultDelivered  = "delivered"   // the receiver answered 2xx
	resultRefused    = "refused"     // it answered a status that is not retried (4xx but 429, 3xx)
	resultBlocked    = "blocked"     // the callback policy refused it: not posted
	resultGaveUp     = "gave_up"     // the last try failed on a retryable error: dropped
	resultInvalidURL = "invalid_url" // the callback URL cannot be posted to
	resultSignError  = "sign_error"  // the body could not be built or signed
)

// try makes one try of the callback r and returns its output: the
// callback_sent event when the callback ended, else its record on the
// delay tier of its next try. false when ctx ended first.
func (h *Handler) try(ctx context.Context, r Retry, batch chan struct{}) (pipeline.Output, bool) {
	now := h.cfg.Now()
	if r.FirstAt == 0 {
		r.FirstAt = now.UnixMilli()
	}
	e := r.Event
	u, err := ParseCallbackURL(e.CallbackURL)
	if err != nil {
		return h.final(r, resultInvalidURL, err.Error()), true
	}
	where := redact(u)
	policy := h.cfg.Apps[e.AppID]
	if err := policy.checkURL(u); err != nil {
		return h.blocked(r, where, err), true
	}
	body, err := json.Marshal(BodyFor(e))
	if err != nil {
		return h.final(r, resultSignError, fmt.Sprintf("encoding the callback body: %v", err)), true
	}
	sign, err := h.cfg.Signer.Sign(body)
	if err != nil {
		return h.final(r, resultSignError, err.Error()), true
	}
	client := h.public
	if c, ok := h.clients[e.AppID]; ok {
		client = c
	}
	a := h.post(ctx, client, hostKey(u), withSign(u, sign), body, batch)
	if ctx.Err() != nil {
		return pipeline.Output{}, false
	}
	r.Attempts++
	if a.posted {
		r.Posts++
		r.LastStatus = a.status
	}
	if b, ok := isBlocked(a.err); ok {
		return h.blocked(r, where, b), true
	}
	r.LastError = describe(a)
	switch {
	case a.posted && a.err == nil:
		return h.final(r, resultDelivered, fmt.Sprintf("delivered to %s in %d attempt(s)", where, r.Attempts)), true
	case a.status > 0 && a.status != http.StatusTooManyRequests && a.status < 500:
		return h.final(r, resultRefused, fmt.Sprintf("refused by %s after %d attempt(s): %s", where, r.Attempts, r.LastError)), true
	}
	if r.Attempts >= h.cfg.MaxAttempts {
		return h.final(r, resultGaveUp, fmt.Sprintf("gave up on %s after %d attempt(s), %d posted, over %s: %s", where, r.Attempts, r.Posts,
			now.Sub(time.UnixMilli(r.FirstAt)).Round(time.Millisecond), r.LastError)), true
	}
	reason := a.skipped
	switch {
	case reason != "":
	case a.status == http.StatusTooManyRequests:
		reason = retryThrottled
	default:
		reason = retryError
	}
	wait := h.backoff(r.Attempts, a.retryAfter)
	r.NotBefore = now.Add(wait).UnixMilli()
	h.m.retries.WithLabelValues(reason).Inc()
	h.cfg.Logger.Debug().Str("app_id", e.AppID).Str("msg_id", e.MsgID).Str("device_id", e.DeviceID).Str("host", u.Host).
		Str("reason", reason).Int("attempts", r.Attempts).Dur("wait", wait).Str("last", r.LastError).Msg("callback deferred to a delay tier")
	return retryOutput(h.cfg.Region, r, wait), true
}

// final records how callback r ended: its callback_sent event, with the
// last HTTP status and desc, and the metric and log line of result.
func (h *Handler) final(r Retry, result, desc string) pipeline.Output {
	e := r.Event
	h.m.posted.WithLabelValues(result).Inc()
	log := h.cfg.Logger.Debug()
	if result != resultDelivered {
		log = h.cfg.Logger.Warn()
	}
	took := h.cfg.Now().Sub(time.UnixMilli(r.FirstAt))
	log.Str("app_id", e.AppID).Str("msg_id", e.MsgID).Str("device_id", e.DeviceID).Str("event", string(e.Event)).Str("result", result).
		Int("status", r.LastStatus).Int("attempts", r.Attempts).Dur("took", took).Msg(desc)

	ev := e
	ev.EventID = schema.NewEventID(schema.EventCallbackSent, e.DeliveryID, e.EventID)
	ev.TS = h.cfg.Now().UnixMilli()
	ev.Event = schema.EventCallbackSent
	ev.StatusCode = int64(r.LastStatus)
	ev.StatusDesc = truncate(desc, maxDescLen)
	ev.LatencyMs = took.Milliseconds()
	ev.Token, ev.CallbackURL, ev.Template = "", "", ""
	return workers.EventOutput(h.cfg.Region, ev)
}

// blocked records callback r as refused by the callback policy.
func (h *Handler) blocked(r Retry, where string, err error) pipeline.Output {
	reason := ReasonSSRF
	if b, ok := isBlocked(err); ok {
		reason = b.Reason
	}
	h.m.blocked.WithLabelValues(reason).Inc()
	return h.final(r, resultBlocked, fmt.Sprintf("not posted to %s: %v", where, err))
}

// attemptResult is how one try went.
type attemptResult struct {
	// skipped is retryBreakerOpen or retryHostBusy when no request was
	// made.
	skipped    string
	posted     bool // a request was made (an answer may still be missing)
	status     int  // HTTP status, 0 if none
	retryAfter time.Duration
	err        error // nil for a 2xx answer
}

// Errors of tries that made no request.
var (
	errHostBusy    = errors.New("every callback slot of the host stayed taken")
	errBreakerOpen = errors.New("the host's circuit breaker is open")
)

// post makes one HTTP attempt at target on host, unless no slot of the
// host frees up within Timeout, the host's breaker is open, or no slot of
// the batch frees up within the rest of Timeout, and counts the outcome on
// the host's breaker.
func (h *Handler) post(ctx context.Context, client *http.Client, host, target string, body []byte, batch chan struct{}) attemptResult {
	hs := h.hosts.get(host)
	defer h.hosts.put(hs)
	deadline := time.Now().Add(h.cfg.Timeout)
	if !acquire(ctx, hs.slots, h.cfg.Timeout) {
		return attemptResult{skipped: retryHostBusy, err: errHostBusy}
	}
	defer func() { <-hs.slots }()
	// The breaker is asked once a slot is held, right before the request,
	// so that it judges with the outcomes of the requests before.
	done, err := hs.cb.Allow()
	if err != nil {
		return attemptResult{skipped: retryBreakerOpen, err: errBreakerOpen}
	}
	if !acquire(ctx, batch, time.Until(deadline)) {
		done(errHostExcluded)
		return attemptResult{skipped: retryHostBusy, err: errHostBusy}
	}
	defer func() { <-batch }()

	a := attemptResult{posted: true}
	a.status, a.retryAfter, a.err = h.attempt(ctx, client, target, body)
	_, blocked := isBlocked(a.err)
	switch {
	case ctx.Err() != nil, blocked, a.status == http.StatusTooManyRequests:
		done(errHostExcluded) // says nothing about the host's health
	case a.err != nil && (a.status == 0 || a.status >= 500):
		done(errHostFailure)
	default:
		done(nil)
	}
	if blocked {
		a.posted = false
	}
	return a
}

// acquire takes a slot of sem, waiting at most wait; false when none freed
// up in time or ctx ended.
func acquire(ctx context.Context, sem chan struct{}, wait time.Duration) bool {
	select {
	case sem <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(max(wait, 0))
	defer t.Stop()
	select {
	case sem <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// StatusError is the error of an attempt the receiver answered with a
// status other than 2xx. The answer's body is never kept.
type StatusError struct {
	Code int
}

// Error is "HTTP <code> <standard text>": the standard reason phrase of
// the code, not the receiver's.
func (e *StatusError) Error() string {
	return strings.TrimSpace("HTTP " + strconv.Itoa(e.Code) + " " + http.StatusText(e.Code))
}

// attempt posts once and returns the HTTP status (0 if there was no
// answer), the Retry-After the receiver asked for, and an error unless it
// answered 2xx.
func (h *Handler) attempt(ctx context.Context, client *http.Client, target string, body []byte) (int, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, h.cfg.Timeout)
	defer cancel()
	start := time.Now()
	code, retryAfter, err := h.do(ctx, client, target, body)
	if _, blocked := isBlocked(err); blocked {
		return code, retryAfter, err
	}
	h.m.seconds.Observe(time.Since(start).Seconds())
	class := "error"
	if code > 0 {
		class = strconv.Itoa(code/100) + "xx"
	}
	h.m.attempts.WithLabelValues(class).Inc()
	return code, retryAfter, err
}

func (h *Handler) do(ctx context.Context, client *http.Client, target string, body []byte) (int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, 0, fmt.Errorf("building the callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "pushpipe-callbacks")
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("posting the callback: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	// Only the status matters; what is read lets the connection be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return resp.StatusCode, channels.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), &StatusError{Code: resp.StatusCode}
	}
	return resp.StatusCode, 0, nil
}

// describe is a short description of how a try failed, in our words: the
// standard text of an HTTP status, or the kind of transport failure.
// Nothing the receiver chose (its answer, its certificate, its reason
// phrase) is repeated, nor the addresses a name resolved to.
func describe(a attemptResult) string {
	var se *StatusError
	var dnsErr *net.DNSError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var alert tls.AlertError
	var record tls.RecordHeaderError
	switch err := a.err; {
	case err == nil:
		return ""
	case a.skipped != "" || errors.As(err, &se):
		return err.Error()
	case errors.As(err, &dnsErr):
		return "the host name did not resolve"
	case errors.As(err, &certErr):
		return "the receiver's TLS certificate was not trusted"
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		return "no answer within the timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed without an answer"
	case errors.As(err, &alert), errors.As(err, &record):
		return "TLS handshake failed"
	}
	return "connection failed"
}

// backoff is the wait after the given failed try: MinBackoff doubled per
// try, capped at MaxBackoff, jittered between half and all of it, and at
// least the receiver's Retry-After (capped at MaxBackoff).
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
// be posted to, as acceptance does (schema.ValidateCallbackURL): an
// absolute http or https URL of at most 1024 bytes with a host and no user
// information. Whether the app may post there is decided later (AppPolicy).
func ParseCallbackURL(raw string) (*url.URL, error) {
	if err := schema.ValidateCallbackURL(raw); err != nil {
		return nil, err
	}
	return url.Parse(raw)
}

// hostKey names the host of u for its breaker and slots: the lower-cased
// host name and the port, the scheme's default when u names none.
func hostKey(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return net.JoinHostPort(strings.TrimSuffix(strings.ToLower(u.Hostname()), "."), port)
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
