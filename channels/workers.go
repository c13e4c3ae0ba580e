package channels

import "time"

// WorkerIdle is how long a goroutine of Workers waits for more work before
// it ends.
const WorkerIdle = 10 * time.Second

// Workers runs functions on goroutines it keeps for reuse: a vendor call
// runs deep in net/http and grows its goroutine's stack, which a new
// goroutine per call pays for on every call. A function goes to an idle
// goroutine when there is one, else to a new one; a goroutine idle for
// WorkerIdle ends, so Workers needs no Close. The caller bounds how many
// functions run at once (its in-flight limit). The zero value is not
// usable: use NewWorkers. Safe for concurrent use.
type Workers struct {
	work chan func()
}

// NewWorkers returns an empty Workers.
func NewWorkers() *Workers { return &Workers{work: make(chan func())} }

// Go runs f on an idle goroutine of w, or on a new one.
func (w *Workers) Go(f func()) {
	select {
	case w.work <- f:
	default:
		go w.loop(f)
	}
}

func (w *Workers) loop(f func()) {
	f()
	t := time.NewTimer(WorkerIdle)
	defer t.Stop()
	for {
		select {
		case f := <-w.work:
			f()
			t.Reset(WorkerIdle)
		case <-t.C:
			return
		}
	}
}
