package frontier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func item(host string, n int) Item {
	return Item{URL: fmt.Sprintf("http://%s/%d", host, n), Host: host}
}

// intervalGate grants one token per host every interval (a token bucket with burst 1).
type intervalGate struct {
	interval time.Duration
	mu       sync.Mutex
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
	select {
	case err := <-got:
		t.Fatalf("Next returned %v while a URL was in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	q.Done(it)
	if err := <-got; !errors.Is(err, io.EOF) {
		t.Fatalf("Next after last Done = %v, want io.EOF", err)
	}
}

func TestInFlightURLCanAddWork(t *testing.T) {
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
	time.Sleep(10 * time.Millisecond)
	q.Push(item("b", 2)) // discovered by the in-flight fetch
	q.Done(it)
	if it := <-got; it.URL != "http://b/2" {
		t.Fatalf("Next = %q, want http://b/2", it.URL)
	}
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
		for i := range want {
			if at[i] != want[i] {
				t.Fatalf("hand-out times = %v, want %v", at, want)
			}
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
func TestConcurrentWorkers(t *testing.T) {
	const hosts, perHost, workers = 8, 300, 32
	q := New(Config{PerHost: 3, MaxDepth: -1}, nil, nil)
	for h := range hosts {
		for c := range 3 { // three chains per host, so several URLs of a host can be ready at once
			q.Push(item(fmt.Sprint("h", h), c*perHost/3))
		}
	}
	var (
		mu       sync.Mutex
		seen     = map[string]int{}
		inFlight = map[string]int{}
		maxHost  atomic.Int32
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
				if n := int32(inFlight[it.Host]); n > maxHost.Load() {
					maxHost.Store(n)
				}
				mu.Unlock()
				time.Sleep(50 * time.Microsecond) // hold the slot long enough for overlap to show
				var n int
				fmt.Sscanf(it.URL[len("http://"+it.Host+"/"):], "%d", &n)
				if (n+1)%(perHost/3) != 0 {
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
	if m := maxHost.Load(); m > 3 || m < 2 {
		t.Fatalf("peak in flight per host = %d, want 2 or 3 (PerHost 3)", m)
	}
}

// memStore is a Store over per-host slices; items become leasable only once
// committed, like rows the writer has not flushed yet.
type memStore struct {
	mu      sync.Mutex
	pending map[string][]Item // pushed as Stored, not yet committed
	queued  map[string][]Item
	leases  int
	fail    error
}

func newMemStore() *memStore {
	return &memStore{pending: map[string][]Item{}, queued: map[string][]Item{}}
}

func (m *memStore) put(it Item) {
	m.mu.Lock()
	m.pending[it.Host] = append(m.pending[it.Host], it)
	m.mu.Unlock()
}

func (m *memStore) commit() {
	m.mu.Lock()
	for h, items := range m.pending {
		m.queued[h] = append(m.queued[h], items...)
	}
	clear(m.pending)
	m.mu.Unlock()
}

func (m *memStore) Lease(ctx context.Context, host string, n int) ([]Item, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.leases++
	if m.fail != nil {
		return nil, m.fail
	}
	q := m.queued[host]
	n = min(n, len(q))
	out := append([]Item(nil), q[:n]...)
	m.queued[host] = q[n:]
	return out, nil
}

// push pushes it and writes it to the store when the queue leaves it there.
func push(q *Queue, m *memStore, it Item) Placement {
	p := q.Push(it)
	if p == Stored {
		m.put(it)
	}
	return p
}

func TestWindowSpillsToStore(t *testing.T) {
	m := newMemStore()
	q := New(Config{Window: 2, MaxDepth: -1}, nil, m)
	var got []Placement
	for i := range 5 {
		got = append(got, push(q, m, item("a", i)))
	}
	if fmt.Sprint(got) != fmt.Sprint([]Placement{InMemory, InMemory, Stored, Stored, Stored}) {
		t.Fatalf("placements = %v, want 2 in memory then stored", got)
	}
	if s := q.Stats(); s.Queued != 5 || s.Stored != 3 {
		t.Fatalf("Stats = %+v, want 5 queued, 3 stored", s)
	}
	m.commit()
	for i := range 5 {
		it, err := q.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if want := item("a", i).URL; it.URL != want {
			t.Fatalf("Next #%d = %s, want %s (FIFO across memory and store)", i, it.URL, want)
		}
		q.Done(it)
	}
	if _, err := q.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after all = %v, want io.EOF", err)
	}
}

func TestRefillWaitsForCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemStore()
		q := New(Config{Window: 1, MaxDepth: -1}, nil, m)
		push(q, m, item("a", 0))
		push(q, m, item("a", 1)) // stored, not committed yet
		first, _ := q.Next(t.Context())
		q.Done(first)
		go func() {
			time.Sleep(120 * time.Millisecond) // the writer's flush
			m.commit()
		}()
		start := time.Now()
		it, err := q.Next(t.Context())
		if err != nil || it.URL != item("a", 1).URL {
			t.Fatalf("Next = %+v, %v; want a/1 once committed", it, err)
		}
		if d := time.Since(start); d < 120*time.Millisecond || d > 200*time.Millisecond {
			t.Fatalf("got the stored URL after %v, want shortly after the commit at 120ms", d)
		}
	})
}

func TestAddStoredResumes(t *testing.T) {
	m := newMemStore()
	for i := range 3 {
		m.put(item("a", i))
	}
	m.commit()
	q := New(Config{MaxDepth: -1}, nil, m)
	q.AddStored("a", 3)
	for range 3 {
		it, err := q.Next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		q.Done(it)
	}
	if _, err := q.Next(t.Context()); !errors.Is(err, io.EOF) {
		t.Fatalf("Next = %v, want io.EOF", err)
	}
	if m.leases != 1 {
		t.Errorf("leases = %d, want 1 (one window)", m.leases)
	}
}

func TestLeaseError(t *testing.T) {
	m := newMemStore()
	m.fail = errors.New("disk I/O error")
	q := New(Config{MaxDepth: -1}, nil, m)
	q.AddStored("a", 1)
	if _, err := q.Next(t.Context()); err == nil || !errors.Is(err, m.fail) {
		t.Fatalf("Next = %v, want the store's error", err)
	}
}

// TestStoreConcurrentWorkers: with windows far smaller than the crawl, every
// URL is handed out once and memory never holds more than the windows.
func TestStoreConcurrentWorkers(t *testing.T) {
	const hosts, perHost, workers, window = 4, 400, 16, 8
	m := newMemStore()
	q := New(Config{Window: window, PerHost: 3, MaxDepth: -1}, nil, m)
	var mu sync.Mutex
	seen := map[string]int{}
	for h := range hosts {
		push(q, m, item(fmt.Sprint("h", h), 0))
	}
	stop := make(chan struct{})
	var committer sync.WaitGroup
	committer.Go(func() { // the writer
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
				m.commit()
			}
		}
	})
	var wg sync.WaitGroup
	maxMem := 0
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
				var n int
				fmt.Sscanf(it.URL[len("http://"+it.Host+"/"):], "%d", &n)
				for k := 1; k <= 3; k++ { // each URL discovers up to three new ones
					if c := n*3 + k; c < perHost {
						push(q, m, item(it.Host, c))
					}
				}
				mu.Lock()
				seen[it.URL]++
				s := q.Stats()
				maxMem = max(maxMem, s.Queued-s.Stored)
				mu.Unlock()
				q.Done(it)
			}
		})
	}
	wg.Wait()
	close(stop)
	committer.Wait()
	if len(seen) != hosts*perHost {
		t.Fatalf("handed out %d distinct URLs, want %d", len(seen), hosts*perHost)
	}
	for u, n := range seen {
		if n != 1 {
			t.Fatalf("%s handed out %d times", u, n)
		}
	}
	if maxMem > hosts*window+workers*3 {
		t.Errorf("peak URLs in memory = %d, want at most the windows (%d) plus what in-flight pushes add", maxMem, hosts*window)
	}
}
