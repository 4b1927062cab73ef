package crawl

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/testserver"
)

// TestMemoryRobotsAcrossRuns: a crawl resumed on the same file obeys the robots.txt
// the first run fetched, without fetching it again.
func TestMemoryRobotsAcrossRuns(t *testing.T) {
	const pages, hosts = 120, 2
	site := startSite(t, testserver.SiteConfig{
		Hosts: hosts, Pages: pages, LinksPerPage: 6, PageSize: 512, Seed: 5,
		Robots: "User-agent: *\nDisallow: /p/7\nDisallow: /p/*5$\n",
	})
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	fcfg := fetch.Config{Concurrency: 8, PerHost: 2, Memory: Memory(db)}
	// Run 1 stops after a few pages, as if interrupted; run 2 finishes the crawl.
	if _, err := runCrawl(t, t.Context(), db, fcfg, Config{Workers: 4, PerHost: 2, MaxDepth: -1, MaxPages: 10}, site.Seeds()); err != nil {
		t.Fatalf("run 1: %v", err)
	}
	if got := count(t, path, `SELECT count(*) FROM urls WHERE state = 'queued'`); got == 0 {
		t.Fatal("run 1 left nothing queued: the test needs a crawl that resumes")
	}
	if got := count(t, path, `SELECT count(*) FROM robots WHERE body IS NOT NULL AND allow = 0 AND unavailable = 0`); got != hosts {
		t.Errorf("robots rows after run 1 = %d, want %d with the fetched body", got, hosts)
	}
	if _, err := runCrawl(t, t.Context(), db, fcfg, Config{Workers: 4, PerHost: 2, MaxDepth: -1}, site.Seeds()); err != nil {
		t.Fatalf("run 2: %v", err)
	}

	for _, h := range site.Hosts() {
		if got := site.Hits(h, "/robots.txt"); got != 1 {
			t.Errorf("host %s: robots.txt fetched %d times over two runs, want 1", h, got)
		}
	}
	disallowed := regexp.MustCompile(`^/p/(7|\d*5$)`)
	for _, r := range site.Requests() {
		if disallowed.MatchString(r.Path) {
			t.Errorf("disallowed %s requested from %s", r.Path, r.Host)
		}
	}
	if got := count(t, path, `SELECT count(*) FROM urls WHERE state = 'queued'`); got != 0 {
		t.Errorf("urls still queued after run 2 = %d, want 0", got)
	}
	if got := count(t, path, `SELECT count(*) FROM pages WHERE status = 200`); got < pages/2 {
		t.Errorf("pages fetched with 200 = %d, want most of %d", got, pages)
	}
}

// TestMemoryBackoffAcrossRuns: a host that answered 429 with Retry-After gets no
// request from a resumed crawl before the backoff ends.
func TestMemoryBackoffAcrossRuns(t *testing.T) {
	const retryAfter = 3 * time.Second
	site := startSite(t, testserver.SiteConfig{
		Hosts: 2, Pages: 40, LinksPerPage: 4, PageSize: 512, Seed: 9,
		Overrides: map[string]testserver.Response{
			"/": {Status: 429, Header: map[string]string{"Retry-After": "3"}, Times: 1},
		},
	})
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	fcfg := fetch.Config{Concurrency: 8, PerHost: 2, Memory: Memory(db)}
	cfg := Config{Workers: 4, PerHost: 2, MaxDepth: -1, Retries: 3}

	// Run 1: each host's root answers 429; stop the crawl before Retry-After passes.
	fc, err := fetch.New(fcfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg1 := cfg
	if cfg1.CrawlID, err = db.BeginCrawl(t.Context(), site.Seeds(), nil); err != nil {
		t.Fatal(err)
	}
	e, err := New(cfg1, db, fc, extract.New(extract.Config{}), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, site.Seeds()) }()
	refused := map[string]time.Time{} // host → end of its 429
	for deadline := time.Now().Add(10 * time.Second); len(refused) < len(site.Hosts()); {
		if time.Now().After(deadline) {
			cancel()
			<-done
			t.Fatalf("the roots were not refused in 10s: refused %v", refused)
		}
		time.Sleep(5 * time.Millisecond)
		for _, r := range site.Requests() {
			if r.Path == "/" && r.Status == 429 {
				refused[r.Host] = r.End
			}
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run 1 = %v, want context.Canceled", err)
	}
	end1 := len(site.Requests())
	for h, at := range refused {
		if time.Since(at) >= retryAfter {
			t.Fatalf("run 1 took until after %s's backoff ended: the test proves nothing", h)
		}
	}
	if got := count(t, path, `SELECT count(*) FROM backoff`); got != len(site.Hosts()) {
		t.Errorf("backoff rows after run 1 = %d, want %d", got, len(site.Hosts()))
	}

	// Run 2, a new fetch.Client on the same file: it must wait out the backoff.
	if _, err := runCrawl(t, t.Context(), db, fcfg, cfg, site.Seeds()); err != nil {
		t.Fatalf("run 2: %v", err)
	}
	reqs := site.Requests()
	if len(reqs) == end1 {
		t.Fatal("run 2 sent nothing")
	}
	for _, r := range reqs[end1:] {
		if until := refused[r.Host].Add(retryAfter); r.Start.Before(until) {
			t.Errorf("run 2 requested %s%s at %v, %v before its backoff ended", r.Host, r.Path,
				r.Start.Format("15:04:05.000"), until.Sub(r.Start))
		}
	}
	for _, h := range site.Hosts() {
		if got := site.Hits(h, "/"); got != 2 {
			t.Errorf("host %s: / requested %d times, want 2 (the 429, then once in run 2)", h, got)
		}
		if got := site.Hits(h, "/robots.txt"); got != 1 {
			t.Errorf("host %s: robots.txt (404) fetched %d times over two runs, want 1", h, got)
		}
	}
	if got := count(t, path, `SELECT count(*) FROM pages WHERE url LIKE '%/' AND status = 200`); got != len(site.Hosts()) {
		t.Errorf("roots stored with 200 = %d, want %d", got, len(site.Hosts()))
	}
	if got := count(t, path, `SELECT count(*) FROM urls WHERE state = 'queued'`); got != 0 {
		t.Errorf("urls still queued after run 2 = %d, want 0", got)
	}
}

// TestMemoryAdapter checks the translation between fetch's and storage's records,
// and that a miss is a miss, not an error (which fetch would log as a failure).
func TestMemoryAdapter(t *testing.T) {
	m := Memory(openDB(t, filepath.Join(t.TempDir(), "crawl.db")))
	if _, ok, err := m.LoadRobots(t.Context(), "https://a.test"); ok || err != nil {
		t.Errorf("LoadRobots of an unknown key = %v, %v; want false, nil", ok, err)
	}
	if _, ok, err := m.LoadBackoff(t.Context(), "a.test"); ok || err != nil {
		t.Errorf("LoadBackoff of an unknown host = %v, %v; want false, nil", ok, err)
	}
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	recs := []fetch.RobotsRecord{
		{Key: "https://a.test", Body: []byte("User-agent: *\nDisallow: /x\n"), Fetched: t0, Expires: t0.Add(24 * time.Hour)},
		{Key: "http://b.test:81", Allow: true, Fetched: t0, Expires: t0.Add(time.Hour)},
		{Key: "http://c.test", Unavailable: true, Cause: "status 503", Fetched: t0, Expires: t0.Add(time.Minute)},
	}
	for _, want := range recs {
		if err := m.SaveRobots(t.Context(), want); err != nil {
			t.Fatalf("SaveRobots(%s): %v", want.Key, err)
		}
		got, ok, err := m.LoadRobots(t.Context(), want.Key)
		if !ok || err != nil || got.Key != want.Key || string(got.Body) != string(want.Body) || got.Allow != want.Allow ||
			got.Unavailable != want.Unavailable || got.Cause != want.Cause || !got.Fetched.Equal(want.Fetched) || !got.Expires.Equal(want.Expires) {
			t.Errorf("LoadRobots(%s) = %+v, %v, %v; want %+v", want.Key, got, ok, err, want)
		}
	}
	if err := m.SaveBackoff(t.Context(), "a.test", t0.Add(3*time.Second)); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := m.LoadBackoff(t.Context(), "a.test"); !ok || err != nil || !got.Equal(t0.Add(3*time.Second)) {
		t.Errorf("LoadBackoff = %v, %v, %v; want %v", got, ok, err, t0.Add(3*time.Second))
	}
}
