package channels

import (
	"context"
	"sync"
)

// GroupBy splits the indices idx into groups of equal key(i), in order of
// first appearance, keeping the order of idx inside each group. Channels
// use it to make one vendor call per notification id or vendor message
// id.
func GroupBy(idx []int, key func(i int) string) [][]int {
	var groups [][]int
	byKey := map[string]int{}
	for _, i := range idx {
		k := key(i)
		g, ok := byKey[k]
		if !ok {
			g = len(groups)
			byKey[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// GroupByKey plans the vendor calls of a batch whose vendor takes one
// content for many tokens per call. It runs check on every message; a
// message check refuses gets check's result in results (index-aligned with
// msgs) and is not sent. The indices of the other messages are grouped by
// key (normally the channel's BatchKey) as GroupBy does. It does not
// modify msgs.
func GroupByKey(msgs []Message, results []Result, check func(*Message) (Result, bool), key func(Message) string) [][]int {
	var idx []int
	for i := range msgs {
		if r, ok := check(&msgs[i]); !ok {
			results[i] = r
			continue
		}
		idx = append(idx, i)
	}
	return GroupBy(idx, func(i int) string { return key(msgs[i]) })
}

// RunGroups makes one vendor call per group of message indices, at most
// limit (at least 1) at once, and waits for all of them. call fills the
// results of its group or returns the call's error. A group whose call
// had not started when ctx was done fails with a transient *VendorError
// of channel wrapping ctx.Err(), without a call.
//
// When every one of total messages was in a failed call and all calls
// failed alike (WholeCallError), RunGroups returns that error and the
// caller answers it as the whole-call error. Otherwise it returns nil
// after settling the messages of each failed call (Settle).
func RunGroups(ctx context.Context, channel string, groups [][]int, total, limit int, results []Result, call func(g []int) error) error {
	return SendGroups(ctx, groups, total, limit, results,
		func(_ context.Context, g []int) error { return call(g) },
		func(err error) error {
			return &VendorError{Channel: channel, Op: "calling the vendor", Transient: true, Cause: err}
		})
}

// SendGroups is RunGroups with the call given its ctx and the error of a
// group not called because ctx was done chosen by the caller:
// stopped(ctx.Err()). Calls run concurrently with each other, at most
// limit at once; SendGroups returns once every call it started returned.
func SendGroups(ctx context.Context, groups [][]int, total, limit int, results []Result,
	call func(ctx context.Context, g []int) error, stopped func(error) error) error {
	errs := make([]error, len(groups))
	sem := make(chan struct{}, max(limit, 1))
	var wg sync.WaitGroup
	for gi, g := range groups {
		if ctx.Err() != nil {
			errs[gi] = stopped(ctx.Err())
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			errs[gi] = stopped(ctx.Err())
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[gi] = call(ctx, g)
		})
	}
	wg.Wait()
	if err := WholeCallError(errs, func(i int) int { return len(groups[i]) }, total); err != nil {
		return err
	}
	for gi, g := range groups {
		if errs[gi] != nil {
			Settle(results, g, errs[gi])
		}
	}
	return nil
}
