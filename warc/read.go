package warc

import (
	"errors"
	"fmt"
	"io"

	"github.com/nlnwa/gowarc/v3"
)

// Record is a record read back from a file.
type Record struct {
	Type    string            // "response", "revisit", "request", "warcinfo" ...
	URI     string            // WARC-Target-URI
	Date    string            // WARC-Date
	Headers map[string]string // every WARC header field, the last value of a repeated one
	Block   []byte            // the content block (for a response: the HTTP bytes), at most max bytes
	Cut     bool              // the block was longer than max
}

// ReadRecord reads the record at offset in the file at path (a .warc.gz written by Writer,
// offset as Location gave it), keeping at most max bytes of its block.
func ReadRecord(path string, offset int64, max int64) (*Record, error) {
	r, err := gowarc.NewWarcFileReader(path, offset,
		gowarc.WithSpecViolationPolicy(gowarc.ErrWarn), gowarc.WithSyntaxErrorPolicy(gowarc.ErrWarn),
		gowarc.WithBlockErrorPolicy(gowarc.ErrWarn))
	if err != nil {
		return nil, fmt.Errorf("warc: %w", err)
	}
	defer r.Close()
	wr, err := r.Next()
	if err != nil {
		return nil, fmt.Errorf("warc: read %s at %d: %w", path, offset, err)
	}
	rec := wr.WarcRecord
	defer rec.Close()
	out := &Record{Type: rec.Type().String(), Headers: map[string]string{}}
	for _, f := range *rec.WarcHeader() {
		out.Headers[f.Name] = f.Value
	}
	out.URI = rec.WarcHeader().Get(gowarc.WarcTargetURI)
	out.Date = rec.WarcHeader().Get(gowarc.WarcDate)
	raw, err := rec.Block().RawBytes()
	if err != nil {
		return nil, fmt.Errorf("warc: read %s at %d: %w", path, offset, err)
	}
	out.Block, err = io.ReadAll(io.LimitReader(raw, max+1))
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("warc: read %s at %d: %w", path, offset, err)
	}
	if int64(len(out.Block)) > max {
		out.Block, out.Cut = out.Block[:max], true
	}
	return out, nil
}
