package crawl

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"sync"
	"sync/atomic"

	"golang.org/x/net/publicsuffix"
)

// Scope modes for Config.Scope.
const (
	ScopeHost   = "host"   // only the seeds' hosts (host and port)
	ScopeDomain = "domain" // the seeds' registrable domains (public suffix list), any subdomain and port
	ScopeAll    = "all"    // anything reachable
)

// scope decides which discovered URLs the crawl follows. Safe for
// concurrent use: seeds may be added while workers check links.
type scope struct {
	mode    string
	seeds   atomic.Pointer[seedSets] // replaced whole by addSeed: checks read it without a lock
	addMu   sync.Mutex               // serialises addSeed's copy and swap
	include []*regexp.Regexp
	exclude []*regexp.Regexp
}

// seedSets are the seeds' hosts and domains; never changed once published.
type seedSets struct {
	hosts   map[string]bool // ScopeHost: url.URL.Host values
	domains map[string]bool // ScopeDomain: registrable domains
}

func newScope(mode string, include, exclude []*regexp.Regexp) (*scope, error) {
	switch mode {
	case "":
		mode = ScopeHost
	case ScopeHost, ScopeDomain, ScopeAll:
	default:
		return nil, fmt.Errorf("scope %q: want host, domain or all", mode)
	}
	sc := &scope{mode: mode, include: include, exclude: exclude}
	sc.seeds.Store(&seedSets{hosts: map[string]bool{}, domains: map[string]bool{}})
	return sc, nil
}

// addSeed widens the scope to cover seed.
func (s *scope) addSeed(seed *url.URL) {
	s.addMu.Lock()
	defer s.addMu.Unlock()
	old := s.seeds.Load()
	next := &seedSets{hosts: maps.Clone(old.hosts), domains: maps.Clone(old.domains)}
	next.hosts[seed.Host] = true
	next.domains[registrable(seed.Hostname())] = true
	s.seeds.Store(next)
}

// Drop reasons of the scope (storage's drops table).
const (
	dropScope    = "scope"    // outside the seeds' hosts or domains
	dropExcluded = "excluded" // matched an --exclude pattern, or no --include pattern
)

// allows reports whether the crawl follows u, whose canonical form is key.
func (s *scope) allows(u *url.URL, key string) bool { return s.check(u, key) == "" }

// check returns "" when the crawl follows u, whose canonical form is key,
// or the reason it does not: dropScope or dropExcluded.
func (s *scope) check(u *url.URL, key string) string {
	switch s.mode {
	case ScopeHost:
		if !s.seeds.Load().hosts[u.Host] {
			return dropScope
		}
	case ScopeDomain:
		if !s.seeds.Load().domains[registrable(u.Hostname())] {
			return dropScope
		}
	}
	for _, re := range s.exclude {
		if re.MatchString(key) {
			return dropExcluded
		}
	}
	if len(s.include) == 0 {
		return ""
	}
	for _, re := range s.include {
		if re.MatchString(key) {
			return ""
		}
	}
	return dropExcluded
}

// registrable returns host's registrable domain ("eTLD+1"), or host itself
// where there is none (IP literals, "localhost", a bare public suffix).
func registrable(host string) string {
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}
