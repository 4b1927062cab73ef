package testserver

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// anchorRE matches the anchors the site writes: href first, then rel.
var anchorRE = regexp.MustCompile(`<a href="([^"]*)"( rel="nofollow")?>`)

// start starts a Site and closes it when the test ends.
func start(t *testing.T, cfg SiteConfig) *Site {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// noRedirects is a client that returns redirects instead of following them.
func noRedirects() *http.Client {
	return &http.Client{
		Transport:     &http.Transport{},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

// get fetches rawURL with c and returns the whole response.
func get(t *testing.T, c *http.Client, rawURL string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", rawURL, err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// anchor is one crawlable anchor found in a served page.
type anchor struct {
	href     string
	page     int // target page number
	cross    bool
	nofollow bool
}

// crawl is the result of a breadth-first crawl of a Site.
type crawl struct {
	links   map[int][]anchor // by page number, every crawlable anchor in document order
	pages   int              // pages fetched
	anchors int              // crawlable anchors on pages (not roots)
	js      int              // javascript: and mailto: anchors
}

// bfs crawls s from its seeds with host scope, never following nofollow
// links, fetching each URL once. It checks that every page has its title and
// every crawlable link resolves to an existing page.
func bfs(t *testing.T, s *Site, c *http.Client) crawl {
	t.Helper()
	hostIndex := map[string]int{}
	for i, h := range s.Hosts() {
		hostIndex[h] = i
	}
	out := crawl{links: map[int][]anchor{}}
	seen := map[string]bool{}
	var queue []*url.URL
	for _, seed := range s.Seeds() {
		u, err := url.Parse(seed)
		if err != nil {
			t.Fatal(err)
		}
		seen[u.String()] = true
		queue = append(queue, u)
	}
	for len(queue) > 0 {
		base := queue[0]
		queue = queue[1:]
		resp := get(t, c, base.String())
		if resp.status != http.StatusOK {
			t.Fatalf("GET %s: status %d", base, resp.status)
		}
		page := -1
		if base.Path != "/" {
			page, _ = strconv.Atoi(strings.TrimPrefix(base.Path, "/p/"))
			out.pages++
			if want := "<title>Page " + strconv.Itoa(page) + "</title>"; !strings.Contains(resp.body, want) {
				t.Errorf("%s has no %s", base, want)
			}
		}
		for _, m := range anchorRE.FindAllStringSubmatch(resp.body, -1) {
			href, nofollow := m[1], m[2] != ""
			if strings.HasPrefix(href, "javascript:") || strings.HasPrefix(href, "mailto:") {
				out.js++
				continue
			}
			ref, err := url.Parse(href)
			if err != nil {
				t.Fatalf("%s: bad href %q: %v", base, href, err)
			}
			u := base.ResolveReference(ref)
			u.Fragment = ""
			j, err := strconv.Atoi(strings.TrimPrefix(u.Path, "/p/"))
			if u.Scheme != "http" || !strings.HasPrefix(u.Path, "/p/") || err != nil || j >= s.cfg.Pages ||
				hostIndex[u.Host] != j%s.cfg.Hosts || u.RawQuery != "" {
				t.Fatalf("%s: href %q resolves to %s, not a page", base, href, u)
			}
			if page >= 0 {
				out.anchors++
				out.links[page] = append(out.links[page], anchor{href, j, u.Host != base.Host, nofollow})
			} else if nofollow {
				t.Errorf("root %s: nofollow link %q", base, href)
			}
			if u.Host == base.Host && !nofollow && !seen[u.String()] {
				seen[u.String()] = true
				queue = append(queue, u)
			}
		}
	}
	return out
}

func TestGraphReachableAndConsistent(t *testing.T) {
	tests := []struct {
		name string
		cfg  SiteConfig
	}{
		{"defaults", SiteConfig{}},
		{"three hosts cross", SiteConfig{Hosts: 3, Pages: 200, LinksPerPage: 5, CrossHost: 0.3, PageSize: 512, Seed: 7}},
		{"more hosts than pages", SiteConfig{Hosts: 4, Pages: 3, LinksPerPage: 2, CrossHost: 0.5, PageSize: 100}},
		{"one link per page", SiteConfig{Hosts: 2, Pages: 40, LinksPerPage: 1, CrossHost: 1, PageSize: 100, Seed: -3}},
		{"all cross", SiteConfig{Hosts: 5, Pages: 100, LinksPerPage: 4, CrossHost: 1, PageSize: 200, Seed: 9}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.cfg)
			got := bfs(t, s, &http.Client{Transport: &http.Transport{}})
			cfg := s.cfg
			if got.pages != cfg.Pages {
				t.Errorf("crawl from seeds fetched %d pages, want %d", got.pages, cfg.Pages)
			}
			if n := s.PagesServed(); n != cfg.Pages {
				t.Errorf("PagesServed() = %d, want %d", n, cfg.Pages)
			}
			if n, want := s.TotalHits(), cfg.Pages+cfg.Hosts; n != want {
				t.Errorf("TotalHits() = %d, want %d (pages and roots once each)", n, want)
			}
			if d := s.Duplicates(); len(d) != 0 {
				t.Errorf("Duplicates() = %q after fetching each URL once", d)
			}
			if got.js != 2*(cfg.Pages+cfg.Hosts) {
				t.Errorf("found %d javascript:/mailto: anchors, want 2 per document", got.js)
			}
			for i := range cfg.Pages {
				var pages []int
				for _, a := range got.links[i] {
					pages = append(pages, a.page)
				}
				if want := s.Links(i); !slices.Equal(pages, want) {
					t.Fatalf("page %d links to %v, Links(%d) = %v", i, pages, i, want)
				}
				if len(pages) != cfg.LinksPerPage {
					t.Errorf("page %d has %d links, want %d", i, len(pages), cfg.LinksPerPage)
				}
			}
		})
	}
}

func TestGraphDeterministic(t *testing.T) {
	cfg := SiteConfig{Hosts: 3, Pages: 90, LinksPerPage: 6, CrossHost: 0.2, PageSize: 300, Seed: 42}
	graph := func(cfg SiteConfig) [][]int {
		s := start(t, cfg)
		var g [][]int
		for i := range cfg.Pages {
			g = append(g, s.Links(i))
		}
		return g
	}
	a, b := graph(cfg), graph(cfg)
	if !slices.EqualFunc(a, b, slices.Equal) {
		t.Errorf("two sites with the same config have different graphs")
	}
	cfg.Seed++
	if c := graph(cfg); slices.EqualFunc(a, c, slices.Equal) {
		t.Errorf("changing Seed did not change the graph")
	}

	// The HTML is deterministic too, up to the ports in absolute links.
	s1, s2 := start(t, cfg), start(t, cfg)
	c := &http.Client{Transport: &http.Transport{}}
	for _, i := range []int{0, 1, 44, 89} {
		b1 := get(t, c, s1.PageURL(i)).body
		b2 := get(t, c, s2.PageURL(i)).body
		for k, h := range s2.Hosts() {
			b2 = strings.ReplaceAll(b2, h, s1.Hosts()[k])
		}
		if b1 != b2 {
			t.Errorf("page %d differs between two sites with the same config", i)
		}
	}
}

func TestPageHTML(t *testing.T) {
	cfg := SiteConfig{Hosts: 3, Pages: 600, LinksPerPage: 8, CrossHost: 0.2, PageSize: 4096, Seed: 1}
	s := start(t, cfg)
	c := &http.Client{Transport: &http.Transport{}}
	forms := map[string]int{}
	var cross, random, nofollow, frags int
	for i := range cfg.Pages {
		resp := get(t, c, s.PageURL(i))
		if ct := resp.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Fatalf("page %d: Content-Type %q", i, ct)
		}
		if n := len(resp.body); n < cfg.PageSize || n > cfg.PageSize+64 {
			t.Errorf("page %d: %d bytes, want about %d", i, n, cfg.PageSize)
		}
		if !strings.Contains(resp.body, `href="javascript:`) || !strings.Contains(resp.body, `href="mailto:`) {
			t.Errorf("page %d has no javascript: or mailto: link", i)
		}
		base, _ := url.Parse(s.PageURL(i))
		for k, m := range anchorRE.FindAllStringSubmatch(resp.body, -1) {
			href := m[1]
			if strings.HasPrefix(href, "javascript:") || strings.HasPrefix(href, "mailto:") {
				continue // javascript: and mailto:
			}
			switch {
			case strings.HasPrefix(href, "http://"):
				forms["absolute"]++
			case strings.HasPrefix(href, "//"):
				forms["schemeless"]++
			case strings.HasPrefix(href, "/p/"):
				forms["root"]++
			case strings.HasPrefix(href, "../p/"):
				forms["parent"]++
			default:
				forms["sibling"]++
			}
			if strings.Contains(href, "#") {
				frags++
			}
			if m[2] != "" {
				nofollow++
			}
			ref, _ := url.Parse(href)
			isCross := base.ResolveReference(ref).Host != base.Host
			if k == 0 && i+cfg.Hosts < cfg.Pages {
				if isCross || m[2] != "" {
					t.Errorf("page %d: first link %q is not a followable same-host link", i, href)
				}
				continue // the chain link is not random
			}
			random++
			if isCross {
				cross++
			}
		}
	}
	for _, f := range []string{"absolute", "schemeless", "root", "parent", "sibling"} {
		if forms[f] == 0 {
			t.Errorf("no %s hrefs in %d pages: %v", f, cfg.Pages, forms)
		}
	}
	all := cfg.Pages * cfg.LinksPerPage
	if frac := float64(frags) / float64(all); frac < 0.1 || frac > 0.25 {
		t.Errorf("%.3f of links have a fragment, want about 1/6", frac)
	}
	if frac := float64(nofollow) / float64(all); frac < 0.06 || frac > 0.14 {
		t.Errorf("%.3f of links are nofollow, want about 0.1", frac)
	}
	if frac := float64(cross) / float64(random); math.Abs(frac-cfg.CrossHost) > 0.04 {
		t.Errorf("%.3f of random links are cross-host, want about %v", frac, cfg.CrossHost)
	}

	// With CrossHost 0 no link leaves its host.
	s0 := start(t, SiteConfig{Hosts: 4, Pages: 400, LinksPerPage: 10})
	for i := range 400 {
		for _, j := range s0.Links(i) {
			if j%4 != i%4 {
				t.Fatalf("CrossHost 0: page %d links to page %d on another host", i, j)
			}
		}
	}
}

func TestCountersAndDuplicates(t *testing.T) {
	s := start(t, SiteConfig{Hosts: 2, Pages: 10, Robots: "User-agent: *\nDisallow: /private\n"})
	h0, h1 := s.Hosts()[0], s.Hosts()[1]
	c := &http.Client{Transport: &http.Transport{}}
	reqs := []struct {
		host, path string
		status     int
	}{
		{h0, "/p/0", 200},
		{h0, "/p/0", 200},
		{h0, "/p/2", 200},
		{h0, "/robots.txt", 200},
		{h0, "/robots.txt", 200},
		{h0, "/x?y=1", 404},
		{h0, "/x?y=1", 404},
		{h0, "/p/1", 404}, // page 1 lives on host 1
		{h0, "/p/02", 404},
		{h1, "/p/1", 200},
	}
	for _, r := range reqs {
		if got := get(t, c, "http://"+r.host+r.path); got.status != r.status {
			t.Fatalf("GET %s%s: status %d, want %d", r.host, r.path, got.status, r.status)
		}
	}
	hits := []struct {
		host, path string
		want       int
	}{
		{h0, "/p/0", 2},
		{h0, "/p/2", 1},
		{h0, "/p/4", 0},
		{h0, "/robots.txt", 2},
		{h0, "/x?y=1", 2},
		{h0, "/x", 0},
		{h0, "/p/1", 1},
		{h0, "/p/02", 1},
		{h1, "/p/1", 1},
		{h1, "/p/0", 0},
		{h1, "/robots.txt", 0},
		{"127.0.0.1:1", "/p/0", 0},
	}
	for _, h := range hits {
		if got := s.Hits(h.host, h.path); got != h.want {
			t.Errorf("Hits(%q, %q) = %d, want %d", h.host, h.path, got, h.want)
		}
	}
	if got := s.TotalHits(); got != len(reqs) {
		t.Errorf("TotalHits() = %d, want %d", got, len(reqs))
	}
	if got := s.PagesServed(); got != 3 {
		t.Errorf("PagesServed() = %d, want 3 (pages 0, 1, 2)", got)
	}
	if got, want := s.Duplicates(), []string{h0 + " /p/0", h0 + " /x?y=1"}; !slices.Equal(got, want) {
		t.Errorf("Duplicates() = %q, want %q", got, want)
	}
	log := s.Requests()
	if len(log) != len(reqs) {
		t.Fatalf("Requests() has %d entries, want %d", len(log), len(reqs))
	}
	for i, r := range log {
		if r.Host != reqs[i].host || r.Path != reqs[i].path || r.Status != reqs[i].status {
			t.Errorf("Requests()[%d] = {%s %s %d}, want {%s %s %d}",
				i, r.Host, r.Path, r.Status, reqs[i].host, reqs[i].path, reqs[i].status)
		}
		if r.End.Before(r.Start) || (i > 0 && r.Start.Before(log[i-1].End)) {
			t.Errorf("Requests()[%d]: Start %v End %v out of order", i, r.Start, r.End)
		}
	}
}

func TestNoLogKeepsCounters(t *testing.T) {
	s := start(t, SiteConfig{Pages: 5, NoLog: true})
	c := &http.Client{Transport: &http.Transport{}}
	for range 2 {
		get(t, c, s.PageURL(3))
	}
	h := s.Hosts()[0]
	if got := s.Hits(h, "/p/3"); got != 2 {
		t.Errorf("Hits = %d, want 2", got)
	}
	if got := s.Duplicates(); !slices.Equal(got, []string{h + " /p/3"}) {
		t.Errorf("Duplicates() = %q", got)
	}
	if got := s.Requests(); len(got) != 0 {
		t.Errorf("Requests() has %d entries with NoLog", len(got))
	}
	if got := s.MaxInWindow(h, time.Hour); got != 0 {
		t.Errorf("MaxInWindow with NoLog = %d, want 0", got)
	}
	if got := s.MaxConcurrent(h); got != 1 {
		t.Errorf("MaxConcurrent = %d, want 1", got)
	}
}

func TestNotFoundAndRobots(t *testing.T) {
	const robots = "User-agent: *\nDisallow: /private\n"
	s := start(t, SiteConfig{Hosts: 2, Pages: 10, Robots: robots})
	bare := start(t, SiteConfig{})
	c := &http.Client{Transport: &http.Transport{}}
	h0 := "http://" + s.Hosts()[0]
	tests := []struct {
		url    string
		status int
	}{
		{h0 + "/p/0", 200},
		{h0 + "/p/8", 200},
		{h0 + "/p/10", 404}, // == Pages
		{h0 + "/p/9", 404},  // on host 1
		{h0 + "/p/01", 404},
		{h0 + "/p/-2", 404},
		{h0 + "/p/", 404},
		{h0 + "/p/2/", 404},
		{h0 + "/p/2?x=1", 404},
		{h0 + "/p/%32", 404},
		{h0 + "/P/2", 404},
		{h0 + "/p/99999999999999999999", 404},
		{h0 + "/nope", 404},
		{h0 + "/", 200},
		{bare.Seeds()[0] + "robots.txt", 404},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if got := get(t, c, tt.url); got.status != tt.status {
				t.Errorf("GET %s: status %d, want %d", tt.url, got.status, tt.status)
			}
		})
	}
	for _, h := range s.Hosts() {
		got := get(t, c, "http://"+h+"/robots.txt")
		if got.status != 200 || got.body != robots || !strings.HasPrefix(got.header.Get("Content-Type"), "text/plain") {
			t.Errorf("robots.txt on %s: %d %q %q", h, got.status, got.header.Get("Content-Type"), got.body)
		}
	}
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, h0+"/p/0", nil)
	if resp, err := c.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", resp.StatusCode)
	}
	if s.PagesServed() != 2 {
		t.Errorf("PagesServed() = %d, want 2", s.PagesServed())
	}
}

func TestOverrides(t *testing.T) {
	s := start(t, SiteConfig{
		Hosts:  2,
		Pages:  10,
		Robots: "User-agent: *\n",
		Overrides: map[string]Response{
			"/p/1":        {Status: 503, Header: map[string]string{"Retry-After": "2"}, Body: "busy", Times: 2},
			"/robots.txt": {Status: 429, Times: 1},
			"/old":        {Status: 301, Header: map[string]string{"Location": "/p/3"}},
			"/p/4?v=2":    {Status: 410},
			"/custom":     {Body: "hello"},
		},
	})
	h0, h1 := "http://"+s.Hosts()[0], "http://"+s.Hosts()[1]
	c := noRedirects()
	steps := []struct {
		url    string
		status int
		header string // "Key: value" expected, if any
	}{
		{h1 + "/p/1", 503, "Retry-After: 2"},
		{h1 + "/p/1?a=b", 503, "Retry-After: 2"}, // matched by path; counts towards Times
		{h1 + "/p/1", 200, ""},
		{h1 + "/p/1", 200, ""},
		{h0 + "/p/1", 503, ""}, // Times counts per host
		{h0 + "/p/1", 503, ""},
		{h0 + "/p/1", 404, ""}, // then the normal response: page 1 is not on host 0
		{h0 + "/robots.txt", 429, ""},
		{h0 + "/robots.txt", 200, ""},
		{h1 + "/robots.txt", 429, ""},
		{h1 + "/robots.txt", 200, ""},
		{h1 + "/old", 301, "Location: /p/3"},
		{h1 + "/old", 301, "Location: /p/3"},
		{h1 + "/old", 301, "Location: /p/3"},
		{h0 + "/p/4?v=2", 410, ""},
		{h0 + "/p/4?v=3", 404, ""},
		{h0 + "/p/4", 200, ""},
		{h0 + "/custom", 200, ""},
	}
	for i, st := range steps {
		got := get(t, c, st.url)
		if got.status != st.status {
			t.Fatalf("step %d: GET %s: status %d, want %d", i, st.url, got.status, st.status)
		}
		if k, v, ok := strings.Cut(st.header, ": "); ok && got.header.Get(k) != v {
			t.Errorf("step %d: GET %s: %s = %q, want %q", i, st.url, k, got.header.Get(k), v)
		}
		if st.status == 503 && got.body != "busy" {
			t.Errorf("step %d: body %q, want %q", i, got.body, "busy")
		}
	}
	if got := get(t, c, h0+"/custom").body; got != "hello" {
		t.Errorf("override body = %q, want %q", got, "hello")
	}
	if got := s.PagesServed(); got != 2 {
		t.Errorf("PagesServed() = %d, want 2 (pages 1 and 4, overrides excluded)", got)
	}
	if got := s.Hits(s.Hosts()[1], "/p/1"); got != 3 {
		t.Errorf("Hits(host 1, /p/1) = %d, want 3", got)
	}
}

func TestMaxConcurrentAndCancellation(t *testing.T) {
	s := start(t, SiteConfig{Hosts: 2, Pages: 20, Latency: time.Hour})
	h0, h1 := s.Hosts()[0], s.Hosts()[1]
	c := &http.Client{Transport: &http.Transport{}}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make([]error, 7)
	for k := range 7 {
		page := 2 * k // pages 0..10 on host 0
		if k >= 5 {
			page = 2*k + 1 // two on host 1
		}
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.PageURL(page), nil)
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			errs[k] = err
		})
	}
	waitFor(t, "7 requests in flight", func() bool { return s.InFlight(h0) == 5 && s.InFlight(h1) == 2 })
	cancel()
	wg.Wait()
	for k, err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("request %d: err = %v, want context.Canceled", k, err)
		}
	}
	// Latency is an hour: the handlers end only because they see the client go.
	waitFor(t, "handlers to see the clients go", func() bool { return s.InFlight(h0) == 0 && s.InFlight(h1) == 0 })
	for _, r := range s.Requests() {
		if r.Status != 0 || r.End.IsZero() {
			t.Errorf("cancelled request %s: Status %d End %v, want 0 and set", r.Path, r.Status, r.End)
		}
	}
	if got := s.PagesServed(); got != 0 {
		t.Errorf("PagesServed() = %d after only cancelled requests", got)
	}
	if got := s.MaxConcurrent(h0); got != 5 {
		t.Errorf("MaxConcurrent(host 0) = %d, want 5", got)
	}
	if got := s.MaxConcurrent(h1); got != 2 {
		t.Errorf("MaxConcurrent(host 1) = %d, want 2", got)
	}
	if got := s.MaxConcurrent("127.0.0.1:1"); got != 0 {
		t.Errorf("MaxConcurrent(unknown) = %d, want 0", got)
	}
}

func TestCloseDoesNotWaitForLatency(t *testing.T) {
	s, err := Start(SiteConfig{Latency: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{}}
	done := make(chan error, 1)
	go func() {
		resp, err := c.Get(s.PageURL(0))
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	waitFor(t, "the request to arrive", func() bool { return s.InFlight(s.Hosts()[0]) == 1 })
	begin := time.Now()
	s.Close()
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Close took %v with a request waiting on Latency", d)
	}
	if err := <-done; err == nil {
		t.Errorf("request during Close succeeded, want an error")
	}
	s.Close() // a second Close is harmless
	if got := s.TotalHits(); got != 1 {
		t.Errorf("TotalHits() after Close = %d, want 1", got)
	}
	if _, err := c.Get(s.Seeds()[0]); err == nil {
		t.Errorf("GET after Close succeeded")
	}
}

func TestMaxInWindowServed(t *testing.T) {
	s := start(t, SiteConfig{Hosts: 2, Pages: 20})
	h0 := s.Hosts()[0]
	c := &http.Client{Transport: &http.Transport{}}
	for _, i := range []int{0, 2, 4} {
		get(t, c, s.PageURL(i))
	}
	get(t, c, s.PageURL(1)) // host 1 does not count for host 0
	time.Sleep(600 * time.Millisecond)
	for _, i := range []int{6, 8} {
		get(t, c, s.PageURL(i))
	}
	// The first three start within 250ms of each other (sequential loopback
	// requests take about a millisecond); the last two come at least 600ms later.
	if got := s.MaxInWindow(h0, 250*time.Millisecond); got != 3 {
		t.Errorf("MaxInWindow(250ms) = %d, want 3", got)
	}
	if got := s.MaxInWindow(h0, time.Hour); got != 5 {
		t.Errorf("MaxInWindow(1h) = %d, want 5", got)
	}
	if got := s.MaxInWindow(s.Hosts()[1], time.Hour); got != 1 {
		t.Errorf("MaxInWindow(host 1) = %d, want 1", got)
	}
}

func TestMaxInWindow(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms ...int) []time.Time {
		var out []time.Time
		for _, m := range ms {
			out = append(out, t0.Add(time.Duration(m)*time.Millisecond))
		}
		return out
	}
	tests := []struct {
		name   string
		starts []time.Time
		window time.Duration
		want   int
	}{
		{"empty", nil, time.Second, 0},
		{"one", at(5), time.Second, 1},
		{"exactly one window apart", at(0, 1000, 2000), time.Second, 1},
		{"just inside", at(0, 999, 1998), time.Second, 2},
		{"burst in the middle", at(0, 1000, 1100, 1200, 1300, 3000), time.Second, 4},
		{"same instant", at(7, 7, 7), time.Nanosecond, 3},
		{"whole range", at(0, 10, 20, 5000), time.Hour, 4},
		{"zero window", at(0, 1), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := maxInWindow(tt.starts, tt.window); got != tt.want {
				t.Errorf("maxInWindow(%s) = %d, want %d", tt.window, got, tt.want)
			}
		})
	}
}

func TestStartRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  SiteConfig
	}{
		{"negative hosts", SiteConfig{Hosts: -1}},
		{"negative pages", SiteConfig{Pages: -1}},
		{"negative links", SiteConfig{LinksPerPage: -1}},
		{"cross above 1", SiteConfig{CrossHost: 1.5}},
		{"cross negative", SiteConfig{CrossHost: -0.1}},
		{"cross NaN", SiteConfig{CrossHost: math.NaN()}},
		{"negative size", SiteConfig{PageSize: -1}},
		{"negative latency", SiteConfig{Latency: -time.Second}},
		{"negative times", SiteConfig{Overrides: map[string]Response{"/": {Times: -1}}}},
		{"bad status", SiteConfig{Overrides: map[string]Response{"/": {Status: 42}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Start(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("Start(%+v) succeeded", tt.cfg)
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Start(%+v) = %v, want ErrInvalidConfig", tt.cfg, err)
			}
		})
	}
}

func TestURLs(t *testing.T) {
	s := start(t, SiteConfig{Hosts: 3, Pages: 10})
	hosts := s.Hosts()
	if len(hosts) != 3 || len(s.Seeds()) != 3 {
		t.Fatalf("Hosts() = %q, Seeds() = %q, want 3 each", hosts, s.Seeds())
	}
	for i, h := range hosts {
		if !strings.HasPrefix(h, "127.0.0.1:") {
			t.Errorf("Hosts()[%d] = %q, want 127.0.0.1:port", i, h)
		}
		if want := "http://" + h + "/"; s.Seeds()[i] != want {
			t.Errorf("Seeds()[%d] = %q, want %q", i, s.Seeds()[i], want)
		}
	}
	if got, want := s.PageURL(7), "http://"+hosts[1]+"/p/7"; got != want {
		t.Errorf("PageURL(7) = %q, want %q", got, want)
	}
	if got := s.Links(10); got != nil {
		t.Errorf("Links(10) = %v, want nil", got)
	}
}

func TestOffHostPage(t *testing.T) {
	for _, nHosts := range []int{2, 3, 7} {
		for h := range nHosts {
			var want []int
			for p := range 50 {
				if p%nHosts != h {
					want = append(want, p)
				}
			}
			for idx, p := range want {
				if got := offHostPage(h, nHosts, idx); got != p {
					t.Fatalf("offHostPage(%d, %d, %d) = %d, want %d", h, nHosts, idx, got, p)
				}
			}
		}
	}
}

func TestRenderDoesNotAllocate(t *testing.T) {
	s := start(t, SiteConfig{Hosts: 4, Pages: 1000, CrossHost: 0.1})
	rb := new(renderBuf)
	s.renderPage(rb, 0) // grow the buffers once
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		s.renderPage(rb, i%1000)
		i++
	})
	if allocs > 0 {
		t.Errorf("renderPage allocates %v times per page with a warm buffer", allocs)
	}
}

func TestParsePage(t *testing.T) {
	tests := []struct {
		path string
		page int
		ok   bool
	}{
		{"/p/0", 0, true},
		{"/p/99", 99, true},
		{"/p/100", 0, false},
		{"/p/", 0, false},
		{"/p/00", 0, false},
		{"/p/07", 0, false},
		{"/p/+7", 0, false},
		{"/p/7a", 0, false},
		{"/q/7", 0, false},
		{"p/7", 0, false},
		{"/p/99999999999", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			page, ok := parsePage(tt.path, 100)
			if page != tt.page || ok != tt.ok {
				t.Errorf("parsePage(%q, 100) = %d, %v, want %d, %v", tt.path, page, ok, tt.page, tt.ok)
			}
		})
	}
}

// FuzzParsePage checks parsePage against a reference built on strconv: a path
// is a page exactly when it is "/p/" followed by strconv.Itoa of a page number.
func FuzzParsePage(f *testing.F) {
	for _, s := range []string{"/p/0", "/p/12", "/p/012", "/p/-1", "/p/", "/p/1x", "/p/4294967296"} {
		f.Add(s, 1000)
	}
	f.Fuzz(func(t *testing.T, path string, pages int) {
		if pages < 0 || pages > math.MaxInt32 {
			return
		}
		page, ok := parsePage(path, pages)
		digits, hasPrefix := strings.CutPrefix(path, "/p/")
		n, err := strconv.Atoi(digits)
		want := hasPrefix && err == nil && n >= 0 && n < pages && strconv.Itoa(n) == digits
		if ok != want || (ok && page != n) {
			t.Errorf("parsePage(%q, %d) = %d, %v; want %d, %v", path, pages, page, ok, n, want)
		}
	})
}

func BenchmarkRenderPage(b *testing.B) {
	s, err := Start(SiteConfig{Hosts: 8, Pages: 1_000_000, CrossHost: 0.1, NoLog: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rb := new(renderBuf)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.renderPage(rb, i%1_000_000)
		i += 7919
	}
	b.SetBytes(int64(rb.buf.Len()))
}

// discardWriter is a minimal http.ResponseWriter for measuring the handler
// without the network.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

func BenchmarkServePage(b *testing.B) {
	const pages = 1_000_000
	s, err := Start(SiteConfig{Hosts: 8, Pages: pages, CrossHost: 0.1, NoLog: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	reqs := make([]*http.Request, 1024)
	for k := range reqs {
		reqs[k], _ = http.NewRequest(http.MethodGet, "/p/"+strconv.Itoa(k*8*97%pages), nil)
	}
	w := &discardWriter{h: http.Header{}}
	h := s.hosts[0]
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, reqs[i%len(reqs)])
		i++
	}
}

// TestOverlaps: requests of two clients to one host at once are reported;
// one client's own concurrent requests and turns taken one after the other
// are not.
func TestOverlaps(t *testing.T) {
	site, err := Start(SiteConfig{Hosts: 2, Pages: 10, Latency: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()
	get := func(host, agent string) {
		req, _ := http.NewRequest("GET", "http://"+host+"/p/0", nil)
		req.Header.Set("User-Agent", agent)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		resp.Body.Close()
	}
	h0, h1 := site.Hosts()[0], site.Hosts()[1]
	var wg sync.WaitGroup
	for _, agent := range []string{"a", "a", "b"} { // a twice and b at once on h0
		wg.Go(func() { get(h0, agent) })
	}
	wg.Wait()
	get(h1, "a") // turns on h1: no overlap
	get(h1, "b")
	if got := site.Overlaps(h0); len(got) == 0 {
		t.Errorf("Overlaps(h0) is empty; a and b were served at once")
	}
	if got := site.Overlaps(h1); len(got) != 0 {
		t.Errorf("Overlaps(h1) = %+v, want none: a and b took turns", got)
	}
}
