package robots

import "strings"

// rule is one compiled Allow or Disallow pattern.
type rule struct {
	prio     int      // length of the escaped pattern in octets, '*' and '$' included (Google)
	allow    bool     // an Allow rule, else Disallow
	anchored bool     // the pattern ends in '$': it must match the whole path
	lit      string   // the pattern without a final '$', when it has no '*', in normEscapes form
	segs     []string // the pattern without a final '$' split at '*', when it has one, each in normEscapes form
}

// compile compiles an escaped, non-empty pattern. Only a '*' and a final '$'
// written plainly are special; the literal runs between them are kept as
// normEscapes writes them, so an escaped "%2A" or "%24" is a literal '*' or '$'.
func compile(pattern string, allow bool) rule {
	r := rule{prio: len(pattern), allow: allow}
	body := pattern
	if strings.HasSuffix(body, "$") { // '$' is special only at the end
		r.anchored = true
		body = body[:len(body)-1]
	}
	if strings.Contains(body, "*") {
		// A run after a '*' is taken to be in the query only when the
		// pattern's own '?' came before it: what the '*' matches is unknown.
		r.segs = strings.Split(body, "*")
		query := false
		for i, s := range r.segs {
			r.segs[i], query = normEscapes(s, query)
		}
	} else {
		r.lit, _ = normEscapes(body, false)
	}
	return r
}

// less orders rules for matching: longest first and, between rules of the same
// length, Allow first, so that the first rule that matches decides.
func (r rule) less(o rule) bool {
	if r.prio != o.prio {
		return r.prio > o.prio
	}
	return r.allow && !o.allow
}

// match reports whether the rule's pattern matches path (as normEscapes writes
// it) from its start. '*' matches any run of octets and a final '$' anchors at
// the end of path.
//
// Matching the literal runs between stars greedily at their leftmost
// occurrence is exact for such patterns and needs time linear in the path for
// each run, whatever the webmaster wrote.
func (r *rule) match(path string) bool {
	if r.segs == nil {
		if r.anchored {
			return path == r.lit
		}
		return strings.HasPrefix(path, r.lit)
	}
	first := r.segs[0]
	if !strings.HasPrefix(path, first) {
		return false
	}
	pos := len(first)
	last := len(r.segs) - 1
	for _, s := range r.segs[1:last] {
		i := strings.Index(path[pos:], s)
		if i < 0 {
			return false
		}
		pos += i + len(s)
	}
	tail := r.segs[last]
	if r.anchored {
		return len(path)-pos >= len(tail) && strings.HasSuffix(path, tail)
	}
	return strings.Contains(path[pos:], tail)
}

// escapePattern normalises an Allow or Disallow value as Google's
// MaybeEscapePattern does: the hex digits of percent-escapes are upper-cased
// and octets outside US-ASCII are percent-encoded. Nothing is decoded.
func escapePattern(v []byte) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(v))
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '%' && i+2 < len(v) && isHex(v[i+1]) && isHex(v[i+2]):
			b.WriteByte('%')
			b.WriteByte(upper(v[i+1]))
			b.WriteByte(upper(v[i+2]))
			i += 2
		case c >= 0x80:
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xf])
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// normEscapes returns s in the form that patterns and paths are compared in
// (RFC 9309 section 2.2.2), reading s as the part of a path and query that
// starts in the query when query is set; it also returns whether s ends in the
// query (after its first '?', or query). Percent-escapes that name the same
// octet as the character are decoded, and every other escape is kept with
// upper-case hex digits ("%e3" is "%E3"):
//   - everywhere, an unreserved character (RFC 3986: letters, digits, "-._~"),
//     so "%62%61%7A" is "baz"; and '*' and '$', so that "%2A" and "%24", which
//     a pattern writes for a literal '*' or '$' (section 2.2.3), match them;
//   - in the query only, also the reserved characters a URL carried in a query
//     value holds, ":/?@!'(),[]", so "?u=https://a.b" and "?u=https%3A%2F%2Fa.b"
//     are the same query (section 2.2.2's table). The query's own delimiters
//     "&=+;" stay escaped, and in the path every reserved character does
//     ("/a%2Fb" is not "/a/b", as RFC 3986 says).
//
// '%' itself is never decoded, and a stray '%' (not followed by two hex digits)
// is written "%25", the literal '%' it stands for: so every '%' of the result
// starts an escape, a decoded hex digit cannot complete a new one ("%0%610" is
// "%250a0", not the line feed "%0A0"), and normEscapes(normEscapes(s)) ==
// normEscapes(s). Octets outside US-ASCII are not escaped here: escapePattern
// does that for patterns, and targets come escaped. It allocates only when s
// has an escape to change or a stray '%'.
func normEscapes(s string, query bool) (string, bool) {
	q, i := query, 0
	for ; i < len(s); i++ {
		if s[i] == '?' {
			q = true
		} else if s[i] == '%' && (!isEscape(s, i) || escapeChanges(s[i+1], s[i+2], q)) {
			break
		}
	}
	if i == len(s) {
		return s, q
	}
	b := make([]byte, i, len(s)+8)
	copy(b, s)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '?' {
			q = true
		}
		if c != '%' {
			b = append(b, c)
			continue
		}
		if !isEscape(s, i) {
			b = append(b, "%25"...) // a stray '%' is a literal one
			continue
		}
		hi, lo := upper(s[i+1]), upper(s[i+2])
		if o := unhex(hi)<<4 | unhex(lo); decoded(o, q) {
			b = append(b, o)
		} else {
			b = append(b, '%', hi, lo)
		}
		i += 2
	}
	return string(b), q
}

// decoded reports whether normEscapes decodes an escape of octet o, in the
// query when query is set.
func decoded(o byte, query bool) bool {
	switch {
	case 'a' <= o && o <= 'z', 'A' <= o && o <= 'Z', '0' <= o && o <= '9':
		return true
	case strings.IndexByte("-._~*$", o) >= 0:
		return true
	}
	return query && strings.IndexByte(":/?@!'(),[]", o) >= 0
}

// isEscape reports whether s[i:] starts with a percent-escape: '%' and two hex
// digits.
func isEscape(s string, i int) bool {
	return i+2 < len(s) && s[i] == '%' && isHex(s[i+1]) && isHex(s[i+2])
}

// escapeChanges reports whether normEscapes changes the escape "%" hi lo (both
// hex digits) in the query when query is set: it decodes it, or upper-cases a
// digit.
func escapeChanges(hi, lo byte, query bool) bool {
	return hi >= 'a' || lo >= 'a' || decoded(unhex(hi)<<4|unhex(lo), query)
}

// unhex returns the value of the hex digit c.
func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// isHex reports whether c is an ASCII hex digit.
func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// upper returns the ASCII upper case of c.
func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
