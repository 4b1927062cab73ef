package fetch

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// mostInSecond returns the most of times (any order) in any half-open
// second.
func mostInSecond(times []time.Time) int {
	times = slices.SortedFunc(slices.Values(times), time.Time.Compare)
	best := 0
	for hi, lo := 0, 0; hi < len(times); hi++ {
		for times[hi].Sub(times[lo]) >= time.Second {
			lo++
		}
		best = max(best, hi-lo+1)
	}
	return best
}

// late delays the first n of every m requests by d: they reach the server
// next to the ones sent after them.
func late(m, n int, d time.Duration) func(int) time.Duration {
	return func(i int) time.Duration {
		if i%m < n {
			return d
		}
		return 0
	}
}

// TestWindowHoldsAtTheServer: a server that counts some requests late (a
// request held up on its way, or waiting for the server's CPU, up to 300 ms)
// never counts more than rate+burst in a second, however the delays fall:
// the window counts a request until a second after its answer.
func TestWindowHoldsAtTheServer(t *testing.T) {
	for _, tt := range []struct {
		name        string
		rate        float64
		burst       int
		delay, work func(i int) time.Duration // before the server counts request i; after, before it answers
	}{
		{"3 of 12 late", 10, 1, late(12, 3, 300*time.Millisecond), func(int) time.Duration { return 0 }},
		{"3 of 12 late, slow answers", 10, 1, late(12, 3, 300*time.Millisecond), func(int) time.Duration { return 20 * time.Millisecond }},
		{"burst 3, 4 of 10 late", 5, 3, late(10, 4, 400*time.Millisecond), func(int) time.Duration { return 0 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var counted []time.Time
				n := 0
				rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if r.URL.Path == "/robots.txt" {
						return reply(r, http.StatusNotFound, ""), nil
					}
					mu.Lock()
					i := n
					n++
					mu.Unlock()
					time.Sleep(tt.delay(i))
					mu.Lock()
					counted = append(counted, time.Now())
					mu.Unlock()
					time.Sleep(tt.work(i))
					return reply(r, http.StatusOK, "ok"), nil
				})
				c := newTestClient(t, Config{Rate: tt.rate, Burst: tt.burst, PerHost: 4}, rt)
				var wg sync.WaitGroup
				for i := range 60 {
					wg.Go(func() {
						if _, err := c.Fetch(t.Context(), Request{URL: mustURL(t, fmt.Sprintf("http://a.test/%d", i))}); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				want := int(tt.rate) + tt.burst
				if got := mostInSecond(counted); got > want {
					t.Errorf("the server counted %d requests in one second, want at most rate+burst = %d", got, want)
				}
			})
		})
	}
}

// TestWindowSteadyRate: a host that answers within an interval is held back
// by the limiter alone: the window costs it nothing.
func TestWindowSteadyRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
			time.Sleep(50 * time.Millisecond)
			return reply(r, http.StatusNotFound, ""), nil
		})
		c := newTestClient(t, Config{Rate: 10, Burst: 1, IgnoreRobots: true}, rt)
		start := time.Now()
		for i := range 21 {
			for {
				d := c.Reserve("a.test")
				if d == 0 {
					break
				}
				time.Sleep(d)
			}
			c.Fetch(t.Context(), Request{URL: mustURL(t, fmt.Sprintf("http://a.test/%d", i)), Reserved: true})
		}
		// 21 requests at 10/s, the first at once: 2 s and the last answer.
		if got, want := time.Since(start), 2*time.Second+50*time.Millisecond; got != want {
			t.Errorf("21 requests took %v, want %v", got, want)
		}
	})
}

// TestWindowResume: a Client that takes a host over from another counts the
// other's requests answered within the last second (Recent, then Resume),
// so the host sees at most rate+burst in a second over both.
func TestWindowResume(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) { return reply(r, http.StatusNotFound, ""), nil })
		cfg := Config{Rate: 10, Burst: 1, IgnoreRobots: true}
		a, b := newTestClient(t, cfg, rt), newTestClient(t, cfg, rt)
		for i := range 3 {
			for d := a.Reserve("a.test"); d > 0; d = a.Reserve("a.test") {
				time.Sleep(d)
			}
			a.Fetch(t.Context(), Request{URL: mustURL(t, fmt.Sprintf("http://a.test/%d", i)), Reserved: true})
		}
		if got := a.Recent("a.test"); len(got) != 3 || got[2].Sub(got[0]) != 200*time.Millisecond {
			t.Errorf("a.Recent = %v, want its 3 answers, 0.1 s apart", got)
		}
		if got := b.Recent("no.test"); got != nil {
			t.Errorf("Recent of an unknown host = %v, want nil", got)
		}
		// Another worker's 11 requests, answered half a second ago (arrived
		// late, all at once), and one answered over a second ago.
		now := time.Now()
		var times []time.Time
		for range 11 {
			times = append(times, now.Add(-500*time.Millisecond))
		}
		b.Resume("b.test", append(times, now.Add(-time.Second)))
		if got := len(b.Recent("b.test")); got != 11 {
			t.Errorf("b.Recent holds %d answers after Resume, want 11", got)
		}
		// b's bucket is full, but the host's second is too, for half a second.
		if d := b.Reserve("b.test"); d != 500*time.Millisecond {
			t.Errorf("b.Reserve after Resume = %v, want 500ms", d)
		}
		time.Sleep(500 * time.Millisecond)
		if d := b.Reserve("b.test"); d != 0 {
			t.Errorf("b.Reserve a second after the answers = %v, want 0", d)
		}
	})
}

// TestWindowOffWithoutRate: a Client without a rate keeps no answer times
// (memory stays flat however fast a host answers).
func TestWindowOffWithoutRate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rt := roundTripFunc(func(r *http.Request) (*http.Response, error) { return reply(r, http.StatusNotFound, ""), nil })
		c := newTestClient(t, Config{IgnoreRobots: true}, rt)
		for i := range 50 {
			c.Fetch(t.Context(), Request{URL: mustURL(t, fmt.Sprintf("http://a.test/%d", i))})
		}
		if got := c.Recent("a.test"); got != nil {
			t.Errorf("Recent without a rate = %d times, want none", len(got))
		}
	})
}
