// Command scalebench measures the crawler at scale: one crawl, politeness off,
// of a testserver site large enough that it discovers over a million URLs
// while fetching --max-pages pages. The crawler runs in its own process and
// is measured alone: its /metrics endpoint is polled for pages fetched, URLs
// discovered and resident memory, and its rusage gives peak RSS and CPU.
//
//	go run ./bench/scalebench -build
//
// It prints RSS at 20k, 50k and 100k pages fetched and the crawl rate around
// 20k and 100k pages (pages/s over the 10,000 pages before each point).
// Everything runs on 127.0.0.1.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "scalebench:", err)
		os.Exit(1)
	}
}

// sample is one poll of the crawler's metrics.
type sample struct {
	at         time.Duration
	fetched    float64
	discovered float64
	rss        float64 // bytes
	cpu        float64 // seconds, user+system
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scalebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	build := fs.Bool("build", false, "build cmd/crawler and cmd/testserver into a temp dir first")
	crawler := fs.String("crawler", "", "crawler binary (with -build: built)")
	server := fs.String("testserver", "", "testserver binary (with -build: built)")
	pages := fs.Int("pages", 2_000_000, "pages on the site")
	links := fs.Int("links", 20, "links per page")
	maxPages := fs.Int("max-pages", 100_000, "pages to fetch")
	concurrency := fs.Int("concurrency", 16, "crawler --concurrency (and --per-host)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "scalebench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	if *build {
		*crawler, *server = filepath.Join(work, "crawler"), filepath.Join(work, "testserver")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", work+"/", "./cmd/crawler", "./cmd/testserver")
		cmd.Stderr = stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	if *crawler == "" || *server == "" {
		return errors.New("give -build, or -crawler and -testserver")
	}

	// The site, in its own process.
	ts := exec.CommandContext(ctx, *server, "-hosts", "8", "-pages", strconv.Itoa(*pages), "-links", strconv.Itoa(*links),
		"-size", "4096", "-cross", "0.1", "-seed", "1")
	tsOut, err := ts.StdoutPipe()
	if err != nil {
		return err
	}
	ts.Stderr = io.Discard
	if err := ts.Start(); err != nil {
		return err
	}
	defer func() { ts.Process.Signal(os.Interrupt); ts.Wait() }()
	var seeds []string
	sc := bufio.NewScanner(tsOut)
	for len(seeds) < 8 && sc.Scan() {
		seeds = append(seeds, sc.Text())
	}
	if len(seeds) < 8 {
		return fmt.Errorf("testserver printed %d seeds", len(seeds))
	}
	go io.Copy(io.Discard, tsOut)

	addr, err := freeAddr()
	if err != nil {
		return err
	}
	db := filepath.Join(work, "crawl.db")
	c := strconv.Itoa(*concurrency)
	cmd := exec.CommandContext(ctx, *crawler, append([]string{"crawl", "--db", db, "--concurrency", c, "--per-host", c,
		"--rate", "0", "--max-pages", strconv.Itoa(*maxPages), "--quiet", "--metrics", addr}, seeds...)...)
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var samples []sample
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var runErr error
poll:
	for {
		select {
		case runErr = <-done:
			break poll
		case <-tick.C:
			if s, err := scrape(addr); err == nil {
				s.at = time.Since(start)
				samples = append(samples, s)
			}
		}
	}
	wall := time.Since(start)
	if runErr != nil {
		return fmt.Errorf("crawler: %w", runErr)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	peak := float64(ru.Maxrss) * 1024 // KiB on Linux
	report(stdout, samples, *maxPages, wall, cpu, peak)
	return nil
}

// report prints the memory curve and the rates.
func report(w io.Writer, samples []sample, maxPages int, wall, cpu time.Duration, peak float64) {
	last := samples[len(samples)-1]
	fmt.Fprintf(w, "crawl: %.0f pages fetched, %.0f URLs discovered, %.1f s wall, %.1f CPU-s, peak RSS %.1f MiB\n",
		last.fetched, last.discovered, wall.Seconds(), cpu.Seconds(), peak/(1<<20))
	fmt.Fprintf(w, "\n%10s %12s %10s %10s %14s %8s\n", "fetched", "discovered", "RSS MiB", "pages/s", "pages/CPU-s", "at s")
	for _, mark := range []float64{10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000} {
		if mark > float64(maxPages) {
			break
		}
		i := firstAt(samples, min(mark, float64(maxPages)*0.99))
		if i < 0 {
			continue
		}
		wall, cpu := ratesBefore(samples, i, 10_000)
		fmt.Fprintf(w, "%10.0f %12.0f %10.1f %10.0f %14.0f %8.1f\n", samples[i].fetched, samples[i].discovered,
			samples[i].rss/(1<<20), wall, cpu, samples[i].at.Seconds())
	}
	w20, c20 := ratesBefore(samples, firstAt(samples, 20_000), 10_000)
	wEnd, cEnd := ratesBefore(samples, firstAt(samples, float64(maxPages)*0.99), 10_000)
	if w20 > 0 && c20 > 0 {
		fmt.Fprintf(w, "\nnear the end / near 20k: pages/s %.2f, pages per CPU-second %.2f\n", wEnd/w20, cEnd/c20)
	}
}

// firstAt returns the first sample with at least n pages fetched, or -1.
func firstAt(samples []sample, n float64) int {
	for i, s := range samples {
		if s.fetched >= n {
			return i
		}
	}
	return -1
}

// ratesBefore returns pages per second and pages per CPU-second over the
// span ending at sample i that covers the last span pages. The second does
// not depend on how much of the machine the crawler got.
func ratesBefore(samples []sample, i int, span float64) (wall, cpu float64) {
	if i <= 0 {
		return 0, 0
	}
	j := i
	for j > 0 && samples[i].fetched-samples[j].fetched < span {
		j--
	}
	pages := samples[i].fetched - samples[j].fetched
	if dt := (samples[i].at - samples[j].at).Seconds(); dt > 0 {
		wall = pages / dt
	}
	if dc := samples[i].cpu - samples[j].cpu; dc > 0 {
		cpu = pages / dc
	}
	return wall, cpu
}

var metricLine = regexp.MustCompile(`^(trawl_pages_total|trawl_discovered_total|process_resident_memory_bytes|process_cpu_seconds_total)(\{[^}]*\})? (\S+)$`)

// scrape reads the figures it needs from the crawler's /metrics.
func scrape(addr string) (sample, error) {
	var s sample
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return s, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		m := metricLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		switch m[1] {
		case "trawl_pages_total":
			s.fetched += v
		case "trawl_discovered_total":
			s.discovered = v
		case "process_resident_memory_bytes":
			s.rss = v
		case "process_cpu_seconds_total":
			s.cpu = v
		}
	}
	return s, sc.Err()
}

// freeAddr returns a loopback address with a free port.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
