package main

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRatesBefore(t *testing.T) {
	// 1,000 pages a second of wall time, 500 per CPU-second, sampled every 0.5 s.
	var samples []sample
	for i := range 41 {
		at := time.Duration(i) * 500 * time.Millisecond
		samples = append(samples, sample{at: at, fetched: float64(i * 500), cpu: at.Seconds() * 2})
	}
	i := firstAt(samples, 20_000)
	if i != 40 || samples[i].fetched != 20_000 {
		t.Fatalf("firstAt(20000) = %d (fetched %v), want 40", i, samples[i].fetched)
	}
	wall, cpu := ratesBefore(samples, i, 10_000)
	if wall != 1000 || cpu != 500 {
		t.Errorf("ratesBefore = %v pages/s, %v pages/CPU-s; want 1000 and 500", wall, cpu)
	}
	if firstAt(samples, 1e9) != -1 {
		t.Error("firstAt past the end should be -1")
	}
	if w, c := ratesBefore(samples, 0, 10_000); w != 0 || c != 0 {
		t.Errorf("ratesBefore at the first sample = %v, %v; want 0, 0", w, c)
	}
}

func TestScrape(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, strings.Join([]string{
			"# HELP trawl_pages_total Pages recorded.",
			`trawl_pages_total{class="2xx"} 120`,
			`trawl_pages_total{class="4xx"} 3`,
			"trawl_discovered_total 4567",
			"process_resident_memory_bytes 1.048576e+08",
			"process_cpu_seconds_total 12.5",
			"trawl_links_total 999",
		}, "\n"))
	}))
	defer srv.Close()
	s, err := scrape(strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	if s.fetched != 123 || s.discovered != 4567 || s.rss != 100<<20 || s.cpu != 12.5 {
		t.Errorf("scrape = %+v, want fetched 123 (all classes), discovered 4567, rss 100 MiB, cpu 12.5", s)
	}
}

// crawl returns samples every 250 ms of a crawl that fetches pages at rate
// pages/s (wall) spending cpuPerPage(n) CPU-seconds on the page n, with RSS
// growing 1 MiB per 1,000 pages from 50 MiB, until it has fetched total.
func crawl(rate, total float64, cpuPerPage func(n float64) float64) []sample {
	var out []sample
	cpu, n := 0.3, 0.0 // start-up CPU before the first sample
	for i := 1; ; i++ {
		next := min(total, float64(i)*rate/4)
		for ; n < next; n++ {
			cpu += cpuPerPage(n)
		}
		out = append(out, sample{at: time.Duration(i) * 250 * time.Millisecond, fetched: n, cpu: cpu, rss: (50 + n/1000) * (1 << 20)})
		if n >= total {
			return out
		}
	}
}

func TestWindows(t *testing.T) {
	flat := func(float64) float64 { return 0.001 }
	tests := []struct {
		name    string
		samples []sample
		size    float64
		want    [][2]float64 // from, to of each window
		partial []bool
		ppc     []float64 // pages per CPU-second of each window
		rssMiB  []float64 // at each window's end
	}{
		{
			name:    "even windows, the first from the first sample",
			samples: crawl(4000, 30000, flat), size: 10000,
			want:    [][2]float64{{1000, 10000}, {10000, 20000}, {20000, 30000}},
			partial: []bool{true, false, false},
			ppc:     []float64{1000, 1000, 1000},
			rssMiB:  []float64{60, 70, 80},
		},
		{
			name: "getting dearer: 1 ms a page, then 2 ms",
			samples: crawl(4000, 40000, func(n float64) float64 {
				if n < 20000 {
					return 0.001
				}
				return 0.002
			}), size: 20000,
			want:    [][2]float64{{1000, 20000}, {20000, 40000}},
			partial: []bool{true, false},
			ppc:     []float64{1000, 500},
			rssMiB:  []float64{70, 90},
		},
		{
			name:    "a short tail is left out, a long one kept",
			samples: crawl(4000, 34000, flat), size: 8000,
			want:    [][2]float64{{1000, 8000}, {8000, 16000}, {16000, 24000}, {24000, 32000}},
			partial: []bool{true, false, false, false},
			ppc:     []float64{1000, 1000, 1000, 1000},
			rssMiB:  []float64{58, 66, 74, 82},
		},
		{
			name:    "a first sample past half a window leaves the first window out",
			samples: crawl(40000, 50000, flat), size: 12000, // first sample at 10,000 pages
			want:    [][2]float64{{12000, 24000}, {24000, 36000}, {36000, 48000}},
			partial: []bool{false, false, false},
			ppc:     []float64{1000, 1000, 1000},
			rssMiB:  []float64{80, 90, 100}, // from the samples at 30k, 40k and 50k pages, the first at or after each end
		},
		{name: "one sample", samples: crawl(4000, 1000, flat), size: 100},
		{name: "shorter than half a window", samples: crawl(4000, 5000, flat), size: 100000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ws := windows(tt.samples, tt.size)
			if len(ws) != len(tt.want) {
				t.Fatalf("windows(%v) = %d windows %+v, want %d", tt.size, len(ws), ws, len(tt.want))
			}
			for i, w := range ws {
				if w.from != tt.want[i][0] || w.to != tt.want[i][1] || w.partial != tt.partial[i] {
					t.Errorf("window %d = [%v, %v] partial %v, want [%v, %v] partial %v", i, w.from, w.to, w.partial, tt.want[i][0], tt.want[i][1], tt.partial[i])
				}
				if got := w.pagesPerCPU(); math.Abs(got-tt.ppc[i]) > 1e-6*tt.ppc[i] {
					t.Errorf("window %d: %v pages/CPU-s, want %v", i, got, tt.ppc[i])
				}
				if got := w.rss / (1 << 20); got != tt.rssMiB[i] {
					t.Errorf("window %d: RSS at its end %v MiB, want %v", i, got, tt.rssMiB[i])
				}
				if w.wall <= 0 {
					t.Errorf("window %d: wall %v, want positive", i, w.wall)
				}
			}
		})
	}
}

func TestJudge(t *testing.T) {
	w := func(from, to, cpu float64) window { return window{from: from, to: to, cpu: cpu} }
	tests := []struct {
		name    string
		ws      []window
		peakMiB float64
		want    windowVerdict
	}{
		{"flat and small", []window{w(0, 100, 1), w(100, 200, 1)}, 150, windowVerdict{growth: 1, growthOK: true, peakOK: true}},
		{"exactly on the bars", []window{w(0, 100, 1), w(100, 200, 1), w(200, 300, 1.3)}, 200, windowVerdict{growth: 1.3, growthOK: true, peakOK: true}},
		{"dearer by a third, over 200 MiB", []window{w(0, 100, 1), w(100, 200, 1.34)}, 200.5, windowVerdict{growth: 1.34}},
		{"a short last window counts per page", []window{w(500, 1000, 1), w(1000, 1500, 1.1), w(1500, 1700, 0.4)}, 10, windowVerdict{growth: 0.4 / 200 / (1.0 / 500), growthOK: true, peakOK: true}},
		{"one window: no growth figure", []window{w(0, 100, 1)}, 10, windowVerdict{peakOK: true}},
		{"no peak", nil, 0, windowVerdict{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := judge(tt.ws, tt.peakMiB*(1<<20))
			if math.Abs(got.growth-tt.want.growth) > 1e-9 || got.growthOK != tt.want.growthOK || got.peakOK != tt.want.peakOK {
				t.Errorf("judge = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestReportWindows(t *testing.T) {
	samples := crawl(4000, 30000, func(n float64) float64 { return 0.001 + n*1e-8 }) // dearer by 0.01 ms every 1,000 pages
	var buf bytes.Buffer
	v := reportWindows(&buf, samples, 10000, 150*(1<<20))
	out := buf.String()
	for _, want := range []string{
		"windows of 10000 pages fetched",
		"      1000      10000       4000            948         1.055       60.0  (partial)\n",
		"     20000      30000       4000            800         1.250       80.0\n",
		"last/first window CPU per page: 1.18  (bar: <= 1.3) PASS", // 1.250 / 1.055

		"peak RSS: 150.0 MiB  (bar: <= 200 MiB) PASS",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !v.growthOK || !v.peakOK {
		t.Errorf("verdict %+v, want both bars met", v)
	}

	buf.Reset()
	v = reportWindows(&buf, samples, 100000, 250*(1<<20))
	out = buf.String()
	for _, want := range []string{
		"last/first window CPU per page: n/a (fewer than two windows of 100000 pages: lower -window or raise -max-pages)  (bar: <= 1.3) FAIL",
		"peak RSS: 250.0 MiB  (bar: <= 200 MiB) FAIL",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if v.growthOK || v.peakOK {
		t.Errorf("verdict %+v, want neither bar met", v)
	}
}

func TestWindowsPartial(t *testing.T) {
	// The last sample 16 pages short of 30,000: a full window still.
	samples := []sample{{fetched: 5000}, {fetched: 10000, at: time.Second, cpu: 1}, {fetched: 20000, at: 2 * time.Second, cpu: 2}, {fetched: 29984, at: 3 * time.Second, cpu: 3}}
	ws := windows(samples, 10000)
	var got []bool
	for _, w := range ws {
		got = append(got, w.partial)
	}
	if want := []bool{true, false, false}; !slices.Equal(got, want) {
		t.Errorf("windows partial = %v, want %v (5,000 of 10,000 pages is partial, 9,984 is not)", got, want)
	}
}
