package gateway

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/time/rate"

	"github.com/pushpipe/pushpipe/schema"
)

// Per-app rate limits. Each app with a limit (App.RateLimit, else
// Config.RateLimit) has one token bucket in this process. A call takes a
// token once its signature is verified and its AccessKey may act on the
// app it names (check), before any ClickHouse query or Kafka write; calls
// refused earlier (a bad signature, an app the key may not act on) take
// none, so one app's callers can never spend another app's budget, and
// one app emptying its bucket never slows another app.
//
// A call finding the bucket empty is refused with HTTP 429 and a
// Retry-After header (whole seconds until a token is back, at least 1),
// and counted in pushpipe_gateway_throttled_total{app}:
//
//   - the RPC API answers in the Alibaba Cloud error shape with Code
//     Throttling.User and Message "Request was denied due to user flow
//     control.", the error Alibaba Cloud's API gateway returns when a
//     user's calls exceed their flow control; the SDKs raise it as their
//     server error (ErrorCode() "Throttling.User");
//   - a /v1 route answers the mPaaS Response with 9000 SYSTEM_ERROR:
//     mPaaS documents no result code for throttling (§7.2.12), and 9000
//     already means "send again" at this gateway. ResultMessage starts
//     with the Alibaba Cloud code and message, so that callers can tell a
//     throttled call from a failure ("Throttling.User: Request was denied
//     due to user flow control. ...").
//
// The bucket is per process: the gateway shares no state between
// replicas, so an app's budget in a region is its limit times the number
// of gateway replicas (the sender's region budgets divide by the Kafka
// partitions each replica holds; the gateway has no such assignment).

// The Alibaba Cloud throttling error of a refused call.
const (
	ThrottlingCode    = "Throttling.User"
	ThrottlingMessage = "Request was denied due to user flow control."
)

// bucket is the token bucket of one app.
type bucket struct {
	lim   *rate.Limiter
	limit RateLimit
}

// newBuckets returns the bucket of every app with a limit; apps without
// one are not limited. The map is only read after New, so it needs no
// lock (rate.Limiter is safe for concurrent use).
func newBuckets(cfg Config) map[string]*bucket {
	out := map[string]*bucket{}
	for _, a := range cfg.Apps {
		l := cfg.RateLimit
		if a.RateLimit != nil {
			l = *a.RateLimit
		}
		if l.PerSecond == 0 {
			continue
		}
		if l.Burst == 0 {
			l.Burst = max(1, int(math.Ceil(l.PerSecond)))
		}
		out[a.AppID] = &bucket{lim: rate.NewLimiter(rate.Limit(l.PerSecond), l.Burst), limit: l}
	}
	return out
}

// throttle takes a token of the app of c (verified by check) at c.now, or
// returns the 429 refusal saying when to send again.
func (s *Server) throttle(c *call) *reply {
	b := s.buckets[c.appID]
	if b == nil || b.lim.AllowN(c.now, 1) {
		return nil
	}
	// The time until one token is back, at the bucket's rate.
	wait := time.Duration((1 - b.lim.TokensAt(c.now)) / b.limit.PerSecond * float64(time.Second))
	s.m.throttled.WithLabelValues(c.appID).Inc()
	r := refuse(http.StatusTooManyRequests, schema.CodeSystemError, fmt.Sprintf("%s: %s App %s may make %g calls a second, %d at once, on this gateway (gateway.rateLimit, gateway.appKeys[].rateLimit); send again after %s seconds (Retry-After)",
		ThrottlingCode, ThrottlingMessage, c.appID, b.limit.PerSecond, b.limit.Burst, retryAfterSeconds(wait)))
	r.retryAfter = wait
	return &r
}

// retryAfterSeconds is the Retry-After value of a wait: whole seconds,
// rounded up, at least 1.
func retryAfterSeconds(wait time.Duration) string {
	return strconv.FormatInt(max(1, int64(math.Ceil(wait.Seconds()))), 10)
}
