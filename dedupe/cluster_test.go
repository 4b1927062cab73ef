package dedupe

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// bruteClusters is the reference: union-find over every pair.
func bruteClusters(fps []Fingerprint, maxDist int) [][]int64 {
	uf := newUnionFind(len(fps))
	for i := range fps {
		for j := i + 1; j < len(fps); j++ {
			if Distance(fps[i].Hash, fps[j].Hash) <= maxDist {
				uf.union(int32(i), int32(j))
			}
		}
	}
	var groups [][]int64
	index := map[int32]int{}
	for i, fp := range fps {
		r := uf.find(int32(i))
		g, ok := index[r]
		if !ok {
			g = len(groups)
			index[r] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], fp.ID)
	}
	return slices.DeleteFunc(groups, func(g []int64) bool { return len(g) < 2 })
}

// flip returns h with n distinct random bits flipped.
func flip(r *rand.Rand, h uint64, n int) uint64 {
	for _, b := range r.Perm(64)[:n] {
		h ^= 1 << b
	}
	return h
}

// plantedFingerprints returns n random fingerprints of which about a third
// are near-duplicates (up to spread bits away) of an earlier one, some
// exact duplicates, some chains.
func plantedFingerprints(seed uint64, n, spread int) []Fingerprint {
	r := rand.New(rand.NewPCG(seed, 2))
	fps := make([]Fingerprint, n)
	for i := range fps {
		h := r.Uint64()
		switch x := r.IntN(9); {
		case i > 0 && x < 2: // near an earlier one
			h = flip(r, fps[r.IntN(i)].Hash, r.IntN(spread+1))
		case i > 0 && x == 2: // exact duplicate
			h = fps[r.IntN(i)].Hash
		case i > 0 && x == 3: // just out of reach
			h = flip(r, fps[r.IntN(i)].Hash, spread+1)
		}
		fps[i] = Fingerprint{ID: int64(1000 + i), Hash: h}
	}
	return fps
}

func TestClustersMatchesBruteForce(t *testing.T) {
	for _, maxDist := range []int{0, 1, 3, 6, 10, 20, 63, 64} {
		for seed := range uint64(2) {
			t.Run(fmt.Sprintf("maxDist=%d/seed=%d", maxDist, seed), func(t *testing.T) {
				fps := plantedFingerprints(seed, 1000, min(maxDist, 10))
				want := bruteClusters(fps, maxDist)
				got := Clusters(fps, maxDist)
				if !slices.EqualFunc(got, want, slices.Equal) {
					t.Fatalf("Clusters(%d fingerprints, %d) = %d groups, want %d:\n got %v\nwant %v",
						len(fps), maxDist, len(got), len(want), got, want)
				}
				if maxDist <= 10 && len(want) < 50 {
					t.Fatalf("only %d groups planted: the test has lost its teeth", len(want))
				}
			})
		}
	}
}

func TestClusters(t *testing.T) {
	const h = 0x0123456789abcdef
	tests := []struct {
		name    string
		fps     []Fingerprint
		maxDist int
		want    [][]int64
	}{
		{"nil", nil, 3, nil},
		{"one", []Fingerprint{{1, h}}, 3, nil},
		{"negative distance", []Fingerprint{{1, h}, {2, h}}, -1, nil},
		{"equal", []Fingerprint{{1, h}, {2, h}}, 0, [][]int64{{1, 2}}},
		{"one bit at 0", []Fingerprint{{1, h}, {2, h ^ 1}}, 0, nil},
		{"three bits", []Fingerprint{{1, h}, {2, h ^ 0b111}}, 3, [][]int64{{1, 2}}},
		{"four bits", []Fingerprint{{1, h}, {2, h ^ 0b1111}}, 3, nil},
		{"spread over bands", []Fingerprint{{1, h}, {2, h ^ (1 | 1<<20 | 1<<40)}}, 3, [][]int64{{1, 2}}},
		{"chain is one group", []Fingerprint{{1, h}, {2, h ^ 0b111}, {3, h ^ 0b111111}}, 3, [][]int64{{1, 2, 3}}},
		{"input order", []Fingerprint{{9, 0}, {5, h}, {7, ^uint64(0)}, {3, h ^ 2}, {1, 1}}, 1,
			[][]int64{{9, 1}, {5, 3}}},
		{"repeated ids kept", []Fingerprint{{1, h}, {1, h}}, 3, [][]int64{{1, 1}}},
		{"all at 64", []Fingerprint{{1, 0}, {2, ^uint64(0)}}, 64, [][]int64{{1, 2}}},
		{"not at 63", []Fingerprint{{1, 0}, {2, ^uint64(0)}}, 63, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.fps)
			got := Clusters(tt.fps, tt.maxDist)
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("Clusters(%v, %d) = %v, want %v", tt.fps, tt.maxDist, got, tt.want)
			}
			if !slices.Equal(in, tt.fps) {
				t.Errorf("Clusters modified its input")
			}
		})
	}
}

func TestClustersSimHash(t *testing.T) {
	page := randomWords(7, 400)
	other := randomWords(8, 400)
	edited := slices.Clone(page)
	edited[100] = "changed"
	fps := []Fingerprint{
		{1, SimHash(joinWords(page))},
		{2, SimHash(joinWords(other))},
		{3, SimHash(joinWords(edited))},
		{4, SimHash(joinWords(page))},
	}
	got := Clusters(fps, 6)
	if want := [][]int64{{1, 3, 4}}; !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("Clusters = %v, want %v", got, want)
	}
}

func joinWords(w []string) string {
	s := ""
	for _, x := range w {
		s += x + " "
	}
	return s
}

func BenchmarkClusters(b *testing.B) {
	fps := plantedFingerprints(42, 100_000, 3)
	for _, maxDist := range []int{3, 6} {
		b.Run(fmt.Sprintf("n=100k/maxDist=%d", maxDist), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				Clusters(fps, maxDist)
			}
		})
	}
}
