package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress matches (errors.Is) every *AddressError: Config.Guard refused to connect
// to an address. It is not worth retrying.
var ErrForbiddenAddress = errors.New("fetch: address not allowed")

// AddressError reports that Config.Guard refused to connect to Host because it resolves to
// Addr, an address on the blocklist (see Forbidden) outside Config.AllowAddrs. Nothing was
// sent to any of Host's addresses. errors.Is(err, ErrForbiddenAddress) matches it.
type AddressError struct {
	Host string     // the host name or IP literal dialled, without port
	Addr netip.Addr // the refused address, unmapped
}

// Error names the host and the refused address.
func (e *AddressError) Error() string {
	if e.Host == "" || e.Host == e.Addr.String() {
		return fmt.Sprintf("%v: %s", ErrForbiddenAddress, e.Addr)
	}
	return fmt.Sprintf("%v: %s resolves to %s", ErrForbiddenAddress, e.Host, e.Addr)
}

// Is reports whether target is ErrForbiddenAddress.
func (e *AddressError) Is(target error) bool { return target == ErrForbiddenAddress }

// blocklist holds the address ranges Config.Guard refuses: nothing a public web server
// legitimately lives on, and everything that reaches the crawling machine itself or its
// private networks. It is read-only: a table, not state, kept at package level so that it is
// parsed once.
var blocklist = [...]netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network" (RFC 791); 0.0.0.0 reaches the local host on Linux
	netip.MustParsePrefix("10.0.0.0/8"),      // private (RFC 1918)
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT, shared address space (RFC 6598)
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback (RFC 1122)
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata services (RFC 3927)
	netip.MustParsePrefix("172.16.0.0/12"),   // private (RFC 1918)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments (RFC 6890)
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation, TEST-NET-1 (RFC 5737)
	netip.MustParsePrefix("192.168.0.0/16"),  // private (RFC 1918)
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking (RFC 2544)
	netip.MustParsePrefix("198.51.100.0/24"), // documentation, TEST-NET-2 (RFC 5737)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation, TEST-NET-3 (RFC 5737)
	netip.MustParsePrefix("224.0.0.0/4"),     // multicast (RFC 5771)
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and 255.255.255.255 broadcast (RFC 1112, RFC 919)
	netip.MustParsePrefix("::/128"),          // unspecified (RFC 4291)
	netip.MustParsePrefix("::1/128"),         // loopback (RFC 4291)
	netip.MustParsePrefix("100::/64"),        // discard-only (RFC 6666)
	netip.MustParsePrefix("2001:db8::/32"),   // documentation (RFC 3849)
	netip.MustParsePrefix("fc00::/7"),        // unique local, the IPv6 private range (RFC 4193)
	netip.MustParsePrefix("fe80::/10"),       // link-local (RFC 4291)
	netip.MustParsePrefix("fec0::/10"),       // site-local, deprecated but still routable in places (RFC 3879)
	netip.MustParsePrefix("ff00::/8"),        // multicast (RFC 4291)
}

// Forbidden reports whether Config.Guard refuses a to connect to a (AllowAddrs aside): a is
// loopback, private, link-local, multicast, unspecified, CGNAT, reserved or otherwise
// special-purpose, or invalid. IPv6 addresses that carry an IPv4 address are judged as that
// address too: IPv4-mapped (::ffff:10.0.0.1), the NAT64 well-known prefix (64:ff9b::/96,
// RFC 6052, which a NAT64 gateway translates to the IPv4 address in its last 32 bits) and
// 6to4 (2002::/16, RFC 3056, the IPv4 address in bits 16 to 47). An IPv6 zone is ignored.
func Forbidden(a netip.Addr) bool {
	_, bad := blockedBy(a)
	return bad
}

// blockedBy returns the blocklist prefix holding a, and whether there is one (an invalid
// address is blocked by no prefix in particular).
func blockedBy(a netip.Addr) (netip.Prefix, bool) {
	if !a.IsValid() {
		return netip.Prefix{}, true
	}
	a = a.Unmap().WithZone("") // Prefix.Contains is false for any zoned address
	for _, p := range blocklist {
		if p.Contains(a) {
			return p, true
		}
	}
	if v4, ok := embeddedIPv4(a); ok {
		return blockedBy(v4)
	}
	return netip.Prefix{}, false
}

// Prefixes of IPv6 addresses that reach the IPv4 address they embed.
var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052 well-known prefix
	sixToFour   = netip.MustParsePrefix("2002::/16")    // RFC 3056
)

// embeddedIPv4 returns the IPv4 address a NAT64 or 6to4 address a leads to.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	if !a.Is6() {
		return netip.Addr{}, false
	}
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	}
	return netip.Addr{}, false
}

// normalPrefix returns p masked, with an IPv4-mapped IPv6 prefix (::ffff:127.0.0.1/128)
// turned into the IPv4 prefix it covers, since addresses are unmapped before they are
// matched.
func normalPrefix(p netip.Prefix) netip.Prefix {
	if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked()
}

// guard checks every address a host resolves to before anything is dialled.
type guard struct {
	allow   []netip.Prefix   // normalised Config.AllowAddrs
	allowAP []netip.AddrPort // Config.AllowAddrPorts, addresses unmapped
	resolve func(ctx context.Context, host string) ([]netip.Addr, error)
	dial    func(ctx context.Context, network, addr string) (net.Conn, error)
	timeout time.Duration // Config.ConnectTimeout, for the whole dial over every address
}

// check returns an *AddressError if host's address a may not be connected to on port.
func (g *guard) check(host string, a netip.Addr, port uint16) error {
	u := a.Unmap().WithZone("")
	for _, p := range g.allow {
		if p.Contains(u) {
			return nil
		}
	}
	if slices.Contains(g.allowAP, netip.AddrPortFrom(u, port)) {
		return nil
	}
	if Forbidden(a) {
		return &AddressError{Host: host, Addr: a.Unmap()}
	}
	return nil
}

// control is the net.Dialer Control of a guarded dialer: it checks again the address a socket
// is about to connect to, so that no path to connect bypasses the guard.
func (g *guard) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("guard: unexpected address %q: %w", address, err)
	}
	return g.check("", ap.Addr(), ap.Port())
}

// dialContext is the DialContext of a guarded Transport. It resolves addr's host itself
// (IP literals need no lookup), refuses the host if ANY of its addresses is forbidden (a
// host that mixes public and private answers is exactly what DNS rebinding looks like, and
// a crawler loses nothing by skipping it), and then dials the addresses by IP, in the
// resolver's order, so that DNS cannot answer differently between the check and the connect.
func (g *guard) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	portNum, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: fmt.Errorf("port %q: %w", port, err)}
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = g.resolve(ctx, host); err != nil {
		// The shape net.Dialer gives a lookup failure, so that RetryDelay judges it the same.
		return nil, &net.OpError{Op: "dial", Net: network, Err: err}
	}
	for _, a := range addrs {
		if err := g.check(host, a, uint16(portNum)); err != nil {
			return nil, err
		}
	}
	addrs = usable(addrs, network)
	if len(addrs) == 0 {
		return nil, &net.OpError{Op: "dial", Net: network,
			Err: &net.DNSError{Err: "no suitable address", Name: host, IsNotFound: true}}
	}
	if g.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, g.timeout)
		defer cancel()
	}
	var first error
	for i, a := range addrs {
		actx, cancel := context.WithDeadline(ctx, partialDeadline(ctx, len(addrs)-i))
		c, err := g.dial(actx, network, net.JoinHostPort(a.Unmap().String(), port))
		cancel()
		if err == nil {
			return c, nil
		}
		if ae, ok := errors.AsType[*AddressError](err); ok {
			// Control refused it: return the refusal itself rather than the *net.OpError
			// around it, which RetryDelay would take for a passing network failure.
			ae.Host = host
			return nil, ae
		}
		if first == nil {
			first = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, first
}

// usable returns the addresses of addrs that network ("tcp", "tcp4", "tcp6") can reach.
func usable(addrs []netip.Addr, network string) []netip.Addr {
	var out []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		switch {
		case !a.IsValid():
		case network == "tcp4" && !a.Is4(), network == "tcp6" && !a.Is6():
		default:
			out = append(out, a)
		}
	}
	return out
}

// partialDeadline returns the deadline for one of left remaining dial attempts under ctx:
// an equal share of the time left, but at least 2s, as net.Dialer does.
func partialDeadline(ctx context.Context, left int) time.Time {
	dl, ok := ctx.Deadline()
	if !ok {
		return time.Now().Add(24 * time.Hour) // unreachable: dialContext always sets one
	}
	remaining := time.Until(dl)
	share := remaining / time.Duration(max(left, 1))
	if share < 2*time.Second {
		share = min(2*time.Second, remaining)
	}
	return time.Now().Add(share)
}

// dialFunc returns the DialContext of a Transport for cfg (defaults filled in): cfg.Dial, or
// a net.Dialer with cfg.ConnectTimeout, guarded when cfg.Guard is set.
func dialFunc(cfg Config) func(ctx context.Context, network, addr string) (net.Conn, error) {
	if !cfg.Guard {
		if cfg.Dial != nil {
			return cfg.Dial
		}
		dialer := &net.Dialer{Timeout: cfg.ConnectTimeout, KeepAlive: 30 * time.Second}
		return dialer.DialContext
	}
	g := &guard{resolve: cfg.Resolver, dial: cfg.Dial, timeout: cfg.ConnectTimeout}
	for _, p := range cfg.AllowAddrs {
		g.allow = append(g.allow, normalPrefix(p))
	}
	for _, ap := range cfg.AllowAddrPorts {
		g.allowAP = append(g.allowAP, netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()))
	}
	if g.resolve == nil {
		g.resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	if g.dial == nil {
		// The timeout is the guard's, over every address; Control is the last word on each.
		dialer := &net.Dialer{KeepAlive: 30 * time.Second, Control: g.control}
		g.dial = dialer.DialContext
	}
	return g.dialContext
}

// forbiddenFinal returns the *AddressError inside err, if any, wrapped with u, so that a
// refusal met while fetching robots.txt (where it would make a retryable
// *RobotsUnavailableError) stays final; it returns err unchanged otherwise.
func forbiddenFinal(u *url.URL, err error) error {
	if ae, ok := errors.AsType[*AddressError](err); ok {
		return fmt.Errorf("fetch %s: %w", u, ae)
	}
	return err
}

// SeedAddrPorts returns, for Config.AllowAddrPorts, each address that seeds' hosts resolve
// to (through cfg.Resolver, nil meaning the system resolver) and that Config.Guard would
// refuse, with the seed's port (its scheme's default when it names none): a crawl seeded
// on a private or loopback server may then crawl that server, and nothing else private, not
// even another port of the same address. Each host is resolved once; hosts that cannot be
// resolved are left out and their errors joined in err; the pairs found are returned all
// the same.
func SeedAddrPorts(ctx context.Context, cfg Config, seeds []*url.URL) ([]netip.AddrPort, error) {
	var out []netip.AddrPort
	err := eachForbiddenSeedAddr(ctx, cfg, seeds, func(u *url.URL, a netip.Addr) error {
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[strings.ToLower(u.Scheme)]
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return fmt.Errorf("seed %s: port %q", u.Redacted(), port)
		}
		if ap := netip.AddrPortFrom(a, uint16(n)); !slices.Contains(out, ap) {
			out = append(out, ap)
		}
		return nil
	})
	return out, err
}

// SeedPrefixes returns, for Config.AllowAddrs, a single-address prefix for each address that
// seeds' hosts resolve to (through cfg.Resolver, nil meaning the system resolver) and that
// Config.Guard would refuse: a crawl seeded on a private or loopback host may then crawl it
// on any port, and nothing else private. Hosts that cannot be resolved are left out and their
// errors joined in err; the prefixes found are returned all the same.
func SeedPrefixes(ctx context.Context, cfg Config, seeds []*url.URL) ([]netip.Prefix, error) {
	var out []netip.Prefix
	err := eachForbiddenSeedAddr(ctx, cfg, seeds, func(_ *url.URL, a netip.Addr) error {
		if p := netip.PrefixFrom(a, a.BitLen()); !slices.Contains(out, p) {
			out = append(out, p)
		}
		return nil
	})
	return out, err
}

// eachForbiddenSeedAddr calls fn with every seed and each address its host resolves to
// (unmapped, without zone) that Config.Guard would refuse, resolving each host once. The
// errors of hosts that cannot be resolved, and fn's, are joined.
func eachForbiddenSeedAddr(ctx context.Context, cfg Config, seeds []*url.URL, fn func(*url.URL, netip.Addr) error) error {
	resolve := cfg.Resolver
	if resolve == nil {
		resolve = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	resolved := map[string][]netip.Addr{} // by host; nil for one that failed
	var errs []error
	for _, u := range seeds {
		host := u.Hostname()
		if host == "" {
			continue
		}
		addrs, done := resolved[host]
		if !done {
			if a, err := netip.ParseAddr(host); err == nil {
				addrs = []netip.Addr{a}
			} else if addrs, err = resolve(ctx, host); err != nil {
				errs = append(errs, fmt.Errorf("resolve seed host %s: %w", host, err))
				addrs = nil
			}
			resolved[host] = addrs
		}
		for _, a := range addrs {
			if a = a.Unmap().WithZone(""); a.IsValid() && Forbidden(a) {
				if err := fn(u, a); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}
