package warc

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nlnwa/gowarc/v3"
)

// maxHeader bounds the WARC header read back from a record (its fields, not its block).
const maxHeader = 64 << 10

// header is the WARC header of a record, read back from its file.
type header map[string]string

// headerReader reads records' WARC headers back (read), keeping its buffers, its
// decompressor and the file it last read from one read to the next: a Writer reads one for
// each identical payload. The zero value is ready for use; Close closes the file kept. It
// is not safe for concurrent use.
type headerReader struct {
	f  *os.File      // the file last read, nil when none
	fi os.FileInfo   // f's, to tell whether its path still names it
	fr *bufio.Reader // over f
	zr *gzip.Reader  // over fr
	br *bufio.Reader // over zr, limited to maxHeader
}

// readHeader reads the WARC header of the record whose gzip member starts at offset in the
// file at path: only the member's first bytes are decompressed.
func readHeader(path string, offset int64) (header, error) {
	var r headerReader
	defer r.Close()
	return r.read(path, offset)
}

// Close closes the file r keeps open.
func (r *headerReader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f, r.fi = nil, nil
	return err
}

// open returns the file at path: the one kept open when the path still names it (a file
// removed since is not read), or the file opened again.
func (r *headerReader) open(path string) (*os.File, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if r.f != nil && os.SameFile(fi, r.fi) { // its inode cannot be reused while r.f holds it
		return r.f, nil
	}
	_ = r.Close() // read-only: nothing to lose
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	if r.fi, err = f.Stat(); err != nil {
		_ = f.Close()
		return nil, err
	}
	r.f = f
	return f, nil
}

// read is readHeader.
func (r *headerReader) read(path string, offset int64) (header, error) {
	f, err := r.open(path)
	if err != nil {
		return nil, err
	}
	// The decompressor decodes as much as its window holds (32 KiB) when its input has it:
	// it is given first the member's first bytes only, enough for a header of a few KiB.
	h, err := r.parse(io.NewSectionReader(f, offset, headerGuess), offset)
	if err != nil {
		h, err = r.parse(io.NewSectionReader(f, offset, 1<<62), offset)
	}
	return h, err
}

// headerGuess is how many compressed bytes of a record read tries first for its header.
const headerGuess = 2 << 10

// parse reads the header of the record whose gzip member sr starts with.
func (r *headerReader) parse(sr io.Reader, offset int64) (header, error) {
	var err error
	if r.fr == nil {
		r.fr = bufio.NewReaderSize(sr, 4<<10)
	} else {
		r.fr.Reset(sr)
	}
	if r.zr == nil {
		r.zr, err = gzip.NewReader(r.fr) // nil on error: made again next time
	} else {
		err = r.zr.Reset(r.fr)
	}
	if err != nil {
		return nil, fmt.Errorf("no record at %d: %w", offset, err)
	}
	r.zr.Multistream(false)
	if lr := io.LimitReader(r.zr, maxHeader); r.br == nil {
		r.br = bufio.NewReaderSize(lr, 4<<10)
	} else {
		r.br.Reset(lr)
	}
	version, err := r.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(version, "WARC/") {
		return nil, fmt.Errorf("no WARC record at %d", offset)
	}
	h := header{}
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("record at %d: header cut short: %w", offset, err)
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			return h, nil
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue // a continuation line or garbage: not a field we read
		}
		h[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
}

func (h header) get(name string) string { return h[strings.ToLower(name)] }

// id returns the value of an id field (WARC-Record-ID, WARC-Refers-To) without its <>.
func (h header) id(name string) string {
	return strings.TrimSuffix(strings.TrimPrefix(h.get(name), "<"), ">")
}

// openPath returns the path of file in dir as it is now: its final name, or its name with
// the open suffix while a Writer still writes it.
func openPath(dir, file string) string {
	path := filepath.Join(dir, file)
	if _, err := os.Stat(path); err != nil {
		if _, err2 := os.Stat(path + openSuffix); err2 == nil {
			return path + openSuffix
		}
	}
	return path
}

// priorRef is what a revisit record needs to refer to an earlier capture.
type priorRef struct {
	gowarc.RevisitRef
	digest string // the capture's WARC-Payload-Digest, "" when it has none
}

// refOf returns what a revisit record needs to refer to the capture whose record is at loc
// in dir: the record's id, target URI and date, and its payload digest. A revisit record
// there is followed to the record it refers to, so that a revisit always names a record
// holding the payload.
func (r *headerReader) refOf(dir string, loc Location, profile string) (*priorRef, error) {
	h, err := r.read(openPath(dir, loc.File), loc.Offset)
	if err != nil {
		return nil, err
	}
	ref := &gowarc.RevisitRef{Profile: profile}
	switch t := h.get(gowarc.WarcType); t {
	case "response", "resource":
		ref.TargetRecordId, ref.TargetUri, ref.TargetDate = h.id(gowarc.WarcRecordID), h.get(gowarc.WarcTargetURI), h.get(gowarc.WarcDate)
	case "revisit":
		ref.TargetRecordId, ref.TargetUri, ref.TargetDate = h.id(gowarc.WarcRefersTo), h.get(gowarc.WarcRefersToTargetURI), h.get(gowarc.WarcRefersToDate)
	default:
		return nil, fmt.Errorf("the record at %s offset %d is a %q record", loc.File, loc.Offset, t)
	}
	if ref.TargetRecordId == "" {
		return nil, fmt.Errorf("the record at %s offset %d names no record", loc.File, loc.Offset)
	}
	return &priorRef{RevisitRef: *ref, digest: h.get(gowarc.WarcPayloadDigest)}, nil
}

// ErrNoOriginal is returned by Original when the record a revisit refers to is not found.
var ErrNoOriginal = errors.New("warc: the record the revisit refers to is not found")

// Original finds the record that the revisit rec (read from the files of crawl name in dir)
// refers to by WARC-Refers-To, and returns it with at most max bytes of its block, and
// where it is. It looks first at the places in hints (e.g. the stored location of the page
// of WARC-Refers-To-Target-URI), then in the crawl's digest index (NAME.warc.digests), and
// last reads the crawl's files through, newest first.
func Original(dir, name string, rec *Record, hints []Location, max int64) (*Record, Location, error) {
	id := strings.TrimSuffix(strings.TrimPrefix(rec.Headers[gowarc.WarcRefersTo], "<"), ">")
	if rec.Type != "revisit" || id == "" {
		return nil, Location{}, fmt.Errorf("%w: the record is a %s record naming none", ErrNoOriginal, rec.Type)
	}
	for _, loc := range hints {
		if loc.File == "" {
			continue
		}
		if h, err := readHeader(openPath(dir, loc.File), loc.Offset); err == nil && h.id(gowarc.WarcRecordID) == id {
			return readAt(dir, loc, max)
		}
	}
	if loc, ok, err := lookupIndex(dir, name, id); err != nil {
		return nil, Location{}, err
	} else if ok {
		if h, err := readHeader(openPath(dir, loc.File), loc.Offset); err == nil && h.id(gowarc.WarcRecordID) == id {
			return readAt(dir, loc, max)
		}
	}
	files, err := Files(dir, name)
	if err != nil {
		return nil, Location{}, err
	}
	for _, f := range slices.Backward(files) {
		loc, ok, err := scanFor(filepath.Join(dir, f), id)
		if err != nil {
			return nil, Location{}, err
		}
		if ok {
			loc.File = strings.TrimSuffix(f, openSuffix)
			return readAt(dir, loc, max)
		}
	}
	return nil, Location{}, fmt.Errorf("%w: %s (%s at %s) in %s", ErrNoOriginal, id,
		rec.Headers[gowarc.WarcRefersToTargetURI], rec.Headers[gowarc.WarcRefersToDate], dir)
}

func readAt(dir string, loc Location, max int64) (*Record, Location, error) {
	rec, err := ReadRecord(openPath(dir, loc.File), loc.Offset, max)
	return rec, loc, err
}

// scanFor reads the records of the file at path in order and returns the offset of the one
// whose WARC-Record-ID is id.
func scanFor(path, id string) (Location, bool, error) {
	r, err := gowarc.NewWarcFileReader(path, 0,
		gowarc.WithSpecViolationPolicy(gowarc.ErrIgnore), gowarc.WithSyntaxErrorPolicy(gowarc.ErrIgnore),
		gowarc.WithBlockErrorPolicy(gowarc.ErrIgnore))
	if err != nil {
		return Location{}, false, fmt.Errorf("warc: %w", err)
	}
	defer r.Close()
	for {
		wr, err := r.Next()
		if errors.Is(err, io.EOF) {
			return Location{}, false, nil
		}
		if err != nil {
			return Location{}, false, fmt.Errorf("warc: read %s: %w", path, err)
		}
		found := wr.WarcRecord.RecordId() == id
		_ = wr.WarcRecord.Close()
		if found {
			return Location{Offset: wr.Offset}, true, nil
		}
	}
}
