package main

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"

	"github.com/trawl/trawl/aggregate"
)

// validate checks a decoded cfg: the server's values, the endpoints through
// aggregate.Validate, what only the service knows (reserved paths, names that
// must fit in a header) and, once, whether gin can route every endpoint.
// Every problem is placed at the node of d's tree that it is about. A check
// that needs a field that could not be read is skipped: its problem is
// already reported, and a second one about its zero value would be false.
func validate(cfg *fileConfig, d *decoder) []problem {
	var problems []problem
	add := func(n *yaml.Node, text string) {
		p := problem{text: text}
		if n != nil {
			p.line, p.col = n.Line, n.Column
		}
		problems = append(problems, p)
	}

	s := &cfg.Server
	if s.Addr != "" {
		if _, _, err := net.SplitHostPort(s.Addr); err != nil {
			add(d.at(s, "addr"), "server: addr: "+err.Error())
		}
	}
	for _, f := range []struct {
		key string
		v   aggregate.Duration
	}{
		{"read_header_timeout", s.ReadHeaderTimeout}, {"read_timeout", s.ReadTimeout}, {"write_timeout", s.WriteTimeout},
		{"idle_timeout", s.IdleTimeout}, {"shutdown_timeout", s.ShutdownTimeout},
	} {
		if f.v < 0 {
			add(d.at(s, f.key), "server: "+f.key+": "+f.v.String()+" is negative")
		}
	}
	if s.MaxHeaderBytes < 0 {
		add(d.at(s, "max_header_bytes"), "server: max_header_bytes: "+strconv.Itoa(s.MaxHeaderBytes)+" is negative")
	}
	if s.MaxBodyBytes < 0 {
		add(d.at(s, "max_body_bytes"), "server: max_body_bytes: "+strconv.FormatInt(s.MaxBodyBytes, 10)+" is negative")
	}
	problems = append(problems, validateTracing(&cfg.Tracing, d)...)

	longest := -1 // the endpoint with the longest timeout that could be read
	for i := range cfg.Endpoints {
		ep := &cfg.Endpoints[i]
		name := endpointName(ep, i)
		if !d.failed[fieldKey{ep, "timeout"}] && (longest < 0 || endpointTimeout(ep) > endpointTimeout(&cfg.Endpoints[longest])) {
			longest = i
		}
		if ep.Path == healthPath || ep.Path == metricsPath {
			add(d.at(ep, "path"), "endpoint "+name+": path: "+ep.Path+" is served by the aggregator itself")
		}
		for j := range ep.Backends {
			b := &ep.Backends[j]
			if b.Name != "" && !headerToken.MatchString(b.Name) {
				add(d.at(b, "name"), fmt.Sprintf("endpoint %s: backend %s: name: use letters, digits, '.', '_' and '-' only (names appear in the X-Aggregate-Backends header)", name, b.Name))
			}
		}
	}
	if write := time.Duration(s.withDefaults().WriteTimeout); longest >= 0 && !d.failed[fieldKey{s, "write_timeout"}] {
		if ep := &cfg.Endpoints[longest]; write <= endpointTimeout(ep) {
			n := d.at(s, "write_timeout")
			if n == nil {
				n = d.at(ep, "timeout")
			}
			add(n, fmt.Sprintf("server: write_timeout: %s leaves no time to answer endpoint %s (timeout %s)",
				write, endpointName(ep, longest), endpointTimeout(ep)))
		}
	}

	unroutable := map[int]bool{} // endpoints whose path or method is wrong: gin is not asked about them
	for _, err := range flatten(aggregate.Validate(cfg.Endpoints)) {
		ce, ok := errors.AsType[*aggregate.ConfigError](err)
		if !ok {
			add(nil, err.Error())
			continue
		}
		var owner any = cfg
		if i := ce.EndpointIndex; i >= 0 && i < len(cfg.Endpoints) {
			ep := &cfg.Endpoints[i]
			if ce.BackendIndex < 0 && (ce.Field == "path" || ce.Field == "method") {
				unroutable[i] = true
			}
			if ce.Related != "" && d.failed[fieldKey{ep, ce.Related}] {
				continue // compared with a value that could not be read
			}
			owner = ep
			if j := ce.BackendIndex; j >= 0 && j < len(ep.Backends) {
				owner = &ep.Backends[j]
			}
		}
		if o, name := nested(owner, ce.Field); d.failed[fieldKey{o, name}] {
			continue // the value could not be read: that is the problem, already reported
		}
		add(d.at(owner, ce.Field), err.Error())
	}
	problems = append(problems, routeProblems(cfg.Endpoints, unroutable, d)...)
	return problems
}

// nested returns the struct that holds the field named by a dotted name
// ("cache.ttl": owner's Cache) and the field's last name.
func nested(owner any, name string) (any, string) {
	for {
		first, rest, more := strings.Cut(name, ".")
		if !more {
			return owner, name
		}
		v := reflect.ValueOf(owner).Elem()
		idx, ok := yamlFields(v.Type())[first]
		if !ok || v.Field(idx).Kind() != reflect.Struct {
			return owner, name
		}
		owner, name = v.Field(idx).Addr().Interface(), rest
	}
}

// routeProblems registers the endpoints (but those in skip) in a scratch gin
// engine, as newService will, and reports each that gin refuses (gin panics on
// a duplicate route or on wildcards it cannot tell apart), at its path.
func routeProblems(eps []aggregate.Endpoint, skip map[int]bool, d *decoder) []problem {
	e := gin.New()
	noop := func(*gin.Context) {}
	e.GET(healthPath, noop)
	e.GET(metricsPath, noop)
	var problems []problem
	for i := range eps {
		ep := &eps[i]
		if skip[i] || ep.Path == healthPath || ep.Path == metricsPath {
			continue
		}
		if err := registerRoute(e, endpointMethod(ep), ep.Path, noop); err != nil {
			p := problem{text: "endpoint " + endpointName(ep, i) + ": path: gin refuses the route: " + err.Error()}
			if n := d.at(ep, "path"); n != nil {
				p.line, p.col = n.Line, n.Column
			}
			problems = append(problems, p)
		}
	}
	return problems
}

// headerToken matches backend names that can go in X-Aggregate-Backends
// without quoting.
var headerToken = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)

// endpointName names ep in problems: its path, or "#N" (1-based) without one.
func endpointName(ep *aggregate.Endpoint, i int) string {
	if ep.Path != "" {
		return ep.Path
	}
	return "#" + strconv.Itoa(i+1)
}

// flatten returns the errors joined in err (errors.Join), or err alone.
func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var all []error
		for _, e := range j.Unwrap() {
			all = append(all, flatten(e)...)
		}
		return all
	}
	return []error{err}
}

// validateTracing checks the tracing section.
func validateTracing(t *tracingConfig, d *decoder) []problem {
	var problems []problem
	add := func(key, text string) {
		p := problem{text: "tracing: " + key + ": " + text}
		if n := d.at(t, key); n != nil {
			p.line, p.col = n.Line, n.Column
		}
		problems = append(problems, p)
	}
	if t.OTLPEndpoint != "" {
		u, err := url.Parse(t.OTLPEndpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("otlp_endpoint", fmt.Sprintf("%q: want an http or https URL such as http://127.0.0.1:4318/v1/traces", t.OTLPEndpoint))
		}
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 || math.IsNaN(t.SampleRatio) {
		add("sample_ratio", fmt.Sprintf("%v is not a ratio from 0 to 1", t.SampleRatio))
	}
	return problems
}
