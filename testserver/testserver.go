// Package testserver serves deterministic synthetic web sites for tests,
// benchmarks and demos, and counts every request so that tests can assert
// politeness at the server: hits per path, duplicate fetches, peak concurrency
// per host and the most requests that started within any time window.
//
// A Site is a set of hosts, each its own listener on 127.0.0.1 with a random
// port. Pages are numbered 0 to Pages-1; page i lives on host i%Hosts at path
// /p/<i>. The link graph is a pure function of the SiteConfig and its Seed, so
// two Sites started with the same config have the same graph; only the ports in
// absolute links differ. Every page is reachable from its host's root "/"
// without leaving the host and without following rel="nofollow" links.
//
// Opt-in modes add hostile responses (SiteConfig.Hostile, hostile.go),
// misbehaving robots.txt files (RobotsMode), crawler traps (Traps, traps.go),
// and sitemaps with orphan pages (Sitemaps, Orphans, sitemaps.go), ETag and
// Last-Modified validators with 304 answers (Validators, conditional.go). With
// all of them off, the site is exactly as described above. Site.Change changes
// a page's content, for recrawl tests.
//
// testserver is for tests, benchmarks and demos; production code never imports
// it.
package testserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"math"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// ErrInvalidConfig is returned by Start when a SiteConfig field has an
// impossible value, such as a negative page count.
var ErrInvalidConfig = errors.New("testserver: invalid config")

// SiteConfig describes a synthetic site. The zero value is a valid config: one
// host with 100 pages of about 4 KiB, ten links each, no latency, no
// robots.txt.
type SiteConfig struct {
	Hosts        int                 // number of hosts; each is its own listener on 127.0.0.1:<random port>; 0 means 1
	Pages        int                 // total pages over all hosts; 0 means 100. Page i lives on host i%Hosts at path /p/<i>
	LinksPerPage int                 // crawlable anchors per page, nofollow ones included (targets may repeat); 0 means 10
	CrossHost    float64             // fraction of the pseudo-random links that point to another host, in [0, 1]; 0 means none
	PageSize     int                 // approximate HTML body size in bytes, reached with filler text; 0 means 4096
	Latency      time.Duration       // added before each response, waiting on r.Context(); 0 means none
	Robots       string              // robots.txt body served on every host; "" means /robots.txt is 404
	Overrides    map[string]Response // by path, served instead of the normal response; see Response
	Seed         int64               // the link graph is a deterministic function of the config and Seed
	NoLog        bool                // keep only counters, not the per-request log (for million-page benchmarks)

	// The modes below are off by default; with all of them off the site is
	// exactly as described above. Overrides win over them.

	// Hostile makes every host serve the paths of HostilePaths (hangs,
	// bombs, broken bodies, redirect loops, odd encodings and markup) and
	// its root link to each of them. See hostile.go.
	Hostile bool
	// RobotsMode serves a misbehaving robots.txt on every host; "" means
	// the behaviour of Robots. One of the RobotsX constants ("huge", "slow",
	// "redirect", "404", "500", "429"). Any mode also makes the root link to
	// PathPrivate, which the modes that serve rules disallow. Set Robots or
	// RobotsMode, not both.
	RobotsMode string
	// Traps makes every host serve crawler traps (an endless calendar,
	// ever-deeper and repeating paths, session ids in links, endless query
	// variants) and its root link to each of them. See traps.go.
	Traps bool
	// Sitemaps makes every host serve /sitemap.xml, /sitemap_index.xml,
	// /sitemaps/1.xml and /sitemaps/2.xml.gz, and name the index in
	// robots.txt. See sitemaps.go.
	Sitemaps bool
	// Orphans is the number of extra pages /orphan/<k> (k in [0, Orphans))
	// that every host serves and that no page links to; only the sitemaps
	// list them. 0 means none.
	Orphans int
	// Blog is the number of listing pages of a blog that every host serves
	// under PathBlog (not linked from the root), each showing
	// BlogPostsPerPage posts with their own text; 0 means none. See blog.go.
	Blog int
	// Validators makes every generated page (/p/<i>, the roots, and the
	// pages Site.Change adds) carry a strong ETag derived from the seed, the
	// page and its version, and a fixed Last-Modified per page and version,
	// and answer a matching If-None-Match (which takes precedence) or
	// If-Modified-Since with 304 Not Modified and no body. See conditional.go.
	Validators bool
	// Wire makes every host serve WirePaths (a page plain, chunked, gzip-encoded, and
	// gzip-encoded in chunks), written byte by byte on the connection and kept (WireBytes),
	// and its root link to each of them. See wire.go.
	Wire bool
}

// Response is an override served instead of the normal response for one path
// (SiteConfig.Overrides). The key is matched first against the request's path
// and query exactly as received ("/p/42?x=1"), then against the decoded path
// alone ("/p/42"), so an override for a path also covers that path with any
// query.
type Response struct {
	Status int               // e.g. 429, 503, 500, 404, 301; 0 means 200
	Header map[string]string // e.g. {"Retry-After": "2"} or {"Location": "/p/3"}
	Body   string            // response body as is; "" means none
	// Times limits the override to the first Times requests matching its key on
	// each host; later requests get the normal response. 0 means always.
	Times int
}

// Request is one entry of a Site's request log.
type Request struct {
	Host   string    // "127.0.0.1:port" of the host that received it, as in Site.Hosts
	Path   string    // path and query as received
	Start  time.Time // when the handler was entered
	End    time.Time // when the response was written; zero while in flight
	Status int       // status sent; 0 while in flight or if the client went away during Latency
	Agent  string    // the request's User-Agent: which client sent it, when clients tell themselves apart by it
}

// Site is a running synthetic site, started by Start and stopped by Close.
// All methods are safe for concurrent use, also while requests are being
// served.
type Site struct {
	cfg    SiteConfig       // defaults filled; read-only after Start
	hosts  []*host          // by host number; read-only after Start
	byAddr map[string]*host // read-only after Start

	cancel    context.CancelFunc // ends every handler's r.Context; called by Close
	serving   sync.WaitGroup     // one per host's Serve loop
	closeOnce sync.Once

	bufs sync.Pool // of *renderBuf

	total   atomic.Int64
	served  []atomic.Uint64 // bit i set once page i was served with 200
	nServed atomic.Int64

	changes     changes      // page versions set by Change; conditional.go
	notModified atomic.Int64 // 304 responses sent
	bodyBytes   atomic.Int64 // generated page body bytes sent with 200 to GETs

	logMu sync.Mutex // guards log
	log   []Request

	bombOnce    sync.Once // builds gzipBomb and deflateBomb on first use
	gzipBomb    []byte    // read-only once built
	deflateBomb []byte    // read-only once built
	robotsOnce  sync.Once // builds hugeRobots on first use
	hugeRobots  []byte    // read-only once built; without the Sitemap line
}

// host is one listener of a Site and its counters.
type host struct {
	site  *Site
	index int
	addr  string // "127.0.0.1:port"
	srv   *http.Server
	ln    net.Listener

	// pageHits counts requests for /p/<index+k*Hosts> by k: four bytes per
	// page, so counters stay small at millions of pages.
	pageHits []atomic.Uint32

	handlers sync.WaitGroup // one per running handler that passed enter; Close waits

	mu           sync.Mutex // guards closed, inFlight, maxInFlight, other, overrideHits
	closed       bool
	inFlight     int
	maxInFlight  int
	other        map[string]int    // hits of every path that is not one of this host's pages
	overrideHits map[string]int    // requests matched per Overrides key
	written      map[string]int64  // body bytes written by the streaming hostile handlers, by key as in other
	wire         map[string][]byte // the bytes the wire mode wrote, by path
}

// withDefaults returns cfg with zero values replaced by their defaults, or an
// error wrapping ErrInvalidConfig.
func (cfg SiteConfig) withDefaults() (SiteConfig, error) {
	switch {
	case cfg.Hosts < 0:
		return cfg, fmt.Errorf("%w: Hosts %d < 0", ErrInvalidConfig, cfg.Hosts)
	case cfg.Pages < 0:
		return cfg, fmt.Errorf("%w: Pages %d < 0", ErrInvalidConfig, cfg.Pages)
	case cfg.Pages > math.MaxInt32:
		return cfg, fmt.Errorf("%w: Pages %d > %d", ErrInvalidConfig, cfg.Pages, math.MaxInt32)
	case cfg.LinksPerPage < 0:
		return cfg, fmt.Errorf("%w: LinksPerPage %d < 0", ErrInvalidConfig, cfg.LinksPerPage)
	case !(cfg.CrossHost >= 0 && cfg.CrossHost <= 1): // also rejects NaN
		return cfg, fmt.Errorf("%w: CrossHost %v not in [0, 1]", ErrInvalidConfig, cfg.CrossHost)
	case cfg.PageSize < 0:
		return cfg, fmt.Errorf("%w: PageSize %d < 0", ErrInvalidConfig, cfg.PageSize)
	case cfg.Latency < 0:
		return cfg, fmt.Errorf("%w: Latency %v < 0", ErrInvalidConfig, cfg.Latency)
	}
	switch {
	case cfg.Orphans < 0:
		return cfg, fmt.Errorf("%w: Orphans %d < 0", ErrInvalidConfig, cfg.Orphans)
	case cfg.Blog < 0:
		return cfg, fmt.Errorf("%w: Blog %d < 0", ErrInvalidConfig, cfg.Blog)
	case !validRobotsMode(cfg.RobotsMode):
		return cfg, fmt.Errorf("%w: unknown RobotsMode %q", ErrInvalidConfig, cfg.RobotsMode)
	case cfg.RobotsMode != "" && cfg.Robots != "":
		return cfg, fmt.Errorf("%w: set Robots or RobotsMode, not both", ErrInvalidConfig)
	}
	for path, r := range cfg.Overrides {
		if r.Times < 0 {
			return cfg, fmt.Errorf("%w: Overrides[%q].Times %d < 0", ErrInvalidConfig, path, r.Times)
		}
		if r.Status != 0 && (r.Status < 100 || r.Status > 999) {
			return cfg, fmt.Errorf("%w: Overrides[%q].Status %d", ErrInvalidConfig, path, r.Status)
		}
	}
	if cfg.Hosts == 0 {
		cfg.Hosts = 1
	}
	if cfg.Pages == 0 {
		cfg.Pages = 100
	}
	if cfg.LinksPerPage == 0 {
		cfg.LinksPerPage = 10
	}
	if cfg.PageSize == 0 {
		cfg.PageSize = 4096
	}
	return cfg, nil
}

// Start listens on one loopback port per host and serves the site until Close.
// It returns an error wrapping ErrInvalidConfig for impossible config values.
// The caller must call Close.
func Start(cfg SiteConfig) (*Site, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Site{
		cfg:    cfg,
		hosts:  make([]*host, cfg.Hosts),
		byAddr: make(map[string]*host, cfg.Hosts),
		cancel: cancel,
		served: make([]atomic.Uint64, (cfg.Pages+63)/64),
		bufs:   sync.Pool{New: func() any { return new(renderBuf) }},
	}
	// Listen on every host before serving any, so that pages can link to all.
	for i := range s.hosts {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, h := range s.hosts[:i] {
				h.ln.Close()
			}
			cancel()
			return nil, fmt.Errorf("testserver: listen for host %d: %w", i, err)
		}
		h := &host{
			site:     s,
			index:    i,
			addr:     ln.Addr().String(),
			ln:       ln,
			pageHits: make([]atomic.Uint32, s.pagesOn(i)),
			other:    make(map[string]int),

			overrideHits: make(map[string]int),
			written:      make(map[string]int64),
		}
		h.srv = &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return ctx },
			ErrorLog:          log.New(io.Discard, "", 0), // clients that hang up are normal here
		}
		s.hosts[i] = h
		s.byAddr[h.addr] = h
	}
	for _, h := range s.hosts {
		s.serving.Go(func() { h.srv.Serve(h.ln) }) // returns ErrServerClosed once Close runs
	}
	return s, nil
}

// Close stops every host and returns once all listeners, connections and
// handlers are done. Requests waiting on Latency end at once. Counters and the
// log stay readable after Close. Close may be called more than once.
func (s *Site) Close() {
	s.closeOnce.Do(func() {
		for _, h := range s.hosts {
			h.mu.Lock()
			h.closed = true // no handler passes enter from now on
			h.mu.Unlock()
		}
		for _, h := range s.hosts {
			h.srv.Close() // closes the connections first, so no client sees a response cut short
		}
		s.cancel()
		for _, h := range s.hosts {
			h.handlers.Wait()
		}
		s.serving.Wait()
	})
}

// Hosts returns the "127.0.0.1:port" address of each host, indexed by host
// number.
func (s *Site) Hosts() []string {
	out := make([]string, len(s.hosts))
	for i, h := range s.hosts {
		out[i] = h.addr
	}
	return out
}

// Seeds returns the root URL "http://127.0.0.1:port/" of each host, indexed by
// host number. Every page of a host is reachable from its seed without leaving
// the host.
func (s *Site) Seeds() []string {
	out := make([]string, len(s.hosts))
	for i, h := range s.hosts {
		out[i] = "http://" + h.addr + "/"
	}
	return out
}

// PageURL returns the absolute URL of page i, on host i%Hosts. For i >= Pages
// it returns the URL where page i would live, which is served as 404. It
// panics if i < 0.
func (s *Site) PageURL(i int) string {
	if i < 0 {
		panic("testserver: PageURL of negative page " + strconv.Itoa(i))
	}
	return "http://" + s.hosts[i%len(s.hosts)].addr + "/p/" + strconv.Itoa(i)
}

// Links returns the pages that page i links to, in document order, nofollow
// links included and repeats kept. It returns nil if page i does not exist.
func (s *Site) Links(i int) []int {
	if i < 0 || i >= s.cfg.Pages {
		return nil
	}
	links := s.pageLinks(i, nil)
	out := make([]int, len(links))
	for k, l := range links {
		out[k] = l.page
	}
	return out
}

// Hits returns the number of requests that host ("127.0.0.1:port", as in
// Hosts) received for path, which includes the query if any and is compared
// with the request exactly as received (no decoding or cleaning). Requests that
// arrive while Close runs are not counted.
func (s *Site) Hits(host, path string) int {
	h := s.byAddr[host]
	if h == nil {
		return 0
	}
	if k, ok := h.pageSlot(path); ok {
		return int(h.pageHits[k].Load())
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.other[path]
}

// TotalHits returns the number of requests received by all hosts.
func (s *Site) TotalHits() int { return int(s.total.Load()) }

// PagesServed returns the number of distinct pages /p/<i> whose generated page
// was served with status 200 at least once. Overrides do not count.
func (s *Site) PagesServed() int { return int(s.nServed.Load()) }

// Duplicates returns "host path" for every path that a host received more than
// once, except "/robots.txt", sorted. host is as in Hosts, path as in Hits.
func (s *Site) Duplicates() []string {
	var out []string
	for _, h := range s.hosts {
		for k := range h.pageHits {
			if h.pageHits[k].Load() > 1 {
				out = append(out, h.addr+" /p/"+strconv.Itoa(h.index+k*len(s.hosts)))
			}
		}
		h.mu.Lock()
		for path, n := range h.other {
			if n > 1 && path != "/robots.txt" {
				out = append(out, h.addr+" "+path)
			}
		}
		h.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

// Requests returns a copy of the request log in arrival order. It is empty if
// SiteConfig.NoLog is set.
func (s *Site) Requests() []Request {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return slices.Clone(s.log)
}

// MaxConcurrent returns the peak number of requests that host ("127.0.0.1:port")
// was handling at the same time, counted from handler entry (before Latency) to
// the end of the response.
func (s *Site) MaxConcurrent(host string) int {
	h := s.byAddr[host]
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maxInFlight
}

// InFlight returns the number of requests host ("127.0.0.1:port") is handling
// now. Tests use it to wait until known requests have arrived.
func (s *Site) InFlight(host string) int {
	h := s.byAddr[host]
	if h == nil {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.inFlight
}

// MaxInWindow returns the largest number of requests to host ("127.0.0.1:port")
// whose Start falls within any half-open interval [t, t+window): requests
// exactly window apart are never counted together, so a host limited to one
// request per second gives MaxInWindow(host, time.Second) == 1. It reads the
// request log, so it returns 0 if SiteConfig.NoLog is set.
func (s *Site) MaxInWindow(host string, window time.Duration) int {
	var starts []time.Time
	s.logMu.Lock()
	for _, r := range s.log {
		if r.Host == host {
			starts = append(starts, r.Start)
		}
	}
	s.logMu.Unlock()
	// Concurrent handlers may append slightly out of Start order.
	slices.SortFunc(starts, time.Time.Compare)
	return maxInWindow(starts, window)
}

// maxInWindow returns the largest number of starts (sorted ascending) within
// any half-open interval of length window; 0 if window <= 0.
func maxInWindow(starts []time.Time, window time.Duration) int {
	best, lo := 0, 0
	for hi, t := range starts {
		for lo <= hi && t.Sub(starts[lo]) >= window {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// pagesOn returns how many pages live on host h.
func (s *Site) pagesOn(h int) int {
	if h >= s.cfg.Pages {
		return 0
	}
	return (s.cfg.Pages-1-h)/s.cfg.Hosts + 1
}

// pageSlot returns the index into h.pageHits for path, and whether path is
// exactly the path of one of h's pages.
func (h *host) pageSlot(path string) (int, bool) {
	i, ok := parsePage(path, h.site.cfg.Pages)
	if !ok || i%len(h.site.hosts) != h.index {
		return 0, false
	}
	return i / len(h.site.hosts), true
}

// parsePage returns i if path is exactly "/p/<i>" with i in [0, pages) written
// in decimal without sign or leading zeros.
func parsePage(path string, pages int) (int, bool) {
	const prefix = "/p/"
	if len(path) <= len(prefix) || len(path) > len(prefix)+10 || path[:len(prefix)] != prefix {
		return 0, false
	}
	digits := path[len(prefix):]
	if digits[0] == '0' && len(digits) > 1 {
		return 0, false
	}
	i := 0
	for _, c := range []byte(digits) {
		if c < '0' || c > '9' {
			return 0, false
		}
		i = i*10 + int(c-'0')
	}
	if i >= pages {
		return 0, false
	}
	return i, true
}

// Overlaps returns the requests to host that began while a request of
// another client (Request.Agent) to host was still being served: moments
// when two clients contacted the host at once. An in-flight request counts
// as lasting until now.
func (s *Site) Overlaps(host string) []Request {
	var reqs []Request
	s.logMu.Lock()
	for _, r := range s.log {
		if r.Host == host {
			reqs = append(reqs, r)
		}
	}
	s.logMu.Unlock()
	slices.SortFunc(reqs, func(a, b Request) int { return a.Start.Compare(b.Start) })
	now := time.Now()
	lastEnd := map[string]time.Time{} // by agent: the latest end of its requests so far
	var out []Request
	for _, r := range reqs {
		for agent, end := range lastEnd {
			if agent != r.Agent && end.After(r.Start) {
				out = append(out, r)
				break
			}
		}
		end := r.End
		if end.IsZero() {
			end = now
		}
		if end.After(lastEnd[r.Agent]) {
			lastEnd[r.Agent] = end
		}
	}
	return out
}
