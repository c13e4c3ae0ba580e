package config

import (
	"fmt"
	"time"

	"github.com/pushpipe/pushpipe/workers/recall"
)

// RecallConfig configures the recall worker, which asks vendors to
// withdraw revoked messages they had already accepted.
type RecallConfig struct {
	// Settle is how long after a revoke was asked for the recall worker
	// looks for the acked deliveries it names, so that calls in flight
	// when the revoke arrived are acked and stored by then. Default
	// recall.DefaultSettle (10s); at most 10 minutes.
	Settle time.Duration `yaml:"settle"`
}

func (r *RecallConfig) defaults() {
	if r.Settle == 0 {
		r.Settle = recall.DefaultSettle
	}
}

func (r RecallConfig) validate() error {
	if r.Settle < 0 || r.Settle > 10*time.Minute {
		return fmt.Errorf("recall.settle must be between 0 and 10m, got %s", r.Settle)
	}
	return nil
}
