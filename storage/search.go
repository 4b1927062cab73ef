package storage

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
)

// Hit is one page found by Search.
type Hit struct {
	URL     string  // the page's URL
	Title   string  // its title
	Lang    string  // the language it declares
	Snippet string  // text around the matches, each match in [brackets], cuts marked …
	Score   float64 // BM25 relevance: higher is better
}

// searchQuery ranks the pages matching an FTS4 query by BM25 over their title and text
// (title words weigh double), best first.
const searchQuery = `SELECT u.url, coalesce(f.title, ''), coalesce(p.lang, ''),
	snippet(page_fts, '[', ']', '…', -1, 24),
	trawl_bm25(matchinfo(page_fts, 'pcnalx'), 2.0, 1.0) AS score
FROM page_fts f JOIN page p ON p.seq = f.docid JOIN url u ON u.id = p.id
WHERE page_fts MATCH ?
ORDER BY score DESC, u.url LIMIT ?`

// ErrBadQuery is returned by Search for a query the full-text index cannot parse.
var ErrBadQuery = errors.New("invalid search query")

// Search finds the pages whose title or text match query, in SQLite FTS4 syntax (words,
// "a phrase", prefix*, OR, -word, NEAR), best first, at most limit of them. It searches the
// pages indexed: call IndexText first.
func (db *DB) Search(ctx context.Context, query string, limit int) ([]Hit, error) {
	if strings.TrimSpace(query) == "" {
		return nil, fmt.Errorf("search: %w: empty", ErrBadQuery)
	}
	rows, err := db.ro.QueryContext(ctx, searchQuery, query, limit)
	if err != nil {
		return nil, searchErr(query, err)
	}
	defer rows.Close()
	var hits []Hit
	for rows.Next() {
		var h Hit
		if err := rows.Scan(&h.URL, &h.Title, &h.Lang, &h.Snippet, &h.Score); err != nil {
			return nil, fmt.Errorf("search %q: %w", query, err)
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, searchErr(query, err)
	}
	return hits, nil
}

// IndexText brings the full-text index up to date: it indexes the text of the pages stored
// since the last call (text_pending) and returns how many. It is one write transaction,
// which waits for a crawl writing the same file to commit.
func (db *DB) IndexText(ctx context.Context) (int64, error) {
	tx, err := db.rw.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("index text: %w", err)
	}
	defer tx.Rollback() // after Commit, a no-op
	res, err := tx.ExecContext(ctx, `INSERT INTO page_fts (docid, title, text)
		SELECT t.seq, t.title, t.text FROM text_pending p JOIN page_text t ON t.seq = p.seq ORDER BY p.seq`)
	if err != nil {
		return 0, fmt.Errorf("index text: %w", err)
	}
	n, _ := res.RowsAffected()
	if _, err := tx.ExecContext(ctx, `DELETE FROM text_pending`); err != nil {
		return 0, fmt.Errorf("index text: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("index text: %w", err)
	}
	return n, nil
}

// searchErr tells a query FTS4 cannot parse from other failures.
func searchErr(query string, err error) error {
	if msg := err.Error(); strings.Contains(msg, "malformed MATCH") || strings.Contains(msg, "fts4") || strings.Contains(msg, "syntax error") {
		return fmt.Errorf("search %q: %w (%v)", query, ErrBadQuery, err)
	}
	return fmt.Errorf("search %q: %w", query, err)
}

// bm25 is the SQL function trawl_bm25(matchinfo(t, 'pcnalx'), weight...): the Okapi BM25
// score (k1 1.2, b 0.75) of the current row of an FTS4 query, each column's share weighted
// by the weight given for it (1 when not given). FTS4 has matchinfo but no ranking function.
func bm25(info []byte, weights ...float64) float64 {
	const k1, b = 1.2, 0.75
	n := len(info) / 4
	if n < 3 {
		return 0
	}
	v := func(i int) float64 {
		if i >= n {
			return 0
		}
		return float64(binary.NativeEndian.Uint32(info[4*i:]))
	}
	phrases, cols, rows := int(v(0)), int(v(1)), v(2)
	avg, length, hits := 3, 3+cols, 3+2*cols // offsets of a, l and x
	score := 0.0
	for p := range phrases {
		for c := range cols {
			x := hits + 3*(c+p*cols)
			tf, docs := v(x), v(x+2)
			if tf == 0 {
				continue
			}
			idf := math.Log((rows - docs + 0.5) / (docs + 0.5))
			idf = max(idf, 1e-6) // a word in most rows still counts a little
			w := 1.0
			if c < len(weights) {
				w = weights[c]
			}
			norm := 1 - b + b*v(length+c)/max(v(avg+c), 1)
			score += w * idf * tf * (k1 + 1) / (tf + k1*norm)
		}
	}
	return score
}

// pageText returns the text of the page with seq, "" when it has none.
func pageText(ctx context.Context, ro *sql.DB, seq int64) (string, error) {
	var text sql.NullString
	err := ro.QueryRowContext(ctx, `SELECT text FROM page_text WHERE seq = ?`, seq).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return text.String, err
}

// PageRecord is a page's row as 'crawler show' prints it.
type PageRecord struct {
	URL         string // the canonical URL requested
	FinalURL    string `json:",omitempty"` // after redirects, when it differs
	Status      int    // HTTP status of the final response; 0 without one
	ContentType string `json:",omitempty"` // media type of the response
	Title       string `json:",omitempty"` // HTML <title>
	Lang        string `json:",omitempty"` // the language the page declares
	FetchedAt   string // when the fetch completed, as stored
	Size        int64  // body bytes kept
	Truncated   bool   // the body was cut at the size cap
	Error       string `json:",omitempty"` // why the fetch failed
	ContentHash string `json:",omitempty"` // SHA-256 of the body, hex
	WARCFile    string `json:",omitempty"` // the WARC file holding its response record
	WARCOffset  int64  `json:",omitempty"` // the record's offset in it
	Text        string `json:",omitempty"` // its readable text
}

// PageOf returns the page row of url (canonical, as stored) with its text, or ErrNotFound.
func (db *DB) PageOf(ctx context.Context, url string) (*PageRecord, error) {
	var p PageRecord
	var finalURL, ct, title, lang, errText, hash, file sql.NullString
	var status, size, offset sql.NullInt64
	var seq int64
	err := db.ro.QueryRowContext(ctx, `SELECT p.seq, u.url, p.final_url, p.status, p.content_type, p.title,
	p.lang, p.fetched_at, p.size_bytes, p.truncated, p.error, p.content_hash, p.warc_file, p.warc_offset
FROM page p JOIN url u ON u.id = p.id WHERE p.id = ?`, URLID(url)).Scan(&seq, &p.URL, &finalURL, &status, &ct, &title,
		&lang, &p.FetchedAt, &size, &p.Truncated, &errText, &hash, &file, &offset)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("page %s: %w", url, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("page %s: %w", url, err)
	}
	p.FinalURL, p.Status, p.ContentType, p.Title = finalURL.String, int(status.Int64), ct.String, title.String
	p.Lang, p.Size, p.Error, p.ContentHash = lang.String, size.Int64, errText.String, hash.String
	p.WARCFile, p.WARCOffset = file.String, offset.Int64
	if p.Text, err = pageText(ctx, db.ro, seq); err != nil {
		return nil, fmt.Errorf("page %s: text: %w", url, err)
	}
	return &p, nil
}
