package crawl

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/pgstore"
	"github.com/trawl/trawl/pgstore/pgtest"
	"github.com/trawl/trawl/testserver"
)

// pgWorker is one engine on a crawl in PostgreSQL, as one crawler process
// of a fleet runs it.
type pgWorker struct {
	db     *pgstore.DB
	engine *Engine
}

// newPGWorker opens the crawl as worker name and builds an engine on it
// whose fetcher keeps its politeness memory in the database.
func newPGWorker(t *testing.T, dsn, crawl, name string, ttl time.Duration, fcfg fetch.Config, cfg Config, seeds []string) *pgWorker {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})).With("worker", name)
	db, err := pgstore.Open(t.Context(), dsn, pgstore.Options{Crawl: crawl, Worker: name, LeaseTTL: ttl, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fcfg.Memory = Memory(db)
	if fcfg.UserAgent == "" {
		fcfg.UserAgent = "trawl-" + name // the server tells the workers apart
	}
	fc, err := fetch.New(fcfg, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.BeginCrawl(t.Context(), seeds, map[string]any{"test": t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	cfg.CrawlID = id
	e, err := New(cfg, db, fc, extract.New(extract.Config{}), log)
	if err != nil {
		t.Fatal(err)
	}
	return &pgWorker{db: db, engine: e}
}

// TestPostgresExactlyOnce: one engine on PostgreSQL fetches every page once
// (counted at the server), stores each once, and leaves nothing queued or
// leased.
func TestPostgresExactlyOnce(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	pages, hosts := 2_000, 8
	site := startSite(t, testserver.SiteConfig{Hosts: hosts, Pages: pages, LinksPerPage: 10, CrossHost: 0.1, PageSize: 1024, Seed: 7, NoLog: true})
	w := newPGWorker(t, dsn, crawl, "w1", 5*time.Second, fetch.Config{Concurrency: 32, PerHost: 4},
		Config{Workers: 32, PerHost: 4, MaxDepth: -1}, site.Seeds())
	if err := w.engine.Run(t.Context(), site.Seeds()); err != nil {
		t.Fatal(err)
	}
	if got := site.PagesServed(); got != pages {
		t.Errorf("server served %d distinct pages, want %d", got, pages)
	}
	if d := site.Duplicates(); len(d) > 0 {
		t.Errorf("%d URLs fetched more than once, e.g. %v", len(d), d[:min(5, len(d))])
	}
	want := pages + hosts
	for q, n := range map[string]int{
		`SELECT count(*) FROM pages`:                                    want,
		`SELECT count(DISTINCT url) FROM pages`:                         want,
		`SELECT count(*) FROM pages WHERE status = 200`:                 want,
		`SELECT count(*) FROM urls WHERE state = 'queued'`:              0,
		`SELECT count(*) FROM host_lease WHERE expires_at > now()`:      0,
		`SELECT count(*) FROM workers WHERE stopped_at IS NULL`:         0,
		`SELECT count(*) FROM links WHERE dst_url IS NULL`:              0,
		`SELECT CASE WHEN count(*) >= 2000 THEN 1 ELSE 0 END FROM link`: 1,
	} {
		if got := pgtest.Count(t, dsn, crawl, q); got != n {
			t.Errorf("%s = %d, want %d", q, got, n)
		}
	}
	if p := w.engine.Progress(); p.Fetched != int64(want) {
		t.Errorf("Progress.Fetched = %d, want %d", p.Fetched, want)
	}
}

// runFleet runs an engine per worker on one crawl of site until all end.
func runFleet(t *testing.T, dsn, crawl string, workers int, ttl time.Duration, fcfg fetch.Config, cfg Config, site *testserver.Site) []*pgWorker {
	t.Helper()
	var fleet []*pgWorker
	for i := range workers {
		fleet = append(fleet, newPGWorker(t, dsn, crawl, "w"+strconv.Itoa(i+1), ttl, fcfg, cfg, site.Seeds()))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for i, w := range fleet {
		wg.Go(func() { errs[i] = w.engine.Run(ctx, site.Seeds()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", i+1, err)
		}
	}
	return fleet
}

// TestFleetCrawlDelay: three engines that each hold one host at a time keep
// robots.txt's Crawl-delay together, counted at the server: a holder reads
// the verdict its predecessor saved and counts it as just fetched, and a
// host given back waits for its limiter to refill before it is claimed.
func TestFleetCrawlDelay(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	const delay, perSecond = 250 * time.Millisecond, 4
	site := startSite(t, testserver.SiteConfig{
		Hosts: 6, Pages: 90, LinksPerPage: 4, CrossHost: 0.5, PageSize: 512, Seed: 8,
		Robots: "User-agent: *\nCrawl-delay: 0.25\n",
	})
	fleet := runFleet(t, dsn, crawl, 3, 3*time.Second, fetch.Config{Concurrency: 4, PerHost: 2, Burst: 1},
		Config{Workers: 4, PerHost: 2, MaxDepth: -1, Hosts: 1}, site)
	if got := site.PagesServed(); got != 90 {
		t.Errorf("server served %d distinct pages, want 90", got)
	}
	for _, h := range site.Hosts() {
		// robots.txt itself is sent before the delay is known: not counted.
		var starts []time.Time
		for _, r := range site.Requests() {
			if r.Host == h && r.Path != "/robots.txt" {
				starts = append(starts, r.Start)
			}
		}
		slices.SortFunc(starts, time.Time.Compare)
		// Counted in 1-second windows, as the server sees them: a request
		// delayed on its way may arrive closer to the next than its token was.
		for i, lo := 0, 0; i < len(starts); i++ {
			for starts[i].Sub(starts[lo]) >= time.Second {
				lo++
			}
			if n := i - lo + 1; n > perSecond+1 {
				t.Errorf("host %s: %d requests in one second, want at most %d (Crawl-delay %v, and the burst)", h, n, perSecond+1, delay)
				break
			}
		}
	}
	t.Logf("pages per worker: %d %d %d", fleet[0].engine.Progress().Fetched, fleet[1].engine.Progress().Fetched, fleet[2].engine.Progress().Fetched)
}

// TestFleetHandovers: a worker that stops in the middle of a crawl at
// --rate 10 gives its hosts to another, which takes over at once, its
// limiter full, but counts the first one's requests of the last second: at
// the server, neither host ever sees more than rate+burst requests in a
// second, or two workers at once, over the handover.
func TestFleetHandovers(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	const rate, pages = 10, 60
	site := startSite(t, testserver.SiteConfig{Hosts: 2, Pages: pages, LinksPerPage: 3, PageSize: 256, Seed: 11})
	fcfg := fetch.Config{Concurrency: 4, PerHost: 2, Rate: rate, Burst: 1}
	cfg := Config{Workers: 4, PerHost: 2, MaxDepth: -1, Hosts: 2}
	w1 := newPGWorker(t, dsn, crawl, "w1", 3*time.Second, fcfg, cfg, site.Seeds())
	w2 := newPGWorker(t, dsn, crawl, "w2", 3*time.Second, fcfg, cfg, site.Seeds())
	served := func(n int) { // waits until the site has served n pages
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for site.PagesServed() < n {
			<-tick.C
		}
	}
	ctx1, stop1 := context.WithCancel(t.Context())
	defer stop1()
	errs := make(chan error, 2)
	go func() { errs <- w1.engine.Run(ctx1, site.Seeds()) }()
	served(10) // w1 holds both hosts
	go func() { errs <- w2.engine.Run(t.Context(), site.Seeds()) }()
	served(20)
	stop1() // w1 gives both hosts back, with its window; w2 takes them
	for range 2 {
		if err := <-errs; err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
	if got := site.PagesServed(); got != pages {
		t.Errorf("server served %d distinct pages, want %d", got, pages)
	}
	for _, h := range site.Hosts() {
		if got := site.MaxInWindow(h, time.Second); got > rate+1 {
			t.Errorf("host %s saw %d requests in one second, want <= rate+burst = %d", h, got, rate+1)
		}
		if o := site.Overlaps(h); len(o) > 0 {
			t.Errorf("host %s: %d requests while another worker's was being served, e.g. %+v", h, len(o), o[0])
		}
		agents := map[string]bool{}
		for _, r := range site.Requests() {
			if r.Host == h {
				agents[r.Agent] = true
			}
		}
		if len(agents) != 2 {
			t.Errorf("host %s served %d workers, want both (a handover)", h, len(agents))
		}
	}
}

// TestFleetPolite runs three engines on one crawl, as three processes would,
// and checks at the server what the fleet must hold together: every page
// fetched once, at most PerHost requests at once and rate+burst in any
// second per host over all workers, robots.txt fetched once per host and
// obeyed, and every worker did a share.
func TestFleetPolite(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	const (
		hosts, pages  = 12, 1200
		rate, perHost = 20, 2
		workers       = 3
	)
	site := startSite(t, testserver.SiteConfig{
		Hosts: hosts, Pages: pages, LinksPerPage: 6, CrossHost: 0.3, PageSize: 512, Latency: 5 * time.Millisecond, Seed: 5,
		Robots: "User-agent: *\nDisallow: /p/7\n",
	})
	fcfg := fetch.Config{Concurrency: 8, PerHost: perHost, Rate: rate, Burst: 1}
	cfg := Config{Workers: 8, PerHost: perHost, MaxDepth: -1, Hosts: hosts / workers}
	fleet := runFleet(t, dsn, crawl, workers, 3*time.Second, fcfg, cfg, site)
	disallowed := regexp.MustCompile(`^/p/7`)
	allowed := 0
	for i := range pages {
		if !disallowed.MatchString("/p/" + strconv.Itoa(i)) {
			allowed++
		}
	}
	if got := site.PagesServed(); got != allowed {
		t.Errorf("server served %d distinct pages, want %d", got, allowed)
	}
	if d := site.Duplicates(); len(d) > 0 {
		t.Errorf("%d URLs fetched more than once, e.g. %v", len(d), d[:min(5, len(d))])
	}
	for _, h := range site.Hosts() {
		if got := site.MaxConcurrent(h); got > perHost {
			t.Errorf("host %s saw %d concurrent requests, want <= %d", h, got, perHost)
		}
		if got := site.MaxInWindow(h, time.Second); got > rate+1 {
			t.Errorf("host %s saw %d requests in one second, want <= rate+burst = %d", h, got, rate+1)
		}
		if got := site.Hits(h, "/robots.txt"); got != 1 {
			t.Errorf("host %s: robots.txt fetched %d times by the fleet, want 1", h, got)
		}
	}
	for _, r := range site.Requests() {
		if disallowed.MatchString(r.Path) {
			t.Errorf("request to robots-disallowed %s%s", r.Host, r.Path)
		}
	}
	for i, w := range fleet {
		if p := w.engine.Progress(); p.Fetched == 0 {
			t.Errorf("worker %d fetched nothing: the hosts were not shared", i+1)
		}
	}
	if got := pgtest.Count(t, dsn, crawl, `SELECT count(*) FROM host_lease WHERE expires_at > now()`); got != 0 {
		t.Errorf("%d hosts still leased after the crawl", got)
	}
	if got := pgtest.Count(t, dsn, crawl, `SELECT count(*) FROM urls WHERE state = 'queued'`); got != 0 {
		t.Errorf("%d URLs still queued after the crawl", got)
	}
}

// TestFleetRetryAfter: a 429 with Retry-After: 2 keeps every worker of the
// fleet off the host for 2 seconds, counted at the server (the backoff is in
// the database, and no worker claims a backed-off host), and the page is
// fetched again afterwards, once.
func TestFleetRetryAfter(t *testing.T) {
	dsn, crawl := pgtest.Crawl(t)
	site := startSite(t, testserver.SiteConfig{
		Hosts: 6, Pages: 120, LinksPerPage: 4, CrossHost: 0.5, Seed: 5, Latency: 5 * time.Millisecond,
		Overrides: map[string]testserver.Response{"/p/4": {Status: 429, Header: map[string]string{"Retry-After": "2"}, Times: 1}},
	})
	runFleet(t, dsn, crawl, 3, time.Second, fetch.Config{Concurrency: 4, PerHost: 1},
		Config{Workers: 4, PerHost: 1, MaxDepth: -1, Retries: 2, Hosts: 1}, site)
	var at time.Time
	var host string
	for _, r := range site.Requests() {
		if r.Path == "/p/4" && r.Status == 429 {
			at, host = r.End, r.Host
		}
	}
	if at.IsZero() {
		t.Fatal("the 429 was never served")
	}
	for _, r := range site.Requests() {
		if r.Host == host && r.Start.After(at) && r.Start.Before(at.Add(2*time.Second)) {
			t.Errorf("request to %s%s %v after the 429, want none within 2s", r.Host, r.Path, r.Start.Sub(at))
		}
	}
	if got := site.PagesServed(); got != 120 {
		t.Errorf("server served %d distinct pages, want 120", got)
	}
	if got := pgtest.Count(t, dsn, crawl, `SELECT count(*) FROM pages WHERE url LIKE '%/p/4' AND status = 200`); got != 1 {
		t.Errorf("/p/4 stored %d times with status 200, want 1", got)
	}
}
