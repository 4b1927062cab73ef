package crawl

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/testserver"
)

// html is a response override serving body as an HTML page, with extra
// headers.
func html(body string, header ...string) testserver.Response {
	h := map[string]string{"Content-Type": "text/html; charset=utf-8"}
	for i := 0; i+1 < len(header); i += 2 {
		h[header[i]] = header[i+1]
	}
	return testserver.Response{Body: "<!doctype html><html><head>" + body + "</html>", Header: h}
}

// directiveSite serves a root linking to pages that each carry one
// directive, each pointing on to its own target /t/<name> (404s: what
// matters is whether they are requested).
func directiveSite() testserver.SiteConfig {
	pages := []string{"/meta-nofollow", "/hdr-nofollow", "/meta-noindex", "/hdr-noindex", "/refresh-meta",
		"/hdr-links", "/location-201", "/dup", "/nofollow-link"}
	var root strings.Builder
	for _, p := range pages {
		fmt.Fprintf(&root, `<a href="%s">%s</a> `, p, p)
	}
	return testserver.SiteConfig{Pages: 1, Overrides: map[string]testserver.Response{
		"/":              html("<title>root</title></head><body>" + root.String()),
		"/meta-nofollow": html(`<meta name="robots" content="nofollow"></head><body><a href="/t/meta-nofollow">x</a>`),
		"/hdr-nofollow":  html(`</head><body><a href="/t/hdr-nofollow">x</a>`, "X-Robots-Tag", "nofollow"),
		"/meta-noindex":  html(`<meta name="ROBOTS" content="NOINDEX"></head><body><a href="/t/meta-noindex">x</a>`),
		"/hdr-noindex":   html(`</head><body><a href="/t/hdr-noindex">x</a>`, "X-Robots-Tag", "trawl: noindex"),
		"/refresh-meta":  html(`<meta http-equiv="refresh" content="0; url=/t/refresh-meta"></head><body>`),
		"/hdr-links": html(`</head><body>`, "Link", `</t/link-next>; rel="next", </t/link-canonical>; rel=canonical`,
			"Refresh", "5; url=/t/refresh-header"),
		"/location-201":  {Status: 201, Body: "created", Header: map[string]string{"Content-Type": "text/plain", "Location": "/t/created"}},
		"/dup":           html(`<link rel="canonical" href="/t/canonical"></head><body><a href="/t/dup-link">x</a>`),
		"/nofollow-link": html(`</head><body><a rel="nofollow" href="/t/rel-nofollow">x</a><a href="/t/followed">y</a>`),
	}}
}

// TestDirectives crawls pages that carry robots directives in meta tags and
// X-Robots-Tag headers, links in meta refresh, Link, Refresh and Location
// headers, and a rel=canonical, and checks what was requested at the server
// and what was recorded.
func TestDirectives(t *testing.T) {
	r, site := crawlBounded(t, run{Site: directiveSite(), Fetch: fetch.Config{IgnoreRobots: true}, Crawl: Config{Workers: 4, MaxDepth: -1}})
	if r.err != nil {
		t.Fatal(r.err)
	}
	host := site.Hosts()[0]
	requested := map[string]bool{
		"/t/meta-nofollow": false, "/t/hdr-nofollow": false, "/t/rel-nofollow": false, // nofollow: not followed
		"/t/meta-noindex": true, "/t/hdr-noindex": true, // noindex does not stop links
		"/t/refresh-meta": true, "/t/link-next": true, "/t/refresh-header": true, "/t/created": true,
		"/t/dup-link": true, "/t/followed": true, // without CanonicalIdentity the page's links count
		"/t/link-canonical": false, "/t/canonical": false, // a canonical is recorded, not queued
	}
	for p, want := range requested {
		if got := site.Hits(host, p) > 0; got != want {
			t.Errorf("%s requested: %v, want %v", p, got, want)
		}
	}
	flags := map[string][2]int{ // noindex, nofollow
		"/meta-nofollow": {0, 1}, "/hdr-nofollow": {0, 1}, "/meta-noindex": {1, 0}, "/hdr-noindex": {1, 0}, "/refresh-meta": {0, 0},
	}
	for p, want := range flags {
		u := "http://" + host + p
		if got := count(t, r.path, `SELECT noindex FROM pages WHERE url = ?`, u); got != want[0] {
			t.Errorf("%s noindex = %d, want %d", p, got, want[0])
		}
		if got := count(t, r.path, `SELECT nofollow FROM pages WHERE url = ?`, u); got != want[1] {
			t.Errorf("%s nofollow = %d, want %d", p, got, want[1])
		}
	}
	for p, canon := range map[string]string{"/dup": "/t/canonical", "/hdr-links": "/t/link-canonical"} {
		if got := count(t, r.path, `SELECT count(*) FROM pages WHERE url = ? AND canonical = ?`, "http://"+host+p, "http://"+host+canon); got != 1 {
			t.Errorf("%s: canonical %s not recorded", p, canon)
		}
	}
	if got := dropCount(t, r.path, dropNofollow); got != 3 {
		t.Errorf(`"nofollow" drops = %d, want 3`, got)
	}
}

// TestCanonicalIdentity: with CanonicalIdentity a page whose canonical URL
// is another queues that URL instead of following its own links.
func TestCanonicalIdentity(t *testing.T) {
	r, site := crawlBounded(t, run{Site: directiveSite(), Fetch: fetch.Config{IgnoreRobots: true},
		Crawl: Config{Workers: 4, MaxDepth: -1, CanonicalIdentity: true}, Paths: []string{"/dup"}})
	if r.err != nil {
		t.Fatal(r.err)
	}
	host := site.Hosts()[0]
	if site.Hits(host, "/t/canonical") != 1 || site.Hits(host, "/t/dup-link") != 0 {
		t.Errorf("canonical requested %d times (want 1), the page's own link %d (want 0)", site.Hits(host, "/t/canonical"), site.Hits(host, "/t/dup-link"))
	}
	if got := dropCount(t, r.path, dropCanonical); got != 1 {
		t.Errorf(`"canonical" drops = %d, want 1`, got)
	}
	if got := count(t, r.path, `SELECT count(*) FROM links`); got != 1 {
		t.Errorf("links stored = %d, want 1: the page's link is recorded even when not followed", got)
	}
}

// TestDropReasons: links left alone for scope, --exclude, depth and
// robots.txt are each counted under their reason.
func TestDropReasons(t *testing.T) {
	site := testserver.SiteConfig{Pages: 1, Robots: "User-agent: *\nDisallow: /private/\n", Overrides: map[string]testserver.Response{
		"/": html(`</head><body><a href="http://other.test/">out</a><a href="/skip/1">x</a><a href="/private/1">p</a>
			<a href="/deeper">d</a><a href="mailto:a@b.test">m</a>`),
		"/deeper": html(`</head><body><a href="/too-deep">x</a>`),
	}}
	r, s := crawlBounded(t, run{Site: site, Fetch: fetch.Config{},
		Crawl: Config{Workers: 2, MaxDepth: 1, Exclude: mustRegexps(t, "/skip/")}})
	if r.err != nil {
		t.Fatal(r.err)
	}
	for reason, want := range map[string]int{dropScope: 1, dropExcluded: 1, dropRobots: 1, dropDepth: 1} {
		if got := dropCount(t, r.path, reason); got != want {
			t.Errorf("drops %q = %d, want %d", reason, got, want)
		}
	}
	host := s.Hosts()[0]
	for _, p := range []string{"/skip/1", "/private/1", "/too-deep"} {
		if n := s.Hits(host, p); n != 0 {
			t.Errorf("%s requested %d times", p, n)
		}
	}
}

// TestSitemapSeeds: with Sitemaps on, the pages only the sitemaps list
// (orphans, in a gzip sitemap under an index named by robots.txt) are
// crawled; the next host's page, listed cross-host, is not; without it the
// orphans are never requested.
func TestSitemapSeeds(t *testing.T) {
	cfg := testserver.SiteConfig{Hosts: 2, Pages: 40, Sitemaps: true, Orphans: 5}
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprint("sitemaps=", on), func(t *testing.T) {
			r, site := crawlBounded(t, run{Site: cfg, Fetch: fetch.Config{}, Crawl: Config{Workers: 4, MaxDepth: -1, Sitemaps: on}, Paths: []string{"/"}})
			if r.err != nil {
				t.Fatal(r.err)
			}
			host := site.Hosts()[0]
			got := site.HitsWithPrefix(host, testserver.PathOrphanPrefix)
			if want := map[bool]int{false: 0, true: 5}[on]; got != want {
				t.Errorf("orphans requested %d times, want %d", got, want)
			}
			if n := count(t, r.path, `SELECT count(*) FROM pages WHERE host = ?`, site.Hosts()[1]); n != 0 {
				t.Errorf("%d pages of the other host fetched: out of scope", n)
			}
			if on {
				if n := count(t, r.path, `SELECT count(*) FROM sitemaps WHERE url LIKE '%.xml%'`); n < 3 {
					t.Errorf("sitemaps recorded: %d, want the index and its two parts", n)
				}
				if d := site.Duplicates(); len(d) > 0 {
					t.Errorf("pages fetched twice: %v", d)
				}
			}
		})
	}
}

func mustRegexps(t *testing.T, exprs ...string) []*regexp.Regexp {
	t.Helper()
	out := make([]*regexp.Regexp, len(exprs))
	for i, e := range exprs {
		out[i] = regexp.MustCompile(e)
	}
	return out
}
