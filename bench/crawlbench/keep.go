package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"
)

// The -keep mode measures what keeping the pages costs a crawl (issue 13): the same Trawl
// crawl with nothing kept (--text=false), with the pages' text (the default, --text), and
// with the text and a WARC archive (--warc), interleaved, each order rotated per round.

// keepVariants are the compared crawls: a label and the flags added to the crawl.
var keepVariants = []struct {
	label string
	warc  bool
	flags []string
}{
	{"none", false, []string{"--text=false"}},
	{"text", false, nil},
	{"text+warc", true, nil},
}

type keepSample struct {
	sample
	Variant int
}

// runKeep runs the -keep comparison and prints its table.
func runKeep(ctx context.Context, cfg config, work string, stdout, progress io.Writer) error {
	var samples []keepSample
	for i := range cfg.Count {
		for k := range keepVariants {
			v := (k + i) % len(keepVariants) // rotate which goes first
			fmt.Fprintf(progress, "crawlbench: run %d/%d %s ...\n", i+1, cfg.Count, keepVariants[v].label)
			s, err := runOneKeep(ctx, cfg, work, i+1, v)
			if err != nil {
				return err
			}
			if s.Err != nil {
				return fmt.Errorf("run %d %s: %w", s.Run, keepVariants[v].label, s.Err)
			}
			fmt.Fprintf(progress, "crawlbench: run %d %s: %d pages in %.2fs, %.2f CPU-s, %.1f MiB peak RSS\n",
				s.Run, keepVariants[v].label, s.Pages, s.Usage.Wall.Seconds(), s.cpuSeconds(), s.peakRSSMiB())
			samples = append(samples, s)
		}
	}
	return writeKeepTable(stdout, samples)
}

// runOneKeep crawls a fresh testserver site once with variant v.
func runOneKeep(ctx context.Context, cfg config, work string, runNo, v int) (keepSample, error) {
	srv, err := startServer(ctx, cfg.Testserver, serverArgs(cfg))
	if err != nil {
		return keepSample{}, err
	}
	s := keepSample{sample: sample{Tool: toolTrawl, Run: runNo, SelfPages: -1}, Variant: v}
	db := filepath.Join(work, fmt.Sprintf("trawl-keep-%d-%d.db", runNo, v))
	defer removeDB(db)
	args := trawlArgs(cfg, db, srv.seeds)
	extra := keepVariants[v].flags
	if keepVariants[v].warc {
		dir := filepath.Join(work, fmt.Sprintf("warc-%d-%d", runNo, v))
		defer os.RemoveAll(dir)
		extra = append(extra, "--warc", dir)
	}
	args = append(append([]string{args[0]}, extra...), args[1:]...)
	u, _, stderr, runErr := measure(ctx, cfg.Crawler, args, cfg.Timeout)
	s.Usage = u
	t, stopErr := srv.stop()
	s.Pages, s.Hits, s.Duplicates = t.Pages, t.Hits, t.Duplicates
	if runErr != nil {
		s.Err = fmt.Errorf("crawler: %w%s", runErr, stderr.tail(10))
	}
	if stopErr != nil {
		return s, fmt.Errorf("run %d: stop testserver: %w", runNo, stopErr)
	}
	return s, ctx.Err()
}

// writeKeepTable prints each run, the medians of each variant, and their ratios to "none".
func writeKeepTable(w io.Writer, samples []keepSample) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tkept\tpages\twall s\tCPU s\tpages/CPU-s\tCPU ms/page\tpeak RSS MiB\t")
	per := make([][4][]float64, len(keepVariants)) // wall, cpu, pages per cpu-s, rss
	for _, s := range samples {
		ms := 1000 * s.cpuSeconds() / float64(max(s.Pages, 1))
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.2f\t%.2f\t%.0f\t%.3f\t%.1f\t\n", s.Run, keepVariants[s.Variant].label, s.Pages,
			s.Usage.Wall.Seconds(), s.cpuSeconds(), s.pagesPerCPUSecond(), ms, s.peakRSSMiB())
		for i, v := range []float64{s.Usage.Wall.Seconds(), s.cpuSeconds(), s.pagesPerCPUSecond(), s.peakRSSMiB()} {
			per[s.Variant][i] = append(per[s.Variant][i], v)
		}
	}
	for v, k := range keepVariants {
		fmt.Fprintf(tw, "median\t%s\t\t%.2f\t%.2f\t%.0f\t%.3f\t%.1f\t\n", k.label, median(per[v][0]), median(per[v][1]),
			median(per[v][2]), 1000/max(median(per[v][2]), 1e-9), median(per[v][3]))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	base := per[0]
	for v := 1; v < len(keepVariants); v++ {
		_, err := fmt.Fprintf(w, "%s/none: CPU per page %.3fx, pages per CPU-second %.3fx, peak RSS %.3fx (medians of %d rotated rounds)\n",
			keepVariants[v].label, ratio(median(base[2]), median(per[v][2])), ratio(median(per[v][2]), median(base[2])),
			ratio(median(per[v][3]), median(base[3])), len(base[0]))
		if err != nil {
			return err
		}
	}
	return nil
}
