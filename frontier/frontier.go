// Package frontier decides what the crawler fetches next and when.
//
// A Queue keeps one FIFO queue per host and a heap of hosts ordered by the
// time each may next be contacted. Next hands out a URL only when its host is
// ready (its politeness gate grants a token and it is not backed off) and has
// a free per-host slot, so a worker never sleeps while holding a slot: hosts
// that are not ready simply wait in the heap. The crawl is finished exactly
// when nothing is queued and nothing is in flight; Next then returns io.EOF.
//
// With a Store, memory stays flat however many URLs are queued: each host
// keeps a window of its oldest URLs in memory, the rest wait in the store,
// and Next leases more from the store when a host's window runs dry.
package frontier

import (
	"container/heap"
	"context"
	"fmt"
	"io"
	"sync"
	"time"
)

// Item is one URL in the frontier.
type Item struct {
	URL     string // canonical URL
	Host    string // url.URL.Host of URL ("host:port"); the politeness key
	Depth   int    // link distance from a seed; seeds are 0
	Attempt int    // failed attempts so far; 0 for a URL never tried
	Seq     int64  // its place in the Store's queue of Host (see Store); 0 without a Store
	// Denied is set by Next on a URL that Config.Denied refused: it was
	// handed out without a politeness token and is not to be fetched.
	Denied bool
}

// Gate grants politeness tokens. fetch.Client satisfies it.
type Gate interface {
	// Reserve takes one token for host and returns 0, or takes nothing and
	// returns how long to wait before asking again.
	Reserve(host string) time.Duration
}

// Store holds every queued URL, in each host's queue order (Item.Seq,
// increasing): the Queue keeps a window of each host's oldest URLs in
// memory and the rest stay only in the Store. URLs are pushed (Push) only
// once they are in the Store, in Seq order per host, so what a host holds
// in memory is always a prefix of its queue and the Queue needs to remember
// only the last Seq it holds: the Store marks nothing. The crawl's state
// implements it (package crawl).
type Store interface {
	// Lease returns up to n of host's queued URLs with a Seq above after,
	// in Seq order.
	Lease(ctx context.Context, host string, after int64, n int) ([]Item, error)
}

// Placement says where Push put a URL.
type Placement int

// Placements.
const (
	Rejected Placement = iota // not queued: deeper than MaxDepth
	InMemory                  // in its host's window
	Stored                    // left in the Store, counted: leased back when the window runs dry
)

// Config configures a Queue.
type Config struct {
	Window    int              // URLs of one host held in memory, and read from the Store at a time; 0 means 512 read at a time, and an equal share of MaxQueued among the hosts with URLs (at least 512) held (used only with a Store)
	MaxQueued int              // URLs held in memory over all hosts, shared out among the hosts with URLs; 0 means 20_000 (used only with a Store)
	PerHost   int              // URLs of one host in flight at once; 0 means 2
	MaxDepth  int              // deepest depth accepted by Push; 0 means seeds only; negative means unlimited
	MaxPages  int              // first attempts handed out in all; 0 means unlimited (retries are not counted)
	Now       func() time.Time // nil means time.Now
	shared    bool             // Window was 0: the hosts share MaxQueued
	// Starved, when set, is called (from Next, without the lock) when a
	// worker finds the queue running dry (no host ready, no more queued than
	// in flight) while URLs are held (Hold): the caller should make them
	// arrive sooner. It is called again only after a Push or a Release.
	Starved func()
	// Denied, when set, says whether a URL will be refused without a
	// request (robots.txt disallows it, as far as is known now). Next hands
	// such a URL out as soon as its host is ready and has a free slot, with
	// Item.Denied set, without taking a politeness token (the host stays
	// ready for the next URL) and without counting it against MaxPages. It
	// is called with the Queue's lock held: it must be quick and must not
	// call the Queue.
	Denied func(Item) bool
}

// starveAfter is how long the first host to be ready may wait (a backoff,
// a long Crawl-delay) before the queue counts as running dry, with URLs
// held, and asks for them (Config.Starved).
const starveAfter = time.Second

// Queue is the in-memory frontier. Safe for concurrent use.
type Queue struct {
	cfg   Config
	gate  Gate
	store Store

	mu        sync.Mutex // guards everything below
	hosts     map[string]*host
	ready     hostHeap // hosts with an eligible URL and a free slot
	queued    int      // URLs in all host queues in memory
	stored    int      // URLs counted as waiting in the Store
	retries   int      // of queued, those with Attempt > 0
	inFlight  int
	handed    int
	pending   int  // URLs on their way to the Store (Hold), not pushed or released yet
	starved   bool // Starved was called and nothing arrived since
	lost      int  // URLs counted as stored that the Store did not have
	held      time.Duration
	waiters   int
	wake      chan struct{} // closed and replaced to wake every waiter in Next
	maxPushed bool          // MaxPages reached: only retries are handed out
}

type host struct {
	name      string
	fresh     []Item // first attempts, FIFO: the oldest of the host's URLs
	retry     []Item // retries, FIFO, served before fresh
	stored    int    // URLs waiting in the Store
	after     int64  // the highest Seq held in memory or handed out: the Store has the rest
	refilling bool   // a Next is leasing from the Store for it
	inFlight  int
	readyAt   time.Time
	gated     bool // readyAt was set by the gate (rate, Crawl-delay, backoff), not by Retry
	index     int  // in Queue.ready; -1 when not in the heap
}

// New returns an empty Queue. gate may be nil, meaning no politeness delay;
// store may be nil, meaning every URL is held in memory.
func New(cfg Config, gate Gate, store Store) *Queue {
	if cfg.PerHost <= 0 {
		cfg.PerHost = 2
	}
	if cfg.Window <= 0 {
		cfg.Window, cfg.shared = 512, true
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 20_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Queue{cfg: cfg, gate: gate, store: store, hosts: make(map[string]*host), wake: make(chan struct{})}
}

// Push queues it, a URL the Store holds already, at the back of its host's
// queue and says where: in memory, or (with a Store, when the host's window
// or the memory budget is full, or the host already has URLs waiting in the
// Store) counted as waiting in the Store. First attempts of a host are
// pushed in Seq order. An item deeper than MaxDepth is Rejected. A first
// attempt pushed once MaxPages have been handed out is Stored (for a later
// run) and not counted.
func (q *Queue) Push(it Item) Placement {
	if q.cfg.MaxDepth >= 0 && it.Depth > q.cfg.MaxDepth {
		return Rejected
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if it.Attempt == 0 && q.maxPushed {
		return Stored
	}
	q.starved = false
	h := q.hostLocked(it.Host)
	switch {
	case it.Attempt == 0 && it.Seq > 0 && it.Seq <= h.after:
		// A lease that ran while its commit was being reported took it
		// already: it is in memory or handed out.
		return InMemory
	case it.Attempt > 0:
		h.retry = append(h.retry, it)
		q.retries++
		q.queued++
	case q.store != nil && (h.stored > 0 || len(h.fresh) >= q.windowLocked() || q.queued >= q.cfg.MaxQueued):
		h.stored++
		q.stored++
		q.updateLocked(h)
		return Stored
	default:
		h.fresh = append(h.fresh, it)
		h.after = max(h.after, it.Seq)
		q.queued++
	}
	q.updateLocked(h)
	return InMemory
}

// windowLocked is how many first attempts of one host Push keeps in memory:
// Window, or by default an equal share of MaxQueued among the hosts with
// URLs, at least Window. A URL kept in memory from its commit is never read
// back from the Store (reading it back was 5 % of a crawl's CPU with 8 hosts
// and a window of 512).
func (q *Queue) windowLocked() int {
	if !q.cfg.shared {
		return q.cfg.Window
	}
	return max(q.cfg.Window, q.cfg.MaxQueued/max(len(q.hosts), 1))
}

// AddStored tells the Queue that n URLs of host wait in the Store (when a
// crawl resumes).
func (q *Queue) AddStored(host string, n int) {
	if n <= 0 || q.store == nil {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	h := q.hostLocked(host)
	h.stored += n
	q.stored += n
	q.updateLocked(h)
}

// Hold counts n URLs on their way to the Store: written, not yet known to
// be new. Next does not report the end while any are held. Each is later
// either pushed (Push) or dropped as known, and then released (Release).
func (q *Queue) Hold(n int) {
	if n <= 0 {
		return
	}
	q.mu.Lock()
	q.pending += n
	q.mu.Unlock()
}

// Release ends the hold of n URLs (pushed or found known), n >= 0: the
// caller calls it each time held URLs arrive, so that Starved may be called
// again. Releasing more than is held (URLs held by an earlier run) clamps
// at zero.
func (q *Queue) Release(n int) {
	q.mu.Lock()
	q.pending = max(q.pending-n, 0)
	q.starved = false
	q.broadcastLocked()
	q.mu.Unlock()
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
		if q.inFlight == 0 && q.eligibleLocked() == 0 && (q.pending == 0 || q.maxPushed) {
			q.mu.Unlock()
			return Item{}, io.EOF
		}
		it, wait, refill, ok := q.takeLocked()
		if ok {
			q.mu.Unlock()
			return it, nil
		}
		if refill != nil {
			q.mu.Unlock()
			if err := q.refill(ctx, refill); err != nil {
				return Item{}, err
			}
			continue
		}
		// Running dry, while URLs are on their way: no host can hand anything
		// out and the queue holds no more than is in flight, or the first
		// host to be ready waits longer than starveAfter (a backoff): the
		// URLs on their way may belong to other hosts.
		dry := q.ready.Len() == 0 && q.queued+q.stored <= q.inFlight || wait > starveAfter
		starve := dry && q.pending > 0 && !q.starved && q.cfg.Starved != nil
		if starve {
			q.starved = true
		}
		wake := q.wake
		q.waiters++
		q.mu.Unlock()
		if starve {
			q.cfg.Starved()
		}

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
// returns how long until the earliest host might be (0: until woken). When
// the first ready host's URLs are all in the Store, it returns that host,
// marked refilling, for the caller to lease from the Store without the lock.
func (q *Queue) takeLocked() (Item, time.Duration, *host, bool) {
	now := q.cfg.Now()
	for q.ready.Len() > 0 {
		h := q.ready[0]
		if !q.eligibleHostLocked(h) {
			heap.Remove(&q.ready, 0) // MaxPages reached since it was pushed
			continue
		}
		if h.readyAt.After(now) {
			return Item{}, h.readyAt.Sub(now), nil, false
		}
		if len(h.retry) == 0 && len(h.fresh) == 0 { // only stored URLs: lease some first
			h.refilling = true
			heap.Remove(&q.ready, 0)
			return Item{}, 0, h, false
		}
		denied := q.cfg.Denied != nil && q.cfg.Denied(h.head())
		if q.gate != nil && !denied {
			if d := q.gate.Reserve(h.name); d > 0 {
				q.held += d
				h.readyAt, h.gated = now.Add(d), true
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
			if !denied {
				q.handed++
				if q.cfg.MaxPages > 0 && q.handed >= q.cfg.MaxPages {
					q.maxPushed = true
				}
			}
		}
		it.Denied = denied
		q.queued--
		h.inFlight++
		q.inFlight++
		q.updateLocked(h)
		return it, 0, nil, true
	}
	return Item{}, 0, nil, false
}

// head returns the URL h hands out next: its oldest retry, else its oldest
// first attempt. h has one.
func (h *host) head() Item {
	if len(h.retry) > 0 {
		return h.retry[0]
	}
	return h.fresh[0]
}

// refill leases a window of h's URLs from the Store.
func (q *Queue) refill(ctx context.Context, h *host) error {
	q.mu.Lock()
	after := h.after
	q.mu.Unlock()
	items, err := q.store.Lease(ctx, h.name, after, q.cfg.Window)
	q.mu.Lock()
	defer q.mu.Unlock()
	h.refilling = false
	if err != nil {
		q.updateLocked(h)
		q.broadcastLocked()
		return fmt.Errorf("frontier: lease URLs of %s: %w", h.name, err)
	}
	n := min(len(items), h.stored)
	h.stored -= n
	q.stored -= n
	if len(items) == 0 && h.stored > 0 {
		// Nothing although some are counted: only URLs the Store had are
		// counted, so the file was changed under the crawl. Believe the
		// Store. (A short window is no sign: a URL committed after the
		// Store's snapshot was taken may be counted and not in it yet; the
		// next lease finds it.)
		q.lost += h.stored
		q.stored -= h.stored
		h.stored = 0
	}
	if len(items) > 0 {
		h.after = max(h.after, items[len(items)-1].Seq)
	}
	h.fresh = append(h.fresh, items...)
	q.queued += len(items)
	q.updateLocked(h)
	q.broadcastLocked()
	return nil
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
		h.readyAt, h.gated = at, false
	}
	q.updateLocked(h)
	q.broadcastLocked()
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

// eligibleLocked returns how many queued URLs may still be handed out,
// counting those being leased (a refill in progress).
func (q *Queue) eligibleLocked() int {
	if q.maxPushed {
		return q.retries
	}
	return q.queued + q.stored
}

func (q *Queue) eligibleHostLocked(h *host) bool {
	if h.refilling {
		return false
	}
	return len(h.retry) > 0 || (!q.maxPushed && (len(h.fresh) > 0 || h.stored > 0))
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
	if h.inFlight == 0 && len(h.fresh) == 0 && len(h.retry) == 0 && h.stored == 0 && !h.refilling {
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
