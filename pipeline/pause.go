package pipeline

import (
	"context"
	"time"
)

// Pause waits for d or until ctx ends, whichever comes first, and reports
// whether d elapsed (false: ctx ended). The timer is released either way.
// The runtime and the workers built on it wait between retries with Pause,
// so that stopping a process never waits out a backoff. (A handler holding
// a batch waits with Sleep, which also ends when its stage is stopping.)
func Pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
