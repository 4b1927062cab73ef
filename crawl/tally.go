package crawl

import (
	"sync"
	"time"
)

// maxTallyHosts bounds the hosts tallied one by one; the rest are summed
// under OtherHosts.
const maxTallyHosts = 10_000

// OtherHosts is the HostTally.Host that sums the hosts past the first
// 10,000 of a run.
const OtherHosts = "(other hosts)"

// maxRecentErrors is how many of the latest errors RecentErrors keeps.
const maxRecentErrors = 50

// HostTally is one host's pages recorded in this run.
type HostTally struct {
	Host   string // url.URL.Host, or OtherHosts
	Pages  int64  // pages recorded, any outcome
	Failed int64  // of Pages, no usable response (Progress.Failed)
	Robots int64  // of Pages, refused by robots.txt (never requested)
	// LastFailure says why the latest failed page failed, in a few words
	// ("robots.txt unavailable (HTTP 500)", "timeout"); "" when none did.
	LastFailure string
}

// RecentError is one of the latest pages recorded with an error.
type RecentError struct {
	URL    string    // the URL requested
	Status int       // 0 when no response
	Class  string    // its error class (storage.Page.ErrorClass)
	Error  string    // the error
	Failed bool      // no usable response; false for an answer (a 4xx, a robots denial)
	At     time.Time // when it was recorded
}

// tally keeps, for the dashboard, what the file would say of this run
// without reading the file: pages per host and the latest errors. Bounded:
// maxTallyHosts hosts and maxRecentErrors errors.
type tally struct {
	mu     sync.Mutex // guards hosts, errors, next
	hosts  map[string]*HostTally
	errors []RecentError // a ring of maxRecentErrors once full
	next   int           // the ring's oldest entry once full
}

// record counts one recorded page of host.
// failure is the failed page's reason in a few words; "" when it did not fail.
func (t *tally) record(host string, failed, robots bool, failure string, e *RecentError) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.hosts == nil {
		t.hosts = map[string]*HostTally{}
	}
	h, ok := t.hosts[host]
	if !ok {
		if len(t.hosts) >= maxTallyHosts {
			host = OtherHosts
		}
		if h, ok = t.hosts[host]; !ok {
			h = &HostTally{Host: host}
			t.hosts[host] = h
		}
	}
	h.Pages++
	if failed {
		h.Failed++
		h.LastFailure = failure
	}
	if robots {
		h.Robots++
	}
	if e != nil {
		if len(t.errors) < maxRecentErrors {
			t.errors = append(t.errors, *e)
		} else {
			t.errors[t.next] = *e
			t.next = (t.next + 1) % maxRecentErrors
		}
	}
}

// HostTallies returns this run's pages per host (at most 10,001 entries:
// past 10,000 hosts, the rest are summed under OtherHosts), in no order.
func (e *Engine) HostTallies() []HostTally {
	e.tally.mu.Lock()
	defer e.tally.mu.Unlock()
	out := make([]HostTally, 0, len(e.tally.hosts))
	for _, h := range e.tally.hosts {
		out = append(out, *h)
	}
	return out
}

// RecentErrors returns up to the 50 latest pages of this run recorded with
// an error, newest first.
func (e *Engine) RecentErrors() []RecentError {
	e.tally.mu.Lock()
	defer e.tally.mu.Unlock()
	n := len(e.tally.errors)
	out := make([]RecentError, 0, n)
	for i := range n { // newest first: from the one before next, backwards
		out = append(out, e.tally.errors[(e.tally.next-1-i+2*n)%n])
	}
	return out
}
