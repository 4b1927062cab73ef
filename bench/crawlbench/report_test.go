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

func TestSummarize(t *testing.T) {
	cfg := config{Hosts: 8, Pages: 120000, MaxPages: 100000, Parallelism: 16}
	failed := mk(toolColly, 4, 10, 0.001, 1, 0) // would wreck the medians if counted
	failed.Err = errors.New("exit status 1")
	tests := []struct {
		name         string
		samples      []sample
		cpu, rss     float64 // want ratios; 0 means nil
		wantBar      bar
		trawlFailed  int
		collyFailed  int
		trawlMinPage int64
	}{
		{
			name: "bar met",
			samples: []sample{
				mk(toolTrawl, 1, 100000, 10, 50, 0), mk(toolColly, 1, 100000, 40, 300, 12),
				mk(toolColly, 2, 100000, 50, 320, 0), mk(toolTrawl, 2, 100000, 12, 60, 0),
				mk(toolTrawl, 3, 100000, 11, 55, 0), mk(toolColly, 3, 100000, 45, 310, 3),
				failed,
			},
			// medians: trawl 100000/11 pages/CPU-s, 55 MiB; colly 100000/45, 310 MiB
			cpu: 45.0 / 11, rss: 55.0 / 310,
			wantBar:      bar{CPU: true, RSS: true, Duplicates: true, Pages: true, Met: true},
			collyFailed:  1,
			trawlMinPage: 100000,
		},
		{
			name: "cpu short, one duplicate, short of pages",
			samples: []sample{
				mk(toolTrawl, 1, 98999, 20, 30, 1), mk(toolColly, 1, 100000, 40, 300, 0),
			},
			cpu: (98999.0 / 20) / (100000.0 / 40), rss: 30.0 / 300,
			wantBar:      bar{RSS: true},
			trawlMinPage: 98999,
		},
		{
			name: "exactly on the bar: 3x, a third, 99% of the budget",
			samples: []sample{
				mk(toolTrawl, 1, 99000, 9.9, 100, 0), mk(toolColly, 1, 100000, 30, 300, 0),
			},
			cpu: 3, rss: 1.0 / 3,
			wantBar:      bar{CPU: true, RSS: true, Duplicates: true, Pages: true, Met: true},
			trawlMinPage: 99000,
		},
		{
			name: "failed trawl run: no ratios, bar not met",
			samples: []sample{
				func() sample { s := mk(toolTrawl, 1, 5, 1, 10, 0); s.Err = errors.New("boom"); return s }(),
				mk(toolColly, 1, 100000, 30, 300, 0),
			},
			trawlFailed: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sum := summarize(cfg, tt.samples)
			checkRatio(t, "cpu_ratio", sum.CPURatio, tt.cpu)
			checkRatio(t, "rss_ratio", sum.RSSRatio, tt.rss)
			if sum.Bar != tt.wantBar {
				t.Errorf("bar = %+v, want %+v", sum.Bar, tt.wantBar)
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
	ts := summarizeTool(toolTrawl, samples)
	want := toolSummary{
		Tool: toolTrawl, Runs: 3, Pages: 1000, Hits: 1000, WallS: 2, PagesPerS: 500, CPUS: 2,
		PagesPerCPUS: 500, PeakRSSMiB: 30, Duplicates: 0, MaxDuplicates: 2, MinPages: 1000,
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
	s.SelfPages = -1
	if r := s.record(); r.SelfPages != nil {
		t.Errorf("self_pages = %v for a crawler that reports none, want omitted", *r.SelfPages)
	}
}

func TestWriteTable(t *testing.T) {
	cfg := config{Hosts: 8, Pages: 120000, MaxPages: 100000, Parallelism: 16}
	samples := []sample{mk(toolTrawl, 1, 100000, 10, 50, 0), mk(toolColly, 1, 100000, 40, 300, 7)}
	var buf bytes.Buffer
	if err := writeTable(&buf, cfg, samples, summarize(cfg, samples)); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"site of 120000 pages on 8 hosts; page budget 100000; parallelism 16",
		"Trawl/Colly pages per CPU-second: 4.00x  (bar: >= 3x) PASS",
		"Trawl/Colly peak RSS:             0.17  (bar: <= 0.33) PASS",
		"Trawl URLs fetched twice or more: max 0 over 1 runs  (bar: 0) PASS",
		"bar met: true",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// Row: run tool pages requests wall pages/s CPU pages/CPU-s RSS dups.
	wantRows := [][]string{
		{"1", "trawl", "100000", "100000", "10.00", "10000", "10.00", "10000", "50.0", "0"},
		{"1", "colly", "100000", "100000", "40.00", "2500", "40.00", "2500", "300.0", "7"},
		{"median", "trawl", "100000", "100000", "10.00", "10000", "10.00", "10000", "50.0", "0"},
	}
	lines := strings.Split(out, "\n")
	for _, row := range wantRows {
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
