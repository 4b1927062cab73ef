package aggregate

import (
	"fmt"
	"hash/maphash"
	"maps"
	"math"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sony/gobreaker/v2"
	"golang.org/x/time/rate"
)

// compiled is a validated Endpoint, ready to serve.
type compiled struct {
	method    string
	path      string
	timeout   time.Duration
	margin    time.Duration // upstream calls end this long before the deadline
	reportKey []byte        // the key JSON-encoded with quotes; nil without a report
	reportRaw []byte        // ReportKey as configured
	cacheTTL  time.Duration
	cacheSize int
	coalesce  bool
	backends  []*backend
	// dependants[i] lists the backends whose templates need backend i's
	// answer; nil when no backend needs another.
	dependants [][]int
	params     []string // path parameter names, in path order
	keyQuery   []string // client query names any backend uses, sorted
	keyHeader  []string // forwarded header names (canonical), sorted
	seed       maphash.Seed
	// The causes of a fan-out's deadline, for reports.
	deadlineCause       error // the endpoint's timeout
	callerDeadlineCause error // an earlier deadline of the caller's context
}

// backend is a compiled Backend. The limiter and semaphore are added by New.
type backend struct {
	name     string
	nameJSON []byte
	required bool
	timeout  time.Duration // 0: the endpoint's deadline alone
	cause    error         // the cause of this backend's own timeout
	maxBody  int64
	headers  []string // canonical names

	parts      []tpart  // the URL template; a single literal when static
	hasQuery   bool     // the template already has a '?'
	extraQuery []string // Query names not used in the template, appended

	group      cfgName // Group; zero without
	target     [][]byte
	collection cfgName // Collection; zero without
	allow      map[string]struct{}
	deny       map[string]struct{}
	mapping    map[string]int32 // old name -> index in mapTo
	mapTo      []cfgName        // the new names
	shaped     bool             // any rule besides Group: the body's members are examined

	deps       []int         // the earlier backends whose answers the templates need, ascending
	setHeaders []hdrTemplate // Backend.SetHeaders, by name

	maxConcurrent int
	rate          float64
	burst         int
	sem           chan struct{} // a token per call in flight; nil when unlimited
	lim           *rate.Limiter // nil when unlimited

	breakerCfg CircuitBreaker                             // with defaults; Failures 0 means none
	breaker    *gobreaker.TwoStepCircuitBreaker[struct{}] // made by New; nil without
	hedge      *hedger                                    // nil without hedging
}

// cfgName is a field name from the configuration, in both forms.
type cfgName struct {
	key  []byte // JSON-encoded, with quotes
	name []byte // as configured
}

// hopHeaders cannot be forwarded: they describe one connection, or the
// transport sets them itself.
func hopHeader(h string) bool {
	switch h {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Proxy-Connection",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Host", "Content-Length", "X-Request-Id":
		return true
	}
	return false
}

// compileEndpoint checks ep and compiles it. idx is its position, used to
// name it in errors when it has no path.
func compileEndpoint(ep *Endpoint, idx int) (*compiled, []error) {
	place := ep.Path
	if place == "" {
		place = "#" + strconv.Itoa(idx+1)
	}
	var errs []error
	add := func(backend, field, format string, args ...any) *ConfigError {
		e := &ConfigError{Endpoint: place, Backend: backend, Field: field, Problem: fmt.Sprintf(format, args...),
			EndpointIndex: idx, BackendIndex: -1}
		errs = append(errs, e)
		return e
	}
	c := &compiled{
		method:    ep.Method,
		path:      ep.Path,
		timeout:   time.Duration(ep.Timeout),
		cacheTTL:  time.Duration(ep.Cache.TTL),
		cacheSize: ep.Cache.Size,
		coalesce:  !ep.NoCoalesce,
		reportRaw: []byte(ep.ReportKey),
		seed:      maphash.MakeSeed(),
	}
	if c.method == "" {
		c.method = http.MethodGet
	}
	defer func() {
		c.deadlineCause = fmt.Errorf("endpoint %s: deadline of %s reached, less the margin to answer", place, Duration(c.timeout))
		c.callerDeadlineCause = fmt.Errorf("endpoint %s: the caller's deadline reached, less the margin to answer", place)
	}()
	switch c.method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
	default:
		add("", "method", "%q is not an HTTP method (use upper case, such as GET)", ep.Method)
	}
	params, catchAll, perr := parseRoute(ep.Path)
	if perr != "" {
		add("", "path", "%s", perr)
	}
	c.params = params
	switch {
	case c.timeout < 0:
		add("", "timeout", "%s is negative", ep.Timeout)
		c.timeout = DefaultTimeout // so that the backends are not all reported too
	case c.timeout == 0:
		c.timeout = DefaultTimeout
	}
	switch c.margin = time.Duration(ep.Margin); {
	case c.margin < 0:
		add("", "margin", "%s is negative", ep.Margin)
	case c.margin >= c.timeout:
		add("", "margin", "%s leaves nothing of the %s timeout", ep.Margin, Duration(c.timeout)).Related = "timeout"
	case c.margin == 0:
		c.margin = min(DefaultMargin, c.timeout/10)
	}
	switch {
	case c.cacheTTL < 0:
		add("", "cache.ttl", "%s is negative", ep.Cache.TTL)
	case c.cacheSize < 0:
		add("", "cache.size", "%d is negative", c.cacheSize)
	case c.cacheSize == 0:
		c.cacheSize = DefaultCacheSize
	}
	if ep.ReportKey != "" {
		c.reportKey = appendJSONString(nil, ep.ReportKey)
	}
	if len(ep.Backends) == 0 {
		add("", "backends", "at least one backend is required")
	}
	names := map[string]int{}
	groups := map[string]string{}
	queries, headers := map[string]bool{}, map[string]bool{}
	for i := range ep.Backends {
		bc := &ep.Backends[i]
		bplace := bc.Name
		if bplace == "" {
			bplace = "#" + strconv.Itoa(i+1)
			add(bplace, "name", "a name is required").BackendIndex = i
		} else if j, dup := names[bc.Name]; dup {
			// Placed by position: the name alone would point at the first one.
			bplace = "#" + strconv.Itoa(i+1)
			add(bplace, "name", "duplicate name %q (backend #%d has it)", bc.Name, j+1).BackendIndex = i
		} else {
			names[bc.Name] = i
		}
		b, berrs := compileBackend(bc, c, params, catchAll, ep.Backends[:i])
		for _, e := range berrs {
			e.Endpoint, e.Backend, e.EndpointIndex, e.BackendIndex = place, bplace, idx, i
			errs = append(errs, e)
		}
		if bc.Group != "" {
			if other, dup := groups[bc.Group]; dup {
				add(bplace, "group", "%q is also the group of backend %s (the first would hide the second)", bc.Group, other).BackendIndex = i
			}
			groups[bc.Group] = bplace
			if bc.Group == ep.ReportKey {
				add(bplace, "group", "%q is also the endpoint's report_key", bc.Group).BackendIndex = i
			}
		}
		for _, q := range bc.Query {
			queries[q] = true
		}
		for _, h := range b.headers {
			headers[h] = true
		}
		c.backends = append(c.backends, b)
		for _, d := range b.deps {
			if c.dependants == nil {
				c.dependants = make([][]int, len(ep.Backends))
			}
			c.dependants[d] = append(c.dependants[d], i)
		}
	}
	for q := range queries {
		c.keyQuery = append(c.keyQuery, q)
	}
	for h := range headers {
		c.keyHeader = append(c.keyHeader, h)
	}
	slices.Sort(c.keyQuery)
	slices.Sort(c.keyHeader)
	return c, errs
}

// compileBackend checks one backend (leaving the place of its errors to the
// caller) and compiles it.
func compileBackend(bc *Backend, c *compiled, params []string, catchAll string, earlier []Backend) (*backend, []*ConfigError) {
	var errs []*ConfigError
	add := func(field, format string, args ...any) *ConfigError {
		e := &ConfigError{Field: field, Problem: fmt.Sprintf(format, args...)}
		errs = append(errs, e)
		return e
	}
	b := &backend{
		name:          bc.Name,
		nameJSON:      appendJSONString(nil, bc.Name),
		required:      bc.Required,
		timeout:       time.Duration(bc.Timeout),
		maxBody:       bc.MaxBody,
		maxConcurrent: bc.MaxConcurrent,
		rate:          bc.Rate,
		burst:         bc.Burst,
	}
	switch {
	case b.timeout < 0:
		add("timeout", "%s is negative", bc.Timeout)
	case b.timeout > c.timeout:
		add("timeout", "%s exceeds the endpoint's %s", bc.Timeout, Duration(c.timeout)).Related = "timeout"
	case b.timeout == c.timeout:
		b.timeout = 0 // the endpoint's deadline is enough
	}
	if b.timeout > 0 {
		b.cause = fmt.Errorf("backend %s: no answer within its timeout of %s", bc.Name, bc.Timeout)
	}
	switch {
	case b.maxBody < 0:
		add("max_body", "%d is negative", b.maxBody)
	case b.maxBody == 0:
		b.maxBody = DefaultMaxBody
	}
	if b.maxConcurrent < 0 {
		add("max_concurrent", "%d is negative", b.maxConcurrent)
	}
	if b.rate < 0 || math.IsNaN(b.rate) || math.IsInf(b.rate, 0) {
		add("rate", "%v is not a rate (calls per second, 0 for unlimited)", b.rate)
	}
	switch {
	case b.burst < 0:
		add("burst", "%d is negative", b.burst)
	case b.burst == 0:
		b.burst = 1
	}

	seenQuery := map[string]bool{}
	for _, q := range bc.Query {
		switch {
		case q == "":
			add("query", "empty parameter name")
		case seenQuery[q]:
			add("query", "%q is listed twice", q)
		case slices.Contains(params, q):
			add("query", "%q is also a path parameter, which would shadow it in the url", q)
		}
		seenQuery[q] = true
	}
	names := newPlaceholders(params, catchAll, bc.Query, earlier)
	parts, hasQuery, uerr := parseTemplate(bc.URL, names)
	for _, e := range uerr {
		add("url", "%s", e)
	}
	b.parts, b.hasQuery = parts, hasQuery
	for _, h := range slices.Sorted(maps.Keys(bc.SetHeaders)) {
		ch := textproto.CanonicalMIMEHeaderKey(h)
		switch {
		case !validHeaderName(h):
			add("set_headers", "%q is not a header name", h)
			continue
		case hopHeader(ch):
			add("set_headers", "%s cannot be set", ch)
			continue
		case slices.ContainsFunc(bc.Headers, func(f string) bool { return textproto.CanonicalMIMEHeaderKey(f) == ch }):
			add("set_headers", "%s is also forwarded (headers)", ch)
			continue
		}
		hparts, herrs := names.parse(bc.SetHeaders[h], false)
		for _, e := range herrs {
			add("set_headers", "%s: %s", ch, e)
		}
		b.setHeaders = append(b.setHeaders, hdrTemplate{name: ch, parts: hparts})
	}
	b.deps = names.deps()
	used := names.usedQuery
	compileResilience(bc, b, c, add)
	for _, q := range bc.Query {
		if q != "" && !used[q] && !slices.Contains(b.extraQuery, q) {
			b.extraQuery = append(b.extraQuery, q)
		}
	}

	for _, h := range bc.Headers {
		ch := textproto.CanonicalMIMEHeaderKey(h)
		switch {
		case !validHeaderName(h):
			add("headers", "%q is not a header name", h)
		case hopHeader(ch):
			add("headers", "%s cannot be forwarded", ch)
		case slices.Contains(b.headers, ch):
			add("headers", "%s is listed twice", ch)
		default:
			b.headers = append(b.headers, ch)
		}
	}

	if bc.Group != "" {
		b.group = cfgName{key: appendJSONString(nil, bc.Group), name: []byte(bc.Group)}
	}
	if bc.Target != "" {
		for seg := range strings.SplitSeq(bc.Target, ".") {
			if seg == "" {
				add("target", "%q has an empty segment", bc.Target)
				break
			}
			b.target = append(b.target, []byte(seg))
		}
	}
	if bc.Collection != "" {
		b.collection = cfgName{key: appendJSONString(nil, bc.Collection), name: []byte(bc.Collection)}
	}
	b.allow = fieldSet(bc.Allow, "allow", add)
	b.deny = fieldSet(bc.Deny, "deny", add)
	for _, f := range slices.Sorted(maps.Keys(b.allow)) {
		if _, both := b.deny[f]; both {
			add("deny", "%q is also allowed", f)
		}
	}
	if len(bc.Mapping) > 0 {
		b.mapping = make(map[string]int32, len(bc.Mapping))
		to := map[string]string{}
		olds := slices.Sorted(maps.Keys(bc.Mapping))
		for _, old := range olds {
			nw := bc.Mapping[old]
			switch {
			case old == "" || nw == "":
				add("mapping", "%q: %q: empty field name", old, nw)
				continue
			case to[nw] != "":
				add("mapping", "%q and %q are both renamed to %q", to[nw], old, nw)
				continue
			}
			to[nw] = old
			b.mapping[old] = int32(len(b.mapTo))
			b.mapTo = append(b.mapTo, cfgName{key: appendJSONString(nil, nw), name: []byte(nw)})
		}
	}
	b.shaped = len(b.target) > 0 || b.collection.key != nil || b.allow != nil || b.deny != nil || b.mapping != nil
	return b, errs
}

// fieldSet makes a set of field names, reporting empty and repeated ones.
func fieldSet(fields []string, field string, add func(field, format string, args ...any) *ConfigError) map[string]struct{} {
	if len(fields) == 0 {
		return nil
	}
	set := make(map[string]struct{}, len(fields))
	for _, f := range fields {
		if f == "" {
			add(field, "empty field name")
			continue
		}
		if _, dup := set[f]; dup {
			add(field, "%q is listed twice", f)
		}
		set[f] = struct{}{}
	}
	return set
}

// validHeaderName reports whether h is an HTTP token.
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return true
}
