package aggregate

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
)

// hdrTemplate is one header of Backend.SetHeaders.
type hdrTemplate struct {
	name  string  // canonical
	parts []tpart // the value's template
}

// tpart is one piece of a URL template: literal text or a placeholder.
type tpart struct {
	lit      string
	name     string   // placeholder name; "" for a literal
	fromPath bool     // a path parameter, else a client query parameter
	catchAll bool     // a *name path parameter: slashes are kept
	inQuery  bool     // after the '?': query-escaped
	fromDep  bool     // a field of an earlier backend's answer
	dep      int      // with fromDep: that backend's index
	field    [][]byte // with fromDep: the path to the field in its answer
}

// parseRoute checks a gin route and returns its parameter names, or a
// problem. A parameter starts at ':' or '*' and runs to the end of its
// segment; a catch-all ('*') must be the last segment, after a '/'.
func parseRoute(path string) (params []string, catchAll, problem string) {
	if path == "" {
		return nil, "", "a path is required"
	}
	if path[0] != '/' {
		return nil, "", fmt.Sprintf("%q does not start with /", path)
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if c != ':' && c != '*' {
			continue
		}
		end := i + 1
		for end < len(path) && path[end] != '/' {
			end++
		}
		name := path[i+1 : end]
		switch {
		case name == "":
			return nil, "", fmt.Sprintf("%q: parameter without a name at byte %d", path, i)
		case strings.ContainsAny(name, ":*"):
			return nil, "", fmt.Sprintf("%q: one parameter per segment", path)
		case !validParamName(name):
			return nil, "", fmt.Sprintf("%q: parameter name %q may use only letters, digits, '_' and '-'", path, name)
		case slices.Contains(params, name):
			return nil, "", fmt.Sprintf("%q: parameter %q appears twice", path, name)
		case c == '*' && (end != len(path) || path[i-1] != '/'):
			return nil, "", fmt.Sprintf("%q: catch-all *%s must be the whole last segment", path, name)
		}
		if c == '*' {
			catchAll = name
		}
		params = append(params, name)
		i = end - 1
	}
	return params, catchAll, ""
}

func validParamName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return s != ""
}

// placeholders resolves the placeholders of one backend's templates and
// records which query parameters and earlier backends they use.
type placeholders struct {
	params    []string  // path parameters
	catchAll  string    // the catch-all path parameter; "" without
	query     []string  // Backend.Query
	earlier   []Backend // the backends listed before this one
	usedQuery map[string]bool
	usedDeps  map[int]bool
}

func newPlaceholders(params []string, catchAll string, query []string, earlier []Backend) *placeholders {
	return &placeholders{params: params, catchAll: catchAll, query: query, earlier: earlier,
		usedQuery: map[string]bool{}, usedDeps: map[int]bool{}}
}

// deps returns the indexes of the earlier backends used, ascending.
func (ns *placeholders) deps() []int {
	return slices.Sorted(maps.Keys(ns.usedDeps))
}

// resolve makes the placeholder {name}, or says what is wrong with it. A
// dotted name is a field of an earlier backend's answer: the longest earlier
// backend name before a dot, then the path in its answer.
func (ns *placeholders) resolve(name string) (tpart, string) {
	p := tpart{name: name}
	if strings.Contains(name, ".") {
		best := -1
		for i, b := range ns.earlier {
			if b.Name != "" && strings.HasPrefix(name, b.Name+".") && (best < 0 || len(b.Name) > len(ns.earlier[best].Name)) {
				best = i
			}
		}
		if best < 0 {
			return p, fmt.Sprintf("placeholder {%s}: no backend listed before this one is called %q", name, name[:strings.IndexByte(name, '.')])
		}
		for seg := range strings.SplitSeq(name[len(ns.earlier[best].Name)+1:], ".") {
			if seg == "" {
				return p, fmt.Sprintf("placeholder {%s}: empty field name", name)
			}
			p.field = append(p.field, []byte(seg))
		}
		p.fromDep, p.dep = true, best
		ns.usedDeps[best] = true
		return p, ""
	}
	switch {
	case !validParamName(name):
		return p, fmt.Sprintf("bad placeholder {%s}", name)
	case slices.Contains(ns.params, name):
		p.fromPath = true
		p.catchAll = name == ns.catchAll
	case slices.Contains(ns.query, name):
		ns.usedQuery[name] = true
	default:
		return p, fmt.Sprintf("unknown placeholder {%s}: not a path parameter, listed in query, nor a field of an earlier backend", name)
	}
	return p, ""
}

// parse splits a template into literals and placeholders. For a URL (url
// set) placeholders must be in the path or query, and those after the '?'
// are marked inQuery.
func (ns *placeholders) parse(tmpl string, url bool) (parts []tpart, problems []string) {
	inQuery := false
	authorityEnd := 0 // the index where the path starts, once known
	if url {
		authorityEnd = -1
		if k := strings.Index(tmpl, "://"); k >= 0 {
			rest := tmpl[k+3:]
			if e := strings.IndexAny(rest, "/?#"); e >= 0 {
				authorityEnd = k + 3 + e
			} else {
				authorityEnd = len(tmpl)
			}
		}
	}
	lit := 0
	for i := 0; i < len(tmpl); i++ {
		switch tmpl[i] {
		case '?':
			inQuery = url
		case '}':
			problems = append(problems, fmt.Sprintf("%q: '}' without '{' at byte %d", tmpl, i))
		case '{':
			end := strings.IndexByte(tmpl[i:], '}')
			if end < 0 {
				problems = append(problems, fmt.Sprintf("%q: '{' without '}' at byte %d", tmpl, i))
				i = len(tmpl)
				continue
			}
			name := tmpl[i+1 : i+end]
			p, problem := ns.resolve(name)
			p.inQuery = inQuery
			switch {
			case problem != "":
				problems = append(problems, problem)
			case authorityEnd < 0 || i < authorityEnd:
				problems = append(problems, fmt.Sprintf("placeholder {%s} outside the path and query", name))
			}
			if lit < i {
				parts = append(parts, tpart{lit: tmpl[lit:i]})
			}
			parts = append(parts, p)
			i += end
			lit = i + 1
		}
	}
	if lit < len(tmpl) {
		parts = append(parts, tpart{lit: tmpl[lit:]})
	}
	return parts, problems
}

// parseTemplate splits a backend URL template into literals and
// placeholders, and reports every problem.
func parseTemplate(tmpl string, ns *placeholders) (parts []tpart, hasQuery bool, problems []string) {
	if tmpl == "" {
		return nil, false, []string{"a URL is required"}
	}
	parts, problems = ns.parse(tmpl, true)
	// Check the URL with every placeholder replaced by a harmless value.
	var probe strings.Builder
	for _, p := range parts {
		if p.name == "" {
			probe.WriteString(p.lit)
		} else {
			probe.WriteString("x")
		}
		hasQuery = hasQuery || p.inQuery || strings.Contains(p.lit, "?")
	}
	u, err := url.Parse(probe.String())
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		problems = append(problems, fmt.Sprintf("%q: %v", tmpl, err))
	case u.Scheme != "http" && u.Scheme != "https":
		problems = append(problems, fmt.Sprintf("%q: want an absolute http or https URL", tmpl))
	case u.Host == "":
		problems = append(problems, fmt.Sprintf("%q: no host", tmpl))
	case u.Fragment != "" || strings.Contains(tmpl, "#"):
		problems = append(problems, fmt.Sprintf("%q: a fragment is never sent", tmpl))
	case u.User != nil:
		problems = append(problems, fmt.Sprintf("%q: user information in the URL (forward an Authorization header instead)", tmpl))
	}
	return parts, hasQuery, problems
}
