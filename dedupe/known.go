package dedupe

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// Known is a set of URL fingerprints ([URLFingerprint]) that the crawl knows
// to be seen, kept within a memory budget. It saves the database most of its
// lookups; the database remains the authority on whether a URL is new.
//
// It is exact but lossy. It never reports a fingerprint present that was not
// added (or that was removed since): unlike a Bloom filter it has no false
// positives, which would make the crawl drop a URL it never saw. But once its
// table has grown to the budget it forgets fingerprints to make room for new
// ones, and a forgotten fingerprint is reported absent again: that costs the
// caller a database lookup, never a URL.
//
// The table starts at 32 KiB and doubles as it fills, so a small crawl uses
// kilobytes whatever the budget. It doubles at a load of 0.7, so between
// doublings a fingerprint costs 11 to 23 bytes (8/0.7 to 16/0.7). At the
// budget the table fills every slot before it forgets, so a fingerprint costs
// 8 bytes.
//
// Each doubling makes every other call wait while it copies the table: about
// 0.2 s for the last one, to 64 MiB, at the default budget. At the budget,
// calls take no lock.
//
// A Known is safe for concurrent use. Its zero value is not usable: create
// it with [NewKnown].
type Known struct {
	// mu is held to replace tab, and read-locked to use it until tab is at
	// the budget, after which it is never replaced. The slots change under
	// the read lock, atomically.
	mu       sync.RWMutex
	tab      *atomic.Pointer[knownTable] // its own allocation: the cleanup that unmaps the table holds it, not the Known
	maxSlots int                         // the budget: tab never has more slots

	// tomb reports whether the fingerprint whose bits equal tombstone, which
	// the table cannot hold, is in the set.
	tomb atomic.Bool
}

const (
	// defaultKnownBytes is NewKnown's budget for 0: 8 Mi slots, which hold
	// 5.9 million fingerprints before the last doubling and 8.4 million once
	// full.
	defaultKnownBytes = 64 << 20

	// knownMinSlots is the size of a new table (32 KiB), and the smallest
	// budget.
	knownMinSlots = 4096

	// knownWindow is the number of slots, from its home slot on, where a
	// fingerprint may be in a table at the budget: the most that Has reads.
	knownWindow = 16

	// tombstone is the value of a slot whose fingerprint was removed.
	tombstone = 1

	slotBytes = 8
)

// How Known works
//
// The table is open addressing with linear probing over atomic slots: 0 is
// empty, tombstone a removed fingerprint, anything else a fingerprint. A
// fingerprint lives in its window, which starts at its home slot (its mixed
// bits modulo the table size): at the first slot that was empty when it was
// added, or at its home slot if it made the table forget another. A slot
// that is empty has been empty since the table was made, because removing
// leaves a tombstone and forgetting overwrites, so a lookup stops at the
// first empty slot.
//
// Below the budget, the window runs to the first empty slot, of which there
// are always many: the table doubles when 70% of its slots are taken, so
// even then a lookup reads on average 2 slots when it finds the fingerprint
// and 6 when not.
// At the budget it is bounded to knownWindow slots, which the table may fill
// entirely. (A 16-slot window below the budget too would make the table
// double long before 70%: linear probing makes long runs, and with many
// windows one is soon full. Measured, it doubled at loads of 0.26 to 0.5,
// lower the larger the table.)
//
// An Add claims the first empty slot it sees with a compare-and-swap. Two
// Adds of the same fingerprint claim the same slot, because an Add that finds
// a slot filled after the other Add saw it empty finds the fingerprint there;
// so exactly one of them succeeds. For the same reason tombstones are not
// reclaimed in place: two Adds could see different ones free, and both
// succeed. Below the budget they go when the table is next rehashed, which
// they hasten; at the budget, where it is not, a tombstone goes when a new
// fingerprint whose home slot it is finds its window full, as live
// fingerprints do, so tombstones left by Remove decay as the crawl goes on.
//
// A window without an empty slot makes the table double or, at the budget,
// makes the Add overwrite the fingerprint (or tombstone) at its home slot:
// always that one, so that concurrent Adds of the same fingerprint still race
// for a single slot. Rehashing replaces the table under the write lock of the
// Known's RWMutex; every other operation holds the read lock, so a rehash is
// the only time they wait for one another. At the budget the table is never
// rehashed, which keeps its memory within the budget (a rehash holds two
// tables), and so operations no longer take the lock: with two goroutines,
// passing the cache line of its reader count to and fro made a lookup take
// 85 ns instead of 15.
//
// The fingerprint equal to tombstone, which no slot can hold, is kept in
// Known.tomb.

// knownTable is one generation of a Known's table.
type knownTable struct {
	slots    []atomic.Uint64 // len is a power of two; outside the Go heap when mapped
	mapped   bool            // slots came from allocSlots' mapping: freed by free
	mask     uint64          // len(slots) - 1
	growAt   int64           // used above which the table doubles, unless atBudget
	atBudget bool            // it does not double but forgets
	window   uint64          // the most slots a lookup reads: knownWindow at the budget, else all

	_ [64]byte // keeps the counters, written by every add, off the line above, read by every operation

	used atomic.Int64 // slots not empty: fingerprints and tombstones
	live atomic.Int64 // fingerprints
}

// NewKnown returns an empty Known that uses at most maxBytes for its table:
// the largest power-of-two number of 8-byte slots that fits, and at least
// 4096 slots (32 KiB), so a smaller budget is raised to that. 0 means 64 MiB;
// negative is an error. The last doubling, to the budget, briefly holds both
// tables: one and a half times the budget.
func NewKnown(maxBytes int) (*Known, error) {
	if maxBytes < 0 {
		return nil, fmt.Errorf("dedupe: known-set budget of %d bytes is negative", maxBytes)
	}
	if maxBytes == 0 {
		maxBytes = defaultKnownBytes
	}
	maxSlots := knownMinSlots
	for maxSlots <= maxBytes/(2*slotBytes) {
		maxSlots *= 2
	}
	return newKnown(knownMinSlots, maxSlots), nil
}

// newKnown returns a Known whose table starts at minSlots and grows to
// maxSlots, both powers of two and at least knownWindow. Tests use it for
// tables smaller than NewKnown's.
func newKnown(minSlots, maxSlots int) *Known {
	k := &Known{maxSlots: maxSlots, tab: new(atomic.Pointer[knownTable])}
	k.tab.Store(newKnownTable(minSlots, maxSlots))
	// The table may be outside the heap: unmap it with the Known.
	runtime.AddCleanup(k, func(tab *atomic.Pointer[knownTable]) { tab.Load().free() }, k.tab)
	return k
}

// acquire returns the table, read-locked unless it is at the budget. The
// caller calls release(t) when done with it.
func (k *Known) acquire() *knownTable {
	if t := k.tab.Load(); t.atBudget {
		return t
	}
	k.mu.RLock()
	t := k.tab.Load()
	if t.atBudget { // it reached the budget meanwhile
		k.mu.RUnlock()
	}
	return t
}

// release undoes acquire.
func (k *Known) release(t *knownTable) {
	if !t.atBudget {
		k.mu.RUnlock()
	}
}

func newKnownTable(n, maxSlots int) *knownTable {
	slots, mapped := allocSlots(n)
	t := &knownTable{
		slots:    slots,
		mapped:   mapped,
		mask:     uint64(n - 1),
		growAt:   int64(n) * 7 / 10,
		atBudget: n >= maxSlots,
		window:   uint64(n),
	}
	if t.atBudget {
		t.window = min(knownWindow, t.window)
	}
	return t
}

// Add adds fp to the set and reports whether it was absent: forgotten, or
// never added. When several goroutines add the same absent fingerprint at
// once, exactly one gets true. (At the budget there is one exception, which
// looks like a later Add: if one of them adds it, it is then forgotten to make
// room for another, and another of them adds it again.) A fingerprint added
// when the table is at its budget may make the set forget another.
//
// fp must not be 0, which is not a fingerprint: Add panics.
func (k *Known) Add(fp int64) bool {
	if fp == 0 {
		panic("dedupe: Known.Add(0): 0 is not a fingerprint")
	}
	v := uint64(fp)
	if v == tombstone {
		return k.tomb.CompareAndSwap(false, true)
	}
	for {
		t := k.acquire()
		r := t.add(v)
		k.release(t)
		switch r {
		case addPresent:
			return false
		case addDone:
			return true
		case addDoneGrow:
			k.grow(t)
			return true
		case addNoRoom:
			k.grow(t) // then try again in the new table
		}
	}
}

// An addResult says what knownTable.add did.
type addResult int

const (
	addPresent  addResult = iota // the fingerprint was there already
	addDone                      // added
	addDoneGrow                  // added, and the table is due to double
	addNoRoom                    // not added: the table must grow or be rebuilt first
)

// add adds v, which is neither 0 nor tombstone, to t.
func (t *knownTable) add(v uint64) addResult {
	home := fmix64(v) & t.mask
	for {
		var free *atomic.Uint64
		for i := range t.window {
			s := &t.slots[(home+i)&t.mask]
			switch s.Load() {
			case v:
				return addPresent
			case 0:
				free = s
			}
			if free != nil {
				break
			}
		}
		if free != nil {
			if !free.CompareAndSwap(0, v) {
				continue // taken: by v, or by another that pushes v further on
			}
			t.live.Add(1)
			if t.used.Add(1) > t.growAt && !t.atBudget {
				return addDoneGrow
			}
			return addDone
		}

		// Every slot in the window is taken, by other fingerprints or by
		// tombstones.
		if !t.atBudget {
			return addNoRoom // in practice never: the table is at most 70% full
		}
		old := t.slots[home].Load()
		if old == v {
			return addPresent // added meanwhile by another Add
		}
		if !t.slots[home].CompareAndSwap(old, v) {
			continue
		}
		if old == tombstone {
			t.live.Add(1)
		} // else old is forgotten, and the count stays
		return addDone
	}
}

// grow replaces t, which is below the budget, unless another Add replaced it
// first: with a table twice its size, or, if at least half of t's filled
// slots are tombstones, with one of the same size without them, so that
// Adds and Removes in turn do not make it double for nothing.
func (k *Known) grow(t *knownTable) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.tab.Load() != t {
		return
	}
	n := len(t.slots)
	if t.live.Load() > t.used.Load()/2 {
		n *= 2
	}
	k.tab.Store(rehashLocked(t, n, k.maxSlots))
	// Every other use of t holds the read lock, so none is left.
	t.free()
}

// free unmaps the table's slots if they were mapped; only their count may be
// read after.
func (t *knownTable) free() {
	if t.mapped {
		t.mapped = false
		freeSlots(t.slots) // the slice header stays: Bytes may read its length
	}
}

// rehashLocked returns a table of n slots holding t's fingerprints, without
// its tombstones. Below the budget, at a load of at most 0.35 after doubling
// or rebuilding, there is room for all of them; at the budget, whose windows
// are bounded, a full window makes it forget the fingerprint at the home
// slot. The caller holds the write lock, so nothing else reads or writes t or
// the new table.
func rehashLocked(t *knownTable, n, maxSlots int) *knownTable {
	nt := newKnownTable(n, maxSlots)
	var live int64
copying:
	for i := range t.slots {
		v := t.slots[i].Load()
		if v == 0 || v == tombstone {
			continue
		}
		home := fmix64(v) & nt.mask
		for j := range nt.window {
			if s := &nt.slots[(home+j)&nt.mask]; s.Load() == 0 {
				s.Store(v)
				live++
				continue copying
			}
		}
		nt.slots[home].Store(v) // forgets the fingerprint there
	}
	nt.live.Store(live)
	nt.used.Store(live)
	return nt
}

// Has reports whether fp is in the set: added, and neither removed nor
// forgotten since. It is false for 0.
func (k *Known) Has(fp int64) bool {
	v := uint64(fp)
	switch v {
	case 0:
		return false
	case tombstone:
		return k.tomb.Load()
	}
	t := k.acquire()
	home := fmix64(v) & t.mask
	found := false
	for i := range t.window {
		s := t.slots[(home+i)&t.mask].Load()
		if s == v {
			found = true
			break
		}
		if s == 0 {
			break
		}
	}
	k.release(t)
	return found
}

// Remove removes fp from the set if it is there: a URL that its caller
// claimed with Add but will not write after all, so that a later Add reports
// it absent again.
func (k *Known) Remove(fp int64) {
	v := uint64(fp)
	switch v {
	case 0:
		return
	case tombstone:
		k.tomb.Store(false)
		return
	}
	t := k.acquire()
	defer k.release(t)
	home := fmix64(v) & t.mask
	for i := range t.window {
		s := &t.slots[(home+i)&t.mask]
		switch s.Load() {
		case v:
			if s.CompareAndSwap(v, tombstone) { // else it was removed or forgotten meanwhile
				t.live.Add(-1)
			}
			return
		case 0:
			return
		}
	}
}

// Len returns the number of fingerprints in the set. Under concurrent use it
// is a snapshot.
func (k *Known) Len() int {
	n := k.tab.Load().live.Load()
	if k.tomb.Load() {
		n++
	}
	return int(n)
}

// Bytes returns the size of the set's table in bytes, which never exceeds the
// budget given to NewKnown (once raised to the 32 KiB minimum).
func (k *Known) Bytes() int {
	return len(k.tab.Load().slots) * slotBytes
}
