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
	*s = slot{report: s.report}
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
