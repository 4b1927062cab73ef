// Command lura is the Lura v2 peer in Trawl's side-by-side aggregator
// benchmark (bench/aggbench). It is the gateway a typical Lura user writes
// (the wiring of Lura's README and of KrakenD CE, without KrakenD's plugins):
// Lura's own config parser reads a KrakenD-style JSON file, Lura's gin engine
// (router/gin.NewEngine: access log, recovery, path checks, health endpoint)
// serves it, and Lura's default proxy factory fans each endpoint out to its
// backends and merges their responses (proxy/merging.go).
//
// Usage:
//
//	lura -config FILE [-port N] [-log-level ERROR] [-access-log=true]
//
// The config's "listen_ip" and "port" give the address (-port overrides the
// port; 0 picks a free one). Once listening, the program prints its base URL
// "http://HOST:PORT" on stdout and "ready" on stderr, and serves until SIGINT
// or SIGTERM, then shuts down gracefully. Lura's access log and its own log
// go to stderr. The health endpoint is Lura's "/__health".
//
// Everything is Lura's default except how the listener is opened: Lura's
// server.RunServer listens inside ListenAndServe, so this program listens
// first (to print the address it got) and then serves the same http.Server
// that server.NewServer builds from the config.
//
// The program is its own module so that Lura never becomes a dependency of
// Trawl's root module.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/luraproject/lura/v2/config"
	"github.com/luraproject/lura/v2/logging"
	"github.com/luraproject/lura/v2/proxy"
	luragin "github.com/luraproject/lura/v2/router/gin"
	"github.com/luraproject/lura/v2/transport/http/server"
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
		fmt.Fprintln(os.Stderr, "lura:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "lura:", err)
		os.Exit(1)
	}
}

// run serves the config named in args until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lura", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "", "KrakenD-style JSON config `file` (required)")
	port := fs.Int("port", -1, "listen `port`, overriding the config's; 0 picks a free one")
	level := fs.String("log-level", "ERROR", "Lura log `level`: DEBUG, INFO, WARNING, ERROR, CRITICAL")
	accessLog := fs.Bool("access-log", true, "write gin's access log line for every request to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *file == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: want -config FILE and no arguments", errUsage)
	}

	cfg, err := config.NewParser().Parse(*file)
	if err != nil {
		return fmt.Errorf("parse config: %w", err)
	}
	if *port >= 0 {
		cfg.Port = *port
	}
	logger, err := logging.NewLogger(*level, stderr, "[LURA]")
	if err != nil {
		return fmt.Errorf("%w: -log-level %q: %w", errUsage, *level, err)
	}
	if !*accessLog {
		cfg.ExtraConfig = withDisabledAccessLog(cfg.ExtraConfig)
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Address, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	serve := func(ctx context.Context, cfg config.ServiceConfig, h http.Handler) error {
		srv := server.NewServer(cfg, h) // Lura's http.Server, timeouts from the config
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ln) }()
		fmt.Fprintln(stdout, "http://"+ln.Addr().String())
		fmt.Fprintln(stderr, "ready")
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			err := srv.Shutdown(context.WithoutCancel(ctx))
			<-done
			return err
		}
	}

	engine := luragin.NewEngine(cfg, luragin.EngineOptions{Logger: logger, Writer: stderr})
	routerFactory := luragin.NewFactory(luragin.Config{
		Engine:         engine,
		Middlewares:    nil,
		HandlerFactory: luragin.EndpointHandler,
		ProxyFactory:   proxy.DefaultFactory(logger),
		Logger:         logger,
		RunServer:      serve,
	})
	routerFactory.NewWithContext(ctx).Run(cfg) // returns once serve has
	ln.Close()                                 // in case Run never called serve
	return nil
}

// withDisabledAccessLog returns extra with Lura's gin option
// "disable_access_log" set, keeping the other options.
func withDisabledAccessLog(extra config.ExtraConfig) config.ExtraConfig {
	if extra == nil {
		extra = config.ExtraConfig{}
	}
	opts, _ := extra[luragin.Namespace].(map[string]any)
	if opts == nil {
		opts = map[string]any{}
	}
	opts["disable_access_log"] = true
	extra[luragin.Namespace] = opts
	return extra
}
