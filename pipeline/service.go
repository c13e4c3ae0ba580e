package pipeline

import "context"

// Service is one long-running part of a pushpipe process: a Stage, the
// scheduler (workers/scheduler), the receipts worker, the gateway or the
// console. A process runs its services side by side (internal/app
// RunServices) and serves their readiness on its internal /readyz.
//
// Run serves until ctx is cancelled, and blocks. It returns nil once it
// has stopped after cancellation (what it does with work in flight is
// documented by each service: a Stage finishes its batch within its
// ShutdownTimeout, an HTTP service lets requests finish), or the error
// that stopped it early. Run is called once per value.
//
// Ready reports whether the service can do its work now: nil, or an error
// saying what is missing (not running yet, a broker or database not
// answering, the scheduler not yet caught up). It returns within ctx, may
// be called from any goroutine at any time, including before and after
// Run, and changes nothing.
type Service interface {
	Run(ctx context.Context) error
	Ready(ctx context.Context) error
}

// RunStarted is Run for a service built on Start and Close (an HTTP
// server): it calls start(ctx), then waits until ctx ends and returns
// close's error. An error of start is returned at once.
func RunStarted(ctx context.Context, start func(context.Context) error, close func() error) error {
	if err := start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return close()
}

var _ Service = (*Stage)(nil)
