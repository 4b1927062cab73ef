package warc

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func exchange(uri, body string, status int) Exchange {
	resp := fmt.Sprintf("HTTP/1.1 %d X\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s", status, len(body), body)
	return Exchange{URI: uri, Date: time.Now(), IP: "127.0.0.1", Request: strings.NewReader("GET / HTTP/1.1\r\nHost: a.test\r\n\r\n"),
		Response: strings.NewReader(resp), NotModified: status == 304}
}

func mustWrite(t *testing.T, w *Writer, ex Exchange) Location {
	t.Helper()
	loc, err := w.Write(ex)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestWriterRevisitsAndRotation: a payload already archived and a 304 become revisit
// records; files are closed at MaxSize and named after the crawl in sequence; a new Writer
// on the same directory continues the sequence.
func TestWriterRevisitsAndRotation(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Name: "c", MaxSize: 4 << 10, Software: "test"})
	if err != nil {
		t.Fatal(err)
	}
	first := mustWrite(t, w, exchange("http://a.test/1", "same body", 200))
	dup := mustWrite(t, w, exchange("http://a.test/2", "same body", 200))
	nm := mustWrite(t, w, exchange("http://a.test/3", "", 304))
	var big []Location
	for i := range 8 { // incompressible enough to pass 4 KiB a few times
		body := strings.Repeat(fmt.Sprintf("%x", time.Now().UnixNano()*int64(i+7)), 120)
		big = append(big, mustWrite(t, w, exchange(fmt.Sprintf("http://a.test/big/%d", i), body, 200)))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		loc        Location
		typ, extra string
	}{{first, "response", ""}, {dup, "revisit", "identical-payload-digest"}, {nm, "revisit", "server-not-modified"}} {
		rec, err := ReadRecord(filepath.Join(dir, c.loc.File), c.loc.Offset, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Type != c.typ || !strings.Contains(rec.Headers["WARC-Profile"], c.extra) {
			t.Errorf("%v: %s record, profile %q; want %s %s", c.loc, rec.Type, rec.Headers["WARC-Profile"], c.typ, c.extra)
		}
		if c.extra == "identical-payload-digest" && rec.Headers["WARC-Refers-To-Target-URI"] != "http://a.test/1" {
			t.Errorf("revisit refers to %q, want http://a.test/1", rec.Headers["WARC-Refers-To-Target-URI"])
		}
	}
	files, _ := Files(dir, "c")
	if len(files) < 2 || files[0] != "c-00001.warc.gz" || files[1] != "c-00002.warc.gz" || big[len(big)-1].File == first.File {
		t.Errorf("files %v: want several, c-00001.warc.gz first, rotated at 4 KiB", files)
	}
	for _, f := range files {
		if strings.HasSuffix(f, ".open") {
			t.Errorf("%s left open after Close", f)
		}
	}
	w2, err := Open(Config{Dir: dir, Name: "c"})
	if err != nil {
		t.Fatal(err)
	}
	next := mustWrite(t, w2, exchange("http://a.test/again", "x", 200))
	_ = w2.Close()
	if want := fmt.Sprintf("c-%05d.warc.gz", len(files)+1); next.File != want {
		t.Errorf("a new writer wrote to %s, want %s", next.File, want)
	}
}

// TestOpenRecoversOpenFile: a file left .open with a record cut short is cut after its last
// complete record and closed; files of other crawls and other files are not touched.
func TestOpenRecoversOpenFile(t *testing.T) {
	dir := t.TempDir()
	w, _ := Open(Config{Dir: dir, Name: "k"})
	mustWrite(t, w, exchange("http://a.test/1", "one", 200))
	mustWrite(t, w, exchange("http://a.test/2", "two", 200))
	_ = w.Close()
	full := filepath.Join(dir, "k-00001.warc.gz")
	data, _ := os.ReadFile(full)
	cut := len(data) - 7 // the last member loses its tail
	open := full + ".open"
	_ = os.WriteFile(open, data[:cut], 0o644)
	_ = os.Remove(full)
	other := filepath.Join(dir, "other-00001.warc.gz.open")
	_ = os.WriteFile(other, data[:cut], 0o644)

	w2, err := Open(Config{Dir: dir, Name: "k"})
	if err != nil {
		t.Fatal(err)
	}
	_ = w2.Close()
	got, err := os.ReadFile(full)
	if err != nil {
		t.Fatalf("recovered file: %v", err)
	}
	end, _ := Complete(full)
	if int64(len(got)) != end || len(got) >= cut || len(got) == 0 {
		t.Errorf("recovered file has %d bytes, its complete part %d; cut was at %d", len(got), end, cut)
	}
	if b, _ := os.ReadFile(other); !bytes.Equal(b, data[:cut]) {
		t.Error("another crawl's open file was changed")
	}
}

// FuzzComplete: whatever follows complete gzip members, Complete returns a length at which
// the file decodes as whole members, at least the members given.
func FuzzComplete(f *testing.F) {
	f.Add([]byte{}, 2)
	f.Add([]byte{0x1f, 0x8b, 8, 0, 0, 0}, 1)
	f.Add([]byte("not gzip at all"), 3)
	f.Fuzz(func(t *testing.T, tail []byte, members int) {
		members = members % 4
		if members < 0 {
			members = -members
		}
		var b bytes.Buffer
		for i := range members {
			zw := gzip.NewWriter(&b)
			fmt.Fprintf(zw, "record %d", i)
			_ = zw.Close()
		}
		whole := int64(b.Len())
		b.Write(tail)
		path := filepath.Join(t.TempDir(), "f.warc.gz")
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		end, err := Complete(path)
		if err != nil {
			t.Fatal(err)
		}
		if end < whole || end > int64(b.Len()) {
			t.Fatalf("Complete = %d, want in [%d, %d]", end, whole, b.Len())
		}
		zr, err := gzip.NewReader(bytes.NewReader(b.Bytes()[:end]))
		if end > 0 && err != nil {
			t.Fatalf("the complete part does not decode: %v", err)
		}
		if end > 0 {
			if _, err := io.Copy(io.Discard, zr); err != nil {
				t.Fatalf("the complete part does not decode: %v", err)
			}
		}
	})
}

// TestOpenLocked: a second Writer for the same crawl and directory is refused while the
// first is open (it would rename the first one's open file), and allowed once it is closed.
func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	w, err := Open(Config{Dir: dir, Name: "l"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Dir: dir, Name: "l"}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	other, err := Open(Config{Dir: dir, Name: "other"})
	if err != nil {
		t.Fatalf("another crawl's Writer in the same directory: %v", err)
	}
	_, _ = other.Close(), w.Close()
	w2, err := Open(Config{Dir: dir, Name: "l"})
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	_ = w2.Close()
}
