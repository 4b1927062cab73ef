package dedupe

import (
	"hash/maphash"
	"math"
	"sync/atomic"
)

// filter is a Bloom filter of committed keys, safe for concurrent use: bits
// are set with atomic OR, so adds and lookups need no lock. A key it has not
// seen is reported absent for certain; a key it has seen is reported present,
// as are about fpRate of the others.
type filter struct {
	bits []atomic.Uint64
	m    uint64 // number of bits
	k    int    // probes per key
	seed maphash.Seed
}

// newFilter sizes a filter for n keys at false-positive rate p.
func newFilter(n int, p float64) *filter {
	m := uint64(math.Ceil(-float64(n) * math.Log(p) / (math.Ln2 * math.Ln2)))
	m = (m + 63) &^ 63
	k := max(1, int(math.Round(float64(m)/float64(n)*math.Ln2)))
	return &filter{bits: make([]atomic.Uint64, m/64), m: m, k: k, seed: maphash.MakeSeed()}
}

// probes returns the two hashes that generate key's k probe positions
// (Kirsch and Mitzenmacher: h1 + i*h2).
func (f *filter) probes(key string) (h1, h2 uint64) {
	h := maphash.String(f.seed, key)
	return h, h>>32 | h<<32 | 1
}

func (f *filter) add(key string) {
	h1, h2 := f.probes(key)
	for i := range f.k {
		bit := (h1 + uint64(i)*h2) % f.m
		f.bits[bit/64].Or(1 << (bit % 64))
	}
}

// has reports whether key may have been added; false is certain.
func (f *filter) has(key string) bool {
	h1, h2 := f.probes(key)
	for i := range f.k {
		bit := (h1 + uint64(i)*h2) % f.m
		if f.bits[bit/64].Load()&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}
