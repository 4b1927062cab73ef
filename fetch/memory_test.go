package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/trawl/trawl/fetch/robots"
)

// fakeMemory is a Memory in a map, counting calls by method name. With err set,
// every call fails with it.
type fakeMemory struct {
	mu      sync.Mutex // guards every field
	robots  map[string]RobotsRecord
	backoff map[string]time.Time
	calls   map[string]int
	err     error
}

func newFakeMemory() *fakeMemory {
	return &fakeMemory{robots: map[string]RobotsRecord{}, backoff: map[string]time.Time{}, calls: map[string]int{}}
}

func (m *fakeMemory) LoadRobots(_ context.Context, key string) (RobotsRecord, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["LoadRobots"]++
	if m.err != nil {
		return RobotsRecord{}, false, m.err
	}
	r, ok := m.robots[key]
	r.Body = bytes.Clone(r.Body)
	return r, ok, nil
}

func (m *fakeMemory) SaveRobots(_ context.Context, rec RobotsRecord) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["SaveRobots"]++
	if m.err != nil {
		return m.err
	}
	rec.Body = bytes.Clone(rec.Body)
	m.robots[rec.Key] = rec
	return nil
}

func (m *fakeMemory) LoadBackoff(_ context.Context, host string) (time.Time, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["LoadBackoff"]++
	if m.err != nil {
		return time.Time{}, false, m.err
	}
	t, ok := m.backoff[host]
	return t, ok, nil
}

func (m *fakeMemory) SaveBackoff(_ context.Context, host string, until time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["SaveBackoff"]++
	if m.err != nil {
		return m.err
	}
	m.backoff[host] = until
	return nil
}

// record returns the robots.txt record saved under key.
func (m *fakeMemory) record(key string) (RobotsRecord, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.robots[key]
	return r, ok
}

// backoffOf returns the backoff saved for host.
func (m *fakeMemory) backoffOf(host string) (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.backoff[host]
	return t, ok
}

// callCounts returns a copy of the call counters.
func (m *fakeMemory) callCounts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]int, len(m.calls))
	for k, v := range m.calls {
		out[k] = v
	}
	return out
}

// TestMemoryRobots is the restart case: a second Client with the same Memory obeys
// the robots.txt verdict the first one fetched, without a request, until it expires.
func TestMemoryRobots(t *testing.T) {
	const ttl, retry = time.Hour, 2 * time.Minute
	tests := []struct {
		name     string
		robots   func(r *http.Request) (*http.Response, error)
		lifetime time.Duration // how long the verdict lasts
		want     func(t *testing.T, rec RobotsRecord)
		// check asks c (the second Client) about a.test and fails on a wrong verdict.
		check func(t *testing.T, c *Client)
	}{
		{
			name: "parsed",
			robots: func(r *http.Request) (*http.Response, error) {
				return reply(r, 200, "User-agent: *\nDisallow: /private\n"), nil
			},
			lifetime: ttl,
			want: func(t *testing.T, rec RobotsRecord) {
				if string(rec.Body) != "User-agent: *\nDisallow: /private\n" || rec.Allow || rec.Unavailable {
					t.Errorf("saved %+v, want the body, no flags", rec)
				}
			},
			check: func(t *testing.T, c *Client) {
				if err := c.Allowed(t.Context(), mustURL(t, "http://a.test/private/x")); !errors.Is(err, ErrDisallowed) {
					t.Errorf("Allowed(/private/x) = %v, want ErrDisallowed", err)
				}
				if err := c.Allowed(t.Context(), mustURL(t, "http://a.test/public")); err != nil {
					t.Errorf("Allowed(/public) = %v, want nil", err)
				}
			},
		},
		{
			name: "absent",
			robots: func(r *http.Request) (*http.Response, error) {
				return reply(r, 404, "User-agent: *\nDisallow: /\n"), nil
			},
			lifetime: ttl,
			want: func(t *testing.T, rec RobotsRecord) {
				if rec.Body != nil || !rec.Allow || rec.Unavailable {
					t.Errorf("saved %+v, want allow-all without a body", rec)
				}
			},
			check: func(t *testing.T, c *Client) {
				if err := c.Allowed(t.Context(), mustURL(t, "http://a.test/private/x")); err != nil {
					t.Errorf("Allowed(/private/x) = %v, want nil (robots.txt 404)", err)
				}
			},
		},
		{
			name:     "unavailable",
			robots:   func(r *http.Request) (*http.Response, error) { return reply(r, 503, ""), nil },
			lifetime: retry,
			want: func(t *testing.T, rec RobotsRecord) {
				if rec.Body != nil || rec.Allow || !rec.Unavailable || !strings.Contains(rec.Cause, "status 503") {
					t.Errorf("saved %+v, want unavailable with the status as cause", rec)
				}
			},
			check: func(t *testing.T, c *Client) {
				err := c.Allowed(t.Context(), mustURL(t, "http://a.test/public"))
				ru, ok := errors.AsType[*RobotsUnavailableError](err)
				if !ok || ru.Err == nil || !strings.Contains(ru.Err.Error(), "status 503") {
					t.Errorf("Allowed(/public) = %v, want *RobotsUnavailableError caused by the 503", err)
				}
			},
		},
		{
			name:     "unreachable",
			robots:   func(*http.Request) (*http.Response, error) { return nil, errors.New("connection reset by peer") },
			lifetime: retry,
			want: func(t *testing.T, rec RobotsRecord) {
				if !rec.Unavailable || !strings.Contains(rec.Cause, "connection reset") {
					t.Errorf("saved %+v, want unavailable with the network error as cause", rec)
				}
			},
			check: func(t *testing.T, c *Client) {
				if _, ok := errors.AsType[*RobotsUnavailableError](c.Allowed(t.Context(), mustURL(t, "http://a.test/"))); !ok {
					t.Error("Allowed(/) want *RobotsUnavailableError")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log hitLog
				rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					log.add(r)
					if r.URL.Path == "/robots.txt" {
						return tt.robots(r)
					}
					return reply(r, 200, "page"), nil
				})
				mem := newFakeMemory()
				cfg := Config{RobotsTTL: ttl, RobotsRetry: retry, Memory: mem}
				start := time.Now()
				newTestClient(t, cfg, rt).Allowed(t.Context(), mustURL(t, "http://a.test/"))
				if got := log.count("a.test", "/robots.txt"); got != 1 {
					t.Fatalf("first Client fetched robots.txt %d times, want 1", got)
				}
				rec, ok := mem.record("http://a.test")
				if !ok {
					t.Fatal("nothing saved under http://a.test")
				}
				tt.want(t, rec)
				if !rec.Fetched.Equal(start) || !rec.Expires.Equal(start.Add(tt.lifetime)) {
					t.Errorf("saved Fetched %v, Expires %v; want %v, %v", rec.Fetched, rec.Expires, start, start.Add(tt.lifetime))
				}

				// A new Client, as after a restart, shortly before the verdict expires.
				time.Sleep(tt.lifetime - time.Second)
				c2 := newTestClient(t, cfg, rt)
				tt.check(t, c2)
				if got := log.count("a.test", "/robots.txt"); got != 1 {
					t.Errorf("second Client fetched robots.txt: %d fetches, want 1", got)
				}
				if got := log.count("a.test", ""); got != 1 {
					t.Errorf("requests to a.test = %d, want only the first robots.txt", got)
				}

				// Expired: a new Client fetches robots.txt again, and c2 too.
				time.Sleep(time.Second)
				newTestClient(t, cfg, rt).Allowed(t.Context(), mustURL(t, "http://a.test/"))
				if got := log.count("a.test", "/robots.txt"); got != 2 {
					t.Errorf("after expiry robots.txt fetched %d times, want 2", got)
				}
				c2.Allowed(t.Context(), mustURL(t, "http://a.test/"))
				if got := log.count("a.test", "/robots.txt"); got != 3 {
					t.Errorf("after expiry robots.txt fetched %d times by the second Client too, want 3", got)
				}
			})
		})
	}
}

// TestMemoryCrawlDelay checks that a remembered Crawl-delay applies, counting the
// restart as a request: the previous process may have just sent one.
func TestMemoryCrawlDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log hitLog
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			log.add(r)
			if r.URL.Path == "/robots.txt" {
				return reply(r, 200, "User-agent: *\nCrawl-delay: 3\n"), nil
			}
			return reply(r, 200, "page"), nil
		})
		mem := newFakeMemory()
		cfg := Config{Memory: mem}
		if _, err := newTestClient(t, cfg, rt).Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/0")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		c2 := newTestClient(t, cfg, rt)
		start := time.Now()
		for i := 1; i <= 2; i++ {
			if _, err := c2.Fetch(t.Context(), Request{URL: mustURL(t, fmt.Sprintf("http://a.test/%d", i))}); err != nil {
				t.Fatal(err)
			}
		}
		var got []time.Duration
		for _, at := range [...]string{"/1", "/2"} {
			for _, ts := range log.times("a.test", at) {
				got = append(got, ts.Sub(start))
			}
		}
		if want := []time.Duration{3 * time.Second, 6 * time.Second}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("second Client's requests at %v, want %v", got, want)
		}
		if n := log.count("a.test", "/robots.txt"); n != 1 {
			t.Errorf("robots.txt fetched %d times, want 1", n)
		}
	})
}

// TestMemoryBackoff is the restart case for backoffs: a fresh Client with the same
// Memory sends nothing to a host still backed off, robots.txt included.
func TestMemoryBackoff(t *testing.T) {
	tests := []struct {
		name        string
		resp        func(r *http.Request) *http.Response
		min         time.Duration // the saved backoff's least and greatest length
		max         time.Duration
		robotsKnown bool // the first Client read robots.txt (it was not backed off then)
	}{
		{"429 Retry-After", func(r *http.Request) *http.Response { return reply(r, 429, "", "Retry-After", "30") }, 30 * time.Second, 30 * time.Second, true},
		{"503 Retry-After", func(r *http.Request) *http.Response { return reply(r, 503, "", "Retry-After", "30") }, 30 * time.Second, 30 * time.Second, true},
		{"429 bare", func(r *http.Request) *http.Response { return reply(r, 429, "") }, 500 * time.Millisecond, time.Second, true},
		{"robots.txt 429", nil, 30 * time.Second, 30 * time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log hitLog
				var mu sync.Mutex
				angry := true // a.test answers the first request of the case with tt.resp
				rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					log.add(r)
					mu.Lock()
					defer mu.Unlock()
					if r.URL.Host == "a.test" && angry {
						if r.URL.Path == "/robots.txt" && tt.resp == nil {
							angry = false
							return reply(r, 429, "", "Retry-After", "30"), nil
						}
						if r.URL.Path == "/page" && tt.resp != nil {
							angry = false
							return tt.resp(r), nil
						}
					}
					if r.URL.Path == "/robots.txt" {
						return reply(r, 404, ""), nil
					}
					return reply(r, 200, "page"), nil
				})
				mem := newFakeMemory()
				// The 429 on robots.txt is remembered as unavailable for 10s only, so
				// that from then on the backoff alone keeps robots.txt unasked.
				cfg := Config{Memory: mem, RobotsRetry: 10 * time.Second}
				start := time.Now()
				page := mustURL(t, "http://a.test/page")
				if _, err := newTestClient(t, cfg, rt).Fetch(t.Context(), Request{URL: page}); err == nil {
					t.Fatal("first Fetch succeeded, want the host's refusal")
				}
				until, ok := mem.backoffOf("a.test")
				if !ok || until.Before(start.Add(tt.min)) || until.After(start.Add(tt.max)) {
					t.Fatalf("saved backoff = %v, %v; want between t+%v and t+%v", until, ok, tt.min, tt.max)
				}
				sent := log.count("a.test", "")

				time.Sleep(tt.min / 2)
				c2 := newTestClient(t, cfg, rt)
				if d, want := c2.Reserve("A.test"), until.Sub(time.Now()); d != want {
					t.Errorf("Reserve on a fresh Client = %v, want the backoff's remaining %v", d, want)
				}
				_, err := c2.Fetch(t.Context(), Request{URL: page})
				if be, ok := errors.AsType[*BackoffError](err); ok {
					if !be.Until.Equal(until) {
						t.Errorf("BackoffError.Until = %v, want %v", be.Until, until)
					}
				} else if ru, ok := errors.AsType[*RobotsUnavailableError](err); !ok || tt.robotsKnown || !ru.RetryAt.Equal(until) {
					// Without a remembered robots.txt, its fetch meets the backoff first.
					t.Errorf("Fetch on a fresh Client = %v, want *BackoffError until %v", err, until)
				}
				if got := log.count("a.test", ""); got != sent {
					t.Errorf("a fresh Client sent %d requests to a.test during its backoff", got-sent)
				}
				if _, err := c2.Fetch(t.Context(), Request{URL: mustURL(t, "http://b.test/page")}); err != nil {
					t.Errorf("Fetch b.test = %v, want other hosts unaffected", err)
				}

				time.Sleep(until.Sub(time.Now()))
				if d := c2.Reserve("a.test"); d != 0 {
					t.Errorf("Reserve at the backoff's end = %v, want 0", d)
				}
				if _, err := c2.Fetch(t.Context(), Request{URL: page, Reserved: true}); err != nil {
					t.Errorf("Fetch at the backoff's end = %v, want the page", err)
				}
			})
		})
	}
}

// TestMemoryCalls keeps the hot path free: one load per host, not per page, and a
// save only when something changed.
func TestMemoryCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			switch r.URL.Path {
			case "/robots.txt":
				return reply(r, 200, "User-agent: *\nDisallow: /x\n"), nil
			case "/slow":
				return reply(r, 429, "", "Retry-After", "10"), nil
			}
			return reply(r, 200, "page"), nil
		})
		mem := newFakeMemory()
		c := newTestClient(t, Config{Memory: mem}, rt)
		for i := range 20 {
			c.Reserve("a.test")
			c.Fetch(t.Context(), Request{URL: mustURL(t, fmt.Sprintf("http://a.test/%d", i))})
			c.Reserve("b.test")
			c.Fetch(t.Context(), Request{URL: mustURL(t, fmt.Sprintf("http://b.test/%d", i))})
		}
		want := map[string]int{"LoadBackoff": 2, "LoadRobots": 2, "SaveRobots": 2}
		if got := mem.callCounts(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("Memory calls after 40 fetches on 2 hosts = %v, want %v", got, want)
		}

		// A 429 saves the backoff once; later refusals of the same backoff save nothing.
		c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/slow")})
		for range 5 {
			c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/0")})
		}
		if got := mem.callCounts()["SaveBackoff"]; got != 1 {
			t.Errorf("SaveBackoff calls = %d, want 1", got)
		}
	})
}

// TestMemoryErrors: a failing Memory costs a warning, never a fetch.
func TestMemoryErrors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log hitLog
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			log.add(r)
			switch r.URL.Path {
			case "/robots.txt":
				return reply(r, 200, "User-agent: *\nDisallow: /x\n"), nil
			case "/slow":
				return reply(r, 429, "", "Retry-After", "10"), nil
			}
			return reply(r, 200, "page"), nil
		})
		mem := newFakeMemory()
		mem.err = errors.New("disk I/O error")
		var buf bytes.Buffer
		var bufMu sync.Mutex
		c, err := New(Config{Memory: mem}, &http.Client{Transport: rt}, slog.New(slog.NewTextHandler(lockedWriter{&bufMu, &buf}, nil)))
		if err != nil {
			t.Fatal(err)
		}
		if res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/ok")}); err != nil || string(res.Body) != "page" {
			t.Fatalf("Fetch with a failing Memory = %v, want the page", err)
		}
		if err := c.Allowed(t.Context(), mustURL(t, "http://a.test/x")); !errors.Is(err, ErrDisallowed) {
			t.Errorf("Allowed(/x) = %v, want ErrDisallowed: robots.txt is still obeyed", err)
		}
		if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/slow")}); err == nil {
			t.Fatal("Fetch /slow succeeded, want the 429")
		}
		if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/ok")}); !errors.Is(err, ErrHostBackoff) {
			t.Errorf("Fetch after a 429 = %v, want the in-memory backoff to hold", err)
		}
		if got := log.count("a.test", ""); got != 3 {
			t.Errorf("requests = %d, want 3 (robots.txt, /ok, /slow)", got)
		}
		bufMu.Lock()
		out := buf.String()
		bufMu.Unlock()
		for _, op := range []string{"load backoff", "load robots.txt", "save robots.txt", "save backoff"} {
			if !strings.Contains(out, "level=WARN msg=\"politeness memory unavailable\" op=\""+op+"\"") {
				t.Errorf("no warning for %q in log:\n%s", op, out)
			}
		}
	})
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestMemoryCapped: what a Memory returns never lasts longer than this Client would
// make it last, whatever the saving Client was configured with (or the clock said).
func TestMemoryCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log hitLog
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			log.add(r)
			return reply(r, 404, ""), nil
		})
		mem := newFakeMemory()
		now := time.Now()
		year := now.Add(365 * 24 * time.Hour)
		mem.robots["http://a.test"] = RobotsRecord{Key: "http://a.test", Body: []byte("User-agent: *\nDisallow: /\n"), Fetched: now, Expires: year}
		mem.robots["http://b.test"] = RobotsRecord{Key: "http://b.test", Unavailable: true, Fetched: now, Expires: year}
		mem.backoff["c.test"] = year
		c := newTestClient(t, Config{Memory: mem, RobotsTTL: time.Hour, RobotsRetry: time.Minute, MaxRetryAfter: 10 * time.Minute}, rt)

		if err := c.Allowed(t.Context(), mustURL(t, "http://a.test/")); !errors.Is(err, ErrDisallowed) {
			t.Errorf("a.test: Allowed = %v, want the remembered ErrDisallowed", err)
		}
		if _, ok := errors.AsType[*RobotsUnavailableError](c.Allowed(t.Context(), mustURL(t, "http://b.test/"))); !ok {
			t.Error("b.test: want the remembered *RobotsUnavailableError")
		}
		if d := c.Reserve("c.test"); d != 10*time.Minute {
			t.Errorf("c.test: Reserve = %v, want the 10m cap", d)
		}
		if n := log.count("", ""); n != 0 {
			t.Fatalf("%d requests before the caps, want 0", n)
		}
		time.Sleep(time.Minute)
		c.Allowed(t.Context(), mustURL(t, "http://b.test/"))
		if n := log.count("b.test", "/robots.txt"); n != 1 {
			t.Errorf("b.test: robots.txt fetched %d times after RobotsRetry, want 1", n)
		}
		time.Sleep(59 * time.Minute)
		if err := c.Allowed(t.Context(), mustURL(t, "http://a.test/")); err != nil {
			t.Errorf("a.test: Allowed after RobotsTTL = %v, want nil (robots.txt now 404)", err)
		}
		if n := log.count("a.test", "/robots.txt"); n != 1 {
			t.Errorf("a.test: robots.txt fetched %d times after RobotsTTL, want 1", n)
		}
	})
}

// TestRobotsCutLineDropped checks that robots.txt is read one byte past
// robots.MaxSize, so that a rule cut by the limit is dropped rather than
// shortened, both as fetched and as remembered.
func TestRobotsCutLineDropped(t *testing.T) {
	head := "User-agent: *\nDisallow: /a\n"
	allow := "Allow: /abc-open\n" // cut after "Allow: /abc" it would allow /abc-secret
	cut := len("Allow: /abc")
	pad := robots.MaxSize - cut - len(head)
	body := head + "#" + strings.Repeat("x", pad-2) + "\n" + allow + "Disallow: /z\n"
	if body[robots.MaxSize-cut:robots.MaxSize] != "Allow: /abc" {
		t.Fatalf("test body misaligned: %q", body[robots.MaxSize-cut:robots.MaxSize+5])
	}
	synctest.Test(t, func(t *testing.T) {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return reply(r, 200, body), nil
		})
		mem := newFakeMemory()
		for i, c := range []*Client{newTestClient(t, Config{Memory: mem}, rt), newTestClient(t, Config{Memory: mem}, rt)} {
			if err := c.Allowed(t.Context(), mustURL(t, "http://a.test/abc-secret")); !errors.Is(err, ErrDisallowed) {
				t.Errorf("Client %d: Allowed(/abc-secret) = %v, want ErrDisallowed", i+1, err)
			}
		}
		if rec, _ := mem.record("http://a.test"); len(rec.Body) != robots.MaxSize+1 {
			t.Errorf("saved body of %d bytes, want robots.MaxSize+1 = %d", len(rec.Body), robots.MaxSize+1)
		}
	})
}

// listerMemory is a fakeMemory that lists its backoffs at once.
type listerMemory struct{ *fakeMemory }

func (m listerMemory) LoadBackoffs(_ context.Context, now time.Time) (map[string]time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls["LoadBackoffs"]++
	out := map[string]time.Time{}
	for h, u := range m.backoff {
		if u.After(now) {
			out[h] = u
		}
	}
	return out, nil
}

// TestMemoryBackoffLister: with a BackoffLister Memory, the Client loads the
// backoffs once in New and never reads one per host; a saved backoff still
// holds, and so does one it saves itself after its host's state was evicted.
func TestMemoryBackoffLister(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log hitLog
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			log.add(r)
			if r.URL.Host == "b.test" && r.URL.Path == "/page" {
				return reply(r, 429, "", "Retry-After", "60"), nil
			}
			if r.URL.Path == "/robots.txt" {
				return reply(r, 404, ""), nil
			}
			return reply(r, 200, "page"), nil
		})
		mem := listerMemory{newFakeMemory()}
		mem.backoff["a.test"] = time.Now().Add(time.Minute)
		mem.backoff["old.test"] = time.Now().Add(-time.Minute)
		c := newTestClient(t, Config{Memory: mem, MaxHosts: 2, IgnoreRobots: true}, rt)
		if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/page")}); !errors.Is(err, ErrHostBackoff) {
			t.Errorf("a.test: err = %v, want its saved backoff", err)
		}
		if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://old.test/page")}); err != nil {
			t.Errorf("old.test, backoff expired: %v", err)
		}
		if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://b.test/page")}); err == nil {
			t.Fatal("b.test: want the 429")
		}
		// Two more hosts evict b.test's state (MaxHosts 2); made again, it is still backed off.
		for _, h := range []string{"c.test", "d.test"} {
			if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://"+h+"/page")}); err != nil {
				t.Fatalf("%s: %v", h, err)
			}
		}
		if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://b.test/page")}); !errors.Is(err, ErrHostBackoff) {
			t.Errorf("b.test after eviction: err = %v, want its backoff", err)
		}
		if n := log.count("a.test", "/page"); n != 0 {
			t.Errorf("a.test was sent %d requests while backed off", n)
		}
		calls := mem.callCounts()
		if calls["LoadBackoffs"] != 1 || calls["LoadBackoff"] != 0 {
			t.Errorf("calls = %v, want LoadBackoffs once and LoadBackoff never", calls)
		}
	})
}
