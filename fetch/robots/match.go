package robots

import "strings"

// rule is one compiled Allow or Disallow pattern.
type rule struct {
	prio     int      // length of the escaped pattern in octets, '*' and '$' included (Google)
	allow    bool     // an Allow rule, else Disallow
	anchored bool     // the pattern ends in '$': it must match the whole path
	lit      string   // the pattern without a final '$', when it has no '*'
	segs     []string // the pattern without a final '$' split at '*', when it has one
}

// compile compiles an escaped, non-empty pattern.
func compile(pattern string, allow bool) rule {
	r := rule{prio: len(pattern), allow: allow}
	body := pattern
	if strings.HasSuffix(body, "$") { // '$' is special only at the end
		r.anchored = true
		body = body[:len(body)-1]
	}
	if strings.Contains(body, "*") {
		r.segs = strings.Split(body, "*")
	} else {
		r.lit = body
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

// match reports whether the rule's pattern matches path from its start. '*'
// matches any run of octets and a final '$' anchors at the end of path.
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

// upperEscapes returns path with the hex digits of its percent-escapes in
// upper case, so that a target compares with patterns escaped by
// escapePattern. It allocates only when path has a lower-case escape.
func upperEscapes(path string) string {
	i := 0
	for ; i < len(path); i++ {
		if path[i] == '%' && i+2 < len(path) && isHex(path[i+1]) && isHex(path[i+2]) &&
			(path[i+1] >= 'a' || path[i+2] >= 'a') {
			break
		}
	}
	if i == len(path) {
		return path
	}
	b := []byte(path)
	for ; i+2 < len(b); i++ {
		if b[i] == '%' && isHex(b[i+1]) && isHex(b[i+2]) {
			b[i+1], b[i+2] = upper(b[i+1]), upper(b[i+2])
			i += 2
		}
	}
	return string(b)
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
