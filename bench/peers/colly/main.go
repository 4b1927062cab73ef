// Command colly is the Colly v2 peer in Trawl's side-by-side crawl benchmark
// (bench/crawlbench). It is the crawler a typical Colly user writes: an async
// collector, one LimitRule for every domain, the seeds' hosts as the allowed
// domains, and an OnHTML("a[href]") callback that visits every link.
//
// Usage:
//
//	colly [-parallelism 16] [-max-pages 100000] SEED...
//
// When the crawl ends it prints one JSON line to stdout:
//
//	{"pages":N,"errors":N,"elapsed_s":F}
//
// where pages counts responses handed to OnResponse and errors counts OnError
// calls (transport errors and statuses Colly treats as errors). Apart from the
// scoping and the page cap, Colly's defaults are left as they are (no disk
// cache, robots.txt ignored as Colly does by default, Colly's own http.Client).
//
// The program is its own module so that Colly never becomes a dependency of
// Trawl's root module.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gocolly/colly/v2"
)

// errUsage marks a command-line mistake; main exits 2 for it.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		fmt.Fprintln(os.Stderr, "colly:", err)
		os.Exit(2)
	case errors.Is(err, context.Canceled):
		os.Exit(130)
	default:
		fmt.Fprintln(os.Stderr, "colly:", err)
		os.Exit(1)
	}
}

// result is the JSON line printed to stdout.
type result struct {
	Pages    int64   `json:"pages"`
	Errors   int64   `json:"errors"`
	ElapsedS float64 `json:"elapsed_s"`
}

// run parses args, crawls from the seeds and writes the result line to stdout.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("colly", flag.ContinueOnError)
	fs.SetOutput(stderr)
	parallelism := fs.Int("parallelism", 16, "maximum concurrent requests over all hosts")
	maxPages := fs.Int("max-pages", 100000, "maximum number of requests to send; 0 means no limit")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: colly [-parallelism N] [-max-pages N] SEED...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: no seed URL", errUsage)
	}
	if *parallelism < 1 {
		return fmt.Errorf("%w: -parallelism must be at least 1", errUsage)
	}
	if *maxPages < 0 || int64(*maxPages) > int64(^uint32(0)) {
		return fmt.Errorf("%w: -max-pages out of range", errUsage)
	}
	res, err := crawl(ctx, fs.Args(), *parallelism, *maxPages)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return ctx.Err()
}

// crawl runs one Colly crawl from seeds and waits for it to finish.
func crawl(ctx context.Context, seeds []string, parallelism, maxPages int) (result, error) {
	domains, filter, err := scope(seeds)
	if err != nil {
		return result{}, err
	}
	opts := []colly.CollectorOption{
		colly.Async(true),
		colly.AllowedDomains(domains...),
		colly.StdlibContext(ctx),
		colly.MaxRequests(uint32(maxPages)),
	}
	if filter != nil {
		opts = append(opts, colly.URLFilters(filter))
	}
	c := colly.NewCollector(opts...)
	if err := c.Limit(&colly.LimitRule{DomainGlob: "*", Parallelism: parallelism}); err != nil {
		return result{}, fmt.Errorf("set limit rule: %w", err)
	}

	// MaxRequests is checked before Colly starts a request's goroutine but
	// counted inside it, so in async mode a few requests can slip past it.
	// This guard makes the cap exact so that both crawlers fetch the same
	// number of pages.
	var started, pages, failures atomic.Int64
	c.OnRequest(func(r *colly.Request) {
		if maxPages > 0 && started.Add(1) > int64(maxPages) {
			r.Abort()
		}
	})
	c.OnResponse(func(*colly.Response) { pages.Add(1) })
	c.OnError(func(*colly.Response, error) { failures.Add(1) })
	c.OnHTML("a[href]", func(e *colly.HTMLElement) {
		e.Request.Visit(e.Request.AbsoluteURL(e.Attr("href"))) // already visited, out of scope: skipped by Colly
	})

	start := time.Now()
	for _, s := range seeds {
		if err := c.Visit(s); err != nil {
			var visited *colly.AlreadyVisitedError
			if !errors.As(err, &visited) {
				c.Wait()
				return result{}, fmt.Errorf("visit seed %s: %w", s, err)
			}
		}
	}
	c.Wait()
	return result{
		Pages:    pages.Load(),
		Errors:   failures.Load(),
		ElapsedS: time.Since(start).Seconds(),
	}, nil
}

// scope returns the allowed domains and, when a seed names a port, a URL
// filter that keeps the crawl on the seeds' exact host:port pairs.
//
// Colly's AllowedDomains compares URL.Hostname(), which has no port, so on a
// test site whose hosts are 127.0.0.1:8001, 127.0.0.1:8002, ... it alone would
// let the crawl reach any port on 127.0.0.1. The filter is matched against
// Colly's own serialisation of the URL (WHATWG: lower-case host, default port
// dropped).
func scope(seeds []string) (domains []string, filter *regexp.Regexp, err error) {
	var hosts []string
	ported := false
	for _, s := range seeds {
		u, err := url.Parse(s)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: seed %q: %v", errUsage, s, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
			return nil, nil, fmt.Errorf("%w: seed %q is not an absolute http(s) URL", errUsage, s)
		}
		name := strings.ToLower(u.Hostname())
		if !slices.Contains(domains, name) {
			domains = append(domains, name)
		}
		host := strings.ToLower(u.Host)
		if p := u.Port(); p == "" || (u.Scheme == "http" && p == "80") || (u.Scheme == "https" && p == "443") {
			host = name
			if strings.Contains(name, ":") { // IPv6 literal
				host = "[" + name + "]"
			}
		} else {
			ported = true
		}
		if !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
	}
	if !ported {
		return domains, nil, nil
	}
	quoted := make([]string, len(hosts))
	for i, h := range hosts {
		quoted[i] = regexp.QuoteMeta(h)
	}
	filter = regexp.MustCompile(`^https?://(?:` + strings.Join(quoted, "|") + `)(?:[/?#]|$)`)
	return domains, filter, nil
}
