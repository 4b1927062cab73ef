package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{4}, 4},
		{"odd unsorted", []float64{9, 1, 5}, 5},
		{"even: mean of the middle two", []float64{10, 1, 4, 2}, 3},
		{"outlier does not move it", []float64{1, 2, 1000}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64(nil), tt.xs...)
			if got := median(tt.xs); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.xs[i] {
					t.Fatalf("median reordered its input: %v, was %v", tt.xs, in)
				}
			}
		})
	}
}

// mk builds a successful sample: pages, CPU seconds, peak RSS MiB, duplicates.
func mk(tool string, run int, pages int64, cpuS, rssMiB float64, dups int64) sample {
	return sample{
		Tool: tool, Run: run, Pages: pages, Hits: pages, Duplicates: dups, SelfPages: -1,
		Usage: usage{
			Wall:    time.Duration(cpuS * float64(time.Second)), // one core busy
			User:    time.Duration(cpuS * 0.75 * float64(time.Second)),
			Sys:     time.Duration(cpuS * 0.25 * float64(time.Second)),
			PeakRSS: int64(rssMiB * (1 << 20)),
		},
	}
}

// win gives s rate windows of size pages: first and last in pages per second.
func win(s sample, size int64, first, last float64) sample {
	s.Windows = rateWindows{Size: size, First: first, Last: last}
	return s
}

func TestSummarize(t *testing.T) {
	normal := config{Hosts: 8, Pages: 120000, Links: 10, MaxPages: 100000, Parallelism: 16, Window: 20000}
	scale := normal
	scale.Scale, scale.Pages, scale.Links = true, 2000000, 12
	failed := mk(toolColly, 4, 10, 0.001, 1, 0) // would wreck the medians if counted
	failed.Err = errors.New("exit status 1")
	tests := []struct {
		name         string
		cfg          config
		samples      []sample
		cpu, rss     float64 // want ratios; 0 means nil
		rate         float64 // want Trawl's median last/first; 0 means nil
		wantBar      bar
		trawlFailed  int
		collyFailed  int
		trawlMinPage int64
	}{
		{
			name: "normal bar met",
			cfg:  normal,
			samples: []sample{
				win(mk(toolTrawl, 1, 100000, 10, 30, 0), 20000, 10000, 9500), mk(toolColly, 1, 100000, 40, 300, 12),
				mk(toolColly, 2, 100000, 50, 320, 0), win(mk(toolTrawl, 2, 100000, 12, 40, 0), 20000, 10000, 8000),
				win(mk(toolTrawl, 3, 100000, 11, 35, 0), 20000, 10000, 10000), mk(toolColly, 3, 100000, 45, 310, 3),
				failed,
			},
			// medians: trawl 100000/11 pages/CPU-s, 35 MiB, last/first 0.95; colly 100000/45, 310 MiB
			cpu: 45.0 / 11, rss: 35.0 / 310, rate: 0.95,
			wantBar:      bar{CPU: true, RSS: true, Duplicates: true, Rate: true, Pages: true, Met: true},
			collyFailed:  1,
			trawlMinPage: 100000,
		},
		{
			name: "normal: the old 3x and 1/3 no longer pass",
			cfg:  normal,
			samples: []sample{
				win(mk(toolTrawl, 1, 100000, 10, 100, 0), 20000, 100, 100), mk(toolColly, 1, 100000, 30, 300, 0),
			},
			cpu: 3, rss: 1.0 / 3, rate: 1,
			wantBar:      bar{Duplicates: true, Rate: true, Pages: true},
			trawlMinPage: 100000,
		},
		{
			name: "normal, exactly on the bar: 4x, an eighth, 0.9, 99% of the budget",
			cfg:  normal,
			samples: []sample{
				win(mk(toolTrawl, 1, 99000, 9.9, 40, 0), 20000, 1000, 900), mk(toolColly, 1, 100000, 40, 320, 0),
			},
			cpu: 4, rss: 1.0 / 8, rate: 0.9,
			wantBar:      bar{CPU: true, RSS: true, Duplicates: true, Rate: true, Pages: true, Met: true},
			trawlMinPage: 99000,
		},
		{
			name: "cpu short, one duplicate, short of pages, slowing down",
			cfg:  normal,
			samples: []sample{
				win(mk(toolTrawl, 1, 98999, 20, 30, 1), 20000, 1000, 899), mk(toolColly, 1, 100000, 40, 300, 0),
			},
			cpu: (98999.0 / 20) / (100000.0 / 40), rss: 30.0 / 300, rate: 0.899,
			wantBar:      bar{RSS: true},
			trawlMinPage: 98999,
		},
		{
			name: "no rate windows: the rate bar fails",
			cfg:  normal,
			samples: []sample{
				mk(toolTrawl, 1, 100000, 10, 30, 0), win(mk(toolColly, 1, 100000, 40, 300, 0), 20000, 10, 10),
			},
			cpu: 4, rss: 0.1,
			wantBar:      bar{CPU: true, RSS: true, Duplicates: true, Pages: true},
			trawlMinPage: 100000,
		},
		{
			name: "scale bar met: 2x, 120 MiB however big Colly's",
			cfg:  scale,
			samples: []sample{
				win(mk(toolTrawl, 1, 100000, 20, 120, 0), 20000, 1000, 950), mk(toolColly, 1, 100000, 40, 200, 0),
			},
			cpu: 2, rss: 0.6, rate: 0.95,
			wantBar:      bar{CPU: true, RSS: true, Duplicates: true, Rate: true, Pages: true, Met: true},
			trawlMinPage: 100000,
		},
		{
			name: "scale: over 120 MiB though far below Colly, under 2x",
			cfg:  scale,
			samples: []sample{
				win(mk(toolTrawl, 1, 100000, 21, 121, 0), 20000, 1000, 950), mk(toolColly, 1, 100000, 40, 2000, 0),
			},
			cpu: 40.0 / 21, rss: 121.0 / 2000, rate: 0.95,
			wantBar:      bar{Duplicates: true, Rate: true, Pages: true},
			trawlMinPage: 100000,
		},
		{
			name: "failed trawl run: no ratios, bar not met",
			cfg:  scale,
			samples: []sample{
				func() sample { s := mk(toolTrawl, 1, 5, 1, 10, 0); s.Err = errors.New("boom"); return s }(),
				mk(toolColly, 1, 100000, 30, 300, 0),
			},
			trawlFailed: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum := summarize(tt.cfg, tt.samples)
			checkRatio(t, "cpu_ratio", sum.CPURatio, tt.cpu)
			checkRatio(t, "rss_ratio", sum.RSSRatio, tt.rss)
			checkRatio(t, "rate_ratio", sum.RateRatio, tt.rate)
			if sum.Bar != tt.wantBar {
				t.Errorf("bar = %+v, want %+v", sum.Bar, tt.wantBar)
			}
			if sum.Mode != tt.cfg.mode() || sum.Thresholds != thresholdsFor(tt.cfg) {
				t.Errorf("mode %q thresholds %+v, want %q and its bars", sum.Mode, sum.Thresholds, tt.cfg.mode())
			}
			if sum.Trawl.Failed != tt.trawlFailed || sum.Colly.Failed != tt.collyFailed {
				t.Errorf("failed trawl/colly = %d/%d, want %d/%d", sum.Trawl.Failed, sum.Colly.Failed, tt.trawlFailed, tt.collyFailed)
			}
			if sum.Trawl.MinPages != tt.trawlMinPage {
				t.Errorf("trawl min pages = %d, want %d", sum.Trawl.MinPages, tt.trawlMinPage)
			}
		})
	}
}

func TestThresholds(t *testing.T) {
	tests := []struct {
		name string
		cfg  config
		want thresholds
	}{
		{"normal", config{}, thresholds{CPURatio: 4, RSSRatio: 0.125, RateRatio: 0.9, PagesShare: 0.99}},
		{"scale", config{Scale: true}, thresholds{CPURatio: 2, RSSMiB: 120, RateRatio: 0.9, PagesShare: 0.99}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := thresholdsFor(tt.cfg); got != tt.want {
				t.Errorf("thresholdsFor(%s) = %+v, want %+v", tt.name, got, tt.want)
			}
		})
	}
}

func checkRatio(t *testing.T, name string, got *float64, want float64) {
	t.Helper()
	switch {
	case want == 0 && got != nil:
		t.Errorf("%s = %v, want nil", name, *got)
	case want != 0 && got == nil:
		t.Errorf("%s = nil, want %v", name, want)
	case want != 0 && math.Abs(*got-want) > 1e-9*want:
		t.Errorf("%s = %v, want %v", name, *got, want)
	}
}

func TestSummarizeToolMedians(t *testing.T) {
	samples := []sample{
		mk(toolTrawl, 1, 1000, 2, 40, 0),
		mk(toolTrawl, 2, 1000, 1, 20, 2),
		mk(toolTrawl, 3, 1000, 4, 30, 0),
		mk(toolColly, 1, 1, 1, 1000, 50),
	}
	samples[0] = win(samples[0], 100, 10, 8)
	samples[2] = win(samples[2], 100, 20, 19)
	ts := summarizeTool(toolTrawl, samples)
	want := toolSummary{
		Tool: toolTrawl, Runs: 3, Pages: 1000, Hits: 1000, WallS: 2, PagesPerS: 500, CPUS: 2,
		PagesPerCPUS: 500, PeakRSSMiB: 30, Duplicates: 0, MaxDuplicates: 2, MinPages: 1000,
		WindowRuns: 2, FirstRate: 15, LastRate: 13.5, RateRatio: (0.8 + 0.95) / 2, MinRateRatio: 0.8,
	}
	if ts != want {
		t.Errorf("summarizeTool = %+v\nwant            %+v", ts, want)
	}
}

func TestRecordJSON(t *testing.T) {
	s := mk(toolColly, 2, 500, 2, 64, 1)
	s.SelfPages = 501
	var buf bytes.Buffer
	if err := writeJSONLine(&buf, s.record()); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"type": "run", "tool": "colly", "run": 2.0, "pages": 500.0, "duplicates": 1.0, "self_pages": 501.0,
		"cpu_s": 2.0, "user_s": 1.5, "sys_s": 0.5, "pages_per_cpu_s": 250.0, "pages_per_s": 250.0,
		"peak_rss_mib": 64.0, "peak_rss_bytes": float64(64 << 20),
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if _, ok := got["error"]; ok {
		t.Errorf("successful run has an error field: %s", buf.String())
	}
	for _, k := range []string{"first_window_pages_per_s", "last_window_pages_per_s", "rate_ratio"} {
		if v, ok := got[k]; !ok || v != nil {
			t.Errorf("%s = %v (present: %v) for a run without windows, want null", k, v, ok)
		}
	}
	if r := win(s, 20000, 1000, 950).record(); r.WindowPages != 20000 || *r.FirstRate != 1000 || *r.LastRate != 950 || !near(*r.RateRatio, 0.95) {
		t.Errorf("record with windows = window %d, first %v, last %v, ratio %v; want 20000 1000 950 0.95",
			r.WindowPages, *r.FirstRate, *r.LastRate, *r.RateRatio)
	}
	s.SelfPages = -1
	if r := s.record(); r.SelfPages != nil {
		t.Errorf("self_pages = %v for a crawler that reports none, want omitted", *r.SelfPages)
	}
}

func TestWriteTable(t *testing.T) {
	cfg := config{Hosts: 8, Pages: 120000, Links: 10, MaxPages: 100000, Parallelism: 16, Window: 20000}
	samples := []sample{win(mk(toolTrawl, 1, 100000, 10, 50, 0), 20000, 10000, 9200), mk(toolColly, 1, 100000, 40, 500, 7)}
	var buf bytes.Buffer
	if err := writeTable(&buf, cfg, samples, summarize(cfg, samples)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"crawlbench (normal mode): testserver site of 120000 pages on 8 hosts, 10 links a page; page budget 100000; parallelism 16",
		"Trawl/Colly pages per CPU-second: 4.00x  (bar: >= 4x) PASS",
		"Trawl/Colly peak RSS:             0.10  (bar: <= 0.125) PASS",
		"Trawl URLs fetched twice or more: max 0 over 1 runs  (bar: 0) PASS",
		"Trawl last/first window rate:     median 0.92, min 0.92 over 1 runs  (bar: median >= 0.9) PASS",
		"Colly last/first window rate:     n/a (no run with rate windows)  (for comparison)",
		"Trawl pages fetched:              min 100000  (bar: >= 99000) PASS",
		"bars passed: cpu, rss, duplicates, rate, pages; failed: none",
		"bar met: true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Row: run tool pages requests wall pages/s CPU pages/CPU-s RSS dups window first last last/first.
	wantRows := [][]string{
		{"1", "trawl", "100000", "100000", "10.00", "10000", "10.00", "10000", "50.0", "0", "20000", "10000", "9200", "0.92"},
		{"1", "colly", "100000", "100000", "40.00", "2500", "40.00", "2500", "500.0", "7", "-", "-", "-", "-"},
		{"median", "trawl", "100000", "100000", "10.00", "10000", "10.00", "10000", "50.0", "0", "-", "10000", "9200", "0.92"},
		{"median", "colly", "100000", "100000", "40.00", "2500", "40.00", "2500", "500.0", "7", "-", "-", "-", "-"},
	}
	checkRows(t, out, wantRows)
}

func TestWriteTableScale(t *testing.T) {
	cfg := config{Scale: true, Hosts: 8, Pages: 2000000, Links: 12, MaxPages: 100000, Parallelism: 16, Window: 20000}
	samples := []sample{
		win(mk(toolTrawl, 1, 100000, 25, 130, 0), 20000, 10000, 8000),
		win(mk(toolColly, 1, 100000, 40, 1300, 0), 20000, 3000, 2400),
		func() sample { s := mk(toolColly, 2, 7, 1, 1, 0); s.Err = errors.New("boom"); return s }(),
	}
	var buf bytes.Buffer
	if err := writeTable(&buf, cfg, samples, summarize(cfg, samples)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"crawlbench (scale mode): testserver site of 2000000 pages on 8 hosts, 12 links a page",
		"Trawl/Colly pages per CPU-second: 1.60x  (bar: >= 2x) FAIL",
		"Trawl peak RSS:                   130.0 MiB, 0.10 of Colly's  (bar: <= 120 MiB) FAIL",
		"Trawl last/first window rate:     median 0.80, min 0.80 over 1 runs  (bar: median >= 0.9) FAIL",
		"Colly last/first window rate:     median 0.80, min 0.80 over 1 runs  (for comparison)",
		"failed runs (left out of the medians): trawl 0, colly 1",
		"bars passed: duplicates, pages; failed: cpu, rss, rate",
		"bar met: false",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	checkRows(t, out, [][]string{{"2", "colly", "7", "7", "1.00", "-", "-", "-", "-", "0", "-", "-", "-", "-", "FAILED"}})
}

// checkRows fails unless every row is a line of out, compared field by field.
func checkRows(t *testing.T, out string, rows [][]string) {
	t.Helper()
	lines := strings.Split(out, "\n")
	for _, row := range rows {
		found := false
		for _, l := range lines {
			if strings.Join(strings.Fields(l), " ") == strings.Join(row, " ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no table row %q in:\n%s", row, out)
		}
	}
}
