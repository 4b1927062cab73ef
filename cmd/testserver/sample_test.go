package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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

		// Inside the bubble, time.Sleep advances the fake clock once every
		// goroutine is blocked: each one below is a step of that clock, not a
		// wait for the sampler.
		time.Sleep(35 * time.Millisecond) // ticks at 10, 20, 30 ms see nothing
		synctest.Wait()
		if out.Len() != 0 {
			t.Fatalf("sample wrote %q before the first request, want nothing", out.String())
		}
		hits.Store(2)                     // a root and robots.txt: counted though no page was served yet
		time.Sleep(10 * time.Millisecond) // the tick at 40 ms sees hits=2
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

// failWriter fails every write, as stdout does once its reader has gone.
type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestSampleReturnsWriteError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		err := sample(t.Context(), failWriter{}, time.Millisecond, func() (int, int) { return 1, 1 })
		if !errors.Is(err, io.ErrClosedPipe) {
			t.Errorf("sample to a failing writer = %v, want %v", err, io.ErrClosedPipe)
		}
	})
}

func TestRunSamplesServedPages(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	stdout, stderr := newSyncWriter(), newSyncWriter()
	done := make(chan error, 1)
	args := []string{"-hosts", "2", "-pages", "20", "-links", "3", "-size", "256", "-seed", "5", "-sample", "1ms"}
	go func() { done <- run(ctx, args, stdout, stderr) }()
	stderr.await(t, "ready\n", done)

	seeds := strings.Fields(stdout.String())
	if len(seeds) != 2 {
		t.Fatalf("stdout = %q, want 2 seed URLs and no sample before the first request", stdout)
	}
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	for _, u := range []string{seeds[0], seeds[0] + "p/0", seeds[1] + "p/1", seeds[0] + "p/0"} {
		if code, _ := fetch(t, c, u); code != 200 {
			t.Errorf("GET %s: %d, want 200", u, code)
		}
	}
	// Samples come as the counts change; wait for one that shows every request.
	stdout.await(t, " hits=4 pages=2\n", done)

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run after cancel = %v, want nil", err)
	}
	lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
	var prevT, prevHits, prevPages int64
	for i, line := range lines[2:] {
		var p [3]int64
		if _, err := fmt.Sscanf(line, "sample t_us=%d hits=%d pages=%d", &p[0], &p[1], &p[2]); err != nil {
			t.Fatalf("stdout line %q after the seeds: %v, want a sample line", line, err)
		}
		// Each line is taken at a later tick and differs from the one before.
		if i > 0 && (p[0] <= prevT || p[1] < prevHits || p[2] < prevPages || (p[1] == prevHits && p[2] == prevPages)) {
			t.Errorf("sample %q after t_us=%d hits=%d pages=%d: want a later time and changed, not smaller, counts",
				line, prevT, prevHits, prevPages)
		}
		prevT, prevHits, prevPages = p[0], p[1], p[2]
	}
	if prevHits != 4 || prevPages != 2 {
		t.Errorf("last sample hits=%d pages=%d, want hits=4 pages=2 (4 requests, 2 distinct pages)", prevHits, prevPages)
	}
	if last, want := strings.TrimSpace(stderr.String()), "ready\nhits=4 pages=2 duplicates=1"; last != want {
		t.Errorf("stderr = %q, want %q", last, want)
	}
}
