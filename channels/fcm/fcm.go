// Package fcm is the Firebase Cloud Messaging channel: a client of the FCM
// HTTP v1 API (POST {base}/v1/projects/{project_id}/messages:send with
// "Authorization: Bearer <access token>", JSON body {"message":{...}}).
//
// Access tokens come from Google's OAuth 2.0 service-account flow: the
// channel signs an RS256 JWT (iss = client_email, scope = Scope, aud =
// token_uri, one hour of validity) and exchanges it at token_uri with the
// JWT-bearer grant. The token of each app is cached until shortly before its
// expires_in and refreshed by one request at a time.
//
// FCM v1 takes one message per call (no multicast). A Send of n messages
// makes n calls; at most Config.MaxConcurrentCalls are in flight at once
// across all Sends of the channel.
//
// Receipt correlation: FCM has no receipt callback; the message name FCM
// returns ("projects/P/messages/ID") is the Result's VendorMsgID, and the
// MsgID is sent as fcm_options.analytics_label when it is a valid label, so
// that FCM's delivery data can be grouped by message. The DeliveryID is
// sent as message.data["deliveryId"] (DeliveryIDDataKey), so that the app
// SDK on the device can report the arrival, open or ignore of the message
// to the receipts worker's client endpoint.
//
// Recall: FCM HTTP v1 has no API to withdraw a message it accepted, so
// Channel does not implement channels.Recaller and channels.AsRecaller
// answers channels.ErrRecallUnsupported.
package fcm

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/net/http2/hpack"

	"github.com/pushpipe/pushpipe/channels"
	"github.com/pushpipe/pushpipe/channels/h2"
)

// Name is the channel name of FCM deliveries.
const Name = "fcm"

// maxAnswerBytes bounds how much of an answer is read.
const maxAnswerBytes = 1 << 20

// Keys of channels.Message.Extras read by the FCM channel (besides the
// vendor-neutral channels.ExtraNotifyType, channels.ExtraURI and
// channels.ExtraCustomPrefix pairs).
const (
	// ExtraChannelID is android.notification.channel_id (the mPaaS
	// channelId).
	ExtraChannelID = "fcm.channel_id"
	// ExtraImage is notification.image: the URL of an image shown in the
	// notification.
	ExtraImage = "fcm.image"
	// ExtraPriority is android.priority: "HIGH" or "NORMAL".
	ExtraPriority = "fcm.priority"
	// ExtraCollapseKey is android.collapse_key.
	ExtraCollapseKey = "fcm.collapse_key"
	// ExtraTag is android.notification.tag: notifications with the same
	// tag replace each other.
	ExtraTag = "fcm.tag"
	// ExtraSound is the sound of the notification (android.notification.
	// sound and apns aps.sound).
	ExtraSound = "fcm.sound"
	// ExtraBadge is the badge number (android.notification.
	// notification_count and apns aps.badge), a non-negative integer.
	ExtraBadge = "fcm.badge"
)

// URIDataKey is the data key that carries an http(s) channels.ExtraURI
// (Android notifications can only fire intent actions themselves).
const URIDataKey = "uri"

// DeliveryIDDataKey is the data key that carries Message.DeliveryID for
// the app SDK. It is reserved: a custom extra of that name is not sent,
// and Config.PayloadKey may not be it.
const DeliveryIDDataKey = "deliveryId"

// Option changes how New builds a Channel.
type Option = channels.Option

// WithHTTPClient makes the channel use hc for sends and token requests
// instead of its own client. Timeouts still come from Config.Timeout.
func WithHTTPClient(hc *http.Client) Option { return channels.WithHTTPClient(hc) }

// WithClock makes the channel read the time from now (TTL, expiry, token
// lifetimes and assertion timestamps).
func WithClock(now func() time.Time) Option { return channels.WithClock(now) }

// Channel is the FCM channel of one region. It implements channels.Channel
// and is safe for concurrent use.
type Channel struct {
	cfg    Config
	client *http.Client
	now    func() time.Time
	apps   map[string]*appState // fixed after New
	// calls is the semaphore of the calls in flight (MaxConcurrentCalls),
	// shared by every Send.
	calls   chan struct{}
	workers *channels.Workers // run the calls
	// lean are the lean HTTP/2 clients sends go through (nil: client);
	// next picks one per call.
	lean     []*h2.Client
	basePath string
	next     atomic.Uint32
}

// callsPerConnection is how many of MaxConcurrentCalls one lean
// connection carries at most: the channel keeps Config.Connections, or
// ceil(MaxConcurrentCalls/100) when that is more.
const callsPerConnection = 100

var _ channels.Channel = (*Channel)(nil)

// appState is what the channel keeps per app.
type appState struct {
	app      App
	endpoint string
	path     string // :path of endpoint (lean client)
	tokens   *channels.TokenSource
}

// New returns a channel for cfg (defaults applied). It fails, with every
// configuration problem joined, if the configuration is invalid, or if
// CAFile cannot be read. The channel keeps its own copy of cfg.
func New(cfg Config, opts ...Option) (*Channel, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("creating fcm channel: %w", err)
	}
	cfg.Apps = maps.Clone(cfg.Apps)
	var given channels.Options
	for _, opt := range opts {
		opt(&given)
	}
	o := channels.ApplyOptions(max(channels.DefaultMaxIdleConnsPerHost, cfg.MaxConcurrentCalls), opts...)
	roots, err := channels.TrustedRoots(cfg.RootCAs, cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("creating fcm channel: %w", err)
	}
	if given.Client == nil && roots != nil {
		if tr, ok := o.Client.Transport.(*http.Transport); ok {
			tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
		}
	}
	c := &Channel{cfg: cfg, client: o.Client, now: o.Now, apps: map[string]*appState{}, calls: make(chan struct{}, cfg.MaxConcurrentCalls),
		workers: channels.NewWorkers()}
	base := strings.TrimSuffix(cfg.BaseURL, "/")
	if given.Client == nil && !cfg.StandardHTTP2 && strings.HasPrefix(base, "https://") {
		if err := c.startLean(base, roots); err != nil {
			return nil, fmt.Errorf("creating fcm channel: %w", err)
		}
	}
	for id, a := range cfg.Apps {
		key, err := ParsePrivateKey(a.PrivateKey.Reveal())
		if err != nil { // Validate parsed it already
			return nil, fmt.Errorf("creating fcm channel: app %q: %w", id, err)
		}
		c.apps[id] = &appState{
			app:      a,
			endpoint: base + "/v1/projects/" + url.PathEscape(a.ProjectID) + "/messages:send",
			path:     c.basePath + "/v1/projects/" + url.PathEscape(a.ProjectID) + "/messages:send",
			tokens: &channels.TokenSource{Channel: Name, Op: "POST " + a.tokenURI(), Timeout: cfg.Timeout, Now: c.now,
				Fetch: (&tokenRequest{app: a, key: key, tokenURI: a.tokenURI(), client: c.client, now: c.now}).fetch},
		}
	}
	return c, nil
}

// startLean builds the lean clients of an https base URL, trusting roots
// (nil: the system's).
func (c *Channel) startLean(base string, roots *x509.CertPool) error {
	u, err := url.Parse(base)
	if err != nil {
		return fmt.Errorf("baseUrl: %w", err)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	c.basePath = u.EscapedPath()
	for range max(c.cfg.Connections, (c.cfg.MaxConcurrentCalls+callsPerConnection-1)/callsPerConnection) {
		lc, err := h2.New(h2.Config{
			Addr:      addr,
			Authority: u.Host,
			TLS:       &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12, ServerName: u.Hostname()},
			StaticHeaders: []hpack.HeaderField{{Name: "content-type", Value: "application/json; charset=UTF-8"},
				{Name: "accept", Value: "application/json"}},
			AnswerHeaders:  []string{"retry-after"},
			MaxAnswerBytes: maxAnswerBytes,
			IndexPaths:     true,
			CallTimeout:    c.cfg.Timeout,
			DialTimeout:    c.cfg.Timeout,
		})
		if err != nil {
			return err
		}
		c.lean = append(c.lean, lc)
	}
	return nil
}

// Close closes the connections of the lean HTTP/2 clients (failing the
// calls in flight on them) and waits for their goroutines. Sends after
// Close open new connections. Idempotent; always returns nil.
func (c *Channel) Close() error {
	for _, lc := range c.lean {
		_ = lc.Close()
	}
	return nil
}

// Name returns "fcm".
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

// Endpoint returns the URL the channel posts the messages of appID to, or
// "" for an unknown app.
func (c *Channel) Endpoint(appID string) string {
	if st, ok := c.apps[appID]; ok {
		return st.endpoint
	}
	return ""
}

// call is one prepared FCM call: the message index and the request body.
type call struct {
	i    int
	body []byte
}

// Send implements channels.Channel. Messages rejected before sending
// (empty or malformed token, expired, content over the limits, invalid
// extras) get their result without a vendor call. The others are sent one
// per call, at most Config.MaxConcurrentCalls in flight for the whole
// channel, with the app's access
// token (fetched first if needed; refreshed and the call retried once if FCM
// refuses it).
//
// The whole-call error is returned only when every message of the batch was
// in a failed call and all failed alike (all transient or all permanent),
// or when the access token cannot be obtained and no message was rejected
// before sending; otherwise failures are reported per message.
func (c *Channel) Send(ctx context.Context, msgs []channels.Message) ([]channels.Result, error) {
	appID, err := channels.CheckBatch(msgs, c.cfg.MaxBatch)
	if err != nil {
		return nil, fmt.Errorf("sending fcm batch: %w", err)
	}
	if len(msgs) == 0 {
		return []channels.Result{}, nil
	}
	st, ok := c.apps[appID]
	if !ok {
		return nil, fmt.Errorf("sending fcm batch for app %q: %w", appID, channels.ErrUnknownApp)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sending fcm batch for app %q: %w", appID, c.vendorErr(st.endpoint, 0, 0, "", true, err))
	}

	now := c.now()
	results := make([]channels.Result, len(msgs))
	calls := make([]call, 0, len(msgs))
	var arena []byte // the batch's request bodies, one after another
	for i := range msgs {
		body, r, ok := c.prepare(&msgs[i], now, &arena)
		if !ok {
			results[i] = r
			continue
		}
		if len(calls) == 0 {
			// Room for the others, at about the first one's size.
			arena = slices.Grow(arena, (len(body)+len(body)/4)*(len(msgs)-i-1))
		}
		calls = append(calls, call{i: i, body: body})
	}
	errs := make([]error, len(calls))
	if len(calls) > 0 {
		c.sendAll(ctx, st, calls, results, errs)
	}
	if err := channels.WholeCallError(errs, func(int) int { return 1 }, len(msgs)); err != nil {
		return nil, fmt.Errorf("sending fcm batch (%d messages) for app %q: %w", len(msgs), appID, err)
	}
	for ci, cl := range calls {
		if errs[ci] != nil {
			channels.Settle(results, []int{cl.i}, errs[ci])
		}
	}
	return results, nil
}

// sendAll makes the calls, filling results or errs (index-aligned with
// calls).
func (c *Channel) sendAll(ctx context.Context, st *appState, calls []call, results []channels.Result, errs []error) {
	token, err := st.tokens.Token(ctx)
	if err != nil {
		for ci := range errs {
			errs[ci] = fmt.Errorf("obtaining access token: %w", err)
		}
		return
	}
	var auth []hpack.HeaderField
	if len(c.lean) > 0 {
		auth = authHeader(token)
	}
	sem := c.calls
	var wg sync.WaitGroup
	batch := h2.NewBatch(ctx) // the lean calls, started together
	var lcs []leanCall        // their state, one allocation for the batch
	for ci := range calls {
		select {
		case sem <- struct{}{}:
		default:
			batch.Flush() // their ends free the slots
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[ci] = c.vendorErr(st.endpoint, 0, 0, "", true, ctx.Err())
				continue
			}
		}
		wg.Add(1)
		if len(c.lean) > 0 {
			if lcs == nil {
				lcs = make([]leanCall, len(calls))
			}
			lcs[ci] = leanCall{c: c, ctx: ctx, st: st, token: token, body: calls[ci].body, res: &results[calls[ci].i], fail: &errs[ci],
				sem: sem, wg: &wg, req: h2.Request{Path: st.path, Body: calls[ci].body, Header: auth}}
			lcs[ci].start(&batch)
			continue
		}
		c.workers.Go(func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := c.sendOne(ctx, st, token, calls[ci].body)
			if err != nil {
				errs[ci] = err
				return
			}
			results[calls[ci].i] = r
		})
	}
	batch.Flush()
	wg.Wait()
}

// leanCall is the call of one message on a lean client (req, with the
// header fields of authHeader(token)): where its result goes, and the
// slot of c.calls and the WaitGroup its end releases. A sendAll allocates
// the calls of its batch together.
type leanCall struct {
	c     *Channel
	ctx   context.Context
	st    *appState
	token string
	body  []byte
	res   *channels.Result
	fail  *error
	sem   chan struct{}
	wg    *sync.WaitGroup
	req   h2.Request
}

// start gathers lc in batch, which makes the call without waiting: the
// connection's reader classifies the answer into *res or *fail (answered).
// A refused access token (see sendOne) is handed to a worker, which
// replaces it and makes the call again.
func (lc *leanCall) start(batch *h2.Batch) {
	c := lc.c
	// The lean client bounds the call with Config.Timeout (CallTimeout).
	batch.Add(c.lean[int(c.next.Add(1))%len(c.lean)], &lc.req, lc.answered)
}

// answered classifies the answer of lc (see start).
func (lc *leanCall) answered(resp *h2.Response, err error) {
	c, st := lc.c, lc.st
	var r channels.Result
	if err != nil {
		err = c.vendorErr(st.endpoint, 0, 0, "", true, err)
	} else {
		r, err = c.classify(st.endpoint, resp.Status, resp.Body, resp.Header("retry-after"))
	}
	if unauthenticated(err) {
		c.workers.Go(func() {
			*lc.res, *lc.fail = c.retryUnauthenticated(lc.ctx, st, lc.token, lc.body)
			lc.end()
		})
		return
	}
	*lc.res, *lc.fail = r, err
	lc.end()
}

// end releases lc's slot and counts it done.
func (lc *leanCall) end() {
	<-lc.sem
	lc.wg.Done()
}

// leanRequest is the lean client's request of a call; auth is its
// header fields (authHeader), shared by the calls of a batch.
func leanRequest(st *appState, auth []hpack.HeaderField, body []byte) *h2.Request {
	return &h2.Request{Path: st.path, Body: body, Header: auth}
}

// authHeader is the lean client's header fields of calls with the access
// token.
func authHeader(token string) []hpack.HeaderField {
	return []hpack.HeaderField{{Name: "authorization", Value: "Bearer " + token}}
}

// jsonSpace is the white space of JSON.
const jsonSpace = " \t\r\n"

// messageName reads the message name of FCM's success answer
// {"name": "projects/…/messages/…"} without the JSON decoder, when the
// answer has exactly that shape and the name is non-empty valid UTF-8
// without escapes or control characters: then json.Unmarshal would read
// the same name. ok false leaves the answer to json.Unmarshal.
func messageName(raw []byte) (name string, ok bool) {
	b, ok := bytes.CutPrefix(bytes.TrimSpace(raw), []byte("{"))
	if !ok {
		return "", false
	}
	if b, ok = bytes.CutPrefix(bytes.TrimLeft(b, jsonSpace), []byte(`"name"`)); !ok {
		return "", false
	}
	if b, ok = bytes.CutPrefix(bytes.TrimLeft(b, jsonSpace), []byte(":")); !ok {
		return "", false
	}
	if b, ok = bytes.CutPrefix(bytes.TrimLeft(b, jsonSpace), []byte(`"`)); !ok {
		return "", false
	}
	end := bytes.IndexByte(b, '"')
	if end <= 0 || string(bytes.TrimLeft(b[end+1:], jsonSpace)) != "}" {
		return "", false
	}
	v := b[:end]
	for _, c := range v {
		if c < 0x20 || c == '\\' {
			return "", false
		}
	}
	if !utf8.Valid(v) {
		return "", false
	}
	return string(v), true
}

// sendOne makes the call of one message. A refused access token is
// replaced and the call retried once.
func (c *Channel) sendOne(ctx context.Context, st *appState, token string, body []byte) (channels.Result, error) {
	r, err := c.post(ctx, st, token, body)
	if unauthenticated(err) {
		return c.retryUnauthenticated(ctx, st, token, body)
	}
	return r, err
}

// unauthenticated reports whether err is FCM's UNAUTHENTICATED answer to
// a call (the access token expired or was revoked).
func unauthenticated(err error) bool {
	if err == nil {
		return false
	}
	var ve *channels.VendorError
	return errors.As(err, &ve) && ve.HTTPStatus == http.StatusUnauthorized && ve.Code == 0
}

// retryUnauthenticated replaces the access token FCM refused and makes
// the call again, once.
func (c *Channel) retryUnauthenticated(ctx context.Context, st *appState, refused string, body []byte) (channels.Result, error) {
	st.tokens.Invalidate(refused)
	token, err := st.tokens.Token(ctx)
	if err != nil {
		return channels.Result{}, fmt.Errorf("refreshing access token: %w", err)
	}
	return c.post(ctx, st, token, body)
}

// googleError is the error answer of Google APIs.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type            string `json:"@type"`
			ErrorCode       string `json:"errorCode"`
			FieldViolations []struct {
				Field       string `json:"field"`
				Description string `json:"description"`
			} `json:"fieldViolations"`
		} `json:"details"`
	} `json:"error"`
}

// fcmErrorCode returns the FcmError code of the answer, else its status.
func (g *googleError) fcmErrorCode() string {
	for _, d := range g.Error.Details {
		if d.Type == DetailTypeFcmError && d.ErrorCode != "" {
			return d.ErrorCode
		}
	}
	return g.Error.Status
}

// hasFcmError reports whether the answer carries an FcmError detail.
func (g *googleError) hasFcmError() bool {
	for _, d := range g.Error.Details {
		if d.Type == DetailTypeFcmError {
			return true
		}
	}
	return false
}

// violatedFields returns the fields named by BadRequest details.
func (g *googleError) violatedFields() []string {
	var out []string
	for _, d := range g.Error.Details {
		for _, v := range d.FieldViolations {
			out = append(out, v.Field)
		}
	}
	return out
}

func (g *googleError) explain() string {
	return strings.Trim(g.fcmErrorCode()+": "+g.Error.Message, ": ")
}

// post makes one HTTP call and maps the answer to the message's result, or
// to a call error (*channels.VendorError) when the answer is about the call
// rather than the message (throttled, unavailable, credentials refused).
func (c *Channel) post(ctx context.Context, st *appState, token string, body []byte) (channels.Result, error) {
	endpoint := st.endpoint
	callCtx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	var status int
	var raw []byte
	var retryAfter string
	if len(c.lean) > 0 {
		lc := c.lean[int(c.next.Add(1))%len(c.lean)]
		resp, err := lc.Do(callCtx, leanRequest(st, authHeader(token), body))
		if err != nil {
			return channels.Result{}, c.vendorErr(endpoint, 0, 0, "", true, err)
		}
		status, raw, retryAfter = resp.Status, resp.Body, resp.Header("retry-after")
	} else {
		req, err := http.NewRequestWithContext(callCtx, http.MethodPost, endpoint, bytes.NewReader(body))
		if err != nil {
			return channels.Result{}, c.vendorErr(endpoint, 0, 0, "", false, fmt.Errorf("building request: %w", err))
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json; charset=UTF-8")
		req.Header.Set("Accept", "application/json")
		resp, err := c.client.Do(req)
		if err != nil {
			return channels.Result{}, c.vendorErr(endpoint, 0, 0, "", true, err)
		}
		defer func() { _ = resp.Body.Close() }()
		raw, err = io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		if err != nil {
			return channels.Result{}, c.vendorErr(endpoint, resp.StatusCode, 0, "", true, fmt.Errorf("reading answer: %w", err))
		}
		status, retryAfter = resp.StatusCode, resp.Header.Get("Retry-After")
	}
	return c.classify(endpoint, status, raw, retryAfter)
}

// classify maps an answer (status, body raw, Retry-After) to the
// message's result, or to a call error (*channels.VendorError) when the
// answer is about the call rather than the message.
func (c *Channel) classify(endpoint string, status int, raw []byte, retryAfter string) (channels.Result, error) {
	if status/100 == 2 {
		if name, ok := messageName(raw); ok {
			return channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked", VendorMsgID: name}, nil
		}
		var ok struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(bytes.TrimSpace(raw), &ok); err != nil || ok.Name == "" {
			// A garbled success: whether FCM took the message is unknown;
			// a retry may duplicate it, losing it is worse.
			return channels.Result{}, c.vendorErr(endpoint, status, 0, "success answer without a message name", true, err)
		}
		return channels.Result{Outcome: channels.Success, StatusCode: channels.StatusAcked, StatusDesc: "Acked", VendorMsgID: ok.Name}, nil
	}

	var g googleError
	decodeErr := json.Unmarshal(bytes.TrimSpace(raw), &g)
	if decodeErr != nil || g.Error.Status == "" && g.Error.Code == 0 {
		transient := status == http.StatusTooManyRequests || status >= 500
		ve := c.vendorErr(endpoint, status, 0, http.StatusText(status), transient, nil)
		if transient {
			ve.RetryAfter = channels.ParseRetryAfter(retryAfter, c.now())
		}
		return channels.Result{}, ve
	}
	code := g.fcmErrorCode()
	switch {
	case code == ErrorCodeUnregistered:
		return channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
			StatusDesc: fmt.Sprintf("BadDeviceToken: NotRegistered (%d) %s", StatusNotRegistered, g.explain())}, nil
	case code == ErrorCodeInvalidArgument:
		return invalidArgumentResult(&g), nil
	case code == ErrorCodeSenderIDMismatch || code == ErrorCodeThirdPartyAuth:
		// The token belongs to another sender, or the app's APNs/web-push
		// credentials are refused: this message cannot be delivered, others
		// of the app may.
		return channels.Result{Outcome: channels.Permanent, StatusCode: StatusAuthentication,
			StatusDesc: "Authentication: " + g.explain()}, nil
	case code == ErrorCodeQuotaExceeded || status == http.StatusTooManyRequests || code == StatusNameResourceExhausted:
		ve := c.vendorErr(endpoint, status, 0, g.explain(), true, nil)
		ve.RetryAfter = channels.ParseRetryAfter(retryAfter, c.now())
		return channels.Result{}, ve
	case code == ErrorCodeUnavailable || code == ErrorCodeInternal || status >= 500:
		ve := c.vendorErr(endpoint, status, StatusInternalServerError, g.explain(), true, nil)
		ve.RetryAfter = channels.ParseRetryAfter(retryAfter, c.now())
		return channels.Result{}, ve
	case status == http.StatusUnauthorized || status == http.StatusForbidden ||
		(status == http.StatusNotFound && !g.hasFcmError()):
		// UNAUTHENTICATED, PERMISSION_DENIED, or a project that does not
		// exist: nothing of this app can be sent until its configuration
		// changes. Code stays 0 for UNAUTHENTICATED so that sendOne
		// recognises it.
		return channels.Result{}, c.vendorErr(endpoint, status, 0, g.explain(), false, nil)
	}
	return channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone,
		StatusDesc: fmt.Sprintf("fcm http %d: %s", status, g.explain())}, nil
}

// invalidArgumentResult classifies an INVALID_ARGUMENT answer. The channel
// checks sizes, TTL and data keys before sending, so an INVALID_ARGUMENT
// that names no field other than message.token is the token FCM refuses
// ("The registration token is not a valid FCM registration token").
func invalidArgumentResult(g *googleError) channels.Result {
	for _, f := range g.violatedFields() {
		switch {
		case f == TokenField:
			continue
		case strings.HasSuffix(f, ".ttl"):
			return channels.Result{Outcome: channels.Permanent, StatusCode: StatusInvalidTTL, StatusDesc: "InvalidTtl: " + g.explain()}
		case strings.HasSuffix(f, "restricted_package_name"):
			return channels.Result{Outcome: channels.Permanent, StatusCode: StatusInvalidPackageName, StatusDesc: "InvalidPackageName: " + g.explain()}
		default:
			return channels.Result{Outcome: channels.Permanent, StatusCode: channels.StatusNone,
				StatusDesc: fmt.Sprintf("InvalidArgument (%s): %s", f, g.explain())}
		}
	}
	return channels.Result{Outcome: channels.InvalidToken, StatusCode: channels.StatusBadDeviceToken,
		StatusDesc: fmt.Sprintf("BadDeviceToken: InvalidRegistration (%d) %s", StatusInvalidRegistration, g.explain())}
}

func (c *Channel) vendorErr(endpoint string, httpStatus, code int, reason string, transient bool, cause error) *channels.VendorError {
	return &channels.VendorError{
		Channel: Name, Op: "POST " + endpoint, HTTPStatus: httpStatus, Code: code,
		Reason: reason, Transient: transient, Cause: cause,
	}
}

// prepare checks m and returns the request body of its call, appended to
// *arena (the bodies of a batch share it; a body is never written again
// once returned), or the result of a message that must not be sent and
// false.
func (c *Channel) prepare(m *channels.Message, now time.Time, arena *[]byte) ([]byte, channels.Result, bool) {
	permanent := func(code int, format string, args ...any) ([]byte, channels.Result, bool) {
		return nil, channels.Result{Outcome: channels.Permanent, StatusCode: code, StatusDesc: fmt.Sprintf(format, args...)}, false
	}
	lim := c.cfg.Limits
	if r, ok := channels.CheckDeliverable(m, now, " \t\r\n,/", "FCM registration token"); !ok {
		return nil, r, false
	}
	switch {
	case !m.PassThrough && (strings.TrimSpace(m.Title) == "" || strings.TrimSpace(m.Body) == ""):
		return permanent(channels.StatusNone, "PayloadEmpty: a notification needs a title and a body")
	case lim.MaxTitleRunes > 0 && utf8.RuneCountInString(m.Title) > lim.MaxTitleRunes:
		return permanent(StatusMessageTooBig, "MessageTooBig: title has %d characters, the limit is %d", utf8.RuneCountInString(m.Title), lim.MaxTitleRunes)
	case lim.MaxBodyRunes > 0 && utf8.RuneCountInString(m.Body) > lim.MaxBodyRunes:
		return permanent(StatusMessageTooBig, "MessageTooBig: body has %d characters, the limit is %d", utf8.RuneCountInString(m.Body), lim.MaxBodyRunes)
	case len(m.Payload) > lim.MaxPayloadBytes:
		return permanent(StatusMessageTooBig, "MessageTooBig: payload has %d bytes, the limit is %d", len(m.Payload), lim.MaxPayloadBytes)
	}

	msg := message{token: m.Token}
	x := m.Extras
	if m.Payload != "" {
		msg.setData(c.cfg.PayloadKey, m.Payload)
	}
	for k, v := range x {
		name, ok := strings.CutPrefix(k, channels.ExtraCustomPrefix)
		if !ok || reservedDataKey(name) || name == c.cfg.PayloadKey || name == DeliveryIDDataKey {
			continue
		}
		msg.setData(name, v)
	}
	if m.DeliveryID != "" {
		msg.setData(DeliveryIDDataKey, m.DeliveryID)
	}
	msg.priority = c.cfg.Priority
	if v := x[ExtraPriority]; v != "" {
		p, ok := normalizePriority(v)
		if !ok {
			return permanent(channels.StatusNone, "InvalidArgument: %s must be HIGH or NORMAL, got %q", ExtraPriority, v)
		}
		msg.priority = p
	}
	msg.collapseKey = x[ExtraCollapseKey]
	if !m.ExpireAt.IsZero() {
		ttl := min(m.ExpireAt.Sub(now), MaxTimeToLive)
		msg.ttlSeconds = max(int64(ttl/time.Second), 1)
	}
	if v := x[ExtraBadge]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return permanent(channels.StatusNone, "InvalidArgument: %s must be a non-negative integer, got %q", ExtraBadge, v)
		}
		msg.badge, msg.hasBadge = n, true
	}
	if !m.PassThrough {
		msg.notification = true
		msg.title, msg.body, msg.image = m.Title, m.Body, x[ExtraImage]
		msg.channelID, msg.sound, msg.tag = x[ExtraChannelID], x[ExtraSound], x[ExtraTag]
		if v := x[channels.ExtraNotifyType]; v != "" {
			bits, err := strconv.Atoi(v)
			if err != nil {
				return permanent(channels.StatusNone, "InvalidArgument: %s must be an integer, got %q", channels.ExtraNotifyType, v)
			}
			msg.defaultSound = bits == -1 || bits&1 != 0
			msg.defaultVibrate = bits == -1 || bits&2 != 0
			msg.defLight = bits == -1 || bits&4 != 0
		}
		if uri := x[channels.ExtraURI]; uri != "" {
			if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") {
				msg.setData(URIDataKey, uri)
			} else {
				msg.clickAction = uri
			}
		}
	}
	if size := msg.dataBytes(); size > lim.MaxDataBytes {
		return permanent(StatusMessageTooBig, "MessageTooBig: data has %d bytes, FCM allows %d", size, lim.MaxDataBytes)
	}
	if validAnalyticsLabel(m.MsgID) {
		msg.analyticsLabel = m.MsgID
	}
	start := len(*arena)
	*arena = appendRequest(*arena, &msg)
	return (*arena)[start:len(*arena):len(*arena)], channels.Result{}, true
}

// validAnalyticsLabel reports whether s is a label FCM accepts as an
// analytics label: 1 to 50 of a-z A-Z 0-9 - _ . ~ %.
func validAnalyticsLabel(s string) bool {
	if len(s) == 0 || len(s) > 50 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '.', c == '~', c == '%':
		default:
			return false
		}
	}
	return true
}
