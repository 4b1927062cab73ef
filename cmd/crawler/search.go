package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path"
	"path/filepath"
	"strings"

	"github.com/trawl/trawl/dedupe"
	"github.com/trawl/trawl/pgstore"
	"github.com/trawl/trawl/storage"
	"github.com/trawl/trawl/warc"
)

func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("search", `search [flags] "QUERY"`)
	dbPath := fs.String("db", "crawl.db", "SQLite file of the crawl")
	asJSON := fs.Bool("json", false, "print one JSON object per page found instead of text")
	limit := fs.Int("limit", 20, "pages to list, best first")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef(`search: give one query, quoted ("crawler search --db crawl.db \"words to find\"")`)
	}
	if pgstore.IsURL(*dbPath) {
		return usagef("search: works on a crawl file (SQLite's FTS4 index); on PostgreSQL, query the texts view in psql")
	}
	if *limit < 1 {
		return usagef("--limit must be at least 1")
	}
	db, err := openIndexed(ctx, *dbPath, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	hits, err := db.Search(ctx, fs.Arg(0), *limit)
	if errors.Is(err, storage.ErrBadQuery) {
		return usagef("%v", err)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, h := range hits {
			if err := enc.Encode(h); err != nil {
				return err
			}
		}
		return nil
	}
	for i, h := range hits {
		fmt.Fprintf(stdout, "%d. %s  (%.2f)\n   %s\n   %s\n", i+1, h.URL, h.Score, h.Title, h.Snippet)
	}
	if len(hits) == 0 {
		fmt.Fprintln(stderr, "no page matches")
	}
	return nil
}

// openIndexed opens the crawl file at path and brings its full-text index up to date (the
// crawl stores the pages' text; the first search after it indexes what is new). A file that
// cannot be written is searched as it is indexed, with a warning.
func openIndexed(ctx context.Context, path string, stderr io.Writer) (*storage.DB, error) {
	if path == "" {
		return nil, usagef("--db must name a file")
	}
	if err := fileExists(path); err != nil {
		return nil, err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, err := storage.Open(ctx, path, log)
	if err != nil {
		log.Warn("the crawl file cannot be written: searching the pages indexed so far", "err", err)
		return openExisting(ctx, path, stderr)
	}
	if n, err := db.IndexText(ctx); err != nil {
		log.Warn("indexing the new pages failed: searching the pages indexed so far", "err", err)
	} else if n > 0 {
		log.Debug("indexed", "pages", n)
	}
	return db, nil
}

// maxShown is how many bytes of a stored response 'crawler show' prints.
const maxShown = 64 << 10

func runShow(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("show", "show [flags] URL")
	dbPath := fs.String("db", "crawl.db", "SQLite file of the crawl")
	warcDir := fs.String("warc", "", "the crawl's WARC directory (default: the one its crawl used)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usagef("show: give one URL")
	}
	if pgstore.IsURL(*dbPath) {
		return usagef("show: works on a crawl file; on PostgreSQL, query the pages and texts views in psql")
	}
	u, err := dedupe.Canonical(fs.Arg(0))
	if err != nil {
		return usagef("show: %v", err)
	}
	db, err := openExisting(ctx, *dbPath, stderr)
	if err != nil {
		return err
	}
	defer db.Close()
	page, err := db.PageOf(ctx, u)
	if errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("show: %s has no page of %s", *dbPath, u)
	}
	if err != nil {
		return err
	}
	st := shown{PageRecord: page}
	if page.WARCFile != "" {
		dir := *warcDir
		if dir == "" {
			dir = crawlWARCDir(ctx, db)
		}
		st.read(ctx, db, dir)
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(st)
	}
	printShown(stdout, &st)
	return nil
}

// shown is what 'crawler show' prints of a page: its row, its stored record, and for a
// revisit record the original record holding the payload.
type shown struct {
	*storage.PageRecord
	Record         *warc.Record `json:",omitempty"`
	RecordError    string       `json:",omitempty"`
	Original       *warc.Record `json:",omitempty"` // the record a revisit refers to
	OriginalFile   string       `json:",omitempty"`
	OriginalOffset int64        `json:",omitempty"`
	OriginalError  string       `json:",omitempty"`
}

// read reads the page's record from the WARC files in dir, and when it is a revisit, the
// record it refers to: found at the stored location of the page of WARC-Refers-To-Target-URI
// when that is it, else through the crawl's digest index or files.
func (s *shown) read(ctx context.Context, db *storage.DB, dir string) {
	rec, err := warc.ReadRecord(filepath.Join(dir, s.WARCFile), s.WARCOffset, maxShown)
	if err != nil {
		s.RecordError = err.Error()
		return
	}
	s.Record = rec
	if rec.Type != "revisit" {
		return
	}
	var hints []warc.Location
	if target := rec.Headers["WARC-Refers-To-Target-URI"]; target != "" {
		if u, err := dedupe.Canonical(target); err == nil {
			if p, err := db.PageOf(ctx, u); err == nil && p.WARCFile != "" {
				hints = append(hints, warc.Location{File: p.WARCFile, Offset: p.WARCOffset})
			}
		}
	}
	name, ok := warc.NameOf(s.WARCFile)
	if !ok {
		name = crawlName(s.WARCFile)
	}
	orig, loc, err := warc.Original(dir, name, rec, hints, maxShown)
	if err != nil {
		s.OriginalError = err.Error()
		return
	}
	s.Original, s.OriginalFile, s.OriginalOffset = orig, loc.File, loc.Offset
}

// crawlWARCDir returns the --warc directory the crawl in db was given, "" if none.
func crawlWARCDir(ctx context.Context, db *storage.DB) string {
	raw, _, err := db.LastSettings(ctx)
	if err != nil {
		return ""
	}
	set := defaultSettings()
	if json.Unmarshal(raw, &set) != nil {
		return ""
	}
	return set.WARC
}

func printShown(w io.Writer, s *shown) {
	p := s.PageRecord
	fmt.Fprintf(w, "url:          %s\n", p.URL)
	if p.FinalURL != "" {
		fmt.Fprintf(w, "final url:    %s\n", p.FinalURL)
	}
	fmt.Fprintf(w, "status:       %d\ncontent type: %s\ntitle:        %s\nlanguage:     %s\nfetched at:   %s\nsize:         %d bytes\n",
		p.Status, p.ContentType, p.Title, p.Lang, p.FetchedAt, p.Size)
	if p.Error != "" {
		fmt.Fprintf(w, "error:        %s\n", p.Error)
	}
	if p.WARCFile != "" {
		fmt.Fprintf(w, "warc:         %s at offset %d\n", p.WARCFile, p.WARCOffset)
	}
	fmt.Fprintf(w, "\n--- text (%d bytes)\n%s\n", len(p.Text), p.Text)
	rec := s.Record
	switch {
	case s.RecordError != "":
		fmt.Fprintf(w, "\n--- stored response: %s\n", s.RecordError)
	case rec != nil && rec.Type == "revisit":
		fmt.Fprintf(w, "\n--- stored response (revisit record, %s, %s)\n", rec.Date, path.Base(rec.Headers["WARC-Profile"]))
		printBlock(w, rec)
		switch {
		case s.OriginalError != "":
			fmt.Fprintf(w, "\n--- payload of the earlier capture: %s\n", s.OriginalError)
		case s.Original != nil:
			fmt.Fprintf(w, "\n--- payload from the earlier capture of %s (%s record, %s, %s at offset %d)\n",
				s.Original.URI, s.Original.Type, s.Original.Date, s.OriginalFile, s.OriginalOffset)
			printBlock(w, s.Original)
		}
	case rec != nil:
		fmt.Fprintf(w, "\n--- stored response (%s record, %s)\n", rec.Type, rec.Date)
		printBlock(w, rec)
	}
}

// printBlock prints the HTTP bytes of a record, the body decoded (responseParts).
func printBlock(w io.Writer, rec *warc.Record) {
	head, body := responseParts(rec.Block)
	fmt.Fprint(w, strings.ToValidUTF8(string(head), "\uFFFD"))
	fmt.Fprint(w, strings.ToValidUTF8(string(body), "\uFFFD"))
	if rec.Cut {
		fmt.Fprintf(w, "\n[… the record is longer than %d bytes]", maxShown)
	}
	fmt.Fprintln(w)
}

// responseParts splits the HTTP bytes of a response record into its head (status line and
// headers as stored) and its body with the Transfer-Encoding and a gzip or deflate
// Content-Encoding undone, for reading; the body as stored when it cannot be decoded.
func responseParts(block []byte) (head, body []byte) {
	end := bytes.Index(block, []byte("\r\n\r\n"))
	if end < 0 {
		return block, nil
	}
	head, body = block[:end+4], block[end+4:]
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(block)), nil)
	if err != nil {
		return head, body
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	switch strings.ToLower(resp.Header.Get("Content-Encoding")) {
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			return head, body
		}
		r = zr
	case "deflate":
		r = flate.NewReader(r)
	}
	decoded, err := io.ReadAll(io.LimitReader(r, maxShown))
	if err != nil && len(decoded) == 0 {
		return head, body
	}
	return head, decoded
}
