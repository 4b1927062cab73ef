package crawl

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/trawl/trawl/fetch"
)

// deniedSite serves robots.txt disallowing /private/, a root page linking
// to n pages under /private/ and to /a, and /a linking to /b. It counts the
// requests under /private/ and the pages served.
type deniedSite struct {
	*httptest.Server
	mu      sync.Mutex
	private int
	served  []string
}

func startDeniedSite(t *testing.T, n int) *deniedSite {
	t.Helper()
	s := &deniedSite{}
	var root strings.Builder
	root.WriteString("<html><head><title>root</title></head><body>")
	for i := range n {
		fmt.Fprintf(&root, `<a href="/private/%d">p</a>`, i)
	}
	root.WriteString(`<a href="/a">a</a></body></html>`)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.served = append(s.served, r.URL.Path)
		if strings.HasPrefix(r.URL.Path, "/private/") {
			s.private++
		}
		s.mu.Unlock()
		switch r.URL.Path {
		case "/robots.txt":
			fmt.Fprint(w, "User-agent: *\nDisallow: /private/\n")
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, root.String())
		case "/a":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<html><title>a</title><a href="/b">b</a><a href="/private/a">p</a></html>`)
		default:
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, `<html><title>leaf</title></html>`)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *deniedSite) counts() (private int, served []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.private, append([]string(nil), s.served...)
}

// TestRobotsDeniedAtDiscovery: links into a tree robots.txt disallows,
// found once the host's robots.txt is known, are dropped as "robots" when
// they are discovered: never queued, never requested, and they cost the
// host's politeness nothing (at 2 requests a second, 10,000 such links took
// 83 minutes of politeness waits before).
func TestRobotsDeniedAtDiscovery(t *testing.T) {
	const links = 9_000 // under the extractor's default cap of 10,000 links a page
	site := startDeniedSite(t, links)
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	e, err := runCrawl(t, t.Context(), db,
		fetch.Config{Concurrency: 4, PerHost: 1, Rate: 2, Burst: 1},
		Config{Workers: 4, PerHost: 1, MaxDepth: -1}, []string{site.URL + "/"})
	if err != nil {
		t.Fatal(err)
	}
	private, served := site.counts()
	if private != 0 {
		t.Errorf("%d requests under /private/, want none", private)
	}
	if want := []string{"/robots.txt", "/", "/a", "/b"}; strings.Join(served, " ") != strings.Join(want, " ") {
		t.Errorf("served %q, want %q", served, want)
	}
	if got := dropCount(t, path, dropRobots); got != links+1 {
		t.Errorf(`"robots" drops = %d, want %d (every link under /private/)`, got, links+1)
	}
	if got := count(t, path, `SELECT count(*) FROM urls WHERE url LIKE '%/private/%'`); got != 0 {
		t.Errorf("%d URLs under /private/ queued, want none", got)
	}
	if got := count(t, path, `SELECT count(*) FROM links WHERE dst_url LIKE '%/private/%'`); got != links+1 {
		t.Errorf("%d links under /private/ recorded, want %d: a dropped link is still a link", got, links+1)
	}
	s := e.Progress()
	if s.RobotsDenied != 0 {
		t.Errorf("Progress.RobotsDenied = %d, want 0: no URL of the crawl was refused, links were dropped", s.RobotsDenied)
	}
	// The politeness waits the host imposed: the 3 pages after the first at
	// 2 a second, not one per denied URL.
	if held := s.Frontier.Held.Seconds(); held > 3*0.5+0.5 {
		t.Errorf("politeness waits of %.1f s, want about 1.5 s (3 pages at 2/s)", held)
	}
}

// TestRobotsDeniedWhenRobotsArrives: URLs queued before their host's
// robots.txt was read (seeds, links from another host) and then disallowed
// by it are handed out without a politeness token and recorded as refused
// by robots.txt, with a drop each; none is requested.
func TestRobotsDeniedWhenRobotsArrives(t *testing.T) {
	const seeds = 200
	site := startDeniedSite(t, 0)
	list := []string{site.URL + "/"}
	for i := range seeds {
		list = append(list, fmt.Sprintf("%s/private/s%d", site.URL, i))
	}
	path := filepath.Join(t.TempDir(), "crawl.db")
	db := openDB(t, path)
	e, err := runCrawl(t, t.Context(), db,
		fetch.Config{Concurrency: 4, PerHost: 1, Rate: 2, Burst: 1},
		Config{Workers: 4, PerHost: 1, MaxDepth: -1}, list)
	if err != nil {
		t.Fatal(err)
	}
	private, served := site.counts()
	if private != 0 {
		t.Errorf("%d requests under /private/, want none", private)
	}
	if len(served) != 4 { // robots.txt, /, /a, /b
		t.Errorf("served %q, want robots.txt and 3 pages", served)
	}
	if got := count(t, path, `SELECT count(*) FROM pages WHERE error_class = 'robots' AND status = 0`); got != seeds {
		t.Errorf("%d seeds recorded as refused by robots.txt, want %d", got, seeds)
	}
	if got := count(t, path, `SELECT count(*) FROM urls WHERE state = 'queued'`); got != 0 {
		t.Errorf("%d URLs left queued, want none", got)
	}
	if got := dropCount(t, path, dropRobots); got != seeds+1 { // the seeds, and /a's link
		t.Errorf(`"robots" drops = %d, want %d`, got, seeds+1)
	}
	// One token for the first URL of the host (robots.txt is read for it),
	// then only the 3 pages: at 2 a second, about 1.5 s of waits, where
	// each refused seed took half a second before.
	if held := e.Progress().Frontier.Held.Seconds(); held > 4*0.5+0.5 {
		t.Errorf("politeness waits of %.1f s, want about 2 s", held)
	}
}
