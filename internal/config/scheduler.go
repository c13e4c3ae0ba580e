package config

import (
	"fmt"
	"time"
	_ "time/tzdata" // any IANA zone loads, even without system zone files
)

// SchedulerConfig configures the scheduler worker (scheduled and loop
// pushes) and the `pushpipe schedules` commands.
type SchedulerConfig struct {
	// TimeZone is the IANA name of the zone whose dates and wall-clock
	// times loop pushes use ("00:00 of the start date", time HH:mm:ss) and
	// in which occurrence ids are written. It is recorded on each schedule
	// when the scheduler admits it, so changing it later does not move
	// existing schedules. Default "UTC".
	TimeZone string `yaml:"timeZone"`
	// MaxLateness is how late an occurrence may still be sent, e.g. after
	// the scheduler was down; a later one is recorded as missed. Default 1h.
	MaxLateness time.Duration `yaml:"maxLateness"`
}

// Location loads TimeZone.
func (s SchedulerConfig) Location() (*time.Location, error) {
	loc, err := time.LoadLocation(s.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("scheduler.timeZone %q: use an IANA zone name such as UTC or Asia/Shanghai: %w", s.TimeZone, err)
	}
	return loc, nil
}

func (s *SchedulerConfig) defaults() {
	if s.TimeZone == "" {
		s.TimeZone = "UTC"
	}
	if s.MaxLateness == 0 {
		s.MaxLateness = time.Hour
	}
}

func (s SchedulerConfig) validate() error {
	if _, err := s.Location(); err != nil {
		return err
	}
	if s.MaxLateness < 0 {
		return fmt.Errorf("scheduler.maxLateness %s is negative", s.MaxLateness)
	}
	return nil
}
