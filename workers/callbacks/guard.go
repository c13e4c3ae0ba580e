package callbacks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"syscall"
)

// Reasons a callback is blocked by policy: the label reason of
// pushpipe_callbacks_blocked_total and BlockedError.Reason.
const (
	// ReasonSSRF: the callback host is, or resolves to, an address that is
	// not public (loopback, private, link-local, cloud metadata...) and
	// that the app's PrivateNetworks do not allow.
	ReasonSSRF = "ssrf"
	// ReasonScheme: the callback URL is http but the app allows https only.
	ReasonScheme = "scheme"
	// ReasonAllowlist: the app has a host allowlist and the callback host
	// is not on it.
	ReasonAllowlist = "allowlist"
)

// BlockedError says why a callback was not posted: the callback policy
// forbids its URL or the address its host resolved to. Nothing was sent.
type BlockedError struct {
	// Reason is ReasonSSRF, ReasonScheme or ReasonAllowlist.
	Reason string
	// Detail says what was refused, e.g. "127.0.0.1 is a loopback address".
	Detail string
}

func (e *BlockedError) Error() string {
	return "refused by the callback policy (" + e.Reason + "): " + e.Detail
}

// forbiddenRanges are the address ranges no callback may reach unless an
// app's PrivateNetworks allow them, with the word used in descriptions.
// IPv4-mapped IPv6 addresses are unmapped before they are checked; IPv6
// forms that embed an IPv4 address (NAT64, 6to4) are checked by the
// address they embed (see AddressClass).
var forbiddenRanges = []struct {
	prefix netip.Prefix
	class  string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (this network)"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (carrier-grade NAT)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (cloud metadata)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private"},
	{netip.MustParsePrefix("192.0.0.0/24"), "special-purpose (IETF protocol assignments)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private"},
	{netip.MustParsePrefix("198.18.0.0/15"), "special-purpose (benchmarking)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (or broadcast)"},
	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("::/96"), "reserved (IPv4-compatible)"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "private (local-use NAT64)"},
	{netip.MustParsePrefix("100::/64"), "special-purpose (discard)"},
	{netip.MustParsePrefix("2001::/32"), "special-purpose (Teredo)"},
	{netip.MustParsePrefix("fc00::/7"), "private (unique local)"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

// Prefixes of IPv6 addresses that embed an IPv4 address: the well-known
// NAT64 prefix (the IPv4 address in the last 32 bits) and 6to4 (in bits
// 16 to 47).
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// AddressClass returns why ip may not be reached by a callback — the kind
// of address it is, e.g. "loopback", "private", "link-local (cloud
// metadata)" — or "" for a public address. A zone is ignored; an
// IPv4-mapped IPv6 address (::ffff:127.0.0.1) is judged as the IPv4
// address it maps; a NAT64 or 6to4 address as the IPv4 address it embeds.
// An invalid address is "invalid".
func AddressClass(ip netip.Addr) string {
	if !ip.IsValid() {
		return "invalid"
	}
	ip = ip.WithZone("").Unmap()
	for _, r := range forbiddenRanges {
		if r.prefix.Contains(ip) {
			return r.class
		}
	}
	var embedded netip.Addr
	switch b := ip.As16(); {
	case nat64Prefix.Contains(ip):
		embedded = netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFour.Contains(ip):
		embedded = netip.AddrFrom4([4]byte(b[2:6]))
	default:
		return ""
	}
	if c := AddressClass(embedded); c != "" {
		return c + " (embedded in " + ip.String() + ")"
	}
	return ""
}

// AppPolicy is what the callbacks of one app may reach. The zero value is
// the default of every app: https only, any host, public addresses only.
type AppPolicy struct {
	// AllowHTTP lets callbackUrl be http as well as https.
	AllowHTTP bool
	// Hosts, when not empty, is the app's allowlist of callback hosts:
	// "hooks.example.com" matches that name exactly, "*.example.com" any
	// name below example.com (not example.com itself). Matching ignores
	// case and the port. The address check applies to allowed hosts too.
	Hosts []string
	// PrivateNetworks are networks outside the public internet that the
	// app's callbacks may reach all the same (e.g. 10.20.0.0/16 for a
	// receiver inside the company network, 127.0.0.0/8 for a local demo).
	// Every other loopback, private, link-local or special-purpose address
	// is refused (see AddressClass).
	PrivateNetworks []netip.Prefix
}

// Validate reports the first entry of p that cannot work, saying what to
// fix.
func (p AppPolicy) Validate() error {
	for i, h := range p.Hosts {
		if err := validHostPattern(h); err != nil {
			return fmt.Errorf("hosts[%d]: %w", i, err)
		}
	}
	for i, n := range p.PrivateNetworks {
		if err := checkPrivateNetwork(n); err != nil {
			return fmt.Errorf("allowPrivateNetworks[%d]: %w", i, err)
		}
	}
	return nil
}

// validHostPattern checks one entry of a host allowlist.
func validHostPattern(h string) error {
	name := strings.TrimPrefix(h, "*.")
	switch {
	case name == "":
		return fmt.Errorf("%q names no host: use a host name such as hooks.example.com or *.example.com", h)
	case strings.ContainsAny(name, "*/:@?# "):
		return fmt.Errorf("%q is not a host name: give the name only, without scheme, port, path or a wildcard other than a leading *.", h) //nolint:staticcheck // ST1005: it ends with the wildcard "*.", not a full stop
	case strings.HasPrefix(name, ".") || strings.HasSuffix(name, "."):
		return fmt.Errorf("%q is not a host name: it starts or ends with a dot", h)
	}
	return nil
}

// ParsePrivateNetwork parses one entry of an app's allowed private
// networks: a CIDR prefix (10.20.0.0/16) or a single address (10.20.0.5),
// and checks it as AppPolicy.Validate does.
func ParsePrivateNetwork(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if a, err := netip.ParseAddr(s); err == nil {
		p = netip.PrefixFrom(a, a.BitLen())
	} else if p, err = netip.ParsePrefix(s); err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is neither an address nor a CIDR prefix such as 10.20.0.0/16", s)
	}
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-(p.Addr().BitLen()-p.Addr().Unmap().BitLen())).Masked()
	return p, checkPrivateNetwork(p)
}

// checkPrivateNetwork refuses a network that reaches public addresses
// (they need no permission; a prefix such as 0.0.0.0/0 would switch the
// guard off) or is wider than a /8 (IPv4) or /7 (IPv6).
func checkPrivateNetwork(p netip.Prefix) error {
	minBits := 8
	if p.Addr().Is6() {
		minBits = 7
	}
	first := p.Masked().Addr()
	switch {
	case !p.IsValid():
		return fmt.Errorf("%s is not a valid network", p)
	case p.Bits() < minBits:
		return fmt.Errorf("%s is wider than a /%d: name the private networks callbacks may reach, e.g. 10.20.0.0/16", p, minBits)
	case AddressClass(first) == "" || AddressClass(lastAddr(p)) == "":
		return fmt.Errorf("%s holds public addresses, which callbacks reach without permission: list private networks only", p)
	}
	return nil
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// checkURL applies the scheme and host rules of p to a parsed callback
// URL; the address rule is applied when dialing (see guardedDialer).
func (p AppPolicy) checkURL(u *url.URL) error {
	if u.Scheme != "https" && !p.AllowHTTP {
		return &BlockedError{Reason: ReasonScheme, Detail: "the app allows https callbacks only (set allowHttp in its callbacks configuration to allow http)"}
	}
	if len(p.Hosts) > 0 && !p.hostAllowed(u.Hostname()) {
		return &BlockedError{Reason: ReasonAllowlist, Detail: fmt.Sprintf("host %q is not on the app's callback host allowlist", truncate(u.Hostname(), 100))}
	}
	return nil
}

// hostAllowed reports whether host matches an entry of p.Hosts.
func (p AppPolicy) hostAllowed(host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	return slices.ContainsFunc(p.Hosts, func(pattern string) bool {
		pattern = strings.ToLower(pattern)
		if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
			return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
		}
		return host == pattern
	})
}

// checkIP refuses an address that is not public unless p.PrivateNetworks
// allows it.
func (p AppPolicy) checkIP(ip netip.Addr) error {
	class := AddressClass(ip)
	if class == "" {
		return nil
	}
	plain := ip.WithZone("").Unmap()
	if slices.ContainsFunc(p.PrivateNetworks, func(n netip.Prefix) bool { return n.Contains(plain) }) {
		return nil
	}
	return &BlockedError{Reason: ReasonSSRF, Detail: fmt.Sprintf("%s is a %s address", ip, class)}
}

// Resolver resolves host names; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// guardedDialer dials callback receivers, and only addresses its policy
// allows: it resolves the host itself, skips every address the policy
// refuses and dials the others by address, in order. Its net.Dialer
// checks the address once more right before connect(2) (Control), so no
// path reaches a refused address, whatever a name resolves to at that
// moment (DNS rebinding). When every address is refused it returns a
// *BlockedError without opening a connection.
type guardedDialer struct {
	policy   AppPolicy
	resolver Resolver
	dialer   net.Dialer
}

func newGuardedDialer(policy AppPolicy, resolver Resolver) *guardedDialer {
	d := &guardedDialer{policy: policy, resolver: resolver}
	d.dialer.Control = d.control
	return d
}

// control is the net.Dialer hook, called with the address about to be
// connected to.
func (d *guardedDialer) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return &BlockedError{Reason: ReasonSSRF, Detail: fmt.Sprintf("%q is not an address", address)}
	}
	return d.policy.checkIP(ap.Addr())
}

// DialContext is the http.Transport dial function.
func (d *guardedDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("dialing callback receiver %q: %w", addr, err)
	}
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else if ips, err = d.resolver.LookupNetIP(ctx, "ip", host); err != nil {
		return nil, fmt.Errorf("resolving callback host: %w", err)
	}
	var blocked, failed error
	for _, ip := range ips {
		if err := d.policy.checkIP(ip); err != nil {
			blocked = cmp.Or(blocked, err)
			continue
		}
		c, err := d.dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return c, nil
		}
		failed = err
		if ctx.Err() != nil {
			break
		}
	}
	switch {
	case failed != nil:
		return nil, failed
	case blocked != nil:
		return nil, blocked
	}
	return nil, fmt.Errorf("resolving callback host: %w", &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true})
}

// isBlocked reports whether err is, or wraps, a *BlockedError.
func isBlocked(err error) (*BlockedError, bool) {
	var b *BlockedError
	ok := errors.As(err, &b)
	return b, ok
}
