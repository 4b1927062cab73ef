// Package crawl is the crawler's engine. It wires the frontier, the fetcher,
// the extractor and the seen-set together, sends every result to storage's
// single writer, and owns every goroutine of a crawl.
package crawl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/frontier"
	"github.com/trawl/trawl/internal/urlx"
	"github.com/trawl/trawl/storage"
)

// Config configures an Engine.
type Config struct {
	Workers  int              // concurrent fetches; 0 means 16
	PerHost  int              // concurrent fetches per host; 0 means 2
	MaxDepth int              // deepest link depth followed; 0 means seeds only; negative means unlimited
	MaxPages int              // pages fetched in this run; 0 means unlimited
	Scope    string           // ScopeHost, ScopeDomain or ScopeAll; "" means ScopeHost
	Include  []*regexp.Regexp // when set, a URL is followed only if one matches its canonical form
	Exclude  []*regexp.Regexp // a URL matching any is not followed
	Retries  int              // further attempts after a retryable failure (network, 5xx, 408, 429); 0 means none
	Grace    time.Duration    // how long in-flight fetches may finish after ctx ends; 0 means 10s
	// SeenMemory bounds the in-memory set of URL fingerprints the crawl
	// knows (dedupe.Known), in bytes: it grows with the crawl up to this,
	// then forgets old ones (which then cost the writer a lookup, never a
	// duplicate). 0 means 32 MiB, enough for about 2 million URLs.
	SeenMemory int
	Window     int   // URLs of one host held in memory, the rest wait in the database; 0 means a share of MaxQueued (see frontier.Config)
	MaxQueued  int   // URLs held in memory over all hosts; 0 means 20_000
	CrawlID    int64 // crawls.id these rows belong to (storage.DB.BeginCrawl)

	// MaxPagesPerHost caps the URLs queued per host over the whole crawl file
	// (seeds included; earlier runs count); links past it are dropped as
	// "host-cap". 0 means no cap.
	MaxPagesPerHost int
	// Recrawl sends each URL's stored validators (ETag, Last-Modified) as
	// If-None-Match and If-Modified-Since, and records a 304 as unchanged
	// (storage.Page.Unchanged). The caller queues the URLs again first
	// (storage.DB.Requeue).
	Recrawl bool
	// CanonicalIdentity makes a page's rel=canonical its identity: a page
	// whose canonical URL is another one is recorded, its canonical URL is
	// queued (when in scope and new), and its own links are not followed
	// (they are dropped as "canonical"; the canonical page has them).
	CanonicalIdentity bool
	// Canonicalizer computes every URL's canonical form, the parameters it
	// strips included; nil means dedupe's defaults (dedupe.DefaultStripParams).
	// A crawl file must keep one set of rules: its URLs are stored canonical.
	Canonicalizer *dedupe.Canonicalizer
	// Traps configures the trap checks on discovered URLs (length, path depth,
	// repeated segments, query variants per path); the zero value means
	// dedupe's defaults.
	Traps dedupe.TrapConfig
	// URLSpaces configures the defence against infinite URL spaces that the
	// trap checks do not see (dedupe.URLSpaces): a URL pattern whose pages
	// come MaxRun in a row as near-duplicates that lead nowhere new is
	// closed, and its URLs found afterwards are dropped as "url-space". It
	// needs the extractor's text fingerprints (extract.Config.NewTextHasher)
	// and is idle without them. The zero value means dedupe's defaults (on,
	// 50 pages); MaxRun -1 turns it off.
	URLSpaces dedupe.URLSpaceConfig
	// Hosts is how many hosts this process holds at once when the state is
	// shared by several processes (HostLeaser); 0 means Workers. Unused
	// otherwise.
	Hosts int
	// Sitemaps queues, before the crawl starts, the pages listed in the
	// sitemaps of the seeds' hosts (robots.txt Sitemap lines and
	// /sitemap.xml), as seeds (see package sitemap for the caps).
	Sitemaps bool
}

// Engine runs one crawl. Create it with New; Run may be called once.
type Engine struct {
	cfg     Config
	state   State
	fetcher *fetch.Client
	extract *extract.Extractor
	log     *slog.Logger
	front   *frontier.Queue
	known   *dedupe.Known // fingerprints of URLs this run queued, claimed or found in the file
	starved func()        // set by Run: asks the writer to merge (frontier.Config.Starved)
	scope   *scope
	counts  counters
	perHost hostCounts
	canon   *dedupe.Canonicalizer
	traps   *dedupe.Traps
	pause   pauser            // Pause and Resume
	live    liveRun           // the Run in progress, for AddSeeds
	notes   waitNotes         // why hosts wait for a retry, for Hosts
	tally   tally             // pages per host and the latest errors, for HostTallies and RecentErrors
	spaces  *dedupe.URLSpaces // nil when off, or when the extractor does not fingerprint text
	leases  *leases           // the hosts this process holds; nil unless state is a HostLeaser
}

// hostCounts counts the URLs queued per host, for Config.MaxPagesPerHost.
type hostCounts struct {
	mu sync.Mutex
	n  map[string]int
}

// take counts one more URL for host and reports whether it is within max.
func (h *hostCounts) take(host string, max int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n[host] >= max {
		return false
	}
	h.n[host]++
	return true
}

// set records n URLs already queued for host.
func (h *hostCounts) set(host string, n int) {
	h.mu.Lock()
	h.n[host] = n
	h.mu.Unlock()
}

// counters are the engine's running totals, read by Progress.
type counters struct {
	fetched, failed, retries, robotsDenied, bytes, links, discovered atomic.Int64
	status                                                           [6]atomic.Int64 // by status/100; 0: no response
}

// Progress is a snapshot of a running crawl.
type Progress struct {
	Fetched      int64          // pages recorded (any outcome)
	Failed       int64          // of Fetched, those with no usable response: network errors, 5xx after retries
	Retries      int64          // attempts requeued after a retryable failure
	RobotsDenied int64          // URLs not fetched because robots.txt disallows them
	Bytes        int64          // body bytes kept
	Links        int64          // links recorded
	Discovered   int64          // new URLs queued (committed)
	Status       [6]int64       // pages by status class: [2] is 2xx, [0] no response
	Frontier     frontier.Stats // the in-memory queue: queued, in flight, hosts, politeness wait
	Paused       bool           // Pause was called and Resume not since
	Parked       int            // of Frontier.InFlight, URLs taken and held unsent while paused
}

// robotsDenied returns the frontier's Denied check: robots.txt, as far as
// fetcher knows it now, disallows the URL.
func robotsDenied(fetcher *fetch.Client) func(frontier.Item) bool {
	return func(it frontier.Item) bool {
		u, ok := urlx.ParseSimple(it.URL)
		if !ok {
			var err error
			if u, err = url.Parse(it.URL); err != nil {
				return false
			}
		}
		return fetcher.Denied(u)
	}
}

// writerLinger is how long the writer waits for more visits before it
// commits a batch. A worker waits for its visit's commit, so without it a
// batch holds only the few visits that finished during the last commit, and
// a commit's cost is mostly fixed (B-tree interior pages and WAL frames
// rewritten each time): measured on 30,000 pages of a 2,000,000-page site,
// 2 ms of linger took 16.4 CPU-s where none took 22.3 (5 ms: 16.4; 10 ms:
// 18.4). Next to a fetch, 2 ms is nothing.
const writerLinger = 2 * time.Millisecond

// defaultSeenMemory is Config.SeenMemory's default.
const defaultSeenMemory = 32 << 20

// New returns an Engine that crawls with fetcher and extractor into state
// (a *storage.DB).
func New(cfg Config, state State, fetcher *fetch.Client, ex *extract.Extractor, log *slog.Logger) (*Engine, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = 16
	}
	if cfg.PerHost <= 0 {
		cfg.PerHost = 2
	}
	if cfg.Grace <= 0 {
		cfg.Grace = 10 * time.Second
	}
	if cfg.MaxPages < 0 || cfg.Retries < 0 {
		return nil, errors.New("crawl: MaxPages and Retries must not be negative")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sc, err := newScope(cfg.Scope, cfg.Include, cfg.Exclude)
	if err != nil {
		return nil, fmt.Errorf("crawl: %w", err)
	}
	if cfg.SeenMemory == 0 {
		cfg.SeenMemory = defaultSeenMemory
	}
	known, err := dedupe.NewKnown(cfg.SeenMemory)
	if err != nil {
		return nil, fmt.Errorf("crawl: %w", err)
	}
	e := &Engine{}
	front := frontier.New(frontier.Config{PerHost: cfg.PerHost, MaxDepth: cfg.MaxDepth, MaxPages: cfg.MaxPages, Window: cfg.Window,
		MaxQueued: cfg.MaxQueued, Starved: func() { e.starved() }, Denied: robotsDenied(fetcher)}, fetcher, storeOf{state})
	canon := cfg.Canonicalizer
	if canon == nil {
		if canon, err = dedupe.NewCanonicalizer(dedupe.DefaultStripParams); err != nil {
			return nil, fmt.Errorf("crawl: %w", err)
		}
	}
	if cfg.MaxPagesPerHost < 0 {
		return nil, errors.New("crawl: MaxPagesPerHost must not be negative")
	}
	*e = Engine{cfg: cfg, state: state, fetcher: fetcher, extract: ex, log: log, front: front, known: known, scope: sc,
		perHost: hostCounts{n: map[string]int{}}, canon: canon, traps: dedupe.NewTraps(cfg.Traps)}
	if l, ok := state.(HostLeaser); ok {
		// A host given back waits for its rate limiter to refill before
		// another process, whose limiter starts full, may claim it; that
		// one counts this one's requests of the last second in the host's
		// window.
		p := politeness{gap: fetcher.Interval, backoff: fetcher.BackoffUntil, recent: fetcher.Recent, resume: fetcher.Resume}
		e.leases = newLeases(l, front, cmp.Or(cfg.Hosts, cfg.Workers), p, e.counts.fetched.Load, log)
	}
	if ex != nil && ex.HashesText() {
		e.spaces = dedupe.NewURLSpaces(cfg.URLSpaces)
	}
	return e, nil
}

// Progress returns the crawl's running totals. Safe to call at any time.
func (e *Engine) Progress() Progress {
	p := Progress{
		Fetched: e.counts.fetched.Load(), Failed: e.counts.failed.Load(), Retries: e.counts.retries.Load(),
		RobotsDenied: e.counts.robotsDenied.Load(), Bytes: e.counts.bytes.Load(), Links: e.counts.links.Load(),
		Discovered: e.counts.discovered.Load(), Frontier: e.front.Stats(),
	}
	for i := range p.Status {
		p.Status[i] = e.counts.status[i].Load()
	}
	p.Paused, p.Parked = e.pauseState()
	return p
}

// Deepest returns up to n hosts with the most URLs queued in memory.
func (e *Engine) Deepest(n int) []frontier.HostDepth { return e.front.Deepest(n) }

// Run crawls from seeds, and from whatever an earlier run on the same
// state left queued; the seeds also define the scope, so a resumed crawl
// passes its original seeds again (seeds already seen are not refetched),
// until nothing is queued (in memory or in the state) or in flight,
// MaxPages is reached, or ctx ends. When ctx ends, no new URL is started;
// fetches in flight get Grace to finish and are recorded. Run returns after
// every worker has exited and the writer has committed what it was given.
// It returns ctx's error when interrupted and a storage error if the writer
// failed; the URLs not yet fetched stay queued.
func (e *Engine) Run(ctx context.Context, seeds []string) error {
	seedURLs := make([]*url.URL, 0, len(seeds))
	for _, s := range seeds {
		u, err := e.canonicalURL(s)
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		seedURLs = append(seedURLs, u)
		e.scope.addSeed(u)
	}
	r := newRun(ctx, e)
	defer r.close()
	rows := make(chan storage.Visit, 256) // Run owns every sender, so Run closes it
	r.rows = rows
	e.starved = r.starved // before any worker runs
	flushed := make(chan error, 1)
	go func() {
		flushed <- e.state.Write(context.WithoutCancel(ctx), storage.WriterConfig{FlushEvery: writerLinger}, rows, r.committed)
	}()

	e.live.mu.Lock()
	e.live.run = r
	e.live.mu.Unlock()
	err := r.crawl(seedURLs)
	e.live.mu.Lock() // waits for an AddSeeds sending to the writer
	e.live.run = nil
	e.live.mu.Unlock()
	close(rows)
	werr := <-flushed
	if cause := context.Cause(r.ctx); werr == nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		werr = cause
	}
	if werr != nil {
		return fmt.Errorf("crawl: store results: %w", werr)
	}
	return err
}

// canonicalURL parses a seed and returns its canonical form.
func (e *Engine) canonicalURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	return e.canon.CanonicalURL(u)
}
