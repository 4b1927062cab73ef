package warc

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// recoverDir closes the files of crawl name in dir left open by a killed process (see
// Complete) and returns the highest sequence number of the crawl's files, 0 when none.
func recoverDir(dir, name string) (int, error) {
	files, err := Files(dir, name)
	if err != nil {
		return 0, err
	}
	re := fileName(name)
	last := 0
	for _, f := range files {
		last = max(last, sequence(re, f))
		if !strings.HasSuffix(f, openSuffix) {
			continue
		}
		path := filepath.Join(dir, f)
		end, err := Complete(path)
		if err != nil {
			return 0, fmt.Errorf("warc: recover %s: %w", path, err)
		}
		if err := os.Truncate(path, end); err != nil {
			return 0, fmt.Errorf("warc: recover %s: %w", path, err)
		}
		final := strings.TrimSuffix(path, openSuffix)
		if _, err := os.Stat(final); err == nil {
			return 0, fmt.Errorf("warc: recover %s: %s exists", path, final)
		}
		if err := os.Rename(path, final); err != nil {
			return 0, fmt.Errorf("warc: recover %s: %w", path, err)
		}
	}
	return last, nil
}

// Complete returns the length of the part of a record-per-member gzip file (a .warc.gz) that
// is whole: the end of its last complete gzip member. A file written up to a kill holds
// complete records followed by at most one cut short; this is where to cut it.
func Complete(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cr := &countReader{r: f}
	br := bufio.NewReader(cr)
	var zr gzip.Reader
	var end int64
	for {
		if _, err := br.Peek(1); err == io.EOF {
			return end, nil
		}
		if err := zr.Reset(br); err != nil {
			return end, nil // a header cut short, or not gzip: the rest is not a record
		}
		zr.Multistream(false)
		if _, err := io.Copy(io.Discard, &zr); err != nil {
			if _, ok := errors.AsType[*fs.PathError](err); ok {
				return 0, err // the file could not be read: cut nothing
			}
			return end, nil // a member cut short (or corrupt): the end is before it
		}
		end = cr.n - int64(br.Buffered())
	}
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
