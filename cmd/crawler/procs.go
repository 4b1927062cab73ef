package main

import (
	"log/slog"
	"os"
	"runtime"
	"runtime/metrics"
	"time"
)

// A crawl waits on the network far more than it computes, and Go's scheduler
// pays for every processor it may use: with GOMAXPROCS at the machine's two
// cores, goroutines woken by the network were handed to the other processor,
// whose thread had to be woken, looked for more work and went back to sleep
// (futex and scheduler calls, sysmon at its shortest sleep). On the
// crawlbench site, 100,000 pages, 2 interleaved pairs on the 2-core machine:
// 3,631-4,205 pages per CPU-second with GOMAXPROCS=2, 5,754-5,949 with 1, the
// wall time no longer (29.4 s against 30.1-33.0 s).
//
// So the crawler starts on one processor and the governor gives it another
// when the ones it has are busy (procsHotBusy of the time, procsHotFor
// seconds running: a crawl bound by its own CPU), up to the number Go chose
// at start (the machine's cores, or its container's CPU limit); it takes one
// back after procsColdFor seconds in which one fewer would have been
// procsColdUse busy at most. --cpus N fixes the count instead, and so does
// GOMAXPROCS in the environment.
//
// Measured (the runtime's busy fraction, each second, on one processor): the
// crawlbench crawl, 0.61-0.87 on a quiet machine (0.5-0.84 loaded); a crawl
// bound by its own CPU (64 KiB pages of 300 links, the testserver on the
// other core), 0.91-0.94, where two processors crawl 1.5 times as fast
// (8,000 pages in 8.7-9.1 s against 13.4 s, the same CPU) and the governor
// took 10.3 s.
const (
	procsHotBusy  = 0.90
	procsHotFor   = 3
	procsColdUse  = 0.6
	procsColdFor  = 10
	procsInterval = time.Second
)

// procsGovernor decides how many processors the crawl may use.
type procsGovernor struct {
	n, max    int // processors now, and at most
	hot, cold int // consecutive intervals busy, and idle enough to give one back
}

// next returns the processor count after an interval in which the n
// processors were busy for the fraction busy of the time.
func (g *procsGovernor) next(busy float64) int {
	switch {
	case busy >= procsHotBusy && g.n < g.max:
		g.hot, g.cold = g.hot+1, 0
		if g.hot >= procsHotFor {
			g.n, g.hot = g.n+1, 0
		}
	case g.n > 1 && busy*float64(g.n) <= procsColdUse*float64(g.n-1):
		g.hot, g.cold = 0, g.cold+1
		if g.cold >= procsColdFor {
			g.n, g.cold = g.n-1, 0
		}
	default:
		g.hot, g.cold = 0, 0
	}
	return g.n
}

// procsBusy returns a reader of how busy the processors were since its last
// call, from the runtime's CPU classes (the idle part of GOMAXPROCS times the
// wall time); ok is false when the runtime has not counted any time since.
func procsBusy() func() (busy float64, ok bool) {
	s := []metrics.Sample{{Name: "/cpu/classes/idle:cpu-seconds"}, {Name: "/cpu/classes/total:cpu-seconds"}}
	var idle, total float64
	read := func() (float64, float64) {
		metrics.Read(s)
		return s[0].Value.Float64(), s[1].Value.Float64()
	}
	idle, total = read()
	return func() (float64, bool) {
		i, t := read()
		di, dt := i-idle, t-total
		idle, total = i, t
		if dt <= 0 {
			return 0, false
		}
		return min(max(1-di/dt, 0), 1), true
	}
}

// startProcs sets the processors the crawl uses: cpus of them when cpus > 0
// or GOMAXPROCS is set, otherwise one at first and what the governor decides
// at each tick. stop ends the governor and returns after it.
func startProcs(cpus int, tick <-chan time.Time, log *slog.Logger) (stop func()) {
	if cpus > 0 {
		runtime.GOMAXPROCS(cpus)
		return func() {}
	}
	if os.Getenv("GOMAXPROCS") != "" {
		return func() {}
	}
	g := &procsGovernor{n: 1, max: runtime.GOMAXPROCS(0)}
	if g.max <= 1 {
		return func() {}
	}
	runtime.GOMAXPROCS(1)
	busy := procsBusy()
	return onTicks(tick, func() bool {
		if b, ok := busy(); ok {
			if n := g.n; g.next(b) != n {
				runtime.GOMAXPROCS(g.n)
				log.Debug("processors", "from", n, "to", g.n, "busy", b)
			}
		}
		return false
	})
}
