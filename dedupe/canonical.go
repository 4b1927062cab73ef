package dedupe

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/trawl/trawl/internal/urlx"
)

// ErrInvalid is wrapped by every error from [Canonical] and [CanonicalURL]:
// the URL cannot be crawled (relative, not http or https, no or bad host, bad
// port, too long, control characters). The wrapping error says which and quotes
// the URL with any password redacted. Callers branch on it with errors.Is:
// an invalid link is dropped, not retried.
var ErrInvalid = errors.New("dedupe: invalid URL")

// MaxLen is the longest URL, in bytes, that [Canonical] accepts or returns.
// Longer links are almost always traps (session ids, ever-growing paths) and
// many servers reject them anyway.
const MaxLen = 8192

// bufSize is the stack buffer Canonical builds into; longer URLs spill to the
// heap.
const bufSize = 256

// Canonical returns the canonical form of an absolute http or https URL, or an
// error wrapping [ErrInvalid]. It applies the normalisations of RFC 3986
// §6.2.2 and §6.2.3, which keep the meaning of a URL on any server, and drops
// what a server never sees (userinfo, fragment), and it strips the session and
// tracking parameters in [DefaultStripParams] (see [Canonicalizer]). It does
// not guess beyond that: "index.html" and "www." are left alone. The rules:
//
//   - scheme and host are lower-cased; the host must be non-empty;
//   - userinfo ("user:pass@") and the fragment are dropped;
//   - a host is a DNS name made of letters, digits, '-', '_' and '.', with
//     labels of 1 to 63 bytes, 253 bytes in all, and one trailing dot removed;
//     percent-escapes in it are decoded first; a host with non-ASCII
//     characters or an "xn--" label is converted to punycode with the
//     [idna.Lookup] profile, and rejected if that fails;
//   - an IPv6 literal is kept in brackets in its canonical text form
//     (lower-case, "::" compressed, RFC 5952); zones are rejected;
//   - the port must be 1 to 65535 (leading zeros allowed); an empty port
//     and the scheme's default port (80, 443) are dropped;
//   - an empty path becomes "/"; the dot segments "." and ".." are resolved
//     (RFC 3986 §5.2.4), but only when written as literal dots: a segment
//     such as "%2E%2E" is kept, with its dots escaped, so the result stays a
//     fixed point;
//   - in path and query, escapes of unreserved characters (letters, digits,
//     '-', '.', '_', '~') are decoded, other escapes get upper-case hex, a '%'
//     that does not start a valid escape becomes "%25", and space, controls,
//     non-ASCII bytes and `"<>\^`{|}` are escaped; everything else is kept;
//   - the query keeps its parameter order and its '+' signs; an empty query
//     ("?" alone) is dropped;
//   - then the parameters named in [DefaultStripParams] are removed, from
//     the query and from the last path segment, as [Canonicalizer.Canonical]
//     describes; a query left empty is dropped with its '?'.
//
// raw is taken as it is, not trimmed: it must not contain ASCII control
// characters (tab and newline included; the caller strips those from an HTML
// attribute, as browsers do), and it must be at most [MaxLen] bytes, as must
// the result. Canonical is idempotent: Canonical(c) == c for every
// result c, and url.Parse accepts c and prints it back unchanged.
//
// Canonical runs for every extracted link, so it builds the result in one
// buffer: a URL that is already canonical is returned without allocating,
// other ASCII URLs up to 256 bytes cost one allocation. It is safe for
// concurrent use.
func Canonical(raw string) (string, error) {
	return defaultCanonicalizer.Canonical(raw)
}

// canonical is Canonical with c's stripping rules; a nil c strips nothing.
func (c *Canonicalizer) canonical(raw string) (string, error) {
	var arr [bufSize]byte
	b, reason := appendCanonical(arr[:0], raw, c)
	if reason != "" {
		return "", invalid(raw, reason)
	}
	if string(b) == raw { // compared without converting: no allocation
		return raw, nil
	}
	return string(b), nil
}

// CanonicalURL is [Canonical] for a parsed URL: it returns a new URL whose
// String() is the canonical form of u. It does not modify u. An error wraps
// [ErrInvalid]; a nil u is invalid too. Like Canonical, it strips the
// parameters in [DefaultStripParams].
//
// It reads u's escaped path as it was written (u.RawPath when that decodes to
// u.Path) rather than u.String(), which re-escapes a whole path with a space
// in it, '!' and all: a link gives the same key whether the caller holds it as
// a string or as a *url.URL.
func CanonicalURL(u *url.URL) (*url.URL, error) {
	return defaultCanonicalizer.CanonicalURL(u)
}

// canonicalURL is CanonicalURL with c's stripping rules; it returns the
// canonical form as a string too.
func (c *Canonicalizer) canonicalURL(u *url.URL) (*url.URL, string, error) {
	s, err := urlString(u)
	if err == nil {
		s, err = c.canonical(s)
	}
	if err != nil {
		return nil, "", err
	}
	if cu, ok := urlx.ParseSimple(s); ok { // most keys: no url.Parse
		return cu, s, nil
	}
	cu, err := url.Parse(s)
	if err != nil { // cannot happen: Canonical's output always parses
		return nil, "", fmt.Errorf("canonical %q: %w: %w", s, ErrInvalid, err)
	}
	return cu, s, nil
}

// urlString returns u as a string for Canonical, written so that Canonical
// sees u's path as it was escaped in the original, and without userinfo or
// fragment, which Canonical would drop.
func urlString(u *url.URL) (string, error) {
	switch {
	case u == nil:
		return "", fmt.Errorf("canonical: %w: nil URL", ErrInvalid)
	case u.Opaque != "":
		return u.String(), nil // Canonical decides
	case u.Scheme == "":
		return "", invalid(u.Redacted(), "relative URL")
	case strings.ContainsAny(u.Host, "/?#@"): // only a hand-built URL has these
		return "", invalid(u.Redacted(), "bad character in host")
	}
	path := u.RawPath
	if path == "" || strings.ContainsAny(path, "?#") {
		path = ""
	} else if p, err := url.PathUnescape(path); err != nil || p != u.Path {
		path = ""
	}
	var b strings.Builder
	b.Grow(len(u.Scheme) + len(u.Host) + len(u.Path) + len(u.RawQuery) + 8)
	b.WriteString(u.Scheme)
	b.WriteString("://")
	b.WriteString(u.Host)
	if path != "" {
		if path[0] != '/' {
			b.WriteByte('/')
		}
		b.WriteString(path)
	} else {
		if u.Path != "" && u.Path[0] != '/' {
			b.WriteByte('/')
		}
		// Canonical escapes everything else that needs it.
		for i := 0; i < len(u.Path); i++ {
			switch c := u.Path[i]; c {
			case '%':
				b.WriteString("%25")
			case '?':
				b.WriteString("%3F")
			case '#':
				b.WriteString("%23")
			default:
				b.WriteByte(c)
			}
		}
	}
	if u.RawQuery != "" {
		b.WriteByte('?')
		b.WriteString(u.RawQuery)
	}
	return b.String(), nil
}

// invalid builds the error for raw. The URL is quoted with its userinfo
// redacted (links do carry passwords) and clipped, since an invalid URL can be
// up to a megabyte of junk.
func invalid(raw, reason string) error {
	const maxShown = 200
	shown := redact(raw)
	if len(shown) > maxShown {
		shown = shown[:maxShown] + "..."
	}
	return fmt.Errorf("canonical %q: %w: %s", shown, ErrInvalid, reason)
}

// redact replaces the userinfo of raw, if it has one, with "xxxxx".
func redact(raw string) string {
	i := strings.Index(raw, "//")
	if i < 0 {
		return raw
	}
	auth := raw[i+2:]
	if j := strings.IndexAny(auth, "/?#"); j >= 0 {
		auth = auth[:j]
	}
	at := strings.LastIndexByte(auth, '@')
	if at < 0 {
		return raw
	}
	return raw[:i+2] + "xxxxx" + raw[i+2+at:]
}

// appendCanonical appends the canonical form of raw to b, with the parameters
// c names stripped (a nil c strips nothing). On failure it returns a non-empty
// reason, and b is garbage.
func appendCanonical(b []byte, raw string, c *Canonicalizer) ([]byte, string) {
	if len(raw) > MaxLen {
		return b, "longer than " + strconv.Itoa(MaxLen) + " bytes"
	}
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c < 0x20 || c == 0x7f {
			return b, "control character at byte " + strconv.Itoa(i)
		}
	}

	// RFC 3986 Appendix B: scheme ":" "//" authority path ["?" query] ["#" fragment].
	i := indexOneOf(raw, ':', '/', '?', '#')
	if i < 0 || raw[i] != ':' {
		return b, "relative URL"
	}
	scheme := raw[:i]
	if !validScheme(scheme) {
		return b, "bad scheme"
	}
	var defaultPort int
	switch {
	case strings.EqualFold(scheme, "http"):
		b = append(b, "http://"...)
		defaultPort = 80
	case strings.EqualFold(scheme, "https"):
		b = append(b, "https://"...)
		defaultPort = 443
	default:
		return b, fmt.Sprintf("unsupported scheme %q", scheme)
	}
	rest, ok := strings.CutPrefix(raw[i+1:], "//")
	if !ok {
		return b, "no host"
	}
	authority := rest
	if j := indexOneOf(rest, '/', '?', '#', '#'); j >= 0 {
		authority, rest = rest[:j], rest[j:]
	} else {
		rest = ""
	}
	path, query := rest, ""
	if j := indexOneOf(rest, '?', '#', '#', '#'); j >= 0 {
		path = rest[:j]
		if rest[j] == '?' {
			query = rest[j+1:]
			if k := strings.IndexByte(query, '#'); k >= 0 {
				query = query[:k]
			}
		}
	}

	var reason string
	if b, reason = appendAuthority(b, authority, defaultPort); reason != "" {
		return b, reason
	}
	b = appendPath(b, path, c)
	if query != "" {
		b = append(b, '?')
		start := len(b)
		b = appendEscaped(b, query, false)
		if c != nil && len(c.query.prefixes)+len(c.query.exact) > 0 {
			b = c.query.stripQuery(b, start)
			if len(b) == start {
				b = b[:start-1] // nothing left: drop the '?'
			}
		}
	}
	if len(b) > MaxLen {
		return b, "longer than " + strconv.Itoa(MaxLen) + " bytes once escaped"
	}
	return b, ""
}

// indexOneOf returns the index of the first of the bytes a, b, c, d in s, or
// -1. strings.IndexAny costs more on short strings, which URLs are.
func indexOneOf(s string, a, b, c, d byte) int {
	for i := 0; i < len(s); i++ {
		if x := s[i]; x == a || x == b || x == c || x == d {
			return i
		}
	}
	return -1
}

// validScheme reports whether s is ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
func validScheme(s string) bool {
	if s == "" || !isAlpha(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlpha(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// appendPath appends the canonical form of path, which is empty or starts
// with '/': percent-encoding normalised and literal dot segments removed, and
// the path parameters c names removed from the last segment.
func appendPath(b []byte, path string, c *Canonicalizer) []byte {
	start := len(b)
	for path != "" {
		seg := path[1:] // skip the '/'
		last := true
		if i := strings.IndexByte(seg, '/'); i >= 0 {
			seg, path, last = seg[:i], seg[i:], false
		} else {
			path = ""
		}
		dots, literal := dotSegment(seg)
		if last && dots == 0 && c != nil && len(c.path.prefixes)+len(c.path.exact) > 0 &&
			strings.IndexByte(seg, ';') >= 0 {
			// Strip after escapes are normalised, so that an escaped name
			// matches as its second pass would; what is left may be a dot
			// segment only now (as "..;jsessionid=1"), so classify it again.
			segStart := len(b) + 1
			b = c.path.stripPathParams(appendEscaped(append(b, '/'), seg, false), segStart)
			switch string(b[segStart:]) {
			case ".":
				b = append(b[:segStart-1], '/')
			case "..":
				b = b[:segStart-1]
				if i := bytes.LastIndexByte(b[start:], '/'); i >= 0 {
					b = b[:start+i]
				}
				b = append(b, '/')
			}
			continue
		}
		switch {
		case dots == 1 && literal:
			if last {
				b = append(b, '/')
			}
		case dots == 2 && literal:
			if i := bytes.LastIndexByte(b[start:], '/'); i >= 0 {
				b = b[:start+i]
			}
			if last {
				b = append(b, '/')
			}
		default:
			b = append(b, '/')
			// A segment such as "%2E." would become ".." if decoded, and a
			// second pass would resolve it: keep its dots escaped.
			b = appendEscaped(b, seg, dots > 0)
		}
	}
	if len(b) == start {
		b = append(b, '/')
	}
	return b
}

// dotSegment returns how many dots seg stands for if it is made of one or two
// dots, literal or escaped as %2E, and whether they are all literal; otherwise
// 0.
func dotSegment(seg string) (dots int, literal bool) {
	literal = true
	for i := 0; i < len(seg); dots++ {
		switch {
		case dots == 2:
			return 0, false
		case seg[i] == '.':
			i++
		case seg[i] == '%' && i+2 < len(seg) && seg[i+1] == '2' && (seg[i+2] == 'e' || seg[i+2] == 'E'):
			i += 3
			literal = false
		default:
			return 0, false
		}
	}
	return dots, literal
}

// appendEscaped appends s, a path segment or a query, with its
// percent-encoding normalised. With keepDots, "%2E" is not decoded.
func appendEscaped(b []byte, s string, keepDots bool) []byte {
	const upperHex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				b = append(b, "%25"...)
				continue
			}
			v := unhex(s[i+1])<<4 | unhex(s[i+2])
			if isUnreserved(v) && !(keepDots && v == '.') {
				b = append(b, v)
			} else {
				b = append(b, '%', upperHex[v>>4], upperHex[v&0xf])
			}
			i += 2
		case mustEscape(c):
			b = append(b, '%', upperHex[c>>4], upperHex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return b
}

// mustEscape reports whether c may not appear unescaped in a path or query:
// controls, space, non-ASCII bytes, and the characters RFC 3986 excludes that
// browsers escape too.
func mustEscape(c byte) bool {
	switch c {
	case '"', '<', '>', '\\', '^', '`', '{', '|', '}':
		return true
	}
	return c <= ' ' || c >= 0x7f
}

// isUnreserved reports whether c is an RFC 3986 unreserved character.
func isUnreserved(c byte) bool {
	return isAlpha(c) || isDigit(c) || c == '-' || c == '.' || c == '_' || c == '~'
}

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool { return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// unhex returns the value of the hex digit c.
func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
