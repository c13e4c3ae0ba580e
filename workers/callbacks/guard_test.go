package callbacks

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pushpipe/pushpipe/schema"
)

func TestAddressClass(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want string // part of the class; "" for a public address
	}{
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this network"},
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.254", "private"},
		{"192.168.1.1", "private"},
		{"100.64.0.1", "carrier-grade NAT"},
		{"100.127.255.254", "carrier-grade NAT"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.169.254", "cloud metadata"},
		{"169.254.0.1", "link-local"},
		{"192.0.0.8", "special-purpose"},
		{"198.18.0.1", "benchmarking"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.255", "broadcast"},
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::127.0.0.1", "IPv4-compatible"},
		{"fc00::1", "unique local"},
		{"fd12:3456::1", "unique local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fec0::1", "site-local"},
		{"ff02::1", "multicast"},
		{"100::1", "discard"},
		{"2001::1", "Teredo"},
		{"64:ff9b:1::a00:1", "local-use NAT64"},
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.1.2.3", "private"},
		{"::ffff:169.254.169.254", "cloud metadata"},
		{"::ffff:100.64.0.1", "carrier-grade NAT"},
		{"::ffff:0.0.0.0", "unspecified"},
		{"64:ff9b::7f00:1", "loopback (embedded in 64:ff9b::7f00:1)"},
		{"64:ff9b::a9fe:a9fe", "cloud metadata"},
		{"2002:7f00:1::1", "loopback (embedded in 2002:7f00:1::1)"},
		{"2002:c0a8:101::1", "private"},
		// Public addresses.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"100.128.0.1", ""},
		{"172.32.0.1", ""},
		{"203.0.113.10", ""},
		{"2001:4860:4860::8888", ""},
		{"2606:4700::1111", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""},
		{"2002:808:808::1", ""},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			got := AddressClass(netip.MustParseAddr(tc.ip))
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("AddressClass(%s) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
	if got := AddressClass(netip.Addr{}); got != "invalid" {
		t.Fatalf("AddressClass of the zero address = %q, want invalid", got)
	}
}

func TestPrivateNetworksAllowOnlyWhatTheyName(t *testing.T) {
	p := AppPolicy{PrivateNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.20.0.0/16")}}
	for _, tc := range []struct {
		ip      string
		allowed bool
	}{
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"10.20.3.4", true},
		{"10.21.0.1", false},
		{"::1", false},
		{"169.254.169.254", false},
		{"192.168.0.1", false},
		{"8.8.8.8", true},
	} {
		err := p.checkIP(netip.MustParseAddr(tc.ip))
		if (err == nil) != tc.allowed {
			t.Fatalf("checkIP(%s) = %v, want allowed %t", tc.ip, err, tc.allowed)
		}
		if b, ok := isBlocked(err); err != nil && (!ok || b.Reason != ReasonSSRF) {
			t.Fatalf("checkIP(%s) = %v, want a *BlockedError with reason ssrf", tc.ip, err)
		}
	}
}

func TestParsePrivateNetwork(t *testing.T) {
	for _, tc := range []struct {
		in, want, wantErr string
	}{
		{"10.20.0.0/16", "10.20.0.0/16", ""},
		{"10.20.1.2/16", "10.20.0.0/16", ""},
		{"127.0.0.0/8", "127.0.0.0/8", ""},
		{"10.0.0.7", "10.0.0.7/32", ""},
		{"::1", "::1/128", ""},
		{"fd00::/8", "fd00::/8", ""},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8", ""},
		{"0.0.0.0/0", "", "wider than a /8"},
		{"::/0", "", "wider than a /7"},
		{"8.8.8.0/24", "", "public addresses"},
		{"10.0.0.0/7", "", "wider than a /8"},
		{"192.168.0.0/15", "", "public addresses"},
		{"ten.net", "", "neither an address nor a CIDR"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParsePrivateNetwork(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParsePrivateNetwork(%s) = %v, %v; want an error with %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("ParsePrivateNetwork(%s) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestPolicyChecksSchemeAndHosts(t *testing.T) {
	for _, tc := range []struct {
		scenario string
		policy   AppPolicy
		url      string
		reason   string // "" allowed
	}{
		{"https by default", AppPolicy{}, "https://hooks.example.com/cb", ""},
		{"http refused by default", AppPolicy{}, "http://hooks.example.com/cb", ReasonScheme},
		{"http when allowed", AppPolicy{AllowHTTP: true}, "http://hooks.example.com/cb", ""},
		{"exact host", AppPolicy{Hosts: []string{"hooks.example.com"}}, "https://HOOKS.example.com:8443/cb", ""},
		{"host with a trailing dot", AppPolicy{Hosts: []string{"hooks.example.com"}}, "https://hooks.example.com./cb", ""},
		{"host not listed", AppPolicy{Hosts: []string{"hooks.example.com"}}, "https://evil.example.net/cb", ReasonAllowlist},
		{"wildcard below", AppPolicy{Hosts: []string{"*.example.com"}}, "https://a.b.example.com/cb", ""},
		{"wildcard is not the apex", AppPolicy{Hosts: []string{"*.example.com"}}, "https://example.com/cb", ReasonAllowlist},
		{"wildcard is not a suffix of another name", AppPolicy{Hosts: []string{"*.example.com"}}, "https://badexample.com/cb", ReasonAllowlist},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			u, err := ParseCallbackURL(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			err = tc.policy.checkURL(u)
			b, blocked := isBlocked(err)
			if tc.reason == "" && err != nil || tc.reason != "" && (!blocked || b.Reason != tc.reason) {
				t.Fatalf("checkURL(%s) = %v, want reason %q", tc.url, err, tc.reason)
			}
		})
	}
	for _, bad := range []string{"", "https://hooks.example.com", "hooks.example.com:443", "*", "a.*.example.com", ".example.com"} {
		if err := (AppPolicy{Hosts: []string{bad}}).Validate(); err == nil {
			t.Fatalf("host pattern %q passed Validate", bad)
		}
	}
}

// countingListener is a server on 127.0.0.1 that counts the connections
// it accepts and answers 200 to every request.
type countingListener struct {
	srv *httptest.Server
	n   atomic.Int64
}

func newCountingListener(t *testing.T) *countingListener {
	l := &countingListener{srv: httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))}
	l.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			l.n.Add(1)
		}
	}
	l.srv.Start()
	t.Cleanup(l.srv.Close)
	return l
}

func (l *countingListener) addr() string   { return l.srv.Listener.Addr().String() }
func (l *countingListener) port() string   { _, p, _ := net.SplitHostPort(l.addr()); return p }
func (l *countingListener) accepts() int64 { return l.n.Load() }

// awaitAccepts waits until the listener has counted n connections: it
// counts one only after accepting it, a moment after the dial returned.
func (l *countingListener) awaitAccepts(t *testing.T, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); l.accepts() < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the listener counted %d connections, want %d", l.accepts(), n)
		}
	}
}

// fakeResolver answers each name from a table and counts the lookups.
type fakeResolver struct {
	mu      sync.Mutex
	names   map[string][]string
	lookups int
}

func (r *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lookups++
	ips, ok := r.names[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, s := range ips {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

func (r *fakeResolver) set(host string, ips ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names[host] = ips
}

// TestDialerRefusesBeforeConnecting dials a listener on 127.0.0.1 through
// the guard, by address and by names resolving to it: nothing is
// connected unless the policy names the network, and each dial resolves
// the name again.
func TestDialerRefusesBeforeConnecting(t *testing.T) {
	l := newCountingListener(t)
	res := &fakeResolver{names: map[string][]string{
		"rebind.example":   {"127.0.0.1"},
		"mapped.example":   {"::ffff:127.0.0.1"},
		"metadata.example": {"169.254.169.254"},
		"mixed.example":    {"10.0.0.1", "127.0.0.1"},
	}}
	only := func(cidr string) AppPolicy {
		return AppPolicy{PrivateNetworks: []netip.Prefix{netip.MustParsePrefix(cidr)}}
	}
	for _, tc := range []struct {
		scenario string
		policy   AppPolicy
		host     string
		connects bool
	}{
		{"loopback address", AppPolicy{}, "127.0.0.1", false},
		{"mapped loopback address", AppPolicy{}, "::ffff:127.0.0.1", false},
		{"a name resolving to loopback", AppPolicy{}, "rebind.example", false},
		{"a name resolving to mapped loopback", AppPolicy{}, "mapped.example", false},
		{"a name resolving to the metadata address", AppPolicy{}, "metadata.example", false},
		{"a private network that does not hold the address", only("10.0.0.0/8"), "rebind.example", false},
		{"loopback allowed", only("127.0.0.1/32"), "rebind.example", true},
		{"refused addresses of a name are skipped", only("127.0.0.1/32"), "mixed.example", true},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			before := l.accepts()
			d := newGuardedDialer(tc.policy, res)
			c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(tc.host, l.port()))
			if c != nil {
				_ = c.Close()
			}
			if tc.connects {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				l.awaitAccepts(t, before+1)
				return
			}
			if b, ok := isBlocked(err); !ok || b.Reason != ReasonSSRF {
				t.Fatalf("dial = %v, want a *BlockedError (ssrf)", err)
			}
			// The listener may count a connection only after it accepted it;
			// a refused dial never connects, so the count cannot move.
			if n := l.accepts() - before; n != 0 {
				t.Fatalf("the listener accepted %d connections, want 0", n)
			}
		})
	}

	t.Run("every dial resolves again: a name that rebinds to loopback is refused", func(t *testing.T) {
		d := newGuardedDialer(only("127.0.0.1/32"), res)
		res.set("flip.example", "127.0.0.1")
		before := l.accepts()
		c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("flip.example", l.port()))
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
		l.awaitAccepts(t, before+1)
		before, lookups := l.accepts(), res.lookups
		res.set("flip.example", "127.0.0.2")
		if _, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort("flip.example", l.port())); !errors.As(err, new(*BlockedError)) {
			t.Fatalf("dial after the name rebound = %v, want refused", err)
		}
		if res.lookups != lookups+1 || l.accepts() != before {
			t.Fatalf("%d lookups and %d connections for the second dial, want 1 and 0", res.lookups-lookups, l.accepts()-before)
		}
	})

	t.Run("the dialer's Control refuses what reaches connect", func(t *testing.T) {
		d := newGuardedDialer(AppPolicy{}, res)
		for _, addr := range []string{"127.0.0.1:80", "[::ffff:169.254.169.254]:80", "[fe80::1%lo]:80", "not-an-address"} {
			if err := d.control("tcp", addr, nil); !errors.As(err, new(*BlockedError)) {
				t.Fatalf("control(%s) = %v, want refused", addr, err)
			}
		}
		if err := d.control("tcp", "8.8.8.8:443", nil); err != nil {
			t.Fatalf("control(8.8.8.8:443) = %v, want allowed", err)
		}
	})
}

// TestBlockedCallbacksAreRecorded posts callbacks the policy refuses:
// none reaches the listener, each ends with a callback_sent event saying
// it was refused, and the metric counts it by reason.
func TestBlockedCallbacksAreRecorded(t *testing.T) {
	s := newTestSigner(t)
	l := newCountingListener(t)
	res := &fakeResolver{names: map[string][]string{"rebind.example": {"127.0.0.1", "::1"}}}
	for _, tc := range []struct {
		scenario string
		policy   AppPolicy
		url      string
		reason   string
		desc     string
	}{
		{"loopback address", AppPolicy{AllowHTTP: true}, "http://127.0.0.1:" + l.port() + "/cb", ReasonSSRF, "127.0.0.1 is a loopback address"},
		{"https to loopback", AppPolicy{}, "https://127.0.0.1:" + l.port() + "/cb", ReasonSSRF, "loopback"},
		{"a name resolving to loopback", AppPolicy{AllowHTTP: true}, "http://rebind.example:" + l.port() + "/cb", ReasonSSRF, "loopback"},
		{"mapped metadata address", AppPolicy{AllowHTTP: true}, "http://[::ffff:169.254.169.254]:" + l.port() + "/cb", ReasonSSRF, "cloud metadata"},
		{"http for an https-only app", AppPolicy{PrivateNetworks: loopback.PrivateNetworks}, "http://127.0.0.1:" + l.port() + "/cb", ReasonScheme, "https callbacks only"},
		{"a host not on the allowlist", AppPolicy{AllowHTTP: true, Hosts: []string{"hooks.example.com"}, PrivateNetworks: loopback.PrivateNetworks},
			"http://127.0.0.1:" + l.port() + "/cb", ReasonAllowlist, "not on the app's callback host allowlist"},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			cfg := fastConfig(s)
			cfg.Apps = map[string]AppPolicy{"app": tc.policy}
			cfg.Resolver, cfg.Metrics = res, reg
			h, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			before := l.accepts()
			results, err := h.HandleBatch(context.Background(), records(t, terminal(schema.EventAcked, tc.url)))
			if err != nil {
				t.Fatal(err)
			}
			ev := sentEvents(t, results)[0]
			if ev == nil || ev.StatusCode != 0 || !strings.Contains(ev.StatusDesc, "refused by the callback policy ("+tc.reason+")") ||
				!strings.Contains(ev.StatusDesc, tc.desc) {
				t.Fatalf("callback_sent %+v, want refused (%s) saying %q", ev, tc.reason, tc.desc)
			}
			if n := l.accepts() - before; n != 0 {
				t.Fatalf("the listener accepted %d connections, want 0", n)
			}
			if n := counterValue(t, reg, "pushpipe_callbacks_blocked_total", tc.reason); n != 1 {
				t.Fatalf("blocked_total{reason=%s} = %v, want 1", tc.reason, n)
			}
			if n := counterValue(t, reg, "pushpipe_callbacks_posted_total", resultBlocked); n != 1 {
				t.Fatalf("posted_total{result=blocked} = %v, want 1", n)
			}
			if n := counterValue(t, reg, "pushpipe_callbacks_attempts_total"); n != 0 {
				t.Fatalf("attempts_total = %v, want 0: nothing was posted", n)
			}
		})
	}
}

// TestHTTPSCallbacksVerifyTheReceiver posts to an https receiver through
// the guarded transport: delivered when its certificate is trusted,
// retried when it is not.
func TestHTTPSCallbacksVerifyTheReceiver(t *testing.T) {
	s := newTestSigner(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	t.Cleanup(srv.Close)
	private := AppPolicy{PrivateNetworks: loopback.PrivateNetworks} // https only
	for _, trusted := range []bool{true, false} {
		cfg := fastConfig(s)
		cfg.Apps = map[string]AppPolicy{"app": private}
		if trusted {
			cfg.RootCAs = srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
		}
		h, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		results, err := h.HandleBatch(context.Background(), records(t, terminal(schema.EventAcked, srv.URL+"/cb")))
		if err != nil {
			t.Fatal(err)
		}
		o := outputs(t, results)[0]
		switch {
		case trusted && (o.sent == nil || !strings.Contains(o.sent.StatusDesc, "delivered to https://127.0.0.1")):
			t.Fatalf("trusted receiver: %+v, want delivered", o)
		case !trusted && (o.retry == nil || o.retry.LastError != "the receiver's TLS certificate was not trusted"):
			t.Fatalf("untrusted receiver: %+v, want a retry saying the certificate was not trusted", o)
		}
	}
}
