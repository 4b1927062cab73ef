package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/trawl/trawl/aggregate"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode) // as main does
	// run would tune the test process's collector; gc_test.go tests that.
	applyGC = func(gcSettings) func() { return func() {} }
	code := m.Run()
	if buildBin != "" { // built once for every test and run (-count), removed at the end
		os.RemoveAll(filepath.Dir(buildBin))
	}
	os.Exit(code)
}

// runCmd runs the command line and returns stdout, stderr and the exit code.
func runCmd(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // a server started by mistake stops
	defer cancel()
	err := run(ctx, args, &stdout, &stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(&stderr, "aggregator:", err) // as main does
	}
	return stdout.String(), stderr.String(), exitCode(err)
}

// writeFile writes content to name in a temporary directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUsage(t *testing.T) {
	good := writeFile(t, "good.yaml", "endpoints:\n  - path: /a\n    backends:\n      - {name: a, url: 'http://127.0.0.1:1/a'}\n")
	tests := []struct {
		name     string
		args     []string
		code     int
		contains string
	}{
		{"nothing", nil, 2, "no -config or -check"},
		{"both", []string{"-config", good, "-check", good}, 2, "not both"},
		{"unknown flag", []string{"-frobnicate"}, 2, "frobnicate"},
		{"extra argument", []string{"-check", good, "more"}, 2, `unexpected argument "more"`},
		{"bad log level", []string{"-config", good, "-log-level", "loud"}, 2, `-log-level "loud"`},
		{"missing file", []string{"-check", filepath.Join(t.TempDir(), "nope.yaml")}, 1, "no such file"},
		{"help", []string{"-h"}, 0, "usage:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := runCmd(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code = %d, want %d; stderr:\n%s", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.contains) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.contains)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
		})
	}
}

func TestCheckExample(t *testing.T) {
	for _, path := range []string{"../../examples/aggregator.yaml"} {
		stdout, stderr, code := runCmd(t, "-check", path)
		if code != 0 || !strings.Contains(stdout, ": ok: 4 endpoints") {
			t.Errorf("-check %s: exit %d, stdout %q, stderr %q; want 0 and ok", path, code, stdout, stderr)
		}
	}
}

// TestCheck runs -check on broken files and wants every problem, each on its
// own line with the file, the line and its place.
func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		file string // name decides nothing; content does
		body string
		want []string // lines of stdout, in order, after "FILE:"
	}{
		{
			name: "yaml: every kind of place",
			file: "bad.yaml",
			body: `server:
  addr: localhost
  write_timeout: 500ms
  read_timeout: 5 seconds
  colour: blue
endpoints:
  - path: /users/:id
    timeout: 1s
    backends:
      - name: profile
        url: http://127.0.0.1:9001/users/{id}
        timeout: 2s
        timout: 3s
      - url: http://127.0.0.1:9002/users/{id}
      - name: bad name
        url: http://127.0.0.1:9003/x
        max_body: lots
  - path: /users/:name
    backends:
      - {name: a, url: "http://127.0.0.1:9001/users/{name}"}
  - path: /users/:id
    backends:
      - {name: a, url: "http://127.0.0.1:9001/users/{id}"}
  - path: /healthz
    backends:
      - {name: a, url: "http://127.0.0.1:9001/a", timeout: x}
`,
			want: []string{
				"2:9: server: addr: address localhost: missing port in address",
				"3:18: server: write_timeout: 500ms leaves no time to answer endpoint /users/:id (timeout 1s)",
				`4:17: server: read_timeout: duration "5 seconds": `,
				"5:3: server: colour: unknown field",
				"12:18: endpoint /users/:id: backend profile: timeout: 2s exceeds the endpoint's 1s",
				"13:9: endpoint /users/:id: backend profile: timout: unknown field",
				"14:9: endpoint /users/:id: backend #2: name: a name is required",
				"15:15: endpoint /users/:id: backend bad name: name: use letters, digits",
				`17:19: endpoint /users/:id: backend bad name: max_body: "lots" is not an integer`,
				"18:11: endpoint /users/:name: path: gin refuses the route: ':name' in new path '/users/:name' conflicts with existing wildcard ':id'",
				"21:11: endpoint /users/:id: path: gin refuses the route: handlers are already registered for path '/users/:id'",
				"24:11: endpoint /healthz: path: /healthz is served by the aggregator itself",
				`26:60: endpoint /healthz: backend a: timeout: duration "x": `,
			},
		},
		{
			name: "json: unknown fields and durations, all of them",
			file: "bad.json",
			body: `{
  "server": {"addr": "127.0.0.1:8080", "idle_timeout": "1 min"},
  "endpoints": [
    {"path": "/a", "timeout": "300ms", "bogus": 1,
     "backends": [{"name": "x", "url": "http://127.0.0.1:1/x", "timeout": 5, "grop": "g"}]}
  ]
}`,
			want: []string{
				`2:56: server: idle_timeout: duration "1 min": `,
				"4:40: endpoint /a: bogus: unknown field",
				`5:75: endpoint /a: backend x: timeout: duration "5": `,
				"5:78: endpoint /a: backend x: grop: unknown field",
			},
		},
		{
			name: "json syntax",
			file: "syntax.json",
			body: "{\n  \"server\": {\"addr\": \"x\",}\n}",
			want: []string{"2:27: invalid JSON: invalid character '}' looking for beginning of object key string"},
		},
		{
			name: "yaml syntax",
			file: "syntax.yaml",
			body: "server:\n  addr: [\n",
			want: []string{"2: invalid YAML: "},
		},
		{
			name: "empty",
			file: "empty.yaml",
			body: "\n# nothing\n",
			want: []string{" empty configuration"},
		},
		{
			name: "no endpoints",
			file: "none.yaml",
			body: "server: {addr: '127.0.0.1:0'}\nendpoints: []\n",
			want: []string{"2:12: endpoints: no endpoints configured"},
		},
		{
			name: "not a mapping",
			file: "list.yaml",
			body: "- a\n- b\n",
			want: []string{"1:1: want a mapping with server and endpoints"},
		},
		{
			name: "the same problem in two endpoints with the same path",
			file: "dup.yaml",
			body: "endpoints:\n  - path: /\n  - path: /\n",
			want: []string{
				"2:5: endpoint /: backends: at least one backend is required",
				"3:5: endpoint /: backends: at least one backend is required",
				"3:11: endpoint /: path: gin refuses the route: handlers are already registered for path '/'",
			},
		},
		{
			// A value that cannot be read is one problem: the checks that
			// would compare with it (write_timeout, a backend's timeout)
			// are not run on its zero value.
			name: "one mistyped endpoint timeout",
			file: "typo.yaml",
			body: `server:
  write_timeout: 1s
endpoints:
  - path: /a
    timeout: 300 ms
    backends:
      - {name: a, url: "http://127.0.0.1:1/a", timeout: 200ms}
      - {name: b, url: "http://127.0.0.1:1/b", timeout: 2s}
`,
			want: []string{`5:14: endpoint /a: timeout: duration "300 ms": want a number with a unit`},
		},
		{
			name: "values of the wrong kind",
			file: "kinds.yaml",
			body: `server:
  max_header_bytes: [1]
tracing: {sample_ratio: 2, otlp_endpoint: "udp://x"}
endpoints:
  - path: /a
    cache: {ttl: 5s, size: 1k}
    backends:
      - {name: a, url: {host: x}, required: maybe}
`,
			want: []string{
				"2:21: server: max_header_bytes: want an integer, not a list",
				"3:25: tracing: sample_ratio: 2 is not a ratio from 0 to 1",
				`3:43: tracing: otlp_endpoint: "udp://x": want an http or https URL`,
				`6:28: endpoint /a: cache.size: "1k" is not an integer`,
				"8:24: endpoint /a: backend a: url: want a single value, not a mapping",
				`8:45: endpoint /a: backend a: required: "maybe" is not true or false`,
			},
		},
		{
			name: "server values",
			file: "server.yaml",
			body: `server:
  read_header_timeout: -1s
  max_header_bytes: -5
  max_body_bytes: -1
endpoints:
  - path: /a
    backends: [{name: a, url: "http://127.0.0.1:1/a"}]
`,
			want: []string{
				"2:24: server: read_header_timeout: -1s is negative",
				"3:21: server: max_header_bytes: -5 is negative",
				"4:19: server: max_body_bytes: -1 is negative",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.file, tt.body)
			stdout, stderr, code := runCmd(t, "-check", path)
			if code != 1 {
				t.Errorf("exit code = %d, want 1", code)
			}
			if want := fmt.Sprintf("aggregator: %s: %d problem", path, len(tt.want)); !strings.Contains(stderr, want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, want)
			}
			got := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
			if len(got) != len(tt.want) {
				t.Errorf("-check printed %d problems, want %d:\n%s", len(got), len(tt.want), stdout)
			}
			for i, line := range got {
				if i >= len(tt.want) {
					break
				}
				sep := ":"
				if strings.HasPrefix(tt.want[i], " ") {
					sep = ":" // a problem without a line: "FILE: text"
				}
				if want := path + sep + tt.want[i]; !strings.HasPrefix(line, want) {
					t.Errorf("problem %d = %q\n            want prefix %q", i+1, line, want)
				}
			}
		})
	}
}

// TestConfigRunRefusesProblems wants -config to list the problems and
// exit 1 without serving.
func TestConfigRunRefusesProblems(t *testing.T) {
	path := writeFile(t, "bad.yaml", "endpoints:\n  - path: /a\n    backends:\n      - {name: a, url: 'ftp://x/'}\n")
	_, stderr, code := runCmd(t, "-config", path, "-addr", "127.0.0.1:0")
	if code != 1 || !strings.Contains(stderr, path+":4:24: endpoint /a: backend a: url: ") {
		t.Errorf("exit %d, stderr %q; want 1 and the url problem at line 4", code, stderr)
	}
}

// FuzzParseConfig feeds arbitrary files to the loader: it must not panic,
// every problem must point at a line of the file, and a file without
// problems must give a configuration that aggregate accepts.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("endpoints:\n  - path: /a\n    backends:\n      - {name: a, url: 'http://127.0.0.1:1/a'}\n"))
	f.Add([]byte(`{"server": {"read_timeout": "x"}, "endpoints": [{"path": "/a", "bogus": 1}]}`))
	f.Add([]byte("server:\n  read_timeout: 'a'\n  idle_timeout: \"b\"\n  colour: blue\n"))
	if example, err := os.ReadFile("../../examples/aggregator.yaml"); err == nil {
		f.Add(example)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, problems := parseConfig(data)
		lines := bytes.Count(data, []byte("\n")) + 1
		for _, p := range problems {
			if p.line < 0 || p.line > lines {
				t.Errorf("problem %q at line %d of a %d-line file", p.text, p.line, lines)
			}
			if p.text == "" {
				t.Errorf("problem at line %d without text", p.line)
			}
		}
		if len(problems) == 0 {
			if cfg == nil {
				t.Fatal("no problems and no config")
			}
			if err := aggregate.Validate(cfg.Endpoints); err != nil {
				t.Errorf("no problems, but aggregate.Validate: %v", err)
			}
		}
	})
}
