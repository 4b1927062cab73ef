package frontier

import (
	"cmp"
	"slices"
	"time"
)

// The Queue's reports for the people watching a crawl: its counters, its
// deepest hosts and each host's state.

// Stats is a snapshot of a Queue's counters.
type Stats struct {
	Queued   int           // URLs waiting, in memory and in the Store, retries included
	Stored   int           // of Queued, those waiting in the Store
	InFlight int           // URLs handed out and not yet Done or Retried
	Hosts    int           // hosts with something queued or in flight
	Handed   int           // first attempts handed out so far
	Held     time.Duration // total politeness delay the gate imposed on ready hosts
	Lost     int           // URLs counted as stored that the Store did not return (0 unless the Store changed under the crawl)
	Pending  int           // URLs held on their way to the Store (Hold)
}

// Stats returns a snapshot of the counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Stats{Queued: q.queued + q.stored, Stored: q.stored, InFlight: q.inFlight, Hosts: len(q.hosts), Handed: q.handed, Held: q.held, Lost: q.lost, Pending: q.pending}
}

// HostDepth is the number of URLs queued for one host.
type HostDepth struct {
	Host   string // url.URL.Host
	Queued int    // URLs queued for it, retries included
}

// Deepest returns up to n hosts with the most URLs queued, deepest first.
func (q *Queue) Deepest(n int) []HostDepth {
	q.mu.Lock()
	out := make([]HostDepth, 0, len(q.hosts))
	for _, h := range q.hosts {
		if d := len(h.fresh) + len(h.retry) + h.stored; d > 0 {
			out = append(out, HostDepth{h.name, d})
		}
	}
	q.mu.Unlock()
	sortDepths(out)
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// HostState is a snapshot of one host's queue, for a person watching the
// crawl.
type HostState struct {
	Host     string    // url.URL.Host
	Queued   int       // URLs queued for it, retries included
	Retries  int       // of Queued, URLs waiting to be tried again
	InFlight int       // URLs handed out and not yet Done or Retried
	ReadyAt  time.Time // not contacted before; zero or past when it may be now
	Gated    bool      // ReadyAt came from the gate (rate, Crawl-delay, backoff), not from a Retry's delay
}

// Hosts returns up to n hosts with something queued or in flight, the
// deepest queues first.
func (q *Queue) Hosts(n int) []HostState {
	q.mu.Lock()
	out := make([]HostState, 0, len(q.hosts))
	for _, h := range q.hosts {
		out = append(out, HostState{Host: h.name, Queued: len(h.fresh) + len(h.retry) + h.stored, Retries: len(h.retry),
			InFlight: h.inFlight, ReadyAt: h.readyAt, Gated: h.gated})
	}
	q.mu.Unlock()
	slices.SortFunc(out, func(a, b HostState) int {
		return cmp.Or(cmp.Compare(b.Queued, a.Queued), cmp.Compare(b.InFlight, a.InFlight), cmp.Compare(a.Host, b.Host))
	})
	return out[:min(len(out), n)]
}

func sortDepths(d []HostDepth) {
	slices.SortFunc(d, func(a, b HostDepth) int {
		return cmp.Or(cmp.Compare(b.Queued, a.Queued), cmp.Compare(a.Host, b.Host))
	})
}
