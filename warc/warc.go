// Package warc writes what a crawl fetched as WARC/1.1 records (ISO 28500), the format web
// archives keep: a warcinfo record opening each file; for each HTTP exchange a request and a
// response record holding the bytes that crossed the wire, linked by WARC-Concurrent-To and
// carrying WARC-Block-Digest and WARC-Payload-Digest; a revisit record instead of a response
// for a 304 Not Modified (referring to the capture it revalidated), and for a payload already
// archived (same payload digest), in this run or an earlier one of the crawl. Each record is
// its own gzip member, and a file is closed for the next one at a size limit.
//
// The record format, digests, gzip members and file rotation are github.com/nlnwa/gowarc/v3's.
// This package adds the crawl's layout: file names after the crawl with a sequence number
// that a resumed crawl continues, the deduplication of payloads (with a digest index beside
// the files that lets a later run find what earlier ones archived), the recovery of a file
// left open by a killed process (see Open), and the way from a revisit to its original
// record (Original).
//
// WARC-Payload-Digest is computed, as Heritrix, wget and warcio compute it, over the bytes
// after the HTTP headers as they were sent: with the Transfer-Encoding and Content-Encoding
// of the response.
package warc

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nlnwa/gowarc/v3"
)

// DefaultMaxSize is the size at which a file is closed and the next one begun.
const DefaultMaxSize = 1 << 30

// openSuffix marks a file being written; it is removed when the file is closed.
const openSuffix = ".open"

// Config configures a Writer.
type Config struct {
	Dir      string            // directory of the files; created if missing
	Name     string            // the crawl's name: files are Name-00001.warc.gz, Name-00002.warc.gz ...
	MaxSize  int64             // compressed bytes after which a file is closed; 0 means DefaultMaxSize
	Software string            // the warcinfo's software field ("Trawl/0.1.0")
	Info     map[string]string // further warcinfo fields (e.g. "robots": "obey")
	// Dedupe is how many payload digests are remembered for identical-payload revisits;
	// past it the oldest is forgotten first. Each is kept as its bytes and where its
	// response record is (about 42 bytes a digest when full, BenchmarkOpenIndex); a revisit
	// reads that record's header back for what it names. 0 means 100_000; more than 1<<30
	// is refused. Open fills them from the digest index of earlier runs.
	Dedupe int
	// Log receives the Writer's warnings (a 304 whose earlier capture cannot be read) and,
	// at debug level, a payload archived again because its earlier record cannot be read;
	// nil discards them.
	Log *slog.Logger
}

// Exchange is one HTTP exchange to archive.
type Exchange struct {
	URI      string    // the URL requested
	Date     time.Time // when the request was sent
	IP       string    // the server's address, "" when unknown
	Request  io.Reader // the request as written: request line, headers, body
	Response io.Reader // the response as read: status line, headers, body as sent
	// Truncated says why Response lacks the end of the response, as WARC-Truncated does:
	// "length" (a size limit), "time" (a time limit), "disconnect" (the connection ended
	// before the body did) or "unspecified"; "" when the response is whole.
	Truncated string
	// NotModified makes the response a revisit record (profile server-not-modified): the
	// answer 304 to a conditional request.
	NotModified bool
	// Prior is where the response of the capture a NotModified exchange revalidated was
	// written (by this Writer or an earlier one of the crawl); the revisit refers to it
	// (WARC-Refers-To, -Target-URI, -Date). Ignored unless NotModified; a zero Prior, or
	// one that cannot be read, gives a revisit that names no record.
	Prior Location
}

// Location is where a record was written: its file (base name) and the offset of the record
// (its gzip member) in it.
type Location struct {
	File   string // the file's base name, in Config.Dir
	Offset int64  // the offset of the record's gzip member in File
}

// Writer writes exchanges to the files of one crawl. It is safe for concurrent use.
type Writer struct {
	cfg  Config
	w    *gowarc.WarcFileWriter
	opts []gowarc.WarcRecordOption
	lock *os.File // NAME.warc.lock in Dir, flocked while the Writer is open
	log  *slog.Logger

	// mu makes Write one at a time, and guards index, seen and headers. gowarc v3.1.0 sets
	// a package variable (uuid's EnableRandPool) each time it makes record options, in
	// NewRecordBuilder and in its own writer goroutine when it opens a file: concurrent
	// Writes would race on it. Building a record costs little next to the gzip of writing
	// it, which gowarc does one at a time anyway.
	mu      sync.Mutex
	index   *os.File     // Dir/NAME.warc.digests (see indexSuffix), open for appending
	seen    *seenTable   // payload digest → where the response that had it is
	headers headerReader // reads back the record of a digest seen before
}

// fileName matches the files of a crawl: the name, a dash, the sequence number.
func fileName(name string) *regexp.Regexp {
	return regexp.MustCompile(`^` + regexp.QuoteMeta(name) + `-(\d{5,})\.warc\.gz(` + regexp.QuoteMeta(openSuffix) + `)?$`)
}

// Open returns a Writer for cfg. Files of the same crawl already in cfg.Dir are kept: the
// first new file continues their sequence. A file left open by a process that was killed
// (Name-NNNNN.warc.gz.open) is cut after its last complete record and closed, so that it
// reads cleanly; nothing else in the directory is touched. Open takes a lock file,
// Dir/NAME.warc.lock, and fails with ErrLocked while another Writer has it. It creates no
// WARC file: the first one is made with the first record.
func Open(cfg Config) (*Writer, error) {
	if cfg.Name == "" || filepath.Base(cfg.Name) != cfg.Name {
		return nil, fmt.Errorf("warc: crawl name %q is not a file name", cfg.Name)
	}
	if cfg.MaxSize < 0 {
		return nil, fmt.Errorf("warc: negative MaxSize %d", cfg.MaxSize)
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultMaxSize
	}
	if cfg.Dedupe <= 0 {
		cfg.Dedupe = 100_000
	}
	if cfg.Dedupe > maxDedupe {
		return nil, fmt.Errorf("warc: Dedupe %d is more than %d digests", cfg.Dedupe, maxDedupe)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("warc: %w", err)
	}
	lock, err := lockName(cfg.Dir, cfg.Name)
	if err != nil {
		return nil, err
	}
	last, err := recoverDir(cfg.Dir, cfg.Name)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	seen := newSeenTable(cfg.Dedupe)
	index, err := openIndex(cfg.Dir, cfg.Name, seen)
	if err != nil {
		_ = lock.Close()
		return nil, err
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []gowarc.WarcRecordOption{
		gowarc.WithAddMissingDigest(true),
		gowarc.WithAddMissingRecordId(true),
		gowarc.WithAddMissingContentLength(true),
		gowarc.WithBufferMaxMemBytes(1 << 20), // a bigger record is buffered in a temporary file
		// ErrWarn, not ErrIgnore: gowarc reads a block (and so computes its digests) only
		// when it validates it; what it finds is not our concern (a site's bad HTTP is kept).
		gowarc.WithSpecViolationPolicy(gowarc.ErrWarn),
		gowarc.WithDefaultDigestAlgorithm("sha1"), // as Heritrix, wget and pywb's indexes
		gowarc.WithDefaultDigestEncoding(gowarc.Base32),
		gowarc.WithSyntaxErrorPolicy(gowarc.ErrIgnore),
		gowarc.WithBlockErrorPolicy(gowarc.ErrIgnore),
	}
	names := &gowarc.PatternNameGenerator{
		Directory: cfg.Dir,
		Prefix:    cfg.Name + "-",
		Pattern:   "%{prefix}s%05{serial}d.%{ext}s",
		Serial:    int32(last), // the generator adds one before each name
	}
	w := &Writer{cfg: cfg, seen: seen, opts: opts, lock: lock, index: index, log: log}
	w.w = gowarc.NewWarcFileWriter(
		gowarc.WithFileNameGenerator(names),
		gowarc.WithCompression(true),
		// Level 1: at the default level (6) the gzip of the records was the archive's
		// largest cost per page (14 % of the crawler's CPU in a profile on crawlbench).
		gowarc.WithCompressionLevel(gzip.BestSpeed),
		gowarc.WithMaxFileSize(cfg.MaxSize),
		gowarc.WithOpenFileSuffix(openSuffix),
		gowarc.WithAddWarcConcurrentToHeader(true),
		gowarc.WithRecordOptions(opts...),
		gowarc.WithWarcInfoFunc(w.warcinfo),
	)
	return w, nil
}

// warcinfo fills a new file's warcinfo record: application/warc-fields, "name: value" lines.
func (w *Writer) warcinfo(b gowarc.WarcRecordBuilder) error {
	fields := map[string]string{
		"software":   w.cfg.Software,
		"format":     "WARC File Format 1.1",
		"conformsTo": "http://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
	}
	maps.Copy(fields, w.cfg.Info)
	for _, k := range slices.Sorted(maps.Keys(fields)) {
		v := strings.Map(func(r rune) rune { // one line per field
			if r == '\r' || r == '\n' {
				return ' '
			}
			return r
		}, fields[k])
		if _, err := fmt.Fprintf(b, "%s: %s\r\n", k, v); err != nil {
			return err
		}
	}
	return nil
}

// Write archives ex as a request and a response (or revisit) record and returns where the
// response went.
func (w *Writer) Write(ex Exchange) (Location, error) {
	var prior *priorRef
	if ex.NotModified && ex.Prior.File != "" { // read before the lock: it is file I/O
		var err error
		var r headerReader // not the Writer's: this is outside the lock
		prior, err = r.refOf(w.cfg.Dir, ex.Prior, gowarc.ProfileServerNotModifiedV1_1)
		_ = r.Close()
		if err != nil {
			w.log.Warn("warc: the revisit of a 304 names no earlier record", "url", ex.URI, "file", ex.Prior.File, "offset", ex.Prior.Offset, "err", err)
			prior = nil
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	resp, err := w.record(gowarc.Response, "application/http;msgtype=response", ex, ex.Response)
	if err != nil {
		return Location{}, err
	}
	req, err := w.record(gowarc.Request, "application/http;msgtype=request", ex, ex.Request)
	if err != nil {
		_ = resp.Close()
		return Location{}, err
	}
	resp, entry, err := w.revisit(resp, ex, prior)
	if err != nil {
		_ = req.Close()
		return Location{}, err
	}
	out := w.w.Write(resp, req) // closes the records it writes
	if len(out) != 2 {
		_, _ = resp.Close(), req.Close()
		return Location{}, errors.New("warc: write after Close")
	}
	for _, o := range out {
		if o.Err != nil {
			return Location{}, fmt.Errorf("warc: write %s: %w", ex.URI, o.Err)
		}
	}
	loc := Location{File: out[0].FileName, Offset: out[0].FileOffset}
	if entry != nil {
		entry.loc = loc
		if entry.key.alg != 0 {
			w.seen.add(entry.key, loc)
		}
		if line := entry.line(); line != "" {
			if _, err := w.index.WriteString(line); err != nil { // the record stands: the index is a cache
				w.log.Warn("warc: digest index", "url", ex.URI, "err", err)
			}
		}
	}
	return loc, nil
}

// revisit turns resp into a revisit record when ex is a 304 (referring to prior, when
// known), or when its payload was archived before; otherwise it returns resp and its entry
// for the digest index (with the digest when it is worth deduplicating), to be completed
// with its location once written.
func (w *Writer) revisit(resp gowarc.WarcRecord, ex Exchange, prior *priorRef) (gowarc.WarcRecord, *indexEntry, error) {
	if ex.NotModified {
		ref := &gowarc.RevisitRef{Profile: gowarc.ProfileServerNotModifiedV1_1}
		if prior != nil {
			ref = &prior.RevisitRef
		}
		rev, err := resp.ToRevisitRecord(ref)
		_ = resp.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("warc: revisit for %s: %w", ex.URI, err)
		}
		if prior != nil && prior.digest != "" {
			// The payload the 304 stands for is the earlier capture's: its digest, not that
			// of the 304's empty body (which a replay tool would look an original up by).
			rev.WarcHeader().Set(gowarc.WarcPayloadDigest, prior.digest)
		}
		return rev, nil, nil
	}
	digest := resp.WarcHeader().Get(gowarc.WarcPayloadDigest)
	var key digestKey // alg 0: not to deduplicate, now or later
	if digest != "" && ex.Truncated == "" && !emptyPayload(resp) {
		if d, ok := parseDigest([]byte(digest)); ok {
			key = d.key()
			if rev, err := w.identical(resp, ex, d); rev != nil || err != nil {
				return rev, nil, err
			}
		}
	} else {
		digest = "" // nothing to deduplicate against later
	}
	ref, err := resp.CreateRevisitRef(gowarc.ProfileIdenticalPayloadDigestV1_1)
	if err != nil {
		return resp, nil, nil // nothing to refer to later; the record stands
	}
	ref.Profile = "" // the index keeps the record; a revisit sets its own profile
	return resp, &indexEntry{digest: digest, key: key, ref: *ref}, nil
}

// identical returns resp as a revisit of the response record that had the payload digest
// d before, when the table has one and its header reads back with that digest; it returns
// nil (resp stays a response) when there is none.
func (w *Writer) identical(resp gowarc.WarcRecord, ex Exchange, d digestValue) (gowarc.WarcRecord, error) {
	loc, ok := w.seen.get(d.key())
	if !ok {
		return nil, nil
	}
	prior, err := w.headers.refOf(w.cfg.Dir, loc, gowarc.ProfileIdenticalPayloadDigestV1_1)
	if err == nil {
		if pd, ok := parseDigest([]byte(prior.digest)); !ok || pd != d {
			err = fmt.Errorf("its payload digest is %q", prior.digest)
		}
	}
	if err != nil { // the file was removed, or replaced: this record is the payload's now
		w.log.Debug("warc: the record of an identical payload cannot be read: archived again",
			"url", ex.URI, "file", loc.File, "offset", loc.Offset, "err", err)
		return nil, nil
	}
	rev, err := resp.ToRevisitRecord(&prior.RevisitRef)
	_ = resp.Close()
	if err != nil {
		return nil, fmt.Errorf("warc: revisit for %s: %w", ex.URI, err)
	}
	return rev, nil
}

// emptyPayload reports whether a response record has no payload bytes after its HTTP
// headers.
func emptyPayload(rec gowarc.WarcRecord) bool {
	hb, ok := rec.Block().(gowarc.ProtocolHeaderBlock)
	if !ok {
		return false
	}
	n, err := rec.WarcHeader().GetInt64(gowarc.ContentLength)
	return err == nil && n <= int64(len(hb.ProtocolHeaderBytes()))
}

// record builds one record of type t holding the bytes of r.
func (w *Writer) record(t gowarc.RecordType, contentType string, ex Exchange, r io.Reader) (gowarc.WarcRecord, error) {
	b := gowarc.NewRecordBuilder(t, w.opts...)
	b.AddWarcHeader(gowarc.WarcTargetURI, ex.URI)
	b.AddWarcHeaderTime(gowarc.WarcDate, ex.Date)
	b.AddWarcHeader(gowarc.ContentType, contentType)
	if ex.IP != "" {
		b.AddWarcHeader(gowarc.WarcIPAddress, ex.IP)
	}
	if ex.Truncated != "" && t == gowarc.Response {
		b.AddWarcHeader(gowarc.WarcTruncated, ex.Truncated)
	}
	if _, err := b.ReadFrom(r); err != nil {
		_ = b.Close()
		return nil, fmt.Errorf("warc: buffer %s: %w", ex.URI, err)
	}
	rec, _, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("warc: %s record for %s: %w", t, ex.URI, err)
	}
	return rec, nil
}

// Close writes what is queued, closes the open file and renames it to its final name.
func (w *Writer) Close() error {
	err := w.w.Close()
	w.mu.Lock()
	err = errors.Join(err, w.index.Close(), w.headers.Close())
	w.mu.Unlock()
	return errors.Join(err, w.lock.Close()) // closing the file releases the flock
}

// ErrLocked is returned by Open when another Writer (in this process or another) writes
// the same crawl's files in the directory.
var ErrLocked = errors.New("warc: another crawl is writing these files")

// lockName takes an exclusive flock on Dir/NAME.warc.lock, so that one Writer at a time
// writes (and recovers) a crawl's files.
func lockName(dir, name string) (*os.File, error) {
	path := filepath.Join(dir, name+".warc.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("warc: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s-*.warc.gz in %s (lock %s)", ErrLocked, name, dir, path)
		}
		return nil, fmt.Errorf("warc: lock %s: %w", path, err)
	}
	return f, nil
}

// Files lists the crawl's files in dir in sequence order, open ones included.
func Files(dir, name string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("warc: %w", err)
	}
	re := fileName(name)
	var files []string
	for _, e := range entries {
		if re.MatchString(e.Name()) {
			files = append(files, e.Name()) // ReadDir sorts by name, and the numbers are padded
		}
	}
	return files, nil
}

// NameOf returns the crawl name in the name of one of its files (Name-NNNNN.warc.gz).
func NameOf(file string) (string, bool) {
	m := anyFileName.FindStringSubmatch(filepath.Base(file))
	if m == nil {
		return "", false
	}
	return m[1], true
}

// anyFileName matches the name of a file of any crawl.
var anyFileName = regexp.MustCompile(`^(.+)-\d{5,}\.warc\.gz(?:` + regexp.QuoteMeta(openSuffix) + `)?$`)

// sequence returns the sequence number in a file name of the crawl, or 0.
func sequence(re *regexp.Regexp, file string) int {
	m := re.FindStringSubmatch(file)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}
