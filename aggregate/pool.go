package aggregate

import (
	"bytes"
	"hash/maphash"
)

// Buffers larger than these are left to the garbage collector rather than
// kept in a pool.
const (
	maxPooledBody    = 256 << 10
	maxPooledMembers = 4096
)

// getBuf returns a body buffer of length 0 from the pool.
func (a *Aggregator) getBuf() *[]byte {
	if p, ok := a.bufs.Get().(*[]byte); ok {
		return p
	}
	return new([]byte)
}

// getBody returns a merged body's buffer of length 0 and capacity at least
// size, from the pool when it has one.
func (a *Aggregator) getBody(size int) *[]byte {
	p, ok := a.bodies.Get().(*[]byte)
	if !ok {
		p = new([]byte)
	}
	if cap(*p) < size {
		*p = make([]byte, 0, size)
	}
	return p
}

// getMems returns a member buffer of length 0 from the pool.
func (a *Aggregator) getMems() *[]member {
	if p, ok := a.mems.Get().(*[]member); ok {
		return p
	}
	return new([]member)
}

// release returns a finished slot's buffers to the pools. Nothing may point
// into them afterwards: the merge has copied what it needed.
func (a *Aggregator) release(s *slot) {
	if s.buf != nil && cap(*s.buf) <= maxPooledBody {
		*s.buf = (*s.buf)[:0]
		a.bufs.Put(s.buf)
	}
	if s.out != nil && cap(*s.out) <= maxPooledBody {
		*s.out = (*s.out)[:0]
		a.bufs.Put(s.out)
	}
	if s.mems != nil && cap(*s.mems) <= maxPooledMembers {
		*s.mems = (*s.mems)[:0]
		a.mems.Put(s.mems)
	}
	// Field by field, the phase left alone: a hedge's loser may still be
	// storing it (see hedged).
	s.data, s.raw, s.members = nil, nil, nil
	s.buf, s.out, s.mems = nil, nil, nil
	s.arrived = false
}

// fanState is what a fan-out hands its calls: a slot each and the channel
// on which they say they have ended (buffered for every call, so that a
// straggler never blocks).
type fanState struct {
	slots []slot
	done  chan int
}

// getRun returns a fan-out's state for n backends, from the pool when it
// has one.
func (a *Aggregator) getRun(n int) *fanState {
	if st, ok := a.runs.Get().(*fanState); ok {
		return st
	}
	return &fanState{slots: make([]slot, n), done: make(chan int, n)}
}

// putRun keeps st for a later fan-out of the same endpoint. Only a fan-out
// whose every call has ended may give its state back, and only when no call
// outlives its slot's use (a hedge's loser runs on after the winner).
func (a *Aggregator) putRun(st *fanState) {
	clear(st.slots)
	a.runs.Put(st)
}

func (a *Aggregator) getTable() *keyTable {
	if t, ok := a.tables.Get().(*keyTable); ok {
		return t
	}
	return new(keyTable)
}

func (a *Aggregator) putTable(t *keyTable) {
	if cap(t.index) <= 4*maxPooledMembers {
		a.tables.Put(t)
	}
}

// keyTable is the set of top-level names already in a merged object: open
// addressing over a hash of each name. It holds no pointers (no write
// barriers, nothing to scan), and a merge of a few hundred members costs no
// allocation once the table is pooled. An entry refers to its name by
// position; the name's bytes are read again only when two hashes are equal.
type keyTable struct {
	seed  maphash.Seed
	index []keyEntry
}

// keyEntry is one name in a keyTable.
type keyEntry struct {
	hash uint64
	ref  uint64 // 1 + the name's reference (see add); 0 is empty
}

// reset empties t and sizes it for n names.
func (t *keyTable) reset(seed maphash.Seed, n int) {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	if cap(t.index) >= size {
		t.index = t.index[:size]
		clear(t.index)
	} else {
		t.index = make([]keyEntry, size)
	}
	t.seed = seed
}

// add adds name, known to the caller as ref, and reports whether it was
// new. nameOf returns the name of a ref added before.
func (t *keyTable) add(name []byte, ref uint64, nameOf func(ref uint64) []byte) bool {
	h := maphash.Bytes(t.seed, name)
	mask := uint64(len(t.index) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		e := &t.index[i]
		if e.ref == 0 {
			*e = keyEntry{hash: h, ref: ref + 1}
			return true
		}
		if e.hash == h && bytes.Equal(nameOf(e.ref-1), name) {
			return false
		}
	}
}
