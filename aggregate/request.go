package aggregate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// errNeeded marks a request that could not be built because an answer it
// needs lacks a field: the backend is skipped.
var errNeeded = errors.New("a field it needs is missing")

// newRequest builds the GET request for b from the client's request and,
// for a chained backend, the answers in slots. shared, when not nil, is the
// header of the fan-out's requests that carry no header of their own (see
// ownHeader): the request takes it as is, since the transport only reads it.
func (b *backend) newRequest(ctx context.Context, req *Request, rid []string, slots []slot, shared http.Header) (*http.Request, error) {
	u, err := b.url(req, slots)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if shared != nil && !b.ownHeader() {
		hreq.Header = shared
		return hreq, nil
	}
	if rid != nil {
		hreq.Header["X-Request-Id"] = rid
	}
	for _, h := range b.headers {
		if v := req.Header[h]; len(v) > 0 {
			hreq.Header[h] = v // shared: the transport only reads it
		}
	}
	for _, h := range b.setHeaders {
		var v []byte
		for i := range h.parts {
			p := &h.parts[i]
			switch {
			case p.name == "":
				v = append(v, p.lit...)
			case p.fromDep:
				f, err := slots[p.dep].field(p)
				if err != nil {
					return nil, err
				}
				v = append(v, f...)
			default:
				v = append(v, b.value(req, *p)...)
			}
		}
		if !validHeaderValue(v) {
			return nil, fmt.Errorf("header %s: value %q is not one line of text", h.name, v)
		}
		hreq.Header[h.name] = []string{string(v)}
	}
	return hreq, nil
}

// ownHeader reports whether b's requests carry headers of their own
// (forwarded or set), besides X-Request-Id.
func (b *backend) ownHeader() bool { return len(b.headers) > 0 || len(b.setHeaders) > 0 }

// validHeaderValue reports whether v can be sent as a header value: no
// control characters but tab.
func validHeaderValue(v []byte) bool {
	for _, c := range v {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// url fills the backend's URL template from the request and, for a chained
// backend, the answers in slots.
func (b *backend) url(req *Request, slots []slot) (string, error) {
	if len(b.parts) == 1 && b.parts[0].name == "" && len(b.extraQuery) == 0 {
		return b.parts[0].lit, nil
	}
	var arr [256]byte
	u := arr[:0]
	for i := range b.parts {
		p := &b.parts[i]
		v := ""
		switch {
		case p.name == "":
			u = append(u, p.lit...)
			continue
		case p.fromDep:
			f, err := slots[p.dep].field(p)
			if err != nil {
				return "", err
			}
			v = string(f)
		case p.catchAll:
			u = appendPathSegments(u, req.Params[p.name])
			continue
		default:
			v = b.value(req, *p)
		}
		if p.inQuery {
			u = append(u, url.QueryEscape(v)...)
		} else {
			u = appendPathSegment(u, v)
		}
	}
	sep := byte('?')
	if b.hasQuery {
		sep = '&'
		if c := u[len(u)-1]; c == '?' || c == '&' {
			sep = 0
		}
	}
	for _, q := range b.extraQuery {
		for _, v := range req.Query[q] {
			if sep != 0 {
				u = append(u, sep)
			}
			sep = '&'
			u = append(append(append(u, url.QueryEscape(q)...), '='), url.QueryEscape(v)...)
		}
	}
	return string(u), nil
}

// field returns the value of placeholder p's field in this slot's answer:
// a string's text, or a number or boolean as written; errNeeded when the
// answer lacks it or it is not such a value.
func (s *slot) field(p *tpart) ([]byte, error) {
	data := s.raw
	ms, vs, _, kind, err := parseTop(data, nil, true)
	for depth, seg := range p.field {
		if err != nil || kind != '{' {
			break
		}
		found := -1
		for i := range ms {
			if m := &ms[i]; bytes.Equal(rawName(data, m), seg) {
				found = i
			}
		}
		if found < 0 {
			return nil, fmt.Errorf("%w: backend %s's answer has no field %s", errNeeded, s.report.Name, bytes.Join(p.field[:depth+1], []byte(".")))
		}
		vs = ms[found].valOff
		kind = data[vs]
		if depth < len(p.field)-1 && kind == '{' {
			ms, _, err = scanMembers(data, vs, ms[:0])
		}
		if depth == len(p.field)-1 {
			return scalarText(data, ms[found].valOff, ms[found].valEnd, s.report.Name, p)
		}
	}
	return nil, fmt.Errorf("%w: backend %s's answer has no field %s", errNeeded, s.report.Name, bytes.Join(p.field, []byte(".")))
}

// rawName returns the unescaped name of a member scanned from data.
func rawName(data []byte, m *member) []byte {
	key := data[m.keyOff:m.keyEnd]
	if m.escaped {
		return unescapeKey(key)
	}
	return key[1 : len(key)-1]
}

// scalarText returns the JSON value data[off:end] as text: a string
// unquoted, a number or boolean as written.
func scalarText(data []byte, off, end int, backend string, p *tpart) ([]byte, error) {
	v := data[off:end]
	switch v[0] {
	case '"':
		var s string
		if err := json.Unmarshal(v, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	case '{', '[', 'n':
		return nil, fmt.Errorf("%w: backend %s's field %s is %s, not a string, number or boolean", errNeeded, backend, bytes.Join(p.field, []byte(".")), kindName(v[0]))
	}
	return v, nil
}

func (b *backend) value(req *Request, p tpart) string {
	if p.fromPath {
		return req.Params[p.name]
	}
	return req.Query.Get(p.name)
}

// appendPathSegment appends v path-escaped, slashes included; "." and ".."
// are escaped too, so that a value cannot climb the upstream's path.
func appendPathSegment(dst []byte, v string) []byte {
	switch v {
	case ".":
		return append(dst, "%2E"...)
	case "..":
		return append(dst, "%2E%2E"...)
	}
	return append(dst, url.PathEscape(v)...)
}

// appendPathSegments appends a catch-all value, keeping its slashes and
// escaping each segment.
func appendPathSegments(dst []byte, v string) []byte {
	for i := 0; ; i++ {
		seg, rest, more := strings.Cut(v, "/")
		if i > 0 || seg != "" {
			dst = appendPathSegment(dst, seg)
		}
		if !more {
			return dst
		}
		dst = append(dst, '/')
		v = rest
	}
}
