package dedupe

import (
	"fmt"
	"net/url"
	"strings"
)

// DefaultStripParams is the list of parameters that [Canonical] and
// [CanonicalURL] strip: they name a visitor, a session or an ad click, never
// the page, so every value of them is the same page. The syntax is
// [NewCanonicalizer]'s: a name is matched case-insensitively, a trailing '*'
// makes it a prefix, and a leading ';' makes it a path parameter (as in
// "/cart.jsp;jsessionid=0A1B") instead of a query parameter.
//
// Query parameters: the Google Analytics campaign tags utm_*, the ad click ids
// gclid, dclid, gbraid, wbraid (Google), fbclid (Meta), msclkid (Microsoft),
// yclid (Yandex), twclid (X) and ttclid (TikTok), the Mailchimp ids mc_cid and
// mc_eid, the Analytics cross-domain linkers _ga and _gl, Instagram's igshid,
// Twitter's ref_src, and the session ids of Java servlets (jsessionid), PHP
// (phpsessid), classic ASP (aspsessionid* — the name carries a suffix),
// ColdFusion (cfid, cftoken), Zen Cart (zenid) and osCommerce (oscsid), and
// the generic sessionid.
//
// Path parameters: ;jsessionid, ;phpsessid and ;sid. Query parameter: sid.
//
// "sid" is stripped too, as the issue that asked for this list says: most
// sites that use it mean a session. A few use it for content (a story, a
// section); a crawl of such a site passes its own list (crawler
// --strip-params) without it. Leaving a session id in costs at worst
// duplicate fetches, which [Traps] bounds; stripping a content id loses
// pages, so the choice is the user's.
//
// Changing this variable does not change [Canonical], which reads it once
// when the program starts; make a Canonicalizer for other rules.
var DefaultStripParams = []string{
	"utm_*",
	"gclid", "dclid", "gbraid", "wbraid", "fbclid", "msclkid", "yclid", "twclid", "ttclid",
	"mc_cid", "mc_eid", "_ga", "_gl", "igshid", "ref_src",
	"jsessionid", "phpsessid", "aspsessionid*", "cfid", "cftoken", "zenid", "oscsid", "sessionid", "sid",
	";jsessionid", ";phpsessid", ";sid",
}

// defaultCanonicalizer holds the rules of DefaultStripParams, which are valid.
var defaultCanonicalizer = func() *Canonicalizer {
	c, err := NewCanonicalizer(DefaultStripParams)
	if err != nil {
		panic(err) // programmer error: DefaultStripParams is a literal
	}
	return c
}()

// Canonicalizer computes canonical URLs, as [Canonical] does, with its own
// list of parameters to strip. The zero value strips nothing. A Canonicalizer
// is immutable and safe for concurrent use.
type Canonicalizer struct {
	query ruleSet // query parameters to strip
	path  ruleSet // parameters to strip from the last path segment
}

// NewCanonicalizer returns a Canonicalizer that strips the parameters strip
// names; an empty list strips nothing. Each entry is a parameter name,
// matched against the name in the canonical form (escapes of unreserved
// characters decoded) without regard to ASCII case:
//
//   - "name" strips every query parameter called name, with its value;
//   - "prefix*" strips every query parameter whose name starts with prefix;
//   - ";name" and ";prefix*" do the same for path parameters in the last
//     path segment: "/a/b;jsessionid=1;v=2" becomes "/a/b;v=2".
//
// The remaining query parameters keep their order; a query left empty is
// dropped with its '?'. A name must be non-empty and made of letters, digits,
// '-', '.', '_' and '~'; anything else is an error wrapping nothing (the list
// is the caller's configuration).
func NewCanonicalizer(strip []string) (*Canonicalizer, error) {
	c := &Canonicalizer{}
	for _, rule := range strip {
		set, name := &c.query, rule
		if after, ok := strings.CutPrefix(name, ";"); ok {
			set, name = &c.path, after
		}
		name, prefix := strings.CutSuffix(name, "*")
		if name == "" {
			return nil, fmt.Errorf("dedupe: strip parameter %q: empty name", rule)
		}
		for i := 0; i < len(name); i++ {
			if !isUnreserved(name[i]) {
				return nil, fmt.Errorf("dedupe: strip parameter %q: bad character %q", rule, name[i])
			}
		}
		set.add(strings.ToLower(name), prefix)
	}
	return c, nil
}

// Canonical is [Canonical] with c's parameters stripped instead of
// [DefaultStripParams]. It keeps Canonical's promises: the result is a fixed
// point (c.Canonical(r) == r), and a URL already in c's canonical form is
// returned without allocating.
func (c *Canonicalizer) Canonical(raw string) (string, error) {
	return c.canonical(raw)
}

// CanonicalURL is [CanonicalURL] with c's parameters stripped instead of
// [DefaultStripParams]. It does not modify u.
func (c *Canonicalizer) CanonicalURL(u *url.URL) (*url.URL, error) {
	cu, _, err := c.canonicalURL(u)
	return cu, err
}

// CanonicalURLKey is CanonicalURL that also returns the canonical URL as a
// string: its String(), which a caller keying URLs by that string need not
// print again (Canonical's result prints back unchanged).
func (c *Canonicalizer) CanonicalURLKey(u *url.URL) (*url.URL, string, error) {
	return c.canonicalURL(u)
}

// maxRuleName bounds the names a ruleSet keeps, so that a name is lower-cased
// into a stack buffer.
const maxRuleName = 64

// ruleSet is a set of parameter names, lower-case: exact names and prefixes.
type ruleSet struct {
	exact    map[string]struct{}
	maxExact int // longest name in exact
	prefixes []string
}

func (rs *ruleSet) add(name string, prefix bool) {
	if prefix {
		rs.prefixes = append(rs.prefixes, name)
		return
	}
	if rs.exact == nil {
		rs.exact = map[string]struct{}{}
	}
	rs.exact[name] = struct{}{}
	rs.maxExact = max(rs.maxExact, len(name))
}

// match reports whether the parameter name matches one of rs's rules.
func (rs *ruleSet) match(name []byte) bool {
	for _, p := range rs.prefixes {
		if len(name) >= len(p) && strings.EqualFold(string(name[:len(p)]), p) {
			return true
		}
	}
	if len(name) > rs.maxExact || len(name) > maxRuleName {
		return false
	}
	var arr [maxRuleName]byte
	lower := arr[:len(name)]
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	_, ok := rs.exact[string(lower)] // the conversion does not allocate
	return ok
}

// paramName returns the name of the parameter p ("name=value" or "name").
func paramName(p []byte) []byte {
	for i, c := range p {
		if c == '=' {
			return p[:i]
		}
	}
	return p
}

// stripQuery removes the parameters rs matches from the query b[start:],
// keeping the others in order, and returns b. It works in place: what it
// writes never passes what it has read.
func (rs *ruleSet) stripQuery(b []byte, start int) []byte {
	w, kept := start, 0
	for r := start; r <= len(b); {
		end := r
		for end < len(b) && b[end] != '&' {
			end++
		}
		if !rs.match(paramName(b[r:end])) {
			if kept > 0 {
				b[w] = '&'
				w++
			}
			w += copy(b[w:], b[r:end])
			kept++
		}
		r = end + 1
	}
	return b[:w]
}

// stripPathParams removes the parameters rs matches from the path segment
// b[start:], "name;param=value;...", keeping the name and the other parameters
// in order, and returns b.
func (rs *ruleSet) stripPathParams(b []byte, start int) []byte {
	w := start
	for w < len(b) && b[w] != ';' {
		w++
	}
	for r := w; r < len(b); {
		end := r + 1 // b[r] == ';'
		for end < len(b) && b[end] != ';' {
			end++
		}
		if !rs.match(paramName(b[r+1 : end])) {
			w += copy(b[w:], b[r:end])
		}
		r = end
	}
	return b[:w]
}
