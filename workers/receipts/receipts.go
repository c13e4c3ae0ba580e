// Package receipts is the receipts worker: an HTTP server, one region per
// process, that accepts vendor delivery receipts in each vendor's own
// format (mPaaS guide §7.2.10) and the app SDK's client events, and
// publishes them as lifecycle events on push.events.R.
//
// Endpoints (POST; any other method gets 405), each with the app in the
// query, ?app=<appId>, and authenticated as auth.go describes:
//
//	/receipts/hms        Huawei Push Kit   JSON {"statuses":[{"biTag","token","status","timestamp",...}]}, header X-HUAWEI-CALLBACK-ID
//	/receipts/honor      Honor Push        the same body as Huawei, &token=<the app's Honor receipt token>
//	/receipts/harmonyos  HarmonyOS Push    Huawei's body with "deliveryStatus":{"result","timestamp"}, header X-HUAWEI-CALLBACK-ID
//	/receipts/mipush     Xiaomi MiPush     form-encoded, field data = JSON {"<mipush msg id>":{"param","type","targets","barStatus","timestamp"}}, tagged param
//	/receipts/oppo       OPPO Push         JSON [{"appId","eventTime","eventType","messageId","param","registrationIds"}], tagged param
//	/receipts/vivo       vivo Push         JSON {"<vivo task id>":{"param","targets","ackTime","ackType"}}, tagged param
//	/receipts/client     app SDK           JSON {"events":[{"deliveryId"|"msgId"+"deviceId","event":"arrival|open|ignore","ts","appVersion","model"}]}, headers X-Pushpipe-Timestamp and X-Pushpipe-Signature
//
// plus, with a CallbackPublicKey, GET /callbacks/public-key, the PEM of
// the key business callbacks are signed with (mPaaS §6.9; see
// workers/callbacks). Vendors reach this server over the internet: it
// serves no health, readiness or metrics (any other path is 404); the
// process serves those on its internal health address
// (pipeline.HealthServer, healthAddr).
//
// Correlation: the sender sets each vendor's receipt correlation value
// (Huawei, Honor and HarmonyOS biTag; MiPush extra.callback.param; OPPO
// call_back_parameter; vivo callback.param) to the delivery id, or, for a
// vendor call that carries many tokens, to the msg id (MiPush, OPPO and
// vivo with its tag appended). A value of the form of a delivery id
// (schema.IsDeliveryID) yields one event with that DeliveryID (and the
// token the receipt names, for the dead-token check) and event id
// schema.ReceiptEventID(step, delivery id); any other value yields one
// event per token the receipt names, with MsgID and Token set and event
// id schema.PendingReceiptEventID. A client event naming msgId and
// deviceId gets the delivery id Config.IDKey derives for the
// authenticated app. The events carry no app id but ReceiptAppID, the
// authenticated app: the event sink fills them in from its delivery index
// and resolves them only to deliveries of that app (workers/eventsink
// ResolveConfig). Replaying a receipt produces the same event ids, so no
// statistic changes; an arrival reported by both the vendor and the app
// is one event.
//
// Outcomes (status codes of §10.3): an arrival or click is arrived or
// opened with status 2 Acked; a receipt saying the message did not reach
// the device is a failed event with the vendor's code (Huawei status 2 →
// 80000004 app uninstalled, 5 → 2009 BadDeviceToken, other non-zero
// Huawei, Honor and HarmonyOS statuses keep their number; MiPush type 16 →
// 20301 Invalid target, 32/64/128 → 99999999 NONE; OPPO regid_invalid →
// 10000 Invalid RegistrationId). Items of a type the worker does not know
// are skipped and counted. Client events arrival, open and ignore become
// arrived, opened and ignored.
//
// A request is answered only after every event it caused was acknowledged
// by Kafka: 200 in the vendor's expected form (Huawei, Honor, HarmonyOS:
// {"code":"0","message":"success"}; MiPush: SUCCESS; OPPO, vivo and the
// client endpoint: {"returnCode":100,"returnReason":"SUCCESS"}). A request
// that fails authentication gets 401 (403 for a source address not
// allowed) and writes nothing. A body that is not a receipt of its vendor
// gets 400 (413 when larger than MaxBodyBytes; 400 too_many_items or
// too_many_events over MaxReceiptItems or MaxEvents) with a message saying
// what is wrong, in the same form; Kafka not acknowledging gets 503 so
// that the vendor sends the receipt again. Each request is logged once.
package receipts

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers"
)

// Producer writes records and returns once Kafka acknowledged every one;
// *pipeline.Producer is the real one. It must be safe for concurrent use.
type Producer interface {
	Produce(ctx context.Context, outs []pipeline.Output) error
}

// Defaults of Config.
const (
	DefaultAddr            = "127.0.0.1:0"
	DefaultMaxBodyBytes    = 1 << 20
	DefaultMaxClientEvents = 500
	DefaultProduceTimeout  = 10 * time.Second
	// DefaultMaxEvents bounds the events one request may publish.
	DefaultMaxEvents = 5000
)

// Config configures a Server. Zero values mean the documented defaults.
type Config struct {
	// Region is the region served; events go to push.events.<Region>.
	// Required.
	Region string
	// Addr is the listen address. Default DefaultAddr (a free loopback
	// port).
	Addr string
	// Producer publishes the events. Required.
	Producer Producer
	// Metrics registers the worker's series (see newMetrics); nil keeps
	// them unregistered. They are exported by the process's health
	// server, not by this one.
	Metrics prometheus.Registerer
	// Logger receives one line per request (debug for 200, warn for 4xx,
	// error for 5xx), with keys vendor and region.
	Logger zerolog.Logger
	// MaxBodyBytes is the largest request body read. Default 1 MiB.
	MaxBodyBytes int64
	// MaxClientEvents is the most events of one client batch. Default 500.
	MaxClientEvents int
	// ProduceTimeout bounds the wait for Kafka per request. Default 10s.
	ProduceTimeout time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// CallbackPublicKey, if set, is the PEM "PUBLIC KEY" block business
	// callbacks are signed with; it is served as text/plain on GET
	// /callbacks/public-key so that receivers can verify callbacks. When
	// empty, that path answers 404.
	CallbackPublicKey []byte
	// IDKey checks the tags of MiPush, OPPO and vivo callback parameters
	// and derives the delivery id of client events naming msgId and
	// deviceId. Required: the key of the fanout and sender of the region.
	IDKey schema.IDKey
	// Apps are the receipt credentials of each app id (see auth.go); an
	// app absent here has its Huawei, Honor, HarmonyOS and client
	// receipts refused. The map is not modified.
	Apps map[string]AppCredentials
	// AllowedSources, if it names an endpoint (Endpoints: hms, honor,
	// harmonyos, mipush, oppo, vivo, client), limits that endpoint to
	// peers within the prefixes (403 otherwise). The peer is the TCP
	// connection's address: put no proxy in front, or allow the proxy.
	AllowedSources map[string][]netip.Prefix
	// SignatureWindow is how far the timestamp of a Huawei or client
	// signature may be from the clock. Default DefaultSignatureWindow.
	SignatureWindow time.Duration
	// NonceCacheSize bounds the Huawei nonces remembered to refuse
	// replays. Default DefaultNonceCacheSize.
	NonceCacheSize int
	// MaxEvents is the most events one request may publish (items times
	// the tokens each names); a larger request is refused (400
	// too_many_events). Default DefaultMaxEvents.
	MaxEvents int
}

func (c Config) withDefaults() Config {
	if c.Addr == "" {
		c.Addr = DefaultAddr
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.MaxClientEvents == 0 {
		c.MaxClientEvents = DefaultMaxClientEvents
	}
	if c.ProduceTimeout == 0 {
		c.ProduceTimeout = DefaultProduceTimeout
	}
	if c.SignatureWindow == 0 {
		c.SignatureWindow = DefaultSignatureWindow
	}
	if c.NonceCacheSize == 0 {
		c.NonceCacheSize = DefaultNonceCacheSize
	}
	if c.MaxEvents == 0 {
		c.MaxEvents = DefaultMaxEvents
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Validate reports the first setting that cannot work, saying what to fix.
func (c Config) Validate() error {
	switch {
	case !schema.ValidRegion(c.Region):
		return fmt.Errorf("receipts: region %q is not one of %v", c.Region, schema.Regions())
	case c.Producer == nil:
		return errors.New("receipts: Producer is required: pass the process's pipeline.Producer")
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("receipts: MaxBodyBytes %d is negative: use 0 for the default 1 MiB", c.MaxBodyBytes)
	case c.MaxClientEvents < 0:
		return fmt.Errorf("receipts: MaxClientEvents %d is negative: use 0 for the default %d", c.MaxClientEvents, DefaultMaxClientEvents)
	case c.ProduceTimeout < 0:
		return fmt.Errorf("receipts: ProduceTimeout %s is negative: use 0 for the default %s", c.ProduceTimeout, DefaultProduceTimeout)
	case !c.IDKey.Valid():
		return errors.New("receipts: IDKey is required: configure security.idSecret or security.idSecretFile, the secret of the region's fanout")
	case c.SignatureWindow < 0 || c.NonceCacheSize < 0 || c.MaxEvents < 0:
		return fmt.Errorf("receipts: SignatureWindow %s, NonceCacheSize %d and MaxEvents %d must not be negative (0 means the default)", c.SignatureWindow, c.NonceCacheSize, c.MaxEvents)
	}
	for name := range c.AllowedSources {
		if _, ok := vendorByName(name); !ok {
			return fmt.Errorf("receipts: AllowedSources names %q, which is not an endpoint: use one of %v", name, vendorNames())
		}
	}
	if len(c.CallbackPublicKey) > 0 {
		if b, _ := pem.Decode(c.CallbackPublicKey); b == nil || b.Type != "PUBLIC KEY" {
			return errors.New("receipts: CallbackPublicKey is not a PEM PUBLIC KEY block: pass callbacks.Signer.PublicKeyPEM()")
		}
	}
	return nil
}

// Server is the receipts worker of one region. Create it with New, serve
// it with Start (or mount Handler elsewhere), stop it with Close. Its
// methods are safe for concurrent use.
type Server struct {
	cfg     Config
	log     zerolog.Logger
	m       *metrics
	handler http.Handler
	nonces  *nonceCache

	http *pipeline.HTTPServer
}

// New returns a server for cfg. Nothing listens until Start.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	s := &Server{
		cfg: cfg,
		log: cfg.Logger.With().Str("component", "receipts").Str("region", cfg.Region).Logger(),
		m:   newMetrics(cfg.Metrics, cfg.Region),
	}
	s.nonces = newNonceCache(2*cfg.SignatureWindow, cfg.NonceCacheSize)
	mux := http.NewServeMux()
	mux.HandleFunc("/receipts/{vendor}", s.serveReceipt)
	if len(cfg.CallbackPublicKey) > 0 {
		key := bytes.Clone(cfg.CallbackPublicKey)
		mux.HandleFunc("GET /callbacks/public-key", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write(key)
		})
	}
	s.handler = mux
	s.http = pipeline.NewHTTPServer(pipeline.HTTPServerConfig{Name: "receipts", Addr: cfg.Addr, Handler: mux,
		ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second})
	return s, nil
}

// Handler is the server's HTTP handler (receipts and the callback public
// key).
func (s *Server) Handler() http.Handler { return s.handler }

// Start binds Addr and serves in the background until Close is called or
// ctx ends. It returns once the listener is bound (Addr is then the bound
// address), or with an error if it cannot bind or was called before.
func (s *Server) Start(ctx context.Context) error {
	if err := s.http.Start(ctx); err != nil {
		return fmt.Errorf("receipts: region %s: %w", s.cfg.Region, err)
	}
	s.log.Info().Str("addr", s.http.Addr()).Msg("receipts worker listening")
	return nil
}

// Addr is the bound address after Start, else the configured one.
func (s *Server) Addr() string { return s.http.Addr() }

// URL is "http://" + Addr().
func (s *Server) URL() string { return "http://" + s.Addr() }

// Close stops accepting requests, lets in-flight ones finish (within 10
// seconds; a request waits for Kafka at most ProduceTimeout), and waits
// for the server's goroutines. It is idempotent, may be called without
// Start, and returns the error that ended serving, if any.
func (s *Server) Close() error { return s.http.Close() }

// Run starts the server and blocks until ctx ends, then closes it (see
// Close), returning Start's or Close's error.
func (s *Server) Run(ctx context.Context) error { return pipeline.RunStarted(ctx, s.Start, s.Close) }

// Ready reports, as pipeline.Service requires, whether the worker takes
// receipts: nil while it listens (after Start, until Close or the end of
// Start's context), else an error saying why not. The producer is not
// probed: a receipt that cannot be published gets an error answer and is
// retried by the vendor.
func (s *Server) Ready(context.Context) error {
	if err := s.http.Serving(); err != nil {
		return fmt.Errorf("receipts: region %s: %w", s.cfg.Region, err)
	}
	return nil
}

var _ pipeline.Service = (*Server)(nil)

// outcome is what one request came to, for the answer, the metrics and
// the log line.
type outcome struct {
	status  int
	reason  string // metric label of a rejection
	message string // for the caller
	events  int
	skipped map[string]int
	err     error
	// auth marks a request that failed authentication.
	auth bool
}

// refusal is the outcome of an authentication failure.
func refusal(e *authError) outcome {
	return outcome{status: e.status, reason: e.reason, message: e.detail, auth: true}
}

// serveReceipt handles POST /receipts/{vendor}.
func (s *Server) serveReceipt(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	v, known := vendorByName(r.PathValue("vendor"))
	name := v.name
	if !known {
		name = "unknown"
	}
	var o outcome
	defer func() {
		if p := recover(); p != nil {
			o = outcome{status: http.StatusInternalServerError, reason: "internal_error",
				message: "the receipt could not be handled", err: fmt.Errorf("panic: %v", p)}
			v.answer(w, o.status, o.message)
		}
		s.finish(name, o, start)
	}()
	switch {
	case !known:
		o = outcome{status: http.StatusNotFound, reason: "unknown_vendor",
			message: fmt.Sprintf("no receipt endpoint %q: use one of %v", r.PathValue("vendor"), vendorNames())}
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		o = outcome{status: http.StatusMethodNotAllowed, reason: "method", message: "receipts are POSTed, not " + r.Method}
	default:
		o = s.handle(w, r, v)
	}
	if o.status == http.StatusOK {
		v.answer(w, o.status, "")
		return
	}
	v.answer(w, o.status, o.message)
}

// handle authenticates, reads, parses and publishes one receipt request.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, v vendor) outcome {
	if !sourceAllowed(r, s.cfg.AllowedSources[v.name]) {
		return refusal(&authError{status: http.StatusForbidden, reason: "source_not_allowed",
			detail: fmt.Sprintf("%s receipts are not taken from %s", v.name, r.RemoteAddr)})
	}
	app, aerr := appOf(r, v.name)
	if aerr != nil {
		return refusal(aerr)
	}
	creds := s.cfg.Apps[app]
	var nonce string
	switch v.auth {
	case authHuawei:
		if nonce, aerr = s.checkHuawei(r, v.name, app, creds.Huawei[v.name]); aerr != nil {
			return refusal(aerr)
		}
	case authToken:
		if aerr = checkToken(r, v.name, app, creds.HonorToken); aerr != nil {
			return refusal(aerr)
		}
	}
	o := s.handleBody(w, r, v, app, creds)
	if nonce != "" && o.status != http.StatusOK {
		// Nothing was stored: the vendor may send it again, with the
		// same header.
		s.nonces.release(nonce)
	}
	return o
}

// handleBody reads, checks, parses and publishes the body of a request
// from app whose headers passed.
func (s *Server) handleBody(w http.ResponseWriter, r *http.Request, v vendor, app string, creds AppCredentials) outcome {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return outcome{status: http.StatusRequestEntityTooLarge, reason: "too_large",
				message: fmt.Sprintf("%s receipt body is larger than %d bytes", v.name, s.cfg.MaxBodyBytes)}
		}
		return outcome{status: http.StatusBadRequest, reason: "read_error", message: "reading the receipt body: " + err.Error()}
	}
	opts := parseOptions{maxClientEvents: s.cfg.MaxClientEvents}
	switch v.auth {
	case authClient:
		if aerr := s.checkClient(r, app, creds, body); aerr != nil {
			return refusal(aerr)
		}
	case authTag:
		opts.unwrap = tagVerifier(s.cfg.IDKey, v.name, app)
	}
	parsed, err := v.parse(body, opts)
	if err != nil {
		var ae *authError
		if errors.As(err, &ae) {
			return refusal(ae)
		}
		var pe *ParseError
		if errors.As(err, &pe) {
			return outcome{status: http.StatusBadRequest, reason: pe.Reason, message: pe.Detail}
		}
		return outcome{status: http.StatusBadRequest, reason: "invalid", message: err.Error()}
	}
	if err := s.deriveClientIDs(app, parsed.Receipts); err != nil {
		return outcome{status: http.StatusBadRequest, reason: err.Reason, message: err.Detail}
	}
	events := s.events(v, app, parsed.Receipts)
	if len(events) > s.cfg.MaxEvents {
		return outcome{status: http.StatusBadRequest, reason: "too_many_events",
			message: fmt.Sprintf("%s receipt names %d deliveries, at most %d are taken in one request: send them in several", v.name, len(events), s.cfg.MaxEvents)}
	}
	o := outcome{status: http.StatusOK, events: len(events), skipped: parsed.Skipped}
	if len(events) == 0 {
		return o
	}
	outs := make([]pipeline.Output, len(events))
	for i, e := range events {
		outs[i] = workers.EventOutput(s.cfg.Region, e)
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ProduceTimeout)
	defer cancel()
	if err := s.cfg.Producer.Produce(ctx, outs); err != nil {
		return outcome{status: http.StatusServiceUnavailable, reason: "unavailable", events: len(events),
			message: "the receipt could not be stored now; send it again",
			err:     fmt.Errorf("publishing %d %s receipt events to %s: %w", len(events), v.name, pipeline.EventsTopic(s.cfg.Region), err)}
	}
	for _, e := range events {
		s.m.events.WithLabelValues(v.name, string(e.Event)).Inc()
	}
	return o
}

// deriveClientIDs gives the client events that name msgId and deviceId the
// delivery id of app's delivery of that message to that device, refusing
// a batch whose event gave another deliveryId too.
func (s *Server) deriveClientIDs(app string, recs []Receipt) *ParseError {
	for i := range recs {
		r := &recs[i]
		if r.DeviceID == "" {
			continue
		}
		id := s.cfg.IDKey.DeliveryID(app, r.MsgID, r.DeviceID)
		if r.DeliveryID != "" && r.DeliveryID != id {
			return parseErr("invalid_event", "client events: deliveryId %s is not the delivery of msgId %.40q to deviceId %.40q of app %s", r.DeliveryID, r.MsgID, r.DeviceID, app)
		}
		r.DeliveryID, r.MsgID, r.DeviceID = id, "", ""
	}
	return nil
}

// events turns the receipts of app into the events to publish.
func (s *Server) events(v vendor, app string, recs []Receipt) []schema.Event {
	now := s.cfg.Now()
	var out []schema.Event
	for _, r := range recs {
		base := schema.Event{
			TS: plausibleTS(r.TS, now), Region: s.cfg.Region, Channel: v.channel, Event: r.Event,
			StatusCode: r.StatusCode, StatusDesc: r.StatusDesc, AppVersion: r.AppVersion, Model: r.Model,
			ReceiptAppID: app,
		}
		if r.DeliveryID != "" {
			e := base
			e.DeliveryID, e.EventID = r.DeliveryID, schema.ReceiptEventID(r.Event, r.DeliveryID)
			if len(r.Tokens) == 1 {
				// The token the receipt names, for the event sink to
				// compare with the delivery's before it calls it dead.
				e.Token = r.Tokens[0]
			}
			out = append(out, e)
			continue
		}
		for _, tok := range r.Tokens {
			e := base
			e.MsgID, e.Token, e.EventID = r.MsgID, tok, schema.PendingReceiptEventID(r.Event, r.MsgID, tok)
			out = append(out, e)
		}
	}
	return out
}

// plausibleTS is ts unless it is missing or implausible (more than a day
// ahead, or older than the longest message validity plus a day), in which
// case it is now: the events table is partitioned and expired by ts.
func plausibleTS(ts int64, now time.Time) int64 {
	const day = 24 * time.Hour
	if ts <= 0 || ts > now.Add(day).UnixMilli() || ts < now.Add(-15*day).UnixMilli() {
		return now.UnixMilli()
	}
	return ts
}

// finish counts and logs one request.
func (s *Server) finish(vendorName string, o outcome, start time.Time) {
	took := time.Since(start)
	s.m.requests.WithLabelValues(vendorName, strconv.Itoa(o.status)).Inc()
	s.m.seconds.WithLabelValues(vendorName).Observe(took.Seconds())
	if o.status != http.StatusOK && o.reason != "" {
		s.m.rejected.WithLabelValues(vendorName, o.reason).Inc()
	}
	if o.auth {
		s.m.refused.WithLabelValues(vendorName, o.reason).Inc()
	}
	skipped := 0
	for reason, n := range o.skipped {
		s.m.skipped.WithLabelValues(vendorName, reason).Add(float64(n))
		skipped += n
	}
	var ev *zerolog.Event
	switch {
	case o.status >= 500:
		ev = s.log.Error().Err(o.err)
	case o.status >= 400:
		ev = s.log.Warn().Str("reason", o.reason).Str("problem", o.message)
	default:
		ev = s.log.Debug()
	}
	ev.Str("vendor", vendorName).Int("status", o.status).Int("events", o.events).Int("skipped", skipped).
		Dur("took", took).Msg("receipt request")
}
