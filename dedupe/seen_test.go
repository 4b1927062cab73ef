package dedupe

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeDurable is the storage writer's committed set: a mutex-guarded map.
type fakeDurable struct {
	mu    sync.Mutex // guards keys, calls, err
	keys  map[string]bool
	calls map[string]int
	err   error

	// afterLook, if set, runs in Has after the map was read and before Has
	// returns, without the lock: it lets a test act between the two.
	afterLook func(key string)
}

func newFakeDurable(keys ...string) *fakeDurable {
	d := &fakeDurable{keys: make(map[string]bool), calls: make(map[string]int)}
	d.put(keys...)
	return d
}

func (d *fakeDurable) Has(ctx context.Context, key string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	d.mu.Lock()
	d.calls[key]++
	has, err := d.keys[key], d.err
	d.mu.Unlock()
	if d.afterLook != nil {
		d.afterLook(key)
	}
	return has, err
}

// put commits keys, as the writer's transaction does.
func (d *fakeDurable) put(keys ...string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		d.keys[k] = true
	}
}

func (d *fakeDurable) setErr(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.err = err
}

// hasCalls returns how many times Has was asked about key.
func (d *fakeDurable) hasCalls(key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[key]
}

// modes returns a Set per backing: the Durable store with a small LRU, so
// eviction is exercised too, and the in-memory map.
func modes() []struct {
	name    string
	durable func() *fakeDurable // nil: in memory
	cfg     Config
} {
	return []struct {
		name    string
		durable func() *fakeDurable
		cfg     Config
	}{
		{"durable", func() *fakeDurable { return newFakeDurable() }, Config{CacheSize: 64}},
		{"memory", nil, Config{}},
	}
}

// newSet returns a Set and the fake behind it, nil in memory mode.
func newSet(t *testing.T, cfg Config, durable func() *fakeDurable) (*Set, *fakeDurable) {
	t.Helper()
	var (
		d   *fakeDurable
		s   *Set
		err error
	)
	if durable != nil {
		d = durable()
		s, err = New(cfg, d)
	} else {
		s, err = New(cfg, nil) // not New(cfg, d): a typed nil is not a nil Durable
	}
	if err != nil {
		t.Fatalf("New(%+v) error: %v", cfg, err)
	}
	return s, d
}

func TestSetLifecycle(t *testing.T) {
	for _, m := range modes() {
		t.Run(m.name, func(t *testing.T) {
			s, _ := newSet(t, m.cfg, m.durable)
			ctx := t.Context()
			steps := []struct {
				do      string // "add" or "commit"
				key     string
				want    bool
				pending int
			}{
				{"add", "a", true, 1},
				{"add", "a", false, 1}, // pending
				{"add", "b", true, 2},
				{"commit", "a", false, 1},
				{"add", "a", false, 1}, // committed
				{"add", "b", false, 1},
				{"commit", "b", false, 0},
				{"commit", "c", false, 0}, // never added: remembered, not counted
				{"add", "c", false, 0},
				{"add", "d", true, 1},
			}
			for i, st := range steps {
				if st.do == "commit" {
					s.Committed(st.key)
				} else {
					got, err := s.Add(ctx, st.key)
					if err != nil || got != st.want {
						t.Fatalf("step %d: Add(%q) = %v, %v; want %v, nil", i, st.key, got, err, st.want)
					}
				}
				if got := s.Pending(); got != st.pending {
					t.Fatalf("step %d (%s %q): Pending() = %d, want %d", i, st.do, st.key, got, st.pending)
				}
			}
		})
	}
}

// TestSetConcurrent runs 64 adders over overlapping keys against a batching
// writer that commits to the Durable before calling Committed, and checks that
// every key was reported new exactly once.
func TestSetConcurrent(t *testing.T) {
	const (
		workers = 64
		nkeys   = 400
		batch   = 16
	)
	for _, m := range modes() {
		t.Run(m.name, func(t *testing.T) {
			s, d := newSet(t, m.cfg, m.durable)
			ctx := t.Context()
			keys := make([]string, nkeys)
			for i := range keys {
				keys[i] = fmt.Sprintf("https://example.com/%d", i)
			}
			var news [nkeys]atomic.Int32

			owned := make(chan string, workers) // closed after the adders are done
			writerDone := make(chan struct{})   // closed by the writer
			go func() {
				defer close(writerDone)
				var buf []string
				commit := func() {
					if d != nil {
						d.put(buf...) // the transaction commits first
					}
					s.Committed(buf...)
					buf = buf[:0]
				}
				for k := range owned {
					if buf = append(buf, k); len(buf) == batch {
						commit()
					}
				}
				commit()
			}()

			errs := make(chan error, workers)
			var wg sync.WaitGroup
			for w := range workers {
				wg.Go(func() {
					// Each worker walks all keys from its own offset, in its own
					// direction, so that they collide everywhere.
					for j := range nkeys {
						i := (w*37 + j) % nkeys
						if w%2 == 1 {
							i = nkeys - 1 - i
						}
						isNew, err := s.Add(ctx, keys[i])
						if err != nil {
							errs <- err
							return
						}
						if isNew {
							news[i].Add(1)
							owned <- keys[i]
						}
					}
				})
			}
			wg.Wait()
			close(owned)
			<-writerDone
			close(errs)
			for err := range errs {
				t.Fatalf("Add error: %v", err)
			}

			for i := range news {
				if n := news[i].Load(); n != 1 {
					t.Errorf("Add(%q) returned true %d times, want exactly once", keys[i], n)
				}
			}
			if got := s.Pending(); got != 0 {
				t.Errorf("Pending() = %d after every key was committed, want 0", got)
			}
			for _, k := range keys {
				if isNew, err := s.Add(ctx, k); isNew || err != nil {
					t.Fatalf("Add(%q) after commit = %v, %v; want false, nil", k, isNew, err)
				}
			}
		})
	}
}

// TestSetCommitDuringLookup makes the narrow race deterministic: a worker asks
// the Durable about a key and hears "no"; meanwhile another worker adds the
// key, and the writer commits it and calls Committed, which takes it out of
// pending. The first worker must not then see an empty pending slot and call
// the key new a second time.
func TestSetCommitDuringLookup(t *testing.T) {
	d := newFakeDurable()
	looked := make(chan struct{})  // closed by the first Has
	release := make(chan struct{}) // closed by the test
	var once sync.Once
	d.afterLook = func(string) {
		first := false
		once.Do(func() { first = true })
		if first {
			close(looked)
			<-release
		}
	}
	s, err := New(Config{FilterKeys: -1}, d) // the filter would answer without asking d
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	type result struct {
		isNew bool
		err   error
	}
	slow := make(chan result, 1)
	go func() {
		isNew, err := s.Add(ctx, "k")
		slow <- result{isNew, err}
	}()
	<-looked // the slow Add has heard "not committed"

	if isNew, err := s.Add(ctx, "k"); !isNew || err != nil {
		t.Fatalf("second Add(k) = %v, %v; want true, nil", isNew, err)
	}
	d.put("k")
	s.Committed("k")
	close(release)

	if r := <-slow; r.isNew || r.err != nil {
		t.Errorf("slow Add(k) = %v, %v; want false, nil: the key was reported new twice", r.isNew, r.err)
	}
	if got := s.Pending(); got != 0 {
		t.Errorf("Pending() = %d, want 0", got)
	}
}

func TestSetEvictionFallsBackToDurable(t *testing.T) {
	d := newFakeDurable()
	s, err := New(Config{CacheSize: 2, FilterKeys: -1}, d)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		if isNew, err := s.Add(ctx, k); !isNew || err != nil {
			t.Fatalf("Add(%q) = %v, %v; want true, nil", k, isNew, err)
		}
	}
	d.put("a", "b", "c")
	s.Committed("a", "b", "c") // the LRU keeps b and c

	steps := []struct {
		key       string
		want      bool
		wantCalls int // Has calls for key so far, including the first Add's
	}{
		{"c", false, 1}, // LRU hit: no lookup
		{"a", false, 2}, // evicted: the Durable says it was committed
		{"a", false, 2}, // back in the LRU
		{"d", true, 1},  // new
		{"d", false, 1}, // pending
	}
	for i, st := range steps {
		isNew, err := s.Add(ctx, st.key)
		if err != nil || isNew != st.want {
			t.Fatalf("step %d: Add(%q) = %v, %v; want %v, nil", i, st.key, isNew, err, st.want)
		}
		if got := d.hasCalls(st.key); got != st.wantCalls {
			t.Errorf("step %d: Durable.Has(%q) called %d times, want %d", i, st.key, got, st.wantCalls)
		}
	}
}

func TestSetKnownFromEarlierRun(t *testing.T) {
	d := newFakeDurable("https://example.com/")
	s, err := New(Config{FilterKeys: -1}, d)
	if err != nil {
		t.Fatal(err)
	}
	if isNew, err := s.Add(t.Context(), "https://example.com/"); isNew || err != nil {
		t.Errorf("Add of a key committed by an earlier run = %v, %v; want false, nil", isNew, err)
	}
	if got := s.Pending(); got != 0 {
		t.Errorf("Pending() = %d, want 0", got)
	}
}

func TestSetDurableError(t *testing.T) {
	errDisk := errors.New("disk I/O error")
	d := newFakeDurable()
	d.setErr(errDisk)
	s, err := New(Config{FilterKeys: -1}, d)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	const key = "https://example.com/x"

	isNew, err := s.Add(ctx, key)
	if isNew || !errors.Is(err, errDisk) {
		t.Fatalf("Add(%q) = %v, %v; want false and an error wrapping %v", key, isNew, err, errDisk)
	}
	if !strings.Contains(err.Error(), key) {
		t.Errorf("Add error %q does not name the key %q", err, key)
	}
	if got := s.Pending(); got != 0 {
		t.Errorf("Pending() = %d after a failed Add, want 0", got)
	}

	d.setErr(nil) // the key was not recorded: it is still new
	if isNew, err := s.Add(ctx, key); !isNew || err != nil {
		t.Errorf("Add(%q) after the error cleared = %v, %v; want true, nil", key, isNew, err)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Add(canceled, "https://example.com/y"); !errors.Is(err, context.Canceled) {
		t.Errorf("Add with a canceled context: error %v, want context.Canceled (ctx reaches the Durable)", err)
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr bool
	}{
		{"zero", Config{}, false},
		{"small", Config{CacheSize: 1}, false},
		{"negative", Config{CacheSize: -1}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, durable := range []Durable{nil, newFakeDurable()} {
				s, err := New(tt.cfg, durable)
				if (err != nil) != tt.wantErr || (err == nil) != (s != nil) {
					t.Errorf("New(%+v, %T) = %v, %v; want error: %v", tt.cfg, durable, s, err, tt.wantErr)
				}
			}
		})
	}
}

func BenchmarkSetAdd(b *testing.B) {
	s, err := New(Config{CacheSize: 1 << 16}, newFakeDurable())
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, 1<<14)
	for i := range keys {
		keys[i] = fmt.Sprintf("https://example.com/page/%d", i)
	}
	s.Committed(keys[:len(keys)/2]...) // half the links were seen before
	ctx := b.Context()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := s.Add(ctx, keys[i%len(keys)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func TestSetForget(t *testing.T) {
	s, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if isNew, _ := s.Add(t.Context(), "https://a.test/x"); !isNew {
		t.Fatal("first Add = false")
	}
	s.Forget("https://a.test/x")
	if s.Pending() != 0 {
		t.Fatalf("Pending after Forget = %d, want 0", s.Pending())
	}
	if isNew, _ := s.Add(t.Context(), "https://a.test/x"); !isNew {
		t.Fatal("Add after Forget = false, want true: a forgotten key is new again")
	}
	s.Committed("https://a.test/x")
	s.Forget("https://a.test/x") // not pending: no effect
	if isNew, _ := s.Add(t.Context(), "https://a.test/x"); isNew {
		t.Fatal("Forget removed a committed key")
	}
}

// TestSetFilter: with the filter, a new key costs no Durable lookup, a
// committed key still reads as seen, and a resumed Set that was not told
// (Remember) what the Durable holds would be wrong, which is why callers must.
func TestSetFilter(t *testing.T) {
	d := newFakeDurable()
	s, err := New(Config{CacheSize: 1, FilterKeys: 1000}, d)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	for i := range 100 {
		k := fmt.Sprintf("https://a.test/%d", i)
		if isNew, err := s.Add(ctx, k); !isNew || err != nil {
			t.Fatalf("Add(%s) = %v, %v", k, isNew, err)
		}
		d.put(k)
		s.Committed(k)
	}
	if n := d.lookups(); n > 5 {
		t.Errorf("%d Durable lookups for 100 new keys, want almost none (1%% false positives)", n)
	}
	for i := range 100 { // the LRU holds one key: the rest must come from the Durable
		k := fmt.Sprintf("https://a.test/%d", i)
		if isNew, _ := s.Add(ctx, k); isNew {
			t.Fatalf("Add(%s) after commit = true", k)
		}
	}

	resumed, _ := New(Config{FilterKeys: 1000}, d)
	if !resumed.Filtered() {
		t.Fatal("Filtered() = false with FilterKeys set")
	}
	for i := range 100 {
		resumed.Remember(fmt.Sprintf("https://a.test/%d", i))
	}
	if isNew, _ := resumed.Add(ctx, "https://a.test/7"); isNew {
		t.Error("resumed Set took a remembered key for new")
	}
}

// lookups returns how many times Has was called in all.
func (d *fakeDurable) lookups() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.calls {
		n += c
	}
	return n
}
