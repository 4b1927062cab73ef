package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.yaml.in/yaml/v3"

	"github.com/trawl/trawl/aggregate"
)

// fileConfig is a configuration file: one server and its endpoints.
type fileConfig struct {
	Server    serverConfig         `yaml:"server" json:"server"`
	Endpoints []aggregate.Endpoint `yaml:"endpoints" json:"endpoints"`
}

// serverConfig is the HTTP server's part of the file. Zero values mean the
// defaults in the comments (withDefaults fills them).
type serverConfig struct {
	Addr              string             `yaml:"addr" json:"addr"`                               // host:port; "" means 127.0.0.1:8080
	ReadHeaderTimeout aggregate.Duration `yaml:"read_header_timeout" json:"read_header_timeout"` // 0 means 2s
	ReadTimeout       aggregate.Duration `yaml:"read_timeout" json:"read_timeout"`               // whole request incl. body; 0 means 5s
	WriteTimeout      aggregate.Duration `yaml:"write_timeout" json:"write_timeout"`             // from the end of the headers to the end of the response; 0 means 10s
	IdleTimeout       aggregate.Duration `yaml:"idle_timeout" json:"idle_timeout"`               // keep-alive; 0 means 60s
	MaxHeaderBytes    int                `yaml:"max_header_bytes" json:"max_header_bytes"`       // 0 means 16 KiB
	MaxBodyBytes      int64              `yaml:"max_body_bytes" json:"max_body_bytes"`           // request body cap (413 beyond); 0 means 1 MiB
	ShutdownTimeout   aggregate.Duration `yaml:"shutdown_timeout" json:"shutdown_timeout"`       // bound on finishing in-flight requests; 0 means 10s
}

// withDefaults returns s with its zero values replaced by the defaults.
func (s serverConfig) withDefaults() serverConfig {
	def := func(d *aggregate.Duration, v time.Duration) {
		if *d == 0 {
			*d = aggregate.Duration(v)
		}
	}
	if s.Addr == "" {
		s.Addr = "127.0.0.1:8080"
	}
	def(&s.ReadHeaderTimeout, 2*time.Second)
	def(&s.ReadTimeout, 5*time.Second)
	def(&s.WriteTimeout, 10*time.Second)
	def(&s.IdleTimeout, 60*time.Second)
	def(&s.ShutdownTimeout, 10*time.Second)
	if s.MaxHeaderBytes == 0 {
		s.MaxHeaderBytes = 16 << 10
	}
	if s.MaxBodyBytes == 0 {
		s.MaxBodyBytes = 1 << 20
	}
	return s
}

// endpointTimeout is ep's whole-request budget (aggregate's default: 0 means 1s).
func endpointTimeout(ep *aggregate.Endpoint) time.Duration {
	if ep.Timeout == 0 {
		return time.Second
	}
	return time.Duration(ep.Timeout)
}

// endpointMethod is ep's HTTP method (aggregate's default: "" means GET).
func endpointMethod(ep *aggregate.Endpoint) string {
	if ep.Method == "" {
		return "GET"
	}
	return ep.Method
}

// The aggregator serves these paths itself.
const (
	healthPath  = "/healthz"
	metricsPath = "/metrics"
)

// problem is one thing wrong in a configuration file, with its place.
type problem struct {
	line int    // 1-based line in the file; 0 when unknown
	text string // "endpoint /users/:id: backend profile: timeout: 2s exceeds …"
}

// format renders p as "FILE:LINE: text" (or "FILE: text" without a line).
func (p problem) format(file string) string {
	if p.line > 0 {
		return file + ":" + strconv.Itoa(p.line) + ": " + p.text
	}
	return file + ": " + p.text
}

// problemsError is a configuration file with problems; it lists them all.
type problemsError struct {
	file     string
	problems []problem // by line
}

func (e *problemsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d problem%s", e.file, len(e.problems), plural(len(e.problems)))
	for _, p := range e.problems {
		b.WriteString("\n  ")
		b.WriteString(p.format(e.file))
	}
	return b.String()
}

// loadConfig reads, decodes and validates the configuration file at path. A
// file with problems gives a *problemsError listing every one it could find.
func loadConfig(path string) (*fileConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, problems := parseConfig(data)
	if len(problems) > 0 {
		return nil, &problemsError{file: path, problems: problems}
	}
	return cfg, nil
}

// parseConfig decodes a YAML or JSON configuration and validates it. JSON is
// YAML, so both go through the YAML decoder (which reports every unknown field
// with its line, where encoding/json stops at the first); JSON input is first
// checked against JSON's stricter syntax.
func parseConfig(data []byte) (*fileConfig, []problem) {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\ufeff")), " \t\r\n")
	if len(trimmed) == 0 {
		return nil, []problem{{text: "empty configuration"}}
	}
	if trimmed[0] == '{' {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			if se, ok := errors.AsType[*json.SyntaxError](err); ok {
				return nil, []problem{{line: lineAt(data, se.Offset), text: "invalid JSON: " + se.Error()}}
			}
			return nil, []problem{{text: "invalid JSON: " + err.Error()}}
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		line, msg := yamlErrorLine(err.Error())
		return nil, []problem{{line: line, text: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}}
	}
	loc := newLocator(&root)
	if root.Kind == 0 || root.Kind == yaml.DocumentNode && len(root.Content) == 0 {
		return nil, []problem{{text: "empty configuration"}}
	}
	if loc.top == nil {
		return nil, []problem{{line: root.Line, text: "want a mapping with server and endpoints"}}
	}

	// A value's own decoder failing (a bad duration) stops yaml's decoder
	// with no line, so check durations first, report each, and decode a
	// copy with them patched to "0s" to find the other problems too.
	problems, data := loc.checkDurations(data)
	var cfg fileConfig
	if data == nil {
		return nil, problems // could not patch them: these are what we know
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		te, ok := errors.AsType[*yaml.TypeError](err)
		if !ok {
			if errors.Is(err, io.EOF) {
				return nil, []problem{{text: "empty configuration"}}
			}
			// A value's own decoder failed in a way checkDurations did
			// not foresee: the decoder stops there, so this is all we know.
			line, msg := yamlErrorLine(err.Error())
			return nil, append(problems, problem{line: line, text: msg})
		}
		for _, e := range te.Errors {
			problems = append(problems, loc.typeError(e))
		}
	}
	problems = append(problems, validate(&cfg, loc)...)
	slices.SortStableFunc(problems, func(a, b problem) int {
		switch {
		case a.line == b.line:
			return 0
		case a.line == 0: // unknown places last
			return 1
		case b.line == 0:
			return -1
		}
		return a.line - b.line
	})
	problems = slices.CompactFunc(problems, func(a, b problem) bool { return a == b })
	return &cfg, problems
}

// validate checks cfg: the server's values, the endpoints through
// aggregate.Validate, and what only the service knows (reserved paths, names
// that must fit in a header, routes gin refuses).
func validate(cfg *fileConfig, loc *locator) []problem {
	var problems []problem
	add := func(line int, text string) { problems = append(problems, problem{line: line, text: text}) }

	s := cfg.Server
	serverField := func(key string) int { return loc.keyLine(loc.server, key, loc.line(loc.server)) }
	if s.Addr != "" {
		if _, _, err := net.SplitHostPort(s.Addr); err != nil {
			add(serverField("addr"), "server: addr: "+err.Error())
		}
	}
	for _, d := range []struct {
		key string
		v   aggregate.Duration
	}{
		{"read_header_timeout", s.ReadHeaderTimeout}, {"read_timeout", s.ReadTimeout}, {"write_timeout", s.WriteTimeout},
		{"idle_timeout", s.IdleTimeout}, {"shutdown_timeout", s.ShutdownTimeout},
	} {
		if d.v < 0 {
			add(serverField(d.key), "server: "+d.key+": "+d.v.String()+" is negative")
		}
	}
	if s.MaxHeaderBytes < 0 {
		add(serverField("max_header_bytes"), "server: max_header_bytes: "+strconv.Itoa(s.MaxHeaderBytes)+" is negative")
	}
	if s.MaxBodyBytes < 0 {
		add(serverField("max_body_bytes"), "server: max_body_bytes: "+strconv.FormatInt(s.MaxBodyBytes, 10)+" is negative")
	}

	longest := -1 // the endpoint with the longest timeout
	for i := range cfg.Endpoints {
		ep := &cfg.Endpoints[i]
		epNode := loc.endpoint(i)
		name := endpointName(ep, i)
		if longest < 0 || endpointTimeout(ep) > endpointTimeout(&cfg.Endpoints[longest]) {
			longest = i
		}
		if ep.Path == healthPath || ep.Path == metricsPath {
			add(loc.keyLine(epNode, "path", loc.line(epNode)), "endpoint "+name+": path: "+ep.Path+" is served by the aggregator itself")
		}
		for j := range ep.Backends {
			b := &ep.Backends[j]
			if b.Name != "" && !headerToken.MatchString(b.Name) {
				beNode := loc.backend(epNode, j)
				add(loc.keyLine(beNode, "name", loc.line(beNode)), fmt.Sprintf("endpoint %s: backend %s: name: use letters, digits, '.', '_' and '-' only (names appear in the X-Aggregate-Backends header)", name, b.Name))
			}
		}
	}

	if write := time.Duration(s.withDefaults().WriteTimeout); longest >= 0 && write > 0 {
		if ep := &cfg.Endpoints[longest]; write <= endpointTimeout(ep) {
			add(serverField("write_timeout"), fmt.Sprintf("server: write_timeout: %s leaves no time to answer endpoint %s (timeout %s)",
				write, endpointName(ep, longest), endpointTimeout(ep)))
		}
	}

	errs := flatten(aggregate.Validate(cfg.Endpoints))
	seen := map[string]int{} // how often each text came before: the same problem in endpoints with the same path
	for _, e := range errs {
		text := e.Error()
		add(loc.configErrorLine(endpointOf(cfg.Endpoints, e, seen[text]), e), text)
		seen[text]++
	}
	if len(errs) == 0 && len(problems) == 0 {
		// aggregate checks routes the way gin sees them; this is the last word.
		for i := range cfg.Endpoints {
			if msg := ginConflict(cfg.Endpoints[:i+1]); msg != "" {
				epNode := loc.endpoint(i)
				add(loc.keyLine(epNode, "path", loc.line(epNode)), "endpoint "+endpointName(&cfg.Endpoints[i], i)+": path: "+msg)
			}
		}
	}
	return problems
}

// endpointOf returns the index of the endpoint that err (an
// *aggregate.ConfigError) is about, or -1 when it is about none. Where
// several endpoints share the path, it is the nth (from 0) of those that have
// the problem alone, or else the last (a duplicate route is reported on the
// later one).
func endpointOf(eps []aggregate.Endpoint, err error, nth int) int {
	ce, ok := errors.AsType[*aggregate.ConfigError](err)
	if !ok || ce.Endpoint == "" {
		return -1
	}
	if n, ok := strings.CutPrefix(ce.Endpoint, "#"); ok {
		if i, err := strconv.Atoi(n); err == nil && i >= 1 && i <= len(eps) && eps[i-1].Path == "" {
			return i - 1
		}
	}
	var same []int
	for i := range eps {
		if eps[i].Path == ce.Endpoint {
			same = append(same, i)
		}
	}
	switch len(same) {
	case 0:
		return -1
	case 1:
		return same[0]
	}
	for _, i := range same {
		for _, e := range flatten(aggregate.Validate(eps[i : i+1])) {
			if e.Error() == err.Error() {
				if nth == 0 {
					return i
				}
				nth--
				break
			}
		}
	}
	return same[len(same)-1]
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

// ginConflict registers eps in a scratch gin engine and returns why the last
// one cannot be routed (gin panics on conflicting wildcards), or "".
func ginConflict(eps []aggregate.Endpoint) (msg string) {
	e := gin.New()
	noop := func(*gin.Context) {}
	e.GET(healthPath, noop)
	e.GET(metricsPath, noop)
	for i := range eps[:len(eps)-1] {
		func() {
			defer func() { _ = recover() }() // reported when it was last
			e.Handle(endpointMethod(&eps[i]), eps[i].Path, noop)
		}()
	}
	defer func() {
		if r := recover(); r != nil {
			msg = fmt.Sprint(r)
		}
	}()
	last := &eps[len(eps)-1]
	e.Handle(endpointMethod(last), last.Path, noop)
	return ""
}

// lineAt returns the 1-based line of byte offset off in data.
func lineAt(data []byte, off int64) int {
	off = min(max(off, 0), int64(len(data)))
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// yamlLine matches the line in yaml's messages: "yaml: line 3: …" or "line 3: …".
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlErrorLine splits a yaml error message into its line and the rest.
func yamlErrorLine(msg string) (int, string) {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, msg
}

// locator finds the lines of endpoints, backends and fields in a parsed file.
type locator struct {
	top       *yaml.Node   // the top-level mapping; nil when the file is not one
	server    *yaml.Node   // server's mapping; may be nil
	endpoints []*yaml.Node // endpoints' items in order
}

func newLocator(root *yaml.Node) *locator {
	l := &locator{}
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return l
	}
	l.top = n
	l.server = mapValue(n, "server")
	if eps := mapValue(n, "endpoints"); eps != nil && eps.Kind == yaml.SequenceNode {
		l.endpoints = eps.Content
	}
	return l
}

// mapValue returns the value of key in mapping m, or nil.
func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// line returns n's line, or 0 for nil.
func (l *locator) line(n *yaml.Node) int {
	if n == nil {
		return 0
	}
	return n.Line
}

// keyLine returns the line of key in mapping m (a dotted key goes down
// nested mappings), or def when it is absent.
func (l *locator) keyLine(m *yaml.Node, key string, def int) int {
	first, rest, nested := strings.Cut(key, ".")
	if m == nil || m.Kind != yaml.MappingNode {
		return def
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == first {
			if nested {
				return l.keyLine(m.Content[i+1], rest, m.Content[i].Line)
			}
			return m.Content[i].Line
		}
	}
	return def
}

// endpoint returns the node of the i-th endpoint, or nil.
func (l *locator) endpoint(i int) *yaml.Node {
	if i < len(l.endpoints) {
		return l.endpoints[i]
	}
	return nil
}

// backend returns the node of the j-th backend of endpoint node ep, or nil.
func (l *locator) backend(ep *yaml.Node, j int) *yaml.Node {
	bs := mapValue(ep, "backends")
	if bs == nil || bs.Kind != yaml.SequenceNode || j >= len(bs.Content) {
		return nil
	}
	return bs.Content[j]
}

// configErrorLine returns the line of the field that err (an
// *aggregate.ConfigError about the endpoint at index i, or none when i < 0)
// is about.
func (l *locator) configErrorLine(i int, err error) int {
	ce, ok := errors.AsType[*aggregate.ConfigError](err)
	if i < 0 {
		if ok && ce.Endpoint == "" && ce.Field != "" {
			return l.keyLine(l.top, ce.Field, 0)
		}
		return 0
	}
	ep := l.endpoint(i)
	if !ok {
		return l.line(ep)
	}
	n := ep
	if ce.Backend != "" {
		if bs := mapValue(ep, "backends"); bs != nil && bs.Kind == yaml.SequenceNode {
			for j, b := range bs.Content {
				if v := mapValue(b, "name"); (v != nil && v.Value == ce.Backend) || ce.Backend == "#"+strconv.Itoa(j+1) {
					n = b
					break
				}
			}
		}
	}
	if ce.Field == "" {
		return l.line(n)
	}
	return l.keyLine(n, ce.Field, l.line(n))
}

// notFound matches yaml's unknown-field message.
var notFound = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

// typeError turns one of yaml's TypeError lines ("line 7: field timout not
// found in type aggregate.Backend") into a problem placed in its endpoint
// and backend.
func (l *locator) typeError(msg string) problem {
	line, text := yamlErrorLine(msg)
	if m := notFound.FindStringSubmatch(text); m != nil {
		text = m[1] + ": unknown field"
	} else if key := keyAt(l.top, line); key != "" {
		text = key + ": " + text
	}
	return problem{line: line, text: l.place(line) + text}
}

// place returns "endpoint P: backend B: " for what is at line, "server: "
// there, or "".
func (l *locator) place(line int) string {
	if l.server != nil && within(l.server, line) {
		return "server: "
	}
	for i, ep := range l.endpoints {
		if !within(ep, line) {
			continue
		}
		name := "#" + strconv.Itoa(i+1)
		if p := mapValue(ep, "path"); p != nil && p.Value != "" {
			name = p.Value
		}
		s := "endpoint " + name + ": "
		if bs := mapValue(ep, "backends"); bs != nil && bs.Kind == yaml.SequenceNode {
			for j, b := range bs.Content {
				if within(b, line) {
					bname := "#" + strconv.Itoa(j+1)
					if v := mapValue(b, "name"); v != nil && v.Value != "" {
						bname = v.Value
					}
					s += "backend " + bname + ": "
				}
			}
		}
		return s
	}
	return ""
}

// within reports whether line falls inside node n's lines.
func within(n *yaml.Node, line int) bool {
	return line >= n.Line && line <= lastLine(n)
}

// lastLine returns the last line any part of n is on.
func lastLine(n *yaml.Node) int {
	last := n.Line
	for _, c := range n.Content {
		last = max(last, lastLine(c))
	}
	return last
}

// keyAt returns the key of the scalar value on line inside n, or "".
func keyAt(n *yaml.Node, line int) string {
	if n == nil {
		return ""
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if v := n.Content[i+1]; v.Kind == yaml.ScalarNode && v.Line == line {
				return n.Content[i].Value
			}
		}
	}
	for _, c := range n.Content {
		if k := keyAt(c, line); k != "" {
			return k
		}
	}
	return ""
}

// durationField is a duration-valued scalar of the file and its place.
type durationField struct {
	node  *yaml.Node
	place string // "server: read_timeout", "endpoint /x: backend b: timeout"
}

// durations returns every duration-valued scalar in the file.
func (l *locator) durations() []durationField {
	var all []durationField
	scalar := func(m *yaml.Node, key, place string) {
		if v := mapValue(m, key); v != nil && v.Kind == yaml.ScalarNode && v.Tag != "!!null" {
			all = append(all, durationField{v, place + key})
		}
	}
	for _, k := range []string{"read_header_timeout", "read_timeout", "write_timeout", "idle_timeout", "shutdown_timeout"} {
		scalar(l.server, k, "server: ")
	}
	for i, ep := range l.endpoints {
		place := "endpoint #" + strconv.Itoa(i+1) + ": "
		if p := mapValue(ep, "path"); p != nil && p.Value != "" {
			place = "endpoint " + p.Value + ": "
		}
		scalar(ep, "timeout", place)
		scalar(mapValue(ep, "cache"), "ttl", place+"cache.")
		if bs := mapValue(ep, "backends"); bs != nil && bs.Kind == yaml.SequenceNode {
			for j, b := range bs.Content {
				bplace := place + "backend #" + strconv.Itoa(j+1) + ": "
				if n := mapValue(b, "name"); n != nil && n.Value != "" {
					bplace = place + "backend " + n.Value + ": "
				}
				scalar(b, "timeout", bplace)
			}
		}
	}
	return all
}

// checkDurations reports every duration in data that aggregate.Duration
// refuses, and returns data with those values replaced by 0s (lines kept),
// data itself when all are good, or nil when one cannot be replaced.
func (l *locator) checkDurations(data []byte) ([]problem, []byte) {
	var (
		problems []problem
		patched  []byte
	)
	lines := bytes.SplitAfter(data, []byte("\n"))
	for _, f := range l.durations() {
		var d aggregate.Duration
		err := d.UnmarshalText([]byte(f.node.Value))
		if err == nil {
			continue
		}
		problems = append(problems, problem{line: f.node.Line, text: f.place + ": " + err.Error()})
		if patched == nil && lines != nil {
			patched = bytes.Clone(data)
			lines = bytes.SplitAfter(patched, []byte("\n")) // views into patched
		}
		if lines == nil || !patchScalar(lines, f.node) {
			lines = nil // unknown layout: stop patching
		}
	}
	switch {
	case len(problems) == 0:
		return nil, data
	case lines == nil:
		return problems, nil
	}
	return problems, bytes.Join(lines, nil)
}

// patchScalar overwrites a one-line scalar (plain or quoted) in lines with
// a "0s" of the same width, so nothing else moves. It reports whether it could.
func patchScalar(lines [][]byte, n *yaml.Node) bool {
	if n.Line < 1 || n.Line > len(lines) || n.Column < 1 {
		return false
	}
	line := lines[n.Line-1]
	start := n.Column - 1
	if start >= len(line) {
		return false
	}
	var width int
	switch n.Style {
	case 0: // plain
		if !bytes.HasPrefix(line[start:], []byte(n.Value)) {
			return false
		}
		width = len(n.Value)
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		q := line[start]
		if q != '"' && q != '\'' {
			return false
		}
		end := start + 1
		for end < len(line) {
			if line[end] == '\\' && q == '"' {
				end += 2 // an escape
				continue
			}
			if line[end] == q {
				if q == '\'' && end+1 < len(line) && line[end+1] == '\'' {
					end += 2 // '' is a quote inside single quotes
					continue
				}
				break
			}
			end++
		}
		if end >= len(line) {
			return false
		}
		width = end + 1 - start
	default:
		return false
	}
	zero := "0s"[:min(width, 2)] // a bare 0 is a duration too
	copy(line[start:], zero)
	for i := start + len(zero); i < start+width; i++ {
		line[i] = ' '
	}
	return true
}
