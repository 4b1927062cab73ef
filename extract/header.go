package extract

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Tag values of Link.Tag for links found in response headers.
const (
	tagLinkHeader     = "link-header"
	tagRefreshHeader  = "refresh-header"
	tagLocationHeader = "location-header"
)

// HeaderInfo is what a response's headers say about its links and whether
// to index and follow it; see HeaderLinks. The caller owns it.
type HeaderInfo struct {
	// Canonical is the target of the first Link header value whose rel
	// holds "canonical", resolved against the base URL, without its
	// fragment; nil if there is none or that target is not an http(s) URL
	// with a host.
	Canonical *url.URL

	// Links are, in this order: the Link header values whose rel holds one
	// of alternate, next, prev, previous, first, last, up, start, index,
	// contents or related (Tag "link-header"); the URL of the Refresh header
	// (Tag "refresh-header"); and, on a 2xx response, the Location header
	// (Tag "location-header"). They follow the rules of Document.Links:
	// absolute http(s) with a host, no fragment, at most Config.MaxLinks,
	// and Nofollow when NoFollow is set.
	Links []Link

	// LinksCapped reports whether links were dropped past Config.MaxLinks.
	LinksCapped bool

	// NoIndex and NoFollow report whether an X-Robots-Tag that applies to
	// the configured agent says "noindex" or "nofollow" ("none" says both).
	// They cover the whole response, the page's HTML links included: a
	// caller combines them with Document.NoIndex and Document.NoFollow.
	NoIndex, NoFollow bool
}

// HeaderLinks reads the links and robots directives of response headers h,
// with status code status, resolving URLs against base (the response's
// final URL). It never fails on malformed headers: a value it cannot read
// is skipped, and the rest still counts. It returns an error wrapping
// ErrNotAbsolute if base is nil or not absolute, and no other.
//
// Link (RFC 8288): every Link header line, each a comma-separated list of
// `<target>; param=value; param="quoted value"`. The rel parameter (the
// first one only) is a space-separated, case-insensitive list of relation
// types. A value with an anchor parameter is about another resource and is
// skipped, as is one whose parameters do not parse. rel=canonical sets
// Canonical; see HeaderInfo.Links for the relations kept as links.
//
// Refresh: the first Refresh header, read like <meta http-equiv=refresh>
// ("0; url=/next"); none without a URL.
//
// Location: the first Location header, as a link on a 2xx status only
// (201 Created, or a 200 that names the content's location); a 3xx Location
// is a redirect, which fetch follows.
//
// X-Robots-Tag: every header line is a comma-separated list of directives:
// noindex, nofollow, none (both) and others that are ignored. An item
// "agent: directive" (agent a token of letters, digits, '-', '_' or '.',
// not one of the "name: value" directives such as unavailable_after) makes
// it and the items after it on that line apply to agent only, compared
// with Config.Agent case-insensitively; items before any such prefix apply
// to every agent. Directives add up over lines.
func (e *Extractor) HeaderLinks(h http.Header, status int, base *url.URL) (*HeaderInfo, error) {
	if base == nil {
		return nil, fmt.Errorf("%w: nil", ErrNotAbsolute)
	}
	if !base.IsAbs() {
		return nil, fmt.Errorf("%w: %q", ErrNotAbsolute, base)
	}
	info := &HeaderInfo{}
	for _, v := range h.Values("X-Robots-Tag") {
		e.robotsTag(info, v)
	}
	add := func(raw []byte, tag string) {
		ref := parseRef(raw)
		if ref == nil {
			return
		}
		u := resolve(base, ref)
		if u == nil {
			return
		}
		if len(info.Links) >= e.maxLinks {
			info.LinksCapped = true
			return
		}
		info.Links = append(info.Links, Link{URL: u, Nofollow: info.NoFollow, Tag: tag})
	}
	canonDone := false
	for _, v := range h.Values("Link") {
		parseLinkHeader(v, func(target, rel string) {
			if !canonDone && hasToken([]byte(rel), "canonical") {
				canonDone = true
				if ref := parseRef([]byte(target)); ref != nil {
					info.Canonical = resolve(base, ref)
				}
			}
			if hasPageRel(rel) {
				add([]byte(target), tagLinkHeader)
			}
		})
	}
	if v := h.Get("Refresh"); v != "" {
		if u, ok := refreshURL([]byte(v)); ok {
			add(u, tagRefreshHeader)
		}
	}
	if v := h.Get("Location"); v != "" && status >= 200 && status <= 299 {
		add([]byte(v), tagLocationHeader)
	}
	return info, nil
}

// robotsTag adds the directives of one X-Robots-Tag line that apply to e's
// agent to info.
func (e *Extractor) robotsTag(info *HeaderInfo, v string) {
	applies := true // no agent prefix yet: for every agent
	for item := range strings.SplitSeq(v, ",") {
		item = strings.Trim(item, asciiSpace)
		if name, rest, ok := strings.Cut(item, ":"); ok {
			name = strings.Trim(name, asciiSpace)
			if isAgentToken(name) && !isValueDirective(name) {
				applies = strings.EqualFold(name, e.agent)
				item = strings.Trim(rest, asciiSpace)
			}
		}
		if !applies {
			continue
		}
		switch {
		case strings.EqualFold(item, "noindex"):
			info.NoIndex = true
		case strings.EqualFold(item, "nofollow"):
			info.NoFollow = true
		case strings.EqualFold(item, "none"):
			info.NoIndex, info.NoFollow = true, true
		}
	}
	if info.NoFollow {
		for i := range info.Links {
			info.Links[i].Nofollow = true
		}
	}
}

// isAgentToken reports whether s can be a user-agent product token in an
// X-Robots-Tag prefix.
func isAgentToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// isValueDirective reports whether name is an X-Robots-Tag directive
// written "name: value", which must not be taken for an agent prefix.
func isValueDirective(name string) bool {
	switch strings.ToLower(name) {
	case "unavailable_after", "max-snippet", "max-image-preview", "max-video-preview":
		return true
	}
	return false
}

// hasPageRel reports whether the rel list holds a relation HeaderLinks
// reports as a link: one that names another page or another version of
// this one. Resource hints and subresources (preload, prefetch, preconnect,
// dns-prefetch, stylesheet, icon, manifest ...) are not pages to crawl.
func hasPageRel(rel string) bool {
	for rest := []byte(rel); len(rest) > 0; {
		var tok []byte
		tok, rest = nextToken(rest, asciiSpace)
		switch strings.ToLower(string(tok)) {
		case "alternate", "next", "prev", "previous", "first", "last", "up", "start", "index", "contents", "related":
			return true
		}
	}
	return false
}

// parseLinkHeader calls yield with the target and rel parameter of each
// well-formed link-value of one Link header line (RFC 8288 §3) that has no
// anchor parameter. A malformed link-value is skipped up to the next comma
// outside a quoted string.
func parseLinkHeader(v string, yield func(target, rel string)) {
	for {
		v = strings.TrimLeft(v, " \t,")
		if v == "" {
			return
		}
		if v[0] != '<' {
			v = skipLinkValue(v)
			continue
		}
		end := strings.IndexByte(v, '>')
		if end < 0 {
			return
		}
		target := v[1:end]
		v = v[end+1:]
		var rel string
		relDone, anchor, bad := false, false, false
		for !bad {
			v = strings.TrimLeft(v, " \t")
			if v == "" || v[0] == ',' {
				break
			}
			if v[0] != ';' {
				bad = true
				break
			}
			var name, val string
			name, val, v, bad = linkParam(v[1:])
			switch {
			case bad:
			case strings.EqualFold(name, "rel") && !relDone:
				rel, relDone = val, true
			case strings.EqualFold(name, "anchor"):
				anchor = true
			}
		}
		if bad {
			v = skipLinkValue(v)
			continue
		}
		if !anchor && relDone {
			yield(target, rel)
		}
	}
}

// linkParam reads one link-param, `name [= token | quoted-string]`, after its
// ';' from v, and returns the rest of v; bad reports that it does not parse.
func linkParam(v string) (name, val, rest string, bad bool) {
	v = strings.TrimLeft(v, " \t")
	i := 0
	for i < len(v) && isTokenChar(v[i]) {
		i++
	}
	if i == 0 {
		return "", "", v, true
	}
	name, v = v[:i], strings.TrimLeft(v[i:], " \t")
	if v == "" || v[0] != '=' {
		return name, "", v, false // a parameter without a value
	}
	v = strings.TrimLeft(v[1:], " \t")
	if v != "" && v[0] == '"' {
		var b strings.Builder
		for i := 1; i < len(v); i++ {
			switch c := v[i]; c {
			case '"':
				return name, b.String(), v[i+1:], false
			case '\\':
				if i+1 < len(v) {
					i++
					b.WriteByte(v[i])
				}
			default:
				b.WriteByte(c)
			}
		}
		return name, "", "", true // no closing quote
	}
	i = 0
	for i < len(v) && isTokenChar(v[i]) {
		i++
	}
	return name, v[:i], v[i:], false
}

// isTokenChar reports whether c is a tchar of RFC 9110 §5.6.2.
func isTokenChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// skipLinkValue returns v after the next comma outside a quoted string, or
// "" if there is none.
func skipLinkValue(v string) string {
	quoted := false
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case ',':
			if !quoted {
				return v[i+1:]
			}
		}
	}
	return ""
}

// refreshURL returns the URL of a refresh declaration ("5; url=/next"), as
// the HTML standard's shared declarative refresh steps read the content of
// <meta http-equiv=refresh> and the Refresh header; ok is false when there
// is no refresh or it has no URL (it reloads the page itself).
func refreshURL(s []byte) (u []byte, ok bool) {
	i := skipSpace(s, 0)
	start := i
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	if i == start && (i == len(s) || s[i] != '.') {
		return nil, false // no time: not a refresh
	}
	for i < len(s) && ('0' <= s[i] && s[i] <= '9' || s[i] == '.') {
		i++
	}
	if i == len(s) {
		return nil, false // a time alone: reload this page
	}
	if c := s[i]; c != ';' && c != ',' && !isASCIISpace(c) {
		return nil, false
	}
	i = skipSpace(s, i)
	if i < len(s) && (s[i] == ';' || s[i] == ',') {
		i = skipSpace(s, i+1)
	}
	if i == len(s) {
		return nil, false
	}
	urlString := s[i:]
	if lowerASCII(s[i]) == 'u' {
		i++
		if i < len(s) && lowerASCII(s[i]) == 'r' {
			i++
			if i < len(s) && lowerASCII(s[i]) == 'l' {
				i = skipSpace(s, i+1)
				if i < len(s) && s[i] == '=' {
					urlString = s[skipSpace(s, i+1):]
				}
			}
		}
	}
	if len(urlString) > 0 && (urlString[0] == '\'' || urlString[0] == '"') {
		q := urlString[0]
		urlString = urlString[1:]
		if j := bytes.IndexByte(urlString, q); j >= 0 {
			urlString = urlString[:j]
		}
	}
	return urlString, true
}
