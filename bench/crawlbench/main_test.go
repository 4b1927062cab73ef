package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestRunEndToEndJSON(t *testing.T) {
	dir := fakeBinaries(t)
	args := []string{
		"-testserver", filepath.Join(dir, fakeServerName),
		"-crawler", filepath.Join(dir, fakeCrawlerName),
		"-colly", filepath.Join(dir, fakeCollyName),
		"-hosts", "3", "-pages", "50", "-links", "12", "-max-pages", "3", "-parallelism", "4", "-count", "2", "-window", "5", "-json",
	}
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run = %v; stderr:\n%s", err, stderr.String())
	}

	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("stdout has %d lines, want 4 runs and a summary:\n%s", len(lines), stdout.String())
	}
	var runs []runRecord
	for _, l := range lines[:4] {
		var r runRecord
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("decode %q: %v", l, err)
		}
		runs = append(runs, r)
	}
	wantOrder := []string{"1 trawl", "1 colly", "2 colly", "2 trawl"} // interleaved, alternating first
	for i, r := range runs {
		if got := strconv.Itoa(r.Run) + " " + r.Tool; got != wantOrder[i] || r.Type != "run" {
			t.Errorf("line %d is run %q type %q, want %q type run", i, got, r.Type, wantOrder[i])
		}
		if r.Error != "" {
			t.Errorf("run %d %s error: %s", r.Run, r.Tool, r.Error)
		}
		switch r.Tool {
		case toolTrawl: // fetched 3 seeds and one of them again
			if r.Pages != 3 || r.Hits != 4 || r.Duplicates != 1 || r.SelfPages != nil {
				t.Errorf("trawl run %d: pages=%d hits=%d duplicates=%d self=%v, want 3 4 1 nil", r.Run, r.Pages, r.Hits, r.Duplicates, r.SelfPages)
			}
			if r.PeakRSSBytes < fakeTrawlRSS {
				t.Errorf("trawl run %d: peak RSS %d bytes, want at least the %d it touched", r.Run, r.PeakRSSBytes, fakeTrawlRSS)
			}
			if r.CPUS < 0.05 || r.WallS < r.CPUS/2 {
				t.Errorf("trawl run %d: cpu %.3fs wall %.3fs, want cpu >= 0.05s (it burns 60ms)", r.Run, r.CPUS, r.WallS)
			}
		case toolColly:
			if r.Pages != 3 || r.Duplicates != 0 || r.SelfPages == nil || *r.SelfPages != 3 {
				t.Errorf("colly run %d: pages=%d duplicates=%d self=%v, want 3 0 3", r.Run, r.Pages, r.Duplicates, r.SelfPages)
			}
		}
		// The fake server's record: page k served at k ms (a duplicate adds no
		// page), so 3 pages give windows of 1 page, each 1 ms long.
		if r.WindowPages != 1 || r.FirstRate == nil || r.LastRate == nil || r.RateRatio == nil ||
			!near(*r.FirstRate, 1000) || !near(*r.LastRate, 1000) || !near(*r.RateRatio, 1) {
			t.Errorf("run %d %s: window %d pages, first %v last %v ratio %v pages/s; want 1 page, 1000, 1000, 1",
				r.Run, r.Tool, r.WindowPages, r.FirstRate, r.LastRate, r.RateRatio)
		}
		if want := float64(r.Pages) / r.CPUS; r.CPUS > 0 && !near(r.PagesPerCPUS, want) {
			t.Errorf("run %d %s: pages_per_cpu_s = %v, want %v", r.Run, r.Tool, r.PagesPerCPUS, want)
		}
	}

	var sum summary
	if err := json.Unmarshal([]byte(lines[4]), &sum); err != nil {
		t.Fatalf("decode summary: %v", err)
	}
	if sum.Type != "summary" || sum.Trawl.Runs != 2 || sum.Colly.Runs != 2 {
		t.Errorf("summary = %+v, want type summary with 2 runs per tool", sum)
	}
	if sum.Mode != "normal" || sum.Links != 12 || sum.Window != 5 || sum.Thresholds.CPURatio != barCPURatioNormal {
		t.Errorf("summary mode %q links %d window %d thresholds %+v, want normal, 12, 5 and the normal bars", sum.Mode, sum.Links, sum.Window, sum.Thresholds)
	}
	if sum.RateRatio == nil || !near(*sum.RateRatio, 1) || sum.Trawl.WindowRuns != 2 || sum.Colly.WindowRuns != 2 {
		t.Errorf("rate_ratio = %v, window runs %d/%d; want 1 and 2/2", sum.RateRatio, sum.Trawl.WindowRuns, sum.Colly.WindowRuns)
	}
	if sum.RSSRatio == nil || *sum.RSSRatio <= 1 {
		t.Errorf("rss_ratio = %v, want > 1: the fake trawl touches %d MiB more", sum.RSSRatio, fakeTrawlRSS>>20)
	}
	if sum.Bar.Duplicates || sum.Bar.RSS || sum.Bar.Met || !sum.Bar.Pages || !sum.Bar.Rate {
		t.Errorf("bar = %+v, want duplicates, rss and met false, pages and rate true", sum.Bar)
	}
}

func TestRunTable(t *testing.T) {
	dir := fakeBinaries(t)
	args := []string{
		"-testserver", filepath.Join(dir, fakeServerName),
		"-crawler", filepath.Join(dir, fakeCrawlerName),
		"-colly", filepath.Join(dir, fakeCollyName),
		"-hosts", "1", "-max-pages", "1", "-count", "1",
	}
	var stdout, stderr bytes.Buffer
	if err := run(t.Context(), args, &stdout, &stderr); err != nil {
		t.Fatalf("run = %v; stderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	for _, want := range []string{
		"pages/CPU-s", "peak RSS MiB", "dup URLs",
		"median  trawl", "median  colly",
		"Trawl/Colly pages per CPU-second:", "Trawl/Colly peak RSS:",
		"Trawl URLs fetched twice or more: max 1 over 1 runs  (bar: 0) FAIL",
		"window  first p/s  last p/s  last/first",
		// One page, fetched twice: too short a record for any window.
		"Trawl last/first window rate:     n/a (no run with rate windows)  (bar: median >= 0.9) FAIL",
		"bars passed: pages; failed: cpu, rss, duplicates, rate",
		"bar met: false",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "crawlbench: run") {
		t.Errorf("progress went to stdout:\n%s", out)
	}
	if !strings.Contains(stderr.String(), "crawlbench: run 1/1 trawl") {
		t.Errorf("no progress on stderr:\n%s", stderr.String())
	}
}

func TestRunServerNeverReady(t *testing.T) {
	dir := fakeBinaries(t)
	args := []string{
		"-testserver", filepath.Join(dir, fakeSilentName),
		"-crawler", filepath.Join(dir, fakeCrawlerName),
		"-colly", filepath.Join(dir, fakeCollyName),
		"-count", "1",
	}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "exited before ready") || !strings.Contains(err.Error(), "address already in use") {
		t.Errorf("run = %v, want an error quoting the server's stderr", err)
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing when no run happened", stdout.String())
	}
}

func TestRunCrawlerFails(t *testing.T) {
	dir := fakeBinaries(t)
	args := []string{
		"-testserver", filepath.Join(dir, fakeServerName),
		"-crawler", filepath.Join(dir, fakeCollyName), // wrong program: rejects the crawl command line
		"-colly", filepath.Join(dir, fakeCollyName),
		"-hosts", "1", "-count", "1", "-max-pages", "1",
	}
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "run 1 trawl") || !strings.Contains(err.Error(), "bad flags") {
		t.Errorf("run = %v, want the failed trawl run with the crawler's stderr", err)
	}
	out := stdout.String()
	if !strings.Contains(out, "FAILED") || !strings.Contains(out, "failed runs (left out of the medians): trawl 1, colly 0") {
		t.Errorf("table does not show the failed run:\n%s", out)
	}
}

func TestParseFlags(t *testing.T) {
	normal := func(c *config) {} // the defaults as they are
	tests := []struct {
		name    string
		args    []string
		want    func(*config) // changes to the normal defaults; nil: an error
		wantErr bool
	}{
		{"build", []string{"-build"}, normal, false},
		{"paths", []string{"-testserver", "a", "-crawler", "b", "-colly", "c"}, normal, false},
		{"links and window", []string{"-build", "-links", "12", "-window", "5000"}, func(c *config) { c.Links, c.Window = 12, 5000 }, false},
		{"scale preset", []string{"-build", "-scale"}, func(c *config) { c.Scale, c.Pages, c.Links = true, 2000000, 12 }, false},
		{"scale preset, flags win in any order", []string{"-pages", "200000", "-build", "-scale", "-max-pages", "20000", "-count", "1", "-links", "20"},
			func(c *config) { c.Scale, c.Pages, c.Links, c.MaxPages, c.Count = true, 200000, 20, 20000, 1 }, false},
		{"missing path", []string{"-testserver", "a", "-crawler", "b"}, nil, true},
		{"nothing", nil, nil, true},
		{"zero count", []string{"-build", "-count", "0"}, nil, true},
		{"zero parallelism", []string{"-build", "-parallelism", "0"}, nil, true},
		{"zero links", []string{"-build", "-links", "0"}, nil, true},
		{"zero window", []string{"-build", "-scale", "-window", "0"}, nil, true},
		{"stray argument", []string{"-build", "http://127.0.0.1/"}, nil, true},
		{"bad timeout", []string{"-build", "-timeout", "0s"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr bytes.Buffer
			cfg, err := parseFlags(tt.args, &stderr)
			if gotErr := err != nil; gotErr != tt.wantErr {
				t.Fatalf("parseFlags(%q) error = %v, want error: %v", tt.args, err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, errUsage) {
					t.Errorf("parseFlags(%q) error %v is not a usage error", tt.args, err)
				}
				return
			}
			want := config{Hosts: 8, Pages: 120000, Links: 10, MaxPages: 100000, Parallelism: 16, Count: 3, Window: 20000}
			tt.want(&want)
			got := config{Scale: cfg.Scale, Hosts: cfg.Hosts, Pages: cfg.Pages, Links: cfg.Links, MaxPages: cfg.MaxPages,
				Parallelism: cfg.Parallelism, Count: cfg.Count, Window: cfg.Window}
			if got != want {
				t.Errorf("parseFlags(%q) = %+v\nwant %+v", tt.args, got, want)
			}
		})
	}
}

func TestCommandLines(t *testing.T) {
	cfg := config{Hosts: 8, Pages: 2000000, Links: 12, MaxPages: 100000, Parallelism: 16}
	seeds := []string{"http://127.0.0.1:1/", "http://127.0.0.1:2/"}
	tests := []struct {
		name string
		got  []string
		want string
	}{
		{"testserver", serverArgs(cfg), "-hosts 8 -pages 2000000 -links 12 -size 4096 -cross 0.1 -seed 1 -sample 5ms"},
		{"trawl", trawlArgs(cfg, "/tmp/x.db", seeds),
			"crawl --db /tmp/x.db --concurrency 16 --per-host 16 --rate 0 --max-pages 100000 --quiet http://127.0.0.1:1/ http://127.0.0.1:2/"},
		{"colly", collyArgs(cfg, seeds), "-parallelism 16 -max-pages 100000 http://127.0.0.1:1/ http://127.0.0.1:2/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(tt.got, " "); got != tt.want {
				t.Errorf("args = %q, want %q", got, tt.want)
			}
		})
	}
}

func near(a, b float64) bool {
	d := a - b
	if d < 0 {
		d = -d
	}
	return d <= 1e-9*max(1, b)
}
