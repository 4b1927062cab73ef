package main

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParsePoint(t *testing.T) {
	tests := []struct {
		line   string
		want   point
		wantOK bool
	}{
		{"sample t_us=1500 hits=12 pages=10", point{T: 1500 * time.Microsecond, Hits: 12, Pages: 10}, true},
		{"  sample pages=3 t_us=0 hits=4 extra=x\r\n", point{Hits: 4, Pages: 3}, true},
		{"sample t_us=1 hits=2", point{}, false}, // no pages
		{"sample t_us=1 hits=2 pages=-1", point{}, false},
		{"sample t_us=1.5 hits=2 pages=1", point{}, false},
		{"hits=5 pages=4 duplicates=0", point{}, false}, // the totals line
		{"http://127.0.0.1:4000/", point{}, false},
		{"", point{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			got, ok := parsePoint(tt.line)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parsePoint(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestReadCurve(t *testing.T) {
	out := "http://127.0.0.1:1/\nsample t_us=10 hits=1 pages=0\nnoise\n" +
		strings.Repeat("x", 2<<20) + "\nsample t_us=30 hits=3 pages=2\n" // a line too long: the rest is drained, not parsed
	start := parseCurve([]byte("sample t_us=5 hits=1 pages=0\n"), nil)
	got := readCurve(strings.NewReader(out), start)
	want := []point{{T: 5 * time.Microsecond, Hits: 1}, {T: 10 * time.Microsecond, Hits: 1}}
	if !slices.Equal(got, want) {
		t.Errorf("readCurve = %+v, want %+v", got, want)
	}
}

// steady returns a curve of pages served at rate pages per second for d,
// sampled every step, starting with n0 pages at time t0.
func steady(t0 time.Duration, n0 int64, rate float64, d, step time.Duration) []point {
	var c []point
	for at := time.Duration(0); at <= d; at += step {
		n := n0 + int64(rate*at.Seconds())
		c = append(c, point{T: t0 + at, Hits: n + 9, Pages: n})
	}
	return c
}

func TestTimeAt(t *testing.T) {
	curve := []point{{T: 10 * time.Millisecond, Pages: 5}, {T: 20 * time.Millisecond, Pages: 5}, {T: 30 * time.Millisecond, Pages: 15}}
	tests := []struct {
		n    int64
		want time.Duration
	}{
		{0, 10 * time.Millisecond},  // already had it at the first point
		{5, 10 * time.Millisecond},  // the first point that had it, not the last
		{6, 21 * time.Millisecond},  // a tenth of the way from 20 to 30 ms
		{10, 25 * time.Millisecond}, // halfway
		{15, 30 * time.Millisecond},
		{99, 30 * time.Millisecond}, // never reached: the last point
	}
	for _, tt := range tests {
		if got := timeAt(curve, tt.n); got != tt.want {
			t.Errorf("timeAt(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestWindowsOf(t *testing.T) {
	// 1,000 pages/s for 30 s, then 800 pages/s for 10 s: 38,000 pages.
	slowing := steady(time.Second, 0, 1000, 30*time.Second, 5*time.Millisecond)
	slowing = append(slowing, steady(31*time.Second, 30000, 800, 10*time.Second, 5*time.Millisecond)[1:]...)
	tests := []struct {
		name        string
		curve       []point
		size        int64
		want        rateWindows
		first, last float64 // pages/s, when want.Size > 0
	}{
		{"steady", steady(0, 0, 2000, 50*time.Second, 5*time.Millisecond), 20000, rateWindows{Size: 20000}, 2000, 2000},
		{"starts mid-crawl", steady(time.Hour, 123, 500, 100*time.Second, 10*time.Millisecond), 20000, rateWindows{Size: 20000}, 500, 500},
		{"slowing down", slowing, 8000, rateWindows{Size: 8000}, 1000, 800},
		{"last window spans the change", slowing, 15000, rateWindows{Size: 15000}, 1000, 15000 / (7.0 + 10)},
		{"shorter than two windows: half each", steady(0, 0, 1000, 30*time.Second, 5*time.Millisecond), 20000, rateWindows{Size: 15000}, 1000, 1000},
		{"one page", []point{{T: 0, Pages: 0}, {T: time.Millisecond, Pages: 1}}, 20000, rateWindows{}, 0, 0},
		{"two pages", []point{{T: 0, Pages: 0}, {T: time.Millisecond, Pages: 1}, {T: 3 * time.Millisecond, Pages: 2}}, 20000, rateWindows{Size: 1}, 1000, 500},
		{"no pages, only requests", []point{{T: 0, Hits: 1}, {T: time.Second, Hits: 9}}, 20000, rateWindows{}, 0, 0},
		{"one point", []point{{T: time.Second, Pages: 100000}}, 20000, rateWindows{}, 0, 0},
		{"no record", nil, 20000, rateWindows{}, 0, 0},
		{"all at once", []point{{T: 0, Pages: 0}, {T: 0, Pages: 100}}, 10, rateWindows{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := windowsOf(tt.curve, tt.size)
			if got.Size != tt.want.Size {
				t.Fatalf("windowsOf(%d) = %+v, want size %d", tt.size, got, tt.want.Size)
			}
			if got.Size == 0 {
				if got != (rateWindows{}) || got.ok() || got.ratio() != 0 {
					t.Errorf("windowsOf(%d) = %+v, want the zero value", tt.size, got)
				}
				return
			}
			if !closeTo(got.First, tt.first) || !closeTo(got.Last, tt.last) || !closeTo(got.ratio(), tt.last/tt.first) {
				t.Errorf("windowsOf(%d) = first %.2f last %.2f ratio %.4f pages/s; want %.2f %.2f %.4f",
					tt.size, got.First, got.Last, got.ratio(), tt.first, tt.last, tt.last/tt.first)
			}
		})
	}
}

// closeTo reports whether a is within 0.5% of b: sampling every few
// milliseconds and whole page counts leave a little error.
func closeTo(a, b float64) bool { return math.Abs(a-b) <= 0.005*math.Abs(b) }
