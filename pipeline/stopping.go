package pipeline

import (
	"context"
	"errors"
	"time"
)

// stoppingKey carries Run's ctx.Done() in the handler's context.
type stoppingKey struct{}

// Stopping returns a channel that is closed once the stage running the
// handler has been asked to stop (nil for a context that does not come
// from a stage). The handler's own context stays alive for
// ShutdownTimeout so that an in-flight batch can finish; a handler that is
// only waiting (holding a batch until it is due) can give up at once
// instead, returning an error so the batch stays uncommitted.
func Stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	return ch
}

// Sleep waits d, returning nil, or returns an error as soon as ctx ends or
// the stage running the handler is asked to stop (see Stopping). Handlers
// that hold batches use it as their wait.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-Stopping(ctx):
		return ErrStopping
	case <-t.C:
		return nil
	}
}

// ErrStopping is returned by Sleep when the stage is stopping.
var ErrStopping = errors.New("pipeline: the stage is stopping")
