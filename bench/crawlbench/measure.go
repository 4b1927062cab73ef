package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Tool names as they appear in the output.
const (
	toolTrawl = "trawl"
	toolColly = "colly"
)

// usage is the operating system's accounting of one finished process.
type usage struct {
	Wall    time.Duration
	User    time.Duration
	Sys     time.Duration
	PeakRSS int64 // bytes
}

// measure runs bin with args to completion and returns its resource usage,
// its stdout and the last lines of its stderr. A run that outlives timeout,
// or ctx, is sent SIGINT and killed 10 s later.
func measure(ctx context.Context, bin string, args []string, timeout time.Duration) (usage, []byte, *lineLog, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stdout := newLineLog(keepLines)
	stderr := newLineLog(keepLines)
	cmd.Stdout, cmd.Stderr = stdout, stderr

	start := time.Now()
	err := cmd.Run()
	u := usage{Wall: time.Since(start)}
	if ps := cmd.ProcessState; ps != nil {
		u.User, u.Sys = ps.UserTime(), ps.SystemTime()
		u.PeakRSS = peakRSS(ps)
	}
	if err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, context.Cause(ctx))
	}
	return u, []byte(strings.Join(stdout.lines(), "\n")), stderr, err
}

// sample is one crawler run.
type sample struct {
	Tool       string
	Run        int   // 1-based
	Pages      int64 // distinct pages the testserver served with status 200
	Hits       int64 // requests of any path counted by the testserver
	Duplicates int64 // URLs the testserver received more than once
	SelfPages  int64 // pages the crawler itself reported; -1 when it reports none
	Usage      usage
	Windows    rateWindows // from the testserver's record; zero without one
	Err        error       // the run failed; its figures are left out of the summary
}

// pagesPerSecond returns pages per wall-clock second.
func (s sample) pagesPerSecond() float64 { return ratio(float64(s.Pages), s.Usage.Wall.Seconds()) }

// cpuSeconds returns user+system CPU seconds.
func (s sample) cpuSeconds() float64 { return (s.Usage.User + s.Usage.Sys).Seconds() }

// pagesPerCPUSecond returns pages per CPU-second.
func (s sample) pagesPerCPUSecond() float64 { return ratio(float64(s.Pages), s.cpuSeconds()) }

// peakRSSMiB returns the peak resident set in MiB.
func (s sample) peakRSSMiB() float64 { return float64(s.Usage.PeakRSS) / (1 << 20) }

// runAll runs both tools cfg.Count times, interleaved, each against a fresh
// testserver, and calls emit (when not nil) after each run. It stops at the
// first error that is not a failed crawl (ctx ended, the testserver broke)
// and returns what it measured so far.
func runAll(ctx context.Context, cfg config, work string, progress io.Writer, emit func(sample) error) ([]sample, error) {
	var samples []sample
	var failed []error
	for i := range cfg.Count {
		order := []string{toolTrawl, toolColly}
		if i%2 == 1 { // alternate who goes first: neither always gets the cold start
			order[0], order[1] = order[1], order[0]
		}
		for _, tool := range order {
			fmt.Fprintf(progress, "crawlbench: run %d/%d %s ...\n", i+1, cfg.Count, tool)
			s, err := runOne(ctx, cfg, work, tool, i+1)
			if err != nil {
				return samples, errors.Join(append(failed, err)...)
			}
			samples = append(samples, s)
			if s.Err != nil {
				failed = append(failed, fmt.Errorf("run %d %s: %w", s.Run, s.Tool, s.Err))
				fmt.Fprintf(progress, "crawlbench: run %d %s failed: %v\n", s.Run, s.Tool, s.Err)
			} else {
				fmt.Fprintf(progress, "crawlbench: run %d %s: %d pages (%d requests) in %.2fs, %.2f CPU-s, %.1f MiB peak RSS, %d URLs fetched more than once, %s\n",
					s.Run, s.Tool, s.Pages, s.Hits, s.Usage.Wall.Seconds(), s.cpuSeconds(), s.peakRSSMiB(), s.Duplicates, s.Windows)
			}
			if emit != nil {
				if err := emit(s); err != nil {
					return samples, err
				}
			}
		}
	}
	return samples, errors.Join(failed...)
}

// runOne starts a testserver, crawls it with tool and stops it. An error
// means the benchmark itself cannot go on; a failed crawl is reported in the
// sample's Err.
func runOne(ctx context.Context, cfg config, work, tool string, runNo int) (sample, error) {
	srv, err := startServer(ctx, cfg.Testserver, serverArgs(cfg))
	if err != nil {
		return sample{}, err
	}
	s := sample{Tool: tool, Run: runNo, SelfPages: -1}
	var bin string
	var args []string
	switch tool {
	case toolTrawl:
		db := filepath.Join(work, fmt.Sprintf("trawl-%d.db", runNo))
		defer removeDB(db)
		bin, args = cfg.Crawler, trawlArgs(cfg, db, srv.seeds)
	case toolColly:
		bin, args = cfg.Colly, collyArgs(cfg, srv.seeds)
	default:
		panic("crawlbench: unknown tool " + tool)
	}
	u, out, stderr, runErr := measure(ctx, bin, args, cfg.Timeout)
	s.Usage = u
	t, stopErr := srv.stop()
	s.Pages, s.Hits, s.Duplicates = t.Pages, t.Hits, t.Duplicates
	s.Windows = windowsOf(srv.curve, int64(cfg.Window))
	if runErr != nil {
		s.Err = fmt.Errorf("%s: %w%s", filepath.Base(bin), runErr, stderr.tail(10))
	} else if tool == toolColly {
		r, err := parseCollyResult(out)
		if err != nil {
			s.Err = err
		}
		s.SelfPages = r.Pages
	}
	if ctx.Err() != nil {
		return s, ctx.Err()
	}
	if stopErr != nil {
		return s, fmt.Errorf("run %d %s: stop testserver: %w", runNo, tool, stopErr)
	}
	return s, nil
}

// trawlArgs returns cmd/crawler's command line: politeness off, the same
// parallelism overall and per host as Colly gets.
func trawlArgs(cfg config, db string, seeds []string) []string {
	p := strconv.Itoa(cfg.Parallelism)
	args := []string{"crawl", "--db", db, "--concurrency", p, "--per-host", p, "--rate", "0",
		"--max-pages", strconv.Itoa(cfg.MaxPages), "--quiet"}
	return append(args, seeds...)
}

// collyArgs returns the Colly peer's command line.
func collyArgs(cfg config, seeds []string) []string {
	args := []string{"-parallelism", strconv.Itoa(cfg.Parallelism), "-max-pages", strconv.Itoa(cfg.MaxPages)}
	return append(args, seeds...)
}

// collyResult is the JSON line the Colly peer prints.
type collyResult struct {
	Pages    int64   `json:"pages"`
	Errors   int64   `json:"errors"`
	ElapsedS float64 `json:"elapsed_s"`
}

// parseCollyResult decodes the last non-empty line of the Colly peer's stdout.
func parseCollyResult(out []byte) (collyResult, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	var r collyResult
	if last == "" {
		return collyResult{Pages: -1}, errors.New("colly printed no result line")
	}
	if err := json.Unmarshal([]byte(last), &r); err != nil {
		return collyResult{Pages: -1}, fmt.Errorf("colly result line %q: %w", truncate([]byte(last), 200), err)
	}
	return r, nil
}

// removeDB removes a SQLite file and its journal files.
func removeDB(path string) {
	for _, suffix := range []string{"", "-wal", "-shm", "-journal", ".visits", ".lock"} {
		os.Remove(path + suffix)
	}
}
