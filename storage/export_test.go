package storage

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The URLs of exportFixture's pages.
const (
	fullURL   = "https://a.test/?q=1&r=<2>"
	failedURL = "https://b.test/"
)

// exportFixture writes two pages: a full one and a failed one with NULLs.
func exportFixture(t *testing.T) (*DB, int64) {
	t.Helper()
	db := openTest(t)
	crawl, err := db.BeginCrawl(t.Context(), []string{"https://a.test/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	visits := []Visit{
		{CrawlID: crawl, Page: &Page{URL: fullURL, Host: "a.test", FinalURL: "https://a.test/home",
			Status: 200, ContentType: "text/html", Title: `Quotes "here", commas, and
a newline`, Depth: 1, FetchedAt: time.Date(2025, 3, 1, 12, 0, 0, 7_000_000, time.UTC), Duration: 2 * time.Second,
			Size: 4096, Truncated: true, ContentHash: "f00d", Canonical: "https://a.test/home",
			Redirects: []string{"https://a.test/r1", "https://a.test/home"}, Attempts: 3,
			Charset: "windows-1252", NoIndex: true, LinksCapped: true, SimHash: 42, ETag: `"e1"`,
			LastMod: "Sat, 01 Mar 2025 11:00:00 GMT", Lang: "en", WARCFile: "x-00001.warc.gz", WARCOffset: 123,
			Text: "the readable text"}},
		{Page: &Page{URL: failedURL, Host: "b.test", Depth: 0, FetchedAt: time.Date(2025, 3, 1, 12, 0, 1, 0, time.UTC),
			Error: "dial tcp: connection refused", ErrorClass: "network"}},
	}
	if _, err := runWrite(db, WriterConfig{}, visits); err != nil {
		t.Fatal(err)
	}
	return db, crawl
}

func TestExportJSONL(t *testing.T) {
	db, crawl := exportFixture(t)
	var buf bytes.Buffer
	if err := db.Export(t.Context(), &buf, "jsonl"); err != nil {
		t.Fatalf("Export: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("export has %d lines, want 2:\n%s", len(lines), buf.String())
	}
	if URLID(fullURL) > URLID(failedURL) { // rows come in id order
		lines[0], lines[1] = lines[1], lines[0]
	}
	full, failed := decodeNumbers(t, lines[0]), decodeNumbers(t, lines[1])
	if got, want := slices.Sorted(maps.Keys(full)), slices.Sorted(slices.Values(columns())); !slices.Equal(got, want) {
		t.Errorf("keys = %v, want every pages column %v", got, want)
	}
	wantFull := map[string]any{
		"id": URLID(fullURL), "url": fullURL, "host": "a.test", "final_url": "https://a.test/home",
		"status": 200.0, "content_type": "text/html", "title": "Quotes \"here\", commas, and\na newline", "depth": 1.0,
		"fetched_at": "2025-03-01T12:00:00.007Z", "duration_ms": 2000.0, "size_bytes": 4096.0, "truncated": true,
		"content_hash": "f00d", "canonical": "https://a.test/home",
		"redirects": []any{"https://a.test/r1", "https://a.test/home"}, "attempts": 3.0, "error": nil,
		"crawl_id": float64(crawl), "error_class": nil, "charset": "windows-1252", "noindex": true, "nofollow": false,
		"links_capped": true, "simhash": 42.0, "etag": `"e1"`, "last_modified": "Sat, 01 Mar 2025 11:00:00 GMT", "unchanged": false,
	}
	wantFailed := map[string]any{
		"id": URLID(failedURL), "url": failedURL, "host": "b.test", "final_url": nil, "status": 0.0,
		"content_type": nil, "title": nil, "depth": 0.0, "fetched_at": "2025-03-01T12:00:01.000Z",
		"duration_ms": 0.0, "size_bytes": 0.0, "truncated": false, "content_hash": nil, "canonical": nil,
		"redirects": nil, "attempts": 1.0, "error": "dial tcp: connection refused", "crawl_id": nil,
		"error_class": "network", "charset": nil, "noindex": false, "simhash": nil, "etag": nil, "unchanged": false,
	}
	for _, c := range []struct {
		got, want map[string]any
	}{{full, wantFull}, {failed, wantFailed}} {
		for k, want := range c.want {
			if got := c.got[k]; !jsonEqual(got, want) {
				t.Errorf("page %v: %s = %#v, want %#v", c.want["id"], k, got, want)
			}
		}
	}
	if !strings.Contains(lines[0], `"url":"`+fullURL+`"`) {
		t.Errorf("URL escaped for HTML in %s; want it readable", lines[0])
	}
}

// decodeNumbers decodes a JSON object keeping numbers exact: ids are 64-bit.
func decodeNumbers(t *testing.T, line string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	return m
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestExportCSV(t *testing.T) {
	db, crawl := exportFixture(t)
	var buf bytes.Buffer
	if err := db.Export(t.Context(), &buf, "csv"); err != nil {
		t.Fatalf("Export: %v", err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("parse export: %v", err)
	}
	want := [][]string{
		columns(),
		{itoa(URLID(fullURL)), fullURL, "a.test", "https://a.test/home", "200", "text/html",
			"Quotes \"here\", commas, and\na newline", "1", "2025-03-01T12:00:00.007Z", "2000", "4096", "1", "f00d",
			"https://a.test/home", `["https://a.test/r1","https://a.test/home"]`, "3", "", itoa(crawl),
			"", "windows-1252", "1", "0", "1", "42", `"e1"`, "Sat, 01 Mar 2025 11:00:00 GMT", "0", "en", "x-00001.warc.gz", "123"},
		{itoa(URLID(failedURL)), failedURL, "b.test", "", "0", "", "", "0", "2025-03-01T12:00:01.000Z", "0", "0", "0", "", "",
			"", "1", "dial tcp: connection refused", "", "network", "", "0", "0", "0", "", "", "", "0", "", "", ""},
	}
	if URLID(fullURL) > URLID(failedURL) { // rows come in id order
		want[1], want[2] = want[2], want[1]
	}
	if len(recs) != len(want) {
		t.Fatalf("export has %d records, want %d: %q", len(recs), len(want), recs)
	}
	for i := range want {
		if !slices.Equal(recs[i], want[i]) {
			t.Errorf("record %d = %q\nwant %q", i, recs[i], want[i])
		}
	}
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestExportFormats(t *testing.T) {
	db, _ := exportFixture(t)
	tests := []struct {
		format  string
		wantErr bool
	}{
		{"jsonl", false},
		{"csv", false},
		{"json", true},
		{"CSV", true},
		{"", true},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var buf bytes.Buffer
			err := db.Export(t.Context(), &buf, tt.format)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Export(%q) err = %v, want error %v", tt.format, err, tt.wantErr)
			}
			if tt.wantErr && buf.Len() > 0 {
				t.Errorf("Export(%q) wrote %d bytes before failing, want none", tt.format, buf.Len())
			}
		})
	}
}

func TestExportEmpty(t *testing.T) {
	db := openTest(t)
	var buf bytes.Buffer
	if err := db.Export(t.Context(), &buf, "jsonl"); err != nil || buf.Len() != 0 {
		t.Errorf("jsonl export of no pages = %q, %v; want nothing", buf.String(), err)
	}
	buf.Reset()
	if err := db.Export(t.Context(), &buf, "csv"); err != nil || buf.String() != strings.Join(columns(), ",")+"\n" {
		t.Errorf("csv export of no pages = %q, %v; want the header only", buf.String(), err)
	}
}

type failWriter struct{ err error }

func (w failWriter) Write([]byte) (int, error) { return 0, w.err }

func TestExportWriteError(t *testing.T) {
	db, _ := exportFixture(t)
	for _, format := range []string{"jsonl", "csv"} {
		if err := db.Export(t.Context(), failWriter{io.ErrShortWrite}, format); err == nil {
			t.Errorf("Export(%s) to a failing writer returned nil", format)
		}
	}
}

// FuzzExportRoundTrip stores a page with arbitrary text fields and checks
// that both export formats give the same text back.
func FuzzExportRoundTrip(f *testing.F) {
	f.Add("https://a.test/", "Title", "error", "text/html")
	f.Add("https://a.test/\"q\"", "a,b\nc", "\r\n", "")
	f.Add("https://a.test/\u2028", "\x00nul", "tab\there", "; charset=\"x\"")
	db, err := Open(f.Context(), f.TempDir()+"/fuzz.db", nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	f.Fuzz(func(t *testing.T, url, title, errText, contentType string) {
		if url == "" {
			return // a page needs a URL
		}
		if _, err := db.rw.ExecContext(t.Context(), `DELETE FROM page`); err != nil { // pages is a view
			t.Fatal(err)
		}
		p := &Page{URL: url, Host: "h", Title: title, Error: errText, ContentType: contentType, Redirects: []string{title}}
		if _, err := runWrite(db, WriterConfig{}, []Visit{{Page: p}}); err != nil {
			t.Fatal(err)
		}

		var jsonl bytes.Buffer
		if err := db.Export(t.Context(), &jsonl, "jsonl"); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(&jsonl)
		sc.Buffer(nil, 1<<20)
		if !sc.Scan() {
			t.Fatalf("no jsonl line: %v", sc.Err())
		}
		var rec struct {
			URL         *string  `json:"url"`
			Title       *string  `json:"title"`
			Error       *string  `json:"error"`
			ContentType *string  `json:"content_type"`
			Redirects   []string `json:"redirects"`
		}
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("jsonl line %q: %v", sc.Bytes(), err)
		}
		if sc.Scan() {
			t.Fatalf("more than one jsonl line after %q", sc.Bytes())
		}
		// JSON carries valid UTF-8 only: the encoder replaces bad bytes.
		// (Checked field by field: "\xc9" + "\x80" is valid, each alone is not.)
		if valid(url, title, errText, contentType) {
			checks := []struct {
				name string
				got  *string
				want string
			}{{"url", rec.URL, url}, {"title", rec.Title, title}, {"error", rec.Error, errText}, {"content_type", rec.ContentType, contentType}}
			for _, c := range checks {
				if c.want == "" && c.got != nil || c.want != "" && (c.got == nil || *c.got != c.want) {
					t.Errorf("jsonl %s = %v, want %q", c.name, c.got, c.want)
				}
			}
			if !slices.Equal(rec.Redirects, []string{title}) {
				t.Errorf("jsonl redirects = %q, want [%q]", rec.Redirects, title)
			}
		}

		var buf bytes.Buffer
		if err := db.Export(t.Context(), &buf, "csv"); err != nil {
			t.Fatal(err)
		}
		recs, err := csv.NewReader(&buf).ReadAll()
		if err != nil {
			t.Fatalf("csv %q: %v", buf.String(), err)
		}
		if len(recs) != 2 {
			t.Fatalf("csv has %d records, want 2: %q", len(recs), recs)
		}
		// encoding/csv reads "\r\n" inside a quoted field as "\n".
		norm := func(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }
		row := recs[1]
		for i, want := range map[int]string{1: url, 6: title, 16: errText, 5: contentType} {
			if row[i] != norm(want) {
				t.Errorf("csv %s = %q, want %q", recs[0][i], row[i], norm(want))
			}
		}
	})
}

func valid(ss ...string) bool {
	for _, s := range ss {
		if !utf8.ValidString(s) {
			return false
		}
	}
	return true
}

// TestExportText: with its text column, the export carries each page's text (NULL, or
// empty in csv, without one).
func TestExportText(t *testing.T) {
	db, _ := exportFixture(t)
	var jsonl, csvOut bytes.Buffer
	if err := db.ExportText(t.Context(), &jsonl, "jsonl"); err != nil {
		t.Fatal(err)
	}
	texts := map[string]any{}
	for line := range strings.SplitSeq(strings.TrimSpace(jsonl.String()), "\n") {
		var row map[string]any
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatal(err)
		}
		texts[row["url"].(string)] = row["text"]
	}
	if texts[fullURL] != "the readable text" || texts[failedURL] != nil {
		t.Errorf("jsonl texts = %v", texts)
	}
	if err := db.ExportText(t.Context(), &csvOut, "csv"); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&csvOut).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	last := len(recs[0]) - 1
	if recs[0][last] != "text" || len(recs) != 3 {
		t.Fatalf("csv header %v, %d records", recs[0], len(recs))
	}
	for _, r := range recs[1:] {
		if want := map[string]string{fullURL: "the readable text", failedURL: ""}[r[1]]; r[last] != want {
			t.Errorf("csv text of %s = %q, want %q", r[1], r[last], want)
		}
	}
}
