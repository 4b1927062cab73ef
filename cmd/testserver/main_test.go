package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncWriter collects output written by run's goroutine and closes ready once
// a line "ready" has been written.
type syncWriter struct {
	mu    sync.Mutex // guards buf, seen
	buf   strings.Builder
	seen  bool
	ready chan struct{} // closed by Write
	wrote chan struct{} // Write sends without blocking after each write; buffered 1, never closed
}

func newSyncWriter() *syncWriter {
	return &syncWriter{ready: make(chan struct{}), wrote: make(chan struct{}, 1)}
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.seen && strings.Contains(w.buf.String(), "ready\n") {
		w.seen = true
		close(w.ready)
	}
	select {
	case w.wrote <- struct{}{}:
	default: // a wake-up is already pending
	}
	return len(p), nil
}

// await returns once what has been written to w contains s, or fails the
// test after 10s or when run (reporting on done) returns first.
func (w *syncWriter) await(t *testing.T, s string, done <-chan error) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for !strings.Contains(w.String(), s) {
		select {
		case <-w.wrote:
		case err := <-done:
			t.Fatalf("run returned %v before writing %q; got %q", err, s, w)
		case <-timeout:
			t.Fatalf("no %q written within 10s; got %q", s, w)
		}
	}
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func fetch(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestRunServesUntilCancelled(t *testing.T) {
	const robots = "User-agent: *\nDisallow: /private\n"
	robotsFile := filepath.Join(t.TempDir(), "robots.txt")
	if err := os.WriteFile(robotsFile, []byte(robots), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := newSyncWriter(), newSyncWriter()
	done := make(chan error, 1)
	args := []string{"-hosts", "2", "-pages", "20", "-links", "3", "-size", "256",
		"-latency", "0s", "-cross", "0.5", "-robots", robotsFile, "-seed", "5"}
	go func() { done <- run(ctx, args, stdout, stderr) }()
	select {
	case <-stderr.ready:
	case err := <-done:
		t.Fatalf("run returned before ready: %v; stderr: %s", err, stderr)
	case <-time.After(10 * time.Second):
		t.Fatal("no ready line within 10s")
	}

	seeds := strings.Fields(stdout.String())
	if len(seeds) != 2 {
		t.Fatalf("stdout = %q, want 2 seed URLs", stdout)
	}
	c := &http.Client{Transport: &http.Transport{}}
	for _, s := range seeds {
		if !strings.HasPrefix(s, "http://127.0.0.1:") || !strings.HasSuffix(s, "/") {
			t.Errorf("seed %q, want http://127.0.0.1:port/", s)
		}
		if code, body := fetch(t, c, s); code != 200 || !strings.Contains(body, `href="`) {
			t.Errorf("GET %s: %d, %d bytes without links", s, code, len(body))
		}
	}
	if code, body := fetch(t, c, seeds[0]+"robots.txt"); code != 200 || body != robots {
		t.Errorf("robots.txt: %d %q, want 200 %q", code, body, robots)
	}
	for range 2 {
		if code, _ := fetch(t, c, seeds[0]+"p/0"); code != 200 {
			t.Errorf("GET /p/0: %d, want 200", code)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after cancel = %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of cancel")
	}
	if got, want := strings.Fields(stdout.String()), seeds; !slices.Equal(got, want) {
		t.Errorf("stdout = %q, want only the seeds (no samples without -sample)", got)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	// 2 roots, robots.txt and page 0 twice.
	if last, want := lines[len(lines)-1], "hits=5 pages=1 duplicates=1"; last != want {
		t.Errorf("last stderr line = %q, want %q", last, want)
	}
	if _, err := c.Get(seeds[0]); err == nil {
		t.Errorf("server still answers after run returned")
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"unknown flag", []string{"-bogus"}, 2},
		{"not a number", []string{"-hosts", "x"}, 2},
		{"positional", []string{"extra"}, 2},
		{"negative hosts", []string{"-hosts", "-1"}, 2},
		{"cross above 1", []string{"-cross", "2"}, 2},
		{"bad latency", []string{"-latency", "soon"}, 2},
		{"negative sample", []string{"-sample", "-1ms"}, 2},
		{"bad sample", []string{"-sample", "often"}, 2},
		{"missing robots file", []string{"-robots", filepath.Join(t.TempDir(), "none")}, 1},
		{"help", []string{"-h"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr := newSyncWriter(), newSyncWriter()
			err := run(t.Context(), tt.args, stdout, stderr)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error", tt.args)
			}
			if got := exitCode(err); got != tt.code {
				t.Errorf("exitCode(run(%q)) = %d (%v), want %d", tt.args, got, err, tt.code)
			}
			if stdout.String() != "" {
				t.Errorf("run(%q) wrote %q to stdout", tt.args, stdout)
			}
			if tt.code == 0 && !errors.Is(err, flag.ErrHelp) {
				t.Errorf("run(%q) = %v, want flag.ErrHelp", tt.args, err)
			}
			if tt.code == 0 && !strings.Contains(stderr.String(), "-pages") {
				t.Errorf("-h printed %q, want the flag list", stderr)
			}
		})
	}
}
