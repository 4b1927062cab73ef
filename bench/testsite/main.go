// Command testsite is cmd/testserver's site mode for the benchmarks, plus a
// record over time of how many pages it has served, so that a harness can
// compute a crawler's rate over any stretch of its crawl from the server's
// side, the same way for every crawler.
//
// Usage:
//
//	testsite [-hosts N] [-pages N] [-links N] [-size BYTES] [-latency D] [-cross F] [-seed N] [-sample D]
//
// Its output is cmd/testserver's: the seed URL of each host on stdout, one per
// line, then "ready" on stderr; it serves until SIGINT or SIGTERM, then prints
// as its last line on stderr
//
//	hits=N pages=N duplicates=N
//
// In addition, from the first request on, it prints on stdout every -sample
// interval in which a count changed
//
//	sample t_us=N hits=N pages=N
//
// where t_us is the time since "ready" in microseconds on the server's
// monotonic clock, hits the requests received so far and pages the distinct
// pages served with status 200 so far (the figures of the totals line). Only
// differences between t_us values mean anything. Reading two atomic counters
// per tick costs the server next to nothing, and a line is written only
// while the crawl runs.
//
// The program lives under bench/ because only the benchmarks need it; it
// reuses the testserver package as it is.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/trawl/trawl/testserver"
)

// errUsage marks errors in the command line; they exit with status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "testsite:", err)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		os.Exit(1)
	}
}

// run serves the site described by args until ctx ends. Seeds and samples go
// to stdout; "ready", usage messages and the final totals go to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg testserver.SiteConfig
	fs := flag.NewFlagSet("testsite", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Hosts, "hosts", 1, "number of `hosts`, each on its own loopback port")
	fs.IntVar(&cfg.Pages, "pages", 100, "total number of `pages` over all hosts")
	fs.IntVar(&cfg.LinksPerPage, "links", 10, "crawlable `links` per page")
	fs.IntVar(&cfg.PageSize, "size", 4096, "approximate page size in `bytes`")
	fs.DurationVar(&cfg.Latency, "latency", 0, "`delay` added before each response")
	fs.Float64Var(&cfg.CrossHost, "cross", 0, "`fraction` of random links that point to another host, in [0, 1]")
	fs.Int64Var(&cfg.Seed, "seed", 0, "`seed` of the link graph")
	every := fs.Duration("sample", 5*time.Millisecond, "print the served counts on stdout at most once per `interval`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *every <= 0 {
		return fmt.Errorf("%w: -sample must be positive", errUsage)
	}
	cfg.NoLog = true // nothing reads the log, and it would grow with every request

	site, err := testserver.Start(cfg)
	if errors.Is(err, testserver.ErrInvalidConfig) {
		return fmt.Errorf("%w: %w", errUsage, err)
	} else if err != nil {
		return err
	}
	for _, seed := range site.Seeds() {
		if _, err := fmt.Fprintln(stdout, seed); err != nil {
			site.Close()
			return fmt.Errorf("write seeds: %w", err)
		}
	}
	fmt.Fprintln(stderr, "ready")

	sctx, stopSampling := context.WithCancel(ctx)
	var sampled error
	var wg sync.WaitGroup
	wg.Go(func() {
		sampled = sample(sctx, stdout, *every, func() (int, int) { return site.TotalHits(), site.PagesServed() })
	})
	<-ctx.Done()
	stopSampling()
	wg.Wait() // the sampler writes nothing to stdout from here on
	site.Close()
	fmt.Fprintf(stderr, "hits=%d pages=%d duplicates=%d\n",
		site.TotalHits(), site.PagesServed(), len(site.Duplicates()))
	return sampled
}

// sample writes a sample line to w at each tick of every whose counts differ
// from the last line's (from the zero counts before the first request), until
// ctx ends. It returns nil then, or the first write error.
//
// No last line is written when ctx ends: its time would be the shutdown's,
// not the last page's, and would stretch the last stretch of the crawl. A
// crawler that exits within one interval of its last page loses at most that
// interval's pages from the record, never from the totals.
func sample(ctx context.Context, w io.Writer, every time.Duration, counts func() (hits, pages int)) error {
	start := time.Now()
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastHits, lastPages := 0, 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		at := time.Since(start) // taken first, so the counts include every page served by then
		hits, pages := counts()
		if hits == lastHits && pages == lastPages {
			continue
		}
		lastHits, lastPages = hits, pages
		if _, err := fmt.Fprintf(w, "sample t_us=%d hits=%d pages=%d\n", at.Microseconds(), hits, pages); err != nil {
			return fmt.Errorf("write sample: %w", err)
		}
	}
}
