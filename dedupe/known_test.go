package dedupe

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// distinctFP returns the i-th of a sequence of distinct, well-spread,
// non-zero fingerprints (fmix64 is a bijection that maps 0, and only 0, to 0).
func distinctFP(i uint64) int64 { return int64(fmix64(i + 1)) }

func TestNewKnown(t *testing.T) {
	tests := []struct {
		name     string
		maxBytes int
		maxSlots int
	}{
		{"default", 0, 8 << 20},
		{"below the minimum is raised", 1, knownMinSlots},
		{"the minimum", knownMinSlots * slotBytes, knownMinSlots},
		{"just below a power of two", 64<<10 - 1, knownMinSlots},
		{"a power of two", 64 << 10, 8192},
		{"not a power of two rounds down", 100 << 20, 8 << 20},
		{"huge", math.MaxInt, 1 << (bitsOfInt - 5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKnown(tt.maxBytes)
			if err != nil {
				t.Fatalf("NewKnown(%d): %v", tt.maxBytes, err)
			}
			if k.maxSlots != tt.maxSlots {
				t.Errorf("NewKnown(%d) budget = %d slots, want %d", tt.maxBytes, k.maxSlots, tt.maxSlots)
			}
			if got := k.Bytes(); got != knownMinSlots*slotBytes {
				t.Errorf("NewKnown(%d).Bytes() = %d, want %d: a new table starts small", tt.maxBytes, got, knownMinSlots*slotBytes)
			}
			if got := k.Len(); got != 0 {
				t.Errorf("NewKnown(%d).Len() = %d, want 0", tt.maxBytes, got)
			}
		})
	}
	if k, err := NewKnown(-1); err == nil {
		t.Errorf("NewKnown(-1) = %v, nil; want an error", k)
	}
}

// bitsOfInt is 32 or 64.
const bitsOfInt = 32 << (^uint(0) >> 63)

func TestKnownBasics(t *testing.T) {
	k := newKnown(16, 1<<10)
	// 1 is the tombstone's value, kept aside; the others exercise the sign bit.
	fps := []int64{1, 2, -1, math.MinInt64, math.MaxInt64, 42}
	for i, fp := range fps {
		if k.Has(fp) {
			t.Errorf("Has(%d) = true before Add", fp)
		}
		if !k.Add(fp) {
			t.Errorf("first Add(%d) = false, want true", fp)
		}
		if k.Add(fp) {
			t.Errorf("second Add(%d) = true, want false", fp)
		}
		if !k.Has(fp) {
			t.Errorf("Has(%d) = false after Add", fp)
		}
		if got := k.Len(); got != i+1 {
			t.Errorf("Len() = %d after %d Adds, want %d", got, i+1, i+1)
		}
	}
	for i, fp := range fps {
		k.Remove(fp)
		if k.Has(fp) {
			t.Errorf("Has(%d) = true after Remove", fp)
		}
		k.Remove(fp) // again: a no-op
		if got, want := k.Len(), len(fps)-i-1; got != want {
			t.Errorf("Len() = %d after removing %d of %d, want %d", got, i+1, len(fps), want)
		}
	}
	for _, fp := range fps {
		if !k.Add(fp) {
			t.Errorf("Add(%d) after Remove = false, want true", fp)
		}
	}
	if got := k.Len(); got != len(fps) {
		t.Errorf("Len() = %d after adding back, want %d", got, len(fps))
	}

	if k.Has(0) {
		t.Error("Has(0) = true, want false")
	}
	k.Remove(0) // a no-op
	defer func() {
		if recover() == nil {
			t.Error("Add(0) did not panic")
		}
	}()
	k.Add(0)
}

// TestKnownGrowsFromSmall checks that the table doubles as it fills, at the
// load it should, and loses nothing below the budget.
func TestKnownGrowsFromSmall(t *testing.T) {
	k, err := NewKnown(0)
	if err != nil {
		t.Fatal(err)
	}
	n := 1_000_000
	if raceEnabled || testing.Short() {
		n = 100_000
	}
	for i := range uint64(n) {
		if !k.Add(distinctFP(i)) {
			t.Fatalf("Add(distinctFP(%d)) = false, want true", i)
		}
		if i+1 == 1000 {
			if got := k.Bytes(); got != knownMinSlots*slotBytes {
				t.Errorf("Bytes() = %d after 1000 Adds, want %d", got, knownMinSlots*slotBytes)
			}
		}
	}
	// The table doubles once 70% of it is taken: 1e6 fingerprints take
	// 2 Mi slots (16 MiB), at a load of 0.48.
	want := knownMinSlots * slotBytes
	for want/slotBytes*7/10 < n {
		want *= 2
	}
	if got := k.Bytes(); got != want {
		t.Errorf("Bytes() = %d after %d Adds, want %d", got, n, want)
	}
	if got := k.Len(); got != n {
		t.Errorf("Len() = %d, want %d: nothing is forgotten below the budget", got, n)
	}
	for i := range uint64(n) {
		if !k.Has(distinctFP(i)) {
			t.Fatalf("Has(distinctFP(%d)) = false: forgotten below the budget", i)
		}
	}
}

// TestKnownNoFalsePositives adds millions of fingerprints to a set with the
// smallest budget, which forgets nearly all of them, and checks that it never
// takes a fingerprint for present that was not added.
func TestKnownNoFalsePositives(t *testing.T) {
	n := uint64(4_000_000)
	if raceEnabled || testing.Short() {
		n = 200_000
	}
	for _, tt := range []struct {
		name       string
		added, not func(i uint64) int64 // disjoint
	}{
		{"random", distinctFP, func(i uint64) int64 { return distinctFP(n + i) }},
		// Low entropy: consecutive integers, which the table must spread.
		{"sequential", func(i uint64) int64 { return int64(i + 1) }, func(i uint64) int64 { return -int64(i + 1) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := NewKnown(1)
			if err != nil {
				t.Fatal(err)
			}
			budget := knownMinSlots * slotBytes
			for i := range n {
				fp := tt.added(i)
				if !k.Add(fp) { // never added before, so it cannot be present
					t.Fatalf("Add(%d) = false: a false positive", fp)
				}
				if !k.Has(fp) {
					t.Fatalf("Has(%d) = false just after Add", fp)
				}
				if other := tt.not(i); k.Has(other) {
					t.Fatalf("Has(%d) = true, never added", other)
				}
				if i%4096 == 0 {
					if got := k.Bytes(); got > budget {
						t.Fatalf("Bytes() = %d, over the budget of %d", got, budget)
					}
				}
			}
			if got := k.Bytes(); got != budget {
				t.Errorf("Bytes() = %d, want the budget, %d", got, budget)
			}
			// The table is full, and exactly its slots are remembered (plus
			// the tombstone's value, kept aside, in the sequential case).
			if got := k.Len(); got < knownMinSlots*9/10 || got > knownMinSlots+1 {
				t.Errorf("Len() = %d, want about %d", got, knownMinSlots)
			}
			kept := 0
			for i := range n {
				if k.Has(tt.added(i)) {
					kept++
				}
			}
			if kept != k.Len() {
				t.Errorf("%d added fingerprints are present, but Len() = %d", kept, k.Len())
			}
		})
	}
}

// TestKnownChurn adds and removes many fingerprints in turn, as a crawler
// does that claims URLs and gives them up: below the budget, the tombstones
// must neither make the table grow nor make it forget; at the budget, where
// it may forget, it must still not take a removed fingerprint for present.
func TestKnownChurn(t *testing.T) {
	for _, tt := range []struct {
		name     string
		maxSlots int
	}{
		{"below the budget", 1 << 20},
		{"at the budget", 64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k := newKnown(64, tt.maxSlots)
			keep := []int64{distinctFP(0), distinctFP(1), distinctFP(2)}
			for _, fp := range keep {
				k.Add(fp)
			}
			for i := range uint64(100_000) {
				fp := distinctFP(1000 + i)
				if !k.Add(fp) {
					t.Fatalf("Add(%d) = false, never added", fp)
				}
				k.Remove(fp)
				if k.Has(fp) {
					t.Fatalf("Has(%d) = true after Remove", fp)
				}
			}
			if got := k.Bytes(); got != 64*slotBytes {
				t.Errorf("Bytes() = %d, want %d: tombstones made the table grow", got, 64*slotBytes)
			}
			kept := 0
			for _, fp := range keep {
				if k.Has(fp) {
					kept++
				}
			}
			if got := k.Len(); got != kept {
				t.Errorf("Len() = %d, but %d fingerprints are present", got, kept)
			}
			if tt.maxSlots > 64 && kept != len(keep) {
				t.Errorf("%d of %d fingerprints present: forgotten below the budget", kept, len(keep))
			}
		})
	}
}

func TestKnownRebuildDropsTombstones(t *testing.T) {
	k := newKnown(64, 1024)
	for i := range uint64(30) {
		k.Add(distinctFP(i))
	}
	for i := range uint64(20) {
		k.Remove(distinctFP(i))
	}
	old := k.tab.Load()
	if used, live := old.used.Load(), old.live.Load(); used != 30 || live != 10 {
		t.Fatalf("used, live = %d, %d after 30 Adds and 20 Removes, want 30, 10", used, live)
	}
	k.grow(old)
	nt := k.tab.Load()
	if nt == old || len(nt.slots) != 64 {
		t.Fatalf("grow with 20 tombstones and 10 fingerprints in 64 slots: table %p → %p, %d slots; want a new table of 64", old, nt, len(nt.slots))
	}
	if used, live := nt.used.Load(), nt.live.Load(); used != 10 || live != 10 {
		t.Errorf("used, live = %d, %d after rebuild, want 10, 10", used, live)
	}
	for i := range uint64(30) {
		if got, want := k.Has(distinctFP(i)), i >= 20; got != want {
			t.Errorf("Has(distinctFP(%d)) = %v after rebuild, want %v", i, got, want)
		}
	}
	k.grow(old) // stale: another call replaced it
	if k.tab.Load() != nt {
		t.Error("grow of a replaced table replaced the table")
	}
	k.grow(nt) // no tombstones: double
	if got := len(k.tab.Load().slots); got != 128 {
		t.Errorf("grow without tombstones: %d slots, want 128", got)
	}
}

// TestKnownConcurrentAdd has goroutines add the same fingerprints, each in
// its own order, while the table doubles under them: exactly one Add of each
// fingerprint must report it new.
func TestKnownConcurrentAdd(t *testing.T) {
	const (
		workers = 8
		n       = 50_000
	)
	fps := make([]int64, n)
	for i := range fps {
		fps[i] = distinctFP(uint64(i))
	}
	fps[n/2] = tombstone // the fingerprint kept aside takes part too
	k := newKnown(16, 1<<20)
	wins := make([]atomic.Int32, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		order := rand.New(rand.NewPCG(uint64(w), 0)).Perm(n)
		wg.Go(func() {
			<-start
			for _, i := range order {
				if k.Add(fps[i]) {
					wins[i].Add(1)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range wins {
		if got := wins[i].Load(); got != 1 {
			t.Errorf("Add(%d) returned true %d times, want once", fps[i], got)
		}
	}
	if got := k.Len(); got != n {
		t.Errorf("Len() = %d, want %d", got, n)
	}
	if got := k.Bytes(); got < n*10/7*slotBytes {
		t.Errorf("Bytes() = %d for %d fingerprints, want at least %d", got, n, n*10/7*slotBytes)
	}
}

// TestKnownConcurrentClaim uses a Known as a set of locks, as the crawler
// does with a URL it claims and then gives up: goroutines Add a few
// fingerprints over and over, and whoever gets true holds the fingerprint
// until it Removes it. Two holders at once would be two trues for one
// absent fingerprint. The churn leaves tombstones everywhere, and they make
// the table double under the goroutines.
func TestKnownConcurrentClaim(t *testing.T) {
	const (
		workers = 8
		fps     = 8
	)
	rounds := 20_000
	if raceEnabled {
		rounds = 5_000
	}
	k := newKnown(16, 1<<20) // large enough never to forget
	holders := make([]atomic.Int32, fps)
	claims := make([]int, workers) // one slot per goroutine
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		r := rand.New(rand.NewPCG(uint64(w), 1))
		wg.Go(func() {
			for range rounds {
				i := r.IntN(fps)
				fp := distinctFP(uint64(i))
				if !k.Add(fp) {
					continue
				}
				claims[w]++
				if n := holders[i].Add(1); n != 1 {
					errs[w] = fmt.Errorf("Add(%d) = true with %d holders already", fp, n-1)
					return
				}
				runtime.Gosched() // hold it a while, as a fetch would: not for synchronisation
				if k.Add(fp) {
					errs[w] = fmt.Errorf("Add(%d) = true while held", fp)
					return
				}
				holders[i].Add(-1)
				k.Remove(fp)
			}
		})
	}
	wg.Wait()
	total := 0
	for w, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", w, err)
		}
		total += claims[w]
	}
	if total < rounds { // each round's fingerprint is mostly free
		t.Errorf("%d claims in %d rounds of %d workers, want more", total, rounds, workers)
	}
	if got := k.Len(); got != 0 {
		t.Errorf("Len() = %d after every claim was given up, want 0", got)
	}
}

// TestKnownConcurrentAtBudget has goroutines add, look up and remove
// fingerprints of their own in a set that is forgetting all the time, and
// checks that none sees a fingerprint that was never added.
func TestKnownConcurrentAtBudget(t *testing.T) {
	const workers = 8
	n := uint64(100_000)
	if raceEnabled {
		n = 20_000
	}
	k := newKnown(16, 256)
	errs := make([]error, workers) // one slot per goroutine
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			base := uint64(w) * 3 * n // fingerprints w adds, then ones nobody adds
			for i := range n {
				fp := distinctFP(base + i)
				if !k.Add(fp) {
					errs[w] = fmt.Errorf("Add(%d) = false, never added", fp)
					return
				}
				if other := distinctFP(base + n + i); k.Has(other) {
					errs[w] = fmt.Errorf("Has(%d) = true, never added", other)
					return
				}
				if i%3 == 0 {
					k.Remove(fp)
					if k.Has(fp) {
						errs[w] = fmt.Errorf("Has(%d) = true after Remove", fp)
						return
					}
				}
				if got := k.Bytes(); got > 256*slotBytes {
					errs[w] = fmt.Errorf("Bytes() = %d, over the budget of %d", got, 256*slotBytes)
					return
				}
			}
		})
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Errorf("worker %d: %v", w, err)
		}
	}
	if got := k.Len(); got > 256 {
		t.Errorf("Len() = %d, more than the table's 256 slots", got)
	}
}

// FuzzKnown drives a Known with a sequence of operations and checks it
// against a map: it never reports a fingerprint that is not in the map, Add
// reports true exactly when Has would have said false, and, with a budget
// larger than the input can fill, it forgets nothing.
//
// The first byte picks the budget (odd: 32 slots, which forget; even: a
// million); then each pair of bytes is an operation and its argument.
func FuzzKnown(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 1, 1, 1, 2, 1, 0, 1})                   // add 1 (the tombstone's value) twice, look up, remove, add back
	f.Add([]byte{0, 3, 200, 0, 5, 2, 5, 1, 5, 3, 201, 2, 210})       // ranges that grow the table, with removals
	f.Add([]byte{1, 3, 255, 3, 254, 1, 7, 2, 3, 0, 3, 3, 100, 1, 3}) // a small budget, overfilled
	f.Add([]byte{1, 0, 128, 0, 127, 0, 129, 2, 128, 1, 128, 0, 128}) // MinInt64, MaxInt64, -127
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) == 0 {
			return
		}
		small := ops[0]&1 == 1
		maxSlots := 1 << 20
		if small {
			maxSlots = 32
		}
		k := newKnown(16, maxSlots)
		model := make(map[int64]bool) // every fingerprint added and not removed since
		add := func(fp int64) {
			t.Helper()
			had := k.Has(fp)
			if had && !model[fp] {
				t.Fatalf("Has(%d) = true, not added", fp)
			}
			if !small && had != model[fp] {
				t.Fatalf("Has(%d) = %v, want %v", fp, had, model[fp])
			}
			if got := k.Add(fp); got == had {
				t.Fatalf("Add(%d) = %v after Has = %v", fp, got, had)
			}
			model[fp] = true
			if !k.Has(fp) {
				t.Fatalf("Has(%d) = false just after Add", fp)
			}
		}
		for ops = ops[1:]; len(ops) >= 2; ops = ops[2:] {
			op, arg := ops[0], ops[1]
			fp := fuzzFP(arg)
			switch op % 4 {
			case 0:
				add(fp)
			case 1:
				got := k.Has(fp)
				if got && !model[fp] {
					t.Fatalf("Has(%d) = true, not added", fp)
				}
				if !small && got != model[fp] {
					t.Fatalf("Has(%d) = %v, want %v", fp, got, model[fp])
				}
			case 2:
				k.Remove(fp)
				delete(model, fp)
				if k.Has(fp) {
					t.Fatalf("Has(%d) = true after Remove", fp)
				}
			case 3: // a run of fingerprints sharing their high bits: growth, crowded windows
				for i := range int64(arg)%64 + 1 {
					add(int64(arg)<<56 | int64(op)<<48 | i<<8 | 1)
				}
			}
			if got := k.Bytes(); got > maxSlots*slotBytes {
				t.Fatalf("Bytes() = %d, over the budget of %d", got, maxSlots*slotBytes)
			}
		}
		present := 0
		for fp := range model {
			if k.Has(fp) {
				present++
			}
		}
		if got := k.Len(); got != present {
			t.Errorf("Len() = %d, but %d fingerprints are present", got, present)
		}
		if !small && present != len(model) {
			t.Errorf("%d of %d fingerprints present: forgotten below the budget", present, len(model))
		}
	})
}

// fuzzFP maps a byte to a fingerprint: small values of either sign, with the
// extremes at 128 (MinInt64) and 0 (MaxInt64, as 0 is no fingerprint).
func fuzzFP(b byte) int64 {
	switch v := int64(int8(b)); v {
	case 0:
		return math.MaxInt64
	case -128:
		return math.MinInt64
	default:
		return v
	}
}

func BenchmarkKnown(b *testing.B) {
	newFull := func(b *testing.B, n int) *Known {
		k, err := NewKnown(0)
		if err != nil {
			b.Fatal(err)
		}
		for i := range uint64(n) {
			k.Add(distinctFP(i))
		}
		return k
	}
	const present = 1 << 20 // in 2 Mi slots, 16 MiB: larger than the CPU caches, as in a crawl
	var next atomic.Uint64  // spreads the goroutines over the fingerprints
	b.Run("Add/new", func(b *testing.B) {
		k, err := NewKnown(0)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(1) << 40
			for pb.Next() {
				k.Add(distinctFP(i))
				i++
			}
		})
		b.ReportMetric(float64(k.Bytes())/float64(k.Len()), "B/fp")
	})
	b.Run("Add/present", func(b *testing.B) {
		k := newFull(b, present)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(1) * 7919
			for pb.Next() {
				k.Add(distinctFP(i % present))
				i++
			}
		})
	})
	b.Run("Has/hit", func(b *testing.B) {
		k := newFull(b, present)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(1) * 7919
			for pb.Next() {
				k.Has(distinctFP(i % present))
				i++
			}
		})
	})
	b.Run("Has/miss", func(b *testing.B) {
		k := newFull(b, present)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(1)<<40 + present
			for pb.Next() {
				k.Has(distinctFP(i))
				i++
			}
		})
	})
	b.Run("Has/miss-at-budget", func(b *testing.B) {
		k := newKnown(1<<20, 1<<20)
		for i := range uint64(2 << 20) {
			k.Add(distinctFP(i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(1)<<40 + 2<<20
			for pb.Next() {
				k.Has(distinctFP(i))
				i++
			}
		})
	})
}
