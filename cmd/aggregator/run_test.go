package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// slowUpstream answers {"slow":true} after delay (or when the caller leaves)
// and signals each arrival on the returned channel.
func slowUpstream(t *testing.T, delay time.Duration) (*httptest.Server, <-chan struct{}) {
	t.Helper()
	arrived := make(chan struct{}, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(delay):
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"slow":true}`)
	}))
	t.Cleanup(srv.Close)
	return srv, arrived
}

// listenAddr waits for the "listening" log record in logs and returns its addr.
func listenAddr(t *testing.T, logs *syncBuffer) string {
	t.Helper()
	var addr string
	logs.waitFor(t, "the listening record", func(text string) bool {
		for line := range strings.SplitSeq(text, "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "listening" {
				addr = rec.Addr
				return true
			}
		}
		return false
	})
	return addr
}

// inFlight sends GET url in the background; the result arrives on the channel.
func inFlight(url string) <-chan string {
	out := make(chan string, 1)
	go func() {
		resp, err := http.Get(url)
		if err != nil {
			out <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		out <- fmt.Sprintf("%d %s %s", resp.StatusCode, resp.Header.Get("X-Aggregate-Completed"), body)
	}()
	return out
}

func waitFor[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestShutdownFinishesInFlight cancels run's context while a request waits
// for its backend: the request still gets its full answer, run returns nil,
// and the server no longer accepts connections.
func TestShutdownFinishesInFlight(t *testing.T) {
	up, arrived := slowUpstream(t, 300*time.Millisecond)
	path := writeFile(t, "c.yaml", "server: {shutdown_timeout: 5s}\nendpoints:\n  - path: /slow\n    timeout: 2s\n    backends: [{name: s, url: '"+up.URL+"/s'}]\n")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", path, "-addr", "127.0.0.1:0"}, io.Discard, stderr) }()
	addr := listenAddr(t, stderr)

	answer := inFlight("http://" + addr + "/slow")
	waitFor(t, arrived, "the request to reach the backend")
	cancel()
	if got, want := waitFor(t, answer, "the in-flight answer"), `200 true {"slow":true}`; got != want {
		t.Errorf("in-flight request during shutdown = %q, want %q", got, want)
	}
	if err := waitFor(t, done, "run to return"); err != nil {
		t.Errorf("run = %v, want nil after a graceful shutdown", err)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("server still accepts connections after run returned")
	}
	logs := stderr.String()
	for _, want := range []string{`"msg":"shutting down"`, `"msg":"request"`, `"path":"/slow"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// TestShutdownTimeout wants run to fail when in-flight requests outlast
// shutdown_timeout.
func TestShutdownTimeout(t *testing.T) {
	up, arrived := slowUpstream(t, 3*time.Second)
	path := writeFile(t, "c.yaml", "server: {shutdown_timeout: 100ms}\nendpoints:\n  - path: /slow\n    timeout: 3s\n    backends: [{name: s, url: '"+up.URL+"/s'}]\n")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stderr := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-config", path, "-addr", "127.0.0.1:0"}, io.Discard, stderr) }()
	addr := listenAddr(t, stderr)
	answer := inFlight("http://" + addr + "/slow")
	waitFor(t, arrived, "the request to reach the backend")
	start := time.Now()
	cancel()
	err := waitFor(t, done, "run to return")
	if err == nil || !strings.Contains(err.Error(), "still running after 100ms") {
		t.Errorf("run = %v, want the shutdown timeout", err)
	}
	if exitCode(err) != 1 {
		t.Errorf("exit code = %d, want 1", exitCode(err))
	}
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Errorf("run took %v after cancel, want about 100ms", elapsed)
	}
	<-answer // cut off; any answer will do
}

func TestListenError(t *testing.T) {
	path := writeFile(t, "c.yaml", "endpoints:\n  - path: /a\n    backends: [{name: a, url: 'http://127.0.0.1:1/a'}]\n")
	_, stderr, code := runCmd(t, "-config", path, "-addr", "127.0.0.1:99999")
	if code != 1 || !strings.Contains(stderr, "listen") {
		t.Errorf("bad address: exit %d, stderr %q; want 1 and a listen error", code, stderr)
	}
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// aggregatorBinary builds this command once per test run.
func aggregatorBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "aggregator-test-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "aggregator")
		out, err := exec.Command("go", "build", "-o", buildBin, ".").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build aggregator: %v", buildErr)
	}
	return buildBin
}

// TestSIGTERM runs the real binary: SIGTERM during a request lets it
// finish, then the process exits 0.
func TestSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := aggregatorBinary(t) // TestMain removes it
	up, arrived := slowUpstream(t, 300*time.Millisecond)
	path := writeFile(t, "c.yaml", "endpoints:\n  - path: /slow\n    timeout: 2s\n    backends: [{name: s, url: '"+up.URL+"/s'}]\n")
	cmd := exec.Command(bin, "-config", path, "-addr", "127.0.0.1:0")
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	addr := listenAddr(t, stderr)
	answer := inFlight("http://" + addr + "/slow")
	waitFor(t, arrived, "the request to reach the backend")
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if got, want := waitFor(t, answer, "the in-flight answer"), `200 true {"slow":true}`; got != want {
		t.Errorf("in-flight request during SIGTERM = %q, want %q", got, want)
	}
	err := waitFor(t, exited, "the process to exit")
	exited <- err // for the cleanup
	if err != nil {
		t.Errorf("exit after SIGTERM: %v, want status 0; stderr:\n%s", err, stderr)
	}
}
