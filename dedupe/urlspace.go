package dedupe

import (
	"hash/maphash"
	"math/bits"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// URLSpaceConfig configures [URLSpaces]. The zero value is ready to use.
type URLSpaceConfig struct {
	// MaxRun is how many pages of one URL pattern in a row may be
	// near-duplicates that lead nowhere new before the pattern is closed:
	// its URLs found afterwards are not followed. 0 means 50; negative turns
	// the detector off.
	MaxRun int
	// Distance is the SimHash distance, in bits, within which a page counts
	// as a near-duplicate of one of the last pages of its pattern. 0 means 3,
	// the crawler's near-duplicate distance.
	Distance int
	// MaxPatterns is how many patterns are remembered, least recently fetched
	// forgotten first (a forgotten pattern starts again from nothing, closed
	// or not). Each costs about 150 bytes, so about 7.5 MB at the default.
	// 0 means 50_000.
	MaxPatterns int
}

// Defaults for URLSpaceConfig.
const (
	defaultMaxRun      = 50
	defaultDistance    = 3
	defaultMaxPatterns = 50_000
	// spaceWindow is how many of the last pages of a pattern a page is
	// compared with: enough that the pages of a space fetched out of order
	// still find a near twin, few enough to keep a pattern small.
	spaceWindow = 4
)

// URLSpaces recognises infinite URL spaces that no check on one URL sees:
// calendars in the path or the query, "next page" chains of empty or
// near-identical pages, ever-changing ids. Every URL of such a space is
// short, shallow and new, but its pages share a pattern (the URL with each
// run of letters and digits that holds a digit replaced by one placeholder,
// per host: /cal/2025/01 and /cal/1999/12 are /cal/#/#, /item/9f86d0 and
// /item/4a7f1c are /item/#) and look alike: each is a near-duplicate
// (SimHash) of the pages of its pattern before it, and its links lead only
// further into the pattern. A legitimate site's numbered pages (/p/1 ...
// /p/20000, "older posts" pages) share a pattern too, but have text of their
// own, or link to something new (the posts a listing page shows).
//
// So the crawler tells URLSpaces about every HTML page it parses (Observe):
// its pattern, its SimHash, and whether it queued a URL of another pattern.
// A page that is within Distance bits of one of the last pages of its
// pattern and queued nothing of another pattern extends the pattern's run;
// any other page ends it. When a run reaches MaxRun the pattern is closed,
// and the crawler stops following its URLs (Closed).
//
// A URLSpaces is safe for concurrent use. Its memory is bounded by
// MaxPatterns. Create it with [NewURLSpaces].
type URLSpaces struct {
	cfg    URLSpaceConfig // defaults filled in
	seed   maphash.Seed
	closed atomic.Int64 // patterns closed so far: Closed is free until one is

	mu       sync.RWMutex                          // guards patterns (Peek under RLock)
	patterns *simplelru.LRU[uint64, *spacePattern] // pattern hash → its recent pages
}

// spacePattern is what URLSpaces remembers of one pattern.
type spacePattern struct {
	recent [spaceWindow]uint64 // SimHashes of the last pages, a ring
	n      uint8               // pages in recent, up to spaceWindow
	next   uint8               // where the next page goes in recent
	closed bool
	run    int32 // near-duplicates leading nowhere new, in a row
}

// NewURLSpaces returns a URLSpaces with cfg's limits; see [URLSpaceConfig] for
// defaults. It returns nil when cfg.MaxRun is negative: a nil *URLSpaces
// is off, never closes a pattern, and is safe to call.
func NewURLSpaces(cfg URLSpaceConfig) *URLSpaces {
	if cfg.MaxRun < 0 {
		return nil
	}
	if cfg.MaxRun == 0 {
		cfg.MaxRun = defaultMaxRun
	}
	if cfg.Distance <= 0 {
		cfg.Distance = defaultDistance
	}
	if cfg.MaxPatterns <= 0 {
		cfg.MaxPatterns = defaultMaxPatterns
	}
	// NewLRU fails only for a size <= 0.
	lru, _ := simplelru.NewLRU[uint64, *spacePattern](cfg.MaxPatterns, nil)
	return &URLSpaces{cfg: cfg, seed: maphash.MakeSeed(), patterns: lru}
}

// Pattern returns the hash of u's pattern: its host, and its path and query
// with each maximal run of ASCII letters and digits that holds a digit
// replaced by one placeholder. u should be canonical ([CanonicalURL]): the
// escaped path and the query are read as written. Pattern allocates
// nothing; its value is meaningful only to the same URLSpaces.
func (s *URLSpaces) Pattern(u *url.URL) uint64 {
	var h maphash.Hash
	h.SetSeed(s.seed)
	h.WriteString(u.Host)
	h.WriteByte(0)
	path := u.RawPath
	if path == "" {
		path = u.Path
	}
	writePattern(&h, path)
	h.WriteByte('?')
	writePattern(&h, u.RawQuery)
	return h.Sum64()
}

// PatternString returns u's pattern as text, for logs and tests: "#" stands
// for each run of letters and digits that holds a digit.
func PatternString(u *url.URL) string {
	path := u.RawPath
	if path == "" {
		path = u.Path
	}
	var b []byte
	b = append(b, u.Host...)
	b = appendPattern(b, path)
	if u.RawQuery != "" {
		b = append(b, '?')
		b = appendPattern(b, u.RawQuery)
	}
	return string(b)
}

// writePattern writes s to h with each run of letters and digits that holds
// a digit written as '#'.
func writePattern(h *maphash.Hash, s string) {
	for i := 0; i < len(s); {
		j, digit := tokenEnd(s, i)
		switch {
		case j == i:
			h.WriteByte(s[i])
			i++
			continue
		case digit:
			h.WriteByte('#')
		default:
			h.WriteString(s[i:j])
		}
		i = j
	}
}

// appendPattern is writePattern appending to b.
func appendPattern(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		j, digit := tokenEnd(s, i)
		switch {
		case j == i:
			b = append(b, s[i])
			i++
			continue
		case digit:
			b = append(b, '#')
		default:
			b = append(b, s[i:j]...)
		}
		i = j
	}
	return b
}

// tokenEnd returns the end of the run of ASCII letters and digits that
// starts at s[i] (i itself when s[i] is neither) and whether it holds a
// digit.
func tokenEnd(s string, i int) (int, bool) {
	digit := false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9':
			digit = true
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		default:
			return i, digit
		}
	}
	return i, digit
}

// Observe records a fetched HTML page of pattern p (from Pattern) with text
// fingerprint simhash (0 for a page without text), which queued a URL of
// another pattern when leadsOn is set. It reports whether this page closed
// the pattern; a closed pattern stays closed until it is forgotten.
func (s *URLSpaces) Observe(p, simhash uint64, leadsOn bool) (closed bool) {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, ok := s.patterns.Get(p)
	if !ok {
		sp = &spacePattern{}
		s.patterns.Add(p, sp)
	}
	if sp.closed {
		return false
	}
	near := false
	for _, h := range sp.recent[:sp.n] {
		if bits.OnesCount64(h^simhash) <= s.cfg.Distance {
			near = true
			break
		}
	}
	sp.recent[sp.next] = simhash
	sp.next = (sp.next + 1) % spaceWindow
	sp.n = min(sp.n+1, spaceWindow)
	if !near || leadsOn {
		sp.run = 0
		return false
	}
	if sp.run++; int(sp.run) < s.cfg.MaxRun {
		return false
	}
	sp.closed = true
	s.closed.Add(1)
	return true
}

// Closed reports whether pattern p (from Pattern) was closed. Until a
// pattern has been closed it is one atomic load; then it takes a read lock.
func (s *URLSpaces) Closed(p uint64) bool {
	if s == nil || s.closed.Load() == 0 {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	sp, ok := s.patterns.Peek(p)
	return ok && sp.closed
}

// ClosedURL reports whether u's pattern was closed: Closed(Pattern(u)),
// without computing the pattern until a pattern has been closed.
func (s *URLSpaces) ClosedURL(u *url.URL) bool {
	if s == nil || s.closed.Load() == 0 {
		return false
	}
	return s.Closed(s.Pattern(u))
}

// Active reports whether s can close a pattern (it is not off). Callers skip
// computing patterns when it cannot.
func (s *URLSpaces) Active() bool { return s != nil }
