package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/trawl/trawl/testserver"
)

// The end-to-end tests run this test binary as the three programs the
// benchmark drives, through symlinks whose names TestMain dispatches on.
const (
	fakeServerName  = "fake-testserver"
	fakeGatewayName = "fake-gateway"  // takes either gateway's flags and config
	fakeCrashName   = "fake-crash"    // exits at once
	fakeBadExitName = "fake-bad-exit" // a fake gateway that exits 3 when stopped
)

func TestMain(m *testing.M) {
	switch filepath.Base(os.Args[0]) {
	case fakeServerName:
		os.Exit(fakeServer(os.Args[1:]))
	case fakeGatewayName:
		os.Exit(fakeGateway(os.Args[1:]))
	case fakeBadExitName:
		fakeGateway(os.Args[1:])
		os.Exit(3)
	case fakeCrashName:
		fmt.Fprintln(os.Stderr, "listen: address already in use")
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// fakeBinaries links the test binary under the fake names in a temporary
// directory and returns the directory.
func fakeBinaries(t *testing.T) string {
	t.Helper()
	t.Setenv("GORACE", "atexit_sleep_ms=0") // under -race every child would sleep 1 s at exit
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, name := range []string{fakeServerName, fakeGatewayName, fakeCrashName, fakeBadExitName} {
		if err := os.Symlink(exe, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// fakeServer is `testserver api` with the flags aggbench passes, on the real
// testserver package.
func fakeServer(args []string) int {
	if len(args) == 0 || args[0] != "api" {
		fmt.Fprintln(os.Stderr, "want the api subcommand, got", args)
		return 2
	}
	var cfg testserver.APIConfig
	fs := flag.NewFlagSet(fakeServerName, flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", "", "")
	fs.IntVar(&cfg.Size, "size", 0, "")
	fs.DurationVar(&cfg.Latency, "latency", 0, "")
	fs.Int64Var(&cfg.Seed, "seed", 0, "")
	fs.BoolVar(&cfg.Hang, "hang", false, "")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	api, err := testserver.StartAPI(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(api.URL())
	<-ctx.Done()
	api.Close()
	return 0
}

// fakeGateway reads either gateway's config and serves /users/{id} by
// calling the three upstreams under the deadline and splicing their objects.
func fakeGateway(args []string) int {
	fs := flag.NewFlagSet(fakeGatewayName, flag.ContinueOnError)
	file := fs.String("config", "", "")
	fs.String("log-level", "", "")
	fs.String("access-log", "", "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	data, err := os.ReadFile(*file)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	addr, deadline, urls, err := readGatewayConfig(data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "config:", err)
		return 1
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }
	mux.HandleFunc("GET /healthz", ok)
	mux.HandleFunc("GET /__health", ok)
	mux.HandleFunc("GET /users/{id}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), deadline)
		defer cancel()
		parts := make([][]byte, len(urls))
		var wg sync.WaitGroup
		for i, u := range urls {
			wg.Go(func() { parts[i] = fetchObject(ctx, client, strings.ReplaceAll(u, "{id}", r.PathValue("id"))) })
		}
		wg.Wait()
		var out bytes.Buffer
		out.WriteByte('{')
		complete := true
		for _, p := range parts {
			if p == nil {
				complete = false
				continue
			}
			if out.Len() > 1 {
				out.WriteByte(',')
			}
			out.Write(p)
		}
		out.WriteByte('}')
		w.Header().Set("X-Aggregate-Completed", strconv.FormatBool(complete))
		w.Write(out.Bytes())
	})
	srv := &http.Server{Addr: addr, Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// fetchObject returns the members of the JSON object at url, without the
// braces, or nil.
func fetchObject(ctx context.Context, c *http.Client, url string) []byte {
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	b = bytes.TrimSpace(b)
	if err != nil || resp.StatusCode != 200 || len(b) < 2 || b[0] != '{' {
		return nil
	}
	return b[1 : len(b)-1]
}

// readGatewayConfig reads the listen address, deadline and backend URLs
// (with {id}) from aggbench's aggregator YAML or Lura JSON.
func readGatewayConfig(data []byte) (addr string, deadline time.Duration, urls []string, err error) {
	if bytes.HasPrefix(data, []byte("{")) {
		var f luraFile
		if err := json.Unmarshal(data, &f); err != nil {
			return "", 0, nil, err
		}
		deadline, err = time.ParseDuration(f.Endpoints[0].Timeout)
		for _, b := range f.Endpoints[0].Backend {
			urls = append(urls, b.Host[0]+b.URLPattern)
		}
		return fmt.Sprintf("%s:%d", f.ListenIP, f.Port), deadline, urls, err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, _ := strings.Cut(strings.TrimSpace(sc.Text()), ": ")
		switch key {
		case "addr":
			addr, err = strconv.Unquote(val)
		case "timeout":
			deadline, err = time.ParseDuration(val)
		case "url":
			var u string
			u, err = strconv.Unquote(val)
			urls = append(urls, u)
		}
		if err != nil {
			return "", 0, nil, fmt.Errorf("%s: %w", key, err)
		}
	}
	return addr, deadline, urls, nil
}

// fakeConfig returns a config for a short run on the fake binaries in dir.
func fakeConfig(dir string) config {
	return config{
		Aggregator: filepath.Join(dir, fakeGatewayName),
		Lura:       filepath.Join(dir, fakeGatewayName),
		Testserver: filepath.Join(dir, fakeServerName),
		Latencies:  []time.Duration{0},
		Size:       256,
		Deadline:   200 * time.Millisecond,
		Clients:    4, Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond,
		LightClients: 2, LightRate: 100, LightDuration: 150 * time.Millisecond,
		HangDuration: 500 * time.Millisecond,
		Count:        1,
		AccessLog:    true,
	}
}
