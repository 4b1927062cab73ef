// Command scalebench measures the crawler at scale: one crawl, politeness off,
// of a testserver site large enough that it discovers over a million URLs
// while fetching --max-pages pages. The crawler runs in its own process and
// is measured alone: its /metrics endpoint is polled for pages fetched, URLs
// discovered and resident memory, and its rusage gives peak RSS and CPU.
//
//	go run ./bench/scalebench -build
//
// It prints RSS at 10k, 20k, 50k, 100k pages fetched and so on, with the crawl
// rate around each point (pages/s over the 10,000 pages before it). Then, for
// each window of -window pages fetched (100,000 by default), the pages per
// CPU-second within it and the RSS at its end, and the bars for a long run
// such as
//
//	go run ./bench/scalebench -build -pages 20000000 -links 12 -max-pages 1000000
//
// which are: the last window's CPU per page at most 1.3 times the first
// window's (the crawler does not slow down as its state grows), and a peak
// RSS of at most 200 MiB. CPU is the crawler's own process_cpu_seconds_total
// (user+system, read by the Prometheus process collector from /proc), so the
// figures do not depend on how much of the machine the crawler got.
// Everything runs on 127.0.0.1.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
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
	window := fs.Int("window", 100_000, "`pages` fetched per window of the CPU and RSS report")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *window < 1 {
		return errors.New("-window must be at least 1")
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
	if len(samples) == 0 {
		return errors.New("crawler exited before its /metrics answered")
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	peak := float64(ru.Maxrss) * 1024 // KiB on Linux
	report(stdout, samples, *maxPages, wall, cpu, peak)
	reportWindows(stdout, samples, float64(*window), peak)
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

// The bars of a long run.
const (
	barCPUGrowth  = 1.3   // the last window's CPU-seconds per page over the first window's, at most
	barPeakRSSMiB = 200.0 // peak RSS (rusage) in MiB, at most
)

// window is the stretch of a crawl between two counts of pages fetched.
type window struct {
	from, to float64       // pages fetched at its start and at its end
	wall     time.Duration // time it took
	cpu      float64       // CPU-seconds spent in it
	rss      float64       // bytes, at the first sample at or after its end
	partial  bool          // cut by the start or the end of the crawl to less than 99% of a window
}

// pagesPerCPU returns the pages fetched per CPU-second within w, or 0.
func (w window) pagesPerCPU() float64 {
	if w.cpu <= 0 {
		return 0
	}
	return (w.to - w.from) / w.cpu
}

// cpuPerPage returns the CPU-seconds per page within w, or 0.
func (w window) cpuPerPage() float64 {
	if w.to <= w.from {
		return 0
	}
	return w.cpu / (w.to - w.from)
}

// windows splits the crawl into windows of size pages fetched, on multiples of
// size: [0, size), [size, 2·size), and so on. The first starts at the first
// sample, not at 0 (the crawler starts before its /metrics answers, and its
// start-up is not crawling), and the last ends at the last sample. A window
// that these cut to fewer than size/2 pages is left out; one cut to less than
// 99% of size is kept and marked partial (a crawl to -max-pages often stops a
// few pages short of it). Between samples, time and CPU are interpolated
// linearly.
func windows(samples []sample, size float64) []window {
	if len(samples) < 2 || size <= 0 {
		return nil
	}
	first, last := samples[0].fetched, samples[len(samples)-1].fetched
	var out []window
	for k := math.Floor(first / size); k*size < last; k++ {
		from, to := max(k*size, first), min((k+1)*size, last)
		if to-from < size/2 {
			continue
		}
		t0, c0, _ := at(samples, from)
		t1, c1, rss := at(samples, to)
		out = append(out, window{from: from, to: to, wall: t1 - t0, cpu: c1 - c0, rss: rss, partial: to-from < 0.99*size})
	}
	return out
}

// at returns the time and CPU-seconds at which samples first reached n pages
// fetched, interpolated between the samples around it, and the RSS of the
// first sample at or after it. Past the last sample it returns the last's.
func at(samples []sample, n float64) (time.Duration, float64, float64) {
	for i, s := range samples {
		if s.fetched < n {
			continue
		}
		if i == 0 {
			return s.at, s.cpu, s.rss
		}
		p := samples[i-1] // p.fetched < n <= s.fetched
		f := (n - p.fetched) / (s.fetched - p.fetched)
		return p.at + time.Duration(f*float64(s.at-p.at)), p.cpu + f*(s.cpu-p.cpu), s.rss
	}
	s := samples[len(samples)-1]
	return s.at, s.cpu, s.rss
}

// windowVerdict is what the windows say about the bars.
type windowVerdict struct {
	growth   float64 // last window's CPU per page over the first's; 0 with fewer than two windows
	growthOK bool    // growth ≤ barCPUGrowth
	peakOK   bool    // peak RSS ≤ barPeakRSSMiB
}

// judge applies the bars to ws and the peak RSS in bytes.
func judge(ws []window, peak float64) windowVerdict {
	var v windowVerdict
	if len(ws) >= 2 && ws[0].cpuPerPage() > 0 {
		v.growth = ws[len(ws)-1].cpuPerPage() / ws[0].cpuPerPage()
		v.growthOK = v.growth <= barCPUGrowth
	}
	v.peakOK = peak > 0 && peak/(1<<20) <= barPeakRSSMiB
	return v
}

// reportWindows prints the per-window figures and the bars.
func reportWindows(w io.Writer, samples []sample, size, peak float64) windowVerdict {
	ws := windows(samples, size)
	fmt.Fprintf(w, "\nwindows of %.0f pages fetched (pages/CPU-s and CPU ms/page within each; RSS at its end):\n", size)
	fmt.Fprintf(w, "%10s %10s %10s %14s %13s %10s\n", "from", "to", "pages/s", "pages/CPU-s", "CPU ms/page", "RSS MiB")
	for _, win := range ws {
		mark := ""
		if win.partial {
			mark = "  (partial)"
		}
		pps := 0.0
		if win.wall > 0 {
			pps = (win.to - win.from) / win.wall.Seconds()
		}
		fmt.Fprintf(w, "%10.0f %10.0f %10.0f %14.0f %13.3f %10.1f%s\n", win.from, win.to, pps, win.pagesPerCPU(),
			win.cpuPerPage()*1000, win.rss/(1<<20), mark)
	}
	v := judge(ws, peak)
	if len(ws) < 2 {
		fmt.Fprintf(w, "last/first window CPU per page: n/a (fewer than two windows of %.0f pages: lower -window or raise -max-pages)  (bar: <= %g) FAIL\n",
			size, barCPUGrowth)
	} else {
		fmt.Fprintf(w, "last/first window CPU per page: %.2f  (bar: <= %g) %s\n", v.growth, barCPUGrowth, verdict(v.growthOK))
	}
	fmt.Fprintf(w, "peak RSS: %.1f MiB  (bar: <= %g MiB) %s\n", peak/(1<<20), barPeakRSSMiB, verdict(v.peakOK))
	return v
}

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
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
