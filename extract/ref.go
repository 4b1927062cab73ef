package extract

import (
	"bytes"
	"net/url"
	"strings"
)

// Link values made into URLs, as the URL standard and browsers do.

// parseRef cleans an attribute value as the URL standard does before parsing
// (trim leading and trailing C0 controls and spaces, drop every tab and
// newline) and parses it. It returns nil if the value is then empty, does not
// parse, or starts with "//" but has no host.
func parseRef(v []byte) *url.URL {
	i, j := 0, len(v)
	for i < j && v[i] <= ' ' {
		i++
	}
	for j > i && v[j-1] <= ' ' {
		j--
	}
	v = v[i:j]
	if len(v) == 0 {
		return nil
	}
	var s string
	if bytes.ContainsAny(v, "\t\n\r") {
		b := make([]byte, 0, len(v))
		for _, c := range v {
			if c != '\t' && c != '\n' && c != '\r' {
				b = append(b, c)
			}
		}
		s = string(b)
	} else {
		s = string(v)
	}
	if strings.HasPrefix(s, "//") {
		// A scheme-relative reference takes the base's scheme, which must be
		// http(s) for the link to be kept. url.Parse checks an authority
		// more strictly with those schemes (one colon in a host), so parse
		// it with one: otherwise "//:0:0" would resolve to "https://:0:0",
		// which no longer parses.
		u, err := url.Parse("http:" + s)
		if err != nil || u.Host == "" {
			// "//" or "///x": an empty authority, which the URL standard
			// rejects for http(s).
			return nil
		}
		u.Scheme = ""
		return u
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil
	}
	return u
}

// resolve resolves ref against base and returns the result without its
// fragment, or nil if it is not an http(s) URL with a host.
func resolve(base, ref *url.URL) *url.URL {
	u := base.ResolveReference(ref)
	if !isHTTP(u.Scheme) || u.Hostname() == "" {
		return nil
	}
	u.Fragment, u.RawFragment = "", ""
	return u
}

// isHTTP reports whether scheme, already lower-cased by url.Parse, is http or
// https.
func isHTTP(scheme string) bool {
	return scheme == "http" || scheme == "https"
}
