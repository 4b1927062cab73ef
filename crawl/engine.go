// Package crawl is the crawler's engine. It wires the frontier, the fetcher,
// the extractor and the seen-set together, sends every result to storage's
// single writer, and owns every goroutine of a crawl.
package crawl

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/frontier"
	"github.com/trawl/trawl/storage"
)

// Config configures an Engine.
type Config struct {
	Workers   int              // concurrent fetches; 0 means 16
	PerHost   int              // concurrent fetches per host; 0 means 2
	MaxDepth  int              // deepest link depth followed; 0 means seeds only; negative means unlimited
	MaxPages  int              // pages fetched in this run; 0 means unlimited
	Scope     string           // ScopeHost, ScopeDomain or ScopeAll; "" means ScopeHost
	Include   []*regexp.Regexp // when set, a URL is followed only if one matches its canonical form
	Exclude   []*regexp.Regexp // a URL matching any is not followed
	Retries   int              // further attempts after a retryable failure (network, 5xx, 408, 429); 0 means none
	Grace     time.Duration    // how long in-flight fetches may finish after ctx ends; 0 means 10s
	SeenCache int              // canonical URLs kept in the seen-set's LRU; 0 means 100_000
	Window    int              // URLs of one host held in memory, the rest wait in the database; 0 means 512
	MaxQueued int              // URLs held in memory over all hosts; 0 means 200_000
	CrawlID   int64            // crawls.id these rows belong to (storage.DB.BeginCrawl)

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
	// Sitemaps queues, before the crawl starts, the pages listed in the
	// sitemaps of the seeds' hosts (robots.txt Sitemap lines and
	// /sitemap.xml), as seeds (see package sitemap for the caps).
	Sitemaps bool
}

// Engine runs one crawl. Create it with New; Run may be called once.
type Engine struct {
	cfg     Config
	db      *storage.DB
	fetcher *fetch.Client
	extract *extract.Extractor
	log     *slog.Logger
	front   *frontier.Queue
	seen    *dedupe.Set
	scope   *scope
	counts  counters
	perHost hostCounts
	canon   *dedupe.Canonicalizer
	traps   *dedupe.Traps
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
	Discovered   int64          // new URLs queued
	Status       [6]int64       // pages by status class: [2] is 2xx, [0] no response
	Frontier     frontier.Stats // the in-memory queue: queued, in flight, hosts, politeness wait
}

// New returns an Engine that crawls with fetcher and extractor into db.
func New(cfg Config, db *storage.DB, fetcher *fetch.Client, ex *extract.Extractor, log *slog.Logger) (*Engine, error) {
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
	seen, err := dedupe.New(dedupe.Config{CacheSize: cfg.SeenCache}, db)
	if err != nil {
		return nil, fmt.Errorf("crawl: %w", err)
	}
	front := frontier.New(frontier.Config{PerHost: cfg.PerHost, MaxDepth: cfg.MaxDepth, MaxPages: cfg.MaxPages, Window: cfg.Window, MaxQueued: cfg.MaxQueued}, fetcher, leaser{db})
	canon := cfg.Canonicalizer
	if canon == nil {
		if canon, err = dedupe.NewCanonicalizer(dedupe.DefaultStripParams); err != nil {
			return nil, fmt.Errorf("crawl: %w", err)
		}
	}
	if cfg.MaxPagesPerHost < 0 {
		return nil, errors.New("crawl: MaxPagesPerHost must not be negative")
	}
	return &Engine{cfg: cfg, db: db, fetcher: fetcher, extract: ex, log: log, front: front, seen: seen, scope: sc,
		perHost: hostCounts{n: map[string]int{}}, canon: canon, traps: dedupe.NewTraps(cfg.Traps)}, nil
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
	return p
}

// Deepest returns up to n hosts with the most URLs queued in memory.
func (e *Engine) Deepest(n int) []frontier.HostDepth { return e.front.Deepest(n) }

// Run crawls from seeds, and from whatever an earlier run on the same
// database left queued; the seeds also define the scope, so a resumed crawl
// passes its original seeds again (seeds already seen are not refetched), until nothing is queued or in flight, MaxPages is
// reached, or ctx ends. When ctx ends, no new URL is started; fetches in
// flight get Grace to finish and are recorded. Run returns after every
// worker has exited and the writer has committed what it was given. It
// returns ctx's error when interrupted and a storage error if the writer
// failed; the URLs not yet fetched stay queued in the database.
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

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// In-flight fetches run under fetchCtx: it ends Grace after ctx does, or at
	// once when the writer fails.
	fetchCtx, stopFetch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopFetch()
	var graceTimer *time.Timer
	var graceMu sync.Mutex
	stopGrace := context.AfterFunc(ctx, func() {
		graceMu.Lock()
		graceTimer = time.AfterFunc(e.cfg.Grace, stopFetch)
		graceMu.Unlock()
	})
	defer func() {
		stopGrace()
		graceMu.Lock()
		if graceTimer != nil {
			graceTimer.Stop()
		}
		graceMu.Unlock()
	}()

	fail := func(err error) { // a storage error stops the crawl, in-flight fetches included
		cancel(err)
		stopFetch()
	}
	rows := make(chan storage.Visit, 256) // Run owns every sender, so Run closes it
	flushed := make(chan error, 1)
	go func() {
		flushed <- e.db.Write(context.WithoutCancel(ctx), storage.WriterConfig{}, rows, func(batch []storage.Visit, err error) {
			if err != nil {
				fail(err)
				return
			}
			for i := range batch {
				for _, d := range batch[i].Discovered {
					e.seen.Committed(d.URL)
				}
				for _, d := range batch[i].Aliases {
					e.seen.Committed(d.URL)
				}
			}
		})
	}()

	err := e.crawl(ctx, fetchCtx, seedURLs, rows, fail)
	close(rows)
	werr := <-flushed
	if cause := context.Cause(ctx); werr == nil && cause != nil && !errors.Is(cause, context.Canceled) && !errors.Is(cause, context.DeadlineExceeded) {
		werr = cause
	}
	if werr != nil {
		return fmt.Errorf("crawl: store results: %w", werr)
	}
	return err
}

// crawl restores the queue, queues new seeds and runs the workers.
func (e *Engine) crawl(ctx, fetchCtx context.Context, seeds []*url.URL, rows chan<- storage.Visit, fail func(error)) error {
	// URLs a previous run held in memory or in flight are queued again; the
	// queue itself stays in the database, and the frontier leases from it.
	reclaimed, err := e.db.Reclaim(ctx)
	if err != nil {
		return fmt.Errorf("crawl: %w", err)
	}
	if e.seen.Filtered() { // the seen-set's filter must know every URL already in the file
		if err := e.db.EachURL(ctx, e.seen.Remember); err != nil {
			return fmt.Errorf("crawl: load seen-set: %w", err)
		}
	}
	if e.cfg.MaxPagesPerHost > 0 {
		if err := e.db.URLsPerHost(ctx, func(host string, n int) error { e.perHost.set(host, n); return nil }); err != nil {
			return fmt.Errorf("crawl: %w", err)
		}
	}
	restored := 0
	err = e.db.QueuedHosts(ctx, func(host string, n int) error {
		restored += n
		e.front.AddStored(host, n)
		return nil
	})
	if err != nil {
		return fmt.Errorf("crawl: restore queue: %w", err)
	}
	var fresh []storage.URL
	for _, u := range seeds {
		key := u.String()
		isNew, err := e.seen.Add(ctx, key)
		if err != nil {
			return fmt.Errorf("crawl: seed %s: %w", key, err)
		}
		if isNew && e.cfg.MaxPagesPerHost > 0 && !e.perHost.take(u.Host, e.cfg.MaxPagesPerHost) {
			e.seen.Forget(key)
			isNew = false
		}
		if isNew {
			fresh = append(fresh, storage.URL{URL: key, Host: u.Host, Depth: 0})
		}
	}
	if len(fresh) > 0 {
		e.place(fresh)
		rows <- storage.Visit{Discovered: fresh, CrawlID: e.cfg.CrawlID}
	}
	if e.cfg.Sitemaps {
		if err := e.seedSitemaps(ctx, seeds, rows); err != nil {
			return err
		}
	}
	e.log.Info("crawl started", "seeds", len(seeds), "new_seeds", len(fresh), "queued", restored, "reclaimed", reclaimed, "workers", e.cfg.Workers)

	var wg sync.WaitGroup
	for range e.cfg.Workers {
		wg.Go(func() {
			for {
				it, err := e.front.Next(ctx)
				if err != nil {
					if !errors.Is(err, io.EOF) && ctx.Err() == nil {
						fail(err) // the queue in the database could not be read
					}
					return
				}
				e.visit(fetchCtx, it, rows, fail)
			}
		})
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	return nil
}

// errRedirectSeen stops a redirect to a URL the crawl already knows: that
// page is (or will be) recorded under its own URL.
var errRedirectSeen = errors.New("redirect target already seen")

// errRedirectScope stops a redirect that leaves the crawl's scope.
var errRedirectScope = errors.New("redirect target out of scope")

// visit fetches one URL, records the result and queues what it discovered.
func (e *Engine) visit(ctx context.Context, it frontier.Item, rows chan<- storage.Visit, fail func(error)) {
	u, err := url.Parse(it.URL)
	if err != nil { // canonical URLs always parse; a corrupt row is recorded, not fatal
		e.record(ctx, it, rows, storage.Visit{Page: &storage.Page{Error: fmt.Sprintf("parse %s: %v", it.URL, err)}}, true)
		return
	}
	var aliases []storage.URL // redirect targets this fetch absorbed
	req := fetch.Request{URL: u, Reserved: true, Redirect: func(to *url.URL) error {
		cu, err := e.canon.CanonicalURL(to)
		if err != nil {
			return err
		}
		key := cu.String()
		if !e.scope.allows(cu, key) {
			return errRedirectScope
		}
		isNew, err := e.seen.Add(ctx, key)
		if err != nil {
			return err
		}
		if !isNew {
			return errRedirectSeen
		}
		aliases = append(aliases, storage.URL{URL: key, Host: cu.Host, Depth: it.Depth})
		return nil
	}}
	if e.cfg.Recrawl {
		etag, lastMod, err := e.db.Validators(ctx, it.URL)
		if err != nil && ctx.Err() == nil {
			fail(fmt.Errorf("crawl: %w", err))
		}
		if err != nil {
			e.front.Done(it)
			return
		}
		if etag != "" || lastMod != "" {
			req.Header = http.Header{}
			if etag != "" {
				req.Header.Set("If-None-Match", etag)
			}
			if lastMod != "" {
				req.Header.Set("If-Modified-Since", lastMod)
			}
		}
	}
	start := time.Now()
	res, err := e.fetcher.Fetch(ctx, req)
	// Paths that record nothing release the redirect targets this attempt
	// claimed, so that a retry (or the next run) may follow them again.
	forget := func() {
		for _, a := range aliases {
			e.seen.Forget(a.URL)
		}
	}
	if err != nil && ctx.Err() != nil {
		// Interrupted: the URL stays queued in the database for the next run.
		forget()
		e.front.Done(it)
		return
	}
	if berr, ok := errors.AsType[*fetch.BackoffError](err); ok { // nothing was sent
		forget()
		e.front.Retry(it, time.Until(berr.Until))
		return
	}
	if err != nil && it.Attempt < e.cfg.Retries {
		if d, ok := fetch.RetryDelay(err, it.Attempt); ok {
			forget()
			e.counts.retries.Add(1)
			e.log.LogAttrs(ctx, slog.LevelDebug, "retry", slog.String("url", it.URL), slog.Int("attempt", it.Attempt+1), slog.Duration("after", d), slog.Any("err", err))
			it.Attempt++
			e.front.Retry(it, d)
			return
		}
	}

	page := &storage.Page{FetchedAt: start.UTC(), Duration: time.Since(start), Refetch: e.cfg.Recrawl}
	if errors.Is(err, errRedirectSeen) {
		err = nil // a redirect to a page recorded under its own URL: the 3xx is the answer
	}
	if res != nil && res.Status == http.StatusNotModified && req.Header != nil {
		err = nil // the recrawl's answer: the stored page stands
		page.Unchanged = true
	}
	if err != nil {
		page.Error = err.Error()
		page.ErrorClass = errorClass(err)
	}
	v := storage.Visit{Page: page, Aliases: aliases}
	if errors.Is(err, fetch.ErrDisallowed) {
		e.counts.robotsDenied.Add(1)
		v.Drops = append(v.Drops, storage.Drop{Reason: dropRobots, Count: 1, Example: it.URL})
	}
	if res != nil {
		for _, sm := range res.Sitemaps {
			v.Sitemaps = append(v.Sitemaps, storage.Sitemap{Host: it.Host, URL: sm})
		}
		page.FinalURL = res.FinalURL.String()
		page.Status = res.Status
		page.ContentType = res.ContentType
		page.Size = res.Size
		page.Truncated = res.Truncated
		page.Redirects = res.Redirects
		page.Duration = res.Duration
		page.ETag = res.Header.Get("ETag")
		page.LastMod = res.Header.Get("Last-Modified")
		if len(res.Body) > 0 {
			page.ContentHash = dedupe.ContentHash(res.Body)
		}
		e.counts.bytes.Add(res.Size)
		if err == nil && res.Status/100 == 2 {
			var lerr error
			v.Links, v.Discovered, lerr = e.links(ctx, it, res, page, &v.Drops)
			if lerr != nil { // the seen-set's durable lookup failed: stop, losing nothing
				forget()
				fail(fmt.Errorf("crawl: seen-set: %w", lerr))
				e.front.Done(it)
				return
			}
		}
	}
	isFailed := failed(page.Status, err)
	page.Answered = page.Error != "" && !isFailed // urls.state says done, as the summary counts it
	e.record(ctx, it, rows, v, isFailed)
}

// Drop reasons decided by the engine (storage's drops table); the scope
// adds dropScope and dropExcluded.
const (
	dropRobots    = "robots"      // robots.txt disallows the URL (counted when its fetch is refused)
	dropNofollow  = "nofollow"    // rel=nofollow on the link, or the page said nofollow
	dropDepth     = "depth"       // the page is at the depth limit
	dropHostCap   = "host-cap"    // the host has MaxPagesPerHost URLs
	dropLinkCap   = "link-cap"    // a page had more links than the extractor keeps (counted per page)
	dropInvalid   = "invalid-url" // the link is not a crawlable URL
	dropCanonical = "canonical"   // the page's canonical URL is another page, which has its links (CanonicalIdentity)
)

// trapDrops names dedupe's trap reasons in the drops table.
var trapDrops = map[dedupe.Reason]string{
	dedupe.ReasonTooLong:       "too-long",
	dedupe.ReasonPathDepth:     "path-depth",
	dedupe.ReasonRepeated:      "repeated-segments",
	dedupe.ReasonQueryVariants: "query-variants",
}

// addDrop counts one URL not followed for reason.
func addDrop(drops *[]storage.Drop, reason, example string) {
	for i := range *drops {
		if d := &(*drops)[i]; d.Reason == reason {
			d.Count++
			d.Example = example
			return
		}
	}
	*drops = append(*drops, storage.Drop{Reason: reason, Count: 1, Example: example})
}

// links reads res (a 2xx response): its headers (Link, Refresh, Location,
// X-Robots-Tag) and, for HTML, the document in its declared or sniffed
// encoding. It fills page's directives, title, charset and fingerprint,
// records the links, and returns the in-scope ones not seen before; links
// not followed are counted in drops by reason.
func (e *Engine) links(ctx context.Context, it frontier.Item, res *fetch.Result, page *storage.Page, drops *[]storage.Drop) ([]storage.Link, []storage.URL, error) {
	hi, err := e.extract.HeaderLinks(res.Header, res.Status, res.FinalURL)
	if err != nil { // only for a relative final URL, which fetch never returns
		page.Error, page.ErrorClass = err.Error(), classOther
		return nil, nil, nil
	}
	doc := &extract.Document{}
	if isHTML(res.ContentType) {
		if doc, err = e.extract.ExtractCharset(res.Body, res.FinalURL, res.Header.Get("Content-Type")); err != nil {
			page.Error, page.ErrorClass = err.Error(), classOther
			return nil, nil, nil
		}
		page.Title, page.Charset = doc.Title, doc.Charset
		// The extractor fingerprints the text when it was given
		// extract.Config.NewTextHasher (a dedupe.SimHasher, as cmd/crawler does).
		page.SimHash = doc.TextHash
	}
	page.NoIndex = doc.NoIndex || hi.NoIndex
	page.NoFollow = doc.NoFollow || hi.NoFollow
	page.LinksCapped = doc.LinksCapped || hi.LinksCapped
	if page.LinksCapped {
		addDrop(drops, dropLinkCap, it.URL)
	}
	if doc.Canonical == nil {
		doc.Canonical = hi.Canonical // the document's own <link rel=canonical> wins
	}
	if len(hi.Links) > 0 {
		doc.Links = append(hi.Links, doc.Links...)
	}
	var found []storage.URL
	follow := e.cfg.MaxDepth < 0 || it.Depth < e.cfg.MaxDepth
	skip := "" // why no link of this page is followed
	switch {
	case page.NoFollow:
		skip = dropNofollow
	case !follow:
		skip = dropDepth
	}
	if doc.Canonical != nil {
		if c, err := e.canon.CanonicalURL(doc.Canonical); err == nil {
			page.Canonical = c.String()
			if e.cfg.CanonicalIdentity && page.Canonical != it.URL {
				if skip == "" {
					skip = dropCanonical
				}
				u, err := e.accept(ctx, c, page.Canonical, it.Depth, drops)
				if err != nil {
					return nil, nil, err
				}
				if u != nil {
					found = append(found, *u)
				}
			}
		}
	}
	links := make([]storage.Link, 0, len(doc.Links))
	for _, l := range doc.Links {
		cu, err := e.canon.CanonicalURL(l.URL)
		if err != nil {
			addDrop(drops, dropInvalid, l.URL.Redacted())
			continue
		}
		key := cu.String()
		links = append(links, storage.Link{Src: it.URL, Dst: key, Nofollow: l.Nofollow})
		switch {
		case skip != "":
			addDrop(drops, skip, key)
			continue
		case l.Nofollow:
			addDrop(drops, dropNofollow, key)
			continue
		}
		u, err := e.accept(ctx, cu, key, it.Depth+1, drops)
		if err != nil {
			return nil, nil, err
		}
		if u != nil {
			found = append(found, *u)
		}
	}
	return links, found, nil
}

// accept decides whether the crawl queues cu (canonical, key its string)
// at depth: it returns the URL to queue, or nil when cu is out of scope
// (counted in drops) or seen before.
func (e *Engine) accept(ctx context.Context, cu *url.URL, key string, depth int, drops *[]storage.Drop) (*storage.URL, error) {
	if reason := e.scope.check(cu, key); reason != "" {
		addDrop(drops, reason, key)
		return nil, nil
	}
	if reason := e.traps.Check(cu); reason != "" {
		addDrop(drops, cmp.Or(trapDrops[reason], string(reason)), key)
		return nil, nil
	}
	isNew, err := e.seen.Add(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("seen %s: %w", key, err)
	}
	if !isNew {
		return nil, nil
	}
	if e.cfg.MaxPagesPerHost > 0 && !e.perHost.take(cu.Host, e.cfg.MaxPagesPerHost) {
		e.seen.Forget(key) // not queued: the seen-set must not claim it
		addDrop(drops, dropHostCap, key)
		return nil, nil
	}
	return &storage.URL{URL: key, Host: cu.Host, Depth: depth}, nil
}

// record queues what v found, sends v (its Page set) to the writer, then
// marks it done: Done last, so that the frontier never looks empty while
// work remains.
func (e *Engine) record(ctx context.Context, it frontier.Item, rows chan<- storage.Visit, v storage.Visit, failed bool) {
	page := v.Page
	page.URL, page.Host, page.Depth, page.Attempts = it.URL, it.Host, it.Depth, it.Attempt+1
	v.CrawlID = e.cfg.CrawlID
	if failed {
		e.counts.failed.Add(1)
	}
	e.counts.fetched.Add(1)
	e.counts.status[min(page.Status/100, 5)].Add(1)
	e.counts.links.Add(int64(len(v.Links)))
	e.counts.discovered.Add(int64(len(v.Discovered)))
	e.log.LogAttrs(ctx, slog.LevelDebug, "fetched", slog.String("url", it.URL), slog.Int("status", page.Status), slog.Duration("elapsed", page.Duration), slog.String("err", page.Error))
	e.place(v.Discovered)
	rows <- v
	e.front.Done(it)
}

// place pushes new URLs to the frontier and marks those it keeps in memory
// as leased, so the database never hands them out twice. A URL may be handed
// out (and even recorded) before the visit that discovered it is committed:
// the writer's upserts make that order harmless.
func (e *Engine) place(urls []storage.URL) {
	for i := range urls {
		u := &urls[i]
		u.Leased = e.front.Push(frontier.Item{URL: u.URL, Host: u.Host, Depth: u.Depth}) == frontier.InMemory
	}
}

// leaser is the frontier's Store over the urls table.
type leaser struct{ db *storage.DB }

// Lease implements frontier.Store.
func (l leaser) Lease(ctx context.Context, host string, n int) ([]frontier.Item, error) {
	urls, err := l.db.Lease(ctx, host, n)
	if err != nil {
		return nil, err
	}
	items := make([]frontier.Item, len(urls))
	for i, u := range urls {
		items[i] = frontier.Item{URL: u.URL, Host: u.Host, Depth: u.Depth}
	}
	return items, nil
}

// failed reports whether a fetch that ended with status and err counts as
// failed: no usable response (a network error, or a 5xx after the retries).
// A 4xx is the site's answer, and a URL that robots.txt disallows, or whose
// address the guard refuses, was rightly not fetched.
func failed(status int, err error) bool {
	policy := errors.Is(err, fetch.ErrDisallowed) || errors.Is(err, fetch.ErrForbiddenAddress)
	return (status == 0 && err != nil && !policy) || status >= 500
}

// Error classes of storage.Page.ErrorClass (the schema's pages.error_class).
const (
	classTimeout           = "timeout"
	classTooLarge          = "too-large"
	classTruncated         = "truncated-body"
	classRedirectLoop      = "redirect-loop"
	classTooManyRedirects  = "too-many-redirects"
	classRedirectScope     = "redirect-out-of-scope"
	classRobots            = "robots"
	classRobotsUnavailable = "robots-unavailable"
	classAddress           = "address"
	classNetwork           = "network"
	classHTTP4xx           = "http-4xx"
	classHTTP5xx           = "http-5xx"
	classInvalidURL        = "invalid-url"
	classOther             = "other"
)

// errorClass sorts a fetch error into one of the classes above, so that
// `SELECT error_class, count(*) FROM pages GROUP BY 1` says what went wrong
// without parsing messages. The order matters: a robots.txt that timed out
// is robots-unavailable, not a timeout.
func errorClass(err error) string {
	var netErr net.Error
	switch {
	case errors.Is(err, fetch.ErrDisallowed):
		return classRobots
	case errors.As(err, new(*fetch.RobotsUnavailableError)):
		return classRobotsUnavailable
	case errors.Is(err, fetch.ErrForbiddenAddress):
		return classAddress
	case errors.Is(err, fetch.ErrRedirectLoop):
		return classRedirectLoop
	case errors.Is(err, fetch.ErrTooManyRedirects):
		return classTooManyRedirects
	case errors.Is(err, errRedirectScope):
		return classRedirectScope
	case errors.Is(err, fetch.ErrTooLarge):
		return classTooLarge
	case errors.Is(err, dedupe.ErrInvalid), errors.Is(err, fetch.ErrUnsupportedScheme):
		return classInvalidURL
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return classTimeout
	case errors.Is(err, io.ErrUnexpectedEOF):
		return classTruncated
	}
	if se, ok := errors.AsType[*fetch.StatusError](err); ok {
		if se.Code >= 500 {
			return classHTTP5xx
		}
		return classHTTP4xx
	}
	if errors.As(err, &netErr) || errors.As(err, new(*net.OpError)) || errors.Is(err, io.EOF) {
		return classNetwork
	}
	return classOther
}

// canonicalURL parses a seed and returns its canonical form.
func (e *Engine) canonicalURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	return e.canon.CanonicalURL(u)
}

// isHTML reports whether a media type (fetch.Result.ContentType: lower
// case, no parameters) is one the extractor reads.
func isHTML(mediaType string) bool {
	return mediaType == "text/html" || mediaType == "application/xhtml+xml"
}
