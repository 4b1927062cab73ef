package dedupe

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Durable is the persistent part of the seen-set: the keys whose rows were
// committed. storage implements it over SQLite; a shared crawl may implement it
// over Redis. Has must be safe for concurrent use, and a key must be visible to
// Has by the time [Set.Committed] is called for it.
type Durable interface {
	// Has reports whether key was committed durably.
	Has(ctx context.Context, key string) (bool, error)
}

// Config configures a [Set]. The zero value is ready to use.
type Config struct {
	// CacheSize is the number of committed keys kept in memory in an LRU, so
	// that links seen again soon (navigation, footers) do not cost a Durable
	// lookup. 0 means 100_000; negative is an error. Unused without a Durable.
	CacheSize int

	// FilterKeys sizes the Bloom filter in front of the Durable: a key the
	// filter has never seen is new for certain, without a lookup. Beyond
	// FilterKeys committed keys its false positives (which cost a lookup,
	// never a wrong answer) grow. 0 means 4_000_000 (about 4.6 MiB at 1%);
	// negative means no filter. Unused without a Durable.
	FilterKeys int
}

// defaultFilterKeys is Config.FilterKeys's default.
const defaultFilterKeys = 4_000_000

// defaultCacheSize is Config.CacheSize's default: at about 100 bytes a key,
// some 10 MB.
const defaultCacheSize = 100_000

// Set is the crawl's seen-set: it says whether a URL key is new, exactly once
// per key, however many workers discover it at the same time.
//
// A key is in one of three places: pending (added, its row not yet committed),
// recently committed (in the LRU), or only in the Durable store. Without a
// Durable, committed keys are kept in an unbounded map instead, which suits
// tests and small crawls.
//
// A Set is safe for concurrent use. Create it with [New].
type Set struct {
	durable Durable                      // nil: committed keys live in all
	recent  *lru.Cache[string, struct{}] // committed keys; nil without durable
	seen    *filter                      // every committed key (and Remember-ed one); nil: ask the Durable

	mu  sync.RWMutex // guards all
	all map[string]struct{}

	pending  sync.Map // string → struct{}: added, not yet committed
	npending atomic.Int64

	// commits is incremented by every Committed call after its keys are
	// visible as committed and before they leave pending, so that Add can tell
	// that a key may have moved under it.
	commits atomic.Uint64
}

// New returns an empty Set over durable. durable may be nil: the Set is then
// purely in memory and remembers every committed key in a map that grows
// without bound. New does not call durable.
func New(cfg Config, durable Durable) (*Set, error) {
	if cfg.CacheSize < 0 {
		return nil, fmt.Errorf("dedupe: cache size %d is negative", cfg.CacheSize)
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = defaultCacheSize
	}
	s := &Set{durable: durable}
	if durable == nil {
		s.all = make(map[string]struct{})
		return s, nil
	}
	recent, err := lru.New[string, struct{}](cfg.CacheSize)
	if err != nil {
		return nil, fmt.Errorf("dedupe: new cache: %w", err)
	}
	s.recent = recent
	if cfg.FilterKeys == 0 {
		cfg.FilterKeys = defaultFilterKeys
	}
	if cfg.FilterKeys > 0 {
		s.seen = newFilter(cfg.FilterKeys, 0.01)
	}
	return s, nil
}

// Filtered reports whether the Set keeps a filter in front of its Durable,
// which must then learn every key already in the Durable through Remember
// before the first Add.
func (s *Set) Filtered() bool { return s.seen != nil }

// Remember tells the filter that key is committed in the Durable (when a
// crawl resumes). Without it, Add would take such a key for new.
func (s *Set) Remember(key string) {
	if s.seen != nil {
		s.seen.add(key)
	}
}

// Add reports whether key is new. A new key is recorded as pending until
// [Set.Committed] is called for it; while pending and after commit, Add
// returns false. When many goroutines add the same key at once, exactly one
// gets true. The caller that gets true owns the key: it should write it and
// then call Committed, or the key stays pending for the life of the Set.
//
// Add checks, in order: the LRU of committed keys, the pending keys, and the
// Durable store (through which ctx is passed). An error from the Durable is
// returned wrapped, with false; the key is not recorded and may be added
// again.
func (s *Set) Add(ctx context.Context, key string) (bool, error) {
	gen := s.commits.Load()
	if s.knownCommitted(key) {
		return false, nil
	}
	if _, ok := s.pending.Load(key); ok {
		return false, nil
	}
	if s.durable != nil && (s.seen == nil || s.seen.has(key)) { // the filter rules most new keys out
		has, err := s.durableHas(ctx, key)
		if err != nil {
			return false, err
		}
		if has {
			s.recent.Add(key, struct{}{})
			return false, nil
		}
	}
	if _, loaded := s.pending.LoadOrStore(key, struct{}{}); loaded {
		return false, nil
	}
	s.npending.Add(1)
	if s.commits.Load() == gen {
		return true, nil
	}
	// A Committed call ran since we started looking. If it was for key, key
	// may have reached the Durable after Has looked and left pending before
	// LoadOrStore, and our store gave an old key a second life. Committed
	// makes a key visible as committed before it leaves pending, so looking
	// again settles it.
	seen, err := s.committed(ctx, key)
	if err != nil || seen {
		if _, ok := s.pending.LoadAndDelete(key); ok {
			s.npending.Add(-1)
		}
		return false, err
	}
	return true, nil
}

// knownCommitted reports whether key is in memory as committed.
func (s *Set) knownCommitted(key string) bool {
	if s.durable != nil {
		_, ok := s.recent.Get(key) // Get, not Contains: a hit keeps key recent
		return ok
	}
	s.mu.RLock()
	_, ok := s.all[key]
	s.mu.RUnlock()
	return ok
}

// committed reports whether key is committed, asking the Durable if need be.
func (s *Set) committed(ctx context.Context, key string) (bool, error) {
	if s.knownCommitted(key) {
		return true, nil
	}
	if s.durable == nil {
		return false, nil
	}
	return s.durableHas(ctx, key)
}

// durableHas asks the Durable whether key was committed.
func (s *Set) durableHas(ctx context.Context, key string) (bool, error) {
	has, err := s.durable.Has(ctx, key)
	if err != nil {
		return false, fmt.Errorf("dedupe: look up %q: %w", key, err)
	}
	return has, nil
}

// Committed tells the set that keys are now durable: they move from pending to
// the LRU (or, without a Durable, to the map of committed keys). The caller
// calls it only once its transaction has committed: a key evicted from the LRU
// before the Durable has it would be reported new again. Keys that were not
// pending are simply remembered as committed. Committed is safe to call
// concurrently with Add.
func (s *Set) Committed(keys ...string) {
	if s.durable != nil {
		for _, k := range keys {
			s.recent.Add(k, struct{}{})
			if s.seen != nil {
				s.seen.add(k)
			}
		}
	} else {
		s.mu.Lock()
		for _, k := range keys {
			s.all[k] = struct{}{}
		}
		s.mu.Unlock()
	}
	s.commits.Add(1)
	for _, k := range keys {
		if _, ok := s.pending.LoadAndDelete(k); ok {
			s.npending.Add(-1)
		}
	}
}

// Forget drops pending keys that their caller will not commit after all (a
// redirect target whose fetch is to be retried): Add reports them new again.
// Only the goroutine whose Add returned true for a key may Forget it, and
// only before sending it to be committed.
func (s *Set) Forget(keys ...string) {
	for _, k := range keys {
		if _, ok := s.pending.LoadAndDelete(k); ok {
			s.npending.Add(-1)
		}
	}
}

// Pending returns the number of keys added but not yet committed. Under
// concurrent use it is a snapshot.
func (s *Set) Pending() int {
	return int(max(s.npending.Load(), 0))
}
