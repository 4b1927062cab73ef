// Package frontier decides what the crawler fetches next and when.
//
// A Queue keeps one FIFO queue per host and a heap of hosts ordered by the
// time each may next be contacted. Next hands out a URL only when its host is
// ready (its politeness gate grants a token and it is not backed off) and has
// a free per-host slot, so a worker never sleeps while holding a slot: hosts
// that are not ready simply wait in the heap. The crawl is finished exactly
// when nothing is queued and nothing is in flight; Next then returns io.EOF.
package frontier

import (
	"cmp"
	"container/heap"
	"context"
	"io"
	"slices"
	"sync"
	"time"
)

// Item is one URL in the frontier.
type Item struct {
	URL     string // canonical URL
	Host    string // url.URL.Host of URL ("host:port"); the politeness key
	Depth   int    // link distance from a seed; seeds are 0
	Attempt int    // failed attempts so far; 0 for a URL never tried
}

// Gate grants politeness tokens. fetch.Client satisfies it.
type Gate interface {
	// Reserve takes one token for host and returns 0, or takes nothing and
	// returns how long to wait before asking again.
	Reserve(host string) time.Duration
}

// Config configures a Queue.
type Config struct {
	PerHost  int              // URLs of one host in flight at once; 0 means 2
	MaxDepth int              // deepest depth accepted by Push; 0 means seeds only; negative means unlimited
	MaxPages int              // first attempts handed out in all; 0 means unlimited (retries are not counted)
	Now      func() time.Time // nil means time.Now
}

// Stats is a snapshot of a Queue's counters.
type Stats struct {
	Queued   int           // URLs waiting, retries included
	InFlight int           // URLs handed out and not yet Done or Retried
	Hosts    int           // hosts with something queued or in flight
	Handed   int           // first attempts handed out so far
	Held     time.Duration // total politeness delay the gate imposed on ready hosts
}

// Queue is the in-memory frontier. Safe for concurrent use.
type Queue struct {
	cfg  Config
	gate Gate

	mu        sync.Mutex // guards everything below
	hosts     map[string]*host
	ready     hostHeap // hosts with an eligible URL and a free slot
	queued    int      // URLs in all host queues
	retries   int      // of queued, those with Attempt > 0
	inFlight  int
	handed    int
	held      time.Duration
	waiters   int
	wake      chan struct{} // closed and replaced to wake every waiter in Next
	maxPushed bool          // MaxPages reached: only retries are handed out
}

type host struct {
	name     string
	fresh    []Item // first attempts, FIFO
	retry    []Item // retries, FIFO, served before fresh
	inFlight int
	readyAt  time.Time
	index    int // in Queue.ready; -1 when not in the heap
}

// New returns an empty Queue. gate may be nil, meaning no politeness delay.
func New(cfg Config, gate Gate) *Queue {
	if cfg.PerHost <= 0 {
		cfg.PerHost = 2
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Queue{cfg: cfg, gate: gate, hosts: make(map[string]*host), wake: make(chan struct{})}
}

// Push queues it at the back of its host's queue. It reports whether it was
// queued: an item deeper than MaxDepth, or a first attempt once MaxPages have
// been handed out, is not.
func (q *Queue) Push(it Item) bool {
	if q.cfg.MaxDepth >= 0 && it.Depth > q.cfg.MaxDepth {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if it.Attempt == 0 && q.maxPushed {
		return false
	}
	h := q.hostLocked(it.Host)
	if it.Attempt > 0 {
		h.retry = append(h.retry, it)
		q.retries++
	} else {
		h.fresh = append(h.fresh, it)
	}
	q.queued++
	q.updateLocked(h)
	return true
}

// Next returns the next URL whose host may be contacted now. It blocks while
// no host is ready, and returns io.EOF once nothing is queued and nothing is
// in flight, or ctx's error when ctx ends first.
func (q *Queue) Next(ctx context.Context) (Item, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if err := ctx.Err(); err != nil { // an ended crawl starts nothing new
			return Item{}, err
		}
		q.mu.Lock()
		if q.inFlight == 0 && q.eligibleLocked() == 0 {
			q.mu.Unlock()
			return Item{}, io.EOF
		}
		it, wait, ok := q.takeLocked()
		if ok {
			q.mu.Unlock()
			return it, nil
		}
		wake := q.wake
		q.waiters++
		q.mu.Unlock()

		var tick <-chan time.Time
		if wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			tick = timer.C
		}
		select {
		case <-ctx.Done():
		case <-wake:
		case <-tick:
		}
		q.mu.Lock()
		q.waiters--
		q.mu.Unlock()
		if err := ctx.Err(); err != nil {
			return Item{}, err
		}
	}
}

// takeLocked pops a URL from the first ready host. When none is ready it
// returns how long until the earliest host might be (0: until woken).
func (q *Queue) takeLocked() (Item, time.Duration, bool) {
	now := q.cfg.Now()
	for q.ready.Len() > 0 {
		h := q.ready[0]
		if !q.eligibleHostLocked(h) {
			heap.Remove(&q.ready, 0) // MaxPages reached since it was pushed
			continue
		}
		if h.readyAt.After(now) {
			return Item{}, h.readyAt.Sub(now), false
		}
		if q.gate != nil {
			if d := q.gate.Reserve(h.name); d > 0 {
				q.held += d
				h.readyAt = now.Add(d)
				heap.Fix(&q.ready, 0)
				continue
			}
		}
		var it Item
		if len(h.retry) > 0 {
			it = h.retry[0]
			h.retry[0] = Item{}
			h.retry = h.retry[1:]
			q.retries--
		} else {
			it = h.fresh[0]
			h.fresh[0] = Item{}
			h.fresh = h.fresh[1:]
			q.handed++
			if q.cfg.MaxPages > 0 && q.handed >= q.cfg.MaxPages {
				q.maxPushed = true
			}
		}
		q.queued--
		h.inFlight++
		q.inFlight++
		q.updateLocked(h)
		return it, 0, true
	}
	return Item{}, 0, false
}

// Done records that it, handed out by Next, is finished for good.
func (q *Queue) Done(it Item) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.finishLocked(it)
	q.updateLocked(h)
	q.broadcastLocked()
}

// Retry returns it, handed out by Next, to the head of its host's queue; the
// host is not contacted again for after. The caller sets it.Attempt.
func (q *Queue) Retry(it Item, after time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.finishLocked(it)
	if it.Attempt == 0 {
		it.Attempt = 1 // a retry is never a first attempt: MaxPages already counted it
	}
	h.retry = append(h.retry, it)
	q.retries++
	q.queued++
	if at := q.cfg.Now().Add(after); at.After(h.readyAt) {
		h.readyAt = at
	}
	q.updateLocked(h)
	q.broadcastLocked()
}

// Stats returns a snapshot of the counters.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return Stats{Queued: q.queued, InFlight: q.inFlight, Hosts: len(q.hosts), Handed: q.handed, Held: q.held}
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
		if d := len(h.fresh) + len(h.retry); d > 0 {
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

func sortDepths(d []HostDepth) {
	slices.SortFunc(d, func(a, b HostDepth) int {
		return cmp.Or(cmp.Compare(b.Queued, a.Queued), cmp.Compare(a.Host, b.Host))
	})
}

func (q *Queue) hostLocked(name string) *host {
	h, ok := q.hosts[name]
	if !ok {
		h = &host{name: name, index: -1}
		q.hosts[name] = h
	}
	return h
}

func (q *Queue) finishLocked(it Item) *host {
	h, ok := q.hosts[it.Host]
	if !ok || h.inFlight == 0 {
		panic("frontier: Done or Retry for an item that is not in flight: " + it.URL)
	}
	h.inFlight--
	q.inFlight--
	return h
}

// eligibleLocked returns how many queued URLs may still be handed out.
func (q *Queue) eligibleLocked() int {
	if q.maxPushed {
		return q.retries
	}
	return q.queued
}

func (q *Queue) eligibleHostLocked(h *host) bool {
	return len(h.retry) > 0 || (!q.maxPushed && len(h.fresh) > 0)
}

// updateLocked puts h in the ready heap, or takes it out, or forgets it, to
// match its queue and slots; it wakes waiters when h becomes ready.
func (q *Queue) updateLocked(h *host) {
	want := q.eligibleHostLocked(h) && h.inFlight < q.cfg.PerHost
	switch {
	case want && h.index < 0:
		heap.Push(&q.ready, h)
		q.broadcastLocked()
	case !want && h.index >= 0:
		heap.Remove(&q.ready, h.index)
	}
	if h.inFlight == 0 && len(h.fresh) == 0 && len(h.retry) == 0 {
		delete(q.hosts, h.name) // the gate keeps the host's rate state
	} else if len(h.fresh) == 0 && cap(h.fresh) > 64 {
		h.fresh = nil // let a drained burst's backing array go
	}
}

func (q *Queue) broadcastLocked() {
	if q.waiters == 0 {
		return
	}
	close(q.wake)
	q.wake = make(chan struct{})
}

// hostHeap orders hosts by readyAt, earliest first.
type hostHeap []*host

func (h hostHeap) Len() int           { return len(h) }
func (h hostHeap) Less(i, j int) bool { return h[i].readyAt.Before(h[j].readyAt) }
func (h hostHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *hostHeap) Push(x any) {
	e := x.(*host)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *hostHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	e.index = -1
	*h = old[:len(old)-1]
	return e
}
