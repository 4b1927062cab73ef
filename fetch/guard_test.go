package fetch

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// lastAddr returns the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestForbidden(t *testing.T) {
	// Every blocklist prefix: its first and last address, and both in IPv4-mapped form.
	for _, p := range blocklist {
		for _, a := range []netip.Addr{p.Addr(), lastAddr(p)} {
			forms := []netip.Addr{a}
			if a.Is4() {
				forms = append(forms, netip.AddrFrom16(a.As16()))
			} else {
				forms = append(forms, a.WithZone("eth0"))
			}
			for _, f := range forms {
				t.Run(p.String()+"/"+f.String(), func(t *testing.T) {
					if !Forbidden(f) {
						t.Errorf("Forbidden(%v) = false, want true (in %v)", f, p)
					}
					if got, _ := blockedBy(f); got != p {
						t.Errorf("blockedBy(%v) = %v, want %v", f, got, p)
					}
				})
			}
		}
	}
	// Public addresses, many of them just outside a blocked range.
	tests := []struct {
		addr string
		want bool
	}{
		{"8.8.8.8", false},
		{"1.1.1.1", false},
		{"93.184.216.34", false},
		{"::ffff:93.184.216.34", false},
		{"1.0.0.0", false},         // after 0/8
		{"9.255.255.255", false},   // before 10/8
		{"11.0.0.0", false},        // after 10/8
		{"100.63.255.255", false},  // before 100.64/10
		{"100.128.0.0", false},     // after 100.64/10
		{"126.255.255.255", false}, // before 127/8
		{"128.0.0.0", false},       // after 127/8
		{"169.253.255.255", false}, // before 169.254/16
		{"172.15.255.255", false},  // before 172.16/12
		{"172.32.0.0", false},      // after 172.16/12
		{"192.0.1.0", false},       // between 192.0.0/24 and 192.0.2/24
		{"192.167.255.255", false}, // before 192.168/16
		{"192.169.0.0", false},     // after 192.168/16
		{"198.17.255.255", false},  // before 198.18/15
		{"198.20.0.0", false},      // after 198.18/15
		{"223.255.255.255", false}, // before 224/4
		{"2606:4700:4700::1111", false},
		{"2001:4860:4860::8888", false},
		{"::2", false},
		{"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", false}, // before fc00::/7
		{"ff00::", true},
		{"255.255.255.255", true},
		{"::ffff:10.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"fe80::1%eth0", true},
		{"169.254.169.254", true}, // cloud metadata
		// NAT64 and 6to4 addresses are judged by the IPv4 address they lead to.
		{"64:ff9b::a00:1", true},     // NAT64 to 10.0.0.1
		{"64:ff9b::7f00:1", true},    // NAT64 to 127.0.0.1
		{"64:ff9b::a9fe:a9fe", true}, // NAT64 to 169.254.169.254
		{"64:ff9b::808:808", false},  // NAT64 to 8.8.8.8
		{"2002:c0a8:101::1", true},   // 6to4 of 192.168.1.1
		{"2002:7f00:1::", true},      // 6to4 of 127.0.0.1
		{"2002:808:808::1", false},   // 6to4 of 8.8.8.8
		{"64:ff9b:1::a00:1", false},  // the local-use NAT64 prefix is not the well-known one
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			if got := Forbidden(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Forbidden(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
	if !Forbidden(netip.Addr{}) {
		t.Error("Forbidden(zero Addr) = false, want true")
	}
}

// dialRecorder is a Config.Dial that records every attempt and connects only to loopback
// IP addresses: a test can never send a packet elsewhere, even if the guard failed.
type dialRecorder struct {
	mu    sync.Mutex // guards addrs
	addrs []string
}

func (d *dialRecorder) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	d.addrs = append(d.addrs, addr)
	d.mu.Unlock()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("test dialer: %q is not ip:port, the guard must dial by IP", addr)
	}
	if !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("test dialer: refusing to dial non-loopback %s", addr)
	}
	var nd net.Dialer
	return nd.DialContext(ctx, network, addr)
}

func (d *dialRecorder) attempts() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.addrs...)
}

// fakeResolver maps test host names to addresses; any other name is not found.
func fakeResolver(names map[string][]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		ss, ok := names[host]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out, nil
	}
}

// checkRefused fails unless err is a final refusal naming ip.
func checkRefused(t *testing.T, err error, ip string) {
	t.Helper()
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("err = %v, want ErrForbiddenAddress", err)
	}
	ae, ok := errors.AsType[*AddressError](err)
	if !ok || ae.Addr != netip.MustParseAddr(ip) {
		t.Errorf("err = %v, want an *AddressError for %s", err, ip)
	}
	if !strings.Contains(err.Error(), ip) {
		t.Errorf("err %q does not name %s", err, ip)
	}
	if d, retry := RetryDelay(err, 0); retry {
		t.Errorf("RetryDelay(%v) = %v, true; want not retryable", err, d)
	}
}

func TestGuardRefusesWithoutDialling(t *testing.T) {
	resolver := fakeResolver(map[string][]string{
		"private.test": {"10.0.0.1"},
		"mixed.test":   {"93.184.216.34", "10.0.0.1"}, // any private answer refuses the host
		"mixed6.test":  {"2606:4700:4700::1111", "fd00::1"},
		"mapped.test":  {"::ffff:192.168.0.1"},
		"meta.test":    {"169.254.169.254"},
	})
	tests := []struct {
		name, url, refused string
	}{
		{"name resolving to 10.0.0.1", "http://private.test/", "10.0.0.1"},
		{"literal 192.168.1.1", "http://192.168.1.1/", "192.168.1.1"},
		{"literal with port", "http://192.168.1.1:8080/x", "192.168.1.1"},
		{"literal [fe80::1]", "http://[fe80::1]/", "fe80::1"},
		{"literal [fe80::1%25eth0]", "http://[fe80::1%25eth0]/", "fe80::1%eth0"},
		{"literal [::ffff:127.0.0.1]", "http://[::ffff:127.0.0.1]/", "127.0.0.1"},
		{"literal [::1]", "http://[::1]/", "::1"},
		{"literal 127.0.0.1 https", "https://127.0.0.1/", "127.0.0.1"},
		{"literal 0.0.0.0", "http://0.0.0.0/", "0.0.0.0"},
		{"public and private answers", "http://mixed.test/", "10.0.0.1"},
		{"public and private IPv6 answers", "http://mixed6.test/", "fd00::1"},
		{"mapped answer", "http://mapped.test/", "192.168.0.1"},
		{"metadata address", "http://meta.test/latest/", "169.254.169.254"},
	}
	for _, robots := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/robots=%v", tt.name, robots), func(t *testing.T) {
				var rec dialRecorder
				c := newTestClient(t, Config{Guard: true, IgnoreRobots: !robots, Resolver: resolver, Dial: rec.dial}, nil)
				res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, tt.url)})
				if res != nil {
					t.Errorf("Fetch returned a Result: %+v", res)
				}
				checkRefused(t, err, tt.refused)
				if got := rec.attempts(); len(got) != 0 {
					t.Errorf("dial attempts = %q, want none", got)
				}
			})
		}
	}
}

func TestGuardRedirectToPrivateName(t *testing.T) {
	var hits hitLog
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.add(r)
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		http.Redirect(w, r, "http://internal.test/admin", http.StatusFound)
	}))
	t.Cleanup(srv.Close)
	resolver := fakeResolver(map[string][]string{"internal.test": {"10.1.2.3"}})
	for _, robots := range []bool{true, false} {
		t.Run(fmt.Sprintf("robots=%v", robots), func(t *testing.T) {
			var rec dialRecorder
			c := newTestClient(t, Config{
				Guard: true, AllowAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
				IgnoreRobots: !robots, Resolver: resolver, Dial: rec.dial,
			}, nil)
			_, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/start")})
			checkRefused(t, err, "10.1.2.3")
			got := rec.attempts()
			if len(got) == 0 {
				t.Error("no dial to the allowed local server")
			}
			for _, a := range got {
				if strings.HasPrefix(a, "10.1.2.3") || strings.Contains(a, "internal.test") {
					t.Errorf("dial attempt at %s, want none at 10.1.2.3", a)
				}
			}
		})
	}
	if n := hits.count("", "/start"); n != 2 {
		t.Errorf("local server saw /start %d times, want 2 (once per case)", n)
	}
}

func TestGuardAllowAddrs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<title>ok</title>")
	}))
	t.Cleanup(srv.Close)
	port := mustURL(t, srv.URL).Port()
	resolver := fakeResolver(map[string][]string{"seed.test": {"127.0.0.1"}})
	tests := []struct {
		name    string
		allow   []string
		url     string
		refused string // "" means fetched
	}{
		{"literal allowed", []string{"127.0.0.1/32"}, srv.URL + "/", ""},
		{"name allowed, dialled by IP", []string{"127.0.0.1/32"}, "http://seed.test:" + port + "/", ""},
		{"mapped allow prefix", []string{"::ffff:127.0.0.1/128"}, srv.URL + "/", ""},
		{"wider allow prefix", []string{"127.0.0.0/8"}, srv.URL + "/", ""},
		{"no allow", nil, srv.URL + "/", "127.0.0.1"},
		{"other address allowed", []string{"127.0.0.2/32"}, srv.URL + "/", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var allow []netip.Prefix
			for _, s := range tt.allow {
				allow = append(allow, netip.MustParsePrefix(s))
			}
			var rec dialRecorder
			c := newTestClient(t, Config{Guard: true, AllowAddrs: allow, Resolver: resolver, Dial: rec.dial}, nil)
			res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, tt.url)})
			got := rec.attempts()
			if tt.refused != "" {
				checkRefused(t, err, tt.refused)
				if len(got) != 0 {
					t.Errorf("dial attempts = %q, want none", got)
				}
				return
			}
			if err != nil || res.Status != 200 || string(res.Body) != "<title>ok</title>" {
				t.Fatalf("Fetch = %+v, %v; want 200 ok", res, err)
			}
			for _, a := range got {
				if a != "127.0.0.1:"+port {
					t.Errorf("dial attempt at %q, want only 127.0.0.1:%s", a, port)
				}
			}
		})
	}
}

func TestGuardOffUnchanged(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	t.Cleanup(srv.Close)
	t.Run("default dialer", func(t *testing.T) {
		c := newTestClient(t, Config{}, nil)
		res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")})
		if err != nil || string(res.Body) != "hello" {
			t.Fatalf("Fetch = %+v, %v; want hello from loopback", res, err)
		}
	})
	t.Run("Dial hook, Resolver unused", func(t *testing.T) {
		var rec dialRecorder
		resolve := func(context.Context, string) ([]netip.Addr, error) {
			t.Error("Resolver called without Guard")
			return nil, errors.New("unused")
		}
		c := newTestClient(t, Config{Dial: rec.dial, Resolver: resolve}, nil)
		res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")})
		if err != nil || string(res.Body) != "hello" {
			t.Fatalf("Fetch = %+v, %v; want hello", res, err)
		}
		host := mustURL(t, srv.URL).Host
		if got := rec.attempts(); len(got) == 0 || got[0] != host {
			t.Errorf("dial attempts = %q, want %s as given", got, host)
		}
	})
}

func TestGuardDialErrors(t *testing.T) {
	var rec dialRecorder
	g := dialFunc(Config{Guard: true, Resolver: fakeResolver(nil), Dial: rec.dial}.withDefaults())
	_, err := g(t.Context(), "tcp", "nowhere.test:80")
	if e, ok := errors.AsType[*net.DNSError](err); !ok || !e.IsNotFound {
		t.Errorf("dial of an unknown name: err = %v, want a not-found *net.DNSError", err)
	}
	if _, retry := RetryDelay(&url.Error{Op: "Get", URL: "http://nowhere.test/", Err: err}, 0); retry {
		t.Error("NXDOMAIN judged retryable")
	}
	if got := rec.attempts(); len(got) != 0 {
		t.Errorf("dial attempts = %q, want none", got)
	}
}

func TestGuardControl(t *testing.T) {
	g := &guard{allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
	tests := []struct {
		addr    string
		refused bool
	}{
		{"10.0.0.1:80", true},
		{"[::ffff:10.0.0.1]:80", true},
		{"[fe80::1%eth0]:443", true},
		{"127.0.0.2:80", true},
		{"127.0.0.1:80", false},
		{"93.184.216.34:443", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := g.control("tcp4", tt.addr, nil)
			if got := errors.Is(err, ErrForbiddenAddress); got != tt.refused {
				t.Errorf("control(%s) = %v, want refused %v", tt.addr, err, tt.refused)
			}
		})
	}
}

func TestSeedPrefixes(t *testing.T) {
	cfg := Config{Resolver: fakeResolver(map[string][]string{
		"localhost":   {"127.0.0.1", "::1"},
		"example.com": {"93.184.216.34"},
		"intra.test":  {"::ffff:10.0.0.7"},
	})}
	var seeds []*url.URL
	for _, s := range []string{"http://localhost:8080/", "https://example.com/", "http://intra.test/a",
		"http://intra.test/b", "http://192.168.1.1/", "http://[fd00::5]/", "http://8.8.8.8/", "http://gone.test/"} {
		seeds = append(seeds, mustURL(t, s))
	}
	got, err := SeedPrefixes(t.Context(), cfg, seeds)
	if err == nil || !strings.Contains(err.Error(), "gone.test") {
		t.Errorf("err = %v, want one naming gone.test", err)
	}
	want := []string{"127.0.0.1/32", "::1/128", "10.0.0.7/32", "192.168.1.1/32", "fd00::5/128"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("SeedPrefixes = %v, want %v", got, want)
	}
}

func TestNewRejectsInvalidAllowPrefix(t *testing.T) {
	_, err := New(Config{Guard: true, AllowAddrs: []netip.Prefix{{}}}, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "Config.AllowAddrs") {
		t.Fatalf("New with a zero prefix: err = %v, want one naming Config.AllowAddrs", err)
	}
}

func TestGuardRealDialer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "hello")
	}))
	t.Cleanup(srv.Close)
	// Dial nil: the guard's own net.Dialer, Control included, connects to an allowed address.
	c := newTestClient(t, Config{Guard: true, AllowAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, nil)
	res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")})
	if err != nil || string(res.Body) != "hello" {
		t.Fatalf("Fetch = %+v, %v; want hello", res, err)
	}
}

func TestGuardControlRefusesBeforeConnect(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan struct{}, 1) // buffered: the goroutine never blocks on it
	done := make(chan struct{})        // closed by the accept goroutine
	go func() {
		defer close(done)
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	g := &guard{} // nothing allowed: only Control stands in the way here
	d := &net.Dialer{Control: g.control}
	g.dial = d.DialContext
	g.resolve = fakeResolver(nil)
	// Call the dialer directly, as if the pre-check had been passed.
	conn, err := g.dial(t.Context(), "tcp", ln.Addr().String())
	if err == nil {
		conn.Close()
	}
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("dial with Control = %v, want ErrForbiddenAddress", err)
	}
	ln.Close()
	<-done
	if len(accepted) != 0 {
		t.Error("the listener accepted a connection Control should have stopped")
	}
}

func TestGuardUnwrapsControlRefusal(t *testing.T) {
	g := dialFunc(Config{
		Guard: true, AllowAddrs: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		Resolver: fakeResolver(map[string][]string{"seed.test": {"127.0.0.1"}}),
		Dial: func(context.Context, string, string) (net.Conn, error) {
			return nil, &net.OpError{Op: "dial", Net: "tcp", Err: &AddressError{Addr: netip.MustParseAddr("127.0.0.1")}}
		},
	}.withDefaults())
	_, err := g(t.Context(), "tcp", "seed.test:80")
	ae, ok := err.(*AddressError)
	if !ok || ae.Host != "seed.test" {
		t.Fatalf("err = %#v, want a bare *AddressError naming seed.test", err)
	}
	if _, retry := RetryDelay(&url.Error{Op: "Get", URL: "http://seed.test/", Err: err}, 0); retry {
		t.Error("a refusal by Control judged retryable")
	}
}

// TestGuardAllowAddrPorts: a seed's address is allowed on the seed's port
// only; another port of the same address is refused without a dial.
func TestGuardAllowAddrPorts(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "ok")
	}))
	t.Cleanup(srv.Close)
	u := mustURL(t, srv.URL)
	seed, err := netip.ParseAddrPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	other := "http://" + netip.AddrPortFrom(seed.Addr(), seed.Port()+1).String() + "/" // e.g. a database beside the site
	var rec dialRecorder
	c := newTestClient(t, Config{Guard: true, AllowAddrPorts: []netip.AddrPort{seed}, Dial: rec.dial}, nil)
	if res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/")}); err != nil || res.Status != 200 {
		t.Fatalf("seed's own port: %+v, %v; want 200", res, err)
	}
	before := len(rec.attempts())
	_, err = c.Fetch(t.Context(), Request{URL: mustURL(t, other)})
	checkRefused(t, err, "127.0.0.1")
	if got := rec.attempts(); len(got) != before {
		t.Errorf("dial attempts to the other port: %q, want none", got[before:])
	}
}

func TestSeedAddrPorts(t *testing.T) {
	cfg := Config{Resolver: fakeResolver(map[string][]string{"localhost": {"127.0.0.1", "::1"}})}
	var seeds []*url.URL
	for _, s := range []string{"http://localhost:8080/", "https://localhost/", "http://10.0.0.1/", "http://10.0.0.1/again",
		"http://8.8.8.8/", "https://[fd00::5]:8443/"} {
		seeds = append(seeds, mustURL(t, s))
	}
	got, err := SeedAddrPorts(t.Context(), cfg, seeds)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1:8080", "[::1]:8080", "127.0.0.1:443", "[::1]:443", "10.0.0.1:80", "[fd00::5]:8443"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("SeedAddrPorts = %v, want %v", got, want)
	}
}
