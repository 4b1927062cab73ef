package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// point is one sample line of cmd/testserver -sample: the counts it had
// reached at T.
type point struct {
	T     time.Duration // on the server's clock; only differences mean anything
	Hits  int64         // requests of any path so far
	Pages int64         // distinct pages served with status 200 so far
}

// parsePoint parses a line "sample t_us=N hits=N pages=N" (fields in any
// order after the word sample) and reports whether it is one.
func parsePoint(line string) (point, bool) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "sample" {
		return point{}, false
	}
	vals := map[string]int64{}
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		if k != "t_us" && k != "hits" && k != "pages" {
			continue // a field a later testserver may add
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return point{}, false
		}
		vals[k] = n
	}
	if len(vals) != 3 {
		return point{}, false
	}
	return point{T: time.Duration(vals["t_us"]) * time.Microsecond, Hits: vals["hits"], Pages: vals["pages"]}, true
}

// rateWindows is a run's crawl rate over its first and its last Size pages,
// from the testserver's record of pages served over time.
//
// The first window starts at the record's first point, which the server
// takes within one sample interval of the crawler's first request, so it
// holds the crawler's ramp-up but not its process start. The last window ends
// at the record's last point. A crawl of fewer than two windows' worth of
// pages gets windows of half its pages, so the two never overlap; Size says
// which size was used, and 0 means the record was too short (or missing) for
// any rate.
type rateWindows struct {
	Size  int64   // pages in each window; 0 means no windows
	First float64 // pages per second over the first Size pages
	Last  float64 // pages per second over the last Size pages
}

// String describes w for the progress lines.
func (w rateWindows) String() string {
	if !w.ok() {
		return "no rate windows"
	}
	return fmt.Sprintf("%.0f pages/s over the first %d pages, %.0f over the last (last/first %.2f)", w.First, w.Size, w.Last, w.ratio())
}

// ratio returns Last/First, or 0 without windows.
func (w rateWindows) ratio() float64 { return ratio(w.Last, w.First) }

// ok reports whether both rates were measured.
func (w rateWindows) ok() bool { return w.Size > 0 && w.First > 0 && w.Last > 0 }

// windowsOf computes the rate windows of size pages (or smaller, see
// rateWindows) over curve, whose counts never decrease.
func windowsOf(curve []point, size int64) rateWindows {
	if len(curve) < 2 || size < 1 {
		return rateWindows{}
	}
	first, last := curve[0], curve[len(curve)-1]
	size = min(size, (last.Pages-first.Pages)/2)
	if size < 1 {
		return rateWindows{}
	}
	w := rateWindows{Size: size}
	if dt := timeAt(curve, first.Pages+size) - first.T; dt > 0 {
		w.First = float64(size) / dt.Seconds()
	}
	if dt := timeAt(curve, last.Pages) - timeAt(curve, last.Pages-size); dt > 0 {
		w.Last = float64(size) / dt.Seconds()
	}
	if !w.ok() {
		return rateWindows{}
	}
	return w
}

// timeAt returns when the page count of curve first reached n, interpolated
// linearly between the points around it; the first point's time for counts
// it already had, and the last point's for counts it never reached.
func timeAt(curve []point, n int64) time.Duration {
	for i, p := range curve {
		if p.Pages < n {
			continue
		}
		if i == 0 {
			return p.T
		}
		q := curve[i-1] // q.Pages < n <= p.Pages
		frac := float64(n-q.Pages) / float64(p.Pages-q.Pages)
		return q.T + time.Duration(frac*float64(p.T-q.T))
	}
	return curve[len(curve)-1].T
}
