package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// site is a loopback test site that counts hits per request URI.
type site struct {
	srv *httptest.Server
	mu  sync.Mutex // guards hits, pages
	// hits counts requests per RequestURI.
	hits map[string]int
	// pages maps a RequestURI to its HTML body; anything else is a 404.
	pages map[string]string
}

// newSite starts an empty site; fill it with setPages before crawling.
func newSite(t *testing.T) *site {
	t.Helper()
	s := &site{hits: make(map[string]int)}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.RequestURI()]++
		b, ok := s.pages[r.URL.RequestURI()]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, b)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *site) setPages(pages map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages = pages
}

func (s *site) snapshot() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.hits))
	for k, v := range s.hits {
		out[k] = v
	}
	return out
}

// runCrawl runs the program's run function and decodes its JSON line.
func runCrawl(t *testing.T, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run(%q) = %v; stderr: %s", args, err, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 1 {
		t.Fatalf("stdout has %d lines, want 1: %q", n, stdout.String())
	}
	var res result
	dec := json.NewDecoder(&stdout)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		t.Fatalf("decode result line: %v", err)
	}
	return res
}

func TestCrawlStaysOnSeedHostAndPort(t *testing.T) {
	// other is on the same host name (127.0.0.1) but another port: Colly's
	// AllowedDomains alone would let the crawl in.
	other := newSite(t)
	other.setPages(map[string]string{"/": `<a href="/x">x</a>`, "/x": "x"})
	seed := newSite(t)
	seed.setPages(map[string]string{
		"/": `<a href="/a">a</a> <a href="b">b</a> <a href="#top">top</a>
			<a href="` + other.srv.URL + `/">other port</a>
			<a href="http://localhost.invalid/">other host</a>`,
		"/a":     `<a href="/">home</a> <a href="` + seed.srv.URL + `/b">b again, absolute</a>`,
		"/b":     `<a href="/c?x=1">c</a> <a href="/missing">broken</a>`,
		"/c?x=1": `<p>leaf</p>`,
	})

	res := runCrawl(t, "-parallelism", "4", seed.srv.URL+"/")

	if res.Pages != 4 || res.Errors != 1 {
		t.Errorf("result = %+v, want pages=4 errors=1 (the 404)", res)
	}
	if res.ElapsedS <= 0 {
		t.Errorf("elapsed_s = %v, want > 0", res.ElapsedS)
	}
	want := map[string]int{"/": 1, "/a": 1, "/b": 1, "/c?x=1": 1, "/missing": 1}
	got := seed.snapshot()
	if len(got) != len(want) {
		t.Errorf("seed site hits = %v, want %v", got, want)
	}
	for path, n := range want {
		if got[path] != n {
			t.Errorf("hits[%q] = %d, want %d (all hits %v)", path, got[path], n, got)
		}
	}
	if h := other.snapshot(); len(h) != 0 {
		t.Errorf("site on another port got hits %v, want none", h)
	}
}

// TestCrawlFragmentRefetches pins a trait of stock Colly that the benchmark
// reports rather than hides: its visited set keys on the URL including the
// fragment, so /a and /a#f are two fetches of the same page. If a Colly
// upgrade changes this, the benchmark's duplicate column for Colly changes too.
func TestCrawlFragmentRefetches(t *testing.T) {
	s := newSite(t)
	s.setPages(map[string]string{
		"/":  `<a href="/a">a</a>`,
		"/a": `<a href="/a#f">self with fragment</a> <a href="#g">fragment only</a>`,
	})

	res := runCrawl(t, s.srv.URL+"/")

	if got := s.snapshot()["/a"]; got != 2 || res.Pages != 3 {
		t.Errorf("/a fetched %d times, pages = %d; want 2 and 3 (stock Colly refetches /a#f)", got, res.Pages)
	}
}

func TestCrawlSeveralSeedHosts(t *testing.T) {
	a, b := newSite(t), newSite(t)
	a.setPages(map[string]string{"/": `<a href="/1">1</a>`, "/1": `<a href="` + b.srv.URL + `/2">b</a>`})
	b.setPages(map[string]string{"/": `<a href="/2">2</a>`, "/2": `<a href="` + a.srv.URL + `/1">a</a>`})

	res := runCrawl(t, a.srv.URL+"/", b.srv.URL+"/")

	if res.Pages != 4 || res.Errors != 0 {
		t.Errorf("result = %+v, want pages=4 errors=0", res)
	}
	for name, s := range map[string]*site{"a": a, "b": b} {
		hits := s.snapshot()
		if len(hits) != 2 {
			t.Errorf("site %s hits = %v, want / and one page", name, hits)
		}
		for path, n := range hits {
			if n != 1 {
				t.Errorf("site %s: %q fetched %d times, want 1", name, path, n)
			}
		}
	}
}

func TestCrawlMaxPagesIsExact(t *testing.T) {
	const total, max = 200, 25
	pages := make(map[string]string, total)
	for i := range total {
		var b strings.Builder
		for j := 1; j <= 8; j++ {
			fmt.Fprintf(&b, `<a href="/p/%d">l</a>`, (i*7+j*13)%total)
		}
		pages[fmt.Sprintf("/p/%d", i)] = b.String()
	}
	s := newSite(t)
	s.setPages(pages)

	res := runCrawl(t, "-parallelism", "16", "-max-pages", fmt.Sprint(max), s.srv.URL+"/p/0")

	hits := s.snapshot()
	sum := 0
	for path, n := range hits {
		sum += n
		if n != 1 {
			t.Errorf("%q fetched %d times, want 1", path, n)
		}
	}
	if res.Pages != max || sum != max {
		t.Errorf("pages = %d, server hits = %d, want both %d", res.Pages, sum, max)
	}
}

func TestRunUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no seed", nil},
		{"relative seed", []string{"/p/1"}},
		{"ftp seed", []string{"ftp://127.0.0.1/"}},
		{"zero parallelism", []string{"-parallelism", "0", "http://127.0.0.1:1/"}},
		{"negative max", []string{"-max-pages", "-1", "http://127.0.0.1:1/"}},
		{"unknown flag", []string{"-depth", "3", "http://127.0.0.1:1/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(t.Context(), tt.args, &stdout, &stderr)
			if !errors.Is(err, errUsage) {
				t.Errorf("run(%q) = %v, want a usage error", tt.args, err)
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout = %q, want empty", stdout.String())
			}
		})
	}
}

func TestScope(t *testing.T) {
	tests := []struct {
		name    string
		seeds   []string
		domains []string
		allow   []string // URLs the filter must accept; none when no filter is expected
		deny    []string
	}{
		{
			name:    "no port, no filter",
			seeds:   []string{"http://Example.com/", "https://example.com/x", "http://example.com:80/"},
			domains: []string{"example.com"},
		},
		{
			name:    "ports",
			seeds:   []string{"http://127.0.0.1:8001/", "http://127.0.0.1:8002/p/1"},
			domains: []string{"127.0.0.1"},
			allow:   []string{"http://127.0.0.1:8001/", "http://127.0.0.1:8002/p/9?q=1", "http://127.0.0.1:8001", "https://127.0.0.1:8002/"},
			deny:    []string{"http://127.0.0.1:8003/", "http://127.0.0.1:80010/", "http://127.0.0.1/", "http://127.0.0.1:8001.evil/"},
		},
		{
			name:    "ported and default seeds",
			seeds:   []string{"http://a.test:8080/", "http://b.test/"},
			domains: []string{"a.test", "b.test"},
			allow:   []string{"http://a.test:8080/x", "http://b.test/y"},
			deny:    []string{"http://a.test/", "http://b.test:8080/"},
		},
		{
			name:    "ipv6",
			seeds:   []string{"http://[::1]:9000/"},
			domains: []string{"::1"},
			allow:   []string{"http://[::1]:9000/"},
			deny:    []string{"http://[::1]:9001/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			domains, filter, err := scope(tt.seeds)
			if err != nil {
				t.Fatalf("scope(%q) error: %v", tt.seeds, err)
			}
			if fmt.Sprint(domains) != fmt.Sprint(tt.domains) {
				t.Errorf("scope(%q) domains = %q, want %q", tt.seeds, domains, tt.domains)
			}
			if (filter != nil) != (len(tt.allow) > 0) {
				t.Fatalf("scope(%q) filter = %v, want filter: %v", tt.seeds, filter, len(tt.allow) > 0)
			}
			for _, u := range tt.allow {
				if !filter.MatchString(u) {
					t.Errorf("filter %v rejects %q", filter, u)
				}
			}
			for _, u := range tt.deny {
				if filter.MatchString(u) {
					t.Errorf("filter %v accepts %q", filter, u)
				}
			}
		})
	}
}
