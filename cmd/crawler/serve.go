package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/trawl/trawl/storage"
)

// runServe serves the dashboard of a crawl file until ctx ends. It opens
// the file read-only: it may watch a file that a crawl writes, from another
// process, without disturbing it.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "serve [flags]")
	dbPath := fs.String("db", "crawl.db", "SQLite file of the crawl to show (read-only; a crawl may be writing it)")
	addr := fs.String("addr", "127.0.0.1:8090", "address to serve the dashboard on; an address other than loopback needs a token")
	token := fs.String("ui-token", "", "token the dashboard asks for (default: none on loopback, a generated one printed at start elsewhere)")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usagef("serve: unexpected arguments %q", fs.Args())
	case *dbPath == "":
		return usagef("--db must name a file")
	case *addr == "":
		return usagef("--addr must name an address, e.g. 127.0.0.1:8090")
	}
	if err := fileExists(*dbPath); err != nil {
		return err
	}
	ln, tok, err := listenUI("--addr", *addr, *token)
	if err != nil {
		return err
	}
	defer closeListener(ln)
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	db, err := storage.OpenReadOnly(ctx, *dbPath, true, log)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintf(stderr, "dashboard of %s: %s (Ctrl-C to stop)\n", *dbPath, dashboardURL(ln, tok))
	stop := serveDashboard(ln, tok, &dashSource{db: db, path: *dbPath}, log)
	<-ctx.Done()
	stop()
	return nil
}
