package h2

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// conn is one HTTP/2 connection of a Client: a reader and a writer
// goroutine around a Framer. Everything under mu is shared by callers,
// the reader, the writer and the ping timer; the HPACK encoder and the
// write side of the framer belong to the writer, the decoder and the read
// side to the reader.
type conn struct {
	cl  *Client
	nc  net.Conn
	bw  *bufio.Writer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer // header block being encoded (writer)
	dec *hpack.Decoder
	// The header block being decoded (reader): whether it is the
	// answer of a stream in flight, its :status and AnswerHeaders.
	hOn     bool
	hStatus int
	hVals   [MaxAnswerHeaders]string

	mu          sync.Mutex
	err         error              // why the connection closed; nil while open
	streams     map[uint32]*stream // streams written and not finished
	pending     []*stream          // requests waiting for a stream
	sendq       []*stream          // streams with request body left to write
	ctrl        []ctrlFrame        // control frames to write
	nextID      uint32
	active      int
	maxStreams  int // 0 until the server's first SETTINGS
	gotSettings bool
	goAway      bool
	connSendWin int64
	peerInitWin int64
	peerMaxFrm  uint32
	tableSize   uint32 // server's SETTINGS_HEADER_TABLE_SIZE, applied by the writer
	tableChange bool
	recvUnacked int64     // connection-level bytes received and not yet granted back
	fin         []*stream // streams ended whose completion has not run (see unlock)
	// watches holds, per context of the streams queued or in flight,
	// their number and the cancellation registered on it: one
	// context.AfterFunc per context (a batch's calls share one), not
	// per call.
	watches map[context.Context]*watch
	// timeq holds the streams with a deadline (CallTimeout), in the
	// order of their deadlines; ended ones leave it from its head.
	// callTimer fires at the head's deadline.
	timeq     []*stream
	callTimer *time.Timer

	wake    chan struct{} // cap 1: the writer has work
	closing chan struct{} // closed when the connection closes
	done    chan struct{} // closed when both goroutines have ended
	running atomic.Int32

	// ping liveness (timer goroutine, under mu)
	frames     atomic.Uint64
	pingTimer  *time.Timer
	seenFrames uint64
	pingSent   bool
}

// ctrlFrame is a control frame the writer sends.
type ctrlFrame struct {
	kind     http2.FrameType
	streamID uint32
	n        uint32 // window increment or error code
	ack      bool
	data     [8]byte
}

// watch is the cancellation registered on one context for the streams of
// a connection that have it (see conn.watches).
type watch struct {
	n    int         // streams queued or in flight with the context
	stop func() bool // stops the context.AfterFunc
}

// stream is one request and its answer.
type stream struct {
	id       uint32 // 0 while pending
	cc       *conn
	ctx      context.Context
	watched  bool      // counted in cc.watches[ctx] (ctx can end)
	attempt  int       // sends before this one (ErrUnprocessed retries)
	deadline time.Time // zero: none (see Config.CallTimeout)
	call     func(*Response, error)
	req      *Request
	body     []byte // request body left to write
	sendWin  int64
	recvUnac int64
	resp     Response
	headers  bool // a final header block was received
	finished bool
	err      error
}

func newConn(cl *Client, nc net.Conn) *conn {
	cc := &conn{
		cl:          cl,
		nc:          nc,
		bw:          bufio.NewWriterSize(nc, 32<<10),
		streams:     map[uint32]*stream{},
		nextID:      1,
		connSendWin: 65535,
		peerInitWin: 65535,
		peerMaxFrm:  16384,
		wake:        make(chan struct{}, 1),
		closing:     make(chan struct{}),
		done:        make(chan struct{}),
	}
	cc.fr = http2.NewFramer(cc.bw, bufio.NewReaderSize(nc, 32<<10))
	cc.fr.SetMaxReadFrameSize(1 << 20)
	cc.enc = hpack.NewEncoder(&cc.hb)
	cc.dec = hpack.NewDecoder(4096, cc.emit)
	cc.dec.SetMaxStringLength(64 << 10)
	return cc
}

// writePreface writes the client preface, SETTINGS and the connection
// window grant, before the goroutines start.
func (cc *conn) writePreface() error {
	_ = cc.nc.SetWriteDeadline(time.Now().Add(cc.cl.cfg.DialTimeout))
	defer func() { _ = cc.nc.SetWriteDeadline(time.Time{}) }()
	if _, err := cc.bw.WriteString(http2.ClientPreface); err != nil {
		return err
	}
	if err := cc.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamRecvWindow},
	); err != nil {
		return err
	}
	if err := cc.fr.WriteWindowUpdate(0, connRecvWindow-65535); err != nil {
		return err
	}
	return cc.bw.Flush()
}

// start runs the reader, the writer and the ping timer.
func (cc *conn) start() {
	cc.running.Store(2)
	cc.mu.Lock()
	cc.pingTimer = time.AfterFunc(cc.cl.cfg.PingInterval, cc.pingCheck)
	cc.mu.Unlock()
	go cc.readLoop()
	go cc.writeLoop()
}

// exited is called by each goroutine as it ends.
func (cc *conn) exited() {
	if cc.running.Add(-1) == 0 {
		cc.cl.forget(cc)
		close(cc.done)
	}
}

// usable reports whether new requests may go on cc.
func (cc *conn) usable() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err == nil && !cc.goAway
}

func (cc *conn) signal() {
	select {
	case cc.wake <- struct{}{}:
	default:
	}
}

// enqueue queues the new streams ss on cc, in order, and wakes the writer
// once, counting each in the cancellation registered on its ctx (see
// watchLocked). It fails, without queuing any, when the connection is
// closed or going away (ErrUnprocessed).
func (cc *conn) enqueue(ss []stream) error {
	cc.mu.Lock()
	switch {
	case cc.err != nil:
		err := cc.err
		cc.mu.Unlock()
		return fmt.Errorf("http2 connection closed (%w): %w", err, ErrUnprocessed)
	case cc.goAway:
		cc.mu.Unlock()
		return fmt.Errorf("http2 connection going away: %w", ErrUnprocessed)
	}
	var deadline time.Time
	if t := cc.cl.cfg.CallTimeout; t > 0 {
		deadline = time.Now().Add(t)
	}
	for i := range ss {
		s := &ss[i]
		s.cc = cc
		cc.pending = append(cc.pending, s)
		if !deadline.IsZero() {
			s.deadline = deadline
			cc.timeq = append(cc.timeq, s)
			if len(cc.timeq) == 1 {
				cc.armCallTimerLocked()
			}
		}
		if s.ctx.Done() != nil {
			// Under mu: every completion of s happens after it.
			cc.watchLocked(s.ctx)
			s.watched = true
		}
	}
	cc.mu.Unlock()
	cc.signal()
	return nil
}

// armCallTimerLocked sets the call timer to the deadline at timeq's head.
func (cc *conn) armCallTimerLocked() {
	d := time.Until(cc.timeq[0].deadline)
	if cc.callTimer == nil {
		cc.callTimer = time.AfterFunc(d, cc.expireCalls)
		return
	}
	cc.callTimer.Reset(d)
}

// popEndedLocked drops the ended streams at timeq's head.
func (cc *conn) popEndedLocked() {
	for len(cc.timeq) > 0 && cc.timeq[0].finished {
		cc.timeq[0] = nil
		cc.timeq = cc.timeq[1:]
	}
	if len(cc.timeq) == 0 {
		cc.timeq = cc.timeq[:0:0] // let the array go
	}
}

// errCallTimeout is the failure of a call unanswered after CallTimeout.
var errCallTimeout = fmt.Errorf("http2 call unanswered within its timeout: %w", context.DeadlineExceeded)

// expireCalls runs on the call timer: the calls past their deadline end
// with errCallTimeout, their streams reset.
func (cc *conn) expireCalls() {
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	now := time.Now()
	idle, reset := false, false
	for len(cc.timeq) > 0 {
		s := cc.timeq[0]
		if !s.finished {
			if s.deadline.After(now) {
				break
			}
			if s.id != 0 {
				cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FrameRSTStream, streamID: s.id, n: uint32(http2.ErrCodeCancel)})
				reset = true
			}
			idle = cc.finishLocked(s, errCallTimeout) || idle
		}
		cc.popEndedLocked()
	}
	if len(cc.timeq) > 0 {
		cc.armCallTimerLocked()
	}
	cc.unlock()
	if reset {
		cc.signal()
	}
	if idle {
		cc.closeWith(errGoneAway)
	}
}

// watchLocked counts one more stream with ctx, registering the
// cancellation of the connection's streams with ctx when it is the first:
// the function runs on a goroutine of its own, only if ctx ends.
func (cc *conn) watchLocked(ctx context.Context) {
	if w := cc.watches[ctx]; w != nil {
		w.n++
		return
	}
	if cc.watches == nil {
		cc.watches = map[context.Context]*watch{}
	}
	cc.watches[ctx] = &watch{n: 1, stop: context.AfterFunc(ctx, func() { cc.cancelAll(ctx) })}
}

// unwatchLocked counts one stream with ctx less, stopping the
// cancellation registered on ctx when it was the last.
func (cc *conn) unwatchLocked(ctx context.Context) {
	w := cc.watches[ctx]
	if w == nil {
		return
	}
	if w.n--; w.n == 0 {
		w.stop()
		delete(cc.watches, ctx)
	}
}

// cancelAll ends the streams with ctx, which has ended, with its error,
// resetting those written (context.AfterFunc of watchLocked).
func (cc *conn) cancelAll(ctx context.Context) {
	err := ctx.Err()
	cc.mu.Lock()
	idle, reset := false, false
	for _, s := range cc.pending {
		if s.ctx == ctx {
			idle = cc.finishLocked(s, err) || idle
		}
	}
	for id, s := range cc.streams {
		if s.ctx == ctx {
			cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FrameRSTStream, streamID: id, n: uint32(http2.ErrCodeCancel)})
			reset = true
			idle = cc.finishLocked(s, err) || idle
		}
	}
	cc.unlock()
	if reset {
		cc.signal()
	}
	if idle {
		cc.closeWith(errGoneAway)
	}
}

// unlock releases mu and then runs the completions of the streams that
// ended while it was held, in the order they ended.
func (cc *conn) unlock() {
	switch len(cc.fin) {
	case 0:
		cc.mu.Unlock()
	case 1:
		s := cc.fin[0]
		cc.fin[0] = nil
		cc.fin = cc.fin[:0]
		cc.mu.Unlock()
		s.complete()
	default:
		fin := cc.fin
		cc.fin = nil
		cc.mu.Unlock()
		for _, s := range fin {
			s.complete()
		}
	}
}

// complete delivers the end of s to its caller, or sends the request
// again on a new connection (on a goroutine of its own, as it may dial)
// when the server did not process it and retries are left.
func (s *stream) complete() {
	if s.err == nil {
		s.call(&s.resp, nil)
		return
	}
	if s.attempt < unprocessedRetries && s.ctx.Err() == nil && errors.Is(s.err, ErrUnprocessed) {
		go s.cc.cl.start(s.ctx, s.req, s.call, s.attempt+1)
		return
	}
	s.call(nil, s.err)
}

var errGoneAway = errors.New("http2 connection went away")

// finishLocked ends s with err (nil: answered) unless it has ended, and
// queues its completion, which the caller runs by releasing mu with
// unlock. It reports whether the connection is going away and has nothing
// left in flight (the caller then closes it, without mu held).
func (cc *conn) finishLocked(s *stream, err error) bool {
	if s.finished {
		return false
	}
	s.finished = true
	s.err = err
	if s.watched {
		s.watched = false
		cc.unwatchLocked(s.ctx)
	}
	if s.id != 0 {
		if _, ok := cc.streams[s.id]; ok {
			delete(cc.streams, s.id)
			cc.active--
			if len(cc.pending) > 0 {
				cc.signal()
			}
		}
	}
	cc.fin = append(cc.fin, s)
	if len(cc.timeq) > 0 && cc.timeq[0] == s {
		cc.popEndedLocked()
	}
	return cc.goAway && cc.err == nil && cc.active == 0
}

// closeWith closes the connection: every stream in flight fails with err
// (those not yet written as unprocessed). Idempotent.
func (cc *conn) closeWith(err error) {
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	cc.err = err
	for _, s := range cc.streams {
		cc.finishLocked(s, fmt.Errorf("http2 connection closed: %w", err))
	}
	for _, s := range cc.pending {
		cc.finishLocked(s, fmt.Errorf("http2 connection closed (%w): %w", err, ErrUnprocessed))
	}
	cc.pending = nil
	cc.sendq = nil
	if cc.pingTimer != nil {
		cc.pingTimer.Stop()
	}
	if cc.callTimer != nil {
		cc.callTimer.Stop()
	}
	cc.timeq = nil
	cc.unlock()
	close(cc.closing)
	_ = cc.nc.Close()
}

// pingCheck runs on the ping timer: a connection that read nothing since
// the last check is pinged; one that read nothing since the ping is
// closed.
func (cc *conn) pingCheck() {
	n := cc.frames.Load()
	cfg := cc.cl.cfg
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	switch {
	case n != cc.seenFrames:
		cc.seenFrames, cc.pingSent = n, false
		cc.pingTimer.Reset(cfg.PingInterval)
	case cc.pingSent:
		cc.mu.Unlock()
		cc.closeWith(fmt.Errorf("no frame for %s after a ping: %w", cfg.PingTimeout, ErrPingTimeout))
		return
	default:
		cc.pingSent = true
		cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FramePing, data: [8]byte{'p', 'u', 's', 'h', 'p', 'i', 'p', 'e'}})
		cc.pingTimer.Reset(cfg.PingTimeout)
	}
	cc.mu.Unlock()
	cc.signal()
}

// writeLoop is the writer goroutine.
func (cc *conn) writeLoop() {
	defer cc.exited()
	var (
		ctrl  []ctrlFrame
		start []*stream
		data  []dataChunk
	)
	for {
		cc.mu.Lock()
		if cc.err != nil {
			cc.mu.Unlock()
			return
		}
		ctrl = append(ctrl[:0], cc.ctrl...)
		clear(cc.ctrl)
		cc.ctrl = cc.ctrl[:0]
		tableChange, tableSize, maxFrm := cc.tableChange, cc.tableSize, cc.peerMaxFrm
		cc.tableChange = false
		start = start[:0]
		if cc.gotSettings && !cc.goAway {
			for len(cc.pending) > 0 && cc.active < cc.maxStreams {
				s := cc.pending[0]
				cc.pending[0] = nil
				cc.pending = cc.pending[1:]
				if s.finished {
					continue
				}
				if err := s.ctx.Err(); err != nil {
					// Ended: not sent (its cancellation, on a
					// goroutine of its own, may not have run yet).
					cc.finishLocked(s, err)
					continue
				}
				s.id = cc.nextID
				cc.nextID += 2
				s.sendWin = cc.peerInitWin
				cc.streams[s.id] = s
				cc.active++
				start = append(start, s)
				if len(s.body) > 0 {
					cc.sendq = append(cc.sendq, s)
				}
			}
			if len(cc.pending) == 0 {
				cc.pending = nil // let the array go
			}
		}
		data = cc.takeDataLocked(data[:0], maxFrm)
		cc.unlock() // runs the completions of the streams whose ctx ended while queued

		if len(ctrl) == 0 && len(start) == 0 && len(data) == 0 {
			if cc.bw.Buffered() > 0 {
				if err := cc.bw.Flush(); err != nil {
					cc.closeWith(fmt.Errorf("writing: %w", err))
					return
				}
				continue
			}
			select {
			case <-cc.wake:
			case <-cc.closing:
				return
			}
			continue
		}
		if tableChange {
			cc.enc.SetMaxDynamicTableSizeLimit(tableSize)
		}
		if err := cc.write(ctrl, start, data, maxFrm, tableChange); err != nil {
			cc.closeWith(fmt.Errorf("writing: %w", err))
			return
		}
		clear(start)
		clear(data)
	}
}

// dataChunk is a DATA frame to write.
type dataChunk struct {
	id   uint32
	b    []byte
	last bool
}

// takeDataLocked moves the request body the windows allow into chunks.
func (cc *conn) takeDataLocked(out []dataChunk, maxFrm uint32) []dataChunk {
	if len(cc.sendq) == 0 {
		return out
	}
	keep := cc.sendq[:0]
	for _, s := range cc.sendq {
		if s.finished {
			continue
		}
		for len(s.body) > 0 && s.sendWin > 0 && cc.connSendWin > 0 {
			n := min(int64(len(s.body)), s.sendWin, cc.connSendWin, int64(maxFrm))
			out = append(out, dataChunk{id: s.id, b: s.body[:n], last: int64(len(s.body)) == n})
			s.body = s.body[n:]
			s.sendWin -= n
			cc.connSendWin -= n
		}
		if len(s.body) > 0 {
			keep = append(keep, s)
		}
	}
	clear(cc.sendq[len(keep):])
	cc.sendq = keep
	return out
}

// write writes control frames, the HEADERS of new streams and DATA.
func (cc *conn) write(ctrl []ctrlFrame, start []*stream, data []dataChunk, maxFrm uint32, tableChange bool) error {
	for i := range ctrl {
		f := &ctrl[i]
		var err error
		switch f.kind {
		case http2.FrameSettings:
			err = cc.fr.WriteSettingsAck()
		case http2.FramePing:
			err = cc.fr.WritePing(f.ack, f.data)
		case http2.FrameWindowUpdate:
			err = cc.fr.WriteWindowUpdate(f.streamID, f.n)
		case http2.FrameRSTStream:
			err = cc.fr.WriteRSTStream(f.streamID, http2.ErrCode(f.n))
		}
		if err != nil {
			return err
		}
	}
	cfg := &cc.cl.cfg
	for _, s := range start {
		cc.hb.Reset()
		if tableChange {
			// A table size update must open the block: the encoder
			// writes it with the first field.
			_ = cc.enc.WriteField(hpack.HeaderField{Name: ":method", Value: "POST"})
			cc.hb.Write(cc.cl.prefix[cc.cl.method:])
			tableChange = false
		} else {
			cc.hb.Write(cc.cl.prefix)
		}
		_ = cc.enc.WriteField(hpack.HeaderField{Name: ":path", Value: s.req.Path, Sensitive: !cfg.IndexPaths})
		cc.hb.Write(cc.cl.static)
		for _, f := range s.req.Header {
			_ = cc.enc.WriteField(f)
		}
		if len(s.req.Body) > 0 {
			cc.hb.Write(appendContentLength(cc.hb.AvailableBuffer(), len(s.req.Body)))
		}
		block := cc.hb.Bytes()
		first := block[:min(len(block), int(maxFrm))]
		block = block[len(first):]
		if err := cc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: first,
			EndStream: len(s.req.Body) == 0, EndHeaders: len(block) == 0}); err != nil {
			return err
		}
		for len(block) > 0 {
			frag := block[:min(len(block), int(maxFrm))]
			block = block[len(frag):]
			if err := cc.fr.WriteContinuation(s.id, len(block) == 0, frag); err != nil {
				return err
			}
		}
	}
	for _, d := range data {
		if err := cc.fr.WriteData(d.id, d.last, d.b); err != nil {
			return err
		}
	}
	return nil
}

// readLoop is the reader goroutine.
func (cc *conn) readLoop() {
	defer cc.exited()
	for {
		f, err := cc.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				cc.resetStream(se.StreamID, se.Code, &StreamError{StreamID: se.StreamID, Code: se.Code})
				continue
			}
			cc.closeWith(fmt.Errorf("reading: %w", err))
			return
		}
		cc.frames.Add(1)
		if err := cc.handle(f); err != nil {
			cc.closeWith(err)
			return
		}
	}
}

// resetStream fails stream id with err and resets it with code.
func (cc *conn) resetStream(id uint32, code http2.ErrCode, err error) {
	cc.mu.Lock()
	cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FrameRSTStream, streamID: id, n: uint32(code)})
	idle := false
	if s := cc.streams[id]; s != nil {
		idle = cc.finishLocked(s, err)
	}
	cc.unlock()
	cc.signal()
	if idle {
		cc.closeWith(errGoneAway)
	}
}

// handle processes one frame read; an error closes the connection.
func (cc *conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.HeadersFrame:
		return cc.onHeaders(f)
	case *http2.DataFrame:
		cc.onData(f)
	case *http2.SettingsFrame:
		if !f.IsAck() {
			return cc.onSettings(f)
		}
	case *http2.WindowUpdateFrame:
		cc.onWindowUpdate(f)
	case *http2.PingFrame:
		if !f.IsAck() {
			cc.mu.Lock()
			cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FramePing, ack: true, data: f.Data})
			cc.mu.Unlock()
			cc.signal()
		}
	case *http2.RSTStreamFrame:
		var err error = &StreamError{StreamID: f.StreamID, Code: f.ErrCode}
		if f.ErrCode == http2.ErrCodeRefusedStream {
			err = fmt.Errorf("http2 stream %d refused: %w", f.StreamID, ErrUnprocessed)
		}
		cc.mu.Lock()
		idle := false
		if s := cc.streams[f.StreamID]; s != nil {
			idle = cc.finishLocked(s, err)
		}
		cc.unlock()
		if idle {
			cc.closeWith(errGoneAway)
		}
	case *http2.GoAwayFrame:
		cc.onGoAway(f)
	case *http2.PushPromiseFrame:
		return errors.New("server sent PUSH_PROMISE with push disabled")
	case *http2.ContinuationFrame:
		return errors.New("CONTINUATION frame without HEADERS")
	}
	return nil
}

// emit receives the decoded header fields of the block being read.
func (cc *conn) emit(f hpack.HeaderField) {
	if !cc.hOn {
		return
	}
	if f.Name == ":status" {
		cc.hStatus, _ = strconv.Atoi(f.Value)
		return
	}
	for i, n := range cc.cl.cfg.AnswerHeaders {
		if n == f.Name {
			cc.hVals[i] = f.Value
			return
		}
	}
}

// onHeaders reads a header block (HEADERS and its CONTINUATIONs). The
// block is always decoded: the HPACK table must follow the server's.
func (cc *conn) onHeaders(f *http2.HeadersFrame) error {
	cc.mu.Lock()
	s := cc.streams[f.StreamID]
	if s != nil && (s.finished || s.headers) {
		s = nil // trailers, or a stream ended meanwhile
	}
	cc.mu.Unlock()
	cc.hOn, cc.hStatus, cc.hVals = s != nil, 0, [MaxAnswerHeaders]string{}
	frag := f.HeaderBlockFragment()
	ended := f.HeadersEnded()
	for {
		if _, err := cc.dec.Write(frag); err != nil {
			return fmt.Errorf("decoding headers: %w", err)
		}
		if ended {
			break
		}
		nf, err := cc.fr.ReadFrame()
		if err != nil {
			return fmt.Errorf("reading headers: %w", err)
		}
		cf, ok := nf.(*http2.ContinuationFrame)
		if !ok || cf.StreamID != f.StreamID {
			return errors.New("HEADERS not followed by its CONTINUATION")
		}
		frag, ended = cf.HeaderBlockFragment(), cf.HeadersEnded()
	}
	if err := cc.dec.Close(); err != nil {
		return fmt.Errorf("decoding headers: %w", err)
	}
	cc.hOn = false
	status := cc.hStatus
	if s == nil || status >= 100 && status < 200 {
		return nil // not for a stream in flight, or informational: the final answer follows
	}
	cc.mu.Lock()
	idle := false
	switch {
	case s.finished:
	case status == 0:
		idle = cc.finishLocked(s, errors.New("answer without :status"))
		cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FrameRSTStream, streamID: s.id, n: uint32(http2.ErrCodeProtocol)})
		cc.signal()
	default:
		s.headers = true
		s.resp.Status = status
		s.resp.values = cc.hVals
		if f.StreamEnded() {
			idle = cc.finishLocked(s, nil)
		}
	}
	cc.unlock()
	if idle {
		cc.closeWith(errGoneAway)
	}
	return nil
}

// onData keeps the answer body (up to MaxAnswerBytes) and grants the
// windows back.
func (cc *conn) onData(f *http2.DataFrame) {
	n := int64(f.Length)
	data := f.Data()
	limit := cc.cl.cfg.MaxAnswerBytes
	cc.mu.Lock()
	cc.recvUnacked += n
	if cc.recvUnacked >= connRecvWindow/2 {
		cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FrameWindowUpdate, n: uint32(cc.recvUnacked)})
		cc.recvUnacked = 0
		cc.signal()
	}
	s := cc.streams[f.StreamID]
	idle := false
	switch {
	case s == nil || s.finished:
	case !s.headers:
		idle = cc.finishLocked(s, errors.New("answer body before its headers"))
		cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FrameRSTStream, streamID: f.StreamID, n: uint32(http2.ErrCodeProtocol)})
		cc.signal()
	default:
		keep := min(len(data), limit-len(s.resp.Body))
		s.resp.Body = append(s.resp.Body, data[:keep]...)
		switch {
		case f.StreamEnded():
			idle = cc.finishLocked(s, nil)
		case len(s.resp.Body) >= limit:
			// Bound reached: the rest is not read.
			idle = cc.finishLocked(s, nil)
			cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FrameRSTStream, streamID: f.StreamID, n: uint32(http2.ErrCodeCancel)})
			cc.signal()
		default:
			s.recvUnac += n
			if s.recvUnac >= streamRecvWindow/2 {
				cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FrameWindowUpdate, streamID: f.StreamID, n: uint32(s.recvUnac)})
				s.recvUnac = 0
				cc.signal()
			}
		}
	}
	cc.unlock()
	if idle {
		cc.closeWith(errGoneAway)
	}
}

// onSettings applies the server's settings and acknowledges them.
func (cc *conn) onSettings(f *http2.SettingsFrame) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	err := f.ForeachSetting(func(st http2.Setting) error {
		switch st.ID {
		case http2.SettingMaxConcurrentStreams:
			cc.maxStreams = int(min(st.Val, 1<<20))
		case http2.SettingInitialWindowSize:
			if st.Val > 1<<31-1 {
				return errors.New("SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1")
			}
			delta := int64(st.Val) - cc.peerInitWin
			cc.peerInitWin = int64(st.Val)
			for _, s := range cc.streams {
				s.sendWin += delta
			}
		case http2.SettingMaxFrameSize:
			cc.peerMaxFrm = st.Val
		case http2.SettingHeaderTableSize:
			cc.tableSize, cc.tableChange = min(st.Val, 4096), true
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("server settings: %w", err)
	}
	if !cc.gotSettings {
		cc.gotSettings = true
		if cc.maxStreams == 0 && !hasSetting(f, http2.SettingMaxConcurrentStreams) {
			cc.maxStreams = 1000 // the server sets no limit
		}
	}
	if lim := cc.cl.cfg.MaxStreams; lim > 0 && cc.maxStreams > lim {
		cc.maxStreams = lim
	}
	cc.ctrl = append(cc.ctrl, ctrlFrame{kind: http2.FrameSettings, ack: true})
	cc.signal()
	return nil
}

func hasSetting(f *http2.SettingsFrame, id http2.SettingID) bool {
	_, ok := f.Value(id)
	return ok
}

func (cc *conn) onWindowUpdate(f *http2.WindowUpdateFrame) {
	cc.mu.Lock()
	if f.StreamID == 0 {
		cc.connSendWin += int64(f.Increment)
	} else if s := cc.streams[f.StreamID]; s != nil {
		s.sendWin += int64(f.Increment)
	}
	more := len(cc.sendq) > 0
	cc.mu.Unlock()
	if more {
		cc.signal()
	}
}

// onGoAway stops new streams on the connection; streams above the last
// stream id fail as unprocessed, the others finish. The connection closes
// once none is left.
func (cc *conn) onGoAway(f *http2.GoAwayFrame) {
	cc.mu.Lock()
	cc.goAway = true
	for id, s := range cc.streams {
		if id > f.LastStreamID {
			cc.finishLocked(s, fmt.Errorf("http2 stream %d above GOAWAY's last stream %d (%v): %w", id, f.LastStreamID, f.ErrCode, ErrUnprocessed))
		}
	}
	for _, s := range cc.pending {
		cc.finishLocked(s, fmt.Errorf("http2 connection going away (%v): %w", f.ErrCode, ErrUnprocessed))
	}
	cc.pending = nil
	idle := cc.active == 0
	cc.unlock()
	if idle {
		cc.closeWith(errGoneAway)
	}
}

// appendContentLength appends the HPACK encoding of content-length: n,
// never indexed, as hpack.Encoder.WriteField encodes it (the name as
// index 28 of the static table, the value Huffman-coded when shorter),
// without making a string of n.
func appendContentLength(dst []byte, n int) []byte {
	var digits [20]byte
	v := strconv.AppendInt(digits[:0], int64(n), 10)
	dst = append(dst, 0x10|0x0f, 28-0x0f) // literal never indexed, name index 28 (4-bit prefix)
	if hl := hpack.HuffmanEncodeLength(string(v)); hl < uint64(len(v)) {
		dst = append(dst, 0x80|byte(hl)) // fewer than 21 bytes: one byte
		return hpack.AppendHuffmanString(dst, string(v))
	}
	dst = append(dst, byte(len(v)))
	return append(dst, v...)
}
