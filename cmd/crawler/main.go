// Command crawler runs polite, resumable web crawls into a SQLite file.
//
// Usage:
//
//	crawler crawl [flags] URL...   crawl (or continue crawling) into --db
//	crawler stats [flags]          totals, statuses, hosts and errors of a crawl
//	crawler export [flags]         pages as JSON lines or CSV on stdout
//	crawler serve [flags]          the dashboard of a crawl file, in a browser
//	crawler version                the version of this build
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
)

// errUsage marks a command-line mistake (exit code 2).
var errUsage = errors.New("usage")

// errPartial marks a crawl that finished but had URLs fail (exit code 3).
var errPartial = errors.New("some URLs failed")

// usageError is a command-line mistake; it prints as its message alone.
type usageError struct{ msg string }

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == errUsage }

// interruptedError is a crawl stopped by a signal (exit code 130); it prints
// as its message alone.
type interruptedError struct{ msg string }

func (e *interruptedError) Error() string        { return e.msg }
func (e *interruptedError) Is(target error) bool { return target == context.Canceled }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

const usage = `usage: crawler <command> [flags]

commands:
  crawl [flags] URL...   crawl from the seed URLs into --db; run it again to continue
  stats [flags]          totals, statuses, hosts and errors of the crawl in --db
  export [flags]         pages in --db as JSON lines or CSV on stdout
  serve [flags]          a live dashboard of the crawl in --db, in a browser
  search [flags] QUERY   full-text search of the pages' text in --db, best first
  show [flags] URL       a page's record, its text and its response read back from the WARC
  version                the version of this build (also --version)

run 'crawler <command> -h' for the flags of a command
`

func main() {
	tuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first signal, restore the default handling: a second Ctrl-C
	// kills the process at once. SQLite keeps what was committed.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "crawler:", err)
	}
	os.Exit(exitCode(err))
}

// run is main without the process: tests call it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usagef("no command given")
	}
	switch args[0] {
	case "crawl":
		return runCrawl(ctx, args[1:], stdout, stderr)
	case "stats":
		return runStats(ctx, args[1:], stdout, stderr)
	case "export":
		return runExport(ctx, args[1:], stdout, stderr)
	case "serve":
		return runServe(ctx, args[1:], stdout, stderr)
	case "search":
		return runSearch(ctx, args[1:], stdout, stderr)
	case "show":
		return runShow(ctx, args[1:], stdout, stderr)
	case "version", "-version", "--version":
		fmt.Fprintln(stdout, version())
		return nil
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return usagef("unknown command %q", args[0])
	}
}

// exitCode maps run's error to the process exit code:
// 0 ok, 1 failure, 2 usage, 3 finished but some URLs failed, 130 interrupted.
func exitCode(err error) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	case errors.Is(err, errPartial):
		return 3
	default:
		return 1
	}
}

// version returns this build's version: the module version when installed
// with go install at a version, else the VCS revision it was built from.
func version() string {
	v, rev, dirty := "(devel)", "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		v = cmp.Or(bi.Main.Version, v)
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value[:min(len(s.Value), 12)]
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev != "" && (v == "(devel)" || strings.Contains(v, "-")) {
		v += " " + rev
		if dirty {
			v += "+dirty"
		}
	}
	return fmt.Sprintf("crawler %s %s %s/%s", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// newFlagSet returns a FlagSet for a subcommand that reports errors instead
// of exiting; parseFlags prints its usage where it belongs.
func newFlagSet(name string, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // parseFlags prints, to stdout or stderr
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: crawler %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args, turning flag mistakes into usage errors: -h
// prints the usage on stdout (it was asked for), a mistake prints it on
// stderr. Later calls of fs.Usage print to stderr.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fs.Usage()
		return err
	case err != nil:
		fs.SetOutput(stderr)
		fs.Usage()
		return usagef("%s: %v", fs.Name(), err)
	}
	fs.SetOutput(stderr)
	return nil
}

// fileExists returns a clear error when path does not exist.
func fileExists(path string) error {
	if _, err := os.Stat(path); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: no such crawl file (run 'crawler crawl --db %s URL...' first)", path, path)
		}
		return err
	}
	return nil
}
