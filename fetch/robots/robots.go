// Package robots parses robots.txt (RFC 9309) and answers whether a path may be fetched.
//
// Parsing and matching follow RFC 9309 and, where the RFC leaves room, Google's
// reference implementation (github.com/google/robotstxt): typos such as
// "useragent" or "disalow" are accepted, a missing colon is tolerated, rules for
// the same agent are merged, the longest matching pattern wins and Allow wins
// ties. Crawl-delay and Sitemap records are read in addition; they never change
// how the groups and their rules are parsed (RFC 9309 §2.2.4).
package robots

import (
	"math"
	"net/url"
	"slices"
	"strings"
	"time"
)

// MaxSize is the number of bytes of a robots.txt file that are parsed (500 KiB, RFC 9309 §2.5).
const MaxSize = 500 << 10

// Data is a parsed robots.txt. The zero value and nil allow everything.
// A Data is never modified after Parse returns it, so it is safe for concurrent use.
type Data struct {
	groups []group
	// agents maps a lower-case product token to the indexes in groups of every
	// group that names it, in file order. Indexes rather than merged copies keep
	// memory linear in the file size even when many agents share many rules.
	agents      map[string][]int32
	global      []int32 // groups that name "*", in file order
	sitemaps    []string
	disallowAll bool
}

// group is one group of a robots.txt: its rules, sorted by rule.less, and its
// first valid Crawl-delay.
type group struct {
	rules    []rule
	delay    time.Duration
	hasDelay bool
}

// Parse parses a robots.txt body. It never fails: lines it cannot read are
// skipped, as RFC 9309 requires. Only the first MaxSize bytes are read; if the
// body is longer, a line cut by that limit is dropped too, so that a truncated
// Allow pattern cannot allow more than the site meant. A UTF-8 byte order mark
// and LF, CR or CRLF line endings are accepted. Parse does not keep body.
func Parse(body []byte) *Data {
	b := builder{agents: map[string][]int32{}}
	scan(truncate(body), b.line)
	return b.finish()
}

// AllowAll returns a Data that allows every target, e.g. for a robots.txt
// answered with a 4xx status (RFC 9309 §2.3.1.3).
func AllowAll() *Data { return &Data{} }

// DisallowAll returns a Data that disallows every target except /robots.txt,
// e.g. for a robots.txt answered with a 5xx status or unreachable (RFC 9309 §2.3.1.4).
func DisallowAll() *Data { return &Data{disallowAll: true} }

// ValidAgent reports whether agent is a product token that robots.txt groups
// can name: one or more of the characters a-z, A-Z, '_' and '-' (RFC 9309 §2.2.1).
// Allowed and CrawlDelay match only such agents against named groups; any other
// agent gets the "*" groups.
func ValidAgent(agent string) bool {
	return agent != "" && tokenLen(agent) == len(agent)
}

// Allowed reports whether agent may fetch target.
//
// agent is the crawler's product token, such as "Trawl", not a full User-Agent
// header: it is compared case-insensitively with the first token of each
// user-agent line, and if no group names it, the "*" groups apply (see ValidAgent).
//
// target is the URL's path and query in escaped form, as url.URL.RequestURI
// returns it, or a full URL string ("https://example.com/a?b"), from which
// the path and query are taken and the fragment dropped. An empty path means "/".
// As in Google's matcher, a target that begins with "//" is read as
// "//host/path"; callers holding a path that begins with "//" should pass the
// full URL or use AllowedURL. Percent-escapes are compared as RFC 9309 section
// 2.2.2 says: an escaped unreserved character is the character ("%62" is "b"),
// "%2A" and "%24" in a pattern are a literal '*' and '$', and in the query the
// reserved characters of a URL ("%3A%2F%2F" is "://") are compared decoded;
// other escapes are compared with upper-case hex digits. Non-ASCII bytes in
// target are not escaped by Allowed.
//
// The path /robots.txt is always allowed.
func (d *Data) Allowed(agent, target string) bool {
	return d.allowedPath(agent, pathParamsQuery(target))
}

// AllowedURL reports whether agent may fetch u. It is Allowed with u's escaped
// path (or opaque part) and query, without re-reading them from a string, so a
// path that begins with "//" is matched as a path. A nil u is the path "/".
// Unlike Allowed, it allocates when u has a query.
func (d *Data) AllowedURL(agent string, u *url.URL) bool {
	p := "/"
	if u != nil {
		p = u.EscapedPath()
		if u.Opaque != "" {
			p = u.Opaque
		}
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		if u.RawQuery != "" || u.ForceQuery {
			p += "?" + u.RawQuery
		}
	}
	return d.allowedPath(agent, p)
}

// allowedPath is Allowed for a path that begins with "/".
func (d *Data) allowedPath(agent, path string) bool {
	if d == nil || isRobotsTxt(path) {
		return true
	}
	if d.disallowAll {
		return false
	}
	groups := d.groupsFor(agent)
	if len(groups) == 0 {
		return true
	}
	path, _ = normEscapes(path, false)
	best, allow := -1, true
	for _, gi := range groups {
		for _, r := range d.groups[gi].rules {
			if r.prio < best || (r.prio == best && (allow || !r.allow)) {
				break // sorted: no later rule of this group can change the verdict
			}
			if r.match(path) {
				best, allow = r.prio, r.allow
				break // sorted: the first match is this group's best
			}
		}
	}
	return allow
}

// CrawlDelay returns the Crawl-delay of the groups that apply to agent (the same
// groups Allowed uses) and whether they have one. When several of those groups
// set it, the first in the file wins. A value too large for a time.Duration is
// returned as the largest time.Duration; callers should cap it to their own limit.
func (d *Data) CrawlDelay(agent string) (time.Duration, bool) {
	if d == nil {
		return 0, false
	}
	for _, gi := range d.groupsFor(agent) {
		if g := &d.groups[gi]; g.hasDelay {
			return g.delay, true
		}
	}
	return 0, false
}

// Sitemaps returns the values of all Sitemap lines, in file order and
// regardless of group, as written (they are not resolved or validated).
// The slice is a copy and belongs to the caller.
func (d *Data) Sitemaps() []string {
	if d == nil {
		return nil
	}
	return slices.Clone(d.sitemaps)
}

// groupsFor returns the indexes of the groups that apply to agent: those that
// name it, else those that name "*".
func (d *Data) groupsFor(agent string) []int32 {
	if len(d.agents) > 0 && ValidAgent(agent) {
		var buf [64]byte
		if len(agent) <= len(buf) {
			// The string(buf) conversion in a map index does not allocate.
			for i := range len(agent) {
				buf[i] = lower(agent[i])
			}
			if gs, ok := d.agents[string(buf[:len(agent)])]; ok {
				return gs
			}
		} else if gs, ok := d.agents[strings.ToLower(agent)]; ok {
			return gs
		}
	}
	return d.global
}

// isRobotsTxt reports whether path (with query) is /robots.txt, which
// RFC 9309 §2.2.2 always allows.
func isRobotsTxt(path string) bool {
	const p = "/robots.txt"
	return strings.HasPrefix(path, p) && (len(path) == len(p) || path[len(p)] == '?')
}

// builder collects the lines of one robots.txt into a Data.
type builder struct {
	groups   []group
	agents   map[string][]int32
	global   []int32
	sitemaps []string
	cur      int  // index of the current group in groups, once started
	started  bool // a user-agent line has been seen
	named    bool // the current group names "*" or an agent
	inRules  bool // the current group has had an Allow or Disallow line
}

// line handles one recognised line of the file.
func (b *builder) line(_ int, k keyKind, v []byte) {
	switch k {
	case keyUserAgent:
		if !b.started || b.inRules {
			// Consecutive user-agent lines share a group; the first one after
			// a rule starts the next group.
			b.groups = append(b.groups, group{})
			b.cur, b.started, b.inRules, b.named = len(b.groups)-1, true, false, false
		}
		idx := int32(b.cur)
		if len(v) > 0 && v[0] == '*' && (len(v) == 1 || isSpace(v[1])) {
			// Google: "* anything" is still the global agent.
			b.global = appendGroup(b.global, idx)
			b.named = true
		} else if n := tokenLen(string(v)); n > 0 {
			tok := make([]byte, n)
			for i := range n {
				tok[i] = lower(v[i])
			}
			b.agents[string(tok)] = appendGroup(b.agents[string(tok)], idx)
			b.named = true
		}
	case keyAllow, keyDisallow:
		if !b.started {
			return // rules before any user-agent line belong to no group
		}
		b.inRules = true
		if !b.named {
			return // nobody can ever select this group
		}
		g := &b.groups[b.cur]
		pattern := escapePattern(v)
		if pattern == "" {
			// An empty pattern matches with priority 0, which never decides
			// anything (Google's RobotsMatcher::disallow).
			return
		}
		g.rules = append(g.rules, compile(pattern, k == keyAllow))
		if k == keyAllow {
			// Google: an allowed ".../index.htm*" also allows its directory.
			if i := strings.LastIndexByte(pattern, '/'); i >= 0 && strings.HasPrefix(pattern[i:], "/index.htm") {
				g.rules = append(g.rules, compile(pattern[:i+1]+"$", true))
			}
		}
	case keyCrawlDelay:
		if !b.started || !b.named {
			return
		}
		if g := &b.groups[b.cur]; !g.hasDelay {
			g.delay, g.hasDelay = parseDelay(v)
		}
	case keySitemap:
		if len(v) > 0 {
			b.sitemaps = append(b.sitemaps, string(v))
		}
	}
}

// appendGroup appends idx to gs unless it is already its last element: the
// same agent named twice in one group contributes that group once.
func appendGroup(gs []int32, idx int32) []int32 {
	if len(gs) > 0 && gs[len(gs)-1] == idx {
		return gs
	}
	return append(gs, idx)
}

// finish sorts every group's rules and returns the Data.
func (b *builder) finish() *Data {
	for i := range b.groups {
		slices.SortStableFunc(b.groups[i].rules, func(x, y rule) int {
			switch {
			case x.less(y):
				return -1
			case y.less(x):
				return 1
			}
			return 0
		})
	}
	d := &Data{groups: b.groups, global: b.global, sitemaps: b.sitemaps}
	if len(b.agents) > 0 {
		d.agents = b.agents
	}
	return d
}

// parseDelay parses a Crawl-delay value: a non-negative decimal number of
// seconds with an optional fraction ("10", "0.5", ".5", "2."). Digits past
// nanoseconds are ignored and values too large for a time.Duration saturate.
func parseDelay(v []byte) (time.Duration, bool) {
	ip, fp, _ := strings.Cut(string(v), ".")
	if ip == "" && fp == "" {
		return 0, false
	}
	for _, s := range [...]string{ip, fp} {
		for i := range len(s) {
			if s[i] < '0' || s[i] > '9' {
				return 0, false
			}
		}
	}
	const maxSec = math.MaxInt64 / int64(time.Second)
	var sec int64
	for i := range len(ip) {
		sec = sec*10 + int64(ip[i]-'0')
		if sec > maxSec {
			return math.MaxInt64, true
		}
	}
	var ns int64
	scale := int64(time.Second / 10)
	for i := 0; i < len(fp) && scale > 0; i++ {
		ns += int64(fp[i]-'0') * scale
		scale /= 10
	}
	total := sec * int64(time.Second)
	if total > math.MaxInt64-ns {
		return math.MaxInt64, true
	}
	return time.Duration(total + ns), true
}

// tokenLen returns the length of the product token at the start of s: the
// longest prefix made of a-z, A-Z, '_' and '-' (Google's ExtractUserAgent).
func tokenLen(s string) int {
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return i
		}
	}
	return len(s)
}

// lower returns the ASCII lower case of c.
func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// pathParamsQuery returns the path, params and query of target without the
// scheme, authority and fragment; the result always begins with "/". It is
// Google's GetPathParamsQuery, which also accepts a bare path or "host/path".
func pathParamsQuery(target string) string {
	searchStart := 0
	if strings.HasPrefix(target, "//") {
		searchStart = 2 // network-path reference: skip the authority
	}
	earlyPath := indexAnyFrom(target, "/?;", searchStart)
	protocolEnd := indexFrom(target, "://", searchStart)
	if earlyPath >= 0 && (protocolEnd < 0 || earlyPath < protocolEnd) {
		// A path, params or query before "://" means it names no scheme.
		protocolEnd = -1
	}
	if protocolEnd < 0 {
		protocolEnd = searchStart
	} else {
		protocolEnd += len("://")
	}
	pathStart := indexAnyFrom(target, "/?;", protocolEnd)
	if pathStart < 0 {
		return "/"
	}
	hash := indexFrom(target, "#", searchStart)
	if hash >= 0 && hash < pathStart {
		return "/"
	}
	pathEnd := len(target)
	if hash >= 0 {
		pathEnd = hash
	}
	if target[pathStart] != '/' {
		return "/" + target[pathStart:pathEnd] // e.g. "example.com?a"
	}
	return target[pathStart:pathEnd]
}

// indexFrom is strings.Index(s[from:], sub) as an index of s, or -1.
func indexFrom(s, sub string, from int) int {
	if from > len(s) {
		return -1
	}
	if i := strings.Index(s[from:], sub); i >= 0 {
		return from + i
	}
	return -1
}

// indexAnyFrom is strings.IndexAny(s[from:], chars) as an index of s, or -1.
func indexAnyFrom(s, chars string, from int) int {
	if from > len(s) {
		return -1
	}
	if i := strings.IndexAny(s[from:], chars); i >= 0 {
		return from + i
	}
	return -1
}
