package extract

import (
	"bytes"
	"strings"

	"golang.org/x/net/html"
)

// The scanner's decoding of attribute values, as html.Tokenizer decodes them.

// attrUnescape decodes the character references of an attribute value as
// html.Tokenizer.TagAttr does. html.UnescapeString decodes as in text, which
// differs in two ways: in an attribute, a named reference without ';'
// followed by '=' ("?a=1&b=2") stays as written, and so does a name that is
// not a reference in full (where text decodes its longest prefix that is:
// "&notit;" is "¬it;" in text). So each '&' that an attribute keeps becomes
// "&amp;" before html.UnescapeString decodes the value.
func attrUnescape(v []byte) []byte {
	var sb strings.Builder
	for {
		i := bytes.IndexByte(v, '&')
		if i < 0 {
			sb.Write(v)
			return []byte(html.UnescapeString(sb.String()))
		}
		sb.Write(v[:i+1])
		v = v[i+1:]
		n := 0
		for n < len(v) && (isLetter(v[n]) || '0' <= v[n] && v[n] <= '9') {
			n++
		}
		if n == 0 { // numeric, or no name: the same as in text
			continue
		}
		name := v[:n]
		switch {
		case n < len(v) && v[n] == '=':
			sb.WriteString("amp;")
		case n < len(v) && v[n] == ';':
			if !isReference(v[:n+1]) {
				sb.WriteString("amp;")
			}
		case !isReference(name):
			sb.WriteString("amp;")
		}
	}
}

// isReference reports whether "&"+name is a named character reference in
// full, as html.Tokenizer's table has it (name with its ';' if it has one).
// The table is not exported, so html.UnescapeString tells: it leaves a name
// that is no reference as it is; a reference decodes to one or two
// characters, none of them an ASCII letter or digit, nor ';' but for
// "&semi;"; and the longest prefix that is a reference (a name without ';'
// in that case) leaves the rest of the name after it, ending in a letter, a
// digit or ';'. Checked against every name of the table of
// golang.org/x/net/html v0.62.0 (2,231 names, each also with a letter added,
// cut short, and with its ';' moved), and by FuzzScanner.
func isReference(name []byte) bool {
	ref := "&" + string(name)
	r := html.UnescapeString(ref)
	if r == ref {
		return false
	}
	last := r[len(r)-1]
	if name[len(name)-1] == ';' {
		return last != ';' || string(name) == "semi;"
	}
	return !isLetter(last) && !('0' <= last && last <= '9')
}
