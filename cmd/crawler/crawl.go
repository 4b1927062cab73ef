package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/pgstore"
	"github.com/trawl/trawl/storage"
	"github.com/trawl/trawl/warc"
)

func runCrawl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("crawl", "crawl [flags] URL...")
	set := defaultSettings()
	set.register(fs)
	dbPath := fs.String("db", "crawl.db", "SQLite file for results and crawl state, or a PostgreSQL URL (postgres://...) that several crawlers share; an existing crawl is continued")
	var fleet fleetFlags
	fleet.register(fs)
	quiet := fs.Bool("quiet", false, "no progress line, summary or info logs (warnings and errors only)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus /metrics and /debug/pprof on this address (e.g. 127.0.0.1:9090)")
	uiAddr := fs.String("ui", "", "serve the live dashboard on this address (e.g. 127.0.0.1:8090); an address other than loopback needs a token")
	uiToken := fs.String("ui-token", "", "token the dashboard asks for (default: none on loopback, a generated one printed at start elsewhere)")
	grace := fs.Duration("grace", 10*time.Second, "on Ctrl-C, how long in-flight fetches may finish")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	seenMemory := byteSize(32 << 20)
	fs.Var(&seenMemory, "seen-memory", "memory for the fingerprints of URLs the crawl knows (e.g. 32MiB); past it old ones are forgotten and cost a lookup in the file")
	cpus := fs.Int("cpus", 0, "processors the crawl may use (GOMAXPROCS); 0: one, and more while the crawl is bound by its own CPU, up to the machine's")
	recrawl := fs.Bool("recrawl", false, "fetch every URL of an existing --db again, with If-None-Match/If-Modified-Since: unchanged pages (304) keep their record")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	// Every flag is checked before any file is touched or port bound.
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	if *quiet && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	seeds := fs.Args()
	if err := errors.Join(checkSeeds(seeds), set.validate()); err != nil {
		return err
	}
	switch {
	case *dbPath == "":
		return usagef("--db must name a file")
	case seenMemory <= 0:
		return usagef("--seen-memory must be positive")
	case *grace <= 0:
		return usagef("--grace must be positive")
	case *cpus < 0:
		return usagef("--cpus must not be negative")
	}
	isPG := pgstore.IsURL(*dbPath)
	if err := fleet.validate(fs, isPG, *uiAddr != ""); err != nil {
		return err
	}
	if *recrawl && !isPG && fileExists(*dbPath) != nil {
		return usagef("crawl: --recrawl needs an existing crawl file; %s: %v", *dbPath, fileExists(*dbPath))
	}
	if len(seeds) == 0 && !isPG && fileExists(*dbPath) != nil {
		fs.Usage()
		return usagef("crawl: no seed URLs given and no crawl file %s to continue", *dbPath)
	}
	// Bind the addresses now: a bad or busy one is a usage error, found
	// before the crawl file is created or a run recorded.
	metricsLn, err := listen("--metrics", *metricsAddr)
	if err != nil {
		return err
	}
	defer closeListener(metricsLn)
	uiLn, token, err := listenUI("--ui", *uiAddr, *uiToken)
	if err != nil {
		return err
	}
	defer closeListener(uiLn)
	if uiLn != nil {
		fmt.Fprintf(stderr, "dashboard: %s\n", dashboardURL(uiLn, token)) // even with --quiet: the token is needed
	}

	out := io.Writer(stderr)
	var term *console // the progress line's terminal, shared with the logs
	if !*quiet && isTerminal(stderr) {
		term = &console{w: stderr}
		out = term
	}
	log := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: level}))
	return crawlInto(ctx, crawlArgs{
		set: set, given: fs, seeds: seeds, dbPath: *dbPath, quiet: *quiet, grace: *grace, seenMemory: seenMemory,
		recrawl: *recrawl, cpus: *cpus, fleet: fleet, metricsLn: metricsLn, uiLn: uiLn, uiToken: token, term: term, stderr: out,
	}, log)
}

// checkSeeds returns a usage error for the first seed that is not a URL.
func checkSeeds(seeds []string) error {
	for _, s := range seeds {
		if _, err := dedupe.Canonical(s); err != nil {
			return usagef("invalid seed URL: %v", err)
		}
	}
	return nil
}

// crawlArgs are runCrawl's checked flags and bound listeners.
type crawlArgs struct {
	set        settings
	given      *flag.FlagSet // the flags given, to override a resumed crawl's settings
	seeds      []string
	dbPath     string
	quiet      bool
	grace      time.Duration
	seenMemory byteSize
	recrawl    bool
	cpus       int          // --cpus: 0 lets the governor decide (procs.go)
	fleet      fleetFlags   // with a PostgreSQL --db
	metricsLn  net.Listener // nil: no metrics
	uiLn       net.Listener // nil: no dashboard
	uiToken    string
	term       *console // nil: no progress line
	stderr     io.Writer
}

// display names the crawl's database in messages: the file, or the
// PostgreSQL URL without its password and the crawl's name.
func (a crawlArgs) display() string {
	if pgstore.IsURL(a.dbPath) {
		return pgstore.Redact(a.dbPath) + " (crawl " + a.fleet.crawl + ")"
	}
	return a.dbPath
}

// statsArgs are the flags of 'crawler stats' for this crawl.
func (a crawlArgs) statsArgs() string {
	if pgstore.IsURL(a.dbPath) {
		return fmt.Sprintf("--db '%s' --crawl %s", pgstore.Redact(a.dbPath), a.fleet.crawl)
	}
	return "--db " + a.dbPath
}

// crawlInto opens the crawl file, builds the engine and runs the crawl.
func crawlInto(ctx context.Context, a crawlArgs, log *slog.Logger) error {
	db, file, err := openCrawl(ctx, a, log)
	if err != nil {
		return err
	}
	defer db.Close()

	set, seeds, err := resume(ctx, a, db, log)
	if err != nil {
		return err
	}
	if set.UserAgent == "" && !allLoopback(seeds) {
		log.Warn("the User-Agent names no contact: give one, so that a site's owner can reach you",
			"example", `--user-agent "MyBot/1.0 (+https://example.org/bot; bot@example.org)"`)
	}
	crawlID, err := db.BeginCrawl(ctx, seeds, set)
	if err != nil {
		return err
	}
	archive, err := openArchive(set, a.dbPath, seeds, log)
	if err != nil {
		return err
	}
	engine, err := newEngine(ctx, set, seeds, a, crawlID, db, archive, log)
	if err != nil {
		if archive != nil {
			_ = archive.Close()
		}
		return err
	}
	// Stop is the dashboard's stop button: it ends the run as Ctrl-C does.
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	stopMetrics := serveMetrics(a.metricsLn, engine, log)
	defer stopMetrics()
	before, err := db.Totals(ctx) // figures continue across runs on the same file
	if err != nil {
		return err
	}
	if file != nil {
		stopUI := serveDashboard(a.uiLn, a.uiToken, &dashSource{db: file, engine: engine, stop: stop, recrawl: set.Recrawl, before: before, path: a.dbPath}, log)
		defer stopUI()
	}
	gcTick := time.NewTicker(time.Second)
	defer gcTick.Stop()
	stopGC := growGC(gcTick.C, func() int64 { return engine.Progress().Fetched }, before.Pages,
		func(p int) { debug.SetGCPercent(p) })
	defer stopGC()
	procsTick := time.NewTicker(procsInterval)
	defer procsTick.Stop()
	stopProcs := startProcs(a.cpus, procsTick.C, log)
	defer stopProcs()
	start := time.Now()
	stopProgress := startProgress(a.term, a.term != nil, engine, before, set.Recrawl)
	runErr := engine.Run(ctx, seeds)
	stopProgress()
	if archive != nil { // every fetch has ended: the last file is complete
		if err := archive.Close(); err != nil && runErr == nil {
			runErr = err
		}
	}

	// Record the end even when interrupted: the file says when this run stopped.
	if err := db.FinishCrawl(context.WithoutCancel(ctx), crawlID); err != nil && runErr == nil {
		runErr = err
	}
	p := engine.Progress()
	after, err := db.Totals(context.WithoutCancel(ctx)) // what the file holds now, recrawl or not
	if err != nil && runErr == nil {
		runErr = err
	}
	if !a.quiet {
		fmt.Fprintln(a.stderr, summary(p, after, time.Since(start), a.display()))
		if line := neverCrawled(engine.HostTallies()); line != "" {
			fmt.Fprintln(a.stderr, line)
		}
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) {
			return &interruptedError{fmt.Sprintf("interrupted; %d URLs stay queued in %s, run the same command to continue", after.Queued, a.display())}
		}
		return runErr
	}
	if p.Failed > 0 {
		return fmt.Errorf("%d of %d pages failed (see 'crawler stats %s'): %w", p.Failed, p.Fetched, a.statsArgs(), errPartial)
	}
	return nil
}

// openCrawl opens the crawl's state: a crawl in PostgreSQL, or the crawl
// file, locked for this process (then also returned as file).
func openCrawl(ctx context.Context, a crawlArgs, log *slog.Logger) (db crawlDB, file *storage.DB, err error) {
	if pgstore.IsURL(a.dbPath) {
		pg, err := openPostgres(ctx, a.dbPath, a.fleet, log)
		if err != nil {
			return nil, nil, err
		}
		log.Info("joined the crawl", "crawl", pg.Crawl(), "worker", pg.Worker(), "lease", pg.LeaseTTL())
		return pg, nil, nil
	}
	f, err := storage.Open(ctx, a.dbPath, log)
	if err != nil {
		return nil, nil, err
	}
	if err := f.LockCrawl(); err != nil { // one crawler per file: the queue it reads from is its own
		f.Close()
		return nil, nil, err
	}
	return f, f, nil
}

// resume returns the settings and seeds of this run: a crawl already in the
// file keeps its settings unless given again, and its seeds' scope. With
// --recrawl it queues every fetched URL again.
func resume(ctx context.Context, a crawlArgs, db crawlDB, log *slog.Logger) (settings, []string, error) {
	set, seeds := a.set, a.seeds
	prevSettings, prevSeeds, err := db.LastSettings(ctx)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if len(seeds) == 0 {
			a.given.Usage()
			return set, nil, usagef("crawl: no seed URLs given and %s holds no crawl to continue", a.display())
		}
	case err != nil:
		return set, nil, err
	default:
		given := set
		set = defaultSettings()
		if err := json.Unmarshal(prevSettings, &set); err != nil {
			return set, nil, fmt.Errorf("read settings of the crawl in %s: %w", a.display(), err)
		}
		a.given.Visit(func(f *flag.Flag) { given.copyFlag(f.Name, &set) })
		if err := set.validate(); err != nil {
			return set, nil, err
		}
		seeds = union(prevSeeds, seeds)
		log.Info("continuing crawl", "db", a.display(), "seeds", len(seeds))
	}
	if a.recrawl {
		if prevSettings == nil {
			return set, nil, usagef("crawl: --recrawl: %s holds no crawl to recrawl", a.display())
		}
		n, err := db.Requeue(ctx)
		switch {
		case errors.Is(err, pgstore.ErrFleetAtWork):
			// Several workers started with --recrawl make one recrawl.
			log.Info("recrawl: other workers are at work on this crawl: this one joins them, without queueing every URL again")
		case err != nil:
			return set, nil, err
		default:
			log.Info("recrawl: every fetched URL queued again, with its validators", "urls", n)
		}
		set.Recrawl = true
	}
	return set, seeds, nil
}

// newEngine builds the fetcher and the engine of a crawl with settings set.
func newEngine(ctx context.Context, set settings, seeds []string, a crawlArgs, crawlID int64, db crawlDB, archive *warc.Writer, log *slog.Logger) (*crawl.Engine, error) {
	canon, _ := dedupe.NewCanonicalizer(set.StripParams) // validated
	include, _ := compileAll(set.Include)
	exclude, _ := compileAll(set.Exclude)
	// The address guard: no connection to loopback, private, link-local and
	// other special-purpose addresses, except the seeds' own (checked on the
	// resolved IP at dial time, so redirects and DNS cannot get past it).
	var allow []netip.AddrPort
	if !set.AllowPrivate {
		seedURLs := make([]*url.URL, 0, len(seeds))
		for _, s := range seeds {
			if u, err := url.Parse(s); err == nil {
				seedURLs = append(seedURLs, u)
			}
		}
		var lookupErr error
		if allow, lookupErr = fetch.SeedAddrPorts(ctx, fetch.Config{}, seedURLs); lookupErr != nil {
			log.Warn("seed host not resolved; its private addresses stay blocked", "err", lookupErr)
		}
	}
	var arch fetch.Archive
	if archive != nil {
		arch = archiveOf{archive}
	}
	fetcher, err := fetch.New(fetch.Config{
		Archive: arch,
		Guard:   !set.AllowPrivate, AllowAddrPorts: allow,
		UserAgent: set.UserAgent, Concurrency: set.Concurrency, PerHost: set.PerHost, Rate: set.Rate,
		Timeout: time.Duration(set.Timeout), MaxBody: int64(set.MaxBody), IgnoreRobots: set.IgnoreRobots,
		Memory: crawl.Memory(db), // robots.txt verdicts and host backoffs survive a restart
	}, nil, log)
	if err != nil {
		return nil, usagef("%v", err)
	}
	engine, err := crawl.New(crawl.Config{
		Workers: set.Concurrency, PerHost: set.PerHost, MaxDepth: set.Depth, MaxPages: set.MaxPages,
		Scope: set.Scope, Include: include, Exclude: exclude, Retries: set.Retries, Grace: a.grace, CrawlID: crawlID,
		Hosts:           a.fleet.hosts,
		MaxPagesPerHost: set.MaxPagesPerHost, Recrawl: set.Recrawl, CanonicalIdentity: set.CanonicalIdentity,
		Sitemaps: set.Sitemaps, Canonicalizer: canon, SeenMemory: int(a.seenMemory), Traps: dedupe.TrapConfig{
			MaxURLLen: set.MaxURLLength, MaxPathDepth: set.MaxPathDepth, MaxRepeats: set.MaxRepeats, MaxQueryVariants: set.MaxQueryVariants,
		},
		URLSpaces: dedupe.URLSpaceConfig{MaxRun: cmp.Or(set.MaxURLSpace, -1)}, // 0 (off) is -1 to dedupe
	}, db, fetcher, extract.New(extract.Config{MaxLinks: set.MaxLinks, Text: set.Text, Readable: true,
		NewTextHasher: func() extract.TextHasher { return new(dedupe.SimHasher) }}), log)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return engine, nil
}

// allLoopback reports whether every seed's host is loopback (a test site).
func allLoopback(seeds []string) bool {
	for _, s := range seeds {
		u, err := url.Parse(s)
		if err != nil || !isLoopbackHost(u.Hostname()) {
			return false
		}
	}
	return true
}

// union returns a followed by the elements of b not in a.
func union(a, b []string) []string {
	seen := make(map[string]bool, len(a))
	out := append([]string(nil), a...)
	for _, s := range a {
		seen[s] = true
	}
	for _, s := range b {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// maxNeverCrawled is how many hosts the never-crawled line names.
const maxNeverCrawled = 10

// neverCrawled names the hosts of which this run recorded pages but fetched
// none (every page failed), and why the last one failed, sorted by host:
// "never crawled: 2 hosts: a.test (robots.txt unavailable (HTTP 500)),
// b.test (timeout)". It is "" when there is none.
func neverCrawled(tallies []crawl.HostTally) string {
	var hosts []crawl.HostTally
	for _, h := range tallies {
		if h.Pages > 0 && h.Failed == h.Pages && h.Host != crawl.OtherHosts {
			hosts = append(hosts, h)
		}
	}
	if len(hosts) == 0 {
		return ""
	}
	slices.SortFunc(hosts, func(a, b crawl.HostTally) int { return strings.Compare(a.Host, b.Host) })
	parts := make([]string, 0, min(len(hosts), maxNeverCrawled)+1)
	for _, h := range hosts[:min(len(hosts), maxNeverCrawled)] {
		parts = append(parts, fmt.Sprintf("%s (%s)", h.Host, cmp.Or(h.LastFailure, "failed")))
	}
	if len(hosts) > maxNeverCrawled {
		parts = append(parts, fmt.Sprintf("and %d more", len(hosts)-maxNeverCrawled))
	}
	noun := "hosts"
	if len(hosts) == 1 {
		noun = "host"
	}
	return fmt.Sprintf("never crawled: %d %s: %s", len(hosts), noun, strings.Join(parts, ", "))
}

// summary is the line printed when a crawl ends: this run's counts (the
// engine's, as on the progress line and the dashboard), then what the file
// holds now (as 'crawler stats' says).
func summary(p crawl.Progress, after storage.Totals, elapsed time.Duration, db string) string {
	rate := float64(p.Fetched) / max(elapsed.Seconds(), 1e-9)
	return fmt.Sprintf("crawled %d pages in %s (%.1f pages/s): %d 2xx, %d 3xx, %d 4xx, %d 5xx, %d failed, %d robots-denied, %d retries; %d links, %d new URLs; %s holds %d pages (%d failed), %d queued",
		p.Fetched, elapsed.Round(time.Millisecond), rate, p.Status[2], p.Status[3], p.Status[4], p.Status[5], p.Failed,
		p.RobotsDenied, p.Retries, p.Links, p.Discovered, db, after.Pages, after.Failed, after.Queued)
}
