package crawl

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/trawl/trawl/frontier"
)

// HostLeaser is implemented by a State that several crawler processes share
// (pgstore.DB): each host belongs to one of them at a time, through a lease
// with an expiry, so that per-host limits, Crawl-delay, robots.txt and
// backoffs hold for the whole fleet. When the State implements it, the
// engine's frontier schedules only the hosts this process holds: it claims
// hosts with queued URLs up to Config.Hosts, renews their leases while it
// works on them, gives a host back when nothing of it is left here, and
// leaves the URLs it discovers for other hosts in the State alone. The
// crawl ends when the State says the whole fleet is done (FleetIdle). A
// State without it (the SQLite file) is the crawl of one process.
type HostLeaser interface {
	// LeaseTTL is how long a lease lasts unless renewed.
	LeaseTTL() time.Duration
	// ClaimHosts claims up to n hosts with queued URLs whose ready time has
	// come and that no valid lease holds, and calls fn with each one, how
	// many URLs it has queued, and the recent times its last holder gave
	// back with it (ReleaseHosts).
	ClaimHosts(ctx context.Context, n int, fn func(host string, queued int, recent []time.Time)) error
	// RenewHosts extends this process's leases of hosts, records its
	// heartbeat (with the pages it recorded), and returns those of hosts it
	// no longer holds.
	RenewHosts(ctx context.Context, hosts []string, pages int64) (lost []string, err error)
	// ReleaseHosts gives hosts back; no process may claim hosts[i] before
	// gaps[i] has passed, and the next holder gets recent[i]: when this
	// process's requests of the last second to it were answered
	// (fetch.Client.Recent), for its window (fetch.Client.Resume).
	ReleaseHosts(ctx context.Context, hosts []string, gaps []time.Duration, recent [][]time.Time) error
	// QueuedOf calls fn with each of hosts and how many URLs it has queued.
	QueuedOf(ctx context.Context, hosts []string, fn func(host string, queued int)) error
	// FleetIdle reports whether nothing is queued and no other process
	// holds a host: the crawl is finished.
	FleetIdle(ctx context.Context) (bool, error)
	// StopWorker gives back every host this process still holds (claimable
	// at once) and records that it stopped, having recorded pages.
	StopWorker(ctx context.Context, pages int64) error
}

// leases are the hosts this process holds, and the loop that claims, renews
// and gives them back. The frontier holds one URL (Hold) for the fleet until
// FleetIdle says the crawl is finished, so that it does not end while other
// processes may still queue URLs for it.
type leases struct {
	l        HostLeaser
	front    *frontier.Queue
	log      *slog.Logger
	capacity int
	gap      func(host string) time.Duration       // a released host's pause before another process may claim it
	backoff  func(host string) time.Time           // when host's backoff ends; zero when it is not backed off
	recent   func(host string) []time.Time         // when host's requests of the last second were answered
	resume   func(host string, recent []time.Time) // counts a previous holder's recent requests in host's window
	ttl      time.Duration
	pages    func() int64 // pages recorded, for the heartbeat

	mu       sync.Mutex
	held     map[string]time.Time // host → until when this process may start fetches on it
	inflight map[string]map[*guard]struct{}
	poke     chan struct{} // a worker found the frontier dry: claim now
	ended    bool          // FleetIdle said the crawl is finished
}

// politeness is what leases needs of the fetcher (fetch.Client) to hand
// a host's politeness over to its next holder.
type politeness struct {
	gap     func(host string) time.Duration       // fetch.Client.Interval
	backoff func(host string) time.Time           // fetch.Client.BackoffUntil
	recent  func(host string) []time.Time         // fetch.Client.Recent
	resume  func(host string, recent []time.Time) // fetch.Client.Resume
}

func newLeases(l HostLeaser, front *frontier.Queue, capacity int, p politeness, pages func() int64, log *slog.Logger) *leases {
	return &leases{l: l, front: front, log: log, capacity: capacity, gap: p.gap, backoff: p.backoff, recent: p.recent, resume: p.resume,
		ttl: l.LeaseTTL(), pages: pages, held: map[string]time.Time{}, inflight: map[string]map[*guard]struct{}{}, poke: make(chan struct{}, 1)}
}

// errLeaseLapsed is the cause of a fetch's context cancelled because its
// host's lease could lapse in the State before it ends.
var errLeaseLapsed = errors.New("host lease may lapse: the fetch stops, its URL stays queued for the next holder")

// guard is the lease's watch over one fetch on a host.
type guard struct {
	host   string
	cancel context.CancelCauseFunc
	timer  *time.Timer
}

// lapseAt is when the State's lease of a host held until until (this
// process's own horizon: a renewal's start plus half the lease) could lapse,
// less a margin: a fetch still running then is stopped, so that no fetch of
// this process overlaps the next holder's. The margin is a tenth of the
// lease, and at least the second a host's window counts a request after its
// answer (at most a quarter of the lease): a lease that lapses hands the
// next holder no recent times, so this process's last answers must be a
// second old by then.
func (ls *leases) lapseAt(until time.Time) time.Time {
	margin := min(max(ls.ttl/10, time.Second), ls.ttl/4)
	return until.Add(ls.ttl/2 - margin)
}

// guard returns a context for one fetch on host, cancelled (cause
// errLeaseLapsed) if the host's lease is lost or could lapse before the
// fetch ends: renewals push that moment back. done ends the watch.
func (ls *leases) guard(parent context.Context, host string) (ctx context.Context, done func()) {
	ctx, cancel := context.WithCancelCause(parent)
	g := &guard{host: host, cancel: cancel}
	ls.mu.Lock()
	until, ok := ls.held[host]
	if !ok {
		ls.mu.Unlock()
		cancel(errLeaseLapsed)
		return ctx, func() {}
	}
	if ls.inflight[host] == nil {
		ls.inflight[host] = map[*guard]struct{}{}
	}
	ls.inflight[host][g] = struct{}{}
	g.timer = time.AfterFunc(time.Until(ls.lapseAt(until)), func() { ls.check(g) })
	ls.mu.Unlock()
	return ctx, func() {
		ls.mu.Lock()
		ls.unwatchLocked(g)
		ls.mu.Unlock()
		cancel(nil)
	}
}

// check stops g's fetch if its host's lease could lapse now, or waits for
// the later moment a renewal has given it.
func (ls *leases) check(g *guard) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if _, ok := ls.inflight[g.host][g]; !ok {
		return // done meanwhile
	}
	if until, ok := ls.held[g.host]; ok {
		if at := ls.lapseAt(until); time.Now().Before(at) {
			g.timer.Reset(time.Until(at))
			return
		}
	}
	ls.unwatchLocked(g)
	g.cancel(errLeaseLapsed)
}

// cutLocked stops every fetch on host (its lease is lost).
func (ls *leases) cutLocked(host string) {
	for g := range ls.inflight[host] {
		ls.unwatchLocked(g)
		g.cancel(errLeaseLapsed)
	}
}

func (ls *leases) unwatchLocked(g *guard) {
	g.timer.Stop()
	delete(ls.inflight[g.host], g)
	if len(ls.inflight[g.host]) == 0 {
		delete(ls.inflight, g.host)
	}
}

// valid reports whether this process may start a fetch on host now: it
// holds host, and renewed its lease recently enough that the lease cannot
// have lapsed in the State.
func (ls *leases) valid(host string) bool {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	until, ok := ls.held[host]
	return ok && time.Now().Before(until)
}

// push hands the frontier the queued URLs of the hosts this process holds;
// the others stay in the State for their holders.
func (ls *leases) push(urls []frontier.Item) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, it := range urls {
		if _, ok := ls.held[it.Host]; ok {
			ls.front.Push(it)
		}
	}
}

// wake asks the loop to claim hosts now (the frontier runs dry).
func (ls *leases) wake() {
	select {
	case ls.poke <- struct{}{}:
	default:
	}
}

// localTTL is how long after a renewal's start this process goes on
// starting fetches on a host: half the lease, so that a fetch started just
// before it has the other half to finish before anyone may take the host.
func (ls *leases) localTTL() time.Duration { return ls.ttl / 2 }

// tick is how often the loop claims hosts and gives idle ones back.
func (ls *leases) tick() time.Duration {
	return min(max(ls.ttl/20, 20*time.Millisecond), 100*time.Millisecond)
}

// run claims, renews and releases hosts until ctx ends or the fleet is done.
func (ls *leases) run(ctx context.Context) {
	ticker := time.NewTicker(ls.tick())
	defer ticker.Stop()
	var lastRenew time.Time
	for {
		if time.Since(lastRenew) >= ls.ttl/3 {
			if ls.renew(ctx) {
				lastRenew = time.Now()
			}
		}
		ls.refresh(ctx)
		if ls.claim(ctx) {
			return // the fleet is done
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-ls.poke:
		}
	}
}

// renew extends the leases of the hosts held and drops the lost ones.
func (ls *leases) renew(ctx context.Context) bool {
	start := time.Now()
	hosts := ls.hosts()
	cctx, cancel := context.WithTimeout(ctx, ls.ttl/3)
	lost, err := ls.l.RenewHosts(cctx, hosts, ls.pages())
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			ls.log.Warn("host leases not renewed; fetches on them stop when they lapse", "hosts", len(hosts), "err", err)
		}
		return false
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	for _, h := range hosts {
		if _, ok := ls.held[h]; ok {
			ls.held[h] = start.Add(ls.localTTL())
		}
	}
	for _, h := range lost {
		ls.log.Warn("host lease lost to another worker", "host", h)
		delete(ls.held, h)
		ls.cutLocked(h)
		ls.front.Forget(h)
	}
	return true
}

// hosts lists the hosts held.
func (ls *leases) hosts() []string {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	out := make([]string, 0, len(ls.held))
	for h := range ls.held {
		out = append(out, h)
	}
	return out
}

// refresh looks at the held hosts the frontier has nothing of: those with
// URLs queued in the State (other processes found them) are handed to the
// frontier, the others given back. A host backed off for longer than a
// lease is given back too, its URLs dropped from the frontier (they stay
// queued in the State): no process claims it before the backoff ends, and
// this one's workers go on with other hosts. It holds the lock throughout,
// so that no URL is pushed for a host being given back.
func (ls *leases) refresh(ctx context.Context) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	now := time.Now()
	var idle, release []string
	for h := range ls.held {
		if until := ls.backoff(h); until.Sub(now) > ls.ttl {
			ls.front.Forget(h) // its fetches in flight finish first
			if ls.front.Idle(h) {
				release = append(release, h)
			}
			continue
		}
		if ls.front.Idle(h) {
			idle = append(idle, h)
		}
	}
	if len(idle) == 0 && len(release) == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, ls.ttl/3)
	defer cancel()
	if len(idle) > 0 {
		queued := map[string]int{}
		if err := ls.l.QueuedOf(cctx, idle, func(h string, n int) { queued[h] = n }); err != nil {
			return // the next tick tries again
		}
		for _, h := range idle {
			if n := queued[h]; n > 0 {
				ls.front.AddStored(h, n)
			} else {
				release = append(release, h)
			}
		}
	}
	if len(release) == 0 {
		return
	}
	if err := ls.l.ReleaseHosts(cctx, release, ls.gaps(release), ls.recents(release)); err != nil {
		return // still held; the next tick tries again
	}
	for _, h := range release {
		if until := ls.backoff(h); !until.IsZero() {
			ls.log.Info("host given back while it is backed off", "host", h, "until", until.Format(time.TimeOnly))
		}
		delete(ls.held, h)
	}
}

// claim takes hosts up to capacity; when none is held and none can be
// claimed, it asks whether the fleet is done, and if so lets the frontier
// end and reports true.
func (ls *leases) claim(ctx context.Context) bool {
	ls.mu.Lock()
	free := ls.capacity - len(ls.held)
	ls.mu.Unlock()
	got := 0
	if free > 0 {
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, ls.ttl/3)
		err := ls.l.ClaimHosts(cctx, free, func(h string, n int, recent []time.Time) {
			ls.resume(h, recent) // before any of its URLs is handed out
			ls.mu.Lock()
			ls.held[h] = start.Add(ls.localTTL())
			ls.front.AddStored(h, n)
			ls.mu.Unlock()
			got++
		})
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				ls.log.Debug("no hosts claimed", "err", err)
			}
			return false
		}
	}
	ls.mu.Lock()
	none := len(ls.held) == 0
	ls.mu.Unlock()
	if got > 0 || !none {
		return false
	}
	cctx, cancel := context.WithTimeout(ctx, ls.ttl/3)
	idle, err := ls.l.FleetIdle(cctx)
	cancel()
	if err != nil || !idle {
		return false
	}
	ls.mu.Lock()
	ls.ended = true
	ls.mu.Unlock()
	ls.front.Release(1) // the fleet's hold: the frontier may end once it is empty
	return true
}

// gaps returns the pause of each of hosts after its release: the time its
// rate limiter (rate, burst, Crawl-delay) needs to refill, or what is left
// of its backoff.
func (ls *leases) gaps(hosts []string) []time.Duration {
	out := make([]time.Duration, len(hosts))
	for i, h := range hosts {
		out[i] = max(ls.gap(h), time.Until(ls.backoff(h)))
	}
	return out
}

// recents returns when each of hosts' requests of the last second were
// answered.
func (ls *leases) recents(hosts []string) [][]time.Time {
	out := make([][]time.Time, len(hosts))
	for i, h := range hosts {
		out[i] = ls.recent(h)
	}
	return out
}

// stop gives back every host held, once the run's visits are committed.
func (ls *leases) stop(ctx context.Context) {
	hosts := ls.hosts()
	ls.mu.Lock()
	clear(ls.held)
	ls.mu.Unlock()
	err := ls.l.ReleaseHosts(ctx, hosts, ls.gaps(hosts), ls.recents(hosts))
	if err == nil {
		err = ls.l.StopWorker(ctx, ls.pages())
	}
	if err != nil {
		ls.log.Warn("host leases not given back; they expire", "err", err)
	}
}
