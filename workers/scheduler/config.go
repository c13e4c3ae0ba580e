package scheduler

import (
	"context"
	"errors"
	"fmt"
	"time"
	_ "time/tzdata" // any IANA zone loads, even without system zone files

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/pushpipe/pushpipe/pipeline"
	"github.com/pushpipe/pushpipe/schema"
)

// Producer writes records and returns once every one is acknowledged;
// *pipeline.Producer is the one used in production.
type Producer interface {
	Produce(ctx context.Context, outs []pipeline.Output) error
}

// Config configures a Scheduler. Zero values mean the documented defaults.
type Config struct {
	// Region is the region served. Required.
	Region string
	// Brokers are the Kafka bootstrap addresses. Required.
	Brokers []string
	// Security secures every connection (SASL, TLS); the zero value is
	// plaintext without authentication.
	Security pipeline.KafkaSecurity
	// Producer writes occurrences, schedule records, rejected events and
	// dead-letter records. Required.
	Producer Producer
	// GroupID is the consumer group of the scheduler replicas of the
	// region; its partition assignment of push.schedules.R decides which
	// replica fires which schedules. Default "pushpipe.scheduler.<region>".
	GroupID string

	// Location is the time zone of loop dates and times ("00:00 of the
	// start date", "time" HH:mm:ss) and of occurrence ids. It is recorded
	// on each schedule when the schedule is admitted, so changing it later
	// does not move existing schedules. Its name must load with
	// time.LoadLocation. Default UTC.
	Location *time.Location
	// MaxPending is how many unexecuted scheduled or loop pushes one app
	// may have; the next one is refused. Default schema.MaxPendingSchedules
	// (100).
	MaxPending int
	// MaxLateness is how late an occurrence may still be fired (after the
	// scheduler was down, say); an occurrence found later than this is
	// recorded as missed and not sent. Default 1h.
	MaxLateness time.Duration
	// Retention is how long a schedule that will never fire again (done,
	// cancelled or refused) stays on push.schedules.R, for listing; it is
	// then deleted with a tombstone. Default 30 days.
	Retention time.Duration
	// ScanWindow bounds the search for an occurrence whose firing was
	// interrupted: push.requests.R is read from the offset recorded before
	// firing up to records written ScanWindow after it. It must exceed the
	// producer's worst-case time to write a record. Default 5m.
	ScanWindow time.Duration
	// ActionTimeout bounds each step of the work (one write, one lookup
	// on push.requests.R). A replica notices that it lost its partitions
	// within HeartbeatInterval and stops after the step in progress, so
	// ActionTimeout + HeartbeatInterval must stay below RebalanceTimeout:
	// the replica then stops writing before another takes over. Default 5s.
	ActionTimeout time.Duration

	// SessionTimeout, HeartbeatInterval and RebalanceTimeout tune the
	// consumer group as in pipeline.StageConfig. Defaults 6s, 1s and 10s.
	SessionTimeout    time.Duration
	HeartbeatInterval time.Duration
	RebalanceTimeout  time.Duration

	// ABTests gives the figures A/B tests are decided on (see
	// ABTestStats); nil leaves A/B tests undecided, with an error logged.
	ABTests ABTestStats

	// Clock is the time source for occurrences. Default RealClock().
	Clock Clock
	// Logger receives the scheduler's logs. The zero Logger discards them.
	Logger zerolog.Logger
	// Metrics registers the scheduler's series; nil leaves them
	// unregistered.
	Metrics prometheus.Registerer
}

func (c Config) withDefaults() Config {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.GroupID == "" {
		c.GroupID = "pushpipe.scheduler." + c.Region
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.MaxPending == 0 {
		c.MaxPending = schema.MaxPendingSchedules
	}
	def(&c.MaxLateness, time.Hour)
	def(&c.Retention, 30*24*time.Hour)
	def(&c.ScanWindow, 5*time.Minute)
	def(&c.ActionTimeout, 5*time.Second)
	def(&c.SessionTimeout, 6*time.Second)
	def(&c.HeartbeatInterval, time.Second)
	def(&c.RebalanceTimeout, 10*time.Second)
	if c.Clock == nil {
		c.Clock = RealClock()
	}
	return c
}

// Validate reports the first setting that cannot work, saying what to fix.
// Zero values are valid where a default is documented.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case !schema.ValidRegion(c.Region):
		return fmt.Errorf("scheduler: Config.Region %q is not a region: use one of %v", c.Region, schema.Regions())
	case len(c.Brokers) == 0:
		return errors.New("scheduler: Config.Brokers is empty: give at least one host:port")
	case c.Producer == nil:
		return errors.New("scheduler: Config.Producer is nil: pass the process's *pipeline.Producer")
	case c.MaxPending < 1:
		return fmt.Errorf("scheduler: Config.MaxPending %d is not positive: use 0 for the default %d", c.MaxPending, schema.MaxPendingSchedules)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"MaxLateness", c.MaxLateness}, {"Retention", c.Retention}, {"ScanWindow", c.ScanWindow}, {"ActionTimeout", c.ActionTimeout},
		{"SessionTimeout", c.SessionTimeout}, {"HeartbeatInterval", c.HeartbeatInterval}, {"RebalanceTimeout", c.RebalanceTimeout},
	} {
		if d.v < 0 {
			return fmt.Errorf("scheduler: Config.%s %s is negative: use 0 for the default", d.name, d.v)
		}
	}
	if _, err := time.LoadLocation(c.Location.String()); err != nil {
		return fmt.Errorf("scheduler: Config.Location %q cannot be recorded on schedules: use a zone loaded by name (time.LoadLocation): %w", c.Location, err)
	}
	switch {
	case c.HeartbeatInterval*3 > c.SessionTimeout:
		return fmt.Errorf("scheduler: Config.HeartbeatInterval %s is more than a third of SessionTimeout %s", c.HeartbeatInterval, c.SessionTimeout)
	case c.ActionTimeout+c.HeartbeatInterval >= c.RebalanceTimeout:
		return fmt.Errorf("scheduler: Config.ActionTimeout %s plus HeartbeatInterval %s must be below RebalanceTimeout %s, so that a replica stops writing before its partitions move",
			c.ActionTimeout, c.HeartbeatInterval, c.RebalanceTimeout)
	}
	return nil
}
