package pipeline

import (
	"context"

	"github.com/segmentio/kafka-go"
)

// flight is one batch being handled, then produced and committed.
type flight struct {
	batch []kafka.Message
	done  chan struct{}
	// turn orders the handler's InTurn part after the previous flight's.
	turn *turn
	// err is what stopped the flight, errBatch the batch it concerns:
	// this one's, or an earlier flight's whose error this one passes on.
	err      error
	errBatch []kafka.Message
}

// wait returns once the batch is produced and committed (or left
// uncommitted), with the error that stopped it.
func (f *flight) wait() error {
	<-f.done
	return f.err
}

// startFlight handles batch, waits for prev (nil: none), calls release,
// then produces the outputs and commits the batch, in a goroutine. A
// flight whose handling or predecessor failed is done, with that error,
// before release is called.
func (s *Stage) startFlight(ctx context.Context, reader *kafka.Reader, batch []kafka.Message, prev *flight, release func()) *flight {
	var prevTurn *turn
	if prev != nil {
		prevTurn = prev.turn
	}
	f := &flight{batch: batch, done: make(chan struct{}), turn: newTurn(prevTurn)}
	go func() {
		results, herr := s.handleBatch(context.WithValue(ctx, turnKey{}, f.turn), batch)
		f.turn.pass()
		if prev != nil && prev.wait() != nil {
			f.err, f.errBatch = prev.err, prev.errBatch
		} else if herr != nil {
			f.err, f.errBatch = herr, batch
		}
		if f.err != nil {
			close(f.done)
			release()
			return
		}
		release()
		defer close(f.done)
		if err := s.deliver(ctx, batch, results); err != nil {
			f.err, f.errBatch = err, batch
			return
		}
		if s.beforeCommit != nil {
			s.beforeCommit(batch)
		}
		s.commit(ctx, reader, batch)
	}()
	return f
}
