package pipeline

import (
	"context"
	"sync"
)

// turnKey is the context key under which a stage hands its handler the
// turn of the batch being handled.
type turnKey struct{}

// turn orders one part of the handling of a stage's consecutive batches:
// prev is closed once the previous batch's part ran (nil: no batch before
// this one is still being handled), done once this batch's part ran or
// the stage finished handling the batch without it.
type turn struct {
	prev <-chan struct{}
	done chan struct{}
	once sync.Once
}

func newTurn(prev *turn) *turn {
	t := &turn{done: make(chan struct{})}
	if prev != nil {
		t.prev = prev.done
	}
	return t
}

// pass hands the turn to the next batch; it is idempotent.
func (t *turn) pass() { t.once.Do(func() { close(t.done) }) }

// InTurn runs fn in the order the stage read its batches: once every
// earlier batch's handler has run its own InTurn (or the stage finished
// handling that batch without one), and before any later batch's does.
// With StageConfig.ConcurrentBatches above 1 this keeps one part of a
// handler, fn, in batch order, while the rest of the handler (decoding
// before it, a slow write after it) overlaps the neighbouring batches.
//
// The turn passes to the next batch when fn returns nil. When fn fails,
// InTurn returns its error and the next batch waits until this batch's
// handling ends: the stage retries the handler, whose InTurn then runs fn
// at once. If ctx ends while InTurn waits, it returns ctx.Err() without
// running fn. Outside a stage's handler (in a test calling HandleBatch
// directly) fn runs at once. Calling InTurn more than once in one
// HandleBatch runs each fn in turn; the first that succeeds passes the
// turn.
func InTurn(ctx context.Context, fn func() error) error {
	t, _ := ctx.Value(turnKey{}).(*turn)
	if t == nil {
		return fn()
	}
	if t.prev != nil {
		select {
		case <-t.prev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if err := fn(); err != nil {
		return err
	}
	t.pass()
	return nil
}
