// Package control follows push.control.R, the compacted topic of revokes,
// so that the workers holding deliveries (sender, retry) can end a revoked
// delivery as `revoked` instead of sending it.
package control

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/segmentio/kafka-go"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// RevokeReaderConfig configures a RevokeReader.
type RevokeReaderConfig struct {
	// Brokers are the Kafka bootstrap addresses.
	Brokers []string
	// Security secures every connection (SASL, TLS); the zero value is
	// plaintext without authentication.
	Security pipeline.KafkaSecurity
	// Region selects push.control.<Region>.
	Region string
	// MaxWait bounds how long one fetch long-polls the broker when there
	// is nothing new (default 1s); a new revoke is returned as soon as it
	// is written.
	MaxWait time.Duration
	// Logger receives read errors (once per failure streak).
	Logger zerolog.Logger
	// Now is the clock that ages revokes out (schema.ControlRetention
	// after their TS); nil means time.Now.
	Now func() time.Time
}

// Validate reports what to fix in the configuration.
func (c RevokeReaderConfig) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("control: RevokeReaderConfig.Brokers is empty: give at least one host:port")
	case !schema.ValidRegion(c.Region):
		return fmt.Errorf("control: RevokeReaderConfig.Region %q is not one of %v", c.Region, schema.Regions())
	case c.MaxWait < 0:
		return fmt.Errorf("control: RevokeReaderConfig.MaxWait %s is negative: use 0 for the default 1s", c.MaxWait)
	}
	return nil
}

// RevokeReader reads the revokes of a region for the stages that hold
// deliveries (sender, retry): every partition of push.control.<region>
// from the beginning, through a pipeline.LogReader (no consumer group). It
// keeps the revokes it has read in memory until schema.ControlRetention
// after they were made (no delivery of the revoked push is left by then;
// the topic deletes them too), so memory is bounded by the revokes of that
// window. Revoked is safe for concurrent use; Start and Close are called
// once each, Close being idempotent.
type RevokeReader struct {
	cfg   RevokeReaderConfig
	topic string
	log   *pipeline.LogReader

	mu      sync.RWMutex
	byMsg   map[string][]schema.Control // app + "\x00" + msg id
	byTask  map[string]schema.Control   // app + "\x00" + task id
	records int
	pruned  time.Time // when aged revokes were last dropped

	// follower is set by Start, under useMu when Acquire calls it.
	follower  *pipeline.TopicFollower
	closeOnce sync.Once

	// users counts Acquire calls not yet Released.
	useMu   sync.Mutex
	users   int
	started bool
	closed  bool
}

// NewRevokeReader returns a revoke reader; it reads nothing until Start.
func NewRevokeReader(cfg RevokeReaderConfig) (*RevokeReader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.MaxWait == 0 {
		cfg.MaxWait = time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log, err := pipeline.NewLogReader(pipeline.LogReaderConfig{Brokers: cfg.Brokers, Security: cfg.Security,
		ClientID: "pushpipe-revokes", What: "revokes", MaxWait: cfg.MaxWait, MaxBytes: 1 << 20,
		ReadBackoffMin: 50 * time.Millisecond, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("control: %w", err)
	}
	return &RevokeReader{cfg: cfg, topic: pipeline.ControlTopic(cfg.Region), log: log,
		byMsg: map[string][]schema.Control{}, byTask: map[string]schema.Control{}}, nil
}

// Start looks up the partitions of the control topic, starts one reader
// per partition and returns once every record that was in the topic when
// Start was called has been read, so that a worker starting after a revoke
// never sends what it revoked. ctx bounds that wait, not the readers; they
// run until Close.
func (w *RevokeReader) Start(ctx context.Context) error {
	defer func() { _ = w.log.Close() }() // the admin connections serve Start only
	f, err := w.log.FollowTopic(ctx, w.topic, w.add)
	if err != nil {
		return fmt.Errorf("control: %w", err)
	}
	w.follower = f
	if err := f.Sync(ctx); err != nil {
		return fmt.Errorf("control: %w", err)
	}
	return nil
}

// add records one control record; undecodable or foreign records only
// advance the offset.
func (w *RevokeReader) add(m kafka.Message) {
	c, err := schema.DecodeControl(m.Value)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil || c.Op != schema.ControlRevoke || c.AppID == "" || c.Region != w.cfg.Region {
		return
	}
	now := w.cfg.Now()
	if now.Sub(w.pruned) > time.Minute {
		w.pruneLocked(now)
	}
	if aged(c, now) {
		return
	}
	w.records++
	switch {
	case c.MsgID != "":
		k := c.AppID + "\x00" + c.MsgID
		w.byMsg[k] = append(w.byMsg[k], c)
	case c.TaskID != "":
		w.byTask[c.AppID+"\x00"+c.TaskID] = c
	}
}

// aged reports whether revoke c no longer matters at now.
func aged(c schema.Control, now time.Time) bool {
	return c.TS > 0 && now.Sub(time.UnixMilli(c.TS)) > schema.ControlRetention
}

// pruneLocked drops the revokes that no longer matter. Called with mu
// held for writing.
func (w *RevokeReader) pruneLocked(now time.Time) {
	w.pruned = now
	for k, c := range w.byTask {
		if aged(c, now) {
			delete(w.byTask, k)
			w.records--
		}
	}
	for k, cs := range w.byMsg {
		kept := cs[:0]
		for _, c := range cs {
			if aged(c, now) {
				w.records--
				continue
			}
			kept = append(kept, c)
		}
		if len(kept) == 0 {
			delete(w.byMsg, k)
		} else {
			w.byMsg[k] = kept
		}
	}
}

// Revoked returns the revoke that names d (by task id, or by msg id and
// optionally its target), if one has been read.
func (w *RevokeReader) Revoked(d *schema.Delivery) (schema.Control, bool) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if c, ok := w.byTask[d.AppID+"\x00"+d.TaskID]; ok && d.TaskID != "" {
		return c, true
	}
	for _, c := range w.byMsg[d.AppID+"\x00"+d.MsgID] {
		if c.Matches(d) {
			return c, true
		}
	}
	return schema.Control{}, false
}

// Len is the number of revokes held: read so far and not yet aged out.
func (w *RevokeReader) Len() int {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.records
}

// Acquire starts the reader for one user (a stage) if it is not running
// yet, returning as Start does; several stages of one process share a
// revoke reader this way. Every successful Acquire is paired with a Release; the
// last Release closes the reader, which cannot be acquired again.
func (w *RevokeReader) Acquire(ctx context.Context) error {
	w.useMu.Lock()
	defer w.useMu.Unlock()
	if w.closed {
		return fmt.Errorf("control: the revoke reader of %s is closed", w.topic)
	}
	if !w.started {
		if err := w.Start(ctx); err != nil {
			if w.follower != nil {
				_ = w.follower.Close()
				w.follower = nil
			}
			return err
		}
		w.started = true
	}
	w.users++
	return nil
}

// Release ends one Acquire; the last one closes the reader.
func (w *RevokeReader) Release() {
	w.useMu.Lock()
	defer w.useMu.Unlock()
	if w.users == 0 {
		return
	}
	w.users--
	if w.users == 0 {
		w.closed = true
		_ = w.Close()
	}
}

// Close stops the readers and waits for them. It is idempotent and safe
// to call on a reader that was never started.
func (w *RevokeReader) Close() error {
	w.closeOnce.Do(func() {
		if w.follower != nil {
			_ = w.follower.Close()
		}
	})
	return nil
}
