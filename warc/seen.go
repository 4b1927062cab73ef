package warc

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"hash/maphash"
	"slices"
)

// The digest table remembers, for the newest Config.Dedupe payload digests the crawl
// archived, where the response record that holds the payload is: its file and offset, and
// nothing else. A hit reads the record's header back from its file (headerReader.refOf) for what the
// revisit names (record id, target URI, date) and checks that the record's payload digest
// is the one looked up. A digest costs about 42 bytes (BenchmarkOpenIndex), where keeping
// the digest, record id, URI and date strings in an LRU cost about 350.
//
// The entries live in a ring, in the order they were added: once it holds Config.Dedupe,
// each new digest replaces the oldest (first in, first out; a hit does not make an entry
// younger). The ring is indexed by an open-addressing hash table of ring positions with
// linear probing, at most half full, whose entries are deleted by shifting the cluster
// after them back (no tombstones). The hash is maphash with a seed of the Writer's own,
// so that a site cannot choose payloads whose digests pile up in one place of the table.

// maxDedupe bounds Config.Dedupe: a ring position (plus one) is a uint32, and the table
// of positions has a power of two at least twice as many.
const maxDedupe = 1 << 30

// maxFiles bounds the files of the crawl an entry can name (24 bits of seenEntry.tag); a
// record in a file past it is not remembered.
const maxFiles = 1 << 24

// Digest algorithms (digestKey.alg); 0 is none.
const (
	algMD5 = 1 + iota
	algSHA1
	algSHA256
	algSHA512
)

// digestValue is a payload digest decoded from its WARC field value: the algorithm and the
// raw bytes, whatever their encoding. Two values are equal (==) when the digests are.
type digestValue struct {
	alg uint8
	n   uint8    // the length of sum
	sum [64]byte // sum[:n] are the digest's bytes, the rest zeros
}

// digestKey is what the table keeps of a digest: its algorithm and its first 20 bytes (all
// of a SHA-1, the one the Writer computes). A longer digest that shares them with another
// is told apart by the check of the full digest on a hit.
type digestKey struct {
	alg uint8
	sum [20]byte
}

func (d *digestValue) key() digestKey {
	k := digestKey{alg: d.alg}
	copy(k.sum[:], d.sum[:d.n])
	return k
}

// parseDigest decodes a WARC digest field value, ALGORITHM:VALUE, as gowarc reads one: the
// algorithm md5, sha1, sha256 or sha512 (any case, sha-1 ...), the value in base16, base32
// or base64 (padded or not), told apart by its length. It reports false for anything else,
// a digest not to deduplicate.
func parseDigest(s []byte) (digestValue, bool) {
	name, value, ok := bytes.Cut(s, []byte(":"))
	if !ok {
		return digestValue{}, false
	}
	var d digestValue
	switch {
	case bytes.EqualFold(name, []byte("md5")):
		d.alg, d.n = algMD5, 16
	case bytes.EqualFold(name, []byte("sha1")), bytes.EqualFold(name, []byte("sha-1")):
		d.alg, d.n = algSHA1, 20
	case bytes.EqualFold(name, []byte("sha256")), bytes.EqualFold(name, []byte("sha-256")):
		d.alg, d.n = algSHA256, 32
	case bytes.EqualFold(name, []byte("sha512")), bytes.EqualFold(name, []byte("sha-512")):
		d.alg, d.n = algSHA512, 64
	default:
		return digestValue{}, false
	}
	n, l := int(d.n), len(value)
	var src [128]byte // the value, padded with '=' (the longest: 128 hex digits of a SHA-512)
	var dst [72]byte  // what a padded value of that length may decode to
	var got int
	var err error
	switch {
	case l == 2*n && !bytes.HasSuffix(value, []byte("=")): // an MD5's padded base32 has 32 too
		got, err = hex.Decode(dst[:], value)
	case l == base32.StdEncoding.EncodedLen(n) || l == (8*n+4)/5:
		in := src[:0]
		for _, c := range value { // gowarc accepts either case
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			in = append(in, c)
		}
		for len(in)%8 != 0 {
			in = append(in, '=')
		}
		got, err = base32.StdEncoding.Decode(dst[:], in)
	case l == base64.StdEncoding.EncodedLen(n) || l == base64.RawStdEncoding.EncodedLen(n):
		in := append(src[:0], value...)
		for len(in)%4 != 0 {
			in = append(in, '=')
		}
		got, err = base64.StdEncoding.Decode(dst[:], in)
	default:
		return digestValue{}, false
	}
	if err != nil || got != n {
		return digestValue{}, false
	}
	copy(d.sum[:], dst[:n])
	return d, true
}

// seenEntry is one digest of the table: 32 bytes.
type seenEntry struct {
	sum [20]byte // digestKey.sum
	tag uint32   // the file's number (in seenTable.names) << 8 | digestKey.alg
	off int64    // the offset of the record in its file
}

func (e *seenEntry) is(k digestKey) bool { return e.sum == k.sum && uint8(e.tag) == k.alg }

// seenTable is the digest table. It is not safe for concurrent use (the Writer's mu
// guards it).
type seenTable struct {
	max   int         // how many digests it keeps: Config.Dedupe
	ring  []seenEntry // in the order added; grows to max, then wraps
	start int         // the oldest entry of a full ring
	slots []uint32    // 1 + a position in ring, 0 when free; a power of two, at least 2 × len(ring)
	seed  maphash.Seed
	names []string          // the crawl's files, by number
	files map[string]uint32 // and their numbers, by name
}

func newSeenTable(max int) *seenTable {
	return &seenTable{max: max, slots: make([]uint32, 16), seed: maphash.MakeSeed(), files: map[string]uint32{}}
}

// Len returns how many digests the table holds.
func (t *seenTable) Len() int { return len(t.ring) }

func (t *seenTable) home(sum *[20]byte) int {
	return int(maphash.Bytes(t.seed, sum[:]) & uint64(len(t.slots)-1))
}

// find returns the slot of k, or the free slot where it would go.
func (t *seenTable) find(k digestKey) (slot int, found bool) {
	mask := len(t.slots) - 1
	for i := t.home(&k.sum); ; i = (i + 1) & mask { // ends: at most half the slots are taken
		p := t.slots[i]
		if p == 0 {
			return i, false
		}
		if t.ring[p-1].is(k) {
			return i, true
		}
	}
}

// get returns where the record of digest k is.
func (t *seenTable) get(k digestKey) (Location, bool) {
	i, ok := t.find(k)
	if !ok {
		return Location{}, false
	}
	e := &t.ring[t.slots[i]-1]
	return Location{File: t.names[e.tag>>8], Offset: e.off}, true
}

// add remembers that the record of digest k is at loc. A digest already there has its
// location replaced and keeps its age. With the table full, the oldest digest is
// forgotten. A record in a file past maxFiles is not remembered.
func (t *seenTable) add(k digestKey, loc Location) {
	num, ok := t.files[loc.File]
	if !ok {
		if len(t.names) >= maxFiles {
			return
		}
		num = uint32(len(t.names))
		t.names = append(t.names, loc.File)
		t.files[loc.File] = num
	}
	e := seenEntry{sum: k.sum, tag: num<<8 | uint32(k.alg), off: loc.Offset}
	i, found := t.find(k)
	switch {
	case found:
		t.ring[t.slots[i]-1] = e
	case len(t.ring) < t.max:
		t.push(e, i)
	default:
		old := &t.ring[t.start]
		j, _ := t.find(digestKey{alg: uint8(old.tag), sum: old.sum})
		t.deleteSlot(j)
		*old = e
		i, _ = t.find(k) // the deletion may have moved the free slot
		t.slots[i] = uint32(t.start) + 1
		t.start = (t.start + 1) % t.max
	}
}

// push appends e, not full and not in the table, whose free slot is i, to the ring.
func (t *seenTable) push(e seenEntry, i int) {
	if len(t.ring) == cap(t.ring) { // grow to max at most, not by append's rule past it
		ring := make([]seenEntry, len(t.ring), min(max(2*len(t.ring), 256), t.max))
		copy(ring, t.ring)
		t.ring = ring
	}
	t.ring = append(t.ring, e)
	t.slots[i] = uint32(len(t.ring))
	if 2*len(t.ring) > len(t.slots) {
		t.rehash(2 * len(t.slots))
	}
}

// deleteSlot frees slot i and moves back the entries after it in its cluster that may sit
// closer to their home slot, so that a lookup never stops short of one.
func (t *seenTable) deleteSlot(i int) {
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		h := t.home(&t.ring[t.slots[j]-1].sum)
		if (j-h)&mask >= (j-i)&mask { // i lies on the way from h to j: j may move to i
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = 0
}

// rehash makes the table of slots n long and puts each ring position back in it.
func (t *seenTable) rehash(n int) {
	t.slots = make([]uint32, n)
	mask := n - 1
	for p := range t.ring {
		i := t.home(&t.ring[p].sum)
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = uint32(p) + 1
	}
}

// loadNewest adds k at loc unless the table has it, for entries given newest first (as
// Open reads the index backwards); reverse puts them in order when they are all in. It
// reports whether the table has room for more.
func (t *seenTable) loadNewest(k digestKey, loc Location) bool {
	if len(t.ring) >= t.max {
		return false
	}
	if _, found := t.find(k); !found {
		t.add(k, loc)
	}
	return len(t.ring) < t.max
}

// reverse turns a ring filled newest first by loadNewest into the oldest-first order.
func (t *seenTable) reverse() {
	slices.Reverse(t.ring)
	n := uint32(len(t.ring))
	for i, p := range t.slots {
		if p != 0 {
			t.slots[i] = n - p + 1 // position p-1 is now n-p
		}
	}
}
