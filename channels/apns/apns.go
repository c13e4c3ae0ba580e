// Package apns is the Apple Push Notification service channel: a client of
// the APNs provider API (HTTP/2 over TLS, POST {base}/3/device/<token>,
// token-based authentication with ES256 provider tokens, JSON payload with
// an "aps" dictionary).
//
// APNs takes one device per request. Channel.Send therefore makes one
// request per message, concurrently over the channel's Config.Connections
// HTTP/2 connections (Apple: "If you're sending many remote notifications,
// you can establish multiple connections to these servers to improve
// performance"), each request on the connection with the fewest in flight,
// at most Config.MaxConcurrentStreams on one connection, across all Sends.
//
// Provider tokens are signed per signing key (team id and key id), cached
// and renewed every Config.TokenRefresh (default 50 minutes: inside Apple's
// one-hour limit, never more often than once every 20 minutes). An answer
// 403 ExpiredProviderToken makes the channel sign a new token and retry
// that request once.
//
// Receipt correlation: APNs sends no receipts, but echoes apns-id. Every
// request carries apns-id = MessageID(DeliveryID), a UUID derived from the
// delivery id, and the result's VendorMsgID is the apns-id APNs answers.
// The payload carries the DeliveryID as the top-level key "deliveryId"
// (DeliveryIDKey, next to "aps"), so that the app SDK on the device can
// report the arrival, open or ignore of the notification to the receipts
// worker's client endpoint.
//
// Live Activities: a message with ExtraPushType PushTypeLiveActivity is an
// ActivityKit push to a Live Activity's push token (apns-push-type
// liveactivity, apns-topic <bundle id>.push-type.liveactivity, aps
// timestamp, event, content-state, dismissal-date and an optional alert;
// see liveactivity.go).
//
// Recall: APNs has no API to withdraw a notification it accepted (mPaaS
// only overlays one with a replacement of the same apns-collapse-id), so
// Channel does not implement channels.Recaller and channels.AsRecaller
// answers channels.ErrRecallUnsupported.
package apns

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/h2"
)

// Name is the channel name of APNs deliveries.
const Name = "apns"

// DevicePath is the path of the push API below the base URL; the device
// token follows it.
const DevicePath = "/3/device/"

// Push types the channel sends (apns-push-type).
const (
	PushTypeAlert      = "alert"
	PushTypeBackground = "background"
	// PushTypeLiveActivity updates or ends an iOS Live Activity
	// (ActivityKit push notification; see buildLiveActivity).
	PushTypeLiveActivity = "liveactivity"
)

// DeliveryIDKey is the top-level payload key carrying Message.DeliveryID
// for the app SDK; like "aps" it is reserved: a custom key or a payload
// key of that name never replaces it.
const DeliveryIDKey = "deliveryId"

// ImageURLKey is the top-level payload key holding the picture of an
// image-text notification (ExtraImageURL), for the app's notification
// service extension.
const ImageURLKey = "imageUrl"

// Keys of channels.Message.Extras read by the APNs channel. mPaaS system
// extension parameters "sound", "badge" and "mutable-content" (§7.2.11),
// which arrive as channels.ExtraCustomPrefix keys, are honoured too; the
// apns.* keys win over them.
const (
	// ExtraPushType is apns-push-type: "alert", "background" or
	// "liveactivity" (with the ExtraActivity* keys). Default: "background"
	// for a pass-through message, else "alert".
	ExtraPushType = "apns.push_type"
	// ExtraPriority is apns-priority: "10", "5" or "1". Default 10 for
	// alerts and 5 for background pushes (Apple requires 5 for those).
	ExtraPriority = "apns.priority"
	// ExtraCollapseID is apns-collapse-id (at most 64 bytes): notifications
	// with the same id replace each other on the device.
	ExtraCollapseID = "apns.collapse_id"
	// ExtraBadge is aps.badge, an integer (0 removes the badge).
	ExtraBadge = "apns.badge"
	// ExtraSound is aps.sound, a sound file name or "default".
	ExtraSound = "apns.sound"
	// ExtraMutableContent "1" sets aps.mutable-content so that the app's
	// notification service extension can modify the notification.
	ExtraMutableContent = "apns.mutable_content"
	// ExtraAlertCategory is aps.category, the app's notification category
	// (actionable notifications).
	ExtraAlertCategory = "apns.alert_category"
	// ExtraThreadID is aps.thread-id, which groups notifications.
	ExtraThreadID = "apns.thread_id"
	// ExtraSubtitle is aps.alert.subtitle.
	ExtraSubtitle = "apns.subtitle"
	// ExtraImageURL is the picture of an image-text notification: sent as
	// the top-level payload key ImageURLKey with aps.mutable-content 1, so
	// that the app's notification service extension downloads and attaches
	// it.
	ExtraImageURL = "apns.image_url"
	// ExtraInterruptionLevel is aps.interruption-level: passive, active,
	// time-sensitive or critical.
	ExtraInterruptionLevel = "apns.interruption_level"
)

// mPaaS system extension parameter names (§7.2.11) the channel maps into
// the aps dictionary.
const (
	mpaasSound          = "sound"
	mpaasBadge          = "badge"
	mpaasMutableContent = "mutable-content"
)

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 64 << 10

// Option changes how New builds a Channel.
type Option func(*Channel)

// WithHTTPClient makes the channel use hc instead of its own HTTP/2
// clients (RootCAs, CAFile and StandardHTTP2 are then ignored): every request goes
// through hc, at most Connections × MaxConcurrentStreams in flight.
// Timeouts still come from Config.Timeout.
func WithHTTPClient(hc *http.Client) Option { return func(c *Channel) { c.client = hc } }

// WithClock makes the channel read the time from now (provider token iat
// and renewal, apns-expiration, expiry).
func WithClock(now func() time.Time) Option { return func(c *Channel) { c.now = now } }

// Channel is the APNs channel of one region. It implements channels.Channel
// and is safe for concurrent use.
type Channel struct {
	cfg      Config
	base     string
	basePath string       // path of base, before DevicePath (lean client)
	client   *http.Client // set by WithHTTPClient, else nil
	now      func() time.Time
	signers  map[string]*signer // by app id; apps sharing a key share one
	conns    []*conn            // fixed after New
	streams  chan struct{}      // semaphore of requests in flight, all conns
	workers  *channels.Workers  // run the requests

	closeOnce sync.Once
}

// conn is one HTTP/2 connection of the channel: a lean client (lean,
// the default), or a client whose transport keeps one connection to APNs
// (Config.StandardHTTP2), or the client given with WithHTTPClient; its
// streams stay under the server's limit.
type conn struct {
	lean     *h2.Client
	client   *http.Client
	ownsTr   *http.Transport // the transport New built, closed by Close
	limit    int32           // most requests in flight on it
	inflight atomic.Int32

	// Until a request got an answer other than 403, requests on the
	// connection go one at a time (first is a semaphore of 1): APNs
	// allows one stream on a token-authenticated connection until a
	// request with a valid token was posted, and concurrent first
	// requests would each dial a connection of their own.
	connected atomic.Bool
	first     chan struct{}
}

var _ channels.Channel = (*Channel)(nil)

// New returns a channel for cfg (defaults applied). It fails, with every
// configuration problem joined, if the configuration is invalid or CAFile
// cannot be read. The channel keeps its own copy of cfg.
func New(cfg Config, opts ...Option) (*Channel, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating apns channel: %w", err)
	}
	cfg.Apps = maps.Clone(cfg.Apps)
	c := &Channel{
		cfg:     cfg,
		base:    strings.TrimSuffix(cfg.BaseURL, "/"),
		now:     time.Now,
		signers: map[string]*signer{},
		streams: make(chan struct{}, cfg.Connections*cfg.MaxConcurrentStreams),
		workers: channels.NewWorkers(),
	}
	byKey := map[string]*signer{}
	for id, a := range cfg.Apps {
		s := byKey[a.KeyID]
		if s == nil {
			key, err := ParsePrivateKey(a.PrivateKey.Reveal())
			if err != nil { // Validate parsed it already
				return nil, fmt.Errorf("creating apns channel: app %q: %w", id, err)
			}
			s = &signer{teamID: a.TeamID, keyID: a.KeyID, key: key, refresh: cfg.TokenRefresh}
			byKey[a.KeyID] = s
		}
		c.signers[id] = s
	}
	for _, o := range opts {
		o(c)
	}
	if c.client != nil {
		c.conns = []*conn{{client: c.client, limit: int32(cap(c.streams)), first: make(chan struct{}, 1)}}
		return c, nil
	}
	roots, err := channels.TrustedRoots(cfg.RootCAs, cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("creating apns channel: %w", err)
	}
	if !cfg.StandardHTTP2 {
		u, err := url.Parse(c.base)
		if err != nil { // Validate parsed it already
			return nil, fmt.Errorf("creating apns channel: baseUrl: %w", err)
		}
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "443")
		}
		c.basePath = u.EscapedPath()
		for range cfg.Connections {
			lc, err := h2.New(h2.Config{
				Addr:           addr,
				Authority:      u.Host,
				TLS:            &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, ServerName: u.Hostname()},
				StaticHeaders:  []hpack.HeaderField{{Name: "content-type", Value: "application/json"}},
				AnswerHeaders:  []string{"apns-id", "retry-after"},
				MaxAnswerBytes: maxAnswerBytes,
				MaxStreams:     cfg.MaxConcurrentStreams,
				CallTimeout:    cfg.Timeout,
				DialTimeout:    cfg.Timeout,
			})
			if err != nil {
				return nil, fmt.Errorf("creating apns channel: %w", err)
			}
			c.conns = append(c.conns, &conn{lean: lc, limit: int32(cfg.MaxConcurrentStreams), first: make(chan struct{}, 1)})
		}
		return c, nil
	}
	for range cfg.Connections {
		tr := newTransport(roots)
		c.conns = append(c.conns, &conn{client: &http.Client{Transport: tr}, ownsTr: tr,
			limit: int32(cfg.MaxConcurrentStreams), first: make(chan struct{}, 1)})
	}
	return c, nil
}

// newTransport returns an HTTP/2-only transport trusting roots.
func newTransport(roots *x509.CertPool) *http.Transport {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     10 * time.Minute,
		TLSHandshakeTimeout: 10 * time.Second,
		HTTP2: &http.HTTP2Config{
			// Detect a dead connection instead of waiting for the
			// per-request timeout of every stream on it.
			SendPingTimeout: 30 * time.Second,
			PingTimeout:     10 * time.Second,
		},
	}
	// APNs speaks HTTP/2 only.
	tr.Protocols = new(http.Protocols)
	tr.Protocols.SetHTTP2(true)
	return tr
}

// Name returns "apns".
func (c *Channel) Name() string { return Name }

// MaxBatch returns Config.MaxBatch.
func (c *Channel) MaxBatch() int { return c.cfg.MaxBatch }

// Config returns the channel's configuration (a copy; printing it never
// shows secrets).
func (c *Channel) Config() Config {
	cfg := c.cfg
	cfg.Apps = maps.Clone(c.cfg.Apps)
	return cfg
}

// Endpoint returns the URL a message for token is posted to.
func (c *Channel) Endpoint(token string) string {
	return c.base + DevicePath + url.PathEscape(token)
}

// ProviderTokensSigned returns how many provider tokens the channel has
// signed for appID's key (for metrics and tests); 0 for an unknown app.
func (c *Channel) ProviderTokensSigned(appID string) int {
	s := c.signers[appID]
	if s == nil {
		return 0
	}
	return s.count()
}

// Close closes the connections of the lean clients New built (failing
// the requests in flight on them, and waiting for their goroutines), or
// the idle connections of the transports New built (Config.StandardHTTP2;
// not of a client given with WithHTTPClient). Sends after Close open new
// connections. Idempotent; always returns nil.
func (c *Channel) Close() error {
	c.closeOnce.Do(func() {
		for _, k := range c.conns {
			if k.lean != nil {
				_ = k.lean.Close()
			}
			if k.ownsTr != nil {
				k.ownsTr.CloseIdleConnections()
			}
		}
	})
	return nil
}

// acquire waits for a stream of the channel and returns the connection
// with the fewest requests in flight, its count raised; release gives it
// back. Before it waits, it starts the calls gathered in batch (whose
// ends free streams). It fails only when ctx ends first.
func (c *Channel) acquire(ctx context.Context, batch *h2.Batch) (*conn, error) {
	select {
	case c.streams <- struct{}{}:
	default:
		batch.Flush()
		select {
		case c.streams <- struct{}{}:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	// Holding one of the len(conns)*limit streams, some connection has
	// fewer than limit requests in flight.
	for {
		var best *conn
		var n int32
		for _, k := range c.conns {
			if v := k.inflight.Load(); v < k.limit && (best == nil || v < n) {
				best, n = k, v
			}
		}
		if best != nil && best.inflight.CompareAndSwap(n, n+1) {
			return best, nil
		}
	}
}

func (c *Channel) release(k *conn) {
	k.inflight.Add(-1)
	<-c.streams
}

// MessageID returns the apns-id sent with the delivery deliveryID: a
// canonical lowercase UUID (version 8, RFC 9562) derived from the delivery
// id, so a replayed delivery carries the same apns-id. "" for an empty
// delivery id (APNs then assigns one).
func MessageID(deliveryID string) string {
	if deliveryID == "" {
		return ""
	}
	var in [128]byte
	sum := sha256.Sum256(append(append(in[:0], "pushpipe apns-id\x00"...), deliveryID...))
	b := sum[:16]
	b[6] = b[6]&0x0f | 0x80 // version 8
	b[8] = b[8]&0x3f | 0x80 // RFC 9562 variant
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	hex.Encode(out[9:13], b[4:6])
	hex.Encode(out[14:18], b[6:8])
	hex.Encode(out[19:23], b[8:10])
	hex.Encode(out[24:36], b[10:16])
	out[8], out[13], out[18], out[23] = '-', '-', '-', '-'
	return string(out[:])
}

// Send implements channels.Channel. Messages rejected before sending (see
// Build) get their result without a request. The others are sent one
// request each, concurrently over the channel's connections (at most
// Config.MaxConcurrentStreams in flight on one connection, across all
// Sends).
//
// The whole-call error is returned only when every message of the batch
// was sent and every request failed alike (all transient or all
// permanent, e.g. rejected credentials or a 5xx storm); otherwise failed
// requests are reported per message (Transient or Permanent with the
// Apple status code).
func (c *Channel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	appID, err := channels.CheckBatch(msgs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("sending apns batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	app, ok := c.cfg.Apps[appID]
	if !ok {
		return nil, fmt.Errorf("sending apns batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending apns batch for app %q: %w", appID, c.vendorErr(c.base, 0, "", true, err))
	}
	sg := c.signers[appID]

	now := c.now()
	results := make([]channels.Result, len(msgs))
	errs := make([]*channels.VendorError, len(msgs))
	var sent []int
	var wg sync.WaitGroup
	var sh shared
	batch := h2.NewBatch(ctx) // the lean calls, started together
	var calls []leanCall      // their state, one allocation for the batch
	for i := range msgs {
		req, r, ok := c.buildShared(app, &msgs[i], now, &sh)
		if !ok {
			results[i] = r
			continue
		}
		sent = append(sent, i)
		k, err := c.acquire(ctx, &batch)
		if err != nil {
			errs[i] = c.vendorErr(c.Endpoint(req.Token), 0, "", true, err)
			continue
		}
		wg.Add(1)
		if k.lean != nil && k.connected.Load() {
			if calls == nil {
				calls = make([]leanCall, len(msgs))
			}
			lc := &calls[i]
			lc.c, lc.ctx, lc.k, lc.sg, lc.r, lc.res, lc.fail, lc.done = c, ctx, k, sg, req, &results[i], &errs[i], wg.Done
			lc.start(&batch)
			continue
		}
		batch.Flush() // the worker's call may wait for the ends of those gathered
		c.postLater(ctx, k, sg, req, &results[i], &errs[i], wg.Done)
	}
	batch.Flush()
	wg.Wait()

	if err := wholeCallError(sent, errs, len(msgs)); err != nil {
		return nil, fmt.Errorf("sending apns batch (%d messages) for app %q: %w", len(msgs), appID, err)
	}
	for _, i := range sent {
		if errs[i] != nil {
			results[i] = settle(errs[i])
		}
	}
	return results, nil
}

// answer is the JSON body of an APNs error answer.
type answer struct {
	Reason    string `json:"reason"`
	Timestamp int64  `json:"timestamp"` // ms since epoch, with 410
}

// post sends one request, renewing the provider token and retrying once
// on ExpiredProviderToken. It returns the message's result, or the
// request's failure as a *channels.VendorError.
func (c *Channel) post(ctx context.Context, k *conn, sg *signer, r Request) (channels.Result, *channels.VendorError) {
	endpoint := c.Endpoint(r.Token)
	auth, err := sg.current(c.now())
	if err != nil {
		return channels.Result{}, c.vendorErr(endpoint, 0, "", false, err)
	}
	res, ve, kd := c.postOnce(ctx, k, endpoint, auth, r)
	if kd != kindExpiredToken {
		return res, ve
	}
	return c.postRenewed(ctx, k, sg, endpoint, auth, r)
}

// postRenewed renews the provider token APNs called expired and sends the
// request again, once.
func (c *Channel) postRenewed(ctx context.Context, k *conn, sg *signer, endpoint, expired string, r Request) (channels.Result, *channels.VendorError) {
	auth, err := sg.renew(expired, c.now())
	if err != nil {
		return channels.Result{}, c.vendorErr(endpoint, 0, "", false, err)
	}
	res, ve, kd := c.postOnce(ctx, k, endpoint, auth, r)
	if kd == kindExpiredToken {
		// A token signed just now is called expired: the clock is
		// wrong or the key was revoked.
		ve.Transient = false
		return channels.Result{}, ve
	}
	return res, ve
}

// leanCall is the call of one message on a lean client: what its answer
// is classified with and where its result goes. A Send allocates the
// calls of its batch together.
type leanCall struct {
	c    *Channel
	ctx  context.Context
	k    *conn
	sg   *signer
	r    Request
	auth string
	res  *channels.Result
	fail **channels.VendorError
	done func()
	req  h2.Request
	hdr  [leanHeaders]hpack.HeaderField
}

// start gathers the call lc (its c, ctx, k, sg, r, res, fail and done
// set) in batch, which sends it without waiting: the connection's reader
// classifies the answer into *res or *fail, releases k's stream and calls
// done (answered). An ExpiredProviderToken answer is handed to a worker,
// which renews the token and sends again (postRenewed). The caller holds
// a stream of k (acquire), and k has been authenticated (k.connected).
func (lc *leanCall) start(batch *h2.Batch) {
	c := lc.c
	auth, err := lc.sg.current(c.now())
	if err != nil {
		*lc.fail = c.vendorErr(c.Endpoint(lc.r.Token), 0, "", false, err)
		c.release(lc.k)
		lc.done()
		return
	}
	lc.auth = auth
	c.fillLeanRequest(&lc.req, &lc.hdr, auth, lc.r)
	// The lean client bounds the call with Config.Timeout (CallTimeout).
	batch.Add(lc.k.lean, &lc.req, lc.answered)
}

// answered classifies the answer of lc (see start).
func (lc *leanCall) answered(resp *h2.Response, err error) {
	c, k := lc.c, lc.k
	if err != nil {
		if lc.ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) {
			k.connected.Store(false) // the connection may be gone: the next requests start over alone
		}
		*lc.fail = c.callFailed(c.Endpoint(lc.r.Token), err)
		c.release(k)
		lc.done()
		return
	}
	rs, ve, kd := c.classifyReply(lc.r, leanReply(resp))
	if kd == kindExpiredToken {
		c.workers.Go(func() {
			*lc.res, *lc.fail = c.postRenewed(lc.ctx, k, lc.sg, c.Endpoint(lc.r.Token), lc.auth, lc.r)
			c.release(k)
			lc.done()
		})
		return
	}
	*lc.res, *lc.fail = rs, ve
	c.release(k)
	lc.done()
}

// postLater sends r on k from a worker (post), into *res or *fail,
// releasing k's stream and calling done.
func (c *Channel) postLater(ctx context.Context, k *conn, sg *signer, r Request, res *channels.Result, fail **channels.VendorError, done func()) {
	c.workers.Go(func() {
		defer done()
		defer c.release(k)
		*res, *fail = c.post(ctx, k, sg, r)
	})
}

// reply is what postOnce classifies of an answer.
type reply struct {
	status     int
	apnsID     string
	retryAfter string
	body       []byte
}

// postOnce makes one HTTP/2 request and classifies the answer.
func (c *Channel) postOnce(ctx context.Context, cn *conn, endpoint, auth string, r Request) (channels.Result, *channels.VendorError, kind) {
	callCtx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var resp reply
	var ve *channels.VendorError
	var kd kind
	if cn.lean != nil {
		resp, ve, kd = c.roundTripLean(callCtx, cn, endpoint, auth, r)
	} else {
		resp, ve, kd = c.roundTripStd(callCtx, cn, endpoint, auth, r)
	}
	if ve != nil {
		return channels.Result{}, ve, kd
	}
	return c.classifyReply(r, resp)
}

// classifyReply maps the answer to the request r into the message's
// result, or the request's failure, and its kind.
func (c *Channel) classifyReply(r Request, resp reply) (channels.Result, *channels.VendorError, kind) {
	raw := resp.body
	vendorMsgID := resp.apnsID
	if vendorMsgID == "" {
		vendorMsgID = r.ID
	}
	if resp.status/100 == 2 { // kindOK whatever the body says: not parsed
		return channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked",
			VendorMsgID: vendorMsgID}, nil, kindOK
	}
	var a answer
	if len(bytes.TrimSpace(raw)) > 0 {
		_ = json.Unmarshal(raw, &a) // an unreadable body leaves the HTTP status to decide
	}
	status := resp.status
	desc := func() string {
		reason := a.Reason
		if reason == "" {
			reason = http.StatusText(status)
		}
		return fmt.Sprintf("%s (http %d)", reason, status)
	}
	k := classify(status, a.Reason)
	switch k {
	case kindOK:
		return channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked",
			VendorMsgID: vendorMsgID}, nil, k
	case kindInvalidToken:
		code := StatusOf(a.Reason)
		if code == 0 {
			code = StatusUnregistered
		}
		d := desc()
		if a.Timestamp > 0 {
			d += "; inactive since " + time.UnixMilli(a.Timestamp).UTC().Format(time.RFC3339)
		}
		return channels.Result{Outcome: channels.InvalidToken, StatusCode: code, StatusDesc: d, VendorMsgID: vendorMsgID}, nil, k
	case kindMessagePermanent:
		code := StatusOf(a.Reason)
		if code == 0 {
			code = channels.StatusNone
		}
		if status == http.StatusRequestEntityTooLarge {
			code = StatusPayloadTooLarge
		}
		return channels.Result{Outcome: channels.Permanent, StatusCode: code, StatusDesc: desc(), VendorMsgID: vendorMsgID}, nil, k
	case kindCallTransient:
		ve := c.vendorErr(c.Endpoint(r.Token), status, a.Reason, true, nil)
		if status >= 500 {
			ve.Code = StatusConnUnavailable
		}
		ve.RetryAfter = channels.ParseRetryAfter(resp.retryAfter, c.now())
		return channels.Result{}, ve, k
	default: // kindCallPermanent, kindExpiredToken
		ve := c.vendorErr(c.Endpoint(r.Token), status, a.Reason, false, nil)
		ve.Code = StatusOf(a.Reason)
		return channels.Result{}, ve, k
	}
}

// roundTripStd makes the request with net/http.
func (c *Channel) roundTripStd(ctx context.Context, cn *conn, endpoint, auth string, r Request) (reply, *channels.VendorError, kind) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(r.Payload))
	if err != nil {
		return reply{}, c.vendorErr(endpoint, 0, "", false, fmt.Errorf("building request: %w", err)), kindCallPermanent
	}
	// HTTP/2 sends header names in lower case: kept so in the map, they
	// are neither canonicalised here nor lowered again when encoded.
	h := make(http.Header, 8)
	h["authorization"] = []string{auth}
	h["apns-topic"] = []string{r.Topic}
	h["apns-push-type"] = []string{r.PushType}
	h["apns-priority"] = []string{r.Priority}
	if r.Expiration != "" {
		h["apns-expiration"] = []string{r.Expiration}
	}
	if r.CollapseID != "" {
		h["apns-collapse-id"] = []string{r.CollapseID}
	}
	if r.ID != "" {
		h["apns-id"] = []string{r.ID}
	}
	h["content-type"] = []string{"application/json"}
	req.Header = h

	var resp *http.Response
	err = cn.do(ctx, func() (int, error) {
		var err error
		if resp, err = cn.client.Do(req); err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	})
	if err != nil {
		return reply{}, c.callFailed(endpoint, err), kindCallTransient
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		ve := c.vendorErr(endpoint, resp.StatusCode, "", true, fmt.Errorf("reading answer: %w", err))
		ve.Code = StatusConnClosed
		return reply{}, ve, kindCallTransient
	}
	return reply{status: resp.StatusCode, apnsID: resp.Header.Get("apns-id"), retryAfter: resp.Header.Get("Retry-After"), body: raw}, nil, kindOK
}

// roundTripLean makes the request with the lean client (leanRequest).
func (c *Channel) roundTripLean(ctx context.Context, cn *conn, endpoint, auth string, r Request) (reply, *channels.VendorError, kind) {
	req := c.leanRequest(auth, r)
	var resp *h2.Response
	err := cn.do(ctx, func() (int, error) {
		var err error
		if resp, err = cn.lean.Do(ctx, req); err != nil {
			return 0, err
		}
		return resp.Status, nil
	})
	if err != nil {
		return reply{}, c.callFailed(endpoint, err), kindCallTransient
	}
	return leanReply(resp), nil, kindOK
}

// leanRequest is the lean client's request of r: the same header fields
// as roundTripStd's, apns-id kept out of the HPACK table (it is unique),
// the others (authorization, apns-topic …) indexed so that they repeat as
// an index.
func (c *Channel) leanRequest(auth string, r Request) *h2.Request {
	var req h2.Request
	c.fillLeanRequest(&req, new([leanHeaders]hpack.HeaderField), auth, r)
	return &req
}

// leanHeaders is the most header fields of a lean request.
const leanHeaders = 7

// fillLeanRequest sets *req to leanRequest's request, its header fields
// in hdr.
func (c *Channel) fillLeanRequest(req *h2.Request, hdr *[leanHeaders]hpack.HeaderField, auth string, r Request) {
	h := append(hdr[:0],
		hpack.HeaderField{Name: "authorization", Value: auth},
		hpack.HeaderField{Name: "apns-topic", Value: r.Topic},
		hpack.HeaderField{Name: "apns-push-type", Value: r.PushType},
		hpack.HeaderField{Name: "apns-priority", Value: r.Priority})
	if r.Expiration != "" {
		h = append(h, hpack.HeaderField{Name: "apns-expiration", Value: r.Expiration})
	}
	if r.CollapseID != "" {
		h = append(h, hpack.HeaderField{Name: "apns-collapse-id", Value: r.CollapseID})
	}
	if r.ID != "" {
		h = append(h, hpack.HeaderField{Name: "apns-id", Value: r.ID, Sensitive: true})
	}
	*req = h2.Request{Path: c.basePath + DevicePath + url.PathEscape(r.Token), Header: h, Body: r.Payload}
}

// leanReply is what classifyReply reads of a lean client's answer.
func leanReply(resp *h2.Response) reply {
	return reply{status: resp.Status, apnsID: resp.Header("apns-id"), retryAfter: resp.Header("retry-after"), body: resp.Body}
}

// callFailed is the error of a request that got no answer: transient,
// StatusConnUnavailable.
func (c *Channel) callFailed(endpoint string, err error) *channels.VendorError {
	ve := c.vendorErr(endpoint, 0, "", true, err)
	ve.Code = StatusConnUnavailable
	return ve
}

// do makes a call (which returns the answer's status), alone while the
// connection is not known to be up and authenticated (see conn.first).
func (c *conn) do(ctx context.Context, call func() (int, error)) error {
	if !c.connected.Load() {
		select {
		case c.first <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !c.connected.Load() {
			status, err := call()
			if err == nil && status != http.StatusForbidden {
				c.connected.Store(true)
			}
			<-c.first
			return err
		}
		<-c.first
	}
	_, err := call()
	if err != nil && ctx.Err() == nil {
		c.connected.Store(false) // the connection may be gone: the next requests start over alone
	}
	return err
}

func (c *Channel) vendorErr(endpoint string, httpStatus int, reason string, transient bool, cause error) *channels.VendorError {
	return &channels.VendorError{
		Channel:    Name,
		Op:         "POST " + endpoint,
		HTTPStatus: httpStatus,
		Reason:     reason,
		Transient:  transient,
		Cause:      cause,
	}
}

// wholeCallError returns the error Send returns as a whole, or nil when
// results are reported per message: every message must have been sent and
// every request must have failed, all transient or all permanent.
func wholeCallError(sent []int, errs []*channels.VendorError, total int) error {
	if len(sent) != total {
		return nil
	}
	var first *channels.VendorError
	for _, i := range sent {
		e := errs[i]
		if e == nil {
			return nil
		}
		if first == nil {
			first = e
		} else if e.Transient != first.Transient {
			return nil
		}
	}
	if first == nil {
		return nil
	}
	return first
}

// settle returns the result of a message whose request failed with ve.
func settle(ve *channels.VendorError) channels.Result {
	r := channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone, StatusDesc: ve.Error(), RetryAfter: ve.RetryAfter}
	if ve.Code != 0 {
		r.StatusCode = ve.Code
	}
	if errors.Is(ve, channels.ErrTransient) {
		r.Outcome = channels.Transient
		if ve.Code == 0 {
			r.StatusCode = channels.StatusDeviceNotOnlineOrNoResponse
		}
	}
	return r
}
