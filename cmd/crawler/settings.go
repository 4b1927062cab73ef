package main

import (
	"flag"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/fetch"
	"github.com/trawl/trawl/warc"
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
	// Text keeps each HTML page's readable text (page_fts) and language.
	Text bool `json:"text"`
	// WARC is the directory the exchanges are archived to; "" archives none.
	WARC     string   `json:"warc,omitempty"`
	WARCSize byteSize `json:"warc_size,omitempty"`
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
		MaxURLSpace: 50, Text: true, WARCSize: warc.DefaultMaxSize,
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
	fs.BoolVar(&s.Text, "text", s.Text, "keep each HTML page's readable text and language, for 'crawler search' and 'crawler show' (--text=false: not)")
	fs.StringVar(&s.WARC, "warc", s.WARC, "archive every HTTP exchange as WARC/1.1 files in this directory (named after the --db file)")
	fs.Var(&s.WARCSize, "warc-size", "size at which a WARC file is closed and the next begun (e.g. 1GiB)")
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
	case s.Depth < -1:
		return usagef("--depth must be -1 (unlimited) or more")
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
	case s.WARCSize < 1<<20:
		return usagef("--warc-size must be at least 1MiB")
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
	case "text":
		dst.Text = s.Text
	case "warc":
		dst.WARC = s.WARC
	case "warc-size":
		dst.WARCSize = s.WARCSize
	}
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
