// Command testserver serves a deterministic synthetic web site on loopback
// ports, or (with "api") upstream JSON APIs, for demos and benchmarks.
//
// Usage:
//
//	testserver [-hosts N] [-pages N] [-links N] [-size BYTES] [-latency D] [-cross F] [-robots FILE] [-seed N]
//	           [-hostile] [-traps] [-robots-mode MODE] [-sitemaps] [-orphans N] [-blog N] [-sample D]
//	testserver api [-addr ADDR] [-latency D | -latency-dist SPEC] [-error-rate F] [-hang] ... (see api.go)
//
// It prints the seed URL of each host on stdout, one per line, then "ready" on
// stderr, and serves until SIGINT or SIGTERM. It then stops and prints, as its
// last line on stderr,
//
//	hits=N pages=N duplicates=N
//
// which are the total requests received, the distinct pages served with status
// 200, and the number of paths some host received more than once (robots.txt
// excepted). Exit status: 0 after a signal, 2 for bad flags, 1 otherwise.
//
// With -sample D, it also prints on stdout, after the seeds and at most once
// per D, a record of the counts so far whenever they have changed:
//
//	sample t_us=N hits=N pages=N
//
// where t_us is the time since "ready" in microseconds on the server's
// monotonic clock, and hits and pages are the figures of the totals line so
// far. Only differences between t_us values mean anything. From it a
// benchmark can compute a crawler's rate over any stretch of its crawl from
// the server's side, the same way for every crawler. Reading two atomic
// counters per tick costs the server next to nothing, and a line is written
// only while requests arrive.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/trawl/trawl/testserver"
)

// errUsage marks errors in the command line; they exit with status 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "testserver:", err)
	}
	os.Exit(exitCode(err))
}

// exitCode maps run's error to the process exit status.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	default:
		return 1
	}
}

// run serves the site described by args until ctx ends. Seed URLs and samples
// go to stdout; "ready", usage messages and the final totals go to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "api" {
		return runAPI(ctx, args[1:], stdout, stderr) // api.go
	}
	var cfg testserver.SiteConfig
	fs := flag.NewFlagSet("testserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Hosts, "hosts", 1, "number of `hosts`, each on its own loopback port")
	fs.IntVar(&cfg.Pages, "pages", 100, "total number of `pages` over all hosts")
	fs.IntVar(&cfg.LinksPerPage, "links", 10, "crawlable `links` per page")
	fs.IntVar(&cfg.PageSize, "size", 4096, "approximate page size in `bytes`")
	fs.DurationVar(&cfg.Latency, "latency", 0, "`delay` added before each response")
	fs.Float64Var(&cfg.CrossHost, "cross", 0, "`fraction` of random links that point to another host, in [0, 1]")
	robots := fs.String("robots", "", "serve the contents of `file` as robots.txt on every host (default: 404)")
	fs.Int64Var(&cfg.Seed, "seed", 0, "`seed` of the link graph")
	fs.BoolVar(&cfg.Hostile, "hostile", false, "also serve the hostile paths under /hostile/ (hangs, bombs, broken bodies, odd encodings), linked from each root")
	fs.BoolVar(&cfg.Traps, "traps", false, "also serve the crawler traps under /trap/ (calendar, deep paths, session ids, query variants), linked from each root, and the infinite URL spaces (/trap/events?month=2025-01, /trap/list?page=1, /trap/item/0123456789abcdef), not linked")
	fs.IntVar(&cfg.Blog, "blog", 0, "serve a blog of `N` listing pages (older-posts pagination, 5 posts each) under /blog/ on every host, not linked from the root")
	fs.StringVar(&cfg.RobotsMode, "robots-mode", "", "serve a misbehaving robots.txt: `mode` huge, slow, redirect, 404, 500 or 429")
	fs.BoolVar(&cfg.Sitemaps, "sitemaps", false, "serve /sitemap.xml, /sitemap_index.xml and /sitemaps/*, named in robots.txt")
	fs.BoolVar(&cfg.Wire, "wire", false, "also serve /wire/plain, /wire/chunked, /wire/gzip and /wire/gzip-chunked, written byte by byte on the connection, linked from each root")
	fs.IntVar(&cfg.Orphans, "orphans", 0, "serve `N` orphan pages /orphan/<k> per host, listed only in the sitemaps")
	every := fs.Duration("sample", 0, "print the served counts on stdout at most once per `interval` while they change (0: never)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *every < 0 {
		return fmt.Errorf("%w: -sample must not be negative", errUsage)
	}
	if *robots != "" {
		b, err := os.ReadFile(*robots)
		if err != nil {
			return fmt.Errorf("read robots file: %w", err)
		}
		cfg.Robots = string(b)
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
	var sampled error
	if *every > 0 {
		// Until ctx ends, or a write fails: the site then serves on without a record.
		sampled = sample(ctx, stdout, *every, func() (int, int) { return site.TotalHits(), site.PagesServed() })
	}
	<-ctx.Done()
	site.Close()
	fmt.Fprintf(stderr, "hits=%d pages=%d duplicates=%d\n",
		site.TotalHits(), site.PagesServed(), len(site.Duplicates()))
	return sampled
}
