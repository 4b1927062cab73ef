package storage

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The queries behind the dashboard's page browser and error list. Each reads
// one snapshot through the read pool and returns at most a bounded number of
// rows; they may run while a crawl writes the file.

// PageSummary is one page in a search result.
type PageSummary struct {
	ID     int64  `json:"id,string"` // pages.id (the URL's fingerprint), a string: it passes 2^53
	URL    string `json:"url"`       // canonical URL
	Title  string `json:"title"`     // "" when none
	Status int    `json:"status"`    // 0 when no response
	Error  string `json:"error"`     // "" when none
}

// maxSearch caps SearchPages' limit.
const maxSearch = 200

// SearchPages returns up to limit pages (at most 200) whose URL or title
// contains q (case-insensitive for ASCII), most recently fetched first; an
// empty q returns the latest pages. It scans the pages from the newest, so
// a rare match in a large file takes a full scan.
func (db *DB) SearchPages(ctx context.Context, q string, limit int) ([]PageSummary, error) {
	limit = min(max(limit, 1), maxSearch)
	pattern := "%" + escapeLike(q) + "%"
	rows, err := db.ro.QueryContext(ctx, `SELECT p.id, u.url, coalesce(p.title, ''), coalesce(p.status, 0), coalesce(p.error, '')
		FROM page p JOIN url u ON u.id = p.id
		WHERE ?1 = '' OR u.url LIKE ?2 ESCAPE '\' OR p.title LIKE ?2 ESCAPE '\'
		ORDER BY p.seq DESC LIMIT ?3`, q, pattern, limit)
	if err != nil {
		return nil, fmt.Errorf("search pages: %w", err)
	}
	defer rows.Close()
	out := []PageSummary{}
	for rows.Next() {
		var p PageSummary
		if err := rows.Scan(&p.ID, &p.URL, &p.Title, &p.Status, &p.Error); err != nil {
			return nil, fmt.Errorf("search pages: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search pages: %w", err)
	}
	return out, nil
}

// escapeLike escapes LIKE's wildcards in s, for ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// LinkRef is one link of a page's links out or in.
type LinkRef struct {
	URL      string `json:"url"`            // the other end
	PageID   int64  `json:"page_id,string"` // pages.id of the other end, a string (it passes 2^53); 0 when it has no page (not fetched, or out of scope)
	Nofollow bool   `json:"nofollow"`       // the link said rel=nofollow
}

// PageDetail is one page with its links, for the page browser.
type PageDetail struct {
	Page     json.RawMessage `json:"page"`      // every column of the pages view, as in Export's JSON lines
	LinksOut []LinkRef       `json:"links_out"` // at most the limit given
	LinksIn  []LinkRef       `json:"links_in"`  // at most the limit given
}

// Page returns the page whose pages.id is id, with up to limit links out
// and in (finding links in scans the link table). It returns ErrNotFound
// when there is no such page.
func (db *DB) Page(ctx context.Context, id int64, limit int) (*PageDetail, error) {
	tx, err := db.ro.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	defer tx.Rollback() // read-only: nothing to commit
	var rec pageRecord
	err = tx.QueryRowContext(ctx, `SELECT `+strings.Join(columns(), ", ")+` FROM pages WHERE id = ?`, id).Scan(rec.dest()...)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("page %d: %w", id, ErrNotFound)
	} else if err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	d := &PageDetail{LinksOut: []LinkRef{}, LinksIn: []LinkRef{}}
	if d.Page, err = json.Marshal(&rec); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	out := `SELECT coalesce(d.url, o.url, ''), coalesce(dp.id, 0), l.nofollow
		FROM page p JOIN link l ON l.page_seq = p.seq
		LEFT JOIN url d ON d.id = l.dst_id LEFT JOIN other_urls o ON o.id = l.dst_id LEFT JOIN page dp ON dp.seq = d.seq
		WHERE p.id = ? LIMIT ?`
	in := `SELECT s.url, p.id, l.nofollow FROM link l JOIN page p ON p.seq = l.page_seq JOIN url s ON s.id = p.id
		WHERE l.dst_id = ? LIMIT ?`
	for _, q := range []struct {
		query string
		dst   *[]LinkRef
	}{{out, &d.LinksOut}, {in, &d.LinksIn}} {
		err := eachRow(ctx, tx, q.query, func(rows *sql.Rows) error {
			var l LinkRef
			if err := rows.Scan(&l.URL, &l.PageID, &l.Nofollow); err != nil {
				return err
			}
			*q.dst = append(*q.dst, l)
			return nil
		}, id, limit)
		if err != nil {
			return nil, fmt.Errorf("links of page %d: %w", id, err)
		}
	}
	return d, nil
}

// RecentError is one failed or refused fetch among the latest.
type RecentError struct {
	URL       string `json:"url"`            // the URL requested
	Status    int    `json:"status"`         // 0 when no response
	Class     string `json:"class"`          // pages.error_class
	Error     string `json:"error"`          // pages.error
	FetchedAt string `json:"fetched_at"`     // as stored
	Failed    bool   `json:"failed"`         // no usable response (urls.state 'failed'); false for an answer such as a 404 or a robots denial
	PageID    int64  `json:"page_id,string"` // pages.id, a string (it passes 2^53)
	CrawlID   int64  `json:"crawl_id"`       // the run that recorded it
	Attempts  int    `json:"attempts"`       // tries it took
	Redirects string `json:"redirects"`      // JSON array, "" when none
	FinalURL  string `json:"final_url"`      // "" when the URL itself
	Depth     int    `json:"depth"`          // link hops from a seed
	Host      string `json:"host"`           // url.URL.Host
	Size      int64  `json:"size_bytes"`     // body bytes kept
	Duration  int64  `json:"duration_ms"`    // of the fetch
}

// RecentErrors returns up to limit of the latest pages recorded with an
// error, newest first. It reads the pages from the newest until it has
// limit of them.
func (db *DB) RecentErrors(ctx context.Context, limit int) ([]RecentError, error) {
	rows, err := db.ro.QueryContext(ctx, `SELECT u.url, coalesce(p.status, 0), coalesce(p.error_class, ''), p.error, p.fetched_at,
		p.failed, p.id, coalesce(p.crawl_id, 0), p.attempts, coalesce(p.redirects, ''), coalesce(p.final_url, ''), u.depth, h.host,
		coalesce(p.size_bytes, 0), coalesce(p.duration_ms, 0)
		FROM page p JOIN url u ON u.id = p.id JOIN hosts h ON h.id = u.host_id
		WHERE p.error IS NOT NULL ORDER BY p.seq DESC LIMIT ?`, min(max(limit, 1), maxSearch))
	if err != nil {
		return nil, fmt.Errorf("recent errors: %w", err)
	}
	defer rows.Close()
	out := []RecentError{}
	for rows.Next() {
		var e RecentError
		if err := rows.Scan(&e.URL, &e.Status, &e.Class, &e.Error, &e.FetchedAt, &e.Failed, &e.PageID, &e.CrawlID, &e.Attempts,
			&e.Redirects, &e.FinalURL, &e.Depth, &e.Host, &e.Size, &e.Duration); err != nil {
			return nil, fmt.Errorf("recent errors: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recent errors: %w", err)
	}
	return out, nil
}

// Throughput returns the pages recorded and their body bytes, the two
// figures behind the dashboard's charts when it watches a file without its
// crawler. It counts every page: on a large file, call it seldom.
func (db *DB) Throughput(ctx context.Context) (pages, bytes int64, err error) {
	err = db.ro.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(size_bytes), 0) FROM page`).Scan(&pages, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("throughput: %w", err)
	}
	return pages, bytes, nil
}
