package testserver

import (
	"compress/gzip"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// xmlURLSet is the part of a sitemap urlset or sitemapindex the tests read.
type xmlURLSet struct {
	XMLName  xml.Name
	URLs     []xmlLoc `xml:"url"`
	Sitemaps []xmlLoc `xml:"sitemap"`
}

type xmlLoc struct {
	Loc     string `xml:"loc"`
	LastMod string `xml:"lastmod"`
}

// decodeSitemap parses body as a sitemap and returns its root element's name
// and locs.
func decodeSitemap(t *testing.T, body string) (string, []string) {
	t.Helper()
	var set xmlURLSet
	if err := xml.Unmarshal([]byte(body), &set); err != nil {
		t.Fatalf("sitemap does not parse: %v\n%s", err, body)
	}
	if set.XMLName.Space != "http://www.sitemaps.org/schemas/sitemap/0.9" {
		t.Errorf("sitemap namespace %q", set.XMLName.Space)
	}
	var locs []string
	for _, l := range slices.Concat(set.URLs, set.Sitemaps) {
		locs = append(locs, l.Loc)
		if l.LastMod != "" {
			if _, err := time.Parse("2006-01-02", l.LastMod); err != nil {
				if _, err := time.Parse(time.RFC3339, l.LastMod); err != nil {
					t.Errorf("lastmod %q is not a W3C datetime", l.LastMod)
				}
			}
		}
	}
	return set.XMLName.Local, locs
}

func TestSitemaps(t *testing.T) {
	s := start(t, SiteConfig{Hosts: 2, Pages: 9, Sitemaps: true, Orphans: 3})
	c := timeoutClient(10 * time.Second)
	h0, h1 := "http://"+s.Hosts()[0], "http://"+s.Hosts()[1]

	robots := get(t, c, h0+"/robots.txt")
	if want := "User-agent: *\nDisallow:\nSitemap: " + h0 + PathSitemapIndex + "\n"; robots.status != 200 || robots.body != want {
		t.Errorf("robots.txt = %d %q, want %q", robots.status, robots.body, want)
	}

	kind, locs := decodeSitemap(t, get(t, c, h0+PathSitemapIndex).body)
	if want := []string{h0 + PathSitemapPart1, h0 + PathSitemapPart2}; kind != "sitemapindex" || !slices.Equal(locs, want) {
		t.Errorf("sitemap index: <%s> %q, want <sitemapindex> %q", kind, locs, want)
	}

	pages := []string{h0 + "/"}
	for i := 0; i < 9; i += 2 {
		pages = append(pages, s.PageURL(i))
	}
	orphans := []string{s.OrphanURL(0, 0), s.OrphanURL(0, 1), s.OrphanURL(0, 2)}

	part1 := get(t, c, h0+PathSitemapPart1)
	kind, locs = decodeSitemap(t, part1.body)
	if want := append(slices.Clone(pages), s.PageURL(1)); kind != "urlset" || !slices.Equal(locs, want) {
		t.Errorf("%s: <%s> %q, want <urlset> %q", PathSitemapPart1, kind, locs, want)
	}
	if ct := part1.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
		t.Errorf("%s Content-Type %q", PathSitemapPart1, ct)
	}

	part2 := get(t, c, h0+PathSitemapPart2) // the transport adds no Accept-Encoding: DisableCompression
	if part2.header.Get("Content-Type") != "application/gzip" || part2.header.Get("Content-Encoding") != "" {
		t.Errorf("%s: Content-Type %q, Content-Encoding %q; want application/gzip and none", PathSitemapPart2,
			part2.header.Get("Content-Type"), part2.header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(strings.NewReader(part2.body))
	if err != nil {
		t.Fatalf("%s is not gzip: %v", PathSitemapPart2, err)
	}
	xmlBody, err := io.ReadAll(io.LimitReader(zr, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	_, locs = decodeSitemap(t, string(xmlBody))
	if want := append([]string{h0 + "/"}, orphans...); !slices.Equal(locs, want) {
		t.Errorf("%s lists %q, want %q", PathSitemapPart2, locs, want)
	}

	_, locs = decodeSitemap(t, get(t, c, h0+PathSitemap).body)
	if want := slices.Concat(pages, orphans); !slices.Equal(locs, want) {
		t.Errorf("%s lists %q, want %q", PathSitemap, locs, want)
	}
	_, locs = decodeSitemap(t, get(t, c, h1+PathSitemapPart1).body)
	if want := []string{h1 + "/", s.PageURL(1), s.PageURL(3), s.PageURL(5), s.PageURL(7), s.PageURL(0)}; !slices.Equal(locs, want) {
		t.Errorf("host 1 %s lists %q, want %q", PathSitemapPart1, locs, want)
	}

	// Orphans are pages that nothing links to.
	for _, o := range orphans {
		if got := get(t, c, o); got.status != 200 || !strings.Contains(got.body, "<title>Orphan ") {
			t.Errorf("GET %s: %d, want an orphan page", o, got.status)
		}
	}
	for _, bad := range []string{s.OrphanURL(0, 3), h0 + "/orphan/01", h0 + "/orphan/", h0 + "/sitemaps/3.xml"} {
		if got := get(t, c, bad); got.status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, got.status)
		}
	}
	crawled := bfs(t, s, c) // fails on any link that is not a page
	if crawled.pages != 9 {
		t.Errorf("a crawl from the roots found %d pages, want 9 and no orphans", crawled.pages)
	}
	if got := s.HitsWithPrefix(s.Hosts()[0], PathOrphanPrefix); got != 3+3 {
		t.Errorf("HitsWithPrefix(orphans) = %d, want 6", got)
	}
}

func TestSitemapRobotsLine(t *testing.T) {
	c := timeoutClient(10 * time.Second)
	s := start(t, SiteConfig{Sitemaps: true, Robots: "User-agent: *\nDisallow: /x"})
	h := "http://" + s.Hosts()[0]
	if got, want := get(t, c, h+"/robots.txt").body, "User-agent: *\nDisallow: /x\nSitemap: "+h+PathSitemapIndex+"\n"; got != want {
		t.Errorf("robots.txt with Robots = %q, want %q", got, want)
	}
	s = start(t, SiteConfig{Sitemaps: true, RobotsMode: RobotsRedirect})
	h = "http://" + s.Hosts()[0]
	if got, want := get(t, c, h+"/robots.txt").body, RobotsRules+"Sitemap: "+h+PathSitemapIndex+"\n"; got != want {
		t.Errorf("redirected robots.txt = %q, want %q", got, want)
	}
	s = start(t, SiteConfig{Sitemaps: true, RobotsMode: RobotsHuge})
	h = "http://" + s.Hosts()[0]
	if got, want := get(t, c, h+"/robots.txt").body, "Sitemap: "+h+PathSitemapIndex+"\n"+RobotsRules; !strings.HasPrefix(got, want) {
		t.Errorf("huge robots.txt starts %q, want %q", got[:100], want)
	}
}

func TestSitemapCap(t *testing.T) {
	s := start(t, SiteConfig{Pages: MaxSitemapURLs + 10, Sitemaps: true, Orphans: 5})
	_, locs := decodeSitemap(t, get(t, timeoutClient(30*time.Second), "http://"+s.Hosts()[0]+PathSitemap).body)
	if len(locs) != MaxSitemapURLs || locs[len(locs)-1] != s.PageURL(MaxSitemapURLs-2) {
		t.Errorf("%s of a big site lists %d URLs ending %s, want %d ending with page %d",
			PathSitemap, len(locs), locs[len(locs)-1], MaxSitemapURLs, MaxSitemapURLs-2)
	}
}

func TestRobotsModes(t *testing.T) {
	tests := []struct {
		mode   string
		status int
		header string // "Key: value" expected
		body   func(string) bool
	}{
		{RobotsHuge, 200, "Content-Type: text/plain; charset=utf-8", func(b string) bool {
			return len(b) >= HugeRobotsSize && len(b) < HugeRobotsSize+100 && strings.HasPrefix(b[:500<<10], RobotsRules) &&
				strings.Count(b, "\n") > 50_000
		}},
		{RobotsRedirect, 301, "Location: " + PathRobotsReal, nil},
		{Robots404, 404, "", nil},
		{Robots500, 500, "", nil},
		{Robots429, 429, "Retry-After: 1", nil},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			s := start(t, SiteConfig{Pages: 3, RobotsMode: tt.mode})
			h := "http://" + s.Hosts()[0]
			got := get(t, noRedirects(), h+"/robots.txt")
			if got.status != tt.status {
				t.Errorf("robots.txt status %d, want %d", got.status, tt.status)
			}
			if k, v, ok := strings.Cut(tt.header, ": "); ok && got.header.Get(k) != v {
				t.Errorf("robots.txt %s = %q, want %q", k, got.header.Get(k), v)
			}
			if tt.body != nil && !tt.body(got.body) {
				t.Errorf("robots.txt body (%d bytes) starts %q", len(got.body), got.body[:min(len(got.body), 200)])
			}
			if tt.mode == RobotsRedirect {
				if real := get(t, noRedirects(), h+PathRobotsReal); real.status != 200 || real.body != RobotsRules {
					t.Errorf("GET %s: %d %q, want %q", PathRobotsReal, real.status, real.body, RobotsRules)
				}
			} else if real := get(t, noRedirects(), h+PathRobotsReal); real.status != 404 {
				t.Errorf("GET %s in mode %s: %d, want 404", PathRobotsReal, tt.mode, real.status)
			}
			// Any mode links the root to the private page, which exists.
			if root := get(t, noRedirects(), h+"/"); !strings.Contains(root.body, `href="`+PathPrivate+`"`) {
				t.Errorf("root does not link to %s", PathPrivate)
			}
			if p := get(t, noRedirects(), h+PathPrivate); p.status != 200 {
				t.Errorf("GET %s: %d, want 200", PathPrivate, p.status)
			}
		})
	}
}

func TestRobotsSlow(t *testing.T) {
	s := start(t, SiteConfig{RobotsMode: RobotsSlow})
	host := s.Hosts()[0]
	c := timeoutClient(DripInterval + 300*time.Millisecond)
	resp, err := c.Get("http://" + host + "/robots.txt")
	if err != nil {
		t.Fatalf("GET robots.txt: %v, want the headers at once", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || err == nil || len(body) > 2 || !strings.HasPrefix(RobotsRules, string(body)) {
		t.Errorf("slow robots.txt: %d, %q, err %v; want 200, at most 2 bytes of %q, then the client's timeout",
			resp.StatusCode, body, err, RobotsRules)
	}
	waitFor(t, "the drip to end", func() bool { return s.InFlight(host) == 0 })
	if got := s.BytesWritten(host, "/robots.txt"); got != int64(len(body)) && got != int64(len(body))+1 {
		t.Errorf("BytesWritten(robots.txt) = %d, want %d", got, len(body))
	}
}

func TestStartRejectsBadModes(t *testing.T) {
	for _, cfg := range []SiteConfig{
		{RobotsMode: "bogus"},
		{RobotsMode: RobotsHuge, Robots: "User-agent: *\n"},
		{Orphans: -1},
	} {
		s, err := Start(cfg)
		if err == nil {
			s.Close()
			t.Errorf("Start(%+v) succeeded", cfg)
		} else if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Start(%+v) = %v, want ErrInvalidConfig", cfg, err)
		}
	}
}
