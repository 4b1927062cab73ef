package frontier

import (
	"context"
	"errors"
	"io"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// FuzzQueue plays a crawl written as bytes against a Queue over a memStore
// and checks it against a model of what the Queue must do. The first two
// bytes choose the Config; then each pair of bytes is one step, an
// operation and its argument:
//
//	0 seed:   commit 1-3 new URLs and push them at once
//	1 write:  write the visit of a URL being fetched, with 0-3 new URLs
//	2 report: push the next URL of the batch being reported
//	3 report: push the rest of the batch
//	4 next:   Next, waiting at most a second of the bubble's clock
//	5 done:   Done of a URL whose batch is reported
//	6 retry:  Retry of a URL being fetched
//	7 arm:    run a report, a write, or both inside the next Lease, after its snapshot
//
// The writer is modelled as in package crawl: it commits one batch (here
// one visit) and pushes its new URLs in Seq order before it commits the
// next, and a visit is Done only after its batch is reported, so a URL is
// always pushed before it can be Done. Leases run between a commit and its
// pushes, and (armed) during them.
//
// After every step the model checks: each first attempt is handed out once,
// in Seq order per host, and only within PerHost and MaxPages; retries come
// first, oldest first; Next returns io.EOF exactly when nothing is queued
// or in flight, and blocks only when no host can be served; Push of a URL a
// lease returned already is a no-op; and Stats and Deepest match. At the
// end the crawl is finished, and it must end.
func FuzzQueue(f *testing.F) {
	// Window 3, MaxQueued 1, PerHost 2: three URLs of h0, one in memory;
	// a visit commits two more; a lease takes one of them before it is
	// pushed, and its push is a no-op.
	f.Add([]byte{2, 1, 0, 2, 4, 0, 1, 0x10, 4, 0, 3, 0, 5, 0})
	// The same, but the batch is pushed during the lease, after its snapshot.
	f.Add([]byte{2, 1, 0, 2, 4, 0, 1, 0x10, 7, 1, 4, 0, 5, 0})
	// A URL committed and pushed during a lease, after its snapshot: the
	// lease comes up short, and that is no loss.
	f.Add([]byte{2, 1, 0, 0x21, 0, 1, 4, 0, 7, 0x23, 4, 0, 4, 0, 5, 0})
	// MaxPages 4, PerHost 1, with retries.
	f.Add([]byte{3, 8, 0, 2, 0, 0x41, 4, 0, 4, 0, 6, 0, 4, 1, 1, 0x38, 4, 0, 4, 0, 3, 0, 5, 0, 4, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) < 2 || len(ops) > 512 { // longer crawls find nothing more, slowly
			return
		}
		synctest.Test(t, func(t *testing.T) {
			md := newModel(t, ops[0], ops[1])
			for i := 2; i+1 < len(ops); i += 2 {
				md.step(ops[i], ops[i+1])
				md.check()
			}
			md.finish()
		})
	})
}

// stage is where a URL in flight is.
type stage int

const (
	fetching stage = iota // may be written or retried
	writing               // its visit is in the batch being reported
	written               // its batch is reported: may be Done
)

type flight struct {
	it    Item
	stage stage
}

// model is what the Queue must do, kept beside it.
type model struct {
	t        *testing.T
	q        *Queue
	m        *memStore
	perHost  int
	maxPages int
	hosts    []string

	made    int               // URLs made, to name new ones
	known   map[string]bool   // URLs the Queue counts: pushed before MaxPages was reached, or leased
	handed  map[string]bool   // URLs handed out as first attempts
	nHanded int               // len(handed)
	fresh   map[string]int    // URLs of each host known and not handed out
	flying  []*flight         // handed out, not yet Done or Retried
	hostFly map[string]int    // of flying, those of each host
	retries map[string][]Item // each host's queued retries, oldest first
	batch   []Item            // the writer's batch being reported: committed, not pushed yet
	visit   *flight           // whose batch it is
	armed   bool              // a step waits for the next Lease
	armArg  byte
}

func newModel(t *testing.T, c0, c1 byte) *model {
	md := &model{
		t:        t,
		m:        newMemStore(),
		perHost:  1 + int(c1%2),
		hosts:    []string{"h0", "h1", "h2"},
		maxPages: int(c1/2) % 8, // 0: unlimited
		known:    map[string]bool{},
		handed:   map[string]bool{},
		fresh:    map[string]int{},
		hostFly:  map[string]int{},
		retries:  map[string][]Item{},
	}
	cfg := Config{Window: 1 + int(c0%3), MaxQueued: 1 + int(c0/3)%5, PerHost: md.perHost, MaxPages: md.maxPages, MaxDepth: -1}
	md.q = New(cfg, nil, md.m)
	md.m.onLease = md.onLease
	return md
}

func (md *model) step(op, arg byte) {
	switch op % 8 {
	case 0:
		md.seed(arg)
	case 1:
		md.write(arg)
	case 2:
		md.report(1)
	case 3:
		md.report(len(md.batch))
	case 4:
		md.next()
	case 5:
		md.done(arg)
	case 6:
		md.retry(arg)
	case 7:
		md.armed, md.armArg = true, arg
	}
}

// newURLs makes k new URLs: all of one host, or of consecutive hosts.
func (md *model) newURLs(k int, arg byte) []Item {
	var out []Item
	for j := range k {
		md.made++
		h := (int(arg>>5) + j*int(arg>>7)) % len(md.hosts)
		out = append(out, item(md.hosts[h], md.made))
	}
	return out
}

// seed commits new URLs and pushes them at once, like the crawl's seeds.
func (md *model) seed(arg byte) {
	if md.visit != nil { // the writer is busy
		md.report(1)
		return
	}
	for _, it := range md.m.commit(md.newURLs(1+int(arg%3), arg)...) {
		md.push(it)
	}
}

// write writes the visit of a URL being fetched: it leaves the store's
// queue, and its new URLs are committed, to be reported.
func (md *model) write(arg byte) {
	if md.visit != nil { // the writer is busy
		md.report(1)
		return
	}
	fl := md.pick(fetching, arg)
	if fl == nil {
		return
	}
	if !md.m.done(fl.it) {
		md.t.Fatalf("visit of %s written, but it is not queued in the store", fl.it.URL)
	}
	md.batch = md.m.commit(md.newURLs(int(arg>>3)%4, arg)...)
	md.visit, fl.stage = fl, writing
	md.report(0) // an empty batch is reported at once
}

// report pushes the next n URLs of the batch, and acks its visit once all are.
func (md *model) report(n int) {
	for ; n > 0 && len(md.batch) > 0; n-- {
		md.push(md.batch[0])
		md.batch = md.batch[1:]
	}
	if md.visit != nil && len(md.batch) == 0 {
		md.visit.stage = written
		md.visit = nil
	}
}

func (md *model) push(it Item) {
	p := md.q.Push(it)
	switch {
	case md.reached():
		if p != Stored {
			md.t.Fatalf("Push(%s) after MaxPages = %v, want Stored", it.URL, p)
		}
	case md.known[it.URL]:
		if p != InMemory {
			md.t.Fatalf("Push(%s), which a lease returned already, = %v, want InMemory", it.URL, p)
		}
	case p == Rejected:
		md.t.Fatalf("Push(%s) = Rejected", it.URL)
	default:
		md.know(it)
	}
}

func (md *model) onLease(got []Item) {
	if md.armed {
		md.armed = false
		switch arg := md.armArg; arg % 4 {
		case 0:
			md.report(1)
		case 1:
			md.report(len(md.batch))
		case 2:
			md.write(arg >> 2)
		case 3: // committed and pushed after the snapshot: the lease comes up short
			md.write(arg >> 2)
			md.report(len(md.batch))
		}
	}
	for _, it := range got {
		if md.handed[it.URL] {
			md.t.Fatalf("Lease returned %s, handed out already", it.URL)
		}
		md.know(it)
	}
}

// know records that the Queue counts it.
func (md *model) know(it Item) {
	if !md.known[it.URL] {
		md.known[it.URL] = true
		md.fresh[it.Host]++
	}
}

func (md *model) next() (ok, eof bool) {
	avail, over := md.available(), md.over()
	ctx, cancel := context.WithTimeout(md.t.Context(), time.Second)
	defer cancel()
	it, err := md.q.Next(ctx)
	switch {
	case err == nil:
		if !avail {
			md.t.Fatalf("Next = %s, but the model has nothing to hand out", it.URL)
		}
		md.handOut(it)
		return true, false
	case errors.Is(err, io.EOF):
		if !over {
			md.t.Fatalf("Next = io.EOF with %d in flight, %d queued", len(md.flying), md.queued())
		}
		return false, true
	case errors.Is(err, context.DeadlineExceeded):
		if avail || over {
			md.t.Fatalf("Next blocked, but the model can hand out a URL (%v) or is finished (%v)", avail, over)
		}
		return false, false
	default:
		md.t.Fatalf("Next = %v", err)
		return false, false
	}
}

func (md *model) handOut(it Item) {
	h := it.Host
	if n := md.hostFly[h]; n >= md.perHost {
		md.t.Fatalf("Next = %s with %d of its host in flight, PerHost %d", it.URL, n, md.perHost)
	}
	if r := md.retries[h]; len(r) > 0 {
		if it.URL != r[0].URL || it.Attempt != r[0].Attempt {
			md.t.Fatalf("Next = %s (attempt %d), want the oldest retry of %s, %s (attempt %d)", it.URL, it.Attempt, h, r[0].URL, r[0].Attempt)
		}
		md.retries[h] = r[1:]
	} else {
		if it.Attempt != 0 {
			md.t.Fatalf("Next = %s (attempt %d), but no retry of %s is queued", it.URL, it.Attempt, h)
		}
		if md.reached() {
			md.t.Fatalf("Next = %s, a first attempt after MaxPages (%d)", it.URL, md.maxPages)
		}
		if md.handed[it.URL] {
			md.t.Fatalf("Next = %s, handed out already", it.URL)
		}
		if !md.known[it.URL] {
			md.t.Fatalf("Next = %s, which was neither pushed nor leased", it.URL)
		}
		if want := md.oldest(h); it.URL != want {
			md.t.Fatalf("Next = %s, want %q, the oldest URL of %s not handed out", it.URL, want, h)
		}
		md.handed[it.URL] = true
		md.nHanded++
		md.fresh[h]--
	}
	md.flying = append(md.flying, &flight{it: it})
	md.hostFly[h]++
}

func (md *model) done(arg byte) {
	if fl := md.pick(written, arg); fl != nil {
		md.land(fl)
		md.q.Done(fl.it)
	}
}

func (md *model) retry(arg byte) {
	if fl := md.pick(fetching, arg); fl != nil {
		md.land(fl)
		it := fl.it
		it.Attempt++
		md.retries[it.Host] = append(md.retries[it.Host], it)
		md.q.Retry(it, 0)
	}
}

// pick returns one of the URLs in flight at stage s, or nil.
func (md *model) pick(s stage, arg byte) *flight {
	var at []*flight
	for _, fl := range md.flying {
		if fl.stage == s {
			at = append(at, fl)
		}
	}
	if len(at) == 0 {
		return nil
	}
	return at[int(arg)%len(at)]
}

// land takes fl out of flight.
func (md *model) land(fl *flight) {
	md.flying = slices.DeleteFunc(md.flying, func(f *flight) bool { return f == fl })
	md.hostFly[fl.it.Host]--
}

// finish ends the crawl: it reports the batch, writes and Dones every URL
// in flight (discovering nothing), and calls Next until io.EOF.
func (md *model) finish() {
	for range 10_000 {
		md.report(len(md.batch))
		for fl := md.pick(fetching, 0); fl != nil; fl = md.pick(fetching, 0) {
			md.write(0) // no new URLs
		}
		for fl := md.pick(written, 0); fl != nil; fl = md.pick(written, 0) {
			md.done(0)
		}
		md.check()
		if md.visit != nil { // an armed write ran in the last lease
			continue
		}
		ok, eof := md.next()
		md.check()
		if eof {
			if n := md.m.size(); !md.reached() && n != 0 {
				md.t.Fatalf("Next = io.EOF with %d URLs queued in the store", n)
			}
			return
		}
		if !ok {
			md.t.Fatalf("Next blocked with nothing in flight")
		}
	}
	md.t.Fatalf("the crawl did not end")
}

func (md *model) reached() bool { return md.maxPages > 0 && md.nHanded >= md.maxPages }

func (md *model) queued() int {
	n := 0
	for _, host := range md.hosts {
		n += md.fresh[host] + len(md.retries[host])
	}
	return n
}

// available reports whether some host has a URL the Queue may hand out now.
func (md *model) available() bool {
	for _, host := range md.hosts {
		if md.hostFly[host] < md.perHost && (len(md.retries[host]) > 0 || !md.reached() && md.fresh[host] > 0) {
			return true
		}
	}
	return false
}

// over reports whether nothing is in flight and nothing may be handed out.
func (md *model) over() bool {
	if len(md.flying) > 0 {
		return false
	}
	for _, host := range md.hosts {
		if len(md.retries[host]) > 0 || !md.reached() && md.fresh[host] > 0 {
			return false
		}
	}
	return true
}

// oldest returns the first URL of host in the store not handed out.
func (md *model) oldest(host string) string {
	for _, it := range md.m.queue(host) {
		if !md.handed[it.URL] {
			return it.URL
		}
	}
	return ""
}

func (md *model) check() {
	var deep []HostDepth
	hosts := 0
	for _, host := range md.hosts {
		n := md.fresh[host] + len(md.retries[host])
		if n > 0 {
			deep = append(deep, HostDepth{host, n})
		}
		if n > 0 || md.hostFly[host] > 0 {
			hosts++
		}
	}
	want := Stats{Queued: md.queued(), InFlight: len(md.flying), Hosts: hosts, Handed: md.nHanded}
	got := md.q.Stats()
	got.Stored = 0 // the model does not know which counted URLs are in memory
	if got != want {
		md.t.Fatalf("Stats = %+v (Stored not compared), want %+v", got, want)
	}
	sortDepths(deep)
	if got := md.q.Deepest(len(md.hosts)); !slices.Equal(got, deep) {
		md.t.Fatalf("Deepest = %v, want %v", got, deep)
	}
}
