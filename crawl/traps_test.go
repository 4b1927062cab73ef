package crawl

import (
	"strings"
	"testing"
	"time"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/testserver"
)

// trapSite is a one-host site that serves every trap; each test seeds the
// entry of one.
var trapSite = testserver.SiteConfig{Pages: 20, LinksPerPage: 3, Traps: true}

// trapEntry returns the entry path of the trap under prefix.
func trapEntry(t *testing.T, prefix string) []string {
	for _, e := range testserver.TrapEntries() {
		if strings.HasPrefix(e, prefix) {
			return []string{e}
		}
	}
	t.Fatalf("no trap entry under %s", prefix)
	return nil
}

// trapFetch fetches loopback test servers as fast as they answer.
var trapFetch = fetch.Config{IgnoreRobots: true, PerHost: 4, Timeout: 5 * time.Second}

// heapCap is what a trap crawl may add to the live heap: the traps are
// thousands of small pages, never a big one.
const heapCap = 64 << 20

// checkTrapRun asserts the common outcome of a trap crawl: it ended without
// error, fetched nothing twice, and the heap stayed small.
func checkTrapRun(t *testing.T, r *bounded, site *testserver.Site) {
	t.Helper()
	if r.err != nil {
		t.Fatalf("crawl: %v", r.err)
	}
	if r.peakHeap > heapCap {
		t.Errorf("peak heap grew by %d MiB, want under %d MiB", r.peakHeap>>20, heapCap>>20)
	}
	if d := site.Duplicates(); len(d) > 0 {
		t.Errorf("pages fetched twice: %v", d[:min(len(d), 5)])
	}
}

// TestTrapCalendar: an endless calendar is ended by the depth budget; the
// pages past it are dropped as "depth".
func TestTrapCalendar(t *testing.T) {
	r, site := crawlBounded(t, run{Site: trapSite, Fetch: trapFetch, Paths: trapEntry(t, testserver.PathTrapCalendar), Crawl: Config{Workers: 8, PerHost: 4, MaxDepth: 8}})
	checkTrapRun(t, r, site)
	host := site.Hosts()[0]
	got := site.HitsWithPrefix(host, testserver.PathTrapCalendar)
	// Within 8 hops of ±1 month and ±1 year at most 17×17 months are reachable.
	if got == 0 || got > 17*17 {
		t.Errorf("calendar pages fetched: %d, want 1 to %d", got, 17*17)
	}
	if dropCount(t, r.path, dropDepth) == 0 {
		t.Error(`no "depth" drops recorded`)
	}
}

// TestTrapCalendarHostCap: the same calendar with no depth limit is ended by
// --max-pages-per-host.
func TestTrapCalendarHostCap(t *testing.T) {
	r, site := crawlBounded(t, run{Site: trapSite, Fetch: trapFetch, Paths: trapEntry(t, testserver.PathTrapCalendar), Crawl: Config{Workers: 8, PerHost: 4, MaxDepth: -1, MaxPagesPerHost: 400}})
	if r.err != nil {
		t.Fatal(r.err)
	}
	host := site.Hosts()[0]
	if got := count(t, r.path, `SELECT count(*) FROM pages`); got > 400 {
		t.Errorf("pages fetched: %d, want at most 400", got)
	}
	if got := count(t, r.path, `SELECT count(*) FROM urls`); got != 400 {
		t.Errorf("URLs queued: %d, want exactly the cap, 400", got)
	}
	if site.HitsWithPrefix(host, testserver.PathTrapCalendar) == 0 || dropCount(t, r.path, dropHostCap) == 0 {
		t.Error(`calendar not reached, or no "host-cap" drops recorded`)
	}
	if r.peakHeap > heapCap {
		t.Errorf("peak heap grew by %d MiB, want under %d MiB", r.peakHeap>>20, heapCap>>20)
	}
}

// TestTrapDeepPath: an ever-deeper path ends at the path-depth cap.
func TestTrapDeepPath(t *testing.T) {
	r, site := crawlBounded(t, run{Site: trapSite, Fetch: trapFetch, Paths: trapEntry(t, testserver.PathTrapDeep), Crawl: Config{Workers: 8, PerHost: 4, MaxDepth: -1, Traps: dedupe.TrapConfig{MaxPathDepth: 12}}})
	checkTrapRun(t, r, site)
	paths := site.PathsWithPrefix(site.Hosts()[0], testserver.PathTrapDeep)
	if len(paths) == 0 {
		t.Fatal("the deep-path trap was never entered")
	}
	for _, p := range paths {
		if n := strings.Count(p, "/"); n > 12 {
			t.Errorf("fetched %s, %d segments deep, past the cap of 12", p, n)
		}
	}
	if dropCount(t, r.path, "path-depth") == 0 {
		t.Error(`no "path-depth" drops recorded`)
	}
}

// TestTrapRepeatedSegments: /trap/loop/a/b/a/b/... ends at the repeat cap,
// long before the path-depth cap.
func TestTrapRepeatedSegments(t *testing.T) {
	r, site := crawlBounded(t, run{Site: trapSite, Fetch: trapFetch, Paths: trapEntry(t, testserver.PathTrapLoop), Crawl: Config{Workers: 8, PerHost: 4, MaxDepth: -1}})
	checkTrapRun(t, r, site)
	paths := site.PathsWithPrefix(site.Hosts()[0], testserver.PathTrapLoop)
	if len(paths) == 0 || len(paths) > 4 { // /trap/loop/ and a/b repeated 1 to 3 times
		t.Errorf("loop pages fetched: %v, want 1 to 4", paths)
	}
	if dropCount(t, r.path, "repeated-segments") == 0 {
		t.Error(`no "repeated-segments" drops recorded`)
	}
}

// TestTrapSessionIDs: session ids and tracking parameters are stripped, so
// the session trap is its five real pages, each fetched once.
func TestTrapSessionIDs(t *testing.T) {
	r, site := crawlBounded(t, run{Site: trapSite, Fetch: trapFetch, Paths: trapEntry(t, testserver.PathTrapSession), Crawl: Config{Workers: 8, PerHost: 4, MaxDepth: -1}})
	checkTrapRun(t, r, site)
	host := site.Hosts()[0]
	if got := site.HitsWithPrefix(host, testserver.PathTrapSession); got != testserver.TrapSessionPages {
		t.Errorf("session pages requested %d times (%v), want %d", got, site.PathsWithPrefix(host, testserver.PathTrapSession), testserver.TrapSessionPages)
	}
	if got := count(t, r.path, `SELECT count(*) FROM urls WHERE url LIKE '%/trap/session/%' AND (url LIKE '%sid%' OR url LIKE '%utm_%' OR url LIKE '%SESSID%')`); got != 0 {
		t.Errorf("%d URLs kept a session id or tracking parameter", got)
	}
}

// TestTrapQueryVariants: a search page with endless query variants ends at
// the per-path variant cap.
func TestTrapQueryVariants(t *testing.T) {
	const variants = 30
	r, site := crawlBounded(t, run{Site: trapSite, Fetch: trapFetch, Paths: trapEntry(t, testserver.PathTrapSearch), Crawl: Config{Workers: 8, PerHost: 4, MaxDepth: -1, Traps: dedupe.TrapConfig{MaxQueryVariants: variants}}})
	checkTrapRun(t, r, site)
	got := site.HitsWithPrefix(site.Hosts()[0], testserver.PathTrapSearch)
	if got == 0 || got > variants+1 { // the seed is not checked: seeds are the user's
		t.Errorf("search variants fetched: %d, want 1 to %d", got, variants+1)
	}
	if dropCount(t, r.path, "query-variants") == 0 {
		t.Error(`no "query-variants" drops recorded`)
	}
}

// TestTrapURLLength: URLs over the length cap are dropped as "too-long";
// the deep-path trap grows its URL with every level.
func TestTrapURLLength(t *testing.T) {
	r, site := crawlBounded(t, run{Site: trapSite, Fetch: trapFetch, Paths: trapEntry(t, testserver.PathTrapDeep), Crawl: Config{Workers: 8, PerHost: 4, MaxDepth: -1,
		Traps: dedupe.TrapConfig{MaxURLLen: 60, MaxPathDepth: -1}}})
	checkTrapRun(t, r, site)
	if got := count(t, r.path, `SELECT count(*) FROM urls WHERE length(url) > 60`); got != 0 {
		t.Errorf("%d URLs over 60 bytes queued", got)
	}
	if dropCount(t, r.path, "too-long") == 0 {
		t.Error(`no "too-long" drops recorded`)
	}
}

// TestLinksPerPageCap: a page with 100,000 links gives the first MaxLinks,
// is marked links_capped, and the cap is counted as a drop.
func TestLinksPerPageCap(t *testing.T) {
	r, _ := crawlBounded(t, run{Site: testserver.SiteConfig{Pages: 1, Hostile: true}, Fetch: trapFetch,
		Crawl: Config{Workers: 4, PerHost: 4, MaxDepth: 0}, Extract: extract.Config{MaxLinks: 1000},
		Paths: []string{testserver.PathManyLinks}})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := count(t, r.path, `SELECT count(*) FROM links`); got != 1000 {
		t.Errorf("links stored: %d, want the cap, 1000", got)
	}
	if got := count(t, r.path, `SELECT links_capped FROM pages WHERE url LIKE '%many-links'`); got != 1 {
		t.Errorf("links_capped = %d, want 1", got)
	}
	if got := dropCount(t, r.path, dropLinkCap); got != 1 {
		t.Errorf(`"link-cap" drops = %d, want 1 (one page)`, got)
	}
	if r.peakHeap > heapCap {
		t.Errorf("peak heap grew by %d MiB, want under %d MiB", r.peakHeap>>20, heapCap>>20)
	}
}
