package main

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestGrowGC: the collector moves to gcLarge at the first tick where the
// file's pages before the run plus this run's reach gcGrowAt, once; at once
// for a file that already holds that many; never when GOGC was the user's.
func TestGrowGC(t *testing.T) {
	defer func(g bool) { gcGrows = g }(gcGrows)
	gcGrows = true

	// Each tick's check reads the count from values: the test knows what
	// each check saw, and the next tick is taken only once it is done.
	tick := make(chan time.Time)
	values := make(chan int64)
	set := make(chan int, 2)
	stop := growGC(tick, func() int64 { return <-values }, 1_000, func(p int) { set <- p })
	for _, n := range []int64{0, gcGrowAt - 1_000 - 1} {
		tick <- time.Time{}
		values <- n
	}
	tick <- time.Time{} // taken: the checks below the threshold are done
	if len(set) != 0 {
		t.Fatalf("set(%d) below %d pages", <-set, gcGrowAt)
	}
	values <- gcGrowAt - 1_000
	if got := <-set; got != gcLarge {
		t.Errorf("set(%d) at %d pages, want set(%d)", got, gcGrowAt, gcLarge)
	}
	stop() // the watch has ended: stop returns
	if len(set) != 0 {
		t.Errorf("set called again: %d", <-set)
	}

	var fetched atomic.Int64
	growGC(nil, fetched.Load, gcGrowAt, func(p int) { set <- p })()
	if len(set) != 1 || <-set != gcLarge {
		t.Errorf("a file that already holds %d pages: want set(%d) at once", gcGrowAt, gcLarge)
	}

	gcGrows = false
	growGC(tick, fetched.Load, gcGrowAt, func(p int) { set <- p })()
	if len(set) != 0 {
		t.Errorf("GOGC set by the user, yet set(%d)", <-set)
	}
}
