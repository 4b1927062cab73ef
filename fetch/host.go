package fetch

import (
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// hostState is the politeness state of one host.
type hostState struct {
	lim          atomic.Pointer[rate.Limiter] // replaced whole when a Crawl-delay applies
	sem          chan struct{}                // one element per request in flight
	backoffUntil atomic.Int64                 // Unix nanoseconds; nothing is sent before it
	win          window                       // requests unanswered or answered within the last second
}

// host returns host's politeness state, creating it if needed. An evicted host starts afresh,
// its Crawl-delay applied again from the robots.txt cache and its backoff restored from the
// Memory.
func (c *Client) host(host string) *hostState {
	key := strings.ToLower(host)
	if hs, ok := c.hosts.Get(key); ok {
		return hs
	}
	hs := &hostState{sem: make(chan struct{}, c.cfg.PerHost)}
	lim := rate.NewLimiter(c.limit, c.cfg.Burst)
	if d := c.cachedCrawlDelay(key); d > 0 {
		lim = rate.NewLimiter(min(c.limit, rate.Every(d)), 1)
	}
	hs.lim.Store(lim)
	if until, ok := c.recallBackoff(key); ok {
		hs.backoffUntil.Store(until.UnixNano())
	}
	if prev, ok, _ := c.hosts.PeekOrAdd(key, hs); ok {
		return prev // another goroutine created it first
	}
	return hs
}

// backoffLeft returns how long hs remains backed off after now.
func (hs *hostState) backoffLeft(now time.Time) time.Duration {
	return max(time.Duration(hs.backoffUntil.Load()-now.UnixNano()), 0)
}

// checkBackoff returns a *BackoffError if hs is backed off now.
func (hs *hostState) checkBackoff(host string) error {
	until := hs.backoffUntil.Load()
	if now := time.Now(); until > now.UnixNano() {
		return &BackoffError{Host: host, Until: time.Unix(0, until)}
	}
	return nil
}

// setBackoff backs hs off until t, unless it already is for longer, and reports whether it
// did.
func (hs *hostState) setBackoff(t time.Time) bool {
	n := t.UnixNano()
	for {
		old := hs.backoffUntil.Load()
		if old >= n {
			return false
		}
		if hs.backoffUntil.CompareAndSwap(old, n) {
			return true
		}
	}
}
