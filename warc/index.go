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

// maxIndexTail bounds what Open reads of the index.
const maxIndexTail = 64 << 20

// indexEntry is one line of the index.
type indexEntry struct {
	digest string    // "" for a record not to deduplicate against
	key    digestKey // the digest as the table keeps it; alg 0 when not to deduplicate
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

// parseIndexLine reads a line of the index (without its newline). The entry's strings
// share one copy of the line.
func parseIndexLine(line []byte) (indexEntry, bool) { return parseIndexLineString(string(line)) }

// parseIndexLineString is parseIndexLine of a line held as a string: the entry's strings
// are parts of it.
func parseIndexLineString(rest string) (indexEntry, bool) {
	var f [6]string
	for i := range 5 {
		var ok bool
		if f[i], rest, ok = strings.Cut(rest, "\t"); !ok {
			return indexEntry{}, false
		}
	}
	if f[5] = rest; strings.Contains(rest, "\t") {
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
// incomplete, and adds to seen the newest digests (as many as it holds) whose record is
// whole in a closed file of the crawl. It reads the index backwards from its end, a chunk
// at a time, until seen is full or it has read maxIndexTail bytes.
func openIndex(dir, name string, seen *seenTable) (*os.File, error) {
	f, err := os.OpenFile(indexPath(dir, name), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("warc: index: %w", err)
	}
	if err := readIndexTail(f, dir, name, seen); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("warc: index %s: %w", f.Name(), err)
	}
	return f, nil
}

// indexChunk is how much of the index is read at a time, from its end.
const indexChunk = 256 << 10

func readIndexTail(f *os.File, dir, name string, seen *seenTable) error {
	size, err := cutPartialLine(f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(size, io.SeekStart); err != nil { // appends go after the last whole line
		return err
	}
	sizes := map[string]int64{} // the crawl's files, all closed by recoverDir
	files, err := Files(dir, name)
	if err != nil {
		return err
	}
	for _, file := range files {
		if fi, err := os.Stat(filepath.Join(dir, file)); err == nil {
			sizes[file] = fi.Size()
		}
	}
	defer seen.reverse() // loadNewest fills it newest first
	return eachLineBackward(f, size, maxIndexTail, func(line []byte) bool {
		d, file, off, ok := indexDigest(line)
		if !ok {
			return true // a line not to deduplicate against, or one we cannot use
		}
		if size, ok := sizes[string(file)]; !ok || off >= size {
			return true // its file is gone, or the record was cut when a killed file was closed
		}
		var name string
		if num, ok := seen.files[string(file)]; ok {
			name = seen.names[num] // one copy of each file name
		} else {
			name = string(file)
		}
		return seen.loadNewest(d.key(), Location{File: name, Offset: off})
	})
}

// indexDigest returns the digest, file and offset of a line of the index that
// parseIndexLine accepts, without copying them; ok is false for a line without a digest or
// whose digest parseDigest does not decode.
func indexDigest(line []byte) (d digestValue, file []byte, off int64, ok bool) {
	var f [6][]byte
	rest := line
	for i := range 5 {
		if f[i], rest, ok = bytes.Cut(rest, []byte("\t")); !ok {
			return digestValue{}, nil, 0, false
		}
	}
	if bytes.IndexByte(rest, '\t') >= 0 || len(f[0]) == 0 || bytes.Equal(f[0], []byte("-")) {
		return digestValue{}, nil, 0, false
	}
	off, err := strconv.ParseInt(string(f[4]), 10, 64)
	if err != nil || off < 0 {
		return digestValue{}, nil, 0, false
	}
	if d, ok = parseDigest(f[0]); !ok {
		return digestValue{}, nil, 0, false
	}
	return d, f[3], off, true
}

// cutPartialLine cuts what follows the last newline of f (a line a kill left unfinished)
// and returns f's new size.
func cutPartialLine(f *os.File) (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	end := int64(0)
	buf := make([]byte, min(size, indexChunk))
	for pos := size; pos > 0; {
		start := max(pos-indexChunk, 0)
		b := buf[:pos-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			end = start + int64(i) + 1
			break
		}
		pos = start
	}
	if end < size {
		if err := f.Truncate(end); err != nil {
			return 0, err
		}
	}
	return end, nil
}

// eachLineBackward calls fn with each line (without its newline) of the first size bytes
// of f, which end with a newline, from the last line to the first, until fn returns false
// or limit bytes were read. The line is valid only during the call.
func eachLineBackward(f *os.File, size, limit int64, fn func(line []byte) bool) error {
	var carry []byte                                     // the end part of a line whose start is in an earlier chunk
	buf := make([]byte, 0, min(size, indexChunk)+16<<10) // room for a carried line of 16 KiB
	for pos := size; pos > 0 && size-pos < limit; {
		start := max(pos-indexChunk, 0)
		b := buf[:pos-start]
		if _, err := f.ReadAt(b, start); err != nil && err != io.EOF {
			return err
		}
		b = append(b, carry...) // reallocates only for a line longer than a chunk
		end := len(b)
		if pos == size {
			end-- // the last newline
		}
		for {
			i := bytes.LastIndexByte(b[:end], '\n')
			if i < 0 && start > 0 {
				break // the line's start is in the chunk before
			}
			if !fn(b[i+1 : end]) {
				return nil
			}
			if i < 0 {
				return nil
			}
			end = i
		}
		carry = append(carry[:0], b[:end]...)
		pos = start
	}
	return nil
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
