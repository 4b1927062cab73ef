package aggregate

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Duration is a time.Duration that reads "150ms" or "2s" from YAML and JSON
// and writes the same form. A bare 0 is accepted; other numbers without a unit
// are rejected, since their unit would be a guess.
type Duration time.Duration

// String returns the duration in time.Duration's form, such as "1.5s".
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes the duration as time.Duration.String does. YAML and
// JSON encoders use it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a duration such as "150ms" (time.ParseDuration). YAML
// decoders use it for every scalar, quoted or not.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := time.ParseDuration(string(bytes.TrimSpace(text)))
	if err != nil {
		return fmt.Errorf("duration %q: want a number with a unit such as \"150ms\" or \"2s\"", text)
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON reads a JSON string such as "150ms", or the number 0.
func (d *Duration) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if bytes.Equal(data, []byte("null")) {
		return nil // like encoding/json for other types: null leaves the value alone
	}
	if len(data) > 0 && data[0] == '"' {
		s, err := strconv.Unquote(string(data))
		if err != nil {
			return fmt.Errorf("duration %s: %w", data, err)
		}
		data = []byte(s)
	}
	return d.UnmarshalText(data)
}

// Endpoint is one configured route: a client request to Path fans out to
// every backend, and the answers are merged into one JSON object. Endpoint is
// plain data; Validate checks it and New compiles it.
type Endpoint struct {
	// Path is a gin-style route with parameters, such as "/users/:id" or
	// "/files/*path"; required, starts with "/".
	Path string `yaml:"path" json:"path"`
	// Method is the client's HTTP method; "" means GET. Backends are always
	// called with GET, since no request body is forwarded.
	Method string `yaml:"method" json:"method,omitempty"`
	// Timeout is the whole request budget; 0 means 1s.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Margin is the part of the budget kept for merging the answers and
	// writing the response: upstream calls run until the deadline less the
	// margin. 0 means 5ms, or a tenth of the timeout when that is shorter.
	// The merge and the write of three backends take well under a
	// millisecond; the rest covers a timer that fires late. The aggregator
	// also measures how long the merge takes after a cut, and widens the
	// margin by that (a maximum that decays), by at most the margin again:
	// an endpoint whose merge is slow (large or many bodies) is cut
	// earlier, and its answer still leaves by the deadline.
	Margin Duration `yaml:"margin" json:"margin,omitempty"`
	// Backends are the upstream calls, at least one, with unique names. Their
	// order decides the merge: on a key collision the first backend wins.
	Backends []Backend `yaml:"backends" json:"backends"`
	// ReportKey, when set, adds the per-backend report (a JSON array of
	// BackendReport) to the body under this key. The report always wins a
	// collision with a backend's field of the same name.
	ReportKey string `yaml:"report_key" json:"report_key,omitempty"`
	// Cache is the optional response cache; its zero value means no cache.
	Cache Cache `yaml:"cache" json:"cache,omitzero"`
	// NoCoalesce turns off request coalescing. By default identical
	// concurrent requests (same path parameters, same values of the query
	// parameters and headers the backends receive) share one fan-out, and
	// only the first one's RequestID reaches the upstreams.
	NoCoalesce bool `yaml:"no_coalesce" json:"no_coalesce,omitempty"`
}

// Cache configures an endpoint's response cache. Only complete responses
// (every backend ok) are stored.
type Cache struct {
	// TTL is how long a response is served from the cache; 0 means no cache.
	TTL Duration `yaml:"ttl" json:"ttl,omitempty"`
	// Size is the most entries kept (least recently used go first); 0 means 1024.
	Size int `yaml:"size" json:"size,omitempty"`
}

// Backend is one upstream call of an endpoint and how its answer is shaped.
// Shaping runs in this order: Target, then Collection (for an array), then
// Allow, Deny, Mapping, and finally Group. A backend without Target, Allow,
// Deny, Mapping and Collection is spliced into the response without being
// decoded.
type Backend struct {
	// Name identifies the backend in reports and metrics; required, unique
	// within the endpoint.
	Name string `yaml:"name" json:"name"`
	// URL is an absolute http(s) URL template such as
	// "http://127.0.0.1:9001/users/{id}?q={q}". {name} is filled from the
	// path parameter :name (or *name), else from the client's query parameter
	// name, which must then be listed in Query. {other.path.to.field} is
	// filled from the answer of backend other, which must be listed before
	// this one: this backend then starts once other has answered, and is
	// reported as skipped if other failed or its answer lacks the field (a
	// string, number or boolean). Values are path-escaped in the path (a
	// catch-all keeps its slashes) and query-escaped in the query.
	// Placeholders may not appear in the scheme or host; unknown ones are
	// configuration errors.
	URL string `yaml:"url" json:"url"`
	// Query lists the client query parameters this backend may receive. Those
	// not used as placeholders in URL are appended to its query string.
	Query []string `yaml:"query" json:"query,omitempty"`
	// Timeout bounds this call; 0 means the endpoint's timeout, and it may not
	// exceed it.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Group puts the backend's (shaped) response under this key instead of
	// merging its fields. With Group, any JSON value is accepted.
	Group string `yaml:"group" json:"group,omitempty"`
	// Target takes this sub-object first, a dotted path such as "data.user".
	// An answer without it is invalid.
	Target string `yaml:"target" json:"target,omitempty"`
	// Allow keeps only these top-level fields (after Target).
	Allow []string `yaml:"allow" json:"allow,omitempty"`
	// Deny drops these top-level fields.
	Deny []string `yaml:"deny" json:"deny,omitempty"`
	// Mapping renames top-level fields, old name to new. A renamed field
	// replaces a field that already had the new name.
	Mapping map[string]string `yaml:"mapping" json:"mapping,omitempty"`
	// Collection says the response is a JSON array, wrapped as
	// {collection: [...]}. Without it an array is invalid unless Group is set.
	Collection string `yaml:"collection" json:"collection,omitempty"`
	// Required makes the endpoint fail (502, or 504 when it timed out)
	// without this backend.
	Required bool `yaml:"required" json:"required,omitempty"`
	// MaxConcurrent bounds in-flight calls to this backend; a call waits for
	// a slot until the deadline. 0 means unlimited.
	MaxConcurrent int `yaml:"max_concurrent" json:"max_concurrent,omitempty"`
	// Rate is calls per second; 0 means unlimited. A call waits for its turn
	// (up to the deadline) and is never rejected early.
	Rate float64 `yaml:"rate" json:"rate,omitempty"`
	// Burst is the rate limiter's bucket size; 0 means 1.
	Burst int `yaml:"burst" json:"burst,omitempty"`
	// Headers lists the client request headers forwarded to this backend,
	// such as "Authorization" or "Accept-Language". Hop-by-hop headers and
	// Host cannot be forwarded; X-Request-ID is always sent (Request.RequestID).
	Headers []string `yaml:"headers" json:"headers,omitempty"`
	// SetHeaders sends these headers upstream, each value a template with
	// the placeholders of URL, such as {"X-Team": "{profile.team_id}"}.
	SetHeaders map[string]string `yaml:"set_headers" json:"set_headers,omitempty"`
	// MaxBody caps the response body in bytes; 0 means 1 MiB. A longer body
	// makes the backend invalid.
	MaxBody int64 `yaml:"max_body" json:"max_body,omitempty"`
	// CircuitBreaker stops calling a backend that keeps failing; its zero
	// value means none.
	CircuitBreaker CircuitBreaker `yaml:"circuit_breaker" json:"circuit_breaker,omitzero"`
	// Hedge sends a second call when the first is slow; its zero value
	// means none. Backend calls are GETs, which may be sent twice.
	Hedge Hedge `yaml:"hedge" json:"hedge,omitzero"`
}

// CircuitBreaker configures a backend's circuit breaker. Closed, it lets
// every call through; after Failures failed calls in a row (an error, an
// invalid answer or a timeout; not a call cancelled because the client
// left) it opens: the backend's part is answered at once with the outcome
// "circuit-open", without calling it. After OpenFor it is half-open: Probes
// calls go through, and the others are answered "circuit-open"; as many
// successes close it, one failure opens it again. Each endpoint keeps its own
// breakers, and a reload starts them closed.
type CircuitBreaker struct {
	// Failures is how many failed calls in a row open the circuit; 0 means no breaker.
	Failures int `yaml:"failures" json:"failures,omitempty"`
	// OpenFor is how long the circuit stays open before probes; 0 means 10s.
	OpenFor Duration `yaml:"open_for" json:"open_for,omitempty"`
	// Probes is how many calls a half-open circuit lets through; 0 means 1.
	Probes int `yaml:"probes" json:"probes,omitempty"`
}

// Hedge configures hedged calls: when the first call has not answered after
// a delay, a second, identical call is sent; the first good answer wins.
// The other call is left to read its answer (at most MaxBody) and drop it,
// so that its connection is kept, until the endpoint's deadline at the
// latest; with MaxConcurrent it is cancelled. A first call that fails
// before the delay is not retried. A budget caps the second calls.
type Hedge struct {
	// Delay is how long the first call has before the second is sent, or,
	// with Percentile, until enough latencies are known; 0 means no hedging
	// without Percentile.
	Delay Duration `yaml:"delay" json:"delay,omitempty"`
	// Percentile, above 0 and below 100, waits instead for this percentile
	// of the backend's last 256 call latencies (once 20 are known); 0 means
	// Delay alone.
	Percentile float64 `yaml:"percentile" json:"percentile,omitempty"`
	// Budget caps the second calls at this percentage of the backend's
	// calls (a token bucket: a burst of up to 10 is allowed); 0 means 10.
	Budget float64 `yaml:"budget" json:"budget,omitempty"`
}

// Defaults for zero-valued configuration fields.
const (
	DefaultTimeout   = time.Second          // Endpoint.Timeout
	DefaultMargin    = 5 * time.Millisecond // Endpoint.Margin, at most a tenth of the timeout
	DefaultCacheSize = 1024                 // Cache.Size
	DefaultMaxBody   = 1 << 20              // Backend.MaxBody
	DefaultOpenFor   = 10 * time.Second     // CircuitBreaker.OpenFor
	DefaultBudget    = 10.0                 // Hedge.Budget, in percent
)

// ConfigError is one problem in a configuration, with its place.
type ConfigError struct {
	Endpoint string // the endpoint's path, or "#3" (its position from 1) when it has none; "" outside endpoints
	Backend  string // the backend's name, or "#2" (its position from 1) when it has none; "" for the endpoint itself
	Field    string // the field's config name: "timeout", "url", "backends", "cache.ttl", ...
	Problem  string // what is wrong, in lower case

	// EndpointIndex is the endpoint's position in the list given to
	// Validate, from 0; -1 for a problem outside endpoints.
	EndpointIndex int
	// BackendIndex is the backend's position in its endpoint, from 0; -1 for
	// a problem of the endpoint itself.
	BackendIndex int
	// Related names the endpoint's field that Field was compared with, such
	// as "timeout" for a backend timeout longer than the endpoint's; "" when
	// none. A loader that could not read that field can drop the problem.
	Related string
}

// Error returns the place and the problem, such as
// "endpoint /users/:id: backend profile: timeout: 2s exceeds the endpoint's 1s".
func (e *ConfigError) Error() string {
	var b []byte
	if e.Endpoint != "" {
		b = append(append(append(b, "endpoint "...), e.Endpoint...), ": "...)
	}
	if e.Backend != "" {
		b = append(append(append(b, "backend "...), e.Backend...), ": "...)
	}
	if e.Field != "" {
		b = append(append(b, e.Field...), ": "...)
	}
	return string(append(b, e.Problem...))
}

// Validate returns every problem in the endpoints as an errors.Join of
// *ConfigError, or nil. It checks each endpoint on its own; whether routes
// conflict is for the router that registers them to say.
func Validate(eps []Endpoint) error {
	var errs []error
	if len(eps) == 0 {
		errs = append(errs, &ConfigError{Field: "endpoints", Problem: "no endpoints configured", EndpointIndex: -1, BackendIndex: -1})
	}
	for i := range eps {
		_, e := compileEndpoint(&eps[i], i)
		errs = append(errs, e...)
	}
	return errors.Join(errs...)
}
