package fetch

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// okRT answers 200 to everything and logs each request.
func okRT(log *hitLog) roundTripFunc {
	return func(r *http.Request) (*http.Response, error) {
		log.add(r)
		return reply(r, http.StatusOK, "ok", "Content-Type", "text/plain"), nil
	}
}

func TestFetchPerHostRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log hitLog
		c := newTestClient(t, Config{Rate: 1, Burst: 2, PerHost: 10, IgnoreRobots: true}, okRT(&log))
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/")}); err != nil {
					t.Errorf("Fetch a: %v", err)
				}
			})
		}
		time.Sleep(500 * time.Millisecond) // fake clock
		synctest.Wait()
		if got := log.count("a.test", ""); got != 2 {
			t.Errorf("hits on a.test at t=0.5s = %d, want 2 (the burst)", got)
		}
		// Another host has its own limiter.
		if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://b.test/")}); err != nil {
			t.Fatalf("Fetch b: %v", err)
		}
		if got := log.count("b.test", ""); got != 1 {
			t.Errorf("hits on b.test at t=0.5s = %d, want 1", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := log.count("a.test", ""); got != 3 {
			t.Errorf("hits on a.test at t=1.5s = %d, want 3", got)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if got := log.count("a.test", ""); got != 5 {
			t.Errorf("hits on a.test at t=3.5s = %d, want 5", got)
		}
		wg.Wait()
	})
}

func TestFetchPerHostConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{}) // closed by the test
		var mu sync.Mutex
		inFlight, peak := map[string]int{}, map[string]int{}
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			inFlight[r.URL.Host]++
			peak[r.URL.Host] = max(peak[r.URL.Host], inFlight[r.URL.Host])
			mu.Unlock()
			defer func() {
				mu.Lock()
				inFlight[r.URL.Host]--
				mu.Unlock()
			}()
			select {
			case <-release:
				return reply(r, http.StatusOK, "ok"), nil
			case <-r.Context().Done():
				return nil, r.Context().Err()
			}
		})
		c := newTestClient(t, Config{PerHost: 2, IgnoreRobots: true}, rt)
		var wg sync.WaitGroup
		for _, host := range []string{"a.test", "a.test", "a.test", "a.test", "a.test", "a.test", "b.test", "b.test", "b.test"} {
			wg.Go(func() {
				if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://"+host+"/")}); err != nil {
					t.Errorf("Fetch %s: %v", host, err)
				}
			})
		}
		synctest.Wait()
		mu.Lock()
		a, b := inFlight["a.test"], inFlight["b.test"]
		mu.Unlock()
		if a != 2 || b != 2 {
			t.Errorf("in flight: a.test %d, b.test %d; want 2 each", a, b)
		}
		close(release)
		wg.Wait()
		if peak["a.test"] != 2 || peak["b.test"] != 2 {
			t.Errorf("peak in flight: %v, want 2 per host", peak)
		}
	})
}

func TestReserve(t *testing.T) {
	t.Run("limited", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var log hitLog
			c := newTestClient(t, Config{Rate: 1, Burst: 1, IgnoreRobots: true}, okRT(&log))
			if d := c.Reserve("a.test"); d != 0 {
				t.Fatalf("first Reserve = %v, want 0", d)
			}
			if d := c.Reserve("a.test"); d != time.Second {
				t.Fatalf("second Reserve = %v, want 1s", d)
			}
			// Refused reservations take nothing: asking again does not push the wait out.
			if d := c.Reserve("a.test"); d != time.Second {
				t.Fatalf("third Reserve = %v, want 1s", d)
			}
			if d := c.Reserve("b.test"); d != 0 {
				t.Fatalf("Reserve(b.test) = %v, want 0", d)
			}
			time.Sleep(time.Second)
			if d := c.Reserve("a.test"); d != 0 {
				t.Fatalf("Reserve after 1s = %v, want 0", d)
			}
			// The token is taken: a Reserved fetch is sent at once and takes no other.
			start := time.Now()
			if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/"), Reserved: true}); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el != 0 {
				t.Errorf("Reserved Fetch took %v, want 0", el)
			}
			if d := c.Reserve("a.test"); d != time.Second {
				t.Errorf("Reserve after a Reserved Fetch = %v, want 1s", d)
			}
			// Without Reserved, Fetch waits for the token itself.
			start = time.Now()
			if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/")}); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el != time.Second {
				t.Errorf("unreserved Fetch took %v, want 1s", el)
			}
		})
	})
	t.Run("unlimited", func(t *testing.T) {
		c := newTestClient(t, Config{IgnoreRobots: true}, okRT(&hitLog{}))
		for i := range 100 {
			if d := c.Reserve("a.test"); d != 0 {
				t.Fatalf("Reserve #%d with Rate 0 = %v, want 0", i, d)
			}
		}
	})
}

func TestFetchRetryAfterBacksHostOff(t *testing.T) {
	tests := []struct {
		name       string
		code       int
		retryAfter func(now time.Time) string
	}{
		{"429 seconds", http.StatusTooManyRequests, func(time.Time) string { return "2" }},
		{"429 HTTP-date", http.StatusTooManyRequests, func(now time.Time) string {
			return now.Add(2 * time.Second).UTC().Format(http.TimeFormat)
		}},
		{"503 seconds", http.StatusServiceUnavailable, func(time.Time) string { return "2" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log hitLog
				var first atomic.Bool
				first.Store(true)
				rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					log.add(r)
					if r.URL.Host == "a.test" && first.CompareAndSwap(true, false) {
						return reply(r, tt.code, "slow down", "Retry-After", tt.retryAfter(time.Now())), nil
					}
					return reply(r, http.StatusOK, "ok"), nil
				})
				c := newTestClient(t, Config{IgnoreRobots: true}, rt)
				start := time.Now()
				a := mustURL(t, "http://a.test/page")

				res, err := c.Fetch(t.Context(), Request{URL: a})
				se, ok := errors.AsType[*StatusError](err)
				if !ok || se.Code != tt.code || se.RetryAfter != 2*time.Second {
					t.Fatalf("Fetch = %v, want *StatusError %d with RetryAfter 2s", err, tt.code)
				}
				if res == nil || res.Status != tt.code || string(res.Body) != "slow down" {
					t.Fatalf("Result = %+v, want the %d response", res, tt.code)
				}
				if d, ok := RetryDelay(err, 0); !ok || d != 2*time.Second {
					t.Errorf("RetryDelay = %v, %v; want 2s, true", d, ok)
				}

				for _, at := range []time.Duration{0, 1999 * time.Millisecond} {
					time.Sleep(start.Add(at).Sub(time.Now()))
					_, err = c.Fetch(t.Context(), Request{URL: a})
					be, ok := errors.AsType[*BackoffError](err)
					if !ok || !errors.Is(err, ErrHostBackoff) || !be.Until.Equal(start.Add(2*time.Second)) {
						t.Fatalf("Fetch at t=%v = %v, want *BackoffError until t=2s", at, err)
					}
					if d, ok := RetryDelay(err, 5); !ok || d != 2*time.Second-at {
						t.Errorf("RetryDelay at t=%v = %v, %v; want %v", at, d, ok, 2*time.Second-at)
					}
					if d := c.Reserve("a.test"); d != 2*time.Second-at {
						t.Errorf("Reserve at t=%v = %v, want %v", at, d, 2*time.Second-at)
					}
					if got := log.count("a.test", ""); got != 1 {
						t.Fatalf("requests to a.test at t=%v = %d, want 1", at, got)
					}
				}
				// Other hosts are unaffected.
				if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://b.test/")}); err != nil {
					t.Errorf("Fetch b.test during a.test's backoff: %v", err)
				}

				time.Sleep(start.Add(2 * time.Second).Sub(time.Now()))
				if d := c.Reserve("a.test"); d != 0 {
					t.Errorf("Reserve at t=2s = %v, want 0", d)
				}
				if _, err := c.Fetch(t.Context(), Request{URL: a, Reserved: true}); err != nil {
					t.Fatalf("Fetch at t=2s: %v", err)
				}
				if got := log.count("a.test", ""); got != 2 {
					t.Errorf("requests to a.test at t=2s = %d, want 2", got)
				}
			})
		})
	}
}

func TestFetch429WithoutRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return reply(r, http.StatusTooManyRequests, ""), nil
		})
		c := newTestClient(t, Config{IgnoreRobots: true}, rt)
		_, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/")})
		if se, ok := errors.AsType[*StatusError](err); !ok || se.RetryAfter != 0 {
			t.Fatalf("Fetch = %v, want *StatusError without RetryAfter", err)
		}
		// Backed off by the attempt-0 backoff: between 0.5s and 1s.
		if d := c.Reserve("a.test"); d < 500*time.Millisecond || d > time.Second {
			t.Errorf("Reserve after a bare 429 = %v, want in [0.5s, 1s]", d)
		}
	})
}

func TestRetryAfterCapped(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return reply(r, http.StatusServiceUnavailable, "", "Retry-After", "86400"), nil
		})
		c := newTestClient(t, Config{IgnoreRobots: true, MaxRetryAfter: 10 * time.Second}, rt)
		_, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/")})
		if se, ok := errors.AsType[*StatusError](err); !ok || se.RetryAfter != 10*time.Second {
			t.Fatalf("Fetch = %v, want *StatusError with RetryAfter capped at 10s", err)
		}
		if d := c.Reserve("a.test"); d != 10*time.Second {
			t.Errorf("Reserve = %v, want 10s", d)
		}
	})
}

func TestFetchTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			<-r.Context().Done() // a server that never answers
			return nil, r.Context().Err()
		})
		c := newTestClient(t, Config{IgnoreRobots: true, Timeout: 5 * time.Second}, rt)
		start := time.Now()
		res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/")})
		if res != nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Fetch = %v, %v; want nil, deadline exceeded", res, err)
		}
		if el := time.Since(start); el != 5*time.Second {
			t.Errorf("Fetch gave up after %v, want 5s", el)
		}
		if _, ok := RetryDelay(err, 0); !ok {
			t.Errorf("RetryDelay(%v) not retryable", err)
		}
	})
}

func TestFetchRateWaitPastDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestClient(t, Config{IgnoreRobots: true, Rate: 0.1}, okRT(&hitLog{}))
		u := mustURL(t, "http://a.test/")
		if _, err := c.Fetch(t.Context(), Request{URL: u}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		start := time.Now()
		_, err := c.Fetch(ctx, Request{URL: u})
		if !errors.Is(err, ErrRateLimited) {
			t.Fatalf("Fetch with the next token 10s away and 1s left = %v, want ErrRateLimited", err)
		}
		if el := time.Since(start); el != 0 {
			t.Errorf("Fetch waited %v before giving up, want 0", el)
		}
		if _, ok := RetryDelay(err, 0); !ok {
			t.Errorf("RetryDelay(ErrRateLimited) not retryable")
		}
	})
}

func TestRedirectHopTakesToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log hitLog
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			log.add(r)
			if r.URL.Path == "/a" {
				return reply(r, http.StatusFound, "", "Location", "/b"), nil
			}
			return reply(r, http.StatusOK, "b"), nil
		})
		c := newTestClient(t, Config{IgnoreRobots: true, Rate: 1}, rt)
		start := time.Now()
		if d := c.Reserve("a.test"); d != 0 {
			t.Fatalf("Reserve = %v", d)
		}
		res, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/a"), Reserved: true})
		if err != nil {
			t.Fatal(err)
		}
		if res.FinalURL.Path != "/b" {
			t.Fatalf("FinalURL = %v, want /b", res.FinalURL)
		}
		a, b := log.times("a.test", "/a"), log.times("a.test", "/b")
		if len(a) != 1 || len(b) != 1 || !a[0].Equal(start) || b[0].Sub(start) != time.Second {
			t.Errorf("/a at %v, /b at %v after start; want /a at 0, /b at 1s", a, b)
		}
	})
}

// TestReservedAfterRobots: a token reserved before robots.txt was read was
// the host's time before the robots.txt request; the page, which follows
// that request, waits for a token of its own, so the host never sees two
// requests closer than its rate allows (fleet and single crawls alike).
func TestReservedAfterRobots(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log hitLog
		c := newTestClient(t, Config{Rate: 1, Burst: 1}, roundTripFunc(func(r *http.Request) (*http.Response, error) {
			log.add(r)
			if r.URL.Path == "/robots.txt" {
				return reply(r, http.StatusOK, "User-agent: *\nAllow: /\n", "Content-Type", "text/plain"), nil
			}
			return reply(r, http.StatusOK, "ok", "Content-Type", "text/plain"), nil
		}))
		if d := c.Reserve("a.test"); d != 0 {
			t.Fatalf("Reserve = %v, want 0", d)
		}
		if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, "http://a.test/"), Reserved: true}); err != nil {
			t.Fatal(err)
		}
		log.mu.Lock()
		defer log.mu.Unlock()
		if len(log.hits) != 2 || log.hits[0].path != "/robots.txt" {
			t.Fatalf("hits = %+v, want robots.txt then the page", log.hits)
		}
		if gap := log.hits[1].at.Sub(log.hits[0].at); gap < time.Second {
			t.Errorf("the page followed robots.txt after %v, want at least 1s at 1 request/s", gap)
		}
	})
}
