// Command crawlbench crawls a local testserver site with Trawl and with Colly,
// one process at a time, and reports throughput, CPU and peak memory side by
// side.
//
// Each run starts a fresh cmd/testserver process (with -sample, so that it
// records the pages served over time), reads its seed URLs, runs one crawler
// against them with politeness limits off and the same parallelism and page
// budget for both tools, then stops the server with SIGINT and reads its
// totals, including how many fetches repeated a URL already fetched. The
// crawler's wall time, CPU time (user+sys) and peak RSS come from the
// operating system's accounting of that process alone. The server's record
// gives each run's crawl rate over its first and its last -window pages
// (pages served per second, counted at the server the same way for both
// tools) and their ratio, which shows whether a crawler slows down as its
// state grows. The pair of runs is repeated -count times, alternating which
// tool goes first, and the medians give the Trawl/Colly ratios that the bars
// are stated in.
//
// Two sets of bars:
//
//   - the normal mode (a 120,000-page site, 10 links a page): at least 4x
//     Colly's pages per CPU-second, at most 1/8 of its peak RSS;
//   - the scale mode (-scale: a 2,000,000-page site, 12 links a page, so that
//     the crawler discovers far more URLs than it fetches): at least 2x
//     Colly's pages per CPU-second, at most 120 MiB peak RSS;
//
// and in both, zero duplicate fetches, at least 99% of the page budget
// fetched, and a last/first window rate of at least 0.9 (the median over the
// Trawl runs).
//
// Usage, from the root of the Trawl module:
//
//	go run ./bench/crawlbench -build                 # normal mode
//	go run ./bench/crawlbench -build -scale          # scale mode
//	go run ./bench/crawlbench -build -ui             # the dashboard's cost: --ui and the page open, against off
//	go run ./bench/crawlbench -build -keep           # keeping pages: --text=false, --text, --text --warc
//	go run ./bench/crawlbench -testserver BIN -crawler BIN -colly BIN [flags]
//
// -scale is a preset: it stands for -pages 2000000 -links 12 -max-pages
// 100000 -parallelism 16 -count 3, and any of those flags given as well wins.
// A -testserver binary must take cmd/testserver's flags, -sample included;
// one whose stdout holds no sample lines leaves the rate windows out.
//
// The program uses the standard library only. Its results go to stdout (a
// table, or one JSON object per line with -json); progress goes to stderr.
// Peak RSS is read from wait4's rusage, so figures are exact on Linux.
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
	"time"
)

// errUsage marks a command-line mistake; main exits 2 for it.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "crawlbench:", err)
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
	Testserver string // path to a cmd/testserver binary; "" means build it (with Build)
	Crawler    string // path to a cmd/crawler binary; "" means build it (with Build)
	Colly      string // path to a bench/peers/colly binary; "" means build it (with Build)
	Build      bool   // build the binaries whose path is empty
	Src        string // root of the Trawl module for Build; "" means the module around the working directory

	Scale       bool          // scale mode: scalePreset's flag values and the scale bars
	Hosts       int           // hosts on the test site
	Pages       int           // pages on the test site
	Links       int           // links per page on the test site
	MaxPages    int           // page budget of each crawl
	Parallelism int           // concurrent requests of each crawler
	Count       int           // runs of each tool
	Window      int           // pages in each rate window; shorter crawls get half their pages
	Timeout     time.Duration // limit for one crawler run
	JSON        bool          // one JSON object per line instead of a table
	UI          bool          // compare Trawl with --ui and the page open against Trawl without (no Colly)
	Keep        bool          // compare Trawl keeping nothing, the text, and the text and a WARC archive (no Colly)
}

// scalePreset returns the flag values -scale stands for; flags given on the
// command line win.
func scalePreset() []struct{ name, value string } {
	return []struct{ name, value string }{
		{"pages", "2000000"},
		{"links", "12"},
		{"max-pages", "100000"},
		{"parallelism", "16"},
		{"count", "3"},
	}
}

// mode names the set of bars cfg is judged by.
func (cfg config) mode() string {
	if cfg.Scale {
		return "scale"
	}
	return "normal"
}

// parseFlags parses args into a config.
func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("crawlbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.Testserver, "testserver", "", "path to the cmd/testserver `binary`")
	fs.StringVar(&cfg.Crawler, "crawler", "", "path to the cmd/crawler `binary`")
	fs.StringVar(&cfg.Colly, "colly", "", "path to the bench/peers/colly `binary`")
	fs.BoolVar(&cfg.Build, "build", false, "go build the binaries not given by path into a temporary directory")
	fs.StringVar(&cfg.Src, "src", "", "root `dir`ectory of the Trawl module for -build (default: the module around the working directory)")
	fs.BoolVar(&cfg.Scale, "scale", false, "scale mode: -pages 2000000 -links 12 -max-pages 100000 -parallelism 16 -count 3 unless given, and the scale bars")
	fs.IntVar(&cfg.Hosts, "hosts", 8, "hosts on the test site")
	fs.IntVar(&cfg.Pages, "pages", 120000, "pages on the test site")
	fs.IntVar(&cfg.Links, "links", 10, "links per page on the test site")
	fs.IntVar(&cfg.MaxPages, "max-pages", 100000, "page budget of each crawl")
	fs.IntVar(&cfg.Parallelism, "parallelism", 16, "concurrent requests of each crawler")
	fs.IntVar(&cfg.Count, "count", 3, "runs of each tool, interleaved")
	fs.IntVar(&cfg.Window, "window", 20000, "`pages` in each of the first and last rate windows (crawls shorter than two windows get half their pages)")
	fs.DurationVar(&cfg.Timeout, "timeout", 30*time.Minute, "limit for one crawler run")
	fs.BoolVar(&cfg.JSON, "json", false, "print one JSON object per run and a summary object instead of a table")
	fs.BoolVar(&cfg.Keep, "keep", false, "measure what keeping pages costs: Trawl with --text=false, with --text (the default) and with --warc, interleaved (no Colly)")
	fs.BoolVar(&cfg.UI, "ui", false, "measure the dashboard's cost: Trawl with --ui and the page open against Trawl without, interleaved (no Colly)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: crawlbench (-build | -testserver BIN -crawler BIN -colly BIN) [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return cfg, err
		}
		return cfg, fmt.Errorf("%w: %v", errUsage, err)
	}
	if cfg.Scale {
		given := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
		for _, p := range scalePreset() {
			if !given[p.name] {
				if err := fs.Set(p.name, p.value); err != nil {
					panic("crawlbench: bad scale preset: " + err.Error())
				}
			}
		}
	}
	switch {
	case fs.NArg() > 0:
		return cfg, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case (cfg.UI || cfg.Keep) && cfg.JSON:
		return cfg, fmt.Errorf("%w: -ui prints a table only", errUsage)
	case !cfg.Build && (cfg.Testserver == "" || cfg.Crawler == "" || (cfg.Colly == "" && !cfg.UI && !cfg.Keep)):
		return cfg, fmt.Errorf("%w: give -testserver, -crawler and -colly, or -build", errUsage)
	case cfg.Hosts < 1, cfg.Pages < 1, cfg.Links < 1, cfg.MaxPages < 1, cfg.Parallelism < 1, cfg.Count < 1, cfg.Window < 1:
		return cfg, fmt.Errorf("%w: -hosts, -pages, -links, -max-pages, -parallelism, -count and -window must be at least 1", errUsage)
	case cfg.Timeout <= 0:
		return cfg, fmt.Errorf("%w: -timeout must be positive", errUsage)
	}
	return cfg, nil
}

// run is the whole program; main only maps its error to an exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "crawlbench-")
	if err != nil {
		return fmt.Errorf("make work directory: %w", err)
	}
	defer os.RemoveAll(work)

	if cfg.Build {
		if err := build(ctx, &cfg, work, stderr); err != nil {
			return err
		}
	}
	if cfg.Keep {
		return runKeep(ctx, cfg, work, stdout, stderr)
	}
	if cfg.UI {
		return runUI(ctx, cfg, work, stdout, stderr)
	}
	var emit func(sample) error
	if cfg.JSON {
		emit = func(s sample) error { return writeJSONLine(stdout, s.record()) }
	}
	samples, err := runAll(ctx, cfg, work, stderr, emit)
	if len(samples) == 0 {
		return err
	}
	sum := summarize(cfg, samples)
	var werr error
	if cfg.JSON {
		werr = writeJSONLine(stdout, sum)
	} else {
		werr = writeTable(stdout, cfg, samples, sum)
	}
	return errors.Join(err, werr)
}
