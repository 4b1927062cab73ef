package extract

import (
	"bytes"

	"golang.org/x/net/html"
)

// scanner tokenizes the HTML that most pages are made of, giving exactly the
// tokens html.Tokenizer gives (the same types, Raw, Text and TagAttr), at a
// fraction of its cost: it searches for '<' a word at a time instead of
// reading byte by byte, and returns attribute keys and values as slices of
// the body instead of copies. The profile of a crawl showed html.Tokenizer at
// 8 % of the crawler's CPU, most of it per byte (readByte) and per attribute
// (two copies and a map insert each).
//
// What it does not repeat, it refuses: Next then returns an ErrorToken and
// failed is set, and the page is read again with html.Tokenizer. It refuses
// a body holding NUL (which Text and TagAttr rewrite in some places and not
// in others), a tag, comment,
// doctype or "<" left open at the end of the body, and <plaintext>. FuzzScanner checks it against html.Tokenizer
// token by token.
//
// A scanner never writes to the body: Text and TagAttr copy what they change.
type scanner struct {
	buf        []byte
	start, pos int // the current token is buf[start:pos]
	tt         html.TokenType
	rawTag     string // as html.Tokenizer: the raw text element whose end tag closes the next token
	textIsRaw  bool   // the current text token is raw text: no character references
	failed     bool
	nameStart  int // the current tag's name is buf[nameStart:nameEnd]
	nameEnd    int
	attrs      []attrSpan // the current start tag's attributes, the first of each key
	nAttr      int        // how many of attrs TagAttr returned
	textDone   bool       // Text was called on the current token
	scratch    []byte     // the text that Text decoded
	key        []byte     // a lower-cased attribute key
	attrBuf    [16]attrSpan
}

// attrSpan is where an attribute's key and value are in the body.
type attrSpan struct{ ks, ke, vs, ve int }

// reset makes s read body from its start, and reports whether it can: false
// for a body holding NUL.
func (s *scanner) reset(body []byte) bool {
	*s = scanner{buf: body, scratch: s.scratch[:0], key: s.key[:0]}
	s.attrs = s.attrBuf[:0]
	return bytes.IndexByte(body, 0) < 0
}

// fail refuses the rest of the body.
func (s *scanner) fail() html.TokenType {
	s.failed, s.tt = true, html.ErrorToken
	return s.tt
}

// Next scans the next token and returns its type, as html.Tokenizer.Next.
func (s *scanner) Next() html.TokenType {
	s.start = s.pos
	s.attrs, s.nAttr, s.textDone = s.attrs[:0], 0, false
	if s.failed {
		return html.ErrorToken
	}
	if tag := s.rawTag; tag != "" {
		s.rawTag = ""
		if tag == "plaintext" {
			return s.fail()
		}
		var end int
		if tag == "script" {
			end = scriptEnd(s.buf, s.pos)
		} else {
			end = rawEnd(s.buf, s.pos, tag)
		}
		s.textIsRaw = tag != "textarea" && tag != "title"
		if end > s.pos {
			s.pos, s.tt = end, html.TextToken
			return s.tt
		}
	}
	s.textIsRaw = false
	for i := s.pos; ; {
		j := bytes.IndexByte(s.buf[i:], '<')
		if j < 0 {
			return s.textToEnd()
		}
		k := i + j
		if k+1 == len(s.buf) {
			return s.fail() // html.Tokenizer makes the '<' text
		}
		c := s.buf[k+1]
		if !isLetter(c) && c != '/' && c != '!' && c != '?' {
			i = k + 1 // text: look again from the byte after '<'
			continue
		}
		if k > s.pos {
			s.pos, s.tt = k, html.TextToken
			return s.tt
		}
		switch {
		case isLetter(c):
			return s.startTag()
		case c == '/':
			return s.endTag()
		case c == '!':
			return s.markup()
		}
		return s.untilCloseAngle(k + 1) // "<?": a bogus comment
	}
}

// textToEnd returns the text up to the end of the body, or the end.
func (s *scanner) textToEnd() html.TokenType {
	if s.pos < len(s.buf) {
		s.pos, s.tt = len(s.buf), html.TextToken
		return s.tt
	}
	s.tt = html.ErrorToken
	return s.tt
}

// startTag reads the start tag at s.pos.
func (s *scanner) startTag() html.TokenType {
	if !s.readTag(s.pos+1, true) {
		return s.fail()
	}
	s.rawTag = rawTagOf(s.buf[s.nameStart:s.nameEnd])
	// html.Tokenizer's rule: '/' before '>' that is not the last byte of
	// the last attribute's value.
	n := len(s.attrs)
	if s.buf[s.pos-2] == '/' && (n == 0 || s.pos-2 != s.attrs[n-1].ve-1) {
		s.tt = html.SelfClosingTagToken
	} else {
		s.tt = html.StartTagToken
	}
	return s.tt
}

// endTag reads what starts with "</" at s.pos.
func (s *scanner) endTag() html.TokenType {
	if s.pos+2 >= len(s.buf) {
		return s.fail() // "</" at the end is text
	}
	switch c := s.buf[s.pos+2]; {
	case c == '>': // "</>": no token, which html.Tokenizer gives as an empty comment
		s.pos, s.tt = s.pos+3, html.CommentToken
		return s.tt
	case isLetter(c):
		if !s.readTag(s.pos+2, false) {
			return s.fail()
		}
		s.tt = html.EndTagToken
		return s.tt
	}
	return s.untilCloseAngle(s.pos + 2)
}

// markup reads what starts with "<!" at s.pos: a comment, a doctype or a
// bogus comment.
func (s *scanner) markup() html.TokenType {
	b, p := s.buf, s.pos+2
	if p+2 > len(b) {
		return s.fail()
	}
	if b[p] == '-' && b[p+1] == '-' {
		return s.comment(p + 2)
	}
	if p+len("doctype") <= len(b) && equalFoldASCII(b[p:p+len("doctype")], "doctype") {
		q := skipSpace(b, p+len("doctype"))
		if q == len(b) {
			return s.fail()
		}
		if s.untilCloseAngle(q) == html.ErrorToken {
			return html.ErrorToken
		}
		s.tt = html.DoctypeToken
		return s.tt
	}
	return s.untilCloseAngle(p)
}

// comment reads a comment whose body starts at p, after "<!--", with
// html.Tokenizer's rules for where it ends ("-->", "--!>", and "<!-->").
func (s *scanner) comment(p int) html.TokenType {
	b := s.buf
	dashes, beginning := 0, true
	for ; p < len(b); p++ {
		switch b[p] {
		case '-':
			dashes++
			continue
		case '>':
			if dashes >= 2 || beginning {
				s.pos, s.tt = p+1, html.CommentToken
				return s.tt
			}
		case '!':
			if dashes >= 2 {
				if p+1 == len(b) {
					return s.fail()
				}
				switch b[p+1] {
				case '>':
					s.pos, s.tt = p+2, html.CommentToken
					return s.tt
				case '-':
					p++
					dashes, beginning = 1, false
					continue
				}
			}
		}
		dashes, beginning = 0, false
	}
	return s.fail()
}

// untilCloseAngle ends a bogus comment at the first '>' from p.
func (s *scanner) untilCloseAngle(p int) html.TokenType {
	j := bytes.IndexByte(s.buf[p:], '>')
	if j < 0 {
		return s.fail()
	}
	s.pos, s.tt = p+j+1, html.CommentToken
	return s.tt
}

// readTag reads a tag whose name starts at p, up to and including its '>',
// as html.Tokenizer.readTag does; with save, it keeps the first attribute of
// each key. It reports false where html.Tokenizer would meet the end of the
// body.
func (s *scanner) readTag(p int, save bool) bool {
	b := s.buf
	s.nameStart = p
	n := p + 1
	for n < len(b) && !isTagNameEnd(b[n]) {
		n++
	}
	if n == len(b) {
		return false
	}
	s.nameEnd = n
	if isASCIISpace(b[n]) {
		n++
	}
	q := skipSpace(b, n)
	for {
		if q >= len(b) {
			return false
		}
		if b[q] == '>' {
			s.pos = q + 1
			return true
		}
		a, next, ok := readAttr(b, q)
		if !ok {
			return false
		}
		if save && a.ke > a.ks && !s.seen(a) {
			s.attrs = append(s.attrs, a)
		}
		q = skipSpace(b, next)
	}
}

// readAttr reads the attribute at q, as html.Tokenizer's readTagAttrKey and
// readTagAttrVal do, and returns where the next one may start.
func readAttr(b []byte, q int) (a attrSpan, next int, ok bool) {
	a.ks = q
	for ; ; q++ {
		if q == len(b) {
			return a, q, false
		}
		c := b[q]
		if c == '=' && q == a.ks {
			continue // '=' before a key begins is part of the key
		}
		if c == '=' || isTagNameEnd(c) {
			break
		}
	}
	a.ke, a.vs, a.ve = q, q, q
	q = skipSpace(b, q)
	if q == len(b) {
		return a, q, false
	}
	switch b[q] {
	case '/':
		return a, q + 1, true
	case '=':
	default:
		return a, q, true
	}
	q = skipSpace(b, q+1)
	if q == len(b) {
		return a, q, false
	}
	switch quote := b[q]; quote {
	case '>':
		return a, q, true
	case '"', '\'':
		j := bytes.IndexByte(b[q+1:], quote)
		if j < 0 {
			return a, q, false
		}
		a.vs, a.ve = q+1, q+1+j
		return a, a.ve + 1, true
	}
	a.vs = q
	for q++; q < len(b); q++ {
		switch c := b[q]; {
		case isASCIISpace(c):
			a.ve = q
			return a, q + 1, true
		case c == '>':
			a.ve = q
			return a, q, true
		}
	}
	return a, q, false
}

// seen reports whether the tag has an attribute saved with a's key, compared
// in ASCII lower case as html.Tokenizer does.
func (s *scanner) seen(a attrSpan) bool {
	key := s.buf[a.ks:a.ke]
	for _, o := range s.attrs {
		if other := s.buf[o.ks:o.ke]; len(other) == len(key) && equalLowerASCII(other, key) {
			return true
		}
	}
	return false
}

// Raw returns the bytes of the current token, as html.Tokenizer.Raw before
// a call to Text (which decodes html.Tokenizer's copy in place: a pass reads
// Raw first).
func (s *scanner) Raw() []byte {
	return s.buf[s.start:s.pos:s.pos]
}

// Text returns the text of the current text token with its character
// references decoded (unless it is raw text), as html.Tokenizer.Text; nil
// for other tokens, whose text a pass does not read.
func (s *scanner) Text() []byte {
	if s.tt != html.TextToken {
		return nil
	}
	if s.textDone {
		return s.buf[s.pos:s.pos]
	}
	s.textDone = true
	text := s.buf[s.start:s.pos:s.pos]
	if bytes.IndexByte(text, '\r') >= 0 {
		s.scratch = convertNewlines(append(s.scratch[:0], text...))
		text = s.scratch
	}
	if s.textIsRaw || bytes.IndexByte(text, '&') < 0 {
		return text
	}
	s.scratch = append(s.scratch[:0], html.UnescapeString(string(text))...)
	return s.scratch
}

// convertNewlines rewrites "\r\n" and "\r" in b to "\n", in place, as
// html.Tokenizer does in Text and TagAttr, and returns what is left of b.
func convertNewlines(b []byte) []byte {
	out := b[:0]
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c == '\r' {
			c = '\n'
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		}
		out = append(out, c)
	}
	return out
}

// TagAttr returns the next attribute of the current start tag, its key in
// lower case and its value decoded, as html.Tokenizer.TagAttr. Both may be
// slices of the body; the caller must not change them.
func (s *scanner) TagAttr() (key, val []byte, moreAttr bool) {
	if s.nAttr >= len(s.attrs) || (s.tt != html.StartTagToken && s.tt != html.SelfClosingTagToken) {
		return nil, nil, false
	}
	a := s.attrs[s.nAttr]
	s.nAttr++
	key = s.buf[a.ks:a.ke:a.ke]
	if hasUpperASCII(key) {
		s.key = append(s.key[:0], key...)
		for i, c := range s.key {
			s.key[i] = lowerASCII(c)
		}
		key = s.key
	}
	val = s.buf[a.vs:a.ve:a.ve]
	if bytes.IndexByte(val, '\r') >= 0 {
		val = convertNewlines(bytes.Clone(val))
	}
	if bytes.IndexByte(val, '&') >= 0 {
		val = attrUnescape(val)
	}
	return key, val, s.nAttr < len(s.attrs)
}

// rawEnd returns where the raw text of element tag that starts at p ends:
// at the first "</tag" (in any case) followed by white space, '/' or '>', or
// at the end of b.
func rawEnd(b []byte, p int, tag string) int {
	for {
		j := bytes.Index(b[p:], []byte("</"))
		if j < 0 {
			return len(b)
		}
		k := p + j
		if closesRaw(b, k, tag) {
			return k
		}
		p = k + 2
	}
}

// closesRaw reports whether b holds at k the end tag of the raw text element
// tag, as html.Tokenizer's readRawEndTag finds it: "</tag" in any case and
// white space, '/' or '>'.
func closesRaw(b []byte, k int, tag string) bool {
	e := k + 2 + len(tag)
	if e >= len(b) || b[k] != '<' || b[k+1] != '/' || !equalFoldASCII(b[k+2:e], tag) {
		return false
	}
	switch b[e] {
	case ' ', '\n', '\r', '\t', '\f', '/', '>':
		return true
	}
	return false
}

// rawTagOf returns the lower-case name of the raw text or RCDATA element
// whose start tag is named name, or "".
func rawTagOf(name []byte) string {
	if len(name) < 3 || len(name) > len("plaintext") {
		return ""
	}
	for _, t := range [...]string{"iframe", "noembed", "noframes", "noscript", "plaintext", "script", "style", "textarea", "title", "xmp"} {
		if equalFoldASCII(name, t) {
			return t
		}
	}
	return ""
}

// isTagNameEnd reports whether c ends a tag name or an attribute key.
func isTagNameEnd(c byte) bool { return isASCIISpace(c) || c == '/' || c == '>' }

// hasUpperASCII reports whether b holds an ASCII upper-case letter.
func hasUpperASCII(b []byte) bool {
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			return true
		}
	}
	return false
}

// equalLowerASCII reports whether a and b, of the same length, are equal in
// ASCII lower case.
func equalLowerASCII(a, b []byte) bool {
	for i := range a {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}
