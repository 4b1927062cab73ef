// Command aggregator serves HTTP endpoints that each fan one client request out
// to several upstream JSON APIs in parallel, under one deadline, and answer with
// what came back in time, saying plainly which parts are missing.
//
// Usage:
//
//	aggregator -config FILE [-addr ADDR] [-log-level LEVEL]   serve the endpoints in FILE
//	aggregator -check FILE                                    validate FILE, print every problem
//
// While serving, SIGHUP (and, unless server.no_watch is set, any change to
// FILE) reloads its endpoints: a valid file is swapped in whole, requests in
// flight finishing on the old endpoints; a file with problems is refused, the
// problems logged with their places, and the old endpoints keep serving.
//
// FILE is YAML or JSON (see examples/aggregator.yaml). The exit code is 0 when
// the server stopped cleanly on SIGINT/SIGTERM (or the file is valid), 1 on
// failure (or when the file has problems) and 2 on a command-line mistake.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/gin-gonic/gin"
)

// errUsage marks a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

// usageError is a command-line mistake; it prints as its message alone.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const usage = `usage:
  aggregator -config FILE [-addr ADDR] [-log-level LEVEL]   serve the endpoints in FILE
  aggregator -check FILE                                    validate FILE and print every problem

flags:
`

func main() {
	gin.SetMode(gin.ReleaseMode) // global: once, here
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second Ctrl-C
	// kills the process at once instead of waiting for in-flight requests.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "aggregator:", err)
	}
	os.Exit(exitCode(err))
}

// run is main without the process: tests call it. It serves until ctx ends
// (then shuts down gracefully and returns nil) or checks a file.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("aggregator", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	configPath := fs.String("config", "", "serve the endpoints configured in this YAML or JSON `file`")
	checkPath := fs.String("check", "", "validate this YAML or JSON `file`, print every problem on stdout and exit (1 if any)")
	addr := fs.String("addr", "", "listen on this `address` instead of server.addr (port 0 picks a free port)")
	level := fs.String("log-level", "info", "log `level`: debug, info (one access log line per request), warn (partial and failed responses only) or error")
	gcPercent := fs.String("gc-percent", "", "let the heap grow at most this many `percent` past the live heap before collecting, or off (default: GOGC, else "+strconv.Itoa(defaultGCPercent)+")")
	memLimit := fs.String("memory-limit", "", "soft memory limit for the collector, a `size` such as 22MiB, or off; raised while the live heap needs more room (default: GOMEMLIMIT, else "+strconv.Itoa(defaultMemoryLimit>>20)+"MiB)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case *configPath != "" && *checkPath != "":
		return usagef("give -config or -check, not both")
	case *checkPath != "":
		return runCheck(*checkPath, stdout)
	case *configPath == "":
		fs.Usage()
		return usagef("no -config or -check file given")
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*level)); err != nil {
		return usagef("-log-level %q: want debug, info, warn or error", *level)
	}
	var gc gcSettings
	var err error
	if gc.percent, err = parseGCPercent(*gcPercent); err != nil {
		return usagef("-gc-percent %v", err)
	}
	if gc.limit, err = parseMemoryLimit(*memLimit); err != nil {
		return usagef("-memory-limit %v", err)
	}
	cfg, data, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.Server.Addr = *addr
	}
	defer applyGC(gc)()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	return serve(ctx, cfg, *configPath, data, hup, stderr, lvl)
}

// runCheck validates the file at path and prints every problem on stdout, one
// per line with its place, or a one-line summary when there is none.
func runCheck(path string, stdout io.Writer) error {
	cfg, _, err := loadConfig(path)
	if pe, ok := errors.AsType[*problemsError](err); ok {
		for _, p := range pe.problems {
			fmt.Fprintln(stdout, p.format(pe.file))
		}
		return fmt.Errorf("%s: %d problem%s", pe.file, len(pe.problems), plural(len(pe.problems)))
	} else if err != nil {
		return err
	}
	backends := 0
	for _, ep := range cfg.Endpoints {
		backends += len(ep.Backends)
	}
	fmt.Fprintf(stdout, "%s: ok: %d endpoint%s, %d backend%s\n", path, len(cfg.Endpoints), plural(len(cfg.Endpoints)), backends, plural(backends))
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// exitCode maps run's error to the process exit code: 0 ok, 1 failure (or a
// config with problems), 2 usage.
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
