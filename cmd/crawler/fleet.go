package main

import (
	"context"
	"encoding/json"
	"flag"
	"log/slog"
	"time"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/pgstore"
	"github.com/trawl/trawl/storage"
)

// crawlDB is the crawl's state as crawlInto uses it: the SQLite file
// (storage.DB) or a crawl in PostgreSQL (pgstore.DB) that several crawler
// processes share.
type crawlDB interface {
	crawl.State
	crawl.PolitenessStore
	BeginCrawl(ctx context.Context, seeds []string, settings any) (int64, error)
	FinishCrawl(ctx context.Context, id int64) error
	LastSettings(ctx context.Context) (json.RawMessage, []string, error)
	Requeue(ctx context.Context) (int64, error)
	Totals(ctx context.Context) (storage.Totals, error)
	Close() error
}

// fleetFlags are the flags of a crawl in PostgreSQL: which crawl, and how
// this worker holds hosts. They belong to the process, not to the crawl's
// stored settings.
type fleetFlags struct {
	crawl string
	lease time.Duration
	hosts int
}

func (f *fleetFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.crawl, "crawl", "crawl", "with --db postgres://...: the crawl's name in the database (its schema); workers given the same name share the crawl")
	fs.DurationVar(&f.lease, "lease", 30*time.Second, "with --db postgres://...: how long a host lease lasts unless renewed; a dead worker's hosts go to others after it")
	fs.IntVar(&f.hosts, "hosts", 0, "with --db postgres://...: hosts this worker holds at once (0 = --concurrency)")
}

// validate checks the fleet's flags: given (in fs) only with a PostgreSQL
// --db (isPG), and sensible; and that the dashboard (ui) is not asked of a
// crawl in PostgreSQL, which it does not show yet.
func (f *fleetFlags) validate(fs *flag.FlagSet, isPG, ui bool) error {
	var given string
	fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "crawl" || fl.Name == "lease" || fl.Name == "hosts" {
			given = fl.Name
		}
	})
	switch {
	case isPG && ui:
		return usagef("--ui works with a crawl file, not yet with --db postgres://")
	case given != "" && !isPG:
		return usagef("--%s is for a crawl in PostgreSQL (--db postgres://...), not a crawl file", given)
	case f.lease < time.Second:
		return usagef("--lease must be at least 1s")
	case f.hosts < 0:
		return usagef("--hosts must not be negative")
	}
	return nil
}

// openPostgres opens the crawl named by the flags in the database dsn.
func openPostgres(ctx context.Context, dsn string, f fleetFlags, log *slog.Logger) (*pgstore.DB, error) {
	return pgstore.Open(ctx, dsn, pgstore.Options{Crawl: f.crawl, LeaseTTL: f.lease, Log: log})
}
