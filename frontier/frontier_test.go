package frontier

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func item(host string, n int) Item {
	return Item{URL: fmt.Sprintf("http://%s/%d", host, n), Host: host}
}

// num returns n of an item made by item(host, n).
func num(it Item) int {
	n, err := strconv.Atoi(it.URL[strings.LastIndexByte(it.URL, '/')+1:])
	if err != nil {
		panic("frontier test: not made by item: " + it.URL)
	}
	return n
}

// intervalGate grants one token per host every interval (a token bucket with burst 1).
type intervalGate struct {
	interval time.Duration
	mu       sync.Mutex // guards next
	next     map[string]time.Time
}

func (g *intervalGate) Reserve(host string) time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if at, ok := g.next[host]; ok && at.After(now) {
		return at.Sub(now)
	}
	g.next[host] = now.Add(g.interval)
	return 0
}

func TestNextEOF(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New(Config{MaxDepth: -1}, nil, nil)
		if _, err := q.Next(t.Context()); !errors.Is(err, io.EOF) {
			t.Fatalf("Next on empty queue = %v, want io.EOF", err)
		}
		q.Push(item("a", 1))
		it, err := q.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		// Something is in flight: Next must block, not return EOF, until Done.
		got := make(chan error, 1)
		go func() { _, err := q.Next(t.Context()); got <- err }()
		synctest.Wait()
		select {
		case err := <-got:
			t.Fatalf("Next returned %v while a URL was in flight", err)
		default:
		}
		q.Done(it)
		if err := <-got; !errors.Is(err, io.EOF) {
			t.Fatalf("Next after last Done = %v, want io.EOF", err)
		}
	})
}

func TestInFlightURLCanAddWork(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// The crawl must not end while a fetch that may discover more URLs is in flight.
		q := New(Config{MaxDepth: -1}, nil, nil)
		q.Push(item("a", 1))
		it, _ := q.Next(t.Context())
		got := make(chan Item, 1)
		go func() {
			it, err := q.Next(t.Context())
			if err != nil {
				t.Error(err)
			}
			got <- it
		}()
		synctest.Wait()      // until the second Next waits
		q.Push(item("b", 2)) // discovered by the in-flight fetch
		q.Done(it)
		if it := <-got; it.URL != "http://b/2" {
			t.Fatalf("Next = %q, want http://b/2", it.URL)
		}
	})
}

func TestPerHostCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New(Config{PerHost: 2, MaxDepth: -1}, nil, nil)
		for i := range 3 {
			q.Push(item("a", i))
		}
		q.Push(item("b", 0))
		var got []Item
		for range 3 {
			it, err := q.Next(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, it)
		}
		hostA := 0
		for _, it := range got {
			if it.Host == "a" {
				hostA++
			}
		}
		if hostA != 2 {
			t.Fatalf("handed out %d URLs of host a with PerHost 2, want 2 (got %v)", hostA, got)
		}
		third := make(chan Item)
		go func() {
			it, _ := q.Next(t.Context())
			third <- it
		}()
		synctest.Wait()
		select {
		case it := <-third:
			t.Fatalf("Next handed out %q while host a had no free slot", it.URL)
		default:
		}
		q.Done(got[0])
		if it := <-third; it.Host != "a" {
			t.Fatalf("after Done, Next = %q, want host a", it.URL)
		}
	})
}

func TestGateSpacesRequests(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New(Config{PerHost: 4, MaxDepth: -1}, &intervalGate{interval: time.Second, next: map[string]time.Time{}}, nil)
		for i := range 3 {
			q.Push(item("a", i))
		}
		start := time.Now()
		var at []time.Duration
		for range 3 {
			it, err := q.Next(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			at = append(at, time.Since(start))
			q.Done(it)
		}
		want := []time.Duration{0, time.Second, 2 * time.Second}
		if !slices.Equal(at, want) {
			t.Fatalf("hand-out times = %v, want %v", at, want)
		}
		if s := q.Stats(); s.Held < 2*time.Second {
			t.Fatalf("Stats.Held = %v, want at least 2s", s.Held)
		}
	})
}

func TestGateDoesNotBlockOtherHosts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New(Config{PerHost: 4, MaxDepth: -1}, &intervalGate{interval: time.Hour, next: map[string]time.Time{}}, nil)
		q.Push(item("slow", 0))
		q.Push(item("slow", 1))
		for i := range 3 {
			q.Push(item(fmt.Sprint("h", i), 0))
		}
		start := time.Now()
		hosts := map[string]bool{}
		for range 4 {
			it, err := q.Next(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			hosts[it.Host] = true
			q.Done(it)
		}
		if time.Since(start) != 0 || len(hosts) != 4 {
			t.Fatalf("got hosts %v after %v, want 4 distinct hosts at once", hosts, time.Since(start))
		}
	})
}

func TestRetryBacksOffHost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New(Config{MaxDepth: -1}, nil, nil)
		q.Push(item("a", 0))
		q.Push(item("a", 1))
		it, _ := q.Next(t.Context())
		start := time.Now()
		it.Attempt++
		q.Retry(it, 2*time.Second)
		next, err := q.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 2*time.Second {
			t.Fatalf("host handed out again after %v, want 2s", d)
		}
		if next.URL != it.URL || next.Attempt != 1 {
			t.Fatalf("after Retry, Next = %+v, want the retried item first", next)
		}
	})
}

// TestRetryUsesConfigNow: the back-off is measured on Config.Now, so a
// clock that jumps makes the host ready at once.
func TestRetryUsesConfigNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var skew time.Duration // changed only by the test goroutine, while no Next runs
		q := New(Config{MaxDepth: -1, Now: func() time.Time { return time.Now().Add(skew) }}, nil, nil)
		q.Push(item("a", 0))
		it, _ := q.Next(t.Context())
		it.Attempt++
		q.Retry(it, time.Hour)
		skew = time.Hour
		start := time.Now()
		if next, err := q.Next(t.Context()); err != nil || next.URL != it.URL {
			t.Fatalf("Next = %+v, %v; want the retry", next, err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("retry handed out after %v, want at once (Config.Now is an hour on)", d)
		}
	})
}

func TestMaxPagesAndDepth(t *testing.T) {
	q := New(Config{MaxPages: 2, MaxDepth: 1}, nil, nil)
	if q.Push(Item{URL: "http://a/deep", Host: "a", Depth: 2}) != Rejected {
		t.Fatal("Push accepted depth 2 with MaxDepth 1")
	}
	for i := range 4 {
		q.Push(item("a", i))
	}
	first, _ := q.Next(t.Context())
	second, _ := q.Next(t.Context())
	// A retry of a handed-out URL is still served after MaxPages is reached.
	first.Attempt = 1
	q.Retry(first, 0)
	again, err := q.Next(t.Context())
	if err != nil || again.URL != first.URL {
		t.Fatalf("Next = %+v, %v; want the retry of %s", again, err, first.URL)
	}
	q.Done(again)
	q.Done(second)
	if it, err := q.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after MaxPages = %+v, %v; want io.EOF", it, err)
	}
	if q.Push(item("b", 9)) != Stored {
		t.Fatal("Push of a new URL after MaxPages was reached did not leave it to the store")
	}
	if s := q.Stats(); s.Handed != 2 {
		t.Fatalf("Handed = %d, want 2", s.Handed)
	}
}

func TestNextAfterCancelStartsNothing(t *testing.T) {
	q := New(Config{MaxDepth: -1}, nil, nil)
	q.Push(item("a", 0))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if it, err := q.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next on a cancelled ctx = %+v, %v; want context.Canceled", it, err)
	}
	if s := q.Stats(); s.Queued != 1 || s.InFlight != 0 {
		t.Fatalf("Stats = %+v, want the URL still queued", s)
	}
}

func TestNextHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := New(Config{MaxDepth: -1}, &intervalGate{interval: time.Hour, next: map[string]time.Time{}}, nil)
		q.Push(item("a", 0))
		q.Push(item("a", 1))
		it, _ := q.Next(t.Context())
		q.Done(it)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		if _, err := q.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Next = %v, want context.DeadlineExceeded", err)
		}
	})
}

// TestConcurrentWorkers runs many workers over a queue that grows as they
// work; every URL must be handed out exactly once and the run must end.
// Each fetch takes a millisecond of the bubble's clock, so every worker
// holds its slot until all are blocked: per-host overlap is certain.
func TestConcurrentWorkers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const hosts, perHost, workers = 8, 300, 32
		q := New(Config{PerHost: 3, MaxDepth: -1}, nil, nil)
		for h := range hosts {
			for c := range 3 { // three chains per host, so several URLs of a host can be ready at once
				q.Push(item(fmt.Sprint("h", h), c*perHost/3))
			}
		}
		var (
			mu       sync.Mutex // guards seen, inFlight, maxHost
			seen     = map[string]int{}
			inFlight = map[string]int{}
			maxHost  int
			wg       sync.WaitGroup
		)
		for range workers {
			wg.Go(func() {
				for {
					it, err := q.Next(t.Context())
					if errors.Is(err, io.EOF) {
						return
					} else if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					seen[it.URL]++
					inFlight[it.Host]++
					maxHost = max(maxHost, inFlight[it.Host])
					mu.Unlock()
					time.Sleep(time.Millisecond) // the fetch (the bubble's clock)
					if n := num(it); (n+1)%(perHost/3) != 0 {
						q.Push(item(it.Host, n+1)) // each URL discovers the next
					}
					mu.Lock()
					inFlight[it.Host]--
					mu.Unlock()
					q.Done(it)
				}
			})
		}
		wg.Wait()
		if len(seen) != hosts*perHost {
			t.Fatalf("handed out %d distinct URLs, want %d", len(seen), hosts*perHost)
		}
		for u, n := range seen {
			if n != 1 {
				t.Fatalf("%s handed out %d times", u, n)
			}
		}
		if maxHost != 3 {
			t.Fatalf("peak in flight per host = %d, want 3 (PerHost 3)", maxHost)
		}
	})
}

// memStore is the crawl's state as the Queue sees it: every queued URL of
// each host in Seq order. commit adds URLs as the crawl's writer does (the
// caller then pushes them, in order, as the writer's callback does), done
// removes one whose visit is written, and Lease changes nothing.
type memStore struct {
	mu       sync.Mutex        // guards everything below
	queued   map[string][]Item // each host's queued URLs, in Seq order
	seq      map[string]int64  // the last Seq given to each host
	leasedTo map[string]int64  // the highest Seq any Lease returned, per host
	leases   int               // Lease calls
	fail     error             // when set, Lease returns it
	// onLease, when set, runs in each Lease between its snapshot and its
	// return, without the lock, with what Lease returns: it is what the
	// crawl does while the lease runs.
	onLease func(got []Item)
}

// maxLeases bounds the leases of one memStore; no test needs as many.
const maxLeases = 100_000

var errTooManyLeases = errors.New("memStore: too many leases")

func newMemStore() *memStore {
	return &memStore{queued: map[string][]Item{}, seq: map[string]int64{}, leasedTo: map[string]int64{}}
}

func bySeq(it Item, seq int64) int { return cmp.Compare(it.Seq, seq) }

// commit writes urls as the writer does, each with its host's next Seq:
// Lease sees them from now on. It returns them with their Seq, to be pushed
// in order.
func (m *memStore) commit(urls ...Item) []Item {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Item, len(urls))
	for i, it := range urls {
		m.seq[it.Host]++
		it.Seq = m.seq[it.Host]
		m.queued[it.Host] = append(m.queued[it.Host], it)
		out[i] = it
	}
	return out
}

// done removes it, whose visit is written, from the queue. It reports
// whether it was queued.
func (m *memStore) done(it Item) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.queued[it.Host]
	i, ok := slices.BinarySearchFunc(q, it.Seq, bySeq)
	if !ok {
		return false
	}
	if q = slices.Delete(q, i, i+1); len(q) == 0 {
		delete(m.queued, it.Host)
	} else {
		m.queued[it.Host] = q
	}
	return true
}

// queue returns host's queued URLs.
func (m *memStore) queue(host string) []Item {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.queued[host])
}

// size returns how many URLs are queued over all hosts.
func (m *memStore) size() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, q := range m.queued {
		n += len(q)
	}
	return n
}

// leased reports whether a Lease has returned it or a later URL of its host.
func (m *memStore) leased(it Item) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return it.Seq <= m.leasedTo[it.Host]
}

func (m *memStore) leaseCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.leases
}

func (m *memStore) Lease(ctx context.Context, host string, after int64, n int) ([]Item, error) {
	m.mu.Lock()
	m.leases++
	if m.fail != nil {
		m.mu.Unlock()
		return nil, m.fail
	}
	if m.leases > maxLeases { // a Next that leases in a loop would spin forever
		m.mu.Unlock()
		return nil, errTooManyLeases
	}
	q := m.queued[host]
	i, _ := slices.BinarySearchFunc(q, after+1, bySeq) // the first Seq above after
	got := slices.Clone(q[i:min(len(q), i+n)])
	if len(got) > 0 {
		m.leasedTo[host] = max(m.leasedTo[host], got[len(got)-1].Seq)
	}
	hook := m.onLease
	m.mu.Unlock()
	if hook != nil {
		hook(got)
	}
	return got, nil
}

// write commits urls to m and pushes them in order, as the crawl's writer
// does with a batch; it returns where Push put each.
func write(q *Queue, m *memStore, urls ...Item) []Placement {
	var out []Placement
	for _, it := range m.commit(urls...) {
		out = append(out, q.Push(it))
	}
	return out
}

// drain hands out URLs until Next returns io.EOF, calling each (when not
// nil) on each URL before its visit is written and it is Done. It returns
// the URLs in hand-out order. A Next that blocks for a minute of the
// bubble's clock fails the test: run it in synctest.Test.
func drain(t *testing.T, q *Queue, m *memStore, each func(Item)) []string {
	t.Helper()
	var got []string
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		it, err := q.Next(ctx)
		cancel()
		if errors.Is(err, io.EOF) {
			return got
		} else if err != nil {
			t.Fatalf("Next after handing out %v = %v, want a URL or io.EOF (Stats %+v)", got, err, q.Stats())
		}
		got = append(got, it.URL)
		if each != nil {
			each(it)
		}
		if !m.done(it) {
			t.Fatalf("Next handed out %s, which is not queued in the store", it.URL)
		}
		q.Done(it)
	}
}

func urls(host string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, item(host, i).URL)
	}
	return out
}

// byHost returns the URLs of each host, in order.
func byHost(urls []string) map[string][]string {
	out := map[string][]string{}
	for _, u := range urls {
		h := strings.Split(u, "/")[2]
		out[h] = append(out[h], u)
	}
	return out
}

// TestSharedWindow: without a Window, the hosts with URLs share MaxQueued
// (at least 512 each): a host keeps its share in memory and only the rest
// goes to the Store, to be leased back.
func TestSharedWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemStore()
		q := New(Config{MaxQueued: 2048, MaxDepth: -1}, nil, m)
		var batch []Item
		for i := 1; i <= 1500; i++ {
			batch = append(batch, item("a", i), item("b", i))
		}
		got := write(q, m, batch...)
		var stored [2]int
		for i, p := range got {
			if p == Stored {
				stored[i%2]++
			}
		}
		// Two hosts: 1,024 each in memory, the other 476 stored.
		if stored != [2]int{476, 476} {
			t.Errorf("stored per host = %v, want [476 476] (a share of 1,024 each in memory)", stored)
		}
		if got, want := drain(t, q, m, nil), len(batch); len(got) != want {
			t.Fatalf("handed out %d URLs, want %d", len(got), want)
		}
	})
}

func TestWindowSpillsToStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemStore()
		q := New(Config{Window: 2, MaxDepth: -1}, nil, m)
		var batch []Item
		for i := 1; i <= 5; i++ {
			batch = append(batch, item("a", i))
		}
		got := write(q, m, batch...)
		if want := []Placement{InMemory, InMemory, Stored, Stored, Stored}; !slices.Equal(got, want) {
			t.Fatalf("placements = %v, want %v (2 in memory, then stored)", got, want)
		}
		if s := q.Stats(); s.Queued != 5 || s.Stored != 3 || s.Hosts != 1 {
			t.Fatalf("Stats = %+v, want 5 queued, 3 stored, 1 host", s)
		}
		if got, want := drain(t, q, m, nil), urls("a", 1, 5); !slices.Equal(got, want) {
			t.Fatalf("handed out %v, want %v (FIFO across memory and store)", got, want)
		}
		if n := m.leaseCount(); n != 2 {
			t.Errorf("leases = %d, want 2 (windows of 2 for 3 stored URLs)", n)
		}
		if s := q.Stats(); s != (Stats{Handed: 5}) {
			t.Errorf("Stats at the end = %+v, want only Handed 5", s)
		}
	})
}

// TestMaxQueuedBudget: over all hosts, at most MaxQueued URLs are pushed
// into memory; a host with URLs in the store keeps its later ones there too,
// so each host is still handed out in order.
func TestMaxQueuedBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemStore()
		q := New(Config{Window: 4, MaxQueued: 3, PerHost: 1, MaxDepth: -1}, nil, m)
		got := write(q, m, item("a", 1), item("a", 2), item("b", 1), item("b", 2), item("a", 3))
		if want := []Placement{InMemory, InMemory, InMemory, Stored, Stored}; !slices.Equal(got, want) {
			t.Fatalf("placements = %v, want %v (3 in memory over both hosts)", got, want)
		}
		first, err := q.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		m.done(first)
		q.Done(first)
		// Room for one: a new host takes it, a host with stored URLs does not.
		got = write(q, m, item("c", 1), item("b", 3), item("c", 2))
		if want := []Placement{InMemory, Stored, Stored}; !slices.Equal(got, want) {
			t.Fatalf("placements after one hand-out = %v, want %v", got, want)
		}
		if s := q.Stats(); s.Queued-s.Stored != 3 || s.Stored != 4 {
			t.Fatalf("Stats = %+v, want 3 in memory and 4 stored", s)
		}
		all := byHost(append([]string{first.URL}, drain(t, q, m, nil)...))
		want := map[string][]string{"a": urls("a", 1, 3), "b": urls("b", 1, 3), "c": urls("c", 1, 2)}
		for h, w := range want {
			if !slices.Equal(all[h], w) {
				t.Errorf("handed out %v of host %s, want %v", all[h], h, w)
			}
		}
		if s := q.Stats(); s.Queued != 0 || s.Lost != 0 || s.Handed != 8 {
			t.Errorf("Stats at the end = %+v, want nothing queued or lost, 8 handed out", s)
		}
	})
}

// TestPushOfLeasedURL: the writer commits a URL and then pushes it, and a
// lease may run in between (or during the push). Whatever the order, the URL
// is handed out once, and a short lease is no sign of loss.
func TestPushOfLeasedURL(t *testing.T) {
	type when int
	const (
		beforeLease when = iota
		duringLease      // after its snapshot, before it returns
		afterLease
	)
	tests := []struct {
		name         string
		commit, push when // of a/4, while a/1 and a/2 are in memory and a/3 is stored
		want         Placement
		leases       int
	}{
		{"in the lease, then pushed", beforeLease, afterLease, InMemory, 1},
		{"in the lease, pushed during it", beforeLease, duringLease, Stored, 1},
		{"committed and pushed during the lease, after its snapshot", duringLease, duringLease, Stored, 2},
		{"pushed as stored, then leased", beforeLease, beforeLease, Stored, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMemStore()
				q := New(Config{Window: 2, MaxDepth: -1}, nil, m)
				if got, want := write(q, m, item("a", 1), item("a", 2), item("a", 3)), []Placement{InMemory, InMemory, Stored}; !slices.Equal(got, want) {
					t.Fatalf("placements = %v, want %v", got, want)
				}
				var late Item
				placed := Rejected
				step := func(w when) {
					if tc.commit == w {
						late = m.commit(item("a", 4))[0]
					}
					if tc.push == w {
						placed = q.Push(late)
					}
				}
				step(beforeLease)
				var leased, after bool
				m.onLease = func([]Item) {
					if !leased {
						leased = true
						step(duringLease)
					}
				}
				got := drain(t, q, m, func(Item) {
					if leased && !after {
						after = true
						step(afterLease)
					}
				})
				if want := urls("a", 1, 4); !slices.Equal(got, want) {
					t.Errorf("handed out %v, want %v", got, want)
				}
				if placed != tc.want {
					t.Errorf("Push(a/4) = %v, want %v", placed, tc.want)
				}
				if n := m.leaseCount(); n != tc.leases {
					t.Errorf("leases = %d, want %d", n, tc.leases)
				}
				if s := q.Stats(); s != (Stats{Handed: 4}) {
					t.Errorf("Stats at the end = %+v, want only Handed 4", s)
				}
			})
		})
	}
}

// TestLostStored: a count of stored URLs that the Store does not have (the
// file changed under the crawl) is dropped and counted as Lost when a lease
// finds nothing, and the crawl still ends.
func TestLostStored(t *testing.T) {
	tests := []struct {
		name   string
		stored int    // AddStored("a", stored)
		has    []Item // committed to the store, not pushed
		pushed []Item // committed and pushed
		want   []string
		lost   int
	}{
		{name: "empty store", stored: 5, lost: 5},
		{name: "store has 2 of 5", stored: 5, has: []Item{item("a", 1), item("a", 2)}, want: urls("a", 1, 2), lost: 3},
		{name: "other hosts go on", stored: 5, pushed: []Item{item("b", 1), item("b", 2)}, want: urls("b", 1, 2), lost: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := newMemStore()
				q := New(Config{MaxDepth: -1}, nil, m)
				m.commit(tc.has...)
				q.AddStored("a", tc.stored)
				write(q, m, tc.pushed...)
				got := drain(t, q, m, nil)
				slices.Sort(got)
				if !slices.Equal(got, tc.want) {
					t.Errorf("handed out %v, want %v", got, tc.want)
				}
				if s := q.Stats(); s != (Stats{Handed: len(tc.want), Lost: tc.lost}) {
					t.Errorf("Stats at the end = %+v, want Handed %d, Lost %d and nothing else", s, len(tc.want), tc.lost)
				}
			})
		})
	}
}

// TestAddStoredResumes: a resumed crawl counts what the store holds and
// leases it back a window at a time, in Seq order.
func TestAddStoredResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemStore()
		var batch []Item
		for i := 1; i <= 10; i++ {
			batch = append(batch, item("a", i))
			if i <= 7 {
				batch = append(batch, item("b", i))
			}
		}
		m.commit(batch...)
		q := New(Config{Window: 4, MaxDepth: -1}, nil, m)
		q.AddStored("a", 10)
		q.AddStored("b", 7)
		if s := q.Stats(); s.Queued != 17 || s.Stored != 17 || s.Hosts != 2 {
			t.Fatalf("Stats after AddStored = %+v, want 17 queued, all stored, 2 hosts", s)
		}
		got := byHost(drain(t, q, m, nil))
		if want := urls("a", 1, 10); !slices.Equal(got["a"], want) {
			t.Errorf("handed out %v of a, want %v", got["a"], want)
		}
		if want := urls("b", 1, 7); !slices.Equal(got["b"], want) {
			t.Errorf("handed out %v of b, want %v", got["b"], want)
		}
		if n := m.leaseCount(); n != 5 {
			t.Errorf("leases = %d, want 5 (windows of 4: 3 for a, 2 for b)", n)
		}
		if s := q.Stats(); s != (Stats{Handed: 17}) {
			t.Errorf("Stats at the end = %+v, want only Handed 17", s)
		}
	})
}

func TestLeaseError(t *testing.T) {
	m := newMemStore()
	m.fail = errors.New("disk I/O error")
	q := New(Config{MaxDepth: -1}, nil, m)
	q.AddStored("a", 1)
	if _, err := q.Next(t.Context()); err == nil || !errors.Is(err, m.fail) {
		t.Fatalf("Next = %v, want the store's error", err)
	}
	if s := q.Stats(); s.Stored != 1 || s.Lost != 0 {
		t.Fatalf("Stats after a failed lease = %+v, want the URL still counted as stored", s)
	}
}

func TestDeepest(t *testing.T) {
	m := newMemStore()
	q := New(Config{Window: 2, MaxDepth: -1}, nil, m)
	write(q, m, item("a", 1), item("a", 2), item("a", 3), item("a", 4), item("a", 5)) // 2 in memory, 3 stored
	it, err := q.Next(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	it.Attempt = 1
	q.Retry(it, 0) // a retry counts
	write(q, m, item("c", 1), item("c", 2), item("b", 1), item("b", 2))
	want := []HostDepth{{"a", 5}, {"b", 2}, {"c", 2}} // ties by name
	if got := q.Deepest(10); !slices.Equal(got, want) {
		t.Errorf("Deepest(10) = %v, want %v", got, want)
	}
	if got := q.Deepest(2); !slices.Equal(got, want[:2]) {
		t.Errorf("Deepest(2) = %v, want %v", got, want[:2])
	}
	if s := q.Stats(); s != (Stats{Queued: 9, Stored: 3, Hosts: 3, Handed: 1}) {
		t.Errorf("Stats = %+v, want 9 queued, 3 stored, 3 hosts, none in flight, 1 handed out", s)
	}
}

// TestStoreCrawl drives a whole crawl through a store far larger than the
// windows. Workers hand each visit and the URLs it discovered to a single
// writer, which commits a batch of visits, then pushes the new URLs in Seq
// order, then acks; only then does the worker call Done, as in package
// crawl. Leases run meanwhile, so some see URLs before they are pushed.
// Every URL is handed out once (and once more for those retried), memory
// holds no more than the windows, and every worker gets io.EOF once the
// last visit is Done.
func TestStoreCrawl(t *testing.T) {
	// In a bubble only so that a crawl that never ends fails at once.
	synctest.Test(t, func(t *testing.T) {
		const (
			total, hosts, workers = 5000, 3, 8
			window, maxQueued     = 16, 40
			tree, chains          = 2000, 48 // ids below tree form a tree; the rest, chains
		)
		node := func(id int) Item { return item(fmt.Sprint("h", id%hosts), id) }
		// Every id but the seeds 0, 1 and 2 has one parent: ids below tree have
		// three children each, so the queue swells far beyond the windows; the
		// last chains of those start a chain each (chains%hosts == 0 keeps a
		// chain on one host), so the queue then shrinks to about chains URLs,
		// three windows, and leases reach the URLs being committed.
		children := func(id int) []int {
			var out []int
			for c := 3*id + 3; c <= 3*id+5 && c < tree; c++ {
				out = append(out, c)
			}
			if c := id + chains; c >= tree && c < total {
				out = append(out, c)
			}
			return out
		}
		m := newMemStore()
		q := New(Config{Window: window, MaxQueued: maxQueued, PerHost: 2, MaxDepth: -1}, nil, m)
		var (
			mu    sync.Mutex // guards everything below
			first = make([]int, total)
			again = make([]int, total)
			peak  int // URLs in memory
			spill int // most URLs stored
			raced int // pushes of URLs a lease had returned already
		)
		type visit struct {
			it    Item
			found []Item
			ack   chan struct{} // closed by the writer once found are pushed
		}
		visits := make(chan visit, workers) // closed once every worker has returned
		var writer sync.WaitGroup
		writer.Go(func() {
			for v := range visits {
				batch := []visit{v}
				for range len(visits) { // the writer is the only receiver
					batch = append(batch, <-visits)
				}
				committed := make([][]Item, len(batch))
				for i, v := range batch {
					if !m.done(v.it) {
						t.Errorf("visit of %s written, but it is not queued", v.it.URL)
					}
					committed[i] = m.commit(v.found...)
				}
				runtime.Gosched() // let a lease see them before they are pushed
				for i, v := range batch {
					for _, c := range committed[i] {
						if m.leased(c) {
							mu.Lock()
							raced++
							mu.Unlock()
						}
						if p := q.Push(c); p == Rejected {
							t.Errorf("Push(%s) = Rejected", c.URL)
						}
					}
					close(v.ack)
				}
			}
		})
		write(q, m, node(0), node(1), node(2)) // the seeds, one per host
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for {
					it, err := q.Next(t.Context())
					if errors.Is(err, io.EOF) {
						if s := q.Stats(); s.Queued != 0 || s.InFlight != 0 {
							t.Errorf("Next = io.EOF with Stats %+v", s)
						}
						return
					} else if err != nil {
						t.Error(err)
						return
					}
					id := num(it)
					s := q.Stats()
					mu.Lock()
					if it.Attempt == 0 {
						first[id]++
					} else {
						again[id]++
					}
					peak, spill = max(peak, s.Queued-s.Stored), max(spill, s.Stored)
					mu.Unlock()
					if it.Attempt == 0 && id%10 == 0 {
						it.Attempt = 1
						q.Retry(it, 0)
						continue
					}
					v := visit{it: it, ack: make(chan struct{})}
					for _, c := range children(id) {
						v.found = append(v.found, node(c))
					}
					visits <- v // buffered for every worker
					<-v.ack
					q.Done(it)
				}
			})
		}
		wg.Wait()
		close(visits)
		writer.Wait()
		for id := range total {
			if first[id] != 1 {
				t.Errorf("%s handed out %d times as a first attempt, want 1", node(id).URL, first[id])
			}
			if want := b2i(id%10 == 0); again[id] != want {
				t.Errorf("%s handed out %d times as a retry, want %d", node(id).URL, again[id], want)
			}
		}
		if s := q.Stats(); s != (Stats{Handed: total}) {
			t.Errorf("Stats at the end = %+v, want only Handed %d", s, total)
		}
		if n := m.size(); n != 0 {
			t.Errorf("%d URLs still queued in the store at the end", n)
		}
		if peak > hosts*window+workers {
			t.Errorf("peak URLs in memory = %d, want at most the windows (%d) and the retries", peak, hosts*window)
		}
		if spill < 2*hosts*window || m.leaseCount() == 0 {
			t.Errorf("most URLs stored = %d, leases = %d: want the store to hold far more than the windows (%d)", spill, m.leaseCount(), hosts*window)
		}
		t.Logf("peak in memory %d, most stored %d, leases %d, pushes of URLs leased already %d", peak, spill, m.leaseCount(), raced)

	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
