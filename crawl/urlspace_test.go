package crawl

import (
	"testing"
	"time"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/testserver"
)

// The URL-space tests (issue 11): with the default settings (unlimited
// depth, no host cap) and the text fingerprints cmd/crawler computes, each
// infinite space of the testserver ends by itself, its end recorded as
// "url-space" drops; and the two legitimate sites whose URLs are numbered
// the same way are crawled whole, nothing dropped.

// simhashExtract is the extractor configuration of cmd/crawler: SimHash
// fingerprints of every page's text.
var simhashExtract = extract.Config{NewTextHasher: func() extract.TextHasher { return new(dedupe.SimHasher) }}

// spaceCrawl is the default crawl: unlimited depth, the default URL-space
// settings.
var spaceCrawl = Config{Workers: 8, PerHost: 4, MaxDepth: -1}

// maxSpacePages bounds what a crawl may fetch of one space: the default run
// of 50 pages closes it, and the URLs queued before that are fetched.
const maxSpacePages = 400

func TestURLSpaces(t *testing.T) {
	spaces := testserver.SpaceEntries()
	tests := []struct {
		name, entry, prefix string
	}{
		{"calendar in the path", trapEntry(t, testserver.PathTrapCalendar)[0], testserver.PathTrapCalendar},
		{"calendar in the query", spaces[0], testserver.PathTrapEvents},
		{"next-page chain", spaces[1], testserver.PathTrapList},
		{"ever-changing ids", spaces[2], testserver.PathTrapItem},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, site := crawlBounded(t, run{Site: trapSite, Fetch: trapFetch, Extract: simhashExtract, Crawl: spaceCrawl,
				Paths: []string{tc.entry}, Deadline: 30 * time.Second})
			checkTrapRun(t, r, site)
			prefix := tc.prefix
			got := site.HitsWithPrefix(site.Hosts()[0], prefix)
			if got < 50 || got > maxSpacePages {
				t.Errorf("%s: %d pages fetched, want 50 (the run that closes it) to %d", prefix, got, maxSpacePages)
			}
			if n := dropCount(t, r.path, dropURLSpace); n == 0 {
				t.Errorf(`no "url-space" drops recorded`)
			}
			t.Logf("%s: %d pages fetched, %d url-space drops", prefix, got, dropCount(t, r.path, dropURLSpace))
		})
	}
}

// TestURLSpacesOff: with the detector off, the calendar in the path goes on
// until the host cap ends it, and nothing is dropped as "url-space".
func TestURLSpacesOff(t *testing.T) {
	r, site := crawlBounded(t, run{Site: trapSite, Fetch: trapFetch, Extract: simhashExtract, Paths: trapEntry(t, testserver.PathTrapCalendar),
		Crawl: Config{Workers: 8, PerHost: 4, MaxDepth: -1, MaxPagesPerHost: 600, URLSpaces: dedupe.URLSpaceConfig{MaxRun: -1}}})
	checkTrapRun(t, r, site)
	if got := site.HitsWithPrefix(site.Hosts()[0], testserver.PathTrapCalendar); got < 599 {
		t.Errorf("calendar pages fetched: %d, want the host cap (600, the seed included)", got)
	}
	if n := dropCount(t, r.path, dropURLSpace); n != 0 {
		t.Errorf(`%d "url-space" drops with the detector off`, n)
	}
}

// legitFetch fetches the legitimate sites fast.
var legitFetch = fetch.Config{IgnoreRobots: true, PerHost: 8, Timeout: 10 * time.Second}

// TestURLSpacesNumberedSite: a 20,000-page site numbered /p/0 ... /p/19999,
// whose pages link to one another (one pattern, and text of the same words),
// is crawled whole with the default settings.
func TestURLSpacesNumberedSite(t *testing.T) {
	if testing.Short() {
		t.Skip("crawls 20,000 pages")
	}
	const pages = 20_000
	r, site := crawlBounded(t, run{Site: testserver.SiteConfig{Pages: pages, PageSize: 2048}, Fetch: legitFetch, Extract: simhashExtract,
		Crawl: Config{Workers: 16, PerHost: 8, MaxDepth: -1}, Deadline: 5 * time.Minute})
	if r.err != nil {
		t.Fatal(r.err)
	}
	if got := site.PagesServed(); got != pages {
		t.Errorf("pages fetched: %d of %d", got, pages)
	}
	if d := site.Duplicates(); len(d) > 0 {
		t.Errorf("pages fetched twice: %v", d[:min(len(d), 5)])
	}
	if n := dropCount(t, r.path, dropURLSpace); n != 0 {
		t.Errorf(`%d "url-space" drops on a legitimate site`, n)
	}
}

// TestURLSpacesBlog: a blog of 2,000 listing pages of "older posts"
// pagination, 5 posts each, is crawled whole with the default settings.
func TestURLSpacesBlog(t *testing.T) {
	if testing.Short() {
		t.Skip("crawls 12,000 pages")
	}
	const pages = 2000
	r, site := crawlBounded(t, run{Site: testserver.SiteConfig{Pages: 1, Blog: pages}, Fetch: legitFetch, Extract: simhashExtract,
		Crawl: Config{Workers: 16, PerHost: 8, MaxDepth: -1}, Paths: []string{testserver.PathBlog}, Deadline: 5 * time.Minute})
	if r.err != nil {
		t.Fatal(r.err)
	}
	host := site.Hosts()[0]
	if got, want := len(site.PathsWithPrefix(host, testserver.PathBlog)), pages*(1+testserver.BlogPostsPerPage); got != want {
		t.Errorf("blog pages fetched: %d, want %d (every listing page and post)", got, want)
	}
	if d := site.Duplicates(); len(d) > 0 {
		t.Errorf("pages fetched twice: %v", d[:min(len(d), 5)])
	}
	if n := dropCount(t, r.path, dropURLSpace); n != 0 {
		t.Errorf(`%d "url-space" drops on a legitimate site`, n)
	}
}
