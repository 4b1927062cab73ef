package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The end-to-end tests run this test binary as the three programs the
// benchmark drives, through symlinks whose names TestMain dispatches on. This
// needs no environment variable and no build step.
const (
	fakeServerName  = "fake-testserver"
	fakeCrawlerName = "fake-crawler"
	fakeCollyName   = "fake-colly"
	fakeSilentName  = "fake-silent-server" // exits without saying ready
	fakeTrawlRSS    = 64 << 20             // bytes the fake crawler touches
)

func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case fakeServerName:
		os.Exit(fakeServer(os.Args[1:]))
	case fakeCrawlerName:
		os.Exit(fakeCrawler(os.Args[1:]))
	case fakeCollyName:
		os.Exit(fakeColly(os.Args[1:]))
	case fakeSilentName:
		fmt.Fprintln(os.Stderr, "listen: address already in use")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// fakeBinaries links the test binary under the fake names in a temporary
// directory and returns the directory.
func fakeBinaries(t *testing.T) string {
	t.Helper()
	// Under -race every child would otherwise sleep 1 s at exit.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{fakeServerName, fakeCrawlerName, fakeCollyName, fakeSilentName} {
		if err := os.Symlink(exe, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fakeServer takes the cmd/testserver flags crawlbench passes and serves an
// empty page on -hosts loopback listeners until SIGINT, then prints its totals
// like the real one. After each request it prints a sample line as
// cmd/testserver -sample does, with a made-up time of 1 ms per request so far.
func fakeServer(args []string) int {
	fs := flag.NewFlagSet(fakeServerName, flag.ContinueOnError)
	hosts := fs.Int("hosts", 0, "")
	fs.Int("pages", 0, "")
	links := fs.Int("links", 0, "")
	fs.Int("size", 0, "")
	fs.Float64("cross", 0, "")
	fs.Int("seed", 0, "")
	every := fs.Duration("sample", 0, "")
	if err := fs.Parse(args); err != nil || *hosts < 1 || *links < 1 || *every <= 0 {
		fmt.Fprintln(os.Stderr, "bad flags", args)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var mu sync.Mutex
	seen := map[string]int{}
	hits := 0
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		seen[r.Host+r.URL.RequestURI()]++
		fmt.Printf("sample t_us=%d hits=%d pages=%d\n", hits*1000, hits, len(seen))
		mu.Unlock()
		fmt.Fprint(w, "<html></html>")
	})
	for range *hosts {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		srv := &http.Server{Handler: handler}
		go srv.Serve(ln)
		defer srv.Close()
		fmt.Printf("http://%s/\n", ln.Addr())
	}
	fmt.Fprintln(os.Stderr, "some log line")
	fmt.Fprintln(os.Stderr, "ready")
	<-ctx.Done()
	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups++
		}
	}
	// Like cmd/testserver: distinct pages served, and URLs requested more than once.
	fmt.Fprintf(os.Stderr, "hits=%d pages=%d duplicates=%d\n", hits, len(seen), dups)
	return 0
}

// fakeCrawler takes cmd/crawler's crawl command line, fetches every seed and
// the first one again (a duplicate), burns some CPU and touches
// fakeTrawlRSS bytes.
func fakeCrawler(args []string) int {
	if len(args) == 0 || args[0] != "crawl" {
		fmt.Fprintln(os.Stderr, "want the crawl subcommand")
		return 2
	}
	fs := flag.NewFlagSet(fakeCrawlerName, flag.ContinueOnError)
	db := fs.String("db", "", "")
	conc := fs.Int("concurrency", 0, "")
	perHost := fs.Int("per-host", 0, "")
	rate := fs.String("rate", "", "")
	maxPages := fs.Int("max-pages", 0, "")
	fs.Bool("quiet", false, "")
	if err := fs.Parse(args[1:]); err != nil || *db == "" || *conc < 1 || *perHost != *conc || *rate != "0" || *maxPages < 1 || fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "bad flags", args)
		return 2
	}
	seeds := append(fs.Args(), fs.Arg(0))
	for _, s := range seeds {
		if err := get(s); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	mem := make([]byte, fakeTrawlRSS)
	for i := 0; i < len(mem); i += 4096 {
		mem[i] = 1
	}
	for start := time.Now(); time.Since(start) < 60*time.Millisecond; {
	}
	if err := os.WriteFile(*db, mem[:1], 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fakeColly takes the Colly peer's command line, fetches every seed once and
// prints the peer's JSON line.
func fakeColly(args []string) int {
	fs := flag.NewFlagSet(fakeCollyName, flag.ContinueOnError)
	par := fs.Int("parallelism", 0, "")
	maxPages := fs.Int("max-pages", 0, "")
	if err := fs.Parse(args); err != nil || *par < 1 || *maxPages < 1 || fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "bad flags", args)
		return 2
	}
	for _, s := range fs.Args() {
		if err := get(s); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	json.NewEncoder(os.Stdout).Encode(collyResult{Pages: int64(fs.NArg()), ElapsedS: 0.01})
	return 0
}

func get(u string) error {
	if !strings.HasPrefix(u, "http://127.0.0.1:") { // never leave loopback
		return fmt.Errorf("refusing non-loopback URL %q", u)
	}
	resp, err := http.Get(u)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
