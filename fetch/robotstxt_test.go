package fetch

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// robotsServer serves robots (with status code, 0 meaning 200) and 200 "page" elsewhere.
func robotsServer(t *testing.T, log *hitLog, code int, robots string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		if r.URL.Path == "/robots.txt" {
			if code != 0 {
				w.WriteHeader(code)
			}
			fmt.Fprint(w, robots)
			return
		}
		fmt.Fprint(w, "page")
	}))
	t.Cleanup(srv.Close)
	return srv
}

const testRobots = `User-agent: Trawl
Disallow: /private
Allow: /private/ok

User-agent: *
Disallow: /

Sitemap: https://example.test/sitemap.xml
`

func TestRobotsObeyed(t *testing.T) {
	var log hitLog
	srv := robotsServer(t, &log, 0, testRobots)
	tests := []struct {
		ua   string
		path string
		want error
	}{
		{"", "/public", nil},
		{"", "/private", ErrDisallowed},
		{"", "/private/x?y=1", ErrDisallowed},
		{"", "/private/ok", nil},
		{"Trawl/9 (other build)", "/private", ErrDisallowed},
		{"OtherBot/1.0", "/public", ErrDisallowed}, // falls to the * group
	}
	for _, tt := range tests {
		t.Run(tt.ua+tt.path, func(t *testing.T) {
			log = hitLog{}
			c := newTestClient(t, Config{UserAgent: tt.ua}, nil)
			res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+tt.path)})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Fetch(%s) as %q = %v, want %v", tt.path, tt.ua, err, tt.want)
			}
			path, _, _ := strings.Cut(tt.path, "?")
			wantHits := 0
			if tt.want == nil {
				wantHits = 1
				if string(res.Body) != "page" {
					t.Errorf("Body = %q, want page", res.Body)
				}
			} else if _, ok := RetryDelay(err, 0); ok {
				t.Errorf("RetryDelay(%v) is retryable", err)
			}
			if got := log.count("", path); got != wantHits {
				t.Errorf("server saw %s %d times, want %d", path, got, wantHits)
			}
			if got := log.count("", "/robots.txt"); got != 1 {
				t.Errorf("robots.txt fetched %d times, want 1", got)
			}
		})
	}
	t.Run("Sitemaps", func(t *testing.T) {
		c := newTestClient(t, Config{}, nil)
		host := mustURL(t, srv.URL).Host
		if sm := c.Sitemaps(host); sm != nil {
			t.Errorf("Sitemaps before robots.txt is fetched = %q, want nil", sm)
		}
		if err := c.Allowed(t.Context(), mustURL(t, srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		if sm := c.Sitemaps(host); len(sm) != 1 || sm[0] != "https://example.test/sitemap.xml" {
			t.Errorf("Sitemaps = %q, want the one Sitemap line", sm)
		}
	})
	t.Run("IgnoreRobots", func(t *testing.T) {
		log = hitLog{}
		c := newTestClient(t, Config{IgnoreRobots: true, UserAgent: "OtherBot/1.0"}, nil)
		if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/private")}); err != nil {
			t.Fatal(err)
		}
		if got := log.count("", "/robots.txt"); got != 0 {
			t.Errorf("robots.txt fetched %d times with IgnoreRobots, want 0", got)
		}
	})
}

func TestRobotsStatus(t *testing.T) {
	tests := []struct {
		code        int
		unavailable bool
	}{
		{http.StatusNotFound, false},
		{http.StatusUnauthorized, false},
		{http.StatusForbidden, false},
		{http.StatusGone, false},
		{http.StatusInternalServerError, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusTooManyRequests, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			var log hitLog
			srv := robotsServer(t, &log, tt.code, "User-agent: *\nDisallow: /\n")
			c := newTestClient(t, Config{}, nil)
			before := time.Now()
			for range 3 {
				res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+"/page")})
				if !tt.unavailable {
					if err != nil || string(res.Body) != "page" {
						t.Fatalf("Fetch = %v; want the page (robots.txt %d allows all)", err, tt.code)
					}
					continue
				}
				ru, ok := errors.AsType[*RobotsUnavailableError](err)
				if !ok || res != nil {
					t.Fatalf("Fetch = %v, %v; want *RobotsUnavailableError", res, err)
				}
				if ru.Host != mustURL(t, srv.URL).Host || ru.RetryAt.Before(before.Add(time.Minute)) ||
					ru.RetryAt.After(time.Now().Add(time.Minute)) {
					t.Errorf("RobotsUnavailableError{%s, %v}, want the host, retry in 1m", ru.Host, ru.RetryAt)
				}
				if se, ok := errors.AsType[*StatusError](ru.Err); !ok || se.Code != tt.code {
					t.Errorf("RobotsUnavailableError.Err = %v, want the robots.txt status %d as its cause", ru.Err, tt.code)
				}
				if d, ok := RetryDelay(err, 0); !ok || d > time.Minute || d < 59*time.Second {
					t.Errorf("RetryDelay = %v, %v; want about 1m, true", d, ok)
				}
			}
			wantPages := 3
			if tt.unavailable {
				wantPages = 0
			}
			if got := log.count("", "/page"); got != wantPages {
				t.Errorf("page fetched %d times, want %d", got, wantPages)
			}
			if got := log.count("", "/robots.txt"); got != 1 {
				t.Errorf("robots.txt fetched %d times, want 1 (cached)", got)
			}
		})
	}
}

func TestRobotsUnreachableRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log hitLog
		var mu sync.Mutex
		down := true
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			log.add(r)
			mu.Lock()
			defer mu.Unlock()
			if r.URL.Path == "/robots.txt" && down {
				return nil, errors.New("connection refused")
			}
			return reply(r, http.StatusNotFound, ""), nil
		})
		c := newTestClient(t, Config{RobotsRetry: time.Minute, RobotsTTL: time.Hour}, rt)
		u := mustURL(t, "http://a.test/page")
		if _, ok := errors.AsType[*RobotsUnavailableError](c.Allowed(t.Context(), u)); !ok {
			t.Fatal("Allowed with robots.txt unreachable: want *RobotsUnavailableError")
		}
		mu.Lock()
		down = false
		mu.Unlock()
		time.Sleep(59 * time.Second)
		if _, ok := errors.AsType[*RobotsUnavailableError](c.Allowed(t.Context(), u)); !ok {
			t.Fatal("Allowed at t=59s: want the cached *RobotsUnavailableError")
		}
		time.Sleep(time.Second)
		if err := c.Allowed(t.Context(), u); err != nil {
			t.Fatalf("Allowed at t=60s = %v, want nil (robots.txt now 404)", err)
		}
		time.Sleep(59 * time.Minute)
		c.Allowed(t.Context(), u)
		if got := log.count("a.test", "/robots.txt"); got != 2 {
			t.Errorf("robots.txt fetched %d times by t=60m, want 2", got)
		}
		time.Sleep(time.Minute)
		c.Allowed(t.Context(), u)
		if got := log.count("a.test", "/robots.txt"); got != 3 {
			t.Errorf("robots.txt fetched %d times by t=61m, want 3 (RobotsTTL 1h)", got)
		}
	})
}

func TestRobotsFetchedOnce(t *testing.T) {
	var log hitLog
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		if r.URL.Path == "/robots.txt" {
			select { // slow enough that every Fetch asks while it is in flight
			case <-time.After(50 * time.Millisecond):
			case <-r.Context().Done():
			}
			fmt.Fprint(w, "User-agent: *\nDisallow: /no\n")
			return
		}
		fmt.Fprint(w, "page")
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Config{PerHost: 8}, nil)
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			path := fmt.Sprintf("/p%d", i)
			if i%4 == 0 {
				path = "/no"
			}
			_, err := c.Fetch(t.Context(), Request{URL: mustURL(t, srv.URL+path)})
			if want := (error)(nil); path == "/no" {
				if !errors.Is(err, ErrDisallowed) {
					t.Errorf("Fetch(%s) = %v, want ErrDisallowed", path, err)
				}
			} else if err != want {
				t.Errorf("Fetch(%s) = %v", path, err)
			}
		})
	}
	wg.Wait()
	if got := log.count("", "/robots.txt"); got != 1 {
		t.Errorf("robots.txt fetched %d times by 32 concurrent Fetches, want 1", got)
	}
	if got := log.count("", "/no"); got != 0 {
		t.Errorf("disallowed path fetched %d times", got)
	}
	if got := len(log.all()); got != 1+24 {
		t.Errorf("%d requests, want 25", got)
	}
}

func TestRobotsRedirects(t *testing.T) {
	var log hitLog
	other := robotsServer(t, &log, 0, "User-agent: *\nDisallow: /secret\n")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.add(r)
		var n int
		switch _, err := fmt.Sscanf(r.URL.Path, "/loop%d", &n); {
		case r.URL.Path == "/robots.txt" && r.Host == "localhost"+strings.TrimPrefix(r.Host, "localhost"):
			http.Redirect(w, r, "/loop0", http.StatusMovedPermanently)
		case r.URL.Path == "/robots.txt":
			http.Redirect(w, r, other.URL+"/robots.txt", http.StatusMovedPermanently)
		case err == nil:
			http.Redirect(w, r, fmt.Sprintf("/loop%d", n+1), http.StatusFound)
		default:
			fmt.Fprint(w, "page")
		}
	}))
	t.Cleanup(srv.Close)
	c := newTestClient(t, Config{}, nil)

	t.Run("followed across hosts", func(t *testing.T) {
		if err := c.Allowed(t.Context(), mustURL(t, srv.URL+"/secret")); !errors.Is(err, ErrDisallowed) {
			t.Errorf("Allowed(/secret) = %v, want ErrDisallowed from the redirect target's rules", err)
		}
		if err := c.Allowed(t.Context(), mustURL(t, srv.URL+"/open")); err != nil {
			t.Errorf("Allowed(/open) = %v, want nil", err)
		}
	})
	t.Run("more than 5 allow all", func(t *testing.T) {
		// Reach the same server as "localhost", where robots.txt redirects forever.
		u := mustURL(t, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/secret")
		if err := c.Allowed(t.Context(), u); err != nil {
			t.Errorf("Allowed with robots.txt redirecting forever = %v, want nil (unavailable, like a 4xx)", err)
		}
		// robots.txt and 5 followed hops: /loop0 … /loop4.
		if got := log.count(u.Host, ""); got != 6 {
			t.Errorf("%d requests for robots.txt, want 6", got)
		}
	})
}

func TestCrawlDelay(t *testing.T) {
	tests := []struct {
		name       string
		rate       float64
		maxDelay   time.Duration
		robots     string
		wantSpaced time.Duration
	}{
		{"delay with no rate", 0, 0, "User-agent: *\nCrawl-delay: 2\n", 2 * time.Second},
		{"delay slower than rate", 10, 0, "User-agent: *\nCrawl-delay: 2\n", 2 * time.Second},
		{"rate slower than delay", 0.25, 0, "User-agent: *\nCrawl-delay: 2\n", 4 * time.Second},
		{"delay capped", 0, 5 * time.Second, "User-agent: *\nCrawl-delay: 100\n", 5 * time.Second},
		{"other agent's delay ignored", 0, 0, "User-agent: SlowBot\nDisallow: /slow\nCrawl-delay: 9\n\nUser-agent: *\nAllow: /\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log hitLog
				rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					log.add(r)
					if r.URL.Path == "/robots.txt" {
						return reply(r, http.StatusOK, tt.robots), nil
					}
					return reply(r, http.StatusOK, "page"), nil
				})
				c := newTestClient(t, Config{Rate: tt.rate, MaxCrawlDelay: tt.maxDelay}, rt)
				start := time.Now()
				for i := range 3 {
					if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, fmt.Sprintf("http://a.test/%d", i))}); err != nil {
						t.Fatal(err)
					}
				}
				var got []time.Duration
				for _, h := range log.all() {
					got = append(got, h.at.Sub(start))
				}
				// robots.txt at 0 counts as the first request.
				want := []time.Duration{0, tt.wantSpaced, 2 * tt.wantSpaced, 3 * tt.wantSpaced}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("requests at %v, want %v", got, want)
				}
			})
		})
	}
}

func TestCrawlDelayAfterEviction(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.URL.Path == "/robots.txt" && r.URL.Host == "a.test" {
				return reply(r, http.StatusOK, "User-agent: *\nCrawl-delay: 3\n"), nil
			}
			return reply(r, http.StatusNotFound, ""), nil
		})
		c := newTestClient(t, Config{MaxHosts: 1}, rt)
		if err := c.Allowed(t.Context(), mustURL(t, "http://a.test/")); err != nil {
			t.Fatal(err)
		}
		if d := c.Reserve("a.test"); d != 3*time.Second {
			t.Fatalf("Reserve(a.test) right after robots.txt = %v, want 3s", d)
		}
		c.Reserve("b.test") // evicts a.test's state
		if d := c.Reserve("a.test"); d != 0 {
			t.Fatalf("Reserve(a.test) after eviction = %v, want 0 (a fresh bucket)", d)
		}
		if d := c.Reserve("a.test"); d != 3*time.Second {
			t.Errorf("second Reserve(a.test) after eviction = %v, want 3s: Crawl-delay lost", d)
		}
	})
}

// TestSitemapsReportedOnce: the Sitemap lines of a loaded robots.txt come
// back on exactly one Result, even under concurrent fetches of the host.
func TestSitemapsReportedOnce(t *testing.T) {
	var log hitLog
	srv := robotsServer(t, &log, 200, "Sitemap: https://a.test/sitemap.xml\nUser-agent: *\nDisallow: /private\nSitemap: https://a.test/news.xml\n")
	c := newTestClient(t, Config{PerHost: 8}, nil)
	results := make([]*Result, 16)
	var wg sync.WaitGroup
	for i := range results {
		wg.Go(func() {
			res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, fmt.Sprintf("%s/page/%d", srv.URL, i))})
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	reported := 0
	for _, res := range results {
		if res != nil && res.Sitemaps != nil {
			reported++
			if fmt.Sprint(res.Sitemaps) != "[https://a.test/sitemap.xml https://a.test/news.xml]" {
				t.Errorf("Sitemaps = %v", res.Sitemaps)
			}
		}
	}
	if reported != 1 {
		t.Errorf("Sitemaps reported on %d Results, want exactly 1", reported)
	}
}
