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
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/extract"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/storage"
)

// settings are the crawl flags that a resumed crawl keeps unless they are
// given again. They are stored as JSON in crawls.settings.
type settings struct {
	Concurrency  int      `json:"concurrency"`
	PerHost      int      `json:"per_host"`
	Rate         float64  `json:"rate"`
	Depth        int      `json:"depth"`
	MaxPages     int      `json:"max_pages"`
	Scope        string   `json:"scope"`
	Include      []string `json:"include,omitempty"`
	Exclude      []string `json:"exclude,omitempty"`
	UserAgent    string   `json:"user_agent,omitempty"`
	IgnoreRobots bool     `json:"ignore_robots"`
	Timeout      duration `json:"timeout"`
	MaxBody      byteSize `json:"max_body"`
	Retries      int      `json:"retries"`
	AllowPrivate bool     `json:"allow_private"`

	MaxPagesPerHost   int  `json:"max_pages_per_host"`
	MaxLinks          int  `json:"max_links"`
	CanonicalIdentity bool `json:"canonical_identity"`
	Sitemaps          bool `json:"sitemaps"`
	// StripParams are the query (and ";"-prefixed path) parameters removed
	// from every URL; the default is a copy of dedupe.DefaultStripParams, and
	// an empty list strips none. A crawl file keeps the list it started
	// with: its URLs are stored canonical.
	StripParams      []string `json:"strip_params"`
	MaxURLLength     int      `json:"max_url_length"`
	MaxPathDepth     int      `json:"max_path_depth"`
	MaxRepeats       int      `json:"max_repeats"`
	MaxQueryVariants int      `json:"max_query_variants"`
	// MaxURLSpace is Config.URLSpaces.MaxRun, with 0 for off; a crawl file
	// from before it was stored gets the default.
	MaxURLSpace int `json:"max_url_space"`
	// Recrawl is set by the run that started a recrawl and kept by the runs
	// that continue it: they all send conditional requests.
	Recrawl bool `json:"recrawl"`
}

// defaultSettings returns the settings of a crawl given no flags. The result
// shares no memory with package variables: json.Unmarshal of a resumed
// crawl's settings writes into its slices' backing arrays, so StripParams is
// a copy of dedupe.DefaultStripParams, not the variable itself (which would
// change the defaults of every later crawl in the process). A new reference
// field (slice, map or pointer) with a default must be copied too.
func defaultSettings() settings {
	return settings{
		Concurrency: 16, PerHost: 2, Rate: 2, Depth: -1, Scope: crawl.ScopeHost,
		Timeout: duration(30 * time.Second), MaxBody: 10 << 20, Retries: 3, MaxLinks: 10_000,
		StripParams: slices.Clone(dedupe.DefaultStripParams), MaxURLLength: 2048, MaxPathDepth: 32, MaxRepeats: 3, MaxQueryVariants: 1000,
		MaxURLSpace: 50,
	}
}

// register binds the settings' flags to fs.
func (s *settings) register(fs *flag.FlagSet) {
	fs.IntVar(&s.Concurrency, "concurrency", s.Concurrency, "concurrent fetches in all")
	fs.IntVar(&s.PerHost, "per-host", s.PerHost, "concurrent requests per host")
	fs.Float64Var(&s.Rate, "rate", s.Rate, "requests per second per host (0 = unlimited)")
	fs.IntVar(&s.Depth, "depth", s.Depth, "deepest link depth to follow, seeds are 0 (-1 = unlimited)")
	fs.IntVar(&s.MaxPages, "max-pages", s.MaxPages, "stop after fetching this many pages in this run (0 = unlimited)")
	fs.StringVar(&s.Scope, "scope", s.Scope, "which links to follow: host (the seeds' hosts), domain (their registrable domains) or all")
	fs.Func("include", "follow only URLs matching this regexp (repeatable)", func(v string) error {
		s.Include = append(s.Include, v)
		return nil
	})
	fs.Func("exclude", "do not follow URLs matching this regexp (repeatable)", func(v string) error {
		s.Exclude = append(s.Exclude, v)
		return nil
	})
	fs.StringVar(&s.UserAgent, "user-agent", s.UserAgent, "User-Agent header (default "+strconv.Quote(fetch.DefaultUserAgent)+")")
	fs.BoolVar(&s.IgnoreRobots, "ignore-robots", s.IgnoreRobots, "do not fetch or obey robots.txt")
	fs.Var(&s.Timeout, "timeout", "per-request timeout, body included")
	fs.Var(&s.MaxBody, "max-body", "body bytes kept per page (e.g. 10MiB); longer bodies are truncated and marked")
	fs.IntVar(&s.Retries, "retries", s.Retries, "retries of a URL after a network error, 5xx, 408 or 429")
	fs.IntVar(&s.MaxPagesPerHost, "max-pages-per-host", s.MaxPagesPerHost, "queue at most this many URLs per host over the whole crawl file (0 = unlimited)")
	fs.IntVar(&s.MaxLinks, "max-links", s.MaxLinks, "links taken from one page; the rest are dropped and the page marked links_capped")
	fs.BoolVar(&s.CanonicalIdentity, "canonical-identity", s.CanonicalIdentity, "treat a page's rel=canonical as its identity: queue the canonical URL instead of following the page's links")
	fs.BoolVar(&s.Sitemaps, "sitemaps", s.Sitemaps, "also queue the pages listed in the seed hosts' sitemaps (robots.txt Sitemap lines and /sitemap.xml)")
	fs.Func("strip-params", "comma-separated query parameters removed from every URL; name* is a prefix, ;name a path parameter, \"\" strips none (default: utm_*, session ids, ad click ids; see README)", func(v string) error {
		s.StripParams = []string{}
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				s.StripParams = append(s.StripParams, p)
			}
		}
		return nil
	})
	fs.IntVar(&s.MaxURLLength, "max-url-length", s.MaxURLLength, "longest URL followed, in bytes (-1 = no cap)")
	fs.IntVar(&s.MaxPathDepth, "max-path-depth", s.MaxPathDepth, "most path segments in a URL followed (-1 = no cap)")
	fs.IntVar(&s.MaxRepeats, "max-repeats", s.MaxRepeats, "most times a run of path segments may repeat in a row, as in /a/b/a/b (-1 = no cap)")
	fs.IntVar(&s.MaxQueryVariants, "max-query-variants", s.MaxQueryVariants, "most distinct queries followed per path (-1 = no cap)")
	fs.IntVar(&s.MaxURLSpace, "max-url-space", s.MaxURLSpace, "close a URL pattern (per host, digits as one placeholder) after this many near-identical pages in a row that lead nowhere new, and drop its URLs as url-space (0 = off)")
	fs.BoolVar(&s.AllowPrivate, "allow-private", s.AllowPrivate, "connect to loopback, private, link-local and other special-purpose addresses (by default only the seeds' own)")
}

// validate rejects impossible settings with a usage error.
func (s *settings) validate() error {
	switch {
	case s.Concurrency < 1:
		return usagef("--concurrency must be at least 1")
	case s.PerHost < 1:
		return usagef("--per-host must be at least 1")
	case s.Rate < 0:
		return usagef("--rate must not be negative")
	case s.MaxPages < 0:
		return usagef("--max-pages must not be negative")
	case s.Retries < 0:
		return usagef("--retries must not be negative")
	case s.Timeout <= 0:
		return usagef("--timeout must be positive")
	case s.MaxBody <= 0:
		return usagef("--max-body must be positive")
	case s.MaxPagesPerHost < 0:
		return usagef("--max-pages-per-host must not be negative")
	case s.MaxLinks < 1:
		return usagef("--max-links must be at least 1")
	case s.MaxURLSpace < 0:
		return usagef("--max-url-space must not be negative (0 turns it off)")
	case s.MaxURLLength == 0 || s.MaxURLLength < -1, s.MaxPathDepth == 0 || s.MaxPathDepth < -1,
		s.MaxRepeats == 0 || s.MaxRepeats < -1, s.MaxQueryVariants == 0 || s.MaxQueryVariants < -1:
		return usagef("--max-url-length, --max-path-depth, --max-repeats and --max-query-variants must be positive, or -1 for no cap")
	}
	if _, err := dedupe.NewCanonicalizer(s.StripParams); err != nil {
		return usagef("--strip-params: %v", err)
	}
	switch s.Scope {
	case crawl.ScopeHost, crawl.ScopeDomain, crawl.ScopeAll:
	default:
		return usagef("--scope %q: want host, domain or all", s.Scope)
	}
	if _, err := compileAll(s.Include); err != nil {
		return usagef("--include: %v", err)
	}
	if _, err := compileAll(s.Exclude); err != nil {
		return usagef("--exclude: %v", err)
	}
	return nil
}

func compileAll(exprs []string) ([]*regexp.Regexp, error) {
	out := make([]*regexp.Regexp, 0, len(exprs))
	for _, e := range exprs {
		re, err := regexp.Compile(e)
		if err != nil {
			return nil, err
		}
		out = append(out, re)
	}
	return out, nil
}

func runCrawl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("crawl", stderr, "crawl [flags] URL...")
	set := defaultSettings()
	set.register(fs)
	dbPath := fs.String("db", "crawl.db", "SQLite file for results and crawl state; an existing file is continued")
	quiet := fs.Bool("quiet", false, "no progress line, summary or info logs (warnings and errors only)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus /metrics and /debug/pprof on this address (e.g. 127.0.0.1:9090)")
	grace := fs.Duration("grace", 10*time.Second, "on Ctrl-C, how long in-flight fetches may finish")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	seenMemory := byteSize(32 << 20)
	fs.Var(&seenMemory, "seen-memory", "memory for the fingerprints of URLs the crawl knows (e.g. 32MiB); past it old ones are forgotten and cost a lookup in the file")
	recrawl := fs.Bool("recrawl", false, "fetch every URL of an existing --db again, with If-None-Match/If-Modified-Since: unchanged pages (304) keep their record")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usagef("--log-level %q: want debug, info, warn or error", *logLevel)
	}
	if *quiet && level < slog.LevelWarn {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	seeds := fs.Args()
	for _, s := range seeds {
		if _, err := dedupe.Canonical(s); err != nil {
			return usagef("invalid seed URL: %v", err)
		}
	}
	if err := set.validate(); err != nil { // before touching the file
		return err
	}
	if seenMemory <= 0 {
		return usagef("--seen-memory must be positive")
	}
	if *recrawl && fileExists(*dbPath) != nil {
		return usagef("crawl: --recrawl needs an existing crawl file; %s: %v", *dbPath, fileExists(*dbPath))
	}
	if len(seeds) == 0 && fileExists(*dbPath) != nil {
		fs.Usage()
		return usagef("crawl: no seed URLs given and no crawl file %s to continue", *dbPath)
	}

	db, err := storage.Open(ctx, *dbPath, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.LockCrawl(); err != nil { // one crawler per file: the queue it reads from is its own
		return err
	}

	// A crawl already in this file: keep its settings unless given again, and its seeds' scope.
	prevSettings, prevSeeds, err := db.LastSettings(ctx)
	switch {
	case errors.Is(err, storage.ErrNotFound):
		if len(seeds) == 0 {
			fs.Usage()
			return usagef("crawl: no seed URLs given and %s holds no crawl to continue", *dbPath)
		}
	case err != nil:
		return err
	default:
		given := set
		set = defaultSettings()
		if err := json.Unmarshal(prevSettings, &set); err != nil {
			return fmt.Errorf("read settings of the crawl in %s: %w", *dbPath, err)
		}
		fs.Visit(func(f *flag.Flag) { given.copyFlag(f.Name, &set) })
		if err := set.validate(); err != nil {
			return err
		}
		seeds = union(prevSeeds, seeds)
		log.Info("continuing crawl", "db", *dbPath, "seeds", len(seeds))
	}
	if *recrawl {
		if prevSettings == nil {
			return usagef("crawl: --recrawl: %s holds no crawl to recrawl", *dbPath)
		}
		n, err := db.Requeue(ctx)
		if err != nil {
			return err
		}
		set.Recrawl = true
		log.Info("recrawl: every fetched URL queued again, with its validators", "urls", n)
	}

	crawlID, err := db.BeginCrawl(ctx, seeds, set)
	if err != nil {
		return err
	}
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
	fetcher, err := fetch.New(fetch.Config{
		Guard: !set.AllowPrivate, AllowAddrPorts: allow,
		UserAgent: set.UserAgent, Concurrency: set.Concurrency, PerHost: set.PerHost, Rate: set.Rate,
		Timeout: time.Duration(set.Timeout), MaxBody: int64(set.MaxBody), IgnoreRobots: set.IgnoreRobots,
		Memory: crawl.Memory(db), // robots.txt verdicts and host backoffs survive a restart
	}, nil, log)
	if err != nil {
		return usagef("%v", err)
	}
	engine, err := crawl.New(crawl.Config{
		Workers: set.Concurrency, PerHost: set.PerHost, MaxDepth: set.Depth, MaxPages: set.MaxPages,
		Scope: set.Scope, Include: include, Exclude: exclude, Retries: set.Retries, Grace: *grace, CrawlID: crawlID,
		MaxPagesPerHost: set.MaxPagesPerHost, Recrawl: set.Recrawl, CanonicalIdentity: set.CanonicalIdentity,
		Sitemaps: set.Sitemaps, Canonicalizer: canon, SeenMemory: int(seenMemory), Traps: dedupe.TrapConfig{
			MaxURLLen: set.MaxURLLength, MaxPathDepth: set.MaxPathDepth, MaxRepeats: set.MaxRepeats, MaxQueryVariants: set.MaxQueryVariants,
		},
		URLSpaces: dedupe.URLSpaceConfig{MaxRun: cmp.Or(set.MaxURLSpace, -1)}, // 0 (off) is -1 to dedupe
	}, db, fetcher, extract.New(extract.Config{MaxLinks: set.MaxLinks,
		NewTextHasher: func() extract.TextHasher { return new(dedupe.SimHasher) }}), log)
	if err != nil {
		return usagef("%v", err)
	}

	_, stopMetrics, err := serveMetrics(*metricsAddr, engine, log)
	if err != nil {
		return err
	}
	defer stopMetrics()

	before, err := db.Totals(ctx) // figures continue across runs on the same file
	if err != nil {
		return err
	}
	start := time.Now()
	stopProgress := startProgress(stderr, !*quiet && isTerminal(stderr), engine, before)
	runErr := engine.Run(ctx, seeds)
	stopProgress()

	// Record the end even when interrupted: the file says when this run stopped.
	if err := db.FinishCrawl(context.WithoutCancel(ctx), crawlID); err != nil && runErr == nil {
		runErr = err
	}
	p := engine.Progress()
	if !*quiet {
		fmt.Fprintln(stderr, summary(p, before, time.Since(start), *dbPath))
	}
	if runErr != nil {
		if errors.Is(runErr, context.Canceled) {
			return &interruptedError{fmt.Sprintf("interrupted; %d URLs stay queued in %s, run the same command to continue", p.Frontier.Queued+p.Frontier.InFlight, *dbPath)}
		}
		return runErr
	}
	if p.Failed > 0 {
		return fmt.Errorf("%d of %d pages failed (see 'crawler stats --db %s'): %w", p.Failed, p.Fetched, *dbPath, errPartial)
	}
	return nil
}

// copyFlag copies the setting behind flag name from s into dst.
func (s *settings) copyFlag(name string, dst *settings) {
	switch name {
	case "concurrency":
		dst.Concurrency = s.Concurrency
	case "per-host":
		dst.PerHost = s.PerHost
	case "rate":
		dst.Rate = s.Rate
	case "depth":
		dst.Depth = s.Depth
	case "max-pages":
		dst.MaxPages = s.MaxPages
	case "scope":
		dst.Scope = s.Scope
	case "include":
		dst.Include = s.Include
	case "exclude":
		dst.Exclude = s.Exclude
	case "user-agent":
		dst.UserAgent = s.UserAgent
	case "ignore-robots":
		dst.IgnoreRobots = s.IgnoreRobots
	case "timeout":
		dst.Timeout = s.Timeout
	case "max-body":
		dst.MaxBody = s.MaxBody
	case "retries":
		dst.Retries = s.Retries
	case "allow-private":
		dst.AllowPrivate = s.AllowPrivate
	case "max-pages-per-host":
		dst.MaxPagesPerHost = s.MaxPagesPerHost
	case "max-links":
		dst.MaxLinks = s.MaxLinks
	case "canonical-identity":
		dst.CanonicalIdentity = s.CanonicalIdentity
	case "sitemaps":
		dst.Sitemaps = s.Sitemaps
	case "strip-params":
		dst.StripParams = s.StripParams
	case "max-url-length":
		dst.MaxURLLength = s.MaxURLLength
	case "max-path-depth":
		dst.MaxPathDepth = s.MaxPathDepth
	case "max-repeats":
		dst.MaxRepeats = s.MaxRepeats
	case "max-query-variants":
		dst.MaxQueryVariants = s.MaxQueryVariants
	case "max-url-space":
		dst.MaxURLSpace = s.MaxURLSpace
	}
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

func summary(p crawl.Progress, before storage.Totals, elapsed time.Duration, db string) string {
	rate := float64(p.Fetched) / max(elapsed.Seconds(), 1e-9)
	return fmt.Sprintf("crawled %d pages in %s (%.1f pages/s; %d in all in %s): %d 2xx, %d 3xx, %d 4xx, %d 5xx, %d failed, %d robots-denied, %d retries; %d links, %d new URLs; %d queued",
		p.Fetched, elapsed.Round(time.Millisecond), rate, before.Pages+p.Fetched, db, p.Status[2], p.Status[3], p.Status[4], p.Status[5], p.Failed,
		p.RobotsDenied, p.Retries, p.Links, p.Discovered, p.Frontier.Queued)
}

// duration is a time.Duration flag that stores as a string in JSON.
type duration time.Duration

func (d *duration) String() string { return time.Duration(*d).String() }
func (d *duration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = duration(v)
	return nil
}
func (d duration) MarshalText() ([]byte, error)  { return []byte(time.Duration(d).String()), nil }
func (d *duration) UnmarshalText(b []byte) error { return d.Set(string(b)) }

// byteSize is a byte count flag: a plain number or one with a unit
// (KB, KiB, MB, MiB, GB, GiB).
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }
func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToLower(num), strings.ToLower(u.suffix)) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("invalid size %q (want e.g. 1048576, 512KiB or 10MiB)", s)
	}
	*b = byteSize(n * mult)
	return nil
}
