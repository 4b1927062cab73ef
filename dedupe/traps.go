package dedupe

import (
	"hash/maphash"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// Reason says why [Traps.Check] takes a URL for a crawler trap; "" means it
// does not.
type Reason string

// The reasons [Traps.Check] returns.
const (
	// ReasonTooLong means the URL is longer than TrapConfig.MaxURLLen.
	ReasonTooLong Reason = "too long"
	// ReasonPathDepth means the path has more than TrapConfig.MaxPathDepth segments.
	ReasonPathDepth Reason = "path too deep"
	// ReasonRepeated means a run of path segments repeats more than
	// TrapConfig.MaxRepeats times in a row.
	ReasonRepeated Reason = "repeated path segments"
	// ReasonQueryVariants means the URL's scheme, host and path were already seen
	// with TrapConfig.MaxQueryVariants other queries.
	ReasonQueryVariants Reason = "too many query variants"
)

// TrapConfig configures [Traps]. The zero value is ready to use; a negative
// limit turns its check off.
type TrapConfig struct {
	// MaxURLLen is the longest URL accepted, in bytes, without userinfo and
	// fragment. 0 means 2048.
	MaxURLLen int

	// MaxPathDepth is the most path segments accepted: the number of '/' in
	// the path, so "/a/b/" has 3. 0 means 32.
	MaxPathDepth int

	// MaxRepeats is how many times in a row a run of 1 to 4 path segments
	// may appear: with 3, "/a/b/a/b/a/b" passes and "/a/b/a/b/a/b/a/b" is a
	// trap, as is "/x/x/x/x". 0 means 3.
	MaxRepeats int

	// MaxQueryVariants is how many distinct queries one scheme, host and
	// path may have; a URL without a query is not counted. 0 means 1000.
	MaxQueryVariants int

	// MaxPaths is how many scheme+host+path keys the query-variant count
	// remembers, least recently checked forgotten first: a forgotten path
	// starts again from no variants. Memory is about 150 bytes a path plus 4
	// to 8 bytes a distinct query, so at most about 800 MB at the defaults,
	// when every one of 100_000 paths has 1000 queries. 0 or less means
	// 100_000.
	MaxPaths int
}

// Defaults for TrapConfig.
const (
	defaultMaxURLLen        = 2048
	defaultMaxPathDepth     = 32
	defaultMaxRepeats       = 3
	defaultMaxQueryVariants = 1000
	defaultMaxPaths         = 100_000
)

// Traps recognises URLs that lead a crawler into an endless space of pages:
// calendars, ever-deeper relative links ("/a/b/a/b/..."), session ids and
// sort orders multiplying one page's queries. It looks at canonical URLs (see
// [Canonical]), one at a time, and remembers how many queries each path had.
//
// A Traps is safe for concurrent use. Its memory is bounded by
// TrapConfig.MaxPaths and MaxQueryVariants. Create it with [NewTraps].
type Traps struct {
	cfg  TrapConfig // defaults filled in
	seed maphash.Seed

	mu    sync.Mutex                        // guards paths and the slices in it
	paths *simplelru.LRU[uint64, *[]uint32] // hash of scheme+host+path → sorted query hashes
}

// NewTraps returns a Traps with cfg's limits; see [TrapConfig] for defaults.
func NewTraps(cfg TrapConfig) *Traps {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MaxURLLen, defaultMaxURLLen)
	def(&cfg.MaxPathDepth, defaultMaxPathDepth)
	def(&cfg.MaxRepeats, defaultMaxRepeats)
	def(&cfg.MaxQueryVariants, defaultMaxQueryVariants)
	if cfg.MaxPaths <= 0 {
		cfg.MaxPaths = defaultMaxPaths
	}
	t := &Traps{cfg: cfg, seed: maphash.MakeSeed()}
	if cfg.MaxQueryVariants > 0 {
		// NewLRU fails only for a size <= 0.
		t.paths, _ = simplelru.NewLRU[uint64, *[]uint32](cfg.MaxPaths, nil)
	}
	return t
}

// Check returns why u looks like a crawler trap, or "" if it does not. The
// checks run in the order of the Reason constants, and the first that fails
// is returned. u should be canonical (see [CanonicalURL]): Check compares
// escaped path segments and queries byte for byte.
//
// A URL with a query counts as a variant of its path if Check returns "" for
// it; a query is counted once however often it is checked. Check does not
// allocate unless it records a new path or query. u must not be nil.
func (t *Traps) Check(u *url.URL) Reason {
	path := u.RawPath // as written, when that differs from the decoded Path
	if path == "" {
		path = u.Path
	}
	if t.cfg.MaxURLLen >= 0 {
		n := len(u.Scheme) + len("://") + len(u.Host) + escapedLen(u)
		if u.RawQuery != "" {
			n += 1 + len(u.RawQuery)
		}
		if n > t.cfg.MaxURLLen {
			return ReasonTooLong
		}
	}
	if t.cfg.MaxPathDepth >= 0 && depth(path) > t.cfg.MaxPathDepth {
		return ReasonPathDepth
	}
	if t.cfg.MaxRepeats >= 0 && repeats(path, t.cfg.MaxRepeats) {
		return ReasonRepeated
	}
	if t.paths != nil && u.RawQuery != "" && !t.addVariant(u.Scheme, u.Host, path, u.RawQuery) {
		return ReasonQueryVariants
	}
	return ""
}

// addVariant records query as a variant of scheme://host/path and reports
// whether it is within the limit: already recorded, or one more that fits.
func (t *Traps) addVariant(scheme, host, path, query string) bool {
	var h maphash.Hash
	h.SetSeed(t.seed)
	h.WriteString(scheme)
	h.WriteByte(0)
	h.WriteString(host)
	h.WriteByte(0)
	h.WriteString(path)
	key := h.Sum64()
	// 32 bits: two of 1000 queries collide with odds of 1 in 10^4, and then
	// count as one, which only lets one more variant in.
	q := uint32(maphash.String(t.seed, query))

	t.mu.Lock()
	defer t.mu.Unlock()
	qs, ok := t.paths.Get(key)
	if !ok {
		qs = &[]uint32{q}
		t.paths.Add(key, qs)
		return true
	}
	i, found := slices.BinarySearch(*qs, q)
	switch {
	case found:
		return true
	case len(*qs) >= t.cfg.MaxQueryVariants:
		return false
	}
	*qs = slices.Insert(*qs, i, q)
	return true
}

// escapedLen returns the length of u's path as u.EscapedPath would write it,
// near enough (a few characters such as '!' are counted as not escaped),
// without building it.
func escapedLen(u *url.URL) int {
	if u.RawPath != "" {
		return len(u.RawPath)
	}
	n := len(u.Path)
	for i := 0; i < len(u.Path); i++ {
		if c := u.Path[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"#%<>?[\\]^`{|}", c) >= 0 {
			n += 2
		}
	}
	return n
}

// depth returns the number of segments in path: its '/'s.
func depth(path string) int {
	n := 0
	for i := 0; i < len(path); i++ {
		if path[i] == '/' {
			n++
		}
	}
	return n
}

// maxPeriod is the longest run of segments, in segments, that repeats finds.
const maxPeriod = 4

// repeats reports whether a run of 1 to maxPeriod segments of path appears
// more than limit times in a row.
func repeats(path string, limit int) bool {
	// Segment i is path[starts[i]:starts[i+1]-1]; the array keeps ordinary
	// paths off the heap.
	var arr [defaultMaxPathDepth + 2]int
	starts := arr[:0]
	for i := 0; i < len(path); i++ {
		if path[i] == '/' {
			starts = append(starts, i+1)
		}
	}
	starts = append(starts, len(path)+1)
	n := len(starts) - 1 // segments
	seg := func(i int) string { return path[starts[i] : starts[i+1]-1] }
	for p := 1; p <= maxPeriod; p++ {
		// A run repeated k times in a row is (k-1)*p segments in a row that
		// equal the one p before them.
		need := limit * p
		if n < need+p {
			break
		}
		run := 0
		for i := p; i < n; i++ {
			if seg(i) != seg(i-p) {
				run = 0
				continue
			}
			if run++; run >= need {
				return true
			}
		}
	}
	return false
}
