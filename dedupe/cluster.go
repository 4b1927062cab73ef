package dedupe

import (
	"cmp"
	"slices"
)

// Fingerprint is a document's [SimHash] together with the caller's ID for it.
type Fingerprint struct {
	ID   int64  // the caller's, such as a page id; IDs need not be unique
	Hash uint64 // from SimHash
}

// Clusters groups near-duplicate documents: it returns the IDs of every group
// of two or more fingerprints linked by chains of pairs at most maxDist bits
// apart ([Distance]). The grouping is transitive (single linkage), so two
// members of a group may be further apart than maxDist when others lie
// between them. Groups come in the order of their first member in fps, and
// members in their order in fps. It returns nil when no two fingerprints are
// close enough, or when maxDist is negative; 3 suits SimHash's 64 bits.
//
// Clusters does not compare every pair. Split into maxDist+1 bands of bits,
// two hashes at most maxDist apart differ in at most maxDist bands, so they
// are equal in at least one: only fingerprints that share a band's value are
// compared. For n random hashes that is about n² / 2^(64/(maxDist+1)) pairs
// a band (about 76 000 for n = 100 000 at maxDist 3) after an O(n log n)
// sort; fps with equal hashes are merged first, at no cost per pair. A large
// maxDist makes bands narrow and the work approach n². Memory is O(n). It
// does not modify fps and is safe for concurrent use.
func Clusters(fps []Fingerprint, maxDist int) [][]int64 {
	n := len(fps)
	if maxDist < 0 || n < 2 {
		return nil
	}
	uf := newUnionFind(n)

	// Equal hashes first: sorted, they are runs, and each run joins at once.
	type keyed struct {
		key uint64
		i   int32
	}
	keys := make([]keyed, n)
	for i, fp := range fps {
		keys[i] = keyed{fp.Hash, int32(i)}
	}
	byKey := func(a, b keyed) int { return cmp.Or(cmp.Compare(a.key, b.key), cmp.Compare(a.i, b.i)) }
	slices.SortFunc(keys, byKey)
	distinct := make([]int32, 0, n) // the first fingerprint of each distinct hash
	for i, k := range keys {
		if i > 0 && k.key == keys[i-1].key {
			uf.union(k.i, keys[i-1].i)
			continue
		}
		distinct = append(distinct, k.i)
	}

	switch {
	case maxDist >= 64:
		for _, i := range distinct[1:] {
			uf.union(distinct[0], i)
		}
	case maxDist > 0 && len(distinct) > 1:
		bands := maxDist + 1
		keys = keys[:len(distinct)]
		for b := range bands {
			lo, hi := b*64/bands, (b+1)*64/bands
			mask := uint64(1)<<(hi-lo) - 1 // hi-lo < 64: bands >= 2
			for j, i := range distinct {
				keys[j] = keyed{fps[i].Hash >> lo & mask, i}
			}
			slices.SortFunc(keys, byKey)
			for start := 0; start < len(keys); {
				end := start + 1
				for end < len(keys) && keys[end].key == keys[start].key {
					end++
				}
				for x := start; x < end; x++ {
					for y := x + 1; y < end; y++ {
						i, j := keys[x].i, keys[y].i
						if Distance(fps[i].Hash, fps[j].Hash) <= maxDist {
							uf.union(i, j)
						}
					}
				}
				start = end
			}
		}
	}

	var groups [][]int64
	group := make([]int32, n) // root → index in groups + 1; 0: none yet
	size := make([]int32, n)  // root → members
	for i := range n {
		size[uf.find(int32(i))]++
	}
	for i, fp := range fps {
		r := uf.find(int32(i))
		if size[r] < 2 {
			continue
		}
		if group[r] == 0 {
			groups = append(groups, make([]int64, 0, size[r]))
			group[r] = int32(len(groups))
		}
		g := group[r] - 1
		groups[g] = append(groups[g], fp.ID)
	}
	return groups
}

// unionFind is a disjoint-set forest with path halving and union by size.
type unionFind struct {
	parent []int32
	size   []int32
}

func newUnionFind(n int) *unionFind {
	uf := &unionFind{parent: make([]int32, n), size: make([]int32, n)}
	for i := range uf.parent {
		uf.parent[i] = int32(i)
		uf.size[i] = 1
	}
	return uf
}

func (uf *unionFind) find(i int32) int32 {
	for uf.parent[i] != i {
		uf.parent[i] = uf.parent[uf.parent[i]]
		i = uf.parent[i]
	}
	return i
}

func (uf *unionFind) union(a, b int32) {
	a, b = uf.find(a), uf.find(b)
	if a == b {
		return
	}
	if uf.size[a] < uf.size[b] {
		a, b = b, a
	}
	uf.parent[b] = a
	uf.size[a] += uf.size[b]
}
