// Command plain is the second reference program of Trawl's aggregator
// benchmark (bench/aggbench): a fan-out gateway written the obvious way with
// the standard library alone. For each request it calls every backend in a
// goroutine of its own with net/http's client, under one context deadline,
// decodes each JSON answer with encoding/json into a map, merges the maps
// (the first backend wins a key) and encodes the result. A backend that
// fails or is late is left out, and the answer says so in
// X-Plain-Completed: false.
//
// Usage:
//
//	plain -addr HOST:PORT -timeout 300ms -backend URL [-backend URL ...]
//
// Each URL may hold {id}, filled from the request path /users/{id}. The
// program serves until SIGINT or SIGTERM, then shuts down gracefully; it
// answers GET /healthz with 200. Its transport keeps 256 idle connections per
// host, as the aggregator's does (net/http's default of 2 would make it
// open a connection for most calls, which is not what is measured here).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// backendList is a repeatable -backend flag.
type backendList []string

func (b *backendList) String() string     { return strings.Join(*b, ",") }
func (b *backendList) Set(v string) error { *b = append(*b, v); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "plain:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	return serve(ctx, args, func(net.Addr) { fmt.Fprintln(os.Stderr, "ready") })
}

// serve is run with ready called, with the listener's address, once it
// accepts connections.
func serve(ctx context.Context, args []string, ready func(net.Addr)) error {
	fs := flag.NewFlagSet("plain", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen `address`")
	timeout := fs.Duration("timeout", 300*time.Millisecond, "deadline of each request")
	var backends backendList
	fs.Var(&backends, "backend", "backend `URL` with {id}; repeat for each backend")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(backends) == 0 {
		return errors.New("no -backend given")
	}
	client := &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 256,
		IdleConnTimeout:     90 * time.Second,
	}}
	g := &gateway{client: client, backends: backends, timeout: *timeout}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{id}", g.serve)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}`))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 2 * time.Second, IdleTimeout: 60 * time.Second}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	ready(ln.Addr())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	<-done
	return err
}

type gateway struct {
	client   *http.Client
	backends []string
	timeout  time.Duration
}

func (g *gateway) serve(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), g.timeout)
	defer cancel()
	id := r.PathValue("id")
	results := make([]map[string]any, len(g.backends))
	var wg sync.WaitGroup
	for i, b := range g.backends {
		wg.Go(func() {
			results[i] = g.call(ctx, strings.ReplaceAll(b, "{id}", id))
		})
	}
	wg.Wait()
	merged := map[string]any{}
	complete := true
	for i := len(results) - 1; i >= 0; i-- { // the first backend wins a key
		if results[i] == nil {
			complete = false
		}
		for k, v := range results[i] {
			merged[k] = v
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Plain-Completed", fmt.Sprint(complete))
	json.NewEncoder(w).Encode(merged)
}

// call GETs url and decodes its JSON object; nil when anything went wrong.
func (g *gateway) call(ctx context.Context, url string) map[string]any {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		return nil
	}
	return m
}
