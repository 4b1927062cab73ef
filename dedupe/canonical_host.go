package dedupe

import (
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// The authority of a canonical URL (see Canonical): its userinfo dropped,
// its host lower-cased, IDNA-checked or an IP address written one way, and a
// default port dropped.

// appendAuthority appends the canonical host and port of authority, dropping
// its userinfo.
func appendAuthority(b []byte, authority string, defaultPort int) ([]byte, string) {
	if at := strings.LastIndexByte(authority, '@'); at >= 0 {
		authority = authority[at+1:]
	}
	var host, port string
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return b, "unclosed '[' in host"
		}
		host, port = authority[:end+1], authority[end+1:]
		if port != "" {
			if port[0] != ':' {
				return b, "bad port"
			}
			port = port[1:]
		}
	} else {
		host, port, _ = strings.Cut(authority, ":")
	}

	var reason string
	if b, reason = appendHost(b, host); reason != "" {
		return b, reason
	}
	if port == "" { // RFC 3986 §6.2.3: an empty port is the default one
		return b, ""
	}
	n := 0
	for i := 0; i < len(port); i++ {
		if !isDigit(port[i]) {
			return b, "bad port"
		}
		n = n*10 + int(port[i]-'0')
		if n > 65535 {
			return b, "bad port"
		}
	}
	if n == 0 {
		return b, "bad port"
	}
	if n != defaultPort {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(n), 10)
	}
	return b, ""
}

// appendHost appends the canonical form of host: a bracketed IPv6 literal or a
// DNS name, see Canonical.
func appendHost(b []byte, host string) ([]byte, string) {
	if host == "" {
		return b, "empty host"
	}
	if host[0] == '[' {
		addr, err := netip.ParseAddr(host[1 : len(host)-1])
		if err != nil || !addr.Is6() || addr.Zone() != "" {
			return b, "bad IPv6 literal"
		}
		b = append(b, '[')
		b = addr.AppendTo(b)
		return append(b, ']'), ""
	}

	start := len(b)
	nonASCII := false
	for i := 0; i < len(host); i++ {
		c := host[i]
		if c == '%' {
			if i+2 >= len(host) || !isHex(host[i+1]) || !isHex(host[i+2]) {
				return b, "bad escape in host"
			}
			c = unhex(host[i+1])<<4 | unhex(host[i+2])
			i += 2
		}
		switch {
		case c >= 0x80:
			nonASCII = true
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		case 'a' <= c && c <= 'z', isDigit(c), c == '-', c == '_', c == '.':
		default:
			return b, fmt.Sprintf("bad character %q in host", c)
		}
		b = append(b, c)
	}
	// Plain ASCII names skip IDNA: its STD3 and hyphen rules would reject
	// real, resolvable hosts such as "my_host.example" or "r3---sn.example".
	if nonASCII || hasACELabel(b[start:]) {
		if !utf8.Valid(b[start:]) { // idna would encode U+FFFD
			return b, "host is not UTF-8"
		}
		ascii, err := idna.Lookup.ToASCII(string(b[start:]))
		if err != nil {
			return b, "bad IDN host: " + err.Error()
		}
		// Mapping can break a rule the input kept (U+2135 ℵ maps to the
		// right-to-left U+05D0 א, which the bidi rule rejects next to "a"):
		// only a fixed point of ToASCII is a host that we will accept again.
		if again, err := idna.Lookup.ToASCII(ascii); err != nil || again != ascii {
			return b, "bad IDN host: not stable under IDNA mapping"
		}
		b = append(b[:start], ascii...)
	}
	if len(b) > start && b[len(b)-1] == '.' {
		b = b[:len(b)-1]
	}
	return b, checkName(b[start:])
}

// hasACELabel reports whether the lower-case name has a label starting "xn--",
// which only IDNA can validate.
func hasACELabel(name []byte) bool {
	for len(name) > 0 {
		if bytes.HasPrefix(name, []byte("xn--")) {
			return true
		}
		i := bytes.IndexByte(name, '.')
		if i < 0 {
			break
		}
		name = name[i+1:]
	}
	return false
}

// checkName returns why name is not a DNS name we can ask for, or "".
func checkName(name []byte) string {
	switch {
	case len(name) == 0:
		return "empty host"
	case len(name) > 253:
		return "host longer than 253 bytes"
	}
	for len(name) > 0 {
		label := name
		if i := bytes.IndexByte(name, '.'); i >= 0 {
			label, name = name[:i], name[i+1:]
			if len(name) == 0 { // "a." after the trailing dot was stripped: "a.."
				return "empty label in host"
			}
		} else {
			name = nil
		}
		switch {
		case len(label) == 0:
			return "empty label in host"
		case len(label) > 63:
			return "host label longer than 63 bytes"
		}
		for _, c := range label {
			if !('a' <= c && c <= 'z') && !isDigit(c) && c != '-' && c != '_' {
				return fmt.Sprintf("bad character %q in host", c)
			}
		}
	}
	return ""
}
