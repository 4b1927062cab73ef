package warc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/nlnwa/gowarc/v3"
)

// The digest index, Dir/NAME.warc.digests, lists the crawl's response records, one line
// each in the order they were written, so that a later run of the crawl (resumed, or
// --recrawl) can make a payload it already archived a revisit, and a revisit can be
// followed to its response without reading the files through:
//
//	DIGEST \t RECORD-ID \t WARC-DATE \t FILE \t OFFSET \t TARGET-URI \n
//
// DIGEST is the WARC-Payload-Digest, or "-" for a record not to deduplicate against (no
// payload, or truncated). A line is appended after its record is written: a kill loses at
// most the lines of the records it cut, and Open drops a line whose record is not whole in
// its file. The index is the Writer's own cache: deleting it loses only the deduplication
// against earlier runs.
const indexSuffix = ".warc.digests"

// indexLine is the most of the index's tail Open reads per remembered digest: a line is
// about 150 bytes with a URL of 60.
const indexLine = 512

// maxIndexTail bounds what Open reads of the index.
const maxIndexTail = 64 << 20

// indexEntry is one line of the index.
type indexEntry struct {
	digest string // "" for a record not to deduplicate against
	ref    gowarc.RevisitRef
	loc    Location
}

func indexPath(dir, name string) string { return filepath.Join(dir, name+indexSuffix) }

// line formats e as a line of the index, or "" when a field would break the line.
func (e indexEntry) line() string {
	digest := e.digest
	if digest == "" {
		digest = "-"
	}
	fields := []string{digest, e.ref.TargetRecordId, e.ref.TargetDate, e.loc.File, strconv.FormatInt(e.loc.Offset, 10), e.ref.TargetUri}
	for _, f := range fields {
		if f == "" || strings.ContainsAny(f, "\t\r\n") {
			return ""
		}
	}
	return strings.Join(fields, "\t") + "\n"
}

// parseIndexLine reads a line of the index (without its newline).
func parseIndexLine(line []byte) (indexEntry, bool) {
	f := strings.Split(string(line), "\t")
	if len(f) != 6 {
		return indexEntry{}, false
	}
	off, err := strconv.ParseInt(f[4], 10, 64)
	if err != nil || off < 0 {
		return indexEntry{}, false
	}
	e := indexEntry{digest: f[0], loc: Location{File: f[3], Offset: off},
		ref: gowarc.RevisitRef{TargetRecordId: f[1], TargetDate: f[2], TargetUri: f[5]}}
	if e.digest == "-" {
		e.digest = ""
	}
	return e, true
}

// openIndex opens the crawl's index for appending, first cutting a line a kill left
// incomplete, and returns the last (at most) n entries with a digest whose record is whole
// in a closed file of the crawl, oldest first. It reads at most n*indexLine bytes (and
// maxIndexTail) from the end of the index.
func openIndex(dir, name string, n int) (*os.File, []indexEntry, error) {
	f, err := os.OpenFile(indexPath(dir, name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("warc: index: %w", err)
	}
	entries, err := readIndexTail(f, dir, name, n)
	if err != nil {
		_ = f.Close()
		return nil, nil, fmt.Errorf("warc: index %s: %w", f.Name(), err)
	}
	return f, entries, nil
}

func readIndexTail(f *os.File, dir, name string, n int) ([]indexEntry, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := fi.Size()
	start := max(size-min(int64(n)*indexLine, maxIndexTail), 0)
	tail := make([]byte, size-start)
	if _, err := f.ReadAt(tail, start); err != nil && err != io.EOF {
		return nil, err
	}
	if end := bytes.LastIndexByte(tail, '\n') + 1; end < len(tail) { // a line cut by a kill
		if err := f.Truncate(start + int64(end)); err != nil {
			return nil, err
		}
		tail = tail[:end]
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return nil, err
	}
	if start > 0 { // the first line is likely a part
		_, tail, _ = bytes.Cut(tail, []byte{'\n'})
	}
	sizes := map[string]int64{} // the crawl's files, all closed by recoverDir
	files, err := Files(dir, name)
	if err != nil {
		return nil, err
	}
	for _, file := range files {
		if fi, err := os.Stat(filepath.Join(dir, file)); err == nil {
			sizes[file] = fi.Size()
		}
	}
	var entries []indexEntry
	sc := bufio.NewScanner(bytes.NewReader(tail))
	sc.Buffer(nil, len(tail)+1)
	for sc.Scan() {
		e, ok := parseIndexLine(sc.Bytes())
		if !ok || e.digest == "" {
			continue
		}
		if size, ok := sizes[e.loc.File]; !ok || e.loc.Offset >= size {
			continue // its file is gone, or the record was cut when a killed file was closed
		}
		entries = append(entries, e)
	}
	if len(entries) > n {
		entries = entries[len(entries)-n:]
	}
	return entries, sc.Err()
}

// lookupIndex returns where the crawl's index puts the record with this id (the last line
// naming it), reading the index through.
func lookupIndex(dir, name, id string) (Location, bool, error) {
	f, err := os.Open(indexPath(dir, name))
	if os.IsNotExist(err) {
		return Location{}, false, nil
	}
	if err != nil {
		return Location{}, false, fmt.Errorf("warc: %w", err)
	}
	defer f.Close()
	var loc Location
	found := false
	needle := []byte("\t" + id + "\t")
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if !bytes.Contains(sc.Bytes(), needle) {
			continue
		}
		if e, ok := parseIndexLine(sc.Bytes()); ok && e.ref.TargetRecordId == id {
			loc, found = e.loc, true
		}
	}
	if err := sc.Err(); err != nil {
		return Location{}, false, fmt.Errorf("warc: read %s: %w", f.Name(), err)
	}
	return loc, found, nil
}
