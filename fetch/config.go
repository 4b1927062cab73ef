package fetch

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Version is the version of the fetcher, sent in DefaultUserAgent.
const Version = "0.1.0"

// DefaultUserAgent is the User-Agent sent when Config.UserAgent is empty. Its product token,
// which robots.txt groups are matched against, is "Trawl". It names no contact: whoever runs a
// crawl should give their own ("MyBot/1.0 (+https://example.org/bot; bot@example.org)").
const DefaultUserAgent = "Trawl/" + Version

// maxMaxBody bounds Config.MaxBody: a body is held in memory whole.
const maxMaxBody = 1 << 30

// Config configures a Client. The zero value is usable: every field documents its default.
type Config struct {
	// UserAgent is sent on every request, robots.txt included; "" means DefaultUserAgent.
	// robots.txt groups are matched by its product token, the text before the first '/'
	// (or the first space), e.g. "Trawl".
	UserAgent string
	// Concurrency is the total number of concurrent fetches; it sizes the pools of the
	// Transport built by NewTransport and has no other effect. 0 means 16.
	Concurrency int
	// PerHost is the number of requests in flight per host (url.URL.Host); 0 means 2.
	PerHost int
	// Rate is the number of requests per second per host; 0 means unlimited.
	Rate float64
	// Burst is the number of requests per host that may be sent at once when the host has
	// been idle; 0 means 1.
	Burst int
	// MaxHosts bounds the per-host state (limiter, semaphore, backoff) kept in an LRU;
	// an evicted host starts afresh. 0 means 10_000.
	MaxHosts int
	// Timeout bounds one whole exchange, redirects and body included; 0 means 30s.
	// A robots.txt fetch has a Timeout of its own.
	Timeout time.Duration
	// ConnectTimeout bounds dialling a TCP connection; 0 means 10s.
	ConnectTimeout time.Duration
	// TLSTimeout bounds a TLS handshake; 0 means 10s.
	TLSTimeout time.Duration
	// HeaderTimeout bounds the wait for response headers once the request is written;
	// 0 means 15s.
	HeaderTimeout time.Duration
	// MaxBody is the number of (decoded) body bytes kept; more is cut off and recorded in
	// Result.Truncated. 0 means 10 MiB; at most 1 GiB.
	MaxBody int64
	// MaxRedirects is the number of redirect hops followed; 0 means 10.
	MaxRedirects int
	// IgnoreRobots skips robots.txt altogether (no fetch, no Crawl-delay).
	IgnoreRobots bool
	// RobotsTTL is how long a parsed (2xx) or absent (4xx) robots.txt is cached; 0 means 24h.
	RobotsTTL time.Duration
	// RobotsRetry is how long an unreachable robots.txt (5xx, 429, network error), which
	// disallows the whole host, is cached before it is fetched again; 0 means 1m.
	RobotsRetry time.Duration
	// RobotsCacheSize bounds the number of robots.txt files cached (one per scheme and
	// host); 0 means 10_000.
	RobotsCacheSize int
	// MaxCrawlDelay caps a robots.txt Crawl-delay; 0 means 30s.
	MaxCrawlDelay time.Duration
	// MaxRetryAfter caps a Retry-After response header; 0 means 10m.
	MaxRetryAfter time.Duration
	// Memory keeps robots.txt verdicts and host backoffs across Clients (and processes),
	// so that a resumed crawl neither refetches a fresh robots.txt nor contacts a host
	// still backed off; nil means the Client remembers only in memory. See Memory.
	Memory Memory
	// Guard refuses to connect to loopback, private, link-local, multicast, unspecified,
	// CGNAT and other special-purpose addresses (see Forbidden), checked on every address a
	// host resolves to, at dial time, so that redirects, robots.txt fetches and DNS tricks are
	// covered alike; a refusal is an error matching ErrForbiddenAddress, not worth retrying.
	// false (the zero value) connects anywhere. Guard works in the Transport built by
	// NewTransport: a Client given its own *http.Client is guarded only if that client's
	// Transport came from NewTransport with Guard set.
	Guard bool
	// AllowAddrs are addresses Guard lets through all the same, on any port; nil allows
	// none. Unused without Guard.
	AllowAddrs []netip.Prefix
	// AllowAddrPorts are address and port pairs Guard lets through all the same: the seeds'
	// own (see SeedAddrPorts), so that a crawl seeded on 127.0.0.1:8080 reaches that server
	// and not the database on 127.0.0.1:6379. Unused without Guard.
	AllowAddrPorts []netip.AddrPort
	// Resolver resolves a host name to its addresses for Guard (a test hook); nil means
	// net.DefaultResolver.LookupNetIP(ctx, "ip", host). Unused without Guard.
	Resolver func(ctx context.Context, host string) ([]netip.Addr, error)
	// Dial connects the Transport built by NewTransport (a test hook); with Guard it is given
	// only allowed IP addresses ("ip:port"). nil means a net.Dialer with ConnectTimeout
	// (with Guard, one whose Control checks the address again).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Archive, when set, is given every exchange (pages, redirect hops, robots.txt) as the
	// bytes that crossed the wire, and Result.Archived says where the final response went.
	// The bytes are captured on the connections of the Transport built by NewTransport,
	// which then speaks HTTP/1.1 only (an exchange is a byte range of one connection); a
	// Client given another Transport archives nothing. Each capture holds up to 256 KiB in
	// memory and spools the rest to a temporary file, up to twice MaxBody plus 1 MiB.
	Archive Archive
}

// withDefaults returns cfg with every zero field set to its documented default.
func (cfg Config) withDefaults() Config {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = DefaultUserAgent
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 16
	}
	if cfg.PerHost == 0 {
		cfg.PerHost = 2
	}
	if cfg.Burst == 0 {
		cfg.Burst = 1
	}
	if cfg.MaxHosts == 0 {
		cfg.MaxHosts = 10_000
	}
	def(&cfg.Timeout, 30*time.Second)
	def(&cfg.ConnectTimeout, 10*time.Second)
	def(&cfg.TLSTimeout, 10*time.Second)
	def(&cfg.HeaderTimeout, 15*time.Second)
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 10 << 20
	}
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = 10
	}
	def(&cfg.RobotsTTL, 24*time.Hour)
	def(&cfg.RobotsRetry, time.Minute)
	if cfg.RobotsCacheSize == 0 {
		cfg.RobotsCacheSize = 10_000
	}
	def(&cfg.MaxCrawlDelay, 30*time.Second)
	def(&cfg.MaxRetryAfter, 10*time.Minute)
	return cfg
}

// validate reports every impossible value in cfg, joined.
func (cfg Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("fetch: Config."+format, args...))
	}
	for name, v := range map[string]int{
		"Concurrency": cfg.Concurrency, "PerHost": cfg.PerHost, "Burst": cfg.Burst,
		"MaxHosts": cfg.MaxHosts, "MaxRedirects": cfg.MaxRedirects, "RobotsCacheSize": cfg.RobotsCacheSize,
	} {
		if v < 0 {
			bad("%s %d is negative", name, v)
		}
	}
	for name, v := range map[string]time.Duration{
		"Timeout": cfg.Timeout, "ConnectTimeout": cfg.ConnectTimeout, "TLSTimeout": cfg.TLSTimeout,
		"HeaderTimeout": cfg.HeaderTimeout, "RobotsTTL": cfg.RobotsTTL, "RobotsRetry": cfg.RobotsRetry,
		"MaxCrawlDelay": cfg.MaxCrawlDelay, "MaxRetryAfter": cfg.MaxRetryAfter,
	} {
		if v < 0 {
			bad("%s %v is negative", name, v)
		}
	}
	if math.IsNaN(cfg.Rate) || cfg.Rate < 0 {
		bad("Rate %v is not a non-negative number", cfg.Rate)
	}
	if cfg.MaxBody < 0 || cfg.MaxBody > maxMaxBody {
		bad("MaxBody %d is outside [0, %d]", cfg.MaxBody, maxMaxBody)
	}
	for _, ap := range cfg.AllowAddrPorts {
		if !ap.IsValid() {
			bad("AllowAddrPorts has an invalid address and port %v", ap)
		}
	}
	for _, p := range cfg.AllowAddrs {
		if !p.IsValid() {
			bad("AllowAddrs has an invalid prefix %v", p)
		}
	}
	if strings.ContainsFunc(cfg.UserAgent, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		bad("UserAgent %q has a control character", cfg.UserAgent)
	} else if cfg.UserAgent != "" && productToken(cfg.UserAgent) == "" {
		bad("UserAgent %q has no product token", cfg.UserAgent)
	}
	// Map iteration order varies: sort for a stable message.
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(errs...)
}

// productToken returns the product token of a User-Agent: the text before the first '/'
// or space ("Trawl" for "Trawl/0.1.0 (+https://…)").
func productToken(ua string) string {
	ua = strings.TrimSpace(ua)
	if i := strings.IndexAny(ua, "/ \t"); i >= 0 {
		ua = ua[:i]
	}
	return ua
}

// NewTransport returns a Transport for a crawler configured by cfg (zero fields take their
// defaults): idle pools sized to Concurrency and PerHost, at most PerHost connections per
// host, ConnectTimeout, TLSTimeout and HeaderTimeout applied, HTTP/2 attempted, no proxy,
// and no transparent decompression (Fetch asks for gzip and deflate and decodes them itself,
// under its own size cap). With cfg.Guard it refuses forbidden addresses (see Config.Guard);
// cfg.Dial replaces its dialer. Share one Transport between Clients: it owns the connection pools.
func NewTransport(cfg Config) *http.Transport {
	cfg = cfg.withDefaults()
	perHost := max(cfg.PerHost, 1)
	tr := &http.Transport{
		// No Proxy: ProxyFromEnvironment would read the environment, which only cmd/* may do
		// (and a proxy would connect where Guard cannot see).
		DialContext:           dialFunc(cfg),
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   cfg.TLSTimeout,
		ResponseHeaderTimeout: cfg.HeaderTimeout,
		ExpectContinueTimeout: time.Second,
		IdleConnTimeout:       90 * time.Second,
		// Idle connections of every recently used host, not only as many as
		// are in flight: with Concurrency of them, requests moving between
		// hosts found the pool full of other hosts' connections and dialled
		// afresh (2-3% of the crawler's CPU in dials alone). Each idle
		// connection costs about 10 KiB (buffers and two goroutines).
		MaxIdleConns:           min(max(4*cfg.Concurrency, perHost), 4096),
		MaxIdleConnsPerHost:    perHost,
		MaxConnsPerHost:        perHost,
		MaxResponseHeaderBytes: 1 << 20,
		DisableCompression:     true,
		// A response of a typical page (4 KiB of body and its headers) in one
		// read: with the default 4 KiB, every such page took a second read
		// system call (strace of 5,000 pages: 15,323 reads, 10,316 with
		// 16 KiB; about 1 % of the crawler's CPU).
		ReadBufferSize: 16 << 10,
	}
	if cfg.Archive != nil {
		archiving(tr, cfg)
	}
	return tr
}
