package aggregate

import (
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// TestHedgeLognormal drives a hedged backend whose latency is lognormal
// (median 20ms, p99 200ms, each call drawn on its own) in virtual time, one
// request after another, and wants what the model promises within a
// little: hedging at the observed p80 with a budget of 25 % sends about
// 20 % second calls and brings the p99 near the 96ms that hedging at
// exactly p80 gives in theory (2.08× lower); at p90 with the default 10 %,
// near 111ms (1.80×), at most 10 % second calls. The hedger's own losses
// (a percentile estimated from 256 calls, a bucket of 10 that runs dry
// when the demand equals the budget) are in the margins: with this seed,
// 96ms with 20.6 % second calls, and 118ms with 10.0 %. The calls drawn
// from a seeded generator and the time virtual, the figures are the same
// in every run.
func TestHedgeLognormal(t *testing.T) {
	const n = 10000
	for _, c := range []struct {
		pct, budget        float64
		minExtra, maxExtra float64       // second calls per call
		maxP99             time.Duration // the model's p99 and a margin
	}{
		{80, 25, 0.18, 0.22, 106 * time.Millisecond},
		{90, 0, 0.085, 0.10 + hedgeBurst/float64(n), 125 * time.Millisecond},
	} {
		synctest.Test(t, func(t *testing.T) {
			sigma := math.Log(10) / 2.3263478740408408
			var (
				mu  sync.Mutex // guards rng
				rng = rand.New(rand.NewPCG(1, 2))
			)
			calls := 0
			client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				mu.Lock()
				d := time.Duration(float64(20*time.Millisecond) * math.Exp(sigma*rng.NormFloat64()))
				calls++
				mu.Unlock()
				select {
				case <-time.After(d):
					return jsonResponse(r, `{}`), nil
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			})}
			a := mustNew(t, Endpoint{Path: "/p", NoCoalesce: true, Timeout: Duration(10 * time.Second), Backends: []Backend{
				{Name: "a", URL: "http://h/a", Hedge: Hedge{Delay: Duration(50 * time.Millisecond), Percentile: c.pct, Budget: c.budget}},
			}}, client)
			lat := make([]time.Duration, n)
			for i := range n {
				start := time.Now()
				if r := a.Do(t.Context(), Request{}); !r.Complete {
					t.Fatalf("request %d: %+v", i, r.Backends[0])
				}
				lat[i] = time.Since(start)
				a.Wait()
			}
			slices.Sort(lat)
			p99 := lat[n*99/100]
			extra := float64(calls-n) / float64(n)
			t.Logf("p%g, budget %g: p99 %v, %.1f %% second calls", c.pct, c.budget, p99, 100*extra)
			if p99 > c.maxP99 || extra < c.minExtra || extra > c.maxExtra {
				t.Errorf("p%g, budget %g: p99 %v, %.1f %% second calls; want at most %v, %.1f to %.1f %%",
					c.pct, c.budget, p99, 100*extra, c.maxP99, 100*c.minExtra, 100*c.maxExtra)
			}
		})
	}
}
