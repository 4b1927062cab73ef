package storage

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"
)

func hitURLs(hits []Hit) string {
	var u []string
	for _, h := range hits {
		u = append(u, h.URL)
	}
	return strings.Join(u, " ")
}

// TestSearchIndexesLazily: text the writer stores is found once IndexText has run, a
// refetch replaces the indexed text (the old words are no longer found), and a page
// refetched before it was indexed is indexed once, with its new text.
func TestSearchIndexesLazily(t *testing.T) {
	db := openTest(t)
	ctx := t.Context()
	page := func(url, text string, refetch bool) Visit {
		return Visit{Page: &Page{URL: url, Host: "a.test", Status: 200, Title: "T", Text: text, Lang: "en", Refetch: refetch}}
	}
	write := func(vs ...Visit) {
		t.Helper()
		if _, err := runWrite(db, WriterConfig{}, vs); err != nil {
			t.Fatal(err)
		}
	}
	search := func(q string) string {
		t.Helper()
		hits, err := db.Search(ctx, q, 10)
		if err != nil {
			t.Fatal(err)
		}
		return hitURLs(hits)
	}
	write(page("https://a.test/1", "alpha beta", false), page("https://a.test/2", "alpha alpha gamma", false))
	if got := search("alpha"); got != "" {
		t.Errorf("before IndexText: %q, want nothing", got)
	}
	if n, err := db.IndexText(ctx); err != nil || n != 2 {
		t.Fatalf("IndexText = %d, %v; want 2", n, err)
	}
	if got := search("alpha"); got != "https://a.test/2 https://a.test/1" {
		t.Errorf("alpha: %q, want /2 (twice) then /1", got)
	}
	write(page("https://a.test/1", "delta", true)) // a recrawl changed /1
	write(page("https://a.test/3", "epsilon", false), page("https://a.test/3", "zeta", true))
	if n, err := db.IndexText(ctx); err != nil || n != 2 {
		t.Fatalf("IndexText = %d, %v; want 2", n, err)
	}
	for q, want := range map[string]string{"beta": "", "delta": "https://a.test/1", "alpha": "https://a.test/2", "epsilon": "", "zeta": "https://a.test/3"} {
		if got := search(q); got != want {
			t.Errorf("%s: %q, want %q", q, got, want)
		}
	}
	var check string
	if err := db.ro.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check after refetches = %q, %v", check, err)
	}
	if n := count(t, db, `SELECT count(*) FROM texts`); n != 3 {
		t.Errorf("texts = %d, want 3", n)
	}
	if _, err := db.Search(ctx, `"unclosed`, 10); err == nil {
		t.Log("FTS4 accepts an unclosed quote")
	}
	if _, err := db.Search(ctx, "AND OR", 10); !errors.Is(err, ErrBadQuery) {
		t.Errorf("a malformed query: %v, want ErrBadQuery", err)
	}
}

// TestBM25 checks the ranking function on hand-made matchinfo: more hits rank higher, a
// shorter row ranks higher for the same hits, a rarer word weighs more, and a blob too short
// scores 0.
func TestBM25(t *testing.T) {
	info := func(vals ...uint32) []byte {
		b := make([]byte, 4*len(vals))
		for i, v := range vals {
			binary.NativeEndian.PutUint32(b[4*i:], v)
		}
		return b
	}
	// p=1 phrase, c=1 column, n=100 rows, a=50 avg tokens, l=row length, x=(hits row, hits all, docs)
	one := func(length, hits, docs uint32) float64 { return bm25(info(1, 1, 100, 50, length, hits, 40, docs)) }
	if !(one(50, 3, 10) > one(50, 1, 10)) || !(one(20, 2, 10) > one(200, 2, 10)) || !(one(50, 2, 5) > one(50, 2, 50)) {
		t.Errorf("bm25 ordering wrong: %v %v %v %v %v %v", one(50, 3, 10), one(50, 1, 10), one(20, 2, 10), one(200, 2, 10), one(50, 2, 5), one(50, 2, 50))
	}
	if one(50, 0, 10) != 0 || bm25(nil) != 0 || bm25([]byte{1, 2, 3}) != 0 {
		t.Error("no hits or no matchinfo should score 0")
	}
}
