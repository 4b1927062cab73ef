package fetch

import (
	"context"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// window is a host's count of requests as its server sees them: at most
// max of them in any second, max being the limiter's rate per second plus
// its burst (the most a token bucket lets through in a second; windowMax).
//
// The limiter spaces requests as they are sent. A request can reach the
// server (or be counted by it) later than it was sent: the client's or the
// server's goroutine waits for a CPU on a loaded machine, a connection is
// dialled. Arriving next to the one after it, it can make a second at the
// server hold one more request than the limiter let through; the bucket
// absorbs a delay of up to burst/rate, no more. The window holds at the
// server by causality instead of timing: a request reached the server no
// later than its answer (or the failure that ended it) came back. So a
// request is sent only while fewer than max requests are either unanswered
// or answered within the last second. Then any second at the server holds
// at most max requests: take the one of them sent last, j; every other one
// was sent before j, and reached the server less than a second before j
// did, so at j's sending it was unanswered or answered less than a second
// before; fewer than max were.
//
// A host that answers in less than burst/rate is held back by the limiter
// alone; one that answers more slowly gets at most max requests per second
// plus its answer time, as crawlers that time their delays from the end of
// the previous fetch (Nutch, Heritrix) slow down on a slow server: at rate 2,
// burst 1 and PerHost 2 (measured with a fake clock), 1.87 requests/s from a
// host that answers in 0.6 s, 1.5 from one that answers in 1 s; at rate 10,
// PerHost binds first.
type window struct {
	mu       sync.Mutex    // guards the fields below
	pending  int           // requests sent and not yet answered
	answered []time.Time   // answer times within the last second (or later), oldest first
	changed  chan struct{} // closed (and replaced) when a request is answered
}

// windowSpan is the length of the window.
const windowSpan = time.Second

// windowMax returns the requests lim lets through in any second at most
// (rate + burst), or 0 when it does not limit (rate.Inf).
func windowMax(lim *rate.Limiter) int {
	l := float64(lim.Limit())
	if lim.Limit() == rate.Inf || l <= 0 {
		return 0
	}
	return int(math.Floor(l*windowSpan.Seconds()+1e-9)) + lim.Burst()
}

// pruneLocked drops the answer times older than a second before now.
func (w *window) pruneLocked(now time.Time) {
	i := 0
	for i < len(w.answered) && !w.answered[i].After(now.Add(-windowSpan)) {
		i++
	}
	if i > 0 {
		w.answered = append(w.answered[:0], w.answered[i:]...)
	}
}

// delayLocked returns 0 when a request may be sent now under a window of
// limit requests (0: no window), or how long until it might (for a request
// held up by unanswered ones alone, a guess: an answer wakes enter).
func (w *window) delayLocked(now time.Time, limit int) time.Duration {
	if limit <= 0 {
		return 0
	}
	w.pruneLocked(now)
	over := w.pending + len(w.answered) - (limit - 1) // how many must leave the window first
	if over <= 0 {
		return 0
	}
	if over <= len(w.answered) {
		return w.answered[over-1].Add(windowSpan).Sub(now)
	}
	return windowSpan / 10 // held by requests not yet answered
}

// delay is delayLocked under the lock.
func (w *window) delay(now time.Time, limit int) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.delayLocked(now, limit)
}

// enter waits until a request may be sent under a window of limit()
// requests (read again after each wait: a Crawl-delay may change it) and
// counts it as sent; the caller calls the returned done once: with true when
// its answer (or failure) has come back, with false when it was not sent
// after all. It fails only when ctx ends.
func (w *window) enter(ctx context.Context, limit func() int) (done func(sent bool), err error) {
	for {
		w.mu.Lock()
		now := time.Now()
		m := limit()
		d := w.delayLocked(now, m)
		if d <= 0 {
			w.pending++
			w.mu.Unlock()
			counted := m > 0 // a host without a window keeps no answer times
			return func(sent bool) { w.answer(sent && counted) }, nil
		}
		if w.changed == nil {
			w.changed = make(chan struct{})
		}
		changed := w.changed
		w.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
}

// answer counts one request as answered now, or (sent false) as no longer
// pending only: never sent, or sent to a host without a window.
func (w *window) answer(sent bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending--
	if w.changed != nil {
		close(w.changed)
		w.changed = nil
	}
	if !sent {
		return
	}
	now := time.Now()
	w.answered = append(w.answered, now)
	if n := len(w.answered); n > 1 && w.answered[n-2].After(now) { // after times another Client gave (add)
		slices.SortFunc(w.answered, time.Time.Compare)
	}
	w.pruneLocked(now) // bounded by the requests of one second
}

// recent returns the answer times within the last second before now.
func (w *window) recent(now time.Time) []time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pruneLocked(now)
	return slices.Clone(w.answered)
}

// add counts requests answered at times (by another Client) in the window.
func (w *window) add(now time.Time, times []time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, t := range times {
		if t.After(now.Add(-windowSpan)) {
			w.answered = append(w.answered, t.Round(0)) // wall clock: from another process
		}
	}
	slices.SortFunc(w.answered, time.Time.Compare)
	w.pruneLocked(now)
}

// Recent returns when host's requests answered within the last second came
// back (oldest first; nil when none): what another Client that takes the
// host over must count in its window, passed to its Resume, so that the
// host's limit holds at the server across Clients (a fleet's workers).
func (c *Client) Recent(host string) []time.Time {
	hs, ok := c.hosts.Peek(strings.ToLower(host))
	if !ok {
		return nil
	}
	return hs.win.recent(time.Now())
}

// Resume counts the requests another Client sent to host and saw answered
// at times (its Recent) in host's window, so that the host's limit holds
// at the server over both Clients. Times a second old or older are ignored.
func (c *Client) Resume(host string, times []time.Time) {
	if len(times) == 0 {
		return
	}
	c.host(host).win.add(time.Now(), times)
}
