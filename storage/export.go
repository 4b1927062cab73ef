package storage

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// pageRecord is one exported pages row. Pointers are NULL-able columns.
type pageRecord struct {
	ID          int64           `json:"id"`
	URL         string          `json:"url"`
	Host        string          `json:"host"`
	FinalURL    *string         `json:"final_url"`
	Status      *int64          `json:"status"`
	ContentType *string         `json:"content_type"`
	Title       *string         `json:"title"`
	Depth       int64           `json:"depth"`
	FetchedAt   string          `json:"fetched_at"`
	DurationMS  *int64          `json:"duration_ms"`
	SizeBytes   *int64          `json:"size_bytes"`
	Truncated   bool            `json:"truncated"`
	ContentHash *string         `json:"content_hash"`
	Canonical   *string         `json:"canonical"`
	Redirects   json.RawMessage `json:"redirects"` // a JSON array, or null
	Attempts    int64           `json:"attempts"`
	Error       *string         `json:"error"`
	CrawlID     *int64          `json:"crawl_id"`
	ErrorClass  *string         `json:"error_class"`
	Charset     *string         `json:"charset"`
	NoIndex     bool            `json:"noindex"`
	NoFollow    bool            `json:"nofollow"`
	LinksCapped bool            `json:"links_capped"`
	SimHash     *int64          `json:"simhash"` // the stored (signed) integer
	ETag        *string         `json:"etag"`
	LastMod     *string         `json:"last_modified"`
	Unchanged   bool            `json:"unchanged"`
	Lang        *string         `json:"lang"`
	WARCFile    *string         `json:"warc_file"`
	WARCOffset  *int64          `json:"warc_offset"`
	Text        *string         `json:"text,omitempty"` // with ExportText only
}

func (r *pageRecord) dest() []any {
	return []any{&r.ID, &r.URL, &r.Host, &r.FinalURL, &r.Status, &r.ContentType, &r.Title, &r.Depth,
		&r.FetchedAt, &r.DurationMS, &r.SizeBytes, &r.Truncated, &r.ContentHash, &r.Canonical, (*[]byte)(&r.Redirects),
		&r.Attempts, &r.Error, &r.CrawlID, &r.ErrorClass, &r.Charset, &r.NoIndex, &r.NoFollow, &r.LinksCapped,
		&r.SimHash, &r.ETag, &r.LastMod, &r.Unchanged, &r.Lang, &r.WARCFile, &r.WARCOffset}
}

// columns names the columns of pages, in table order: the csv header, the
// jsonl keys and the order of pageRecord.dest.
func columns() []string {
	return []string{"id", "url", "host", "final_url", "status", "content_type", "title", "depth", "fetched_at",
		"duration_ms", "size_bytes", "truncated", "content_hash", "canonical", "redirects", "attempts", "error",
		"crawl_id", "error_class", "charset", "noindex", "nofollow", "links_capped", "simhash", "etag",
		"last_modified", "unchanged", "lang", "warc_file", "warc_offset"}
}

// record renders r as csv fields: NULL as "", truncated as 0 or 1, redirects
// as its JSON text.
func (r *pageRecord) record(rec []string) []string {
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	num := func(p *int64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatInt(*p, 10)
	}
	flag := func(b bool) string {
		if b {
			return "1"
		}
		return "0"
	}
	return append(rec[:0], strconv.FormatInt(r.ID, 10), r.URL, r.Host, str(r.FinalURL), num(r.Status),
		str(r.ContentType), str(r.Title), strconv.FormatInt(r.Depth, 10), r.FetchedAt, num(r.DurationMS),
		num(r.SizeBytes), flag(r.Truncated), str(r.ContentHash), str(r.Canonical), string(r.Redirects),
		strconv.FormatInt(r.Attempts, 10), str(r.Error), num(r.CrawlID), str(r.ErrorClass), str(r.Charset),
		flag(r.NoIndex), flag(r.NoFollow), flag(r.LinksCapped), num(r.SimHash), str(r.ETag), str(r.LastMod), flag(r.Unchanged),
		str(r.Lang), str(r.WARCFile), num(r.WARCOffset))
}

// Export writes every pages row to w, in id order, as format:
//
//   - "jsonl": one JSON object per line, keyed by column name (snake_case);
//     NULL is null, the 0/1 flags (truncated, noindex, nofollow,
//     links_capped, unchanged) are booleans and redirects an array.
//   - "csv": a header row of column names, then one row per page; NULL is
//     empty, flags are 0 or 1 and redirects is its JSON text.
//
// Any other format is an error, returned before anything is written. Export
// reads one snapshot and may run while a crawl writes.
func (db *DB) Export(ctx context.Context, w io.Writer, format string) error {
	return db.export(ctx, w, format, false)
}

// ExportText is Export with one more column, text: the page's readable text (NULL without
// one).
func (db *DB) ExportText(ctx context.Context, w io.Writer, format string) error {
	return db.export(ctx, w, format, true)
}

func (db *DB) export(ctx context.Context, w io.Writer, format string, text bool) error {
	return ExportPages(w, format, text, func() (PageRows, func(), error) {
		query := `SELECT ` + ExportColumns + ` FROM pages ORDER BY id`
		if text {
			query = `SELECT ` + ExportColumns + `,
			(SELECT t.text FROM url u JOIN page_text t ON t.seq = u.seq WHERE u.id = pages.id) FROM pages ORDER BY id`
		}
		rows, err := db.ro.QueryContext(ctx, query)
		if err != nil {
			return nil, nil, err
		}
		return rows, func() { rows.Close() }, nil
	})
}

// ExportColumns lists the pages view's columns in the order ExportPages
// scans them.
var ExportColumns = strings.Join(columns(), ", ")

// PageRows are the rows of a query of ExportColumns over the pages view (the
// flags truncated, noindex, nofollow, links_capped and unchanged as booleans,
// redirects as text), and the page's text after them when asked for:
// *sql.Rows, or another driver's rows.
type PageRows interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// ExportPages writes the rows that query returns to w as format (see
// DB.Export), with a last column text when text is set; query is called only
// once the format is known to be good, and returns the rows and how to close
// them.
func ExportPages(w io.Writer, format string, text bool, query func() (PageRows, func(), error)) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	header := columns()
	if text {
		header = append(header, "text")
	}
	var write func(*pageRecord) error
	flush := bw.Flush
	switch format {
	case "jsonl":
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false) // keep URLs readable: & < > as they are
		write = func(r *pageRecord) error { return enc.Encode(r) }
	case "csv":
		cw := csv.NewWriter(bw)
		var rec []string
		write = func(r *pageRecord) error {
			rec = r.record(rec)
			if text {
				t := ""
				if r.Text != nil {
					t = *r.Text
				}
				rec = append(rec, t)
			}
			return cw.Write(rec)
		}
		flush = func() error {
			cw.Flush()
			if err := cw.Error(); err != nil {
				return err
			}
			return bw.Flush()
		}
		if err := cw.Write(header); err != nil {
			return fmt.Errorf("export csv: %w", err)
		}
	default:
		return fmt.Errorf("export: unknown format %q (want jsonl or csv)", format)
	}

	if err := exportRows(query, write, text); err != nil {
		return fmt.Errorf("export %s: %w", format, err)
	}
	if err := flush(); err != nil {
		return fmt.Errorf("export %s: %w", format, err)
	}
	return nil
}

// exportRows calls write on every row query returns, with its text if asked.
func exportRows(query func() (PageRows, func(), error), write func(*pageRecord) error, text bool) error {
	rows, closeRows, err := query()
	if err != nil {
		return err
	}
	defer closeRows()
	var r pageRecord
	dest := r.dest()
	if text {
		dest = append(dest, &r.Text)
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		if err := write(&r); err != nil {
			return fmt.Errorf("page %d: %w", r.ID, err)
		}
	}
	return rows.Err()
}
