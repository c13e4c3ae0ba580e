// Package h2 is a lean HTTP/2 client for vendor APIs whose calls are one
// small POST and one small answer each (APNs /3/device/<token>, FCM
// /v1/projects/<p>/messages:send).
//
// A Client keeps one HTTP/2 connection over TLS (ALPN h2) to one server and
// dials a new one when it has none, or when the one it has is going away
// (GOAWAY) or gone. Each connection runs exactly two goroutines, a reader
// and a writer, whatever the number of streams in flight: requests are
// queued to the writer, which assigns stream ids, encodes the headers
// (the constant ones encoded once per Client, the rest by the connection's
// HPACK encoder, whose dynamic table turns repeated fields into an index)
// and writes HEADERS and DATA frames, flushing the socket once per batch of
// queued frames. The reader decodes answers and completes the calls:
// Client.Start hands each answer to the caller's function on the reader
// goroutine, so that a batch of N calls costs N queued requests and N
// completions and no goroutine per call; Client.StartAll (or a Batch over
// several clients) queues a batch's calls at once, waking the writer once
// so that their frames share TLS records and writes; Client.Do waits for
// one. A call
// waits for a stream slot in the connection's queue, is reset when its
// context ends (one cancellation registered per context and connection,
// shared by the calls of a batch, not one per call), and is bounded by Config.CallTimeout with one timer per
// connection.
//
// The connection honours the server's SETTINGS_MAX_CONCURRENT_STREAMS
// (requests wait in the queue for a stream), its flow-control windows for
// request bodies, and grants WINDOW_UPDATEs for answer bodies. A connection
// that reads nothing for Config.PingInterval is pinged and closed if it
// stays silent for Config.PingTimeout more.
//
// Framing is golang.org/x/net/http2's Framer; header compression is
// golang.org/x/net/http2/hpack.
package h2

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Defaults applied to zero fields of Config.
const (
	// DefaultPingInterval is how long a connection may read nothing
	// before it is pinged.
	DefaultPingInterval = 30 * time.Second
	// DefaultPingTimeout is how long a pinged connection may then stay
	// silent before it is closed.
	DefaultPingTimeout = 10 * time.Second
	// DefaultDialTimeout bounds the TCP connect and TLS handshake.
	DefaultDialTimeout = 10 * time.Second
	// DefaultMaxAnswerBytes bounds the answer body kept.
	DefaultMaxAnswerBytes = 64 << 10
	// MaxAnswerHeaders is how many AnswerHeaders a Config may name.
	MaxAnswerHeaders = 4
)

// Flow-control windows the client grants the server for answer bodies.
const (
	streamRecvWindow = 256 << 10
	connRecvWindow   = 4 << 20
)

// unprocessedRetries is how many times Do sends a request again on a new
// connection when the server did not process it.
const unprocessedRetries = 2

// Errors of Do, for errors.Is.
var (
	// ErrUnprocessed marks a request the server certainly did not process
	// (refused stream, stream above a GOAWAY's last stream id, connection
	// closed before the request was written): sending it again is safe.
	ErrUnprocessed = errors.New("request not processed by the server")
	// ErrPingTimeout is the cause of a connection closed because it did
	// not answer a PING in time.
	ErrPingTimeout = errors.New("http2 connection did not answer a ping")
	// ErrNotH2 is returned when the server does not negotiate h2 by ALPN.
	ErrNotH2 = errors.New("server did not negotiate HTTP/2 (ALPN h2)")
)

// StreamError is the failure of one request the server reset with
// RST_STREAM (other than REFUSED_STREAM, which is ErrUnprocessed).
type StreamError struct {
	StreamID uint32
	Code     http2.ErrCode
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("http2 stream %d reset by the server: %v", e.StreamID, e.Code)
}

// Config configures a Client.
type Config struct {
	// Addr is the server's host:port.
	Addr string
	// Authority is the :authority of every request; default Addr.
	Authority string
	// TLS is the client's TLS configuration (RootCAs, ServerName); it is
	// cloned and its NextProtos set to h2. Nil uses the system roots and
	// the host of Addr as server name.
	TLS *tls.Config
	// StaticHeaders are sent with every request, after the pseudo-header
	// fields; they are encoded once (lower-case names).
	StaticHeaders []hpack.HeaderField
	// AnswerHeaders are the lower-case names of the answer's header
	// fields Response.Header returns; at most MaxAnswerHeaders.
	AnswerHeaders []string
	// MaxAnswerBytes bounds the answer body kept (the rest is not read);
	// default DefaultMaxAnswerBytes.
	MaxAnswerBytes int
	// MaxStreams, if positive, bounds the requests in flight on the
	// connection below the server's SETTINGS_MAX_CONCURRENT_STREAMS.
	MaxStreams int
	// IndexPaths puts each request's :path into the connection's HPACK
	// table (worth it when paths repeat, as FCM's do; not for APNs, whose
	// path holds the device token).
	IndexPaths bool
	// CallTimeout, if positive, bounds each call from Start (or Do) to
	// its answer: a call still unanswered then fails with an error that
	// is context.DeadlineExceeded (its stream is reset). It costs no
	// timer or context per call, unlike a deadline on the call's ctx.
	CallTimeout time.Duration
	// PingInterval, PingTimeout and DialTimeout default to
	// DefaultPingInterval, DefaultPingTimeout and DefaultDialTimeout.
	PingInterval time.Duration
	PingTimeout  time.Duration
	DialTimeout  time.Duration
}

// Request is one POST.
type Request struct {
	// Path is the :path.
	Path string
	// Header holds the request's own header fields (lower-case names);
	// a field marked Sensitive stays out of the HPACK table, which suits
	// values unique to the request.
	Header []hpack.HeaderField
	// Body is the request body; Do does not modify it.
	Body []byte
}

// Response is the answer to a Request.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Body is the answer body, at most Config.MaxAnswerBytes of it.
	Body   []byte
	names  []string
	values [MaxAnswerHeaders]string
}

// Header returns the value of the answer header field name (one of
// Config.AnswerHeaders, lower-case), or "".
func (r *Response) Header(name string) string {
	for i, n := range r.names {
		if n == name {
			return r.values[i]
		}
	}
	return ""
}

// Client sends requests to one HTTP/2 server over one connection at a
// time. It is safe for concurrent use.
type Client struct {
	cfg    Config
	tls    *tls.Config
	prefix []byte // :method, :scheme and :authority, HPACK-encoded
	method int    // bytes of prefix that encode :method
	static []byte // StaticHeaders, HPACK-encoded (after :path)

	mu      sync.Mutex
	cur     *conn
	dialing chan struct{} // closed when the dial under way ends
	conns   map[*conn]struct{}
}

// New returns a client for cfg (defaults applied); it dials nothing until
// the first Do. It fails if Addr is not host:port or too many
// AnswerHeaders are named.
func New(cfg Config) (*Client, error) {
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("creating http2 client: addr %q: %w", cfg.Addr, err)
	}
	if len(cfg.AnswerHeaders) > MaxAnswerHeaders {
		return nil, fmt.Errorf("creating http2 client: %d answer headers, at most %d", len(cfg.AnswerHeaders), MaxAnswerHeaders)
	}
	if cfg.Authority == "" {
		cfg.Authority = cfg.Addr
	}
	if cfg.MaxAnswerBytes <= 0 {
		cfg.MaxAnswerBytes = DefaultMaxAnswerBytes
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	cfg.StaticHeaders = slices.Clone(cfg.StaticHeaders)
	cfg.AnswerHeaders = slices.Clone(cfg.AnswerHeaders)
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.TLS != nil {
		tc = cfg.TLS.Clone()
	}
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	// Offering http/1.1 too lets a server without h2 answer the
	// handshake, so that Do can say what is wrong (ErrNotH2).
	tc.NextProtos = []string{http2.NextProtoTLS, "http/1.1"}
	c := &Client{cfg: cfg, tls: tc, conns: map[*conn]struct{}{}}

	// Fields that are in the static table, or sent never-indexed, encode
	// the same whatever the dynamic table holds: encoded once here.
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	_ = enc.WriteField(hpack.HeaderField{Name: ":method", Value: "POST"})
	c.method = buf.Len()
	_ = enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: "https"})
	_ = enc.WriteField(hpack.HeaderField{Name: ":authority", Value: cfg.Authority, Sensitive: true})
	c.prefix = bytes.Clone(buf.Bytes())
	buf.Reset()
	for _, f := range cfg.StaticHeaders {
		f.Sensitive = true
		_ = enc.WriteField(f)
	}
	c.static = bytes.Clone(buf.Bytes())
	return c, nil
}

// Do sends req and waits for its answer, until ctx ends. A request the
// server did not process (ErrUnprocessed) is sent again, at most twice,
// on a new connection. Errors: ctx's error when it ends first (the stream
// is reset), a dial or TLS failure, *StreamError, or a connection failure
// (closed, ping timeout); those with ErrUnprocessed were not processed.
// Safe for concurrent use.
func (c *Client) Do(ctx context.Context, req *Request) (*Response, error) {
	var (
		resp *Response
		err  error
	)
	done := make(chan struct{})
	c.Start(ctx, req, func(r *Response, e error) {
		resp, err = r, e
		close(done)
	})
	<-done
	return resp, err
}

// Start sends req without waiting for its answer: done is called exactly
// once, with what Do would return, when the answer has arrived, the
// request failed, or ctx ended (the stream is then reset). Start itself
// blocks only while the connection is dialed; the request then waits for
// a stream slot in the connection's queue, with no goroutine of its own.
// done runs on the connection's reader goroutine (answers, resets,
// GOAWAY), on its writer goroutine (ctx ended while the request was
// queued), on the goroutine that ended ctx's wait or closed the client,
// or on Start's caller (a failure to dial): it must not block, nor call
// Do; it may call Start. req and its Body must stay unchanged until done
// is called; the Response given to done is done's to keep. A request the
// server did not process (ErrUnprocessed) is sent again, at most twice,
// on a new connection, from a goroutine of its own. Safe for concurrent
// use.
func (c *Client) Start(ctx context.Context, req *Request, done func(*Response, error)) {
	c.start(ctx, req, done, 0)
}

// Call is one request of StartAll and the function its end is given to
// (Start's req and done).
type Call struct {
	Req  *Request
	Done func(*Response, error)
}

// StartAll starts each of calls as Start does, all with ctx, but queues
// them on the connection together and wakes its writer once, so that
// their HEADERS and DATA frames go out together in few TLS records and
// writes. Each Done is called exactly once, as Start's done. calls may be
// reused once StartAll returns. Safe for concurrent use.
func (c *Client) StartAll(ctx context.Context, calls []Call) {
	if len(calls) == 0 {
		return
	}
	cc, err := c.conn(ctx)
	if err != nil {
		for _, cl := range calls {
			cl.Done(nil, err)
		}
		return
	}
	ss := make([]stream, len(calls)) // one allocation for the batch's streams
	for i, cl := range calls {
		ss[i] = stream{ctx: ctx, call: cl.Done, req: cl.Req, body: cl.Req.Body}
		ss[i].resp.names = c.cfg.AnswerHeaders
	}
	if cc.enqueue(ss) == nil {
		return
	}
	// The connection closed or is going away (unprocessed): each call
	// goes on as a Start whose first attempt failed.
	for i := range ss {
		c.start(ctx, ss[i].req, ss[i].call, 1)
	}
}

// start is Start's attempt number attempt (0 first).
func (c *Client) start(ctx context.Context, req *Request, done func(*Response, error), attempt int) {
	for ; ; attempt++ {
		cc, err := c.conn(ctx)
		if err != nil {
			done(nil, err)
			return
		}
		ss := []stream{{ctx: ctx, attempt: attempt, call: done, req: req, body: req.Body}}
		ss[0].resp.names = c.cfg.AnswerHeaders
		err = cc.enqueue(ss)
		if err == nil {
			return
		}
		if attempt >= unprocessedRetries || ctx.Err() != nil || !errors.Is(err, ErrUnprocessed) {
			done(nil, err)
			return
		}
	}
}

// conn returns the connection new requests go to, dialing it if needed
// (one dial at a time; concurrent callers wait for it).
func (c *Client) conn(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		if cc := c.cur; cc != nil {
			if cc.usable() {
				c.mu.Unlock()
				return cc, nil
			}
			c.cur = nil
		}
		if ch := c.dialing; ch != nil {
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		ch := make(chan struct{})
		c.dialing = ch
		c.mu.Unlock()

		cc, err := c.dial(ctx)
		c.mu.Lock()
		c.dialing = nil
		if err == nil {
			c.cur = cc
			c.conns[cc] = struct{}{}
		}
		c.mu.Unlock()
		close(ch)
		if err != nil {
			return nil, err
		}
		cc.start()
		return cc, nil
	}
}

// dial opens a TLS connection, checks ALPN and writes the preface.
func (c *Client) dial(ctx context.Context) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(dctx, "tcp", c.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dialing %s: %w", c.cfg.Addr, err)
	}
	tc := tls.Client(nc, c.tls)
	if err := tc.HandshakeContext(dctx); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", c.cfg.Addr, err)
	}
	if p := tc.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		_ = nc.Close()
		return nil, fmt.Errorf("connecting to %s (ALPN %q): %w", c.cfg.Addr, p, ErrNotH2)
	}
	cc := newConn(c, tc)
	if err := cc.writePreface(); err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("writing the http2 preface to %s: %w", c.cfg.Addr, err)
	}
	return cc, nil
}

// forget drops cc from the client once it is closed.
func (c *Client) forget(cc *conn) {
	c.mu.Lock()
	delete(c.conns, cc)
	if c.cur == cc {
		c.cur = nil
	}
	c.mu.Unlock()
}

// Close closes the client's connections, failing the requests in flight
// on them, and waits until their goroutines have ended. A Do after Close
// dials a new connection. Idempotent; always returns nil.
func (c *Client) Close() error {
	c.mu.Lock()
	all := make([]*conn, 0, len(c.conns))
	for cc := range c.conns {
		all = append(all, cc)
	}
	c.cur = nil
	c.mu.Unlock()
	for _, cc := range all {
		cc.closeWith(errClientClosed)
	}
	for _, cc := range all {
		<-cc.done
	}
	return nil
}

var errClientClosed = errors.New("http2 client closed")
