package aggregate

import (
	"errors"
	"math"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
)

// compileResilience checks a backend's circuit breaker and hedging settings
// and compiles them; the breaker itself is made by New.
func compileResilience(bc *Backend, b *backend, c *compiled, add func(field, format string, args ...any) *ConfigError) {
	cb := bc.CircuitBreaker
	switch {
	case cb.Failures < 0:
		add("circuit_breaker.failures", "%d is negative", cb.Failures)
	case cb.OpenFor < 0:
		add("circuit_breaker.open_for", "%s is negative", cb.OpenFor)
	case cb.Probes < 0:
		add("circuit_breaker.probes", "%d is negative", cb.Probes)
	case cb.Failures == 0 && (cb.OpenFor != 0 || cb.Probes != 0):
		add("circuit_breaker.failures", "0 turns the breaker off; set it to use open_for and probes")
	case cb.Failures > 0:
		if cb.OpenFor == 0 {
			cb.OpenFor = Duration(DefaultOpenFor)
		}
		if cb.Probes == 0 {
			cb.Probes = 1
		}
		b.breakerCfg = cb
	}

	h := bc.Hedge
	bad := func(f float64) bool { return math.IsNaN(f) || math.IsInf(f, 0) }
	switch {
	case h.Delay < 0:
		add("hedge.delay", "%s is negative", h.Delay)
	case bad(h.Percentile) || h.Percentile < 0 || h.Percentile >= 100:
		add("hedge.percentile", "%v is not a percentile above 0 and below 100", h.Percentile)
	case bad(h.Budget) || h.Budget < 0 || h.Budget > 100:
		add("hedge.budget", "%v is not a percentage from 0 to 100", h.Budget)
	case time.Duration(h.Delay) >= c.timeout:
		add("hedge.delay", "%s leaves the second call no time within the endpoint's %s", h.Delay, Duration(c.timeout)).Related = "timeout"
	case h.Delay == 0 && h.Percentile == 0:
		if h.Budget != 0 {
			add("hedge.budget", "set delay or percentile to hedge")
		}
	default:
		if h.Budget == 0 {
			h.Budget = DefaultBudget
		}
		b.hedge = &hedger{delay: time.Duration(h.Delay), pct: h.Percentile, credit: int64(h.Budget * hedgeCost / 100)}
		b.hedge.tokens.Store(hedgeBurst * hedgeCost) // the burst is there from the start
	}
}

// newBreaker makes b's circuit breaker. A call cancelled because its client
// left (errExcluded) counts neither way.
func (b *backend) newBreaker() {
	if b.breakerCfg.Failures == 0 {
		return
	}
	failures := uint32(b.breakerCfg.Failures)
	b.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        b.name,
		MaxRequests: uint32(b.breakerCfg.Probes),
		Timeout:     time.Duration(b.breakerCfg.OpenFor),
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		IsExcluded:  func(err error) bool { return errors.Is(err, errExcluded) },
	})
}

// errFailed and errExcluded tell the circuit breaker how a call ended.
var (
	errFailed   = errors.New("backend call failed")
	errExcluded = errors.New("backend call cancelled by its client")
)

// hedgeCost is what one second call takes from the budget's bucket, in
// thousandths of a call; every call adds Budget percent of it.
const hedgeCost = 1000

// hedgeBurst is how many second calls the bucket can hold.
const hedgeBurst = 10

// Latencies kept to estimate a percentile, and how many are needed first.
const (
	latencyWindow  = 256
	latencyMinimum = 20
	latencyRefresh = 16 // the percentile is computed again every this many calls
)

// hedger decides when a backend's second call goes out, and whether the
// budget allows it. It is safe for concurrent use, without locks.
type hedger struct {
	delay  time.Duration // Hedge.Delay
	pct    float64       // Hedge.Percentile; 0 means delay alone
	credit int64         // added to tokens by each call

	tokens atomic.Int64                // the budget's bucket, in thousandths of a call
	lat    [latencyWindow]atomic.Int64 // recent latencies, a ring
	n      atomic.Uint64               // latencies observed so far
	wait   atomic.Int64                // the current percentile, in nanoseconds; 0 until known
}

// after returns how long the first call has before the second is sent; 0
// means no second call.
func (h *hedger) after() time.Duration {
	if h.pct > 0 {
		if w := h.wait.Load(); w > 0 {
			return time.Duration(w)
		}
	}
	return h.delay
}

// call adds one call's share to the budget. A full bucket is left as it
// is, without a write.
func (h *hedger) call() {
	for {
		t := h.tokens.Load()
		if t >= hedgeBurst*hedgeCost || h.tokens.CompareAndSwap(t, min(t+h.credit, hedgeBurst*hedgeCost)) {
			return
		}
	}
}

// allow takes a second call from the budget, and reports whether there was
// one to take.
func (h *hedger) allow() bool {
	for {
		t := h.tokens.Load()
		if t < hedgeCost {
			return false
		}
		if h.tokens.CompareAndSwap(t, t-hedgeCost) {
			return true
		}
	}
}

// observe records how long one call took (or ran before it was cut at the
// deadline, a lower bound), and now and then computes the percentile again.
func (h *hedger) observe(d time.Duration) {
	if h.pct == 0 {
		return
	}
	n := h.n.Add(1)
	h.lat[(n-1)%latencyWindow].Store(int64(d))
	if n < latencyMinimum || n%latencyRefresh != 0 {
		return
	}
	k := int(min(n, latencyWindow))
	var buf [latencyWindow]int64
	for i := range k {
		buf[i] = h.lat[i].Load()
	}
	sorted := buf[:k]
	slices.Sort(sorted)
	i := int(math.Ceil(h.pct/100*float64(k))) - 1
	h.wait.Store(max(sorted[min(max(i, 0), k-1)], 1))
}
