// Command aggbench measures Trawl's aggregator side by side with a Lura-based
// gateway (bench/peers/lura) and a plain net/http + encoding/json fan-out
// (bench/peers/plain, with -plain or -build), and optionally another build of
// the aggregator (-before): the same three loopback upstreams, the same
// 300 ms deadline, equivalent endpoint configs and the same closed-loop load.
//
// For each backend latency (-latencies, 0 ms and 20 ms by default) it starts
// three `testserver api` processes (a user object, order statistics and
// recommendations, about -size bytes each) and then, -count times with the
// order of the gateways alternating, starts one gateway process alone,
// checks that it answers, warms it up and drives it with -clients concurrent
// keep-alive connections for -duration. Each request asks for a new user id,
// so no response cache or request coalescing can help either gateway. It
// reports requests per second, the gateway process's CPU time (user+system,
// from /proc/PID/stat) per request, and latency percentiles. A light phase
// on the same gateway (-light-rate requests per second, paced over
// -light-clients connections, for -light-duration), and the same light load
// sent straight to the first upstream, give the latency the gateway adds over
// calling one backend directly (p50 and p99).
//
// A last phase makes the second upstream accept connections and never answer
// (`testserver api -hang`) and reports, for each gateway, the slowest and the
// 99th-percentile response time: the bar is every response within the
// deadline plus 5 ms. Its clients start spread over one deadline, so that
// their requests, which all take the deadline, do not time out in lockstep.
//
// A hedging phase (-hedge-duration) starts one upstream whose latency is
// lognormal (median 20 ms, p99 200 ms, each call drawn on its own) and
// measures Trawl on an endpoint that calls it, with hedging off and with each
// of the -hedge variants (a percentile and a budget: by default the default
// budget of 10 % at p90, and a budget of 25 % at p80), -count times each,
// interleaved, with -hedge-clients connections (16: the phase measures the
// tail latency, and at 64 the gateway, the upstream and the load generator
// saturate a 2-core machine, whose run queue then makes the tail): the
// latency percentiles and the extra upstream calls, read from /metrics,
// beside the p99 that hedging at exactly that percentile of the
// distribution would give in theory, and the same load sent straight to
// the upstream.
//
// Every gateway's peak RSS (VmHWM) is read at the end of each run. The
// summary states the bars at 0 ms backends: Trawl at least 1.8×
// Lura's requests/s, at most 0.45× its CPU per request, at least 1.2× the
// plain fan-out's requests/s and at most 35 MB of peak RSS; with a hanging
// upstream, every response between the deadline less 10 ms and the deadline
// plus 5 ms; with hedging, the p99 at least 2× lower within the budget.
//
// Usage, from the root of the Trawl module:
//
//	go run ./bench/aggbench -build
//	go run ./bench/aggbench -aggregator BIN -lura BIN -testserver BIN [flags]
//
// Everything runs on 127.0.0.1. The program uses the standard library only.
// Results go to stdout (a table, or one JSON object per line with -json);
// progress goes to stderr; the children's output goes to log files in a
// temporary directory (or in -work DIR, which is kept, with the generated
// configs), whose tails are shown when a child fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// errUsage marks a command-line mistake; main exits 2 for it.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "aggbench:", err)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		os.Exit(2)
	case errors.Is(err, context.Canceled):
		os.Exit(130)
	default:
		os.Exit(1)
	}
}

// config is the parsed command line.
type config struct {
	Aggregator string // path to a cmd/aggregator binary; "" means build it (with Build)
	Lura       string // path to a bench/peers/lura binary; "" means build it (with Build)
	Testserver string // path to a cmd/testserver binary; "" means build it (with Build)
	Plain      string // path to a bench/peers/plain binary; "" means build it with Build, else leave it out
	Before     string // path to another cmd/aggregator binary (an older build) measured beside; "" means none
	Build      bool   // build the binaries whose path is empty
	Src        string // root of the Trawl module for Build; "" means the module around the working directory

	Latencies     []time.Duration // backend latencies, one set of runs each
	Size          int             // approximate bytes of each upstream document
	Deadline      time.Duration   // endpoint timeout of both gateways
	Clients       int             // concurrent connections of the throughput phase
	Duration      time.Duration   // length of the throughput phase
	Warmup        time.Duration   // load before the throughput phase, not measured
	LightClients  int             // connections of the light (added latency) phase
	LightRate     float64         // requests per second of the light phase, over all its connections
	LightDuration time.Duration   // length of the light phase; 0 skips it
	HangDuration  time.Duration   // length of the hanging-backend phase; 0 skips it
	HedgeDuration time.Duration   // length of each run of the hedging phase; 0 skips it
	Hedges        []hedgeVariant  // the hedged variants of the hedging phase, each measured beside no hedging
	HedgeClients  int             // concurrent connections of the hedging phase
	Count         int             // runs of each gateway per latency, interleaved
	AccessLog     bool            // both gateways write an access log line per request
	GOGC          string          // GOGC for both gateways; "" leaves each its own default
	Merge         bool            // also run package aggregate's in-process merge benchmark (needs the source tree)
	JSON          bool            // one JSON object per line instead of tables
	Work          string          // directory for configs and child logs, kept afterwards; "" means a temporary one, removed
}

// parseFlags parses args into a config.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("aggbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Aggregator, "aggregator", "", "path to the cmd/aggregator `binary`")
	fs.StringVar(&cfg.Lura, "lura", "", "path to the bench/peers/lura `binary`")
	fs.StringVar(&cfg.Testserver, "testserver", "", "path to the cmd/testserver `binary`")
	fs.StringVar(&cfg.Plain, "plain", "", "path to the bench/peers/plain `binary` (net/http + encoding/json fan-out); built with -build")
	fs.StringVar(&cfg.Before, "before", "", "path to another cmd/aggregator `binary` (say, main's build) to measure beside this one")
	fs.BoolVar(&cfg.Build, "build", false, "go build the binaries not given by path into a temporary directory")
	fs.StringVar(&cfg.Src, "src", "", "root `dir`ectory of the Trawl module for -build (default: the module around the working directory)")
	latencies := fs.String("latencies", "0s,20ms", "comma-separated backend `latencies`, one set of runs each")
	fs.IntVar(&cfg.Size, "size", 1024, "approximate `bytes` of each upstream document")
	fs.DurationVar(&cfg.Deadline, "deadline", 300*time.Millisecond, "endpoint `timeout` of both gateways")
	fs.IntVar(&cfg.Clients, "clients", 64, "concurrent keep-alive connections in the throughput phase")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "length of each throughput phase; 0 skips the throughput phases")
	fs.DurationVar(&cfg.Warmup, "warmup", 2*time.Second, "unmeasured load before each throughput phase")
	fs.IntVar(&cfg.LightClients, "light-clients", 16, "connections in the light phase that measures added latency")
	fs.Float64Var(&cfg.LightRate, "light-rate", 400, "paced `requests` per second of the light phase, over all its connections")
	fs.DurationVar(&cfg.LightDuration, "light-duration", 3*time.Second, "length of each light phase; 0 skips it")
	fs.DurationVar(&cfg.HangDuration, "hang-duration", 5*time.Second, "length of each hanging-backend phase; 0 skips it")
	fs.DurationVar(&cfg.HedgeDuration, "hedge-duration", 10*time.Second, "length of each run of the hedging phase (one lognormal upstream, median 20ms, p99 200ms); 0 skips it")
	hedges := fs.String("hedge", "90/10,80/25", "comma-separated `percentile/budget` pairs: the hedged variants of the hedging phase (hedge.percentile, hedge.budget in percent)")
	fs.IntVar(&cfg.HedgeClients, "hedge-clients", 16, "concurrent keep-alive connections in the hedging phase (it measures tail latency: few enough that the machine's CPU is not the tail)")
	fs.IntVar(&cfg.Count, "count", 3, "runs of each gateway per latency, interleaved")
	fs.BoolVar(&cfg.AccessLog, "access-log", true, "let both gateways write an access log line per request (to a file)")
	fs.StringVar(&cfg.GOGC, "gogc", "", "GOGC `value` for both gateways (default: each program's own)")
	fs.BoolVar(&cfg.Merge, "merge", true, "also run go test -bench BenchmarkMerge in ./aggregate of the source tree (see -src)")
	fs.StringVar(&cfg.Work, "work", "", "keep the generated configs and the children's logs in this `dir`ectory (default: a temporary one, removed)")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object per measurement and a summary object instead of tables")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: aggbench (-build | -aggregator BIN -lura BIN -testserver BIN) [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	var err error
	if cfg.Latencies, err = parseDurations(*latencies); err != nil {
		return cfg, fmt.Errorf("%w: -latencies: %v", errUsage, err)
	}
	if cfg.Hedges, err = parseHedges(*hedges); err != nil {
		return cfg, fmt.Errorf("%w: -hedge: %v", errUsage, err)
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case !cfg.Build && (cfg.Aggregator == "" || cfg.Lura == "" || cfg.Testserver == ""):
		return cfg, fmt.Errorf("%w: give -aggregator, -lura and -testserver, or -build", errUsage)
	case cfg.Size < 1, cfg.Clients < 1, cfg.LightClients < 1, cfg.HedgeClients < 1, cfg.Count < 1:
		return cfg, fmt.Errorf("%w: -size, -clients, -light-clients, -hedge-clients and -count must be at least 1", errUsage)
	case cfg.Deadline <= 0, !(cfg.LightRate > 0) || math.IsInf(cfg.LightRate, 0):
		return cfg, fmt.Errorf("%w: -deadline and -light-rate must be positive", errUsage)
	case cfg.Duration < 0, cfg.Warmup < 0, cfg.LightDuration < 0, cfg.HangDuration < 0, cfg.HedgeDuration < 0:
		return cfg, fmt.Errorf("%w: -duration, -warmup, -light-duration, -hang-duration and -hedge-duration must not be negative", errUsage)
	case cfg.GOGC != "" && cfg.GOGC != "off" && !isNumber(cfg.GOGC):
		return cfg, fmt.Errorf("%w: -gogc %q: want a number or off", errUsage, cfg.GOGC)
	}
	return cfg, nil
}

// parseDurations parses a comma-separated list of non-negative durations.
func parseDurations(s string) ([]time.Duration, error) {
	var out []time.Duration
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, fmt.Errorf("negative latency %v", d)
		}
		out = append(out, d)
	}
	if len(out) == 0 {
		return nil, errors.New("no latency given")
	}
	return out, nil
}

func isNumber(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// run is the whole program; main only maps its error to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	work := cfg.Work
	if work == "" {
		if work, err = os.MkdirTemp("", "aggbench-"); err != nil {
			return fmt.Errorf("make work directory: %w", err)
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return fmt.Errorf("make work directory: %w", err)
	}

	if cfg.Build {
		if err := build(ctx, &cfg, work, stderr); err != nil {
			return err
		}
	}
	var emit func(any) error
	if cfg.JSON {
		emit = func(v any) error { return writeJSONLine(stdout, v) }
	}
	b := &bench{cfg: cfg, work: work, progress: stderr, emit: emit}
	res, err := b.runAll(ctx)
	sum := summarize(cfg, res)
	if cfg.Merge && ctx.Err() == nil {
		fmt.Fprintf(stderr, "aggbench: go %s\n", strings.Join(mergeBenchArgs(), " "))
		var merr error
		if sum.Merge, merr = runMergeBench(ctx, cfg.Src); merr != nil {
			sum.MergeError = merr.Error() // reported, but the load figures stand
			fmt.Fprintf(stderr, "aggbench: merge benchmark: %v\n", merr)
		}
	}
	var werr error
	if cfg.JSON {
		werr = writeJSONLine(stdout, sum)
	} else {
		werr = writeTables(stdout, cfg, sum)
	}
	return errors.Join(err, werr)
}
