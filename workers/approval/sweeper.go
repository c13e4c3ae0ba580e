package approval

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// Defaults of SweeperConfig.
const (
	DefaultSweepInterval  = 5 * time.Second
	DefaultRepublishAfter = 30 * time.Second
	// DefaultGrace is how long after its expiry a waiting request is
	// recorded expired: an approval sent just before the expiry lands
	// first.
	DefaultGrace = 10 * time.Second
	// DefaultRetention is how long a Done record stays listed before the
	// sweeper deletes it with a tombstone.
	DefaultRetention = 7 * 24 * time.Hour
)

// SweeperConfig configures a Sweeper.
type SweeperConfig struct {
	Reader   ReaderConfig
	Producer Producer
	// Interval between two sweeps (default DefaultSweepInterval).
	Interval time.Duration
	// RepublishAfter is how long a decided request that fanout has not
	// marked Done waits before its request is published again (default
	// DefaultRepublishAfter).
	RepublishAfter time.Duration
	// Grace (default DefaultGrace) and Retention (default
	// DefaultRetention): see the constants.
	Grace, Retention time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Validate reports what to fix.
func (c SweeperConfig) Validate() error {
	if err := c.Reader.Validate(); err != nil {
		return err
	}
	switch {
	case c.Producer == nil:
		return errors.New("approval: SweeperConfig.Producer is required (decisions go to push.approvals.<region>)")
	case c.Interval < 0 || c.RepublishAfter < 0 || c.Grace < 0 || c.Retention < 0:
		return errors.New("approval: SweeperConfig has a negative duration: use 0 for the default")
	}
	return nil
}

// Sweeper is the approval flow's clock, a pipeline.Service of one region:
// it records expired the held requests nobody decided on within their
// window (schema.Approval.Expire, the same record whoever writes it) and
// publishes their request for fanout to reject, publishes again the
// request of a decided record fanout has not marked Done after
// RepublishAfter (a console that died between the decision and the
// request), and deletes Done records after Retention. Every action is
// idempotent, so several replicas may run; fanout acts once per key
// whatever the number of copies.
type Sweeper struct {
	cfg    SweeperConfig
	reader *Reader
	log    zerolog.Logger
	ready  atomic.Bool
	// published is when this sweeper last published a key's request.
	published map[string]time.Time
}

// NewSweeper returns a Sweeper; it contacts no broker until Run.
func NewSweeper(cfg SweeperConfig) (*Sweeper, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Interval == 0 {
		cfg.Interval = DefaultSweepInterval
	}
	if cfg.RepublishAfter == 0 {
		cfg.RepublishAfter = DefaultRepublishAfter
	}
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	r, err := NewReader(cfg.Reader)
	if err != nil {
		return nil, err
	}
	return &Sweeper{cfg: cfg, reader: r, published: map[string]time.Time{},
		log: cfg.Reader.Logger.With().Str("stage", "approvals").Str("region", cfg.Reader.Region).Logger()}, nil
}

var _ pipeline.Service = (*Sweeper)(nil)

// Ready is nil once the sweeper has read push.approvals.R up to its end.
func (s *Sweeper) Ready(context.Context) error {
	if !s.ready.Load() {
		return fmt.Errorf("approval sweeper of region %s has not read %s yet", s.cfg.Reader.Region, pipeline.ApprovalsTopic(s.cfg.Reader.Region))
	}
	return nil
}

// Run sweeps every Interval until ctx ends; it returns nil then. A failed
// sweep is logged and tried again at the next one.
func (s *Sweeper) Run(ctx context.Context) error {
	defer func() { _ = s.reader.Close() }()
	for {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := s.reader.Start(sctx)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn().Err(err).Msg("waiting for the approvals topic")
		if !pipeline.Pause(ctx, time.Second) {
			return nil
		}
	}
	s.ready.Store(true)
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn().Err(err).Msg("approval sweep failed; trying again")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sweep does once what is due; Run calls it every Interval.
func (s *Sweeper) Sweep(ctx context.Context) error {
	if err := s.reader.Sync(ctx); err != nil {
		return err
	}
	now := s.cfg.Now()
	state := s.reader.Snapshot()
	keys := make([]string, 0, len(state))
	for k := range state {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		if err := s.sweepOne(ctx, state[k], now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *Sweeper) sweepOne(ctx context.Context, a schema.Approval, now time.Time) error {
	region := s.cfg.Reader.Region
	switch {
	case a.Done:
		delete(s.published, a.Key())
		if now.Sub(time.UnixMilli(a.DoneAt)) > s.cfg.Retention {
			if err := s.cfg.Producer.Produce(ctx, []pipeline.Output{{Topic: pipeline.ApprovalsTopic(region), Key: []byte(a.Key())}}); err != nil {
				return fmt.Errorf("deleting the approval record of task %s: %w", a.TaskID, err)
			}
		}
	case a.Decision == schema.ApprovalWaiting:
		if now.Before(time.UnixMilli(a.ExpiresAt).Add(s.cfg.Grace)) {
			return nil
		}
		e := a.Expire()
		if err := release(ctx, s.cfg.Producer, region, e); err != nil {
			return err
		}
		s.published[a.Key()] = now
		s.log.Info().Str("app_id", a.AppID).Str("task", a.TaskID).Str("decided_by", schema.ApprovalSystem).
			Time("expired_at", time.UnixMilli(a.ExpiresAt)).Msg("approval: held request expired")
	default:
		last, ok := s.published[a.Key()]
		if !ok {
			last = time.UnixMilli(a.DecidedAt)
		}
		if now.Sub(last) < s.cfg.RepublishAfter {
			return nil
		}
		if err := republish(ctx, s.cfg.Producer, region, a); err != nil {
			return err
		}
		s.published[a.Key()] = now
		s.log.Info().Str("app_id", a.AppID).Str("task", a.TaskID).Str("decision", string(a.Decision)).
			Msg("approval: decided request not yet acted on by fanout; published it again")
	}
	return nil
}
