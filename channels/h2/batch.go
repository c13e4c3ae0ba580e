package h2

import "context"

// batchFlushCalls is how many calls a Batch gathers for one Client before
// it starts them: big enough for few writes, small enough that the first
// requests of a big batch go out while the rest are built.
const batchFlushCalls = 64

// Batch gathers the calls of one batch, all with one context, for one or
// more Clients, and starts each Client's together (StartAll), so that
// their requests go out in few TLS records and writes. A caller must
// Flush before it waits for something only the ends of gathered calls can
// give (a stream slot, their results), and at the end. Not safe for
// concurrent use.
type Batch struct {
	ctx     context.Context
	clients []*Client
	calls   [][]Call
}

// NewBatch returns an empty Batch of calls with ctx.
func NewBatch(ctx context.Context) Batch { return Batch{ctx: ctx} }

// Add gathers a call of req on c (Start's req and done); the calls of c
// are started once batchFlushCalls are gathered, or at Flush.
func (b *Batch) Add(c *Client, req *Request, done func(*Response, error)) {
	i := 0
	for i < len(b.clients) && b.clients[i] != c {
		i++
	}
	if i == len(b.clients) {
		b.clients = append(b.clients, c)
		b.calls = append(b.calls, make([]Call, 0, batchFlushCalls))
	}
	b.calls[i] = append(b.calls[i], Call{Req: req, Done: done})
	if len(b.calls[i]) >= batchFlushCalls {
		c.StartAll(b.ctx, b.calls[i])
		clear(b.calls[i])
		b.calls[i] = b.calls[i][:0]
	}
}

// Flush starts the calls gathered and not yet started.
func (b *Batch) Flush() {
	for i, c := range b.clients {
		if len(b.calls[i]) > 0 {
			c.StartAll(b.ctx, b.calls[i])
			clear(b.calls[i])
			b.calls[i] = b.calls[i][:0]
		}
	}
}
