package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/trawl/trawl/testserver"
)

// apiUsage heads the help text of `testserver api -h`, above the flags.
const apiUsage = `usage: testserver api [flags]

Serves upstream JSON APIs on one loopback port until SIGINT or SIGTERM:
  /users/{id}                 an object about a user
  /users/{id}/orders          an array of orders
  /users/{id}/stats           an object of order statistics
  /recommendations?user={id}  an object with a list of items
It prints its base URL on stdout, then "ready" on stderr; when stopped, it
prints "calls=N" (requests received) as its last line on stderr.

Flags:`

// runAPI serves the upstream APIs described by args (after "api") until ctx
// ends. The base URL goes to stdout; "ready", usage messages and the final
// count go to stderr.
func runAPI(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg testserver.APIConfig
	fs := flag.NewFlagSet("testserver api", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, apiUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:0", "loopback `address` to listen on (port 0 picks a free port)")
	fs.DurationVar(&cfg.Latency, "latency", 0, "fixed `delay` before each response")
	fs.Func("latency-dist", "delay `distribution` instead of -latency: uniform:MIN,MAX or lognormal:MEDIAN,P99",
		func(s string) error {
			d, err := testserver.ParseLatencyDist(s)
			cfg.LatencyDist = d
			return err
		})
	fs.Float64Var(&cfg.ErrorRate, "error-rate", 0, "`fraction` of requests answered 500, in [0, 1]")
	fs.IntVar(&cfg.Size, "size", 512, "approximate body size in `bytes`")
	fs.BoolVar(&cfg.Hang, "hang", false, "never answer any request (hold the connection until the client closes it)")
	fs.Func("hang-paths", "never answer these comma-separated `paths` (an entry ending in / covers the paths below it)",
		pathList(&cfg.HangPaths))
	fs.BoolVar(&cfg.InvalidJSON, "invalid-json", false, "answer 200 application/json with a body that is not valid JSON")
	fs.BoolVar(&cfg.Truncated, "truncated", false, "send half of the body announced by Content-Length, then close the connection")
	fs.BoolVar(&cfg.NonJSON, "non-json", false, "answer 200 text/html")
	fs.Func("fault-paths", "apply -error-rate, -invalid-json, -truncated and -non-json only to these comma-separated `paths`",
		pathList(&cfg.FaultPaths))
	fs.Int64Var(&cfg.Seed, "seed", 0, "`seed` of the generated data, latency draws and injected errors")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}

	api, err := testserver.StartAPI(cfg)
	if errors.Is(err, testserver.ErrInvalidConfig) {
		return fmt.Errorf("%w: %w", errUsage, err)
	} else if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, api.URL()); err != nil {
		api.Close()
		return fmt.Errorf("write URL: %w", err)
	}
	fmt.Fprintln(stderr, "ready")
	<-ctx.Done()
	api.Close()
	fmt.Fprintf(stderr, "calls=%d\n", api.TotalCalls())
	return nil
}

// pathList returns a flag.Func setter that appends comma-separated paths to
// dst.
func pathList(dst *[]string) func(string) error {
	return func(s string) error {
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				*dst = append(*dst, p)
			}
		}
		return nil
	}
}
