package extract

import (
	"bytes"
	"encoding/binary"
	"unicode/utf8"
)

// textBuilder normalises text as it arrives, doing in one pass what
// strings.ToValidUTF8 and collapsing ASCII whitespace would, and stops
// copying once the result is longer than max bytes.
type textBuilder struct {
	max     int // bytes kept
	buf     []byte
	space   bool // whitespace (or a word break) seen since the last byte written
	invalid bool // the last thing written replaced invalid UTF-8
	full    bool // buf holds more than max bytes
}

func (t *textBuilder) write(s []byte) {
	for i := 0; i < len(s) && !t.full; {
		c := s[i]
		if isASCIISpace(c) {
			t.space, t.invalid = true, false
			i++
			continue
		}
		if t.space && len(t.buf) > 0 {
			t.buf = append(t.buf, ' ')
			t.invalid = false // a space always has something after it
		}
		t.space = false
		if c < utf8.RuneSelf {
			// Copy a run of ASCII at once, words and the single spaces
			// between them, no further than what fills the builder
			// (len(t.buf) <= t.max here, so the run is not empty). One
			// table lookup a byte: this loop sees every byte of a page's
			// text.
			j, end := i+1, min(len(s), i+t.max-len(t.buf)+1)
			for j+8 <= end && wordsAndSpaces(binary.LittleEndian.Uint64(s[j:])) {
				j += 8
			}
			for j < end {
				switch textClass[s[j]] {
				case classWord:
					j++
					continue
				case classSpace:
					if j+1 < end && textClass[s[j+1]] == classWord {
						j += 2 // a single space between words
						continue
					}
				}
				break // a space at the end, before non-ASCII or in a run; other whitespace; non-ASCII
			}
			t.buf = append(t.buf, s[i:j]...)
			t.invalid = false
			i = j
		} else if r, n := utf8.DecodeRune(s[i:]); r == utf8.RuneError && n == 1 {
			if !t.invalid { // one replacement per run of invalid bytes
				t.buf = append(t.buf, "\uFFFD"...)
				t.invalid = true
			}
			i++
		} else {
			t.buf = append(t.buf, s[i:i+n]...)
			t.invalid = false
			i += n
		}
		t.full = len(t.buf) > t.max
	}
}

// wordsAndSpaces reports whether the eight bytes of x (in little-endian
// order, as read after a byte of a word) are words and single spaces that
// textBuilder copies as they are: ASCII from '!' up and ' ', no two spaces
// together and no space last (it needs a word after it). A text's words are
// a few bytes long, so most eight bytes hold a space; checking them at once
// took a sixth off the time of write on the crawlbench page
// (BenchmarkTextBuilder: 3.4-3.8 us -> 2.9-3.1 us, old and new interleaved).
func wordsAndSpaces(x uint64) bool {
	const high, below20, below21 = 0x8080808080808080, 0x2020202020202020, 0x2121212121212121
	if x&high != 0 || ^((x|high)-below20)&high != 0 { // non-ASCII, or a byte under ' '
		return false
	}
	spaces := ^((x | high) - below21) & high // the bytes that are ' '
	return spaces&(spaces>>8) == 0 && spaces>>56 == 0
}

// Byte classes of textClass.
const (
	classWord     = iota // ASCII, not whitespace: copied as it is
	classSpace           // ' '
	classOther           // other ASCII whitespace
	classNonASCII        // a byte of a multi-byte rune, or invalid
)

// textClass is the class of each byte value for textBuilder.write.
var textClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c >= utf8.RuneSelf:
			t[c] = classNonASCII
		case c == ' ':
			t[c] = classSpace
		case isASCIISpace(byte(c)):
			t[c] = classOther
		}
	}
	return t
}()

// String returns the text cut on a rune boundary to at most max bytes.
func (t *textBuilder) String() string {
	b := t.buf
	if len(b) > t.max {
		n := t.max
		for n > 0 && !utf8.RuneStart(b[n]) {
			n--
		}
		b = bytes.TrimRight(b[:n], " ")
	}
	return string(b)
}

// keep cuts the text to buf[start:end] (end -1 meaning the end), trimmed, unless that span
// has no text.
func (t *textBuilder) keep(start, end int) {
	if end < 0 || end > len(t.buf) {
		end = len(t.buf)
	}
	if start > end {
		return
	}
	span := bytes.Trim(t.buf[start:end], " ")
	if len(span) == 0 {
		return
	}
	t.buf = span
}

// tokenText is z.Text() for a text token, without its passes over the bytes
// where they would change nothing: Text rewrites "\r\n" and "\r" to "\n"
// (whitespace that textBuilder collapses anyway), replaces NUL in some
// elements and decodes character references, in place (the pass reads Raw
// for the SimHash before). Only a token holding '&', '\r' or NUL goes through
// Text.
func tokenText(z tokens) []byte {
	raw := z.Raw()
	if bytes.IndexByte(raw, '&') >= 0 || bytes.IndexByte(raw, '\r') >= 0 || bytes.IndexByte(raw, 0) >= 0 {
		return z.Text()
	}
	return raw
}
