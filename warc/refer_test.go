package warc

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustRead(t *testing.T, dir string, loc Location) *Record {
	t.Helper()
	rec, err := ReadRecord(openPath(dir, loc.File), loc.Offset, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func mustOpen(t *testing.T, cfg Config) *Writer {
	t.Helper()
	w, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// refersTo reports whether the revisit rev names the record orig by id, target URI and date.
func refersTo(rev, orig *Record) bool {
	return rev.Type == "revisit" && orig.Headers["WARC-Record-ID"] != "" &&
		rev.Headers["WARC-Refers-To"] == orig.Headers["WARC-Record-ID"] &&
		rev.Headers["WARC-Refers-To-Target-URI"] == orig.URI && rev.Headers["WARC-Refers-To-Date"] == orig.Date
}

// TestNotModifiedRefersToPrior: the revisit of a 304 in a later run names the response of
// the capture it revalidated (Exchange.Prior): its record id, target URI and date; a Prior
// that is itself a revisit is followed to its original; a Prior that cannot be read gives
// a revisit naming none, and the write succeeds.
func TestNotModifiedRefersToPrior(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Config{Dir: dir, Name: "r"})
	first := mustWrite(t, w, exchange("http://a.test/1", "page one", 200))
	copyOf := mustWrite(t, w, exchange("http://a.test/copy", "page one", 200)) // identical payload: a revisit
	_ = w.Close()

	w = mustOpen(t, Config{Dir: dir, Name: "r"}) // the recrawl
	ex := exchange("http://a.test/1", "", 304)
	ex.Prior = first
	nm := mustWrite(t, w, ex)
	ex = exchange("http://a.test/copy", "", 304)
	ex.Prior = copyOf
	nmCopy := mustWrite(t, w, ex)
	ex = exchange("http://a.test/gone", "", 304)
	ex.Prior = Location{File: "r-00009.warc.gz", Offset: 0}
	nmGone := mustWrite(t, w, ex)
	// Read while the file is still open: a 304 may refer to a capture of this run.
	if rec := mustRead(t, dir, nm); !refersTo(rec, mustRead(t, dir, first)) || !strings.HasSuffix(rec.Headers["WARC-Profile"], "/server-not-modified") ||
		rec.Headers["WARC-Payload-Digest"] != digestOf(t, dir, first) {
		t.Errorf("revisit of a 304 %v, want it to name the response at %v, with its payload digest", rec.Headers, first)
	}
	_ = w.Close()
	if rec := mustRead(t, dir, nmCopy); !refersTo(rec, mustRead(t, dir, first)) {
		t.Errorf("revisit of a 304 whose capture was a revisit: %v, want the original response's id", rec.Headers)
	}
	if rec := mustRead(t, dir, nmGone); rec.Type != "revisit" || rec.Headers["WARC-Refers-To"] != "" {
		t.Errorf("revisit of a 304 whose capture is missing: %v, want a revisit naming none", rec.Headers)
	}
}

// TestDedupeAcrossRuns: a payload archived by an earlier Writer of the crawl becomes an
// identical-payload-digest revisit naming that record; the digests remembered are the
// newest Config.Dedupe of the index; an index line whose record a kill cut (its file
// recovered shorter) or a line cut short is not used.
func TestDedupeAcrossRuns(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Config{Dir: dir, Name: "d"})
	a := mustWrite(t, w, exchange("http://a.test/a", "payload A", 200))
	b := mustWrite(t, w, exchange("http://a.test/b", "payload B", 200))
	_ = w.Close()

	w = mustOpen(t, Config{Dir: dir, Name: "d", Dedupe: 1}) // remembers the newest digest only
	again := mustWrite(t, w, exchange("http://a.test/b2", "payload B", 200))
	notRemembered := mustWrite(t, w, exchange("http://a.test/a2", "payload A", 200))
	_ = w.Close()
	if rec := mustRead(t, dir, again); !refersTo(rec, mustRead(t, dir, b)) || !strings.HasSuffix(rec.Headers["WARC-Profile"], "/identical-payload-digest") {
		t.Errorf("a payload of an earlier run: %s record %v, want a revisit naming %v", rec.Type, rec.Headers, b)
	}
	if rec := mustRead(t, dir, notRemembered); rec.Type != "response" {
		t.Errorf("a payload past the Dedupe cap: %s record, want a response", rec.Type)
	}

	// A kill: the index names a record that recovery cut off, and ends in half a line.
	idx := indexPath(dir, "d")
	fake := fmt.Sprintf("%s\turn:uuid:00000000-0000-0000-0000-000000000000\t2026-01-01T00:00:00Z\td-00002.warc.gz\t%d\thttp://a.test/cut\n",
		digestOf(t, dir, a), 1<<30)
	f, err := os.OpenFile(idx, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString(fake + "sha1:PARTIAL\turn:uu")
	_ = f.Close()
	w = mustOpen(t, Config{Dir: dir, Name: "d"})
	next := mustWrite(t, w, exchange("http://a.test/a3", "payload A", 200))
	_ = w.Close()
	rec := mustRead(t, dir, next)
	if rec.Type != "revisit" || rec.URI != "http://a.test/a3" || rec.Headers["WARC-Refers-To-Target-URI"] == "http://a.test/cut" {
		t.Errorf("after a kill: %s record naming %q; want a revisit naming a whole record", rec.Type, rec.Headers["WARC-Refers-To-Target-URI"])
	}
	data, err := os.ReadFile(idx)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		if _, ok := parseIndexLine([]byte(line)); !ok {
			t.Errorf("index line %q does not parse: the half line was not cut", line)
		}
	}
}

func digestOf(t *testing.T, dir string, loc Location) string {
	t.Helper()
	return mustRead(t, dir, loc).Headers["WARC-Payload-Digest"]
}

// TestOriginal: a revisit is followed to the response it names: through a hint, through
// the digest index, and without the index by reading the files.
func TestOriginal(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Config{Dir: dir, Name: "o", MaxSize: 1})                          // a file per exchange
	orig := mustWrite(t, w, exchange("http://a.test/first", "the original body", 200)) // o-00001
	mustWrite(t, w, exchange("http://a.test/other", "other", 200))
	rev := mustWrite(t, w, exchange("http://a.test/dup", "the original body", 200))
	_ = w.Close()
	rec := mustRead(t, dir, rev)
	if rec.Type != "revisit" {
		t.Fatalf("%s record, want a revisit", rec.Type)
	}
	check := func(how string, hints []Location) {
		t.Helper()
		got, loc, err := Original(dir, "o", rec, hints, 1<<20)
		if err != nil || loc != orig || got.Type != "response" || !strings.HasSuffix(string(got.Block), "the original body") {
			t.Errorf("%s: Original = %v at %v, %v; want the response at %v", how, got, loc, err, orig)
		}
	}
	check("a hint", []Location{{File: "o-00002.warc.gz"}, orig})
	check("the index", []Location{{File: "o-00002.warc.gz"}})
	if err := os.Remove(indexPath(dir, "o")); err != nil {
		t.Fatal(err)
	}
	check("the files", nil)
	if err := os.Remove(filepath.Join(dir, orig.File)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Original(dir, "o", rec, nil, 1<<20); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("Original of a revisit whose original is gone: %v, want ErrNoOriginal", err)
	}
}

// TestEachLineBackward: every line, from the last to the first, across chunk boundaries
// and with lines longer than a chunk; stopping when told to.
func TestEachLineBackward(t *testing.T) {
	var lines []string
	var b strings.Builder
	for i := range 3000 {
		n := (i * 7919) % 900
		if i%1000 == 999 {
			n = indexChunk + 1000 // longer than a chunk
		}
		l := fmt.Sprintf("%d:%s", i, strings.Repeat("x", n))
		lines = append(lines, l)
		b.WriteString(l + "\n")
	}
	path := filepath.Join(t.TempDir(), "lines")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	if err := eachLineBackward(f, int64(b.Len()), 1<<40, func(line []byte) bool { got = append(got, string(line)); return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(lines) {
		t.Fatalf("%d lines read, want %d", len(got), len(lines))
	}
	for i, l := range got {
		if want := lines[len(lines)-1-i]; l != want {
			t.Fatalf("line %d from the end = %.20q (%d bytes), want %.20q (%d bytes)", i, l, len(l), want, len(want))
		}
	}
	n := 0
	_ = eachLineBackward(f, int64(b.Len()), 1<<40, func([]byte) bool { n++; return n < 5 })
	if n != 5 {
		t.Errorf("%d calls after fn said stop at 5", n)
	}
}

// TestHeaderReaderReused: a headerReader reads a record after failing on an offset that is
// no record, and reads a header line longer than its buffers.
func TestHeaderReaderReused(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Config{Dir: dir, Name: "h"})
	short := mustWrite(t, w, exchange("http://a.test/1", "one", 200))
	long := "http://a.test/" + strings.Repeat("x", 10<<10)
	longLoc := mustWrite(t, w, exchange(long, "two", 200))
	_ = w.Close()
	var r headerReader
	for i, c := range []struct {
		loc  Location
		want string // the target URI; "" for an error
	}{{short, "http://a.test/1"}, {Location{File: short.File, Offset: short.Offset + 1}, ""}, {longLoc, long}, {short, "http://a.test/1"}} {
		h, err := r.read(filepath.Join(dir, c.loc.File), c.loc.Offset)
		if got := h.get("WARC-Target-URI"); (err != nil) != (c.want == "") || got != c.want {
			t.Errorf("read %d at %v: URI %.40q, %v; want %.40q", i, c.loc, got, err, c.want)
		}
	}
}
