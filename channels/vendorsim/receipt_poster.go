package vendorsim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/pushpipe/pushpipe/channels"
)

// Headers the receipts of Huawei, HarmonyOS and the app SDK are signed
// with (documented by Huawei's receipt API, and by pushpipe for its SDK).
const (
	huaweiCallbackIDHeader = "X-HUAWEI-CALLBACK-ID"
	clientTimestampHeader  = "X-Pushpipe-Timestamp"
	clientSignatureHeader  = "X-Pushpipe-Signature"
)

// huaweiCallbackID is the X-HUAWEI-CALLBACK-ID Huawei sends with a
// receipt: "timestamp=<ms>;nonce=<uuid>;value=<base64 of the
// HMAC-SHA256, under the callback key, of timestamp+nonce+callback user
// name>".
func huaweiCallbackID(user string, key channels.Secret, now time.Time, nonce string) string {
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	m.Write([]byte(ts + nonce + user))
	return "timestamp=" + ts + ";nonce=" + nonce + ";value=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// newNonce returns a random UUID-shaped nonce.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// clientSignature is the app SDK's signature of a client events body:
// base64 of the HMAC-SHA256, under the app's client key, of appId + "\n" +
// timestamp + "\n" + body.
func clientSignature(app string, key channels.Secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(key.Reveal()))
	m.Write([]byte(app + "\n" + ts + "\n"))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// receiptKind is what a receipt reports: an arrival, an open or an
// ignore.
type receiptKind uint8

const (
	kindArrival receiptKind = iota
	kindOpen
	kindIgnore
)

// clientEventName is the app SDK's name of a receipt kind.
func (k receiptKind) clientEventName() string {
	switch k {
	case kindOpen:
		return "open"
	case kindIgnore:
		return "ignore"
	}
	return "arrival"
}

// batchKey groups receipts into one POST: one endpoint (and receipt
// address, when the call named one), and one vendor, region and app for
// the counters.
type batchKey struct {
	endpoint, vendor, region, app, url string
}

// receiptEvent is one receipt waiting to be posted.
type receiptEvent struct {
	seq  uint64
	due  time.Time
	kind receiptKind
	key  batchKey
	sent Sent
}

// receiptBatch is the content of one POST.
type receiptBatch struct {
	key    batchKey
	gen    uint64
	minSeq uint64
	events []receiptEvent
}

// openBatch collects due receipts of one key until it is full or has
// waited FlushInterval.
type openBatch struct {
	since  time.Time
	events []receiptEvent
}

// poster queues receipts and posts them from its own goroutines: one
// dispatcher that batches due receipts and Workers that post batches.
type poster struct {
	cfg    ReceiptsConfig
	seed   uint64
	client *http.Client
	// cancel ends every attempt and wait when Close gives up.
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: the dispatcher has something to look at
	work   chan *receiptBatch
	done   chan struct{} // closed when every goroutine returned
	wg     sync.WaitGroup
	once   sync.Once

	mu       sync.Mutex
	seq      uint64
	gen      uint64         // incremented by Reset; older batches are not counted
	pending  []receiptEvent // waiting for their due time, in seq order
	open     map[batchKey]*openBatch
	inflight map[*receiptBatch]struct{}
	queued   int    // len(pending) + receipts in open batches
	flushTo  uint64 // receipts with seq <= flushTo are due now
	stopping bool
	stats    ReceiptStats
	changed  chan struct{} // closed and replaced when queued work ends
}

// newPoster starts the poster's goroutines; cfg has its defaults.
func newPoster(cfg ReceiptsConfig, seed uint64) *poster {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	ctx, cancel := context.WithCancel(context.Background())
	p := &poster{
		cfg: cfg, seed: seed, cancel: cancel,
		client:   &http.Client{Transport: transport, Timeout: time.Duration(cfg.PostTimeout)},
		wake:     make(chan struct{}, 1),
		work:     make(chan *receiptBatch, cfg.Workers),
		done:     make(chan struct{}),
		open:     map[batchKey]*openBatch{},
		inflight: map[*receiptBatch]struct{}{},
		stats:    ReceiptStats{Vendors: map[string]map[string]map[string]*ReceiptCounters{}},
		changed:  make(chan struct{}),
	}
	p.wg.Add(1 + cfg.Workers)
	go p.dispatch(ctx)
	for range cfg.Workers {
		go p.worker(ctx)
	}
	go func() {
		p.wg.Wait()
		close(p.done)
	}()
	return p
}

func (p *poster) notify() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// changedLocked wakes FlushReceipts callers. The caller holds p.mu.
func (p *poster) changedLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// add decides the fates of sent and queues their receipts, dropping (and
// counting) what does not fit the queue.
func (p *poster) add(vendor, region, app string, sent []Sent) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now() // under the lock: due times follow seq order
	c := p.stats.counters(vendor, region, app)
	for _, t := range sent {
		if t.Correlation == "" {
			continue
		}
		f := p.cfg.FateOfTitle(p.seed, t.Correlation, t.Token, t.Title)
		for _, k := range []struct {
			kind receiptKind
			yes  bool
		}{{kindArrival, f.Arrived}, {kindOpen, f.Opened}, {kindIgnore, f.Ignored}} {
			if !k.yes {
				continue
			}
			n := c.kind(k.kind)
			n.Decided++
			if p.stopping || p.queued >= p.cfg.QueueSize {
				n.Dropped++
				continue
			}
			endpoint, u := ClientEndpoint, ""
			if k.kind == kindArrival {
				endpoint, u = receiptEndpoint(vendor), t.CallbackURL
			}
			p.seq++
			p.pending = append(p.pending, receiptEvent{
				seq: p.seq, due: now.Add(time.Duration(p.cfg.Delay)), kind: k.kind,
				key: batchKey{endpoint: endpoint, vendor: vendor, region: region, app: app, url: u}, sent: t,
			})
			p.queued++
		}
	}
	p.notify()
}

// dispatch moves due receipts into batches and hands full or waited-out
// batches to the workers, until Close.
func (p *poster) dispatch(ctx context.Context) {
	defer p.wg.Done()
	defer close(p.work)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		ready, next, finished := p.collectLocked(time.Now())
		p.mu.Unlock()
		for i, b := range ready {
			select {
			case p.work <- b:
			case <-ctx.Done():
				p.drop(ready[i:])
				p.dropQueued()
				return
			}
		}
		if finished {
			return
		}
		timer.Reset(max(time.Until(next), time.Millisecond))
		select {
		case <-p.wake:
		case <-timer.C:
		case <-ctx.Done():
			p.dropQueued()
			return
		}
	}
}

// collectLocked returns the batches to post now, when to look again, and
// whether the poster is stopping with nothing left. The caller holds p.mu.
func (p *poster) collectLocked(now time.Time) (ready []*receiptBatch, next time.Time, finished bool) {
	next = now.Add(time.Hour)
	i := 0
	for ; i < len(p.pending); i++ {
		ev := p.pending[i]
		if !p.stopping && ev.seq > p.flushTo && ev.due.After(now) {
			next = ev.due
			break
		}
		ob := p.open[ev.key]
		if ob == nil {
			ob = &openBatch{since: now}
			p.open[ev.key] = ob
		}
		ob.events = append(ob.events, ev)
	}
	// Reslicing keeps this O(due receipts); append copies the live part
	// to a new array when the old one is used up.
	p.pending = p.pending[i:]
	for key, ob := range p.open {
		for len(ob.events) >= p.cfg.MaxBatch {
			ready = append(ready, p.takeLocked(key, ob.events[:p.cfg.MaxBatch]))
			ob.events, ob.since = ob.events[p.cfg.MaxBatch:], now
		}
		wait := ob.since.Add(time.Duration(p.cfg.FlushInterval))
		switch {
		case len(ob.events) == 0:
			delete(p.open, key)
		case p.stopping || ob.events[0].seq <= p.flushTo || !wait.After(now):
			ready = append(ready, p.takeLocked(key, ob.events))
			delete(p.open, key)
		case wait.Before(next):
			next = wait
		}
	}
	return ready, next, p.stopping && len(p.pending) == 0 && len(p.open) == 0
}

// takeLocked makes a batch of events in flight. The caller holds p.mu.
func (p *poster) takeLocked(key batchKey, events []receiptEvent) *receiptBatch {
	b := &receiptBatch{key: key, gen: p.gen, minSeq: events[0].seq, events: slices.Clone(events)}
	p.inflight[b] = struct{}{}
	p.queued -= len(events)
	return b
}

// drop counts batches that will never be posted as dropped.
func (p *poster) drop(batches []*receiptBatch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, b := range batches {
		p.endLocked(b, func(n *ReceiptEventCounts) { n.Dropped++ })
	}
}

// dropQueued counts every receipt still queued as dropped and forgets it.
func (p *poster) dropQueued() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range p.pending {
		p.stats.counters(ev.key.vendor, ev.key.region, ev.key.app).kind(ev.kind).Dropped++
	}
	for _, ob := range p.open {
		for _, ev := range ob.events {
			p.stats.counters(ev.key.vendor, ev.key.region, ev.key.app).kind(ev.kind).Dropped++
		}
	}
	p.pending, p.open, p.queued = nil, map[batchKey]*openBatch{}, 0
	p.changedLocked()
}

// endLocked ends an in-flight batch, counting each of its receipts with
// count unless a Reset came in between. The caller holds p.mu.
func (p *poster) endLocked(b *receiptBatch, count func(*ReceiptEventCounts)) {
	delete(p.inflight, b)
	if b.gen == p.gen {
		c := p.stats.counters(b.key.vendor, b.key.region, b.key.app)
		for _, ev := range b.events {
			count(c.kind(ev.kind))
		}
	}
	p.changedLocked()
}

// countLocked updates the counters of a batch's key unless a Reset came
// in between. The caller holds p.mu.
func (p *poster) countLocked(b *receiptBatch, f func(*ReceiptCounters)) {
	if b.gen == p.gen {
		f(p.stats.counters(b.key.vendor, b.key.region, b.key.app))
	}
}

func (p *poster) worker(ctx context.Context) {
	defer p.wg.Done()
	for b := range p.work {
		p.post(ctx, b)
	}
}

// errReceiptStatus is a non-2xx answer to a receipt POST.
type errReceiptStatus struct {
	status int
	body   string
}

func (e *errReceiptStatus) Error() string {
	return fmt.Sprintf("receipts worker answered %d: %.200s", e.status, e.body)
}

// retryable reports whether a failed POST is tried again: connection
// errors, timeouts and 5xx answers are, 4xx answers are not.
func retryable(err error) bool {
	var st *errReceiptStatus
	if errors.As(err, &st) {
		return st.status >= 500
	}
	return true
}

// post sends one batch, retrying with backoff, and counts the outcome.
func (p *poster) post(ctx context.Context, b *receiptBatch) {
	if ctx.Err() != nil {
		p.drop([]*receiptBatch{b})
		return
	}
	body, contentType, err := receiptBody(b, time.Now())
	if err != nil {
		// Encoding plain strings and numbers does not fail; if it ever
		// does, the batch counts as failed rather than vanishing.
		p.mu.Lock()
		p.endLocked(b, func(n *ReceiptEventCounts) { n.Failed++ })
		p.mu.Unlock()
		return
	}
	target := p.target(b.key)
	backoff := time.Duration(p.cfg.RetryBackoff)
	for attempt := 1; ; attempt++ {
		p.mu.Lock()
		p.countLocked(b, func(c *ReceiptCounters) {
			c.Posts++
			if attempt > 1 {
				c.Retries++
				return
			}
			for _, ev := range b.events {
				c.kind(ev.kind).Posted++
			}
		})
		p.mu.Unlock()
		err := p.postOnce(ctx, b.key, target, contentType, body)
		p.mu.Lock()
		if err == nil {
			p.endLocked(b, func(n *ReceiptEventCounts) { n.Acked++ })
			p.mu.Unlock()
			return
		}
		p.countLocked(b, func(c *ReceiptCounters) { c.FailedPosts++ })
		if !retryable(err) || attempt >= p.cfg.MaxAttempts || ctx.Err() != nil {
			p.endLocked(b, func(n *ReceiptEventCounts) { n.Failed++ })
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			p.mu.Lock()
			p.endLocked(b, func(n *ReceiptEventCounts) { n.Failed++ })
			p.mu.Unlock()
			return
		}
		backoff = min(2*backoff, maxReceiptBackoff)
	}
}

// target is where a batch goes: the receipt address its call named, else
// the region's receipts worker with the app (and, for Honor, the app's
// receipt token) in the query.
func (p *poster) target(k batchKey) string {
	if k.url != "" {
		return k.url
	}
	q := url.Values{"app": {k.app}}
	if k.endpoint == VendorHonor {
		if tok := p.cfg.Credentials[k.app].HonorToken; tok != "" {
			q.Set("token", tok.Reveal())
		}
	}
	return p.cfg.URLs[k.region] + "/receipts/" + k.endpoint + "?" + q.Encode()
}

// postOnce makes one POST, signed as the endpoint's sender signs; nil
// means a 2xx answer.
func (p *poster) postOnce(ctx context.Context, k batchKey, target, contentType string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("posting receipts to %s: %w", target, err)
	}
	req.Header.Set("Content-Type", contentType)
	c := p.cfg.Credentials[k.app]
	now := time.Now()
	switch k.endpoint {
	case VendorHMS:
		if c.HMSUser != "" && c.HMSKey != "" {
			req.Header.Set(huaweiCallbackIDHeader, huaweiCallbackID(c.HMSUser, c.HMSKey, now, newNonce()))
		}
	case VendorHarmonyOS:
		if c.HarmonyOSUser != "" && c.HarmonyOSKey != "" {
			req.Header.Set(huaweiCallbackIDHeader, huaweiCallbackID(c.HarmonyOSUser, c.HarmonyOSKey, now, newNonce()))
		}
	case ClientEndpoint:
		if c.ClientKey != "" {
			ts := strconv.FormatInt(now.UnixMilli(), 10)
			req.Header.Set(clientTimestampHeader, ts)
			req.Header.Set(clientSignatureHeader, clientSignature(k.app, c.ClientKey, ts, body))
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("posting receipts to %s: %w", target, err)
	}
	defer func() { _ = resp.Body.Close() }()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("posting receipts to %s: %w", target, &errReceiptStatus{status: resp.StatusCode, body: string(answer)})
	}
	return nil
}

// flush makes every receipt queued so far due and waits until each one
// has ended.
func (p *poster) flush(ctx context.Context) error {
	p.mu.Lock()
	barrier := p.seq
	p.flushTo = max(p.flushTo, barrier)
	p.mu.Unlock()
	p.notify()
	for {
		p.mu.Lock()
		flushed, changed := p.flushedLocked(barrier), p.changed
		p.mu.Unlock()
		if flushed {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("flushing vendor receipts: %w", ctx.Err())
		}
	}
}

// flushedLocked reports whether no receipt with seq <= barrier is queued
// or in flight. The caller holds p.mu.
func (p *poster) flushedLocked(barrier uint64) bool {
	if len(p.pending) > 0 && p.pending[0].seq <= barrier {
		return false
	}
	for _, ob := range p.open {
		if len(ob.events) > 0 && ob.events[0].seq <= barrier {
			return false
		}
	}
	for b := range p.inflight {
		if b.minSeq <= barrier {
			return false
		}
	}
	return true
}

// reset forgets queued receipts and zeroes the counters; batches in
// flight finish without being counted.
func (p *poster) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gen++
	p.pending, p.open, p.queued = nil, map[batchKey]*openBatch{}, 0
	p.stats = ReceiptStats{Vendors: map[string]map[string]map[string]*ReceiptCounters{}}
	p.changedLocked()
}

// close posts what is queued, giving up after CloseTimeout, and waits for
// the poster's goroutines. Idempotent.
func (p *poster) close() {
	p.once.Do(func() {
		p.mu.Lock()
		p.stopping = true
		p.mu.Unlock()
		p.notify()
		t := time.NewTimer(time.Duration(p.cfg.CloseTimeout))
		select {
		case <-p.done:
		case <-t.C:
			p.cancel()
			<-p.done
		}
		t.Stop()
		p.cancel()
		p.client.CloseIdleConnections()
	})
}
