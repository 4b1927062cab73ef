package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestSampleWritesOnlyChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var hits, pages atomic.Int64
		var out strings.Builder // written by sample only, read after synctest.Wait
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			done <- sample(ctx, &out, 10*time.Millisecond, func() (int, int) { return int(hits.Load()), int(pages.Load()) })
		}()

		time.Sleep(35 * time.Millisecond) // fake clock: ticks at 10, 20, 30 ms see nothing
		synctest.Wait()
		if out.Len() != 0 {
			t.Fatalf("sample wrote %q before the first request, want nothing", out.String())
		}
		hits.Store(2) // a root and robots.txt: counted though no page was served yet
		time.Sleep(10 * time.Millisecond)
		pages.Store(1)
		hits.Store(3)
		time.Sleep(20 * time.Millisecond) // ticks at 50 and 60 ms: the second sees no change
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("sample = %v, want nil", err)
		}
		want := "sample t_us=40000 hits=2 pages=0\nsample t_us=50000 hits=3 pages=1\n"
		if got := out.String(); got != want {
			t.Errorf("sample wrote %q, want %q", got, want)
		}
	})
}

// lineReader hands the lines written to it to a channel; its Write blocks
// until they are taken or done closes.
type lineReader struct {
	lines chan string   // receives every complete line; never closed
	done  chan struct{} // closed by the test when it stops reading
	mu    sync.Mutex    // guards buf
	buf   string
}

func (l *lineReader) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf += string(p)
	for {
		line, rest, ok := strings.Cut(l.buf, "\n")
		if !ok {
			return len(p), nil
		}
		l.buf = rest
		select {
		case l.lines <- line:
		case <-l.done:
		}
	}
}

func TestRunSamplesServedPages(t *testing.T) {
	if testing.Short() {
		t.Skip("serves on loopback")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout := &lineReader{lines: make(chan string, 64), done: make(chan struct{})}
	stderr := &lineReader{lines: make(chan string, 16), done: make(chan struct{})}
	defer close(stdout.done)
	defer close(stderr.done)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-hosts", "2", "-pages", "20", "-links", "3", "-size", "256", "-seed", "5", "-sample", "1ms"}, stdout, stderr)
	}()
	seeds := []string{<-stdout.lines, <-stdout.lines}
	if l := <-stderr.lines; l != "ready" {
		t.Fatalf("first stderr line %q, want ready", l)
	}
	c := &http.Client{Transport: &http.Transport{}}
	for _, u := range []string{seeds[0], seeds[0] + "p/0", seeds[1] + "p/1", seeds[0] + "p/0"} {
		if !strings.HasPrefix(u, "http://127.0.0.1:") {
			t.Fatalf("seed %q is not on loopback", u)
		}
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// Samples come as the counts change; read until they show every request.
	var last string
	for !strings.HasSuffix(last, " hits=4 pages=2") {
		select {
		case last = <-stdout.lines:
		case err := <-done:
			t.Fatalf("run returned %v before sampling 4 hits; last line %q", err, last)
		}
		if !strings.HasPrefix(last, "sample t_us=") {
			t.Fatalf("stdout line %q, want a sample line", last)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run = %v, want nil", err)
	}
	if got, want := <-stderr.lines, "hits=4 pages=2 duplicates=1"; got != want {
		t.Errorf("totals line %q, want %q", got, want)
	}
}

func TestRunRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{{"-bogus"}, {"extra"}, {"-sample", "0s"}, {"-hosts", "-1"}} {
		err := run(t.Context(), args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "usage") {
			t.Errorf("run(%q) = %v, want a usage error", args, err)
		}
	}
}
