package config

import (
	"fmt"
	"time"

	"github.com/pushpipe/pushpipe/schema"
	"github.com/pushpipe/pushpipe/workers/retry"
	"github.com/pushpipe/pushpipe/workers/sender"
)

// RetryConfig configures how deliveries that failed transiently (vendor
// 5xx, 429, timeout, open circuit breaker) are tried again: the sender's
// backoff, which sets each retry's not-before time, and the retry worker's
// attempt cap. The delay tiers themselves are fixed (pipeline.RetryTiers).
type RetryConfig struct {
	// MaxAttempts caps the re-sends of one delivery; the retry worker ends
	// a delivery whose next attempt would exceed it as `failed`. Default
	// retry.DefaultMaxAttempts (20).
	MaxAttempts int `yaml:"maxAttempts"`
	// BaseBackoff and MaxBackoff shape the wait before attempt n: drawn
	// uniformly from [0, min(BaseBackoff·2^(n-1), MaxBackoff)] (full
	// jitter), or the vendor's Retry-After when longer. Defaults
	// sender.DefaultBaseBackoff (1s) and sender.DefaultMaxBackoff (5m).
	BaseBackoff time.Duration `yaml:"baseBackoff"`
	MaxBackoff  time.Duration `yaml:"maxBackoff"`
}

func (r *RetryConfig) defaults() {
	if r.MaxAttempts == 0 {
		r.MaxAttempts = retry.DefaultMaxAttempts
	}
	if r.BaseBackoff == 0 {
		r.BaseBackoff = sender.DefaultBaseBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = sender.DefaultMaxBackoff
	}
}

// maxRetryBackoff bounds retry.maxBackoff: no message is valid longer
// (expiredSeconds is at most 14 days), so a longer wait only expires.
const maxRetryBackoff = schema.MaxExpiredSeconds * time.Second

func (r RetryConfig) validate() error {
	switch {
	case r.MaxAttempts < 1:
		return fmt.Errorf("retry.maxAttempts must be at least 1, got %d", r.MaxAttempts)
	case r.BaseBackoff <= 0:
		return fmt.Errorf("retry.baseBackoff must be positive, got %s", r.BaseBackoff)
	case r.MaxBackoff < r.BaseBackoff:
		return fmt.Errorf("retry.maxBackoff %s is below retry.baseBackoff %s: raise maxBackoff or lower baseBackoff", r.MaxBackoff, r.BaseBackoff)
	case r.MaxBackoff > maxRetryBackoff:
		return fmt.Errorf("retry.maxBackoff %s exceeds the longest message validity (%s): lower it", r.MaxBackoff, maxRetryBackoff)
	}
	return nil
}
