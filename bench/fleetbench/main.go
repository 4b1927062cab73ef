// Command fleetbench measures a fleet of crawler processes on one crawl in
// PostgreSQL: how the crawl rate scales with the number of workers, and
// what a worker on PostgreSQL costs in CPU beside one on SQLite.
//
//	go run ./bench/fleetbench -build
//
// Scaling: for each count in -workers (1,2,4), a new crawl of a new
// latency-bound testserver site (-hosts 64, -latency 50ms, -pages) by that
// many crawler processes at a fixed -concurrency each; the rate is the
// pages the site served over the time from its first request to its last
// (so start-up and the fleet's end detection are not counted), and the bar
// is N workers at >= 0.8 x N x one worker's rate. Beside the workers'
// CPU-seconds (their rusage), the database's: the CPU of the server
// backends serving the crawl's connections, read from /proc while they run
// (the server is shared: other clients' backends are not counted).
//
// Cost: one worker on PostgreSQL and one on SQLite crawl two identical sites
// at the same time (-cost-pages pages, no latency, no politeness limits), and
// each reports pages per CPU-second, the PostgreSQL one counting its
// backends' CPU too; the bar is PostgreSQL at >= 0.5 x SQLite.
//
// Everything runs on 127.0.0.1; the crawls' schemas are dropped at the end.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trawl/trawl/bench/internal/gobuild"
	"github.com/trawl/trawl/testserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "fleetbench:", err)
		os.Exit(1)
	}
}

type config struct {
	crawler     string
	dsn         string
	workers     []int
	hosts       int
	pages       int
	latency     time.Duration
	concurrency int
	costPages   int
	rounds      int
	extra       []string
	skipScale   bool
	skipCost    bool
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fleetbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	buildIt := fs.Bool("build", false, "build the crawler from this module first")
	fs.StringVar(&cfg.crawler, "crawler", "", "crawler binary (with -build: built)")
	fs.StringVar(&cfg.dsn, "dsn", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", "PostgreSQL database for the crawls")
	workers := fs.String("workers", "1,2,4", "worker counts to measure")
	fs.IntVar(&cfg.hosts, "hosts", 64, "hosts of the scaling site")
	fs.IntVar(&cfg.pages, "pages", 6400, "pages of the scaling site")
	fs.DurationVar(&cfg.latency, "latency", 50*time.Millisecond, "latency of the scaling site")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "--concurrency of each worker")
	fs.IntVar(&cfg.costPages, "cost-pages", 20000, "pages of the cost comparison's sites")
	fs.IntVar(&cfg.rounds, "rounds", 1, "times each measure is repeated, interleaved (the scaling: 1,2,4,1,2,4...); the medians are compared")
	fs.BoolVar(&cfg.skipScale, "no-scale", false, "skip the scaling runs")
	extra := fs.String("flags", "", "more crawler flags for every worker, space-separated (e.g. \"--hosts 16\")")
	fs.BoolVar(&cfg.skipCost, "no-cost", false, "skip the cost comparison")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.extra = strings.Fields(*extra)
	for _, s := range strings.Split(*workers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("-workers %q: want counts like 1,2,4", *workers)
		}
		cfg.workers = append(cfg.workers, n)
	}
	dir, err := os.MkdirTemp("", "fleetbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if *buildIt {
		cfg.crawler = ""
		src, err := gobuild.ModuleRoot(ctx)
		if err != nil {
			return err
		}
		if err := gobuild.Build(ctx, []gobuild.Target{{Path: &cfg.crawler, Name: "crawler", Dir: src, Pkg: "./cmd/crawler"}}, dir, stderr, "fleetbench"); err != nil {
			return err
		}
	}
	if cfg.crawler == "" {
		return errors.New("give -crawler or -build")
	}
	if !cfg.skipScale {
		if err := scaling(ctx, cfg, stdout); err != nil {
			return err
		}
	}
	if cfg.skipCost {
		return nil
	}
	var ratios []float64
	for range max(cfg.rounds, 1) {
		ratio, err := cost(ctx, cfg, dir, stdout)
		if err != nil {
			return err
		}
		ratios = append(ratios, ratio)
	}
	slices.Sort(ratios)
	bar := "met"
	if ratios[len(ratios)/2] < 0.5 {
		bar = "NOT met"
	}
	fmt.Fprintf(stdout, "\npostgres/sqlite pages per CPU-second over %d rounds: %.2fx median (%.2fx to %.2fx); bar >= 0.5x: %s\n",
		len(ratios), ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1], bar)
	return nil
}

// result is one crawl's measure.
type result struct {
	pages     int
	active    time.Duration // first request to last at the site
	middle    time.Duration // from the 10 % page served to the 90 % one
	workerCPU time.Duration // the crawler processes' user+system
	dbCPU     time.Duration // the server backends' user+system
}

// rate is the pages per second of the whole crawl.
func (r result) rate() float64 { return float64(r.pages) / r.active.Seconds() }

// steady is the pages per second between the 10 % and the 90 % page: the
// crawl without its ramp (the roots, then what they link to) and its tail
// (the last hosts' last pages, at most --per-host at a time), which are the
// site's shape more than the fleet's.
func (r result) steady() float64 { return 0.8 * float64(r.pages) / r.middle.Seconds() }

// scaling crawls a new site with each worker count, -rounds times
// interleaved, prints each run and then the medians against one worker's.
func scaling(ctx context.Context, cfg config, w io.Writer) error {
	fmt.Fprintf(w, "scaling: %d hosts, %d pages, %v latency, --concurrency %d --per-host 2 --rate 0 per worker\n",
		cfg.hosts, cfg.pages, cfg.latency, cfg.concurrency)
	fmt.Fprintf(w, "%-6s %-8s %10s %14s %12s %12s\n", "round", "workers", "pages/s", "steady pages/s", "worker CPU-s", "db CPU-s")
	runs := map[int][]result{}
	for round := range max(cfg.rounds, 1) {
		for _, n := range cfg.workers {
			site, err := testserver.Start(testserver.SiteConfig{Hosts: cfg.hosts, Pages: cfg.pages, LinksPerPage: 8,
				CrossHost: 0.2, PageSize: 2048, Latency: cfg.latency, Seed: 64})
			if err != nil {
				return err
			}
			crawl := fmt.Sprintf("fleetbench_%d_%d", n, os.Getpid())
			r, err := fleet(ctx, cfg, crawl, n, site, []string{"--concurrency", strconv.Itoa(cfg.concurrency), "--per-host", "2", "--rate", "0"})
			site.Close()
			if err != nil {
				return err
			}
			runs[n] = append(runs[n], r)
			fmt.Fprintf(w, "%-6d %-8d %10.1f %14.1f %12.2f %12.2f\n", round+1, n, r.rate(), r.steady(), r.workerCPU.Seconds(), r.dbCPU.Seconds())
		}
	}
	fmt.Fprintf(w, "medians (the bar: N workers at >= 0.8 x N x the first count's rate per worker):\n%-8s %10s %8s %8s %14s %8s %8s %12s %12s\n",
		"workers", "pages/s", "vs 1", "bar", "steady pages/s", "vs 1", "bar", "worker CPU-s", "db CPU-s")
	base := median(runs[cfg.workers[0]], result.rate) / float64(cfg.workers[0])
	steadyBase := median(runs[cfg.workers[0]], result.steady) / float64(cfg.workers[0])
	bar := func(ratio float64, n int) string {
		if ratio < 0.8*float64(n) {
			return "NOT met"
		}
		return "met"
	}
	for _, n := range cfg.workers {
		rate, steady := median(runs[n], result.rate), median(runs[n], result.steady)
		fmt.Fprintf(w, "%-8d %10.1f %7.2fx %8s %14.1f %7.2fx %8s %12.2f %12.2f\n", n, rate, rate/base, bar(rate/base, n),
			steady, steady/steadyBase, bar(steady/steadyBase, n),
			median(runs[n], func(r result) float64 { return r.workerCPU.Seconds() }),
			median(runs[n], func(r result) float64 { return r.dbCPU.Seconds() }))
	}
	return nil
}

// median returns the median of f over rs (the mean of the middle two when
// even).
func median(rs []result, f func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	if len(v) == 0 {
		return 0
	}
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// fleet runs n crawler processes on a new crawl of site and measures it.
func fleet(ctx context.Context, cfg config, crawl string, n int, site *testserver.Site, flags []string) (result, error) {
	defer dropCrawl(cfg.dsn, crawl)
	args := append([]string{"crawl", "--db", cfg.dsn, "--crawl", crawl, "--quiet", "--lease", "10s"}, flags...)
	args = append(args, cfg.extra...)
	args = append(args, site.Seeds()...)
	procs := make([]*exec.Cmd, n)
	for i := range procs {
		procs[i] = exec.CommandContext(ctx, cfg.crawler, args...)
		procs[i].Stderr = os.Stderr
		if err := procs[i].Start(); err != nil {
			return result{}, err
		}
	}
	pids := make([]int, n)
	for i, p := range procs {
		pids[i] = p.Process.Pid
	}
	watch := watchBackends(ctx, cfg.dsn, pids)
	var r result
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			watch.stop()
			return r, fmt.Errorf("worker: %w", err)
		}
		r.workerCPU += p.ProcessState.UserTime() + p.ProcessState.SystemTime()
	}
	r.dbCPU = watch.stop()
	r.pages, r.active, r.middle = served(site)
	return r, nil
}

// served returns the pages the site served with 200, the time from its
// first request to its last, and from the 10 % page served to the 90 % one.
func served(site *testserver.Site) (int, time.Duration, time.Duration) {
	var first, last time.Time
	var ends []time.Time
	for _, q := range site.Requests() {
		if first.IsZero() || q.Start.Before(first) {
			first = q.Start
		}
		if q.End.After(last) {
			last = q.End
		}
		if q.Status == 200 && q.Path != "/robots.txt" {
			ends = append(ends, q.End)
		}
	}
	slices.SortFunc(ends, time.Time.Compare)
	var middle time.Duration
	if n := len(ends); n >= 10 {
		middle = ends[n*9/10].Sub(ends[n/10])
	}
	return site.PagesServed() + len(site.Hosts()), last.Sub(first), middle
}

// cost crawls two identical sites at once, one worker on PostgreSQL and one
// on SQLite, and prints pages per CPU-second.
func cost(ctx context.Context, cfg config, dir string, w io.Writer) (float64, error) {
	site := func() (*testserver.Site, error) {
		return testserver.Start(testserver.SiteConfig{Hosts: 8, Pages: cfg.costPages, LinksPerPage: 10, CrossHost: 0.1,
			PageSize: 2048, Seed: 20, NoLog: false})
	}
	pgSite, err := site()
	if err != nil {
		return 0, err
	}
	defer pgSite.Close()
	sqSite, err := site()
	if err != nil {
		return 0, err
	}
	defer sqSite.Close()
	flags := []string{"--concurrency", "32", "--per-host", "4", "--rate", "0"}
	var pg, sq result
	var pgErr, sqErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		pg, pgErr = fleet(ctx, cfg, fmt.Sprintf("fleetbench_cost_%d", os.Getpid()), 1, pgSite, flags)
	})
	wg.Go(func() {
		db := filepath.Join(dir, "cost.db")
		os.Remove(db)
		os.Remove(db + "-wal")
		os.Remove(db + "-shm")
		args := append([]string{"crawl", "--db", db, "--quiet"}, flags...)
		cmd := exec.CommandContext(ctx, cfg.crawler, append(args, sqSite.Seeds()...)...)
		cmd.Stderr = os.Stderr
		if sqErr = cmd.Run(); sqErr == nil {
			sq.workerCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			sq.pages, sq.active, sq.middle = served(sqSite)
		}
	})
	wg.Wait()
	if err := errors.Join(pgErr, sqErr); err != nil {
		return 0, err
	}
	perCPU := func(r result) float64 { return float64(r.pages) / (r.workerCPU + r.dbCPU).Seconds() }
	fmt.Fprintf(w, "\ncost: one worker each, side by side, %d pages of 8 hosts, --concurrency 32 --per-host 4 --rate 0\n", cfg.costPages)
	fmt.Fprintf(w, "%-10s %8s %12s %10s %14s %10s\n", "store", "pages", "crawler CPU", "db CPU", "pages/CPU-s", "pages/s")
	fmt.Fprintf(w, "%-10s %8d %12.2f %10s %14.0f %10.0f\n", "sqlite", sq.pages, sq.workerCPU.Seconds(), "-", perCPU(sq), sq.rate())
	fmt.Fprintf(w, "%-10s %8d %12.2f %10.2f %14.0f %10.0f\n", "postgres", pg.pages, pg.workerCPU.Seconds(), pg.dbCPU.Seconds(), perCPU(pg), pg.rate())
	ratio := perCPU(pg) / perCPU(sq)
	fmt.Fprintf(w, "postgres/sqlite pages per CPU-second: %.2fx; the crawler alone: %.2fx\n", ratio,
		(float64(pg.pages)/pg.workerCPU.Seconds())/perCPU(sq))
	return ratio, nil
}

// backendWatch sums the CPU of the server backends that serve the crawler
// processes it watches, reading /proc while they run.
type backendWatch struct {
	done chan struct{}
	out  chan time.Duration
}

func watchBackends(ctx context.Context, dsn string, pids []int) *backendWatch {
	w := &backendWatch{done: make(chan struct{}), out: make(chan time.Duration, 1)}
	go func() {
		cpu := map[int]time.Duration{} // the latest reading of each backend
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			fmt.Fprintln(os.Stderr, "fleetbench: database CPU not measured:", err)
			<-w.done
			w.out <- 0
			return
		}
		defer conn.Close(context.Background())
		var patterns []string
		for _, p := range pids {
			patterns = append(patterns, "trawl %:"+strconv.Itoa(p)+":%")
		}
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			rows, err := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name LIKE ANY($1)`, patterns)
			if err == nil {
				backends, _ := pgx.CollectRows(rows, pgx.RowTo[int32])
				for _, b := range backends {
					if t, ok := procCPU(int(b)); ok {
						cpu[int(b)] = t
					}
				}
			}
			select {
			case <-w.done:
				var sum time.Duration
				for _, t := range cpu {
					sum += t
				}
				w.out <- sum
				return
			case <-tick.C:
			}
		}
	}()
	return w
}

func (w *backendWatch) stop() time.Duration {
	close(w.done)
	return <-w.out
}

// procCPU returns the user+system CPU of process pid from /proc.
func procCPU(pid int) (time.Duration, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command may hold spaces
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, true
}

// dropCrawl drops a benchmark crawl's schema.
func dropCrawl(dsn, crawl string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return
	}
	defer conn.Close(ctx)
	conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{crawl}.Sanitize()+` CASCADE`)
}
