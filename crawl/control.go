package crawl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/frontier"
)

// ErrNotRunning is returned by AddSeeds when no Run is in progress.
var ErrNotRunning = errors.New("crawl: not running")

// Reasons a host waits, in HostStatus.Wait.
const (
	WaitBackoff   = "backoff"                // 429 or 503: the host asked for a pause (Retry-After)
	WaitRobots    = "robots.txt unavailable" // its robots.txt could not be had: the host is disallowed until a retry
	WaitRetry     = "retry"                  // a URL failed and waits to be tried again
	WaitDelay     = "Crawl-delay"            // its robots.txt's Crawl-delay
	WaitRate      = "rate"                   // the per-host rate limit
	WaitSlots     = "per-host limit"         // as many fetches in flight as the per-host limit allows
	WaitPaused    = "paused"                 // the crawl is paused
	maxWaitNotes  = 10_000                   // hosts whose retry reason is remembered
	maxHostStatus = 1_000                    // hosts Hosts returns at most
)

// pauser holds workers back between URLs while the crawl is paused.
type pauser struct {
	mu     sync.Mutex    // guards paused, resume, parked
	paused bool          //
	resume chan struct{} // closed by Resume; nil while not paused
	parked int           // workers holding a URL, waiting for resume
}

// wait returns at once unless the crawl is paused; then it waits for
// Resume and reports true, or for ctx to end and reports false.
func (p *pauser) wait(ctx context.Context) bool {
	p.mu.Lock()
	if !p.paused {
		p.mu.Unlock()
		return true
	}
	resume := p.resume
	p.parked++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.parked--
		p.mu.Unlock()
	}()
	select {
	case <-resume:
		return true
	case <-ctx.Done():
		return false
	}
}

// Pause stops the crawl from starting new fetches; the fetches in flight
// finish and are recorded. Workers keep the URL they took next, unsent, until
// Resume (Progress.Parked counts them). Safe to call at any time, repeatedly.
func (e *Engine) Pause() {
	e.pause.mu.Lock()
	defer e.pause.mu.Unlock()
	if !e.pause.paused {
		e.pause.paused, e.pause.resume = true, make(chan struct{})
		e.log.Info("crawl paused")
	}
}

// Resume lets a paused crawl go on. Safe to call at any time, repeatedly.
func (e *Engine) Resume() {
	e.pause.mu.Lock()
	defer e.pause.mu.Unlock()
	if e.pause.paused {
		close(e.pause.resume)
		e.pause.paused, e.pause.resume = false, nil
		e.log.Info("crawl resumed")
	}
}

// pauseState reports whether the crawl is paused and how many workers hold a
// URL waiting for Resume.
func (e *Engine) pauseState() (bool, int) {
	e.pause.mu.Lock()
	defer e.pause.mu.Unlock()
	return e.pause.paused, e.pause.parked
}

// liveRun is the Run in progress, for AddSeeds.
type liveRun struct {
	mu  sync.RWMutex // guards run; held for reading while a seed is sent to the writer
	run *crawlRun    // nil before Run and once its writer's channel is closed
}

// AddSeeds adds seeds to a running crawl: they widen its scope as the seeds
// given to Run do, and those the crawl does not know yet are queued (like
// Run's, they are not stored as the crawl's seeds: a resumed crawl's scope
// is that of the seeds given to it). It returns how many were new, once
// they are committed (new to this run's memory: the file may know some of
// them still); ErrNotRunning when no Run is in progress, or a
// usage error for a URL that is not an absolute http(s) URL.
func (e *Engine) AddSeeds(seeds []string) (int, error) {
	urls := make([]*url.URL, 0, len(seeds))
	for _, s := range seeds {
		u, err := e.canonicalURL(s)
		if err != nil {
			return 0, fmt.Errorf("seed %q: %w", s, err)
		}
		urls = append(urls, u)
	}
	e.live.mu.RLock()
	defer e.live.mu.RUnlock()
	r := e.live.run
	if r == nil || r.ctx.Err() != nil {
		return 0, ErrNotRunning
	}
	n := 0 // queueSeeds's own count would include what the writer queued meanwhile
	for _, u := range urls {
		e.scope.addSeed(u)
		if !e.known.Has(dedupe.URLFingerprint(u.String())) {
			n++
		}
	}
	if _, err := r.queueSeeds(urls); err != nil {
		return 0, err
	}
	e.log.Info("seeds added", "seeds", len(urls), "new", n)
	return n, nil
}

// waitNotes remembers why each host's last URL was put back for a retry, so
// that Hosts can say why the host waits. Bounded: past maxWaitNotes hosts,
// new notes are not kept until old ones expire.
type waitNotes struct {
	mu sync.Mutex // guards m
	m  map[string]waitNote
}

type waitNote struct {
	why   string
	cause string // what went wrong, in a few words ("HTTP 500"); may be ""
	until time.Time
}

// note records that host waits until until, because of why (and cause),
// and reports whether that is news: the host had no current note with the
// same reason and cause.
func (w *waitNotes) note(host, why, cause string, until time.Time) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]waitNote{}
	}
	old, ok := w.m[host]
	if ok || len(w.m) < maxWaitNotes {
		w.m[host] = waitNote{why, cause, until}
	}
	return !ok || old.why != why || old.cause != cause || !old.until.After(time.Now())
}

// get returns host's note if it has not expired at now; expired notes are
// forgotten.
func (w *waitNotes) get(host string, now time.Time) (waitNote, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, ok := w.m[host]
	if ok && !n.until.After(now) {
		delete(w.m, host)
		return waitNote{}, false
	}
	return n, ok
}

// HostStatus is one host of a running crawl as a person watching it wants to
// see it: its queue, and when and why it is contacted next.
type HostStatus struct {
	frontier.HostState
	NextAt time.Time // when it may be contacted next; zero when it may be now (or nothing is queued)
	Wait   string    // why it waits (WaitBackoff, WaitRobots, ...); "" when it does not
	Cause  string    // with WaitRobots, WaitBackoff or WaitRetry: what went wrong, in a few words ("HTTP 500"), when known
}

// Hosts returns up to n (at most 1,000) hosts with URLs queued or in flight,
// the deepest queues first, with when and why each is contacted next.
func (e *Engine) Hosts(n int) []HostStatus {
	now := time.Now()
	paused, _ := e.pauseState()
	hs := e.front.Hosts(min(n, maxHostStatus))
	out := make([]HostStatus, len(hs))
	for i, h := range hs {
		s := HostStatus{HostState: h}
		var fw fetch.HostWait
		if e.fetcher != nil {
			fw = e.fetcher.HostWait(h.Host)
		}
		note, noted := e.notes.get(h.Host, now)
		switch {
		case fw.BackoffUntil.After(now): // whether or not it has URLs in memory now
			s.NextAt, s.Wait = fw.BackoffUntil, WaitBackoff
		case h.Queued == 0:
		case noted && h.ReadyAt.After(now) && !h.Gated:
			s.NextAt, s.Wait, s.Cause = h.ReadyAt, note.why, note.cause
		case h.ReadyAt.After(now) && !h.Gated:
			s.NextAt, s.Wait = h.ReadyAt, WaitRetry
		case h.ReadyAt.After(now) && fw.CrawlDelay > 0:
			s.NextAt, s.Wait = h.ReadyAt, WaitDelay
		case h.ReadyAt.After(now):
			s.NextAt, s.Wait = h.ReadyAt, WaitRate
		case paused: // its slots may be full: of URLs held, unsent, until Resume
			s.Wait = WaitPaused
		case h.InFlight >= e.cfg.PerHost:
			s.Wait = WaitSlots
		}
		out[i] = s
	}
	return out
}

// retryCause says in a few words what went wrong in err, a fetch error
// that is retried: "HTTP 500", "timeout", "connection refused"; "" when it
// cannot tell.
func retryCause(err error) string {
	if ru, ok := errors.AsType[*fetch.RobotsUnavailableError](err); ok && ru.Err != nil {
		err = ru.Err // what kept robots.txt from being read
	}
	if se, ok := errors.AsType[*fetch.StatusError](err); ok {
		return fmt.Sprintf("HTTP %d", se.Code)
	}
	switch class := errorClass(err); class {
	case classTimeout:
		return "timeout"
	case classNetwork:
		if errors.Is(err, syscall.ECONNREFUSED) {
			return "connection refused"
		}
		return "network error"
	}
	return ""
}

// failureText says why a fetch failed with err, in a few words:
// "robots.txt unavailable (HTTP 500)", "HTTP 503", "timeout", or its
// error class.
func failureText(err error) string {
	cause := retryCause(err)
	switch class := errorClass(err); {
	case class == classRobotsUnavailable && cause != "":
		return WaitRobots + " (" + cause + ")"
	case class == classRobotsUnavailable:
		return WaitRobots
	case cause != "":
		return cause
	default:
		return class
	}
}

// retryReason says why a URL that failed with err waits before its retry.
func retryReason(err error) string {
	if _, ok := errors.AsType[*fetch.BackoffError](err); ok {
		return WaitBackoff
	}
	if _, ok := errors.AsType[*fetch.RobotsUnavailableError](err); ok {
		return WaitRobots
	}
	if se, ok := errors.AsType[*fetch.StatusError](err); ok && (se.Code == 429 || se.Code == 503) {
		return WaitBackoff
	}
	return WaitRetry
}
