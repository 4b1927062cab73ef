package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"strings"
	"testing"
	"time"
)

// startAPIMode runs `testserver api args...` until the test ends and returns
// its base URL, stderr and a function that stops it and returns run's error.
func startAPIMode(t *testing.T, args ...string) (string, *syncWriter, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	stdout, stderr := newSyncWriter(), newSyncWriter()
	done := make(chan error, 1)
	go func() { done <- run(ctx, append([]string{"api"}, args...), stdout, stderr) }()
	select {
	case <-stderr.ready:
	case err := <-done:
		t.Fatalf("run returned before ready: %v; stderr: %s", err, stderr)
	case <-time.After(10 * time.Second):
		t.Fatal("no ready line within 10s")
	}
	url := strings.TrimSpace(stdout.String())
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.Contains(url, "\n") {
		t.Fatalf("stdout = %q, want one base URL on 127.0.0.1", stdout)
	}
	stop := func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return within 10s of cancel")
			return nil
		}
	}
	return url, stderr, stop
}

func TestRunAPIServesUntilCancelled(t *testing.T) {
	url, stderr, stop := startAPIMode(t, "-size", "2000", "-latency", "30ms", "-seed", "4")
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	start := time.Now()
	for _, p := range []string{"/users/1", "/users/1/orders", "/users/1/stats", "/recommendations?user=1"} {
		code, body := fetch(t, c, url+p)
		if code != 200 || !json.Valid([]byte(body)) || len(body) < 1800 || len(body) > 2100 {
			t.Errorf("GET %s: %d, %d bytes (valid JSON: %v); want 200 and about 2000 bytes of JSON", p, code, len(body), json.Valid([]byte(body)))
		}
	}
	if took := time.Since(start); took < 4*30*time.Millisecond {
		t.Errorf("4 requests took %v, want at least 4×30ms of latency", took)
	}
	if err := stop(); err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if last := lines[len(lines)-1]; last != "calls=4" {
		t.Errorf("last stderr line = %q, want calls=4", last)
	}
	if _, err := c.Get(url + "/users/1"); err == nil {
		t.Errorf("server still answers after run returned")
	}
}

func TestRunAPIFaultFlags(t *testing.T) {
	url, _, _ := startAPIMode(t, "-hang-paths", "/users/", "-fault-paths", "/recommendations",
		"-non-json", "-latency-dist", "uniform:0s,2ms")
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Get(url + "/recommendations?user=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || !strings.HasPrefix(ct, "text/html") {
		t.Errorf("/recommendations with -non-json: %d %q, want 200 text/html", resp.StatusCode, ct)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/users/1", nil)
	if resp, err := c.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		if err == nil {
			resp.Body.Close()
		}
		t.Errorf("GET a path under -hang-paths = %v, want the client's deadline", err)
	}
}

func TestRunAPIRejectsBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"unknown flag", []string{"-bogus"}, 2},
		{"positional", []string{"extra"}, 2},
		{"error rate above 1", []string{"-error-rate", "1.5"}, 2},
		{"bad distribution", []string{"-latency-dist", "normal:1ms,2ms"}, 2},
		{"latency and distribution", []string{"-latency", "1ms", "-latency-dist", "uniform:1ms,2ms"}, 2},
		{"two body faults", []string{"-truncated", "-invalid-json"}, 2},
		{"not loopback", []string{"-addr", "0.0.0.0:0"}, 2},
		{"help", []string{"-h"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr := newSyncWriter(), newSyncWriter()
			args := append([]string{"api"}, tt.args...)
			err := run(t.Context(), args, stdout, stderr)
			if err == nil {
				t.Fatalf("run(%q) = nil, want an error", args)
			}
			if got := exitCode(err); got != tt.code {
				t.Errorf("exitCode(run(%q)) = %d (%v), want %d", args, got, err, tt.code)
			}
			if stdout.String() != "" {
				t.Errorf("run(%q) wrote %q to stdout", args, stdout)
			}
			if tt.code == 0 && (!errors.Is(err, flag.ErrHelp) || !strings.Contains(stderr.String(), "/users/{id}/orders")) {
				t.Errorf("-h: %v, printed %q; want flag.ErrHelp and the route list", err, stderr)
			}
		})
	}
}

func TestPathList(t *testing.T) {
	var got []string
	set := pathList(&got)
	set("/a, /b/,")
	set("/c")
	if want := []string{"/a", "/b/", "/c"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("pathList gave %q, want %q", got, want)
	}
}
