package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/trawl/trawl/crawl"
	"github.com/trawl/trawl/pgstore"
	"github.com/trawl/trawl/storage"
)

func runStats(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("stats", "stats [flags]")
	dbPath := fs.String("db", "crawl.db", "SQLite file of the crawl, or a PostgreSQL URL (postgres://...)")
	crawlName := fs.String("crawl", "crawl", "with --db postgres://...: the crawl's name in the database")
	asJSON := fs.Bool("json", false, "print one JSON object instead of tables")
	hosts := fs.Int("hosts", 20, "hosts to list, most pages first (0 = all)")
	nearDups := fs.Int("near-dups", 10, "near-duplicate groups to list, largest first (0 = all)")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("stats: unexpected arguments %q", fs.Args())
	}
	db, err := openInspect(ctx, *dbPath, *crawlName, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := db.Stats(ctx)
	if err != nil {
		return err
	}
	var workers []pgstore.Worker // the fleet's, with PostgreSQL
	if pg, ok := db.(*pgstore.DB); ok {
		if workers, err = pg.Workers(ctx); err != nil {
			return err
		}
	}
	if *hosts > 0 && len(st.ByHost) > *hosts {
		st.ByHost = st.ByHost[:*hosts]
	}
	clusters, nClusters, err := crawl.NearDuplicates(ctx, db, crawl.NearDupDistance, *nearDups)
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			*storage.Stats
			NearDupClusters int                    // groups of near-duplicate pages in all
			NearDuplicates  []crawl.NearDupCluster // the largest groups
			Workers         []pgstore.Worker       `json:",omitempty"` // with PostgreSQL: the crawler processes
		}{st, nClusters, clusters, workers})
	}
	if err := printStats(stdout, st, clusters, nClusters); err != nil {
		return err
	}
	if len(workers) > 0 {
		return printWorkers(stdout, workers)
	}
	return nil
}

// printWorkers lists a fleet's workers: live ones first, with the hosts they
// hold, their pages per second since they started and their last heartbeat.
func printWorkers(w io.Writer, workers []pgstore.Worker) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\nworker\tstate\thosts held\tpages\tpages/s\tlast heartbeat")
	for _, wk := range workers {
		state := "live"
		end := wk.Heartbeat
		switch {
		case !wk.Stopped.IsZero():
			state = "stopped"
		case !wk.Live:
			state = "gone (no heartbeat)"
		}
		rate := float64(wk.Pages) / max(end.Sub(wk.Started).Seconds(), 1e-9)
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%.1f\t%s\n", wk.ID, state, wk.Leases, wk.Pages, rate, wk.Heartbeat.Format(time.RFC3339))
	}
	return tw.Flush()
}

// inspected is a crawl opened to read it: the SQLite file or a crawl in
// PostgreSQL.
type inspected interface {
	Stats(ctx context.Context) (*storage.Stats, error)
	EachFingerprint(ctx context.Context, fn func(storage.Fingerprint) error) error
	Export(ctx context.Context, w io.Writer, format string) error
	ExportText(ctx context.Context, w io.Writer, format string) error
	Close() error
}

// openInspect opens the crawl at dbPath (a file, or a PostgreSQL URL and
// the crawl's name) to read it; it creates nothing.
func openInspect(ctx context.Context, dbPath, crawlName string, stderr io.Writer) (inspected, error) {
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if pgstore.IsURL(dbPath) {
		return pgstore.Open(ctx, dbPath, pgstore.Options{Crawl: crawlName, Existing: true, Log: log})
	}
	return openExisting(ctx, dbPath, stderr)
}

func printStats(w io.Writer, st *storage.Stats, clusters []crawl.NearDupCluster, nClusters int) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "pages\t%d\n", st.Pages)
	fmt.Fprintf(tw, "  done (answered: any status)\t%d\n", st.Done)
	fmt.Fprintf(tw, "    robots-denied (never requested)\t%d\n", st.Robots)
	fmt.Fprintf(tw, "  failed (no usable response)\t%d\n", st.Failed)
	if st.Requeued > 0 {
		fmt.Fprintf(tw, "  queued again for a recrawl\t%d\n", st.Requeued)
	}
	fmt.Fprintf(tw, "redirect targets (recorded with the page that redirected)\t%d\n", st.Redirected)
	fmt.Fprintf(tw, "queued\t%d\n", st.Queued)
	fmt.Fprintf(tw, "urls discovered\t%d\n", st.Discovered)
	fmt.Fprintf(tw, "links\t%d\n", st.Links)
	fmt.Fprintf(tw, "body bytes\t%d\n", st.Bytes)
	fmt.Fprintf(tw, "sitemaps (robots.txt)\t%d\n", st.Sitemaps)
	fmt.Fprintf(tw, "crawl runs\t%d\n", st.Crawls)
	fmt.Fprintf(tw, "pages saying noindex\t%d\n", st.NoIndex)
	fmt.Fprintf(tw, "pages saying nofollow\t%d\n", st.NoFollow)
	fmt.Fprintf(tw, "pages over the link cap\t%d\n", st.Capped)
	fmt.Fprintf(tw, "unchanged on recrawl (304)\t%d\n", st.Unchanged)
	if !st.First.IsZero() {
		fmt.Fprintf(tw, "first started\t%s\n", st.First.Format(time.RFC3339))
		fmt.Fprintf(tw, "last activity\t%s\n", st.Last.Format(time.RFC3339))
	}
	fmt.Fprintln(tw, "\nstatus\tpages")
	codes := make([]int, 0, len(st.ByStatus))
	for c := range st.ByStatus {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		label := fmt.Sprint(c)
		if c == 0 {
			label = "none"
		}
		fmt.Fprintf(tw, "%s\t%d\n", label, st.ByStatus[c])
	}
	if len(st.ByHost) > 0 {
		fmt.Fprintln(tw, "\nhost\tpages\tdone\tfailed\trobots-denied")
		for _, h := range st.ByHost {
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", h.Host, h.Pages, h.Pages-h.Failed, h.Failed, h.Robots)
		}
	}
	if len(st.Drops) > 0 {
		fmt.Fprintln(tw, "\nnot followed\tcount\texample")
		for _, d := range st.Drops {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", d.Reason, d.Count, d.Example)
		}
	}
	if len(st.ByClass) > 0 {
		fmt.Fprintln(tw, "\nerror class\tpages")
		classes := make([]string, 0, len(st.ByClass))
		for c := range st.ByClass {
			classes = append(classes, c)
		}
		slices.SortFunc(classes, func(a, b string) int { return cmp.Or(cmp.Compare(st.ByClass[b], st.ByClass[a]), cmp.Compare(a, b)) })
		for _, c := range classes {
			fmt.Fprintf(tw, "%s\t%d\n", c, st.ByClass[c])
		}
	}
	if nClusters > 0 {
		fmt.Fprintf(tw, "\nnear-duplicate groups (SimHash within %d bits)\t%d\n", crawl.NearDupDistance, nClusters)
		for _, c := range clusters {
			fmt.Fprintf(tw, "%d pages\t%s\n", len(c.URLs), strings.Join(c.URLs[:min(len(c.URLs), 3)], " "))
		}
	}
	if len(st.TopErrors) > 0 {
		fmt.Fprintln(tw, "\nerrors\tpages")
		for _, e := range st.TopErrors {
			fmt.Fprintf(tw, "%s\t%d\n", e.Error, e.Count)
		}
	}
	return tw.Flush()
}

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("export", "export [flags] > FILE")
	dbPath := fs.String("db", "crawl.db", "SQLite file of the crawl, or a PostgreSQL URL (postgres://...)")
	crawlName := fs.String("crawl", "crawl", "with --db postgres://...: the crawl's name in the database")
	format := fs.String("format", "jsonl", "jsonl (one JSON object per page) or csv")
	text := fs.Bool("text", false, "add a text column: each page's readable text (crawled with --text, the default)")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *format != "jsonl" && *format != "csv" {
		return usagef("export: --format %q: want jsonl or csv", *format)
	}
	if fs.NArg() > 0 {
		return usagef("export: unexpected arguments %q", fs.Args())
	}
	db, err := openInspect(ctx, *dbPath, *crawlName, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	if *text {
		return db.ExportText(ctx, stdout, *format)
	}
	return db.Export(ctx, stdout, *format)
}

// openExisting opens a crawl file read-only, to inspect it: it neither
// creates nor changes a file, and refuses one that is not a crawl file.
func openExisting(ctx context.Context, path string, stderr io.Writer) (*storage.DB, error) {
	if path == "" {
		return nil, usagef("--db must name a file")
	}
	if err := fileExists(path); err != nil {
		return nil, err
	}
	return storage.OpenReadOnly(ctx, path, false, slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}
