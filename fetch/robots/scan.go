package robots

import "bytes"

// maxLineLen is the number of bytes of a line that are read; the rest of the
// line is ignored. Google keeps 2083*8-1 bytes (eight maximal URLs).
const maxLineLen = 2083*8 - 1

// keyKind is the kind of a robots.txt line, recognised from its key.
type keyKind int

const (
	keyUnknown keyKind = iota
	keyUserAgent
	keyAllow
	keyDisallow
	keySitemap
	keyCrawlDelay
)

// truncate returns the first MaxSize bytes of body. If body is longer, it also
// drops the line that the limit cuts, unless the limit falls on a line end.
func truncate(body []byte) []byte {
	if len(body) <= MaxSize {
		return body
	}
	if c := body[MaxSize]; c == '\n' || c == '\r' {
		return body[:MaxSize]
	}
	body = body[:MaxSize]
	return body[:bytes.LastIndexAny(body, "\r\n")+1]
}

// scan splits body into lines as Google's RobotsTxtParser::Parse does and calls
// emit for every line that has a key and a separator, with its 1-based line
// number, kind and value. A value is trimmed and, for Allow and Disallow lines,
// not yet escaped. emit must not keep value.
func scan(body []byte, emit func(line int, k keyKind, value []byte)) {
	const bom = "\xEF\xBB\xBF"
	i := 0
	for i < len(body) && i < len(bom) && body[i] == bom[i] {
		i++ // a BOM, or the start of one, is skipped
	}
	line, start, lastCR := 1, i, false
	for j := i; j < len(body); j++ {
		c := body[j]
		if c != '\n' && c != '\r' {
			continue
		}
		if !(j == start && lastCR && c == '\n') { // the LF of a CRLF ends no line
			scanLine(line, body[start:j], emit)
			line++
		}
		lastCR = c == '\r'
		start = j + 1
	}
	scanLine(line, body[start:], emit)
}

// scanLine parses one line, without its line ending, into a key and a value
// (Google's GetKeyAndValueFrom) and emits it.
func scanLine(num int, b []byte, emit func(int, keyKind, []byte)) {
	if len(b) > maxLineLen {
		b = b[:maxLineLen]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i] // Google reads lines as C strings
	}
	if i := bytes.IndexByte(b, '#'); i >= 0 {
		b = b[:i]
	}
	b = trimSpace(b)
	sep := bytes.IndexByte(b, ':')
	if sep < 0 {
		// Google: a missing colon is accepted when whitespace separates
		// exactly two words ("disallow /").
		sep = bytes.IndexAny(b, " \t")
		if sep < 0 || bytes.IndexAny(bytes.TrimLeft(b[sep:], " \t"), " \t") >= 0 {
			return
		}
	}
	key := trimSpace(b[:sep])
	if len(key) == 0 {
		return
	}
	emit(num, parseKey(key), trimSpace(b[sep+1:]))
}

// parseKey returns the kind of a line's key. Google matches keys by
// case-insensitive prefix and accepts some frequent typos, so "User-Agents",
// "useragent" and "Disalow" all count.
func parseKey(key []byte) keyKind {
	switch {
	case hasPrefixFold(key, "user-agent", "useragent", "user agent"):
		return keyUserAgent
	case hasPrefixFold(key, "allow"):
		return keyAllow
	case hasPrefixFold(key, "disallow", "dissallow", "dissalow", "disalow", "diasllow", "disallaw"):
		return keyDisallow
	case hasPrefixFold(key, "sitemap", "site-map"):
		return keySitemap
	case hasPrefixFold(key, "crawl-delay", "crawldelay", "crawl delay", "crawl_delay"):
		return keyCrawlDelay
	}
	return keyUnknown
}

// hasPrefixFold reports whether b begins with one of the lower-case ASCII
// prefixes, ignoring ASCII case.
func hasPrefixFold(b []byte, prefixes ...string) bool {
next:
	for _, p := range prefixes {
		if len(b) < len(p) {
			continue
		}
		for i := range len(p) {
			if lower(b[i]) != p[i] {
				continue next
			}
		}
		return true
	}
	return false
}

// isSpace reports whether c is ASCII white space as absl::ascii_isspace defines it.
func isSpace(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\v', '\f', '\r':
		return true
	}
	return false
}

// trimSpace returns b without leading and trailing ASCII white space.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}
