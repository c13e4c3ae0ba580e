package console

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Defaults of the failed-login throttle (Config.LoginFailures and
// Config.LoginFailureEvery).
const (
	DefaultLoginFailures     = 5
	DefaultLoginFailureEvery = time.Minute
	// maxThrottledNames bounds the names the throttle remembers; past it,
	// names whose allowance is whole again are forgotten first.
	maxThrottledNames = 10_000
)

// loginThrottle limits failed logins per account name: a name may fail
// burst times in a row, then once per every; while its allowance is
// spent, a login under that name is refused before its password is
// checked, whether the password is right or not, so guessing goes no
// faster than the allowance. A success gives the name its whole
// allowance back.
//
// It keys by name, not by client address: behind the TLS proxy the
// console needs off loopback, every client has the proxy's address, and
// an address key would let one client's failures lock out everybody.
// The price is the usual one: anybody can keep one account's allowance
// spent by failing on purpose; its owner then waits for the next
// allowance like the attacker. Safe for concurrent use.
type loginThrottle struct {
	burst int
	every time.Duration
	mu    sync.Mutex
	names map[string]*rate.Limiter
}

func newLoginThrottle(burst int, every time.Duration) *loginThrottle {
	return &loginThrottle{burst: burst, every: every, names: map[string]*rate.Limiter{}}
}

// wait reports how long a login under name must wait before it is
// checked; 0 means now.
func (l *loginThrottle) wait(name string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.names[name]
	if lim == nil || lim.TokensAt(now) >= 1 {
		return 0
	}
	r := lim.ReserveN(now, 1)
	d := r.DelayFrom(now)
	r.CancelAt(now)
	return d
}

// failed spends one of name's allowance.
func (l *loginThrottle) failed(name string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim := l.names[name]
	if lim == nil {
		if len(l.names) >= maxThrottledNames {
			l.forget(now)
		}
		lim = rate.NewLimiter(rate.Every(l.every), l.burst)
		l.names[name] = lim
	}
	lim.AllowN(now, 1)
}

// succeeded gives name its whole allowance back.
func (l *loginThrottle) succeeded(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.names, name)
}

// forget drops the names whose allowance is whole again, or, when none
// is, an arbitrary half of them (a flood of made-up names must not grow
// the map without bound). Called with mu held.
func (l *loginThrottle) forget(now time.Time) {
	for n, lim := range l.names {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.names, n)
		}
	}
	for n := range l.names {
		if len(l.names) < maxThrottledNames/2 {
			break
		}
		delete(l.names, n)
	}
}
