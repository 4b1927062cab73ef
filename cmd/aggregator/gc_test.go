package main

import (
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strings"
	"testing"
	"time"
)

// TestGCFlags: -gc-percent and -memory-limit take a number (a size with its
// unit) or off, fall back to GOGC and GOMEMLIMIT, then to the defaults, and
// refuse anything else as a usage error.
func TestGCFlags(t *testing.T) {
	t.Setenv("GOGC", "")
	t.Setenv("GOMEMLIMIT", "")
	for _, tc := range []struct {
		in   string
		want int
		bad  bool
	}{{"", defaultGCPercent, false}, {"250", 250, false}, {"off", -1, false}, {"OFF", -1, false},
		{"0", 0, true}, {"-5", 0, true}, {"lots", 0, true}, {"1.5", 0, true}} {
		got, err := parseGCPercent(tc.in)
		if tc.bad != (err != nil) || !tc.bad && got != tc.want {
			t.Errorf("parseGCPercent(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{{"", defaultMemoryLimit, false}, {"24MiB", 24 << 20, false}, {"1GiB", 1 << 30, false},
		{"8192KiB", 8 << 20, false}, {"10485760", 10 << 20, false}, {"10485760B", 10 << 20, false}, {"off", 0, false},
		{"3MiB", 0, true}, {"24MB", 0, true}, {"-1MiB", 0, true}, {"MiB", 0, true}, {"99999999999GiB", 0, true}} {
		got, err := parseMemoryLimit(tc.in)
		if tc.bad != (err != nil) || !tc.bad && got != tc.want {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.bad)
		}
	}

	t.Setenv("GOGC", "off")
	t.Setenv("GOMEMLIMIT", "64MiB")
	if p, _ := parseGCPercent(""); p != -1 {
		t.Errorf("GOGC=off: -gc-percent default %d, want -1 (off)", p)
	}
	if l, _ := parseMemoryLimit(""); l != 64<<20 {
		t.Errorf("GOMEMLIMIT=64MiB: -memory-limit default %d, want %d", l, 64<<20)
	}
	if p, _ := parseGCPercent("300"); p != 300 {
		t.Errorf("the flag loses to GOGC: %d, want 300", p)
	}

	_, stderr, code := runCmd(t, "-config", "x.yaml", "-memory-limit", "lots")
	if code != 2 || !strings.Contains(stderr, "-memory-limit") {
		t.Errorf("-memory-limit lots: exit %d, stderr %q; want 2 and the flag named", code, stderr)
	}
}

// TestFloorLimit: the configured limit stands while it leaves the heap the
// room GOGC=50 would (half the live heap, stacks and globals over again);
// past that, the limit rises with them, so that the collector never runs
// more often than at GOGC=50.
func TestFloorLimit(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live, roots, nonHeap uint64
		want                 int64
	}{
		{4 * mib, 0, 8 * mib, 22 * mib},                  // 8 + 6 + 1 (the runtime's headroom): under the limit
		{8 * mib, 0, 8 * mib, 22 * mib},                  // 8 + 12 + 1: just under
		{12 * mib, 0, 8 * mib, 27 * mib},                 // 8 + 18 + 1
		{10 * mib, 4 * mib, 8 * mib, 26 * mib},           // Go's goal counts stacks and globals: 8 + 17 + 1
		{100 * mib, 0, 10 * mib, 160*mib + (150*mib)/32}, // 10 + 150 + 3 %
	} {
		if got := floorLimit(22*mib, memSample{live: tc.live, roots: tc.roots, nonHeap: tc.nonHeap}); got != tc.want {
			t.Errorf("floorLimit(22MiB, live %d MiB, roots %d MiB, non-heap %d MiB) = %.2f MiB, want %.2f MiB",
				tc.live/mib, tc.roots/mib, tc.nonHeap/mib, float64(got)/mib, float64(tc.want)/mib)
		}
	}
}

// TestGuardGC drives the guard tick by tick: it raises the limit when the
// live heap outgrows it, ignores changes under a sixteenth, comes back to
// the configured limit when the heap shrinks, and returns when stopped.
func TestGuardGC(t *testing.T) {
	const mib = 1 << 20
	tick := make(chan time.Time)
	stop := make(chan struct{})
	samples := make(chan memSample)
	set := make(chan int64)
	done := make(chan struct{})
	go func() {
		guardGC(22*mib, tick, stop, func() memSample { return <-samples }, func(n int64) { set <- n })
		close(done)
	}()
	tick <- time.Time{} // the guard now waits for a sample
	// step gives the guard a sample and returns the limit it set (0 when
	// none), leaving it waiting for the next tick's sample.
	step := func(live uint64) int64 {
		samples <- memSample{live: live, nonHeap: 8 * mib}
		select {
		case n := <-set:
			tick <- time.Time{}
			return n
		case tick <- time.Time{}:
			return 0
		}
	}
	for _, tc := range []struct {
		what string
		live uint64
		want int64
	}{
		{"a small live heap", 4 * mib, 0},
		{"16 MiB live", 16 * mib, 33 * mib}, // 8 + 16 + 8 + 1
		{"a quarter MiB more: under a sixteenth", 16*mib + mib/4, 0},
		{"the live heap shrank", 4 * mib, 22 * mib}, // back to the configured limit
		{"small again", 4 * mib, 0},
	} {
		if got := step(tc.live); got != tc.want {
			t.Errorf("%s: set(%.2f MiB), want %.2f MiB (0: no call)", tc.what, float64(got)/mib, float64(tc.want)/mib)
		}
	}
	close(stop)
	samples <- memSample{live: 4 * mib, nonHeap: 8 * mib} // no change: the guard sees stop next
	<-done
}

// TestGCGuardsALargeLiveHeap: with the memory limit far below the live
// heap, the collector would run back to back; at the guard's first tick the
// limit rises, and allocating twice the live heap then costs a handful of
// collections. The restore function puts the process's setting back.
func TestGCGuardsALargeLiveHeap(t *testing.T) {
	oldPercent := debug.SetGCPercent(100)
	debug.SetGCPercent(oldPercent)
	oldLimit := debug.SetMemoryLimit(-1)

	live := make([][]byte, 0, 64) // 64 MiB live, the limit 8 MiB
	for range 64 {
		live = append(live, make([]byte, 1<<20))
	}
	tick := make(chan time.Time)
	restore := startGC(gcSettings{percent: 400, limit: 8 << 20}, tick)
	runtime.GC() // the live heap as the guard will read it
	tick <- time.Time{}
	tick <- time.Time{} // taken once the first tick's work is done

	cycles := func() uint64 {
		s := []rtmetrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
		rtmetrics.Read(s)
		return s[0].Value.Uint64()
	}
	before := cycles()
	for range 128 * 1024 { // 128 MiB of 1 KiB garbage
		sink = make([]byte, 1024)
	}
	n := cycles() - before
	limit := debug.SetMemoryLimit(-1)
	restore()
	runtime.KeepAlive(live)
	if n > 8 {
		t.Errorf("allocating 2x a 64 MiB live heap under an 8 MiB limit took %d collections (the limit at %d MiB), want at most 8", n, limit>>20)
	}
	if p := debug.SetGCPercent(oldPercent); p != oldPercent {
		t.Errorf("after restore GOGC is %d, want %d", p, oldPercent)
	}
	if l := debug.SetMemoryLimit(-1); l != oldLimit {
		t.Errorf("after restore the limit is %d, want %d", l, oldLimit)
	}
}

// sink keeps the test's garbage from being optimised away.
var sink []byte
