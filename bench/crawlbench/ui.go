package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// The -ui mode measures what the dashboard costs a crawl: the same Trawl
// crawl with --ui and the page open, against it without, interleaved. "The
// page open" is what a browser asks of the crawler: the page and its two
// assets once, then the event stream (a snapshot a second, the file's
// totals read every 5 s) for the whole crawl. The browser's own CPU is not
// the crawler's and is not counted.

// uiSample is one run of the -ui mode.
type uiSample struct {
	sample
	UI     bool // the run had --ui and the page open
	Events int  // snapshots the page received
}

// runUI runs the -ui comparison and prints its table.
func runUI(ctx context.Context, cfg config, work string, stdout, progress io.Writer) error {
	var samples []uiSample
	for i := range cfg.Count {
		order := []bool{false, true}
		if i%2 == 1 {
			order[0], order[1] = true, false
		}
		for _, ui := range order {
			fmt.Fprintf(progress, "crawlbench: run %d/%d ui=%v ...\n", i+1, cfg.Count, ui)
			s, err := runOneUI(ctx, cfg, work, i+1, ui)
			if err != nil {
				return err
			}
			if s.Err != nil {
				return fmt.Errorf("run %d ui=%v: %w", s.Run, ui, s.Err)
			}
			fmt.Fprintf(progress, "crawlbench: run %d ui=%v: %d pages in %.2fs, %.2f CPU-s, %.1f MiB peak RSS, %d events\n",
				s.Run, ui, s.Pages, s.Usage.Wall.Seconds(), s.cpuSeconds(), s.peakRSSMiB(), s.Events)
			samples = append(samples, s)
		}
	}
	return writeUITable(stdout, samples)
}

// runOneUI crawls a fresh testserver site once, with the dashboard open or
// without it.
func runOneUI(ctx context.Context, cfg config, work string, runNo int, ui bool) (uiSample, error) {
	srv, err := startServer(ctx, cfg.Testserver, serverArgs(cfg))
	if err != nil {
		return uiSample{}, err
	}
	s := uiSample{sample: sample{Tool: toolTrawl, Run: runNo, SelfPages: -1}, UI: ui}
	db := filepath.Join(work, fmt.Sprintf("trawl-ui-%d-%v.db", runNo, ui))
	defer removeDB(db)
	args := trawlArgs(cfg, db, srv.seeds)
	var wg sync.WaitGroup
	pageCtx, stopPage := context.WithCancel(ctx)
	if ui {
		addr, err := freeAddr()
		if err != nil {
			stopPage()
			srv.stop() //nolint:errcheck // the benchmark stops on err
			return s, err
		}
		args = append([]string{args[0], "--ui", addr}, args[1:]...)
		wg.Go(func() { s.Events = openPage(pageCtx, "http://"+addr) })
	}
	u, _, stderr, runErr := measure(ctx, cfg.Crawler, args, cfg.Timeout)
	stopPage()
	wg.Wait()
	s.Usage = u
	t, stopErr := srv.stop()
	s.Pages, s.Hits, s.Duplicates = t.Pages, t.Hits, t.Duplicates
	if runErr != nil {
		s.Err = fmt.Errorf("crawler: %w%s", runErr, stderr.tail(10))
	} else if ui && s.Events == 0 {
		s.Err = fmt.Errorf("the page received no event: the dashboard was not open")
	}
	if stopErr != nil {
		return s, fmt.Errorf("run %d: stop testserver: %w", runNo, stopErr)
	}
	return s, ctx.Err()
}

// freeAddr returns a loopback address with a port free now.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// openPage does what a browser opening the dashboard does, until the
// crawler goes away or ctx ends, and returns the events it received. It
// waits for the crawler to listen by retrying its first request every 20 ms.
func openPage(ctx context.Context, base string) int {
	client := &http.Client{}
	get := func(path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return nil, err
		}
		return client.Do(req)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		resp, err := get("/")
		if err == nil {
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the load matters
			resp.Body.Close()
			break
		}
		select {
		case <-ctx.Done():
			return 0
		case <-tick.C:
		}
	}
	for _, p := range []string{"/app.js", "/style.css"} {
		if resp, err := get(p); err == nil {
			io.Copy(io.Discard, resp.Body) //nolint:errcheck // only the load matters
			resp.Body.Close()
		}
	}
	resp, err := get("/api/events")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	events := 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			events++
		}
	}
	return events
}

// writeUITable prints each run and the medians, with the on/off ratios.
func writeUITable(w io.Writer, samples []uiSample) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tdashboard\tpages\twall s\tCPU s\tpages/CPU-s\tpeak RSS MiB\tevents\t")
	var on, off [4][]float64 // wall, cpu, pages per cpu-s, rss
	for _, s := range samples {
		label := "off"
		if s.UI {
			label = "open"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.2f\t%.2f\t%.0f\t%.1f\t%d\t\n", s.Run, label, s.Pages, s.Usage.Wall.Seconds(), s.cpuSeconds(), s.pagesPerCPUSecond(), s.peakRSSMiB(), s.Events)
		dst := &off
		if s.UI {
			dst = &on
		}
		for i, v := range []float64{s.Usage.Wall.Seconds(), s.cpuSeconds(), s.pagesPerCPUSecond(), s.peakRSSMiB()} {
			dst[i] = append(dst[i], v)
		}
	}
	fmt.Fprintf(tw, "median\toff\t\t%.2f\t%.2f\t%.0f\t%.1f\t\t\n", median(off[0]), median(off[1]), median(off[2]), median(off[3]))
	fmt.Fprintf(tw, "median\topen\t\t%.2f\t%.2f\t%.0f\t%.1f\t\t\n", median(on[0]), median(on[1]), median(on[2]), median(on[3]))
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\nopen/off: pages per CPU-second %.3fx, wall time %.3fx, peak RSS %.3fx (medians of %d interleaved pairs)\n",
		ratio(median(on[2]), median(off[2])), ratio(median(on[0]), median(off[0])), ratio(median(on[3]), median(off[3])), len(on[0]))
	return err
}
