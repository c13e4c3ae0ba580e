package callbacks

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sony/gobreaker/v2"
)

// Defaults of BreakerConfig.
const (
	DefaultBreakerFailures    = 5
	DefaultBreakerOpenTimeout = 30 * time.Second
)

// maxTrackedHosts bounds the hosts whose breaker and slots are kept: the
// callback hosts are chosen by callers, so their number must not grow the
// process without bound. Past it, idle hosts are forgotten (closed
// breakers first).
const maxTrackedHosts = 10000

// BreakerConfig configures the circuit breaker of each callback host (host
// and port). A host's breaker opens after ConsecutiveFailures attempts in
// a row that got no answer (connection errors, timeouts) or a 5xx; while
// open, callbacks to the host are not attempted but go to their next delay
// tier at once; after OpenTimeout one attempt probes the host, and its
// success closes the breaker. A 429 neither trips nor closes it. Zero
// values mean the defaults.
type BreakerConfig struct {
	// ConsecutiveFailures trips the breaker. Default 5.
	ConsecutiveFailures int `yaml:"consecutiveFailures"`
	// OpenTimeout is how long the breaker stays open before a probe.
	// Default 30s.
	OpenTimeout time.Duration `yaml:"openTimeout"`
}

func (c BreakerConfig) withDefaults() BreakerConfig {
	if c.ConsecutiveFailures == 0 {
		c.ConsecutiveFailures = DefaultBreakerFailures
	}
	if c.OpenTimeout == 0 {
		c.OpenTimeout = DefaultBreakerOpenTimeout
	}
	return c
}

// Validate reports the first setting that cannot work, saying what to fix.
func (c BreakerConfig) Validate() error {
	switch {
	case c.ConsecutiveFailures < 0:
		return fmt.Errorf("breaker consecutiveFailures %d is negative: use 0 for the default %d", c.ConsecutiveFailures, DefaultBreakerFailures)
	case c.OpenTimeout < 0:
		return fmt.Errorf("breaker openTimeout %s is negative: use 0 for the default %s", c.OpenTimeout, DefaultBreakerOpenTimeout)
	}
	return nil
}

// Sentinels handed to gobreaker to report how an attempt counts.
var (
	errHostFailure  = errors.New("callback host failure")
	errHostExcluded = errors.New("outcome excluded from the breaker counts")
)

// hostTable holds, for every callback host of the process, its circuit
// breaker and its concurrency slots, across batches and stages. Safe for
// concurrent use.
type hostTable struct {
	perHost int
	breaker BreakerConfig
	// onChange is called (with the breaker's lock held: record and log
	// only) when a host's breaker changes state.
	onChange func(host string, from, to gobreaker.State)

	mu sync.Mutex
	m  map[string]*host
}

// host is one callback host.
type host struct {
	name  string
	slots chan struct{}
	cb    *gobreaker.TwoStepCircuitBreaker[struct{}]
	users int // guarded by hostTable.mu: callbacks holding the entry
}

func newHostTable(perHost int, breaker BreakerConfig, onChange func(string, gobreaker.State, gobreaker.State)) *hostTable {
	return &hostTable{perHost: perHost, breaker: breaker.withDefaults(), onChange: onChange, m: map[string]*host{}}
}

// get returns the entry of a host, creating it when needed; the caller
// gives it back with put.
func (t *hostTable) get(name string) *host {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.m[name]
	if !ok {
		if len(t.m) >= maxTrackedHosts {
			t.forgetIdle()
		}
		h = &host{name: name, slots: make(chan struct{}, t.perHost)}
		failures := uint32(t.breaker.ConsecutiveFailures)
		h.cb = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
			Name:         name,
			MaxRequests:  1,
			Timeout:      t.breaker.OpenTimeout,
			ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
			IsExcluded:   func(err error) bool { return errors.Is(err, errHostExcluded) },
			IsSuccessful: func(err error) bool { return err == nil },
			OnStateChange: func(name string, from, to gobreaker.State) {
				if t.onChange != nil {
					t.onChange(name, from, to)
				}
			},
		})
		t.m[name] = h
	}
	h.users++
	return h
}

// put gives back an entry taken with get.
func (t *hostTable) put(h *host) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h.users--
}

// forgetIdle drops the hosts no callback holds: those with a closed
// breaker, or when there are none, every idle one. t.mu is held.
func (t *hostTable) forgetIdle() {
	for _, closedOnly := range []bool{true, false} {
		n := len(t.m)
		for name, h := range t.m {
			if h.users == 0 && (!closedOnly || h.cb.State() == gobreaker.StateClosed) {
				delete(t.m, name)
			}
		}
		if len(t.m) < n {
			return
		}
	}
}

// states counts the tracked hosts by breaker state.
func (t *hostTable) states() map[gobreaker.State]int {
	t.mu.Lock()
	hosts := make([]*host, 0, len(t.m))
	for _, h := range t.m {
		hosts = append(hosts, h)
	}
	t.mu.Unlock()
	out := map[gobreaker.State]int{gobreaker.StateClosed: 0, gobreaker.StateHalfOpen: 0, gobreaker.StateOpen: 0}
	for _, h := range hosts {
		out[h.cb.State()]++
	}
	return out
}
