package extract

import (
	"strings"

	"golang.org/x/net/html"
)

// Byte-level helpers of the pass over the tokens: attribute values, tokens
// in attribute lists, ASCII case.

// tokens is what a pass reads from a tokenizer: the methods of html.Tokenizer
// it calls, which scanner has too.
type tokens interface {
	Next() html.TokenType
	Raw() []byte
	Text() []byte
	TagAttr() (key, val []byte, moreAttr bool)
}

// attrValue returns the value of the current tag's attribute key.
func attrValue(z tokens, key string) ([]byte, bool) {
	for more := true; more; {
		var k, v []byte
		k, v, more = z.TagAttr()
		if string(k) == key {
			return v, true
		}
	}
	return nil, false
}

// asciiSpace is ASCII whitespace as HTML defines it.
const asciiSpace = "\t\n\f\r "

// isASCIISpace reports whether c is ASCII whitespace as HTML defines it.
func isASCIISpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'
}

// nextToken returns the first non-empty run of bytes in s not in seps, and
// what follows it.
func nextToken(s []byte, seps string) (tok, rest []byte) {
	i := 0
	for i < len(s) && strings.IndexByte(seps, s[i]) >= 0 {
		i++
	}
	j := i
	for j < len(s) && strings.IndexByte(seps, s[j]) < 0 {
		j++
	}
	return s[i:j], s[j:]
}

// hasToken reports whether the space-separated token list s holds tok,
// compared case-insensitively, as for the rel attribute.
func hasToken(s []byte, tok string) bool {
	for len(s) > 0 {
		var t []byte
		t, s = nextToken(s, asciiSpace)
		if equalFoldASCII(t, tok) {
			return true
		}
	}
	return false
}

// equalFoldASCII reports whether b equals s, ignoring ASCII case only: HTML
// keywords are ASCII, and Unicode folding would let "robot\u017f" match
// "robots".
func equalFoldASCII(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		if lowerASCII(b[i]) != lowerASCII(s[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// isInline reports whether name (lower case) is an inline element, whose
// tags do not separate words in Document.Text.
func isInline(name []byte) bool {
	switch string(name) {
	case "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd",
		"mark", "q", "s", "samp", "small", "span", "strong", "sub", "sup", "time", "tt", "u", "var", "wbr":
		return true
	}
	return false
}

// tagName lower-cases the current start or end tag's name into buf. It
// reports false if the name is longer than buf, so not one we look for.
//
// It reads z.Raw, "<name ...>", instead of calling z.TagName, which copies the
// name to replace NUL bytes: one allocation for every tag of the page (about
// a sixth of Extract's allocations on testdata/article.html). The name ends
// where the tokenizer's readTagName ends it; a name holding NUL matches none
// of ours either way.
func tagName(z tokens, buf []byte) ([]byte, bool) {
	raw := z.Raw()
	start := 1 // after '<'
	if len(raw) > 1 && raw[1] == '/' {
		start = 2 // after "</"
	}
	for i := start; i < len(raw); i++ {
		switch c := raw[i]; c {
		case ' ', '\n', '\r', '\t', '\f', '/', '>':
			return buf[:i-start], true
		default:
			if i-start >= len(buf) {
				return nil, false
			}
			buf[i-start] = lowerASCII(c)
		}
	}
	return nil, false // a tag token ends in '>'; an end tag may end the body unclosed
}

// isLetter reports whether c is an ASCII letter.
func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }

// skipSpace returns the index of the first byte of s at or after i that is
// not ASCII whitespace.
func skipSpace(s []byte, i int) int {
	for i < len(s) && isASCIISpace(s[i]) {
		i++
	}
	return i
}
