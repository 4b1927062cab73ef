package crawl

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"

	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/storage"
	"github.com/trawl/trawl/testserver"
)

func startSite(t *testing.T, cfg testserver.SiteConfig) *testserver.Site {
	t.Helper()
	site, err := testserver.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(site.Close)
	return site
}

func openDB(t *testing.T, path string) *storage.DB {
	t.Helper()
	db, err := storage.Open(t.Context(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// runCrawl runs one crawl over db against the given seeds and returns the engine.
func runCrawl(t *testing.T, ctx context.Context, db *storage.DB, fcfg fetch.Config, cfg Config, seeds []string) (*Engine, error) {
	t.Helper()
	fc, err := fetch.New(fcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	id, err := db.BeginCrawl(t.Context(), seeds, map[string]any{"test": t.Name()})
	if err != nil {
		t.Fatal(err)
	}
	cfg.CrawlID = id
	e, err := New(cfg, db, fc, extract.New(extract.Config{}), slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	return e, e.Run(ctx, seeds)
}

// count runs a COUNT query on the crawl file through a separate connection.
func count(t *testing.T, path, query string, args ...any) int {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// TestCrawlExactlyOnce is the core guarantee: with many workers and hosts,
// every page is fetched once (counted at the server) and stored once.
func TestCrawlExactlyOnce(t *testing.T) {
	pages, hosts := 20_000, 8
	if testing.Short() {
		pages = 2_000
	}
	site := startSite(t, testserver.SiteConfig{Hosts: hosts, Pages: pages, LinksPerPage: 10, CrossHost: 0.1, PageSize: 1024, Seed: 7, NoLog: true})
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	e, err := runCrawl(t, t.Context(), db,
		fetch.Config{Concurrency: 64, PerHost: 8},
		Config{Workers: 64, PerHost: 8, MaxDepth: -1}, site.Seeds())
	if err != nil {
		t.Fatal(err)
	}
	if got := site.PagesServed(); got != pages {
		t.Errorf("server served %d distinct pages, want %d", got, pages)
	}
	if d := site.Duplicates(); len(d) > 0 {
		t.Errorf("%d URLs fetched more than once, e.g. %v", len(d), d[:min(5, len(d))])
	}
	want := pages + hosts // every /p/N plus each host's root
	if got := count(t, path, `SELECT COUNT(*) FROM pages`); got != want {
		t.Errorf("pages rows = %d, want %d", got, want)
	}
	if got := count(t, path, `SELECT COUNT(DISTINCT url) FROM pages`); got != want {
		t.Errorf("distinct pages.url = %d, want %d", got, want)
	}
	if got := count(t, path, `SELECT COUNT(*) FROM pages WHERE status = 200 AND error IS NULL`); got != want {
		t.Errorf("pages with status 200 and no error = %d, want %d", got, want)
	}
	if got := count(t, path, `SELECT COUNT(*) FROM urls WHERE state = 'queued'`); got != 0 {
		t.Errorf("urls still queued = %d, want 0", got)
	}
	// Every page's in-site links are stored; each /p/N has at least its successor link.
	if got := count(t, path, `SELECT COUNT(*) FROM links`); got < pages {
		t.Errorf("links rows = %d, want at least %d", got, pages)
	}
	if p := e.Progress(); p.Fetched != int64(want) || p.Failed != 0 {
		t.Errorf("Progress = %+v, want %d fetched, 0 failed", p, want)
	}
}

// TestPoliteness measures politeness at the server: per-host concurrency,
// per-host rate, and robots.txt.
func TestPoliteness(t *testing.T) {
	const rate, perHost = 20, 2
	site := startSite(t, testserver.SiteConfig{
		Hosts: 3, Pages: 240, LinksPerPage: 6, CrossHost: 0.2, PageSize: 512, Latency: 15 * time.Millisecond, Seed: 3,
		Robots: "User-agent: *\nDisallow: /p/7\nDisallow: /p/*5$\nSitemap: https://example.test/sitemap.xml\n",
	})
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	_, err := runCrawl(t, t.Context(), db,
		fetch.Config{Concurrency: 16, PerHost: perHost, Rate: rate, Burst: 1},
		Config{Workers: 16, PerHost: perHost, MaxDepth: -1}, site.Seeds())
	if err != nil {
		t.Fatal(err)
	}
	disallowed := regexp.MustCompile(`^/p/(7|\d*5$)`)
	for _, h := range site.Hosts() {
		if got := site.MaxConcurrent(h); got > perHost {
			t.Errorf("host %s saw %d concurrent requests, want <= %d", h, got, perHost)
		}
		if got := site.MaxInWindow(h, time.Second); got > rate+1 {
			t.Errorf("host %s saw %d requests in one second, want <= rate+burst = %d", h, got, rate+1)
		}
	}
	served := 0
	for _, r := range site.Requests() {
		if disallowed.MatchString(r.Path) {
			t.Errorf("request to robots-disallowed %s%s", r.Host, r.Path)
		}
		served++
	}
	if served < 150 {
		t.Fatalf("only %d requests reached the site; the crawl did not run", served)
	}
	if got := count(t, path, `SELECT count FROM drops WHERE reason = 'robots'`); got == 0 {
		t.Errorf("no link dropped as disallowed by robots.txt")
	}
	if got := count(t, path, `SELECT COUNT(DISTINCT host) FROM sitemaps WHERE url = 'https://example.test/sitemap.xml'`); got != 3 {
		t.Errorf("Sitemap line recorded for %d hosts, want 3", got)
	}
}

// Test429BacksOffHost checks at the server that after a 429 with
// Retry-After: 2 nothing reaches that host for 2 seconds, and that the page
// is fetched again afterwards.
func Test429BacksOffHost(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{
		Hosts: 2, Pages: 60, LinksPerPage: 4, Seed: 5,
		Overrides: map[string]testserver.Response{"/p/4": {Status: 429, Header: map[string]string{"Retry-After": "2"}, Times: 1}},
	})
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	_, err := runCrawl(t, t.Context(), db,
		fetch.Config{Concurrency: 8, PerHost: 1},
		Config{Workers: 8, PerHost: 1, MaxDepth: -1, Retries: 2}, site.Seeds())
	if err != nil {
		t.Fatal(err)
	}
	reqs := site.Requests()
	var at time.Time
	var host string
	for _, r := range reqs {
		if r.Path == "/p/4" && r.Status == 429 {
			at, host = r.End, r.Host
		}
	}
	if at.IsZero() {
		t.Fatal("the 429 was never served")
	}
	other := 0
	for _, r := range reqs {
		if r.Host == host && r.Start.After(at) && r.Start.Before(at.Add(2*time.Second)) {
			t.Errorf("request to %s%s %v after the 429, want none within 2s", r.Host, r.Path, r.Start.Sub(at))
		}
		if r.Host != host && r.Start.After(at) && r.Start.Before(at.Add(2*time.Second)) {
			other++
		}
	}
	if other == 0 {
		t.Errorf("no request reached the other host during the backoff; hosts must back off independently")
	}
	if got := count(t, path, `SELECT COUNT(*) FROM pages WHERE url LIKE '%/p/4' AND status = 200 AND attempts = 2`); got != 1 {
		t.Errorf("/p/4 stored %d times with status 200 after 2 attempts, want 1", got)
	}
}

// TestRetriesThenRecordsFailure: a 503 that recovers is retried to success;
// one that never does is recorded as failed with its status.
func TestRetriesThenRecordsFailure(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{
		Hosts: 1, Pages: 30, LinksPerPage: 3, Seed: 9,
		Overrides: map[string]testserver.Response{
			"/p/2": {Status: 503, Times: 2},
			"/p/3": {Status: 500},
		},
	})
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	e, err := runCrawl(t, t.Context(), db, fetch.Config{PerHost: 2},
		Config{Workers: 4, MaxDepth: -1, Retries: 2}, site.Seeds())
	if err != nil {
		t.Fatal(err)
	}
	h := site.Hosts()[0]
	if got := site.Hits(h, "/p/2"); got != 3 {
		t.Errorf("/p/2 requested %d times, want 3 (two 503s, then 200)", got)
	}
	if got := site.Hits(h, "/p/3"); got != 3 {
		t.Errorf("/p/3 requested %d times, want 3 (1 + 2 retries)", got)
	}
	if got := count(t, path, `SELECT COUNT(*) FROM pages WHERE url LIKE '%/p/2' AND status = 200 AND attempts = 3 AND error IS NULL`); got != 1 {
		t.Errorf("/p/2 not stored as 200 after 3 attempts")
	}
	if got := count(t, path, `SELECT COUNT(*) FROM pages p JOIN urls u USING (url) WHERE p.url LIKE '%/p/3' AND p.status = 500 AND p.error LIKE '%500%' AND u.state = 'failed'`); got != 1 {
		t.Errorf("/p/3 not stored as failed with status 500")
	}
	if p := e.Progress(); p.Failed != 1 || p.Retries != 4 {
		t.Errorf("Progress failed=%d retries=%d, want 1 and 4", p.Failed, p.Retries)
	}
}

// TestResumeAfterInterrupt stops a crawl midway; a second run on the same
// file finishes it without fetching a completed page again.
func TestResumeAfterInterrupt(t *testing.T) {
	const pages = 600
	site := startSite(t, testserver.SiteConfig{Hosts: 2, Pages: pages, LinksPerPage: 5, Latency: 2 * time.Millisecond, Seed: 11, NoLog: true})
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	ctx, cancel := context.WithCancel(t.Context())
	stop := make(chan struct{})
	go func() {
		defer close(stop)
		for site.PagesServed() < pages/3 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := runCrawl(t, ctx, db, fetch.Config{Concurrency: 8, PerHost: 4}, Config{Workers: 8, PerHost: 4, MaxDepth: -1}, site.Seeds())
	<-stop
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Run = %v, want context.Canceled", err)
	}
	first := count(t, path, `SELECT COUNT(*) FROM pages`)
	queued := count(t, path, `SELECT COUNT(*) FROM urls WHERE state = 'queued'`)
	if first == 0 || first >= pages || queued == 0 {
		t.Fatalf("after interrupt: %d pages stored, %d queued; want a partial crawl", first, queued)
	}
	// Resume: the queue comes from the file; the seeds (already seen) only set the scope.
	if _, err := runCrawl(t, t.Context(), db, fetch.Config{Concurrency: 8, PerHost: 4}, Config{Workers: 8, PerHost: 4, MaxDepth: -1}, site.Seeds()); err != nil {
		t.Fatal(err)
	}
	if got := count(t, path, `SELECT COUNT(*) FROM pages`); got != pages+2 {
		t.Errorf("after resume: %d pages, want %d", got, pages+2)
	}
	if d := site.Duplicates(); len(d) > 0 {
		t.Errorf("pages fetched twice across the interrupt: %v", d)
	}
}

// TestMaxPagesAndDepth bounds a crawl by page count and by link depth.
func TestMaxPagesAndDepth(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{Hosts: 1, Pages: 500, LinksPerPage: 5, Seed: 2, NoLog: true})
	t.Run("max pages", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "crawl.db")
		if _, err := runCrawl(t, t.Context(), openDB(t, path), fetch.Config{}, Config{Workers: 8, MaxDepth: -1, MaxPages: 40}, site.Seeds()); err != nil {
			t.Fatal(err)
		}
		if got := count(t, path, `SELECT COUNT(*) FROM pages`); got != 40 {
			t.Errorf("pages = %d with MaxPages 40", got)
		}
	})
	t.Run("depth", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "crawl.db")
		if _, err := runCrawl(t, t.Context(), openDB(t, path), fetch.Config{}, Config{Workers: 8, MaxDepth: 1}, site.Seeds()); err != nil {
			t.Fatal(err)
		}
		if got := count(t, path, `SELECT COUNT(*) FROM pages WHERE depth > 1`); got != 0 {
			t.Errorf("%d pages deeper than 1", got)
		}
		if got := count(t, path, `SELECT COUNT(*) FROM pages WHERE depth = 1`); got == 0 {
			t.Errorf("no page at depth 1")
		}
	})
}

func TestInvalidSeed(t *testing.T) {
	db := openDB(t, filepath.Join(t.TempDir(), "crawl.db"))
	fc, _ := fetch.New(fetch.Config{}, nil, nil)
	e, err := New(Config{}, db, fc, extract.New(extract.Config{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, seed := range []string{"not a url", "ftp://example.com/", "/relative"} {
		if err := e.Run(t.Context(), []string{seed}); err == nil || !strings.Contains(err.Error(), "seed") {
			t.Errorf("Run(%q) = %v, want a seed error", seed, err)
		}
	}
}

// TestRedirects: a redirect to a URL not seen yet is followed and that URL is
// never fetched again on its own; a redirect out of scope is not followed.
func TestRedirects(t *testing.T) {
	site := startSite(t, testserver.SiteConfig{
		Hosts: 1, Pages: 40, LinksPerPage: 6, Seed: 13,
		Overrides: map[string]testserver.Response{
			"/p/1":  {Status: 301, Header: map[string]string{"Location": "/p/39"}},
			"/p/2":  {Status: 302, Header: map[string]string{"Location": "http://127.0.0.1:1/elsewhere"}},
			"/p/3":  {Status: 301, Header: map[string]string{"Location": "/p/38"}},
			"/p/38": {Status: 503, Times: 1},
		},
	})
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	if _, err := runCrawl(t, t.Context(), db, fetch.Config{PerHost: 1}, Config{Workers: 2, PerHost: 1, MaxDepth: -1, Retries: 1}, site.Seeds()); err != nil {
		t.Fatal(err)
	}
	h := site.Hosts()[0]
	// /p/38 answers 503 once, whether reached through /p/3's redirect or on
	// its own: a retry must reach it again, and nothing fetches it a third time.
	if got := site.Hits(h, "/p/38"); got != 2 {
		t.Errorf("/p/38 fetched %d times, want 2 (a 503, then the page)", got)
	}
	if got := count(t, path, `SELECT COUNT(*) FROM pages WHERE status = 200 AND (url LIKE '%/p/38' OR final_url LIKE '%/p/38')`); got != 1 {
		t.Errorf("/p/38 stored with status 200 %d times, want 1", got)
	}
	if got := site.Hits(h, "/p/39"); got != 1 {
		t.Errorf("/p/39 (a redirect target, also linked) fetched %d times, want 1", got)
	}
	for _, d := range site.Duplicates() { // the retry of /p/3 refetches it and follows its redirect again
		if !strings.HasSuffix(d, " /p/38") && !strings.HasSuffix(d, " /p/3") {
			t.Errorf("%s fetched more than once; only the retried /p/3 and /p/38 may be", d)
		}
	}
	// /p/39 is stored either as /p/1's final URL (redirect followed) or as its
	// own page (already seen, redirect stopped), never both.
	followed := count(t, path, `SELECT COUNT(*) FROM pages WHERE url LIKE '%/p/1' AND final_url LIKE '%/p/39' AND status = 200`)
	own := count(t, path, `SELECT COUNT(*) FROM pages WHERE url LIKE '%/p/39'`)
	if followed+own != 1 {
		t.Errorf("/p/39 stored %d times as /p/1's target and %d as its own page, want once in all", followed, own)
	}
	if followed == 1 && count(t, path, `SELECT COUNT(*) FROM urls WHERE url LIKE '%/p/39' AND state = 'done'`) != 1 {
		t.Errorf("followed redirect target not recorded as done in urls")
	}
	if got := count(t, path, `SELECT COUNT(*) FROM pages WHERE url LIKE '%/p/2' AND status = 302 AND error LIKE '%out of scope%'`); got != 1 {
		t.Errorf("out-of-scope redirect not recorded as a 302 stopped for scope")
	}
}

func TestFailed(t *testing.T) {
	tests := []struct {
		name   string
		status int
		err    error
		want   bool
	}{
		{"ok", 200, nil, false},
		{"not found", 404, &fetch.StatusError{Code: 404}, false},
		{"server error", 503, &fetch.StatusError{Code: 503}, true},
		{"no response", 0, errors.New("connection refused"), true},
		{"robots denied", 0, fmt.Errorf("fetch: %w", fetch.ErrDisallowed), false},
		{"address refused", 0, fmt.Errorf("fetch http://internal.test/: %w", fetch.ErrForbiddenAddress), false},
		{"redirect stopped", 301, errors.New("redirect target out of scope"), false},
	}
	for _, tt := range tests {
		if got := failed(tt.status, tt.err); got != tt.want {
			t.Errorf("%s: failed(%d, %v) = %v, want %v", tt.name, tt.status, tt.err, got, tt.want)
		}
	}
}
