package console

import (
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestLoginThrottle(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		failures int           // failed logins of "olga" at t0
		after    time.Duration // then asked at t0+after
		succeed  bool          // a success before asking
		wantWait time.Duration
	}{
		{"no failures", 0, 0, false, 0},
		{"fewer failures than the burst", 4, 0, false, 0},
		{"the burst spent", 5, 0, false, time.Minute},
		{"the burst spent, half a minute later", 5, 30 * time.Second, false, 30 * time.Second},
		{"one more attempt a minute later", 5, time.Minute, false, 0},
		{"failures past the burst add no wait", 9, 0, false, time.Minute},
		{"a success gives the allowance back", 5, 0, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoginThrottle(5, time.Minute)
			for range tc.failures {
				l.failed("olga", t0)
			}
			if tc.succeed {
				l.succeeded("olga")
			}
			if got := l.wait("olga", t0.Add(tc.after)); got != tc.wantWait {
				t.Fatalf("wait = %s, want %s", got, tc.wantWait)
			}
			if got := l.wait("vera", t0.Add(tc.after)); got != 0 {
				t.Fatalf("another name waits %s, want 0", got)
			}
		})
	}
}

func TestLoginThrottleStaysBounded(t *testing.T) {
	l := newLoginThrottle(5, time.Minute)
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	for i := range 3 * maxThrottledNames {
		l.failed(strings.Repeat("x", i%7)+string(rune('a'+i%26))+time.Duration(i).String(), t0)
	}
	if n := len(l.names); n > maxThrottledNames {
		t.Fatalf("the throttle remembers %d names, want at most %d", n, maxThrottledNames)
	}
}

// TestLoginHeldAfterRepeatedFailures drives the login form: after five
// wrong passwords even the right one is refused with 429 and Retry-After
// until a minute passes; another account is not held.
func TestLoginHeldAfterRepeatedFailures(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s, err := New(Config{Region: "sg", Apps: []App{{AppID: "A"}}, ClickHouse: noClickHouse{}, Database: "push_sg", Producer: &recordingProducer{},
		Brokers: []string{"127.0.0.1:1"}, Now: clock, Accounts: []Account{
			{Name: "olga", PasswordHash: mustHash(t, "olga-password"), Role: RoleOperator, Apps: []string{"A"}},
			{Name: "vera", PasswordHash: mustHash(t, "vera-password"), Role: RoleViewer, Apps: []string{"A"}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, base: srv.URL, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}

	for i := range DefaultLoginFailures {
		if res, _ := c.login("olga", "wrong-password"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: status %d, want 401", i+1, res.StatusCode)
		}
	}
	res, body := c.login("olga", "olga-password")
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "60" || !strings.Contains(body, "Too many failed logins") {
		t.Fatalf("the right password while held: status %d, Retry-After %q, want 429 and 60\n%s", res.StatusCode, res.Header.Get("Retry-After"), body)
	}
	if res, _ := c.login("vera", "vera-password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("another account: status %d, want 303 (logged in)", res.StatusCode)
	}
	mu.Lock()
	now = now.Add(DefaultLoginFailureEvery)
	mu.Unlock()
	if res, _ := c.login("olga", "olga-password"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("the right password a minute later: status %d, want 303 (logged in)", res.StatusCode)
	}
	// The success gave the whole allowance back.
	for i := range DefaultLoginFailures {
		if res, _ := c.login("olga", "wrong-password"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong password %d after the success: status %d, want 401", i+1, res.StatusCode)
		}
	}
}
