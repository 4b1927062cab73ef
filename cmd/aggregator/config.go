package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/trawl/trawl/aggregate"
)

// fileConfig is a configuration file: one server, its tracing and its
// endpoints. A reload applies the endpoints; server and tracing are read at
// start.
type fileConfig struct {
	Server    serverConfig         `yaml:"server" json:"server"`
	Tracing   tracingConfig        `yaml:"tracing" json:"tracing"`
	Endpoints []aggregate.Endpoint `yaml:"endpoints" json:"endpoints"`
}

// tracingConfig turns on OpenTelemetry tracing. Its zero value means none:
// no spans are made and no trace context is read or sent.
type tracingConfig struct {
	// OTLPEndpoint is the OTLP/HTTP traces URL of a collector, such as
	// "http://127.0.0.1:4318/v1/traces"; "" means no tracing.
	OTLPEndpoint string `yaml:"otlp_endpoint" json:"otlp_endpoint"`
	// ServiceName is the service.name resource attribute; "" means "aggregator".
	ServiceName string `yaml:"service_name" json:"service_name"`
	// SampleRatio is the share of new traces sampled (an incoming traceparent's
	// decision is kept); 0 means 1, every trace.
	SampleRatio float64 `yaml:"sample_ratio" json:"sample_ratio"`
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
	NoWatch           bool               `yaml:"no_watch" json:"no_watch"`                       // reload on SIGHUP only, not when the file changes; false means watch it
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
	line, col int    // 1-based line and column in the file; 0 when unknown
	text      string // "endpoint /users/:id: backend profile: timeout: 2s exceeds …"
}

// format renders p as "FILE:LINE:COL: text" ("FILE: text" without a place).
func (p problem) format(file string) string {
	switch {
	case p.line > 0 && p.col > 0:
		return file + ":" + strconv.Itoa(p.line) + ":" + strconv.Itoa(p.col) + ": " + p.text
	case p.line > 0:
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

// loadConfig reads, decodes and validates the configuration file at path,
// and returns it with the file's content. A file with problems gives a
// *problemsError listing every one it could find.
func loadConfig(path string) (*fileConfig, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read config: %w", err)
	}
	cfg, problems := parseConfig(data)
	if len(problems) > 0 {
		return nil, nil, &problemsError{file: path, problems: problems}
	}
	return cfg, data, nil
}

// parseConfig decodes a YAML or JSON configuration and validates it. JSON is
// YAML, so both are parsed into yaml's node tree (JSON input is first
// checked against JSON's stricter syntax), and the tree is decoded field by
// field: every problem is placed at the line and column of its node.
func parseConfig(data []byte) (*fileConfig, []problem) {
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(data, []byte("\ufeff")), " \t\r\n")
	if len(trimmed) == 0 {
		return nil, []problem{{text: "empty configuration"}}
	}
	if trimmed[0] == '{' {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			if se, ok := errors.AsType[*json.SyntaxError](err); ok {
				line, col := position(data, se.Offset)
				return nil, []problem{{line: line, col: col, text: "invalid JSON: " + se.Error()}}
			}
			return nil, []problem{{text: "invalid JSON: " + err.Error()}}
		}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		// A syntax error leaves no node tree: its line is only in the text.
		line, msg := yamlErrorLine(err.Error())
		return nil, []problem{{line: line, text: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}}
	}
	top := &root
	if top.Kind == yaml.DocumentNode && len(top.Content) == 1 {
		top = resolve(top.Content[0])
	}
	switch {
	case top.Kind == 0 || top.Kind == yaml.DocumentNode && len(top.Content) == 0 || top.Tag == "!!null":
		return nil, []problem{{text: "empty configuration"}}
	case top.Kind != yaml.MappingNode:
		return nil, []problem{{line: top.Line, col: top.Column, text: "want a mapping with server and endpoints"}}
	}
	d := newDecoder()
	cfg := &fileConfig{}
	d.decodeStruct(top, reflect.ValueOf(cfg).Elem(), "")
	problems := append(d.problems, validate(cfg, d)...)
	slices.SortStableFunc(problems, func(a, b problem) int {
		switch {
		case a.line == 0 && b.line != 0: // unknown places last
			return 1
		case b.line == 0 && a.line != 0:
			return -1
		case a.line != b.line:
			return a.line - b.line
		}
		return a.col - b.col
	})
	return cfg, problems
}

// position returns the 1-based line and column of byte offset off in data.
func position(data []byte, off int64) (line, col int) {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	return bytes.Count(before, []byte("\n")) + 1, int(off) - bytes.LastIndexByte(before, '\n')
}

// yamlLine matches the line in yaml's syntax errors: "yaml: line 3: …".
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// yamlErrorLine splits a yaml syntax error message into its line and the rest.
func yamlErrorLine(msg string) (int, string) {
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n, m[2]
	}
	return 0, msg
}
