package main

import (
	"log/slog"
	"runtime"
	"testing"
	"time"
)

// TestProcsGovernor: a processor is added after procsHotFor busy intervals
// in a row (never past max), taken back after procsColdFor intervals in
// which one fewer would have sufficed (never below one), and any other
// interval breaks either streak.
func TestProcsGovernor(t *testing.T) {
	g := &procsGovernor{n: 1, max: 2}
	step := func(busy float64, want int) {
		t.Helper()
		if got := g.next(busy); got != want {
			t.Fatalf("after busy %.2f: %d processors, want %d (%+v)", busy, got, want, *g)
		}
	}
	for range procsHotFor - 1 {
		step(0.99, 1)
	}
	step(0.5, 1) // the streak is broken
	for range procsHotFor - 1 {
		step(procsHotBusy, 1)
	}
	step(1, 2)
	for range procsHotFor + 2 {
		step(1, 2) // max reached
	}
	// With 2 processors, 0.3 busy is 0.6 of one: one fewer suffices.
	for range procsColdFor - 1 {
		step(0.3, 2)
	}
	step(0.31, 2) // 0.62 of one: the streak is broken
	for range procsColdFor - 1 {
		step(0.2, 2)
	}
	step(0.2, 1)
	for range procsColdFor + 2 {
		step(0, 1) // never below one
	}
}

// TestStartProcs: --cpus fixes the count; without it the crawl starts on
// one processor and stop ends the governor.
func TestStartProcs(t *testing.T) {
	t.Setenv("GOMAXPROCS", "") // the governor's own decision, whatever the environment
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	log := slog.New(slog.DiscardHandler)

	startProcs(3, nil, log)()
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Fatalf("--cpus 3: GOMAXPROCS %d", got)
	}
	runtime.GOMAXPROCS(4)
	tick := make(chan time.Time)
	stop := startProcs(0, tick, log)
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("adaptive: starts at %d processors, want 1", got)
	}
	tick <- time.Time{} // taken by the governor
	stop()
}
