package storage

import (
	"github.com/cespare/xxhash/v2"
	"github.com/mattn/go-sqlite3"
)

// URLID is the key of a canonical URL in the url, page, link and
// other_urls tables: its 64-bit xxHash, as a signed integer (SQLite's), never
// 0. It is the same function as dedupe.Fingerprint (a test in each package
// pins the same golden values), so that a caller that fingerprints URLs for
// its own seen-set can pass the ids along instead of having them computed
// twice. Two URLs with one fingerprint are one URL to the crawl: about
// n²/2⁶⁵ colliding pairs are expected among n URLs, 0.03 at a billion.
func URLID(url string) int64 {
	h := int64(xxhash.Sum64String(url))
	if h == 0 {
		return 1
	}
	return h
}

// idOf returns id, or URLID(url) when id is 0 (not given).
func idOf(id int64, url string) int64 {
	if id != 0 {
		return id
	}
	return URLID(url)
}

// registerFunctions adds trawl_fingerprint(url) to a connection, for the
// migration to schema 3 (which keys rows by fingerprint).
// It adds trawl_bm25(matchinfo(page_fts, 'pcnalx'), weight...) too, Search's ranking.
func registerFunctions(conn *sqlite3.SQLiteConn) error {
	if err := conn.RegisterFunc("trawl_fingerprint", URLID, true); err != nil {
		return err
	}
	return conn.RegisterFunc("trawl_bm25", bm25, true)
}
