package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The garbage collector is driven by a soft memory limit rather than by
// GOGC alone. Every request makes ~15 KB of short-lived garbage over a live
// heap of ~5 MB (pooled connections, their buffers), so Go's default
// (GOGC=100: collect when the heap doubles) collects every ~250 requests,
// about a tenth of the CPU under load; GOGC=400 spends a quarter of that but
// takes the process from 33 to 49 MB of peak RSS. The limit lets the heap use
// what there is under a memory target, whatever the live heap, and GOGC caps
// how far it grows past a small live heap.
//
// A limit is only a target for the collector: were the live heap to grow near
// it (more connections, a larger config), the collector would run back to
// back. The guard (guardGC) raises the limit then, so that the heap may
// always grow as far as GOGC=gcFloorPercent would let it: the collector
// never runs more often than at GOGC=50, twice Go's default rate at most.
// (A floor at GOGC=100 cost 1.5 MB of peak RSS under aggbench's load: with
// a limit, the runtime keeps freed pages up to it.)
const (
	defaultGCPercent   = 400
	defaultMemoryLimit = 22 << 20
	gcFloorPercent     = 50
	gcGuardEvery       = 500 * time.Millisecond
)

// gcSettings is the collector's setting from the command line.
type gcSettings struct {
	percent int   // GOGC: collect when the heap has grown this many percent past the live heap; -1 off
	limit   int64 // soft memory limit in bytes (raised by the guard when need be); 0 none
}

// parseGCPercent parses -gc-percent: a positive number or "off"; "" means
// GOGC from the environment, else defaultGCPercent.
func parseGCPercent(s string) (int, error) {
	if s == "" {
		if s = os.Getenv("GOGC"); s == "" {
			return defaultGCPercent, nil
		}
	}
	if strings.EqualFold(s, "off") {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%q: want a positive number of percent or off", s)
	}
	return n, nil
}

// minMemoryLimit is the smallest limit accepted: below it the limit would
// be the guard's floor at every tick.
const minMemoryLimit = 4 << 20

// parseMemoryLimit parses -memory-limit: a size in bytes with an optional
// unit (B, KiB, MiB, GiB, as GOMEMLIMIT takes them) or "off"; "" means
// GOMEMLIMIT from the environment, else defaultMemoryLimit.
func parseMemoryLimit(s string) (int64, error) {
	if s == "" {
		if s = os.Getenv("GOMEMLIMIT"); s == "" {
			return defaultMemoryLimit, nil
		}
	}
	if strings.EqualFold(s, "off") {
		return 0, nil
	}
	num, unit := s, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			num, unit = v, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q: want a size such as 22MiB, or off", s)
	}
	if n*unit < minMemoryLimit {
		return 0, fmt.Errorf("%q: below the smallest limit, %dMiB", s, minMemoryLimit>>20)
	}
	return n * unit, nil
}

// memSample is what the guard reads from the runtime.
type memSample struct {
	live    uint64 // the heap marked live by the last collection
	roots   uint64 // the goroutine stacks and globals the last collection scanned
	nonHeap uint64 // memory the limit counts besides the heap objects: stacks, the spans' unused space, the collector's metadata, the runtime's other structures
}

// floorLimit returns the limit to set: the configured one, or more when the
// heap would have less room under it than GOGC=gcFloorPercent gives (the
// live heap plus that percentage of the live heap, stacks and globals: Go's
// heap goal), with the headroom the runtime keeps under a limit (3 % of the
// goal, at least 1 MiB).
func floorLimit(configured int64, m memSample) int64 {
	goal := m.live + (m.live+m.roots)*gcFloorPercent/100
	need := m.nonHeap + goal + max(goal/32, 1<<20)
	if need > math.MaxInt64 || int64(need) < configured {
		return configured
	}
	return int64(need)
}

// Samples read by readMem.
var memMetrics = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/gc/scan/stack:bytes",
	"/gc/scan/globals:bytes",
}

// readMem reads the live heap, the roots and the memory the limit counts
// besides the heap, as the runtime sees them.
func readMem() memSample {
	s := make([]rtmetrics.Sample, len(memMetrics))
	for i, name := range memMetrics {
		s[i].Name = name
	}
	rtmetrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != rtmetrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	// As the runtime counts it for the limit: the spans' unused space is
	// not the heap's.
	total, released, free, objects := v(1), v(2), v(3), v(4)
	heap := released + free + objects
	var nonHeap uint64
	if total > heap {
		nonHeap = total - heap
	}
	return memSample{live: v(0), roots: v(6) + v(7), nonHeap: nonHeap}
}

// guardGC keeps the memory limit, set to configured by the caller, at
// floorLimit(configured, read()) at each tick, calling set when that changes
// by more than a sixteenth (or comes back to configured), until stop is
// closed; it returns then.
func guardGC(configured int64, tick <-chan time.Time, stop <-chan struct{}, read func() memSample, set func(int64)) {
	cur := configured
	for {
		select {
		case <-stop:
			return
		case <-tick:
		}
		next := floorLimit(configured, read())
		if d := next - cur; d > cur/16 || -d > cur/16 || next == configured && cur != configured {
			cur = next
			set(cur)
		}
	}
}

// applyGC sets the collector to s (with the guard, when there is a limit,
// ticking every gcGuardEvery) and returns a function that stops the guard
// and puts the previous setting back. Tests replace it: the setting is the
// process's.
var applyGC = func(s gcSettings) (restore func()) {
	t := time.NewTicker(gcGuardEvery)
	r := startGC(s, t.C)
	return func() {
		r()
		t.Stop()
	}
}

// startGC is applyGC with the guard's ticks from tick.
func startGC(s gcSettings, tick <-chan time.Time) (restore func()) {
	oldPercent := debug.SetGCPercent(s.percent)
	oldLimit := debug.SetMemoryLimit(-1) // reads it
	if s.limit == 0 {
		debug.SetMemoryLimit(math.MaxInt64)
		return func() {
			debug.SetGCPercent(oldPercent)
			debug.SetMemoryLimit(oldLimit)
		}
	}
	debug.SetMemoryLimit(s.limit)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		guardGC(s.limit, tick, stop, readMem, func(n int64) { debug.SetMemoryLimit(n) })
	})
	return func() {
		close(stop)
		wg.Wait()
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	}
}
